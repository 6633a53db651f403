"""A count on meta imports neither sympy nor torch._dynamo (see mlcost/counting/lazy_sympy.py and
lazy_dynamo.py), counts every test model exactly as with the real modules, and anything else asked of the
deferred modules runs the real ones, in the same module objects."""
from __future__ import annotations

import inspect
import itertools
import subprocess
import sys
import textwrap
import warnings
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

# every model of tests/models and examples/, inference and a training step (optimizers and precisions on the
# small ones), built and counted under the deferral, then again with sympy, symbolic_shapes and torch._dynamo
# imported (a count compares the whole profile: totals, module and operator rows, memory, bytes)
IDENTICAL = textwrap.dedent('''
    import sys, torch
    from mlcost.counting import count_module, deferred_imports, lazy_sympy
    from tests.models import gpt2, llama, resnet, tiny
    from examples import cnn, transformer

    BUILDS = {
        "tiny": tiny.build, "convnet": tiny.build_convnet, "matmul": tiny.build_matmul, "sdpa": tiny.build_sdpa,
        "norms": tiny.build_norms, "unsupported": tiny.build_unsupported,
        "dict_kwargs": lambda: (*tiny.build_dict_kwargs(), {"scale": torch.ones(16)}),
        "resnet50": lambda: resnet.build_with_inputs(size=64), "llama": llama.build_small, "gpt2": gpt2.build_small,
        "cnn": lambda: (cnn.build(), (torch.zeros(1, 3, 224, 224),)),
        "transformer": lambda: transformer.build(n_layers=1, seq_len=16),
    }
    STEPS = [dict(training=True, optimizer=o, precision=p) for o in ("sgd", "adam", "adamw")
             for p in ("fp32", "bf16", "mixed", "amp")]

    def counts():
        out = {}
        for name, build in BUILDS.items():
            with torch.device("meta"), deferred_imports():  # as the CLI builds (nn.init runs meta kernels)
                m, args, *kwargs = build()
            trains = any(p.requires_grad for p in m.parameters())
            steps = STEPS if name in ("tiny", "convnet", "norms") else [STEPS[4]] if name == "unsupported" \
                else [STEPS[4], STEPS[6]]  # every step; adam fp32 (an FFT has no bf16); adam fp32 and mixed
            runs = [{}] + (steps if trains else [])
            for opts in runs:
                key = (name, *sorted(opts.items()))
                out[key] = count_module(m, args, *kwargs, **opts).to_dict()
        return out

    deferred = counts()
    loaded = [n for n in (*lazy_sympy.DEFERRED, "torch._dynamo") if n in sys.modules]
    assert not loaded, f"imported during the counts: {loaded}"
    import sympy, torch._dynamo, torch.fx.experimental.symbolic_shapes, torch.utils._sympy.functions
    real = counts()
    assert real.keys() == deferred.keys()
    differ = [k for k in real if real[k] != deferred[k]]
    assert not differ, f"counts differ with the real modules: {differ}"
    print("ok", len(real))
''')

# anything not answered runs the real module in place: the object imported in the block is the real module
IN_PLACE = textwrap.dedent('''
    import sys, torch
    from mlcost.counting import lazy_sympy as L

    with L.deferred():
        import sympy
        assert type(sympy) is L._Deferred and sys.modules["sympy"] is sympy
        basic = sympy.Basic  # asked by someone else than elementwise_dtypes: sympy's own class
        assert type(sympy) is type(sys) and sys.modules["sympy"] is sympy and basic.__module__ == "sympy.core.basic"
        assert isinstance(sympy.Integer(3), basic) and sympy.__version__
        from torch.fx.experimental.symbolic_shapes import ShapeEnv, guard_or_false  # ShapeEnv is not answered
        import torch.fx.experimental.symbolic_shapes as ss
        assert type(ss) is type(sys) and ss.ShapeEnv is ShapeEnv and torch.fx.experimental.symbolic_shapes is ss
        assert guard_or_false is not L.guard_or_false and guard_or_false.__module__ == L.SYMBOLIC
    assert sys.modules["sympy"] is sympy and sys.modules[L.SYMBOLIC] is ss  # they ran: they stay
    print("ok")
''')

# a module never run leaves; one bound in the block and used after it runs then.  NOT_PLAIN: an argument that is
# not exactly a bool goes to torch's own function (which runs symbolic_shapes, and so sympy, for it)
RETIRED = textwrap.dedent('''
    import sys, torch
    from mlcost.counting import lazy_sympy as L

    with L.deferred():
        from torch.fx.experimental.symbolic_shapes import guard_or_false, sym_eq
        assert guard_or_false(True) is True and sym_eq((2, 3), [2, 3]) is True
        import sympy as held
    assert not [n for n in L.DEFERRED if n in sys.modules]
    assert "symbolic_shapes" not in vars(torch.fx.experimental) and "functions" not in vars(torch.utils._sympy)
    assert held.Integer(2) == 2 and sys.modules["sympy"] is held and type(held) is type(sys)

    with L.deferred():  # sympy is imported: nothing stands in
        assert L.SYMBOLIC not in sys.modules
    print("ok")
''')

NOT_PLAIN = textwrap.dedent('''
    import sys, torch
    from mlcost.counting import lazy_sympy as L

    with L.deferred():
        from torch.fx.experimental.symbolic_shapes import guard_or_false
        try:
            guard_or_false(1.0)
            raise SystemExit("no error")
        except AssertionError as exc:  # torch's own error, from torch's own function
            assert str(exc) == "Expected bool, got <class 'float'>", exc
        assert all(type(sys.modules[n]) is type(sys) for n in L.DEFERRED)
    print("ok")
''')


# a submodule's import asks the package for __path__: the package runs first, as a real import runs it
SUBMODULE = textwrap.dedent('''
    import sys, torch
    from mlcost.counting import lazy_sympy as L

    with L.deferred():
        import sympy.core.numbers as numbers
        assert type(sys.modules["sympy"]) is type(sys) and numbers.Integer(3) == 3
    print("ok")
''')


def _run(code: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=900, cwd=ROOT)


def test_counts_without_sympy_are_identical_to_counts_with_it():
    r = _run(IDENTICAL)
    assert r.returncode == 0 and r.stdout.startswith("ok"), r.stderr[-3000:]


def test_anything_else_runs_the_real_modules_in_place():
    for code in (IN_PLACE, RETIRED, NOT_PLAIN, SUBMODULE):
        r = _run(code)
        assert r.returncode == 0 and r.stdout.strip() == "ok", r.stderr[-3000:]


def _outcome(fn, *args):
    with warnings.catch_warnings(record=True) as warned:
        warnings.simplefilter("always")
        try:
            r = fn(*args)
        except Exception as exc:
            return "raises", type(exc), str(exc), [str(w.message) for w in warned]
    return "returns", type(r), r, [str(w.message) for w in warned]


def _same(a, b) -> bool:
    return _key(a) == _key(b)


def _key(v):  # a tensor (sym_and(True, t) is True & t) compares by what it is
    import torch

    if isinstance(v, (tuple, list)) and not isinstance(v, torch.Size):
        return type(v), tuple(_key(x) for x in v)
    if isinstance(v, torch.Tensor):
        dense = v.layout == torch.strided and not v.is_meta
        return type(v), v.shape, v.dtype, v.layout, v.device, v.tolist() if dense else None
    return v


def test_each_answer_is_torchs_own_on_every_kind_of_argument():
    import torch.fx.experimental.symbolic_shapes as real

    from mlcost.counting import lazy_sympy

    import torch

    values = [True, False, 0, 1, 7, -2, 1.0, None, "x", (), [], (1, 2), [1, 2], (True, 3), ((1, 2), [3]), (1, 2.0),
              torch.Size([2, 3]), torch.empty(2, 3, device="meta"), torch.zeros(0), torch.zeros(4, 6)[:, ::2].t(),
              torch.eye(3).to_sparse()]
    for name, ours in lazy_sympy._ANSWERS.items():
        theirs = getattr(real, name)
        # torch's own is a plain function of symbolic_shapes (a wrapper, a deprecation say, runs code ours does not)
        assert not hasattr(theirs, "__wrapped__") and theirs.__code__.co_filename == real.__file__, name
        assert list(inspect.signature(ours).parameters) == list(inspect.signature(theirs).parameters), name
        arities = (1, 2, 3) if name in ("sym_and", "sym_or") else (2,) if name == "sym_eq" else (1,)
        for n in arities:
            for args in itertools.product(values, repeat=n):
                assert _same(_outcome(ours, *args), _outcome(theirs, *args)), (name, args)
    assert lazy_sympy.expect_true(True, 3) is True


def test_a_caller_answer_needs_torchs_code_and_an_unread_name():
    import types

    import torch._prims_common as pc

    from mlcost.counting import lazy_sympy

    for (module, name), (_, caller, use, _) in lazy_sympy._FOR_CALLER.items():
        fn = getattr(pc, caller)
        assert lazy_sympy._asked_by(fn.__code__, name, "torch._prims_common", caller, use), (module, name)
    fn = pc._is_non_overlapping_and_dense_or_false
    fake = types.ModuleType("mlcost_test_fake")
    exec("def reads():\n    from x import Max\n    return Max\n"
         "def closes():\n    from x import Max\n    return lambda: Max\n", fake.__dict__)
    sys.modules[fake.__name__] = fake
    try:
        for f in (fake.reads, fake.closes):
            assert not lazy_sympy._asked_by(f.__code__, "Max", fake.__name__, f.__name__, "unused")
        assert not lazy_sympy._asked_by(fake.reads.__code__, "Max", "torch._prims_common", fn.__name__, "unused")
    finally:
        del sys.modules[fake.__name__]
