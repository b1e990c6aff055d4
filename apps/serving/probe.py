"""Health probe of one serving instance, over its private Unix socket.

    python3 probe.py            # exit 0 when GET /health answers 200 (a model is loaded)
    python3 probe.py --answers  # exit 0 on any HTTP answer (up, maybe no model yet)

The socket is SERVING_PROBE_SOCKET (gunicorn.conf.py). Every instance of a slot shares
the slot's TCP address, so only this socket tells one instance from the other.
"""

import os
import socket
import sys


def status(path: str, timeout: float = 2.0) -> int:
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
        s.settimeout(timeout)
        s.connect(path)
        s.sendall(b"GET /health HTTP/1.0\r\nHost: probe\r\n\r\n")
        head = s.recv(64).split(b" ", 2)
    return int(head[1]) if len(head) > 1 and head[1].isdigit() else 0


def main(argv: list[str]) -> int:
    path = os.environ.get("SERVING_PROBE_SOCKET", "")
    if not path:
        print("SERVING_PROBE_SOCKET is not set", file=sys.stderr)
        return 2
    try:
        code = status(path)
    except OSError as exc:
        print(f"{path}: {exc}", file=sys.stderr)
        return 1
    if "--answers" in argv:
        return 0 if code else 1
    return 0 if code == 200 else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
