"""The Llama-2-7B-shaped decoder of tests/models/llama.py through `mlcost profile`, in a subprocess
so its peak memory (RSS) is its own: built on meta, it must stay far below the 27 GB its weights need."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

TESTS = Path(__file__).parent

_RUN = """
import sys
from mlcost.cli import main
sys.argv = ["mlcost", "profile", sys.argv[1], "--format", "json", "--output", sys.argv[2]]
try:
    main()
except SystemExit as exc:
    code = exc.code or 0
else:
    code = 0
# VmHWM, not ru_maxrss: Linux carries the parent's high-water mark across fork+exec into ru_maxrss,
# so under a big pytest process ru_maxrss reports the parent's peak, not this process's.
hwm_kib = next(int(l.split()[1]) for l in open("/proc/self/status") if l.startswith("VmHWM:"))
print(hwm_kib * 1024, file=sys.stderr)
sys.exit(code)
"""


def test_llama_7b_shape_params_attention_and_memory(tmp_path):
    out = tmp_path / "llama.json"
    proc = subprocess.run([sys.executable, "-c", _RUN, f"{TESTS / 'models' / 'llama.py'}:build", str(out)],
                          capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr
    peak_rss = int(proc.stderr.strip().splitlines()[-1])
    d = json.loads(out.read_text())
    # 32000*4096 embed + 32*(4*4096^2 + 3*4096*11008 + 2*4096) + 4096 final norm + 32000*4096 head
    assert d["params"]["total"] == 6_738_415_616
    assert d["memory"]["weights_bytes"] == 6_738_415_616 * 4  # float32
    # Linear MACs for 128 tokens: 128 * (32*(4*4096^2 + 3*4096*11008) + 32000*4096) = 845,705,904,128
    linear = 128 * (32 * (4 * 4096**2 + 3 * 4096 * 11008) + 32000 * 4096)
    # Attention (dense, as stated in conventions): 32 layers * QK^T + AV = 32 * 2 * (1*32*128*128*128)
    attention = 32 * 2 * (1 * 32 * 128 * 128 * 128)
    assert linear == 845_705_904_128 and attention == 4_294_967_296
    assert d["macs"]["forward"] == linear + attention
    assert "attention" in d["conventions"]
    assert sum(o["macs"] for o in d["by_operator"]) == d["macs"]["forward"]
    assert peak_rss < 2 * 1024**3, f"peak RSS {peak_rss / 2**20:.0f} MiB"
