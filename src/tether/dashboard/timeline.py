"""The instance timeline: one bar per activity attempt, child workflow, timer and event wait,
drawn as SVG on the server.

Each bar has two parts. *Queued*: waiting to be picked up — a child workflow before its first
step, an activity no worker holds yet, a result waiting in the inbox for the workflow's next
step, a timer or an event wait (nothing runs while they wait). *Running*: an activity from its
scheduling to its result (the protocol tells the sidecar nothing in between), a child workflow
from its first step to its end. Retries of an activity share its execution id and are drawn as
separate attempts.
"""

from __future__ import annotations

from dataclasses import dataclass

from tether.dashboard.html import Safe, duration, fmt, join
from tether.engine.query import HistoryEventView, InstanceView

MAX_BARS = 400
ROW = 22
LABEL_W = 230
CHART_W = 760
PAD = 8


@dataclass(slots=True)
class Segment:
    start: int
    end: int
    part: str  # "queued" or "running"


@dataclass(slots=True)
class Bar:
    kind: str  # activity | child | timer | event
    label: str
    segments: list[Segment]
    outcome: str  # ok | failed | pending
    detail: str


def _turn_starts(history: list[HistoryEventView]) -> dict[int, int]:
    """index in history -> timestamp of the workflowStarted (turn) the event was delivered in."""
    turns: dict[int, int] = {}
    current = None
    for i, event in enumerate(history):
        if event.kind == "workflowStarted":
            current = event.timestamp
        if current is not None:
            turns[i] = current
    return turns


def build_bars(
    history: list[HistoryEventView],
    now: int,
    children: dict[str, InstanceView],
    queued_tasks: set[int],
) -> list[Bar]:
    """Bars in the order their items began. ``queued_tasks``: pending activities no worker holds."""
    turns = _turn_starts(history)
    results: dict[int, tuple[int, HistoryEventView]] = {}
    raised: dict[str, list[int]] = {}
    for i, event in enumerate(history):
        if event.scheduled_id is not None and event.kind != "taskScheduled":
            results.setdefault(event.scheduled_id, (i, event))
        if event.kind == "timerFired" and event.timer_id is not None:
            results.setdefault(event.timer_id, (i, event))
        if event.kind == "eventRaised" and event.name is not None:
            raised.setdefault(event.name.lower(), []).append(i)
    attempts: dict[tuple[str, str], int] = {}
    bars: list[Bar] = []
    for event in history:
        found = results.get(event.event_id)
        done_at = found[1].timestamp if found else None
        picked = turns.get(found[0]) if found else None
        if event.kind == "taskScheduled":
            key = (event.name or "", event.execution_id or f"#{event.event_id}")
            attempts[key] = attempts.get(key, 0) + 1
            label = f"{event.name} #{event.event_id}"
            if attempts[key] > 1:
                label += f" (attempt {attempts[key]})"
            if done_at is None:
                part = "queued" if event.event_id in queued_tasks else "running"
                segments = [Segment(event.timestamp, now, part)]
                outcome = "pending"
            else:
                segments = [Segment(event.timestamp, done_at, "running")]
                if picked is not None and picked > done_at:
                    segments.append(Segment(done_at, picked, "queued"))
                outcome = "failed" if found and found[1].kind == "taskFailed" else "ok"
            bars.append(Bar("activity", label, segments, outcome, _detail(segments, outcome)))
        elif event.kind == "childWorkflowInstanceCreated":
            child = children.get(event.child_instance_id or "")
            child_end = done_at if done_at is not None else now
            began = child.started_at if child is not None and child.started_at else None
            segments = []
            if began is not None and began > event.timestamp:
                segments.append(Segment(event.timestamp, min(began, child_end), "queued"))
                segments.append(Segment(min(began, child_end), child_end, "running"))
            else:
                segments.append(Segment(event.timestamp, child_end, "running"))
            outcome = (
                "pending"
                if done_at is None
                else ("failed" if found and found[1].kind.endswith("Failed") else "ok")
            )
            label = f"child {event.name} #{event.event_id}"
            bars.append(Bar("child", label, segments, outcome, _detail(segments, outcome)))
        elif event.kind == "timerCreated":
            origin = event.timer_origin[0] if event.timer_origin else "createTimer"
            if origin in ("activityRetry", "childWorkflowRetry"):
                continue  # the gap between the attempts shows it
            if origin == "externalEvent":
                name = event.timer_origin[1][0] if event.timer_origin else ""
                end: int | None = _event_arrival(history, raised, name, event.timestamp)
                kind, label = "event", f"wait for {name!r}"
            else:
                end = done_at
                kind, label = "timer", f"timer #{event.event_id}"
            segments = [Segment(event.timestamp, end if end is not None else now, "queued")]
            outcome = "pending" if end is None else "ok"
            bars.append(Bar(kind, label, segments, outcome, _detail(segments, outcome)))
    return bars


def _event_arrival(
    history: list[HistoryEventView], raised: dict[str, list[int]], name: str, after: int
) -> int | None:
    for i in raised.get(name.lower(), []):
        if history[i].timestamp >= after:
            return history[i].timestamp
    return None


def _detail(segments: list[Segment], outcome: str) -> str:
    parts = [f"{s.part} {duration(s.end - s.start)}" for s in segments]
    return ", ".join(parts) + ("" if outcome == "ok" else f" ({outcome})")


def render(bars: list[Bar], origin: int, end: int) -> Safe:
    if not bars:
        return Safe('<p class="muted">No activities, child workflows, timers or event waits.</p>')
    shown = bars[:MAX_BARS]
    span = max(1, end - origin)

    def x(ns: int) -> float:
        return LABEL_W + (min(max(ns, origin), end) - origin) / span * CHART_W

    height = PAD * 2 + ROW * (len(shown) + 1)
    ticks = []
    for i in range(5):
        tx = LABEL_W + CHART_W * i / 4
        ticks.append(
            fmt(
                '<line class="tick" x1="{x}" y1="{y0}" x2="{x}" y2="{y1}"/>'
                '<text class="axis" x="{x}" y="{ty}" text-anchor="{anchor}">+{label}</text>',
                x=f"{tx:.1f}",
                y0=PAD + ROW - 6,
                y1=height - PAD,
                ty=PAD + ROW - 10,
                anchor="start" if i == 0 else ("end" if i == 4 else "middle"),
                label=duration(span * i // 4) if i else "0",
            )
        )
    rows = []
    for i, bar in enumerate(shown):
        y = PAD + ROW * (i + 1)
        rects = []
        for seg in bar.segments:
            x0, x1 = x(seg.start), x(seg.end)
            rects.append(
                fmt(
                    '<rect class="bar {kind} {part} {outcome}" x="{x}" y="{y}" width="{w}" '
                    'height="{h}" rx="2"><title>{title}</title></rect>',
                    kind=bar.kind,
                    part=seg.part,
                    outcome=bar.outcome,
                    x=f"{x0:.1f}",
                    y=y + 4,
                    w=f"{max(1.5, x1 - x0):.1f}",
                    h=ROW - 8,
                    title=f"{bar.label}: {seg.part} {duration(seg.end - seg.start)}",
                )
            )
        rows.append(
            fmt(
                '<g class="row"><rect class="stripe" x="0" y="{y}" width="{w}" height="{h}"/>'
                '<text class="label" x="4" y="{ty}">{label}</text>{rects}'
                '<text class="took" x="{dx}" y="{ty}">{detail}</text></g>',
                y=y,
                w=LABEL_W + CHART_W + 200,
                h=ROW,
                ty=y + ROW - 7,
                label=bar.label if len(bar.label) <= 32 else bar.label[:31] + "…",
                rects=join(rects),
                dx=f"{min(x(bar.segments[-1].end) + 4, LABEL_W + CHART_W + 4):.1f}",
                detail=bar.detail,
            )
        )
    more = (
        fmt(
            '<p class="muted">The first {n} of {total} items are drawn.</p>',
            n=MAX_BARS,
            total=len(bars),
        )
        if len(bars) > MAX_BARS
        else Safe("")
    )
    legend = Safe(
        '<p class="legend"><span class="key activity running"></span>activity running'
        '<span class="key child running"></span>child workflow running'
        '<span class="key queued"></span>queued / waiting'
        '<span class="key failed"></span>failed attempt</p>'
    )
    return fmt(
        '{legend}<div class="timeline"><svg role="img" aria-label="timeline" '
        'viewBox="0 0 {w} {h}" width="{w}" height="{h}">{ticks}{rows}</svg></div>{more}',
        legend=legend,
        w=LABEL_W + CHART_W + 200,
        h=height,
        ticks=join(ticks),
        rows=join(rows),
        more=more,
    )
