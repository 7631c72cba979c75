"""gcbm_input.db: read its parameters, or build one (Recliner2GCBM replacement)."""
