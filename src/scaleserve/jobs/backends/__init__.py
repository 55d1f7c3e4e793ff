"""Job stores: ``sqlite`` (embedded; ``:memory:`` for tests)."""
