"""Decoders for ``mlcost infer``: a model that maps token ids (batch, tokens) to logits, built on meta.

Sources: a Hugging Face folder or config.json (built with SDPA attention, so each layer's attention is
one fused call whose K and V can be re-timed at any cache length), a safetensors checkpoint with its
config.json beside it, a GGUF file of a Llama-family architecture (its header's hyperparameters become
a Llama config), a ``file.py:factory`` or an ``nn.Module`` whose forward takes int64 token ids.
"""
from __future__ import annotations

import inspect
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mlcost.errors import InputError, UnsupportedOperatorError, UsageError


@dataclass
class Decoder:
    name: str
    module: Any
    cache: Any = None  # costs.kv_cache.CacheShape from the config (None: from the attention calls)
    max_positions: int | None = None
    notes: list[str] = field(default_factory=list)
    hf: bool = False

    def inputs(self, batch: int, tokens: int) -> tuple[tuple, dict]:
        import torch

        device = next((p.device for p in self.module.parameters()), torch.device("meta"))
        ids = torch.zeros(batch, tokens, dtype=torch.long, device=device)
        if not self.hf:
            return (ids,), {}
        kwargs: dict[str, Any] = {"input_ids": ids}
        if "logits_to_keep" in inspect.signature(self.module.forward).parameters:
            kwargs["logits_to_keep"] = 1  # generation computes the next token's logits only
        return (), kwargs

    def count(self, batch: int, tokens: int, *, strict: bool = False):
        """The Profile (with per-call bytes) of one forward over BATCH x TOKENS token ids; STRICT: an operator
        with no FLOP formula is an UnsupportedOperatorError (exit 2), as ``mlcost profile --strict``."""
        from mlcost.counting import count_module

        args, kwargs = self.inputs(batch, tokens)
        try:
            return count_module(self.module, args, kwargs, backend="torch", model_name=self.name, strict=strict)
        except (InputError, UsageError, UnsupportedOperatorError):
            raise
        except Exception as exc:  # the forward refused token ids of this shape
            first = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
            raise InputError(f"{self.name}: the forward over {batch} x {tokens} token ids failed: "
                             f"{type(exc).__name__}: {first}") from exc


def _dtype_bytes(module: Any) -> float:
    p = next(iter(module.parameters()), None)
    return p.element_size() if p is not None else 2


def _from_hf_config(config: Any, name: str, precision: str | None) -> Decoder:
    from mlcost.costs.kv_cache import from_config
    from mlcost.formats import hf

    model, cls, notes = hf.build_model(config, training=False)  # in the dtype config.json names
    if precision is not None:  # --precision: the serving dtype, whatever the checkpoint's
        model = model.float() if precision == "fp32" else model.bfloat16()
        notes.append(f"weights and activations in {'float32' if precision == 'fp32' else 'bfloat16'} "
                     f"(--precision {precision})")
    try:
        model.set_attn_implementation("sdpa")
        notes = [n for n in notes if "eager" not in n] + [
            "attention as SDPA (one fused call per layer: Q, K, V and the output move, not the scores)"]
    except Exception as exc:  # noqa: BLE001 -- a model without SDPA support keeps eager attention
        raise InputError(f"{cls} has no SDPA attention in transformers ({type(exc).__name__}), so its decode "
                         "cannot be timed per cache length") from None
    max_pos = getattr(config, "max_position_embeddings", None)
    return Decoder(name, model, from_config(config, _dtype_bytes(model)), max_pos if isinstance(max_pos, int) else None,
                   notes, hf=True)


_GGUF_LLAMA = {"llama", "mistral", "qwen2", "qwen3"}


def _gguf_config(path: Path) -> tuple[Any, list[str]]:
    """A transformers Llama-family config from a GGUF header's hyperparameters."""
    from mlcost.errors import import_optional
    from mlcost.formats.gguf import read_gguf

    info = read_gguf(path)
    md = info["metadata"]
    arch = md.get("general.architecture")
    if arch not in _GGUF_LLAMA:
        raise InputError(f"{path.name}: GGUF architecture {arch!r}; mlcost infer builds {', '.join(sorted(_GGUF_LLAMA))} "
                         "from a GGUF header (give the model's config.json for others)")

    def get(key: str, default: Any = None) -> Any:
        return md.get(f"{arch}.{key}", default)

    embd = next((t for t in info["tensors"] if t[0] == "token_embd.weight"), None)
    tokens = md.get("tokenizer.ggml.tokens")  # a long array is summarized as {"array_of", "count"}
    vocab = len(tokens) if isinstance(tokens, list) else tokens.get("count") if isinstance(tokens, dict) else None
    if vocab is None and embd is not None and len(embd[2]) > 1:
        vocab = int(embd[2][-1])  # ggml order: (embedding_length, vocab)
    need = {"block_count": get("block_count"), "embedding_length": get("embedding_length"),
            "attention.head_count": get("attention.head_count"), "feed_forward_length": get("feed_forward_length"),
            "vocab": vocab}
    missing = [k for k, v in need.items() if not isinstance(v, int) or v < 1]
    if missing:
        raise InputError(f"{path.name}: the GGUF header lacks {', '.join(missing)}, so the model cannot be built")
    transformers = import_optional("transformers", "hf", "building a decoder from a GGUF header")
    heads = need["attention.head_count"]
    cfg = transformers.LlamaConfig(
        vocab_size=vocab, hidden_size=need["embedding_length"], intermediate_size=need["feed_forward_length"],
        num_hidden_layers=need["block_count"], num_attention_heads=heads,
        num_key_value_heads=get("attention.head_count_kv", heads),
        max_position_embeddings=get("context_length", 4096), tie_word_embeddings=not any(
            t[0] == "output.weight" for t in info["tensors"]), dtype="float16")
    stored = sum(t[5] for t in info["tensors"])
    return cfg, [f"GGUF {arch}: built as a Llama config from its header; weights counted at float16, while the file "
                 f"stores {stored} bytes ({', '.join(sorted({t[1] for t in info['tensors']}))}): a quantized model "
                 "reads fewer weight bytes per token than counted here"]


def load(model: Any, *, precision: str | None = None, trust_remote_code: bool = False,
         factory_args: dict | None = None) -> Decoder:
    """The Decoder for MODEL (a path/entry point or an nn.Module)."""
    from mlcost.formats import ProfileOptions, detect_format, hf, torch_entry

    if precision is not None:
        from mlcost.choices import WeightPrecision, choose

        precision = choose(WeightPrecision, precision, "--precision")
    torch = torch_entry._torch()
    if isinstance(model, torch.nn.Module):
        return Decoder(type(model).__name__, model, notes=["an nn.Module given as is; inputs: int64 token ids"])
    spec = str(model)
    fmt = detect_format(spec)
    if fmt == "hf":
        config, _, folder = hf.load_config(spec, trust_remote_code)
        return _from_hf_config(config, folder.resolve().name, precision)
    if fmt == "safetensors":
        folder = Path(spec) if Path(spec).is_dir() else Path(spec).parent
        if not (folder / "config.json").is_file():
            raise InputError(f"{spec}: a safetensors checkpoint holds tensors only; mlcost infer needs the "
                             "architecture: the config.json beside it (a Hugging Face folder)")
        config, _, folder = hf.load_config(folder, trust_remote_code)
        return _from_hf_config(config, folder.resolve().name, precision)
    if fmt == "gguf":
        config, notes = _gguf_config(Path(spec))
        dec = _from_hf_config(config, Path(spec).stem, precision)
        dec.notes = notes + dec.notes
        return dec
    if fmt == "torch":
        opts = ProfileOptions(factory_args=dict(factory_args or {}))
        module, args, kwargs, _, name = torch_entry.load(spec, opts)
        notes = ["a factory's decoder: its forward takes int64 token ids (batch, tokens); the KV cache is sized "
                 "from its attention calls"]
        if precision == "bf16":
            module = module.to(torch.bfloat16)
            notes.append("weights cast to bfloat16 (--precision bf16)")
        return Decoder(name, module, notes=notes)
    raise UsageError(f"mlcost infer takes a decoder (Hugging Face folder or config.json, safetensors beside a "
                     f"config.json, GGUF, or file.py:factory), not a {fmt} file")
