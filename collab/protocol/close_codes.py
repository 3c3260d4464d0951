"""Websocket close codes the hub sends and every client reads: RFC 6455's and our 4xxx ones.

One module for the hub and all clients, so a code means the same thing on both ends; no literal
close code appears anywhere else in collab/.
"""

from __future__ import annotations

from typing import Final

NORMAL: Final = 1000
GOING_AWAY: Final = 1001
PROTOCOL_ERROR: Final = 1002
UNSUPPORTED_DATA: Final = 1003
POLICY: Final = 1008
TOO_BIG: Final = 1009
INTERNAL: Final = 1011
RESTARTING: Final = 1012
TRY_AGAIN: Final = 1013
UNAUTHORIZED: Final = 4401
FORBIDDEN: Final = 4403
NOT_FOUND: Final = 4404
SLOW_CONSUMER: Final = 4408
# An encrypted room moved to a new key epoch: reconnect with the new keys (a ROTATED frame carried
# them, sealed to each kept device), or learn that this device was removed.
KEYS_ROTATED: Final = 4410
# Nothing came in time: no HELLO within the handshake timeout, or no frame within the idle timeout.
TIMED_OUT: Final = 4000
# Over a quota: bytes written per second by this connection or into this room, or rooms created
# by first connect from this address.
RATE_LIMITED: Final = 4429

# Closes after which a client reconnects: the hub is restarting, its storage is briefly away, or
# an encrypted room's keys changed (the next connection learns the new ones, or that it was removed).
RETRYABLE: Final = frozenset({RESTARTING, TRY_AGAIN, KEYS_ROTATED})
