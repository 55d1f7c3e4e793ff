"""Blobs in an S3-compatible object store (the distributed backend):
``s3://<bucket>/<prefix>/sha256/<ab>/<sha256>``, each with its sha256 as metadata.

boto3 does the signing, retries and transfers; its calls run in threads, off the event
loop. Files are streamed by boto3's transfer manager (multipart above
``TRANSFER_CONFIG.multipart_threshold``), so an artifact of any size passes through in
bounded memory. An object becomes visible only once its upload completes; an upload that
fails or is cancelled is aborted, so no half-written blob is ever seen.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
from boto3.s3.transfer import (
    S3TransferRetriesExceededError,
    TransferConfig,
    create_transfer_manager,
)
from botocore.exceptions import (
    BotoCoreError,
    ClientError,
    NoCredentialsError,
    PartialCredentialsError,
)

from scaleserve.errors import ArtifactCorrupt, ConfigError, ScaleserveError, ServingError
from scaleserve.registry.artifacts import check_sha256

ENDPOINT_ENV = "SCALESERVE_S3_ENDPOINT_URL"
"""The endpoint of an S3-compatible store (boto3 itself also honours ``AWS_ENDPOINT_URL``)."""

MIB = 1 << 20
# Memory in flight depends on this, never on the file: a few MiB per part being sent, and
# up to max_io_queue x io_chunksize (100 x 256 KiB) of downloaded data not yet on disk.
TRANSFER_CONFIG = TransferConfig(
    multipart_threshold=8 * MIB,
    multipart_chunksize=8 * MIB,  # raised by boto3 where a file would need over 10,000 parts
    max_concurrency=10,
    # The classic transfer manager everywhere: the one whose abort-on-failure is tested.
    preferred_transfer_client="classic",
)

_MISSING = frozenset({"404", "NoSuchKey", "NotFound"})
_DENIED = frozenset(
    {
        "403",
        "AccessDenied",
        "AllAccessDisabled",
        "InvalidAccessKeyId",
        "SignatureDoesNotMatch",
        "ExpiredToken",
        "InvalidToken",
        "NoSuchBucket",
    }
)


class S3BlobStore:
    """See ``scaleserve.registry.artifacts.BlobStore``.

    Credentials and region come from boto3's default chain (environment, config files,
    instance roles); the endpoint from ``endpoint_url``, else ``SCALESERVE_S3_ENDPOINT_URL``,
    else boto3's own (``AWS_ENDPOINT_URL``, then AWS). A ``client`` passed in is used as
    is and left open by ``close``.

    Errors: a blob that is absent makes ``has`` false and ``get`` raise ``ArtifactCorrupt``
    (as the local store does). A refusal that a setting causes (access denied, bad or no
    credentials, no such bucket) raises ``ConfigError``; any other failure of the store
    (unreachable, 5xx or throttled after boto3's retries) raises ``ServingError``. Both
    chain the botocore error. Local file errors (an unreadable source) propagate as
    ``OSError``.
    """

    def __init__(
        self,
        bucket: str,
        prefix: str = "",
        *,
        endpoint_url: str | None = None,
        client: Any = None,
    ) -> None:
        self.bucket = bucket
        self.prefix = prefix.strip("/")
        self._owns_client = client is None
        if client is None:
            endpoint_url = endpoint_url or os.environ.get(ENDPOINT_ENV) or None
            client = boto3.session.Session().client("s3", endpoint_url=endpoint_url)
        self.client: Any = client
        self._transfers = create_transfer_manager(client, TRANSFER_CONFIG)

    @property
    def url(self) -> str:
        return f"s3://{self.bucket}/{self.prefix}".rstrip("/")

    def key(self, sha256: str) -> str:
        sha256 = check_sha256(sha256)
        key = f"sha256/{sha256[:2]}/{sha256}"
        return f"{self.prefix}/{key}" if self.prefix else key

    async def has(self, sha256: str) -> bool:
        key = self.key(sha256)
        with self._translated("HEAD", sha256):
            try:
                await asyncio.to_thread(self.client.head_object, Bucket=self.bucket, Key=key)
            except ClientError as error:
                if _code(error) in _MISSING:
                    return False
                raise
        return True

    async def put(self, source: Path, sha256: str) -> None:
        extra = {"Metadata": {"sha256": sha256}, "ContentType": "application/octet-stream"}
        key = self.key(sha256)
        with self._translated("upload", sha256):
            future = self._transfers.upload(str(source), self.bucket, key, extra_args=extra)
            await _finished(future)

    async def get(self, sha256: str, dest: Path) -> None:
        key = self.key(sha256)
        with self._translated("download", sha256):
            future = self._transfers.download(self.bucket, key, str(dest))
            await _finished(future)

    async def close(self) -> None:
        await asyncio.to_thread(self._transfers.shutdown)
        if self._owns_client:
            self.client.close()

    @contextlib.contextmanager
    def _translated(self, action: str, sha256: str) -> Iterator[None]:
        """botocore's errors as scaleserve's (see the class docstring)."""
        try:
            yield
        except ClientError as error:
            raise self._refusal(action, sha256, error) from error
        except (NoCredentialsError, PartialCredentialsError) as error:
            raise ConfigError(f"no usable AWS credentials for {self.url}: {error}") from error
        except (BotoCoreError, S3TransferRetriesExceededError) as error:
            raise ServingError(f"{action} in {self.url} failed: {error}") from error

    def _refusal(self, action: str, sha256: str, error: ClientError) -> ScaleserveError:
        code = _code(error)
        if code in _MISSING:
            return ArtifactCorrupt(f"blob {sha256} is missing from {self.url}")
        if code in _DENIED:
            return ConfigError(
                f"{action} in {self.url} (at {self.client.meta.endpoint_url}) refused ({code}): "
                "check the bucket, the credentials and their policy: s3:GetObject, "
                "s3:PutObject, and s3:ListBucket, without which S3 answers 403 for an absent blob"
            )
        return ServingError(f"{action} in {self.url} failed: {error}")


def _code(error: ClientError) -> str:
    return str(error.response.get("Error", {}).get("Code", ""))


async def _finished(future: Any) -> None:
    """Wait, in a thread, for a transfer to end; if the wait is interrupted (the task is
    cancelled), cancel the transfer and wait for its clean-up (the multipart upload
    aborted, the partial download removed) before the interruption goes on."""
    try:
        await asyncio.to_thread(future.result)
    except BaseException:
        future.cancel()
        with contextlib.suppress(Exception):
            await asyncio.to_thread(future.result)
        raise
