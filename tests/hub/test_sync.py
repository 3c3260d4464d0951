"""Two stock pycrdt clients in one plaintext room converge through a real hub process."""

from __future__ import annotations

import pycrdt

from tests.support.hub_process import HubProcess
from tests.support.yclient import pycrdt_client
from tests.support.waiting import eventually


async def test_two_pycrdt_clients_converge(hub: HubProcess) -> None:
    url = f"{hub.ws_url}/ws/pair"
    async with pycrdt_client(url) as a, pycrdt_client(url) as b:
        ta = a.get("code", type=pycrdt.Text)
        tb = b.get("code", type=pycrdt.Text)
        ta += "hello "
        tb += "world"
        await eventually(lambda: len(str(ta)) == 11 and str(ta) == str(tb))
    # a third client, later, gets everything from the hub
    async with pycrdt_client(url) as c:
        tc = c.get("code", type=pycrdt.Text)
        await eventually(lambda: len(str(tc)) == 11)
        assert "hello " in str(tc) and "world" in str(tc)
