"""Client websocket frames as RFC 6455 puts them, built by hand (any opcode, RSV bits, masking and
length encoding, including the ones a real client would not send), and server frames read back."""

from __future__ import annotations

import os
import struct


def client_frame(
    payload: bytes, *, opcode: int = 2, fin: bool = True, rsv: int = 0, masked: bool = True,
    length_form: int | None = None, mask: bytes | None = None,
) -> bytes:
    """A client frame as RFC 6455 puts it, with a chosen (possibly non-minimal) length encoding."""
    n = len(payload)
    form = length_form if length_form is not None else (0 if n < 126 else 126 if n < 65536 else 127)
    head = bytes([(0x80 if fin else 0) | (rsv << 4) | opcode])
    bit = 0x80 if masked else 0
    if form == 0:
        head += bytes([bit | n])
    elif form == 126:
        head += bytes([bit | 126]) + struct.pack("!H", n)
    else:
        head += bytes([bit | 127]) + struct.pack("!Q", n)
    if not masked:
        return head + payload
    key = mask if mask is not None else os.urandom(4)
    return head + key + bytes(b ^ key[i % 4] for i, b in enumerate(payload))


def server_frames(wire: bytes) -> list[tuple[int, int | None, bytes]]:
    """(opcode, close code or None, payload) of each complete unmasked server frame in ``wire``."""
    return split_server_frames(wire)[0]


def split_server_frames(wire: bytes) -> tuple[list[tuple[int, int | None, bytes]], bytes]:
    """The complete unmasked server frames at the start of ``wire``, and the bytes after them."""
    out: list[tuple[int, int | None, bytes]] = []
    pos = 0
    while len(wire) - pos >= 2:
        n, start = wire[pos + 1] & 0x7F, pos + 2
        if n == 126:
            n, start = int.from_bytes(wire[start:start + 2], "big"), start + 2
        elif n == 127:
            n, start = int.from_bytes(wire[start:start + 8], "big"), start + 8
        if start + n > len(wire):
            break
        payload = wire[start:start + n]
        opcode = wire[pos] & 0x0F
        code = struct.unpack("!H", payload[:2])[0] if opcode == 8 and n >= 2 else None
        out.append((opcode, code, payload))
        pos = start + n
    return out, wire[pos:]
