"""Workflows by name (statistics computed by the store) and operations (workers, nodes,
timers due soon, the store's size)."""

from __future__ import annotations

import time
import urllib.parse

from tether.dashboard.context import Ctx, notice
from tether.dashboard.html import (
    STATUS_ORDER,
    Safe,
    duration,
    fmt,
    join,
    size,
    status_badge,
    table,
    when,
)
from tether.dashboard.pages_list import instance_link
from tether.engine.query import NameStatsView, NodeView

WINDOWS = (
    ("15m", "15 minutes", 15 * 60),
    ("1h", "1 hour", 3600),
    ("6h", "6 hours", 6 * 3600),
    ("24h", "24 hours", 24 * 3600),
    ("7d", "7 days", 7 * 86400),
    ("30d", "30 days", 30 * 86400),
)
DUE_SOON = 50


def _sparkline(counts: list[int]) -> Safe:
    top = max(counts) if counts else 0
    w, h = 120, 24
    step = w / max(1, len(counts))
    bars = join(
        fmt(
            '<rect x="{x}" y="{y}" width="{bw}" height="{bh}"/>',
            x=f"{i * step:.1f}",
            y=f"{h - (n / top * h if top else 0):.1f}",
            bw=f"{max(1.0, step - 1):.1f}",
            bh=f"{(n / top * h if top else 0):.1f}",
        )
        for i, n in enumerate(counts)
    )
    return fmt(
        '<svg class="spark" viewBox="0 0 {w} {h}" width="{w}" height="{h}" '
        'aria-hidden="true">{b}</svg>',
        w=w,
        h=h,
        b=bars,
    )


def _name_link(name: str, status: str | None = None) -> str:
    params = [("name", name)] + ([("status", status)] if status else [])
    return "/dashboard/instances?" + urllib.parse.urlencode(params)


def _row(s: NameStatsView) -> list[object]:
    counts = join(
        fmt(
            '<a href="{h}">{b} {n}</a> ',
            h=_name_link(s.name, name),
            b=status_badge(name),
            n=s.counts[name],
        )
        for name in STATUS_ORDER
        if name in s.counts
    )
    rate = s.failure_rate
    failures = join(
        fmt("<li><b>{n}&times;</b> {t}: {m}</li>", n=f.count, t=f.error_type, m=f.message)
        for f in s.failures[:3]
    )
    return [
        fmt('<a href="{h}">{n}</a>', h=_name_link(s.name), n=s.name),
        counts or Safe('<span class="muted">none created</span>'),
        fmt(
            '{spark}<span class="num">{pm}/min</span>',
            spark=_sparkline(s.started),
            pm=f"{s.per_minute:.2f}",
        ),
        fmt(
            '<span class="num">{a} / {b} / {c}</span>',
            a=duration(s.durations.get(50)),
            b=duration(s.durations.get(95)),
            c=duration(s.durations.get(99)),
        ),
        "—" if rate is None else f"{rate:.1%} of {s.finished}",
        fmt('<ul class="failures">{f}</ul>', f=failures) if failures else "—",
    ]


async def workflows_page(ctx: Ctx) -> tuple[int, str]:
    params = ctx.request.query_params
    key = params.get("window", "1h")
    window = next((w for w in WINDOWS if w[0] == key), None)
    if window is None:
        body = fmt(
            "<h1>Workflows</h1>{n}",
            n=notice("error", f"window: {key!r} is not one of {', '.join(w[0] for w in WINDOWS)}"),
        )
        return 400, ctx.page("Workflows", body, section="workflows")
    app_id = params.get("app") or None
    until = time.time_ns()
    since = until - window[2] * 1_000_000_000
    stats = await ctx.source.query.workflow_stats(since, until, app_id=app_id)
    options = join(
        fmt(
            '<option value="{k}"{s}>last {label}</option>',
            k=k,
            label=label,
            s=Safe(" selected") if k == key else Safe(""),
        )
        for k, label, _ in WINDOWS
    )
    form = fmt(
        '<form class="filters inline" method="get" action="/dashboard/workflows">'
        '<label>Window<select name="window">{o}</select></label>'
        '<label>App ID<input type="text" name="app" value="{app}"></label>'
        '<button type="submit">Show</button></form>',
        o=options,
        app=app_id or "",
    )
    content = (
        table(
            (
                "Workflow",
                "Created in the window, by status",
                "Started",
                "Duration p50 / p95 / p99",
                "Failure rate",
                "Most common failures",
            ),
            (_row(s) for s in stats),
            cls="list stats",
        )
        if stats
        else notice("info", "No workflow instances were created or finished in this window.")
    )
    body = fmt(
        '<h1>Workflows</h1>{form}<div id="live"><p class="muted">Over the last {w} '
        "(to {until} UTC). Durations are of runs that completed in the window, exact "
        "nearest-rank percentiles (p95: the shortest duration that at least 95% of them did not "
        "exceed); the failure rate is failed runs over all runs that finished in it.</p>"
        "{content}</div>",
        form=form,
        w=window[1],
        until=when(until),
        content=content,
    )
    return 200, ctx.page("Workflows", body, section="workflows", live=True)


async def operations_page(ctx: Ctx) -> tuple[int, str]:
    query = ctx.source.query
    now = time.time_ns()
    workers = ctx.source.workers()
    if workers is None:
        worker_part = notice(
            "info",
            "Connected workers are known only to a running tether: "
            "open this page on its HTTP port.",
        )
    elif not workers:
        worker_part = notice("warn", "No worker is connected to this tether.")
    else:
        worker_part = table(
            ("Stream", "Capabilities", "In flight"),
            (
                (
                    w.stream_id,
                    ", ".join(w.capabilities) or "—",
                    join(

                            fmt(
                                "{k} {link}{t}<br>",
                                k=i.kind,
                                link=instance_link(i.instance_id),
                                t=f" task {i.task_id}" if i.kind == "activity" else "",
                            )
                            for i in w.in_flight

                    )
                    or "idle",
                )
                for w in workers
            ),
        )
    app = ctx.source.engine.app_id if ctx.source.engine else None
    workers_title = f"Connected workers (app {app}, this node)" if app else "Connected workers"
    nodes = await query.nodes()

    def lease(node: NodeView) -> Safe:
        if node.live:
            return fmt(
                '<span class="badge s-completed">live</span> {left} left',
                left=duration(node.lease_left_ns),
            )
        return Safe('<span class="badge s-failed">lease lapsed</span>')

    node_part = (
        table(
            ("Node", "App", "Host / pid", "Ports (gRPC / HTTP)", "Started", "Renewed", "Lease"),
            (
                (
                    n.row.node_id,
                    n.row.app_id,
                    f"{n.row.host} / {n.row.pid}",
                    f"{n.row.grpc_port} / {n.row.http_port}",
                    when(n.row.started_at),
                    fmt(
                        "{w} ({ago} ago)",
                        w=when(n.row.heartbeat_at),
                        ago=duration(now - n.row.heartbeat_at),
                    ),
                    lease(n),
                )
                for n in nodes
            ),
        )
        if nodes
        else notice("info", "No node is registered in this store.")
    )
    timers = (await query.timers())[:DUE_SOON]
    timer_part = (
        table(
            ("Reminder", "Instance", "Kind", "Due at (UTC)", "Due in"),
            (
                (
                    t.name,
                    instance_link(t.instance_id),
                    t.kind,
                    when(t.due_at),
                    duration(t.due_at - now),
                )
                for t in timers
            ),
        )
        if timers
        else notice("info", "No timers or scheduled starts are pending.")
    )
    store = await query.store_size()
    store_part = table(
        ("Store", "Size", "Instances", "Inbox messages", "Activity tasks"),
        [
            (
                ctx.source.store_url,
                size(store.bytes),
                f"{store.instances:,}",
                f"{store.inbox:,}",
                f"{store.tasks:,}",
            )
        ],
    )
    body = fmt(
        '<h1>Operations</h1><div id="live"><section><h2>{wt}</h2>{workers}</section>'
        "<section><h2>Nodes and their leases</h2>{nodes}</section>"
        "<section><h2>Timers due soon (the first {due})</h2>{timers}</section>"
        "<section><h2>Store</h2>{store}</section></div>",
        wt=workers_title,
        workers=worker_part,
        nodes=node_part,
        due=DUE_SOON,
        timers=timer_part,
        store=store_part,
    )
    return 200, ctx.page("Operations", body, section="operations", live=True)
