#!/usr/bin/env python3
"""Small servers for the health e2e test (run inside a real server's namespace).

  hc_server.py web NAME PORT FLAG
      HTTP/1.1 with keep-alive (so one TCP connection can carry many requests):
      GET /whoami -> NAME; GET /healthz -> 200 "ok", or 503 while the file
      FLAG exists (the server is alive but declares itself unhealthy).
  hc_server.py kube-proxy PORT FLAG
      A fake kube-proxy health endpoint (healthCheckNodePort): any path ->
      200 with {"localEndpoints": 1} while FLAG holds "1", else 503 with 0.

Each prints "ready" once listening, and one line per request it answers.
"""
import http.server
import json
import os
import socketserver
import sys


class Server(socketserver.ThreadingMixIn, http.server.HTTPServer):
    daemon_threads = True
    allow_reuse_address = True


class Answering(http.server.BaseHTTPRequestHandler):
    """Answers with a known length; logs "<peer> <path> <status>" a line."""

    def answer(self, code, content_type, body):
        self.send_response(code)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, fmt, *args):
        print("%s %s %s" % (self.client_address[0], self.path, args[1] if len(args) > 1 else ""),
              flush=True)


def web(name, port, flag):
    class Handler(Answering):
        protocol_version = "HTTP/1.1"

        def do_GET(self):
            if self.path.startswith("/healthz"):
                code, body = (503, b"unhealthy") if os.path.exists(flag) else (200, b"ok")
            elif self.path.startswith("/whoami"):
                code, body = 200, name.encode()
            else:
                code, body = 404, b"not found"
            self.answer(code, "text/plain", body)

    return Server(("0.0.0.0", port), Handler)


def kube_proxy(port, flag):
    class Handler(Answering):
        def do_GET(self):
            try:
                with open(flag) as f:
                    local = 1 if f.read().strip() == "1" else 0
            except OSError:
                local = 0
            body = json.dumps({"service": {"namespace": "default", "name": "web"},
                               "localEndpoints": local,
                               "serviceProxyHealthy": True}).encode()
            self.answer(200 if local else 503, "application/json", body)

    return Server(("0.0.0.0", port), Handler)


def main():
    if sys.argv[1] == "web":
        srv = web(sys.argv[2], int(sys.argv[3]), sys.argv[4])
    else:
        srv = kube_proxy(int(sys.argv[2]), sys.argv[3])
    print("ready", flush=True)
    srv.serve_forever()


if __name__ == "__main__":
    main()
