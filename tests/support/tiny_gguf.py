"""A tiny random-weight llama model in GGUF, written here because no weights can be downloaded.

gguf-py's ``GGUFWriter`` writes a 2-layer llama (64-wide, ~0.5 MB of f32 weights) with a GPT-2 style
byte-level BPE vocabulary: the 256 byte tokens, a few merges, and the special tokens a Qwen2.5-Coder
prompt uses (``<|endoftext|>``, ChatML's ``<|im_start|>``/``<|im_end|>``, the FIM markers). The real
llama.cpp (xllamacpp) loads it and generates meaningless text.

Two things make its output useful to tests: it only ever samples printable ASCII (so a streamed
answer is valid text), and it never samples an end-of-generation token (so it runs to
``max_tokens`` unless someone stops it: a test can tell "stopped early" from "finished"). Both come
from one fixed hidden dimension: every token embedding has ``CONST`` in dimension 0 and no layer
writes to it, so after the final norm that dimension is always large and positive, and the output
rows of the tokens we never want carry a large negative weight there.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from tests.support.waiting import eventually

if TYPE_CHECKING:
    from collab.ai.local_backend import LocalBackend

N_EMBD = 64
N_HEAD = 4
N_FF = 128
N_LAYER = 2
N_CTX = 2048
CONST = 8.0
SUPPRESS = -40.0

SPECIALS = ("<|endoftext|>", "<|im_start|>", "<|im_end|>", "<|fim_prefix|>", "<|fim_middle|>",
            "<|fim_suffix|>", "<|fim_pad|>")
CHATML = (
    "{% for message in messages %}<|im_start|>{{ message['role'] }}\n{{ message['content'] }}<|im_end|>\n"
    "{% endfor %}{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)
# A few merges (the loader insists on some): common pairs in code.
MERGE_PAIRS = (("d", "e"), ("e", "f"), ("Ġ", "x"), ("r", "e"), ("i", "n"), ("o", "r"), ("Ġ", "="))


def _byte_chars() -> list[str]:
    """GPT-2's byte-to-unicode table: each byte as the printable character its BPE vocabulary uses."""
    keep = list(range(ord("!"), ord("~") + 1)) + list(range(0xA1, 0xAD)) + list(range(0xAE, 0x100))
    chars = {b: b for b in keep}
    n = 0
    for b in range(256):
        if b not in chars:
            chars[b] = 256 + n
            n += 1
    return [chr(chars[b]) for b in range(256)]


def write_tiny_gguf(path: Path, *, seed: int = 0) -> Path:
    import gguf

    rng = np.random.default_rng(seed)
    bytes_ = _byte_chars()
    merged = [a + b for a, b in MERGE_PAIRS]
    tokens = bytes_ + merged + list(SPECIALS)
    types = [gguf.TokenType.NORMAL] * (256 + len(merged)) + [gguf.TokenType.CONTROL] * len(SPECIALS)
    n_vocab = len(tokens)
    eos = tokens.index("<|endoftext|>")

    writer = gguf.GGUFWriter(str(path), "llama")
    writer.add_name("collab-tiny-random")
    writer.add_context_length(N_CTX)
    writer.add_embedding_length(N_EMBD)
    writer.add_block_count(N_LAYER)
    writer.add_feed_forward_length(N_FF)
    writer.add_head_count(N_HEAD)
    writer.add_head_count_kv(N_HEAD)
    writer.add_rope_dimension_count(N_EMBD // N_HEAD)
    writer.add_layer_norm_rms_eps(1e-5)
    writer.add_file_type(gguf.LlamaFileType.ALL_F32)
    writer.add_tokenizer_model("gpt2")
    writer.add_tokenizer_pre("default")
    writer.add_token_list(tokens)
    writer.add_token_types(types)
    writer.add_token_merges([f"{a} {b}" for a, b in MERGE_PAIRS])
    writer.add_bos_token_id(eos)
    writer.add_eos_token_id(eos)
    writer.add_pad_token_id(eos)
    writer.add_add_bos_token(False)
    writer.add_chat_template(CHATML)

    def weight(*shape: int, scale: float = 0.3) -> np.ndarray:
        return (rng.standard_normal(shape) * scale).astype(np.float32)

    embd = weight(n_vocab, N_EMBD, scale=1.0)
    embd[:, 0] = CONST
    writer.add_tensor("token_embd.weight", embd)
    writer.add_tensor("output_norm.weight", np.ones(N_EMBD, dtype=np.float32))
    output = weight(n_vocab, N_EMBD, scale=1.0)
    output[:, 0] = 0.0
    printable = {ord(c) for c in "\n\t"} | set(range(0x20, 0x7F))
    for i in range(n_vocab):
        if i >= 256 + len(merged) or (i < 256 and i not in printable):
            output[i, 0] = SUPPRESS
    writer.add_tensor("output.weight", output)
    for layer in range(N_LAYER):
        blk = f"blk.{layer}"
        writer.add_tensor(f"{blk}.attn_norm.weight", np.ones(N_EMBD, dtype=np.float32))
        writer.add_tensor(f"{blk}.attn_q.weight", weight(N_EMBD, N_EMBD))
        writer.add_tensor(f"{blk}.attn_k.weight", weight(N_EMBD, N_EMBD))
        writer.add_tensor(f"{blk}.attn_v.weight", weight(N_EMBD, N_EMBD))
        attn_out = weight(N_EMBD, N_EMBD)
        attn_out[0, :] = 0.0  # dimension 0 stays CONST through the residual stream
        writer.add_tensor(f"{blk}.attn_output.weight", attn_out)
        writer.add_tensor(f"{blk}.ffn_norm.weight", np.ones(N_EMBD, dtype=np.float32))
        writer.add_tensor(f"{blk}.ffn_gate.weight", weight(N_FF, N_EMBD))
        writer.add_tensor(f"{blk}.ffn_up.weight", weight(N_FF, N_EMBD))
        down = weight(N_EMBD, N_FF)
        down[0, :] = 0.0
        writer.add_tensor(f"{blk}.ffn_down.weight", down)

    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    return path


def metric(backend: "LocalBackend", name: str) -> float:
    """One of llama.cpp's own counters (its metrics lag a moment behind: read them with eventually)."""
    match = re.search(rf"^llamacpp:{name} (\S+)$", backend.metrics(), re.MULTILINE)
    assert match, backend.metrics()
    return float(match.group(1))


async def generation_stopped_early(backend: "LocalBackend", limit: int) -> float:
    """llama.cpp is idle again, having decoded fewer than ``limit`` tokens (it would go on to max_tokens)."""
    await eventually(lambda: metric(backend, "requests_processing") == 0, 10)
    decoded = metric(backend, "n_decode_total")
    assert 0 < decoded < limit, backend.metrics()
    return decoded
