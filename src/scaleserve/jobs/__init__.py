"""Durable async jobs: records, stores, the runner that executes them, webhooks."""
