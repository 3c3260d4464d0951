"""The VS Code extension's session logic (editors/vscode/src/core) under plain Node.

The harness (editors/vscode/src/test/harness.ts) holds a CollabSession with a real bridge and an
in-memory editor buffer per file that applies remote edits asynchronously and refuses them when
the person typed in between, as VS Code does; this side sends it one JSON command per line.
"""

from __future__ import annotations

import contextlib
import json
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any, Iterator

import pytest

VSCODE = Path(__file__).resolve().parents[2] / "editors" / "vscode"
BRIDGE = [sys.executable, "-m", "collab.cli", "editor"]

needs_node_packages = pytest.mark.skipif(
    shutil.which("node") is None or not (VSCODE / "node_modules" / "typescript").is_dir(),
    reason="Node and the extension's packages are needed (npm ci --prefix editors/vscode)",
)


def compile_extension() -> None:
    """tsc into editors/vscode/out (a few seconds; the harness runs from there)."""
    subprocess.run(["npm", "run", "--silent", "compile"], cwd=VSCODE, check=True, timeout=300)


class Harness:
    def __init__(self, proc: subprocess.Popen[str]) -> None:
        self.proc = proc
        self.next_id = 0

    def __call__(self, op: str, **args: Any) -> Any:
        assert self.proc.stdin is not None and self.proc.stdout is not None
        self.next_id += 1
        assert "id" not in args, "id is the request's own"
        self.proc.stdin.write(json.dumps({"id": self.next_id, "op": op, **args}) + "\n")
        self.proc.stdin.flush()
        while True:
            line = self.proc.stdout.readline()
            if not line:
                raise AssertionError(f"the harness exited during {op}")
            answer = json.loads(line)
            if answer.get("id") == self.next_id:
                break
        if "error" in answer:
            raise HarnessError(answer["error"])
        return answer["ok"]


class HarnessError(Exception):
    pass


@contextlib.contextmanager
def vscode_session() -> Iterator[Harness]:
    proc = subprocess.Popen(
        ["node", str(VSCODE / "out" / "test" / "harness.js")],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, encoding="utf-8",
    )
    harness = Harness(proc)
    try:
        harness("start", command=BRIDGE)
        yield harness
    finally:
        with contextlib.suppress(Exception):
            harness("stop")
        assert proc.stdin is not None
        proc.stdin.close()
        try:
            proc.wait(20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
