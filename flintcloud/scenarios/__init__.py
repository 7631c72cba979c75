"""Named scenarios: a baseline and alternatives built from one base project (params.yaml `scenarios:`).

`spec` parses and checks the section (pure), `edits` changes pixels and sidecars (pure), `build`
writes a scenario's project and params (I/O, through flintcloud.atomic).
"""
