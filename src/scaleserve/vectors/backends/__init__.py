"""The vector stores: embedded (usearch + SQLite) and PostgreSQL with pgvector."""
