"""Write a copy of Molecule's inventory without some hosts, as a user deletes their lines.

    inventory_without.py INVENTORY OUT_DIR HOST...

INVENTORY is Molecule's inventory file or its directory. OUT_DIR/hosts.yml gets the
inventory less HOST..., and OUT_DIR links the inventory's group_vars and host_vars.
"""

import os
import sys

import yaml


def main(source: str, out_dir: str, gone: list[str]) -> None:
    inventory_dir = source if os.path.isdir(source) else os.path.dirname(source)
    path = os.path.join(source, "ansible_inventory.yml") if os.path.isdir(source) else source
    with open(path, encoding="utf-8") as handle:
        inventory = yaml.safe_load(handle)
    for group in inventory.values():
        hosts = group.get("hosts") or {}
        for host in gone:
            hosts.pop(host, None)
    os.makedirs(out_dir, exist_ok=True)
    with open(os.path.join(out_dir, "hosts.yml"), "w", encoding="utf-8") as handle:
        yaml.safe_dump(inventory, handle)
    for name in ("group_vars", "host_vars"):
        target, link = os.path.join(inventory_dir, name), os.path.join(out_dir, name)
        if os.path.isdir(target) and not os.path.lexists(link):
            os.symlink(target, link)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2], sys.argv[3:])
