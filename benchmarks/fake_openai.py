"""A loopback OpenAI-compatible server with a fixed latency per call, in its own process (so its JSON work does not
share the benchmark's interpreter lock), answering like a therapist/client model or like a judge."""

from __future__ import annotations

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


def simulation_answer(prompt: str, exchanges: int) -> str:
    """Well-formed planning, caption, therapist and client answers; the client ends after ``exchanges``."""
    if "Choose an appropriate CBT technique" in prompt:
        return "CBT technique:\nReality Testing\n\nCounseling planning:\n1. Look at the evidence."
    if "emotional state. Clearly describe" in prompt:
        return "Looks guarded"
    if "playing the role of a client" in prompt:
        done = prompt.count("Counselor:")
        if done == 0:
            return "Client: [Arms crossed]"
        return f"Client: [Sighs] Maybe, I guess {done}." + (" [/END]" if done >= exchanges else "")
    return "That sounds hard. What goes through your mind when that happens?"


def judge_answer(prompt: str, exchanges: int) -> str:
    """A WAI rating or a COUNSELINGEVAL score, after some reasoning."""
    if "[[" in prompt:
        return "The client agrees with the plan at times but resists it at others. [[3]]"
    return "4, The counselor reflects feelings and asks open questions."


ANSWERS = {"simulation": simulation_answer, "judge": judge_answer}


def start_server(latency: float, kind: str = "simulation", exchanges: int = 3) -> ThreadingHTTPServer:
    answer = ANSWERS[kind]

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.0"  # one request per connection: simple and robust

        def do_POST(self):
            raw = self.rfile.read(int(self.headers["Content-Length"]))
            body = json.loads(raw)
            text = answer(raw.decode("utf-8", "replace").replace("\\n", "\n"), exchanges)
            time.sleep(latency)
            data = json.dumps(
                {
                    "id": "x",
                    "object": "chat.completion",
                    "created": 0,
                    "model": body["model"],
                    "choices": [
                        {"index": 0, "finish_reason": "stop", "message": {"role": "assistant", "content": text}}
                    ],
                    "usage": {"prompt_tokens": 300, "completion_tokens": 30, "total_tokens": 330},
                }
            ).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, *args):
            pass

    class Server(ThreadingHTTPServer):
        daemon_threads = True
        request_queue_size = 512  # the default backlog of 5 drops connections at concurrency 64

    server = Server(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


def _serve_in_child(latency: float, kind: str, exchanges: int, port_queue) -> None:
    server = start_server(latency, kind, exchanges)
    port_queue.put(server.server_port)
    threading.Event().wait()


def start_server_process(latency: float, kind: str = "simulation", exchanges: int = 3):
    """(process, port) of a server in its own process."""
    import multiprocessing

    queue = multiprocessing.Queue()
    process = multiprocessing.Process(target=_serve_in_child, args=(latency, kind, exchanges, queue), daemon=True)
    process.start()
    return process, queue.get(timeout=30)
