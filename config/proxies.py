"""``FRONTDESK_TRUSTED_PROXIES``: which peers may tell us the client's address, scheme and host.

Two forms: a count of proxy hops in front of every request (``1``: one nginx on the same host;
the server must then be reachable only through it), or the proxies' networks
(``10.0.0.0/8,127.0.0.1``), when a peer's address says whether it is one of ours. Empty (the
default) or ``0``: nobody is trusted and ``X-Forwarded-*`` headers are ignored.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable
from dataclasses import dataclass

IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network
IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
MAX_HOPS = 10


class ProxySettingError(ValueError):
    """The value is neither a hop count nor a list of networks; the message says why."""


@dataclass(frozen=True)
class ProxyTrust:
    """Parsed ``FRONTDESK_TRUSTED_PROXIES``: ``hops`` > 0, or ``networks``, or neither."""

    hops: int = 0
    networks: tuple[IPNetwork, ...] = ()

    @property
    def enabled(self) -> bool:
        return self.hops > 0 or bool(self.networks)

    def trusts(self, address: IPAddress) -> bool:
        """Return whether ``address`` is inside one of the trusted networks."""
        return any(address in network for network in self.networks)


def parse_trusted_proxies(values: Iterable[str]) -> ProxyTrust:
    """Read the setting's parts (already split at commas).

    :raise ProxySettingError: for a bad count, a bad network, or a count mixed with networks.
    """
    parts = [str(v).strip() for v in values if str(v).strip()]
    if not parts:
        return ProxyTrust()
    if len(parts) == 1 and parts[0].isdigit():
        hops = int(parts[0])
        if hops > MAX_HOPS:
            raise ProxySettingError(f"{hops} proxy hops is more than {MAX_HOPS}; "
                                    f"give the proxies' networks instead")
        return ProxyTrust(hops=hops)
    networks: list[IPNetwork] = []
    for part in parts:
        if part.isdigit():
            raise ProxySettingError(f"{part!r}: give either a hop count or networks, not both")
        try:
            networks.append(ipaddress.ip_network(part, strict=False))
        except ValueError:
            raise ProxySettingError(f"{part!r} is not an IP address or network "
                                    f"(e.g. 10.0.0.0/8 or 127.0.0.1)") from None
    return ProxyTrust(networks=tuple(networks))
