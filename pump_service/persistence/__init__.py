"""Persistence: SQLModel tables, engine, migrations and queries."""
