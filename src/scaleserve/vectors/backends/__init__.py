"""The vector stores: embedded (hnswlib + SQLite) and PostgreSQL with pgvector."""
