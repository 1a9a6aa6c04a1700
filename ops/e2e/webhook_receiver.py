#!/usr/bin/env python3
"""Stand-in for Discord's webhook endpoint (ops/e2e/alerts.sh).

    webhook_receiver.py PORT OUTFILE

Listens on 127.0.0.1:PORT and appends every POST body (JSON, re-serialised on one line, with the
receive time) to OUTFILE. Answers 204 No Content like Discord does. Stdlib only.
"""
import json
import sys
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

PORT = int(sys.argv[1])
OUT = sys.argv[2]


class Handler(BaseHTTPRequestHandler):
    def do_POST(self):
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length)
        try:
            body = json.loads(raw)
        except ValueError:
            body = {"_unparsed": raw.decode("utf-8", "replace")}
        record = {"received_at": time.time(), "path": self.path, "body": body}
        with open(OUT, "a", encoding="utf-8") as f:
            f.write(json.dumps(record) + "\n")
        self.send_response(204)
        self.end_headers()

    def log_message(self, *args):
        pass


ThreadingHTTPServer(("127.0.0.1", PORT), Handler).serve_forever()
