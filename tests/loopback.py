"""A loopback OpenAI-compatible server for tests: scripted failures, scripted answers, every request recorded."""

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class ScriptedServer:
    """A loopback OpenAI-compatible endpoint that answers from a script and records every request.

    ``script`` is a list of (status, headers) used in order for the first requests; afterwards every request gets a
    200 completion: ``answer(body, n)`` -> text or (text, logprobs content), by default ``"answer {n}"`` with n the
    request's number. ``delay`` holds each answer back, to see concurrency.
    """

    def __init__(self, script=(), delay: float = 0.0, answer=None):
        self.script, self.delay = list(script), delay
        self.answer = answer or (lambda body, n: f"answer {n}")
        self.requests, self.in_flight, self.max_in_flight = [], 0, 0
        self._lock = threading.Lock()
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                with server._lock:
                    server.requests.append(
                        {
                            "path": self.path,
                            "body": body,
                            "headers": {k.lower(): v for k, v in self.headers.items()},
                            "time": time.monotonic(),
                        }
                    )
                    n = len(server.requests)
                    step = server.script.pop(0) if server.script else None
                    server.in_flight += 1
                    server.max_in_flight = max(server.max_in_flight, server.in_flight)
                time.sleep(server.delay)
                with server._lock:
                    server.in_flight -= 1
                if step is not None:
                    status, headers = step
                    data = json.dumps({"error": f"scripted {status}"}).encode()
                    self.send_response(status)
                    for key, value in headers.items():
                        self.send_header(key, value)
                else:
                    answer = server.answer(body, n)
                    text, logprobs = answer if isinstance(answer, tuple) else (answer, None)
                    data = json.dumps(
                        {
                            "id": f"c{n}",
                            "object": "chat.completion",
                            "created": 0,
                            "model": body["model"],
                            "choices": [
                                {
                                    "index": 0,
                                    "finish_reason": "stop",
                                    "message": {"role": "assistant", "content": text},
                                    **({"logprobs": {"content": logprobs}} if logprobs else {}),
                                }
                            ],
                            "usage": {"prompt_tokens": 11, "completion_tokens": 3, "total_tokens": 14},
                        }
                    ).encode()
                    self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args):
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_port}/v1"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def close(self):
        self.httpd.shutdown()
