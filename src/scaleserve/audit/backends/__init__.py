"""Audit stores: ``sqlite`` (embedded; ``:memory:`` for tests), ``postgres`` (by day)."""
