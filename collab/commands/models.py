"""`collab models`: the local models the agent can run (`--model local:NAME`): list, pull, rm."""

from __future__ import annotations

import argparse
import sys

from collab.models import cache, registry
from collab.models.pull import PullError, pull

HELP = "list, download (pull) and remove the local models `collab agent --model local:NAME` runs"


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--models-url", default=None, metavar="URL",
                   help=f"download from this mirror of Hugging Face instead (env {cache.URL_ENV})")
    sub = p.add_subparsers(dest="action", metavar="ACTION")
    sub.add_parser("list", help="the registry: size, quantisation, licence, FIM template, downloaded or not")
    pull_p = sub.add_parser("pull", help="download a model into the cache (resumes, verifies sha256)")
    pull_p.add_argument("name", help="a name from `collab models list`")
    pull_p.add_argument("--sha256", default=None, metavar="HEX",
                        help="the file's checksum, for an entry whose registry checksum is not filled in")
    rm_p = sub.add_parser("rm", help="delete a downloaded model (and any partial download)")
    rm_p.add_argument("name")


def run(args: argparse.Namespace) -> int:
    if args.action == "pull":
        entry = _entry(args.name)
        if entry is None:
            return 2
        try:
            path = pull(entry, models_url=args.models_url, sha256=args.sha256)
        except PullError as exc:
            print(f"collab models: {exc}", file=sys.stderr)
            return 1
        print(f"collab models: {entry.name} is at {path}", file=sys.stderr)
        return 0
    if args.action == "rm":
        entry = _entry(args.name)
        if entry is None:
            return 2
        removed = False
        for path in (cache.model_path(entry), cache.partial_path(entry)):
            try:
                path.unlink()
                removed = True
            except FileNotFoundError:
                pass
            except OSError as exc:
                print(f"collab models: cannot remove {path}: {exc.strerror}", file=sys.stderr)
                return 1
        print(f"collab models: {entry.name} {'removed' if removed else 'was not downloaded'}", file=sys.stderr)
        return 0
    _list()
    return 0


def _entry(name: str) -> registry.ModelEntry | None:
    entry = registry.find(name)
    if entry is None:
        print(f"collab models: no model named {name!r}; known: {', '.join(registry.names())}", file=sys.stderr)
    return entry


def _list() -> None:
    rows = [("NAME", "SIZE", "QUANT", "LICENCE", "FIM", "DOWNLOADED")]
    for m in registry.MODELS:
        rows.append((m.name, f"~{m.approx_bytes / 1e6:,.0f} MB", m.quantisation, m.licence, m.fim,
                     "yes" if cache.is_downloaded(m) else "no"))
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    for r in rows:
        print("  ".join(cell.ljust(w) for cell, w in zip(r, widths)).rstrip())
    print(f"\ncache: {cache.models_dir()}")
