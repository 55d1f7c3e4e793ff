"""Where feature values are kept: in memory, in SQLite (embedded) and in Redis."""
