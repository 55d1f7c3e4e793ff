"""Cache tiers: ``memory`` (in each gateway) and ``redis`` (shared by all gateways)."""
