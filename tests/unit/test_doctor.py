"""roost doctor's checks on a faked host: each check fails on the fault it looks for, and says the fix."""

from __future__ import annotations

from dataclasses import replace

from roost import doctor
from roost.host.facts import gather_system
from roost.host.runner import AppUser, FileStat
from tests.unit.fakehost import app_record, bare_host

APP = app_record("wiki", uid=2000, gid=2000, subid_start=200000000, publish=["127.0.0.1:8080:80"])


def test_tun_unusable_by_users_is_a_fixable_failure():
    host = bare_host()
    host.stats["/dev/net/tun"] = FileStat(0o600, 0, 0, False)
    c = doctor.check_tun(host)
    assert c.status == doctor.FAIL and c.repair and "chmod 0666" in c.fix
    host.stats["/dev/net/tun"] = FileStat(0o666, 0, 0, False)
    assert doctor.check_tun(host).status == doctor.OK


def test_overlapping_or_small_ranges_fail():
    host = bare_host()
    host.files["/etc/subuid"] = "wiki:200000000:65536\nother:200000100:65536\n"
    host.files["/etc/subgid"] = "wiki:200000000:1000\n"
    results = {c.name: c for c in doctor.check_subids(gather_system(host), {"wiki": APP})}
    assert results["subuid wiki"].status == doctor.FAIL and "overlaps the range of other" in results["subuid wiki"].detail
    assert results["subgid wiki"].status == doctor.FAIL and "only 1000 IDs" in results["subgid wiki"].detail


def test_range_with_a_real_uid_fails():
    host = bare_host()
    host.files["/etc/passwd"] += "odd:x:200000005:200000005::/:/bin/sh\n"
    host.files["/etc/subuid"] = "wiki:200000000:65536\n"
    host.files["/etc/subgid"] = "wiki:200000000:65536\n"
    results = {c.name: c for c in doctor.check_subids(gather_system(host), {"wiki": APP})}
    assert "contains a real UID" in results["subuid wiki"].detail


def test_linger_off_is_fixable_and_on_with_a_manager_is_ok():
    host = bare_host()
    user = AppUser("wiki", 2000, "/srv/roost/wiki")
    [c] = doctor.check_linger(host, gather_system(host), [user])
    assert c.status == doctor.FAIL and c.fix == "loginctl enable-linger wiki" and c.repair
    host.dirs["/var/lib/systemd/linger"] = FileStat(0o755, 0, 0, True)
    host.stats["/var/lib/systemd/linger/wiki"] = FileStat(0o644, 0, 0, False, is_file=True)
    host.on("systemctl", "is-active", answer="active\n")
    host.files["/run/user/2000/bus"] = ""
    [c] = doctor.check_linger(host, gather_system(host), [user])
    assert c.status == doctor.OK


def test_network_online_not_reached_fails_with_add_wants():
    host = bare_host()
    host.on("systemctl", "is-active", answer="inactive\n", code=3)
    c = doctor.check_network_online(host)
    assert c.status == doctor.FAIL and "add-wants multi-user.target network-online.target" in c.fix
    c.repair[0](host)
    assert host.record[-1] == "systemctl add-wants multi-user.target network-online.target"


def test_privileged_port_in_a_spec_fails():
    host = bare_host()
    host.files["/proc/sys/net/ipv4/ip_unprivileged_port_start"] = "1024\n"
    low = replace(APP, publish=["127.0.0.1:80:80"])
    c = doctor.check_ports(host, {"wiki": low})
    assert c.status == doctor.FAIL and "ip_unprivileged_port_start=80" in c.fix
    assert doctor.check_ports(host, {"wiki": APP}).status == doctor.OK


def test_secret_file_with_loose_mode_fails_and_repairs():
    host = bare_host()
    secrets = "/srv/roost/wiki/.config/roost/secrets"
    host.dirs[secrets] = FileStat(0o700, 2000, 2000, True)
    path = secrets + "/db"
    host.stats[path] = FileStat(0o644, 2000, 2000, False, is_file=True)
    [c] = doctor.check_app_files(host, APP)
    assert c.status == doctor.FAIL and path in c.detail and len(c.repair) == 1
    c.repair[0](host)
    assert host.record == [f"fix {path} 0600 2000:2000"]


def test_a_name_with_a_newline_is_repaired_as_one_name():
    """`x<newline>etc` in ~/env once made root chown /etc (find output split on lines)."""
    host = bare_host()
    env = "/srv/roost/wiki/env"
    host.dirs[env] = FileStat(0o700, 2000, 2000, True)
    host.stats[env + "/x\netc"] = FileStat(0o644, 2000, 2000, False, is_file=True)
    host.stats[env + "/fifo"] = FileStat(0o644, 2000, 2000, False, is_file=False)
    checks = doctor.check_app_files(host, APP)
    assert [c.status for c in checks] == [doctor.WARN, doctor.FAIL]
    assert "'/srv/roost/wiki/env/fifo' is not a regular file" in checks[0].detail
    for repair in checks[1].repair:
        repair(host)
    assert host.record == ["fix /srv/roost/wiki/env/x\netc 0600 2000:2000"]


def test_cgroup_v2_missing_fails():
    host = bare_host()
    user = AppUser("wiki", 2000, "/srv/roost/wiki")
    host.files["/sys/fs/cgroup/cgroup.controllers"] = "cpuset cpu io memory pids\n"
    assert [c.status for c in doctor.check_cgroups(host, [user])] == [doctor.OK]
    del host.files["/sys/fs/cgroup/cgroup.controllers"]
    [c] = doctor.check_cgroups(host, [user])
    assert c.status == doctor.FAIL and "unified_cgroup_hierarchy" in c.fix


def test_limits_say_whether_this_host_enforces_them():
    host = bare_host()
    record = app_record("wiki", uid=2000)
    delegated = "/sys/fs/cgroup/user.slice/user-2000.slice/user@2000.service/cgroup.controllers"
    spec = '[app]\nname = "wiki"\n[containers.web]\nimage = "nginx"\nlimits = { memory = "512m" }\n'
    host.files["/var/lib/roost/apps/wiki/spec.toml"] = spec
    host.files[delegated] = "memory pids\n"  # like the lab: cpu not delegated
    [c] = doctor.check_limits(host, {"wiki": record})
    assert c.status == doctor.WARN and "NOT enforced on this host for web" in c.detail and "no cpu" in c.detail
    assert "Delegate=cpu memory pids" in c.fix
    host.files[delegated] = "cpu memory pids\n"
    [c] = doctor.check_limits(host, {"wiki": record})
    assert c.status == doctor.OK and c.detail.startswith("enforced") and "web have limits" in c.detail
    host.files[delegated] = ""
    host.files["/var/lib/roost/apps/wiki/spec.toml"] = spec.replace('limits = { memory = "512m" }\n', "")
    [c] = doctor.check_limits(host, {"wiki": record})
    assert c.status == doctor.OK and "would not enforce them" in c.detail


def test_selinux_enforcing_without_volume_labels_warns():
    host = bare_host()
    assert doctor.check_selinux(host, specs_use_z=False).status == doctor.OK  # no SELinux at all
    host.files["/sys/fs/selinux/enforce"] = "1\n"
    c = doctor.check_selinux(host, specs_use_z=False)
    assert c.status == doctor.WARN and ":Z" in c.fix
    assert doctor.check_selinux(host, specs_use_z=True).status == doctor.OK


def test_app_networks_need_netavark_aardvark_and_a_firewall_tool():
    host = bare_host()
    networked = {"n": app_record("n", network="n")}
    checks = {c.name: c for c in doctor.check_app_networks(host, networked)}
    assert {c.status for c in checks.values()} == {doctor.FAIL} and "apt-get install nftables" in checks[
        "nft or iptables"].fix
    assert {c.status for c in doctor.check_app_networks(host, {})} == {doctor.WARN}  # no app uses one yet
    for path in ("/usr/lib/podman/netavark", "/usr/lib/podman/aardvark-dns", "/usr/sbin/nft"):
        host.stats[path] = FileStat(0o755, 0, 0, False)
    assert {c.status for c in doctor.check_app_networks(host, networked)} == {doctor.OK}
ROOST = ("/opt/roost/venv/bin/python3", "-m", "roost")


def _units(argv: str) -> str:
    return f"ExecStart={{ path={argv.split()[0]} ; argv[]={argv} ; ignore_errors=no ; }}\n"


def test_the_roost_command_in_the_units_is_compared_never_run():
    """An app-written unit naming its own program: doctor fails the check and runs nothing it names
    (issue 17: `X --version` as the app user pushed keystrokes into root's terminal)."""
    host = bare_host()
    user = AppUser("wiki", 2000, "/srv/roost/wiki")
    evil = "/srv/roost/wiki/.x/evil"
    host.on("systemctl", "--user", "show", answer=_units(f"{evil} -m roost backup wiki"))
    c = doctor.check_roost_command(host, user, expected=ROOST)
    assert c.status == doctor.FAIL and evil in c.detail and "scripts/install" in c.fix
    assert not any(evil in " ".join(call) for call in host.calls if call[0] != "systemctl")


def test_the_expected_roost_command_is_only_looked_at_with_test():
    host = bare_host()
    user = AppUser("wiki", 2000, "/srv/roost/wiki")
    host.on("systemctl", "--user", "show", answer=_units(f"{' '.join(ROOST)} backup wiki"))
    host.on("test", "-x", ROOST[0], answer="")
    assert doctor.check_roost_command(host, user, expected=ROOST).status == doctor.OK
    assert not any(call[0] == ROOST[0] for call in host.calls)
    host.on("test", "-x", ROOST[0], code=1)
    c = doctor.check_roost_command(host, user, expected=ROOST)
    assert c.status == doctor.FAIL and "out of its reach" in c.detail


def test_generator_output_reaches_the_table_without_escape_codes():
    host = bare_host()
    host.files["/usr/libexec/podman/quadlet"] = ""
    from roost.host.runner import Result

    host.on("/usr/libexec/podman/quadlet", answer=lambda argv, user, stdin: Result(
        tuple(argv), 1, "", "error: \x1b]0;owned\x07\x1b[2J[bold red]x[/] unsupported key\n"))
    c = doctor.check_generator(host, AppUser("wiki", 2000, "/srv/roost/wiki"))
    assert c.status == doctor.FAIL and "\x1b" not in c.detail and "\x07" not in c.detail


def test_a_user_that_stalls_costs_its_own_line():
    host = bare_host()
    from roost.errors import RoostError

    def stall(argv, user, stdin):
        raise RoostError("timed out after 60s: podman info --format json  (as wiki)")

    host.on("podman", "info", answer=stall)
    host.files["/run/user/2000/bus"] = ""
    record = replace(APP, containers=["app"], volumes=[])
    checks = doctor.check_app(host, record, [AppUser("wiki", 2000, "/srv/roost/wiki")])
    assert any(c.name == "app wiki" and c.status == doctor.FAIL and "timed out" in c.detail for c in checks)
