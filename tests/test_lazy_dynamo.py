"""A count on meta does not import torch._dynamo (torch's reference kernels only need it to mark
themselves "never compile", torch.optim for an empty graph_break), gives results identical to a run with
the real module, leaves no trace, and anything else asked of torch._dynamo meanwhile is answered by the real
module."""
from __future__ import annotations

import subprocess
import sys
import textwrap

MODEL = '''
import sys, torch
from mlcost.counting import count_module

with torch.device("meta"):
    m = torch.nn.Sequential(torch.nn.Conv2d(3, 4, 3), torch.nn.BatchNorm2d(4), torch.nn.ReLU(),
                            torch.nn.Flatten(), torch.nn.Linear(144, 2))
x = torch.empty(1, 3, 8, 8, device="meta")
'''

SCRIPT = MODEL + textwrap.dedent('''
    deferred = count_module(m, (x,)).to_dict()
    assert "torch._dynamo" not in sys.modules and "_dynamo" not in torch.__dict__, "torch._dynamo was imported"
    # the kernels' marks were undone: the same kernel called outside a count takes torch's own path
    torch.nn.functional.linear(torch.empty(2, 4, device="meta"), torch.empty(3, 4, device="meta"),
                               torch.empty(3, device="meta"))
    assert type(sys.modules["torch._dynamo"]).__name__ == "module", "the real torch._dynamo answers outside"
    assert count_module(m, (x,)).to_dict() == deferred, "a count without torch._dynamo differs from one with it"
    print("ok")
''')

# a training step runs torch.optim, whose step() calls torch._dynamo.graph_break() before and after the update
# (an empty function outside torch.compile): answered too, so no optimizer imports torch._dynamo
TRAINING = MODEL + textwrap.dedent('''
    steps = {}
    for opt in ("sgd", "adam", "adamw"):
        steps[opt] = count_module(m, (x,), training=True, optimizer=opt).to_dict()
        assert "torch._dynamo" not in sys.modules and "_dynamo" not in torch.__dict__, f"{opt} imported torch._dynamo"
    import torch._dynamo
    for opt, first in steps.items():
        assert count_module(m, (x,), training=True, optimizer=opt).to_dict() == first, opt
    print("ok")
''')

FALLBACK = textwrap.dedent('''
    import sys, torch
    from mlcost.counting import lazy_dynamo

    with lazy_dynamo.deferred():
        import torch._dynamo
        assert torch._dynamo.is_compiling() is False  # anything but the lazy mark: the real module answers
    assert type(sys.modules["torch._dynamo"]).__name__ == "module"
    with lazy_dynamo.deferred():  # already imported: nothing stands in
        assert type(sys.modules["torch._dynamo"]).__name__ == "module"
    print("ok")
''')


SUBMODULE = textwrap.dedent('''
    import sys, torch
    from mlcost.counting import lazy_dynamo

    with lazy_dynamo.deferred():  # a submodule import needs the real package: it is imported
        import torch._dynamo.external_utils
        assert torch._dynamo.external_utils.is_compiling() is False
    assert sys.modules["torch._dynamo"] is torch.__dict__["_dynamo"]
    assert type(sys.modules["torch._dynamo"]).__name__ == "module"
    print("ok")
''')


# a look-up by file scans every module's __file__ (inspect.getmodule; torch.library does it registering an
# operator): the stand-in gives torch._dynamo's path without importing it, which inside another module's
# half-run import (transformers' torch.distributed) failed on a circular import
GETMODULE = textwrap.dedent('''
    import inspect, sys, torch
    from mlcost.counting import lazy_dynamo

    with lazy_dynamo.deferred():
        assert inspect.getmodule(compile("0", "<no file>", "eval"), "/no/such/file.py") is None
        assert type(sys.modules["torch._dynamo"]).__name__ == "_StandIn", "torch._dynamo was imported"
        assert sys.modules["torch._dynamo"].__file__.endswith("_dynamo/__init__.py")
    print("ok")
''')


def _run(code: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=600)


def test_meta_count_without_dynamo_is_identical_and_leaves_no_trace():
    for script in (SCRIPT, TRAINING):
        r = _run(script)
        assert r.returncode == 0 and r.stdout.strip() == "ok", r.stderr[-2000:]


def test_other_uses_of_dynamo_get_the_real_module():
    for script in (FALLBACK, SUBMODULE, GETMODULE):
        r = _run(script)
        assert r.returncode == 0 and r.stdout.strip() == "ok", r.stderr[-2000:]
