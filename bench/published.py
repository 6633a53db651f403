"""mlcost carbon against published training runs (figures, not pass/fail): `python bench/published.py`.

Every row of reference_data/published_runs.csv (Patterson et al. 2021 Table 4, BLOOM, OPT-175B, the Llama 2 /
Llama 3 / 3.1 / 3.2 model cards, Strubell et al. 2019 Table 3) is estimated twice:

1. **paper inputs**: the source's own power per accelerator, time, PUE and grid intensity (or, where the source
   gives no intensity, the one its own figures imply; marked `*`).  Reproduces the published value: ratio 1.00.
2. **user inputs**: only what a user would know: hardware, count, time (or accelerator-hours), region and the
   operator, so the operator's published PUE applies.  mlcost's own power model, host share and grid data do the rest.

For each: the ratio of mlcost's central CO2e (and energy, where published) to the published figure, the range as
ratios, and whether the published value lies inside the range.  Target: central within 20% and the published value
inside the range for every row that gives hardware and time.

    python bench/published.py               # table
    python bench/published.py --markdown    # the README table
    python bench/published.py --json
"""
from __future__ import annotations

import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from mlcost.costs import carbon as cb  # noqa: E402
from mlcost.refdata import read_csv  # noqa: E402


def _f(row: dict, key: str) -> float | None:
    v = (row.get(key) or "").strip()
    return float(v) if v else None


def _hours(row: dict) -> tuple[int, float | None, float | None]:
    """(count, wall seconds, accelerator-hours) as the row gives them."""
    count = int(_f(row, "count") or 1)
    days, gpu_h = _f(row, "days"), _f(row, "gpu_hours")
    return count, days * 86400 if days is not None else None, gpu_h


def paper_run(row: dict):
    """The source's own inputs: power per accelerator x accelerators x time x PUE x intensity."""
    count, seconds, gpu_h = _hours(row)
    w, pue = _f(row, "paper_power_w"), _f(row, "paper_pue")
    g = _f(row, "paper_g_per_kwh")
    if seconds is None and gpu_h is None:  # no time: the source's energy itself
        kwh = _f(row, "published_mwh") * 1000
        return cb.estimate(energy_kwh=kwh, intensity_g_per_kwh=g)
    if gpu_h is not None:
        watts, seconds = w, gpu_h * 3600  # one accelerator for all the accelerator-hours: the same energy
    else:
        watts = w * count
    if g is None:  # implied by the source's own figures: t CO2e / (kWh of its inputs)
        kwh = watts * seconds / 3600 / 1000 * pue
        g = _f(row, "published_tco2e") * 1e6 / kwh
    return cb.estimate(power_watts=watts, seconds=seconds, pue=pue, intensity_g_per_kwh=g)


def user_run(row: dict):
    """What a user knows: hardware, count, time or accelerator-hours (else FLOPs), region, operator."""
    count, seconds, gpu_h = _hours(row)
    kw = dict(gpu=row["hardware"], count=count, region=row["region"] or None, provider=row["provider"] or None)
    if seconds is not None:
        return cb.estimate(seconds=seconds, **kw)
    if gpu_h is not None:
        return cb.estimate(gpu_hours=gpu_h, **kw)
    return cb.estimate(flops=_f(row, "flops"), utilization=_f(row, "utilization"), **kw)


def compare(row: dict) -> dict:
    t_pub, mwh_pub = _f(row, "published_tco2e"), _f(row, "published_mwh")
    paper, user = paper_run(row), user_run(row)
    out = {"name": row["name"], "published_tco2e": t_pub, "published_mwh": mwh_pub,
           "implied_intensity": row.get("implied") == "yes", "has_time": bool(row["days"] or row["gpu_hours"]),
           "paper_co2e_ratio": paper.co2e_kg / 1000 / t_pub,
           "user_co2e_ratio": user.co2e_kg / 1000 / t_pub,
           "user_co2e_range": [user.co2e_low_kg / 1000 / t_pub, user.co2e_high_kg / 1000 / t_pub],
           "user_intensity_g_per_kwh": user.intensity["value_g_per_kwh"], "user_pue": user.energy.pue}
    out["co2e_inside"] = user.co2e_low_kg / 1000 <= t_pub <= user.co2e_high_kg / 1000
    if mwh_pub:
        e = user.energy
        out.update(paper_energy_ratio=paper.energy.energy_kwh / 1000 / mwh_pub,
                   user_energy_ratio=e.energy_kwh / 1000 / mwh_pub,
                   user_energy_range=[e.energy_low_kwh / 1000 / mwh_pub, e.energy_high_kwh / 1000 / mwh_pub],
                   energy_inside=e.energy_low_kwh / 1000 <= mwh_pub <= e.energy_high_kwh / 1000)
    out["on_target"] = abs(out["user_co2e_ratio"] - 1) <= 0.2 and out["co2e_inside"]
    return out


def _table(rows: list[dict], markdown: bool) -> str:
    head = ["run", "published", "paper", "user", "user range", "in", "energy user", "e-range", "in"]
    body = []
    for r in rows:
        e = r.get("user_energy_ratio")
        body.append([
            r["name"], f"{r['published_tco2e']:g} t", f"{r['paper_co2e_ratio']:.2f}" + ("*" if r["implied_intensity"] else ""),
            f"{r['user_co2e_ratio']:.2f}", "{:.2f}-{:.2f}".format(*r["user_co2e_range"]), "yes" if r["co2e_inside"] else "NO",
            "—" if e is None else f"{e:.2f}",
            "—" if e is None else "{:.2f}-{:.2f}".format(*r["user_energy_range"]),
            "—" if e is None else ("yes" if r["energy_inside"] else "NO"),
        ])
    if markdown:
        lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
        lines += ["| " + " | ".join(b) + " |" for b in body]
    else:
        widths = [max(len(x[i]) for x in [head, *body]) for i in range(len(head))]
        lines = ["  ".join(v.ljust(w) for v, w in zip(x, widths)).rstrip() for x in [head, *body]]
    timed = [r for r in rows if r["has_time"]]
    ok = sum(r["on_target"] for r in timed)
    lines += ["", f"CO2e ratios are mlcost / published; * = intensity implied by the source's own figures. "
                  f"On target (central within 20%, published inside the range): {ok} of {len(timed)} rows that give "
                  f"hardware and time."]
    return "\n".join(lines) + "\n"


def main(argv: list[str]) -> int:
    rows = [compare(r) for r in read_csv("published_runs")]
    if "--json" in argv:
        print(json.dumps(rows, indent=2))
    else:
        sys.stdout.write(_table(rows, "--markdown" in argv))
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
