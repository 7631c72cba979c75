"""Global warming potentials and the carbon -> gas mass conversions of the inventory view.

GCBM reports every flux in tonnes of carbon (tC). A greenhouse-gas inventory wants tonnes of
each gas and tonnes of CO2 equivalent (tCO2e = t gas x GWP). Pure constants and functions.

100-year GWPs, from the IPCC Working Group I reports (the values the UNFCCC tables use):

- AR4: IPCC (2007), WG1 AR4 chapter 2, Table 2.14: CO2 1, CH4 25, N2O 298
  (the set of the Kyoto Protocol's second commitment period, decision 24/CP.19).
- AR5: IPCC (2013), WG1 AR5 chapter 8, Table 8.7 (without climate-carbon feedbacks):
  CO2 1, CH4 28, N2O 265 (the set of the Paris Agreement's transparency framework,
  decision 18/CMA.1 annex, paragraph 37).
- AR6: IPCC (2021), WG1 AR6 chapter 7, Table 7.15: CO2 1, CH4 27.0 for non-fossil methane
  (29.8 fossil), N2O 273. Methane from forest fires and decay is non-fossil, so 27.0.

CO is not given a GWP here: inventories report it as an indirect gas (a precursor) in tonnes
of CO, or count its carbon as CO2 because CO oxidises to CO2 in the atmosphere within months
(the `co` setting of flintcloud.report.inventory). CBM-CFS3 simulates no N2O; its GWP is
tabled for completeness.
"""

from __future__ import annotations

from dataclasses import dataclass

from flintcloud.errors import ConfigError

# Molar mass ratios: tonnes of gas per tonne of carbon in it.
C_TO_CO2 = 44.0 / 12.0
C_TO_CH4 = 16.0 / 12.0
C_TO_CO = 28.0 / 12.0


@dataclass(frozen=True)
class GwpSet:
    name: str
    co2: float
    ch4: float
    n2o: float
    source: str


GWP_SETS: dict[str, GwpSet] = {
    "AR4": GwpSet("AR4", 1.0, 25.0, 298.0, "IPCC AR4 WG1 (2007) Table 2.14, 100-year"),
    "AR5": GwpSet("AR5", 1.0, 28.0, 265.0, "IPCC AR5 WG1 (2013) Table 8.7, 100-year, no climate-carbon feedbacks"),
    "AR6": GwpSet("AR6", 1.0, 27.0, 273.0, "IPCC AR6 WG1 (2021) Table 7.15, 100-year, non-fossil CH4"),
}


def gwp_set(name: str) -> GwpSet:
    """The GWP set called `name` (AR4, AR5, AR6; case-insensitive); ConfigError naming the choices."""
    key = str(name).strip().upper()
    if key not in GWP_SETS:
        raise ConfigError(f"params.yaml report.inventory.gwp: unknown GWP set {name!r}; expected one of {sorted(GWP_SETS)}")
    return GWP_SETS[key]


def gwp_table() -> list[dict]:
    """Every tabled set as rows (set, gas, GWP, source), for the report."""
    rows = []
    for s in GWP_SETS.values():
        for gas, value in (("CO2", s.co2), ("CH4", s.ch4), ("N2O", s.n2o)):
            rows.append({"gwp_set": s.name, "gas": gas, "gwp_100": value, "source": s.source})
    return rows
