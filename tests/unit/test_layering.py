"""The shape of the code, kept: no import circles in src/, and verbs that stay thin.

Every import counts: inside functions (a lazy import hides a circle, it does not remove it) and
under `if TYPE_CHECKING:` (a type-only import is still a dependency, and mypy and readers follow it)."""

from __future__ import annotations

import ast
from pathlib import Path

SRC = Path(__file__).resolve().parents[2] / "src"


def _modules() -> dict[str, Path]:
    out = {}
    for p in SRC.rglob("*.py"):
        parts = p.relative_to(SRC).with_suffix("").parts
        out[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = p
    return out


MODULES = _modules()


def imports(name: str) -> set[str]:
    """Modules of roost that `name` imports: at the top, in a function or for type checking only."""
    found: set[str] = set()

    def visit(nodes: list[ast.stmt]) -> None:
        for n in nodes:
            if isinstance(n, ast.Import):
                found.update(a.name for a in n.names)
            elif isinstance(n, ast.ImportFrom) and n.module:
                found.add(n.module)
                found.update(f"{n.module}.{a.name}" for a in n.names)
            for field in ("body", "orelse", "finalbody", "handlers"):
                visit([c for c in getattr(n, field, []) if isinstance(c, ast.stmt | ast.ExceptHandler)])

    visit(ast.parse(MODULES[name].read_text()).body)
    return {m for m in found if m in MODULES and m != name}


def test_no_import_circles():
    graph = {m: imports(m) for m in MODULES}
    circles = set()

    def walk(node: str, path: list[str]) -> None:
        for dep in graph[node]:
            if dep in path:
                circle = path[path.index(dep):]
                start = circle.index(min(circle))
                circles.add(" -> ".join([*circle[start:], *circle[:start], min(circle)]))
            else:
                walk(dep, [*path, dep])

    for m in sorted(graph):
        walk(m, [m])
    assert not circles, "import circles:\n  " + "\n  ".join(sorted(circles))


def test_the_library_never_imports_the_command_line():
    offenders = {m: sorted(d for d in imports(m) if d.startswith("roost.cli")) for m in MODULES
                 if not m.startswith("roost.cli") and m != "roost.__main__"}
    assert not {m: d for m, d in offenders.items() if d}


def test_verbs_do_not_reach_into_host_facts_or_write_history():
    for m in (m for m in MODULES if m.startswith("roost.cli.")):
        text = MODULES[m].read_text()
        assert "roost.host.facts" not in text and "roost.host.parse" not in text, f"{m} reads host facts itself"
        assert "record_history" not in text and "history.record" not in text, f"{m} writes history itself"


def test_type_only_imports_are_counted():
    # frontdoor.actions needs Context only for its annotations; the circle finder must still see the edge
    assert "roost.plan.context" in imports("roost.frontdoor.actions")


def test_shared_names_are_leaves():
    # the finding type (compose import and kube export) and the unit names (render, apply, doctor, logs)
    # are read from everywhere: they import nothing of roost, so they can never close a circle
    for leaf in ("roost.findings", "roost.units"):
        assert not imports(leaf), f"{leaf} imports {sorted(imports(leaf))}"


def test_compose_import_and_kube_export_share_only_the_finding_type():
    for a, b in (("roost.compose", "roost.kube"), ("roost.kube", "roost.compose")):
        reach = {d for m in MODULES if m == a or m.startswith(a + ".") for d in imports(m)}
        assert not {d for d in reach if d == b or d.startswith(b + ".")}, f"{a} imports {b}"


def test_split_packages_are_entered_through_their_parts():
    # a part of compose.convert or notify importing its own package (the __init__ that re-exports the
    # parts) would be a circle through the re-exports: the parts import each other by module
    for pkg in ("roost.compose.convert", "roost.notify"):
        for m in (m for m in MODULES if m.startswith(pkg + ".")):
            assert pkg not in imports(m), f"{m} imports {pkg} itself: import the part it needs"


def test_the_checks_and_the_planner_only_read_what_was_gathered():
    # prepare's refusals and the planner are pure over HostState (host/state.py gathers it through
    # the Host): none of them may reach the host itself
    for m in ("roost.plan.checks", "roost.plan.planner"):
        text = MODULES[m].read_text()
        assert not {"roost.host.runner", "roost.host.state.gather_state"} & imports(m), m
        assert "import os" not in text and "subprocess" not in text and "safefs." not in text, m


# What `apply.prepare` runs between the spec and the plan. The converged cache (roost/converged.py) relies
# on it: the plan is a pure function of the spec, the files beside it (spec/beside.py, which notes each
# read) and what the one Host answered, so a direct read anywhere here (or a look at the environment or
# the clock) would be a change the cache cannot see. roost.command is the one exception: where roost is
# installed is part of the cache's key.
PREPARE_SIDE = ("roost.host.state", "roost.host.facts", "roost.host.parse", "roost.frontdoor.state",
                "roost.frontdoor.render", "roost.frontdoor.caddyfile", "roost.plan.checks", "roost.plan.planner",
                "roost.plan.identity", "roost.spec.load", "roost.spec.model", "roost.spec.envfiles",
                "roost.pgmajor", "roost.layout", "roost.units", "roost.record", "roost.notify.urls",
                *(m for m in MODULES if m.startswith("roost.render.")))
DIRECT_READ = ("open(", "os.stat(", "os.lstat(", "os.listdir(", "os.scandir(", "os.walk(", "os.access(",
               "os.path.exists(", "os.path.isdir(", "os.path.isfile(", "os.path.islink(", "subprocess.",
               "pwd.", "grp.", ".read_text(", ".read_bytes(", "safefs.", "os.environ", "getenv(", "time.time(",
               "datetime.now(")  # the environment and the clock are inputs the cache does not see either


def _functions_without(text: str, allowed: set[str]) -> str:
    """The module's source without the functions named in `allowed` (used by other verbs, not prepare)."""
    tree = ast.parse(text)
    lines = text.splitlines()
    for node in tree.body:
        if isinstance(node, ast.FunctionDef) and node.name in allowed:
            for i in range(node.lineno - 1, node.end_lineno or node.lineno):
                lines[i] = ""
    return "\n".join(lines)


def test_prepare_reads_the_host_only_through_the_host_seam():
    not_prepare = {"roost.notify.urls": {"read_stored"}}  # the notify sender's, at send time
    for m in PREPARE_SIDE:
        text = _functions_without(MODULES[m].read_text(), not_prepare.get(m, set()))
        found = [p for p in DIRECT_READ if p in text]
        assert not found, f"{m} reads the host directly ({found}): go through the Host (host/runner.py)"
    tree = ast.parse(MODULES["roost.apply"].read_text())
    prepare = next(n for n in tree.body if isinstance(n, ast.FunctionDef) and n.name == "prepare")
    body = ast.get_source_segment(MODULES["roost.apply"].read_text(), prepare) or ""
    assert not [p for p in DIRECT_READ if p in body], "apply.prepare reads a file itself: use spec/beside.py"
