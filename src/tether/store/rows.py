"""Stored rows as the contract's dataclasses, from a driver's result tuple.

Every backend selects the columns in the same order (instances as in ``InstanceRow`` with
``tags`` as JSON text; inbox ``msg_id, instance_id, app_id, event, visible_at, execution_id,
ord``; tasks ``instance_id, task_id, execution_id, app_id, request, created_at, owner``).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from tether.store.base import InstanceRow, MessageRow, TaskRow


def instance_row(row: Sequence[Any]) -> InstanceRow:
    return InstanceRow(
        instance_id=row[0],
        app_id=row[1],
        name=row[2],
        status=row[3],
        execution_id=row[4],
        created_at=row[5],
        updated_at=row[6],
        started_at=row[7],
        completed_at=row[8],
        scheduled_start=row[9],
        input=row[10],
        output=row[11],
        custom_status=row[12],
        failure=row[13],
        parent_instance_id=row[14],
        parent=row[15],
        stall=row[16],
        version_name=row[17],
        tags=json.loads(row[18]) if row[18] else {},
        owner=row[19],
        epoch=row[20],
    )


def message_row(row: Sequence[Any]) -> MessageRow:
    return MessageRow(
        msg_id=row[0],
        instance_id=row[1],
        app_id=row[2],
        event=row[3],
        visible_at=row[4],
        execution_id=row[5],
        order=row[6],
    )


def task_row(row: Sequence[Any]) -> TaskRow:
    return TaskRow(
        instance_id=row[0],
        task_id=row[1],
        execution_id=row[2],
        app_id=row[3],
        request=row[4],
        created_at=row[5],
        owner=row[6],
    )
