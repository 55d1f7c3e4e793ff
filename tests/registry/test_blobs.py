"""Every blob store keeps blobs the same way: the local directory and S3, the latter against
a real S3-compatible server (moto's) on loopback; and ``open_blob_store`` reads its URLs."""

from __future__ import annotations

import asyncio
import errno
import io
import os
import socket
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path, PosixPath
from typing import Any

import boto3
import httpx
import pytest
from botocore.config import Config
from botocore.stub import Stubber

from scaleserve.errors import ArtifactCorrupt, ConfigError, ServingError
from scaleserve.registry.artifacts import ArtifactCache, BlobStore, hash_file, store_files
from scaleserve.registry.backends.local_blobs import LocalBlobStore
from scaleserve.registry.backends.s3_blobs import TRANSFER_CONFIG, S3BlobStore
from scaleserve.registry.blob_stores import open_blob_store

MIB = 1 << 20
CHUNK = TRANSFER_CONFIG.multipart_chunksize
CREDENTIALS = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_DEFAULT_REGION": "us-east-1",
}


# -- a real S3-compatible server on loopback --------------------------------------------


@pytest.fixture(scope="session")
def s3_endpoint(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """moto's S3 server, in a child process on a free loopback port."""
    log_path = tmp_path_factory.mktemp("moto") / "server.log"
    with log_path.open("wb") as log:
        for _attempt in range(3):  # another process may take the free port first
            port = _free_port()
            server = subprocess.Popen(
                [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
                stdout=log,
                stderr=subprocess.STDOUT,
            )
            endpoint = f"http://127.0.0.1:{port}"
            try:
                if _answers(endpoint, server):
                    yield endpoint
                    return
            finally:
                server.terminate()
                try:
                    server.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    server.kill()
                    server.wait()
    pytest.fail(f"moto's S3 server did not start:\n{log_path.read_text()[-2000:]}")


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _answers(endpoint: str, server: subprocess.Popen[bytes], timeout_s: float = 30) -> bool:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline and server.poll() is None:
        try:
            httpx.get(endpoint, timeout=1)
        except httpx.TransportError:
            time.sleep(0.1)
        else:
            return True
    return False


def s3_client(endpoint: str, **config: Any) -> Any:
    session = boto3.session.Session(
        aws_access_key_id="testing", aws_secret_access_key="testing", region_name="us-east-1"
    )
    return session.client("s3", endpoint_url=endpoint, config=Config(**config))


@pytest.fixture
def s3(s3_endpoint: str) -> Iterator[Any]:
    """An S3 client of this test's own, so the event hooks a test registers stay in it."""
    s3 = s3_client(s3_endpoint)
    yield s3
    s3.close()


@pytest.fixture
def bucket(s3: Any) -> Iterator[str]:
    """A fresh bucket, emptied and deleted afterwards (moto keeps objects in memory)."""
    name = f"sstest-{uuid.uuid4().hex[:12]}"
    s3.create_bucket(Bucket=name)
    yield name
    for upload in s3.list_multipart_uploads(Bucket=name).get("Uploads", []):
        s3.abort_multipart_upload(Bucket=name, Key=upload["Key"], UploadId=upload["UploadId"])
    for item in s3.list_objects_v2(Bucket=name).get("Contents", []):
        s3.delete_object(Bucket=name, Key=item["Key"])
    s3.delete_bucket(Bucket=name)


# -- each backend, and how a test looks behind it ---------------------------------------


class LocalBackend:
    """A ``LocalBlobStore`` in a temporary directory."""

    failure = "disk failed"

    def __init__(self, root: Path) -> None:
        self.store = LocalBlobStore(root)
        self.sent_before_failure = 0

    def stored(self) -> list[str]:
        """Every file in the store, partial ones included."""
        root = self.store.root
        return sorted(str(p.relative_to(root)) for p in root.rglob("*") if p.is_file())

    def tamper(self, sha256: str, data: bytes) -> None:
        blob = self.store.path(sha256)
        blob.chmod(0o644)
        blob.write_bytes(data)

    def fail_midway(self, source: Path) -> Path:
        """``source``, whose reading fails after its first MiB (the local store reads its
        source through ``Path.open``)."""
        breaking = _BreakingPath(source)
        breaking.backend = self
        return breaking

    def child(self) -> tuple[str, dict[str, str]]:
        """The URL and environment that open this store in another process."""
        return str(self.store.root), {}


class _BreakingPath(PosixPath):
    backend: LocalBackend

    def open(self, *args: Any, **kwargs: Any) -> Any:
        return _BreakingReader(super().open("rb"), self.backend)


class _BreakingReader(io.RawIOBase):
    """Reads a file until 1 MiB has passed, then fails as a dying disk would."""

    def __init__(self, file: Any, backend: LocalBackend) -> None:
        self.file = file
        self.backend = backend

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        if self.backend.sent_before_failure >= MIB:
            raise OSError(errno.EIO, "the disk failed mid-read")
        count = self.file.readinto(buffer)
        self.backend.sent_before_failure += count
        return int(count)

    def close(self) -> None:
        self.file.close()
        super().close()


class S3Backend:
    """An ``S3BlobStore`` on a fresh bucket of the moto server, under a prefix."""

    failure = "No such file"

    def __init__(self, client: Any, bucket: str) -> None:
        self.client = client
        self.bucket = bucket
        self.store = S3BlobStore(bucket, "/team/blobs/", client=client)
        self.sent_before_failure = 0

    def stored(self) -> list[str]:
        """Every object in the bucket, and every multipart upload still in progress."""
        objects = self.client.list_objects_v2(Bucket=self.bucket).get("Contents", [])
        uploads = self.client.list_multipart_uploads(Bucket=self.bucket).get("Uploads", [])
        return sorted([o["Key"] for o in objects] + [f"upload:{u['Key']}" for u in uploads])

    def tamper(self, sha256: str, data: bytes) -> None:
        self.client.put_object(Bucket=self.bucket, Key=self.store.key(sha256), Body=data)

    def fail_midway(self, source: Path) -> Path:
        """``source``, removed once a first part of its upload has been stored: every part
        not yet started then fails to open it."""

        def after_part(**_: Any) -> None:
            self.sent_before_failure += 1
            source.unlink(missing_ok=True)

        self.client.meta.events.register("after-call.s3.UploadPart", after_part)
        return source

    def child(self) -> tuple[str, dict[str, str]]:
        """The URL and environment that open this store in another process."""
        endpoint = self.client.meta.endpoint_url
        return f"s3://{self.bucket}/{self.store.prefix}", {
            **CREDENTIALS,
            "SCALESERVE_S3_ENDPOINT_URL": endpoint,
        }


Backend = LocalBackend | S3Backend


@pytest.fixture(params=["local", "s3"])
async def backend(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Backend]:
    under_test: Backend
    if request.param == "local":
        under_test = LocalBackend(tmp_path / "store")
    else:
        under_test = S3Backend(request.getfixturevalue("s3"), request.getfixturevalue("bucket"))
    yield under_test
    await under_test.store.close()


def write(path: Path, data: bytes) -> tuple[Path, str]:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return path, hash_file(path)[0]


def sparse(path: Path, size: int) -> tuple[Path, str]:
    """A file of ``size`` zero bytes that takes no disk space, and its sha256."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("wb") as file:
        file.truncate(size)
    return path, hash_file(path)[0]


class CountingStore:
    """A blob store that counts the puts it passes on."""

    def __init__(self, inner: BlobStore) -> None:
        self.inner = inner
        self.puts: list[str] = []

    async def has(self, sha256: str) -> bool:
        return await self.inner.has(sha256)

    async def put(self, source: Path, sha256: str) -> None:
        self.puts.append(sha256)
        await self.inner.put(source, sha256)

    async def get(self, sha256: str, dest: Path) -> None:
        await self.inner.get(sha256, dest)

    async def close(self) -> None:
        await self.inner.close()


# -- the conformance suite ---------------------------------------------------------------


@pytest.mark.parametrize("size", [0, 5, 2 * CHUNK + 3], ids=["empty", "small", "multipart"])
async def test_a_put_blob_is_had_and_got_back_whole(
    backend: Backend, tmp_path: Path, size: int
) -> None:
    source, sha256 = write(tmp_path / "source", os.urandom(size))
    assert not await backend.store.has(sha256)
    await backend.store.put(source, sha256)
    assert await backend.store.has(sha256)
    await backend.store.get(sha256, tmp_path / "copy")
    assert (tmp_path / "copy").read_bytes() == source.read_bytes()


async def test_an_absent_blob_is_not_had_and_not_got(backend: Backend, tmp_path: Path) -> None:
    absent = "0" * 64
    assert not await backend.store.has(absent)
    with pytest.raises(ArtifactCorrupt, match=f"blob {absent} is missing"):
        await backend.store.get(absent, tmp_path / "copy")
    assert backend.stored() == []
    assert not (tmp_path / "copy").exists()


async def test_a_name_that_is_no_sha256_is_refused(backend: Backend, tmp_path: Path) -> None:
    with pytest.raises(ArtifactCorrupt, match="is not a sha256"):
        await backend.store.has("../../etc/passwd")
    with pytest.raises(ArtifactCorrupt, match="is not a sha256"):
        await backend.store.put(tmp_path, "A" * 64)


async def test_an_upload_that_fails_midway_leaves_nothing(backend: Backend, tmp_path: Path) -> None:
    # More parts than run at once, so some start only after the source is gone.
    size = (TRANSFER_CONFIG.max_concurrency + 2) * CHUNK
    source, sha256 = sparse(tmp_path / "source", size)
    with pytest.raises(OSError, match=backend.failure):
        await backend.store.put(backend.fail_midway(source), sha256)
    assert backend.sent_before_failure > 0  # the failure came midway, not before the start
    assert not await backend.store.has(sha256)
    assert backend.stored() == []


@pytest.mark.skipif(sys.platform != "linux", reason="reads the peak RSS from /proc")
async def test_a_big_file_streams_through_in_bounded_memory(
    backend: Backend, tmp_path: Path
) -> None:
    size = 256 * MIB
    source, sha256 = sparse(tmp_path / "big", size)
    url, settings = backend.child()
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")} | settings
    dest = tmp_path / "copy"
    done = await asyncio.to_thread(
        subprocess.run,
        [sys.executable, "-c", _PUT_AND_GET, url, str(source), sha256, str(dest)],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    put_mib, get_mib = map(float, done.stdout.split())
    assert put_mib < 64, f"the peak RSS rose {put_mib:.0f} MiB putting a 256 MiB file"
    assert get_mib < 64, f"the peak RSS rose {get_mib:.0f} MiB getting a 256 MiB file"
    assert hash_file(dest) == (sha256, size)
    dest.unlink()


# The peak RSS is the kernel's high-water mark, reset before each transfer (clear_refs 5).
# Not ru_maxrss: a child started by vfork inherits its parent's peak in it.
_PUT_AND_GET = """
import asyncio, sys
from pathlib import Path
from scaleserve.registry.blob_stores import open_blob_store

def mib(field):
    with open("/proc/self/status") as status:
        line = next(line for line in status if line.startswith(field + ":"))
    return int(line.split()[1]) / 1024

async def growth(transfer):
    before = mib("VmRSS")
    with open("/proc/self/clear_refs", "w") as clear:
        clear.write("5")
    await transfer
    return mib("VmHWM") - before

async def main(url, source, sha256, dest):
    store = open_blob_store(url)
    put = await growth(store.put(Path(source), sha256))
    got = await growth(store.get(sha256, Path(dest)))
    await store.close()
    print(put, got)

asyncio.run(main(*sys.argv[1:]))
"""


def artifact(folder: Path) -> dict[str, bytes]:
    files = {
        "config.json": b'{"layers": 2}',
        "weights/model.safetensors": os.urandom(3 * MIB),
        "weights/again.safetensors": b"",
        "tokenizer/vocab.txt": b"a\nb\n",
    }
    files["weights/same-as-config.json"] = files["config.json"]
    for name, data in files.items():
        write(folder / name, data)
    return files


async def test_the_cache_assembles_a_folder_from_the_store(
    backend: Backend, tmp_path: Path
) -> None:
    files = artifact(tmp_path / "artifact")
    manifest = await store_files(backend.store, tmp_path / "artifact")
    cache = ArtifactCache(tmp_path / "cache", backend.store)
    folder = await cache.materialize(manifest, verify=True)
    got = {
        p.relative_to(folder).as_posix(): p.read_bytes() for p in folder.rglob("*") if p.is_file()
    }
    assert got == files


async def test_a_blob_tampered_in_the_store_is_refused_and_not_cached(
    backend: Backend, tmp_path: Path
) -> None:
    artifact(tmp_path / "artifact")
    manifest = await store_files(backend.store, tmp_path / "artifact")
    weights = next(f for f in manifest if f.path == "weights/model.safetensors")
    backend.tamper(weights.sha256, os.urandom(3 * MIB))
    cache = ArtifactCache(tmp_path / "cache", backend.store)
    with pytest.raises(ArtifactCorrupt, match=r"weights/model\.safetensors: fetched blob"):
        await cache.materialize(manifest)
    # Blobs fetched before it stay (each was checked); nothing of the tampered one, no
    # partial file and no folder of the artifact are left.
    left = {p.relative_to(cache.root).as_posix() for p in cache.root.rglob("*") if p.is_file()}
    assert left <= {f"blobs/{f.sha256}" for f in manifest if f != weights}
    assert not (cache.root / "trees").exists() or not any((cache.root / "trees").iterdir())


async def test_store_files_puts_only_blobs_the_store_lacks(
    backend: Backend, tmp_path: Path
) -> None:
    files = artifact(tmp_path / "artifact")
    counting = CountingStore(backend.store)
    manifest = await store_files(counting, tmp_path / "artifact")
    assert len(manifest) == len(files)
    assert len(counting.puts) == len(set(files.values())) == len(files) - 1  # one duplicate
    again = await store_files(counting, tmp_path / "artifact")
    assert again == manifest
    assert len(counting.puts) == len(files) - 1  # nothing new


# -- what is S3's own ---------------------------------------------------------------------


async def test_an_s3_blob_is_keyed_by_prefix_and_sha256_and_carries_it(
    s3: Any, bucket: str, tmp_path: Path
) -> None:
    source, sha256 = write(tmp_path / "source", b"weights")
    store = S3BlobStore(bucket, "/team/blobs/", client=s3)
    await store.put(source, sha256)
    key = f"team/blobs/sha256/{sha256[:2]}/{sha256}"
    assert store.key(sha256) == key
    assert s3.head_object(Bucket=bucket, Key=key)["Metadata"] == {"sha256": sha256}
    unprefixed = S3BlobStore(bucket, client=s3)
    assert unprefixed.key(sha256) == f"sha256/{sha256[:2]}/{sha256}"
    assert not await unprefixed.has(sha256)


async def test_a_cancelled_s3_upload_leaves_nothing(s3: Any, bucket: str, tmp_path: Path) -> None:
    source, sha256 = sparse(tmp_path / "source", 3 * CHUNK)
    store = S3BlobStore(bucket, client=s3)
    task = asyncio.ensure_future(store.put(source, sha256))
    cancel_after_first(s3, "UploadPart", task)
    with pytest.raises(asyncio.CancelledError):
        await task
    await store.close()  # waits for every transfer it ran: nothing goes on in the background
    assert not await store.has(sha256)
    assert S3Backend(s3, bucket).stored() == []


async def test_a_cancelled_s3_download_leaves_no_file(s3: Any, bucket: str, tmp_path: Path) -> None:
    source, sha256 = sparse(tmp_path / "source", 3 * CHUNK)
    store = S3BlobStore(bucket, client=s3)
    await store.put(source, sha256)
    (tmp_path / "into").mkdir()
    task = asyncio.ensure_future(store.get(sha256, tmp_path / "into" / "copy"))
    cancel_after_first(s3, "GetObject", task)
    with pytest.raises(asyncio.CancelledError):
        await task
    await store.close()  # waits for every transfer it ran: nothing goes on in the background
    assert list((tmp_path / "into").iterdir()) == []


def cancel_after_first(client: Any, operation: str, task: asyncio.Future[None]) -> None:
    """Cancel ``task`` once a first ``operation`` (a part) has answered; hold the other
    parts back until the task has handled its cancellation, so the transfer is midway."""
    loop = asyncio.get_running_loop()
    released = threading.Event()

    def cancel() -> None:
        task.cancel()
        loop.call_soon(released.set)  # after the task's own step that handles the cancel

    def after_first(**_: Any) -> None:
        loop.call_soon_threadsafe(cancel)

    def hold_others(params: dict[str, Any], **_: Any) -> None:
        first = params.get("PartNumber", 1) == 1 and params.get("Range", "bytes=0-0")[6] == "0"
        if not first:
            released.wait(timeout=10)

    client.meta.events.register(f"after-call.s3.{operation}", after_first)
    client.meta.events.register(f"before-parameter-build.s3.{operation}", hold_others)


async def test_a_missing_bucket_is_a_config_error(s3: Any, tmp_path: Path) -> None:
    source, sha256 = write(tmp_path / "source", b"weights")
    store = S3BlobStore(f"sstest-absent-{uuid.uuid4().hex[:8]}", client=s3)
    assert not await store.has(sha256)
    with pytest.raises(ConfigError, match=r"refused \(NoSuchBucket\)"):
        await store.put(source, sha256)


@pytest.mark.parametrize(
    ("code", "status", "error"),
    [
        ("403", 403, ConfigError),
        ("SlowDown", 503, ServingError),
        ("InternalError", 500, ServingError),
    ],
)
async def test_s3_refusals_are_told_apart(code: str, status: int, error: type[Exception]) -> None:
    s3 = s3_client("http://127.0.0.1:9")
    store = S3BlobStore("sstest-stubbed", client=s3)
    with Stubber(s3) as stubber:
        stubber.add_client_error("head_object", code, http_status_code=status)
        with pytest.raises(error, match=rf"HEAD in s3://sstest-stubbed .*{code}"):
            await store.has("0" * 64)
    await store.close()
    s3.close()


async def test_an_unreachable_store_is_a_serving_error() -> None:
    endpoint = f"http://127.0.0.1:{_free_port()}"
    s3 = s3_client(endpoint, retries={"max_attempts": 1}, connect_timeout=2)
    store = S3BlobStore("sstest-unreachable", client=s3)
    with pytest.raises(ServingError, match="HEAD in s3://sstest-unreachable failed"):
        await store.has("0" * 64)
    await store.close()
    s3.close()


async def test_the_endpoint_comes_from_the_argument_then_the_environment(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    for name, value in CREDENTIALS.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("SCALESERVE_S3_ENDPOINT_URL", raising=False)
    monkeypatch.setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:9001")
    assert await endpoint_of(S3BlobStore("sstest")) == "http://127.0.0.1:9001"
    monkeypatch.setenv("SCALESERVE_S3_ENDPOINT_URL", "http://127.0.0.1:9002")
    assert await endpoint_of(S3BlobStore("sstest")) == "http://127.0.0.1:9002"
    given = S3BlobStore("sstest", endpoint_url="http://127.0.0.1:9003")
    assert await endpoint_of(given) == "http://127.0.0.1:9003"


async def endpoint_of(store: S3BlobStore) -> str:
    endpoint = str(store.client.meta.endpoint_url)
    await store.close()
    return endpoint


# -- open_blob_store ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "root"),
    [
        ("/var/lib/scaleserve/blobs", "/var/lib/scaleserve/blobs"),
        ("blobs", "blobs"),
        ("./data:blobs", "data:blobs"),
        ("file:///var/lib/scaleserve/blobs", "/var/lib/scaleserve/blobs"),
        ("file://localhost/srv/my%20blobs", "/srv/my blobs"),
    ],
)
def test_a_path_or_file_url_opens_a_local_store(url: str, root: str) -> None:
    store = open_blob_store(url)
    assert isinstance(store, LocalBlobStore)
    assert store.root == Path(root)


@pytest.mark.parametrize(
    ("url", "bucket", "prefix"),
    [
        ("s3://models", "models", ""),
        ("s3://models/", "models", ""),
        ("s3://my.models-eu/team/blobs/", "my.models-eu", "team/blobs"),
    ],
)
async def test_an_s3_url_opens_an_s3_store(
    monkeypatch: pytest.MonkeyPatch, url: str, bucket: str, prefix: str
) -> None:
    for name, value in CREDENTIALS.items():
        monkeypatch.setenv(name, value)
    store = open_blob_store(url)
    assert isinstance(store, S3BlobStore)
    assert (store.bucket, store.prefix) == (bucket, prefix)
    await store.close()


@pytest.mark.parametrize(
    ("url", "says"),
    [
        ("http://blobs.example.com/x", "scheme 'http' is not accepted"),
        ("https://user:secret@blobs.example.com/x", "scheme 'https' is not accepted"),
        ("gs://bucket/x", "scheme 'gs' is not accepted"),
        ("ftp://host/x", "scheme 'ftp' is not accepted"),
        ("", "is empty"),
        ("file://relative/path", "absolute path"),
        ("file:///x?y=1", "absolute path"),
        ("s3://", "names a bucket"),
        ("s3://ab", "names a bucket"),
        ("s3://key:secret@bucket/x", "names a bucket"),
        ("s3://bucket:9000/x", "names a bucket"),
        ("s3://bucket/x?endpoint=http://minio", "no query"),
        ("s3://[bad/x", "not a URL"),
    ],
)
def test_other_urls_are_refused_naming_the_accepted_forms(url: str, says: str) -> None:
    with pytest.raises(ConfigError, match=says) as refused:
        open_blob_store(url)
    assert "secret" not in str(refused.value)


def test_an_s3_url_without_boto3_says_what_to_install(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "boto3", None)
    monkeypatch.delitem(sys.modules, "scaleserve.registry.backends.s3_blobs")
    with pytest.raises(ConfigError, match=r"pip install 'scaleserve\[registry\]'"):
        open_blob_store("s3://models/blobs")
