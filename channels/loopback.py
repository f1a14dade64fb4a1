"""Whether a listen address is loopback: the dev servers (mail sink, PBX simulator) refuse
anything else, so a demo never answers the network."""

from __future__ import annotations

import ipaddress


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False
