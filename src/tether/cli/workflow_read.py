"""``tether workflow list|get|history``: the read commands, formatting the read model's views."""

from __future__ import annotations

import argparse
from datetime import UTC, datetime

from tether.cli.durations import duration_or_time, from_ns, human_age, rfc3339, to_ns
from tether.cli.history_view import SHORT_COLUMNS, WIDE_COLUMNS, history_rows
from tether.cli.instances import detail_record, list_record
from tether.cli.output import CliError, failure, print_document, print_table
from tether.cli.workflow_args import LIST_STATUSES, source_for
from tether.engine.query import InstanceView


def _time(ns: int | None, seconds_only: bool = False) -> str:
    return rfc3339(from_ns(ns), seconds_only=seconds_only) if ns else ""


def sort_views(views: list[InstanceView]) -> list[InstanceView]:
    far = 2**63
    return sorted(views, key=lambda v: (v.created_at or far, v.instance_id))


def _age(view: InstanceView, now: datetime) -> str:
    if view.created_at is None:
        return "<scheduled>"
    return human_age((now - from_ns(view.created_at)).total_seconds())


def _filtered(views: list[InstanceView], args: argparse.Namespace) -> list[InstanceView]:
    if args.filter_name is not None:
        views = [v for v in views if v.name == args.filter_name]
    if args.filter_status is not None:
        views = [v for v in views if v.status_name == args.filter_status]
    if args.filter_max_age is not None:
        cutoff = to_ns(duration_or_time(args.filter_max_age, past=True, flag="--filter-max-age"))
        views = [v for v in views if v.created_at is not None and v.created_at >= cutoff]
    return views


def cmd_list(args: argparse.Namespace) -> int:
    if args.filter_status is not None and args.filter_status not in LIST_STATUSES:
        raise CliError(
            "invalid value for --filter-status. Supported values are " + ", ".join(LIST_STATUSES)
        )
    filters = (args.filter_name, args.filter_status, args.filter_max_age)
    if args.output == "ids" and any(f is not None for f in filters):
        raise CliError("filters cannot be used with --output ids")
    if args.filter_max_age is not None:  # validate before any network call
        duration_or_time(args.filter_max_age, past=True, flag="--filter-max-age")
    source = source_for(args)
    views = sort_views(_filtered(source.list_all(), args))
    if args.output == "ids":
        for view in views:
            print(view.instance_id)
        return 0
    if not views:
        if args.output in ("json", "yaml"):
            print_document([], args.output)
        app = source.app_id or "*"
        failure(f'No workflow found in namespace "{args.namespace}" for app ID "{app}"')
        return 0
    if args.output in ("json", "yaml"):
        print_document([list_record(v, args.namespace) for v in views], args.output)
        return 0
    now = datetime.now(UTC)
    if args.output == "wide":
        print_table(
            [
                "NAMESPACE",
                "APP ID",
                "Name",
                "INSTANCE ID",
                "CREATED",
                "LAST UPDATE",
                "STATUS",
                "CUSTOM STATUS",
                "FAILURE MESSAGE",
            ],
            [
                [
                    args.namespace,
                    v.app_id,
                    v.name,
                    v.instance_id,
                    _time(v.created_at, seconds_only=True),
                    _time(v.updated_at, seconds_only=True),
                    v.status_name,
                    v.custom_status or "",
                    (v.failure.message if v.failure else "").replace("\n", " "),
                ]
                for v in views
            ],
            colour_column="STATUS",
        )
        return 0
    print_table(
        ["NAME", "ID", "STATUS", "CUSTOM STATUS", "AGE"],
        [
            [v.name, v.instance_id, v.status_name, v.custom_status or "", _age(v, now)]
            for v in views
        ],
        colour_column="STATUS",
    )
    return 0


def cmd_get(args: argparse.Namespace) -> int:
    view = source_for(args).get(args.instance_id)
    if args.output in ("json", "yaml"):
        print_document(detail_record(view, args.namespace), args.output)
        return 0
    now = datetime.now(UTC)
    failure = view.failure
    fields: list[tuple[str, str | None]] = [
        ("Instance ID", view.instance_id),
        ("Name", view.name),
        ("App ID", view.app_id),
        ("Status", view.status_name),
        ("Custom status", view.custom_status),
        ("Age", _age(view, now)),
        ("Created", _time(view.created_at) or None),
        ("Last update", _time(view.updated_at) or None),
        ("Input", view.input),
        ("Output", view.output),
        ("Failure type", failure.error_type if failure else None),
        ("Failure message", failure.message if failure else None),
    ]
    if args.output == "wide":
        fields += [
            ("Namespace", args.namespace),
            ("Execution ID", view.execution_id),
            ("Parent instance", view.parent_instance_id),
            ("Scheduled start", _time(view.scheduled_start) or None),
            ("Completed", _time(view.completed_at) or None),
            ("Tags", ", ".join(f"{k}={v}" for k, v in sorted(view.tags.items())) or None),
            ("Stack trace", failure.stack_trace if failure else None),
        ]
    shown = [(k, v) for k, v in fields if v not in (None, "")]
    width = max(len(k) for k, _ in shown) + 2
    for key, value in shown:
        print(f"{key + ':':<{width}}{value}")
    return 0


def cmd_history(args: argparse.Namespace) -> int:
    source = source_for(args)
    history = source.history(args.instance_id)
    namespace = args.namespace if args.output != "short" else ""
    rows = history_rows(history.events, history.app_id, namespace)
    if args.output in ("json", "yaml"):
        print_document([r.record() for r in rows], args.output)
        return 0
    wide = args.output == "wide"
    print_table(
        WIDE_COLUMNS if wide else SHORT_COLUMNS,
        [r.cells(wide) for r in rows],
        drop_blank=True,
        blank="" if wide else "-",
        colour_column="STATUS",
    )
    return 0
