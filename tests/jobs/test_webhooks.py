"""Webhook delivery against real sockets on 127.0.0.1: signing, retries, redirects, SSRF."""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import random
import shutil
import socket
import ssl
import subprocess
import time
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest

from scaleserve.errors import WebhookRefused
from scaleserve.jobs.ssrf import IPAddress, Target, TargetPolicy, pin_addresses
from scaleserve.jobs.webhooks import (
    IDEMPOTENCY_HEADER,
    JOB_ID_HEADER,
    SIGNATURE_HEADER,
    WebhookSender,
    WebhookSettings,
    check_url,
    sign,
    verify_signature,
)

SECRET = b"test-secret"
BODY = b'{"id":"job-1","status":"succeeded","outputs":[1]}'


# --- a tiny HTTP/1.1 receiver on a real socket -------------------------------------------------


@dataclass(frozen=True)
class Reply:
    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)
    mode: str = "answer"  # "answer", "hang" (never answer) or "stream" (a body that never ends)


@dataclass(frozen=True)
class Recorded:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes


class Receiver:
    """Records every connection and request; answers with ``script`` in order, then its last."""

    def __init__(self, script: Sequence[Reply] = (Reply(),), *, host: str = "127.0.0.1") -> None:
        self.script = list(script)
        self.host = host
        self.requests: list[Recorded] = []
        self.connections = 0
        self.server_names: list[str | None] = []
        self.port = 0
        self._server: asyncio.Server | None = None
        self._tasks: set[asyncio.Task[None]] = set()

    def url(self, path: str = "/hook", host: str = "127.0.0.1", scheme: str = "http") -> str:
        return f"{scheme}://{host}:{self.port}{path}"

    async def start(self, tls: ssl.SSLContext | None = None, port: int = 0) -> None:
        if tls is not None:
            tls.sni_callback = self._record_sni
        self._server = await asyncio.start_server(self._handle, self.host, port, ssl=tls)
        self.port = int(self._server.sockets[0].getsockname()[1])

    async def stop(self) -> None:
        assert self._server is not None
        self._server.close()
        await self._server.wait_closed()
        if self._tasks:
            _, pending = await asyncio.wait(self._tasks, timeout=5)
            for task in pending:
                task.cancel()
            await asyncio.gather(*pending, return_exceptions=True)

    def _record_sni(self, _sock: ssl.SSLObject, name: str | None, _ctx: ssl.SSLContext) -> None:
        self.server_names.append(name)

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._tasks.add(task)
        self.connections += 1
        try:
            await self._serve(reader, writer)
        except (ConnectionError, asyncio.IncompleteReadError, ssl.SSLError):
            pass
        finally:
            writer.close()
            with contextlib.suppress(ConnectionError, ssl.SSLError):
                await writer.wait_closed()
            self._tasks.discard(task)

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        reply = self.script[min(len(self.requests), len(self.script) - 1)]
        if reply.mode == "hang":
            await reader.read()  # until the sender gives up and closes
            return
        self.requests.append(await _read_request(reader))
        head = [f"HTTP/1.1 {reply.status} X", "Connection: close"]
        head += [f"{name}: {value}" for name, value in reply.headers.items()]
        if reply.mode == "stream":
            writer.write(("\r\n".join(head) + "\r\n\r\n").encode())
            while True:  # a body that never ends; the sender must stop reading on its own
                writer.write(b"x" * 65536)
                await writer.drain()
        head.append("Content-Length: 2")
        writer.write(("\r\n".join(head) + "\r\n\r\nok").encode())
        await writer.drain()


async def _read_request(reader: asyncio.StreamReader) -> Recorded:
    head = (await reader.readuntil(b"\r\n\r\n")).decode("latin-1").split("\r\n")
    method, path, _ = head[0].split(" ", 2)
    headers = {}
    for line in head[1:]:
        if line:
            name, _, value = line.partition(":")
            headers[name.strip().lower()] = value.strip()
    body = await reader.readexactly(int(headers.get("content-length", "0")))
    return Recorded(method, path, headers, body)


@contextlib.asynccontextmanager
async def receiving(
    *script: Reply, tls: ssl.SSLContext | None = None, host: str = "127.0.0.1", port: int = 0
) -> AsyncIterator[Receiver]:
    receiver = Receiver(script or (Reply(),), host=host)
    await receiver.start(tls, port)
    try:
        yield receiver
    finally:
        await receiver.stop()


class Sleeps:
    """The injected sleep: records each wait, never waits."""

    def __init__(self) -> None:
        self.delays: list[float] = []

    async def __call__(self, delay_s: float) -> None:
        self.delays.append(delay_s)


class MapResolver:
    """An injected resolver for names the machine's DNS does not know; counts its calls."""

    def __init__(self, names: dict[str, list[str]]) -> None:
        self.names = names
        self.calls: list[str] = []

    async def __call__(self, host: str, port: int) -> list[IPAddress]:
        self.calls.append(host)
        if host not in self.names:
            raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
        return [ipaddress.ip_address(address) for address in self.names[host]]


def local_settings(**overrides: object) -> WebhookSettings:
    values: dict[str, object] = {
        "secret": SECRET,
        "allowed_hosts": frozenset({"127.0.0.1"}),
        "timeout_s": 5.0,
        "max_attempts": 5,
    }
    values.update(overrides)
    return WebhookSettings(**values)


def sender(settings: WebhookSettings, **kwargs: object) -> WebhookSender:
    kwargs.setdefault("sleep", Sleeps())
    return WebhookSender(settings, **kwargs)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


# --- signing -------------------------------------------------------------------------------------


def test_signature_verifies_and_rejects_tampering_staleness_and_garbage() -> None:
    now = 1_700_000_000
    header = sign(SECRET, BODY, now)
    assert header.startswith(f"t={now},v1=")
    assert verify_signature(SECRET, header, BODY, now=now + 10)
    assert not verify_signature(SECRET, header, BODY + b" ", now=now)
    assert not verify_signature(b"other", header, BODY, now=now)
    assert not verify_signature(SECRET, header, BODY, now=now + 301)
    assert not verify_signature(SECRET, header, BODY, tolerance_s=5, now=now - 6)
    for garbage in ["", "v1=abc", f"t={now}", "t=x,v1=00", f"t={now},v1=é", "nonsense"]:
        assert not verify_signature(SECRET, garbage, BODY, now=now)


def test_signature_accepts_any_of_several_v1_values_for_secret_rotation() -> None:
    now = 1_700_000_000
    rotated = sign(b"old", BODY, now) + "," + sign(SECRET, BODY, now).split(",")[1]
    assert verify_signature(SECRET, rotated, BODY, now=now)
    assert verify_signature(b"old", rotated, BODY, now=now)


# --- delivery ------------------------------------------------------------------------------------


async def test_delivery_is_signed_and_keyed_by_job_id() -> None:
    async with receiving(Reply(204)) as receiver, sender(local_settings()) as webhooks:
        result = await webhooks.deliver(receiver.url(), "job-1", BODY)
    assert result.delivered and result.attempts == 1 and result.status_code == 204
    [request] = receiver.requests
    assert request.method == "POST" and request.path == "/hook" and request.body == BODY
    assert request.headers["content-type"] == "application/json"
    assert request.headers[IDEMPOTENCY_HEADER.lower()] == "job-1"
    assert request.headers[JOB_ID_HEADER.lower()] == "job-1"
    assert verify_signature(SECRET, request.headers[SIGNATURE_HEADER.lower()], BODY)
    assert "cookie" not in request.headers


async def test_a_per_tenant_secret_overrides_the_settings_secret() -> None:
    async with receiving() as receiver, sender(local_settings()) as webhooks:
        await webhooks.deliver(receiver.url(), "job-1", BODY, secret=b"tenant-a")
    signature = receiver.requests[0].headers[SIGNATURE_HEADER.lower()]
    assert verify_signature(b"tenant-a", signature, BODY)
    assert not verify_signature(SECRET, signature, BODY)


async def test_5xx_is_retried_with_jittered_backoff_until_it_succeeds() -> None:
    sleeps = Sleeps()
    settings = local_settings(first_backoff_s=1.0, max_backoff_s=30.0)
    async with (
        receiving(Reply(500), Reply(503), Reply(200)) as receiver,
        sender(settings, sleep=sleeps, rng=random.Random(7)) as webhooks,
    ):
        result = await webhooks.deliver(receiver.url(), "job-2", BODY)
    assert result.delivered and result.attempts == 3 and result.status_code == 200
    assert len(receiver.requests) == 3
    assert {r.headers[IDEMPOTENCY_HEADER.lower()] for r in receiver.requests} == {"job-2"}
    for request in receiver.requests:
        assert verify_signature(SECRET, request.headers[SIGNATURE_HEADER.lower()], BODY)
    assert len(sleeps.delays) == 2
    assert 0 <= sleeps.delays[0] <= 1.0 and 0 <= sleeps.delays[1] <= 2.0


async def test_an_always_failing_receiver_gets_at_most_max_attempts() -> None:
    sleeps = Sleeps()
    settings = local_settings(max_attempts=4, first_backoff_s=10.0, max_backoff_s=15.0)
    async with receiving(Reply(500)) as receiver, sender(settings, sleep=sleeps) as webhooks:
        result = await webhooks.deliver(receiver.url(), "job-3", BODY)
    assert not result.delivered and not result.refused
    assert result.attempts == 4 and result.status_code == 500 and result.error == "HTTP 500"
    assert len(receiver.requests) == 4 and receiver.connections == 4
    assert len(sleeps.delays) == 3 and all(0 <= delay <= 15.0 for delay in sleeps.delays)


@pytest.mark.parametrize("status", [400, 401, 404, 410, 422])
async def test_a_4xx_refusal_is_not_retried(status: int) -> None:
    sleeps = Sleeps()
    async with (
        receiving(Reply(status)) as receiver,
        sender(local_settings(), sleep=sleeps) as webhooks,
    ):
        result = await webhooks.deliver(receiver.url(), "job-4", BODY)
    assert not result.delivered and result.attempts == 1 and result.status_code == status
    assert len(receiver.requests) == 1 and sleeps.delays == []


@pytest.mark.parametrize(("retry_after", "expected_s"), [("7", 7.0), ("999", 30.0)])
async def test_429_honours_retry_after_up_to_max_backoff(
    retry_after: str, expected_s: float
) -> None:
    sleeps = Sleeps()
    script = (Reply(429, {"Retry-After": retry_after}), Reply(200))
    async with receiving(*script) as receiver, sender(local_settings(), sleep=sleeps) as webhooks:
        result = await webhooks.deliver(receiver.url(), "job-5", BODY)
    assert result.delivered and result.attempts == 2
    assert sleeps.delays == [expected_s]


async def test_a_redirect_is_a_failed_attempt_and_its_location_is_never_fetched() -> None:
    async with receiving() as elsewhere:
        redirect = Reply(302, {"Location": elsewhere.url("/stolen")})
        settings = local_settings(max_attempts=3)
        async with receiving(redirect) as receiver, sender(settings) as webhooks:
            result = await webhooks.deliver(receiver.url(), "job-6", BODY)
    assert not result.delivered and result.attempts == 3 and result.status_code == 302
    assert "redirect" in (result.error or "")
    assert len(receiver.requests) == 3
    assert elsewhere.connections == 0


async def test_connection_refused_is_retried_and_reported() -> None:
    url = f"http://127.0.0.1:{free_port()}/hook"
    sleeps = Sleeps()
    async with sender(local_settings(max_attempts=3), sleep=sleeps) as webhooks:
        result = await webhooks.deliver(url, "job-7", BODY)
    assert not result.delivered and result.attempts == 3 and result.status_code is None
    assert "ConnectError" in (result.error or "")
    assert len(sleeps.delays) == 2


async def test_each_attempt_times_out() -> None:
    settings = local_settings(timeout_s=0.3, max_attempts=2)
    async with receiving(Reply(mode="hang")) as receiver, sender(settings) as webhooks:
        started = time.monotonic()
        result = await webhooks.deliver(receiver.url(), "job-8", BODY)
        elapsed_s = time.monotonic() - started
    assert not result.delivered and result.attempts == 2
    assert result.error == "no response within 0.3s"
    assert receiver.connections == 2
    assert elapsed_s < 3


async def test_the_response_read_is_capped() -> None:
    # The body never ends: only the cap, not the 10 s timeout, can end this delivery quickly.
    settings = local_settings(timeout_s=10.0, max_response_bytes=1024)
    async with receiving(Reply(200, mode="stream")) as receiver, sender(settings) as webhooks:
        started = time.monotonic()
        result = await webhooks.deliver(receiver.url(), "job-9", BODY)
        elapsed_s = time.monotonic() - started
    assert result.delivered and result.attempts == 1
    assert elapsed_s < 5


async def test_a_name_is_resolved_once_and_every_attempt_goes_to_that_address() -> None:
    resolver = MapResolver({"hooks.test": ["127.0.0.1"]})
    settings = local_settings(allowed_hosts=frozenset({"hooks.test"}))
    async with (
        receiving(Reply(500), Reply(502), Reply(200)) as receiver,
        sender(settings, resolve=resolver) as webhooks,
    ):
        result = await webhooks.deliver(receiver.url(host="hooks.test"), "job-10", BODY)
    assert result.delivered and result.attempts == 3
    assert resolver.calls == ["hooks.test"]
    assert {r.headers["host"] for r in receiver.requests} == {f"hooks.test:{receiver.port}"}


async def test_a_name_that_does_not_resolve_fails_after_bounded_attempts() -> None:
    resolver = MapResolver({})
    settings = local_settings(require_https=False, max_attempts=2)
    async with sender(settings, resolve=resolver) as webhooks:
        result = await webhooks.deliver("http://nowhere.test/hook", "job-11", BODY)
    assert not result.delivered and not result.refused and result.attempts == 2
    assert "could not resolve" in (result.error or "")


async def test_a_job_id_that_cannot_be_a_header_is_a_programming_error() -> None:
    async with sender(local_settings()) as webhooks:
        with pytest.raises(ValueError, match="job id"):
            await webhooks.deliver("http://127.0.0.1:9/", "a\r\nX-Evil: 1", BODY)


# --- https: the pinned address keeps the TLS name ------------------------------------------------


def _certificate(directory: Path, name: str) -> tuple[Path, Path]:
    if shutil.which("openssl") is None:
        pytest.skip("the openssl command is needed to make a test certificate")
    cert, key = directory / f"{name}.pem", directory / f"{name}.key"
    subprocess.run(
        [
            "openssl",
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:prime256v1",
            "-nodes",
            "-days",
            "1",
            "-subj",
            f"/CN={name}",
            "-addext",
            f"subjectAltName=DNS:{name}",
            "-keyout",
            str(key),
            "-out",
            str(cert),
        ],
        check=True,
        capture_output=True,
    )
    return cert, key


def _server_tls(cert: Path, key: Path) -> ssl.SSLContext:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert, key)
    return context


async def test_https_to_a_pinned_address_sends_and_verifies_the_host_name(tmp_path: Path) -> None:
    cert, key = _certificate(tmp_path, "hooks.test")
    resolver = MapResolver({"hooks.test": ["127.0.0.1"]})
    settings = local_settings(allowed_hosts=frozenset({"hooks.test"}), ca_file=str(cert))
    async with (
        receiving(tls=_server_tls(cert, key)) as receiver,
        sender(settings, resolve=resolver) as webhooks,
    ):
        url = receiver.url(host="hooks.test", scheme="https")
        result = await webhooks.deliver(url, "job-12", BODY)
    assert result.delivered, result.error
    assert receiver.server_names == ["hooks.test"]
    assert receiver.requests[0].headers["host"] == f"hooks.test:{receiver.port}"


async def test_https_refuses_a_certificate_for_another_name(tmp_path: Path) -> None:
    cert, key = _certificate(tmp_path, "other.test")
    resolver = MapResolver({"hooks.test": ["127.0.0.1"]})
    settings = local_settings(
        allowed_hosts=frozenset({"hooks.test"}), ca_file=str(cert), max_attempts=1
    )
    async with (
        receiving(tls=_server_tls(cert, key)) as receiver,
        sender(settings, resolve=resolver) as webhooks,
    ):
        result = await webhooks.deliver(receiver.url(host="hooks.test", scheme="https"), "j", BODY)
    assert not result.delivered and "CERTIFICATE_VERIFY_FAILED" in (result.error or "")
    assert receiver.requests == []


# --- SSRF: nothing forbidden is ever connected to -------------------------------------------------

FORBIDDEN_URLS = [
    "http://127.0.0.1:{port}/",
    "http://127.0.0.2:{port}/",
    "http://localhost:{port}/",
    "http://LOCALHOST.:{port}/",
    "http://api.localhost:{port}/",
    "http://[::1]:{port}/",
    "http://169.254.169.254:{port}/latest/meta-data/",
    "http://10.0.0.1:{port}/",
    "http://172.16.0.1:{port}/",
    "http://192.168.1.1:{port}/",
    "http://100.64.0.1:{port}/",
    "http://0.0.0.0:{port}/",
    "http://0:{port}/",
    "http://[::]:{port}/",
    "http://2130706433:{port}/",
    "http://0x7f000001:{port}/",
    "http://017700000001:{port}/",
    "http://127.1:{port}/",
    "http://0x7f.0.0.1:{port}/",
    "http://127.0.0.1.:{port}/",
    "http://[::ffff:127.0.0.1]:{port}/",
    "http://[::ffff:7f00:1]:{port}/",
    "http://[0:0:0:0:0:ffff:7f00:1]:{port}/",
    "http://[::127.0.0.1]:{port}/",
    "http://[64:ff9b::7f00:1]:{port}/",
    "http://[2002:7f00:1::]:{port}/",
    "http://[fe80::1]:{port}/",
    "http://[fe80::1%25lo]:{port}/",
    "http://[fc00::1]:{port}/",
    "http://[fd00:ec2::254]:{port}/",
    "http://224.0.0.1:{port}/",
    "http://[ff02::1]:{port}/",
    "http://240.0.0.1:{port}/",
    "http://255.255.255.255:{port}/",
    "http://user:pass@127.0.0.1:{port}/",
    "http://user@example.com:{port}/",
    "file:///etc/passwd",
    "gopher://127.0.0.1:{port}/_SET%20x",
    "gopher://x",
    "ftp://127.0.0.1:{port}/",
    "dict://127.0.0.1:{port}/",
    "http://1.2.3.4.5:{port}/",
    "http://%31%32%37.0.0.1:{port}/",
    "not a url",
]


@pytest.fixture
async def canary() -> AsyncIterator[Receiver]:
    """A listener on 127.0.0.1 (and ::1 on the same port) that must never be reached."""
    async with contextlib.AsyncExitStack() as stack:
        v4 = await stack.enter_async_context(receiving())
        canaries = [v4]
        with contextlib.suppress(OSError):  # no IPv6 loopback here: the IPv4 canary still counts
            canaries.append(await stack.enter_async_context(receiving(host="::1", port=v4.port)))
        yield v4
        assert [canary.connections for canary in canaries[1:]] == [0] * (len(canaries) - 1)


async def test_every_forbidden_form_is_refused_and_the_canary_is_never_reached(
    canary: Receiver,
) -> None:
    settings = WebhookSettings(secret=SECRET, require_https=False)  # refused for the address
    urls = [template.format(port=canary.port) for template in FORBIDDEN_URLS]
    async with sender(settings) as webhooks:
        for url in urls:
            with pytest.raises(WebhookRefused):
                check_url(url, settings)
            result = await webhooks.deliver(url, "job-ssrf", BODY)
            assert result.refused and not result.delivered and result.attempts == 0, url
    assert canary.connections == 0


async def test_with_https_required_plain_http_and_every_form_are_refused(canary: Receiver) -> None:
    settings = WebhookSettings(secret=SECRET)
    for template in [*FORBIDDEN_URLS, "http://example.com:{port}/"]:
        with pytest.raises(WebhookRefused):
            check_url(template.format(port=canary.port), settings)
    assert canary.connections == 0


@pytest.mark.parametrize(
    "answers",
    [["127.0.0.1"], ["93.184.215.14", "127.0.0.1"], ["::1"], ["169.254.169.254"], ["10.1.2.3"]],
)
async def test_a_name_resolving_to_any_forbidden_address_is_refused_at_delivery(
    canary: Receiver, answers: list[str]
) -> None:
    resolver = MapResolver({"evil.test": answers})
    settings = WebhookSettings(secret=SECRET, require_https=False)
    url = f"http://evil.test:{canary.port}/"
    check_url(url, settings)  # the text is fine; only resolution shows where it goes
    async with sender(settings, resolve=resolver) as webhooks:
        result = await webhooks.deliver(url, "job-dns", BODY)
    assert result.refused and not result.delivered and result.attempts == 0
    assert "evil.test resolves to" in (result.error or "")
    assert resolver.calls == ["evil.test"]
    assert canary.connections == 0


async def test_the_system_resolver_answer_for_localhost_is_refused(canary: Receiver) -> None:
    # The URL check refuses "localhost" by name; this goes past it to the real getaddrinfo.
    url = httpx.URL(f"http://localhost:{canary.port}/")
    target = Target(url, "localhost", canary.port, allowlisted=False)
    with pytest.raises(WebhookRefused, match="resolves to"):
        await pin_addresses(target, TargetPolicy(require_https=False))
    assert canary.connections == 0


async def test_allowlisting_the_canary_reaches_it(canary: Receiver) -> None:
    # The control for the tests above: the canary is reachable once allowed explicitly.
    async with sender(local_settings()) as webhooks:
        result = await webhooks.deliver(canary.url(), "job-ok", BODY)
    assert result.delivered
    assert canary.connections == 1


async def test_an_allowlisted_cidr_network_permits_its_addresses() -> None:
    resolver = MapResolver({"box.internal": ["127.0.0.1"]})
    settings = WebhookSettings(
        secret=SECRET, require_https=False, allowed_hosts=frozenset({"127.0.0.0/8"})
    )
    async with receiving() as receiver, sender(settings, resolve=resolver) as webhooks:
        by_address = await webhooks.deliver(receiver.url(), "job-a", BODY)
        by_name = await webhooks.deliver(receiver.url(host="box.internal"), "job-b", BODY)
    assert by_address.delivered and by_name.delivered
