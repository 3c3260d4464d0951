"""A 2,000-file folder: `collab share` uploads it, `collab join` mirrors it, with progress and bounded memory."""

from __future__ import annotations

import resource
import subprocess
import sys
from pathlib import Path

from tests.client.join_process import JoinProcess
from tests.support.hub_process import HubProcess

FILES = 2000


def make_tree(root: Path) -> dict[str, str]:
    files = {}
    for i in range(FILES):
        rel = f"pkg{i // 100:02d}/mod{i:04d}.py"
        files[rel] = f'"""module {i}"""\n\n' + "".join(f"def f{j}(x):\n    return x + {i * j}\n\n" for j in range(60))
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_text(files[rel])
    return files


def test_two_thousand_files_share_and_mirror(hub: HubProcess, tmp_path: Path) -> None:
    src = tmp_path / "src"
    files = make_tree(src)
    share = subprocess.run(
        [sys.executable, "-m", "collab.cli", "share", str(src), "--server", hub.url, "--plaintext", "--once"],
        capture_output=True, text=True, timeout=120,
    )
    assert share.returncode == 0, share.stderr
    share_rss_kib = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    assert f"synced {FILES}/{FILES} files" in share.stderr
    link = share.stdout.strip().splitlines()[-1]
    assert link.startswith(hub.url + "/s/")

    dest = tmp_path / "dest"
    join = JoinProcess(link, dest, "ann").start(timeout=120)
    try:
        join_rss_kib = join.peak_rss_kib()
        assert f"synced {FILES}/{FILES} files" in join.output()
        assert "synced 1000/2000 files" in join.output()
        mirrored = {str(p.relative_to(dest)): p.read_text() for p in dest.rglob("*.py")}
        assert mirrored == files
    finally:
        assert join.stop() == 0
    size_mib = sum(len(v) for v in files.values()) / 2**20
    report = (f"{FILES} files ({size_mib:.1f} MiB): peak RSS collab share {share_rss_kib / 1024:.0f} MiB, "
              f"collab join {join_rss_kib / 1024:.0f} MiB")
    print(report)
