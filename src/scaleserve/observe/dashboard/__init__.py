"""The live dashboard of the admin listener (``/admin/dashboard``): the service's own
metrics, read once a second and turned into rates, latency quantiles and gauges per model
version and tenant, streamed to a page that charts them with uPlot (shipped in ``static/``:
no build step, nothing fetched from elsewhere)."""

from scaleserve.observe.dashboard.extras import rollout_rows, usage_by_tenant
from scaleserve.observe.dashboard.feed import DashboardFeed, ReadExtras, ReadMetrics, Sampler
from scaleserve.observe.dashboard.routes import build_router

__all__ = [
    "DashboardFeed",
    "ReadExtras",
    "ReadMetrics",
    "Sampler",
    "build_router",
    "rollout_rows",
    "usage_by_tenant",
]
