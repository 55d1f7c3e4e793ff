"""Redaction policies: the JSON text, its sha256, or nothing."""

from __future__ import annotations

import hashlib

import pytest

from scaleserve.audit.redaction import kept
from scaleserve.errors import ConfigError


def test_full_keeps_the_text():
    assert kept(b'{"text": "hi"}', "full") == '{"text": "hi"}'
    assert kept('{"text": "hi"}', "full") == '{"text": "hi"}'


def test_hash_keeps_the_sha256_of_the_bytes():
    digest = hashlib.sha256(b'{"a": "\xc3\xa9"}').hexdigest()
    assert kept(b'{"a": "\xc3\xa9"}', "hash") == f"sha256:{digest}"
    assert kept('{"a": "é"}', "hash") == f"sha256:{digest}"


def test_none_keeps_nothing():
    assert kept(b"{}", "none") is None


def test_unknown_policy_is_refused():
    with pytest.raises(ConfigError, match="redaction policy"):
        kept(b"{}", "most")
