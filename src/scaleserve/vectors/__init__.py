"""Vector collections: points (id, vector, JSON payload) searched by similarity, per tenant.

``store.VectorStore`` is the seam; ``backends/embedded.py`` keeps an HNSW graph (hnswlib)
beside a SQLite log in the data dir, ``backends/pgvector.py`` a PostgreSQL table with the
pgvector extension. Filters (``filters.py``) are parsed once against the payload's field
types and then run by each backend in its own way.
"""
