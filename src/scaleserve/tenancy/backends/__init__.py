"""Where tenants, API key hashes and usage are kept: ``sqlite`` (embedded; a ``":memory:"``
path is the in-memory store) and ``redis`` (shared by every gateway). Each backend is both
a ``TenantStore`` and a ``UsageStore``."""
