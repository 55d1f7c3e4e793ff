"""The user-facing model class and the deployment spec derived from it."""
