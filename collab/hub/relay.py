"""Moved to collab.protocol.relay; this re-export goes once the hub imports it from there."""

from collab.protocol.relay import AWARENESS, LEFT, UPDATE, RelayMessage, decode_relay, encode_relay

__all__ = ["AWARENESS", "LEFT", "UPDATE", "RelayMessage", "decode_relay", "encode_relay"]
