"""Files beside the spec (env_file, notify.urls_file) and the spec itself, as root reads and writes them:
no links out of the spec's folder or owned by someone else, regular files only, bounded."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from roost.errors import UsageError
from roost.spec.beside import MAX_BESIDE, read_beside, read_spec, write_spec
from roost.spec.envfiles import read_env_files
from roost.spec.load import load_spec, parse_spec

SPEC = '[app]\nname = "notes"\n[containers.web]\nimage = "example.org/notes:1"\nenv_file = "web.env"\n'


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    (tmp_path / "notes.toml").write_text(SPEC)
    (tmp_path / "web.env").write_text("A=1\n")
    return tmp_path


def refused(folder: Path, rel: str, match: str) -> None:
    with pytest.raises(UsageError, match=match) as e:
        read_beside(folder / "notes.toml", rel, "containers.web.env_file")
    assert e.value.exit_code == 2
    assert f"{folder / 'notes.toml'}: containers.web.env_file: {folder / rel}" in e.value.message
    assert e.value.hint


def test_a_regular_file_and_a_link_inside_the_folder_are_read(folder):
    (folder / "conf").mkdir()
    (folder / "conf" / "real.env").write_text("B=2\n")
    os.symlink("conf/real.env", folder / "linked.env")
    os.symlink("../web.env", folder / "conf" / "up.env")  # climbs, but stays inside the folder
    assert read_beside(folder / "notes.toml", "web.env", "k") == "A=1\n"
    assert read_beside(folder / "notes.toml", "linked.env", "k") == "B=2\n"
    assert read_beside(folder / "notes.toml", "conf/up.env", "k") == "A=1\n"


def test_links_out_of_the_folder_are_refused(folder, tmp_path_factory):
    other = tmp_path_factory.mktemp("other-app") / "web.env"
    other.write_text("SECRET=of-another-app\n")
    os.symlink(str(other), folder / "abs.env")
    os.symlink("../" * 12 + str(other).lstrip("/"), folder / "rel.env")
    os.symlink("/dev/zero", folder / "zero.env")
    os.symlink("/etc", folder / "etcdir")
    refused(folder, "abs.env", "outside the spec's folder")
    refused(folder, "rel.env", "leads out of the spec's folder")
    refused(folder, "zero.env", "outside the spec's folder")
    refused(folder, "etcdir/passwd", "outside the spec's folder")


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root to make a link owned by another user")
def test_a_link_owned_by_someone_else_is_refused(folder):
    os.symlink("web.env", folder / "theirs.env")
    os.lchown(folder / "theirs.env", 1000, 1000)
    refused(folder, "theirs.env", "owned by UID 1000, not by the spec's owner")


def test_a_fifo_a_device_a_directory_and_a_huge_file_are_refused(folder):
    os.mkfifo(folder / "fifo.env")
    (folder / "dir.env").mkdir()
    (folder / "huge.env").write_bytes(b"A=" + b"x" * MAX_BESIDE)
    refused(folder, "fifo.env", "not a regular file")  # returns at once: opened O_NONBLOCK
    refused(folder, "dir.env", "not a regular file")
    refused(folder, "huge.env", f"larger than {MAX_BESIDE} bytes")
    if os.geteuid() == 0:
        os.mknod(folder / "null.env", 0o600 | stat.S_IFCHR, os.makedev(1, 3))
        refused(folder, "null.env", "not a regular file")


def test_missing_file_names_the_key():
    spec = parse_spec(SPEC)
    with pytest.raises(UsageError, match=r"containers\.web\.env_file: .*/nowhere/web\.env does not exist"):
        read_env_files(spec, Path("/nowhere/notes.toml"))


def test_env_files_go_through_the_rules(folder):
    spec = load_spec(folder / "notes.toml")
    assert read_env_files(spec, folder / "notes.toml") == {"web": {"A": "1"}}
    (folder / "web.env").unlink()
    os.mkfifo(folder / "web.env")
    with pytest.raises(UsageError, match="not a regular file"):
        read_env_files(spec, folder / "notes.toml")


def test_the_spec_itself_is_a_bounded_regular_file(folder):
    os.mkfifo(folder / "fifo.toml")
    with pytest.raises(UsageError, match="not a regular file"):
        load_spec(folder / "fifo.toml")
    with pytest.raises(UsageError, match="not a regular file"):
        load_spec("/dev/zero")
    (folder / "big.toml").write_bytes(b"#" * (2 << 20))
    with pytest.raises(UsageError, match="larger than"):
        load_spec(folder / "big.toml")


def test_write_spec_replaces_a_link_swapped_in_and_keeps_owner_and_mode(folder, tmp_path_factory):
    spec_path = folder / "notes.toml"
    os.chmod(spec_path, 0o640)
    got = read_spec(spec_path)
    victim = tmp_path_factory.mktemp("victim") / "passwd"
    victim.write_text("root:x:0:0\n")
    spec_path.unlink()
    os.symlink(victim, spec_path)  # swapped in while db upgrade ran
    if os.geteuid() == 0:
        os.lchown(spec_path, 1000, 1000)
    write_spec(spec_path, SPEC + "# upgraded\n", got)
    assert victim.read_text() == "root:x:0:0\n"
    assert not spec_path.is_symlink() and spec_path.read_text().endswith("# upgraded\n")
    st = spec_path.stat()
    assert (stat.S_IMODE(st.st_mode), st.st_uid, st.st_gid) == (0o640, got.uid, got.gid)
