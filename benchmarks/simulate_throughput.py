"""Simulation throughput against a local OpenAI-compatible server with a fixed latency per call.

The server (a threaded loopback HTTP server) answers every chat completion after ``--latency`` seconds, like a
model server would, with well-formed therapist, planning, caption and client answers; sessions end on the client's
``[/END]`` after ``--exchanges`` exchanges. For concurrency 1, 4, 16 and 64 the script prints sessions/hour and the
runner's overhead over the server's own latency (what a bare HTTP client sees per call, same payload, same
concurrency, times the calls per session): the goal is < 10 % at 16.

    python benchmarks/simulate_throughput.py                 # ~1 minute
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from fake_openai import start_server_process  # noqa: E402  (the benchmarks folder is on sys.path when run)


async def bare_latency(url: str, concurrency: int, face) -> float:
    """Seconds per call that a bare HTTP client sees at this concurrency, same payload size (with a face): the
    server's own latency, to which the runner's time is compared."""
    try:
        import httpx2 as httpx
    except ImportError:  # pragma: no cover
        import httpx

    from mirror_hf.llm.images import user_message

    body = {"model": "bare", "messages": [user_message("Choose an appropriate CBT technique", [face])]}
    semaphore, n = asyncio.Semaphore(concurrency), concurrency * 4
    async with httpx.AsyncClient(timeout=60) as client:

        async def one():
            async with semaphore:
                (await client.post(f"{url}/chat/completions", json=body)).raise_for_status()

        start = time.perf_counter()
        await asyncio.gather(*(one() for _ in range(n)))
    return (time.perf_counter() - start) / (n / concurrency)


def main() -> None:
    from datasets import disable_progress_bars
    from PIL import Image

    from mirror_hf.llm import load_backend
    from mirror_hf.protocol import CORRECTED
    from mirror_hf.simulation.client import ResistantClient
    from mirror_hf.simulation.runner import run_sessions
    from mirror_hf.therapist import MirrorTherapist

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--latency", type=float, default=0.2, help="server seconds per call")
    parser.add_argument("--exchanges", type=int, default=3)
    parser.add_argument("--sessions-per-slot", type=int, default=2, help="sessions = concurrency x this (min 8)")
    parser.add_argument("--concurrency", default="1,4,16,64")
    args = parser.parse_args()
    disable_progress_bars()
    process, port = start_server_process(args.latency, "simulation", args.exchanges)
    url = f"http://127.0.0.1:{port}/v1"
    face = Image.new("RGB", (336, 336), (140, 110, 95))
    # per session: plan, then per exchange caption + response (therapist) and the client's opening + replies
    calls_per_session = 1 + 2 * args.exchanges + 1 + args.exchanges
    # the calls of one session are sequential: its ideal time is calls x latency
    for concurrency in [int(c) for c in args.concurrency.split(",")]:
        n = max(8, concurrency * args.sessions_per_slot)
        profiles = [
            {
                "idx": f"cactus-{i}-cognitive-resistance",
                "personal_info": "P.",
                "personality": "R.",
                "distorted_thought": "T.",
                "reason_for_seeking_counseling": "C.",
                "identity_image": face,
            }
            for i in range(n)
        ]
        options = {"max_concurrency": concurrency * 2}  # the runner bounds sessions; the back-end never queues
        # the corrected protocol: the paper's prompts ship with mirror-hf, so the benchmark needs no authors' files
        therapist = MirrorTherapist(load_backend(f"mirror@{url}", **options), "planning_ec", protocol=CORRECTED)
        client = ResistantClient(load_backend(f"client@{url}", **options), protocol=CORRECTED)
        with tempfile.TemporaryDirectory() as out:
            start = time.perf_counter()
            report = asyncio.run(run_sessions(profiles, therapist, client, out, concurrency=concurrency))
            elapsed = time.perf_counter() - start
        assert report["end_reasons"] == {"client_ended": n}, report["end_reasons"]
        per_call = asyncio.run(bare_latency(url, concurrency, face))
        ideal = calls_per_session * per_call * -(-n // concurrency)
        print(
            f"simulate_throughput: concurrency {concurrency:>3}: {n:>4} sessions in {elapsed:6.1f} s = "
            f"{n / elapsed * 3600:8.0f} sessions/h; the server's own latency {per_call * 1000:5.0f} ms/call -> ideal "
            f"{ideal:6.1f} s; runner overhead "
            f"{elapsed / ideal - 1:+.1%}",
            flush=True,
        )
    process.terminate()


if __name__ == "__main__":
    main()
