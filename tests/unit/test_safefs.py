"""The safe file walk on a real file system: what an app user could plant in its home."""

from __future__ import annotations

import os
import stat
import time
from pathlib import Path

import pytest

from roost.host import safefs
from roost.host.safefs import UnsafePath

UID, GID = os.getuid(), os.getgid()


@pytest.fixture
def home(tmp_path):
    """A stand-in for an app's home. It lies under /tmp, which anyone can write: so, as in a
    real home, no link on the way is followed."""
    h = tmp_path / "home"
    h.mkdir()
    (tmp_path / "outside").write_text("root only\n")
    return h


def test_reads_a_regular_file(home):
    (home / "spec.toml").write_text("x = 1\n")
    assert safefs.read_text(str(home / "spec.toml")) == "x = 1\n"
    assert safefs.read_text(str(home / "missing")) is None


def test_a_link_in_the_home_is_not_followed_for_reading(home, tmp_path):
    (home / "history.jsonl").symlink_to(tmp_path / "outside")
    with pytest.raises(UnsafePath, match="symbolic link"):
        safefs.read_text(str(home / "history.jsonl"))


def test_a_linked_directory_on_the_way_is_refused(home, tmp_path):
    (home / "env").symlink_to(tmp_path)
    with pytest.raises(UnsafePath, match="passes through the symbolic link 'env'"):
        safefs.read_text(str(home / "env" / "outside"))


def test_a_fifo_is_refused_at_once(home):
    os.mkfifo(home / "PG_VERSION")
    started = time.monotonic()
    with pytest.raises(UnsafePath, match="not a regular file"):
        safefs.read_text(str(home / "PG_VERSION"))
    assert time.monotonic() - started < 1


def test_reads_are_bounded(home):
    (home / "big").write_bytes(b"x" * 2048)
    with pytest.raises(UnsafePath, match="larger than 1024 bytes"):
        safefs.read_bytes(str(home / "big"), limit=1024)


def test_a_sysctl_file_reads_whole():
    """procfs answers ENOMEM to one read of the whole limit (roost doctor read this one)."""
    assert safefs.read_text("/proc/sys/net/ipv4/ip_unprivileged_port_start").strip().isdigit()


def test_a_file_larger_than_a_chunk_reads_whole(home):
    (home / "mid").write_bytes(bytes(range(256)) * 1000)
    assert safefs.read_bytes(str(home / "mid")) == bytes(range(256)) * 1000


def test_write_replaces_a_planted_link_instead_of_following_it(home, tmp_path):
    (home / "secret").symlink_to(tmp_path / "outside")
    safefs.write_file(str(home / "secret"), b"new\n", 0o600, UID, GID)
    assert (tmp_path / "outside").read_text() == "root only\n"
    st = os.lstat(home / "secret")
    assert stat.S_ISREG(st.st_mode) and stat.S_IMODE(st.st_mode) == 0o600
    assert (home / "secret").read_text() == "new\n"
    assert [p.name for p in home.iterdir()] == ["secret"]  # no temp file left behind


def test_make_dir_refuses_a_link_in_its_place(home, tmp_path):
    (home / "data").symlink_to(tmp_path)
    before = os.stat(tmp_path)
    with pytest.raises(UnsafePath, match="not a directory"):
        safefs.make_dir(str(home / "data"), 0o700, UID, GID)
    assert stat.S_IMODE(os.stat(tmp_path).st_mode) == stat.S_IMODE(before.st_mode)


def test_make_dir_creates_then_fixes_mode(home):
    safefs.make_dir(str(home / "env"), 0o700, UID, GID)
    os.chmod(home / "env", 0o777)
    safefs.make_dir(str(home / "env"), 0o700, UID, GID)
    assert stat.S_IMODE(os.stat(home / "env").st_mode) == 0o700


def test_fix_file_refuses_a_hard_link(home, tmp_path):
    os.link(tmp_path / "outside", home / "x.env")
    with pytest.raises(UnsafePath, match="hard links"):
        safefs.fix_file(str(home / "x.env"), 0o600, UID, GID)
    assert os.stat(tmp_path / "outside").st_nlink == 2


def test_list_dir_keeps_names_whole(home):
    (home / "x\netc").write_text("")
    (home / "ok.env").write_text("")
    names = [n for n, _ in safefs.list_dir(str(home)) or []]
    assert names == ["ok.env", "x\netc"]


def test_remove_unlinks_the_link_not_its_target(home, tmp_path):
    (home / "pending.json").symlink_to(tmp_path / "outside")
    assert safefs.remove(str(home / "pending.json"))
    assert (tmp_path / "outside").exists()


def test_check_no_links(home, tmp_path):
    (home / "data").symlink_to(tmp_path)
    with pytest.raises(UnsafePath, match="passes through the symbolic link"):
        safefs.check_no_links(str(home / "data" / "x"))
    safefs.check_no_links(str(home / "real" / "x"))  # not there yet: nothing to follow


def test_root_owned_system_links_are_followed(tmp_path):
    # /lib -> usr/lib on Debian: a link only root can have made, in a directory only root writes
    assert os.path.islink("/lib")
    listing = safefs.list_dir("/lib")
    assert listing is not None and listing == safefs.list_dir("/usr/lib")
    assert safefs.read_text("/etc/passwd") == Path("/etc/passwd").read_text()


def test_dotdot_is_refused():
    with pytest.raises(UnsafePath, match=r"'\.\.'"):
        safefs.read_text("/srv/app/../../etc/shadow")


def test_root_only_dir():
    safefs.check_root_only_dir("/")
    for path in ("/tmp", "/tmp/nowhere", "/dev/null"):
        with pytest.raises(safefs.UnsafePath):
            safefs.check_root_only_dir(path)
