"""``collab models pull NAME``: one registry model into the cache, verified, with progress."""

from __future__ import annotations

import re
import sys
from pathlib import Path
from typing import TextIO

from collab.models import cache
from collab.models.download import Download, DownloadError, ProgressReport, fetch
from collab.models.registry import ModelEntry

SHA256 = re.compile(r"[0-9a-fA-F]{64}")


class PullError(RuntimeError):
    """Why a model is not in the cache: one line."""


def pull(entry: ModelEntry, *, models_url: str | None = None, sha256: str | None = None,
         directory: Path | None = None, stream: TextIO = sys.stderr) -> Path:
    checksum = sha256 or entry.sha256
    if not checksum:
        raise PullError(f"{entry.name} has no sha256 in the registry yet, so it cannot be verified; copy the "
                        f"file's SHA256 from https://huggingface.co/{entry.repo} ({entry.file}) and run "
                        f"`collab models pull {entry.name} --sha256 HEX`")
    if not SHA256.fullmatch(checksum):
        raise PullError(f"--sha256 wants 64 hex digits (got {checksum[:80]!r})")
    directory = directory or cache.models_dir()
    target = cache.model_path(entry, directory)
    if target.is_file():
        return target
    report = ProgressReport(entry.name, stream)
    download = Download(entry.url(cache.base_url(models_url)), target, cache.partial_path(entry, directory), checksum)
    try:
        return fetch(download, report)
    except DownloadError as exc:
        raise PullError(str(exc)) from None
    finally:
        report.done()
