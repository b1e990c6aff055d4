"""The serving role's roll-out plan: what each back-end slot of a host has to do."""

from ansible.errors import AnsibleFilterError

COLORS = ("a", "b")


def _label(container, key, default=None):
    return (container.get("Labels") or {}).get(key, default)


def _backends(containers, label_ns, config_label):
    """The back-end containers of a host (docker_host_info, verbose) by slot."""
    found = {}
    for c in containers or []:
        try:
            slot = int(_label(c, f"{label_ns}.slot"))
        except (TypeError, ValueError):
            continue
        running = c.get("State") == "running"
        found.setdefault(slot, []).append(
            {
                "name": (c.get("Names") or ["/?"])[0].lstrip("/"),
                "color": _label(c, f"{label_ns}.color"),
                "running": running,
                "healthy": running and "(healthy)" in (c.get("Status") or ""),
                "config": _label(c, config_label),
                "image": c.get("Image", ""),
                "previous": _label(c, f"{label_ns}.previous", ""),
                # Back-ends of the blue/green layout before slots shared an address
                # (label port): they listen without SO_REUSEPORT.
                "port": int(_label(c, f"{label_ns}.port", 0) or 0),
            }
        )
    return found


def serving_endpoints(address, port, slots):
    """The slots' addresses, "addr:port" (slot i listens on port + i - 1): what every
    Nginx upstream lists. Fixed by the inventory, whatever the containers do."""
    return [f"{address}:{int(port) + i}" for i in range(int(slots))]


def serving_plan(
    containers,
    slots,
    config,
    address,
    port,
    prefix,
    label_ns,
    image,
    config_label,
):
    """Plan the back-end slots of one host from its containers (docker_host_info, verbose).

    Slot i listens on ``address:port + i - 1``. Its container is ``<prefix>-<i>a`` or
    ``<prefix>-<i>b``: a roll-out starts the next one under the other name, on the same
    address (SO_REUSEPORT), and retires the old one once the new one is healthy. A slot
    keeps a running container whose ``config_label`` equals ``config``; containers of
    slots beyond ``slots`` are surplus.

    Returns ``{"slots": [{slot, endpoint, keep, start, retire_first, retire, previous}],
    "surplus": [...], "endpoints": [every slot's address], "healthy": n}``; ``previous``
    is the image a new container may roll back to (the one it replaces, or what that one
    could roll back to when the image stays).
    """
    slots = int(slots)
    if slots < 1:
        raise AnsibleFilterError(f"serving_backends_per_host={slots} must be at least 1")
    found = _backends(containers, label_ns, config_label)
    for entries in found.values():
        for e in entries:
            e["current"] = e["config"] == config
    endpoints = serving_endpoints(address, port, slots)
    plan = []
    for slot in range(1, slots + 1):
        have = sorted(found.get(slot, []), key=lambda e: (not e["healthy"], e["name"]))
        step = {"slot": slot, "endpoint": endpoints[slot - 1], "keep": None, "start": None}
        step.update(retire_first=[], retire=[], previous="")
        keep = next((e for e in have if e["current"] and e["running"]), None)
        if keep is not None:
            step.update(keep=keep, retire=[e for e in have if e is not keep])
            plan.append(step)
            continue
        busy = {e["color"] for e in have if e["running"]}
        free = [c for c in COLORS if c not in busy]
        if not free:
            # Both names run outdated containers (an interrupted roll-out): retire the
            # less healthy one first to free its name, keep the other serving meanwhile.
            step["retire_first"] = [have[-1]]
            free = [have[-1]["color"]]
        # A container of the earlier layout on the slot's port holds it without
        # SO_REUSEPORT: it must stop before the new one can listen there (Nginx retries
        # its requests on the other back-ends meanwhile).
        slot_port = int(port) + slot - 1
        step["retire_first"] += [
            e for e in have if e["port"] == slot_port and e not in step["retire_first"]
        ]
        # A stopped container may hold the free name: it is replaced by the start.
        step["start"] = {"name": f"{prefix}-{slot}{free[0]}", "color": free[0]}
        step["retire"] = [
            e for e in have if e not in step["retire_first"] and e["name"] != step["start"]["name"]
        ]
        old = next((e for e in have if e["running"]), None)
        if old is not None:
            step["previous"] = old["image"] if old["image"] != image else old["previous"]
        plan.append(step)
    surplus = [e for slot, entries in sorted(found.items()) if slot > slots for e in entries]
    healthy = sum(e["healthy"] for entries in found.values() for e in entries)
    return {"slots": plan, "surplus": surplus, "endpoints": endpoints, "healthy": healthy}


def serving_rollback_image(containers, label_ns, config_label):
    """The image the running back-ends of a host would roll back to: the one before the
    last roll-out (their ``previous`` label). Raises when they name none or disagree."""
    running = [e for entries in _backends(containers, label_ns, config_label).values()
               for e in entries if e["running"]]  # fmt: skip
    # Containers started fresh (a new slot) name none; the others decide.
    previous = sorted({e["previous"] for e in running} - {""})
    if not previous:
        raise AnsibleFilterError(
            "no previous serving image is recorded on the running back-ends (none was rolled "
            "out since they started). Fix: roll out the image you want with "
            "playbooks/upgrade.yml -e serving_image=<ref>"
        )
    if len(previous) != 1:
        raise AnsibleFilterError(
            f"the running back-ends would roll back to different images ({', '.join(previous)}): "
            "an earlier roll-out stopped half way. Fix: finish it (playbooks/upgrade.yml), "
            "or pick one with playbooks/upgrade.yml -e serving_image=<ref>"
        )
    return previous[0]


class FilterModule:
    def filters(self):
        return {
            "serving_plan": serving_plan,
            "serving_endpoints": serving_endpoints,
            "serving_rollback_image": serving_rollback_image,
        }
