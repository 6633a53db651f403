"""Energy of a job in kWh, from what the user knows: accelerators and hours, a measured draw, kWh, or FLOPs.

Every result records its assumptions.  Powers are watts, times hours, energies kWh.  The energy
reported is at the facility: IT energy (accelerators + host CPU/DRAM) x PUE.  Each factor the user
did not pin down (accelerator power, host power, hours through utilization, PUE) has a low, central
and high value; the range multiplies the lows together and the highs together, so it bounds every
combination, and ``EnergyEstimate.factors`` records each one.
"""
from __future__ import annotations

from mlcost.costs.power import Span, accelerator_power, host_per_accelerator
from mlcost.errors import UsageError
from mlcost.results import EnergyEstimate
from mlcost.units import require_positive

UTILIZATION_SOURCE = ("OpenAI 'AI and Compute' (2018): 'We typically assume a 33% utilization for GPUs' "
                      "(mlcost compute's default and range)")
STRUBELL_PUE = 1.58


def check_fraction(value: float, what: str) -> float:
    require_positive(value, what)
    if value > 1:
        raise UsageError(f"{what} must be at most 1 (a fraction), got {value:g}")
    return value


def check_pue(pue: float) -> float:
    require_positive(pue, "--pue")
    if pue < 1:
        raise UsageError(f"--pue must be at least 1.0 (facility energy / IT energy), got {pue:g}")
    return pue


def pue_span(pue: float | None, site_pue=None, assumptions: list[str] | None = None) -> Span:
    """PUE low/central/high: --pue pins it; else the operator's published figure (mlcost.grid.pue)."""
    if pue is not None:
        check_pue(pue)
        return Span(pue, pue, pue, "--pue (given)")
    if site_pue is None:
        from mlcost import grid

        site_pue = grid.pue()
    p = site_pue
    if assumptions is not None:
        who = f"{p.provider}'s fleet" if p.provider else "fallback: operator unknown"
        rng = f"; range {p.low:g}-{p.high:g}" if p.low != p.high else ""
        assumptions.append(f"PUE {p.value:g} ({who}{rng}): {p.source}")
    return Span(p.low, p.value, p.high, p.source)


def _energy(count: int, acc_w: Span, host_w: Span, hours: Span, pue: Span, **kw) -> EnergyEstimate:
    """kWh = count x (accelerator + host W) x hours x PUE / 1000 at each corner (lows together, highs together)."""
    def kwh(a: float, h: float, t: float, p: float) -> float:
        return count * (a + h) * t * p / 1000

    factors = {"accelerator_power_w": acc_w.to_dict(), "host_power_w": host_w.to_dict(), "hours": hours.to_dict(),
               "pue": pue.to_dict()}
    return EnergyEstimate(
        energy_kwh=kwh(acc_w.central, host_w.central, hours.central, pue.central),
        energy_low_kwh=kwh(acc_w.low, host_w.low, hours.low, pue.low),
        energy_high_kwh=kwh(acc_w.high, host_w.high, hours.high, pue.high),
        it_energy_kwh=kwh(acc_w.central, host_w.central, hours.central, 1.0), pue=pue.central,
        hours=hours.central, count=count, gpu_power_watts=acc_w.central, host_power_watts=count * host_w.central,
        total_power_watts=count * (acc_w.central + host_w.central), gpu_hours=count * hours.central,
        hours_low=hours.low, hours_high=hours.high, factors=factors, **kw)


def _count(count: int) -> int:
    if not isinstance(count, int) or isinstance(count, bool) or count < 1:
        raise UsageError(f"--count must be a whole number of at least 1, got {count!r}")
    return count


def from_gpu_hours(acc, *, count: int, hours: float, power_fraction: float | None = None,
                   pue: float | None = None, site_pue=None, method: str = "gpu", extra: tuple[str, ...] = (),
                   flops: float | None = None, utilization: float | None = None, precision: str | None = None,
                   hours_low: float | None = None, hours_high: float | None = None) -> EnergyEstimate:
    """COUNT accelerators ``acc`` (a refdata.Accelerator) for HOURS: (accelerator + host W) x hours x PUE."""
    _count(count)
    require_positive(hours, "--hours")
    if acc.tdp_watts is None:
        raise UsageError(f"{acc.name} has no TDP in reference_data/hardware.csv; pass --power-watts instead")
    if power_fraction is not None:
        check_fraction(power_fraction, "--power-fraction")
    assumptions = list(extra)
    acc_w, host_w, notes = accelerator_power(acc, power_fraction)
    assumptions += notes
    p = pue_span(pue, site_pue, assumptions)
    span = Span(hours_low or hours, hours, hours_high or hours, "given" if hours_low is None else "from --flops")
    return _energy(count, acc_w, host_w, span, p, method=method, gpu=acc.name, flops=flops, utilization=utilization,
                   precision=precision, assumptions=tuple(assumptions))


def from_flops(acc, *, flops: float, count: int = 1, utilization: float | None = None,
               precision: str | None = None, power_fraction: float | None = None,
               pue: float | None = None, site_pue=None) -> EnergyEstimate:
    """FLOPS of work on COUNT ``acc`` at UTILIZATION of the dense peak -> hours -> energy."""
    require_positive(flops, "--flops")
    _count(count)
    # one utilization default and range for compute and carbon, defined by mlcost compute (OpenAI "AI and
    # Compute": "We typically assume a 33% utilization for GPUs"; range 0.25-0.50), and its --precision mixed
    # note; imported here: only --flops needs them
    from mlcost.costs.compute import DEFAULT_UTILIZATION, UTILIZATION_RANGE, mixed_note

    extra = []
    if utilization is None:
        util = DEFAULT_UTILIZATION
        u_low, u_high = UTILIZATION_RANGE
        extra.append(f"utilization {util:g} of peak ({UTILIZATION_SOURCE}); range {u_low:.3g}..{u_high:.3g}")
    else:
        util = u_low = u_high = check_fraction(utilization, "--utilization")
    peak, prec = acc.peak_flops(precision)
    hours = flops / (count * peak * util) / 3600
    # the hours are derived, not given: an error must not name an --hours the user never passed
    require_positive(flops / (count * peak * u_low) / 3600, "the hours --flops takes at the lowest --utilization")
    extra.append(f"{flops:.4g} FLOPs on {count} x {acc.name} at {prec} dense peak {peak / 1e12:g} TFLOP/s "
                 f"x {util:g} utilization = {hours:.4g} h")
    if note := mixed_note(acc, precision):
        extra.append(note)
    return from_gpu_hours(
        acc, count=count, hours=hours, power_fraction=power_fraction, pue=pue, site_pue=site_pue, method="flops",
        extra=tuple(extra), flops=flops, utilization=util, precision=prec,
        hours_low=flops / (count * peak * u_high) / 3600, hours_high=flops / (count * peak * u_low) / 3600,
    )


def from_power(*, power_watts: float, hours: float, pue: float | None = None, site_pue=None) -> EnergyEstimate:
    """A measured average draw of the whole job (watts) for HOURS."""
    require_positive(power_watts, "--power-watts")
    require_positive(hours, "--hours")
    assumptions = [f"measured average draw {power_watts:g} W for the whole job (accelerators + host)"]
    p = pue_span(pue, site_pue, assumptions)
    w = Span(power_watts, power_watts, power_watts, "--power-watts (measured, whole job)")
    zero = Span(0.0, 0.0, 0.0, "included in --power-watts")
    e = _energy(1, w, zero, Span(hours, hours, hours, "given"), p, method="power", assumptions=tuple(assumptions))
    return EnergyEstimate(**{**e.__dict__, "count": None, "gpu_power_watts": None, "host_power_watts": None,
                             "gpu_hours": None})


def from_kwh(*, energy_kwh: float, pue: float | None = None, hours: float | None = None) -> EnergyEstimate:
    """Energy the user already knows.  Taken as facility energy unless --pue is given (then IT energy x PUE)."""
    require_positive(energy_kwh, "--energy-kwh")
    if pue is None:
        assumptions = ("--energy-kwh taken as is (no PUE applied; pass --pue if it was metered at the machine)",)
        p = 1.0
    else:
        p = check_pue(pue)
        assumptions = (f"--energy-kwh metered at the machine, x PUE {p:g}",)
    e = energy_kwh * p
    return EnergyEstimate(method="energy", energy_kwh=e, energy_low_kwh=e, energy_high_kwh=e, it_energy_kwh=energy_kwh,
                          pue=p, hours=hours, assumptions=assumptions)


# --- Strubell et al. 2019: p_t = 1.58 * t * (p_c + p_r + g * p_g) / 1000 kWh ---

STRUBELL_SOURCE = ("Strubell, Ganesh & McCallum 2019 (arXiv 1906.02243): p_t = 1.58 t (p_c + p_r + g p_g) / 1000 kWh; "
                   "CO2e = 0.954 p_t lbs")


def strubell2019(*, hours: float, power_watts: float | None = None, acc=None, count: int = 1,
                 power_fraction: float | None = None) -> EnergyEstimate:
    """The paper's energy: t hours at total draw p_c + p_r + g p_g watts, PUE 1.58 fixed by the method.

    Either POWER_WATTS (the whole job's p_c + p_r + g p_g, as Table 3 prints it) or accelerator ACC x COUNT
    (p_g = TDP x fraction, p_c + p_r = mlcost's host assumption).
    """
    require_positive(hours, "--hours")
    assumptions = [STRUBELL_SOURCE, "PUE 1.58 (2018 global average) fixed by the method"]
    gpu_w = host = None
    if power_watts is not None:
        require_positive(power_watts, "--power-watts")
        total = power_watts
        assumptions.append(f"p_c + p_r + g p_g = {power_watts:g} W (given)")
    elif acc is not None:
        if acc.tdp_watts is None:
            raise UsageError(f"{acc.name} has no TDP in reference_data/hardware.csv; pass --power-watts instead")
        frac = 1.0 if power_fraction is None else check_fraction(power_fraction, "--power-fraction")
        gpu_w = acc.tdp_watts * frac
        host_span = host_per_accelerator()
        host = count * host_span.central
        total = host + count * gpu_w
        assumptions.append(f"p_g = TDP {acc.tdp_watts:g} W x {frac:g}; g = {count}")
        assumptions.append(f"p_c + p_r = {count} x {host_span.central:.3g} W: {host_span.source}")
    else:
        raise UsageError("--method strubell2019 needs --power-watts W or --gpu NAME (with --hours)")
    it = hours * total / 1000
    e = STRUBELL_PUE * it
    # With --power-watts AND --gpu the power is the given one; the accelerator still names and prices the job
    # (Table 3's cloud cost column: accelerator-hours x the hourly rate).
    return EnergyEstimate(method="strubell2019", energy_kwh=e, energy_low_kwh=e, energy_high_kwh=e, it_energy_kwh=it,
                          pue=STRUBELL_PUE, hours=hours, gpu=acc.name if acc is not None else None,
                          count=count if acc is not None else None, gpu_power_watts=gpu_w, host_power_watts=host,
                          total_power_watts=total, gpu_hours=count * hours if acc is not None else None,
                          assumptions=tuple(assumptions))
