"""Keep a count from importing sympy (about a quarter of ``import torch``).

torch's Python meta kernels (torch._refs, torch._prims_common, torch._meta_registrations: what a meta tensor
runs for addmm, convolution, batch norm, ...) import sympy on their first call, for what a count of
concrete shapes never needs:

- ``torch._prims_common.elementwise_dtypes`` runs ``import sympy`` to ask ``isinstance(x, sympy.Basic)`` of
  each argument (a symbolic expression among the operands);
- ``torch._check`` and the shape helpers import ``torch.fx.experimental.symbolic_shapes`` (which imports sympy
  at its top) for ``expect_true``, ``guard_or_false``, ``sym_eq`` ... whose answer for a plain ``bool`` or
  ``int`` is that value, or the plain ``and``/``or``/``==`` of the values (their code: ``if not
  isinstance(a, SymBool): ... return a``), ``free_unbacked_symbols`` of a tensor whose sizes and strides are ints
  is empty; ``is_contiguous`` imports the deprecated ``guard_size_oblivious``
  and never calls it;
- ``_is_non_overlapping_and_dense_or_false`` (a dtype conversion's meta kernel) imports ``Max`` from
  ``torch.utils._sympy.functions`` and never uses it.

Within ``deferred()`` the three modules are created from their import specs but their code is not run, as
``importlib.util.LazyLoader`` does: the module object is the one the real import would make, and any attribute
asked of it that is not answered below runs the real module's code in that same object (so whoever holds it
holds the real module, and a later ``import sympy`` finds it already run).  Answered without running:

- sympy's ``Basic``, to ``elementwise_dtypes`` alone (its code object is checked): a class of which nothing is
  an instance, which is exact while sympy has not run (no sympy object can exist); ``Max`` and
  ``guard_size_oblivious``, to the one function each that imports it, while its bytecode never reads the name;
- the symbolic_shapes helpers in ``_ANSWERS``, for arguments whose type is exactly ``bool`` or ``int``
  (``sym_eq``: tuples and lists of them; ``free_unbacked_symbols``: a strided tensor with int sizes, strides
  and offset); any other argument (a SymBool, a float) goes to the real function.

On exit a module whose code never ran leaves sys.modules.  Where torch is not imported, or any of the three
already is, nothing is done.  ``tests/test_lazy_sympy.py`` checks each answer against torch's
own function and that every test model counts the same with the real modules.
"""
from __future__ import annotations

import functools
import importlib.util
import operator
import sys
import threading
import types
from contextlib import contextmanager
from typing import Any, Iterator

SYMPY = "sympy"
SYMBOLIC = "torch.fx.experimental.symbolic_shapes"
FUNCTIONS = "torch.utils._sympy.functions"  # sympy functions of torch's (Max, FloorDiv, ...)
DEFERRED = (SYMPY, SYMBOLIC, FUNCTIONS)
_lock = threading.RLock()


class _Deferred(types.ModuleType):
    """A module created from its spec whose code has not run (see the module docstring)."""

    def __getattr__(self, name: str) -> Any:
        if name == "__path__" and self.__spec__.submodule_search_locations is None:
            raise AttributeError(name)  # a module, not a package (every `from X import y` asks)
        answer = _FOR_CALLER.get((self.__name__, name))
        if answer is not None and _asked_by(sys._getframe(1).f_code, name, *answer[:3]):
            return answer[3]
        return getattr(_run(self), name)


class _NoSympyObject:
    """sympy.Basic while sympy has not run: nothing is an instance of it, as nothing is of the real one."""


class _Unused:
    """A name a function imports and never reads."""


# (module, name) -> (caller's module, caller's name, what it does with the name, the answer): answered to that
# function alone (its code object), while the module has not run
_FOR_CALLER = {
    (SYMPY, "Basic"): ("torch._prims_common", "elementwise_dtypes", "isinstance", _NoSympyObject),
    (FUNCTIONS, "Max"): ("torch._prims_common", "_is_non_overlapping_and_dense_or_false", "unused", _Unused),
    # deprecated: torch's own warns on every call, so it is handed only to where it is imported and never called
    (SYMBOLIC, "guard_size_oblivious"): ("torch._prims_common", "is_contiguous", "unused", _Unused),
}
_checked: dict[tuple[Any, str], bool] = {}


def _asked_by(code: Any, name: str, module: str, function: str, use: str) -> bool:
    fn = getattr(sys.modules.get(module), function, None)
    if code is not getattr(fn, "__code__", None):
        return False
    if use == "unused":  # checked on torch's code: the name is stored, never loaded (nor captured by a closure)
        key = (code, name)
        if key not in _checked:
            import dis

            _checked[key] = name not in code.co_cellvars and not any(
                i.opname.startswith("LOAD") and i.argval == name for i in dis.get_instructions(code))
        return _checked[key]
    return True


def _run(module: _Deferred) -> types.ModuleType:
    """Run MODULE's real code in MODULE itself (the import system's steps, as importlib.util.LazyLoader does)
    and return it; where another module object took its name meanwhile, return that one."""
    with _lock:
        if type(module) is not _Deferred:
            return module
        name = module.__name__
        present = sys.modules.get(name)
        if present is not None and present is not module:  # retired, and the name imported since: forward
            return present
        spec = module.__spec__
        for key in _ANSWERS if name == SYMBOLIC else ():
            module.__dict__.pop(key, None)
        module.__class__ = types.ModuleType
        if spec.submodule_search_locations is not None:
            module.__path__ = spec.submodule_search_locations
        sys.modules[name] = module
        spec._initializing = True
        try:
            spec.loader.exec_module(module)
        except BaseException:
            if sys.modules.get(name) is module:
                del sys.modules[name]
            raise
        finally:
            spec._initializing = False
        parent, _, child = name.rpartition(".")
        if parent and parent in sys.modules:
            setattr(sys.modules[parent], child, module)
        return sys.modules.get(name, module)


def _real(name: str) -> Any:
    module = sys.modules.get(SYMBOLIC)
    module = _run(module) if type(module) is _Deferred else importlib.import_module(SYMBOLIC)
    return getattr(module, name)


def _plain(x: Any) -> bool:
    return type(x) is bool or type(x) is int


def _plain_seq(x: Any) -> bool:
    return _plain(x) or (isinstance(x, (tuple, list)) and all(_plain_seq(v) for v in x))  # torch.Size too


# torch.fx.experimental.symbolic_shapes' own code for plain values, name for name (its signatures)
def expect_true(a: Any, skip: int = 0) -> Any:
    return a if type(a) is bool else _real("expect_true")(a, skip + 1)  # +1: this frame


def guard_or_false(a: Any) -> Any:
    return a if type(a) is bool else _real("guard_or_false")(a)


def guard_or_true(a: Any) -> Any:
    return a if type(a) is bool else _real("guard_or_true")(a)


def statically_known_true(x: Any) -> Any:
    return x if type(x) is bool else _real("statically_known_true")(x)


def guarding_hint_or_throw(a: Any) -> Any:
    return a if _plain(a) else _real("guarding_hint_or_throw")(a)


def has_guarding_hint(a: Any) -> Any:
    return True if _plain(a) else _real("has_guarding_hint")(a)


def is_nested_int(s: Any) -> Any:
    return False if _plain(s) else _real("is_nested_int")(s)


def _fold(name: str, op: Any) -> Any:
    def fold(x: Any, *others: Any) -> Any:  # sym_and / sym_or: torch's loop, for bools
        if not all(type(v) is bool for v in (x, *others)):
            return _real(name)(x, *others)
        for y in others:
            x = op(x, y)
        return x

    fold.__name__ = fold.__qualname__ = name
    return fold


sym_and = _fold("sym_and", operator.and_)
sym_or = _fold("sym_or", operator.or_)


def sym_eq(x: Any, y: Any) -> Any:
    if not (_plain_seq(x) and _plain_seq(y)):
        return _real("sym_eq")(x, y)
    if isinstance(x, (tuple, list)) and isinstance(y, (tuple, list)):
        if len(x) != len(y):
            return False
        return functools.reduce(operator.and_, map(sym_eq, x, y), True)
    if _plain(x) and _plain(y):
        return x == y
    return _real("sym_eq")(x, y)  # a number against a sequence: torch's own error


def free_unbacked_symbols(x: Any) -> Any:
    # a strided tensor's symbols are those of its sizes, strides and storage offset: none where all are ints
    torch = sys.modules["torch"]
    if isinstance(x, torch.Tensor) and x.layout == torch.strided and \
            all(type(v) is int for v in (*x.size(), *x.stride(), x.storage_offset())):
        from torch.utils._ordered_set import OrderedSet

        return OrderedSet()
    return _real("free_unbacked_symbols")(x)


_ANSWERS = {f.__name__: f for f in (expect_true, guard_or_false, guard_or_true, statically_known_true,
                                     guarding_hint_or_throw, has_guarding_hint, is_nested_int, sym_and, sym_or,
                                     sym_eq, free_unbacked_symbols)}


def _defer(name: str) -> _Deferred | None:
    spec = importlib.util.find_spec(name)
    if spec is None or spec.loader is None or not hasattr(spec.loader, "exec_module"):
        return None
    if (spec.submodule_search_locations is None) != (name != SYMPY):  # sympy a package, the others not
        return None
    module = importlib.util.module_from_spec(spec)  # what the import system makes before running the code
    module.__dict__.pop("__path__", None)  # a submodule's import asks for it: the package runs first, as it would
    module.__class__ = _Deferred
    if name == SYMBOLIC:
        module.__dict__.update(_ANSWERS)
    sys.modules[name] = module
    return module


@contextmanager
def deferred() -> Iterator[None]:
    """Within this block, torch's meta kernels run without importing sympy (see above)."""
    made: list[_Deferred] = []
    with _lock:
        parents = ("torch", "torch._prims_common", "torch.fx.experimental", "torch.utils")
        if all(p in sys.modules for p in parents) and not any(n in sys.modules for n in DEFERRED):
            for name in DEFERRED:
                module = _defer(name)
                if module is None:
                    break
                made.append(module)
            if len(made) < len(DEFERRED):  # all or none
                _retire(made)
                made = []
    try:
        yield
    finally:
        with _lock:
            _retire(made)


def _retire(modules: list[_Deferred]) -> None:
    for module in modules:
        if type(module) is not _Deferred:  # its code ran: it is the real module now, and stays
            continue
        name = module.__name__
        if sys.modules.get(name) is module:
            del sys.modules[name]
        parent, _, child = name.rpartition(".")
        if parent in sys.modules and sys.modules[parent].__dict__.get(child) is module:
            delattr(sys.modules[parent], child)
