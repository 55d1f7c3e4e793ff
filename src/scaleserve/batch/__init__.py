"""Offline batch inference over files: ``scaleserve batch`` and the Dask integration."""
