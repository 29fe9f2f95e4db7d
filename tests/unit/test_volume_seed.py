"""Volumes under the app's home are seeded from the image on first use (compose's named-volume copy-up)."""

from __future__ import annotations

from roost.render.volumes import SEED_SCRIPT, seed_commands
from roost.spec.load import parse_spec

SPEC = """
[app]
name = "seed"
allow_host_paths = ["/srv/shared"]

[containers.web]
image = "docker.io/nodered/node-red:latest"
volumes = ["node-red/data:/data:Z", "/srv/shared:/shared:ro"]
"""


def test_only_volumes_under_the_home_are_seeded_with_their_image_and_target():
    spec = parse_spec(SPEC, "seed.toml")
    lines = seed_commands(spec, spec.containers["web"])
    assert len(lines) == 1
    key, argv = lines[0]
    assert key == "ExecStartPre"
    assert argv[:4] == ("/usr/bin/podman", "unshare", "/bin/sh", "-c")
    assert argv[5:] == ("roost-seed", "docker.io/nodered/node-red:latest", "/data", f"{spec.home}/node-red/data")


def test_seed_runs_only_on_an_empty_directory_and_unmounts_the_image():
    assert SEED_SCRIPT.startswith('test -z "$(ls -A "$3")" || exit 0;')
    assert 'podman image unmount "$1"' in SEED_SCRIPT
