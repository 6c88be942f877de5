"""`mirror-hf evaluate` end to end against a loopback judge: the tables' numbers, the paired test, deltas, lengths,
excluded sessions, agreement with a second judge and human ratings, the files, and a rerun that costs no calls."""

import json
import re
import statistics

import pytest
from loopback import ScriptedServer
from scipy import stats as sp
from test_judges import rubric_dir  # noqa: F401  (fixture)

from mirror_hf.cli import main
from mirror_hf.errors import MirrorError
from mirror_hf.judges.report import load_runs

PROFILES = ["cactus-1-emotional-resistance", "cactus-2-cognitive-resistance", "cactus-3-behavioral-resistance"]
PROFILES.append("cactus-4-no-resistance")
# each therapist's skill per session: the judge below reads it off the transcript
LEVELS = {"ref": [4, 4, 5, 3], "other": [3, 2, 3, 4]}


def write_run(folder, levels, words: int):
    """A run folder as mirror-hf simulate writes it: one session per profile (and a failed one, to be left out)."""
    folder.mkdir(parents=True)
    with (folder / "sessions.jsonl").open("w") as f:
        for idx, level in zip(PROFILES, levels, strict=True):
            talk = " ".join(["word"] * words)
            turns = [
                {"speaker": "therapist", "text": f"Hello (level {level})", "stage_direction": None},
                {"speaker": "client", "text": "I am fine.", "stage_direction": "(frowns)"},
                {"speaker": "therapist", "text": f"{talk} (level {level})", "stage_direction": None},
                {"speaker": "client", "text": "Maybe.", "stage_direction": None},
            ]
            f.write(json.dumps({"session_id": idx, "profile_idx": idx, "end_reason": "client_ended", "turns": turns}))
            f.write("\n")
        broken = {"session_id": "cactus-5-no-resistance", "profile_idx": "cactus-5-no-resistance"}
        f.write(json.dumps({**broken, "end_reason": "backend_error", "turns": []}) + "\n")


def judge_answer(offset: int = 0):
    def answer(body, n):
        prompt = body["messages"][0]["content"]
        level = int(re.search(r"\(level (\d)\)", prompt).group(1)) + offset
        return f"[[{min(level, 5)}]]" if "[[rating]]" in prompt or "Question]" in prompt else f"{level}, reasons."

    return answer


@pytest.fixture
def runs(tmp_path):
    write_run(tmp_path / "ref", LEVELS["ref"], words=10)
    write_run(tmp_path / "other", LEVELS["other"], words=40)
    return tmp_path


def test_report_numbers_files_and_a_free_rerun(runs, rubric_dir, tmp_path, capsys):  # noqa: F811
    judge = ScriptedServer(answer=judge_answer(), delay=0.02)
    second = ScriptedServer(answer=judge_answer(offset=1))
    human = tmp_path / "human.csv"
    human.write_text(
        "therapist,session_id,item,score\n"
        + "".join(f"ref,{idx},q1,{lvl}\n" for idx, lvl in zip(PROFILES, LEVELS["ref"], strict=True))
        + "".join(f"other,{idx},q1,{lvl}\n" for idx, lvl in zip(PROFILES, LEVELS["other"], strict=True))
    )
    args = ["evaluate", str(runs / "ref"), f"other={runs / 'other'}", "--judge", f"j1@{judge.url}"]
    args += ["--judge", f"j2@{second.url}", "--reference", "ref", "--rubrics", str(rubric_dir)]
    args += ["--human-ratings", str(human), "--out", str(tmp_path / "eval"), "--cache-dir", str(tmp_path / "c")]
    args += ["--concurrency", "3", "--quiet"]
    try:
        assert main(args) == 0
        calls = len(judge.requests)
        assert main(args) == 0  # the rerun
    finally:
        judge.close()
        second.close()
    assert calls == 2 * 4 * (12 + 6) and len(judge.requests) == calls  # 2 runs x 4 complete sessions x 18 items
    assert 2 <= judge.max_in_flight <= 3
    assert "0 calls, 144 from the cache" in capsys.readouterr().out

    report = json.loads((tmp_path / "eval" / "report.json").read_text())
    ref, other = report["therapists"]["ref"], report["therapists"]["other"]
    assert ref["excluded"] == ["cactus-5-no-resistance"] and ref["scored_on"] == "resistant"
    assert (ref["resistant"], ref["non_resistant"]) == (3, 1)
    # tables: resistant sessions; delta: resistant - non-resistant
    goal = other["wai"]["goal"]
    assert goal["mean"] == pytest.approx(statistics.fmean([3, 2, 3])) and goal["n"] == 3
    assert goal["delta"] == pytest.approx(statistics.fmean([3, 2, 3]) - 4)
    expected = sp.ttest_rel([3, 2, 3], [4, 4, 5])
    assert goal["p"] == pytest.approx(expected.pvalue) and goal["significant"] is True
    assert expected.pvalue < 0.05
    low, high = sp.t.interval(0.95, 2, loc=statistics.fmean([3, 2, 3]), scale=sp.sem([3, 2, 3]))
    assert (goal["low"], goal["high"]) == pytest.approx((low, high))
    assert ref["counseling_eval"]["collaboration"]["mean"] == pytest.approx(13 / 3) and "p" not in ref["wai"]["goal"]
    # length: therapist turns "Hello ( level N )" = 5 tokens and 10 or 40 words + 4 tokens
    assert ref["length"] == {"avg": (5 + 14) / 2, "max": 14, "unit": "words and punctuation marks"}
    assert other["length"]["avg"] == (5 + 44) / 2
    corr = report["length_correlation"]["wai"]["goal"]
    lengths = [9.5] * 3 + [24.5] * 3
    assert corr["pearson"] == pytest.approx(sp.pearsonr(lengths, [4, 4, 5, 3, 2, 3]).statistic)
    # one length per therapist: nothing within a therapist to estimate a slope, so the raw mean stands
    assert other["wai"]["goal"]["length_controlled"] == pytest.approx(goal["mean"])
    # agreement: the second judge adds 1 (capped at 5), the humans rated q1 as the first judge does
    agree = {(a["b"], a["instrument"]): a for a in report["agreement"]}
    assert agree["human", "wai"]["n_units"] == 8 and agree["human", "wai"]["icc_2_1"] == pytest.approx(1.0)
    assert agree["human", "wai"]["krippendorff_alpha"] == pytest.approx(1.0)
    j2 = agree[f"j2@{second.url}", "counseling_eval"]
    assert j2["n_units"] == 8 * 6 and 0 < j2["icc_2_1"] < 1

    markdown = (tmp_path / "eval" / "report.md").read_text()
    assert "| other | 2.667* -1.333 | 2.667* -1.333 | 2.667* -1.333 | 24.50 | 44.00 |" in markdown  # the WAI row
    for name in ("scores.png", "length_vs_score.png"):
        assert (tmp_path / "eval" / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    audit = (tmp_path / "eval" / "judgements" / "other.wai.judge0.jsonl").read_text().splitlines()
    first = json.loads(audit[0])
    assert len(audit) == 4 * 12 and first["session_id"] == PROFILES[0] and first["raw"] == ["[[3]]"]
    assert "Counselor: Hello (level 3)\nClient: I am fine." in first["prompt"]  # stage directions stay hidden


def test_a_run_still_writing_is_read_without_its_torn_last_line(runs, tmp_path):
    lines = (runs / "ref" / "sessions.jsonl").read_text().splitlines()
    torn = tmp_path / "torn.jsonl"
    torn.write_text("\n".join(lines[:2]) + "\n" + lines[2][:40])
    assert [r["session_id"] for r in load_runs([str(torn)])[0].records] == PROFILES[:2]
    broken = tmp_path / "broken.jsonl"
    broken.write_text("\n".join([lines[0], "{oops", lines[1]]) + "\n")
    with pytest.raises(MirrorError, match=r"broken.jsonl, row 2: not JSON"):
        load_runs([str(broken)])


def test_bad_inputs_name_the_fix(runs, tmp_path):
    with pytest.raises(MirrorError, match="two runs share a name"):
        load_runs([str(runs / "ref"), f"ref={runs / 'other'}"])
    with pytest.raises(MirrorError, match="neither sessions.jsonl nor data/sessions"):
        load_runs([str(tmp_path)])
    assert main(["evaluate", str(runs / "ref"), "--judge", "x@http://127.0.0.1:9/v1", "--out", str(tmp_path / "o"),
                 "--instruments", "wai,ctrs"]) == 2  # fmt: skip


def test_scores_go_into_the_model_card_as_model_index(runs, rubric_dir, tmp_path):  # noqa: F811
    from huggingface_hub import ModelCard

    from mirror_hf.cards import render_model_card

    adapter = tmp_path / "adapter"
    adapter.mkdir()
    card = render_model_card(
        model_name="mirror-llava-pec",
        repo_id="me/mirror-llava-pec",
        base_model="llava-hf/llava-1.5-7b-hf",
        dataset="multimodal-reframing/mirror",
        dataset_config="sft_ec_planning",
        variant="planning_ec",
        hyperparameters={"learning_rate": 2e-4},
        widget=[],
    )
    assert "## Evaluation" not in card
    (adapter / "README.md").write_text(card)
    judge = ScriptedServer(answer=judge_answer())
    args = ["evaluate", f"other={runs / 'other'}", "--judge", f"j1@{judge.url}", "--rubrics", str(rubric_dir)]
    args += ["--out", str(tmp_path / "eval"), "--cache-dir", str(tmp_path / "c"), "--quiet"]
    try:
        assert main([*args, "--model-card", f"other={adapter}"]) == 0
        assert main([*args, "--model-card", f"other={adapter}"]) == 0  # again: replaced, not repeated
        calls, fresh = len(judge.requests), ["--cache-dir", str(tmp_path / "fresh")]  # a fresh cache: any call shows
        assert main([*args, *fresh, "--model-card", f"nobody={adapter}"]) == 2
        assert main([*args, *fresh, "--model-card", f"other={tmp_path}"]) == 2  # no README.md there
        assert main([*args, *fresh, "--reference", "nobody"]) == 2
        assert len(judge.requests) == calls  # refused before judging
    finally:
        judge.close()
    loaded = ModelCard.load(adapter / "README.md")
    results = {r.metric_type: r for r in loaded.data.eval_results}
    assert len(results) == 9 and results["wai_alliance/goal"].metric_value == pytest.approx(2.667)
    assert results["counseling_eval/focus"].dataset_type == "multimodal-reframing/mirror"
    assert results["counseling_eval/focus"].task_type == "image-text-to-text"
    assert loaded.text.count("## Evaluation") == 1 and "| wai_alliance goal (judge j1@" in loaded.text
    assert loaded.text.index("## Evaluation") < loaded.text.index("## Citation")
    assert loaded.data.base_model == "llava-hf/llava-1.5-7b-hf" and "model-index" in (adapter / "README.md").read_text()


def test_a_sessions_dataset_folder_reads_like_its_run(tmp_path):
    """What `mirror-hf simulate` publishes (data/sessions/*.parquet with faces, no sessions.jsonl) is judged the
    same as the run folder it came from."""
    import shutil

    from PIL import Image

    from mirror_hf.simulation.runner import write_sessions_dataset

    run = tmp_path / "run"
    write_run(run, LEVELS["ref"], words=5)
    (run / "faces").mkdir()
    Image.new("RGB", (8, 8), (100, 80, 60)).save(run / "faces" / "f.png")
    lines = [json.loads(line) for line in (run / "sessions.jsonl").read_text().splitlines()]
    empty = {"therapist": "t", "client": "c", "variant": "base", "technique": None, "plan": None, "error": None}
    empty |= {"exchanges": 2, "prompt_tokens": 1, "completion_tokens": 1}
    with (run / "sessions.jsonl").open("w") as f:
        for record in lines:
            turns = [{"raw": None, "emotional_caption": None, "image": "faces/f.png", **t} for t in record["turns"]]
            f.write(json.dumps({**empty, **record, "turns": turns}) + "\n")
    write_sessions_dataset(run)
    pulled = tmp_path / "pulled"
    shutil.copytree(run / "data", pulled / "data")
    from_run, from_dataset = load_runs([str(run), f"pulled={pulled}"])
    assert [r["session_id"] for r in from_dataset.records] == [r["session_id"] for r in from_run.records]
    assert from_dataset.excluded == from_run.excluded == ["cactus-5-no-resistance"]
    texts = [[(t["speaker"], t["text"]) for t in r["turns"]] for r in from_dataset.records]
    assert texts == [[(t["speaker"], t["text"]) for t in r["turns"]] for r in from_run.records]
    assert all("image" not in t for r in from_dataset.records for t in r["turns"])
