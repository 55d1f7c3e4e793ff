"""Tools for the hostile-input tests: raw HTTP over a socket (httpx would normalize a path
with ``..`` in it, and always sends a body it is given), a pickle that does something when
loaded, and a watch that sees any process open a file.
"""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import os
import pickle
import select
import socket
import struct
import threading
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import orjson

from scaleserve.testing import Service

TIMEOUT_S = 10.0
CHUNK = b"x" * 65536


@dataclass
class RawResponse:
    status: int
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return orjson.loads(self.body)


def error_code(response: RawResponse | httpx.Response) -> str | None:
    """The error's code in the native problem shape or OpenAI's; the Open Inference
    Protocol's error (``{"error": message}``) has none."""
    body = response.json()
    error = body.get("error")
    if isinstance(error, dict):
        return str(error["code"])
    if isinstance(error, str):
        return None
    return str(body["code"])


def error_message(response: RawResponse | httpx.Response) -> str:
    """The error's human-readable text, in any of the three shapes."""
    body = response.json()
    error = body.get("error")
    if isinstance(error, dict):
        return str(error["message"])
    return str(error if isinstance(error, str) else body["detail"])


@dataclass
class Listener:
    """Where a raw request goes, and the headers that authenticate it."""

    url: str
    headers: dict[str, str]

    @property
    def address(self) -> tuple[str, int]:
        host, port = self.url.removeprefix("http://").rsplit(":", 1)
        return host, int(port)


def main_listener(service: Service) -> Listener:
    return Listener(service.base_url, service.headers)


def admin_listener(service: Service) -> Listener:
    return Listener(service.admin_url, service.admin_headers)


def request_head(
    listener: Listener, method: str, target: str, headers: dict[str, str] | None = None
) -> bytes:
    """The request line and headers, exactly as given: ``target`` is sent as is (UTF-8)."""
    lines = ["Host: 127.0.0.1"]
    lines += [f"{k}: {v}" for k, v in {**listener.headers, **(headers or {})}.items()]
    request_line = f"{method} {target} HTTP/1.1\r\n".encode()
    return request_line + ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")


def raw_request(
    listener: Listener,
    method: str,
    target: str,
    headers: dict[str, str] | None = None,
    body: bytes = b"",
) -> RawResponse:
    """One request on its own connection, ``target`` untouched; the whole response."""
    sent = {"Content-Length": str(len(body)), "Connection": "close", **(headers or {})}
    with socket.create_connection(listener.address, timeout=TIMEOUT_S) as sock:
        sock.sendall(request_head(listener, method, target, sent) + body)
        return read_response(sock)


def read_response(sock: socket.socket) -> RawResponse:
    """The first response on ``sock`` (its head, then ``Content-Length`` bytes of body)."""
    data = b""
    while b"\r\n\r\n" not in data:
        data += _recv(sock)
    head, _, body = data.partition(b"\r\n\r\n")
    status_line, *header_lines = head.decode("latin-1").split("\r\n")
    headers = {}
    for line in header_lines:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    length = int(headers.get("content-length", "0"))
    while len(body) < length:
        body += _recv(sock)
    return RawResponse(int(status_line.split()[1]), headers, body[:length])


def _recv(sock: socket.socket) -> bytes:
    data = sock.recv(65536)
    if not data:
        raise ConnectionError("the server closed the connection before it answered")
    return data


def send_while_waiting(sock: socket.socket, frames: Iterable[bytes]) -> tuple[RawResponse, int]:
    """Send ``frames`` from a thread while this one waits for the answer; return the answer
    and how much of the body had been sent when it came. The thread then stops."""
    sent = [0]
    answered = threading.Event()

    def push() -> None:
        with contextlib.suppress(OSError):  # the server closed the connection
            for frame in frames:
                if answered.is_set():
                    return
                sock.sendall(frame)
                sent[0] += len(frame)

    sender = threading.Thread(target=push, daemon=True)
    sender.start()
    try:
        # how much was sent when the answer began to arrive, not once it was all read: the
        # sender goes on meanwhile, by as much as a busy machine lets it
        select.select([sock], [], [], TIMEOUT_S)
        sent_when_answered = sent[0]
        response = read_response(sock)
        return response, sent_when_answered
    finally:
        answered.set()
        sock.shutdown(socket.SHUT_RDWR)
        sender.join(TIMEOUT_S)


def chunked(total_bytes: int) -> Iterator[bytes]:
    """A chunked request body of ``total_bytes`` of data, without its last chunk: it never
    says it has ended."""
    frame = f"{len(CHUNK):x}\r\n".encode() + CHUNK + b"\r\n"
    for _ in range(total_bytes // len(CHUNK)):
        yield frame


class Creates:
    """Makes the directory ``path`` when unpickled: a real exploit's shape (``__reduce__``
    calling a function of the attacker's choice), harmless."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def __reduce__(self) -> tuple[Any, tuple[str]]:
        return (os.mkdir, (str(self.path),))


def pickle_payload(canary: Path) -> bytes:
    return pickle.dumps(Creates(canary))


IN_ACCESS = 0x1
IN_OPEN = 0x20


class OpenWatch:
    """Sees any process open or read one file (Linux inotify)."""

    def __init__(self, path: Path) -> None:
        libc = ctypes.CDLL(ctypes.util.find_library("c"), use_errno=True)
        self._fd = libc.inotify_init1(os.O_NONBLOCK | os.O_CLOEXEC)
        if self._fd < 0 or libc.inotify_add_watch(self._fd, bytes(path), IN_OPEN | IN_ACCESS) < 0:
            raise OSError(ctypes.get_errno(), f"cannot watch {path}")

    def events(self) -> int:
        """How many opens and reads happened since the last call."""
        count = 0
        with contextlib.suppress(BlockingIOError):
            while data := os.read(self._fd, 4096):
                count += sum(1 for _ in _inotify_events(data))
        return count

    def close(self) -> None:
        os.close(self._fd)


def _inotify_events(data: bytes) -> Iterator[int]:
    offset = 0
    while offset < len(data):
        _, mask, _, name_length = struct.unpack_from("iIII", data, offset)
        yield mask
        offset += 16 + name_length


@contextlib.contextmanager
def watching(path: Path) -> Iterator[OpenWatch]:
    """An ``OpenWatch`` on ``path``, proven to see an open before it is handed over."""
    watch = OpenWatch(path)
    try:
        path.read_bytes()
        if watch.events() == 0:
            raise RuntimeError(f"the watch on {path} does not see opens")
        yield watch
    finally:
        watch.close()
