"""Opens the blob store a URL names: a local directory or an S3-compatible bucket.

    /var/lib/scaleserve/blobs          a plain path (relative paths are taken as given)
    file:///var/lib/scaleserve/blobs   the same, as a URL
    s3://bucket/optional/prefix        S3 or an S3-compatible store (needs boto3)

An S3 store's credentials, region and endpoint come from the standard AWS environment and
config files (and ``SCALESERVE_S3_ENDPOINT_URL``), never from the URL.
"""

from __future__ import annotations

import re
from pathlib import Path
from urllib.parse import SplitResult, unquote, urlsplit

from scaleserve.errors import ConfigError
from scaleserve.registry.artifacts import BlobStore
from scaleserve.registry.backends.local_blobs import LocalBlobStore

ACCEPTED = "a path, file:///absolute/path or s3://bucket/optional/prefix"
_BUCKET = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{1,253}[A-Za-z0-9]$")
_S3_PACKAGES = frozenset({"boto3", "botocore", "s3transfer"})


def open_blob_store(url: str) -> BlobStore:
    """The blob store ``url`` names; ``ConfigError`` for any other form."""
    if not url.strip():
        raise ConfigError(f"the blob store URL is empty; give {ACCEPTED}")
    try:
        parts = urlsplit(url)
    except ValueError as error:  # a malformed host, as s3://[bucket
        raise ConfigError(f"the blob store URL is not a URL ({error}); give {ACCEPTED}") from None
    if not parts.scheme:
        return LocalBlobStore(Path(url))
    if parts.scheme == "file":
        return LocalBlobStore(_file_path(parts))
    if parts.scheme == "s3":
        bucket, prefix = _bucket_and_prefix(parts)
        return _s3_store(bucket, prefix)
    # Only the scheme is named: the rest of a URL may hold credentials.
    raise ConfigError(
        f"a blob store URL of scheme {parts.scheme!r} is not accepted; give {ACCEPTED}"
    )


def _file_path(parts: SplitResult) -> Path:
    if parts.netloc not in {"", "localhost"} or not parts.path or parts.query or parts.fragment:
        raise ConfigError(
            f"a file URL names an absolute path, as file:///var/blobs; give {ACCEPTED}"
        )
    return Path(unquote(parts.path))


def _bucket_and_prefix(parts: SplitResult) -> tuple[str, str]:
    if not _BUCKET.fullmatch(parts.netloc):
        raise ConfigError(
            f"an s3:// URL names a bucket (3 to 255 of A-Z, a-z, 0-9, '.', '_', '-'), with no "
            f"credentials or port; give {ACCEPTED}"
        )
    if parts.query or parts.fragment:
        raise ConfigError(
            "an s3:// URL takes no query or fragment: the endpoint, region and credentials "
            "come from the AWS environment (AWS_ENDPOINT_URL or SCALESERVE_S3_ENDPOINT_URL, "
            "AWS_REGION, AWS_PROFILE)"
        )
    return parts.netloc, unquote(parts.path).strip("/")


def _s3_store(bucket: str, prefix: str) -> BlobStore:
    try:
        from scaleserve.registry.backends.s3_blobs import S3BlobStore
    except ModuleNotFoundError as error:
        if (error.name or "").split(".")[0] not in _S3_PACKAGES:
            raise
        raise ConfigError(
            "an s3:// blob store needs boto3: pip install 'scaleserve[registry]'"
        ) from error
    return S3BlobStore(bucket, prefix)
