"""The prediction audit log: records, the buffered sink, stores, redaction, export."""
