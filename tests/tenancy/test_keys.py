"""API keys: their shape, bearer parsing of hostile headers, the keyed hash, and that no
store ever holds a key itself."""

from __future__ import annotations

import hashlib

import pytest

from scaleserve.errors import ConfigError
from scaleserve.tenancy.keys import (
    KeyHasher,
    bearer_key,
    key_id_of,
    looks_like_key,
    matches,
    new_key,
    new_pepper,
)
from scaleserve.tenancy.records import Limits
from scaleserve.tenancy.store import issue_key
from tests.tenancy.conftest import Backing

KEY = "ss_0123abcd_" + "A" * 42 + "w"


def test_a_new_key_has_its_id_inside() -> None:
    key_id, plaintext = new_key()
    assert len(key_id) == 8 and set(key_id) <= set("0123456789abcdef")
    prefix, inner_id, _ = plaintext.split("_", 2)
    assert prefix == "ss" and inner_id == key_id
    assert len(plaintext) == len("ss_") + 8 + 1 + 43
    assert key_id_of(plaintext) == key_id


def test_every_drawn_key_matches_the_strict_shape_and_none_repeats() -> None:
    drawn = [new_key() for _ in range(2000)]
    assert all(looks_like_key(plaintext) for _, plaintext in drawn)
    assert len({plaintext for _, plaintext in drawn}) == 2000
    assert len({plaintext.split("_", 2)[2] for _, plaintext in drawn}) == 2000


@pytest.mark.parametrize(
    "text",
    [
        "",
        KEY[:-1],
        KEY + "A",
        KEY + "\n",
        " " + KEY,
        KEY.upper(),
        KEY.replace("ss_", "SS_"),
        KEY.replace("0123abcd", "0123ABCD"),
        KEY.replace("0123abcd", "0123abc"),
        KEY[:-1] + "B",  # no 32-byte secret ends with this character
        KEY[:-1] + "=",
        KEY[:-1] + "é",
        "ss_0123abcd",
    ],
)
def test_anything_but_the_exact_shape_is_not_a_key(text: str) -> None:
    assert not looks_like_key(text)
    assert key_id_of(text) is None


@pytest.mark.parametrize("scheme", ["Bearer", "bearer", "BEARER", "bEaReR"])
def test_bearer_scheme_in_any_case(scheme: str) -> None:
    assert bearer_key(f"{scheme} {KEY}") == KEY


@pytest.mark.parametrize(
    "header",
    [
        None,
        "",
        "Bearer",
        "Bearer ",
        f"Bearer  {KEY}",
        f" Bearer {KEY}",
        f"Bearer {KEY} ",
        f"Bearer\t{KEY}",
        f"Bearer {KEY}\n",
        f"Bearer{KEY}",
        f"Bearer {KEY} {KEY}",
        f"Basic {KEY}",
        f"Token {KEY}",
        "Basic dXNlcjpwYXNz",
        "Bearer not-a-key",
        f"B\u0435arer {KEY}",  # a Cyrillic e
        f"Bearer {KEY[:-1]}\u00e9",
        f"Bearer {KEY[:-1]}\uff57",  # a fullwidth w
        "Bearer " + "x" * 10_000,
        f"Bearer {KEY}" + " " * 10_000,
    ],
)
def test_hostile_headers_give_no_key(header: str | None) -> None:
    assert bearer_key(header) is None


def test_the_hash_is_keyed_by_the_pepper() -> None:
    pepper = new_pepper()
    hasher = KeyHasher(pepper)
    digest = hasher.hash(KEY)
    assert len(digest) == 64 and digest == hasher.hash(KEY)
    assert digest == KeyHasher(pepper).hash(KEY)
    assert digest != KeyHasher(new_pepper()).hash(KEY)
    assert digest != hashlib.sha256(KEY.encode()).hexdigest()
    assert digest != hasher.hash(KEY[:-1] + "A")


def test_peppers_are_fresh_and_long_enough() -> None:
    assert len(new_pepper()) == 32 and new_pepper() != new_pepper()
    with pytest.raises(ConfigError):
        KeyHasher(b"short")


def test_matches_compares_whole_strings() -> None:
    assert matches(KEY, KEY)
    assert not matches(KEY, KEY[:-1])
    assert not matches(KEY, KEY[:-1] + "A")
    assert not matches("é", "e")  # non-ASCII text compares, never raises


async def test_no_key_is_stored_in_plaintext(durable: Backing) -> None:
    store = await durable.open()
    hasher = KeyHasher(await store.pepper())
    await store.create_tenant("acme", Limits(), 1.0)
    issued = [await issue_key(store, hasher, "acme", f"key {n}", 2.0) for n in range(3)]
    await store.revoke_key(issued[0][0].id, 3.0)
    await store.revoke_tenant("acme", 4.0)
    raw = await durable.raw()
    for record, plaintext in issued:
        secret = plaintext.split("_", 2)[2]
        assert plaintext.encode() not in raw and secret.encode() not in raw
        # the same bytes do hold what is meant to be there, so the search above can find things
        assert hasher.hash(plaintext).encode() in raw and record.id.encode() in raw
