"""The test images: built rootless inside the lab as `labbuild`, pushed to the lab registry.

Rootful podman build fails under nspawn (design.md), so a lingering ordinary user builds.
After a first build the registry's storage is cached, so new machines get the images by copy."""

from __future__ import annotations

import json
import os
import shutil
import time
import urllib.error
import urllib.request
from pathlib import Path

from roost.errors import RoostError
from roost.lab import config, rootfs
from roost.lab.machine import CACHE_DIR, Machine, User
from roost.lab.proc import run

SOURCES = Path(__file__).parent / "containerfiles"
BUILDER = User("labbuild", 1500)
BASE_IMAGE = "localhost/roost-lab/base:latest"
REGISTRY_CACHE = CACHE_DIR / "registry"
REGISTRY_DIR = "var/lib/docker-registry"  # inside the rootfs
BUILD_DIR = "/var/lib/roost-lab/build"  # inside the lab: base tar and image sources


def postgres_ref(major: str) -> str:
    return f"{config.REGISTRY}/roost-lab/postgres:{major}"


def notes_ref(tag: str) -> str:
    return f"{config.REGISTRY}/roost-lab/notes:{tag}"


DEFAULT_SOURCES = ("notes", "postgres")  # the images every lab gets; real apps' are built on demand (lab/apps.py)


def sources_hash() -> str:
    files = sorted(p for d in DEFAULT_SOURCES for p in (SOURCES / d).rglob("*")
                   if p.is_file() and "__pycache__" not in p.parts)  # fmt: skip
    return config.digest(*(f"{p.relative_to(SOURCES)}\n{p.read_text()}" for p in files))


def images_key(mirror_url: str) -> str:
    return config.digest(rootfs.base_key(mirror_url), sources_hash())


def registry_tags(repo: str) -> list[str]:
    """Tags of repo in the running lab's registry, asked from the machine (shared network)."""
    try:
        with urllib.request.urlopen(f"http://{config.REGISTRY}/v2/{repo}/tags/list", timeout=5) as r:
            return list(json.load(r).get("tags") or [])
    except (urllib.error.URLError, OSError, ValueError):
        return []


def wait_registry(timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(f"http://{config.REGISTRY}/v2/", timeout=2):
                return
        except (urllib.error.URLError, OSError):
            time.sleep(0.5)
    raise RoostError(f"the lab registry on {config.REGISTRY} does not answer",
                     "see `roost lab exec NAME -- journalctl -u docker-registry`")  # fmt: skip


def seed_registry(machine: Machine, key: str) -> bool:
    """Before first boot: copy cached registry storage into a new machine's disk."""
    if not registry_cached(key):
        return False
    target = machine.rootfs / REGISTRY_DIR
    shutil.rmtree(target, ignore_errors=True)
    run(["cp", "-a", "--reflink=auto", str(REGISTRY_CACHE), str(target)], what="copying the cached images")
    (machine.dir / "images.key").write_text(key + "\n")
    return True


def save_registry(machine: Machine, key: str) -> None:
    tmp = CACHE_DIR / "registry.tmp"
    shutil.rmtree(tmp, ignore_errors=True)
    run(["cp", "-a", "--reflink=auto", str(machine.rootfs / REGISTRY_DIR), str(tmp)], what="caching the images")
    shutil.rmtree(REGISTRY_CACHE, ignore_errors=True)
    tmp.rename(REGISTRY_CACHE)
    REGISTRY_CACHE.with_name("registry.key").write_text(key + "\n")


def ensure_builder(machine: Machine) -> None:
    """A lingering ordinary user for rootless builds (idempotent)."""
    if machine.exec(["id", BUILDER.name], check=False).returncode != 0:
        machine.exec(["useradd", "--create-home", "--uid", str(BUILDER.uid), "--shell", "/bin/bash", BUILDER.name])
    machine.exec(["loginctl", "enable-linger", BUILDER.name])
    deadline = time.monotonic() + 60
    while machine.exec(["test", "-S", f"/run/user/{BUILDER.uid}/bus"], check=False).returncode != 0:
        if time.monotonic() > deadline:
            raise RoostError(f"the user manager of {BUILDER.name} did not start in the lab",
                             f"see `roost lab exec {machine.name} -- systemctl status user@{BUILDER.uid}`")  # fmt: skip
        time.sleep(0.3)


def podman(machine: Machine, *args: str, what: str, timeout: float = 900) -> None:
    machine.exec(["podman", *args], user=BUILDER, what=what, timeout=timeout)


def base_image(suite: str = config.SUITE) -> str:
    return BASE_IMAGE if suite == config.SUITE else f"localhost/roost-lab/base-{suite}:latest"


def ensure_base_image(machine: Machine, suite: str = config.SUITE) -> None:
    """Import the base tarball into labbuild's storage unless it is there already."""
    ensure_builder(machine)
    image = base_image(suite)
    if machine.exec(["podman", "image", "exists", image], user=BUILDER, check=False).returncode == 0:
        return
    rootfs.ensure_base_tar(rootfs.mirror(), suite)
    build = machine.rootfs / BUILD_DIR.lstrip("/")
    build.mkdir(parents=True, exist_ok=True)
    tar = build / f"base-{suite}.tar"
    tar.unlink(missing_ok=True)
    try:
        os.link(rootfs.base_tar(suite), tar)  # same filesystem: no copy of ~300 MB
    except OSError:
        shutil.copy2(rootfs.base_tar(suite), tar)
    tar.chmod(0o644)
    podman(machine, "import", "--quiet", f"{BUILD_DIR}/{tar.name}", image, what="importing the image base")
    tar.unlink()


def ensure_postgres(machine: Machine, major: str) -> str:
    """A postgres image of another major, built on the Debian release that ships it (for the
    major-upgrade tests): Debian 12 gives 15, Debian 13 gives 17."""
    if major in registry_tags("roost-lab/postgres"):
        return postgres_ref(major)
    suite = config.PG_SUITES[major]
    ensure_base_image(machine, suite)
    return build_postgres(machine, major, base=base_image(suite))


def _ship_sources(machine: Machine) -> str:
    dest = machine.rootfs / BUILD_DIR.lstrip("/") / "images"
    shutil.rmtree(dest, ignore_errors=True)
    shutil.copytree(SOURCES, dest, ignore=shutil.ignore_patterns("__pycache__"))
    return f"{BUILD_DIR}/images"


def build_postgres(machine: Machine, major: str, base: str = BASE_IMAGE) -> str:
    src = _ship_sources(machine) + "/postgres"
    ref = postgres_ref(major)
    podman(machine, "build", "--quiet", "--no-cache", "--build-arg", f"BASE={base}", "--build-arg", f"PG_MAJOR={major}",
           "-t", ref, src, what="building the postgres image")  # fmt: skip
    podman(machine, "push", "--quiet", ref, what=f"pushing {ref}")
    return ref


def build_notes(machine: Machine, version: str = "1", *, broken: bool = False, tags: tuple[str, ...] = ()) -> list[str]:
    """Build notes VERSION (broken: /status always fails) and push it as :VERSION and every
    extra tag (e.g. "latest"). Later tests use this to publish v2 and a broken v3."""
    ensure_base_image(machine)  # a machine seeded from the registry cache has no builder yet
    src = _ship_sources(machine) + "/notes"
    refs = [notes_ref(t) for t in (version, *tags)]
    tag_args = [a for r in refs for a in ("-t", r)]
    podman(machine, "build", "--quiet", "--no-cache", "--build-arg", f"BASE={BASE_IMAGE}", "--build-arg", f"VERSION={version}",
           "--build-arg", f"BROKEN={'1' if broken else ''}", *tag_args, src, what=f"building notes {version}")  # fmt: skip
    for ref in refs:
        podman(machine, "push", "--quiet", ref, what=f"pushing {ref}")
    return refs


def images_current(machine: Machine, key: str) -> bool:
    keyfile = machine.dir / "images.key"
    return (
        keyfile.exists()
        and keyfile.read_text().strip() == key
        and any(t.isdigit() for t in registry_tags("roost-lab/postgres"))
        and {"1", "latest"} <= set(registry_tags("roost-lab/notes"))
    )


def registry_cached(key: str) -> bool:
    keyfile = REGISTRY_CACHE.with_name("registry.key")
    return REGISTRY_CACHE.is_dir() and keyfile.exists() and keyfile.read_text().strip() == key


def ensure_images(machine: Machine, mirror_url: str) -> bool:
    """Make the test images available in the machine's registry. Returns True if built."""
    key = images_key(mirror_url)
    wait_registry()
    if images_current(machine, key):
        return False
    rootfs.ensure_base_tar(mirror_url)
    ensure_base_image(machine)
    build_postgres(machine, rootfs.pg_major())
    build_notes(machine, "1", tags=("latest",))
    (machine.dir / "images.key").write_text(key + "\n")
    save_registry(machine, key)
    return True
