"""roost: self-host apps with rootless Podman under systemd from one declarative file."""

__version__ = "0.2.0"
