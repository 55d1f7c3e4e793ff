"""What the registry refuses to store or load: paths out of their folder, links and special
files, archives that would write outside their destination, and pickle-based formats unless
an admin allowed them for that version.

Request data is never unpickled; a pickle file in an artifact runs code when it loads, so a
version holding one loads only if an admin registered it with ``allow_pickle`` and every
file still has the sha256 it was registered with.
"""

from __future__ import annotations

import shutil
import stat
import tarfile
import zipfile
from collections.abc import Iterable
from pathlib import Path, PurePosixPath

from scaleserve.errors import UnsafeArtifact

PICKLE_SUFFIXES = frozenset({".pkl", ".pickle", ".joblib", ".pt", ".pth", ".ckpt", ".cloudpickle"})
_PICKLE_PROTOCOLS = frozenset({2, 3, 4, 5})
COPY_CHUNK_BYTES = 1 << 20


def check_relative(name: str) -> str:
    """``name`` as a clean relative POSIX path; ``UnsafeArtifact`` for an absolute path, a
    ``..`` part, a backslash or a NUL."""
    if not name or "\\" in name or "\x00" in name:
        raise UnsafeArtifact(f"artifact path {name[:200]!r} is not a plain relative path")
    path = PurePosixPath(name)
    if path.is_absolute() or any(part in {"..", ""} for part in path.parts):
        raise UnsafeArtifact(f"artifact path {name[:200]!r} leaves its folder")
    clean = path.as_posix()
    if clean in {".", ""}:
        raise UnsafeArtifact(f"artifact path {name[:200]!r} names no file")
    return clean


def confined(root: Path, name: str) -> Path:
    """``root / name``, resolved, and refused unless it stays inside ``root``."""
    base = root.resolve()
    target = (base / check_relative(name)).resolve()
    if not target.is_relative_to(base):
        raise UnsafeArtifact(f"artifact path {name[:200]!r} leaves its folder")
    return target


def regular_files(path: Path) -> list[tuple[str, Path]]:
    """Every file under ``path`` (or ``path`` itself), as (relative POSIX name, path), sorted.

    Links and special files (devices, sockets, pipes) are refused: an artifact is plain files.
    """
    if path.is_symlink():
        raise UnsafeArtifact(f"{path} is a symbolic link; artifacts are plain files")
    if path.is_file():
        return [(path.name, path)]
    if not path.is_dir():
        raise UnsafeArtifact(f"{path} is neither a file nor a directory")
    found: list[tuple[str, Path]] = []
    for child in sorted(path.rglob("*")):
        mode = child.lstat().st_mode
        if stat.S_ISLNK(mode):
            raise UnsafeArtifact(f"{child} is a symbolic link; artifacts are plain files")
        if stat.S_ISDIR(mode):
            continue
        if not stat.S_ISREG(mode):
            raise UnsafeArtifact(f"{child} is not a regular file")
        found.append((check_relative(child.relative_to(path).as_posix()), child))
    if not found:
        raise UnsafeArtifact(f"{path} holds no files")
    return found


def is_pickle(path: Path) -> bool:
    """True for a pickle-based file: by its suffix, by pickle's opening bytes, or a zip
    holding a pickle (``torch.save``)."""
    if path.suffix.lower() in PICKLE_SUFFIXES:
        return True
    with path.open("rb") as file:
        head = file.read(2)
    if len(head) == 2 and head[0] == 0x80 and head[1] in _PICKLE_PROTOCOLS:
        return True
    if zipfile.is_zipfile(path):
        with zipfile.ZipFile(path) as archive:
            return any(n.endswith((".pkl", "data.pkl")) for n in archive.namelist())
    return False


def check_pickle_policy(files: Iterable[tuple[str, Path]], allow_pickle: bool) -> None:
    """``UnsafeArtifact`` naming the pickle-based files, unless ``allow_pickle``."""
    if allow_pickle:
        return
    pickles = [name for name, path in files if is_pickle(path)]
    if pickles:
        raise UnsafeArtifact(
            f"the artifact holds pickle-based files ({', '.join(pickles[:5])}), which run code "
            "when loaded; use a safe format (safetensors, ONNX, skops), or register the "
            "version as an admin with --allow-pickle if you trust it"
        )


def extract_archive(archive: Path, dest: Path) -> None:
    """Unpack a ``.tar``, ``.tar.gz`` or ``.zip`` into the empty folder ``dest``: regular
    files and folders only, every path relative and inside ``dest``."""
    dest.mkdir(parents=True, exist_ok=True)
    if tarfile.is_tarfile(archive):
        _extract_tar(archive, dest)
    elif zipfile.is_zipfile(archive):
        _extract_zip(archive, dest)
    else:
        raise UnsafeArtifact("the artifact must be a .tar, .tar.gz or .zip archive")


def _extract_tar(archive: Path, dest: Path) -> None:
    with tarfile.open(archive) as tar:
        for member in tar.getmembers():
            target = confined(dest, member.name)
            if member.isdir():
                target.mkdir(parents=True, exist_ok=True)
                continue
            if not member.isfile():
                raise UnsafeArtifact(
                    f"archive member {member.name[:200]!r} is a link or a special file"
                )
            target.parent.mkdir(parents=True, exist_ok=True)
            source = tar.extractfile(member)
            if source is None:
                raise UnsafeArtifact(f"archive member {member.name[:200]!r} cannot be read")
            with source, target.open("xb") as out:
                shutil.copyfileobj(source, out, COPY_CHUNK_BYTES)


def _extract_zip(archive: Path, dest: Path) -> None:
    with zipfile.ZipFile(archive) as zipped:
        for info in zipped.infolist():
            target = confined(dest, info.filename.rstrip("/") or ".")
            if info.is_dir():
                target.mkdir(parents=True, exist_ok=True)
                continue
            if stat.S_ISLNK(info.external_attr >> 16):
                raise UnsafeArtifact(f"archive member {info.filename[:200]!r} is a link")
            target.parent.mkdir(parents=True, exist_ok=True)
            with zipped.open(info) as source, target.open("xb") as out:
                shutil.copyfileobj(source, out, COPY_CHUNK_BYTES)
