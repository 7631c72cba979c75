"""A small real demo project (80 x 80 px, seeded) and params.yaml-shaped params for scenario tests."""

from __future__ import annotations

import copy
from pathlib import Path

import pytest
import yaml

from flintcloud.demo.project import generate_demo_project

REPO_ROOT = Path(__file__).resolve().parents[2]
CLEARCUT = "Clearcut harvesting with salvage"


def base_params(project_dir: Path, alternatives: dict | None = None) -> dict:
    """The repository's params.yaml pointed at `project_dir`, with these alternatives."""
    params = yaml.safe_load((REPO_ROOT / "params.yaml").read_text())
    params["project"]["dir"] = project_dir.as_posix()
    params["scenarios"]["alternatives"] = copy.deepcopy(alternatives or {})
    return params


@pytest.fixture(scope="session")
def demo_project(tmp_path_factory) -> Path:
    return generate_demo_project(tmp_path_factory.mktemp("scenario_demo") / "project", seed=42, size=80,
                                 start_year=2010, end_year=2014)
