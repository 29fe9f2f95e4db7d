"""Installing this checkout of roost into the lab, from wheels built on the machine.

HTTPS to package registries does not verify inside the lab, so wheels are made here:
the dependencies once (cached, keyed by constraints.txt), the checkout on every `up`
(a few seconds; reinstalled only when its content changed)."""

from __future__ import annotations

import hashlib
import shutil
import sys
import tempfile
import zipfile
from dataclasses import dataclass
from pathlib import Path

from roost.errors import RoostError
from roost.lab import config
from roost.lab.machine import CACHE_DIR, Machine
from roost.lab.proc import run

WHEELS = CACHE_DIR / "wheels"
LAB_PYTHON = "3.13"  # trixie's python3
IN_LAB = "/opt/roost"  # venv at /opt/roost/venv, wheels at /opt/roost/wheels


def checkout() -> Path:
    """The source tree roost runs from (src layout: <root>/src/roost/lab/wheels.py)."""
    root = Path(__file__).resolve().parents[3]
    if not (root / "pyproject.toml").exists():
        raise RoostError(
            "roost lab installs the roost checkout it runs from, but this roost is not run from one",
            "install roost with `pip install -e .` from a checkout",
        )
    return root


@dataclass(frozen=True)
class Wheels:
    roost: Path  # the checkout's wheel
    deps: Path  # directory of dependency wheels for the lab's Python
    content_hash: str  # of the wheel's RECORD: stable across rebuilds of the same content


def _record_hash(wheel: Path) -> str:
    with zipfile.ZipFile(wheel) as z:
        record = next(n for n in z.namelist() if n.endswith(".dist-info/RECORD"))
        return hashlib.sha256(z.read(record)).hexdigest()[:16]


def build(out: Path) -> Wheels:
    root = checkout()
    out.mkdir(parents=True, exist_ok=True)
    run([sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "-w", str(out), str(root)],
        what="building the roost wheel", timeout=600)  # fmt: skip
    wheel = max(out.glob("roost-*.whl"), key=lambda p: p.stat().st_mtime)
    constraints = root / "constraints.txt"
    key = config.digest(constraints.read_text() if constraints.exists() else "", LAB_PYTHON)
    deps = WHEELS / key
    if not deps.is_dir():
        tmp = Path(tempfile.mkdtemp(dir=CACHE_DIR, prefix="wheels."))
        argv = [sys.executable, "-m", "pip", "download", "--quiet", "--dest", str(tmp),
                "--python-version", LAB_PYTHON, "--only-binary=:all:", "--platform", "manylinux2014_x86_64",
                str(wheel)]  # fmt: skip
        if constraints.exists():
            argv += ["--constraint", str(constraints)]
        run(argv, what="downloading roost's dependencies for the lab", timeout=900)
        for w in tmp.glob("roost-*.whl"):
            w.unlink()
        WHEELS.mkdir(parents=True, exist_ok=True)
        tmp.rename(deps)
    return Wheels(roost=wheel, deps=deps, content_hash=_record_hash(wheel))


def installed_hash(machine: Machine) -> str | None:
    try:
        return (machine.rootfs / IN_LAB.lstrip("/") / "wheel.hash").read_text().strip()
    except OSError:
        return None


def install(machine: Machine, wheels: Wheels) -> bool:
    """Install roost into /opt/roost/venv inside the lab, with /usr/local/bin/roost.
    Returns False when the same content is already installed."""
    if installed_hash(machine) == wheels.content_hash:
        return False
    host_dir = machine.rootfs / IN_LAB.lstrip("/") / "wheels"
    shutil.rmtree(host_dir, ignore_errors=True)
    shutil.copytree(wheels.deps, host_dir)
    shutil.copy2(wheels.roost, host_dir / wheels.roost.name)
    venv, wheel = f"{IN_LAB}/venv", f"{IN_LAB}/wheels/{wheels.roost.name}"
    if not (machine.rootfs / venv.lstrip("/") / "bin" / "python").exists():
        machine.exec(["python3", "-m", "venv", venv], what="creating the roost venv in the lab")
    pip = [f"{venv}/bin/pip", "install", "--quiet", "--no-index", "--find-links", f"{IN_LAB}/wheels"]
    machine.exec([*pip, wheel], what="installing roost's dependencies in the lab", timeout=600)
    machine.exec([*pip, "--no-deps", "--force-reinstall", wheel], what="installing roost in the lab", timeout=600)
    machine.exec(["ln", "-sfn", f"{venv}/bin/roost", "/usr/local/bin/roost"])
    (machine.rootfs / IN_LAB.lstrip("/") / "wheel.hash").write_text(wheels.content_hash + "\n")
    return True
