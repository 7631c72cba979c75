"""Translate a project's gcbm_input.db into libcbm's cbm_defaults schema.

libcbm's ``cbm3`` model reads its parameters from a sqlite db in the
cbm_defaults schema. GCBM's gcbm_input.db comes from the same lineage but keys
several parameters differently:

* turnover parameters are per (eco boundary, genus of the growth curve's
  leading softwood / hardwood species) in GCBM, per eco boundary in libcbm;
* root parameters are per (spatial unit, species) in GCBM, per spatial unit in
  libcbm (and libcbm reads root_parameter row 1: see gcbm-semantics §8);
* spinup parameters have no min_rotations in GCBM (it is ``minimum_rotation``
  in spinup.json).

So the translation makes one libcbm *parameter unit* (a libcbm "spatial unit"
with its own eco boundary and turnover row) per (GCBM spatial unit, growth
curve) pair in use. Everything comes from the project's db; the only
constants written are structural ones (land classes, the 0.5 biomass-to-carbon
rate GCBM also hard-codes).

Flux indicators: one per (process, source pool, sink pool) so that libcbm's
own flux computation yields every pool-to-pool flow GCBM's
CBMAggregatorSQLiteWriter records.
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from libcbm import resources

from flintcloud.errors import DatabaseError, SimulationError
from flintcloud.inputdb.reader import InputDb
from flintcloud.sqlite_ro import connect_ro

from .step import ANNUAL_PROCESS, DECAY_MODULE, DISTURBANCE, DISTURBANCE_MODULE, GROWTH_MODULE, FluxKey

BIOMASS_POOLS = [
    "SoftwoodMerch", "SoftwoodFoliage", "SoftwoodOther", "SoftwoodCoarseRoots", "SoftwoodFineRoots",
    "HardwoodMerch", "HardwoodFoliage", "HardwoodOther", "HardwoodCoarseRoots", "HardwoodFineRoots",
]
SNAG_POOLS = ["SoftwoodStemSnag", "SoftwoodBranchSnag", "HardwoodStemSnag", "HardwoodBranchSnag"]
AG_DOM_TO_AG_SLOW = ["AboveGroundVeryFastSoil", "AboveGroundFastSoil", "MediumSoil"] + SNAG_POOLS
BG_DOM_TO_BG_SLOW = ["BelowGroundVeryFastSoil", "BelowGroundFastSoil"]
SLOW_POOLS = ["AboveGroundSlowSoil", "BelowGroundSlowSoil"]
DOM_POOLS = AG_DOM_TO_AG_SLOW + BG_DOM_TO_BG_SLOW + SLOW_POOLS
# libcbm's fixed pool set (cbm_defaults ids 0..26): Input, biomass, DOM, gases, products.
LIBCBM_POOLS = (
    ["Input"] + BIOMASS_POOLS
    + ["AboveGroundVeryFastSoil", "BelowGroundVeryFastSoil", "AboveGroundFastSoil", "BelowGroundFastSoil",
       "MediumSoil", "AboveGroundSlowSoil", "BelowGroundSlowSoil"]
    + SNAG_POOLS + ["CO2", "CH4", "CO", "NO2", "Products"]
)
ATMOSPHERE = "Atmosphere"  # GCBM's source of growth; libcbm's "Input" (held at 1)

GROWTH_PROCESS, DECAY_PROCESS, DISTURBANCE_PROCESS = 1, 2, 3
# libcbm attributes growth, turnover and overmature decline to one process; GCBM's CBMGrowthModule
# records turnover *and* the mid-season growth that replaces it (Atmosphere -> pool), so turnover
# gets processes of its own here and the engine adds the replacement flux.
BIOMASS_TURNOVER_PROCESS, OVERMATURE_PROCESS, SNAG_TURNOVER_PROCESS = 4, 5, 6
PROCESS_MODULE = {
    GROWTH_PROCESS: GROWTH_MODULE, DECAY_PROCESS: DECAY_MODULE, DISTURBANCE_PROCESS: DISTURBANCE_MODULE,
    BIOMASS_TURNOVER_PROCESS: GROWTH_MODULE, OVERMATURE_PROCESS: GROWTH_MODULE, SNAG_TURNOVER_PROCESS: GROWTH_MODULE,
}


def growth_pairs() -> list[tuple[str, str]]:
    """Pool flows of CBM-CFS3 growth, overmature decline, biomass and snag turnover."""
    pairs = [("Input", p) for p in BIOMASS_POOLS]
    for sp in ("Softwood", "Hardwood"):
        pairs += [
            (f"{sp}Merch", f"{sp}StemSnag"),
            (f"{sp}Foliage", "AboveGroundVeryFastSoil"),
            (f"{sp}Other", f"{sp}BranchSnag"),
            (f"{sp}Other", "AboveGroundFastSoil"),
            (f"{sp}CoarseRoots", "AboveGroundFastSoil"),
            (f"{sp}CoarseRoots", "BelowGroundFastSoil"),
            (f"{sp}FineRoots", "AboveGroundVeryFastSoil"),
            (f"{sp}FineRoots", "BelowGroundVeryFastSoil"),
            (f"{sp}StemSnag", "MediumSoil"),
            (f"{sp}BranchSnag", "AboveGroundFastSoil"),
        ]
    return pairs


def decay_pairs() -> list[tuple[str, str]]:
    """Pool flows of DOM decay, slow-pool decay and AG->BG slow mixing."""
    pairs = [(p, "AboveGroundSlowSoil") for p in AG_DOM_TO_AG_SLOW]
    pairs += [(p, "BelowGroundSlowSoil") for p in BG_DOM_TO_BG_SLOW]
    pairs += [(p, "CO2") for p in DOM_POOLS]
    pairs.append(("AboveGroundSlowSoil", "BelowGroundSlowSoil"))
    return pairs


@dataclass(frozen=True)
class FluxIndicator:
    process: int
    source: str
    sink: str

    def flux_key(self) -> FluxKey:
        source = ATMOSPHERE if self.source == "Input" else self.source
        flux_source = DISTURBANCE if self.process == DISTURBANCE_PROCESS else ANNUAL_PROCESS
        return FluxKey(PROCESS_MODULE[self.process], source, self.sink, flux_source)

    @property
    def name(self) -> str:
        return f"p{self.process}_{self.source}_{self.sink}"


@dataclass
class LibcbmParameters:
    """What the engine needs to drive libcbm on a translated db."""

    db_path: Path
    pool_names: list[str]  # libcbm pool order (index = libcbm pool column)
    units: pd.DataFrame  # unit_id (libcbm spatial unit), spatial_unit_id, growth_curve_id
    flux_indicators: list[FluxIndicator]
    growth_curves: dict[int, list[dict]]  # growth_curve_id -> [{species_id, age_volume_pairs}]
    disturbance_type_ids: dict[str, int]  # name -> id (ids as in gcbm_input.db)
    matrices: dict[int, tuple[np.ndarray, np.ndarray, np.ndarray]]  # dm id -> (src idx, sink idx, proportion)
    matrix_of: dict[tuple[int, int], int]  # (disturbance type id, unit id) -> dm id
    splits: pd.DataFrame | None = None  # unit_id -> branch_snag_split, coarse_ag_split, fine_ag_split

    def unit_id(self, spatial_unit_id: np.ndarray, growth_curve_id: np.ndarray) -> np.ndarray:
        lookup = {(int(r.spatial_unit_id), int(r.growth_curve_id)): int(r.unit_id) for r in self.units.itertuples()}
        return np.array([lookup[(int(s), int(g))] for s, g in zip(spatial_unit_id, growth_curve_id)], dtype=np.int32)


def _schema_statements() -> list[str]:
    with connect_ro(resources.get_cbm_defaults_path()) as conn:
        return [
            r[0] for r in conn.execute(
                "SELECT sql FROM sqlite_master WHERE type='table' AND sql IS NOT NULL AND name NOT LIKE 'sqlite_%'"
            )
        ]


def _structural_rows(table: str) -> list[tuple]:
    """Rows copied from libcbm's schema db for structural tables (land classes/types)."""
    with connect_ro(resources.get_cbm_defaults_path()) as conn:
        return list(conn.execute(f"SELECT * FROM {table}"))


def _turnover_row(db: InputDb, unit_id: int, eco_boundary_id: int, growth_curve_id: int) -> tuple:
    """libcbm turnover_parameter row for one growth curve in one eco boundary (GCBM's turnover_rates query)."""
    comps = db.growth_curve_components.drop_duplicates("component_id")
    comps = comps[comps["growth_curve_id"] == growth_curve_id].sort_values("component_id")
    genus = comps[["species_id", "genus_id", "forest_type"]]
    tg = db.turnover_by_genus[db.turnover_by_genus["eco_boundary_id"] == eco_boundary_id]

    def rates(forest_type: str):
        sel = genus[genus["forest_type"].str.lower() == forest_type.lower()]
        for g in sel["genus_id"]:
            hit = tg[tg["genus_id"] == g]
            if not hit.empty:
                return hit.iloc[0]
        return None

    sw, hw = rates("Softwood"), rates("Hardwood")
    if sw is None and hw is None:
        raise DatabaseError(
            f"no turnover parameters for growth curve {growth_curve_id} in eco boundary id {eco_boundary_id}: "
            f"table turnover_parameter_association of {str(db.path)!r} has no row for its genera"
        )
    shared = ["stem", "branch_snag_split", "coarse_root", "fine_root", "coarse_ag_split", "fine_ag_split"]
    if sw is not None and hw is not None:
        differ = [c for c in shared if float(sw[c]) != float(hw[c])]
        if differ:
            raise SimulationError(
                f"growth curve {growth_curve_id} mixes softwood and hardwood genera whose turnover "
                f"parameters differ in {differ}; libcbm's cbm3 model has one value per eco boundary for these"
            )
    lead = sw if sw is not None else hw

    def col(row, name):
        return 0.0 if row is None else float(row[name])

    return (
        unit_id,
        col(sw, "foliage"), col(hw, "foliage"), float(lead["stem"]),
        col(sw, "branch"), col(hw, "branch"), float(lead["branch_snag_split"]),
        col(sw, "stem_snag"), col(sw, "branch_snag"), col(hw, "stem_snag"), col(hw, "branch_snag"),
        float(lead["coarse_root"]), float(lead["fine_root"]), float(lead["coarse_ag_split"]), float(lead["fine_ag_split"]),
    )


def growth_curve_volumes(db: InputDb) -> dict[int, list[dict]]:
    """Merchantable volume components of every growth curve (one per species component)."""
    out: dict[int, list[dict]] = {}
    for (gc, comp, species), rows in db.growth_curve_components.groupby(["growth_curve_id", "component_id", "species_id"]):
        rows = rows.sort_values("age")
        out.setdefault(int(gc), []).append({
            "species_id": int(species),
            "age_volume_pairs": [[int(a), float(v)] for a, v in zip(rows["age"], rows["merchantable_volume"])],
        })
    return out


def gcbm_matrices(dmv: pd.DataFrame, pool_id: dict[str, int]) -> dict[int, tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """Disturbance matrices as GCBM applies them: matrix id -> (source idx, sink idx, proportion).

    GCBM applies a matrix as a proportional operation of its source != sink transfers only, so each
    source pool keeps 1 - (sum of its outgoing proportions) whatever diagonal the db holds (real
    matrices' rows are off 1 by up to ~1e-6). libcbm's own matrix handling uses the stored diagonal,
    so the engine applies these transfers itself.
    """
    off = dmv[dmv["source_pool"] != dmv["sink_pool"]]
    out = {}
    for dm, grp in off.groupby("disturbance_matrix_id"):
        out[int(dm)] = (
            grp["source_pool"].map(pool_id).to_numpy(dtype=np.int64),
            grp["sink_pool"].map(pool_id).to_numpy(dtype=np.int64),
            grp["proportion"].to_numpy(dtype=np.float64),
        )
    return out


def build_libcbm_db(
    db: InputDb,
    out_path: Path,
    units: pd.DataFrame,
    *,
    slow_mixing_rate: float,
    minimum_rotation: int,
    disturbance_type_ids: list[int],
) -> LibcbmParameters:
    """Write a cbm_defaults-schema sqlite db at ``out_path`` for the given (spatial unit, growth curve) units.

    ``units`` has columns spatial_unit_id, growth_curve_id (unique pairs). ``disturbance_type_ids`` are
    the types whose matrices may be applied (run events, historic and last pass); their pool pairs
    become flux indicators.
    """
    out_path = Path(out_path)
    units = units[["spatial_unit_id", "growth_curve_id"]].drop_duplicates().reset_index(drop=True)
    units.insert(0, "unit_id", np.arange(1, len(units) + 1))

    # pools: libcbm's fixed set, then every other gcbm pool (BlackCarbon, Peat, ...) except Atmosphere.
    extra = [n for n in db.pools["name"] if n not in LIBCBM_POOLS and n != ATMOSPHERE]
    pool_names = LIBCBM_POOLS + extra
    pool_id = {n: i for i, n in enumerate(pool_names)}
    gcbm_pool_name = dict(zip(db.pools["id"], db.pools["name"]))

    su = db.spatial_units.set_index("spatial_unit_id")
    missing_su = sorted(set(units["spatial_unit_id"]) - set(su.index))
    if missing_su:
        raise DatabaseError(f"spatial unit(s) {missing_su} not in table spatial_unit of {str(db.path)!r}")

    # root parameters: GCBM keys them per (spu, species) through vol_to_bio_factor_association.
    comps = db.growth_curve_components.drop_duplicates("component_id")
    vba = db.vol_to_bio_associations
    root_ids = set()
    vtb_rows = []
    for u in units.itertuples():
        species = comps.loc[comps["growth_curve_id"] == u.growth_curve_id, "species_id"].unique()
        if len(species) == 0:
            raise DatabaseError(
                f"growth curve {u.growth_curve_id} has no components in table growth_curve_component of {str(db.path)!r}"
            )
        per_type = comps.loc[comps["growth_curve_id"] == u.growth_curve_id, "forest_type"].str.lower().value_counts()
        if (per_type > 1).any():
            raise SimulationError(
                f"growth curve {u.growth_curve_id} has several {per_type.idxmax()} components: GCBM sums their volumes "
                "into one curve per forest type with one species' volume-to-biomass factors, libcbm converts each "
                "species separately; the libcbm engine cannot reproduce GCBM for such curves"
            )
        for s in species:
            hit = vba[(vba["spatial_unit_id"] == u.spatial_unit_id) & (vba["species_id"] == s)]
            if hit.empty:
                raise DatabaseError(
                    f"no volume-to-biomass factor for species id {int(s)} in spatial unit {u.spatial_unit_id}: "
                    f"table vol_to_bio_factor_association of {str(db.path)!r}"
                )
            root_ids.add(int(hit.iloc[0]["root_parameter_id"]))
            vtb_rows.append((u.unit_id, int(s), int(hit.iloc[0]["vol_to_bio_factor_id"])))
    if len(root_ids) != 1:
        raise SimulationError(
            f"the growth curves in use need root parameter rows {sorted(root_ids)}; libcbm's cbm3 model applies "
            "one root_parameter row to every stand, so only projects with a single root parameter set can be matched"
        )
    (root_id,) = root_ids
    root = db.root_parameters.set_index("id").loc[root_id]

    # disturbance matrices used, and their pool pairs (GCBM applies only source != sink transfers).
    dma = db.disturbance_matrix_associations
    used_spu = set(units["spatial_unit_id"])
    dma_used = dma[dma["spatial_unit_id"].isin(used_spu) & dma["disturbance_type_id"].isin(disturbance_type_ids)]
    dmv = db.disturbance_matrix_values
    unknown = sorted(set(dmv["source_pool"]).union(dmv["sink_pool"]) - set(pool_names))
    if unknown:
        raise DatabaseError(f"disturbance matrices of {str(db.path)!r} use pools {unknown} the engine does not track")
    used_dm = set(dma_used["disturbance_matrix_id"])
    dm_pairs = dmv[dmv["disturbance_matrix_id"].isin(used_dm) & (dmv["source_pool"] != dmv["sink_pool"])]
    dist_pairs = sorted(set(zip(dm_pairs["source_pool"], dm_pairs["sink_pool"])), key=lambda p: (pool_id[p[0]], pool_id[p[1]]))

    turnover = [(s, k) for s, k in growth_pairs() if s != "Input"]
    indicators = (
        [FluxIndicator(GROWTH_PROCESS, s, k) for s, k in growth_pairs() if s == "Input"]
        + [FluxIndicator(BIOMASS_TURNOVER_PROCESS, s, k) for s, k in turnover if s in BIOMASS_POOLS]
        + [FluxIndicator(OVERMATURE_PROCESS, s, k) for s, k in turnover if s in BIOMASS_POOLS]
        + [FluxIndicator(SNAG_TURNOVER_PROCESS, s, k) for s, k in turnover if s in SNAG_POOLS]
        + [FluxIndicator(DECAY_PROCESS, s, k) for s, k in decay_pairs()]
        + [FluxIndicator(DISTURBANCE_PROCESS, s, k) for s, k in dist_pairs]
    )

    if out_path.exists():
        out_path.unlink()
    with sqlite3.connect(out_path) as conn:
        # a scratch db for this run: no journal, no fsync per statement
        conn.execute("PRAGMA journal_mode=OFF")
        conn.execute("PRAGMA synchronous=OFF")
        for stmt in _schema_statements():
            conn.execute(stmt)
        ins = lambda table, rows: rows and conn.executemany(  # noqa: E731
            f"INSERT INTO {table} VALUES ({','.join('?' * len(rows[0]))})", rows
        )
        ins("locale", [(1, "en-CA")])
        ins("pool", [(i, n) for i, n in enumerate(pool_names)])
        ins("pool_tr", [(i + 1, i, 1, n) for i, n in enumerate(pool_names)])
        dom = db.dom_pools.copy()
        ins("dom_pool", [(int(r.id), pool_id[gcbm_pool_name[int(r.pool_id)]]) for r in dom.itertuples()])
        ins("decay_parameter", [
            (int(r.dom_pool_id), float(r.base_decay_rate), float(r.reference_temp), float(r.q10),
             float(r.prop_to_atmosphere), float(r.max_rate))
            for r in db.decay_parameters.itertuples()
        ])
        ins("slow_mixing_rate", [(1, float(slow_mixing_rate))])
        ins("biomass_to_carbon_rate", [(1, 0.5)])
        ins("random_return_interval", [(1, 0.0, 0.0, 0.0, 0.0)])
        ins("land_type", _structural_rows("land_type"))
        ins("land_class", _structural_rows("land_class"))
        ins("flux_process", [(1, "Growth"), (2, "Decay"), (3, "Disturbance"), (4, "Biomass turnover"),
                             (5, "Overmature decline"), (6, "Snag turnover")])
        ins("forest_type", [(int(i),) for i in sorted(set(db.species["forest_type_id"]))])
        ins("genus", [(int(i),) for i in sorted(set(db.species["genus_id"]))])
        ins("species", [(int(r.id), int(r.forest_type_id), int(r.genus_id)) for r in db.species.itertuples()])
        ins("species_tr", [(i + 1, int(r.id), 1, str(r.name)) for i, r in enumerate(db.species.itertuples())])
        vtb = db.vol_to_bio_factors
        ins("vol_to_bio_factor", [tuple(r) for r in vtb.itertuples(index=False)])
        ins("vol_to_bio_species", vtb_rows)
        ins("stump_parameter", [tuple(r) for r in db.stump_parameters.itertuples(index=False)])
        ins("root_parameter", [(1, float(root.hw_a), float(root.sw_a), float(root.hw_b),
                                float(root.frp_a), float(root.frp_b), float(root.frp_c))])
        admin = db.spatial_units.drop_duplicates("admin_boundary_id")
        ins("admin_boundary", [(int(r.admin_boundary_id), int(r.stump_parameter_id)) for r in admin.itertuples()])
        eco_rows, to_rows, spu_rows, spin_rows, dma_rows = [], [], [], [], []
        for u in units.itertuples():
            s = su.loc[u.spatial_unit_id]
            if pd.isna(s["return_interval"]):
                raise DatabaseError(
                    f"spatial unit {u.spatial_unit_id} has no spinup_parameter row in {str(db.path)!r}"
                )
            eco_rows.append((u.unit_id, u.unit_id, 1))
            to_rows.append(_turnover_row(db, u.unit_id, int(s["eco_boundary_id"]), int(u.growth_curve_id)))
            spu_rows.append((u.unit_id, int(s["admin_boundary_id"]), u.unit_id, 1, u.unit_id,
                             float(s["spinup_mean_annual_temperature"])))
            spin_rows.append((u.unit_id, int(s["return_interval"]), int(minimum_rotation), int(s["max_rotations"]),
                              float(s["spinup_mean_annual_temperature"])))
            for r in dma[dma["spatial_unit_id"] == u.spatial_unit_id].itertuples():
                dma_rows.append((u.unit_id, int(r.disturbance_type_id), int(r.disturbance_matrix_id)))
        ins("eco_boundary", eco_rows)
        ins("turnover_parameter", to_rows)
        ins("spatial_unit", spu_rows)
        ins("spinup_parameter", spin_rows)
        ins("disturbance_type", [(int(i), None) for i in db.disturbance_types["id"]])
        ins("disturbance_type_tr", [(i + 1, int(r.id), 1, str(r.name), str(r.name))
                                    for i, r in enumerate(db.disturbance_types.itertuples())])
        dm_ids = sorted(set(dmv["disturbance_matrix_id"]))
        ins("disturbance_matrix", [(int(i),) for i in dm_ids])
        # stored as the db has them (libcbm needs them to load); the engine applies matrices itself
        ins("disturbance_matrix_value", [
            (int(r.disturbance_matrix_id), pool_id[r.source_pool], pool_id[r.sink_pool], float(r.proportion))
            for r in dmv.itertuples()
        ])
        ins("disturbance_matrix_association", dma_rows)
        ins("flux_indicator", [(i + 1, fi.name, fi.process) for i, fi in enumerate(indicators)])
        ins("flux_indicator_source", [(i + 1, i + 1, pool_id[fi.source]) for i, fi in enumerate(indicators)])
        ins("flux_indicator_sink", [(i + 1, i + 1, pool_id[fi.sink]) for i, fi in enumerate(indicators)])
    conn.close()

    return LibcbmParameters(
        db_path=out_path,
        pool_names=pool_names,
        units=units,
        flux_indicators=indicators,
        growth_curves=growth_curve_volumes(db),
        disturbance_type_ids=dict(zip(db.disturbance_types["name"], db.disturbance_types["id"].astype(int))),
        matrices=gcbm_matrices(dmv[dmv["disturbance_matrix_id"].isin(used_dm)], pool_id),
        splits=pd.DataFrame(
            [(r[0], r[6], r[13], r[14]) for r in to_rows],
            columns=["unit_id", "branch_snag_split", "coarse_ag_split", "fine_ag_split"],
        ).set_index("unit_id"),
        matrix_of={(int(t), int(u)): int(m) for u, t, m in dma_rows if int(t) in set(disturbance_type_ids)},
    )
