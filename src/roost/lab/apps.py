"""Real apps' images for the lab: Miniflux, Node-RED and Synapse, built from Debian's, npm's and
PyPI's files, and PostgreSQL 15/17, all served under the names their upstream compose files use
(registries.conf.d remaps docker.io/... onto the lab registry, see `remaps`).

The files are fetched on the machine, outside the lab (and outside the lab lock): a debootstrap'd
Debian 13 base with Node.js and Miniflux, `npm install --prefix` of node-red, `pip install --target`
of matrix-synapse as cp313 wheels. The build inside the lab only COPYs them (no network there).
Each image is built on first use (`ensure_app`): only the test modules that need an app pay for it.
Built images are kept as a copy of the registry's storage per image key (hard links: blobs are
immutable), so the next lab gets them by linking files into its registry."""

from __future__ import annotations

import os
import shutil
import urllib.request
from pathlib import Path

from roost.lab import config, images, rootfs
from roost.lab.machine import CACHE_DIR, Machine
from roost.lab.proc import run
from roost.lab.upstream import APPS, POSTGRES_TAGS, POSTGRES_UPSTREAM, UPSTREAM, AppImage, lab_repo

APPS_CACHE = CACHE_DIR / "apps"
APP_BASE = "localhost/roost-lab/app-base:latest"
# The apps' root: Debian 13 with Node.js 20 (Node-RED), python3.13 (Synapse) and the miniflux package.
APP_BASE_PACKAGES: tuple[str, ...] = ("nodejs", "miniflux", "python3", "curl", "ca-certificates")
def needed(spec: dict[str, object]) -> list[str]:
    """Which of the lab's real-app images (and `postgres`) a spec's containers name."""
    containers = spec.get("containers")
    names = {str(c.get("image", "")) for c in containers.values()} if isinstance(containers, dict) else set()
    out = [a.name for a in APPS.values() if any(n.startswith(a.upstream + ":") for n in names)]
    if any(n.startswith((POSTGRES_UPSTREAM + ":", "docker.io/postgres:")) for n in names):
        out.append("postgres")
    return out


# --- files fetched on the machine ---------------------------------------------------------------------------------


def app_base_tar() -> Path:
    return APPS_CACHE / "app-base.tar"


def app_base_key(mirror_url: str) -> str:
    return config.digest("app-base", config.SUITE, *APP_BASE_PACKAGES, *config.BASE_TAR_EXCLUDES, mirror_url)


def ensure_app_base(mirror_url: str) -> Path:
    """Debootstrap Debian 13 with APP_BASE_PACKAGES and tar it for `podman import` (cached)."""
    tar = app_base_tar()
    key = app_base_key(mirror_url)
    keyfile = tar.with_name(tar.name + ".key")
    if tar.exists() and keyfile.exists() and keyfile.read_text().strip() == key:
        return tar
    APPS_CACHE.mkdir(parents=True, exist_ok=True)
    tmp = APPS_CACHE / "app-base.tmp"
    rootfs.debootstrap(tmp, APP_BASE_PACKAGES, mirror_url, APPS_CACHE / "app-base.log")
    tar_tmp = tar.with_name(tar.name + ".tmp")
    excludes = [f"--exclude={e}" for e in config.BASE_TAR_EXCLUDES]
    run(["tar", "-C", str(tmp), *excludes, "-cf", str(tar_tmp), "."], what="tar of the app base")
    tar_tmp.rename(tar)
    keyfile.write_text(key + "\n")
    shutil.rmtree(tmp, ignore_errors=True)
    return tar


def _fetched(dest: Path, fetch: list[str], what: str) -> Path:
    """Run fetch (which fills dest.tmp) once; dest appears only when it succeeded."""
    if dest.is_dir():
        return dest
    tmp = dest.with_name(dest.name + ".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    run([a.replace("{dest}", str(tmp)) for a in fetch], what=what, timeout=1200)
    tmp.rename(dest)
    return dest


def fetch_node_red(version: str) -> Path:
    """node-red from npm (pure JavaScript: nothing is compiled, so this machine's npm is fine)."""
    return _fetched(APPS_CACHE / f"node-red-{version}", [
        "npm", "install", "--prefix", "{dest}", "--no-audit", "--no-fund", "--omit=dev", "--no-save",
        f"node-red@{version}"], f"npm install node-red@{version}")  # fmt: skip


def fetch_synapse(version: str) -> Path:
    """matrix-synapse and every dependency as wheels for the lab's Python 3.13 (psycopg2-binary:
    the PostgreSQL driver as a wheel), unpacked into one directory for PYTHONPATH."""
    return _fetched(APPS_CACHE / f"synapse-{version}", [
        "python3", "-m", "pip", "install", "--quiet", "--no-compile", "--target", "{dest}", "--only-binary=:all:",
        "--python-version", "3.13", "--implementation", "cp", "--platform", "manylinux2014_x86_64",
        "--platform", "manylinux_2_28_x86_64", "--platform", "manylinux_2_17_x86_64",
        f"matrix-synapse=={version}", "psycopg2-binary"], f"pip install matrix-synapse {version}")  # fmt: skip


def fetch(name: str) -> None:
    """Everything app NAME's images need from the network, into the cache (no lab needed)."""
    if name == "postgres":  # PostgreSQL 15 comes from Debian 12
        rootfs.ensure_base_tar(rootfs.mirror(), config.PG_SUITES["15"])
        return
    ensure_app_base(rootfs.mirror())
    for version in APPS[name].versions if name in APPS else ():
        if name == "node-red":
            fetch_node_red(version)
        elif name == "synapse":
            fetch_synapse(version)


# --- images in the lab ------------------------------------------------------------------------------------------


def _sources_key(*dirs: str) -> str:
    parts = []
    for d in dirs:
        for p in sorted((images.SOURCES / d).rglob("*")):
            if p.is_file():
                parts.append(f"{p.relative_to(images.SOURCES)}\n{p.read_text()}")
    return config.digest(*parts)


# Buildah caches a step by its text before ARGs are expanded: `LABEL version=${VERSION}` built for a second version
# reused the first one's layer, so both tags were one image (the Miniflux update found nothing newer). Part of the key.
BUILD_FLAGS = ("--no-cache",)


def image_key(name: str) -> str:
    """What app NAME's images are built from (postgres: the lab's postgres images)."""
    mirror_url = rootfs.mirror()
    if name == "postgres":
        return config.digest("postgres", images.images_key(mirror_url), *(f"{t}={m}" for t, m in POSTGRES_TAGS.items()))
    app = APPS[name]
    return config.digest(name, app_base_key(mirror_url), _sources_key(name), *app.versions, *BUILD_FLAGS)


def _registry_dir(machine: Machine) -> Path:
    return machine.rootfs / images.REGISTRY_DIR / "docker/registry/v2"


def _copy_tree(src: Path, dest: Path, *, link: bool = False) -> None:
    """Copy src's files into dest, keeping what is there. link: hard links (same file system) for
    blobs, which the registry never rewrites; tag files it does rewrite in place, so those are copied."""
    dest.mkdir(parents=True, exist_ok=True)
    argv = ["cp", "-a", "-n", f"{src}/.", str(dest)]
    if not link or run([*argv[:2], "--link", *argv[2:]], check=False, what="linking cached images").returncode != 0:
        run(argv, what="copying cached images")


def _cache_in(cached: Path, registry: Path) -> None:
    _copy_tree(cached / "blobs", registry / "blobs", link=True)
    _copy_tree(cached / "repositories", registry / "repositories")
    # the copies (and the folders made for them) are root's: the registry must still write beside them
    # when an image is built later (a push into upstream/ failed with "permission denied" otherwise)
    run(["chown", "-R", f"--reference={registry}", str(registry / "repositories"), str(registry / "blobs")],
        what="handing cached images to the registry")


def _cache_dir(name: str) -> Path:
    return APPS_CACHE / "registry" / f"{name}-{image_key(name)}"


def _tags_present(name: str) -> bool:
    tags = set(images.registry_tags(f"{UPSTREAM}/{name}"))
    want = set(POSTGRES_TAGS) if name == "postgres" else {*APPS[name].versions, "latest"}
    return want <= tags


def ensure_app(machine: Machine, name: str) -> None:
    """App NAME's images (or `postgres`) in the running lab's registry: present, linked from the
    cache, or built (and then cached)."""
    if _tags_present(name):
        return
    cached = _cache_dir(name)
    if cached.is_dir():
        _cache_in(cached, _registry_dir(machine))
        if _tags_present(name):
            return
    if name == "postgres":
        _build_postgres(machine)
    else:
        fetch(name)
        _build_app(machine, APPS[name])
    # this repository and the blobs (content-addressed: others' are harmless, and linked, not copied)
    tmp = cached.with_name(cached.name + ".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    repo = f"repositories/{UPSTREAM}/{name}"
    _copy_tree(_registry_dir(machine) / repo, tmp / repo)
    _copy_tree(_registry_dir(machine) / "blobs", tmp / "blobs", link=True)
    shutil.rmtree(cached, ignore_errors=True)
    tmp.rename(cached)


def _push(machine: Machine, image: str, refs: list[str]) -> None:
    for ref in refs:
        if ref != image:
            images.podman(machine, "tag", image, ref, what=f"tagging {ref}")
        images.podman(machine, "push", "--quiet", ref, what=f"pushing {ref}")


def _build_postgres(machine: Machine) -> None:
    for major in sorted(set(POSTGRES_TAGS.values())):
        image = images.ensure_postgres(machine, major)
        if machine.exec(["podman", "image", "exists", image], user=images.BUILDER, check=False).returncode != 0:
            images.podman(machine, "pull", "--quiet", image, what=f"pulling {image}")
        _push(machine, image, [f"{lab_repo('postgres')}:{tag}" for tag, m in POSTGRES_TAGS.items() if m == major])


def _ensure_app_base_image(machine: Machine) -> None:
    images.ensure_builder(machine)
    if machine.exec(["podman", "image", "exists", APP_BASE], user=images.BUILDER, check=False).returncode == 0:
        return
    build = machine.rootfs / images.BUILD_DIR.lstrip("/")
    build.mkdir(parents=True, exist_ok=True)
    tar = build / "app-base.tar"
    tar.unlink(missing_ok=True)
    try:
        os.link(app_base_tar(), tar)
    except OSError:
        shutil.copy2(app_base_tar(), tar)
    tar.chmod(0o644)
    images.podman(machine, "import", "--quiet", f"{images.BUILD_DIR}/{tar.name}", APP_BASE,
                  what="importing the app base")  # fmt: skip
    tar.unlink()


def _build_app(machine: Machine, app: AppImage) -> None:
    _ensure_app_base_image(machine)
    build = machine.rootfs / images.BUILD_DIR.lstrip("/") / "apps" / app.name
    for i, version in enumerate(app.versions):
        shutil.rmtree(build, ignore_errors=True)
        shutil.copytree(images.SOURCES / app.name, build)
        inside = f"{images.BUILD_DIR}/apps/{app.name}"
        if app.name == "node-red":
            shutil.copytree(fetch_node_red(version), build / "files", symlinks=True)
        elif app.name == "synapse":
            shutil.copytree(fetch_synapse(version), build / "files", symlinks=True)
        else:
            (build / "files").mkdir()
        (build / "data").mkdir()  # an empty directory the image owns (COPY --chown): git keeps none
        run(["chown", "-R", f"{images.BUILDER.uid}:{images.BUILDER.uid}", str(build)], what="handing the build over")
        refs = [f"{lab_repo(app.name)}:{version}"] + ([f"{lab_repo(app.name)}:latest"] if i == 0 else [])
        tag_args = [a for r in refs for a in ("-t", r)]
        images.podman(machine, "build", "--quiet", *BUILD_FLAGS, "--build-arg", f"BASE={APP_BASE}", "--build-arg",
                      f"VERSION={version}", *tag_args, inside, what=f"building {app.name} {version}")  # fmt: skip
        _push(machine, refs[0], refs)
    shutil.rmtree(build, ignore_errors=True)


MANIFEST_TYPES = ", ".join((
    "application/vnd.oci.image.manifest.v1+json", "application/vnd.oci.image.index.v1+json",
    "application/vnd.docker.distribution.manifest.v2+json", "application/vnd.docker.distribution.manifest.list.v2+json",
))  # fmt: skip


def publish_latest(name: str, version: str) -> None:
    """Point app NAME's `latest` at VERSION in the lab registry (a new release, as upstream would
    publish one): the manifest is copied through the registry's API, no image moves."""
    base = f"http://{config.REGISTRY}/v2/{UPSTREAM}/{name}/manifests"
    get = urllib.request.Request(f"{base}/{version}", headers={"Accept": MANIFEST_TYPES})
    with urllib.request.urlopen(get, timeout=10) as r:
        body, kind = r.read(), r.headers["Content-Type"]
    put = urllib.request.Request(f"{base}/latest", data=body, method="PUT", headers={"Content-Type": kind})
    with urllib.request.urlopen(put, timeout=10):
        pass
