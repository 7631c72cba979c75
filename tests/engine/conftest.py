"""Engine fixtures: the FLINT.Cloud demo read through the project's own readers."""

from __future__ import annotations

import pytest


@pytest.fixture(scope="session")
def demo_run_inputs(flint_demo):
    """(config, StandSet, InputDb) of the FLINT.Cloud demo."""
    from flintcloud.gcbm.config import read_gcbm_config
    from flintcloud.inputdb.reader import read_input_db
    from flintcloud.landscape.raster import read_landscape
    from flintcloud.landscape.stands import group_stands

    config = read_gcbm_config(flint_demo / "config")
    db = read_input_db(config.db_path)
    stands = group_stands(
        read_landscape(config), db.spatial_unit_id, dict(zip(db.disturbance_types["name"], db.disturbance_types["id"]))
    )
    return config, stands, db
