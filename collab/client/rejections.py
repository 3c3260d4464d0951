"""What a client dropped instead of applying: remembered in a list and logged."""

from __future__ import annotations

import logging
from dataclasses import dataclass

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Rejection:
    """An envelope that failed verification and was dropped."""

    seq: int | None  # the hub's sequence number; None for presence
    kind: str  # update | snapshot | awareness | unknown
    error: str  # exception class: TamperedEnvelope, ReplayedEnvelope, ReorderedEnvelope, ...
    message: str


class Rejections:
    def __init__(self, label: str) -> None:
        self.label = label
        self.recent: list[Rejection] = []

    def add(self, rejection: Rejection, peer: str) -> None:
        self.recent.append(rejection)
        log.warning("%s: dropped %s envelope (seq %s): %s", self.label, rejection.kind, rejection.seq, rejection.error)
