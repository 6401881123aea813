"""Folding the score tables into metrics: intervals, seeds, levels per face width, and the privacy thresholds.

Identification with an exact chance level (issue 25): per-probe outcomes against a gallery (``identification``),
their identity-cluster bootstrap (``cluster_bootstrap``) and the monotone threshold rule (``verdicts``).
"""
