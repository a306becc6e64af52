#!/usr/bin/env python3
"""A small RFC 6962 log server for tests: serves precomputed answers.

    rfc6962_server.py DIR

DIR holds sth.json, entries.json (a list of {leaf_input, extra_data}) and
proofs/<index>-<size>.json. It answers GET /ct/v1/get-sth,
/ct/v1/get-entries?start=&end= (a slice of the list; end clamped to the
tree and to 100 entries, as logs clamp) and
/ct/v1/get-entry-and-proof?leaf_index=&tree_size=. Files are re-read on
every request, so a test can swap the log's contents. Fault flags in DIR:
fail429 (429, Retry-After: 1), fail500, slow (2 s before answering).
Prints its port on stdout once listening on 127.0.0.1.
"""

import json
import os
import sys
import time
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

ROOT = sys.argv[1]


def read(name):
    with open(os.path.join(ROOT, name), "rb") as f:
        return f.read()


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, fmt, *args):
        with open(os.path.join(ROOT, "requests.log"), "a") as f:
            f.write("%s\n" % self.path)

    def answer(self, status, body, headers=()):
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        for k, v in headers:
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self):
        self.log_message("")
        if os.path.exists(os.path.join(ROOT, "fail429")):
            return self.answer(429, b"{}", [("Retry-After", "1")])
        if os.path.exists(os.path.join(ROOT, "fail500")):
            return self.answer(500, b"{}")
        if os.path.exists(os.path.join(ROOT, "slow")):
            time.sleep(2)
        url = urllib.parse.urlsplit(self.path)
        q = dict(urllib.parse.parse_qsl(url.query))
        try:
            if url.path == "/ct/v1/get-sth":
                return self.answer(200, read("sth.json"))
            if url.path == "/ct/v1/get-entries":
                entries = json.loads(read("entries.json"))
                size = json.loads(read("sth.json"))["tree_size"]
                start, end = int(q["start"]), int(q["end"])
                end = min(end, size - 1, start + 99)
                if start < 0 or start > end:
                    return self.answer(400, b'{"error":"bad range"}')
                body = json.dumps({"entries": entries[start : end + 1]}).encode()
                return self.answer(200, body)
            if url.path == "/ct/v1/get-entry-and-proof":
                name = "proofs/%d-%d.json" % (int(q["leaf_index"]), int(q["tree_size"]))
                return self.answer(200, read(name))
        except (KeyError, ValueError, FileNotFoundError):
            return self.answer(400, b'{"error":"bad request"}')
        return self.answer(404, b'{"error":"not found"}')


server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
print(server.server_address[1], flush=True)
server.serve_forever()
