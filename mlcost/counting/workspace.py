"""Kernel workspaces: the buffers a backend's kernel allocates inside one operator and frees before it returns.

No operator returns them, so no meta run sees them; the allocator does.  They belong to the kernel backend
that runs the model, not to the model: the device-neutral tensor peak (``activations_peak_bytes``) stays
what the tensors need, and a profile adds one backend's workspaces only when asked (``--workspace``):

- ``none``: tensors only.  Not counted: cuDNN/cuBLAS workspaces, CPU oneDNN's reorders and scratchpads.
  An LSTM is ATen's native one (native_lstm: the input projection of all steps at once, as the CPU without
  oneDNN and cuDNN run it), not the per-step branch the composite takes on a meta tensor.
- ``cpu``: PyTorch's CPU kernels as this torch runs them with its default flags (oneDNN enabled), on this
  machine's ISA (``torch.backends.cpu.get_cpu_capability()``): the blocked-layout convolution and the oneDNN
  LSTM.  An operator with no rule here is listed (``unmodeled``), never guessed.

Each rule returns a :class:`Workspace` in bytes: ``before`` is alive (above the op's inputs) before the
op's outputs are allocated, ``during`` alive together with its outputs; the op's transient peak is
``max(before, outputs + during)`` above what was alive before it.  ``outputs`` sizes an output the meta
kernel returns empty (the oneDNN RNN workspace).

Sources (each rule cites its own lines): oneDNN's developer guide, "Memory Format Propagation" and
"Understanding Memory Formats" (https://oneapi-src.github.io/oneDNN/, blocked layouts nChw16c / nChw8c);
oneDNN's src/cpu/rnn/rnn_utils.hpp (set_workspace_sizes, init_conf's leading dimensions),
src/cpu/rnn/rnn_utils.cpp (get_good_ld, set_offsets, set_expected_desc), src/common/memory_tracking.hpp
(registry_t::book); PyTorch's aten/src/ATen/native/Convolution.cpp (ConvParams::use_mkldnn),
aten/src/ATen/native/mkldnn/Conv.cpp (_mkldnn_convolution), aten/src/ATen/native/mkldnn/RNN.cpp
(mkldnn_rnn, mkldnn_rnn_layer and its backward) and aten/src/ATen/native/RNN.cpp (use_mkldnn).  Which
implementation and formats oneDNN picks was read from ONEDNN_VERBOSE=1 (oneDNN 3.12, torch 2.13, AVX-512):
checked against the allocator in tests/test_memory_alloc.py.  The AVX2 figures follow the same kernels'
8-float block and are not checked on an AVX2 machine here.
"""
from __future__ import annotations

from dataclasses import dataclass, field

from mlcost.choices import Workspace as _Kind, values

KINDS = values(_Kind)  # none, cpu
F32 = 4  # bytes per float32 element: every rule below is for float32 (other dtypes are unmodeled)
PAGE = 4096  # oneDNN rnn_utils::set_offsets page-aligns every RNN workspace/scratchpad region
SCRATCH_ALIGN = 128  # oneDNN memory_tracking.hpp: default_alignment; registry_t::book adds it to each entry


@dataclass(frozen=True)
class Workspace:
    before: int = 0
    during: int = 0
    outputs: dict = field(default_factory=dict)  # output position -> bytes (where meta returns it empty)
    what: str = ""


def _up(n: int, m: int) -> int:
    return -(-n // m) * m


def block_size(capability: str | None = None) -> int | None:
    """oneDNN's channel block for float32 on this CPU: its jit kernels work on 16 floats a vector on AVX-512
    (nChw16c), 8 on AVX2 (nChw8c): oneDNN "Understanding memory formats" (blocked layouts) and the
    jit_avx512_common / jit_avx2 convolution kernels.  None: an ISA with no rule here (then unmodeled)."""
    import torch

    cap = capability or torch.backends.cpu.get_cpu_capability()
    return {"AVX512": 16, "AVX2": 8}.get(cap)


class Planner:
    """One run's kernel-workspace policy: KIND's rules, what they added, and what had no rule."""

    def __init__(self, kind: str, capability: str | None = None):
        import torch

        self.kind = kind
        self.capability = capability or torch.backends.cpu.get_cpu_capability()
        self.block = block_size(self.capability)
        self.mkldnn = bool(torch.backends.mkldnn.is_available() and torch.backends.mkldnn.enabled)
        self.unmodeled: dict[str, int] = {}  # "op (why)" -> calls
        self.peak_bytes = 0  # the largest single op's workspace (before or during)
        self.counted: dict[str, int] = {}  # op -> calls with a workspace

    def of(self, op: str, func, args, kwargs, out) -> Workspace | None:
        rule = RULES.get(op)
        if rule is None:
            return None
        ws = rule(self, args, kwargs, out)
        if isinstance(ws, str):
            self.note(op, ws)
            return None
        if ws is not None:
            self.counted[op] = self.counted.get(op, 0) + 1
            self.peak_bytes = max(self.peak_bytes, ws.before, ws.during)
        return ws

    def note(self, op: str, why: str) -> None:
        """An operator this backend runs differently from the meta run, with no rule here: listed, not guessed."""
        key = f"{op} ({why})"
        self.unmodeled[key] = self.unmodeled.get(key, 0) + 1

    def summary(self, tensors_peak: int | None = None) -> dict:
        """The profile's memory.workspace: which backend, what it added, what had no rule.  ``tensors_peak_bytes``
        is the forward's peak of the tensors this plan's kernels allocate, without their workspaces: the
        device-neutral peak (--workspace none) unless an LSTM ran as oneDNN's layers, whose tensors differ
        from ATen's native LSTM's."""
        return {"kind": self.kind, "included": INCLUDED[self.kind], "not_included": NOT_INCLUDED[self.kind],
                "cpu_capability": self.capability, "block": self.block,
                "tensors_peak_bytes": tensors_peak, "largest_op_workspace_bytes": self.peak_bytes,
                "ops": dict(sorted(self.counted.items())), "unmodeled": dict(sorted(self.unmodeled.items()))}


INCLUDED = {"none": "tensors only", "cpu": "CPU oneDNN: convolution blocked-layout reorders and scratchpad, LSTM weight "
                              "reorders, scratchpad and workspace"}
NOT_INCLUDED = {"none": "cuDNN/cuBLAS workspaces; CPU oneDNN reorders, scratchpads and RNN workspaces",
                "cpu": "cuDNN/cuBLAS workspaces; CPU kernels with no rule (unmodeled)"}


def neutral_summary() -> dict:
    """memory.workspace of a tensors-only profile (--workspace none)."""
    return {"kind": "none", "included": INCLUDED["none"], "not_included": NOT_INCLUDED["none"]}


# ---- convolution: oneDNN's blocked layout -------------------------------------------------------------------

def _use_mkldnn_conv(x, w, stride, dilation, transposed, groups) -> bool:
    """ConvParams::use_mkldnn for a float32 CPU input (aten/src/ATen/native/Convolution.cpp): oneDNN runs
    unless a 1x1 kernel on a small single-threaded batch, or a tiny problem the native kernel does faster."""
    import torch

    strided = any(s != 1 for s in stride)
    dilated = any(d != 1 for d in dilation)
    one_by_one = all(k == 1 for k in w.shape[2:])
    if not (strided or dilated or x.shape[0] >= 16 or not one_by_one or torch.get_num_threads() > 1):
        return False
    big_kernel = all(k > 3 for k in w.shape[2:])
    numel = 1
    for d in x.shape:
        numel *= int(d)
    return groups > 1 or big_kernel or x.shape[0] > 1 or numel > 20480


def _conv(p: Planner, args, kwargs, out):
    """aten::convolution(input, weight, bias, stride, padding, dilation, transposed, output_padding, groups).

    PyTorch's _mkldnn_convolution (aten/src/ATen/native/mkldnn/Conv.cpp) hands oneDNN plain NCHW tensors and
    lets the primitive pick its formats (format_tag::any: oneDNN "Memory Format Propagation"), then converts
    the result back with mkldnn_to_dense.  With float32 on AVX-512/AVX2 the direct jit kernel picks
    (ONEDNN_VERBOSE shows it: jit:avx512_core, src abcd or aBcd16b, wei Acdb16a or ABcd16b16a, dst aBcd16b):
    - src: plain for a "first" convolution (jcp.ic < block: is_1stconv; not for the 1x1 kernel), else a
      reorder to nChw{B}c, N x up(C, B) x H x W floats;
    - weights: always reordered, up(O, B) x (I or up(I, B)) x kH x kW floats (Ohwi{B}o / OIhw{B}i{B}o);
    - scratchpad: the bias padded to up(O, B) floats when O is not a multiple of B (key_conv_padded_bias),
      plus the registry's 128-byte alignment (memory_tracking.hpp registry_t::book);
    - dst: N x up(O, B) x oH x oW floats in nChw{B}c, alive while the dense output is written from it.
    The reorders, scratchpad and blocked dst are allocated in that order and freed before the dense output is
    allocated, except the blocked dst (the allocator's timeline shows exactly this sequence)."""
    import torch

    x, w = args[0], args[1]
    bias = args[2] if len(args) > 2 else kwargs.get("bias")
    stride, dilation = list(args[3]), list(args[5])
    transposed, groups = bool(args[6]), int(args[8])
    if not p.mkldnn:
        return "oneDNN disabled: native im2col kernel"
    if x.dtype != torch.float32 or w.dtype != torch.float32:
        return "not float32"
    if transposed or groups != 1:
        return "transposed or grouped"
    if x.dim() != 4:
        return "not 2-d"
    if p.block is None:
        return f"no rule for CPU capability {p.capability}"
    if x.is_contiguous(memory_format=torch.channels_last) and not x.is_contiguous():
        return "channels-last input"
    if not _use_mkldnn_conv(x, w, stride, dilation, transposed, groups):
        return "native kernel: 1x1 or small problem"
    one_by_one = all(k == 1 for k in w.shape[2:])
    if one_by_one and any(s != 1 for s in stride):
        return "strided 1x1 kernel: its reduce-to-unit-stride scratchpad is per thread"
    b = p.block
    n, c = int(x.shape[0]), int(x.shape[1])
    o = int(w.shape[0])
    spatial_in = int(x.shape[2]) * int(x.shape[3])
    spatial_out = int(out.shape[2]) * int(out.shape[3])
    kernel = int(w.shape[2]) * int(w.shape[3])
    # jit_avx512_common_conv_kernel is_1stconv: ic < 16 on avx512_core (flat src); the jit 1x1 kernel reorders
    # every source (ONEDNN_VERBOSE: jit_1x1:avx512_core, src aBcd16b, weights ABcd16b16a, even for 3 channels)
    first = c < b and not one_by_one
    src = 0 if first else n * _up(c, b) * spatial_in * F32
    wei = _up(o, b) * (c if first else _up(c, b)) * kernel * F32
    scratch = _up(o, b) * F32 + SCRATCH_ALIGN if bias is not None and o % b else 0
    dst = n * _up(o, b) * spatial_out * F32
    return Workspace(before=src + scratch + wei + dst, during=dst, what="oneDNN blocked-layout reorders")


# ---- LSTM: oneDNN's RNN primitive -------------------------------------------------------------------------------

def _good_ld(dim: int) -> int:
    """rnn_utils::get_good_ld for float32: a 64-byte-aligned leading dimension, not a multiple of 256."""
    ld = _up(dim, 64 // F32)
    return ld + 64 // F32 if ld % 256 == 0 else ld


def _regions(sizes: list[int]) -> int:
    """rnn_utils::set_offsets' register_space: each region starts on a 4096-byte page."""
    off = 0
    for s in sizes:
        off = _up(off, PAGE) + s
    return off


def rnn_sizes(t: int, mb: int, slc: int, sic: int, dhc: int, training: bool, brgemm: bool) -> tuple[int, int]:
    """(scratchpad, workspace) bytes of one oneDNN vanilla-LSTM layer-direction (n_layer = n_dir = 1), float32,
    from rnn_utils.hpp set_workspace_sizes / init_conf's leading dimensions and rnn_utils.cpp set_offsets.
    Forward training keeps its regions in the workspace (use_workspace = is_training), inference in the
    scratchpad.  scratch_gates spans all steps when the layer GEMM is merged (the ref kernel's
    merge_gemm_layer), one step for brgemm."""
    gates = 4
    states_ld = _good_ld(max(sic, slc, dhc))
    diff_ld = _good_ld(max(slc, dhc, sic))
    steps = (t + 1) * mb * 2  # (n_layer + 1) x (n_iter + 1) x mb
    ws_gates = t * mb * _good_ld(gates * dhc) * F32 if training else 0
    ws_ht = t * mb * _good_ld(dhc) * F32 if training else 0
    ws_states = steps * states_ld * F32
    ws_c = steps * dhc * F32
    ws_diff = [steps * diff_ld * F32, steps * diff_ld * F32, steps * dhc * F32] if training else [0, 0, 0]
    ws_regions = [ws_gates, ws_ht, ws_states, ws_c, *ws_diff, 0]  # ..., ws_grid_comp (lbr GRU only)
    workspace = _regions(ws_regions) if training else 0
    merged = not brgemm  # merge_gemm_layer: forward, trivial T stride, mb < 128; never for brgemm
    scratch_gates = (t if merged else 1) * mb * _good_ld(gates * dhc) * F32
    scratch_ht = mb * _good_ld(dhc) * F32
    scratch_diff_ht = mb * _good_ld(dhc) * F32 if training else 0
    scratch_regions = [scratch_gates, scratch_ht, scratch_diff_ht, 0]  # ..., scratch_cell (GRU only)
    space = _regions(scratch_regions) if training else _regions(ws_regions + scratch_regions)
    # the primitive's registry (ref_rnn init_scratchpad): key_rnn_space with 4096 alignment, and four
    # pointer arrays (weights layer/iter/projection, bias) of one pointer each, 128-byte aligned
    scratchpad = space + PAGE + 4 * (8 + SCRATCH_ALIGN)
    return scratchpad, workspace


def _rnn_layer(p: Planner, args, kwargs, out):
    """aten::mkldnn_rnn_layer(input, w_ih, w_hh, b_ih, b_hh, hx, cx, reverse, batch_sizes, mode, hidden_size,
    num_layers, has_biases, bidirectional, batch_first, train) -> (output, hy, cy, workspace).

    PyTorch's mkldnn_rnn_layer (aten/src/ATen/native/mkldnn/RNN.cpp) allocates output, hy, cy, the summed
    bias (b_ih + b_hh, 4H floats), the workspace tensor when training, then ideep reorders both weights into
    the primitive's format and allocates its scratchpad.  Formats (rnn_utils.cpp set_expected_desc, seen in
    ONEDNN_VERBOSE): inference on AVX-512 runs brgemm with ldgOi32o weights (H padded to 32 per gate);
    training, and CPUs without AVX-512, run the ref kernel with ldigo weights (leading dim get_good_ld(4H))."""
    import torch

    x, w_ih, w_hh = args[0], args[1], args[2]
    if x.dtype != torch.float32:
        return "not float32"
    if p.block is None:
        return f"no rule for CPU capability {p.capability}"
    train = bool(args[15]) if len(args) > 15 else bool(kwargs.get("train", False))
    t, mb, slc = int(x.shape[0]), int(x.shape[1]), int(x.shape[2])
    dhc, sic = int(w_hh.shape[1]), int(w_hh.shape[1])
    brgemm = not train and p.capability == "AVX512"
    if brgemm:
        weights = 4 * _up(dhc, 32) * (slc + sic) * F32
    else:
        weights = (slc + sic) * _good_ld(4 * dhc) * F32
    scratchpad, workspace = rnn_sizes(t, mb, slc, sic, dhc, train, brgemm)
    bias = 4 * dhc * F32
    outputs = {}
    if train and len(out) > 3 and out[3].untyped_storage().nbytes() == 0:  # the meta kernel returns it empty
        outputs[3] = workspace
    return Workspace(during=bias + weights + scratchpad, outputs=outputs, what="oneDNN RNN reorders, scratchpad")


def _rnn_layer_backward(p: Planner, args, kwargs, out):
    """aten::mkldnn_rnn_layer_backward(input, w_ih, w_hh, b_ih, b_hh, hx, cx, output, hy, cy, grad_output,
    grad_hy, grad_cy, reverse, mode, hidden_size, num_layers, has_biases, train, ...) -> (dx, dw_ih, dw_hh,
    db_ih, db_hh, dhx, dcx).  mkldnn_rnn_layer_backward (aten/src/ATen/native/mkldnn/RNN.cpp) makes
    grad_output contiguous (a copy when it is not), zeros for an undefined grad_hy / grad_cy, the summed
    bias; then, beside its outputs, ideep reorders both weights for the backward primitive (ldgoi, plain),
    the diff bias (4H floats) and the scratchpad, which has the forward-training layout (rnn_sizes)."""
    import torch

    x, w_hh, grad_out, grad_hy, grad_cy = args[0], args[2], args[10], args[11], args[12]
    if x.dtype != torch.float32:
        return "not float32"
    if p.block is None:
        return f"no rule for CPU capability {p.capability}"
    t, mb, slc = int(x.shape[0]), int(x.shape[1]), int(x.shape[2])
    dhc = int(w_hh.shape[1])
    state = mb * dhc * F32
    copies = 0
    if grad_out is not None and not grad_out.is_contiguous():
        copies += t * mb * dhc * F32
    copies += (grad_hy is None) * state + (grad_cy is None) * state + 4 * dhc * F32
    weights = 4 * dhc * (slc + dhc) * F32
    scratchpad, _ = rnn_sizes(t, mb, slc, dhc, dhc, True, False)
    return Workspace(before=copies, during=copies + weights + 4 * dhc * F32 + scratchpad,
                     what="oneDNN RNN backward reorders, scratchpad")


def _conv_backward(p: Planner, args, kwargs, out):
    """aten::convolution_backward: oneDNN picks its backward-data and backward-weights kernels per shape (on
    AVX-512: jit:avx512_core, brgconv_strided in nhwc for a strided one, jit:avx2 in nChw8c for weights with
    few input channels, per ONEDNN_VERBOSE), each with its own reorders and scratchpad: no rule yet, listed."""
    return "oneDNN backward kernels chosen per shape: no rule yet" if p.mkldnn else None


def _low_precision_matmul(p: Planner, args, kwargs, out):
    """aten::mm / addmm / bmm / baddbmm in bfloat16 or float16: with oneDNN enabled on a CPU that supports it
    (torch.ops.mkldnn._is_mkldnn_bf16_supported: avx512_bf16, AMX, or AVX-512 emulation) PyTorch's cpublas
    gemm hands them to oneDNN's brgemm matmul (ONEDNN_VERBOSE: brg_matmul:avx512_core_bf16), which books a
    scratchpad per call (packed B, an fp32 accumulator, per thread: 24-67 KB for 96 x 16..160 x 16..160 here).
    Its size follows oneDNN's blocking heuristic (brgemm_matmul_utils.cpp) and the thread count: no rule yet,
    listed.  float32 matmuls run MKL's sgemm, whose buffers the allocator does not see."""
    import torch

    if not p.mkldnn:
        return None
    dtypes = {a.dtype for a in args if isinstance(a, torch.Tensor)}
    if torch.bfloat16 in dtypes and torch.ops.mkldnn._is_mkldnn_bf16_supported():
        return "bfloat16: oneDNN brgemm matmul's scratchpad, no rule yet"
    if torch.float16 in dtypes and torch.ops.mkldnn._is_mkldnn_fp16_supported():
        return "float16: oneDNN brgemm matmul's scratchpad, no rule yet"
    return None


RULES = {"aten::convolution": _conv, "aten::convolution_backward": _conv_backward, "aten::mkldnn_rnn_layer": _rnn_layer,
         "aten::mkldnn_rnn_layer_backward": _rnn_layer_backward, "aten::mm": _low_precision_matmul,
         "aten::addmm": _low_precision_matmul, "aten::bmm": _low_precision_matmul,
         "aten::baddbmm": _low_precision_matmul}


def assumption(summary: dict | None) -> str:
    """The profile's line on which kernel workspaces its peaks include."""
    if summary is None or summary["kind"] == "none":
        return ("kernel workspaces not counted (activations_peak_bytes is the tensors' own peak): cuDNN/cuBLAS "
                "workspaces and CPU oneDNN's reorders and scratchpads are not in it (--workspace cpu adds oneDNN's)")
    missing = sum(summary["unmodeled"].values())
    text = (f"kernel workspaces: oneDNN's ({summary['cpu_capability']}) are in the peaks"
            + (f", {missing} call{'s have' if missing > 1 else ' has'} no rule" if missing else "")
            + f" (PyTorch's CPU kernels, oneDNN blocked layout of {summary['block']} floats: convolution "
            "reorders, LSTM reorders, scratchpads and workspaces); cuDNN/cuBLAS workspaces are not")
    if summary.get("tensors_peak_bytes") is not None:
        from mlcost.units import format_bytes

        text += (f"; the forward's tensors of this plan's kernels, without their workspaces, peak at "
                 f"{format_bytes(summary['tensors_peak_bytes'])}"
                 + (" (oneDNN's LSTM keeps other tensors than the device-neutral one: --workspace none)"
                    if "aten::mkldnn_rnn_layer" in summary["ops"] else "")
                 + f", the largest single operator's workspace is {format_bytes(summary['largest_op_workspace_bytes'])}")
    if summary["unmodeled"]:
        text += "; no workspace rule for " + ", ".join(f"{k} x{n}" for k, n in summary["unmodeled"].items())
    return text


# ---- the oneDNN LSTM path, on meta ------------------------------------------------------------------------------

def cpu_lstm_applies(p: Planner | None, args) -> bool:
    """at::native::lstm takes the oneDNN path (aten/src/ATen/native/RNN.cpp use_mkldnn) for a float32 input
    with oneDNN enabled and no projections: lstm(input, hx, params, has_biases, num_layers, dropout, train,
    bidirectional, batch_first), the padded-sequence overload excluded."""
    import torch

    if p is None or p.kind != "cpu" or not p.mkldnn or len(args) != 9:
        return False
    x, hx, params = args[0], args[1], args[2]
    if not isinstance(x, torch.Tensor) or x.dtype != torch.float32 or x.numel() == 0:
        return False
    if not isinstance(hx, (list, tuple)) or len(hx) != 2 or hx[0].shape[-1] != hx[1].shape[-1]:
        return False  # proj_size > 0: h is smaller than c (the native path runs)
    return all(isinstance(w, torch.Tensor) for w in params)


# recurrent layers the CPU runs natively (aten/src/ATen/native/RNN.cpp: the input projection of all steps at
# once on a CPU input, FullLayer), where the same C++ on meta takes the per-step branch.  An LSTM runs that
# native path on meta (native_lstm, below); the others are not planned, and --workspace cpu lists them
NATIVE_RNNS = {"lstm": "aten::lstm", "gru": "aten::gru", "rnn_tanh": "aten::rnn_tanh", "rnn_relu": "aten::rnn_relu"}


def cpu_lstm(x, hx, params, has_biases, num_layers, dropout, train, bidirectional, batch_first):
    """mkldnn_rnn (aten/src/ATen/native/mkldnn/RNN.cpp) step for step on any device: time-major contiguous
    input, one aten::mkldnn_rnn_layer per layer and direction (its meta kernel gives the shapes), the final
    states stacked.  The tensors it allocates are the ones the CPU run allocates."""
    import torch

    aten = torch.ops.aten
    x = (x.transpose(0, 1) if batch_first else x).contiguous()  # held to the end, as mkldnn_rnn's `input`
    layer_input = x
    h0, c0 = hx[0], hx[1]
    dirs = 2 if bidirectional else 1
    per = 4 if has_biases else 2
    hidden = int(h0.shape[-1])
    hys, cys = [], []
    for layer in range(num_layers):
        outs = []
        for d in range(dirs):
            i = layer * dirs + d
            w = params[i * per:(i + 1) * per]
            b_ih = w[2] if has_biases else torch.zeros(w[0].shape, dtype=w[0].dtype, device=w[0].device)
            b_hh = w[3] if has_biases else torch.zeros(w[1].shape, dtype=w[1].dtype, device=w[1].device)
            y, hy, cy, _ws = aten.mkldnn_rnn_layer(layer_input, w[0], w[1], b_ih, b_hh, h0[i], c0[i], d > 0, [],
                                                   2, hidden, num_layers, has_biases, bidirectional, batch_first,
                                                   train)
            outs.append(y)
            hys.append(hy)
            cys.append(cy)
        layer_input = outs[0] if dirs == 1 else torch.cat(outs, -1)
        if dropout and train and layer < num_layers - 1:
            layer_input = torch.nn.functional.dropout(layer_input, dropout, True)
    out = layer_input.transpose(0, 1) if batch_first else layer_input
    return out, torch.stack(hys, 0), torch.stack(cys, 0)


# ---- the native ATen LSTM path, on meta -------------------------------------------------------------------------

def native_lstm_applies(args) -> bool:
    """lstm(input, hx, params, has_biases, num_layers, dropout, train, bidirectional, batch_first) on a meta
    input (the padded-sequence overload, whose second argument is batch_sizes, excluded): at::native::lstm's
    composite runs there with ``inputs.device().is_cpu()`` false, so it takes the per-step branch no real
    kernel takes (see native_lstm)."""
    import torch

    if len(args) != 9:
        return False
    x, hx, params = args[0], args[1], args[2]
    if not isinstance(x, torch.Tensor) or x.device.type != "meta" or x.numel() == 0:
        return False
    return isinstance(hx, (list, tuple)) and len(hx) == 2 and all(isinstance(w, torch.Tensor) for w in params)


def native_lstm(x, hx, params, has_biases, num_layers, dropout, train, bidirectional, batch_first):
    """at::native::lstm (aten/src/ATen/native/RNN.cpp) as it runs on a CPU tensor without oneDNN, op for op:
    _lstm_impl unbinds hx/cx per layer, apply_layer_stack runs FullLayer (FullBidirectionalLayer) per layer
    with dropout between layers, and FullLayer's CPU branch (``inputs.device().is_cpu()``) computes the input
    projection of every time step at once, ``params.linear_ih(inputs)`` (T x B x 4H, held to the layer's end),
    then LSTMCell with pre_compute_input: ``linear_hh(hx).add_(input)``, unsafe_chunk(4), sigmoid_/tanh_,
    ``cy = (f * cx).add_(i * g)``, ``hy = o * cy.tanh()``, matmul_hr for projections; the step outputs are
    stacked.  On a meta input the same C++ takes the other branch (a linear_ih per step, T x B x 4H never
    alive at once).  This is also the shape of cuDNN's LSTM (the input GEMM of all steps first, NVIDIA's
    "Optimizing Recurrent Neural Networks in cuDNN 5"), so it is the device-neutral figure.  Python's
    reference lifetimes here are the C++ scopes' (a local lives to its function's end)."""
    import torch

    aten = torch.ops.aten
    inp = aten.transpose.int(x, 0, 1) if batch_first else x
    has_proj = hx[0].shape[-1] != hx[1].shape[-1]
    per = 2 + 2 * bool(has_biases) + bool(has_proj)
    cells = []
    for i in range(len(params) // per):  # gather_params: (w_ih, w_hh, b_ih, b_hh, w_hr) per layer-direction
        w = params[i * per:(i + 1) * per]
        cells.append((w[0], w[1], w[2] if has_biases else None, w[3] if has_biases else None,
                      w[-1] if has_proj else None))
    layer_hx, layer_cx = aten.unbind.int(hx[0], 0), aten.unbind.int(hx[1], 0)
    hiddens = list(zip(layer_hx, layer_cx))
    del layer_hx, layer_cx
    dirs = 2 if bidirectional else 1
    layer_input = inp
    final = []
    for layer in range(num_layers):  # apply_layer_stack
        if dirs == 1:
            out, hidden = _full_layer(layer_input, hiddens[layer], cells[layer])
            final.append(hidden)
        else:
            out, hidden = _full_bidirectional_layer(layer_input, hiddens[2 * layer:2 * layer + 2],
                                                    cells[2 * layer:2 * layer + 2])
            final.extend(hidden)
        del hidden
        layer_input = out
        del out
        if dropout != 0 and train and layer < num_layers - 1:
            layer_input = aten.dropout(layer_input, dropout, True)
    del hiddens
    hy = aten.stack([h for h, _c in final], 0)
    cy = aten.stack([c for _h, c in final], 0)
    del final
    out = aten.transpose.int(layer_input, 0, 1) if batch_first else layer_input
    return out, hy, cy


def _linear(x, w, b):
    """at::linear (aten/src/ATen/native/Linear.cpp) as the CPU runs it: addmm for a 2-d input with a bias,
    addmm on the folded input for a contiguous one (_flatten_nd_linear), else matmul, whose fold reshapes
    (copies) the input, then the bias added in place.  That last branch is written as the folded addmm: the
    same allocations (the copy, the T x B x 4H output, the copy freed), the bias fused as the FLOP
    convention has it (formulas: linear/addmm biases are not counted).  Not aten::linear itself: under a
    dispatch mode it adds the bias out of place (isTensorSubclassLike is true whenever a mode is on), a
    T x B x 4H copy the real run does not make."""
    import torch

    aten = torch.ops.aten
    if b is not None and x.dim() == 2:
        return aten.addmm(b, x, aten.t(w))
    if b is not None:
        out = aten.addmm(b, aten.reshape(x, [-1, x.shape[-1]]), aten.t(w))
        return aten.view(out, [*x.shape[:-1], out.shape[1]])
    return aten.matmul(x, aten.t(w))


def _lstm_cell(step_input, hidden, cell):
    """LSTMCell::operator() with pre_compute_input (STEP_INPUT is this step's slice of linear_ih)."""
    import torch

    aten = torch.ops.aten
    _w_ih, w_hh, _b_ih, b_hh, w_hr = cell
    hx, cx = hidden
    gates = aten.add_.Tensor(_linear(hx, w_hh, b_hh), step_input)
    ingate, forgetgate, cellgate, outgate = aten.unsafe_chunk(gates, 4, 1)
    ingate = aten.sigmoid_(ingate)
    forgetgate = aten.sigmoid_(forgetgate)
    cellgate = aten.tanh_(cellgate)
    outgate = aten.sigmoid_(outgate)
    cy = aten.add_.Tensor(aten.mul.Tensor(forgetgate, cx), aten.mul.Tensor(ingate, cellgate))
    hy = aten.mul.Tensor(outgate, aten.tanh(cy))
    return (aten.matmul(hy, aten.t(w_hr)) if w_hr is not None else hy), cy


def _steps(step_inputs, hidden, cell):
    """FullLayer's per-step loop: STEP_OUTPUTS keeps each step's h."""
    step_outputs = []
    for step_input in step_inputs:
        hidden = _lstm_cell(step_input, hidden, cell)
        step_outputs.append(hidden[0])
    return step_outputs, hidden


def _full_layer(inputs, hidden, cell):
    """FullLayer::operator()(Tensor) on a CPU tensor: the input projection of all steps, then the steps."""
    import torch

    aten = torch.ops.aten
    inputs_w = _linear(inputs, cell[0], cell[2])
    outputs, final = _steps(aten.unbind.int(inputs_w, 0), hidden, cell)
    return aten.stack(outputs, 0), final


def _full_bidirectional_layer(inputs, hidden, cells):
    """FullBidirectionalLayer::operator() on a CPU tensor: forward direction, then the reversed one; each
    result (its step outputs) lives to the function's end, as fw_result / rev_result do."""
    import torch

    aten = torch.ops.aten
    input_w = _linear(inputs, cells[0][0], cells[0][2])
    step_inputs = aten.unbind.int(input_w, 0)
    fw_outputs, fw_final = _steps(step_inputs, hidden[0], cells[0])
    fw_output = aten.stack(fw_outputs, 0)
    input_w = _linear(inputs, cells[1][0], cells[1][2])
    step_inputs = aten.unbind.int(input_w, 0)
    rev_outputs, rev_final = _steps(step_inputs[::-1], hidden[1], cells[1])
    rev_output = aten.stack(rev_outputs[::-1], 0)
    return aten.cat([fw_output, rev_output], fw_output.dim() - 1), (fw_final, rev_final)
