"""RothC as FLINT.example computes it (Source/moja.flint.example.rothc/src/*.cpp), as small pure functions.

Each function mirrors one piece of PlantResidueModule, SoilCoverModule or RothCModule, with the same
operations in the same order so the floating-point results are FLINT's. FLINT's quirks that change
numbers are kept and marked "FLINT:" below:

- FLINT: the moisture rate modifier b uses maxTSMDCvrd in the numerator and maxTSMDBare in the
  denominator whatever the soil cover (textbook RothC uses the cover's own maximum deficit).
- FLINT: the deficit is updated *before* b is computed, from last step's deficit and this step's
  rainfall/evaporation; when bare and already drier than maxTSMDBare the deficit does not change.
- FLINT: HUM -> HUM (fracHumsToHums) is submitted as a transfer and skipped at apply (source = sink).
- Only the plant input split uses `soil.dToRRatioInPres`; `soil.fracManuCM*`, `soil.encpFracHums` and
  `landUnitArea` are read by no module.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from flintcloud.errors import ConfigError

K0_PLUS = 0.000000001  # moja::MathEx::k0Plus

SOIL_POOLS = ("SoilDPM", "SoilRPM", "SoilBioF", "SoilBioS", "SoilHUM", "SoilIOM")
INIT_SOIL_KEYS = {"dpmaCMInit": "SoilDPM", "rpmaCMInit": "SoilRPM", "biofCMInit": "SoilBioF",
                  "biosCMInit": "SoilBioS", "humsCMInit": "SoilHUM", "inrtCMInit": "SoilIOM"}
SOIL_KEYS_ROTHC = ("sampleDepth", "bToCMaxTSMDRatio", "evapoOpenRatio", "fracPbioToBiof", "fracHumsToBios",
                   "sdcmRateMultDpm", "sdcmRateMultRpm", "sdcmRateMultBiof", "sdcmRateMultBios",
                   "sdcmRateMultHums")


# ---------------------------------------------------------------- PlantResidueModule

def plant_residue_fractions(d_to_r_ratio: float) -> tuple[float, float]:
    """(_dFracPres, _rFracPres): DPM and RPM shares of plant input."""
    d = d_to_r_ratio / (1.0 + d_to_r_ratio)
    return d, 1.0 - d


def plant_residue_transfers(pres_cm: float, d_frac: float, r_frac: float) -> list[tuple[str, str, float]]:
    """Stock transfers plantCM -> SoilDPM / SoilRPM; none unless presCM > 0."""
    if not pres_cm > 0.0:
        return []
    return [("plantCM", "SoilDPM", pres_cm * d_frac), ("plantCM", "SoilRPM", pres_cm * r_frac)]


# ---------------------------------------------------------------- SoilCoverModule

def is_soil_covered(soil_cover: float) -> bool:
    return soil_cover >= 0.5


# ---------------------------------------------------------------- RothCModule

@dataclass(frozen=True)
class RothCParameters:
    """What RothCModule::InitializeForASimulation derives from clayFrac and `soil`."""

    max_tsmd_cvrd: float
    max_tsmd_bare: float
    evapo_open_ratio: float
    frac_sdcm_to_atms: float
    frac_pbio_to_biof: float
    frac_pbio_to_hums: float
    frac_hums_to_bios: float
    frac_hums_to_hums: float
    k_dpm: float
    k_rpm: float
    k_biof: float
    k_bios: float
    k_hums: float


def tsmd_limits(clay_frac: float, sample_depth: float, bare_to_cvrd_ratio: float) -> tuple[float, float]:
    """ComputeTSMDParams: (maxTSMDCvrd, maxTSMDBare); both must exceed k0Plus (FLINT raises otherwise)."""
    clay_sq = clay_frac * clay_frac
    cvrd = (20.0 + 130.0 * clay_frac - 100.0 * clay_sq) * (sample_depth / 23.0)
    bare = bare_to_cvrd_ratio * cvrd
    if not (cvrd > K0_PLUS and bare > K0_PLUS):
        raise ConfigError(
            f"RothC: maxTSMDCvrd ({cvrd:g}) and maxTSMDBare ({bare:g}) must both be > {K0_PLUS:g}; they come from "
            f"clayFrac {clay_frac!r}, soil.sampleDepth {sample_depth!r} and soil.bToCMaxTSMDRatio {bare_to_cvrd_ratio!r}")
    return cvrd, bare


def rothc_parameters(clay_frac: float, soil: dict[str, float]) -> RothCParameters:
    cvrd, bare = tsmd_limits(clay_frac, soil["sampleDepth"], soil["bToCMaxTSMDRatio"])
    atms_to_sold_ratio = 1.67 * (1.85 + 1.6 * math.exp(-7.86 * clay_frac))
    frac_sdcm_to_solid = 1.0 / (1.0 + atms_to_sold_ratio)
    return RothCParameters(
        max_tsmd_cvrd=cvrd, max_tsmd_bare=bare, evapo_open_ratio=soil["evapoOpenRatio"],
        frac_sdcm_to_atms=1.0 - frac_sdcm_to_solid,
        frac_pbio_to_biof=frac_sdcm_to_solid * soil["fracPbioToBiof"],
        frac_pbio_to_hums=frac_sdcm_to_solid * (1.0 - soil["fracPbioToBiof"]),
        frac_hums_to_bios=frac_sdcm_to_solid * soil["fracHumsToBios"],
        frac_hums_to_hums=frac_sdcm_to_solid * (1.0 - soil["fracHumsToBios"]),
        k_dpm=soil["sdcmRateMultDpm"], k_rpm=soil["sdcmRateMultRpm"], k_biof=soil["sdcmRateMultBiof"],
        k_bios=soil["sdcmRateMultBios"], k_hums=soil["sdcmRateMultHums"],
    )


def init_soil_transfers(init_soil: dict[str, float]) -> list[tuple[str, str, float]]:
    """The init stock operation: each initial stock from `initialValues` to its soil pool."""
    return [("initialValues", pool, init_soil[key]) for key, pool in INIT_SOIL_KEYS.items()]


def temperature_factor(avg_air_temp: float) -> float:
    """a: 0 below -5 C, else 47.91 / (1 + exp(106.06 / (18.27 + T)))."""
    tm = avg_air_temp
    return 0.0 if tm < -5.0 else 47.91 / (1.0 + math.exp(106.06 / (18.27 + tm)))


def update_tsmd(tsmd: float, net_water_input: float, covered: bool, max_cvrd: float, max_bare: float) -> float:
    """This step's topsoil moisture deficit from last step's (FLINT's expression, verbatim)."""
    if net_water_input >= 0:
        new = tsmd - net_water_input
    elif covered:
        new = min(max_cvrd, tsmd - net_water_input)
    else:
        new = tsmd if tsmd > max_bare else min(max_bare, tsmd - net_water_input)
    return max(0.0, new)


def moisture_factor(avg_air_temp: float, tsmd: float, max_cvrd: float, max_bare: float) -> float:
    """b: 0 below -5 C, else clamp(0.2 + 0.8 (maxTSMDCvrd - TSMD) / maxTSMDBare, 0, 1) (FLINT: see module doc)."""
    if avg_air_temp < -5.0:
        return 0.0
    b = 0.2 + 0.8 * (max_cvrd - tsmd) / max_bare
    if b > 1.0:
        b = 1.0
    if b < 0.0:
        b = 0.0
    return b


def cover_factor(covered: bool) -> float:
    """c: plant retainment factor, 0.6 covered, 1 bare."""
    return 0.6 if covered else 1.0


def rate_step(params: RothCParameters, tsmd: float, rainfall: float, open_pan_evap: float, avg_air_temp: float,
              covered: bool) -> tuple[float, float]:
    """UpdateRateProperties: (new TSMD, rateModifyingFactor a*b*c)."""
    a = temperature_factor(avg_air_temp)
    evap = open_pan_evap * params.evapo_open_ratio
    net = rainfall - evap
    new_tsmd = update_tsmd(tsmd, net, covered, params.max_tsmd_cvrd, params.max_tsmd_bare)
    b = moisture_factor(avg_air_temp, new_tsmd, params.max_tsmd_cvrd, params.max_tsmd_bare)
    c = cover_factor(covered)
    return new_tsmd, a * b * c


def decomposition_transfers(params: RothCParameters, rate_modifying_factor: float,
                            step_len_in_years: float) -> list[tuple[str, str, float]]:
    """SubmitMoves: the proportional transfers, in FLINT's order."""
    x = -rate_modifying_factor * step_len_in_years
    dpm = 1.0 - math.exp(x * params.k_dpm)
    rpm = 1.0 - math.exp(x * params.k_rpm)
    hums = 1.0 - math.exp(x * params.k_hums)
    biof = 1.0 - math.exp(x * params.k_biof)
    bios = 1.0 - math.exp(x * params.k_bios)
    p = params
    return [
        ("SoilDPM", "atmosphere", dpm * p.frac_sdcm_to_atms),
        ("SoilRPM", "atmosphere", rpm * p.frac_sdcm_to_atms),
        ("SoilBioF", "atmosphere", biof * p.frac_sdcm_to_atms),
        ("SoilBioS", "atmosphere", bios * p.frac_sdcm_to_atms),
        ("SoilHUM", "atmosphere", hums * p.frac_sdcm_to_atms),
        ("SoilDPM", "SoilBioF", dpm * p.frac_pbio_to_biof),
        ("SoilRPM", "SoilBioF", rpm * p.frac_pbio_to_biof),
        ("SoilBioS", "SoilBioF", bios * p.frac_pbio_to_biof),
        ("SoilHUM", "SoilBioS", hums * p.frac_hums_to_bios),
        ("SoilDPM", "SoilHUM", dpm * p.frac_pbio_to_hums),
        ("SoilRPM", "SoilHUM", rpm * p.frac_pbio_to_hums),
        ("SoilBioF", "SoilHUM", biof * p.frac_pbio_to_hums),
        ("SoilBioS", "SoilHUM", bios * p.frac_pbio_to_hums),
        ("SoilHUM", "SoilHUM", hums * p.frac_hums_to_hums),
    ]
