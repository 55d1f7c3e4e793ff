"""Read-through caching of one model's predict items, in front of the broker.

Per item: the exact tiers first; then, for a semantic policy, a close and guarded
neighbour; what is still missing goes to the model's queue (each distinct item once), and
its outputs fill the cache. When the model cannot answer (no ready worker, queue over its
bound or unreachable, worker lost) and the policy allows it, expired entries answer instead,
marked stale.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from scaleserve.cache import keys
from scaleserve.cache.backend import Entry
from scaleserve.cache.outcome import DEFAULT_CONTROL, CacheControl, Served, Tally
from scaleserve.cache.policy import CachePolicy
from scaleserve.cache.tiers import TieredStore
from scaleserve.errors import NoHealthyWorker, Overloaded, QueueUnavailable, WorkerLost
from scaleserve.observe import metrics, tracing
from scaleserve.queue.broker import Broker

if TYPE_CHECKING:  # the semantic modules load numpy and usearch: only where used
    from scaleserve.cache.semantic_lookup import SemanticLookup, SemanticResult

MAX_NAMESPACES = 100_000
"""Key prefixes remembered per (version, tenant) before the memo starts afresh."""
_SERVED_BY_TIER = {"memory": Served.HIT_MEMORY, "redis": Served.HIT_REDIS}
_DEGRADED = (Overloaded, NoHealthyWorker, QueueUnavailable, WorkerLost)


@dataclass(frozen=True)
class Answer:
    outputs: list[bytes]
    x_cache: bytes  # the X-Cache header value


@dataclass(slots=True)
class _Request:
    """One request's items on their way through the cache."""

    payloads: Sequence[bytes]
    keys: list[str]
    namespace: str
    outputs: list[bytes | None]
    tally: Tally
    control: CacheControl
    misses: list[int]
    stale: dict[int, Entry]


class ModelCache:
    """The cache in front of one model; see the module docstring."""

    def __init__(
        self,
        model: str,
        version: str,
        policy: CachePolicy,
        *,
        store: TieredStore,
        broker: Broker,
        prefix: str = keys.DEFAULT_PREFIX,
        semantic: SemanticLookup | None = None,
        clock: Callable[[], float] = time.time,
        version_of: Callable[[], str | None] | None = None,
    ) -> None:
        self.model = model
        self.policy = policy
        self.semantic = semantic
        self._store = store
        self._broker = broker
        self._clock = clock
        self._prefix = prefix
        self._version = version
        self._version_of = version_of
        self._namespaces: dict[tuple[str, str], str] = {}
        self._tier_counts = [
            (tier, metrics.CACHE_LOOKUPS.labels(model, tier, "hit"),
             metrics.CACHE_LOOKUPS.labels(model, tier, "miss"))
            for tier in store.tier_names
        ]  # fmt: skip
        self._stale_count = metrics.CACHE_STALE.labels(model)

    def namespace(self, tenant: str | None = None) -> str:
        """Where this model's entries for ``tenant`` live (``None``: the default tenant), at
        the version answering this request (a registry model's router picks it)."""
        version = (self._version_of() if self._version_of else None) or self._version
        public = self.policy.scope == "public"
        tenant = keys.PUBLIC_SCOPE if public else tenant or keys.DEFAULT_TENANT
        found = self._namespaces.get((version, tenant))
        if found is None:
            scope = tenant if public else keys.tenant_scope(tenant)
            found = keys.namespace(self._prefix, self.model, version, scope)
            if len(self._namespaces) > MAX_NAMESPACES:
                self._namespaces.clear()
            self._namespaces[(version, tenant)] = found
        return found

    async def answer(
        self,
        payloads: Sequence[bytes],
        timeout_s: float,
        tenant: str | None = None,
        control: CacheControl = DEFAULT_CONTROL,
    ) -> Answer:
        """The outputs of ``payloads`` (JSON items) in order, from the cache or the model.

        Raises what ``Broker.submit`` raises when the model cannot answer the misses and no
        stale entry may stand in for them.
        """
        namespace = self.namespace(tenant)
        item_keys = [namespace + keys.digest(p) for p in payloads]
        request = _Request(payloads, item_keys, namespace, [None] * len(payloads), Tally(),
                           control, [], {})  # fmt: skip
        if control.read:
            with tracing.span("cache lookup", {"scaleserve.model": self.model}) as span:
                await self._look_up(request)
                if span is not None:
                    span.set_attribute("scaleserve.cache.misses", len(request.misses))
        else:
            request.misses = list(range(len(payloads)))
        if request.misses:
            await self._answer_misses(request, timeout_s)
        outputs = [o for o in request.outputs if o is not None]
        if len(outputs) != len(payloads):  # every path above answers every item, or raises
            raise RuntimeError(f"the cache of {self.model!r} left items unanswered")
        return Answer(outputs, request.tally.header())

    async def _look_up(self, request: _Request) -> None:
        found = await self._store.get_many(self.model, request.keys)
        now = self._clock()
        hits = dict.fromkeys(_SERVED_BY_TIER, 0)
        for i, found_one in enumerate(found):
            if found_one is not None and found_one.entry.fresh(now):
                request.outputs[i] = found_one.entry.output
                hits[found_one.tier] += 1
            else:
                request.misses.append(i)
                if found_one is not None:
                    request.stale[i] = found_one.entry
        looked_up = len(found)
        for tier, hit_count, miss_count in self._tier_counts:
            tier_hits = hits[tier]
            if tier_hits:
                hit_count.inc(tier_hits)
                request.tally.add(_SERVED_BY_TIER[tier], tier_hits)
            if looked_up > tier_hits:
                miss_count.inc(looked_up - tier_hits)
            looked_up -= tier_hits
            if not looked_up:
                break

    async def _answer_misses(self, request: _Request, timeout_s: float) -> None:
        if (
            request.stale
            and self._broker.ready_workers(self.model) == 0
            and self._serve_stale(request)
        ):
            return  # the model is down: no point queueing, nor embedding
        deadline = time.monotonic() + timeout_s
        semantic = None
        if self.semantic is not None and request.control.read:
            semantic = await self.semantic.lookup(
                request.payloads, request.keys, request.misses, request.namespace, timeout_s
            )
            self._take_semantic_hits(request, semantic)
        outputs: dict[str, bytes] = {}
        if request.misses:
            try:
                outputs = await self._submit(request, max(deadline - time.monotonic(), 0.001))
            except _DEGRADED:
                if self._serve_stale(request):
                    return
                raise
        if request.control.store:
            await self._fill(request, outputs, semantic)

    def _take_semantic_hits(self, request: _Request, semantic: SemanticResult) -> None:
        if not semantic.hits:
            return  # nothing to take
        for i, entry in semantic.hits.items():
            request.outputs[i] = entry.output
        request.misses = [i for i in request.misses if i not in semantic.hits]
        request.tally.add(Served.HIT_SEMANTIC, len(semantic.hits))

    async def _submit(self, request: _Request, timeout_s: float) -> dict[str, bytes]:
        """Each distinct missing item once; its output by key."""
        distinct = {request.keys[i]: request.payloads[i] for i in request.misses}
        outputs = await self._broker.submit(self.model, list(distinct.values()), timeout_s)
        by_key = dict(zip(distinct, outputs, strict=True))
        for i in request.misses:
            request.outputs[i] = by_key[request.keys[i]]
        request.tally.add(Served.MISS, len(request.misses))
        return by_key

    async def _fill(
        self, request: _Request, outputs: dict[str, bytes], semantic: SemanticResult | None
    ) -> None:
        now = self._clock()
        fresh_until = now + self.policy.ttl_s
        keep_until = fresh_until + self.policy.stale_s
        entries = [(key, Entry(output, fresh_until, keep_until)) for key, output in outputs.items()]
        if semantic is not None:
            # A semantic hit is also remembered exactly: the same text again is an exact hit.
            entries += [(request.keys[i], entry) for i, entry in semantic.hits.items()]
        if entries:
            await self._store.put_many(self.model, entries)
        if semantic is not None and self.semantic is not None:
            probes = semantic.probes
            await self.semantic.remember([probes[i] for i in request.misses if i in probes])

    def _serve_stale(self, request: _Request) -> bool:
        """Answer every miss with its expired entry, if each has one; else change nothing."""
        if not request.misses or any(i not in request.stale for i in request.misses):
            return False
        for i in request.misses:
            request.outputs[i] = request.stale[i].output
        request.tally.add(Served.STALE, len(request.misses))
        self._stale_count.inc(len(request.misses))
        request.misses = []
        return True
