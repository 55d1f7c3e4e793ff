"""Where an outbound callback may go: URL checks, address policy and pinned resolution.

A callback URL comes from a client, so it is untrusted (OWASP SSRF Prevention Cheat
Sheet; R7). Two checks guard it:

- ``parse_target`` at submission, on text alone: scheme, userinfo, and a host that is
  an IP address however it is spelt (``2130706433``, ``0x7f000001``, ``127.1``,
  ``[::ffff:127.0.0.1]``) is normalised before the address policy sees it.
- ``pin_addresses`` at delivery: the name is resolved once, every address it resolves
  to must pass the policy, and the caller connects to those checked addresses only,
  so a DNS answer that changes between check and connect cannot redirect the call.

Hosts named in the allowlist (names, IP addresses or CIDR networks) are trusted
explicitly: they may use http and private or loopback addresses.
"""

from __future__ import annotations

import asyncio
import ipaddress
import re
import socket
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass, field

import httpx

from scaleserve.errors import ConfigError, WebhookRefused

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network
Resolver = Callable[[str, int], Awaitable[Sequence[IPAddress]]]
"""Resolves ``(host, port)`` to addresses; raises ``OSError`` when the name does not resolve."""

_SCHEMES = {"http": 80, "https": 443}
_LABEL = re.compile(r"^(?!-)[a-z0-9_-]{1,63}(?<!-)$")
_MAX_NAME_LENGTH = 253
_MAX_PORT = 65535

_PRIVATE_USE = "private"
_RULES: tuple[tuple[IPNetwork, str], ...] = tuple(
    (ipaddress.ip_network(network), reason)
    for network, reason in [
        ("0.0.0.0/8", "an unspecified ('this network') address"),
        ("10.0.0.0/8", _PRIVATE_USE),
        ("100.64.0.0/10", _PRIVATE_USE),  # CGNAT shared space; also cloud metadata services
        ("127.0.0.0/8", "a loopback address"),
        ("169.254.0.0/16", "a link-local address (cloud metadata lives here)"),
        ("172.16.0.0/12", _PRIVATE_USE),
        ("192.0.0.0/24", "an IETF protocol address"),
        ("192.0.2.0/24", "a documentation address"),
        ("192.168.0.0/16", _PRIVATE_USE),
        ("198.18.0.0/15", "a benchmarking address"),
        ("198.51.100.0/24", "a documentation address"),
        ("203.0.113.0/24", "a documentation address"),
        ("224.0.0.0/4", "a multicast address"),
        ("240.0.0.0/4", "a reserved or broadcast address"),
        ("::/128", "the unspecified address"),
        ("::1/128", "a loopback address"),
        ("::ffff:0:0/96", "an IPv4-mapped IPv6 address"),
        ("::/96", "an IPv4-compatible IPv6 address"),
        ("64:ff9b::/96", "a NAT64 address (it embeds an IPv4 address)"),
        ("64:ff9b:1::/48", "a local NAT64 address (it embeds an IPv4 address)"),
        ("100::/64", "a discard-only address"),
        ("2001::/32", "a Teredo address (it embeds an IPv4 address)"),
        ("2001:db8::/32", "a documentation address"),
        ("2002::/16", "a 6to4 address (it embeds an IPv4 address)"),
        ("fc00::/7", _PRIVATE_USE),
        ("fe80::/10", "a link-local address"),
        ("fec0::/10", "a site-local address"),
        ("ff00::/8", "a multicast address"),
    ]
)


def forbidden_reason(address: IPAddress, *, allow_private_networks: bool = False) -> str | None:
    """Why a callback must not connect to ``address``, or None when it may.

    ``allow_private_networks`` lifts only private-use ranges (RFC 1918, CGNAT, ULA);
    loopback, link-local, unspecified, multicast and embedded-IPv4 forms stay refused.
    """
    for network, reason in _RULES:
        if address in network:
            if reason != _PRIVATE_USE:
                return reason
            return None if allow_private_networks else "a private-network address"
    if not address.is_global:
        return "not a globally routable address"
    return None


@dataclass(frozen=True)
class Allowlist:
    """Hosts trusted explicitly: exact DNS names and IP networks (one address is a /32 or /128)."""

    names: frozenset[str] = frozenset()
    networks: tuple[IPNetwork, ...] = ()

    @classmethod
    def parse(cls, entries: Iterable[str]) -> Allowlist:
        """Reads names, IP addresses (``[::1]`` too) and CIDR networks; ``ConfigError`` if bad."""
        names: set[str] = set()
        networks: list[IPNetwork] = []
        for entry in entries:
            text = entry.strip().lower().removeprefix("[").removesuffix("]")
            try:
                networks.append(ipaddress.ip_network(text))
            except ValueError:
                names.add(_allowlisted_name(entry))
        return cls(frozenset(names), tuple(networks))

    def permits_host(self, host: IPAddress | str) -> bool:
        """Whether a normalised URL host is trusted by name or by address."""
        if isinstance(host, str):
            return host in self.names
        return self.permits_address(host)

    def permits_address(self, address: IPAddress) -> bool:
        return any(address in network for network in self.networks)


def _allowlisted_name(entry: str) -> str:
    try:
        host = normalise_host(entry.strip())
    except WebhookRefused as exc:
        raise ConfigError(f"allowed host {entry!r} is not a name, address or network") from exc
    if not isinstance(host, str):
        raise ConfigError(f"allowed host {entry!r} is an unusual spelling of {host}; write that")
    return host


@dataclass(frozen=True)
class TargetPolicy:
    """The rules a callback URL and its addresses must pass."""

    allowlist: Allowlist = field(default_factory=Allowlist)
    allow_private_networks: bool = False
    require_https: bool = True

    def address_refusal(self, address: IPAddress) -> str | None:
        if self.allowlist.permits_address(address):
            return None
        return forbidden_reason(address, allow_private_networks=self.allow_private_networks)


@dataclass(frozen=True)
class Target:
    """A callback URL that passed ``parse_target``, with its host normalised."""

    url: httpx.URL
    host: IPAddress | str
    port: int
    allowlisted: bool

    @property
    def host_header(self) -> str:
        """The ``Host`` header for the original URL (the request itself goes to an address)."""
        return self.url.netloc.decode("ascii")

    @property
    def tls_hostname(self) -> str | None:
        """The name TLS must send as SNI and verify, when the host is a name."""
        return self.host if isinstance(self.host, str) else None

    def url_for(self, address: IPAddress) -> httpx.URL:
        """The original URL with its host replaced by a checked address."""
        return self.url.copy_with(host=str(address))


def parse_target(url: str, policy: TargetPolicy) -> Target:
    """Checks a callback URL on its text alone; raises ``WebhookRefused`` naming the reason."""
    parsed = _parse_url(url)
    host = normalise_host(parsed.raw_host.decode("ascii"))
    port = parsed.port if parsed.port is not None else _SCHEMES[parsed.scheme]
    if not 0 < port <= _MAX_PORT:
        raise WebhookRefused(f"port {port} is out of range")
    allowlisted = policy.allowlist.permits_host(host)
    if parsed.scheme == "http" and policy.require_https and not allowlisted:
        raise WebhookRefused("plain http is not allowed; use https")
    if not allowlisted:
        _refuse_host(host, policy)
    return Target(parsed, host, port, allowlisted)


def _refuse_host(host: IPAddress | str, policy: TargetPolicy) -> None:
    if isinstance(host, str):
        # RFC 6761: these names are loopback by definition; say so now, not at delivery.
        if host == "localhost" or host.endswith(".localhost"):
            raise WebhookRefused(f"host {host} is a loopback name")
        return
    reason = policy.address_refusal(host)
    if reason is not None:
        raise WebhookRefused(f"host {host} is {reason}")


def _parse_url(url: str) -> httpx.URL:
    try:
        parsed = httpx.URL(url)
    except (httpx.InvalidURL, TypeError) as exc:
        raise WebhookRefused(f"not a valid URL ({exc})") from exc
    if parsed.scheme not in _SCHEMES:
        scheme = parsed.scheme or "none"
        raise WebhookRefused(f"scheme {scheme!r} is not allowed; use https")
    if parsed.userinfo:
        raise WebhookRefused("credentials in the URL (user:password@) are not allowed")
    if not parsed.raw_host:
        raise WebhookRefused("the URL has no host")
    return parsed


def normalise_host(host: str) -> IPAddress | str:
    """An ``IPAddress`` for every spelling of one, else a lowercase DNS name.

    Follows the WHATWG URL host parser: a host whose last label is a number is an
    IPv4 address in decimal, octal or hex, in one to four parts, or it is invalid.
    Raises ``WebhookRefused`` for a host that is neither.
    """
    text = host.lower()
    if ":" in text:
        return _ipv6(text)
    if text.endswith(".") and text != ".":
        text = text[:-1]
    labels = text.split(".")
    if _is_number(labels[-1]):
        return _ipv4(text, labels)
    if len(text) > _MAX_NAME_LENGTH or not all(_LABEL.match(label) for label in labels):
        raise WebhookRefused(f"host {host!r} is not a valid DNS name")
    return text


def _ipv6(text: str) -> ipaddress.IPv6Address:
    if "%" in text:
        raise WebhookRefused("IPv6 zone identifiers are not allowed")
    try:
        return ipaddress.IPv6Address(text.removeprefix("[").removesuffix("]"))
    except ValueError as exc:
        raise WebhookRefused(f"host {text!r} is not a valid IPv6 address") from exc


def _is_number(label: str) -> bool:
    if label.startswith("0x"):
        return all(char in "0123456789abcdef" for char in label[2:])
    return label.isascii() and label.isdigit()


def _ipv4(text: str, labels: list[str]) -> ipaddress.IPv4Address:
    numbers = [_ipv4_number(label, text) for label in labels]
    if len(numbers) > 4 or any(number > 255 for number in numbers[:-1]):
        raise WebhookRefused(f"host {text!r} is not a valid IPv4 address")
    if numbers[-1] >= 256 ** (5 - len(numbers)):
        raise WebhookRefused(f"host {text!r} is not a valid IPv4 address")
    value = numbers[-1]
    for index, number in enumerate(numbers[:-1]):
        value += number * 256 ** (3 - index)
    return ipaddress.IPv4Address(value)


def _ipv4_number(label: str, text: str) -> int:
    if not label:
        raise WebhookRefused(f"host {text!r} is not a valid IPv4 address")
    radix = 10
    if label.startswith("0x"):
        label, radix = label[2:], 16
    elif len(label) > 1 and label.startswith("0"):
        label, radix = label[1:], 8
    try:
        return int(label, radix) if label else 0
    except ValueError as exc:
        raise WebhookRefused(f"host {text!r} is not a valid IPv4 address") from exc


async def resolve_host(host: str, port: int) -> list[IPAddress]:
    """Every address ``host`` resolves to for TCP, in the resolver's order, once each."""
    loop = asyncio.get_running_loop()
    infos = await loop.getaddrinfo(host, port, type=socket.SOCK_STREAM, proto=socket.IPPROTO_TCP)
    addresses: list[IPAddress] = []
    for info in infos:
        # An IPv6 sockaddr may carry a scope ("fe80::1%eth0"); the policy refuses those anyway.
        address = ipaddress.ip_address(str(info[4][0]).split("%", 1)[0])
        if address not in addresses:
            addresses.append(address)
    return addresses


async def pin_addresses(
    target: Target, policy: TargetPolicy, resolve: Resolver = resolve_host
) -> list[IPAddress]:
    """The checked addresses to connect to: the host's own, or what its name resolves to now.

    Resolves once; refuses (``WebhookRefused``) when ANY resolved address is forbidden,
    so a name with one public and one loopback answer is refused. Raises ``OSError``
    when the name does not resolve.
    """
    if not isinstance(target.host, str):
        return [target.host]
    addresses = list(await resolve(target.host, target.port))
    if not addresses:
        raise OSError(f"{target.host} resolved to no address")
    if target.allowlisted:
        return addresses
    for address in addresses:
        reason = policy.address_refusal(address)
        if reason is not None:
            raise WebhookRefused(f"host {target.host} resolves to {address}, {reason}")
    return addresses
