"""Try a TCP connection to HOST on each PORT; print "PORT open|closed|filtered" per port.

Usage: python3 port_probe.py HOST PORT [PORT ...]. "filtered" is a timeout (a firewall
dropped the connection attempt), "closed" a refusal (nothing listens). The ports are
tried at the same time (one timeout in all, not one per dropped port) and printed in
the order given.
"""

import socket
import sys
from concurrent.futures import ThreadPoolExecutor


def probe(host, port):
    try:
        with socket.create_connection((host, int(port)), timeout=3):
            return "open"
    except TimeoutError:
        return "filtered"
    except OSError:
        return "closed"


host, ports = sys.argv[1], sys.argv[2:]
with ThreadPoolExecutor(max_workers=max(len(ports), 1)) as pool:
    states = list(pool.map(lambda port: probe(host, port), ports))
for port, state in zip(ports, states, strict=True):
    print(port, state)
