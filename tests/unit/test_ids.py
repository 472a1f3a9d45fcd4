"""The instance-ID rule (core.ids) and the escaping of untrusted strings for a terminal."""

from __future__ import annotations

import json

import pytest

from tether.cli.output import dump, render_table
from tether.core.ids import escaped, instance_id_problem
from tether.core.turns import child_instance_id


@pytest.mark.parametrize(
    "instance_id",
    [
        "a",
        "0b5f2c0e9d8a4e1f8c3b2a1d0e9f8c7b",  # the Python SDK's uuid4().hex
        "7d1f0c3e-2b4a-4c5d-9e8f-0a1b2c3d4e5f",  # a dashed UUID (Go, JS clients)
        "order-1:0001",  # a child of the SDKs' own numbering
        "order-1:0001:0002:0003",
        "order.v2@tenant/42",
        "x" * 1024,
    ],
)
def test_ids_the_sdks_and_users_make_are_accepted(instance_id: str) -> None:
    assert instance_id_problem(instance_id) is None


def test_two_hundred_levels_of_generated_child_ids_fit() -> None:
    instance_id = "0b5f2c0e9d8a4e1f8c3b2a1d0e9f8c7b"
    for level in range(190):
        instance_id = child_instance_id(instance_id, level + 1)
    assert instance_id_problem(instance_id) is None


@pytest.mark.parametrize(
    "instance_id",
    ["", "a\x00b", "line\nbreak", "tab\there", "\x1b[31mred", "a b", "rtl\u202eevil", "x" * 1025],
)
def test_ids_that_cannot_be_shown_or_stored_safely_are_refused(instance_id: str) -> None:
    problem = instance_id_problem(instance_id)
    assert problem is not None
    assert "\x1b" not in problem and "\x00" not in problem and "\u202e" not in problem


def test_escaping_keeps_printable_text_and_escapes_the_rest() -> None:
    assert escaped("order-1:0001 ✅ é") == "order-1:0001 ✅ é"
    assert escaped("\x1b[2J\x00\u202e\x9b") == "\\x1b[2J\\x00\\u202e\\x9b"
    assert escaped("two\nlines", keep="\n") == "two\nlines"


def test_tables_and_json_never_carry_control_characters() -> None:
    evil = "\x1b[2Jwf\n\x9bname\u202e"
    table = render_table(["NAME"], [[evil]])
    assert "\x1b" not in table and "\x9b" not in table and "\u202e" not in table
    assert table.count("\n") == 1  # header and one row: the cell's newline is escaped
    text = dump({"name": evil}, "json")
    assert json.loads(text) == {"name": evil}
    assert all(c.isprintable() or c == "\n" for c in text)
    yaml_text = dump({"name": evil}, "yaml")
    assert all(c.isprintable() or c == "\n" for c in yaml_text)
