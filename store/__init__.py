"""Persistence for Dockyard: SQLModel tables, engine setup, migrations and queries.

No business rules live here; ``core`` decides, ``store`` keeps.
"""
