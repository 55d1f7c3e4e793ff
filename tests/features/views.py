"""Feature views shared by the tests."""

from __future__ import annotations

from scaleserve.features.views import FeatureValue, FeatureView

USERS = FeatureView(
    name="users",
    entity_key="user_id",
    features={
        "age": int,
        "spend_30d": float,
        "country": str,
        "is_member": bool,
        "embedding": list[float],
    },
    ttl_s=60.0,
    defaults={"spend_30d": 0.0, "is_member": False},
)
ITEMS = FeatureView(
    name="items",
    entity_key="item_id",
    features={"price": float, "age": int},
    ttl_s=None,  # never stale
)
FULL_ROW: dict[str, FeatureValue] = {
    "age": 42,
    "spend_30d": 12.5,
    "country": "Ísland ✓",
    "is_member": True,
    "embedding": [0.25, -1.0, 3.0],
}
