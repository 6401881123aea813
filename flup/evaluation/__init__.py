"""Folding the score tables into metrics: intervals, seeds, levels per face width, and the privacy thresholds."""
