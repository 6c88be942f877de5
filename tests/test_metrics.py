"""The evaluate modules: a bare evaluate.load in a fresh process (offline, unrelated folder), compute's inputs and
outputs for both instruments, probability-weighted scores, and the module-cache registration."""

import json
import math
import os
import subprocess
import sys
import sysconfig
from pathlib import Path

import evaluate
import pytest
from loopback import ScriptedServer
from test_judges import SESSION, rubric_dir  # noqa: F401  (fixture)
from test_simulation import ScriptedBackend

from mirror_hf.errors import MirrorError
from mirror_hf.judges import wai
from mirror_hf.metrics import METRICS, module_path, register_evaluate_modules


def item_number(prompt: str) -> int:
    return next(i.number for i in wai.WAI_ITEMS if i.question in prompt)


def wai_rating(prompt: str) -> int:
    """A judge that gives item n the rating 1 + n % 5."""
    return 1 + item_number(prompt) % 5


def test_bare_name_load_in_a_fresh_process_offline(tmp_path):
    site = Path(sysconfig.get_paths()["purelib"])
    assert (site / "mirror_hf_evaluate.pth").exists(), "install mirror-hf (pip install -e . or .) to get the hook"
    server = ScriptedServer(
        answer=lambda body, n: f"Both agree. [[{wai_rating(body['messages'][0]['content'])}]]",
    )
    script = f"""
import json, evaluate
wai = evaluate.load("wai_alliance")
out = wai.compute(dialogues={json.dumps([SESSION])}, judge="judge@{server.url}", progress=False)
counseling = evaluate.load("counseling_eval")
print(json.dumps({{"wai": out, "counseling": counseling.name}}))
"""
    env = dict(os.environ)  # offline (HF_HUB_OFFLINE=1 too): the judge is on loopback
    env.update(HF_EVALUATE_OFFLINE="1", HF_MODULES_CACHE=str(tmp_path / "modules"), MIRROR_HF_CACHE=str(tmp_path))
    try:
        done = subprocess.run(
            [sys.executable, "-c", script], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300
        )
    finally:
        server.close()
    assert done.returncode == 0, done.stderr[-3000:]
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert result["counseling"] == "counseling_eval"
    out = result["wai"]
    assert out["goal"] == pytest.approx((2 + 3 + 4 + 5) / 4) and out["bond"] == pytest.approx((5 + 1 + 2 + 3) / 4)
    assert out["n_valid"] == 12 and out["n_failed"] == 0 and len(server.requests) == 12
    cached = list((tmp_path / "modules" / "evaluate_modules" / "metrics").glob("evaluate-metric--*/*/*.py"))
    assert sorted(p.name for p in cached if p.name != "__init__.py") == sorted(f"{m}.py" for m in METRICS)


def test_wai_compute_shapes_nan_and_records():
    def judge(request):
        prompt = request.messages[0]["content"]
        unreadable = "Client: Bye." in prompt and item_number(prompt) == 1
        return "no verdict" if unreadable else f"[[{wai_rating(prompt)}]]"

    record = {
        "session_id": "x",
        "turns": [{"speaker": "therapist", "text": "Hi", "stage_direction": None, "image": None}],
    }
    record["turns"].append({"speaker": "client", "text": "Bye.", "stage_direction": "(sighs)", "image": None})
    module = evaluate.load(str(module_path("wai_alliance")))
    out = module.compute(dialogues=[SESSION, record], judge=ScriptedBackend("j", judge), reasks=1, progress=False)
    assert out["n_valid"] == 23 and out["n_failed"] == 1  # item 1 of the second dialogue is unreadable
    assert out["items"]["q1"] == {"mean": 2.0, "n_valid": 1, "n_failed": 1}
    second = out["sessions"][1]
    assert second["dimensions"]["goal"] == pytest.approx((3 + 4 + 5) / 3)  # NaN left out, not a 0
    assert second["normalized"] == pytest.approx(((sum(1 + n % 5 for n in range(2, 13)) / 11) - 1) / 4)
    assert out["goal"] == pytest.approx(((2 + 3 + 4 + 5) / 4 + 4) / 2)
    assert out["normalized"] == pytest.approx((out["sessions"][0]["normalized"] + second["normalized"]) / 2)
    with pytest.raises(MirrorError, match=r"dialogue 1: turn 0: expected role/content"):
        module.compute(dialogues=[SESSION, [{"who": "client", "said": "hi"}]], judge=ScriptedBackend("j", judge))


def test_counseling_compute_headline_and_strategy_apart(rubric_dir):  # noqa: F811
    scores = {"understanding": 4, "interpersonal_effectiveness": 5, "collaboration": 3}
    scores |= {"guided_discovery": 2, "focus": 4, "strategy": 6}

    def judge(request):
        prompt = request.messages[0]["content"]
        name = next(k for k in scores if f"counselor’s {k} " in prompt)
        return f"{scores[name]}, because."

    module = evaluate.load(str(module_path("counseling_eval")))
    out = module.compute(dialogues=[SESSION], judge=ScriptedBackend("j", judge), prompts_dir=rubric_dir, progress=False)
    assert {k: out[k] for k in scores} == scores
    assert out["general"] == pytest.approx(4.0) and out["cbt"] == pytest.approx(3.0)  # Guided Discovery + Focus
    assert out["dimensions"]["strategy"]["mean"] == 6 and out["n_valid"] == 6


def test_weighted_scores_from_logprobs_over_http(rubric_dir):  # noqa: F811
    """G-Eval: the judge's answer "4, ..." with p(4)=0.6, p(3)=0.3, p(x)=0.1 at the score token -> 3.67."""
    logprobs = [
        {"token": "4", "logprob": math.log(0.6), "top_logprobs": [
            {"token": "4", "logprob": math.log(0.6)}, {"token": "3", "logprob": math.log(0.3)},
            {"token": "x", "logprob": math.log(0.1)}]},
        {"token": ", fine", "logprob": -0.1, "top_logprobs": []},
    ]  # fmt: skip
    server = ScriptedServer(answer=lambda body, n: ("4, fine", logprobs if body.get("logprobs") else None))
    try:
        module = evaluate.load(str(module_path("counseling_eval")))
        judge = f"judge@{server.url}"
        plain = module.compute(dialogues=[SESSION], judge=judge, prompts_dir=rubric_dir, progress=False)
        weighted = module.compute(
            dialogues=[SESSION], judge=judge, prompts_dir=rubric_dir, weighted=True, progress=False
        )
    finally:
        server.close()
    assert plain["focus"] == 4 and plain["n_weighted"] == 0
    assert weighted["focus"] == pytest.approx((4 * 0.6 + 3 * 0.3) / 0.9) and weighted["n_weighted"] == 6
    asked = [r["body"] for r in server.requests if r["body"].get("logprobs")]
    assert len(asked) == 6 and all(b["top_logprobs"] == 20 for b in asked)


def test_weighted_score_needs_a_clean_score_token():
    from mirror_hf.judges.weighting import expected_score

    one_token = [
        {"token": "[[4", "logprob": -0.1, "top": [["[[4", -0.1], ["[[3", -2.0]]},
        {"token": "]]", "logprob": 0},
    ]
    assert expected_score(one_token, "[[4]]", 2, range(1, 6)) is None  # the digit shares its token: no weighting
    split = [{"token": "[[", "logprob": 0}, {"token": "2", "logprob": -0.2, "top": [["2", -0.2], [" 3", -1.8]]}]
    split.append({"token": "]]", "logprob": 0})
    p2, p3 = math.exp(-0.2), math.exp(-1.8)
    assert expected_score(split, "[[2]]", 2, range(1, 6)) == pytest.approx((2 * p2 + 3 * p3) / (p2 + p3))
    stripped = [{"token": " ", "logprob": 0}, *split]  # a back-end that strips the answer's whitespace
    assert expected_score(stripped, "[[2]]", 2, range(1, 6)) == pytest.approx((2 * p2 + 3 * p3) / (p2 + p3))


def test_local_backend_returns_logprobs(tiny_lm):
    import asyncio

    from mirror_hf.llm import ChatRequest
    from mirror_hf.llm.local import TransformersBackend

    backend = TransformersBackend(str(tiny_lm))
    request = ChatRequest.of([{"role": "user", "content": "Rate it"}], temperature=0, max_tokens=4, logprobs=True)
    response = asyncio.run(backend.chat(ChatRequest.of(request.messages, **request.sampling(), top_logprobs=3)))
    assert response.logprobs and "".join(t["token"] for t in response.logprobs).strip() == response.text
    for entry in response.logprobs:  # greedy: the chosen token is the most likely one
        assert len(entry["top"]) == 3 and entry["top"][0][1] == pytest.approx(entry["logprob"], abs=1e-5)
        assert entry["top"][0][1] >= entry["top"][1][1] >= entry["top"][2][1]


def test_registration_makes_the_installed_scripts_the_newest(tmp_path):
    folder = tmp_path / "evaluate_modules" / "metrics" / "evaluate-metric--wai_alliance"
    old = folder / ("0" * 64) / "wai_alliance.py"
    old.parent.mkdir(parents=True)
    old.write_text("# another version\n")
    os.utime(old, (4_000_000_000, 4_000_000_000))  # newer than anything written now
    paths = register_evaluate_modules(tmp_path)
    ours = next(p for p in paths if p.name == "wai_alliance.py")
    assert ours.read_bytes() == (module_path("wai_alliance") / "wai_alliance.py").read_bytes()
    assert ours.stat().st_mtime > old.stat().st_mtime
    before = ours.stat().st_mtime
    register_evaluate_modules(tmp_path)  # current: nothing rewritten
    assert ours.stat().st_mtime == before
    for name in ("app.py", "requirements.txt", "README.md"):
        assert (module_path("wai_alliance") / name).is_file() and (module_path("counseling_eval") / name).is_file()
    readme = (module_path("counseling_eval") / "README.md").read_text()
    assert readme.startswith("---\ntitle: Counseling Eval\n") and "app_file: app.py" in readme


def test_a_pushed_space_loads_by_its_hub_name(tmp_path):
    """push_to_hub to a loopback Hub, then evaluate.load("me/wai_alliance") fetches the script from the Space."""
    from hub_server import HubServer

    hub, judge = HubServer(), ScriptedServer(answer=lambda body, n: f"[[{wai_rating(body['messages'][0]['content'])}]]")
    script = f"""
import json, evaluate
from mirror_hf.metrics import push_to_hub
print(push_to_hub("wai_alliance", "me/wai_alliance", requirement="mirror-hf[eval] @ git+https://example.org/m"))
wai = evaluate.load("me/wai_alliance")
out = wai.compute(dialogues={json.dumps([SESSION])}, judge="judge@{judge.url}", progress=False)
print(json.dumps({{"bond": out["bond"], "module": type(wai).__module__}}))
"""
    env = {**os.environ, "HF_ENDPOINT": hub.url, "HF_HUB_OFFLINE": "0", "HF_TOKEN": "hf_test"}
    env.update(HF_MODULES_CACHE=str(tmp_path / "modules"), MIRROR_HF_CACHE=str(tmp_path))
    try:
        done = subprocess.run(
            [sys.executable, "-c", script], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300
        )
        space = hub.repos["spaces", "me/wai_alliance"]
    finally:
        hub.close()
        judge.close()
    assert done.returncode == 0, done.stderr[-3000:]
    assert {"wai_alliance.py", "README.md", "app.py", "requirements.txt"} <= set(space.files)
    assert space.files["requirements.txt"] == b"mirror-hf[eval] @ git+https://example.org/m\n"
    out = json.loads(done.stdout.strip().splitlines()[-1])
    assert out["bond"] == pytest.approx((5 + 1 + 2 + 3) / 4) and "me--wai_alliance" in out["module"]
    assert any(path.startswith("/spaces/me/wai_alliance/resolve/") for _, path in hub.requests)
