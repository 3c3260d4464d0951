"""Secrets stay out of the shared chat and the logs, whatever their shape (issue 13, Low).

A model server's error that echoes the API key used to land in the room's chat whenever the key
did not start with ``sk-``. The model server here is the local stub driven through the real
``openai`` SDK, made to fail with an error body that echoes the key.
"""

from __future__ import annotations

import io
import logging

import pycrdt
import pytest

from collab.ai.agent import Agent
from collab.ai.openai_backend import OpenAIBackend
from collab.crypto.keys import RoomKeys
from collab.crypto.links import link_secrets, write_link
from collab.crypto.redact import RedactingFormatter, Redactor, redact
from collab.workspace import Workspace
from tests.ai.linked import LinkedPeers
from tests.support.openai_stub_server import OpenAIStubServer, Reply

# Groq-style: a credential by shape, but not an "sk-" one.
SHAPED_KEY = "gsk_Q7dW2mZ9xK4pL8rT1vB6nC3yH5jF0aEuR2sD"
# A proxy's key with no credential shape at all: only knowing the value can catch it.
PLAIN_KEY = "correct-horse-battery-staple"
TOKEN = "ourteamsharedagentpassword"  # the agent token: letters only, no shape either


def replies(ws: Workspace) -> list[pycrdt.Map]:
    return [m for m in ws.chat if isinstance(m, pycrdt.Map) and m.get("kind") == "ai"]


async def ask_twice(stub: OpenAIStubServer, key: str, echoed: str, redactor: Redactor | None = None) -> list[str]:
    """Two chat requests that fail, at the HTTP status and mid-stream, with ``echoed`` in the error body;
    returns what each reply shows the room (its text and its error field)."""
    stub.script(
        Reply(status=400, error_message=f"Incorrect API key provided: {echoed}. Find your key at https://console.example"),
        Reply(tokens=["x"], error_after=0, error_message=f"upstream refused the request (key {echoed})"),
    )
    before = len(stub.requests)
    backend = OpenAIBackend.openai("stub-model", base_url=stub.base_url, api_key=key)
    peers = LinkedPeers(2)
    ann = Workspace(peers.docs[0])
    try:
        async with Agent(peers.docs[1], peers.awareness[1], backend, redactor=redactor) as agent:
            for _ in range(2):
                ann.post_chat("ann", "@ai hello")
                await agent.idle()
    finally:
        await backend.aclose()
    out = replies(ann)
    assert [r["status"] for r in out] == ["error", "error"] and len(stub.requests) == before + 2
    return [f"{r['text']}\n{r['error']}" for r in out]


async def test_a_key_of_any_shape_echoed_by_the_model_server_stays_out_of_the_chat(
    stub: OpenAIStubServer, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    status, midstream = await ask_twice(stub, SHAPED_KEY, SHAPED_KEY)
    assert "400" in status and "[redacted]" in status  # still says what went wrong
    assert "upstream refused" in midstream and "[redacted]" in midstream
    for shown in (status, midstream, caplog.text):
        assert SHAPED_KEY not in shown


async def test_the_key_in_use_is_redacted_by_value_and_so_are_its_fragments(stub: OpenAIStubServer) -> None:
    for shown in await ask_twice(stub, PLAIN_KEY, PLAIN_KEY):
        assert PLAIN_KEY not in shown and "[redacted]" in shown
    fragment = SHAPED_KEY[:16]  # servers echo the start of a key
    for shown in await ask_twice(stub, SHAPED_KEY, fragment + "..."):
        assert fragment not in shown and "[redacted]" in shown


async def test_the_agent_token_and_the_room_link_secrets_stay_out_of_the_chat(stub: OpenAIStubServer) -> None:
    keys = RoomKeys.from_write_secret(bytes(range(32)))
    link = write_link("https://hub.example", keys)
    redactor = Redactor([TOKEN, *link_secrets(keys)])
    for shown in await ask_twice(stub, "sk-test-not-a-real-key", f"{TOKEN} for {link}", redactor):
        assert TOKEN not in shown and link_secrets(keys)[-1] not in shown
        assert f"https://hub.example/s/{keys.room_id}#k=[redacted]" in shown  # the room id is public


def test_credential_shapes_go_and_ordinary_text_stays() -> None:
    gone = {
        "Authorization: Bearer eyJhbGciOiJIUzI1NiJ9.e30.ZRrHA1JJJW8opsbCGfG_HACGpVUMN_a9IV7pAx_Zmeo": "eyJhbGci",
        "GET /v1/models?api_key=p4ssw0rd-of-sorts&limit=3": "p4ssw0rd",
        "password: hunter22 was refused": "hunter22",
        "token=abc123def456": "abc123",
        "request failed for key AIzaSyD4bX9kQ2mN8pL1rT6vW3yZ0aC5eF7gH9j": "AIzaSy",
        "together key 3f9a6c1e2b7d4058a9c3e1f2b6d7a8c9e0f1a2b3c4d5e6f708192a3b4c5d6e7f": "3f9a6c1e",
        "sk-ant-api03-abcdefgh is not valid": "abcdefgh",
    }
    for text, secret in gone.items():
        assert secret not in redact(text), text
    kept = [
        "model 'claude-3-5-sonnet-20241022' not found",
        "qwen2.5-coder:7b-instruct-q4_K_M on 127.0.0.1:11434 answered 404: no route /v1/chat/completions",
        "agent service pair joined room abog_iC-4L_UMrdw4culQA",  # a room id: public, and what logs need
        "/tmp/pytest-of-root/pytest-63/test_service_joins_from_a_seal0/agents/pair.x25519",
        "internationalization_and_localization_2024, 1733059200123456789012345",
        "this room has used 200000 AI tokens in the last hour (limit 200000); try again in 12 min",
    ]
    for text in kept:
        assert redact(text) == text
    assert redact("the key ollama is fine", ["ollama"]) == "the key ollama is fine"  # a placeholder, not a secret


def test_logged_tracebacks_are_redacted() -> None:
    out = io.StringIO()
    handler = logging.StreamHandler(out)
    handler.setFormatter(RedactingFormatter("%(levelname)s %(name)s: %(message)s", Redactor([TOKEN])))
    log = logging.getLogger("tests.redaction")
    log.addHandler(handler)
    log.propagate = False
    try:
        try:
            raise RuntimeError(f"the hub said: bad token {TOKEN}")
        except RuntimeError:
            log.exception("request failed with Authorization: Bearer %s", SHAPED_KEY)
    finally:
        log.removeHandler(handler)
    text = out.getvalue()
    assert "RuntimeError: the hub said: bad token [redacted]" in text and "Bearer [redacted]" in text
    assert TOKEN not in text and SHAPED_KEY not in text
