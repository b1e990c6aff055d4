"""Filters shared by the platform roles."""

import ipaddress

from ansible.errors import AnsibleFilterError


def _is_ip(value):
    try:
        ipaddress.ip_address(str(value))
    except ValueError:
        return False
    return True


def platform_address(host, hostvars):
    """The address `host` binds and advertises on the cluster network.

    `platform_address` on its host line wins; else `ansible_host` when it is an IP;
    else the default IPv4 address from the host's facts.
    """
    hv = hostvars[host]
    override = hv.get("platform_address")
    if override:
        if not _is_ip(override):
            raise AnsibleFilterError(
                f"Host {host}: platform_address={override!r} is not an IP address. "
                "Fix: set it to the IP this host uses on the cluster network."
            )
        return str(override)
    ansible_host = hv.get("ansible_host")
    if ansible_host and _is_ip(ansible_host):
        return str(ansible_host)
    facts = hv.get("ansible_facts") or {}
    address = (facts.get("default_ipv4") or {}).get("address")
    if address:
        return str(address)
    raise AnsibleFilterError(
        f"Host {host}: no cluster address. Its ansible_host is not an IP and no facts were "
        "gathered for it. Fix: set platform_address=<ip> (or ansible_host=<ip>) on its host line."
    )


def platform_image(images, name):
    """The reference of image `name`: built this run, or (a stage run on its own) the one
    the controller already built from the current sources (image_build's result)."""
    if name in (images or {}):
        return images[name]["ref"]
    raise AnsibleFilterError(
        f"No '{name}' image: it was not built in this run, and the controller has none built "
        f"from the current sources. Fix: run site.yml (or add --tags images), or set the "
        f"role's image variable to a reference already loaded on the hosts."
    )


class FilterModule:
    def filters(self):
        return {"platform_address": platform_address, "platform_image": platform_image}
