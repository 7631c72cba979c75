"""RothC beyond the two published runs: other clay, cover, climate, plant inputs, initial stocks and
run lengths (past a series' end), against a line-by-line transliteration of FLINT.example's C++
(plantresiduemodule.cpp, soilcovermodule.cpp, rothcmodule.cpp + OperationManagerSimple), written
here independently of flintcloud.flint, plus the properties FLINT guarantees (mass conservation,
IOM and offsiteCM untouched, series clamped to their last value)."""

from __future__ import annotations

import copy
import math

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from flintcloud.flint import default_rothc_configs, run_configs
from flintcloud.flint import rothc

POOLS = ["initialValues", "plantCM", "SoilDPM", "SoilRPM", "SoilBioF", "SoilBioS", "SoilHUM", "SoilIOM",
         "atmosphere", "offsiteCM"]


def _var(cfg, name):
    for item in cfg[0]["Variables"]:
        if name in item:
            return item
    raise KeyError(name)


def set_series(cfg, name, data):
    _var(cfg, name)[name]["transform"]["data"] = list(data)


def set_value(cfg, name, value):
    _var(cfg, name)[name] = value


def months_between(start, end):
    (y0, m0), (y1, m1) = start, end
    return (y1 - y0) * 12 + m1 - m0 + 1


def oracle(cfg):
    """FLINT's C++ for the RothC point run, transliterated (single file, no flintcloud imports)."""
    ld = cfg[0]["LocalDomain"]
    y0, m0, _ = (int(x) for x in ld["start_date"].split("/"))
    y1, m1, _ = (int(x) for x in ld["end_date"].split("/"))
    var = {}
    for item in cfg[0]["Variables"]:
        (k, v), = item.items()
        var[k] = v

    def value(name, step):
        v = var[name]
        if isinstance(v, dict) and "transform" in v:
            data = v["transform"]["data"]
            return data[min(step, len(data) - 1)]
        return v

    def eq0(x):
        return abs(x) < 5e-323   # FloatCmp 4 ULPs around zero

    pools = [0.0] * len(POOLS)
    ix = {n: i for i, n in enumerate(POOLS)}
    soil, init = var["soil"], var["initSoil"]
    # TimingInit: PlantResidue, SoilCover, RothC (stock op), then apply at PrePostInit
    d = soil["dToRRatioInPres"]
    dfrac = d / (1.0 + d)
    rfrac = 1.0 - dfrac
    covered = value("soilCover", 0) >= 0.5
    ops = []
    ops += [(ix["initialValues"], ix[p], init[k]) for k, p in (
        ("dpmaCMInit", "SoilDPM"), ("rpmaCMInit", "SoilRPM"), ("biofCMInit", "SoilBioF"),
        ("biosCMInit", "SoilBioS"), ("humsCMInit", "SoilHUM"), ("inrtCMInit", "SoilIOM")) if not eq0(init[k])]
    tsmd = init["TSMDInit"]
    clay = value("clayFrac", 0)
    cvrd = (20.0 + 130.0 * clay - 100.0 * (clay * clay)) * (soil["sampleDepth"] / 23.0)
    bare = soil["bToCMaxTSMDRatio"] * cvrd
    r = 1.67 * (1.85 + 1.6 * math.exp(-7.86 * clay))
    solid = 1.0 / (1.0 + r)
    atms = 1.0 - solid
    pb, ph = solid * soil["fracPbioToBiof"], solid * (1.0 - soil["fracPbioToBiof"])
    hb, hh = solid * soil["fracHumsToBios"], solid * (1.0 - soil["fracHumsToBios"])
    for s, t, v in ops:
        pools[s] -= v
        pools[t] += v
    rows = [list(pools)]
    for step in range(1, months_between((y0, m0), (y1, m1)) + 1):
        total = (m0 - 1) + step - 1
        y, m = y0 + total // 12, total % 12 + 1
        leap = y % 4 == 0 and (y % 100 != 0 or y % 400 == 0)
        dim = [31, 29 if leap else 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31][m - 1]
        slen = dim / (366.0 if leap else 365.0)
        fluxes = []
        pres = value("presCM", step)
        if pres > 0.0:
            fluxes += [(ix["plantCM"], ix["SoilDPM"], pres * dfrac), (ix["plantCM"], ix["SoilRPM"], pres * rfrac)]
            fluxes = [f for f in fluxes if not eq0(f[2])]
        covered = value("soilCover", step) >= 0.5
        tm = value("avgAirTemp", step)
        a = 0.0 if tm < -5.0 else 47.91 / (1.0 + math.exp(106.06 / (18.27 + tm)))
        net = value("rainfall", step) - value("openPanEvap", step) * soil["evapoOpenRatio"]
        tsmd = max(0.0, tsmd - net if net >= 0 else (min(cvrd, tsmd - net) if covered else
                                                       (tsmd if tsmd > bare else min(bare, tsmd - net))))
        b = 0.0 if tm < -5.0 else min(1.0, max(0.0, 0.2 + 0.8 * (cvrd - tsmd) / bare))
        c = 0.6 if covered else 1.0
        x = -(a * b * c) * slen
        fr = {k: 1.0 - math.exp(x * soil[f"sdcmRateMult{k}"]) for k in ("Dpm", "Rpm", "Hums", "Biof", "Bios")}
        moves = [("SoilDPM", "atmosphere", fr["Dpm"] * atms), ("SoilRPM", "atmosphere", fr["Rpm"] * atms),
                 ("SoilBioF", "atmosphere", fr["Biof"] * atms), ("SoilBioS", "atmosphere", fr["Bios"] * atms),
                 ("SoilHUM", "atmosphere", fr["Hums"] * atms), ("SoilDPM", "SoilBioF", fr["Dpm"] * pb),
                 ("SoilRPM", "SoilBioF", fr["Rpm"] * pb), ("SoilBioS", "SoilBioF", fr["Bios"] * pb),
                 ("SoilHUM", "SoilBioS", fr["Hums"] * hb), ("SoilDPM", "SoilHUM", fr["Dpm"] * ph),
                 ("SoilRPM", "SoilHUM", fr["Rpm"] * ph), ("SoilBioF", "SoilHUM", fr["Biof"] * ph),
                 ("SoilBioS", "SoilHUM", fr["Bios"] * ph), ("SoilHUM", "SoilHUM", fr["Hums"] * hh)]
        for s, t, p in moves:   # proportional: from start-of-step pools
            if eq0(p) or eq0(pools[ix[s]]):
                continue
            fluxes.append((ix[s], ix[t], pools[ix[s]] * p))
        for s, t, v in fluxes:
            if s != t:
                pools[s] -= v
                pools[t] += v
        rows.append(list(pools))
    return rows


def assert_matches_oracle(cfg):
    got = [list(s.pools) for s in run_configs(cfg).steps]
    want = oracle(cfg)
    assert len(got) == len(want)
    for step, (g, w) in enumerate(zip(got, want)):
        for name, a, b in zip(POOLS, g, w):
            assert a == pytest.approx(b, rel=1e-12, abs=1e-12), (step, name)


def test_oracle_reproduces_flints_published_run():
    """The transliteration is itself right: it gives FLINT's last row for the published config."""
    last = oracle(default_rothc_configs())[-1]
    assert last[POOLS.index("SoilHUM")] == pytest.approx(71.7269536830433, rel=1e-13)
    assert last[POOLS.index("SoilRPM")] == pytest.approx(115.080548374883, rel=1e-13)


series = st.lists(st.floats(-10, 35, allow_nan=False), min_size=1, max_size=30)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    clay=st.floats(0.02, 0.98), depth=st.floats(5, 60), bare_ratio=st.floats(1.0, 5.0),
    cover=st.lists(st.floats(0, 1), min_size=1, max_size=30), temp=series,
    rain=st.lists(st.floats(0, 200), min_size=1, max_size=30),
    evap=st.lists(st.floats(0, 250), min_size=1, max_size=30),
    pres=st.lists(st.floats(-2, 15), min_size=1, max_size=30),
    stocks=st.lists(st.floats(0, 80, allow_subnormal=False), min_size=6, max_size=6), tsmd0=st.floats(0, 80),
    years=st.integers(1, 6), start_month=st.integers(1, 12), frac_hums=st.floats(0, 0.5),
)
def test_other_rothc_configurations_follow_flints_cpp(clay, depth, bare_ratio, cover, temp, rain, evap, pres,
                                                      stocks, tsmd0, years, start_month, frac_hums):
    cfg = default_rothc_configs()
    set_value(cfg, "clayFrac", clay)
    soil = _var(cfg, "soil")["soil"]
    soil.update(sampleDepth=depth, bToCMaxTSMDRatio=bare_ratio, fracHumsToBios=frac_hums)
    for name, data in (("soilCover", cover), ("avgAirTemp", temp), ("rainfall", rain), ("openPanEvap", evap),
                       ("presCM", pres)):
        set_series(cfg, name, data)
    init = _var(cfg, "initSoil")["initSoil"]
    for key, v in zip(("dpmaCMInit", "rpmaCMInit", "biofCMInit", "biosCMInit", "humsCMInit", "inrtCMInit"), stocks):
        init[key] = v
    init["TSMDInit"] = tsmd0
    cfg[0]["LocalDomain"]["start_date"] = f"2001/{start_month:02d}/01"
    cfg[0]["LocalDomain"]["end_date"] = f"{2001 + years}/{start_month:02d}/01"
    assert_matches_oracle(cfg)
    result = run_configs(cfg)
    for s in result.steps:   # conservation: all pools sum to 0 (initialValues holds minus the stocks)
        assert abs(sum(s.pools)) <= 1e-12 * max(1.0, max(map(abs, s.pools))) * 10
        assert s.pools[POOLS.index("SoilIOM")] == stocks[5]
        assert s.pools[POOLS.index("offsiteCM")] == 0.0


def test_past_the_end_of_a_series_the_last_value_is_used():
    """Steps >= len(data) read data[-1]: a 49-value series run 10 years equals the series padded with its
    last value (FLINT's TimeSeriesTransform clamps; it does not wrap to the start)."""
    cfg = default_rothc_configs()
    cfg[0]["LocalDomain"]["end_date"] = "1929/12/31"
    padded = copy.deepcopy(cfg)
    for name in ("rainfall", "openPanEvap", "avgAirTemp", "presCM", "soilCover"):
        data = _var(padded, name)[name]["transform"]["data"]
        data += [data[-1]] * (121 - len(data))
    wrapped = copy.deepcopy(cfg)
    for name in ("rainfall", "openPanEvap", "avgAirTemp", "presCM", "soilCover"):
        data = _var(wrapped, name)[name]["transform"]["data"]
        data += (data[1:] * 3)[: 121 - len(data)]
    a, b, w = run_configs(cfg), run_configs(padded), run_configs(wrapped)
    assert len(a.steps) == 121
    assert [s.pools for s in a.steps] == [s.pools for s in b.steps]
    assert [s.pools for s in a.steps][:49] == [s.pools for s in w.steps][:49]   # steps 0..48 read data[step]
    assert a.steps[-1].pools != w.steps[-1].pools
    assert_matches_oracle(cfg)
    # the published 60 steps are the first 60 of the longer run
    short = run_configs(default_rothc_configs())
    assert [s.pools for s in short.steps] == [s.pools for s in a.steps[:61]]


def test_freezing_months_and_no_input_change_nothing():
    cfg = default_rothc_configs()
    set_series(cfg, "avgAirTemp", [0.0, -6.0])
    set_series(cfg, "presCM", [0.0, 0.0])
    result = run_configs(cfg)
    assert all(s.pools == result.steps[0].pools for s in result.steps)
    assert not [f for f in result.fluxes if f.step > 0]


def test_soil_cover_threshold_is_half():
    assert rothc.is_soil_covered(0.5) and not rothc.is_soil_covered(0.4999999)
    cfg = default_rothc_configs()
    set_series(cfg, "soilCover", [1.0, 0.5])
    covered = run_configs(cfg)
    set_series(cfg, "soilCover", [1.0, 0.49])
    bare = run_configs(cfg)
    assert covered.steps[-1].pools != bare.steps[-1].pools
    assert_matches_oracle(cfg)


def test_clay_changes_partition_as_flint():
    p = rothc.rothc_parameters(0.94, {"sampleDepth": 26.0, "bToCMaxTSMDRatio": 3.0, "evapoOpenRatio": 2.5,
                                      "fracPbioToBiof": 0.49, "fracHumsToBios": 0.0, "sdcmRateMultDpm": 12.0,
                                      "sdcmRateMultRpm": 0.5, "sdcmRateMultBiof": 0.0, "sdcmRateMultBios": 0.76,
                                      "sdcmRateMultHums": 0.05})
    ratio = 1.67 * (1.85 + 1.6 * math.exp(-7.86 * 0.94))
    assert p.frac_sdcm_to_atms == pytest.approx(ratio / (1 + ratio), rel=1e-15)
    assert p.max_tsmd_cvrd == pytest.approx((20 + 130 * 0.94 - 100 * 0.94 ** 2) * 26 / 23, rel=1e-15)
    assert p.max_tsmd_bare == pytest.approx(3 * p.max_tsmd_cvrd, rel=1e-15)
    # FLINT's b uses maxTSMDCvrd over maxTSMDBare whatever the cover
    assert rothc.moisture_factor(10.0, 0.0, 40.0, 120.0) == pytest.approx(0.2 + 0.8 * 40 / 120)
    assert rothc.moisture_factor(10.0, 0.0, 150.0, 120.0) == 1.0      # clamped
    assert rothc.moisture_factor(10.0, 300.0, 40.0, 120.0) == 0.0     # clamped
    assert rothc.moisture_factor(10.0, 50.0, 40.0, 120.0) == pytest.approx(0.2 + 0.8 * (40 - 50) / 120)
    assert rothc.moisture_factor(-5.1, 0.0, 40.0, 120.0) == 0.0
    # deficit: wet month lowers it, dry bare month beyond the bare maximum keeps it
    assert rothc.update_tsmd(30.0, 10.0, False, 40.0, 120.0) == 20.0
    assert rothc.update_tsmd(130.0, -10.0, False, 40.0, 120.0) == 130.0
    assert rothc.update_tsmd(35.0, -10.0, True, 40.0, 120.0) == 40.0


def test_module_order_matters_as_in_flint():
    """RothC before SoilCover reads last step's cover (FLINT posts TimingStep in module order)."""
    cfg = default_rothc_configs()
    mods = cfg[0]["Modules"]
    mods["SoilCoverModule"]["order"], mods["RothCModule"]["order"] = 5, 4
    swapped = run_configs(cfg)
    normal = run_configs(default_rothc_configs())
    assert swapped.steps[1].pools == normal.steps[1].pools        # step 0 cover (1.0) and step 1 (1.0) agree
    assert swapped.steps[-1].pools != normal.steps[-1].pools
