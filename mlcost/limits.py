"""Every bound mlcost puts on what it reads, in one place (the README's safety section lists them).

A file that crosses one is refused with an InputError naming the bound, before the work it would cost
is done.  Sizes are bytes; counts are plain integers.  The bounds sit far above any real model
(Llama 3.1 405B: 126 layers, 16,384 hidden, 128,256 vocabulary; DeepSeek-V3: 256 routed experts), so
they only stop files built to exhaust memory or time.
"""
from __future__ import annotations

from mlcost.errors import InputError

MiB = 1 << 20
GiB = 1 << 30

# --- whole files, by kind (the size is checked with fstat before anything is read) ----------------------------
MAX_JSON_BYTES = 100 * MiB  # --profile, --compute-json, --baseline, safetensors index
MAX_CONFIG_JSON_BYTES = 10 * MiB  # a Hugging Face config.json
MAX_TOML_BYTES = 10 * MiB  # mlcost.toml / pyproject.toml
MAX_LEDGER_BYTES = 256 * MiB  # an `mlcost track` ledger (about a million rows)
MAX_OUTPUT_SNIFF_BYTES = 1 * MiB  # how much of an existing output file is read to recognise mlcost's own
MAX_LEGACY_PICKLE_BYTES = 4 * GiB  # a non-zip torch.save file (its tensor payloads sit inside the pickle)
MAX_ONNX_BYTES = 2 * GiB  # protobuf's own limit for one message (external data is never read)

# --- zip archives (torch.save, TorchScript, torch.export) -------------------------------------------------------
MAX_ZIP_MEMBERS = 1_000_000
MAX_PICKLE_MEMBER_BYTES = 256 * MiB  # data.pkl, sample inputs, pickled weights: metadata, not payloads
MAX_COMPRESSED_MEMBER_BYTES = 256 * MiB  # torch writes members stored (uncompressed); a compressed one is bounded
MAX_JSON_MEMBER_BYTES = 256 * MiB  # a torch.export graph (models/*.json)

# --- object graphs and names -------------------------------------------------------------------------------------
MAX_OBJECTS_WALKED = 1_000_000  # containers and tensors visited in an unpickled state dict (each once)
MAX_NAME_PARTS = 64  # dotted parts in a tensor or module name ('model.layers.0.mlp.up_proj.weight' has 6)
MAX_NAME_CHARS = 1024
MAX_TREE_ROWS = 1_000_000  # rows of a per-module tree built from names

# --- ONNX --------------------------------------------------------------------------------------------------------
MAX_INLINED_NODES = 1_000_000  # nodes after inlining local functions, computed before inlining
FOLD_MAX_ELEMENTS = 4096  # a constant-folded value (shape arithmetic), checked before evaluating

# --- Hugging Face config.json: sanity bounds checked before anything is built ---------------------------------------
HF_BOUNDS = {
    "layers": 1024,  # num_hidden_layers and the other layer counts below
    "hidden": 1 << 20,  # hidden_size, d_model, n_embd, head_dim, ...
    "intermediate": 1 << 22,  # intermediate_size, ffn_dim, d_ff, moe_intermediate_size, ...
    "vocab": 1 << 24,  # vocab_size
    "heads": 1 << 16,  # num_attention_heads, num_key_value_heads
    "experts": 1 << 14,  # num_local_experts, n_routed_experts, num_experts, ...
    "positions": 1 << 24,  # max_position_embeddings, n_positions
}
HF_FIELDS = {
    "layers": ("num_hidden_layers", "num_layers", "n_layer", "n_layers", "num_decoder_layers", "num_encoder_layers",
               "encoder_layers", "decoder_layers"),
    "hidden": ("hidden_size", "d_model", "n_embd", "dim", "head_dim", "d_kv", "kv_lora_rank", "q_lora_rank"),
    "intermediate": ("intermediate_size", "ffn_dim", "d_ff", "n_inner", "moe_intermediate_size", "encoder_ffn_dim",
                     "decoder_ffn_dim", "shared_expert_intermediate_size"),
    "vocab": ("vocab_size",),
    "heads": ("num_attention_heads", "num_key_value_heads", "n_head", "num_heads", "encoder_attention_heads",
              "decoder_attention_heads"),
    "experts": ("num_local_experts", "n_routed_experts", "num_experts", "n_shared_experts", "num_experts_per_tok"),
    "positions": ("max_position_embeddings", "n_positions"),
}
HF_MAX_LAYER_EXPERTS = 1 << 17  # layers x experts: the modules a meta build creates


def check_name(name: str, what: str) -> list[str]:
    """The dotted parts of NAME (a tensor or module name), refused past MAX_NAME_CHARS / MAX_NAME_PARTS:
    a module tree lists every prefix of every name, so one long name would cost its length squared."""
    if len(name) > MAX_NAME_CHARS:
        raise InputError(f"{what}: a name of {len(name)} characters, over the {MAX_NAME_CHARS}-character limit "
                         f"on tensor and module names ({name[:40]!r}...)")
    parts = name.split(".")
    if len(parts) > MAX_NAME_PARTS:
        raise InputError(f"{what}: a name with {len(parts)} dotted parts, over the {MAX_NAME_PARTS}-part limit "
                         f"on tensor and module names ({name[:40]!r}...)")
    return parts


def check_tree_rows(rows: int, what: str) -> None:
    if rows > MAX_TREE_ROWS:
        raise InputError(f"{what}: the per-module tree would have more than {MAX_TREE_ROWS} rows "
                         "(the limit on module trees built from names)")
