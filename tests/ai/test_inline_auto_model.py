"""`collab agent` without --model picks what is there: OpenAI with a key, an Ollama with a code model, else builtin."""

from __future__ import annotations

import asyncio
import contextlib
import json
import signal
import subprocess
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Iterator

from collab.ai.auto_model import HOW_TO_CHOOSE, best_code_model, choose
from collab.client.session import Session
from collab.crypto.links import plaintext_link
from tests.ai.test_agent_cli import agent_env
from tests.support.hub_process import HubProcess
from tests.support.waiting import eventually


@contextlib.contextmanager
def fake_ollama(models: list[str]) -> Iterator[str]:
    """An HTTP server answering Ollama's GET /api/tags with ``models``; yields its host:port."""

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 (http.server's name)
            body = json.dumps({"models": [{"name": m, "model": m} for m in models]}).encode()
            self.send_response(200 if self.path == "/api/tags" else 404)
            self.send_header("content-type", "application/json")
            self.send_header("content-length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            return None

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def test_an_openai_key_picks_openai() -> None:
    choice = choose({"OPENAI_API_KEY": "sk-test"}, probe=lambda url: ["qwen2.5-coder:1.5b"])
    assert choice.spec == "openai:gpt-4o-mini" and "OPENAI_API_KEY is set" in choice.why


def test_an_ollama_with_a_code_model_picks_it() -> None:
    with fake_ollama(["llama3.2:3b", "qwen2.5-coder:7b", "qwen2.5-coder:1.5b-base"]) as host:
        choice = choose({"OLLAMA_HOST": host})
    assert choice.spec == "ollama:qwen2.5-coder:1.5b-base"
    assert f"an Ollama answers at http://{host}/v1" in choice.why


def test_an_ollama_without_a_code_model_or_none_at_all_gives_builtin() -> None:
    with fake_ollama(["llama3.2:3b"]) as host:
        choice = choose({"OLLAMA_HOST": host})
    assert choice.spec == "builtin" and "no code model" in choice.why
    with fake_ollama([]) as host:
        pass  # closed: nothing answers there now
    choice = choose({"OLLAMA_HOST": host})
    assert choice.spec == "builtin" and "no Ollama answers" in choice.why
    assert best_code_model(["starcoder2:3b", "deepseek-coder:1.3b"]) == "deepseek-coder:1.3b"


async def test_the_command_says_what_it_chose_and_how_to_choose_another(hub: HubProcess) -> None:
    link = plaintext_link(hub.url, "auto-model")
    with fake_ollama(["qwen2.5-coder:1.5b"]) as host:
        proc = subprocess.Popen(
            [sys.executable, "-m", "collab.cli", "agent", link],
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=agent_env(OLLAMA_HOST=host),
        )
        try:
            async with Session.connect(link, name="ann") as ann:
                await eventually(lambda: any(s.get("agent", {}).get("backend") == "ollama:qwen2.5-coder:1.5b"
                                             for s in ann.peers().values()), 30)
        finally:
            proc.send_signal(signal.SIGTERM)
            out, _ = await asyncio.to_thread(proc.communicate, timeout=20)
    first = out.splitlines()[0]
    assert first == (f"collab agent: no --model given: using ollama:qwen2.5-coder:1.5b because an Ollama answers at "
                     f"http://{host}/v1 with the code model qwen2.5-coder:1.5b; {HOW_TO_CHOOSE}")
