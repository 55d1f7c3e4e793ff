"""Registry metadata stores: SQLite (embedded) and PostgreSQL (distributed)."""
