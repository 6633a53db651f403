"""Bytes each operator call moves: the byte-rule registry beside the FLOP registry (``formulas``).

A rule takes the same normalised call a FLOP formula takes (tensors as ``TS``, in schema order, and the
outputs) and returns ``(bytes_read, bytes_written)``.  Every tensor counts at its real dtype: a TS's
``nbytes`` when the backend measured it (the span of memory a strided tensor touches, so an ``expand``ed
mask or a transposed weight counts what is stored, not what is indexed), else elements x itemsize.

The convention (``BYTES_POLICY``) is the standard roofline one: **no reuse across operators**.  Every
call reads all of its inputs and writes all of its outputs from and to DRAM (HBM), so a call's bytes
are an upper bound on its traffic and the model's sum is an upper bound on a real run's (which fuses
elementwise chains and hits in L2).  Within a call, each input is read once (perfect on-chip reuse), so
a matmul's bytes are its operands and its result, not its MACs.

Units: bytes.  Each rule's derivation is written beside it.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from mlcost.counting.formulas import TS

ByteRule = Callable[[list, list], "tuple[int, int]"]

BYTES_POLICY = {
    "bytes": "bytes per operator call = every input tensor read once + every output written once, at the tensors' "
    "dtypes (weights included); no cache reuse across operators (each call's traffic from and to DRAM is an "
    "upper bound: the standard roofline assumption); views, reshapes and allocations move 0 bytes; copies "
    "(cat, clone, contiguous, index) move what they read and write; fused scaled_dot_product_attention moves "
    "Q, K, V (and a mask) and its output, never the Lq x Lk scores; an in-place op reads and writes its "
    "tensor; an embedding reads only the rows it looks up (and the indices); a strided tensor counts the "
    "memory it spans (an expanded tensor is read once)",
}

# bits per element by dtype name (torch names; ONNX names map onto the same)
_BITS = {
    "float64": 64, "double": 64, "complex128": 128, "complex64": 64, "int64": 64, "uint64": 64,
    "float32": 32, "float": 32, "int32": 32, "uint32": 32, "complex32": 32,
    "float16": 16, "half": 16, "bfloat16": 16, "int16": 16, "uint16": 16,
    "int8": 8, "uint8": 8, "bool": 8, "float8_e4m3fn": 8, "float8_e5m2": 8, "float8_e4m3fnuz": 8,
    "float8_e5m2fnuz": 8, "float8_e8m0fnu": 8, "float8_e8m0": 8,
    "int4": 4, "uint4": 4, "float4_e2m1": 4, "float4_e2m1fn_x2": 8, "int2": 2, "uint2": 2, "string": 0,
}


def dtype_bits(dtype: str) -> int:
    """Bits per element of DTYPE (32 for a name this table does not know: float32's, an assumption)."""
    return _BITS.get(dtype, 32)


def tensor_bytes(t: TS) -> int:
    """Bytes of T: its measured ``nbytes`` when known, else ceil(elements x bits / 8)."""
    n = getattr(t, "nbytes", None)
    if n is not None:
        return int(n)
    return -(-t.numel * dtype_bits(t.dtype) // 8)


def strided_bytes(tensor) -> int:
    """Bytes of memory a (torch) TENSOR spans: 1 + sum((size-1) x |stride|) elements, at most its numel.
    A contiguous tensor gives numel x itemsize; an expanded one (stride 0) its stored rows only."""
    numel = tensor.numel()
    if numel == 0:
        return 0
    span = 1 + sum((s - 1) * abs(st) for s, st in zip(tensor.shape, tensor.stride()))
    return min(numel, span) * tensor.element_size()


def _tensors(values) -> list[TS]:
    out: list[TS] = []
    for v in values:
        if isinstance(v, TS):
            out.append(v)
        elif isinstance(v, (list, tuple)):
            out.extend(_tensors(v))
    return out


def _default(args: list, outs: list) -> tuple[int, int]:
    """Read every input tensor (lists of tensors too: cat, stack, einsum operands), write every output."""
    return sum(tensor_bytes(t) for t in _tensors(args)), sum(tensor_bytes(t) for t in _tensors(outs))


def _none(args: list, outs: list) -> tuple[int, int]:
    """Views, reshapes, shape queries, allocations without a fill: no data moves."""
    return 0, 0


def _write_only(args: list, outs: list) -> tuple[int, int]:
    """Creation with a fill (zeros, ones, full, arange, random): the output is written, nothing is read
    (a *_like op reads only its argument's metadata)."""
    return 0, sum(tensor_bytes(t) for t in _tensors(outs))


def _sdpa(args: list, outs: list) -> tuple[int, int]:
    """scaled_dot_product_attention(query, key, value, attn_mask, ...): a fused kernel reads Q, K, V and the
    mask (when given) once and writes the output; the B x H x Lq x Lk scores stay on chip (FlashAttention).
    Grouped-query K/V count at their own (fewer) heads.  With a KV cache, K and V are the cache: its bytes
    are read here."""
    read = sum(tensor_bytes(t) for t in _tensors(args[:4]))
    return read, sum(tensor_bytes(t) for t in _tensors(outs[:1]))


def _embedding(args: list, outs: list) -> tuple[int, int]:
    """embedding(weight, indices): reads the indices and only the looked-up rows (one output row each,
    so as many bytes as the output at the weight's dtype), writes the output; the table itself is not read."""
    weight, indices = (args + [None, None])[:2]
    out = sum(tensor_bytes(t) for t in _tensors(outs))
    idx = tensor_bytes(indices) if isinstance(indices, TS) else 0
    if not isinstance(weight, TS):
        return _default(args, outs)
    return idx + out, out


def _embedding_bag(args: list, outs: list) -> tuple[int, int]:
    """_embedding_bag(weight, indices, offsets, ..., per_sample_weights): reads indices x dim rows of the table
    (each gathered row once), the indices, offsets and weights; writes the pooled output (and its bookkeeping)."""
    weight, indices = args[0], args[1]
    rows = indices.numel * weight.shape[-1] * dtype_bits(weight.dtype) // 8 if isinstance(weight, TS) and isinstance(indices, TS) else 0
    rest = sum(tensor_bytes(t) for t in _tensors(args[1:]))
    return rows + rest, sum(tensor_bytes(t) for t in _tensors(outs))


VIEW_OPS = frozenset("aten::" + n for n in """view reshape _reshape_alias _unsafe_view transpose permute t expand expand_as
squeeze unsqueeze flatten unflatten size numel dim sym_size sym_numel sym_stride stride is_same_size alias detach
slice select narrow split split_with_sizes chunk unbind as_strided view_as diagonal movedim swapaxes unsafe_split
unsafe_split_with_sizes unsafe_chunk _unsafe_split tensor_split lift_fresh result_type can_cast broadcast_tensors
empty empty_like empty_strided new_empty new_empty_strided resize set_ _has_compatible_shallow_copy_type Int Float ScalarImplicit
NumToTensor __getitem__ item _local_scalar_dense dropout feature_dropout alpha_dropout view_as_complex view_as_real""".split())
WRITE_ONLY_OPS = frozenset("aten::" + n for n in """zeros ones full arange linspace zeros_like ones_like full_like
new_zeros new_ones new_full scalar_tensor fill zero bernoulli uniform normal rand randn rand_like randn_like randint
randint_like randperm""".split())

BYTE_RULES: dict[str, ByteRule] = {
    "aten::scaled_dot_product_attention": _sdpa,
    "aten::embedding": _embedding,
    "aten::_embedding_bag": _embedding_bag,
    "aten::embedding_bag": _embedding_bag,
}
for _n in VIEW_OPS:
    if _n in BYTE_RULES:
        raise ValueError(f"byte rule registered twice: {_n}")
    BYTE_RULES[_n] = _none
for _n in WRITE_ONLY_OPS:
    if _n in BYTE_RULES:
        raise ValueError(f"byte rule registered twice: {_n}")
    BYTE_RULES[_n] = _write_only


def rule(op: str) -> ByteRule:
    """The byte rule of canonical OP ('aten::relu'); the default (inputs + outputs) for every other op."""
    return BYTE_RULES.get(op, _default)


def call_bytes(op: str, args: list, outs: list) -> tuple[int, int]:
    """(bytes read, bytes written) of one call of canonical OP."""
    read, written = rule(op)(args, outs)
    return int(read), int(written)


@dataclass(frozen=True)
class Call:
    """One operator call as the roofline sees it: FLOPs (1 MAC = 2), bytes moved, where it ran.

    ``dtype`` is the compute dtype (its first floating-point input's); ``phase`` 'forward' or 'backward';
    ``module`` the innermost module's dotted path ('' for the root); ``args`` the normalised arguments,
    kept only for attention calls (so a decode step can re-evaluate them at another cache length).
    """

    op: str
    module: str
    phase: str
    macs: int
    flops: int
    bytes_read: int
    bytes_written: int
    dtype: str = "float32"
    args: tuple | None = None

    @property
    def bytes(self) -> int:
        return self.bytes_read + self.bytes_written


KEEP_ARGS = frozenset({"aten::scaled_dot_product_attention"})


def compute_dtype(args: list) -> str:
    """The dtype a call computes in: its first floating-point tensor input's (float32 when it has none)."""
    for t in _tensors(args):
        if t.dtype.startswith(("float", "bfloat", "complex")) or t.dtype in ("half", "double"):
            return t.dtype
    return "float32"


def make_call(op: str, module: str, phase: str, macs: int, other: int, args: list, outs: list) -> Call:
    """A Call of canonical OP with its byte rule applied; FLOPs = 2 x MACs + OTHER."""
    read, written = call_bytes(op, args, outs)
    return Call(op, module, phase, int(macs), 2 * int(macs) + int(other), read, written, compute_dtype(args),
                tuple(args) if op in KEEP_ARGS else None)


# ONNX nodes that only reinterpret a tensor's shape (no copy in a runtime); attention nodes are fused SDPA;
# a Gather from an initializer is an embedding lookup.
ONNX_VIEW_OPS = frozenset({"Reshape", "Squeeze", "Unsqueeze", "Flatten", "Identity", "Shape", "Size", "Constant",
                           "Dropout", "Optional", "OptionalGetElement", "OptionalHasElement"})
_ONNX_RULES = {"Attention": _sdpa, "MultiHeadAttention": _sdpa, "GroupQueryAttention": _sdpa}


def onnx_call_bytes(op: str, ins: list, outs: list, gather_table: bool = False) -> tuple[int, int]:
    """(bytes read, bytes written) of one ONNX node; INS/OUTS are TS (None where absent or not inferred).
    A Gather whose data input is an initializer (GATHER_TABLE) is an embedding: the embedding rule."""
    if op in ONNX_VIEW_OPS:
        return 0, 0
    if op == "Gather" and gather_table:
        return call_bytes("aten::embedding", list(ins), list(outs))
    read, written = _ONNX_RULES.get(op, _default)(list(ins), list(outs))
    return int(read), int(written)


def intensity(flops: float, nbytes: float) -> float | None:
    """Arithmetic intensity in FLOPs per byte (None for a call that moves no bytes)."""
    return flops / nbytes if nbytes else None


__all__ = ["BYTES_POLICY", "BYTE_RULES", "Call", "call_bytes", "make_call", "rule", "strided_bytes", "tensor_bytes",
           "intensity", "dtype_bits"]
