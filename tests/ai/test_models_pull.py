"""`collab models pull` against a local HTTP server that serves the tiny GGUF like Hugging Face does."""

from __future__ import annotations

import dataclasses
import hashlib
import os
import pty
import resource
import signal
import subprocess
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Iterator

import pytest

from collab.ai.backend import BackendSpecError
from collab.ai.local_backend import LocalSettings
from collab.models import registry
from collab.models.resolve import local_backend
from tests.support.tiny_gguf import write_tiny_gguf

ENTRY = registry.find("qwen2.5-coder-0.5b-q4_k_m")
assert ENTRY is not None
PATH = f"/{ENTRY.repo}/resolve/main/{ENTRY.file}"


class ModelServer:
    """Serves one file at the registry's path, honours Range, and can drop the first response mid-body."""

    def __init__(self, body: bytes) -> None:
        self.body = body
        self.drop_first = False
        self.requests: list[dict[str, str]] = []
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: object) -> None:
                pass

            def do_GET(self) -> None:
                server.requests.append({"path": self.path, "range": self.headers.get("Range", "")})
                if self.path != PATH:
                    self.send_error(404)
                    return
                start = 0
                ranged = self.headers.get("Range", "")
                if ranged.startswith("bytes="):
                    start = int(ranged[len("bytes="):].split("-")[0])
                    if start >= len(server.body):
                        self.send_response(416)
                        self.send_header("Content-Length", "0")
                        self.end_headers()
                        return
                    self.send_response(206)
                    self.send_header("Content-Range", f"bytes {start}-{len(server.body) - 1}/{len(server.body)}")
                else:
                    self.send_response(200)
                part = server.body[start:]
                self.send_header("Content-Length", str(len(part)))
                self.end_headers()
                if server.drop_first and len(server.requests) == 1:
                    self.wfile.write(part[: len(part) // 2])
                    self.wfile.flush()
                    self.close_connection = True
                    self.connection.shutdown(2)  # the cable is cut half way through the file
                    return
                self.wfile.write(part)

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def __enter__(self) -> "ModelServer":
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture(scope="module")
def model_bytes(tmp_path_factory: pytest.TempPathFactory) -> bytes:
    return write_tiny_gguf(tmp_path_factory.mktemp("src") / "tiny.gguf").read_bytes()


@pytest.fixture
def server(model_bytes: bytes) -> Iterator[ModelServer]:
    with ModelServer(model_bytes) as s:
        yield s


@pytest.fixture
def cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    path = tmp_path / "cache"
    monkeypatch.setenv("COLLAB_MODELS_DIR", str(path))
    return path


def models(*args: str, url: str | None = None, **kwargs: object) -> subprocess.CompletedProcess[str]:
    base = [sys.executable, "-m", "collab.cli", "models"] + (["--models-url", url] if url else [])
    return subprocess.run(base + list(args), capture_output=True, text=True, timeout=120, **kwargs)  # type: ignore[call-overload]


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def test_pull_shows_progress_verifies_and_the_agent_can_load_it(server: ModelServer, cache: Path,
                                                                 model_bytes: bytes) -> None:
    result = models("pull", ENTRY.name, "--sha256", sha(model_bytes), url=server.url)
    assert result.returncode == 0, result.stderr
    lines = result.stderr.splitlines()
    assert f"collab models: {ENTRY.name} 0% (0 of {len(model_bytes)} bytes)" in lines
    assert f"collab models: {ENTRY.name} 100% ({len(model_bytes)} of {len(model_bytes)} bytes)" in lines
    assert len([line for line in lines if "%" in line]) >= 5  # it moves along, not just start and end
    assert (cache / ENTRY.file).read_bytes() == model_bytes
    assert not (cache / (ENTRY.file + ".part")).exists()
    listed = models("list").stdout
    row = next(line for line in listed.splitlines() if line.startswith(ENTRY.name + " "))
    assert row.split()[-1] == "yes" and "Q4_K_M" in row and "qwen" in row
    # `--model local:NAME` now finds it in the cache and llama.cpp loads it.
    backend = local_backend(ENTRY.name, LocalSettings(threads=1, ctx_size=256, parallel=1))
    assert backend.description == f"local model {ENTRY.name} (Q4_K_M), on this machine"
    assert backend.fim_template is not None and backend.fim_template.name == "qwen"
    # A second pull downloads nothing.
    before = len(server.requests)
    assert models("pull", ENTRY.name, "--sha256", sha(model_bytes), url=server.url).returncode == 0
    assert len(server.requests) == before
    removed = models("rm", ENTRY.name)
    assert removed.returncode == 0 and not (cache / ENTRY.file).exists()
    assert f"{ENTRY.name} removed" in removed.stderr


def test_a_download_cut_half_way_resumes_with_a_range_request(server: ModelServer, cache: Path,
                                                               model_bytes: bytes) -> None:
    server.drop_first = True
    result = models("pull", ENTRY.name, "--sha256", sha(model_bytes), url=server.url)
    assert result.returncode == 0, result.stderr
    assert [r["range"] for r in server.requests][0] == ""
    resumed = server.requests[1]["range"]
    offset = int(resumed.removeprefix("bytes=").rstrip("-"))
    assert 0 < offset < len(model_bytes)  # it asked only for what it did not have
    assert len(server.requests) == 2
    assert (cache / ENTRY.file).read_bytes() == model_bytes


def test_a_partial_file_from_an_earlier_run_is_resumed(server: ModelServer, cache: Path, model_bytes: bytes) -> None:
    cache.mkdir()
    (cache / (ENTRY.file + ".part")).write_bytes(model_bytes[:1000])
    result = models("pull", ENTRY.name, "--sha256", sha(model_bytes), url=server.url)
    assert result.returncode == 0, result.stderr
    assert [r["range"] for r in server.requests] == ["bytes=1000-"]
    assert (cache / ENTRY.file).read_bytes() == model_bytes


def test_a_wrong_checksum_is_refused_and_the_file_removed(server: ModelServer, cache: Path, model_bytes: bytes) -> None:
    wrong = sha(b"something else")
    result = models("pull", ENTRY.name, "--sha256", wrong, url=server.url)
    assert result.returncode == 1
    last = result.stderr.strip().splitlines()[-1]
    assert last == (f"collab models: checksum mismatch for {ENTRY.file}: expected sha256 {wrong}, got "
                    f"{sha(model_bytes)}; the downloaded file was deleted")
    assert list(cache.iterdir()) == []


def test_an_entry_without_a_checksum_is_refused_before_any_download(server: ModelServer, cache: Path) -> None:
    assert ENTRY.sha256 is None
    result = models("pull", ENTRY.name, url=server.url)
    assert result.returncode == 1 and server.requests == []
    assert len(result.stderr.strip().splitlines()) == 1 and "has no sha256 in the registry" in result.stderr
    # The agent, not at a terminal, refuses in one line too rather than asking.
    agent = subprocess.run([sys.executable, "-m", "collab.cli", "agent", "http://127.0.0.1:9/s/r", "--model",
                            f"local:{ENTRY.name}"], capture_output=True, text=True, timeout=60, stdin=subprocess.DEVNULL)
    assert agent.returncode == 2
    assert agent.stderr.strip().splitlines() == [
        f"collab agent: the local model {ENTRY.name} is not downloaded, and its registry entry has no checksum "
        f"yet: run `collab models pull {ENTRY.name} --sha256 HEX` first"]


def test_an_unwritable_cache_is_one_clear_line(server: ModelServer, tmp_path: Path, model_bytes: bytes) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("not a directory")
    env = {**os.environ, "COLLAB_MODELS_DIR": str(blocker / "models")}
    result = models("pull", ENTRY.name, "--sha256", sha(model_bytes), url=server.url, env=env)
    assert result.returncode == 1
    assert result.stderr.strip().splitlines() == [
        f"collab models: cannot write to the model cache {blocker / 'models'}: Not a directory"]


def _small_disk() -> None:
    # A file-size limit stands for a full disk: writes past it fail (EFBIG) as they would with ENOSPC.
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    resource.setrlimit(resource.RLIMIT_FSIZE, (100_000, 100_000))


def test_a_full_disk_is_one_clear_line(server: ModelServer, cache: Path, model_bytes: bytes) -> None:
    result = models("pull", ENTRY.name, "--sha256", sha(model_bytes), url=server.url, preexec_fn=_small_disk)
    assert result.returncode == 1
    errors = [line for line in result.stderr.splitlines() if "%" not in line]
    assert errors == [f"collab models: cannot write to the model cache {cache}: File too large"]


def test_on_a_terminal_the_progress_is_a_bar(server: ModelServer, cache: Path, model_bytes: bytes) -> None:
    leader, follower = pty.openpty()
    try:
        proc = subprocess.Popen(
            [sys.executable, "-m", "collab.cli", "models", "--models-url", server.url, "pull", ENTRY.name,
             "--sha256", sha(model_bytes)], stdout=subprocess.DEVNULL, stderr=follower, stdin=subprocess.DEVNULL)
        os.close(follower)
        out = b""
        while True:
            try:
                chunk = os.read(leader, 4096)
            except OSError:  # the other side closed
                break
            if not chunk:
                break
            out += chunk
        assert proc.wait(timeout=60) == 0
    finally:
        os.close(leader)
    text = out.decode()
    assert f"\r{ENTRY.name} [" in text and "100%" in text and "MB/s" in text
    assert "collab models: " + ENTRY.name + " 0%" not in text  # no plain lines on a terminal


def test_a_missing_model_is_offered_and_pulled_only_when_the_person_agrees(
        server: ModelServer, cache: Path, model_bytes: bytes, monkeypatch: pytest.MonkeyPatch) -> None:
    checked = dataclasses.replace(ENTRY, sha256=sha(model_bytes))  # as an entry will be once its checksum is in
    monkeypatch.setattr(registry, "MODELS", (checked,))
    settings = LocalSettings(threads=1, ctx_size=256, parallel=1)
    asked: list[str] = []

    def no(question: str) -> bool:
        asked.append(question)
        return False

    with pytest.raises(BackendSpecError) as refused:
        local_backend(checked.name, settings, ask=no, models_url=server.url)
    assert str(refused.value) == (f"the local model {checked.name} is not downloaded: run "
                                  f"`collab models pull {checked.name}` first")
    assert asked == [f"{checked.name} is not downloaded yet (about 400 MB from {server.url}). Download it now?"]
    assert server.requests == [] and not cache.exists()
    backend = local_backend(checked.name, settings, ask=lambda question: True, models_url=server.url)
    assert (cache / checked.file).read_bytes() == model_bytes
    assert backend.description == f"local model {checked.name} (Q4_K_M), on this machine"
