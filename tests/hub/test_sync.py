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


async def test_newcomers_get_the_whole_room_and_the_edit_made_between_them(hub: HubProcess) -> None:
    """The answer to a newcomer is kept until the next edit (collab.hub.room): the second of two
    newcomers gets the same room, and one after an edit gets the edit too."""
    url = f"{hub.ws_url}/ws/newcomers"
    async with pycrdt_client(url) as writer:
        text = writer.get("code", type=pycrdt.Text)
        text += "x" * 2000
        for expected in ("x" * 2000, "x" * 2000):
            async with pycrdt_client(url) as newcomer:
                got = newcomer.get("code", type=pycrdt.Text)
                await eventually(lambda: str(got) == expected)
        async with pycrdt_client(url) as observer:
            seen = observer.get("code", type=pycrdt.Text)
            await eventually(lambda: len(str(seen)) == 2000)
            text += "edited"
            # Fanned out to the observer, so applied at the hub before the next newcomer asks.
            await eventually(lambda: str(seen).endswith("edited"))
            async with pycrdt_client(url) as late:
                got = late.get("code", type=pycrdt.Text)
                await eventually(lambda: str(got) == "x" * 2000 + "edited")
