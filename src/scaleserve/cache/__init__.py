"""The result cache: answers predict items the gateway has answered before, without queueing.

A model opts in with its ``cache`` attribute (``"exact"``, ``"semantic"`` or a
``CachePolicy``). ``ResultCache`` (``scaleserve.cache.result_cache``) holds every cached
model's ``ModelCache`` (``scaleserve.cache.readthrough``) over the tiers in
``scaleserve.cache.backends``; ``scaleserve.cache.keys`` says what an entry is keyed on.

Only the policy is imported here: ``scaleserve.model`` imports it, and must stay light.
"""

from scaleserve.cache.policy import CachePolicy

__all__ = ["CachePolicy"]
