"""The editor bridge, `collab editor`: JSON-RPC over stdio between an editor plugin and a session
(docs/editor-protocol.md)."""
