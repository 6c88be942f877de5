"""Judges: exact rendering (asserted on the request a real loopback server receives), parsers, NaN handling,
re-asks, the cache, and the aggregation."""

import asyncio
import math
import statistics

import pytest
from loopback import ScriptedServer
from test_simulation import ScriptedBackend

from mirror_hf.errors import MirrorError
from mirror_hf.judges import counseling_eval, wai
from mirror_hf.judges.engine import judge_counseling, judge_wai, summarize
from mirror_hf.judges.transcript import render_transcript
from mirror_hf.llm import ResponseCache
from mirror_hf.llm.openai_compat import OpenAICompatBackend

SESSION = [
    {"role": "therapist", "content": "What brings you here today?"},
    {"role": "client", "content": "My friend cancelled, so she must be tired of me."},
    {"role": "counselor", "content": "What else could explain it? Quote: [[5]] {braces} stay."},
    {"role": "client", "content": "Work, maybe."},
]
TRANSCRIPT = (
    "Counselor: What brings you here today?\nClient: My friend cancelled, so she must be tired of me.\n"
    "Counselor: What else could explain it? Quote: [[5]] {braces} stay.\nClient: Work, maybe."
)


@pytest.fixture
def rubric_dir(tmp_path):
    """Rubrics written by us in the upstream grammar (a TAB after step numbers, curly quotes, one placeholder)."""
    for c in counseling_eval.CRITERIA:
        (tmp_path / c.file).write_text(
            f"Rate the counselor’s {c.name} from 0 to 6.\n[criteria]\n1.\tRead the dialogue.\n2.\tDecide.\n"
            "[Conversation]\n{conversation}\n[Output] score, explanation",
            encoding="utf-8",
        )
    return tmp_path


def test_transcript_lines():
    assert render_transcript(SESSION) == TRANSCRIPT
    with pytest.raises(ValueError, match="turn 0: role 'narrator'"):
        render_transcript([{"role": "narrator", "content": "x"}])


def test_counseling_eval_request_is_exactly_upstreams(rubric_dir):
    server = ScriptedServer()
    try:
        rubrics = counseling_eval.load_rubrics(prompts_dir=rubric_dir)
        backend = OpenAICompatBackend("gpt-4o", server.url)
        judgements = asyncio.run(judge_counseling([SESSION], backend, rubrics=rubrics, reasks=0))
    finally:
        server.close()
    assert len(server.requests) == 6  # one call per criterion
    bodies = {r["body"]["messages"][0]["content"]: r["body"] for r in server.requests}
    for c in counseling_eval.CRITERIA:
        expected = (rubric_dir / c.file).read_text(encoding="utf-8").format(conversation=TRANSCRIPT)
        body = bodies[expected]
        assert body["messages"] == [{"role": "user", "content": expected}]  # one user message, no system
        assert (body["temperature"], body["top_p"], body["max_tokens"]) == (0.0, 1.0, 256)
    # the scripted server answers "answer N": unreadable, so NaN with the reason, never 0
    assert all(math.isnan(j.score) and "unreadable" in j.failure for j in judgements)


def test_missing_rubrics_folder_names_the_fix(tmp_path):
    with pytest.raises(MirrorError, match="general_1_understanding.txt not found.*prompts/ folder of coding-groot"):
        counseling_eval.load_rubrics(prompts_dir=tmp_path)


@pytest.mark.parametrize(
    ("text", "score"),
    [
        ("4, good", 4),
        (" 5,", 5),
        ("Score: 3", 3),
        ("7, great", None),
        ("", None),
        ("-1, bad", None),
        ("I think 4", None),
    ],
)
def test_counseling_parser(text, score):
    assert counseling_eval.parse_counseling_score(text) == score


@pytest.mark.parametrize(
    ("text", "score"),
    [
        ("The transcript itself says [[5]], but the goals differ. Rating: [[2]]", 2),
        ("[[4]]", 4),
        ("[[6]] is out of range", None),
        ("no rating", None),
        ("", None),
        ("[[3]] then [[0]]", 3),
    ],
)
def test_wai_parser(text, score):
    assert wai.parse_wai_rating(text) == score


def test_wai_prompt_and_items():
    assert [i.dimension for i in wai.WAI_ITEMS] == ["goal"] * 4 + ["approach"] * 4 + ["bond"] * 4
    prompt = wai.render_wai_prompt(TRANSCRIPT, wai.WAI_ITEMS[9])
    assert "[Start of Counseling]\n " + TRANSCRIPT + "\n [End of Counseling]" in prompt
    assert "[Question]\n The client feels confident in the counselor's ability to help the client." in prompt
    assert prompt.startswith("Below is a psychological counseling dialogue")
    assert wai.normalized_score(2.2) == pytest.approx(0.3)


def test_unreadable_answers_are_re_asked_then_nan_and_never_averaged_as_zero():
    answers = {}

    def judge(request):
        prompt = request.messages[0]["content"]
        item = next(i for i in wai.WAI_ITEMS if i.question in prompt)
        answers[item.number] = answers.get(item.number, 0) + 1
        if item.number == 1:
            return "I cannot decide."  # never readable
        if item.number == 2 and answers[2] == 1:
            return "Rating: two"  # readable on the second try
        return f"Reasoning... [[{1 + item.number % 5}]]"

    backend = ScriptedBackend("judge", judge)
    judgements = asyncio.run(judge_wai([SESSION, SESSION], backend, reasks=3))
    by_item = {(j.session, j.item): j for j in judgements}
    assert answers[1] == 2 * 4 and math.isnan(by_item[(0, "q1")].score)  # 1 try + 3 re-asks, per session
    assert by_item[(0, "q2")].score == 3 and len(by_item[(0, "q2")].raw) == 2
    summary = summarize(judgements)
    q1 = summary["items"]["q1"]
    assert math.isnan(q1["mean"]) and (q1["n_valid"], q1["n_failed"]) == (0, 2)
    goal = statistics.fmean([3, 4, 5])  # q2..q4 = 1 + n % 5; q1 left out, not counted as 0
    assert summary["dimensions"]["goal"]["mean"] == pytest.approx(goal)
    assert summary["n_failed"] == 2 and summary["n_valid"] == 22
    assert summary["sessions"][0]["dimensions"]["bond"] == pytest.approx(
        statistics.fmean([1 + n % 5 for n in (9, 10, 11, 12)])
    )


def test_a_rerun_makes_zero_calls(tmp_path):
    server = ScriptedServer()
    try:
        cache = ResponseCache(tmp_path / "cache")
        first = OpenAICompatBackend("judge", server.url, cache=cache)
        asyncio.run(judge_wai([SESSION], first, reasks=1))
        calls = len(server.requests)
        again = OpenAICompatBackend("judge", server.url, cache=cache)
        asyncio.run(judge_wai([SESSION], again, reasks=1))
    finally:
        server.close()
    assert calls == 12 * 2 and len(server.requests) == calls  # re-asks are cached too
    assert again.usage.calls == 0 and again.usage.cached == 24


def test_samples_are_averaged_each_with_its_own_seed():
    seeds = []

    def judge(request):
        seeds.append(request.seed)
        return f"{2 + len(seeds) % 3}, reasons"  # 3, 4, 2, ... over the calls

    rubrics = {"focus": "Rate focus.\n{conversation}\n[Output] score, explanation"}
    from mirror_hf.judges.engine import counseling_items, judge_sessions

    judgements = asyncio.run(
        judge_sessions(
            [SESSION], counseling_items(rubrics), ScriptedBackend("j", judge), instrument="ce", sampling={}, samples=3
        )
    )
    assert seeds == [0, 1000, 2000] and judgements[0].score == pytest.approx((3 + 4 + 2) / 3)
    assert len(judgements[0].raw) == 3


def test_an_outage_leaves_no_score_and_says_so_after_an_unreadable_answer_was_asked_again():
    from mirror_hf.judges.engine import counseling_items, judge_sessions
    from mirror_hf.llm import BackendError

    script = ["3, reasons", "no digit here", BackendError("HTTP 503")]  # sample 1 read; sample 2 re-asked, then down
    backend = ScriptedBackend("j", script)
    rubrics = {"focus": "Rate focus.\n{conversation}\n[Output] score, explanation"}
    [judgement] = asyncio.run(
        judge_sessions([SESSION], counseling_items(rubrics), backend, instrument="ce", sampling={}, samples=2)
    )
    assert [r.seed for r in backend.requests] == [0, 1000, 1001]
    assert math.isnan(judgement.score) and judgement.failure == "backend: HTTP 503"  # not the first sample's 3
    assert judgement.raw == ["3, reasons", "no digit here"]


def test_a_bad_dialogue_is_named_before_any_call():
    backend = ScriptedBackend("j", lambda request: "[[3]]")
    bad = [{"role": "narrator", "content": "Once upon a time"}]
    with pytest.raises(MirrorError, match=r"dialogue 1: turn 0: role 'narrator'.*Fix: give each turn"):
        asyncio.run(judge_wai([SESSION, bad], backend))
    assert backend.requests == []
