"""The hub: a Starlette websocket server that relays, stores and fans out room traffic."""

from collab.hub.app import create_app

__all__ = ["create_app"]
