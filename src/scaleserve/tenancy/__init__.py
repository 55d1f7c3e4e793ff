"""Tenants, hashed API keys, rate limits and quotas, usage and cost.

The gateway uses three things from here: ``authenticate`` (a bearer key to its tenant),
``admit`` (a tenant's limits, before its work is queued) and ``record_usage``.
"""
