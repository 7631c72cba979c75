"""Metrics, plots, figures, report.md, comparisons and history."""
