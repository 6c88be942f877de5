"""`mirror-hf reproduce`: the seven systems of the paper's Tables 2-3 with tiny local models (a text LM for the
baselines and the client, a tiny LLaVA for the VLMs) under the authors' protocol (their files: the stand-in), a
loopback judge; killed after its first stage and run again, it repeats nothing; the report sets the published
numbers beside ours."""

import json
import os
import signal
import subprocess
import sys
import time

import yaml
from loopback import ScriptedServer
from test_judges import rubric_dir  # noqa: F401  (fixture)
from upstream_writer import pins_path

from mirror_hf.cli import main
from mirror_hf.judges.published import PUBLISHED, THERAPISTS

SYSTEMS = {
    "LLaMA-3-8B": {"baseline": "llama3"},
    "CAMEL-LLaMA3": {"baseline": "camel"},
    "GPT-3.5-turbo": {"baseline": "gpt"},
    "LLaVA-v1.5-7B": {"variant": "base"},
    "MIRROR-LLaVA": {"variant": "base"},
    "MIRROR-LLaVA_P": {"variant": "planning"},
    "MIRROR-LLaVA_P+EC": {"variant": "planning_ec"},
}


def camel_answer(body, n):
    """CAMEL over HTTP: a random tiny LM cannot write a plan the authors' parser reads (it would end the session)."""
    prompt = json.dumps(body["messages"])
    return "CBT technique: Reality Testing\nCounseling plan:\n1. Test it." if "PLANNER" in prompt else "Counselor: Ok."


def judge_answer(body, n):
    prompt = body["messages"][0]["content"]
    return "[[3]] because." if "[[rating]]" in prompt or "Question]" in prompt else "4, reasons."


def write_config(tmp_path, built, tiny_lm, tiny_llava, upstream, rubrics, judge_url, camel_url) -> str:
    systems = {}
    for name, kind in SYSTEMS.items():
        model = tiny_lm if "baseline" in kind else tiny_llava
        systems[name] = {"therapist": f"local:{model}", **kind}
    systems["CAMEL-LLaMA3"]["therapist"] = f"camel@{camel_url}"
    config = {
        "out": str(tmp_path / "paper"),
        "profiles": f"{built}:eval_profiles",
        "client": f"local:{tiny_lm}",
        "judge": f"judge@{judge_url}",
        "protocol": "authors,therapist_max_tokens=8",  # a tiny VLM need not write 1024 tokens
        "max_exchanges": 2,
        "concurrency": 2,
        "cache_dir": str(tmp_path / "cache"),
        "upstream": upstream.clone,
        "upstream_pins": str(pins_path(upstream.clone)),
        "rubrics": str(rubrics),
        "quiet": True,
        "systems": systems,
    }
    path = tmp_path / "tables.yaml"
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    return str(path)


def test_reproduce_runs_every_stage_resumes_after_a_kill_and_sets_the_paper_beside(
    dialogues,
    tiny_lm,
    tiny_llava,
    upstream,
    rubric_dir,  # noqa: F811
    tmp_path,
    capsys,
):
    built, _ = dialogues
    judge, camel = ScriptedServer(answer=judge_answer), ScriptedServer(answer=camel_answer)
    try:
        config = write_config(tmp_path, built, tiny_lm, tiny_llava, upstream, rubric_dir, judge.url, camel.url)
        assert main(["reproduce", "--config", config, "--limit", "1", "--dry-run"]) == 0
        printed = capsys.readouterr().out
        assert "estimate: 1 sessions per system" in printed and printed.count("mirror-hf simulate ") == 7
        assert "mirror-hf evaluate LLaMA-3-8B=" in printed and "--paper" in printed

        report = tmp_path / "paper" / "reproduce_report.json"
        proc = subprocess.Popen(
            [sys.executable, "-m", "mirror_hf", "reproduce", "--config", config, "--limit", "1"],
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=dict(os.environ),
        )  # fmt: skip
        try:
            deadline = time.time() + 300
            while time.time() < deadline:  # the first stage done: kill the run in the second
                stages = json.loads(report.read_text())["stages"] if report.is_file() else []
                if stages and stages[0].get("status") == "done":
                    break
                assert proc.poll() is None, proc.stdout.read()[-3000:]
                time.sleep(0.2)
            proc.send_signal(signal.SIGKILL)
            proc.wait(timeout=60)
        finally:
            proc.kill()
        first = tmp_path / "paper" / "sessions" / "LLaMA-3-8B" / "sessions.jsonl"
        kept = first.read_bytes()
        assert len(kept.splitlines()) == 1

        assert main(["reproduce", "--config", config, "--limit", "1"]) == 0
    finally:
        judge.close()
        camel.close()
    assert first.read_bytes() == kept  # the finished stage played nothing again
    stages = json.loads(report.read_text())["stages"]
    assert [s["status"] for s in stages] == ["done"] * 8 and stages[-1]["stage"] == "evaluate"
    for name in SYSTEMS:
        settings = json.loads((tmp_path / "paper" / "sessions" / name / "protocol.json").read_text())
        assert settings["protocol"]["name"] == "authors+therapist_max_tokens=8"
    evaluation = json.loads((tmp_path / "paper" / "eval" / "report.json").read_text())
    assert set(evaluation["paper"]["therapists"]) == set(THERAPISTS)
    cell = evaluation["paper"]["therapists"]["MIRROR-LLaVA_P+EC"]["counseling_eval"]["understanding"]
    assert cell["paper"] == PUBLISHED["counseling_eval"]["MIRROR-LLaVA_P+EC"]["understanding"][0] == 4.0
    assert cell["ours"] == 4.0 and cell["gap"] == 0.0  # the judge said 4 to everything
    markdown = (tmp_path / "paper" / "eval" / "report.md").read_text()
    assert "## Beside the paper (Tables 2-3)" in markdown and "4.000 / 4.000 (+0.000)" in markdown
    assert "3.000 / 2.567 (+0.433)" in markdown  # WAI goal of P+EC beside Table 3's
