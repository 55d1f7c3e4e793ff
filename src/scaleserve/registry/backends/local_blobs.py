"""Blobs in a local directory (the embedded default): ``<root>/sha256/<ab>/<sha256>``."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import os
import shutil
import tempfile
from pathlib import Path

from scaleserve.errors import ArtifactCorrupt
from scaleserve.registry.artifacts import check_sha256
from scaleserve.registry.safety import COPY_CHUNK_BYTES


class LocalBlobStore:
    """See ``scaleserve.registry.artifacts.BlobStore``."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def path(self, sha256: str) -> Path:
        sha256 = check_sha256(sha256)
        return self.root / "sha256" / sha256[:2] / sha256

    async def has(self, sha256: str) -> bool:
        return self.path(sha256).is_file()

    async def put(self, source: Path, sha256: str) -> None:
        await asyncio.to_thread(self._put, source, self.path(sha256))

    async def get(self, sha256: str, dest: Path) -> None:
        blob = self.path(sha256)
        if not blob.is_file():
            raise ArtifactCorrupt(f"blob {sha256} is missing from {self.root}")
        await asyncio.to_thread(shutil.copyfile, blob, dest)

    async def close(self) -> None:
        return None

    @staticmethod
    def _put(source: Path, blob: Path) -> None:
        blob.parent.mkdir(parents=True, exist_ok=True)
        fd, part = tempfile.mkstemp(prefix=".part-", dir=blob.parent)
        digest = hashlib.sha256()
        try:
            with os.fdopen(fd, "wb") as out, source.open("rb") as data:
                while chunk := data.read(COPY_CHUNK_BYTES):
                    digest.update(chunk)
                    out.write(chunk)
                out.flush()
                os.fsync(out.fileno())
            if digest.hexdigest() != blob.name:  # the file changed since it was hashed
                raise ArtifactCorrupt(f"{source} changed while it was stored; register it again")
            os.chmod(part, 0o444)
            os.replace(part, blob)  # visible only now, whole
        finally:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(part)
