"""collab: self-hosted, end-to-end encrypted, real-time pair programming for teammates and an AI."""

__version__ = "0.1.0"
