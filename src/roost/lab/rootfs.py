"""Building the cached root filesystems: the lab host itself and the test images' base.

Both are debootstrapped once into /var/cache/roost/lab and reused; a `.key` file beside
each records what it was built from, so a change of package list rebuilds it."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from roost.errors import RoostError
from roost.lab import config, upstream
from roost.lab.machine import CACHE_DIR
from roost.lab.proc import run

LAB_ROOTFS = CACHE_DIR / "rootfs"
BASE_TAR = CACHE_DIR / "image-base.tar"

# Bump when configure() changes what it writes, so cached rootfs get rebuilt.
CONFIG_REVISION = "2"


def mirror() -> str:
    """The Debian mirror: $ROOST_LAB_MIRROR, else the one apt uses on this machine."""
    if env := os.environ.get("ROOST_LAB_MIRROR"):
        return env
    texts = []
    for p in [Path("/etc/apt/sources.list"), *sorted(Path("/etc/apt/sources.list.d").glob("*"))]:
        try:
            texts.append(p.read_text())
        except OSError:
            continue
    return config.mirror_from_sources(texts) or config.DEFAULT_MIRROR


def lab_key(mirror_url: str) -> str:
    return config.digest(config.SUITE, *config.LAB_PACKAGES, mirror_url, CONFIG_REVISION,
                         config.CONTAINERS_CONF, config.ONLINE_UNIT, config.TUN_TMPFILES)  # fmt: skip


def base_key(mirror_url: str) -> str:
    return config.digest(config.SUITE, *config.BASE_PACKAGES, *config.BASE_TAR_EXCLUDES, mirror_url)


def _cached(path: Path, key: str) -> bool:
    keyfile = path.with_name(path.name + ".key")
    return path.exists() and keyfile.exists() and keyfile.read_text().strip() == key


def lab_cached(mirror_url: str) -> bool:
    return _cached(LAB_ROOTFS, lab_key(mirror_url))


def base_cached(mirror_url: str) -> bool:
    return _cached(BASE_TAR, base_key(mirror_url))


def _mark(path: Path, key: str) -> None:
    path.with_name(path.name + ".key").write_text(key + "\n")


def debootstrap(target: Path, packages: tuple[str, ...], mirror_url: str, log: Path,
                 suite: str = config.SUITE) -> None:
    shutil.rmtree(target, ignore_errors=True)
    target.parent.mkdir(parents=True, exist_ok=True)
    argv = config.debootstrap_argv(target, packages, mirror_url, suite)
    with open(log, "w") as f:
        f.write(" ".join(argv) + "\n")
    cp = run(argv, check=False, timeout=1800)
    log.write_text(cp.stdout or "")
    if cp.returncode != 0:
        tail = "\n".join((cp.stdout or "").splitlines()[-15:])
        raise RoostError(f"debootstrap of {target.name} failed (exit {cp.returncode}):\n{tail}", f"full log: {log}")


def ensure_lab_rootfs(mirror_url: str) -> bool:
    """Build the cached lab rootfs unless it is current. Returns True if it was built."""
    key = lab_key(mirror_url)
    if _cached(LAB_ROOTFS, key):
        return False
    tmp = CACHE_DIR / "rootfs.tmp"
    debootstrap(tmp, config.LAB_PACKAGES, mirror_url, CACHE_DIR / "rootfs.log")
    configure(tmp)
    shutil.rmtree(LAB_ROOTFS, ignore_errors=True)
    tmp.rename(LAB_ROOTFS)
    _mark(LAB_ROOTFS, key)
    return True


def _write(root: Path, rel: str, text: str) -> None:
    path = root / rel.lstrip("/")
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.is_symlink():
        path.unlink()
    path.write_text(text)


def _symlink(root: Path, rel: str, target: str) -> None:
    path = root / rel.lstrip("/")
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.is_symlink() or path.exists():
        path.unlink()
    path.symlink_to(target)


def configure(root: Path) -> None:
    """The nested quirks from design.md, written straight into the rootfs (offline)."""
    _write(root, "/etc/containers/containers.conf", config.CONTAINERS_CONF)
    _write(root, "/etc/tmpfiles.d/roost-lab-tun.conf", config.TUN_TMPFILES)
    unit = f"/etc/systemd/system/{config.ONLINE_UNIT_NAME}"
    _write(root, unit, config.ONLINE_UNIT)
    # = systemctl enable roost-lab-online; systemctl add-wants multi-user.target network-online.target
    _symlink(root, f"/etc/systemd/system/network-online.target.wants/{config.ONLINE_UNIT_NAME}", unit)
    _symlink(root, "/etc/systemd/system/multi-user.target.wants/network-online.target",
             "/usr/lib/systemd/system/network-online.target")  # fmt: skip
    _symlink(root, "/etc/systemd/system/multi-user.target.wants/docker-registry.service",
             "/usr/lib/systemd/system/docker-registry.service")  # fmt: skip
    # Caddy's package enables it; leave that to roost, so a lab without HTTPS apps keeps ports 80/443 free.
    (root / "etc/systemd/system/multi-user.target.wants/caddy.service").unlink(missing_ok=True)
    # A plain file: a resolved stub symlink would point at a resolver the lab does not run.
    _write(root, "/etc/resolv.conf", Path("/etc/resolv.conf").read_text())
    # useradd allocates subordinate ids only when these files exist, as on a normal server.
    for f in ("/etc/subuid", "/etc/subgid"):
        (root / f.lstrip("/")).touch()
    # Each machine copy boots with a fresh identity.
    _write(root, "/etc/machine-id", "")
    shutil.rmtree(root / "var/cache/apt/archives", ignore_errors=True)
    (root / "var/cache/apt/archives/partial").mkdir(parents=True)


def personalize(root: Path, name: str, registry: str = config.REGISTRY) -> None:
    """What differs between machines made from the same cached rootfs."""
    _write(root, "/etc/hostname", name + "\n")
    _write(root, "/etc/docker/registry/config.yml", config.registry_config(registry))
    _write(root, "/etc/containers/registries.conf.d/50-roost-lab.conf", config.registries_conf(registry))
    # upstream names (docker.io/miniflux/miniflux, ...) served by the lab registry: compose files run unedited
    _write(root, "/etc/containers/registries.conf.d/60-roost-lab-upstream.conf", upstream.remaps(registry))


def base_tar(suite: str = config.SUITE) -> Path:
    return BASE_TAR if suite == config.SUITE else CACHE_DIR / f"image-base-{suite}.tar"


def ensure_base_tar(mirror_url: str, suite: str = config.SUITE) -> bool:
    """Debootstrap the test images' base and tar it for `podman import` (cached)."""
    key = config.digest(suite, base_key(mirror_url))
    tar = base_tar(suite)
    if _cached(tar, key if suite != config.SUITE else base_key(mirror_url)):
        return False
    tmp = CACHE_DIR / f"image-base-{suite}.tmp"
    debootstrap(tmp, config.BASE_PACKAGES, mirror_url, CACHE_DIR / f"image-base-{suite}.log", suite)
    tar_tmp = tar.with_name(tar.name + ".tmp")
    excludes = [f"--exclude={e}" for e in config.BASE_TAR_EXCLUDES]
    run(["tar", "-C", str(tmp), *excludes, "-cf", str(tar_tmp), "."], what="tar of the image base")
    tar_tmp.rename(tar)
    _mark(tar, key if suite != config.SUITE else base_key(mirror_url))
    shutil.rmtree(tmp, ignore_errors=True)
    return True


def pg_major(tar: Path = BASE_TAR) -> str:
    """PostgreSQL major version in the base (the postgres image is tagged with it)."""
    cp = run(["tar", "-tf", str(tar), "--wildcards", "./usr/lib/postgresql/*/bin/postgres"], what="listing the base")
    for line in cp.stdout.splitlines():
        parts = line.split("/")
        if len(parts) > 4 and parts[4].isdigit():
            return parts[4]
    raise RoostError(f"no PostgreSQL server in {tar}", f"delete {tar} and run `roost lab up` again")
