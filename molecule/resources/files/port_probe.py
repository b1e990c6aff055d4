"""Try a TCP connection to HOST on each PORT; print "PORT open|closed|filtered" per port.

Usage: python3 port_probe.py HOST PORT [PORT ...]. "filtered" is a timeout (a firewall
dropped the connection attempt), "closed" a refusal (nothing listens).
"""

import socket
import sys

host, ports = sys.argv[1], sys.argv[2:]
for port in ports:
    try:
        with socket.create_connection((host, int(port)), timeout=3):
            print(port, "open")
    except TimeoutError:
        print(port, "filtered")
    except OSError:
        print(port, "closed")
