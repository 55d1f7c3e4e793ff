"""Artifacts: the files of a version, stored content-addressed (one blob per sha256), and
fetched to a per-host cache where workers load them.

A ``BlobStore`` keeps blobs: a local directory embedded (``backends/local_blobs.py``), an
S3-compatible object store distributed (``backends/s3_blobs.py``). Files are hashed and
copied in chunks, never held whole in memory; a blob becomes visible only once complete
(rename on disk, S3's atomic PUT), and every fetched blob is checked against its sha256
before anything can load it.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import os
import shutil
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Protocol

from scaleserve.errors import ArtifactCorrupt, ConfigError
from scaleserve.registry.records import ArtifactFile
from scaleserve.registry.safety import COPY_CHUNK_BYTES, confined, regular_files

SHA256_HEX_LENGTH = 64


class BlobStore(Protocol):
    """Where artifact files live, one blob per sha256."""

    async def has(self, sha256: str) -> bool: ...

    async def put(self, source: Path, sha256: str) -> None:
        """Store the local file ``source`` (whose sha256 is ``sha256``) as that blob,
        streaming it; the blob is visible to ``has``/``get`` only once whole."""
        ...

    async def get(self, sha256: str, dest: Path) -> None:
        """Write the blob to the local file ``dest``, streaming it (not checked here)."""
        ...

    async def close(self) -> None: ...


def hash_file(path: Path) -> tuple[str, int]:
    """The file's sha256 (hex) and size, read in chunks."""
    digest = hashlib.sha256()
    size = 0
    with path.open("rb") as file:
        while chunk := file.read(COPY_CHUNK_BYTES):
            digest.update(chunk)
            size += len(chunk)
    return digest.hexdigest(), size


def check_sha256(sha256: str) -> str:
    if len(sha256) != SHA256_HEX_LENGTH or any(c not in "0123456789abcdef" for c in sha256):
        raise ArtifactCorrupt(f"{sha256[:80]!r} is not a sha256")
    return sha256


async def store_files(blobs: BlobStore, path: Path) -> tuple[ArtifactFile, ...]:
    """Store every file under ``path`` (a file or a directory) and return their manifest."""
    manifest = []
    for name, file in regular_files(path):
        sha256, size = await asyncio.to_thread(hash_file, file)
        if not await blobs.has(sha256):
            await blobs.put(file, sha256)
        manifest.append(ArtifactFile(name, sha256, size))
    return tuple(manifest)


class ArtifactCache:
    """This host's copies of artifacts: ``blobs/<sha256>`` checked on arrival, and one
    folder per manifest, assembled from them and published by an atomic rename."""

    def __init__(self, root: Path, blobs: BlobStore) -> None:
        self.root = root
        self._blobs = blobs
        self._locks: dict[Path, asyncio.Lock] = {}

    async def materialize(self, files: Sequence[ArtifactFile], *, verify: bool = False) -> Path:
        """A local folder holding exactly ``files``. ``verify`` hashes every file again
        (a version allowed to hold pickles is checked so before each load)."""
        if not files:
            raise ConfigError("an artifact needs at least one file")
        folder = self.root / "trees" / _manifest_id(files)
        async with self._locks.setdefault(folder, asyncio.Lock()):
            if not folder.is_dir():
                await self._assemble(files, folder)
        if verify:
            await asyncio.to_thread(verify_folder, folder, files)
        return folder

    async def _assemble(self, files: Sequence[ArtifactFile], folder: Path) -> None:
        folder.parent.mkdir(parents=True, exist_ok=True)
        building = Path(tempfile.mkdtemp(prefix=".building-", dir=folder.parent))
        try:
            for file in files:
                blob = await self._blob(file)
                target = confined(building, file.path)
                target.parent.mkdir(parents=True, exist_ok=True)
                _link_or_copy(blob, target)
            os.replace(building, folder)
        except BaseException:
            shutil.rmtree(building, ignore_errors=True)
            raise

    async def _blob(self, file: ArtifactFile) -> Path:
        """The checked local copy of ``file``'s blob, fetched if this host lacks it."""
        blob = self.root / "blobs" / check_sha256(file.sha256)
        if blob.is_file():
            return blob
        blob.parent.mkdir(parents=True, exist_ok=True)
        fd, part = tempfile.mkstemp(prefix=".part-", dir=blob.parent)
        os.close(fd)
        try:
            await self._blobs.get(file.sha256, Path(part))
            sha256, size = await asyncio.to_thread(hash_file, Path(part))
            if sha256 != file.sha256 or size != file.size:
                raise ArtifactCorrupt(
                    f"{file.path}: fetched blob has sha256 {sha256} ({size} bytes), "
                    f"registered {file.sha256} ({file.size} bytes); not loaded"
                )
            os.replace(part, blob)
        finally:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(part)
        return blob


def verify_folder(folder: Path, files: Sequence[ArtifactFile]) -> None:
    """``ArtifactCorrupt`` unless every file under ``folder`` has its registered sha256."""
    for file in files:
        sha256, size = hash_file(confined(folder, file.path))
        if sha256 != file.sha256 or size != file.size:
            raise ArtifactCorrupt(
                f"{file.path}: sha256 is {sha256} ({size} bytes), registered {file.sha256} "
                f"({file.size} bytes); the version is not loaded"
            )


def _manifest_id(files: Sequence[ArtifactFile]) -> str:
    digest = hashlib.sha256()
    for file in sorted(files, key=lambda f: f.path):
        digest.update(f"{file.path}\0{file.sha256}\0".encode())
    return digest.hexdigest()[:32]


def _link_or_copy(blob: Path, target: Path) -> None:
    """A hard link where the file system allows (no second copy of a large file), else a
    copy; either way the tree's file is a plain file readable like the blob."""
    try:
        os.link(blob, target)
    except OSError:
        shutil.copyfile(blob, target)
