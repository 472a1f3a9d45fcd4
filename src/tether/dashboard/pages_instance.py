"""One instance: its state, family tree, waiting work, timeline, history and actions."""

from __future__ import annotations

import html
import time

from tether.dashboard import timeline
from tether.dashboard.context import Ctx, notice
from tether.dashboard.html import (
    Safe,
    duration,
    fmt,
    join,
    payload,
    status_badge,
    table,
    when,
)
from tether.dashboard.pages_list import instance_link
from tether.engine.query import FailureView, InstanceDetail, InstanceView

HISTORY_PAYLOAD_PREVIEW = 60
RERUN_FROM = ("taskScheduled", "childWorkflowInstanceCreated", "timerCreated")


def _failure(failure: FailureView | None) -> Safe:
    if failure is None:
        return Safe("")
    parts = []
    current: FailureView | None = failure
    while current is not None:
        stack = (
            fmt(
                "<details><summary>Stack trace</summary><pre>{s}</pre></details>",
                s=current.stack_trace,
            )
            if current.stack_trace
            else Safe("")
        )
        parts.append(
            fmt(
                '<div class="failure"><p><b>{t}</b>: {m}{nr}</p>{stack}</div>',
                t=current.error_type,
                m=current.message,
                nr=Safe(" <em>(non-retriable)</em>") if current.non_retriable else Safe(""),
                stack=stack,
            )
        )
        current = current.cause
    return fmt("<section><h2>Failure</h2>{p}</section>", p=join(parts))


def _summary(view: InstanceView, patches: tuple[str, ...]) -> Safe:
    items = [
        ("Status", status_badge(view.status_name)),
        ("Workflow", view.name),
        ("App", view.app_id),
        ("Execution", view.execution_id),
        ("Created", when(view.created_at)),
        ("Started", when(view.started_at)),
        ("Updated", when(view.updated_at)),
        ("Completed", when(view.completed_at)),
        ("Scheduled start", when(view.scheduled_start)),
        ("Version", view.version or "—"),
        ("Patches", ", ".join(patches) or "—"),
    ]
    if view.started_at and view.completed_at:
        items.insert(8, ("Duration", duration(view.completed_at - view.started_at)))
    if view.stall is not None:
        items.append(("Stalled", f"{view.stall.reason}: {view.stall.description or ''}"))
    if view.tags:
        items.append(("Tags", ", ".join(f"{k}={v}" for k, v in sorted(view.tags.items()))))
    cells = join(fmt("<div><dt>{k}</dt><dd>{v}</dd></div>", k=k, v=v) for k, v in items)
    data = join(
        fmt("<div><dt>{k}</dt><dd>{v}</dd></div>", k=k, v=payload(v, limit=120))
        for k, v in (
            ("Input", view.input),
            ("Output", view.output),
            ("Custom status", view.custom_status),
        )
    )
    return fmt(
        '<dl class="summary">{cells}</dl><dl class="data">{data}</dl>', cells=cells, data=data
    )


def _tree(detail: InstanceDetail) -> Safe:
    if not detail.ancestors and not detail.children:
        return Safe("")

    def item(v: InstanceView, inner: Safe | None = None, current: bool = False) -> Safe:
        label = (
            fmt('<b class="iid">{id}</b>', id=v.instance_id)
            if current
            else instance_link(v.instance_id)
        )
        return fmt(
            '<li>{label} <span class="muted">{name}</span> {badge}{inner}</li>',
            label=label,
            name=v.name,
            badge=status_badge(v.status_name),
            inner=inner,
        )

    children = join(
        item(
            c,
            fmt("<ul>{g}</ul>", g=join(item(g) for g in detail.grandchildren[c.instance_id]))
            if c.instance_id in detail.grandchildren
            else Safe(""),
        )
        for c in detail.children
    )
    node = item(
        detail.instance, fmt("<ul>{c}</ul>", c=children) if children else Safe(""), current=True
    )
    for ancestor in reversed(detail.ancestors):
        node = item(ancestor, fmt("<ul>{n}</ul>", n=node))
    return fmt('<section><h2>Parent and children</h2><ul class="tree">{n}</ul></section>', n=node)


def _waiting(ctx: Ctx, detail: InstanceDetail) -> Safe:
    holders = ctx.source.activity_holders(detail.instance.instance_id)
    sections = []
    if detail.inbox:
        sections.append(
            fmt(
                "<h3>Buffered events (in the inbox, not yet consumed)</h3>{t}",
                t=table(
                    ("Type", "Name", "Visible at", "Payload"),
                    (
                        (m.type, m.name or "—", when(m.visible_at), payload(m.payload))
                        for m in detail.inbox
                    ),
                ),
            )
        )
    if detail.timers:
        sections.append(
            fmt(
                "<h3>Pending timers</h3>{t}",
                t=table(
                    ("Reminder", "Kind", "Due at (UTC)", "Due in"),
                    (
                        (t.name, t.kind, when(t.due_at), duration(t.due_at - time.time_ns()))
                        for t in detail.timers
                    ),
                ),
            )
        )
    if detail.tasks:

        def holder(task_id: int, node: str | None) -> str:
            stream = holders.get(task_id)
            if stream is not None:
                return f"worker stream {stream} on this node"
            if node is None:
                return "not taken yet"
            return f"node {node}"

        sections.append(
            fmt(
                "<h3>Pending activities</h3>{t}",
                t=table(
                    ("Task ID", "Activity", "App", "Scheduled at", "Held by", "Input"),
                    (
                        (
                            t.task_id,
                            t.name,
                            t.app_id,
                            when(t.created_at),
                            holder(t.task_id, t.node),
                            payload(t.input),
                        )
                        for t in detail.tasks
                    ),
                ),
            )
        )
    if not sections:
        return Safe("")
    return fmt("<section><h2>Waiting work</h2>{s}</section>", s=join(sections))


def _history(detail: InstanceDetail) -> Safe:
    # Built with plain concatenation (every value escaped): a history may have 10,000s of rows.
    e_ = html.escape
    rows = []
    for e in detail.history:
        body = e.input if e.input is not None else e.result
        if e.failure is not None:
            body = f"{e.failure.error_type}: {e.failure.message}"
        elapsed = "" if e.elapsed is None else duration(e.elapsed)
        rows.append(
            f'<tr id="event-{e.event_id}"><td>{e.event_id}</td><td>{e_(e.type)}</td>'
            f"<td>{e_(e.name or '')}</td><td>{when(e.timestamp)}</td>"
            f'<td class="num">{elapsed}</td>'
            f"<td>{payload(body, limit=HISTORY_PAYLOAD_PREVIEW, pretty=False)}</td></tr>"
        )
    return fmt(
        '<section><h2>History <span class="muted">({n} events)</span></h2>'
        '<table class="list history"><thead><tr><th>Event ID</th><th>Type</th><th>Name</th>'
        "<th>Time (UTC)</th><th>Elapsed</th><th>Payload</th></tr></thead><tbody>{rows}</tbody>"
        "</table></section>",
        n=len(detail.history),
        rows=Safe("".join(rows)),
    )


def _form(
    ctx: Ctx, op: str, label: str, fields: Safe, instance_id: str, *, danger: bool = False
) -> Safe:
    return fmt(
        '<details class="action"><summary>{label}</summary>'
        '<form method="post" action="/dashboard/act">{csrf}'
        '<input type="hidden" name="op" value="{op}"><input type="hidden" name="ids" value="{id}">'
        '{fields}<button type="submit" class="{cls}">{label}…</button></form></details>',
        label=label,
        csrf=ctx.csrf_field(),
        op=op,
        id=instance_id,
        fields=fields,
        cls="danger" if danger else "",
    )


def _field(name: str, label: str, *, area: bool = False, placeholder: str = "") -> Safe:
    control = (
        fmt(
            '<textarea name="{n}" rows="3" placeholder="{p}" data-json="1"></textarea>',
            n=name,
            p=placeholder,
        )
        if area
        else fmt('<input type="text" name="{n}" placeholder="{p}">', n=name, p=placeholder)
    )
    return fmt("<label>{l}{c}</label>", l=label, c=control)


def _actions(ctx: Ctx, detail: InstanceDetail) -> Safe:
    if not ctx.can_act:
        return fmt('<section class="actions"><h2>Actions</h2>{n}</section>', n=ctx.read_only())
    view = detail.instance
    iid = view.instance_id
    forms = []
    if not view.terminal:
        if view.status_name == "SUSPENDED":
            forms.append(_form(ctx, "resume", "Resume", _field("reason", "Reason"), iid))
        else:
            forms.append(_form(ctx, "suspend", "Suspend", _field("reason", "Reason"), iid))
        forms.append(
            _form(
                ctx,
                "raise",
                "Raise event",
                join(
                    [
                        _field("event_name", "Event name"),
                        _field(
                            "event_data", "Data (JSON)", area=True, placeholder='{"approved": true}'
                        ),
                    ]
                ),
                iid,
            )
        )
        forms.append(
            _form(
                ctx,
                "terminate",
                "Terminate",
                _field("output", "Output (JSON)", area=True),
                iid,
                danger=True,
            )
        )
    else:
        options = join(
            fmt('<option value="{id}">{id} · {t} {n}</option>', id=e.event_id, t=e.type,
                n=e.name or "")
            for e in detail.history
            if e.event_id >= 0 and e.kind in RERUN_FROM
        )
        if view.parent_instance_id:
            forms.append(notice("info", "A child workflow cannot be rerun on its own: rerun "
                                        "its parent from the event that created it."))
        elif not options:
            forms.append(notice("info", "Nothing to rerun from: this history schedules no "
                                        "activity, timer or child workflow."))
        else:
            rerun_fields = join([
                fmt('<label>From event<select name="event_id">{o}</select></label>', o=options),
                _field("new_instance_id", "New instance ID (optional)"),
                _field("new_input", "New input (JSON, optional)", area=True),
            ])
            forms.append(_form(ctx, "rerun", "Rerun from an event", rerun_fields, iid))
        forms.append(_form(ctx, "purge", "Purge", Safe(""), iid, danger=True))
    return fmt('<section class="actions"><h2>Actions</h2>{f}</section>', f=join(forms))


async def instance_page(ctx: Ctx) -> tuple[int, str]:
    instance_id = ctx.request.query_params.get("id", "")
    detail = await ctx.source.query.detail(instance_id) if instance_id else None
    if detail is None:
        body = fmt(
            "<h1>Instance not found</h1>{n}",
            n=notice("error", f"There is no workflow instance with ID {instance_id!r}."),
        )
        return 404, ctx.page("Not found", body, section="instances")
    view = detail.instance
    patches: tuple[str, ...] = ()
    for e in detail.history:
        if e.version_patches:
            patches = e.version_patches
    now = time.time_ns()
    origin = detail.history[0].timestamp if detail.history else (view.created_at or now)
    end = (view.completed_at or now) if view.terminal else now
    for e in detail.history:
        end = max(end, e.timestamp)
    held = ctx.source.activity_holders(view.instance_id)
    queued = {t.task_id for t in detail.tasks if t.node is None and t.task_id not in held}
    bars = timeline.build_bars(
        detail.history, end, {c.instance_id: c for c in detail.children}, queued
    )
    done = ctx.request.query_params.get("done")
    body = fmt(
        '<p class="crumbs"><a href="/dashboard/instances">Instances</a> /</p>'
        '<h1 class="iid">{id}</h1>{done}{actions}<div id="live">{summary}{failure}{tree}{waiting}'
        "<section><h2>Timeline</h2>{timeline}</section>{history}</div>",
        id=view.instance_id,
        done=notice("ok", f"Done: {done}.") if done else Safe(""),
        summary=_summary(view, patches),
        failure=_failure(view.failure),
        actions=_actions(ctx, detail),
        tree=_tree(detail),
        waiting=_waiting(ctx, detail),
        timeline=timeline.render(bars, origin, end),
        history=_history(detail),
    )
    return 200, ctx.page(view.instance_id, body, section="instances", live=not view.terminal)
