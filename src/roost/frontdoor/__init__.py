"""The front door: one host Caddy (the distribution's package, a system service) in front of the
apps' loopback ports, with one site file per app that roost writes, validates and reloads."""
