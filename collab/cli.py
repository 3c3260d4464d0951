"""The `collab` command: each subcommand lives in collab/commands/<name>.py."""

from __future__ import annotations

import argparse
import importlib
import os
import sys
from types import ModuleType

from collab import __version__

# Order is the order `collab --help` lists them.
COMMANDS = ("serve", "new", "share", "join", "trash", "rotate", "agent", "editor", "models")


def _load(name: str) -> ModuleType | None:
    try:
        return importlib.import_module(f"collab.commands.{name}")
    except ModuleNotFoundError as exc:
        if exc.name == f"collab.commands.{name}":
            return None
        raise


def build_parser(only: str | None = None) -> argparse.ArgumentParser:
    """The parser; with ``only``, just that subcommand's module is imported (a hub does not need the
    folder watcher, the AI backends or their libraries in memory)."""
    parser = argparse.ArgumentParser(
        prog="collab",
        description="Real-time, end-to-end encrypted pair programming for teammates and an AI.",
    )
    parser.add_argument("--version", action="version", version=f"collab {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMANDS:
        if only is not None and name != only:
            continue
        module = _load(name)
        if module is not None:
            cmd = sub.add_parser(name, help=module.HELP, description=module.HELP)
            module.add_arguments(cmd)
            cmd.set_defaults(run=module.run)
    return parser


def main(argv: list[str] | None = None) -> int:
    try:
        return _main(sys.argv[1:] if argv is None else argv)
    except KeyboardInterrupt:
        # Ctrl-C while the command's libraries load, or one it did not handle: one line, no traceback.
        print("collab: interrupted", file=sys.stderr)
        if argv is None:  # this process's own command line: end it here
            # CPython can still kill itself with SIGINT at exit when the interrupt landed inside an
            # exec() during imports (dataclasses do that), even though it was caught here.
            sys.stdout.flush()
            sys.stderr.flush()
            os._exit(130)
        return 130


def _main(argv: list[str]) -> int:
    from collab.config import ConfigError  # here, not at the top: a Ctrl-C during imports is caught

    parser = build_parser(only=argv[0] if argv and argv[0] in COMMANDS else None)
    args = parser.parse_args(argv)
    if not getattr(args, "run", None):
        parser.print_help()
        return 2
    try:
        return int(args.run(args) or 0)
    except ConfigError as exc:
        print(f"collab: configuration error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
