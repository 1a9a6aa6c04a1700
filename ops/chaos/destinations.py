#!/usr/bin/env python3
"""Destination servers for the chaos harness: answers 200 to anything on every port given.

    destinations.py PORT [PORT ...]

Each port is its own host:port to the canary (its per-host limits and its round guard count
distinct host:port pairs). Killing this process is how ops/chaos/run.sh cuts the canary off
from every destination at once.
"""
import http.server
import sys
import threading


class Ok(http.server.BaseHTTPRequestHandler):
    def _answer(self, body):
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if body:
            self.wfile.write(body)

    def do_GET(self):
        self._answer(b"ok\n")

    def do_HEAD(self):
        self._answer(b"")

    def log_message(self, *args):
        pass


servers = [http.server.ThreadingHTTPServer(("127.0.0.1", int(p)), Ok) for p in sys.argv[1:]]
for s in servers[1:]:
    threading.Thread(target=s.serve_forever, daemon=True).start()
servers[0].serve_forever()
