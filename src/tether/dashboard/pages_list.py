"""The instance list: filters, sort, cursor paging, counts per status, bulk actions."""

from __future__ import annotations

import dataclasses
import urllib.parse

from starlette.datastructures import QueryParams

from tether import pb
from tether.dashboard.context import Ctx, notice, parse_time, time_input_value
from tether.dashboard.html import STATUS_ORDER, Safe, fmt, join, status_badge, when
from tether.engine.query import InstanceView, ListQuery
from tether.errors import InvalidArgument

PAGE_SIZE = 50
MAX_PAGE_SIZE = 500
SORTS = (("created", "Created"), ("updated", "Updated"), ("instance_id", "Instance ID"))
TREES = (("", "all"), ("roots", "top-level only"), ("children", "child workflows only"))
BULK = (
    ("suspend", "Suspend"),
    ("resume", "Resume"),
    ("terminate", "Terminate"),
    ("purge", "Purge"),
)


def list_query(params: QueryParams) -> ListQuery:
    statuses = []
    for name in params.getlist("status"):
        if name not in pb.STATUS_BY_NAME:
            raise InvalidArgument(f"unknown status {name!r}; use one of {', '.join(STATUS_ORDER)}")
        statuses.append(pb.STATUS_BY_NAME[name])
    tree = params.get("tree", "")
    if tree not in ("", "roots", "children"):
        raise InvalidArgument(f"tree: {tree!r} is not one of roots, children")
    sort = params.get("sort") or "created"
    order = params.get("order") or "desc"
    if order not in ("asc", "desc"):
        raise InvalidArgument(f"order: {order!r} is not asc or desc")
    try:
        limit = int(params.get("limit") or PAGE_SIZE)
    except ValueError:
        raise InvalidArgument("limit must be a number") from None
    return ListQuery(
        app_id=params.get("app") or None,
        statuses=tuple(statuses),
        name=params.get("name") or None,
        created_from=parse_time("created from", params.get("created_from")),
        created_to=parse_time("created to", params.get("created_to")),
        updated_from=parse_time("updated from", params.get("updated_from")),
        updated_to=parse_time("updated to", params.get("updated_to")),
        id_prefix=params.get("prefix") or None,
        parent_instance_id=params.get("parent") or None,
        has_parent={"": None, "roots": False, "children": True}[tree],
        sort=sort,
        descending=order == "desc",
        cursor=params.get("cursor") or None,
        limit=max(1, min(limit, MAX_PAGE_SIZE)),
    )


def _url(params: QueryParams, **changes: str | list[str] | None) -> str:
    items = [(k, v) for k, v in params.multi_items() if k not in changes and k != "cursor"]
    for key, value in changes.items():
        if isinstance(value, list):
            items += [(key, v) for v in value]
        elif value:
            items.append((key, value))
    query = urllib.parse.urlencode(items)
    return "/dashboard/instances" + (f"?{query}" if query else "")


def _filters(params: QueryParams, q: ListQuery) -> Safe:
    def text(name: str, label: str, placeholder: str = "") -> Safe:
        return fmt(
            '<label>{label}<input type="text" name="{name}" value="{v}" placeholder="{ph}">'
            "</label>",
            label=label,
            name=name,
            v=params.get(name, ""),
            ph=placeholder,
        )

    def moment(name: str, label: str, ns: int | None) -> Safe:
        return fmt(
            '<label>{label}<input type="datetime-local" step="1" name="{name}" value="{v}">'
            "</label>",
            label=label,
            name=name,
            v=time_input_value(ns),
        )

    def select(name: str, label: str, options: tuple[tuple[str, str], ...], current: str) -> Safe:
        opts = join(
            fmt(
                '<option value="{v}"{sel}>{t}</option>',
                v=v,
                t=t,
                sel=Safe(" selected") if v == current else Safe(""),
            )
            for v, t in options
        )
        return fmt(
            '<label>{label}<select name="{name}">{opts}</select></label>',
            label=label,
            name=name,
            opts=opts,
        )

    chosen = set(params.getlist("status"))
    statuses = join(
        fmt(
            '<label class="check"><input type="checkbox" name="status" value="{s}"{c}>{s}</label>',
            s=s,
            c=Safe(" checked") if s in chosen else Safe(""),
        )
        for s in STATUS_ORDER
    )
    return fmt(
        '<form class="filters" method="get" action="/dashboard/instances">'
        '<fieldset class="statuses"><legend>Status</legend>{statuses}</fieldset>'
        '<div class="grid">{name}{app}{prefix}{parent}{tree}'
        "{cf}{ct}{uf}{ut}{sort}{order}</div>"
        '<div class="buttons"><button type="submit">Apply filters</button>'
        '<a class="button secondary" href="/dashboard/instances">Reset</a></div></form>',
        statuses=statuses,
        name=text("name", "Workflow name"),
        app=text("app", "App ID"),
        prefix=text("prefix", "Instance ID prefix"),
        parent=text("parent", "Parent instance ID"),
        tree=select("tree", "Parent / child", TREES, params.get("tree", "")),
        cf=moment("created_from", "Created from (UTC)", q.created_from),
        ct=moment("created_to", "Created before (UTC)", q.created_to),
        uf=moment("updated_from", "Updated from (UTC)", q.updated_from),
        ut=moment("updated_to", "Updated before (UTC)", q.updated_to),
        sort=select("sort", "Sort by", SORTS, q.sort),
        order=select(
            "order",
            "Order",
            (("desc", "newest first"), ("asc", "oldest first")),
            "desc" if q.descending else "asc",
        ),
    )


def _counts(params: QueryParams, counts: dict[str, int]) -> Safe:
    total = sum(counts.values())
    chips = [
        fmt(
            '<a class="chip" href="{href}">all <b>{n}</b></a>',
            href=_url(params, status=None),
            n=f"{total:,}",
        )
    ]
    for name in STATUS_ORDER:
        n = counts.get(name, 0)
        if n:
            chips.append(
                fmt(
                    '<a class="chip s-{cls}" href="{href}" data-status="{name}">{name} <b>{n}</b>'
                    "</a>",
                    cls=name.lower(),
                    href=_url(params, status=[name]),
                    name=name,
                    n=f"{n:,}",
                )
            )
    return fmt('<nav class="counts" aria-label="counts per status">{c}</nav>', c=join(chips))


def instance_link(instance_id: str) -> Safe:
    return fmt(
        '<a class="iid" href="/dashboard/instance?id={q}">{id}</a>',
        q=urllib.parse.quote(instance_id, safe=""),
        id=instance_id,
    )


def _row(view: InstanceView) -> Safe:
    parent = instance_link(view.parent_instance_id) if view.parent_instance_id else Safe("")
    return fmt(
        '<tr data-id="{id}"><td><input type="checkbox" name="ids" value="{id}" form="bulk" '
        'aria-label="select {id}"></td><td>{link}</td><td>{name}</td><td>{app}</td>'
        "<td>{status}</td><td>{created}</td><td>{updated}</td><td>{parent}</td></tr>",
        id=view.instance_id,
        link=instance_link(view.instance_id),
        name=view.name,
        app=view.app_id,
        status=status_badge(view.status_name),
        created=when(view.created_at),
        updated=when(view.updated_at),
        parent=parent,
    )


async def instances_page(ctx: Ctx) -> tuple[int, str]:
    params = ctx.request.query_params
    try:
        q = list_query(params)
        page = await ctx.source.query.instances(q)
        counts = await ctx.source.query.counts(dataclasses.replace(q, statuses=()))
    except InvalidArgument as exc:
        body = fmt("<h1>Instances</h1>{n}", n=notice("error", exc.message))
        return 400, ctx.page(
            "Instances", join([body, _filters(params, ListQuery())]), section="instances"
        )
    rows = join(_row(v) for v in page.instances)
    if not page.instances:
        rows = Safe('<tr><td colspan="8" class="muted">No instances match.</td></tr>')
    paging = []
    if q.cursor:
        paging.append(fmt('<a class="button secondary" href="{h}">First page</a>', h=_url(params)))
    if page.next_cursor:
        items = [(k, v) for k, v in params.multi_items() if k != "cursor"]
        items.append(("cursor", page.next_cursor))
        paging.append(
            fmt(
                '<a class="button secondary" rel="next" href="/dashboard/instances?{q}">'
                "Next page</a>",
                q=urllib.parse.urlencode(items),
            )
        )
    if ctx.can_act:
        buttons = join(
            fmt(
                '<button type="submit" name="op" value="{op}" class="{cls}">{label}</button>',
                op=op,
                label=label,
                cls="danger" if op in ("terminate", "purge") else "",
            )
            for op, label in BULK
        )
        bulk = fmt(
            '<form id="bulk" class="bulk" method="post" action="/dashboard/bulk">{csrf}'
            '<span class="selected" aria-live="polite">Select instances to act on them.</span>'
            "{buttons}</form>",
            csrf=ctx.csrf_field(),
            buttons=buttons,
        )
    else:
        bulk = ctx.read_only()
    body = fmt(
        '<h1>Instances</h1>{filters}{bulk}<div id="live">{counts}'
        '<table class="list"><thead><tr><th><input type="checkbox" class="select-all" '
        'aria-label="select all on this page"></th><th>Instance ID</th><th>Workflow</th>'
        "<th>App</th><th>Status</th><th>Created (UTC)</th><th>Updated (UTC)</th><th>Parent</th>"
        '</tr></thead><tbody>{rows}</tbody></table><div class="paging">{paging}'
        '<label class="check live-toggle"><input type="checkbox" id="live-toggle" checked>'
        "Live refresh</label></div></div>",
        filters=_filters(params, q),
        counts=_counts(params, counts),
        bulk=bulk,
        rows=rows,
        paging=join(paging),
    )
    return 200, ctx.page("Instances", body, section="instances", live=True)
