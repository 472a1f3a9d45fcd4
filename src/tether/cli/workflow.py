"""``tether workflow …``: the Dapr CLI's workflow commands against a local tether (or a store)."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any

from tether import pb
from tether.cli import target
from tether.cli.durations import duration_or_time, from_ns, human_age, rfc3339, to_ns
from tether.cli.history_view import SHORT_COLUMNS, WIDE_COLUMNS, history_rows
from tether.cli.instances import (
    InstanceSource,
    RemoteSource,
    StoreSource,
    detail_record,
    list_record,
)
from tether.cli.output import (
    CliError,
    Progress,
    failure,
    guarded,
    help_for,
    info,
    print_document,
    print_table,
    success,
    warn,
)
from tether.cli.remote import TetherHttp
from tether.engine.admin import Admin
from tether.engine.query import InstanceView, history_views

LIST_STATUSES = [
    "RUNNING",
    "COMPLETED",
    "CONTINUED_AS_NEW",
    "FAILED",
    "CANCELED",
    "TERMINATED",
    "PENDING",
    "SUSPENDED",
]
TERMINAL_NAMES = {"COMPLETED", "CONTINUED_AS_NEW", "FAILED", "CANCELED", "TERMINATED"}
FORMATS = ["short", "wide", "yaml", "json"]
Offline = Callable[[Admin], Awaitable[None]]


# -- shared flags ------------------------------------------------------------------------------
def _common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "-a", "--app-id", default=None, help="the app ID owner of the workflow instance"
    )
    parser.add_argument(
        "-k",
        "--kubernetes",
        action="store_true",
        help="accepted for Dapr CLI compatibility; tether always targets the local sidecar",
    )
    parser.add_argument("-n", "--namespace", default="default", help="namespace shown in output")
    parser.add_argument(
        "--api-token",
        default=None,
        help="the tether's API token (default: $DAPR_API_TOKEN); required when it runs with one",
    )


def _connection(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "-c",
        "--connection-string",
        default=None,
        help="the tether store to work on (a SQLite path or sqlite:/// URL): through the tether "
        "running on it, or directly when none is",
    )
    parser.add_argument(
        "-t", "--table-name", default=None, help="a PostgreSQL store's schema (tether's tables)"
    )


def _output(parser: argparse.ArgumentParser, choices: list[str]) -> None:
    parser.add_argument(
        "-o",
        "--output",
        default="short",
        choices=choices,
        metavar="FORMAT",
        help=f"output format: one of {', '.join(choices)}",
    )


def _kube_warning(args: argparse.Namespace) -> None:
    if getattr(args, "kubernetes", False):
        warn("tether has no Kubernetes mode; using the local tether")


def _json_input(value: str | None, flag: str) -> str | None:
    """A JSON argument, encoded once more as the Dapr CLI does (the SDK receives it as a string)."""
    if value is None:
        return None
    try:
        json.loads(value)
    except ValueError as exc:
        raise CliError(f"invalid JSON for {flag}: {exc}") from None
    return json.dumps(value)


def _client(args: argparse.Namespace) -> target.SidecarClient:
    _kube_warning(args)
    return target.connect(args.app_id, target.api_token(args.api_token))


def _target(args: argparse.Namespace) -> target.Target:
    _kube_warning(args)
    return target.resolve(
        args.app_id, getattr(args, "connection_string", None), getattr(args, "table_name", None)
    )


def _source(args: argparse.Namespace, chosen: target.Target | None = None) -> InstanceSource:
    chosen = chosen or _target(args)
    if chosen.sidecar is None:
        assert chosen.store_url is not None
        return StoreSource(chosen.store_url, args.app_id)
    token = target.api_token(args.api_token)
    entry = chosen.sidecar
    return RemoteSource(TetherHttp(entry, token), target.SidecarClient(entry, token), args.app_id)


def _change(
    args: argparse.Namespace, rpc: str, request: Any, response_cls: Any, offline: Offline
) -> target.Target:
    """A change through the running tether's engine, else the engine's operation on the store."""
    chosen = _target(args)
    if chosen.sidecar is not None:
        client = target.SidecarClient(chosen.sidecar, target.api_token(args.api_token))
        client.call(rpc, request, response_cls)
    else:
        assert chosen.store_url is not None
        target.on_store(chosen.store_url, offline)
    return chosen


# -- run / raise-event / suspend / resume / terminate / rerun ----------------------------------
def cmd_run(args: argparse.Namespace) -> int:
    request = pb.CreateInstanceRequest(name=args.name)
    if args.instance_id:
        request.instanceId = args.instance_id
    payload = _json_input(args.input, "--input")
    if payload is not None:
        request.input.value = payload
    if args.start_time is not None:
        when = duration_or_time(args.start_time, past=False, flag="--start-time")
        request.scheduledStartTimestamp.FromDatetime(when.replace(tzinfo=None))
    client = _client(args)
    response = client.call("StartInstance", request, pb.CreateInstanceResponse)
    success(f"Workflow instance started successfully: {response.instanceId}")
    return 0


def cmd_raise_event(args: argparse.Namespace) -> int:
    instance_id, sep, event = args.target.rpartition("/")
    if not sep or not instance_id or not event:
        raise CliError(
            f"{args.target!r}: expected <instance-id>/<event-name>, "
            "e.g. order-12345/PaymentReceived"
        )
    request = pb.RaiseEventRequest(instanceId=instance_id, name=event)
    payload = _json_input(args.input, "--input")
    if payload is not None:
        request.input.value = payload
    _change(
        args,
        "RaiseEvent",
        request,
        pb.RaiseEventResponse,
        lambda admin: admin.raise_event(instance_id, event, payload),
    )
    success(f"Workflow '{instance_id}' raised event '{event}' successfully")
    return 0


def cmd_suspend(args: argparse.Namespace) -> int:
    request = pb.SuspendRequest(instanceId=args.instance_id)
    if args.reason:
        request.reason.value = args.reason
    _change(
        args,
        "SuspendInstance",
        request,
        pb.SuspendResponse,
        lambda admin: admin.suspend(args.instance_id, args.reason or None),
    )
    success(f"Workflow '{args.instance_id}' suspended successfully")
    return 0


def cmd_resume(args: argparse.Namespace) -> int:
    request = pb.ResumeRequest(instanceId=args.instance_id)
    if args.reason:
        request.reason.value = args.reason
    _change(
        args,
        "ResumeInstance",
        request,
        pb.ResumeResponse,
        lambda admin: admin.resume(args.instance_id, args.reason or None),
    )
    success(f"Workflow '{args.instance_id}' resumed successfully")
    return 0


def cmd_terminate(args: argparse.Namespace) -> int:
    request = pb.TerminateRequest(instanceId=args.instance_id, recursive=True)
    payload = _json_input(args.output, "--output")
    if payload is not None:
        request.output.value = payload
    chosen = _change(
        args,
        "TerminateInstance",
        request,
        pb.TerminateResponse,
        lambda admin: admin.terminate(args.instance_id, payload, True),
    )
    view = _source(args, chosen).get(args.instance_id)
    if not view.terminal:
        # Stored, but nothing ran it yet: e.g. an instance of an app no running tether serves.
        info(
            f"Workflow '{args.instance_id}' termination is queued: the instance is still "
            f"{view.status_name} in app '{view.app_id}'; it ends when a tether of that app "
            "runs it"
        )
        return 0
    success(f"Workflow '{args.instance_id}' terminated successfully")
    return 0


_RERUNNABLE = ("taskScheduled", "timerCreated", "childWorkflowInstanceCreated")


def cmd_rerun(args: argparse.Namespace) -> int:
    client = _client(args)
    event_id = args.event_id
    if event_id is None:
        # "From the beginning": the first event a rerun can start from (workflow code before it
        # is deterministic replay). Python numbers events from 1, so Dapr's default 0 never
        # matches a Python workflow.
        response = client.call(
            "GetInstanceHistory",
            pb.GetInstanceHistoryRequest(instanceId=args.instance_id),
            pb.GetInstanceHistoryResponse,
        )
        events = history_views(list(response.events))
        candidates = [e.event_id for e in events if e.kind in _RERUNNABLE]
        if not candidates:
            raise CliError(
                f"workflow '{args.instance_id}' has no activity, timer or child-workflow event to "
                "re-run from"
            )
        event_id = min(candidates)
    if event_id < 0 or event_id > 2**32 - 1:
        raise CliError(f"--event-id {event_id} is out of range (0..4294967295)")
    request = pb.RerunWorkflowFromEventRequest(sourceInstanceID=args.instance_id, eventID=event_id)
    if args.new_instance_id is not None:
        if not args.new_instance_id:
            raise CliError("--new-instance-id must not be empty")
        request.newInstanceID = args.new_instance_id
    payload = _json_input(args.input, "--input")
    if payload is not None:
        request.input.value = payload
        request.overwriteInput = True
    response = client.call("RerunWorkflowFromEvent", request, pb.RerunWorkflowFromEventResponse)
    info(f"Rerunning workflow instance: {response.newInstanceID}")
    return 0


# -- list / get / history ----------------------------------------------------------------------
def _time(ns: int | None, seconds_only: bool = False) -> str:
    return rfc3339(from_ns(ns), seconds_only=seconds_only) if ns else ""


def _sort(views: list[InstanceView]) -> list[InstanceView]:
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
    source = _source(args)
    views = _sort(_filtered(source.list_all(), args))
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
    view = _source(args).get(args.instance_id)
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
    source = _source(args)
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


# -- purge -------------------------------------------------------------------------------------
def cmd_purge(args: argparse.Namespace) -> int:
    bulk = args.all or args.all_older_than is not None
    if bulk and args.instance_ids:
        raise CliError("no arguments are accepted when using purge all flags")
    if args.all and args.all_older_than is not None:
        raise CliError("--all and --all-older-than cannot be used together")
    if args.all_filter_status is not None:
        if args.all_older_than is None:
            raise CliError("--all-filter-status can only be used with --all-older-than")
        if args.all_filter_status not in LIST_STATUSES:
            raise CliError(
                "invalid value for --all-filter-status. Supported values are "
                + ", ".join(LIST_STATUSES)
            )
        if args.all_filter_status not in TERMINAL_NAMES and not args.force:
            raise CliError(
                f"--all-filter-status {args.all_filter_status} is not a terminal state (one of "
                f"{', '.join(sorted(TERMINAL_NAMES))}); add --force to purge such instances"
            )
    if not bulk and not args.instance_ids:
        raise CliError(
            "one or more workflow instance ID arguments are required when not using purge all flags"
        )
    cutoff = None
    if args.all_older_than is not None:
        cutoff = to_ns(duration_or_time(args.all_older_than, past=True, flag="--all-older-than"))
    source = _source(args)
    ids: list[str] = list(dict.fromkeys(args.instance_ids))
    if bulk:
        views = source.list_all()
        if args.all_filter_status is not None:
            views = [v for v in views if v.status_name == args.all_filter_status]
        else:
            views = [v for v in views if v.status_name in TERMINAL_NAMES]
        if cutoff is not None:
            views = [v for v in views if v.created_at is not None and v.created_at < cutoff]
        ids = [v.instance_id for v in _sort(views)]
    info(f"Purging {len(ids)} workflow instance(s)")
    progress = Progress("purging", len(ids))

    def done(instance_id: str) -> None:
        progress.step()
        if progress.enabled:
            sys.stderr.write("\r\x1b[K")
        success(f'Purged workflow instance "{instance_id}"')

    try:
        source.purge(ids, args.force, done)
    finally:
        progress.close()
    return 0


# -- registration ------------------------------------------------------------------------------
def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = sub.add_parser(
        "workflow", aliases=["work"], help="workflow management commands (like `dapr workflow`)"
    )
    parser.set_defaults(func=help_for(parser))
    cmds = parser.add_subparsers(dest="workflow_command", metavar="COMMAND")

    p = cmds.add_parser("run", help="start a workflow instance")
    p.add_argument("name", help="the workflow name")
    p.add_argument("-i", "--instance-id", default=None, help="the new instance's ID")
    p.add_argument("-x", "--input", default=None, help="input data as a JSON string")
    p.add_argument(
        "-s",
        "--start-time",
        default=None,
        help="start later: an RFC 3339 time or a duration from now (e.g. 10m)",
    )
    _common(p)
    p.set_defaults(func=guarded(cmd_run))

    p = cmds.add_parser("list", aliases=["ls"], help="list workflow instances")
    p.add_argument("-w", "--filter-name", default=None, help="only workflows with this name")
    p.add_argument(
        "-s",
        "--filter-status",
        default=None,
        help=f"only workflows with this status: one of {', '.join(LIST_STATUSES)}",
    )
    p.add_argument(
        "-m",
        "--filter-max-age",
        default=None,
        help="only workflows created within this duration (24h) or since this timestamp",
    )
    _output(p, [*FORMATS, "ids"])
    _common(p)
    _connection(p)
    p.set_defaults(func=guarded(cmd_list))

    p = cmds.add_parser("get", help="show one workflow instance")
    p.add_argument("instance_id", help="the instance ID")
    _output(p, FORMATS)
    _common(p)
    _connection(p)
    p.set_defaults(func=guarded(cmd_get))

    p = cmds.add_parser("history", help="show a workflow instance's history")
    p.add_argument("instance_id", help="the instance ID")
    _output(p, FORMATS)
    _common(p)
    _connection(p)
    p.set_defaults(func=guarded(cmd_history))

    p = cmds.add_parser("suspend", help="suspend a running workflow instance")
    p.add_argument("instance_id")
    p.add_argument("-r", "--reason", default=None, help="why it is suspended")
    _common(p)
    _connection(p)
    p.set_defaults(func=guarded(cmd_suspend))

    p = cmds.add_parser("resume", help="resume a suspended workflow instance")
    p.add_argument("instance_id")
    p.add_argument("-r", "--reason", default=None, help="why it is resumed")
    _common(p)
    _connection(p)
    p.set_defaults(func=guarded(cmd_resume))

    p = cmds.add_parser("terminate", help="terminate a workflow instance")
    p.add_argument("instance_id")
    p.add_argument("-o", "--output", default=None, help="the workflow's output, as a JSON string")
    _common(p)
    _connection(p)
    p.set_defaults(func=guarded(cmd_terminate))

    p = cmds.add_parser(
        "raise-event",
        help="raise an event: <instance-id>/<event-name>",
        description="Raise an event on a workflow instance. As with the Dapr CLI, --input is "
        "sent as one JSON string: --input '{\"approved\": true}' reaches the workflow as the "
        "text '{\"approved\": true}', not an object (decode it with json.loads in the workflow). "
        "To deliver the object itself, POST it to the HTTP API: curl -X POST "
        "http://localhost:3500/v1.0/workflows/dapr/<instance-id>/raiseEvent/<event-name> "
        "-d '{\"approved\": true}'",
    )
    p.add_argument("target", metavar="INSTANCE_ID/EVENT")
    p.add_argument(
        "-x",
        "--input",
        default=None,
        help="event data (JSON), delivered as a JSON string like the Dapr CLI does",
    )
    _common(p)
    _connection(p)
    p.set_defaults(func=guarded(cmd_raise_event))

    p = cmds.add_parser("rerun", help="re-run a terminal workflow instance from an event")
    p.add_argument("instance_id")
    p.add_argument(
        "-e",
        "--event-id",
        type=int,
        default=None,
        help="the event to re-run from (default: the first activity, timer or child workflow)",
    )
    p.add_argument("--new-instance-id", default=None, help="ID of the new instance")
    p.add_argument("-x", "--input", default=None, help="new input for the re-run event (JSON)")
    _common(p)
    p.set_defaults(func=guarded(cmd_rerun))

    p = cmds.add_parser("purge", help="purge terminal workflow instances")
    p.add_argument("instance_ids", nargs="*", metavar="INSTANCE_ID")
    p.add_argument(
        "--all-older-than",
        default=None,
        help="purge terminal instances created before this duration ago (720h) or timestamp",
    )
    p.add_argument("--all", action="store_true", help="purge every terminal instance")
    p.add_argument(
        "--all-filter-status",
        default=None,
        help="with --all-older-than: only this status (non-terminal ones need --force)",
    )
    p.add_argument("--force", action="store_true", help="purge regardless of state")
    _common(p)
    _connection(p)
    p.set_defaults(func=guarded(cmd_purge))
