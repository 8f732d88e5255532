"""Database: engine and sessions, ORM models, row-level-security helpers."""
