"""A stand-in back-end for the nginx role's scenario: answers every GET or POST with
JSON naming itself, the path and the X-Request-Id Nginx passed. Usage: backend.py PORT."""

import json
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

PORT = int(sys.argv[1])


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def answer(self):
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        body = json.dumps(
            {
                "backend": f"b{PORT}",
                "path": self.path,
                "request_id": self.headers.get("X-Request-Id", ""),
            }
        ).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    do_GET = do_POST = answer


ThreadingHTTPServer(("127.0.0.1", PORT), Handler).serve_forever()
