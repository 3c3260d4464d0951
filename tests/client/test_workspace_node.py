"""The third-party example of docs/workspace.md, run with the stock Yjs client against a real hub."""

from __future__ import annotations

import asyncio
import json
import re
from pathlib import Path

import pytest

from tests.client.workspace_clients import clients, converged
from tests.support.hub_process import HubProcess
from tests.support.node_client import INTEROP, node_available

pytestmark = pytest.mark.skipif(node_available() is not None, reason=str(node_available()))

DOC = Path(__file__).resolve().parents[2] / "docs" / "workspace.md"


def documented_example() -> str:
    found = re.search(r"<!-- third-party-example -->\n```js\n(.*?)```", DOC.read_text(), re.S)
    assert found, "docs/workspace.md lost its third-party example"
    return found.group(1)


# What the tool does once synced, with the documented helpers; then it waits until the hub has its
# edits (the y-websocket socket drained) and prints what it read.
DRIVER = """
import { WebsocketProvider } from 'y-websocket'
import WebSocket from 'ws'
const [base, room] = process.argv.slice(1)
const doc = new Y.Doc()
const provider = new WebsocketProvider(base, room, doc, { WebSocketPolyfill: WebSocket, disableBc: true })
provider.on('sync', (synced) => {
  if (!synced) return
  const out = { schema: doc.getMap('meta').get('schema'), read: read(doc, 'src/app.py'), paths: [] }
  append(doc, 'src/app.py', '# appended by a stock Yjs tool\\n')
  create(doc, 'from_node.txt', 'made in node\\n', 'node-tool')
  rename(doc, 'old/name.py', 'new/name.py')
  trash(doc, 'gone.txt', 'node-tool')
  out.paths = [...liveFiles(doc).values()].map((f) => f.get('path')).sort()
  const wait = () => (provider.ws && provider.ws.bufferedAmount === 0 ? done() : setTimeout(wait, 20))
  const done = () => { process.stdout.write(JSON.stringify(out) + '\\n'); setTimeout(() => { provider.destroy(); process.exit(0) }, 200) }
  wait()
})
"""


async def test_a_stock_yjs_tool_reads_and_writes_files_as_documented(hub: HubProcess) -> None:
    async with clients(f"{hub.url}/s/node-tool", "ada") as (ada,):
        ada.ws.write("src/app.py", "print('hi')\n")
        ada.ws.write("old/name.py", "x = 1\n")
        ada.ws.write("gone.txt", "bye\n")
        await converged(ada)
        script = documented_example() + DRIVER
        proc = await asyncio.create_subprocess_exec(
            "node", "--input-type=module", "-e", script, f"{hub.ws_url}/ws", "node-tool",
            cwd=INTEROP, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
        )
        out, err = await asyncio.wait_for(proc.communicate(), 30)
        assert proc.returncode == 0, err.decode()
        told = json.loads(out)
        assert told == {"schema": 2, "read": "print('hi')\n", "paths": ["from_node.txt", "new/name.py", "src/app.py"]}
        files, trash = await converged(ada)
        assert files == {
            "src/app.py": "print('hi')\n# appended by a stock Yjs tool\n",
            "new/name.py": "x = 1\n",
            "from_node.txt": "made in node\n",
        }
        assert [path for _, path in trash] == ["gone.txt"] and ada.ws.trash()[0].by == "node-tool"
