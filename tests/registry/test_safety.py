"""What the registry refuses to store or unpack."""

from __future__ import annotations

import io
import pickle
import tarfile
import zipfile
from pathlib import Path

import pytest

from scaleserve.errors import UnsafeArtifact
from scaleserve.registry.safety import check_relative, confined, extract_archive, is_pickle


@pytest.mark.parametrize("name", ["/etc/passwd", "../x", "a/../../x", "a\\b", "a\x00b", "", "."])
def test_paths_that_leave_their_folder_are_refused(name: str) -> None:
    with pytest.raises(UnsafeArtifact):
        check_relative(name)


def test_confined_resolves_links_out_of_the_root(tmp_path: Path) -> None:
    (tmp_path / "root").mkdir()
    (tmp_path / "root" / "out").symlink_to(tmp_path)
    with pytest.raises(UnsafeArtifact):
        confined(tmp_path / "root", "out/secret")
    assert confined(tmp_path / "root", "a/b.txt") == (tmp_path / "root" / "a" / "b.txt").resolve()


def _tar(tmp_path: Path, *members: tarfile.TarInfo, data: bytes = b"x") -> Path:
    path = tmp_path / "a.tar.gz"
    with tarfile.open(path, "w:gz") as tar:
        for member in members:
            tar.addfile(member, io.BytesIO(data) if member.isfile() else None)
    return path


def _member(name: str, kind: bytes = tarfile.REGTYPE, target: str = "") -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.type, info.linkname, info.size = kind, target, 1 if kind == tarfile.REGTYPE else 0
    return info


@pytest.mark.parametrize(
    "member",
    [
        _member("../escape.txt"),
        _member("/abs.txt"),
        _member("link", tarfile.SYMTYPE, "/etc/passwd"),
        _member("hard", tarfile.LNKTYPE, "/etc/passwd"),
        _member("dev", tarfile.CHRTYPE),
    ],
)
def test_archives_unpack_without_links_absolute_paths_or_dotdot(
    tmp_path: Path, member: tarfile.TarInfo
) -> None:
    archive = _tar(tmp_path, _member("ok.txt"), member)
    with pytest.raises(UnsafeArtifact):
        extract_archive(archive, tmp_path / "out")
    assert not (tmp_path / "escape.txt").exists()


def test_a_good_archive_unpacks(tmp_path: Path) -> None:
    archive = _tar(tmp_path, _member("weights/config.json"), data=b"{")
    extract_archive(archive, tmp_path / "out")
    assert (tmp_path / "out" / "weights" / "config.json").read_bytes() == b"{"
    zipped = tmp_path / "a.zip"
    with zipfile.ZipFile(zipped, "w") as z:
        z.writestr("m/model.onnx", b"onnx")
    extract_archive(zipped, tmp_path / "zout")
    assert (tmp_path / "zout" / "m" / "model.onnx").read_bytes() == b"onnx"
    evil = tmp_path / "evil.zip"
    with zipfile.ZipFile(evil, "w") as z:
        z.writestr("../../evil.txt", b"x")
    with pytest.raises(UnsafeArtifact):
        extract_archive(evil, tmp_path / "eout")


def test_pickles_are_found_by_suffix_content_or_inside_a_zip(tmp_path: Path) -> None:
    plain = tmp_path / "weights.bin"
    plain.write_bytes(pickle.dumps([1, 2]))
    named = tmp_path / "model.joblib"
    named.write_bytes(b"not really")
    torch_like = tmp_path / "model.zip"
    with zipfile.ZipFile(torch_like, "w") as z:
        z.writestr("archive/data.pkl", pickle.dumps({}))
    safe = tmp_path / "model.safetensors"
    safe.write_bytes(b"\x08\x00\x00\x00\x00\x00\x00\x00{}      ")
    assert is_pickle(plain) and is_pickle(named) and is_pickle(torch_like)
    assert not is_pickle(safe)
