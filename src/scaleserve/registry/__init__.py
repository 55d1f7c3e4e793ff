"""The model registry: versions, their artifacts, aliases, rollouts and their history."""
