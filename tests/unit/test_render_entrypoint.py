"""`containers.<name>.entrypoint` -> Quadlet `Entrypoint=` as JSON (podman reads --entrypoint as a JSON list)."""

from __future__ import annotations

import json

from roost.plan.identity import Identity
from roost.render.desired import render
from roost.spec.load import parse_spec


def unit_of(toml_tail: str) -> str:
    spec = parse_spec('[app]\nname = "demo"\n\n[containers.web]\nimage = "example.org/web:1"\n' + toml_tail)
    return render(spec, Identity(2001, 2001, 200_100_000)).file(
        "/srv/roost/demo/.config/containers/systemd/web.container").content


def test_entrypoint_is_written_as_json_with_specifiers_and_dollars_escaped():
    unit = unit_of('entrypoint = ["/bin/sh", "-c", "echo \\"100% $HOME\\""]\ncommand = ["x"]\n')
    line = next(ln for ln in unit.splitlines() if ln.startswith("Entrypoint="))
    raw = line.removeprefix("Entrypoint=").replace("%%", "%").replace("$$", "$")
    assert json.loads(raw) == ["/bin/sh", "-c", 'echo "100% $HOME"']
    assert "Exec=x\n" in unit


def test_an_empty_entrypoint_clears_the_images_and_none_keeps_it():
    assert "Entrypoint=[]\n" in unit_of("entrypoint = []\n")
    assert "Entrypoint=" not in unit_of("")


def test_pod_hosts_become_add_host_arguments_of_the_pod():
    spec = parse_spec('[app]\nname = "demo"\n[pod]\nhosts = ["db", "redis_1"]\n'
                      '[containers.web]\nimage = "example.org/web:1"\n')
    pod = render(spec, Identity(2001, 2001, 200_100_000)).file("/srv/roost/demo/.config/containers/systemd/demo.pod")
    assert "PodmanArgs=--add-host=db:127.0.0.1\nPodmanArgs=--add-host=redis_1:127.0.0.1\n" in pod.content


def test_pod_hosts_are_checked():
    import pytest

    from roost.errors import SpecError

    for bad in ('["localhost"]', '["a b"]', '["db", "db"]', '["-x"]'):
        with pytest.raises(SpecError, match=r"pod\.hosts"):
            parse_spec(f'[app]\nname = "demo"\n[pod]\nhosts = {bad}\n[containers.web]\nimage = "example.org/web:1"\n')
