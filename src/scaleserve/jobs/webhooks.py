"""Webhook delivery for finished jobs: signed, pinned to checked addresses, retried.

    async with WebhookSender(settings) as sender:
        result = await sender.deliver(job.webhook_url, job.id, body)

``check_url`` runs when a job is submitted; ``WebhookSender.deliver`` checks again,
resolves the host once, refuses if any address is forbidden (``scaleserve.jobs.ssrf``)
and connects only to the checked addresses, keeping the original ``Host`` header and
the TLS server name. Redirects are never followed. Every request carries

    Scaleserve-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256(secret, b"<t>." + body)>
    Idempotency-Key: <job id>
    Scaleserve-Job-Id: <job id>

and receivers check the first with ``verify_signature``.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import hmac
import random
import ssl
import time
from collections.abc import AsyncGenerator, Awaitable, Callable
from dataclasses import dataclass, field
from email.utils import parsedate_to_datetime
from functools import cached_property
from http.cookiejar import CookieJar, DefaultCookiePolicy
from types import TracebackType
from typing import Self, cast

import httpx

from scaleserve.errors import ConfigError, WebhookRefused
from scaleserve.jobs.ssrf import (
    Allowlist,
    IPAddress,
    Resolver,
    Target,
    TargetPolicy,
    parse_target,
    pin_addresses,
    resolve_host,
)
from scaleserve.observe import tracing

SIGNATURE_HEADER = "Scaleserve-Signature"
IDEMPOTENCY_HEADER = "Idempotency-Key"
JOB_ID_HEADER = "Scaleserve-Job-Id"
USER_AGENT = "scaleserve-webhook/1"

Sleep = Callable[[float], Awaitable[None]]


@dataclass(frozen=True)
class WebhookSettings:
    """How webhooks are signed, where they may go, and how hard delivery tries.

    ``allowed_hosts`` holds exact host names, IP addresses and CIDR networks that are
    trusted explicitly: they may use http and private or loopback addresses (a local
    receiver on 127.0.0.1, say). A name in it is trusted whatever it resolves to.
    ``allow_private_networks`` permits RFC 1918, CGNAT and ULA addresses, never
    loopback, link-local (cloud metadata) or embedded-IPv4 forms. ``ca_file``, when
    set, is the only CA bundle trusted for https, instead of the default one.
    """

    secret: bytes = field(repr=False)  # never in a log line or a traceback (R9)
    allowed_hosts: frozenset[str] = frozenset()
    allow_private_networks: bool = False
    require_https: bool = True
    timeout_s: float = 5.0
    max_attempts: int = 5
    first_backoff_s: float = 0.5
    max_backoff_s: float = 30.0
    max_response_bytes: int = 64 * 1024
    ca_file: str | None = None

    def __post_init__(self) -> None:
        if not self.secret:
            raise ConfigError("the webhook signing secret is empty")
        if self.timeout_s <= 0 or self.max_attempts < 1 or self.max_response_bytes < 1:
            raise ConfigError("webhook timeout_s, max_attempts and max_response_bytes must be > 0")
        if not 0 <= self.first_backoff_s <= self.max_backoff_s:
            raise ConfigError("webhook backoffs need 0 <= first_backoff_s <= max_backoff_s")
        _ = self.policy  # an invalid allowed host fails here, at start

    @cached_property
    def policy(self) -> TargetPolicy:
        """The URL and address rules these settings describe."""
        return TargetPolicy(
            allowlist=Allowlist.parse(self.allowed_hosts),
            allow_private_networks=self.allow_private_networks,
            require_https=self.require_https,
        )


def check_url(url: str, settings: WebhookSettings) -> None:
    """Refuses a callback URL at submission; raises ``WebhookRefused`` naming the reason.

    Checks the text only (scheme, credentials, IP-literal hosts however spelt); names
    are resolved and checked again at delivery.
    """
    parse_target(url, settings.policy)


def sign(secret: bytes, body: bytes, timestamp: int) -> str:
    """The ``Scaleserve-Signature`` header value for ``body`` sent at ``timestamp``."""
    return f"t={timestamp},v1={_digest(secret, timestamp, body)}"


def _digest(secret: bytes, timestamp: int, body: bytes) -> str:
    return hmac.new(secret, f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()


def verify_signature(
    secret: bytes, header: str, body: bytes, tolerance_s: float = 300, now: float | None = None
) -> bool:
    """Whether ``header`` signs ``body`` with ``secret`` within ``tolerance_s`` of ``now``.

    For receivers. Accepts any of several ``v1=`` values (secret rotation); compares
    in constant time; a malformed header is simply not valid.
    """
    parsed = _parse_signature(header)
    if parsed is None:
        return False
    timestamp, candidates = parsed
    current = time.time() if now is None else now
    if abs(current - timestamp) > tolerance_s:
        return False
    expected = _digest(secret, timestamp, body).encode()
    return any(hmac.compare_digest(expected, candidate.encode()) for candidate in candidates)


def _parse_signature(header: str) -> tuple[int, list[str]] | None:
    timestamp: int | None = None
    candidates: list[str] = []
    for part in header.split(","):
        key, _, value = part.strip().partition("=")
        if key == "t" and value.isascii() and value.isdigit():
            timestamp = int(value)
        elif key == "v1":
            candidates.append(value)
    if timestamp is None or not candidates:
        return None
    return timestamp, candidates


@dataclass(frozen=True)
class DeliveryResult:
    """How a delivery ended: ``refused`` means the URL or its addresses failed the policy."""

    delivered: bool
    attempts: int
    status_code: int | None = None
    error: str | None = None
    refused: bool = False


@dataclass(frozen=True)
class _Attempt:
    delivered: bool = False
    retryable: bool = True
    status_code: int | None = None
    error: str | None = None
    retry_after_s: float | None = None


class WebhookSender:
    """Delivers webhooks through one HTTP client; an async context manager that closes it.

    ``sleep`` waits between attempts (inject a fake in tests), ``resolve`` turns a host
    name into addresses, ``clock`` gives the signature's timestamp and ``rng`` the
    backoff jitter.
    """

    def __init__(
        self,
        settings: WebhookSettings,
        *,
        sleep: Sleep = asyncio.sleep,
        resolve: Resolver = resolve_host,
        clock: Callable[[], float] = time.time,
        rng: random.Random | None = None,
    ) -> None:
        self._settings = settings
        self._sleep = sleep
        self._resolve = resolve
        self._clock = clock
        self._rng = rng or random.Random()  # noqa: S311 - jitter, not a secret
        self._client = _client(settings)

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        await self._client.aclose()

    async def deliver(
        self, url: str, job_id: str, body: bytes, *, secret: bytes | None = None
    ) -> DeliveryResult:
        """POSTs ``body`` (JSON) to ``url`` until it is accepted or attempts run out.

        Never raises for the receiver's or the network's faults: the result says how
        it ended. 2xx delivers; 3xx, 429, 5xx, timeouts and connection errors are
        retried with backoff; other 4xx stop at once. ``secret`` overrides the
        settings' secret (one per tenant). Raises ``ValueError`` for a job id that
        cannot be a header value.
        """
        if not (job_id.isascii() and job_id.isprintable() and job_id):
            raise ValueError("a job id must be printable ASCII")
        try:
            target = parse_target(url, self._settings.policy)
        except WebhookRefused as exc:
            return DeliveryResult(delivered=False, attempts=0, error=str(exc), refused=True)
        return await self._deliver(target, job_id, body, secret or self._settings.secret)

    async def _deliver(
        self, target: Target, job_id: str, body: bytes, secret: bytes
    ) -> DeliveryResult:
        addresses: list[IPAddress] = []
        outcome = _Attempt()
        attempt = 0
        while attempt < self._settings.max_attempts:
            if attempt:
                await self._sleep(self._backoff_s(attempt, outcome.retry_after_s))
            attempt += 1
            try:
                addresses = addresses or await pin_addresses(
                    target, self._settings.policy, self._resolve
                )
            except WebhookRefused as exc:
                return DeliveryResult(False, attempt - 1, error=str(exc), refused=True)
            except OSError as exc:
                outcome = _Attempt(error=f"could not resolve {target.host}: {exc}")
                continue
            address = addresses[(attempt - 1) % len(addresses)]
            outcome = await self._attempt(target, address, job_id, body, secret)
            if outcome.delivered or not outcome.retryable:
                break
        return DeliveryResult(outcome.delivered, attempt, outcome.status_code, outcome.error)

    def _backoff_s(self, failures: int, retry_after_s: float | None) -> float:
        """Full jitter over an exponential cap, or the receiver's Retry-After; both bounded."""
        cap_s = self._settings.max_backoff_s
        if retry_after_s is not None:
            return min(retry_after_s, cap_s)
        ceiling_s = self._settings.first_backoff_s * 2.0 ** min(failures - 1, 60)
        return self._rng.uniform(0, min(ceiling_s, cap_s))

    async def _attempt(
        self, target: Target, address: IPAddress, job_id: str, body: bytes, secret: bytes
    ) -> _Attempt:
        """One POST to one checked address, all within ``timeout_s``."""
        where = {"server.address": str(target.host), "server.port": target.port}
        with tracing.span("POST", where, "CLIENT") as span:  # no URL: its query may be secret
            attempt = await self._attempt_once(target, address, job_id, body, secret)
            if span is not None and attempt.status_code is not None:
                span.set_attribute("http.response.status_code", attempt.status_code)
        return attempt

    async def _attempt_once(
        self, target: Target, address: IPAddress, job_id: str, body: bytes, secret: bytes
    ) -> _Attempt:
        request = self._request(target, address, job_id, body, secret)
        deadline = asyncio.get_running_loop().time() + self._settings.timeout_s
        try:
            async with asyncio.timeout_at(deadline):
                response = await self._client.send(request, stream=True)
        except TimeoutError:
            return _Attempt(error=f"no response within {self._settings.timeout_s:g}s")
        except httpx.HTTPError as exc:
            return _Attempt(error=f"{type(exc).__name__}: {exc}")
        try:
            async with asyncio.timeout_at(deadline):
                await _drain(response, self._settings.max_response_bytes)
        except (TimeoutError, httpx.HTTPError):
            pass  # the status line already decided this attempt; the body is only drained
        finally:
            await response.aclose()
        return _classify(response)

    def _request(
        self, target: Target, address: IPAddress, job_id: str, body: bytes, secret: bytes
    ) -> httpx.Request:
        headers = {
            "Host": target.host_header,
            "Content-Type": "application/json",
            "Accept-Encoding": "identity",  # a capped read of raw bytes; no decompression bombs
            "User-Agent": USER_AGENT,
            SIGNATURE_HEADER: sign(secret, body, int(self._clock())),
            IDEMPOTENCY_HEADER: job_id,
            JOB_ID_HEADER: job_id,
        }
        tracing.inject(headers)  # the receiver's work joins the job's trace
        extensions = {}
        if target.url.scheme == "https" and target.tls_hostname is not None:
            # The connection goes to the pinned address; TLS still names and verifies the host.
            extensions["sni_hostname"] = target.tls_hostname
        return self._client.build_request(
            "POST", target.url_for(address), content=body, headers=headers, extensions=extensions
        )


def _client(settings: WebhookSettings) -> httpx.AsyncClient:
    """A client that never follows redirects, reads no proxy settings and keeps no cookies.

    No connection is kept alive: pooled by address, a TLS connection verified for one
    host name could otherwise carry a request for another name on the same address.
    """
    verify: ssl.SSLContext | bool = True
    if settings.ca_file is not None:
        verify = ssl.create_default_context(cafile=settings.ca_file)
    return httpx.AsyncClient(
        follow_redirects=False,
        trust_env=False,
        verify=verify,
        timeout=httpx.Timeout(settings.timeout_s),
        limits=httpx.Limits(max_keepalive_connections=0),
        cookies=CookieJar(policy=DefaultCookiePolicy(allowed_domains=[])),
    )


async def _drain(response: httpx.Response, max_bytes: int) -> None:
    received = 0
    raw = cast(AsyncGenerator[bytes, None], response.aiter_raw())  # it is one; typed as less
    async with contextlib.aclosing(raw) as chunks:
        async for chunk in chunks:
            received += len(chunk)
            if received >= max_bytes:
                return


def _classify(response: httpx.Response) -> _Attempt:
    status = response.status_code
    if 200 <= status < 300:
        return _Attempt(delivered=True, retryable=False, status_code=status)
    if 300 <= status < 400:
        return _Attempt(status_code=status, error=f"HTTP {status}: redirects are not followed")
    if status == 429 or status >= 500:
        retry_after_s = _retry_after_s(response.headers.get("Retry-After"))
        return _Attempt(status_code=status, error=f"HTTP {status}", retry_after_s=retry_after_s)
    return _Attempt(retryable=False, status_code=status, error=f"HTTP {status}: refused")


def _retry_after_s(value: str | None) -> float | None:
    """Seconds from a ``Retry-After`` header (delta seconds or an HTTP date); None if absent."""
    if value is None:
        return None
    value = value.strip()
    if value.isascii() and value.isdigit():
        return float(value)
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())
