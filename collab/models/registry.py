"""The local models ``collab models`` knows by name: small code models with fill-in-the-middle.

Each entry names one GGUF file on Hugging Face (``{base}/{repo}/resolve/main/{file}``; the base URL
can point at a mirror, see collab/models/cache.py). Sizes are approximate (what the file is about,
for choosing a model; the download trusts the server's Content-Length and the checksum, not this).

Checksums: ``pull`` verifies sha256 and refuses an entry that has none. No entry has one yet: they
were not verified from this machine (it cannot reach Hugging Face), and a guessed checksum would be
worse than none. Fill an entry's ``sha256`` from the file's page on Hugging Face (each LFS file
lists its SHA256), or pass ``collab models pull NAME --sha256 HEX`` for one download.
"""

from __future__ import annotations

from dataclasses import dataclass

MB = 1_000_000


@dataclass(frozen=True)
class ModelEntry:
    name: str
    repo: str  # Hugging Face repository
    file: str  # the GGUF file in it
    approx_bytes: int
    quantisation: str
    licence: str
    fim: str  # a key of collab.ai.fim.TEMPLATES
    sha256: str | None = None  # None: to be filled; pull refuses it without --sha256
    note: str = ""

    def url(self, base: str) -> str:
        return f"{base.rstrip('/')}/{self.repo}/resolve/main/{self.file}"


def _qwen(size: str, quant: str, approx_mb: int) -> ModelEntry:
    return ModelEntry(
        name=f"qwen2.5-coder-{size}-{quant.lower()}",
        repo=f"Qwen/Qwen2.5-Coder-{size.upper()}-Instruct-GGUF",
        file=f"qwen2.5-coder-{size}-instruct-{quant.lower()}.gguf",
        approx_bytes=approx_mb * MB,
        quantisation=quant,
        licence="Apache-2.0",
        fim="qwen",
    )


MODELS: tuple[ModelEntry, ...] = (
    _qwen("0.5b", "Q4_K_M", 400),
    _qwen("0.5b", "Q8_0", 530),
    _qwen("1.5b", "Q4_K_M", 1_000),
    _qwen("1.5b", "Q8_0", 1_650),
    ModelEntry(
        name="starcoder2-3b-q4_k_m",
        repo="second-state/StarCoder2-3B-GGUF",
        file="starcoder2-3b-Q4_K_M.gguf",
        approx_bytes=1_850 * MB,
        quantisation="Q4_K_M",
        licence="BigCode OpenRAIL-M",
        fim="starcoder2",
        note="a base model: good at completion, not at chat",
    ),
)


def find(name: str) -> ModelEntry | None:
    return next((m for m in MODELS if m.name == name.strip().lower()), None)


def names() -> list[str]:
    return [m.name for m in MODELS]
