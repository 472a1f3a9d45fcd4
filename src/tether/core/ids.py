"""The rule every instance ID tether accepts must follow, on every front door.

An instance ID is 1 to 1024 characters, none of them whitespace or unprintable (control and
format characters such as NUL, newlines, ANSI escapes or bidirectional overrides). That admits
every ID the SDKs generate (UUIDs, the Python and JavaScript SDKs' child IDs ``parent:0001``,
nested ``parent:0001:0002:...`` some 200 levels deep) and IDs daprd accepts, and keeps IDs safe
to log, print and put in a URL. Starts over Dapr's HTTP API also follow Dapr's own stricter
rule (letters, digits, ``-`` and ``_``, at most 64 characters; see ``httpapi.common``).
"""

from __future__ import annotations

MAX_INSTANCE_ID_CHARS = 1024


def instance_id_problem(instance_id: str) -> str | None:
    """Why ``instance_id`` is not acceptable, or None when it is."""
    if not instance_id:
        return "an instance ID must not be empty"
    if len(instance_id) > MAX_INSTANCE_ID_CHARS:
        return (
            f"an instance ID is at most {MAX_INSTANCE_ID_CHARS} characters "
            f"(this one has {len(instance_id)})"
        )
    for position, char in enumerate(instance_id):
        if char.isspace() or not char.isprintable():
            return (
                f"instance ID {shown(instance_id)} has {char!r} at position {position}: "
                "whitespace and unprintable characters are not allowed"
            )
    return None


def escaped(text: str, keep: str = "") -> str:
    """``text`` with every unprintable character (except those in ``keep``) as a Python escape:
    an untrusted string can then neither move a terminal's cursor nor forge output lines."""
    if text.isprintable():
        return text
    return "".join(
        c if c.isprintable() or c in keep else c.encode("unicode_escape").decode() for c in text
    )


def shown(text: str, limit: int = 80) -> str:
    """``text`` quoted with unprintable characters escaped, cut to ``limit`` characters."""
    return "'" + escaped(text if len(text) <= limit else text[:limit] + "...") + "'"
