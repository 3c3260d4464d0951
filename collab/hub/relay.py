from collab.protocol.relay import AWARENESS, LEFT, UPDATE, RelayMessage, decode_relay, encode_relay  # noqa: F401  (moved; see collab.protocol.relay)
