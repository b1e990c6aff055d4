"""The prometheus role's scrape targets, from the hosts' port tables."""

import re


def prometheus_static_configs(job, hostvars, addresses):
    """Prometheus static_configs for one scrape job ({job, port, path}): per host of
    `addresses` (name -> address), the ports of its port table (preflight_listen_ports)
    named `port` or `port+N`, labelled with the host's inventory name. Hosts in name
    order: the same inventory renders the same file, whatever order the hosts came in."""
    name = re.compile(rf"^{re.escape(job['port'])}(\+[0-9]+)?$")
    out = []
    for host, address in sorted(addresses.items()):
        table = hostvars[host].get("preflight_listen_ports") or []
        ports = sorted({int(p["port"]) for p in table if name.match(str(p["name"]))})
        if ports:
            host_part = f"[{address}]" if ":" in str(address) else str(address)
            out.append({"targets": [f"{host_part}:{p}" for p in ports], "labels": {"host": host}})
    return out


class FilterModule:
    def filters(self):
        return {"prometheus_static_configs": prometheus_static_configs}
