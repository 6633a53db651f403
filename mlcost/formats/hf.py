"""Hugging Face model folders (or their config.json): build on the meta device, count, cross-check.

The model is built from its config alone (``from_config`` under ``torch.device("meta")``): no weights
are read or downloaded, so a 70B model builds in seconds.  Inputs are what the model's main input needs
(``input_names``): ``input_ids`` of (batch_size, seq_len), default batch 1 and seq_len = min(512,
max_position_embeddings); ``pixel_values`` from the (vision) config's num_channels and image_size;
``input_features`` (num_mel_bins x 2 * max_source_positions) for speech encoders; both ids and pixels for a
dual encoder (CLIP); ``decoder_input_ids`` for encoder-decoders.  ``--input-shape`` sets them in that order.
Counts are in FLOPs (1 MAC = 2 FLOPs).
"""
from __future__ import annotations

import os
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator

from mlcost import limits
from mlcost.errors import InputError, UnsafeFileError, UsageError, import_optional
from mlcost.jsonfile import read_json_object
from mlcost.formats import moe
from mlcost.results import InputSpec, Profile

DEFAULT_SEQ_LEN = 512
_MAX_CONFIG_BYTES = limits.MAX_CONFIG_JSON_BYTES
# Size-defining fields: a config without them would be built from library defaults, silently.
_REQUIRED = ("vocab_size", "hidden_size", "num_hidden_layers", "num_attention_heads")
_POSITIVE = ("intermediate_size", "num_key_value_heads", "max_position_embeddings", "head_dim")  # when set


def reason(exc: BaseException, limit: int = 300) -> str:
    """transformers' own reason, on one line.  Its validators raise "Validation error for field 'n_head':"
    with the reason on the next line, so a header line ending in ':' keeps the line after it."""
    lines = [ln.strip() for ln in str(exc).strip().strip("'\"").splitlines() if ln.strip()]
    if not lines:
        return type(exc).__name__
    text = f"{lines[0]} {lines[1]}" if lines[0].endswith(":") and len(lines) > 1 else lines[0]
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _locate(spec: str | Path) -> tuple[Path, Path]:
    """(folder, config file) for a model folder or a config JSON file."""
    path = Path(spec)
    if path.is_dir():
        if not (path / "config.json").is_file():
            raise InputError(f"{path}: no config.json in this folder")
        return path, path / "config.json"
    if path.exists() and path.name.endswith(".json"):  # a FIFO or device is refused by the bounded reader
        return path.parent, path
    raise InputError(f"{path}: expected a Hugging Face model folder or its config.json")


def read_config_json(cfg: Path) -> dict[str, Any]:
    """The raw JSON of CFG, bounded in size."""
    raw = read_json_object(cfg, "model config", max_bytes=_MAX_CONFIG_BYTES)
    return raw


@contextmanager
def transformers_warnings(into: list[str] | None) -> Iterator[None]:
    """transformers' log warnings while mlcost reads a config or builds/runs its model go into INTO (the
    profile's assumptions) instead of stderr, where they broke the one-line error rule (and, under a test
    runner, hit a closed stream).  Scoped: the "transformers" logger's handlers are restored on exit.
    INTO None: nothing is changed.  Call after transformers is imported (its logger is configured then)."""
    import logging

    if into is None:
        yield
        return
    log = logging.getLogger("transformers")

    class _Keep(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            if len(into) < 8:
                msg = " ".join(record.getMessage().split())
                into.append(f"transformers warned: {msg[:300]}")

    saved = (log.handlers[:], log.propagate)
    log.handlers, log.propagate = [_Keep(logging.WARNING)], False
    try:
        yield
    finally:
        log.handlers, log.propagate = saved


def load_config(spec: str | Path, trust_remote_code: bool = False,
                warnings: list[str] | None = None) -> tuple[Any, dict[str, Any], Path]:
    """(transformers config, raw config JSON, folder); offline, and no remote code unless trusted.
    WARNINGS: a list that collects transformers' warnings (see ``transformers_warnings``)."""
    folder, cfg_path = _locate(spec)
    raw = read_config_json(cfg_path)
    if "auto_map" in raw and not trust_remote_code:
        raise UnsafeFileError(
            f"{cfg_path}: auto_map asks to run the model's own Python code; pass --trust-remote-code if you trust it"
        )
    if "model_type" not in raw:
        raise InputError(f"{cfg_path}: missing required field 'model_type'")
    check_config_bounds(raw, cfg_path)
    os.environ.setdefault("HF_HUB_OFFLINE", "1")  # never reach the hub, even for a typo'd path
    transformers = import_optional("transformers", "hf", "Hugging Face models")
    try:
        # a file not named config.json (passed with --as hf) is read as given
        target = str(folder) if cfg_path.name == "config.json" else str(cfg_path)
        with transformers_warnings(warnings):
            config = transformers.AutoConfig.from_pretrained(target, local_files_only=True,
                                                             trust_remote_code=trust_remote_code)
    except Exception as exc:  # noqa: BLE001 -- transformers/huggingface_hub validate with their own exception types
        raise InputError(f"{cfg_path}: transformers rejects this config: {reason(exc)}") from exc
    amap = getattr(config, "attribute_map", {}) or {}  # standard name -> this model's own name (GPT-2: hidden_size -> n_embd)
    for field in _REQUIRED:
        names = {field, amap.get(field, field)}
        if hasattr(config, field) and not names & raw.keys():
            raise InputError(f"{cfg_path}: missing required field {' or '.join(repr(n) for n in sorted(names))}")
    for field in (*_REQUIRED, *_POSITIVE):
        value = getattr(config, field, None) if hasattr(config, field) else None
        if value is not None and (type(value) is not int or value < 1):
            shown = amap.get(field, field)
            raise InputError(f"{cfg_path}: field {shown!r} must be a positive integer, found {value!r}")
    return config, raw, folder


def check_config_bounds(raw: dict[str, Any], cfg_path: Path) -> None:
    """Refuse sizes no real model has before anything is built (``limits.HF_BOUNDS``): a 238-byte config with
    num_hidden_layers 1000000 would otherwise build for minutes.  Checked at the top level and in nested
    sub-configs (text_config, vision_config, ...)."""
    tables = [("", raw)] + [(f"{k}.", v) for k, v in raw.items() if isinstance(v, dict) and k.endswith("config")]
    for where, table in tables:
        found: dict[str, int] = {}
        for kind, fields in limits.HF_FIELDS.items():
            for name in fields:
                value = table.get(name)
                if type(value) is int and value > limits.HF_BOUNDS[kind]:
                    raise InputError(f"{cfg_path}: {where}{name} = {value} is over mlcost's sanity bound of "
                                     f"{limits.HF_BOUNDS[kind]} ({kind}); no real model is this large")
                if type(value) is int and value > 0:
                    found[kind] = max(found.get(kind, 0), value)
        modules = found.get("layers", 1) * found.get("experts", 1)
        if modules > limits.HF_MAX_LAYER_EXPERTS:
            raise InputError(f"{cfg_path}: {where}layers x experts = {modules} is over mlcost's sanity bound of "
                             f"{limits.HF_MAX_LAYER_EXPERTS} (expert modules a meta build would create)")


def choose_class(transformers: Any, config: Any) -> tuple[Any, str]:
    """The model class to build, and why (for assumptions)."""
    archs = getattr(config, "architectures", None) or []
    if not isinstance(archs, (list, tuple)) or not all(isinstance(a, str) for a in archs):
        raise InputError(f"config.json: 'architectures' must be a list of class names, found {archs!r}")
    if archs and isinstance(getattr(transformers, archs[0], None), type):
        return getattr(transformers, archs[0]), f"built {archs[0]}, the class named in config.architectures"
    from transformers.models.auto import modeling_auto as ma

    mt = config.model_type
    if getattr(config, "is_encoder_decoder", False):
        return transformers.AutoModelForSeq2SeqLM, "built the sequence-to-sequence LM head (encoder-decoder config without architectures)"
    if mt in ma.MODEL_FOR_MASKED_LM_MAPPING_NAMES or mt not in ma.MODEL_FOR_CAUSAL_LM_MAPPING_NAMES:
        return transformers.AutoModel, "built the base model (encoder config without architectures; no task head, pooler included where the model has one)"
    return transformers.AutoModelForCausalLM, "built the causal LM head (decoder config without architectures)"


def _weights_dtype(torch: Any, config: Any, precision: str, training: bool) -> tuple[Any, str]:
    """(dtype to build in, why).  Inference: the checkpoint's own dtype from config.json (what its weights
    occupy); training: the --precision asked for (bf16 and mixed keep bf16 weights, amp fp32).  --precision
    without --training is refused before this (mlcost.formats.options)."""
    if precision == "amp":
        return torch.float32, "--precision amp: fp32 weights, autocast computes in bf16"
    if training:
        return (torch.float32 if precision == "fp32" else torch.bfloat16), f"--precision {precision}"
    named = getattr(config, "dtype", None)
    if named is None and not hasattr(type(config), "dtype"):  # transformers < 5 (reading torch_dtype on 5 warns)
        named = getattr(config, "torch_dtype", None)
    named = str(named).removeprefix("torch.") if named is not None else None
    if named in ("float32", "float16", "bfloat16"):
        return getattr(torch, named), "the dtype config.json names"
    return torch.float32, "float32: config.json names no floating dtype"


def choose_attention(cls: Any, attn: str | None) -> tuple[str, str]:
    """(attn_implementation, why): what transformers picks by default (SDPA where the class supports it,
    else eager), or --attn."""
    supports = bool(getattr(cls, "_supports_sdpa", False))
    if attn == "sdpa" and not supports:
        raise UsageError(f"--attn sdpa: {getattr(cls, '__name__', cls)} has no SDPA attention in transformers; use --attn eager")
    if attn is not None:
        return attn, f"attention: {attn} (--attn)"
    if supports:
        return "sdpa", ("attention: sdpa, what transformers builds by default for this class (one fused "
                        "scaled_dot_product_attention; --attn eager for explicit matmul + softmax)")
    return "eager", "attention: eager (this class has no SDPA implementation in transformers)"


def build_model(config: Any, precision: str = "fp32", training: bool = False,
                attn: str | None = None) -> tuple[Any, str, list[str]]:
    """(model on meta, class name, assumptions), with the attention transformers would use (``choose_attention``)."""
    torch = import_optional("torch", "hf", "Hugging Face models")
    transformers = import_optional("transformers", "hf", "Hugging Face models")
    cls, why = choose_class(transformers, config)
    dtype, dtype_why = _weights_dtype(torch, config, precision, training)
    impl, attn_why = choose_attention(cls, attn)
    notes = [why, f"built on the meta device from config.json alone (no weights read), weights in "
             f"{str(dtype).removeprefix('torch.')} ({dtype_why})", attn_why]
    # use_cache stays as configured: with it off, transformers 5 inspects position_ids values (packed
    # sequences), which meta tensors cannot answer; a cache adds no FLOPs to a single forward.
    try:
        with torch.device("meta"):
            try:
                model = cls.from_config(config, attn_implementation=impl, dtype=dtype) if hasattr(cls, "from_config") \
                    else cls._from_config(config, attn_implementation=impl, dtype=dtype)
            except TypeError:
                model = cls._from_config(config, attn_implementation=impl, dtype=dtype)
    except Exception as exc:  # noqa: BLE001 -- any failure to construct from the user's config is an input error
        raise InputError(f"cannot build {getattr(cls, '__name__', cls)} from this config: {type(exc).__name__}: {reason(exc)}") from exc
    model.eval()
    return model, type(model).__name__, notes


def _seq_len(opts: Any, positions: Any, field: str) -> tuple[int, str]:
    """(tokens per text sequence, why): --seq-len, else min(512, the model's position limit FIELD)."""
    if opts.seq_len:
        if isinstance(positions, int) and opts.seq_len > positions:
            raise UsageError(f"--seq-len {opts.seq_len} exceeds the model's {field} {positions}")
        return opts.seq_len, f"seq_len {opts.seq_len} (--seq-len)"
    if isinstance(positions, int) and positions > 0:
        seq = min(DEFAULT_SEQ_LEN, positions)
        return seq, f"seq_len {seq} = min({DEFAULT_SEQ_LEN}, {field} {positions}) by default"
    return DEFAULT_SEQ_LEN, f"seq_len {DEFAULT_SEQ_LEN} by default (the config sets no {field})"


def _sub(config: Any, name: str) -> Any:
    """A composite model's sub-config (CLIP's vision_config), else the config itself."""
    return getattr(config, name, None) or config


def input_names(model: Any, config: Any) -> list[str]:
    """The inputs a forward needs, main input first: transformers' ``main_input_name`` (input_ids,
    pixel_values, input_features), pixel_values beside input_ids for a dual encoder that takes both
    (CLIP: a vision_config and no image tokens spliced into the text), decoder_input_ids for an
    encoder-decoder."""
    import inspect

    main = getattr(model, "main_input_name", "input_ids") or "input_ids"
    try:
        params = set(inspect.signature(model.forward).parameters)
    except (TypeError, ValueError):
        params = set()
    names = [main]
    dual = (getattr(config, "vision_config", None) is not None and getattr(config, "text_config", None) is not None
            and not any(hasattr(config, a) for a in ("image_token_index", "image_token_id")))
    if main == "input_ids" and dual and "pixel_values" in params:
        names.append("pixel_values")
    if getattr(config, "is_encoder_decoder", False) and "decoder_input_ids" in params:
        names.append("decoder_input_ids")
    return names


def _default_shape(name: str, config: Any, opts: Any, batch: int) -> tuple[tuple[int, ...], str]:
    """(shape of input NAME, how it was chosen) from the config's own dimensions."""
    if name == "pixel_values":
        vc = _sub(config, "vision_config")
        size, channels = getattr(vc, "image_size", None), getattr(vc, "num_channels", 3)
        if isinstance(size, (list, tuple)):
            h, w = (int(size[0]), int(size[1])) if len(size) == 2 else (int(size[0]), int(size[0]))
        elif isinstance(size, int):
            h = w = size
        else:
            raise UsageError("pixel_values: the config names no image_size; give --input-shape B,C,H,W")
        return (batch, int(channels), h, w), f"{channels} channels x {h}x{w} (the config's num_channels, image_size)"
    if name == "input_features":  # speech encoders (Whisper): log-mel frames, twice the encoder's positions (stride-2 conv)
        mels, positions = getattr(config, "num_mel_bins", None), getattr(config, "max_source_positions", None)
        if not isinstance(mels, int) or not isinstance(positions, int):
            raise UsageError("input_features: the config names no num_mel_bins/max_source_positions; give --input-shape")
        return (batch, mels, 2 * positions), (f"{mels} mel bins x {2 * positions} frames (num_mel_bins, "
                                              f"2 x max_source_positions {positions})")
    field = "max_position_embeddings"
    if name == "decoder_input_ids" and getattr(config, "max_target_positions", None):
        field = "max_target_positions"  # a speech decoder's own limit (Whisper)
    seq, how = _seq_len(opts, getattr(_sub(config, "text_config"), field, None), field)
    return (batch, seq), how


def make_inputs(torch: Any, config: Any, opts: Any, model: Any = None) -> tuple[dict[str, Any], tuple[InputSpec, ...], list[str]]:
    """Keyword inputs on meta for the forward MODEL needs: token ids (int64 zeros: valid in any vocabulary),
    pixel_values / input_features in the weights' dtype.  --input-shape gives the shapes in this order;
    --batch-size and --seq-len change the defaults."""
    names = input_names(model, config) if model is not None else ["input_ids"] + (
        ["decoder_input_ids"] if getattr(config, "is_encoder_decoder", False) else [])
    text = [n for n in names if n.endswith("input_ids")]
    if opts.input_shapes and (opts.seq_len or opts.batch_size):
        raise UsageError("give --input-shape, or --batch-size/--seq-len, not both")
    if opts.seq_len and not text:
        raise UsageError(f"--seq-len: this model takes {', '.join(names)}, no token ids; give --input-shape for its size")
    if len(opts.input_shapes) > len(names):
        raise UsageError(f"{len(opts.input_shapes)} --input-shape values, but this model takes {len(names)} input(s): "
                         f"{', '.join(names)} (in that order)")
    batch = opts.batch_size or 1
    float_dtype = next((p.dtype for p in model.parameters() if p.is_floating_point()), torch.float32) \
        if model is not None else torch.float32
    kwargs: dict[str, Any] = {}
    specs, notes = [], []
    for i, name in enumerate(names):
        if i < len(opts.input_shapes):
            shape, how = tuple(int(d) for d in opts.input_shapes[i]), "(--input-shape)"
            if name.endswith("input_ids") and len(shape) != 2:
                raise UsageError(f"--input-shape for {name} must be batch,seq_len (2 dims), got {','.join(map(str, shape))}")
        else:
            if name == "decoder_input_ids" and "input_ids" in names:  # as long as the encoder input
                shape, how = kwargs["input_ids"].shape, "as long as the encoder input"
                shape = (shape[0], shape[1])
            else:
                shape, how = _default_shape(name, config, opts, _batch_of(kwargs, batch))
        dtype = torch.long if name.endswith("input_ids") else float_dtype
        kwargs[name] = torch.zeros(shape, dtype=dtype, device="meta")
        specs.append(InputSpec(tuple(shape), str(dtype).removeprefix("torch."), name))
        notes.append(f"inputs: {name} {'x'.join(map(str, shape))}: {how}")
    if not opts.input_shapes:
        notes[0] += f"; batch {batch}" + ("" if opts.batch_size else " (default)")
    return kwargs, tuple(specs), notes


def _batch_of(kwargs: dict[str, Any], batch: int) -> int:
    """The batch of the inputs built so far (an --input-shape sets it for the rest)."""
    first = next(iter(kwargs.values()), None)
    return int(first.shape[0]) if first is not None else batch


def _count(model: Any, kwargs: dict, opts: Any, name: str, inputs: tuple[InputSpec, ...], assumptions: list[str]) -> Profile:
    from mlcost.counting import count_module

    backend = "torch" if opts.backend == "auto" else opts.backend  # fvcore's tracer cannot take dict outputs
    try:
        return count_module(model, (), kwargs, backend=backend, training=opts.training, optimizer=opts.optimizer,
                            precision=opts.precision, strict=opts.strict, model_name=name, model_format="hf",
                            inputs=inputs, assumptions=tuple(assumptions),
                            checkpointing=getattr(opts, "checkpointing", False),
                            workspace=getattr(opts, "workspace", "none"))
    except (InputError, UsageError):
        raise
    except (RuntimeError, ValueError, IndexError, TypeError, NotImplementedError) as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
        raise InputError(f"{name}: the meta forward failed: {type(exc).__name__}: {first}") from exc


def cross_check(model: Any, folder: Path) -> tuple[dict[str, Any] | None, list[str]]:
    """Compare the built model's parameters with safetensors headers beside the config (if any)."""
    if not (list(folder.glob("*.safetensors")) or list(folder.glob("*.safetensors.index.json"))):
        return None, []
    from mlcost.formats import safetensors as st

    try:
        tensors, _ = st.read_checkpoint(folder)
    except InputError as exc:  # the count comes from the config; a damaged checkpoint only voids the cross-check
        return {"error": str(exc)}, [f"cross-check skipped: the safetensors beside config.json are unreadable ({exc})"]
    ck = {t.name: t.numel for t in tensors if not st.is_buffer(t.name)}
    built = sum(p.numel() for p in model.parameters())
    untied = {n: p.numel() for n, p in model.named_parameters(remove_duplicate=False)}
    ck_total = sum(ck.values())
    info = {"params": ck_total, "weights_bytes": sum(t.nbytes for t in tensors if not st.is_buffer(t.name)),
            "tensors": len(tensors), "model_params": built, "matches": ck_total == built}
    if ck_total == built:
        return info, [f"cross-check: the safetensors headers beside config.json hold the same {built} parameters"]
    if ck_total == sum(untied.values()):
        extra = ck_total - built
        return info, [f"cross-check: the safetensors headers hold {ck_total} parameters, {extra} more than the model, because tied weights (embeddings shared with the LM head) are stored twice there and counted once here"]
    missing = sorted(set(untied) - set(ck))[:3]
    unexpected = sorted(set(ck) - set(untied))[:3]
    info.update({"missing_from_checkpoint": missing, "not_in_model": unexpected})
    return info, [f"cross-check: the safetensors headers hold {ck_total} parameters but the model built from config.json has {built} "
                  f"(difference {ck_total - built}; e.g. missing in checkpoint {missing}, not in model {unexpected}); the model's count is reported"]


def profile_file(spec: str | Path, opts: Any) -> Profile:
    """Profile a Hugging Face folder or config.json (format 'hf'): meta build, counted forward, cross-check."""
    warned: list[str] = []
    config, raw, folder = load_config(spec, opts.trust_remote_code, warned)  # checked (bounds, auto_map) before torch loads
    with transformers_warnings(warned):
        return _profile_config(config, folder, opts, warned)


def _profile_config(config: Any, folder: Path, opts: Any, warned: list[str]) -> Profile:
    from dataclasses import replace

    torch = import_optional("torch", "hf", "Hugging Face models")
    model, cls_name, notes = build_model(config, opts.precision, opts.training, getattr(opts, "attn", None))
    kwargs, inputs, input_notes = make_inputs(torch, config, opts, model)
    notes += input_notes
    name = folder.resolve().name or cls_name
    shape = moe.moe_shape(config)
    if shape is not None and moe.param_split(model)[1] == 0:
        # the config names experts but no layer holds any (DeepSeek's first_k_dense_replace >= num_hidden_layers,
        # say): every layer is dense, counted as such
        notes.append(f"mixture of experts: the config names {shape[0]} routed experts, but no layer holds "
                     "experts: every layer is dense")
        shape = None
    moe_details = None
    if shape is None:
        prof = _count(model, kwargs, opts, name, inputs, notes)
    else:
        prof, moe_details, moe_notes = _count_moe(torch, model, kwargs, opts, name, inputs, notes, shape)
    check, check_notes = cross_check(model, folder)
    details = {**prof.details, "model_class": cls_name, "model_type": config.model_type,
               "attn_implementation": getattr(model.config, "_attn_implementation", None)}
    kv = kv_cache_details(config, cls_name, model, inputs, opts)
    if kv is not None:
        details["kv_cache"] = kv
    if check is not None:
        details["checkpoint"] = check
    extra = check_notes
    params = prof.params
    if moe_details is not None:
        details["moe"] = moe_details
        params = replace(params, active=moe_details["params_active"])
        extra = moe_notes + extra
    return replace(prof, model=name, format="hf", params=params, details=details,
                   assumptions=tuple(prof.assumptions) + tuple(extra) + tuple(warned))


def kv_cache_details(config: Any, cls_name: str, model: Any, inputs: tuple[InputSpec, ...], opts: Any) -> dict | None:
    """A causal decoder's KV cache (costs.kv_cache) at --kv-tokens (default: the profiled seq_len) and
    the profiled batch, in the weights' dtype; None for encoders (no cache)."""
    if not cls_name.endswith(("ForCausalLM", "LMHeadModel", "ForConditionalGeneration")):
        return None
    from mlcost.costs import kv_cache

    try:
        shape = kv_cache.from_config(getattr(config, "text_config", None) or config, model.dtype.itemsize)
    except InputError:
        return None
    batch, seq = inputs[0].shape[0], inputs[0].shape[-1]
    tokens = getattr(opts, "kv_tokens", None) or seq
    return {**shape.to_dict(), "bytes_per_token": shape.bytes(1, 1), "tokens": tokens, "batch": batch,
            "bytes": shape.bytes(tokens, batch), "tokens_from": "--kv-tokens" if getattr(opts, "kv_tokens", None) else "seq_len"}


def _count_moe(torch: Any, model: Any, kwargs: dict, opts: Any, name: str, inputs: tuple[InputSpec, ...],
               notes: list[str], shape: tuple[int, int]) -> tuple[Profile, dict[str, Any], list[str]]:
    n, k = shape
    mods = moe.fused_experts_modules(model, n)
    if not mods:
        raise InputError(f"{name}: routed experts ({n} experts, top-{k}) in a layout mlcost cannot count on the meta device "
                         "(expected transformers-5 fused experts with gate_up_proj/down_proj)")
    total, expert = moe.param_split(model)
    active = moe.active_params(total, expert, n, k)
    try:
        moe.swap_experts(model, mods, lambda m: moe.make_fixed_experts(torch, m, n))
        all_prof = _count(model, kwargs, replace_opts(opts, training=False), name, inputs, [])
        moe.swap_experts(model, mods, lambda m: moe.make_fixed_experts(torch, m, k))
        prof = _count(model, kwargs, opts, name, inputs, notes)
    finally:
        moe.restore_experts(model, mods)
    tokens = 1
    for s in inputs[0].shape:
        tokens *= s
    details = {
        "num_experts": n, "experts_per_token": k, "moe_layers": len(mods),
        "params_total": total, "params_active": active, "params_experts": expert,
        "flops_forward_active": prof.flops_forward, "flops_forward_all_experts": all_prof.flops_forward,
        "macs_forward_active": prof.macs_forward, "macs_forward_all_experts": all_prof.macs_forward,
        "flops_per_token_active": prof.flops_forward // tokens if prof.flops_forward is not None else None,
        "flops_per_token_all_experts": all_prof.flops_forward // tokens if all_prof.flops_forward is not None else None,
        "tokens": tokens,
    }
    moe_notes = [
        f"mixture of experts: {k} of {n} experts per token in {len(mods)} layers; flops are the active (top-{k}) path, "
        f"counted by running every token through exactly {k} experts (routing on meta tensors cannot pick real experts); "
        f"details.moe has the all-{n}-experts figure ({all_prof.flops_forward} FLOPs) beside it",
        f"mixture of experts: active params per token = {total} total - {expert} expert params x (1 - {k}/{n}) = {active}",
    ]
    return prof, details, moe_notes


def replace_opts(opts: Any, **changes: Any) -> Any:
    from dataclasses import replace

    return replace(opts, **changes)
