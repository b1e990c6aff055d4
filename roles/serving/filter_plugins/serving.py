"""The serving role's rollout plan: what each back-end slot of a host has to do."""

from ansible.errors import AnsibleFilterError

COLORS = ("a", "b")


def _label(container, key, default=None):
    return (container.get("Labels") or {}).get(key, default)


def serving_plan(
    containers,
    slots,
    config,
    address,
    ports,
    prefix,
    label_ns,
    config_label="analytics-platform.config",
):
    """Plan the back-end slots of one host from its containers (docker_host_info, verbose).

    Each slot has two blue/green places, colors ``a`` and ``b``, each with its own
    container name and port (``ports`` maps color -> first port; slot i uses first + i - 1).
    A slot keeps a running container whose ``config_label`` equals ``config``; otherwise it
    starts one in a color that no running container of the slot uses and retires the
    others once the new one is healthy. Containers of slots beyond ``slots`` are surplus.

    Returns ``{"slots": [{slot, keep, start, retire}], "surplus": [...],
    "endpoints": ["addr:port" of every running back-end], "healthy": n}``.
    """
    slots = int(slots)
    if slots < 1:
        raise AnsibleFilterError(f"serving_backends_per_host={slots} must be at least 1")
    found = {}
    endpoints = []
    healthy = 0
    for c in containers or []:
        try:
            slot = int(_label(c, f"{label_ns}.slot"))
        except (TypeError, ValueError):
            continue
        color = _label(c, f"{label_ns}.color")
        port = int(_label(c, f"{label_ns}.port", 0))
        name = (c.get("Names") or ["/?"])[0].lstrip("/")
        running = c.get("State") == "running"
        is_healthy = running and "(healthy)" in (c.get("Status") or "")
        entry = {
            "name": name,
            "color": color,
            "port": port,
            "endpoint": f"{address}:{port}",
            "running": running,
            "healthy": is_healthy,
            "current": _label(c, config_label) == config,
        }
        found.setdefault(slot, []).append(entry)
        if running:
            endpoints.append(entry["endpoint"])
        healthy += int(is_healthy)

    def place(slot, color):
        port = int(ports[color]) + slot - 1
        return {
            "name": f"{prefix}-{slot}{color}",
            "color": color,
            "port": port,
            "endpoint": f"{address}:{port}",
        }

    plan = []
    for slot in range(1, slots + 1):
        have = sorted(found.get(slot, []), key=lambda e: (not e["healthy"], e["name"]))
        keep = next((e for e in have if e["current"] and e["running"]), None)
        if keep is not None:
            plan.append(
                {
                    "slot": slot,
                    "keep": keep,
                    "start": None,
                    "retire": [e for e in have if e is not keep],
                }
            )
            continue
        busy = {e["color"] for e in have if e["running"]}
        free = [c for c in COLORS if c not in busy]
        retire_first = []
        if not free:
            # Both places run outdated containers (an interrupted roll-out): retire the
            # less healthy one first to free its place, keep the other serving meanwhile.
            retire_first = [have[-1]]
            free = [have[-1]["color"]]
        # A stopped container may sit in the free place: it is removed by the start.
        new = place(slot, free[0])
        retire = [e for e in have if e not in retire_first and e["name"] != new["name"]]
        plan.append(
            {
                "slot": slot,
                "keep": None,
                "start": new,
                "retire_first": retire_first,
                "retire": retire,
            }
        )
    surplus = [e for slot, entries in sorted(found.items()) if slot > slots for e in entries]
    return {"slots": plan, "surplus": surplus, "endpoints": sorted(endpoints), "healthy": healthy}


class FilterModule:
    def filters(self):
        return {"serving_plan": serving_plan}
