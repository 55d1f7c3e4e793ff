"""The callback URL policy on text alone: host normalisation, address rules, the allowlist."""

from __future__ import annotations

import ipaddress

import pytest

from scaleserve.errors import ConfigError, RequestError, WebhookRefused
from scaleserve.jobs.ssrf import (
    Allowlist,
    TargetPolicy,
    forbidden_reason,
    normalise_host,
    parse_target,
)
from scaleserve.jobs.webhooks import WebhookSettings, check_url

SETTINGS = WebhookSettings(secret=b"s")


@pytest.mark.parametrize(
    ("host", "expected"),
    [
        ("2130706433", "127.0.0.1"),
        ("0x7f000001", "127.0.0.1"),
        ("0X7F000001", "127.0.0.1"),
        ("017700000001", "127.0.0.1"),
        ("127.1", "127.0.0.1"),
        ("127.0.1", "127.0.0.1"),
        ("0x7f.1", "127.0.0.1"),
        ("0177.0.0.1", "127.0.0.1"),
        ("127.0.0.1.", "127.0.0.1"),
        ("0", "0.0.0.0"),
        ("0x", "0.0.0.0"),
        ("3232235777", "192.168.1.1"),
        ("::ffff:127.0.0.1", "::ffff:7f00:1"),
        ("[::1]", "::1"),
        ("8.8.8.8", "8.8.8.8"),
    ],
)
def test_every_spelling_of_an_ip_address_is_normalised(host: str, expected: str) -> None:
    assert normalise_host(host) == ipaddress.ip_address(expected)


@pytest.mark.parametrize(
    ("host", "expected"),
    [("Example.COM", "example.com"), ("example.com.", "example.com"), ("a-b_c.test", "a-b_c.test")],
)
def test_names_are_lowercased_without_the_root_dot(host: str, expected: str) -> None:
    assert normalise_host(host) == expected


@pytest.mark.parametrize(
    "host",
    [
        "1.2.3.4.5",
        "1.2.3.256",
        "256.1",
        "1..2",
        "1.2.3.09",
        "1.0x1g.1",
        "x%20y",
        "-a.test",
        "a b",
        "fe80::1%eth0",
        "::ffff:zz",
        ".",
        "a" * 64 + ".test",
    ],
)
def test_a_host_that_is_neither_an_address_nor_a_name_is_refused(host: str) -> None:
    with pytest.raises(WebhookRefused):
        normalise_host(host)


@pytest.mark.parametrize(
    ("address", "reason"),
    [
        ("127.0.0.1", "loopback"),
        ("::1", "loopback"),
        ("10.0.0.1", "private"),
        ("172.31.255.255", "private"),
        ("192.168.0.1", "private"),
        ("100.64.0.1", "private"),
        ("fc00::1", "private"),
        ("fd00:ec2::254", "private"),
        ("169.254.169.254", "link-local"),
        ("fe80::1", "link-local"),
        ("0.0.0.0", "unspecified"),
        ("::", "unspecified"),
        ("224.0.0.1", "multicast"),
        ("ff02::1", "multicast"),
        ("240.0.0.1", "reserved"),
        ("255.255.255.255", "broadcast"),
        ("::ffff:127.0.0.1", "IPv4-mapped"),
        ("::ffff:8.8.8.8", "IPv4-mapped"),
        ("::127.0.0.1", "IPv4-compatible"),
        ("64:ff9b::7f00:1", "NAT64"),
        ("64:ff9b:1::1", "NAT64"),
        ("2002:7f00:1::", "6to4"),
        ("2001::1", "Teredo"),
        ("192.0.2.1", "documentation"),
        ("2001:db8::1", "documentation"),
    ],
)
def test_forbidden_addresses_say_why(address: str, reason: str) -> None:
    assert reason in (forbidden_reason(ipaddress.ip_address(address)) or "")


@pytest.mark.parametrize("address", ["8.8.8.8", "93.184.215.14", "2606:4700:4700::1111"])
def test_public_addresses_are_allowed(address: str) -> None:
    assert forbidden_reason(ipaddress.ip_address(address)) is None


def test_allowing_private_networks_lifts_only_private_use_ranges() -> None:
    for address in ["10.0.0.1", "192.168.0.1", "172.16.0.1", "100.64.0.1", "fd00::1"]:
        assert forbidden_reason(ipaddress.ip_address(address), allow_private_networks=True) is None
    for address in ["127.0.0.1", "::1", "169.254.169.254", "0.0.0.0", "::ffff:10.0.0.1"]:
        assert forbidden_reason(ipaddress.ip_address(address), allow_private_networks=True)


@pytest.mark.parametrize(
    ("url", "reason"),
    [
        ("file:///etc/passwd", "scheme 'file'"),
        ("gopher://x", "scheme 'gopher'"),
        ("ftp://example.com/", "scheme 'ftp'"),
        ("//example.com/", "scheme 'none'"),
        ("http://example.com/", "plain http"),
        ("https://u:p@example.com/", "credentials"),
        ("https://u@example.com/", "credentials"),
        ("https://localhost/", "loopback name"),
        ("https://a.b.localhost/", "loopback name"),
        ("https://2130706433/", "127.0.0.1 is a loopback"),
        ("https://[::ffff:127.0.0.1]/", "IPv4-mapped"),
        ("https://169.254.169.254/latest/meta-data/", "link-local"),
        ("https://[fe80::1%25eth0]/", "zone"),
        ("https://example.com:0/", "port 0"),
        ("https:///path", "no host"),
        ("https://1.2.3.999999/", "not a valid URL"),
    ],
)
def test_check_url_names_the_reason(url: str, reason: str) -> None:
    with pytest.raises(WebhookRefused, match="webhook URL refused") as refused:
        check_url(url, SETTINGS)
    assert reason in refused.value.reason
    assert isinstance(refused.value, RequestError)  # the API answers it as the client's fault


@pytest.mark.parametrize(
    "url",
    [
        "https://example.com/hook",
        "https://EXAMPLE.com./x?y=1",
        "https://8.8.8.8:8443/",
        "https://bücher.de/",
    ],
)
def test_public_https_urls_pass(url: str) -> None:
    check_url(url, SETTINGS)


def test_allowlisted_hosts_may_use_http_and_private_addresses() -> None:
    settings = WebhookSettings(
        secret=b"s", allowed_hosts=frozenset({"127.0.0.1", "[::1]", "Receiver.Local", "10.0.0.0/8"})
    )
    for url in [
        "http://127.0.0.1:8080/",
        "http://[::1]/",
        "http://receiver.local./",
        "http://10.2.3.4/",
    ]:
        check_url(url, settings)
    for url in ["http://127.0.0.2/", "https://2130706434/", "http://other.local/"]:
        with pytest.raises(WebhookRefused):
            check_url(url, settings)


def test_an_allowlisted_name_is_marked_so_delivery_trusts_its_addresses() -> None:
    policy = TargetPolicy(allowlist=Allowlist.parse(["hooks.test"]))
    assert parse_target("http://hooks.test/", policy).allowlisted
    assert not parse_target("https://other.test/", policy).allowlisted


@pytest.mark.parametrize("entry", ["10.0.0.1/8", "2130706433", "a b", "x%y"])
def test_a_bad_allowlist_entry_fails_at_start(entry: str) -> None:
    with pytest.raises(ConfigError):
        WebhookSettings(secret=b"s", allowed_hosts=frozenset({entry}))


@pytest.mark.parametrize(
    "overrides",
    [
        {"secret": b""},
        {"timeout_s": 0},
        {"max_attempts": 0},
        {"max_response_bytes": 0},
        {"first_backoff_s": 60.0, "max_backoff_s": 30.0},
        {"first_backoff_s": -1.0},
    ],
)
def test_settings_are_validated(overrides: dict[str, object]) -> None:
    values: dict[str, object] = {"secret": b"s", **overrides}
    with pytest.raises(ConfigError):
        WebhookSettings(**values)  # type: ignore[arg-type]


def test_the_secret_stays_out_of_the_settings_repr() -> None:
    assert "hunter2" not in repr(WebhookSettings(secret=b"hunter2"))
