"""Alembic migrations, run programmatically by modelreg.db.migrate."""
