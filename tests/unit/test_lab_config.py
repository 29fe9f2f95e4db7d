"""Pure parts of the lab: argv builders, mirror detection, files written into the rootfs."""

from __future__ import annotations

import ast
import tomllib
from pathlib import Path

import pytest

from roost.errors import UsageError
from roost.lab import config, rootfs
from roost.lab.images import SOURCES
from roost.lab.machine import Machine

DEB822 = """\
Types: deb
# http://snapshot.debian.org/archive/debian/20250520T000000Z
URIs: http://deb.debian.org/debian
Suites: bookworm bookworm-updates
"""


@pytest.mark.parametrize(
    ("texts", "expected"),
    [
        ([DEB822], "http://deb.debian.org/debian"),
        (["deb http://ftp.de.debian.org/debian/ bookworm main\n"], "http://ftp.de.debian.org/debian"),
        (["deb [signed-by=/k.gpg] http://mirror.example/debian bookworm main"], "http://mirror.example/debian"),
        (["deb https://deb.nodesource.com/node_20.x nodistro main", DEB822], "http://deb.debian.org/debian"),
        (["URIs: http://deb.debian.org/debian-security\n"], None),
        ([], None),
    ],
)
def test_mirror_from_sources(texts, expected):
    assert config.mirror_from_sources(texts) == expected


def test_debootstrap_argv():
    argv = config.debootstrap_argv(Path("/c/rootfs.tmp"), ("systemd", "podman"), "http://m/debian")
    assert argv == ["debootstrap", "--variant=minbase", "--include=systemd,podman", "trixie", "/c/rootfs.tmp",
                    "http://m/debian"]  # fmt: skip


def test_lab_packages_cover_the_design_recipe():
    recipe = "systemd,systemd-sysv,dbus,dbus-user-session,libpam-systemd,podman,crun,passt,uidmap,catatonit,aardvark-dns,netavark,fuse-overlayfs,systemd-container,iproute2,procps,curl,ca-certificates"
    assert set(recipe.split(",")) <= set(config.LAB_PACKAGES)
    assert {"python3", "python3-venv", "docker-registry"} <= set(config.LAB_PACKAGES)


def test_boot_argv_registers_nowhere():
    argv = config.boot_argv(Path("/s/lab/rootfs"), "lab")
    assert argv[0] == "systemd-nspawn"
    assert {"--boot", "--directory=/s/lab/rootfs", "--machine=lab", "--register=no", "--keep-unit"} <= set(argv)
    assert config.BOOT_ENV["SYSTEMD_NSPAWN_UNIFIED_HIERARCHY"] == "1"


def test_nsenter_argv_has_a_clean_environment():
    argv = config.nsenter_argv(42, ["systemctl", "is-system-running"], env={"HOME": "/root"})
    assert argv[:7] == ["nsenter", "-t", "42", "-a", "--", "env", "-i"]
    assert argv[7].startswith("PATH=") and "/usr/local/bin" in argv[7]
    assert argv[8:] == ["HOME=/root", "systemctl", "is-system-running"]


def test_as_user_argv_sets_runtime_dir_and_bus():
    argv = config.as_user_argv("app", 2100, "/home/app", ["podman", "ps"])
    assert argv[:4] == ["runuser", "-u", "app", "--"]
    assert "XDG_RUNTIME_DIR=/run/user/2100" in argv
    assert "DBUS_SESSION_BUS_ADDRESS=unix:path=/run/user/2100/bus" in argv
    assert "--chdir=/home/app" in argv
    assert argv[-2:] == ["podman", "ps"]


@pytest.mark.parametrize(
    ("publish", "urls"),
    [
        (["127.0.0.1:8388:3000"], ["http://127.0.0.1:8388/"]),
        (["8080:80", "0.0.0.0:9000:90/tcp"], ["http://127.0.0.1:8080/", "http://127.0.0.1:9000/"]),
        (["[::1]:8443:443"], ["http://[::1]:8443/"]),
        (["3000"], []),
    ],
)
def test_publish_urls(publish, urls):
    assert config.publish_urls({"pod": {"publish": publish}}) == urls


def test_publish_urls_of_the_example_spec():
    spec = tomllib.loads((Path(__file__).parents[2] / "examples" / "lab-notes.toml").read_text())
    assert config.publish_urls(spec) == ["http://127.0.0.1:8388/"]
    assert config.publish_urls({}) == []


def test_nested_quirks():
    conf = tomllib.loads(config.CONTAINERS_CONF)["containers"]
    assert conf == {"keyring": False, "default_sysctls": [], "pids_limit": 0}
    reg = tomllib.loads(config.registries_conf("127.0.0.1:5000"))["registry"]
    assert reg == [{"location": "127.0.0.1:5000", "insecure": True}]
    assert "addr: 127.0.0.1:5000\n" in config.registry_config("127.0.0.1:5000")
    assert "htpasswd" not in config.registry_config("127.0.0.1:5000")
    assert "WantedBy=network-online.target" in config.ONLINE_UNIT


def test_configure_writes_the_quirks(tmp_path):
    (tmp_path / "etc").mkdir()
    (tmp_path / "etc" / "resolv.conf").symlink_to("../run/systemd/resolve/stub-resolv.conf")
    rootfs.configure(tmp_path)
    rootfs.personalize(tmp_path, "lab1", "127.0.0.1:5001")
    etc = tmp_path / "etc"
    assert (etc / "containers/containers.conf").read_text() == config.CONTAINERS_CONF
    assert not (etc / "resolv.conf").is_symlink()
    wants = etc / "systemd/system/network-online.target.wants" / config.ONLINE_UNIT_NAME
    assert wants.is_symlink() and str(wants.readlink()) == f"/etc/systemd/system/{config.ONLINE_UNIT_NAME}"
    assert (etc / "systemd/system/multi-user.target.wants/network-online.target").is_symlink()
    assert (etc / "subuid").exists() and (etc / "machine-id").read_text() == ""
    assert (etc / "hostname").read_text() == "lab1\n"
    assert "127.0.0.1:5001" in (etc / "containers/registries.conf.d/50-roost-lab.conf").read_text()
    assert "0666" in (etc / "tmpfiles.d/roost-lab-tun.conf").read_text()


def test_cache_keys_follow_their_inputs():
    assert rootfs.lab_key("http://a/debian") == rootfs.lab_key("http://a/debian")
    assert rootfs.lab_key("http://a/debian") != rootfs.lab_key("http://b/debian")
    assert rootfs.base_key("http://a/debian") != rootfs.lab_key("http://a/debian")


@pytest.mark.parametrize("name", ["roost-lab", "t1", "a" * 31])
def test_machine_names(name):
    assert Machine(name).rootfs.name == "rootfs"


@pytest.mark.parametrize("name", ["", "Lab", "../x", "-x", "a b", "a" * 40])
def test_bad_machine_names(name):
    with pytest.raises(UsageError):
        Machine(name)


def test_image_sources_ship_with_the_package():
    for rel in ("postgres/Containerfile", "postgres/docker-entrypoint.sh", "notes/Containerfile", "notes/app.py"):
        assert (SOURCES / rel).is_file(), rel
    ast.parse((SOURCES / "notes" / "app.py").read_text())
    notes = (SOURCES / "notes" / "Containerfile").read_text()
    assert "ARG VERSION" in notes and "ARG BROKEN" in notes and "FROM ${BASE}" in notes


def test_publish_urls_of_each_container_on_an_app_network_tcp_only():
    spec = {"network": {}, "containers": {"web": {"publish": ["127.0.0.1:8080:8080"]}, "db": {},
                                          "dns": {"publish": ["8053:53/udp", "9090:90/tcp"]}}}
    assert config.publish_urls(spec) == ["http://127.0.0.1:8080/", "http://127.0.0.1:9090/"]
    for name in ("miniflux", "node-red", "synapse"):  # the real apps' specs as imported: each answers somewhere
        imported = tomllib.loads((Path(__file__).parents[2] / "examples" / "apps" / name / "roost-spec.toml").read_text())
        assert config.publish_urls(imported), name
