"""Helpers the tests share: real hub processes, real websocket clients."""
