from __future__ import annotations

import click

from roost.output import console


@click.command()
@click.argument("app")
@click.option("--purge", is_flag=True, help="Also delete data, secrets, images, the user, its linger and ID ranges.")
@click.option("--yes", is_flag=True, help="Do not ask before --purge deletes data.")
def down(app: str, purge: bool, yes: bool) -> None:
    """Stop an app and remove its units. User, data and secrets are kept: `apply` brings it back.

    With --purge everything roost created for the app is removed, data included.

    \b
    Examples:
      roost down hedgedoc
      roost down hedgedoc --purge --yes
    """
    from roost.cli.common import app_user, load_app, locked, require_root, runner
    from roost.layout import Layout

    require_root()
    record = load_app(app)
    layout = Layout(app, record["home"])
    if purge and not yes:
        click.confirm(f"Delete app {app} for good, with everything in {record['home']} (data and secrets)?", abort=True)
    host, user = runner(), app_user(record)
    with locked(layout):
        manager = host.exists(f"{user.runtime_dir}/bus")
        if manager:
            console.print(f"→ stopping {record['pod_service']}")
            host.run(["systemctl", "--user", "stop", record["pod_service"]], user=user, mutates=True, check=False)
        for path in [layout.pod_file, *(layout.container_file(c) for c in record["containers"])]:
            host.remove_file(path)
        if manager:
            host.run(["systemctl", "--user", "daemon-reload"], user=user, mutates=True)
            host.run(["systemctl", "--user", "reset-failed"], user=user, mutates=True, check=False)
        from roost import notify

        notify.disable(host, app, purge)
        if not purge:
            console.print(f"[bold green]down[/]: {app} stopped and its units removed; data kept in {record['home']}")
            return
        purge_app(host, record, layout, user, manager)
    console.print(f"[bold green]purged[/]: {app}, its user, ID ranges, linger and {record['home']} are gone")


def purge_app(host, record: dict, layout, user, manager: bool) -> None:
    name, uid = record["name"], record["uid"]
    if manager:
        console.print("→ removing containers, images and podman secrets")
        host.run(["podman", "system", "reset", "--force"], user=user, mutates=True, check=False, timeout=300)
    console.print("→ disabling linger and stopping the user manager")
    host.run(["loginctl", "disable-linger", name], mutates=True, check=False)
    host.run(["systemctl", "stop", f"user@{uid}.service"], mutates=True, check=False)
    host.run(["loginctl", "terminate-user", name], mutates=True, check=False)
    host.run(["pkill", "-KILL", "-u", str(uid)], mutates=True, check=False)
    start = record.get("subid_start")
    if start:
        span = f"{start}-{start + 65535}"
        host.run(["usermod", "--del-subuids", span, "--del-subgids", span, name], mutates=True, check=False)
    console.print(f"→ deleting user {name} and {record['home']}")
    host.run(["userdel", name], mutates=True, check=False)
    host.run(["groupdel", name], mutates=True, check=False)
    home = record["home"]
    if home.count("/") >= 2 and home not in ("/home", "/srv", "/var", "/usr", "/etc", "/root"):
        host.run(["rm", "-rf", "--one-file-system", "--", home], mutates=True)
    host.remove_file(layout.registry_file)
