"""``tether workflow …``: the Dapr CLI's workflow commands against a local tether (or a store).

The read commands are in :mod:`tether.cli.workflow_read`, the flags they all share in
:mod:`tether.cli.workflow_args`; this module has the commands that change instances, and the
parsers."""

from __future__ import annotations

import argparse
import sys

from tether import pb
from tether.cli.durations import duration_or_time, to_ns
from tether.cli.output import CliError, Progress, guarded, help_for, info, success
from tether.cli.workflow_args import (
    FORMATS,
    LIST_STATUSES,
    TERMINAL_NAMES,
    change,
    client_for,
    common_flags,
    connection_flags,
    json_input,
    output_flag,
    source_for,
)
from tether.cli.workflow_read import cmd_get, cmd_history, cmd_list, sort_views
from tether.engine.query import history_views


# -- run / raise-event / suspend / resume / terminate / rerun ----------------------------------
def cmd_run(args: argparse.Namespace) -> int:
    request = pb.CreateInstanceRequest(name=args.name)
    if args.instance_id:
        request.instanceId = args.instance_id
    payload = json_input(args.input, "--input")
    if payload is not None:
        request.input.value = payload
    if args.start_time is not None:
        when = duration_or_time(args.start_time, past=False, flag="--start-time")
        request.scheduledStartTimestamp.FromDatetime(when.replace(tzinfo=None))
    client = client_for(args)
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
    payload = json_input(args.input, "--input")
    if payload is not None:
        request.input.value = payload
    change(
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
    change(
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
    change(
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
    payload = json_input(args.output, "--output")
    if payload is not None:
        request.output.value = payload
    chosen = change(
        args,
        "TerminateInstance",
        request,
        pb.TerminateResponse,
        lambda admin: admin.terminate(args.instance_id, payload, True),
    )
    view = source_for(args, chosen).get(args.instance_id)
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
    client = client_for(args)
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
    payload = json_input(args.input, "--input")
    if payload is not None:
        request.input.value = payload
        request.overwriteInput = True
    response = client.call("RerunWorkflowFromEvent", request, pb.RerunWorkflowFromEventResponse)
    info(f"Rerunning workflow instance: {response.newInstanceID}")
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
    source = source_for(args)
    ids: list[str] = list(dict.fromkeys(args.instance_ids))
    if bulk:
        views = source.list_all()
        if args.all_filter_status is not None:
            views = [v for v in views if v.status_name == args.all_filter_status]
        else:
            views = [v for v in views if v.status_name in TERMINAL_NAMES]
        if cutoff is not None:
            views = [v for v in views if v.created_at is not None and v.created_at < cutoff]
        ids = [v.instance_id for v in sort_views(views)]
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
    common_flags(p)
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
    output_flag(p, [*FORMATS, "ids"])
    common_flags(p)
    connection_flags(p)
    p.set_defaults(func=guarded(cmd_list))

    p = cmds.add_parser("get", help="show one workflow instance")
    p.add_argument("instance_id", help="the instance ID")
    output_flag(p, FORMATS)
    common_flags(p)
    connection_flags(p)
    p.set_defaults(func=guarded(cmd_get))

    p = cmds.add_parser("history", help="show a workflow instance's history")
    p.add_argument("instance_id", help="the instance ID")
    output_flag(p, FORMATS)
    common_flags(p)
    connection_flags(p)
    p.set_defaults(func=guarded(cmd_history))

    p = cmds.add_parser("suspend", help="suspend a running workflow instance")
    p.add_argument("instance_id")
    p.add_argument("-r", "--reason", default=None, help="why it is suspended")
    common_flags(p)
    connection_flags(p)
    p.set_defaults(func=guarded(cmd_suspend))

    p = cmds.add_parser("resume", help="resume a suspended workflow instance")
    p.add_argument("instance_id")
    p.add_argument("-r", "--reason", default=None, help="why it is resumed")
    common_flags(p)
    connection_flags(p)
    p.set_defaults(func=guarded(cmd_resume))

    p = cmds.add_parser("terminate", help="terminate a workflow instance")
    p.add_argument("instance_id")
    p.add_argument("-o", "--output", default=None, help="the workflow's output, as a JSON string")
    common_flags(p)
    connection_flags(p)
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
    common_flags(p)
    connection_flags(p)
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
    common_flags(p)
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
    common_flags(p)
    connection_flags(p)
    p.set_defaults(func=guarded(cmd_purge))
