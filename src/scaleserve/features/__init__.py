"""Online features: views declared in code, stores, ingestion and the join into batches."""

from scaleserve.features.join import FeatureNeed, FeatureUnavailable, join_batch, join_items
from scaleserve.features.store import EntityFeatures, EntityRow, FeatureStore
from scaleserve.features.views import FeatureValue, FeatureView

__all__ = [
    "EntityFeatures",
    "EntityRow",
    "FeatureNeed",
    "FeatureStore",
    "FeatureUnavailable",
    "FeatureValue",
    "FeatureView",
    "join_batch",
    "join_items",
]
