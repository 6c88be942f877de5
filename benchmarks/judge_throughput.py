"""Judge throughput against a local OpenAI-compatible server with a fixed latency per call.

For concurrency 1, 4, 16 and 64 the script judges sessions with both instruments (12 WAI items + 6 COUNSELINGEVAL
criteria per session) and prints calls/s, the engine's overhead over a bare HTTP client that sends the same prompts
at the same concurrency (the server's own share: ``--latency`` per call plus its HTTP work), and the wall time and
calls of the paper's plan (600 sessions x 17 calls: 12 WAI + the 5 headline criteria) extrapolated at that rate.
Then it judges the same sessions again with the same cache: that rerun must make 0 calls.

The rubrics are stand-ins in the upstream grammar (CACTUS's own are not shipped); pass ``--rubrics DIR`` to use a
local copy. The transcripts are 10 exchanges of ordinary length.

    python benchmarks/judge_throughput.py                    # ~1 minute
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

PAPER_SESSIONS, PAPER_CALLS = 600, 17


def stand_in_rubrics(folder: Path) -> Path:
    from mirror_hf.judges import counseling_eval

    for c in counseling_eval.CRITERIA:
        body = "\n".join(f"{k}.\tAnchor {k}: what a score of {k} looks like for {c.name}." for k in range(0, 7))
        text = f"Rate the counselor's {c.name} from 0 to 6.\n[Criteria]\n{body}\n" * 6
        (folder / c.file).write_text(text + "[Conversation]\n{conversation}\n[Output] score, explanation\n")
    return folder


def dialogue(i: int) -> list[dict]:
    turns = []
    for k in range(10):
        turns.append({"role": "therapist", "content": f"Session {i}: what went through your mind then, step {k}?"})
        turns.append({"role": "client", "content": "I guess I thought everyone would see me fail again, as usual."})
    return turns


async def bare_seconds(url: str, concurrency: int, prompts: list[str]) -> float:
    """Wall time a bare HTTP client needs for the same requests at the same concurrency: the server's own share."""
    try:
        import httpx2 as httpx
    except ImportError:  # pragma: no cover
        import httpx

    semaphore = asyncio.Semaphore(concurrency)
    async with httpx.AsyncClient(timeout=60, limits=httpx.Limits(max_connections=concurrency)) as client:

        async def one(prompt):
            async with semaphore:
                body = {"model": "bare", "messages": [{"role": "user", "content": prompt}], "temperature": 0}
                (await client.post(f"{url}/chat/completions", json=body)).raise_for_status()

        start = time.perf_counter()
        await asyncio.gather(*(one(p) for p in prompts))
    return time.perf_counter() - start


def main() -> None:
    from mirror_hf.judges import counseling_eval
    from mirror_hf.judges.engine import judge_counseling, judge_wai
    from mirror_hf.llm import load_backend

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--latency", type=float, default=0.2, help="server seconds per call")
    parser.add_argument("--concurrency", default="1,4,16,64")
    parser.add_argument("--calls", type=int, default=36, help="calls per concurrency slot (sessions = calls/18)")
    parser.add_argument("--rubrics", type=Path, help="a local copy of CACTUS's prompts/ (default: stand-ins)")
    args = parser.parse_args()
    process, port = start_server_process(args.latency, "judge")
    url = f"http://127.0.0.1:{port}/v1"

    async def judge_all(backend, sessions, rubrics):
        wai = judge_wai(sessions, backend, progress=False)
        counseling = judge_counseling(sessions, backend, rubrics=rubrics, progress=False)
        return [*await wai, *await counseling]

    with tempfile.TemporaryDirectory() as tmp:
        rubrics = counseling_eval.load_rubrics(prompts_dir=args.rubrics or stand_in_rubrics(Path(tmp)))
        for concurrency in [int(c) for c in args.concurrency.split(",")]:
            sessions = [dialogue(i) for i in range(max(1, concurrency * args.calls // 18))]
            cache = Path(tmp) / f"cache-{concurrency}"
            backend = load_backend(f"judge@{url}", max_concurrency=concurrency, cache_dir=cache)
            start = time.perf_counter()
            judgements = asyncio.run(judge_all(backend, sessions, rubrics))
            elapsed = time.perf_counter() - start
            calls = backend.usage.calls
            assert calls == len(judgements) == 18 * len(sessions) and all(j.failure is None for j in judgements)
            rate = calls / elapsed
            ideal = asyncio.run(bare_seconds(url, concurrency, [j.prompt for j in judgements]))
            rerun = load_backend(f"judge@{url}", max_concurrency=concurrency, cache_dir=cache)
            start = time.perf_counter()
            asyncio.run(judge_all(rerun, sessions, rubrics))
            cached_s = time.perf_counter() - start
            assert rerun.usage.calls == 0, rerun.usage
            plan = PAPER_SESSIONS * PAPER_CALLS
            print(
                f"judge_throughput: concurrency {concurrency:>3}: {calls:>4} calls in {elapsed:6.2f} s = "
                f"{rate:6.1f} calls/s; a bare HTTP client {ideal:6.2f} s -> overhead {elapsed / ideal - 1:+.1%}; "
                f"paper plan {PAPER_SESSIONS}x{PAPER_CALLS} = {plan} calls -> "
                f"{plan / rate / 60:6.1f} min; cached rerun {rerun.usage.calls} calls in {cached_s:.2f} s",
                flush=True,
            )
    process.terminate()


if __name__ == "__main__":
    main()
