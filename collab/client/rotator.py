"""Making a rotation: fresh keys for the room's next epoch, sealed to every device kept.

The writer that rotates draws a new random write secret, derives the next epoch's keys
(``RoomKeys.for_epoch``), seals a box to each kept device of the roster (writers get the write
secret, readers the read capability) and signs the rotation envelope under the current epoch's
write key (``collab.protocol.rotation``). It names the head it follows: the hub accepts it only at
that head, so nothing of the old epoch can be stored after it.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Collection

from collab.client.roster import Device
from collab.crypto.epochs import Keyring, box_plaintext, seal_box
from collab.crypto.keys import RoomKeys, generate_write_secret
from collab.protocol.envelope import new_author_id
from collab.protocol.rotation import seal_rotation


@dataclass(slots=True)
class PendingRotation:
    ref: int  # the ROTATE frame's client ref
    keys: RoomKeys  # the next epoch's, with its write secret
    envelope: bytes
    removed: tuple[str, ...]
    done: asyncio.Future[RoomKeys]


def prepare_rotation(
    keyring: Keyring,
    devices: list[Device],
    remove: Collection[str],
    *,
    ref: int,
    covers: int,
    own_device: bytes | None,
    loop: asyncio.AbstractEventLoop,
    log_hash: bytes | None = None,
) -> PendingRotation:
    current = keyring.current
    new = RoomKeys.for_epoch(current.room_id_bytes, current.epoch + 1, write_secret=generate_write_secret())
    recipients = {d.key: d.role == "writer" for d in devices}
    if own_device is not None:
        recipients[own_device] = True
    boxes = [
        seal_box(new.room_id_bytes, new.epoch, key, box_plaintext(new, writer=writer))
        for key, writer in sorted(recipients.items())
    ]
    envelope = seal_rotation(
        current, new, ref=covers, chain=dict(keyring.past), starts=dict(keyring.starts), boxes=boxes,
        author_id=new_author_id(), removed=tuple(remove), log_hash=log_hash,
    )
    return PendingRotation(ref, new, envelope, tuple(remove), loop.create_future())
