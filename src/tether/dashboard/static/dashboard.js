// tether dashboard: live refresh, selection for bulk actions, JSON checks. Pages work without it.
"use strict";
(function () {
  const REFRESH_MS = 3000;

  function selectedIds() {
    return Array.from(document.querySelectorAll('input[name="ids"][form="bulk"]:checked'))
      .map((box) => box.value);
  }

  function updateSelection() {
    const bulk = document.getElementById("bulk");
    if (!bulk) return;
    const n = selectedIds().length;
    bulk.querySelector(".selected").textContent =
      n === 0 ? "Select instances to act on them." : n + (n === 1 ? " instance" : " instances") + " selected";
    bulk.querySelectorAll("button").forEach((b) => { b.disabled = n === 0; });
  }

  function wireSelection(root) {
    const all = root.querySelector(".select-all");
    if (all) {
      all.addEventListener("change", () => {
        root.querySelectorAll('input[name="ids"][form="bulk"]').forEach((box) => {
          box.checked = all.checked;
        });
        updateSelection();
      });
    }
    root.querySelectorAll('input[name="ids"][form="bulk"]').forEach((box) => {
      box.addEventListener("change", updateSelection);
    });
    updateSelection();
  }

  async function refresh() {
    const toggle = document.getElementById("live-toggle");
    if (toggle && !toggle.checked) return;
    if (document.hidden) return;
    const live = document.getElementById("live");
    if (!live) return;
    let response;
    try {
      response = await fetch(window.location.href, { credentials: "same-origin" });
    } catch (e) {
      return;
    }
    if (!response.ok) return;
    const doc = new DOMParser().parseFromString(await response.text(), "text/html");
    const fresh = doc.getElementById("live");
    if (!fresh) return;
    const keep = new Set(selectedIds());
    const open = new Set(Array.from(live.querySelectorAll("details[open]")).map(
      (d, i) => d.id || i));
    const toggleOn = toggle ? toggle.checked : true;
    live.replaceWith(fresh);
    fresh.querySelectorAll('input[name="ids"][form="bulk"]').forEach((box) => {
      box.checked = keep.has(box.value);
    });
    fresh.querySelectorAll("details").forEach((d, i) => {
      if (open.has(d.id || i)) d.open = true;
    });
    const newToggle = document.getElementById("live-toggle");
    if (newToggle) newToggle.checked = toggleOn;
    wireSelection(fresh);
    document.body.dataset.refreshed = String(Date.now());
  }

  function checkJson(area) {
    const text = area.value.trim();
    let ok = true;
    if (text) {
      try { JSON.parse(text); } catch (e) { ok = false; }
    }
    area.classList.toggle("invalid", !ok);
    area.setCustomValidity(ok ? "" : "Not valid JSON");
    return ok;
  }

  // Payloads in long tables come compact; indent one when it is opened.
  document.addEventListener("toggle", (event) => {
    const details = event.target;
    if (!(details instanceof HTMLDetailsElement) || !details.open) return;
    const pre = details.querySelector("pre[data-json]");
    if (!pre || pre.dataset.indented) return;
    try {
      pre.textContent = JSON.stringify(JSON.parse(pre.textContent), null, 2);
    } catch (e) { /* not JSON: shown as it is */ }
    pre.dataset.indented = "1";
  }, true);

  document.addEventListener("DOMContentLoaded", () => {
    wireSelection(document);
    document.querySelectorAll("textarea[data-json]").forEach((area) => {
      area.addEventListener("input", () => checkJson(area));
    });
    if (document.body.dataset.live) window.setInterval(refresh, REFRESH_MS);
  });
})();
