"""Dockyard's domain: workspaces, projects, datasets, runs, registry, deployments, monitors.

Pure Python: nothing here imports Textual, and pandas/scikit-learn load only inside the
functions that need them.
"""
