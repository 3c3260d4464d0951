"""The session link argument of `collab join` and `collab agent`: command line, environment or stdin.

A write link carries the room's write secret (``#k=...``). On the command line any local user sees
it in `ps` and ``/proc/<pid>/cmdline`` (issue 13, finding 10), so the link can also come from
``COLLAB_LINK`` (``/proc/<pid>/environ`` is readable by its owner only) or from stdin when the
argument is ``-``: piped (``collab share DIR | collab join - --dir W``), or pasted at a hidden
prompt when stdin is a terminal.
"""

from __future__ import annotations

import getpass
import os
import sys
from typing import TextIO

from collab.config import env_name

LINK_ENV = env_name("link")  # COLLAB_LINK
FROM_STDIN = "-"
HELP = (
    "the session link (keep the #k=... part of encrypted links); - reads it from stdin, and without it "
    f"${LINK_ENV} is used, so the secret stays off the command line"
)


class LinkArgumentError(ValueError):
    """No link where one was asked for: the message says where to put it."""


def read_link_argument(value: str | None, *, stdin: TextIO | None = None) -> str | None:
    """The link given as ``value``, or read from stdin when it is ``-``, else ``$COLLAB_LINK``, else None."""
    if value == FROM_STDIN:
        return _from_stdin(stdin if stdin is not None else sys.stdin)
    if value:
        return value
    return os.environ.get(LINK_ENV, "").strip() or None


def required_link_argument(value: str | None, *, stdin: TextIO | None = None) -> str:
    link = read_link_argument(value, stdin=stdin)
    if link is None:
        raise LinkArgumentError(f"give the session link: as an argument, as - to read it from stdin, or in ${LINK_ENV}")
    return link


def _from_stdin(stdin: TextIO) -> str:
    if stdin.isatty():
        line = getpass.getpass("session link (not shown): ", stream=sys.stderr)
    else:
        line = stdin.readline()
    link = line.strip()
    if not link:
        raise LinkArgumentError("no link on stdin (the link argument was -)")
    return link
