"""Area disturbed at least once, beside the sum of disturbance events.

GCBM's compiled `v_total_disturbed_areas` sums events: a stand burnt in 2012 and harvested in
2016 counts twice, so "area disturbed" can exceed the area. The area disturbed at least once
needs to know which pixels the events hit, which the compiled output does not keep; it comes
from the run's disturbance layers, grouped into stands exactly as the engine grouped them
(flintcloud.landscape.group_stands: only simulated pixels, only events inside the window).

`read_area_disturbed_once(config_dir)` does the I/O; `area_disturbed_once(stands, events)` is pure.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

ANY = "_any"  # key of the area disturbed at least once by any type
EVENTS = "_events"  # key of the summed area of every event (what v_total_disturbed_areas sums)


def area_disturbed_once(stands: pd.DataFrame, events: pd.DataFrame) -> dict[str, float]:
    """{disturbance type: area (ha) of the stands it hit at least once, ANY: by any type,
    EVENTS: area summed over every event} from a StandSet's stands (area_ha) and events."""
    area = stands["area_ha"].astype(float)
    out: dict[str, float] = {}
    if events.empty:
        return {ANY: 0.0, EVENTS: 0.0}
    types = events["disturbance_type"].astype(str)
    for name, sids in events.groupby(types)["stand_id"]:
        out[str(name)] = float(area.loc[sids.unique()].sum())
    out[ANY] = float(area.loc[events["stand_id"].unique()].sum())
    out[EVENTS] = float(area.loc[events["stand_id"]].sum())
    return out


def read_area_disturbed_once(config_dir: str | Path) -> dict[str, float]:
    """area_disturbed_once for the GCBM configuration in `config_dir`: its layers grouped the way the run
    groups them, with the input database's disturbance types (a sidecar's `disturbance_type_id` is a
    disturbance_type.code, named here as the run names it)."""
    from flintcloud.gcbm.config import read_gcbm_config
    from flintcloud.inputdb.reader import read_input_db
    from flintcloud.landscape.raster import read_landscape
    from flintcloud.landscape.stands import group_stands

    config = read_gcbm_config(config_dir)
    inputs = read_input_db(config.db_path)
    stand_set = group_stands(read_landscape(config), inputs.spatial_unit_id, inputs.disturbance_type_ids(),
                             inputs.disturbance_type_codes())
    return area_disturbed_once(stand_set.stands, stand_set.events)
