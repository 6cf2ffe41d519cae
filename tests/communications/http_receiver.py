#!/usr/bin/env python3
"""An HTTP receiver for the communications tests and benchmark.

Listens on 127.0.0.1 (a free port: it prints `listening on <port>` once
ready) and appends every request to the --record file as one JSON line
(method, path, lowercase headers, body, monotonic time) *before* answering,
so that a sender that got its answer finds its request recorded. Answers as
the telegram Bot API does (`{"ok": true, "result": ...}`, or `ok: false` with
`error_code` and `description`), which a webhook sender ignores.

  --status S        the answer (default 200)
  --fail-first N    answer the first N requests with --fail-status (500)
  --retry-after S   failures carry `parameters.retry_after` (telegram's 429)
  --hang            record each request, then never answer it
"""

import argparse
import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--record", required=True)
    parser.add_argument("--status", type=int, default=200)
    parser.add_argument("--fail-first", type=int, default=0)
    parser.add_argument("--fail-status", type=int, default=500)
    parser.add_argument("--retry-after", type=float)
    parser.add_argument("--hang", action="store_true")
    args = parser.parse_args()

    lock = threading.Lock()
    requests = [0]
    never = threading.Event()
    record = open(args.record, "a", encoding="utf-8")

    def answer_for(number):
        status = args.fail_status if number <= args.fail_first else args.status
        if 200 <= status < 300:
            return status, {"ok": True, "result": {"message_id": number}}
        answer = {"ok": False, "error_code": status, "description": f"test answer {status}"}
        if args.retry_after is not None:
            answer["parameters"] = {"retry_after": args.retry_after}
        return status, answer

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"  # keep-alive, as a real server
        # The headers and the body are two writes: without this, the body
        # waits for the client's delayed ACK of the headers (40 ms each).
        disable_nagle_algorithm = True

        def log_message(self, *_):
            pass

        def do_POST(self):
            self.handle_request()

        def do_GET(self):
            self.handle_request()

        def handle_request(self):
            length = int(self.headers.get("Content-Length", 0))
            body = self.rfile.read(length)
            with lock:
                requests[0] += 1
                number = requests[0]
                record.write(json.dumps({
                    "method": self.command,
                    "path": self.path,
                    "headers": {name.lower(): value for name, value in self.headers.items()},
                    "body": body.decode("utf-8", "replace"),
                    "time": time.monotonic(),
                }) + "\n")
                record.flush()
            if args.hang:
                never.wait()
            status, answer = answer_for(number)
            data = json.dumps(answer).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    print(f"listening on {server.server_address[1]}", flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
