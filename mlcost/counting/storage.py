"""Live bytes by storage lifetime, as the allocator sees them.

A storage's bytes are allocated when an operator first returns a tensor on it, and released when the
last tensor (view or not, Python- or C++-held: a view, ``_unsafe_view``'s result, a tensor autograd
saved, a parameter's ``.grad``) that holds it is gone.  That is exactly when torch's allocator frees the
block, so tracking the storage itself (a weak reference to its StorageImpl), not the tensor object that
happened to create it, gives the allocator's peak op for op.  Composite operators decompose before the
dispatch mode sees them (``reshape`` of an expanded tensor is ``clone`` + ``_unsafe_view``, a 3-D
``F.linear`` is ``mm`` + ``_unsafe_view``); their intermediate tensors die while the storage lives on in
the result, which is why the tensor object's lifetime is the wrong clock.

Units: bytes (``UntypedStorage.nbytes()``, what the allocator is asked for).
"""
from __future__ import annotations

import torch


class StorageTracker:
    """Current and peak bytes of the storages that operators create (``known`` storages excluded)."""

    def __init__(self, known: set[int] | None = None):
        self.known: set[int] = set(known or ())  # params, buffers, inputs: alive before and after, not counted
        self.live: dict[int, list[int]] = {}  # storage id -> [nbytes, weak reference]
        self.current = 0
        self.peak = 0  # kernel workspaces included (kernel, kernel_after)
        self.tensor_peak = 0  # the tensors' own peak: what the device-neutral count holds

    def reset_peak(self) -> None:
        """Start a new peak from what is alive now."""
        self.sweep()
        self.peak = self.tensor_peak = self.current

    def adopt(self, tensors) -> None:
        """Make TENSORS' storages persistent (known): alive before and after what is measured next."""
        for t in tensors:
            key = t.untyped_storage()._cdata
            entry = self.live.pop(key, None)
            if entry is not None:
                self.current -= entry[0]
                torch.UntypedStorage._free_weak_ref(entry[1])
            self.known.add(key)

    def sweep(self) -> None:
        """Release every tracked storage no tensor holds any more."""
        expired = torch.UntypedStorage._expired
        dead = [k for k, (_, ref) in self.live.items() if expired(ref)]
        for k in dead:
            n, ref = self.live.pop(k)
            torch.UntypedStorage._free_weak_ref(ref)
            self.current -= n

    def kernel(self, before: int) -> None:
        """A kernel's private buffers (counting.workspace): BEFORE bytes alive above what lives now, before the
        op's outputs are allocated."""
        if before:
            self.sweep()
            self.peak = max(self.peak, self.current + before)

    def kernel_after(self, during: int) -> None:
        """DURING bytes of private buffers alive together with the op's outputs (just registered)."""
        if during:
            self.peak = max(self.peak, self.current + during)

    def add_outputs(self, inputs, outputs, sizes: dict | None = None) -> None:
        """Register the storages OUTPUTS hold that no earlier operator created (INPUTS: the op's tensors;
        an in-place op on a storage created outside the run, e.g. a module attribute, allocates nothing).
        SIZES: output position -> bytes, for an output the meta kernel returns empty (a kernel workspace)."""
        ins = None
        swept = False
        for pos, t in enumerate(outputs):
            if not isinstance(t, torch.Tensor):
                continue
            st = t.untyped_storage()
            key = st._cdata
            if key in self.known:
                continue
            entry = self.live.get(key)
            if entry is not None:
                n = sizes[pos] if sizes and pos in sizes else st.nbytes()
                if n != entry[0]:  # resized in place (out= ops, resize_)
                    self.current += n - entry[0]
                    entry[0] = n
                    self.peak = max(self.peak, self.current)
                    self.tensor_peak = max(self.tensor_peak, self.current)
                continue
            if ins is None:
                ins = {x.untyped_storage()._cdata for x in inputs if isinstance(x, torch.Tensor)}
            if key in ins:
                continue
            if not swept:  # frees since the last allocation happen before this one: exact peak ordering
                self.sweep()
                swept = True
            n = sizes[pos] if sizes and pos in sizes else st.nbytes()
            self.live[key] = [n, st._weak_ref()]
            self.current += n
            self.peak = max(self.peak, self.current)
            self.tensor_peak = max(self.tensor_peak, self.current)

    def nbytes(self, key: int, default: int) -> int:
        """Bytes tracked for the storage KEY (a kernel workspace sized by its rule), else DEFAULT."""
        entry = self.live.get(key)
        return entry[0] if entry is not None else default

    def close(self) -> None:
        for _, ref in self.live.values():
            torch.UntypedStorage._free_weak_ref(ref)
        self.live.clear()
