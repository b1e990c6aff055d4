"""What the platform firewall lets through, seen from the peer host, the controller and a
machine outside the inventory (testinfra over Molecule's SSH inventory).

Each host listens on 7077 (internal) and 80 (public, Nginx's port); nothing listens on
8001 (internal). A probe prints "PORT open" (connected), "closed" (refused: the packet
reached the host, nothing listens) or "filtered" (no answer: dropped by the firewall).
"""

import json
import os
import socket
import subprocess
from pathlib import Path

PROBE = (Path(__file__).parents[5] / "molecule/resources/files/port_probe.py").read_text()
TABLE = "inet analytics_platform"


def outsider_probe(host, values, *ports: str) -> list[str]:
    """Probe the host from a new container on the hosts' network, not in the inventory."""
    name = host.backend.get_hostname()
    network, image = subprocess.check_output(
        ["docker", "inspect", name, "--format", "{{.HostConfig.NetworkMode}} {{.Config.Image}}"],
        text=True,
    ).split()
    run = subprocess.run(
        ["docker", "run", "--rm", "-i", "--network", network, "--entrypoint", "python3", image]
        + ["-", values["ansible_host"], *ports],
        input=PROBE,
        capture_output=True,
        text=True,
        check=True,
    )
    return run.stdout.splitlines()


def internal_ports(host) -> set[str]:
    """The loaded table's internal_tcp set, as "7077" and "4040-4049"."""
    out = json.loads(host.check_output(f"nft -j list set {TABLE} internal_tcp"))
    elems = [e for item in out["nftables"] if "set" in item for e in item["set"].get("elem", [])]
    return {"-".join(map(str, e["range"])) if isinstance(e, dict) else str(e) for e in elems}


def test_the_table_holds_the_internal_ports_and_loads_at_boot(host, values):
    extra = {"4040-4049", "6066"} if "spark_master" in values["group_names"] else set()
    assert internal_ports(host) == {"7077", "8001"} | extra
    assert host.service("analytics-platform-firewall").is_enabled


def test_an_outsider_reaches_ssh_and_the_public_port_only(host, values):
    assert outsider_probe(host, values, "22", "80", "7077", "8001") == [
        "22 open",
        "80 open",
        "7077 filtered",
        "8001 filtered",
    ]


def test_the_peer_host_reaches_the_internal_ports(host, values):
    peers = [h for h in values["groups"]["docker_hosts"] if h != host.backend.get_hostname()]
    inventory = os.environ["MOLECULE_INVENTORY_FILE"]
    for peer in peers:
        probe = host.get_host(f"ansible://{peer}?ansible_inventory={inventory}").run(
            "python3 -c %s %s 7077 8001", PROBE, values["ansible_host"]
        )
        assert probe.stdout.splitlines() == ["7077 open", "8001 closed"], (peer, probe.stderr)


def test_the_controller_reaches_the_internal_ports(values):
    with socket.create_connection((values["ansible_host"], 7077), timeout=3):
        pass


def test_a_bad_source_is_refused_and_the_table_kept(host, values, playbook):
    before = internal_ports(host)
    run = playbook("converge.yml", "-e", '{"firewall_extra_sources": ["10.0.0.300"]}')
    out = run.stdout + run.stderr
    assert run.returncode == 2, out
    assert "firewall_extra_sources: '10.0.0.300' is not an IP address or network" in out
    assert "Fix: write an address" in out
    assert internal_ports(host) == before
    assert outsider_probe(host, values, "7077") == ["7077 filtered"]


def test_turned_off_the_table_is_gone_and_the_ports_open(host, values, playbook):
    run = playbook("converge.yml", "-e", "firewall_enabled=false")
    assert run.returncode == 0, run.stdout + run.stderr
    assert "analytics_platform" not in host.check_output("nft list tables")
    assert not host.file("/etc/systemd/system/analytics-platform-firewall.service").exists
    assert outsider_probe(host, values, "7077", "8001") == ["7077 open", "8001 closed"]
