"""Address translation between the source and the recovery region: CIDRs, private IPs, AZs.

Default: identical CIDRs and private IPs, same AZ letter. A `cidr_map` entry moves a whole block
(both sides have the same prefix length, checked in the plan), keeping each address's offset.
"""

from __future__ import annotations

import ipaddress


class NetworkMapper:
    def __init__(self, cidr_map: dict[str, str], az_map: dict[str, str], recovery_region: str):
        self._blocks = [(ipaddress.IPv4Network(s), ipaddress.IPv4Network(t)) for s, t in cidr_map.items()]
        self._az_map = dict(az_map)
        self._region = recovery_region

    def cidr(self, cidr: str) -> str:
        """Map a CIDR that lies inside a mapped block; anything else (0.0.0.0/0, IPv6, outside) stays."""
        try:
            net = ipaddress.ip_network(cidr, strict=False)
        except ValueError:
            return cidr
        for src, dst in self._blocks:
            if net.version == 4 and net.subnet_of(src):
                offset = int(net.network_address) - int(src.network_address)
                return str(ipaddress.IPv4Network((int(dst.network_address) + offset, net.prefixlen)))
        return cidr

    def ip(self, address: str) -> str:
        try:
            addr = ipaddress.ip_address(address)
        except ValueError:
            return address
        for src, dst in self._blocks:
            if addr.version == 4 and addr in src:
                return str(ipaddress.IPv4Address(int(dst.network_address) + int(addr) - int(src.network_address)))
        return address

    def az(self, source_az: str) -> str:
        """`az_map` first; otherwise the same letter in the recovery region (us-east-1a -> us-west-2a)."""
        return self._az_map.get(source_az) or self._region + source_az[-1]
