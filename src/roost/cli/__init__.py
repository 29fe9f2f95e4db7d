"""roost's command line: thin verbs over the pipeline. Verb modules load lazily, so
`roost --version` stays fast."""

from __future__ import annotations

import importlib
import os
import sys

import click

from roost import __version__

# verb -> (module, attribute). Each module defines one click command (or group).
VERBS: dict[str, tuple[str, str, str]] = {
    "plan": ("roost.cli.plan", "plan", "Show what apply would change, with diffs. Changes nothing."),
    "apply": ("roost.cli.apply", "apply", "Converge the host to a spec (idempotent)."),
    "status": ("roost.cli.status", "status", "Table of every app's containers: state, health, image, ports."),
    "logs": ("roost.cli.logs", "logs", "An app's journal, read as the app user."),
    "shell": ("roost.cli.shell", "shell", "A login shell as the app user, with systemctl --user and podman working."),
    "run": ("roost.cli.run", "run", "Run one container of an app once with another command (generate a config...)."),
    "down": ("roost.cli.down", "down", "Stop and remove an app's units (data kept; --purge removes all)."),
    "update": ("roost.cli.update", "update", "Update images safely: backup, pull, restart, health-gate, roll back."),
    "rollback": ("roost.cli.update", "rollback", "Go back to the images of an earlier state in the history."),
    "restart-changed": ("roost.cli.update", "restart_changed", ""),
    "backup": ("roost.cli.backup", "backup", "Back up an app: database dumps, volumes, spec, secrets."),
    "backups": ("roost.cli.backup", "backups", "List an app's backups."),
    "restore": ("roost.cli.backup", "restore", "Restore an app's volumes and databases from a backup."),
    "db": ("roost.cli.db", "db", "Database chores: PostgreSQL major upgrades."),
    "doctor": ("roost.cli.doctor", "doctor", "Check the host for rootless Podman traps and say (or make) the fix."),
    "history": ("roost.cli.history", "history", "What was applied to an app, when, by whom, with which images."),
    "export": ("roost.cli.export", "export", "Write an app's spec as Kubernetes YAML (podman kube play, clusters)."),
    "lab": ("roost.cli.lab", "lab", "A disposable systemd + Podman host to try specs and run tests."),
    "import": ("roost.cli.importer", "import_", "Turn a docker-compose file into a spec, reporting what changed."),
    "check": ("roost.cli.importer", "check", "Validate spec files (no root, nothing read from the host)."),
    "completion": ("roost.cli.completion", "completion", "Shell completion script: roost completion bash|zsh|fish."),
    "notify": ("roost.cli.notify", "notify", "Notifications: send a test message; hand events to root."),
    "offsite": ("roost.cli.offsite", "offsite", "Offsite backups: snapshots, prune (trusted side), recovery kit."),
    "recover": ("roost.cli.recover", "recover", "Rebuild an app on a new server from its offsite backups."),
    "drill": ("roost.cli.drill", "drill", "Restore the newest offsite snapshot into a throwaway copy, check, purge."),
    "reapply": ("roost.cli.reapply", "reapply", "Apply every recorded app again from its applied spec (after an upgrade)."),
}


class LazyGroup(click.Group):
    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(VERBS)

    def get_command(self, ctx: click.Context, name: str) -> click.Command | None:
        if name not in VERBS:
            return None
        module, attr, _ = VERBS[name]
        return getattr(importlib.import_module(module), attr)

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        # short help from the table, so `roost --help` imports no verb module
        with formatter.section("Commands"):
            formatter.write_dl([(name, VERBS[name][2]) for name in self.list_commands(ctx) if VERBS[name][2]])


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, "--version", prog_name="roost")
@click.option("-v", "--verbose", count=True, help="Show commands as they run (-vv: also read-only ones).")
@click.pass_context
def cli(ctx: click.Context, verbose: int) -> None:
    """Self-host apps with rootless Podman under systemd, from one spec file.

    \b
    Typical use:
      roost plan examples/hedgedoc.toml     # what would change
      roost apply examples/hedgedoc.toml    # make it so
      roost status                          # how every app is doing
    """
    from roost.logsetup import setup_logging

    setup_logging(verbose)


def main() -> None:
    from roost.errors import RoostError

    # roost loads no pydantic plugins: skip pydantic's scan of every installed package's entry points
    os.environ.setdefault("PYDANTIC_DISABLE_PLUGINS", "1")

    try:
        cli.main(standalone_mode=False)
    except click.exceptions.Abort:
        sys.exit(130)
    except click.ClickException as e:
        e.show()
        sys.exit(e.exit_code)
    except click.exceptions.Exit as e:
        sys.exit(e.exit_code)
    except RoostError as e:
        from rich.markup import escape

        from roost.output import console_err

        console_err.print(f"[bold red]error:[/] {escape(e.message)}", highlight=False, soft_wrap=True)
        if e.hint:
            console_err.print(f"[yellow]hint:[/] {escape(e.hint)}", highlight=False, soft_wrap=True)
        sys.exit(e.exit_code)
    except KeyboardInterrupt:
        sys.exit(130)
