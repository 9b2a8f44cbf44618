#!/usr/bin/env python3
"""A tiny HTTP server for transfer tests: reports what a POST delivered.

Usage: upload_server.py NAME PORT [BIND]
POST any path: answers "NAME <peer ip> <bytes received> <sha256 hex>".
GET /blob?size=N: answers N deterministic bytes (sha256 of the counter
stream, so the client can verify them without a shared file).
Prints "ready" once listening; one log line per request on stderr.
Python 3 standard library only.
"""

import hashlib
import http.server
import sys
import urllib.parse


def blob(size: int) -> bytes:
    """size bytes of SHA-256 blocks of a counter: deterministic, incompressible."""
    out = bytearray()
    counter = 0
    while len(out) < size:
        out += hashlib.sha256(counter.to_bytes(8, "big")).digest()
        counter += 1
    return bytes(out[:size])


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.0"
    server_name_label = "?"

    def _reply(self, body: bytes, ctype: str = "text/plain") -> None:
        self.send_response(200)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_POST(self) -> None:  # noqa: N802 (http.server's naming)
        remaining = int(self.headers.get("Content-Length", "0"))
        digest = hashlib.sha256()
        received = 0
        while remaining > 0:
            chunk = self.rfile.read(min(65536, remaining))
            if not chunk:
                break
            digest.update(chunk)
            received += len(chunk)
            remaining -= len(chunk)
        self._reply(
            (
                "%s %s %d %s\n"
                % (self.server_name_label, self.client_address[0], received, digest.hexdigest())
            ).encode()
        )

    def do_GET(self) -> None:  # noqa: N802
        url = urllib.parse.urlparse(self.path)
        if url.path != "/blob":
            self.send_error(404)
            return
        size = int(urllib.parse.parse_qs(url.query).get("size", ["0"])[0])
        self._reply(blob(size), "application/octet-stream")


def main() -> int:
    if len(sys.argv) not in (3, 4):
        print(__doc__, file=sys.stderr)
        return 2
    Handler.server_name_label = sys.argv[1]
    bind = sys.argv[3] if len(sys.argv) == 4 else "0.0.0.0"
    server = http.server.HTTPServer((bind, int(sys.argv[2])), Handler)
    print("ready", flush=True)
    server.serve_forever()
    return 0


if __name__ == "__main__":
    sys.exit(main())
