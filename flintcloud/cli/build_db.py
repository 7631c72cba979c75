"""`flintcloud build-db`: growth curves CSV + CBM-CFS3 defaults -> gcbm_input.db.

A Linux replacement for the Windows-only Recliner2GCBM. The defaults are libcbm's bundled
cbm_defaults database (or another one in the same schema, --cbm-defaults).
"""

from __future__ import annotations

from pathlib import Path

import click

from flintcloud.outpaths import check_output
from flintcloud.inputdb.builder import build_gcbm_input_db


@click.command("build-db")
@click.option("--growth-curves", "growth_curves", default=None,
              type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="CSV: classifier columns, a species column (AIDB species name, e.g. AIDBSPP), "
                   "then merchantable volume (m3/ha) in one column per age (header = age).")
@click.option("--recliner-config", "recliner_config", default=None,
              type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="Instead of --growth-curves: a recliner2gcbm_config.json (GrowthCurves, TransitionRules, "
                   "DisturbanceTypeCategories; its sheets exported as CSV).")
@click.option("--out", "out", required=True, type=click.Path(dir_okay=False, path_type=Path),
              help="gcbm_input.db to write.")
@click.option("--classifiers", default=None,
              help="Comma-separated classifier column names, in classifier order "
                   "(default: every non-age column before the species column).")
@click.option("--species-column", default=None, help="Species column name (default: AIDBSPP or species).")
@click.option("--transitions", default=None, type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="Optional transitions CSV: name, age, delay[, type] and one column per classifier "
                   "(? = keep the value).")
@click.option("--admin-boundary", default=None,
              help="Check that this admin boundary (e.g. 'Saskatchewan') is in the defaults.")
@click.option("--eco-boundary", default=None,
              help="Check that this eco boundary (e.g. 'Boreal Plains') is in the defaults "
                   "(and, with --admin-boundary, that the spatial unit exists).")
@click.option("--cbm-defaults", "cbm_defaults", default=None,
              type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="cbm_defaults database (default: the one bundled with libcbm).")
@click.option("--overwrite", is_flag=True, help="Replace OUT if it exists.")
def command(growth_curves: Path | None, recliner_config: Path | None, out: Path, classifiers: str | None,
            species_column: str | None, transitions: Path | None, admin_boundary: str | None,
            eco_boundary: str | None, cbm_defaults: Path | None, overwrite: bool) -> None:
    """Build a GCBM input database (what Recliner2GCBM does on Windows)."""
    if (growth_curves is None) == (recliner_config is None):
        raise click.UsageError("give exactly one of --growth-curves and --recliner-config")
    check_output(out, inputs=[growth_curves, recliner_config, transitions, cbm_defaults], what="input database")
    names = [c.strip() for c in classifiers.split(",") if c.strip()] if classifiers else None
    summary = build_gcbm_input_db(
        growth_curves, out, classifiers=names, species_column=species_column, transitions=transitions,
        admin_boundary=admin_boundary, eco_boundary=eco_boundary, cbm_defaults_db=cbm_defaults,
        recliner_config=recliner_config, overwrite=overwrite,
    )
    click.echo(
        f"wrote {summary.path}: {summary.n_growth_curves} growth curves, classifiers "
        f"{', '.join(summary.classifier_names)}; species {', '.join(summary.species)}"
    )
