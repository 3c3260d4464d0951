"""A stock Node Yjs client (y-websocket WebsocketProvider) and a stock pycrdt client share a room."""

from __future__ import annotations

import pycrdt
import pytest

from tests.support.hub_process import HubProcess
from tests.support.node_client import NodeYjsClient, node_available
from tests.support.yclient import pycrdt_session
from tests.support.waiting import eventually

pytestmark = pytest.mark.skipif(node_available() is not None, reason=str(node_available()))


async def test_node_and_python_edit_concurrently_and_see_each_other(hub: HubProcess) -> None:
    async with NodeYjsClient(f"{hub.ws_url}/ws", "interop", "node-ann") as node:
        async with pycrdt_session(f"{hub.ws_url}/ws/interop") as py:
            text = py.doc.get("code", type=pycrdt.Text)
            await py.set_presence({"user": {"name": "py-bob", "color": "#ff7f0e"}})
            for i in range(20):
                await node.send(op="insert", text=f"n{i};")
                text.insert(len(text), f"p{i};")
            expected = {f"n{i};" for i in range(20)} | {f"p{i};" for i in range(20)}

            def converged() -> bool:
                return node.text == str(text) and all(tok in node.text for tok in expected)

            await eventually(converged)
            # Each sees the other's presence.
            await eventually(lambda: any(s.get("user", {}).get("name") == "py-bob" for s in node.awareness.values()))
            await eventually(
                lambda: any(s.get("user", {}).get("name") == "node-ann" for s in py.awareness.states.values())
            )
        # The Python client left: its presence disappears for the Node client.
        await eventually(lambda: all(s.get("user", {}).get("name") != "py-bob" for s in node.awareness.values()))
