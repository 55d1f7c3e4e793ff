"""Queue backends: ``embedded`` (one machine, a Unix socket to the gateway)."""
