"""flintcloud.gcbm.config_writer: the GCBM configuration set `configure` writes."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest
import rasterio
from affine import Affine

from flintcloud.errors import ConfigError, LayerError
from flintcloud.gcbm.config import read_gcbm_config
from flintcloud.gcbm.config_writer import (
    ALL_FILES,
    ConfigSettings,
    RasterGrid,
    SpinupOptions,
    build_gcbm_config,
    discover_project,
    indicator_catalogue,
    output_items,
    settings_from_params,
    tiles_for,
    write_gcbm_config,
)
from test_validate import CLASSIFIER1, CLASSIFIER1_ATTRS, build_project, settings, write_layer


def load(folder: Path, name: str):
    return json.loads((folder / name).read_text())


def tree_hash(folder: Path) -> dict[str, str]:
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(folder.iterdir())}


@pytest.fixture()
def project(tmp_path: Path) -> Path:
    return build_project(tmp_path)


def test_writes_the_ten_files_gcbm_reads(project: Path, tmp_path: Path):
    out = tmp_path / "config"
    written = write_gcbm_config(project, out, settings())
    assert sorted(written) == sorted(ALL_FILES)
    assert sorted(p.name for p in out.iterdir()) == sorted(ALL_FILES)
    assert (out / "gcbm_config.cfg").read_text().splitlines() == [
        "config=localdomain.json", "config=pools_cbm.json", "config=modules_cbm.json", "config=modules_output.json",
        "config=spinup.json", "config=variables.json", "config=internal_variables.json",
    ]
    local = load(out, "localdomain.json")["LocalDomain"]
    assert (local["start_date"], local["end_date"]) == ("2010/01/01", "2021/01/01")  # end date exclusive
    assert local["landscape"]["tiles"] == [{"x": -106, "y": 55, "index": 12674}]
    assert (local["landscape"]["x_pixels"], local["landscape"]["y_pixels"]) == (4000, 4000)
    assert len(load(out, "pools_cbm.json")["Pools"]) == 30
    modules = load(out, "modules_cbm.json")["Modules"]
    assert [m for m, _ in sorted(modules.items(), key=lambda kv: kv[1]["order"])] == [
        "CBMBuildLandUnitModule", "CBMSequencer", "CBMDisturbanceListener", "CBMDisturbanceEventModule",
        "CBMTransitionRulesModule", "CBMLandClassTransitionModule", "CBMGrowthModule", "CBMDecayModule",
        "CBMAgeIndicators", "TransactionManagerAfterSubmitModule",
    ]
    assert modules["CBMDisturbanceListener"]["settings"]["vars"] == ["disturbances_2012"]
    assert 'FileName="../output/logs/Moja_Debug.log"' in (out / "logging.conf").read_text()


def test_paths_are_relative_to_the_config_dir_and_point_at_the_project(project: Path, tmp_path: Path):
    out = tmp_path / "build" / "config"
    write_gcbm_config(project, out, settings(output_dir=tmp_path / "build" / "output"))
    providers = load(out, "provider_config.json")["Providers"]
    assert providers["SQLite"]["path"] == "../../project/input_database/gcbm_input.db"
    for layer in providers["RasterTiled"]["layers"]:
        assert not Path(layer["layer_path"]).is_absolute()
        assert (out / layer["layer_path"]).resolve() == (project / "layers" / "tiled" / f"{layer['name']}.tiff")
        assert layer["layer_prefix"] == layer["name"]
    assert providers["RasterTiled"]["cellLatSize"] == pytest.approx(0.00025)
    outputs = load(out, "modules_output.json")["Modules"]
    assert outputs["WriteVariableGeotiff"]["settings"]["output_path"] == "../output"
    assert outputs["CBMAggregatorSQLiteWriter"]["settings"]["databasename"] == "../output/gcbm_output.db"


def test_variables_wire_every_layer_and_the_settings(project: Path, tmp_path: Path):
    out = tmp_path / "config"
    s = settings(age_class_range=10, age_maximum=150, spinup=SpinupOptions(delay=2, minimum_rotation=5))
    write_gcbm_config(project, out, s)
    v = load(out, "variables.json")["Variables"]
    assert v["initial_classifier_set"]["transform"]["vars"] == ["Classifier1", "Classifier2"]  # db order
    for name in ("Classifier1", "Classifier2", "initial_age", "mean_annual_temperature", "disturbances_2012"):
        assert v[name]["transform"] == {"library": "internal.flint", "type": "LocationIdxFromFlintDataTransform",
                                        "provider": "RasterTiled", "data_id": name}
    assert v["initial_age"]["transform"]["data_id"] == "initial_age"
    assert (v["admin_boundary"], v["eco_boundary"]) == ("British Columbia", "Taiga Plains")
    assert (v["age_class_range"], v["age_maximum"]) == (10, 150)
    queries = [k for k, x in v.items() if isinstance(x, dict) and x.get("transform", {}).get("type") == "SQLQueryTransform"]
    assert len(queries) == 15  # as in the FLINT demo's variables.json
    spin = load(out, "spinup.json")
    assert spin["SpinupVariables"] == {"delay": 2, "minimum_rotation": 5, "run_delay": False}
    assert spin["Spinup"]["enabled"] is True


def test_our_reader_reads_back_what_we_wrote(project: Path, tmp_path: Path):
    out = tmp_path / "config"
    write_gcbm_config(project, out, settings(start_year=2001, end_year=2005, output_indicators=("NPP", "Age")))
    cfg = read_gcbm_config(out)
    assert (cfg.start_year, cfg.end_year) == (2001, 2005)
    assert cfg.classifier_layers == ["Classifier1", "Classifier2"]
    assert (cfg.age_layer, cfg.temperature_layer) == ("initial_age", "mean_annual_temperature")
    assert cfg.disturbance_layers == ["disturbances_2012"]
    assert cfg.db_path == (project / "input_database" / "gcbm_input.db").resolve()
    assert cfg.layers["Classifier1"] == (project / "layers" / "tiled" / "Classifier1.tiff").resolve()
    assert [i["data_name"] for i in cfg.output_items] == ["NPP", "Age"]
    assert cfg.output_db_path == (tmp_path / "output" / "gcbm_output.db").resolve()


def test_indicator_catalogue_is_the_flint_demo_list():
    names = list(indicator_catalogue())
    assert names[:6] == ["Age", "AG_Biomass_C", "Total_Ecosystem_C", "Total_Biomass_C", "Dead_Organic_Matter_C", "Soil_C"]
    assert len(names) == 21 and "Bio_To_DOM_From_Disturbances" in names
    assert [i["data_name"] for i in output_items(["NBP", "NPP", "NBP"])] == ["NBP", "NPP"]
    with pytest.raises(ConfigError, match=r"unknown indicator name\(s\) 'Carbon'.*known indicators: Age, AG_Biomass_C"):
        output_items(["NPP", "Carbon"])


def test_a_failed_configure_leaves_the_previous_config_untouched(project: Path, tmp_path: Path):
    out = tmp_path / "config"
    write_gcbm_config(project, out, settings())
    before = tree_hash(out)
    with pytest.raises(ConfigError, match="Carbon"):
        write_gcbm_config(project, out, settings(output_indicators=("Carbon",)))
    (project / "layers" / "tiled" / "Classifier2.json").write_text("{not json")
    with pytest.raises(LayerError, match=r"Classifier2\.json.*not valid JSON"):
        write_gcbm_config(project, out, settings(end_year=2030))
    assert tree_hash(out) == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["config", "project"]  # no temp dirs left


def test_settings_problems_are_all_reported(project: Path, tmp_path: Path):
    with pytest.raises(ConfigError) as info:
        write_gcbm_config(project, tmp_path / "c", settings(end_year=2000, classifier_layers=("Classifier1", "Species")))
    assert "'Species'" in str(info.value) and "not in" in str(info.value)
    with pytest.raises(ConfigError) as info:
        write_gcbm_config(project, tmp_path / "c", settings(end_year=2000, output_indicators=("X",)))
    assert "end year 2000 is before start year 2010" in str(info.value)
    assert "'X'" in str(info.value)
    assert not (tmp_path / "c").exists()


def test_explicit_layer_names_override_discovery(tmp_path: Path):
    project = build_project(tmp_path)
    tiled = project / "layers" / "tiled"
    # an age layer under another name, and a classifier-looking layer the project does not simulate with
    (tiled / "initial_age.tiff").rename(tiled / "stand_age.tiff")
    (tiled / "initial_age.json").rename(tiled / "stand_age.json")
    write_layer(tiled, "ownership", CLASSIFIER1, nodata=255, attributes=CLASSIFIER1_ATTRS)
    s = settings(age_layer="stand_age", classifier_layers=("Classifier2", "Classifier1"))
    project_layers = discover_project(project, s)
    roles = {x.name: x.role for x in project_layers.layers}
    assert roles["stand_age"] == "age" and roles["ownership"] == "classifier"
    docs = build_gcbm_config(project_layers, s, tmp_path / "config")
    v = docs["variables.json"]["Variables"]
    assert v["initial_age"]["transform"]["data_id"] == "stand_age"
    # The settings' classifier list wins over discovery; ownership is provided but not a classifier.
    assert v["initial_classifier_set"]["transform"]["vars"] == ["Classifier2", "Classifier1"]


def test_no_age_layer_needs_an_initial_age_and_no_temperature_layer_uses_a_value(tmp_path: Path):
    project = build_project(tmp_path)
    tiled = project / "layers" / "tiled"
    for suffix in (".tiff", ".json"):
        (tiled / f"initial_age{suffix}").unlink()
        (tiled / f"mean_annual_temperature{suffix}").unlink()
    with pytest.raises(ConfigError, match="no age layer"):
        write_gcbm_config(project, tmp_path / "c", settings())
    write_gcbm_config(project, tmp_path / "c", settings(initial_age=0, mean_annual_temperature=-1.5))
    v = load(tmp_path / "c", "variables.json")["Variables"]
    assert (v["initial_age"], v["mean_annual_temperature"]) == (0, -1.5)
    write_gcbm_config(project, tmp_path / "d", settings(initial_age=0))
    v = load(tmp_path / "d", "variables.json")["Variables"]
    assert v["mean_annual_temperature"]["transform"]["type"] == "SQLQueryTransform"
    assert "spinup_parameter" in v["mean_annual_temperature"]["transform"]["queryString"]


def test_boundaries_default_to_the_db_only_spatial_unit(project: Path, tmp_path: Path):
    write_gcbm_config(project, tmp_path / "c", settings(admin_boundary=None, eco_boundary=None))
    v = load(tmp_path / "c", "variables.json")["Variables"]
    assert (v["admin_boundary"], v["eco_boundary"]) == ("British Columbia", "Taiga Plains")


def test_tiles_follow_gcbm_numbering():
    # Belize's layers span -90..-88 E, 15..19 N: GCBM's config lists these 8 one-degree tiles.
    grid = RasterGrid(left=-90.0, bottom=15.0, right=-88.0, top=19.0, cell_x=0.01, cell_y=0.01, width=200,
                      height=400, geographic=True)
    tiles = tiles_for(grid, 1.0)
    assert {(t["x"], t["y"]): t["index"] for t in tiles} == {
        (-90, 16): 26730, (-90, 17): 26370, (-90, 18): 26010, (-90, 19): 25650,
        (-89, 16): 26731, (-89, 17): 26371, (-89, 18): 26011, (-89, 19): 25651,
    }


def test_projected_layers_get_one_tile_spanning_them(tmp_path: Path):
    project = build_project(tmp_path)
    tiled = project / "layers" / "tiled"
    utm = Affine(30.0, 0.0, 500000.0, 0.0, -30.0, 6100000.0)
    for tif in tiled.glob("*.tiff"):
        with rasterio.open(tif) as ds:
            data, nodata = ds.read(1), ds.nodata
        sidecar = json.loads(tif.with_suffix(".json").read_text())
        write_layer(tiled, tif.stem, data, nodata=nodata, attributes=sidecar.get("attributes"), transform=utm,
                    crs="EPSG:32613")
    write_gcbm_config(project, tmp_path / "c", settings())
    land = load(tmp_path / "c", "localdomain.json")["LocalDomain"]["landscape"]
    assert land["tiles"] == [{"x": 500000, "y": 6100000, "index": 0}]
    assert (land["x_pixels"], land["y_pixels"], land["tile_size_x"]) == (8, 6, 240.0)


def test_settings_from_params_reads_every_section(tmp_path: Path):
    params = {
        "project": {"dir": "data/p", "db": "data/p/db/in.db", "layers": {"classifiers": ["A", "B"], "age": "age"}},
        "simulation": {"start_year": 1990, "end_year": 1999, "engine": "gcbm-container", "admin_boundary": "X",
                       "eco_boundary": "Y", "spinup": {"enabled": False, "delay": 3}, "num_threads": 2},
        "outputs": {"indicators": ["NPP"], "years": None},
    }
    s = settings_from_params(params, base_dir=tmp_path)
    assert (s.start_year, s.end_year, s.engine) == (1990, 1999, "gcbm-container")
    assert s.classifier_layers == ("A", "B") and s.age_layer == "age"
    assert s.db_path == tmp_path / "data/p/db/in.db"
    assert s.spinup == SpinupOptions(enabled=False, delay=3, minimum_rotation=10, run_delay=False)
    assert s.output_indicators == ("NPP",) and s.num_threads == 2


def test_settings_from_params_lists_every_bad_value():
    params = {"simulation": {"start_year": "2010", "end_year": 2000.5, "engine": "docker",
                             "spinup": {"enabled": "yes"}}, "outputs": {"indicators": "NPP"}}
    with pytest.raises(ConfigError) as info:
        settings_from_params(params)
    msg = str(info.value)
    for part in ("simulation.start_year is '2010'; expected an integer", "simulation.end_year is 2000.5",
                 "engine 'docker' is not a known engine", "simulation.spinup.enabled is 'yes'",
                 "outputs.indicators must be a list"):
        assert part in msg


def test_belize_layers_with_moja_suffix_and_study_area_tags(belize_project: Path, tmp_path: Path):
    s = ConfigSettings(start_year=1900, end_year=2050, admin_boundary="Belize", eco_boundary="Pacific Maritime",
                       initial_age=0)
    project = discover_project(belize_project, s)
    assert {x.name: (x.role, x.prefix) for x in project.layers} == {
        "LifeZone": ("classifier", "LifeZone_moja"),
        "mean_annual_temperature": ("temperature", "mean_annual_temperature_moja"),
    }
    docs = build_gcbm_config(project, s, tmp_path / "config")
    shipped = json.loads((belize_project / "gcbm_project" / "localdomain.json").read_text())
    ours = docs["localdomain.json"]["LocalDomain"]
    assert ours["landscape"]["tiles"] == shipped["LocalDomain"]["landscape"]["tiles"]
    assert (ours["start_date"], ours["end_date"]) == (shipped["LocalDomain"]["start_date"],
                                                      shipped["LocalDomain"]["end_date"])
    assert ours["landscape"]["x_pixels"] == 100
    assert docs["variables.json"]["Variables"]["initial_age"] == 0
    provider = docs["provider_config.json"]["Providers"]["RasterTiled"]
    assert provider["cellLatSize"] == pytest.approx(0.01)
    assert {x["layer_prefix"] for x in provider["layers"]} == {"LifeZone_moja", "mean_annual_temperature_moja"}


def test_templates_are_not_shared_between_calls(project: Path, tmp_path: Path):
    a = build_gcbm_config(discover_project(project, settings()), settings(), tmp_path / "a")
    a["variables.json"]["Variables"]["decay_parameters"]["transform"]["queryString"] = "broken"
    a["modules_output.json"]["Modules"]["WriteVariableGeotiff"]["settings"]["items"][0]["data_name"] = "broken"
    b = build_gcbm_config(discover_project(project, settings()), settings(), tmp_path / "b")
    assert b["variables.json"]["Variables"]["decay_parameters"]["transform"]["queryString"].startswith("SELECT")
    assert b["modules_output.json"]["Modules"]["WriteVariableGeotiff"]["settings"]["items"][0]["data_name"] == "Age"


def test_two_files_for_one_layer_name_are_refused(project: Path, tmp_path: Path):
    tiled = project / "layers" / "tiled"
    write_layer(tiled, "Classifier1_moja", CLASSIFIER1, nodata=255, attributes=CLASSIFIER1_ATTRS)
    with pytest.raises(LayerError, match=r"Classifier1\.tiff' and .*Classifier1_moja\.tiff' both give layer 'Classifier1'"):
        write_gcbm_config(project, tmp_path / "config", settings())
    assert not (tmp_path / "config").exists()


def test_an_unwritable_config_location_is_a_clear_error(project: Path, tmp_path: Path):
    from flintcloud.errors import OutputError

    (tmp_path / "build").write_text("a file where the folder should be")
    with pytest.raises(OutputError, match=r"cannot write the GCBM configuration to .*build/config"):
        write_gcbm_config(project, tmp_path / "build" / "config", settings())
