"""The Python client: providers that keep a pycrdt.Doc in sync with a room, and sessions on top."""
