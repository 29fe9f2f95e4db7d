"""roost export kube: golden YAML for the examples and every spec-doc example, both targets; every
manifest validated strictly (unknown fields fail) against Kubernetes' own schemas for several
versions, and against the rules a cluster's API server adds (kuberules).

Regenerate the golden files after an intended change with:
    ROOST_UPDATE_GOLDEN=1 .venv/bin/python -m pytest tests/unit/test_kube_export.py
and review the diff before committing."""

from __future__ import annotations

import os
import re
import shutil
import stat
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner
from hypothesis import given, settings
from hypothesis import strategies as st
from kubernetes_validate import utils as kv

from roost.errors import UsageError
from roost.host.runner import Result
from roost.kube import secrets as kube_secrets
from roost.kube.common import Builder
from roost.kube.export import build, export_kube, write_bundle
from roost.kube.kubernetes import WebFront, build_kubernetes
from roost.kube.model import TARGETS, Bundle
from roost.kube.names import dns_label, object_name
from roost.kube.write import render
from roost.record import AppRecord
from roost.spec.load import key_lines, parse_spec
from tests.unit import kuberules
from tests.unit.fakehost import FakeHost
from tests.unit.test_spec_docs import TEXT as SPEC_DOC
from tests.unit.test_spec_docs import complete

ROOT = Path(__file__).resolve().parents[2]
GOLDEN = Path(__file__).resolve().parent / "golden_kube"
UPDATE = os.environ.get("ROOST_UPDATE_GOLDEN") == "1"
# at least three minor versions from 1.31 on, the newest the package ships included
K8S_VERSIONS = ("1.31.0", "1.33.0", "1.35.0", "1.37.0")
EXAMPLES = ("hedgedoc", "lab-notes")


def doc_examples() -> dict[str, str]:
    """docs/spec.md's TOML blocks, completed into specs, named after the heading they sit under."""
    out: dict[str, str] = {}
    heading = "intro"
    count: dict[str, int] = {}
    for m in re.finditer(r"^(#{2,3}) ([^\n]*)$|^```toml\n(.*?)^```", SPEC_DOC, re.MULTILINE | re.DOTALL):
        if m.group(1):
            heading = re.sub(r"[^a-z0-9]+", "-", m.group(2).lower().replace("<name>", "name")).strip("-")
            continue
        count[heading] = count.get(heading, 0) + 1
        out[f"spec-md-{heading}" + (f"-{count[heading]}" if count[heading] > 1 else "")] = complete(m.group(3))
    return out


DOCS = doc_examples()
CASES = [(name, target) for name in (*EXAMPLES, *DOCS) for target in TARGETS]


def export(name: str, target: str, shared_with: tuple[str, ...] = ()) -> tuple[Bundle, str]:
    """The bundle and its file; a spec-doc example's header names every example sharing its golden."""
    if name in EXAMPLES:
        source = f"examples/{name}.toml"
        bundle = export_kube(str(ROOT / source), target)  # type: ignore[arg-type]
    else:
        source = f"docs/spec.md ({', '.join(shared_with or (name,))})"
        text = DOCS[name]
        bundle = build(parse_spec(text, source), target, lines=key_lines(text))  # type: ignore[arg-type]
    return bundle, render(bundle, source)


# Spec-doc examples whose manifests come out the same (most keys of [app] and [web] change nothing a cluster
# sees) share one golden file, named after the first of them; its header lists them all.
SHARED_RE = re.compile(r"^# From docs/spec\.md \(([^)]*)\)", re.MULTILINE)


def doc_goldens() -> dict[tuple[str, str], list[Path]]:
    """(spec-doc example, target) -> the golden files whose header lists it (one, when all is well)."""
    index: dict[tuple[str, str], list[Path]] = {}
    for path in sorted(GOLDEN.glob("spec-md-*.yaml")):
        m = SHARED_RE.search(path.read_text())
        for name in (m.group(1).split(", ") if m else ()):
            index.setdefault((name, path.name.split(".")[-2]), []).append(path)
    return index


def rewrite_doc_goldens() -> None:
    """ROOST_UPDATE_GOLDEN=1: group the spec-doc examples by their manifests again and rewrite their goldens."""
    for path in GOLDEN.glob("spec-md-*.yaml"):
        path.unlink()
    for target in TARGETS:
        groups: dict[str, list[str]] = {}
        for name in sorted(DOCS):
            groups.setdefault(export(name, target, ("-",))[1], []).append(name)
        for names in groups.values():
            (GOLDEN / f"{names[0]}.{target}.yaml").write_text(export(names[0], target, tuple(names))[1])


if UPDATE:
    rewrite_doc_goldens()


@pytest.mark.parametrize("name, target", CASES, ids=[f"{n}.{t}" for n, t in CASES])
def test_golden(name, target):
    if name in EXAMPLES:
        path = GOLDEN / f"{name}.{target}.yaml"
        _, text = export(name, target)
        if UPDATE:
            path.write_text(text)
    else:
        paths = doc_goldens().get((name, target), [])
        assert len(paths) == 1, (f"{len(paths)} golden files list {name} ({target}): run with ROOST_UPDATE_GOLDEN=1 "
                                 "and review the diff")
        path = paths[0]
        _, text = export(name, target, tuple(SHARED_RE.search(path.read_text()).group(1).split(", ")))  # type: ignore[union-attr]
    assert path.exists(), f"no golden file {path.name}: run with ROOST_UPDATE_GOLDEN=1 and review it"
    assert text == path.read_text(), (f"{name} ({target}) differs from its golden file {path.name} "
                                      "(ROOST_UPDATE_GOLDEN=1 rewrites it)")


def test_goldens_are_in_use():
    listed = {p for paths in doc_goldens().values() for p in paths}
    examples = {GOLDEN / f"{n}.{t}.yaml" for n in EXAMPLES for t in TARGETS}
    assert sorted(set(GOLDEN.iterdir()) - listed - examples) == []
    assert set(doc_goldens()) == {(n, t) for n in DOCS for t in TARGETS}


def test_shared_goldens_hold_distinct_manifests():
    # a file per distinct output: two goldens of one target never hold the same manifests
    for target in TARGETS:
        bodies = [SHARED_RE.sub("", p.read_text()) for p in GOLDEN.glob(f"spec-md-*.{target}.yaml")]
        assert len(bodies) == len(set(bodies)), f"two {target} goldens hold the same manifests: ROOST_UPDATE_GOLDEN=1"


@pytest.mark.parametrize("name, target", CASES, ids=[f"{n}.{t}" for n, t in CASES])
def test_every_manifest_is_valid_for_a_cluster(name, target):
    bundle, text = export(name, target)
    # what is written is what was built: the YAML reads back (as a YAML 1.1 parser would) to the manifests
    assert [d for d in yaml.safe_load_all(text) if d] == bundle.manifests
    for manifest in bundle.manifests:
        for version in K8S_VERSIONS:
            kv.validate(manifest, version, strict=True)
    assert kuberules.problems(bundle.manifests) == []


def test_strict_validation_refuses_an_unknown_field():
    """The negative control: the validator would catch a field a cluster refuses."""
    pod = export("lab-notes", "podman")[0].find("Pod")
    pod["spec"]["containers"][0]["securityContext"]["noNewPrivileges"] = True
    with pytest.raises(kv.ValidationError):
        kv.validate(pod, "1.31.0", strict=True)


def test_cluster_rules_catch_a_bad_name():
    bundle = export("lab-notes", "kubernetes")[0]
    bundle.find("StatefulSet")["spec"]["template"]["spec"]["containers"][0]["name"] = "web_app"
    assert any("RFC 1123" in p for p in kuberules.problems(bundle.manifests))


# -- what the manifests say ------------------------------------------------------------------

def notes_spec(extra: str = "", home: str = "") -> str:
    text = (ROOT / "examples" / "lab-notes.toml").read_text()
    if home:
        text = text.replace('uid = 2100', f'uid = 2100\nhome = "{home}"')
    return text + extra


def bundle_of(text: str, target: str, **kw) -> Bundle:
    return build(parse_spec(text), target, lines=key_lines(text), **kw)  # type: ignore[arg-type]


def test_podman_pod_mirrors_the_quadlet_units():
    pod = bundle_of(notes_spec(), "podman").find("Pod")
    db, app = pod["spec"]["containers"]
    assert [db["name"], app["name"]] == ["database", "app"]  # start order: what is required comes first
    assert app["ports"] == [{"containerPort": 3000, "protocol": "TCP", "hostPort": 8388, "hostIP": "127.0.0.1",
                             "name": "tcp-3000"}]
    assert db["securityContext"] == {"allowPrivilegeEscalation": False, "capabilities": {
        "drop": ["ALL"], "add": ["CHOWN", "DAC_OVERRIDE", "FOWNER", "FSETID", "KILL", "NET_BIND_SERVICE", "SETGID", "SETUID"]}}
    assert db["livenessProbe"] == {"exec": {"command": ["/bin/sh", "-c", "pg_isready -h 127.0.0.1 -U notes"]},
                                   "periodSeconds": 10, "timeoutSeconds": 5, "failureThreshold": 3}
    # HealthStartupCmd every second until app.health_timeout, as roost's units do
    assert db["startupProbe"]["periodSeconds"] == 1 and db["startupProbe"]["failureThreshold"] == 300
    assert app["livenessProbe"]["httpGet"] == {"path": "/status", "port": 3000, "scheme": "HTTP", "host": "127.0.0.1"}
    assert pod["metadata"]["annotations"]["io.containers.autoupdate/app"] == "registry"
    # kube play waits for each gated container in turn, in no fixed order: the app, whose health needs the
    # database, is not gated (a lab run that started it first waited forever)
    assert pod["metadata"]["annotations"]["io.containers.sdnotify/database"] == "healthy"
    assert "io.containers.sdnotify/app" not in pod["metadata"]["annotations"]
    assert pod["spec"]["volumes"][0] == {"name": "database", "hostPath": {"path": "/srv/roost/notes/database",
                                                                         "type": "DirectoryOrCreate"}}
    assert "readinessProbe" not in app  # podman ignores it; startup + liveness are what it runs


def test_podman_secret_holds_whole_values_and_never_a_value_without_with_secrets():
    b = bundle_of(notes_spec(), "podman")
    text = render(b)
    assert all(m["kind"] != "Secret" for m in b.manifests)
    assert "#   app.DATABASE_URL: \"postgres://notes:${secrets.db_password}@127.0.0.1:5432/notes\"" in text
    secret = "s3cr%t$(X)$$x"
    b = bundle_of(notes_spec(), "podman", secrets={"db_password": secret})
    data = b.find("Secret")["stringData"]
    # podman does not expand $(VAR): each whole value that mentions a secret is a key of its own
    assert data == {"app.DATABASE_URL": f"postgres://notes:{secret}@127.0.0.1:5432/notes",
                    "database.POSTGRES_PASSWORD": secret}
    app = b.find("Pod")["spec"]["containers"][1]
    assert app["env"] == [{"name": "DATABASE_URL", "valueFrom": {"secretKeyRef": {"name": "notes-secrets",
                                                                                  "key": "app.DATABASE_URL"}}}]
    written = next(d for d in yaml.safe_load_all(render(b)) if d and d["kind"] == "Secret")
    assert written["stringData"]["database.POSTGRES_PASSWORD"] == secret  # byte-exact through the YAML


def expand(value: str, env: dict[str, str]) -> str:
    """Kubernetes' $(VAR) expansion (third_party/forked/golang/expansion): $$ is one $, $(X) is X's
    value when X is defined, anything else stays as it is."""
    out, i = [], 0
    while i < len(value):
        if value[i] == "$" and i + 1 < len(value):
            nxt = value[i + 1]
            if nxt == "$":
                out.append("$")
                i += 2
                continue
            if nxt == "(":
                end = value.find(")", i + 2)
                if end != -1:
                    name = value[i + 2:end]
                    out.append(env.get(name, f"$({name})"))
                    i = end + 1
                    continue
                out.append("$(")
                i += 2
                continue
            out.append("$" + nxt)
            i += 2
            continue
        out.append(value[i])
        i += 1
    return "".join(out)


@pytest.mark.parametrize("template", [
    "postgres://u:${secrets.pw}@localhost/db",
    "$(HOME) $$ $x ${secrets.pw}$ $(pw) ${secrets.pw}${secrets.pw}",
    "${secrets.pw} trailing $",
])
def test_cluster_env_values_expand_to_what_roost_gives(template):
    text = ('[app]\nname = "demo"\n[secrets]\npw = { generate = 16 }\n[containers.web]\nimage = "example.org/web:1"\n'
            f'env = {{ V = "{template}" }}\ncommand = ["echo", "$(HOME)", "$$"]\n')
    b = bundle_of(text, "kubernetes", secrets={"pw": "p$(a)$$w"})
    c = b.find("Deployment")["spec"]["template"]["spec"]["containers"][0]
    secret = b.find("Secret")["stringData"]
    env: dict[str, str] = {}
    for e in c["env"]:  # in order, as the kubelet resolves them
        ref = e.get("valueFrom", {}).get("secretKeyRef")
        env[e["name"]] = secret[ref["key"]] if ref else expand(e["value"], env)
    assert env["V"] == template.replace("${secrets.pw}", "p$(a)$$w")
    assert [expand(a, env) for a in c["args"]] == ["echo", "$(HOME)", "$$"]


def test_cluster_bundle_for_a_postgres_app_is_a_statefulset_with_sidecar_database():
    b = bundle_of(notes_spec(), "kubernetes")
    sts = b.find("StatefulSet")
    pod = sts["spec"]["template"]["spec"]
    assert sts["spec"]["replicas"] == 1 and sts["spec"]["serviceName"] == "notes"
    assert [c["name"] for c in pod["initContainers"]] == ["database"] and pod["initContainers"][0]["restartPolicy"] == "Always"
    assert [c["name"] for c in pod["containers"]] == ["app"]
    assert "host" not in pod["containers"][0]["livenessProbe"]["httpGet"]  # the kubelet probes the pod's address
    assert b.find("PersistentVolumeClaim", "notes-database")["spec"]["accessModes"] == ["ReadWriteOnce"]
    svc = b.find("Service", "notes")
    assert svc["spec"]["ports"] == [{"name": "tcp-3000", "port": 3000, "targetPort": "tcp-3000", "protocol": "TCP"}]
    assert all(m["metadata"]["labels"]["app.kubernetes.io/managed-by"] == "roost" for m in b.manifests)


def test_cluster_bundle_without_postgres_is_a_recreate_deployment_with_tmpfs_for_read_only():
    text = ('[app]\nname = "site"\n[pod]\npublish = ["0.0.0.0:8080:80", "8443:443"]\n[containers.web]\n'
            'image = "example.org/static:3"\nread_only = true\ncap_add = ["NET_ADMIN"]\nvolumes = ["/var/www:/srv:ro"]\n'
            '[app.allow_host_paths]\n')
    text = text.replace('[app.allow_host_paths]\n', '').replace('name = "site"', 'name = "site"\nallow_host_paths = ["/var/www"]')
    b = bundle_of(text, "kubernetes")
    dep = b.find("Deployment")
    assert dep["spec"]["strategy"] == {"type": "Recreate"}
    c = dep["spec"]["template"]["spec"]["containers"][0]
    assert c["securityContext"]["readOnlyRootFilesystem"] is True
    assert "NET_ADMIN" in c["securityContext"]["capabilities"]["add"]
    assert {m["mountPath"] for m in c["volumeMounts"]} == {"/tmp", "/var/tmp", "/run"}  # not /srv: outside the home
    assert [s["metadata"]["name"] for s in b.manifests if s["kind"] == "Service"] == ["site-80", "site-443"]
    notes = {(n.where, n.kind) for n in b.notes}
    assert ("containers.web.volumes", "dropped") in notes and ("pod.publish", "approximated") in notes
    line = text.split("\n").index('volumes = ["/var/www:/srv:ro"]') + 1
    assert any("/var/www" in n.did and n.line == line for n in b.notes)  # located on the spec's line
    assert "/var/www" in render(b)  # said in the YAML too, not only on stderr
    podman = bundle_of(text, "podman").find("Pod")
    assert podman["spec"]["volumes"] == [{"name": "var-www", "hostPath": {"path": "/var/www"}}]


def test_backup_timer_and_auto_update_are_reported_not_dropped_silently():
    b = bundle_of(notes_spec('\n[backup]\nschedule = "daily"\n'), "kubernetes")
    kinds = {n.where: n.kind for n in b.notes}
    assert kinds["backup.schedule"] == "dropped" and kinds["containers.app.auto_update"] == "dropped"
    assert "backup.schedule: dropped" in render(b)


def test_ingress_for_the_front_doors_domains():
    b = Builder(parse_spec(notes_spec()), "kubernetes")
    bundle = build_kubernetes(b, WebFront(("notes.example.org", "www.notes.example.org"), 8388))
    ing = bundle.find("Ingress")
    assert [r["host"] for r in ing["spec"]["rules"]] == ["notes.example.org", "www.notes.example.org"]
    assert ing["spec"]["rules"][0]["http"]["paths"][0]["backend"] == {"service": {"name": "notes", "port": {"name": "tcp-3000"}}}
    assert ing["spec"]["tls"] == [{"hosts": ["notes.example.org", "www.notes.example.org"], "secretName": "notes-tls"}]
    for version in K8S_VERSIONS:
        kv.validate(ing, version, strict=True)
    assert kuberules.problems(bundle.manifests) == []


def test_non_root_sets_run_as_user():
    b = bundle_of(notes_spec(), "kubernetes", non_root={"app": 65534})
    sc = b.find("StatefulSet")["spec"]["template"]["spec"]["containers"][0]["securityContext"]
    assert sc["runAsNonRoot"] is True and sc["runAsUser"] == 65534
    with pytest.raises(UsageError, match="no container 'web'"):
        export_kube(str(ROOT / "examples" / "lab-notes.toml"), "kubernetes", non_root=("web=1000",))
    with pytest.raises(UsageError, match="CONTAINER=UID"):
        export_kube(str(ROOT / "examples" / "lab-notes.toml"), "kubernetes", non_root=("app=0",))


def test_values_yaml_1_1_would_misread_are_quoted():
    odd = ["yes", "no", "on", "off", "y", "N", "true", "null", "~", "0755", "1:30", "1e3", "0x1F", "-", "a: b",
           "#x", "@x", "*x", "&x", "!x", "%x", "'q'", '"q"', "1_000", ".5", "2001-01-01", "x.", " x", ""]
    env = ", ".join(f"V{i} = {tomlstr(v)}" for i, v in enumerate(odd))
    text = f'[app]\nname = "odd"\n[containers.web]\nimage = "example.org/web:1"\nenv = {{ {env} }}\n'
    b = bundle_of(text, "podman")
    docs = [d for d in yaml.safe_load_all(render(b)) if d]  # PyYAML: a YAML 1.1 parser
    data = next(d for d in docs if d["kind"] == "ConfigMap")["data"]
    assert [data[f"V{i}"] for i in range(len(odd))] == odd


def tomlstr(v: str) -> str:
    return '"' + v.replace("\\", "\\\\").replace('"', '\\"') + '"'


def test_names_are_rfc_1123():
    assert dns_label("db_password") == "db-password"
    long = dns_label("a" * 80)
    assert len(long) == 63 and long != dns_label("a" * 81) and kuberules.label(long)
    assert object_name("notes", "secrets") == "notes-secrets"


# -- --with-secrets reads as the app's user ---------------------------------------------------

def test_with_secrets_reads_the_files_as_the_app_user(monkeypatch):
    host = FakeHost()
    seen = []

    def answer(argv, user, stdin):
        seen.append((tuple(argv), user))
        return Result(tuple(argv), 0, "v4lue\n", "")

    host.on("head", answer=answer)
    monkeypatch.setattr(kube_secrets.os, "geteuid", lambda: 0)
    monkeypatch.setattr(kube_secrets, "read_record", lambda name, host: AppRecord(name, 2100, 2100, "/srv/roost/notes", "notes-pod.service", []))
    spec = parse_spec(notes_spec())
    assert kube_secrets.read_app_secrets(spec, host) == {"db_password": "v4lue"}
    (argv, user), = seen
    assert argv == ("head", "-c", "4096", "--", "/srv/roost/notes/.config/roost/secrets/db_password")
    assert user is not None and user.name == "notes" and user.uid == 2100


def test_with_secrets_needs_root(monkeypatch):
    monkeypatch.setattr(kube_secrets.os, "geteuid", lambda: 1000)
    with pytest.raises(UsageError, match="as root"):
        kube_secrets.read_app_secrets(parse_spec(notes_spec()), FakeHost())


# -- the verb -----------------------------------------------------------------------------------

def run_cli(*args: str):
    from roost.cli import cli

    return CliRunner().invoke(cli, ["export", "kube", *args], catch_exceptions=False)


def test_cli_writes_yaml_to_stdout_and_notes_to_stderr():
    spec = str(ROOT / "examples" / "hedgedoc.toml")
    r = run_cli("--target", "kubernetes", spec)
    assert r.exit_code == 0
    assert "kind: StatefulSet" in r.stdout and "note:" not in r.stdout
    assert re.search(r"note: .*hedgedoc\.toml:17: containers\.database\.auto_update: dropped", r.stderr)


@pytest.fixture
def out_dir(tmp_path):
    """Where export may write: any directory of one's own; as root, one only root can write."""
    if os.geteuid() != 0:
        yield tmp_path
        return
    d = tempfile.mkdtemp(dir="/root", prefix="roost-test-")
    try:
        yield Path(d)
    finally:
        shutil.rmtree(d)


def test_cli_writes_into_a_directory(out_dir):
    r = run_cli("-o", str(out_dir), str(ROOT / "examples" / "lab-notes.toml"))
    assert r.exit_code == 0
    out = out_dir / "notes.podman.yaml"
    assert "kind: Pod" in out.read_text() and stat.S_IMODE(out.stat().st_mode) == 0o644


def test_write_bundle_makes_files_with_secrets_private(out_dir):
    b = bundle_of(notes_spec(), "kubernetes", secrets={"db_password": "x" * 32})
    path = write_bundle(render(b), b, str(out_dir))
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    victim = out_dir / "victim"
    victim.write_text("keep")
    os.symlink(victim, out_dir / "link.podman.yaml")
    if os.geteuid() == 0:  # planted by someone else (a link root made itself would be followed, as /etc's are)
        os.lchown(out_dir / "link.podman.yaml", 1000, 1000)
    write_bundle("new", Bundle("link", "podman", [], []), str(out_dir))  # the link is replaced, never followed
    assert victim.read_text() == "keep" and (out_dir / "link.podman.yaml").read_text() == "new"
    assert not (out_dir / "link.podman.yaml").is_symlink()


@pytest.mark.skipif(os.geteuid() != 0, reason="the rule is about root (scripts/test runs unit tests as root)")
def test_root_refuses_a_directory_another_user_can_write(tmp_path):
    """Sticky /tmp, a folder of another user, a group-writable one: refused, nothing written.
    A file another user planted in a root-only folder is replaced by root's own (never kept)."""
    b = bundle_of(notes_spec(), "kubernetes", secrets={"db_password": "x" * 32})
    mine = tmp_path / "mallory"
    mine.mkdir()
    os.chown(mine, 1000, 1000)
    group = tmp_path / "group"
    group.mkdir(mode=0o770)
    os.chmod(group, 0o770)
    for d in ("/tmp", str(tmp_path), str(mine), str(group)):
        with pytest.raises(UsageError, match="a user other than root can write") as e:
            write_bundle(render(b), b, d)
        assert e.value.exit_code == 2 and not os.path.exists(os.path.join(d, b.filename))
    d = Path(tempfile.mkdtemp(dir="/root", prefix="roost-test-"))
    try:
        planted = d / b.filename
        planted.write_text("planted")
        os.chown(planted, 1000, 1000)
        path = write_bundle(render(b), b, str(d))
        st = os.stat(path)
        assert (st.st_uid, stat.S_IMODE(st.st_mode)) == (0, 0o600) and "x" * 32 in Path(path).read_text()
    finally:
        shutil.rmtree(d)


def test_cli_bad_spec_is_a_located_error(tmp_path):
    spec = tmp_path / "bad.toml"
    spec.write_text('[app]\nname = "x"\n[containers.web]\nimage = "Not An Image"\n')
    r = subprocess.run([sys.executable, "-m", "roost", "export", "kube", str(spec)], capture_output=True, text=True,
                       check=False)
    assert r.returncode == 2 and f"{spec}:4: containers.web.image" in r.stderr and r.stdout == ""


@settings(max_examples=300, deadline=None)
@given(pieces=st.lists(st.sampled_from(["$", "(", ")", "$(", "$$", "A", "x", "${secrets.pw}", "${secrets.other}", " "]),
                       min_size=1, max_size=12),
       value=st.text(alphabet="$()ab", min_size=16, max_size=20))
def test_any_value_expands_on_a_cluster_to_what_roost_gives(pieces, value):
    template = "".join(pieces) + "${secrets.pw}"
    spec = parse_spec('[app]\nname = "demo"\n[secrets]\npw = { generate = 16 }\nother = { generate = 16 }\n'
                      '[containers.web]\nimage = "example.org/web:1"\nenv = { V = ' + tomlstr(template) + " }\n")
    secrets = {"pw": value, "other": value[::-1]}
    b = build(spec, "kubernetes", secrets=secrets)
    c = b.find("Deployment")["spec"]["template"]["spec"]["containers"][0]
    data = b.find("Secret")["stringData"]
    env: dict[str, str] = {}
    for e in c["env"]:
        ref = e.get("valueFrom", {}).get("secretKeyRef")
        env[e["name"]] = data[ref["key"]] if ref else expand(e["value"], env)
    assert env["V"] == template.replace("${secrets.pw}", secrets["pw"]).replace("${secrets.other}", secrets["other"])


LIMITS = """\
[app]
name = "shop"
[containers.web]
image = "example.org/web:1"
user = "101:102"
read_only = true
tmpfs = ["/run", "/var/cache/web:size=64m"]
limits = { memory = "512m", cpus = 1.5, pids = 256 }
[containers.task]
image = "example.org/web:1"
user = "www-data"
restart = "on-failure"
"""


@pytest.mark.parametrize("target", TARGETS)
def test_limits_user_tmpfs_and_restart_reach_the_manifests(target):
    b = bundle_of(LIMITS, target)
    pod = b.find("Pod") if target == "podman" else b.find("Deployment")["spec"]["template"]
    spec = pod["spec"]
    web = next(c for c in spec["containers"] if c["name"] == "web")
    assert web["resources"] == {"limits": {"memory": str(512 * 1024 * 1024), "cpu": "1500m"}}
    assert web["securityContext"]["runAsUser"] == 101 and web["securityContext"]["runAsGroup"] == 102
    assert {"/run", "/var/cache/web"} <= {m["mountPath"] for m in web["volumeMounts"]}
    names = [v["name"] for v in spec["volumes"]]
    assert len(names) == len(set(names)) and {"web-run", "web-var-cache-web"} <= set(names)
    notes = {n.where: n.kind for n in b.notes}
    assert notes["containers.web.limits.pids"] == "dropped" and notes["containers.task.restart"] == "approximated"
    assert notes["containers.task.user"] == "dropped"
    if target == "kubernetes":
        for m in b.manifests:
            for version in K8S_VERSIONS:
                kv.validate(m, version, strict=True)
