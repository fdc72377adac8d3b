"""Evaluation: task metrics, realism (two-sample test, feature-space FID/KID), label preservation, tables.

Import from the submodules.
"""
