"""Moved to flintcloud.gcbm.sidecar (the sidecar is part of GCBM's project format, and gcbm must not
import landscape). This name stays so that existing imports keep working; new code imports gcbm.sidecar."""

from flintcloud.gcbm.sidecar import (  # noqa: F401
    DisturbanceEvent,
    LayerSidecar,
    existing_sidecar,
    find_sidecar,
    parse_sidecar,
    read_sidecar,
    resolve_event_type,
    sidecar_candidates,
)

__all__ = ["DisturbanceEvent", "LayerSidecar", "find_sidecar", "parse_sidecar", "read_sidecar",
           "resolve_event_type", "sidecar_candidates"]
