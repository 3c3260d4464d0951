"""Every Redis key collab uses, in one place (docs/self-hosting.md lists them for operators).

Keys of room R carry the ``{R}`` hash tag, which puts them all in one Redis Cluster slot, so one
Lua script may touch them together (scripts are how seq assignment and compaction stay atomic):

  collab:{R}:info    hash    kind, write_key, created_at, read_key
  collab:{R}:head    string  the last sequence number handed out (INCRBY, never decreases)
  collab:{R}:log     stream  entry ID "<seq>-0", field d = the entry's bytes
  collab:{R}:snap    hash    seq, data: the snapshot that covers entries 1..seq
  collab:{R}:epoch   hash    epoch, write_key, read_key, rotation, past: keys since the last rotation
  collab:{R}:lease   string  token of the hub compacting the room right now (expires by itself)
  collab:{R}:relay   channel what hubs tell each other about the room (collab.protocol.relay)

  collab:hub:{ID}            string  heartbeat of hub ID (expires unless renewed)
  collab:agents              zset    names of registered agents, scored by lease expiry
  collab:agent:{N}           string  agent N's registration (expires with its lease)
  collab:agent:{N}:invites   stream  sealed invites waiting for agent N
  collab:agent:{N}:owner     string  the public key that first registered N (names stay bound)
"""

from __future__ import annotations

from typing import Final, Literal

RoomPart = Literal["info", "head", "log", "snap", "lease", "relay", "epoch"]

AGENTS: Final = "collab:agents"


def room_key(room: str, part: RoomPart) -> str:
    return f"collab:{{{room}}}:{part}"


def channel(room: str) -> str:
    return room_key(room, "relay")


def hub_key(hub_id: bytes) -> str:
    return f"collab:hub:{{{hub_id.hex()}}}"


def agent_key(name: str) -> str:
    return f"collab:agent:{{{name}}}"


def agent_invites_key(name: str) -> str:
    return f"collab:agent:{{{name}}}:invites"


def agent_owner_key(name: str) -> str:
    return f"collab:agent:{{{name}}}:owner"
