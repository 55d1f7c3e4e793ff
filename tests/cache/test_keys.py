from __future__ import annotations

import pytest

from scaleserve.cache import keys
from scaleserve.errors import ConfigError, RequestError


def test_object_keys_are_sorted_at_every_depth() -> None:
    a = b'{"b":{"y":[{"q":1,"p":2}],"x":1},"a":"{"}'
    b = b'{"a":"{","b":{"x":1,"y":[{"p":2,"q":1}]}}'
    assert keys.canonical_json(a) == keys.canonical_json(b)
    assert keys.digest(a) == keys.digest(b)


def test_json_without_objects_is_already_canonical() -> None:
    assert keys.canonical_json(b'["x",1,2.5]') == b'["x",1,2.5]'


@pytest.mark.parametrize(
    ("one", "other"),
    [(b"1", b"1.0"), (b'"a"', b'"A"'), (b"[1,2]", b"[2,1]"), (b'{"a":1}', b'{"a":"1"}')],
)
def test_different_items_have_different_digests(one: bytes, other: bytes) -> None:
    assert keys.digest(one) != keys.digest(other)


def test_the_key_names_model_version_and_scope() -> None:
    prefix = keys.cache_prefix("deploy")
    tenant = keys.namespace(prefix, "m", "2", keys.tenant_scope("acme"))
    public = keys.namespace(prefix, "m", "2", keys.PUBLIC_SCOPE)
    assert tenant == "deploy:cache:m:2:t.acme:"
    assert public == "deploy:cache:m:2:public:"
    assert keys.model_pattern(prefix, "m") == "deploy:cache:m:*"
    assert tenant.startswith(keys.model_pattern(prefix, "m")[:-1])


def test_a_tenant_named_public_does_not_share_the_public_scope() -> None:
    assert keys.tenant_scope("public") != keys.PUBLIC_SCOPE


@pytest.mark.parametrize("tenant", ["", "a:b", "a*", "x" * 65, "sp ace"])
def test_bad_tenant_ids_are_refused(tenant: str) -> None:
    with pytest.raises(RequestError):
        keys.tenant_scope(tenant)


@pytest.mark.parametrize("prefix", ["", "a*b", "a b", "a?", "[x]"])
def test_prefixes_that_would_be_glob_patterns_are_refused(prefix: str) -> None:
    with pytest.raises(ConfigError):
        keys.check_prefix(prefix)
