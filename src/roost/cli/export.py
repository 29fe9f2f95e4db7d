from __future__ import annotations

import click


@click.group()
def export() -> None:
    """Write an app's spec in another tool's format."""


@export.command()
@click.argument("spec", type=click.Path(dir_okay=False, path_type=str))
@click.option("-o", "--output", "output", default="-", show_default=True, metavar="DIR|-",
              help="Directory to write APP.TARGET.yaml into, or - for standard output.")
@click.option("--target", type=click.Choice(["podman", "kubernetes"]), default="podman", show_default=True,
              help="podman: a Pod for `podman kube play`; kubernetes: a bundle for `kubectl apply`.")
@click.option("--with-secrets", is_flag=True,
              help="Include the secret values, read on this host from the applied app (as root).")
@click.option("--non-root", "non_root", multiple=True, metavar="CONTAINER=UID",
              help="The image of CONTAINER runs as this non-root UID: sets runAsNonRoot and runAsUser.")
def kube(spec: str, output: str, target: str, with_secrets: bool, non_root: tuple[str, ...]) -> None:
    """Kubernetes YAML from a spec: probes, secrets and hardened security settings kept.

    What has no equivalent (the backup timer, nightly updates, host paths outside the home) is
    written as a comment in the YAML and listed on stderr.

    \b
    Examples:
      roost export kube examples/hedgedoc.toml > hedgedoc.yaml
      podman kube play --network pasta hedgedoc.yaml      # as the app's user
      roost export kube --target kubernetes -o deploy/ examples/hedgedoc.toml
    """
    from roost.kube.export import export_kube, write_bundle
    from roost.kube.write import render

    bundle = export_kube(spec, target, with_secrets=with_secrets, non_root=non_root)  # type: ignore[arg-type]
    text = render(bundle, spec)
    for note in bundle.notes:
        click.echo(f"note: {note.render_note(spec)}", err=True)
    if output == "-":
        click.echo(text, nl=False)
    else:
        path = write_bundle(text, bundle, output)
        click.echo(f"wrote {path}" + (" (mode 0600: it holds secret values)" if bundle.with_secrets else ""), err=True)
