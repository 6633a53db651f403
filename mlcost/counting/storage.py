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
        self.peak = 0

    def reset_peak(self) -> None:
        """Start a new peak from what is alive now."""
        self.sweep()
        self.peak = self.current

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

    def add_outputs(self, inputs, outputs) -> None:
        """Register the storages OUTPUTS hold that no earlier operator created (INPUTS: the op's tensors;
        an in-place op on a storage created outside the run, e.g. a module attribute, allocates nothing)."""
        ins = None
        swept = False
        for t in outputs:
            if not isinstance(t, torch.Tensor):
                continue
            st = t.untyped_storage()
            key = st._cdata
            if key in self.known:
                continue
            entry = self.live.get(key)
            if entry is not None:
                n = st.nbytes()
                if n != entry[0]:  # resized in place (out= ops, resize_)
                    self.current += n - entry[0]
                    entry[0] = n
                    self.peak = max(self.peak, self.current)
                continue
            if ins is None:
                ins = {x.untyped_storage()._cdata for x in inputs if isinstance(x, torch.Tensor)}
            if key in ins:
                continue
            if not swept:  # frees since the last allocation happen before this one: exact peak ordering
                self.sweep()
                swept = True
            n = st.nbytes()
            self.live[key] = [n, st._weak_ref()]
            self.current += n
            self.peak = max(self.peak, self.current)

    def close(self) -> None:
        for _, ref in self.live.values():
            torch.UntypedStorage._free_weak_ref(ref)
        self.live.clear()
