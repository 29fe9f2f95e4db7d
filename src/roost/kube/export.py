"""`roost export kube`: read a spec, build the manifests for a target, write them.

Pure apart from two reads: the env files beside the spec (as `roost plan` reads them) and, only with
--with-secrets, the app's secret values on this host."""

from __future__ import annotations

import os
from pathlib import Path

from roost.errors import UsageError
from roost.host.runner import Host
from roost.kube.common import Builder
from roost.kube.kubernetes import build_kubernetes, web_front
from roost.kube.model import Bundle, Target
from roost.kube.podman import build_podman
from roost.spec.beside import read_spec
from roost.spec.load import key_lines, load_spec
from roost.spec.model import Spec


def build(spec: Spec, target: Target, *, lines: dict[tuple[str, ...], int] | None = None,
          env_files: dict[str, dict[str, str]] | None = None, secrets: dict[str, str] | None = None,
          non_root: dict[str, int] | None = None) -> Bundle:
    """The pure part: a loaded spec -> manifests and notes."""
    b = Builder(spec, target, secrets=secrets, env_files=env_files or {}, non_root=non_root or {}, lines=lines or {})
    if target == "podman":
        return build_podman(b)
    return build_kubernetes(b, web_front(spec))


def parse_non_root(values: tuple[str, ...], spec: Spec, source: str) -> dict[str, int]:
    out: dict[str, int] = {}
    for item in values:
        name, sep, uid = item.partition("=")
        if not sep or not uid.isdigit() or int(uid) == 0 or int(uid) > 2**31 - 1:
            raise UsageError(f"--non-root {item!r}: expected CONTAINER=UID with a UID above 0, e.g. app=65534",
                             hint="the UID the image runs as: podman image inspect -f '{{.Config.User}}' IMAGE")
        if name not in spec.containers:
            raise UsageError(f"--non-root {item!r}: {source} has no container {name!r} "
                             f"(containers: {', '.join(sorted(spec.containers))})")
        out[name] = int(uid)
    return out


def export_kube(spec_path: str, target: Target, *, with_secrets: bool = False, non_root: tuple[str, ...] = (),
                host: Host | None = None) -> Bundle:
    from roost.apply import read_env_files

    path = Path(spec_path)
    spec = load_spec(path)  # located errors (exit 2) for a missing or invalid spec
    text = read_spec(path).text
    users = parse_non_root(non_root, spec, spec_path)
    secrets = None
    if with_secrets:
        from roost.host.runner import Runner
        from roost.kube.secrets import read_app_secrets

        secrets = read_app_secrets(spec, host or Runner(audit_log=None))
    return build(spec, target, lines=key_lines(text), env_files=read_env_files(spec, path), secrets=secrets,
                 non_root=users)


def write_bundle(text: str, bundle: Bundle, out_dir: str) -> str:
    """Write the YAML into out_dir (which must exist) as APP.TARGET.yaml: 0600 when it holds secret
    values. As root, only into a directory that only root can write, reached through such
    directories: a file another user planted there (or a directory they could swap) would keep
    their ownership of the secrets. The file is new (O_EXCL under a random name), then renamed."""
    from roost.host import safefs

    path = os.path.join(os.path.abspath(out_dir), bundle.filename)
    if not os.path.isdir(out_dir):
        raise UsageError(f"-o {out_dir}: not an existing directory", hint="give an existing directory, or - for standard output")
    uid, gid = os.geteuid(), os.getegid()
    try:
        if uid == 0:
            safefs.check_root_only_dir(os.path.abspath(out_dir))
        safefs.write_file(path, text.encode(), 0o600 if bundle.with_secrets else 0o644, uid, gid)
    except safefs.UnsafePath as e:
        raise UsageError(f"-o {e.message}",
                         hint="write to standard output (-o -) or into a directory only root can write, "
                              "e.g. `install -d -m 0700 /root/export`") from None
    except PermissionError as e:
        raise UsageError(f"-o {out_dir}: {e.strerror}", hint="give a directory you can write, or - for standard output") from None
    return os.path.join(out_dir, bundle.filename)
