"""Filters shared by the platform roles."""

import ipaddress
import json
import socket
from datetime import datetime

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


def platform_host_images(image_hosts, host_vars):
    """The images one host runs, from platform_image_hosts and that host's variables
    (its group_names, the enabled_by variable of an image that has one, and, for an image
    with with_group, whether that inventory group has a host)."""
    groups = set(host_vars.get("group_names") or [])
    names = []
    for name, spec in (image_hosts or {}).items():
        if not groups & set(spec.get("groups") or []):
            continue
        needs = spec.get("with_group")
        if needs and not (host_vars.get("groups") or {}).get(needs):
            continue
        flag = spec.get("enabled_by")
        if flag and str(host_vars.get(flag, False)).lower() not in ("true", "yes", "1", "on"):
            continue
        names.append(name)
    return sorted(names)


def platform_needed_images(image_hosts, hostvars, hosts):
    """Every image some host of `hosts` runs: what the images stage builds and exports."""
    return sorted({n for h in hosts for n in platform_host_images(image_hosts, hostvars[h])})


def platform_source_address(destination):
    """The controller's own address toward `destination`: the source address the kernel
    picks for it, which is the address that host sees the controller's connections come
    from (no packet is sent)."""
    if not _is_ip(destination):
        raise AnsibleFilterError(f"platform_source_address: {destination!r} is not an IP address")
    family = socket.AF_INET6 if ipaddress.ip_address(destination).version == 6 else socket.AF_INET
    with socket.socket(family, socket.SOCK_DGRAM) as probe:
        try:
            probe.connect((str(destination), 9))
        except OSError as exc:
            raise AnsibleFilterError(
                f"The controller has no route to {destination}: {exc}. Fix: check the host's "
                "address (platform_address / ansible_host) and the controller's network."
            ) from exc
        return probe.getsockname()[0]


def platform_cidr(value, name=""):
    """An address or network as CIDR (a bare address becomes a /32 or /128); `name`, the
    variable it came from, is named in the error."""
    try:
        return str(ipaddress.ip_network(str(value).strip(), strict=False))
    except ValueError as exc:
        where = f"{name}: " if name else ""
        raise AnsibleFilterError(
            f"{where}{value!r} is not an IP address or network ({exc}). Fix: write an address "
            "such as 10.0.0.5 or a network such as 10.0.0.0/24."
        ) from exc


def platform_pgpass(fields):
    """One line of a libpq password file from [host, port, database, user, password]:
    ':' and '\\' escaped as libpq reads them."""
    return ":".join(str(f).replace("\\", "\\\\").replace(":", "\\:") for f in fields)


def _id(image):
    return image.get("Id", image.get("id"))


def _created(image):
    """An image's creation time as a number: docker_host_info gives seconds, `docker image
    inspect` an RFC 3339 string."""
    value = image.get("Created", 0)
    if isinstance(value, str):
        return datetime.fromisoformat(value).timestamp()
    return value


def platform_stale_images(images, containers, built, keep, label):
    """Tags to remove so that each platform image keeps `keep` versions on an engine.

    The one rule of image_ship's prune (on each host) and image_build's (on the
    controller). images: the engine's images, as docker_host_info (verbose) shows them (Id,
    RepoTags, Labels, Created) or as image_ship reads them (id, and the others as `docker
    image inspect` shows them: Created in RFC 3339); containers: the IDs of the
    images its containers use, stopped ones too; built: image_build's result {name: {repo,
    id, ...}}; label: the label image_build sets to each image's content tag
    (platform_version_label).

    A version is a tag the platform made: in the image's repository, equal to the image's
    label. A tag made by hand (serving:my-fix, FROM a platform image, inherits the label
    but not its value) is neither a version nor ever removed, and nor is any image outside
    a platform repository. Per image, the version being deployed (built[name].id) and the
    newest others up to `keep` in total stay (the previous one is what a rollback runs),
    and so does any version a container uses. The version being deployed counts even when
    the engine does not hold it yet (a host is read before its images are shipped), and its
    tag is never removed. keep 0 keeps every version.
    """
    if int(keep) <= 0:
        return []
    used = set(containers)
    stale = []
    for entry in built.values():
        versions = []
        for image in images:
            made = f"{entry['repo']}:{(image.get('Labels') or {}).get(label)}"
            if made in (image.get("RepoTags") or []):
                versions.append((image, made))
        # the deployed version: its ID, or its tag (a host read before the load may hold
        # the tag on an older build of the same content, which the load moves to this one)
        deployed = [v for v in versions if _id(v[0]) == entry["id"] or v[1] == entry.get("ref")]
        others = [v for v in versions if v not in deployed]
        others.sort(key=lambda v: _created(v[0]), reverse=True)
        stale += [made for image, made in others[int(keep) - 1 :] if _id(image) not in used]
    return sorted(stale)


def _whole(value):
    return str(value).isascii() and str(value).isdigit() and not str(value).startswith("0")


def platform_number_errors(values, host):
    """Messages for the values ({name: value}) that are not whole numbers above zero.

    A role's tasks/preflight.yml passes its own numbers; a value of None is one the
    inventory leaves to a default computed from facts, and is not checked.
    """
    return [
        f"Host {host}: {name}={json.dumps(value)} is not a whole number above zero. Fix: set "
        f"{name} to a positive integer on the host line or in group_vars, or remove it to "
        "use the default."
        for name, value in values.items()
        if value is not None and not _whole(value)
    ]


def platform_port_errors(ports, host):
    """Messages for the ports ([{name, port, count}]) that are not ports.

    A port variable with a count holds the first of `count` consecutive ports (one per
    instance), and all of them must fit below 65536.
    """
    errors = []
    for p in ports:
        count = int(p.get("count", 1)) if _whole(p.get("count", 1)) else 1
        if not _whole(p["port"]) or int(p["port"]) + count - 1 > 65535:
            room = f", with room for {count} consecutive ports" if count > 1 else ""
            errors.append(
                f"Host {host}: {p['name']}={json.dumps(p['port'])} is not a port (a whole number "
                f"from 1 to 65535{room}). Fix: set {p['name']} to a free port number on this host."
            )
    return errors


def platform_listen_ports(ports):
    """One {port, name} per port a host listens on, from the roles' port lists
    ([{name, port, count}]); a variable with a count names its ports `name+0`, `name+1`..."""
    out = []
    for p in ports:
        count = int(p.get("count", 1))
        for i in range(count):
            out.append(
                {"port": int(p["port"]) + i, "name": p["name"] + ("" if count == 1 else f"+{i}")}
            )
    return out


class FilterModule:
    def filters(self):
        return {
            "platform_address": platform_address,
            "platform_image": platform_image,
            "platform_host_images": platform_host_images,
            "platform_needed_images": platform_needed_images,
            "platform_source_address": platform_source_address,
            "platform_pgpass": platform_pgpass,
            "platform_cidr": platform_cidr,
            "platform_stale_images": platform_stale_images,
            "platform_number_errors": platform_number_errors,
            "platform_port_errors": platform_port_errors,
            "platform_listen_ports": platform_listen_ports,
        }
