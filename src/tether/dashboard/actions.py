"""The dashboard's actions: each checked, confirmed on a page that says what will happen, and
run through the same :class:`Engine` operations as the HTTP API."""

from __future__ import annotations

import json
import urllib.parse
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from starlette.datastructures import FormData

from tether.core.rerun import RerunRequest
from tether.dashboard.context import Ctx, notice
from tether.dashboard.html import Safe, fmt, join
from tether.dashboard.pages_list import instance_link
from tether.engine.engine import Engine
from tether.errors import InvalidArgument, TetherError

MAX_BULK = 1000
SHOWN_IN_CONFIRMATION = 50


@dataclass(frozen=True, slots=True)
class Action:
    op: str
    instance_ids: tuple[str, ...]
    reason: str | None = None  # suspend/resume
    output: str | None = None  # terminate (JSON)
    event_name: str | None = None  # raise
    event_data: str | None = None  # raise (JSON)
    event_id: int | None = None  # rerun
    new_instance_id: str | None = None
    new_input: str | None = None  # rerun (JSON)

    def hidden_fields(self) -> Safe:
        fields = [("op", self.op)] + [("ids", i) for i in self.instance_ids]
        for key in ("reason", "output", "event_name", "event_data", "new_instance_id", "new_input"):
            value = getattr(self, key)
            if value is not None:
                fields.append((key, value))
        if self.event_id is not None:
            fields.append(("event_id", str(self.event_id)))
        return join(
            fmt('<input type="hidden" name="{k}" value="{v}">', k=k, v=v) for k, v in fields
        )


VERBS = {
    "suspend": ("Suspend", "suspended"),
    "resume": ("Resume", "resumed"),
    "terminate": ("Terminate", "terminated"),
    "purge": ("Purge", "purged"),
    "raise": ("Raise an event on", "sent the event to"),
    "rerun": ("Rerun", "reran"),
}
BULK_OPS = ("suspend", "resume", "terminate", "purge")


def _json(label: str, text: str | None) -> str | None:
    if text is None or not text.strip():
        return None
    try:
        json.loads(text)
    except ValueError as exc:
        raise InvalidArgument(f"{label} is not valid JSON: {exc}") from None
    return text.strip()


def _text(form: FormData, key: str) -> str | None:
    value = form.get(key)
    if not isinstance(value, str) or not value.strip():
        return None
    return value.strip()


def parse_action(form: FormData, *, bulk: bool) -> Action:
    op = _text(form, "op") or ""
    if op not in (BULK_OPS if bulk else VERBS):
        raise InvalidArgument(f"unknown action {op!r}")
    ids = tuple(dict.fromkeys(v for v in form.getlist("ids") if isinstance(v, str) and v))
    if not ids:
        raise InvalidArgument("select at least one instance")
    if len(ids) > MAX_BULK:
        raise InvalidArgument(f"at most {MAX_BULK} instances at a time ({len(ids)} selected)")
    if not bulk and len(ids) != 1:
        raise InvalidArgument("this action works on one instance")
    event_id = None
    if op == "rerun":
        raw = _text(form, "event_id")
        if raw is None or not raw.isdigit():
            raise InvalidArgument("rerun: choose the event to rerun from (an event ID, a number)")
        event_id = int(raw)
    event_name = _text(form, "event_name")
    if op == "raise" and event_name is None:
        raise InvalidArgument("raise an event: the event name is required")
    return Action(
        op=op,
        instance_ids=ids,
        reason=_text(form, "reason") if op in ("suspend", "resume") else None,
        output=_json("the output", _text(form, "output")) if op == "terminate" else None,
        event_name=event_name if op == "raise" else None,
        event_data=_json("the event data", _text(form, "event_data")) if op == "raise" else None,
        event_id=event_id,
        new_instance_id=_text(form, "new_instance_id") if op == "rerun" else None,
        new_input=_json("the new input", _text(form, "new_input")) if op == "rerun" else None,
    )


def confirmation(ctx: Ctx, action: Action, *, bulk: bool) -> Safe:
    verb, _ = VERBS[action.op]
    n = len(action.instance_ids)
    noun = "instance" if n == 1 else "instances"
    what = [
        fmt("<li>{link}</li>", link=instance_link(i))
        for i in action.instance_ids[:SHOWN_IN_CONFIRMATION]
    ]
    if n > SHOWN_IN_CONFIRMATION:
        what.append(fmt('<li class="muted">and {m} more</li>', m=n - SHOWN_IN_CONFIRMATION))
    extra = []
    for label, value in (
        ("Reason", action.reason),
        ("Output", action.output),
        ("Event name", action.event_name),
        ("Event data", action.event_data),
        ("From event ID", action.event_id),
        ("New instance ID", action.new_instance_id),
        ("New input", action.new_input),
    ):
        if value is not None:
            extra.append(fmt("<dt>{k}</dt><dd><code>{v}</code></dd>", k=label, v=value))
    warning = ""
    if action.op == "purge":
        warning = "Purging deletes the instances and their histories; it cannot be undone."
    elif action.op == "terminate":
        warning = "Terminating ends the instances (and their child workflows) for good."
    editable = Safe("")
    if bulk and action.op in ("suspend", "resume"):
        editable = Safe('<label class="wide">Reason (optional)<input type="text" name="reason">'
                        "</label>")
    elif bulk and action.op == "terminate":
        editable = Safe('<label class="wide">Output (JSON, optional)<textarea name="output" '
                        'rows="2" data-json="1"></textarea></label>')
    back = (
        "/dashboard/instances"
        if bulk
        else "/dashboard/instance?id=" + urllib.parse.quote(action.instance_ids[0], safe="")
    )
    return fmt(
        '<h1>{verb} {n} {noun}?</h1><section class="confirm">{warning}<ul class="ids">{what}'
        '</ul><dl>{extra}</dl><form method="post" action="{target}">{csrf}{hidden}{editable}'
        '<input type="hidden" name="confirm" value="1">'
        '<button type="submit" class="{cls}">{verb} {n} {noun}</button> '
        '<a class="button secondary" href="{back}">Cancel</a></form></section>',
        verb=verb,
        n=n,
        noun=noun,
        warning=notice("warn", warning) if warning else Safe(""),
        what=join(what),
        extra=join(extra),
        target="/dashboard/bulk" if bulk else "/dashboard/act",
        csrf=ctx.csrf_field(),
        hidden=action.hidden_fields(),
        editable=editable,
        cls="danger" if action.op in ("terminate", "purge") else "",
        back=back,
    )


async def run_one(engine: Engine, action: Action, instance_id: str, *, wait: bool) -> str | None:
    """Run the action on one instance; the new instance's ID for a rerun."""
    ops: dict[str, Callable[[], Awaitable[object]]] = {
        "suspend": lambda: engine.suspend(instance_id, action.reason, wait=wait),
        "resume": lambda: engine.resume(instance_id, action.reason, wait=wait),
        "terminate": lambda: engine.terminate(instance_id, action.output, True, wait=wait),
        "purge": lambda: engine.purge(instance_id, True),
        "raise": lambda: engine.raise_event(
            instance_id, action.event_name or "", action.event_data
        ),
    }
    if action.op == "rerun":
        assert action.event_id is not None
        return await engine.rerun(
            RerunRequest(
                source_instance_id=instance_id,
                event_id=action.event_id,
                new_instance_id=action.new_instance_id,
                input=action.new_input,
                overwrite_input=action.new_input is not None,
            )
        )
    await ops[action.op]()
    return None


async def run_bulk(engine: Engine, action: Action) -> tuple[int, list[tuple[str, str]]]:
    """Run the action on every selected instance; (done, [(id, error)])."""
    done = 0
    failed: list[tuple[str, str]] = []
    for instance_id in action.instance_ids:
        try:
            await run_one(engine, action, instance_id, wait=False)
            done += 1
        except TetherError as exc:
            failed.append((instance_id, exc.message))
    return done, failed


def bulk_result(action: Action, done: int, failed: list[tuple[str, str]]) -> Safe:
    _, past = VERBS[action.op]
    n = len(action.instance_ids)
    rows = join(
        fmt("<tr><td>{link}</td><td>{err}</td></tr>", link=instance_link(i), err=e)
        for i, e in failed
    )
    table = (
        fmt(
            '<table class="list"><thead><tr><th>Instance</th><th>Error</th></tr></thead>'
            "<tbody>{rows}</tbody></table>",
            rows=rows,
        )
        if failed
        else Safe("")
    )
    return fmt(
        "<h1>Done</h1>{n1}{table}"
        '<p><a class="button" href="/dashboard/instances">Back to the instances</a></p>',
        n1=notice("ok" if not failed else "warn", f"{past.capitalize()} {done} of {n}."),
        table=table,
    )
