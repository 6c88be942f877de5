"""The batch runner: a crashed run resumes with every session exactly once; `mirror-hf simulate` end to end with a
client served over HTTP by `transformers serve` and two sessions at once."""

import asyncio
import json

import pytest
from datasets import load_dataset
from PIL import Image
from test_simulation import PROFILE, ScriptedBackend, therapist_answers

from mirror_hf.cli import main
from mirror_hf.protocol import CORRECTED
from mirror_hf.schema import SESSIONS_FILE
from mirror_hf.simulation.client import ResistantClient
from mirror_hf.simulation.runner import run_sessions
from mirror_hf.therapist import MirrorTherapist

PROFILES = [{**PROFILE, "idx": f"cactus-{900 + i}-emotional-resistance"} for i in range(6)]


class Crash(BaseException):
    """Stands for the process dying (preemption, kill): nothing in the runner may catch it."""


def client_answers(request):
    exchanges = request.messages[-1]["content"].count("Counselor:")
    return (
        "Client: [Arms crossed]"
        if exchanges == 0
        else f"Client: [Sighs] Answer {exchanges}." + (" [/END]" if exchanges >= 2 else "")
    )


def test_a_killed_run_resumes_with_every_session_exactly_once(tmp_path):
    calls = {"n": 0}

    def crashing(request):
        calls["n"] += 1
        if calls["n"] == 14:  # mid-way: some sessions are written, others are in flight
            raise Crash()
        return therapist_answers(request)

    out = tmp_path / "run"
    therapist = MirrorTherapist(ScriptedBackend("therapist", crashing), variant="planning_ec", protocol=CORRECTED)
    client = ResistantClient(ScriptedBackend("client", client_answers), protocol=CORRECTED)
    with pytest.raises(Crash):
        asyncio.run(run_sessions(PROFILES, therapist, client, out, concurrency=2))
    written = [json.loads(line)["session_id"] for line in (out / SESSIONS_FILE).read_text().splitlines()]
    assert 0 < len(written) < len(PROFILES)
    with (out / SESSIONS_FILE).open("a") as f:  # and the crash tore the line being written
        f.write('{"session_id": "cactus-905-emotional-resis')

    therapist = MirrorTherapist(
        ScriptedBackend("therapist", therapist_answers), variant="planning_ec", protocol=CORRECTED
    )
    report = asyncio.run(run_sessions(PROFILES, therapist, client, out, concurrency=2))
    ids = [json.loads(line)["session_id"] for line in (out / SESSIONS_FILE).read_text().splitlines()]
    assert sorted(ids) == sorted(p["idx"] for p in PROFILES)  # each once: none lost, none twice
    assert ids[: len(written)] == written
    assert report["sessions"] == 6 and report["end_reasons"] == {"client_ended": 6}

    ds = load_dataset(str(out), split="train")
    assert ds.num_rows == 6 and set(ds["end_reason"]) == {"client_ended"}
    first = ds[0]
    assert first["exchanges"] == 2 and first["technique"] == "Reality Testing"
    client_turns = [t for t in first["turns"] if t["speaker"] == "client"]
    assert [t["stage_direction"] for t in client_turns] == ["Arms crossed", "Sighs", "Sighs"]
    assert all(isinstance(t["image"], Image.Image) for t in client_turns)
    assert all(t["image"] is None for t in first["turns"] if t["speaker"] == "therapist")
    assert "MIRROR simulated sessions" in (out / "README.md").read_text()


def test_a_rerun_plays_again_the_sessions_a_failed_call_ended_and_only_those(tmp_path):
    from mirror_hf.llm import BackendError

    calls = {"therapist": 0}

    def down_once(request):  # the first session's first call fails after the back-end's own retries
        calls["therapist"] += 1
        return BackendError("503 after 5 tries", status=503) if calls["therapist"] == 1 else therapist_answers(request)

    out = tmp_path / "run"
    client = ResistantClient(ScriptedBackend("client", client_answers), protocol=CORRECTED)
    therapist = MirrorTherapist(ScriptedBackend("therapist", down_once), variant="planning_ec", protocol=CORRECTED)
    report = asyncio.run(run_sessions(PROFILES[:3], therapist, client, out, concurrency=1))
    assert report["end_reasons"] == {"backend_error": 1, "client_ended": 2}
    played = calls["therapist"]

    report = asyncio.run(run_sessions(PROFILES[:3], therapist, client, out, concurrency=1))
    assert report["sessions"] == 3 and report["end_reasons"] == {"client_ended": 3}
    assert calls["therapist"] - played == (played - 1) // 2  # one session played again, the others kept
    lines = [json.loads(line) for line in (out / SESSIONS_FILE).read_text().splitlines()]
    assert (
        len(lines) == 4
        and lines[0]["end_reason"] == "backend_error"
        and lines[0]["session_id"] == lines[-1]["session_id"]
    )
    assert load_dataset(str(out), split="train")["end_reason"] == ["client_ended"] * 3


def test_a_grown_run_and_a_namesake_run_each_load_their_own_rows(tmp_path):
    """datasets keys its cache of a local folder on the folder's name and the card's YAML, not on the data files: a
    run resumed with more profiles, and another run folder of the same name, must not load rows cached before."""

    def simulate(out, profiles):
        therapist = MirrorTherapist(
            ScriptedBackend("therapist", therapist_answers), variant="planning_ec", protocol=CORRECTED
        )
        client = ResistantClient(ScriptedBackend("client", client_answers), protocol=CORRECTED)
        asyncio.run(run_sessions(profiles, therapist, client, out, concurrency=3))
        return load_dataset(str(out), split="train")["session_id"]

    grown, namesake = tmp_path / "a" / "run", tmp_path / "b" / "run"
    assert simulate(grown, PROFILES[:2]) == sorted(p["idx"] for p in PROFILES[:2])
    assert simulate(grown, PROFILES[:5]) == sorted(p["idx"] for p in PROFILES[:5])
    assert simulate(namesake, PROFILES[3:]) == sorted(p["idx"] for p in PROFILES[3:])


def test_simulate_cli_with_a_client_over_http(tmp_path, tiny_llava, transformers_serve):
    from helpers import build_cli

    from mirror_hf.data.sample import prepare_sample

    sources = prepare_sample(tmp_path / "inputs")
    assert build_cli(sources.release, tmp_path / "mirror", "--configs", "eval_profiles", celeba=sources.celeba_dir) == 0
    out = tmp_path / "sim"
    args = [
        "simulate",
        "--profiles",
        f"{tmp_path / 'mirror'}:eval_profiles",
        "--therapist",
        f"local:{tiny_llava}",
        "--variant",
        "planning_ec",
        "--client",
        transformers_serve,
        "--out",
        str(out),
        "--sessions",
        "2",
        "--concurrency",
        "2",
        "--max-exchanges",
        "1",
        "--cache-dir",
        str(tmp_path / "cache"),
        "--protocol",
        "corrected",  # 128 new tokens, greedy: quick on a tiny model (the authors' protocol: tests/test_protocol.py)
    ]
    assert main(args) == 0
    ds = load_dataset(str(out), split="train")
    assert ds.num_rows == 2 and set(ds["end_reason"]) <= {"turn_limit", "client_ended", "disengaged"}
    assert all(row["client"].endswith("/v1") and row["prompt_tokens"] > 0 for row in ds)
    assert main(args) == 0  # a rerun finds both sessions done
    assert len((out / SESSIONS_FILE).read_text().splitlines()) == 2
