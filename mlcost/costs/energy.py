"""Energy of a job in kWh, from what the user knows: accelerators and hours, a measured draw, kWh, or FLOPs.

Every result records its assumptions.  Powers are watts, times hours, energies kWh.  The energy
reported is at the facility: IT energy (accelerators + host CPU/DRAM) x PUE.  The low/high range
varies the assumptions the user did not pin down (power fraction, PUE, utilization).
"""
from __future__ import annotations

import math

from mlcost.errors import UsageError
from mlcost.results import EnergyEstimate
from mlcost.units import require_positive

# Average accelerator draw as a fraction of TDP.  Default: the TDP itself.  Patterson et al. 2021
# (arXiv 2104.10350): "V100's TDP is closer to average power due to Turbo mode and DVFS".
DEFAULT_POWER_FRACTION = 1.0
POWER_FRACTION_SOURCE = "Patterson et al. 2021: V100's TDP is closer to average power (reference_facts.md 3)"
# Low end of the range: Strubell et al. 2019 Table 3's whole-job power over the GPUs' TDP is 0.58-0.63
# (P100x8: 1515.43 W / 2400 W; V100x64: 12041.51 W / 19200 W).
LOW_POWER_FRACTION = 0.6

# PUE 1.58: the 2018 global data-centre average (Uptime Institute via Strubell et al. 2019).
DEFAULT_PUE = 1.58
PUE_SOURCE = "2018 global data-centre average (Ascierto 2018, Uptime Institute), as used by Strubell et al. 2019"
LOW_PUE = 1.0  # no facility overhead at all: what a meter on the machine (codecarbon, pue=1.0) counts

# Host CPU + DRAM, an assumption shown to the user: codecarbon 3.3.2's own fallbacks.
HOST_CPU_WATTS_PER_NODE = 85.0  # codecarbon/external/hardware.py POWER_CONSTANT (CPU of unknown TDP)
HOST_DRAM_WATTS_PER_GB = 3.0 / 8  # codecarbon/external/ram.py: 3 W per 8 GB (citing Crucial)
GPUS_PER_NODE = 8
DEFAULT_HOST_RAM_GB_PER_GPU = 80.0  # host RAM assumed equal to GPU memory; 80 GB when the chip's is unknown

# Utilization: one default and range for compute and carbon, defined by mlcost compute (OpenAI "AI and
# Compute": "We typically assume a 33% utilization for GPUs"; range 0.25-0.50).
from mlcost.costs.compute import DEFAULT_UTILIZATION, UTILIZATION_RANGE  # noqa: E402

UTILIZATION_SOURCE = ("OpenAI 'AI and Compute' (2018): 'We typically assume a 33% utilization for GPUs' "
                      "(mlcost compute's default and range)")


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


def host_power_watts(count: int, memory_gb: float | None) -> float:
    """CPU + DRAM of the hosts for COUNT accelerators (one host per 8), watts."""
    nodes = math.ceil(count / GPUS_PER_NODE)
    ram_gb = count * (memory_gb or DEFAULT_HOST_RAM_GB_PER_GPU)
    return nodes * HOST_CPU_WATTS_PER_NODE + ram_gb * HOST_DRAM_WATTS_PER_GB


def host_assumption(count: int, memory_gb: float | None, watts: float) -> str:
    nodes = math.ceil(count / GPUS_PER_NODE)
    ram = count * (memory_gb or DEFAULT_HOST_RAM_GB_PER_GPU)
    return (f"host CPU + DRAM: {watts:g} W = {nodes} host(s) x {HOST_CPU_WATTS_PER_NODE:g} W CPU "
            f"+ {ram:g} GB RAM x 3 W/8 GB (codecarbon's constant CPU power and RAM rule; one host per "
            f"{GPUS_PER_NODE} accelerators, host RAM = accelerator memory)")


def _pue_pair(pue: float | None, assumptions: list[str]) -> tuple[float, float, float]:
    """(point, low, high) PUE; a PUE the user gave is used for all three."""
    if pue is not None:
        check_pue(pue)
        return pue, pue, pue
    assumptions.append(f"PUE {DEFAULT_PUE} ({PUE_SOURCE}); range uses {LOW_PUE}..{DEFAULT_PUE}")
    return DEFAULT_PUE, LOW_PUE, DEFAULT_PUE


def from_gpu_hours(acc, *, count: int, hours: float, power_fraction: float | None = None,
                   pue: float | None = None, method: str = "gpu", extra: tuple[str, ...] = (),
                   flops: float | None = None, utilization: float | None = None, precision: str | None = None,
                   hours_low: float | None = None, hours_high: float | None = None) -> EnergyEstimate:
    """COUNT accelerators ``acc`` (a refdata.Accelerator) for HOURS: TDP x fraction + host, x PUE."""
    if not isinstance(count, int) or isinstance(count, bool) or count < 1:
        raise UsageError(f"--count must be a whole number of at least 1, got {count!r}")
    require_positive(hours, "--hours")
    if acc.tdp_watts is None:
        raise UsageError(f"{acc.name} has no TDP in reference_data/hardware.csv; pass --power-watts instead")
    assumptions = list(extra)
    if power_fraction is None:
        frac, frac_low, frac_high = DEFAULT_POWER_FRACTION, LOW_POWER_FRACTION, DEFAULT_POWER_FRACTION
        assumptions.append(f"accelerator power = TDP {acc.tdp_watts:g} W x {frac:g} ({POWER_FRACTION_SOURCE}); "
                           f"range uses {LOW_POWER_FRACTION:g}..{DEFAULT_POWER_FRACTION:g} of TDP "
                           "(Strubell et al. 2019 Table 3 power / TDP = 0.58-0.63)")
    else:
        frac = frac_low = frac_high = check_fraction(power_fraction, "--power-fraction")
        assumptions.append(f"accelerator power = TDP {acc.tdp_watts:g} W x --power-fraction {frac:g}")
    host = host_power_watts(count, acc.memory_gb)
    assumptions.append(host_assumption(count, acc.memory_gb, host))
    p, p_low, p_high = _pue_pair(pue, assumptions)

    def kwh(fraction: float, h: float, pue_: float) -> float:
        return (count * acc.tdp_watts * fraction + host) * h / 1000 * pue_

    it_kwh = kwh(frac, hours, 1.0)
    return EnergyEstimate(
        method=method,
        energy_kwh=kwh(frac, hours, p),
        energy_low_kwh=kwh(frac_low, hours_low or hours, p_low),
        energy_high_kwh=kwh(frac_high, hours_high or hours, p_high),
        it_energy_kwh=it_kwh,
        pue=p,
        hours=hours,
        gpu=acc.name,
        count=count,
        gpu_power_watts=acc.tdp_watts * frac,
        host_power_watts=host,
        total_power_watts=count * acc.tdp_watts * frac + host,
        gpu_hours=count * hours,
        hours_low=hours_low or hours,
        hours_high=hours_high or hours,
        flops=flops,
        utilization=utilization,
        precision=precision,
        assumptions=tuple(assumptions),
    )


def from_flops(acc, *, flops: float, count: int = 1, utilization: float | None = None,
               precision: str | None = None, power_fraction: float | None = None,
               pue: float | None = None) -> EnergyEstimate:
    """FLOPS of work on COUNT ``acc`` at UTILIZATION of the dense peak -> hours -> energy."""
    require_positive(flops, "--flops")
    if not isinstance(count, int) or isinstance(count, bool) or count < 1:
        raise UsageError(f"--count must be a whole number of at least 1, got {count!r}")
    extra = []
    if utilization is None:
        util = DEFAULT_UTILIZATION
        u_low, u_high = UTILIZATION_RANGE
        extra.append(f"utilization {util:g} of peak ({UTILIZATION_SOURCE}); range {u_low:.3g}..{u_high:.3g}")
    else:
        util = u_low = u_high = check_fraction(utilization, "--utilization")
    peak, prec = acc.peak_flops(precision)
    hours = flops / (count * peak * util) / 3600
    extra.append(f"{flops:.4g} FLOPs on {count} x {acc.name} at {prec} dense peak {peak / 1e12:g} TFLOP/s "
                 f"x {util:g} utilization = {hours:.4g} h")
    return from_gpu_hours(
        acc, count=count, hours=hours, power_fraction=power_fraction, pue=pue, method="flops", extra=tuple(extra),
        flops=flops, utilization=util, precision=prec,
        hours_low=flops / (count * peak * u_high) / 3600, hours_high=flops / (count * peak * u_low) / 3600,
    )


def from_power(*, power_watts: float, hours: float, pue: float | None = None) -> EnergyEstimate:
    """A measured average draw of the whole job (watts) for HOURS."""
    require_positive(power_watts, "--power-watts")
    require_positive(hours, "--hours")
    assumptions = [f"measured average draw {power_watts:g} W for the whole job (accelerators + host)"]
    p, p_low, p_high = _pue_pair(pue, assumptions)
    it = power_watts * hours / 1000
    return EnergyEstimate(method="power", energy_kwh=it * p, energy_low_kwh=it * p_low, energy_high_kwh=it * p_high,
                          it_energy_kwh=it, pue=p, hours=hours, total_power_watts=power_watts,
                          assumptions=tuple(assumptions))


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

STRUBELL_PUE = 1.58
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
        frac = DEFAULT_POWER_FRACTION if power_fraction is None else check_fraction(power_fraction, "--power-fraction")
        gpu_w = acc.tdp_watts * frac
        host = host_power_watts(count, acc.memory_gb)
        total = host + count * gpu_w
        assumptions.append(f"p_g = TDP {acc.tdp_watts:g} W x {frac:g}; g = {count}")
        assumptions.append(host_assumption(count, acc.memory_gb, host).replace("host CPU + DRAM", "p_c + p_r"))
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
