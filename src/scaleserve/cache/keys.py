"""Every key and channel name the cache uses, in Redis and in memory alike.

An entry's key names everything that decides whether a cached output may answer an item::

    {prefix}:{model}:{version}:{scope}:{digest}

- ``version`` is the model's resolved version: a new version never sees an older one's
  outputs, and nothing needs flushing by hand when one is rolled out.
- ``scope`` is ``public`` for models that share their cache with every caller, else
  ``t.{tenant id}``; until tenancy exists every caller is the tenant ``default``.
- ``digest`` is a 128-bit BLAKE2b of the item's canonical JSON (object keys sorted).

``{prefix}:{model}:*`` therefore covers one model's entries of every version and scope
(purge), ``{prefix}:purge`` is the channel on which gateways tell each other to drop a
model from their memory tier, and ``{prefix}:_semantic:{model}:{embedder}:{version}`` the
stream on which they share the texts of their semantic indexes.
"""

from __future__ import annotations

import hashlib
import re

import orjson

from scaleserve.errors import ConfigError, RequestError

REDIS_PREFIX = "scaleserve"  # as scaleserve.redis_keys.PREFIX: one prefix per deployment
DEFAULT_PREFIX = REDIS_PREFIX + ":cache"
PUBLIC_SCOPE = "public"
DEFAULT_TENANT = "default"

_PREFIX_PATTERN = re.compile(r"^[A-Za-z0-9._:-]{1,100}$")
_TENANT_PATTERN = re.compile(r"^[A-Za-z0-9._-]{1,64}$")


def check_prefix(prefix: str) -> str:
    """``prefix`` if it is safe in a key and in a ``SCAN MATCH`` pattern (no glob characters)."""
    if not _PREFIX_PATTERN.fullmatch(prefix):
        raise ConfigError(f"cache key prefix {prefix!r} must match {_PREFIX_PATTERN.pattern}")
    return prefix


def cache_prefix(redis_prefix: str) -> str:
    """The prefix of the cache's keys in a deployment whose Redis keys start ``redis_prefix``."""
    return check_prefix(f"{redis_prefix}:cache")


def tenant_scope(tenant: str) -> str:
    """The scope of a tenant's private entries."""
    if not _TENANT_PATTERN.fullmatch(tenant):
        raise RequestError(f"tenant id {tenant!r} must match {_TENANT_PATTERN.pattern}")
    return "t." + tenant


def namespace(prefix: str, model: str, version: str, scope: str) -> str:
    """The key of an entry without its digest (model names and versions contain no ``:``)."""
    return f"{prefix}:{model}:{version}:{scope}:"


def canonical_json(item: bytes) -> bytes:
    """``item`` (compact JSON, as the gateway dumps a validated item) with object keys sorted.

    Only objects can be written in more than one order, so JSON with no ``{`` is already
    canonical and is returned as is.
    """
    if b"{" not in item:
        return item
    return orjson.dumps(orjson.loads(item), option=orjson.OPT_SORT_KEYS)


def digest(item: bytes) -> str:
    return hashlib.blake2b(canonical_json(item), digest_size=16).hexdigest()


def model_pattern(prefix: str, model: str) -> str:
    """``SCAN MATCH`` pattern of every entry of ``model``."""
    return f"{prefix}:{model}:*"


def purge_channel(prefix: str) -> str:
    return f"{prefix}:purge"


def semantic_stream(prefix: str, model: str, embedder: str, embedder_version: str) -> str:
    """The stream of the texts ``model``'s semantic cache indexed, as vectors of ``embedder``
    at ``embedder_version`` (another embedder's vectors do not compare)."""
    return f"{prefix}:_semantic:{model}:{embedder}:{embedder_version}"  # no model starts "_"
