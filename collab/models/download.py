"""Downloading one model file: resumable, checksummed, and every failure one clear line.

Bytes go to ``<file>.part`` in the cache. A cut connection is resumed with an HTTP Range request
(up to ``attempts`` times in one run; a later ``pull`` resumes from the same ``.part``). The sha256
is computed as the bytes arrive (over what the ``.part`` already held first), and only a matching
file is renamed to the model's name; a mismatch deletes it, because a file with the wrong bytes
must never be loaded as the model.
"""

from __future__ import annotations

import hashlib
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, TextIO

import httpx

CHUNK = 1 << 16
Progress = Callable[[int, int | None], None]  # (bytes so far, total or None)


class DownloadError(RuntimeError):
    """A download that did not produce a verified file: the message is the one line to print."""


@dataclass(frozen=True)
class Download:
    url: str
    target: Path
    partial: Path
    sha256: str


def fetch(download: Download, progress: Progress, *, attempts: int = 5, timeout: float = 30.0) -> Path:
    """The verified file at ``download.target``, fetching (and resuming) as needed."""
    try:
        download.target.parent.mkdir(parents=True, exist_ok=True)
        state = _hash_existing(download.partial)
    except OSError as exc:
        raise DownloadError(f"cannot write to the model cache {download.target.parent}: {_why(exc)}") from None
    total: int | None = None
    for attempt in range(1, attempts + 1):
        try:
            total = _one_request(download, state, progress, timeout)
            break
        except (httpx.TransportError, _Cut) as exc:
            if attempt == attempts:
                raise DownloadError(f"the download of {download.url} broke {attempts} times ({type(exc).__name__}); "
                                    f"run the same command again to resume from {state.have} bytes") from None
            time.sleep(min(0.2 * attempt, 2))
    if total is not None and state.have != total:
        raise DownloadError(f"the server sent {state.have} of {total} bytes; run the same command again to resume")
    actual = state.digest.hexdigest()
    if actual != download.sha256.lower():
        download.partial.unlink(missing_ok=True)
        raise DownloadError(f"checksum mismatch for {download.target.name}: expected sha256 {download.sha256.lower()}, "
                            f"got {actual}; the downloaded file was deleted")
    try:
        download.partial.replace(download.target)
    except OSError as exc:
        raise DownloadError(f"cannot write to the model cache {download.target.parent}: {_why(exc)}") from None
    return download.target


class _Cut(Exception):
    """The body ended before its Content-Length: the connection dropped mid-file."""


@dataclass
class _State:
    """What ``.part`` holds: its length and the running sha256 of exactly those bytes."""

    digest: Any = field(default_factory=hashlib.sha256)
    have: int = 0

    def add(self, block: bytes) -> None:
        self.digest.update(block)
        self.have += len(block)


def _hash_existing(partial: Path) -> _State:
    state = _State()
    if partial.exists():
        with partial.open("rb") as f:
            while block := f.read(1 << 20):
                state.add(block)
    return state


def _one_request(download: Download, state: _State, progress: Progress, timeout: float) -> int | None:
    """One GET from ``state.have`` on; the total length when known. Raises _Cut when the body stops short."""
    headers = {"Range": f"bytes={state.have}-"} if state.have else {}
    with httpx.stream("GET", download.url, headers=headers, follow_redirects=True,
                      timeout=httpx.Timeout(timeout, connect=10.0)) as response:
        if response.status_code == 416 and state.have:
            return state.have  # we hold all of it already: the checksum decides
        if response.status_code not in (200, 206):
            raise DownloadError(f"{download.url} answered HTTP {response.status_code}")
        if response.status_code == 200 and state.have:
            # The server ignored our Range: start over rather than append a second copy.
            state.digest, state.have = hashlib.sha256(), 0
        length = response.headers.get("content-length")
        total = state.have + int(length) if length and length.isdigit() else None
        progress(state.have, total)
        try:
            with download.partial.open("ab" if state.have else "wb") as out:
                for block in response.iter_bytes(CHUNK):
                    out.write(block)
                    state.add(block)
                    progress(state.have, total)
        except OSError as exc:
            raise DownloadError(f"cannot write to the model cache {download.target.parent}: {_why(exc)}") from None
        except httpx.TransportError:
            raise _Cut() from None
    if total is not None and state.have < total:
        raise _Cut()
    return total


def _why(exc: OSError) -> str:
    return exc.strerror or type(exc).__name__


class ProgressReport:
    """A bar redrawn in place on a terminal; elsewhere (logs, CI) a plain line every 10 %."""

    def __init__(self, name: str, stream: TextIO = sys.stderr) -> None:
        self.name = name
        self.stream = stream
        self.tty = stream.isatty()
        self._last_step = -1
        self._last_draw = 0.0
        self._started = time.monotonic()

    def __call__(self, have: int, total: int | None) -> None:
        if self.tty:
            now = time.monotonic()
            if now - self._last_draw < 0.1 and have != total:
                return
            self._last_draw = now
            rate = have / max(now - self._started, 1e-3) / 1e6
            if total:
                filled = int(30 * have / total)
                bar = "#" * filled + "-" * (30 - filled)
                line = f"\r{self.name} [{bar}] {100 * have // total:3d}% {have / 1e6:.1f}/{total / 1e6:.1f} MB"
            else:
                line = f"\r{self.name} {have / 1e6:.1f} MB"
            self.stream.write(f"{line} {rate:.1f} MB/s ")
            self.stream.flush()
            return
        step = 100 * have // total // 10 if total else have // 50_000_000
        if step != self._last_step:
            self._last_step = step
            if total:
                self.stream.write(f"collab models: {self.name} {step * 10}% ({have} of {total} bytes)\n")
            else:
                self.stream.write(f"collab models: {self.name} {have} bytes\n")
            self.stream.flush()

    def done(self) -> None:
        if self.tty:
            self.stream.write("\n")
            self.stream.flush()
