"""The built-in demo GCBM project, generated from a seed."""

from flintcloud.demo.project import (
    ADMIN_BOUNDARY,
    CLASSIFIERS,
    ECO_BOUNDARY,
    SIZE_PRESETS,
    generate_demo_project,
    side_for,
)

__all__ = ["generate_demo_project", "side_for", "SIZE_PRESETS", "CLASSIFIERS", "ADMIN_BOUNDARY", "ECO_BOUNDARY"]
