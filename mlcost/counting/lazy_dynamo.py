"""Keep a count, or a build on meta, from importing torch._dynamo (about 1 s, a third of a small profile).

torch wraps its Python reference kernels (torch._refs / torch._decomp: the meta kernels of addmm,
batch_norm, ...) in ``torch._disable_dynamo``, whose first call imports torch._dynamo only to mark the
kernel "never compile this" (``torch._dynamo.disable(fn, recursive, wrapping=False)``, cached on the
kernel as ``__dynamo_disable``).  A count never runs under torch.compile, so during ``deferred()`` a
stand-in module answers that one call with the kernel itself, unchanged.  On exit everything is undone:
the cached marks are deleted (the next call outside makes the real ones) and the stand-in leaves
sys.modules.  torch.optim's ``step`` calls ``torch._dynamo.graph_break()`` before and after the update, an
empty function outside torch.compile: the stand-in answers it with nothing too.  Anything else asked of
torch._dynamo meanwhile (a model checking ``is_compiling``, a submodule import) imports the real module and is
answered by it, so no behaviour changes; where torch._dynamo is already imported, nothing is done at all.
"""
from __future__ import annotations

import importlib
import importlib.util
import sys
import threading
import types
from contextlib import contextmanager
from typing import Any, Iterator

_NAME = "torch._dynamo"
_MARK = "__dynamo_disable"  # the attribute torch._compile caches the wrapped kernel under
_lock = threading.Lock()


class _StandIn(types.ModuleType):
    def __init__(self) -> None:
        super().__init__(_NAME)
        self.marked: list[Any] = []
        self.real: Any = None
        # inspect.getmodule reads every module's __file__ (torch.library does, registering an operator): the
        # path, without an import that could land inside another module's half-run import
        spec = importlib.util.find_spec(_NAME)
        if spec is not None and spec.origin:
            self.__file__ = spec.origin

    def disable(self, fn: Any = None, recursive: bool = True, *args: Any, wrapping: bool = True, **kwargs: Any) -> Any:
        if callable(fn) and not wrapping and not args and not kwargs and self.real is None:
            self.marked.append(fn)  # torch._compile's lazy mark: the kernel runs as it is
            return fn
        return self._real().disable(fn, recursive, *args, wrapping=wrapping, **kwargs)

    def graph_break(self, msg: str = "") -> None:
        # torch.optim's step calls it before and after the update; outside torch.compile (which would have
        # imported torch._dynamo) torch's own is an empty function
        if self.real is not None:
            self.real.graph_break(msg)

    def __getattr__(self, name: str) -> Any:
        # __path__: importing a submodule (torch._dynamo.external_utils) needs the real package
        if name.startswith("__") and name not in ("__path__", "__file__"):
            raise AttributeError(name)
        return getattr(self._real(), name)

    def _real(self) -> Any:
        with _lock:
            if self.real is None:
                if sys.modules.get(_NAME) is self:
                    del sys.modules[_NAME]
                self.real = importlib.import_module(_NAME)
        return self.real


@contextmanager
def deferred() -> Iterator[None]:
    """Within this block, torch's reference kernels run without importing torch._dynamo (see above)."""
    torch = sys.modules.get("torch")
    with _lock:
        # torch.__dict__, not hasattr: torch's module __getattr__ would import torch._dynamo to answer
        active = torch is not None and _NAME not in sys.modules and "_dynamo" not in torch.__dict__ \
            and "_disable_dynamo" in torch.__dict__
        stand_in = _StandIn() if active else None
        if stand_in is not None:
            sys.modules[_NAME] = stand_in
    try:
        yield
    finally:
        if stand_in is not None:
            with _lock:
                if sys.modules.get(_NAME) is stand_in:
                    del sys.modules[_NAME]
                if torch.__dict__.get("_dynamo") is stand_in:
                    del torch.__dict__["_dynamo"]
                for fn in stand_in.marked:
                    if fn.__dict__.get(_MARK) is fn:
                        del fn.__dict__[_MARK]
