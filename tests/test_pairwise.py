"""`mirror-hf pairwise`: sampling (balance, coverage, seeds, sides, blinding), the report (a hand-computed table,
Bradley-Terry against a direct maximum likelihood, seeded bootstrap, agreement, the paper's tables beside), the LLM
judge in both orders against a loopback server, and bad input that is refused or recovered without losing answers."""

import json
import math
import re
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
from pairwise_runs import FAILED, MODELS, specs, write_runs
from scipy import optimize

from mirror_hf.cli import main
from mirror_hf.pairwise import report as pairwise_report
from mirror_hf.pairwise.answer_store import AnswerStore, read_answer_file
from mirror_hf.pairwise.study import read_items, read_study, sample_study

X, Y, Z = MODELS


@pytest.fixture
def runs(tmp_path):
    return write_runs(tmp_path / "runs")


def sample(runs, out, *extra) -> int:
    return main(["pairwise", "sample", *specs(runs), "--out", str(out), *extra])


def test_sampling_balances_covers_every_pair_and_repeats_with_its_seed(runs, tmp_path, capsys):
    assert sample(runs, tmp_path / "s1", "--n", "6", "--seed", "3") == 0
    assert "6 cases (emotional 2, cognitive 2, behavioral 2), 18 items over 3 runs" in capsys.readouterr().out
    items = read_items(tmp_path / "s1")
    assert len(items) == 18 and Counter(i["resistance"] for i in items) == {
        t: 6 for t in ("emotional", "cognitive", "behavioral")
    }
    assert Counter(frozenset((i["model_a"], i["model_b"])) for i in items) == {
        frozenset(p): 6 for p in ((X, Y), (X, Z), (Y, Z))
    }
    by_case = Counter(i["profile_idx"] for i in items)
    assert len(by_case) == 6 and set(by_case.values()) == {3}  # every pair of runs for each case
    assert FAILED[1] not in by_case
    # the side is random and recorded: `swapped` says whether the later run of the pair is A
    order = {m: k for k, m in enumerate(MODELS)}
    assert {i["swapped"] for i in items} == {True, False}
    assert all(i["swapped"] == (order[i["model_a"]] > order[i["model_b"]]) for i in items)

    # the same seed: the same study; another seed: another one
    assert sample(runs, tmp_path / "s2", "--n", "6", "--seed", "3") == 0
    assert sample(runs, tmp_path / "s3", "--n", "6", "--seed", "4") == 0
    same, other = read_study(tmp_path / "s2"), read_study(tmp_path / "s3")
    assert same["study_id"] == read_study(tmp_path / "s1")["study_id"] != other["study_id"]
    assert read_items(tmp_path / "s2") == items != read_items(tmp_path / "s3")
    for name in ("study.json", "sessions.json"):
        assert (tmp_path / "s1/app" / name).read_bytes() == (tmp_path / "s2/app" / name).read_bytes()

    # the app is blind: no model name, no caption or plan; each session's face is there
    app = tmp_path / "s1/app"
    shown = (app / "study.json").read_text() + (app / "sessions.json").read_text()
    assert not [m for m in MODELS if m in shown] and "guarded" not in shown
    sessions = json.loads((app / "sessions.json").read_text())
    faces = {t["face"] for turns in sessions.values() for t in turns if t["face"]}
    assert len(sessions) == 18 and len(faces) == 18 and all((app / f).is_file() for f in faces)
    assert {t["stage_direction"] for turns in sessions.values() for t in turns} == {"(shrugs)", None}
    card = (tmp_path / "s1/README.md").read_text()
    assert "configs:" in card and "config_name: items" in card and "| cases | 6 (emotional 2" in card


def test_sampling_refuses_what_it_cannot_balance_and_names_the_most_it_can(runs, tmp_path, capsys):
    # behavioral: 4 profiles, one failed in a run -> 3 eligible -> at most 9 balanced cases
    assert sample(runs, tmp_path / "s", "--n", "12") == 2
    err = capsys.readouterr().err
    assert "behavioral: 3 of 4" in err and "--n 9 or fewer" in err
    assert not (tmp_path / "s").exists()
    assert sample(runs, tmp_path / "s", "--n", "12", "--by", "none", "--resistance", "emotional,cognitive,none") == 0
    assert Counter(i["resistance"] for i in read_items(tmp_path / "s")) == {
        "emotional": 12,
        "cognitive": 12,
        "none": 12,
    }
    assert sample({X: runs[X]}, tmp_path / "t") == 2
    assert "two runs or more" in capsys.readouterr().err


def test_win_rates_match_a_hand_computed_table():
    """X-Y: X 3, Y 1. X-Z: X 2, 2 ties. Y-Z: Y 1, Z 1, 1 tie."""

    def comparison(a, b, winner, case="c1"):
        return {"models": (a, b), "winner": winner, "profile_idx": case}

    comparisons = [comparison(X, Y, X)] * 3 + [comparison(Y, X, Y)]
    comparisons += [comparison(Z, X, X)] * 2 + [comparison(X, Z, None)] * 2
    comparisons += [comparison(Y, Z, Y), comparison(Y, Z, Z), comparison(Z, Y, None)]
    half = pairwise_report.win_table(comparisons, list(MODELS), "half")
    assert half["beats"][X] == {Y: 75.0, Z: 75.0} and half["beats"][Z] == {X: 25.0, Y: 50.0}
    assert half["beats"][Y] == {X: 25.0, Z: 50.0}
    assert half["win_rate"] == {X: 75.0, Y: 37.5, Z: 37.5}
    assert half["pooled"][X] == pytest.approx(100 * (3 + 2 + 1) / 8)
    exclude = pairwise_report.win_table(comparisons, list(MODELS), "exclude")
    assert exclude["beats"][X] == {Y: 75.0, Z: 100.0} and exclude["beats"][Z] == {X: 0.0, Y: 50.0}
    assert exclude["win_rate"][X] == 87.5
    assert half["counts"][Y][Z] == {"wins": 1, "ties": 1, "losses": 1}


def test_bradley_terry_is_the_maximum_likelihood_and_its_intervals_are_seeded():
    rng = np.random.default_rng(0)
    truth = {X: 3.0, Y: 1.5, Z: 1.0}
    comparisons = []
    for k in range(300):
        a, b = rng.choice(MODELS, 2, replace=False)
        winner = a if rng.random() < truth[a] / (truth[a] + truth[b]) else b
        comparisons.append({"models": (a, b), "winner": winner, "profile_idx": f"c{k % 60}"})
    found = pairwise_report.bradley_terry(comparisons, list(MODELS), "exclude")

    def nll(theta):  # log-strengths of Y and Z, X fixed at 0
        s = dict(zip(MODELS, np.exp([0.0, *theta]), strict=True))
        return -sum(math.log(s[c["winner"]] / (s[c["models"][0]] + s[c["models"][1]])) for c in comparisons)

    theta = optimize.minimize(nll, [0.0, 0.0], method="Nelder-Mead", options={"xatol": 1e-9, "fatol": 1e-12}).x
    direct = np.exp([0.0, *theta])
    assert [found[m] for m in MODELS] == pytest.approx(list(direct / direct.sum()), abs=1e-4)
    assert sum(found.values()) == pytest.approx(1.0)
    ci = pairwise_report.bootstrap_strengths(comparisons, list(MODELS), "exclude", samples=200, seed=1)
    assert ci == pairwise_report.bootstrap_strengths(comparisons, list(MODELS), "exclude", samples=200, seed=1)
    assert ci != pairwise_report.bootstrap_strengths(comparisons, list(MODELS), "exclude", samples=200, seed=2)
    assert all(low < found[m] < high for m, (low, high) in ci.items())


def answer_by_rule(study_dir, annotator: str, prefer: str, tie_between=None):
    """Answers that prefer ``prefer``'s side; ``tie_between`` items are ties; other items go to A."""
    study, store = read_study(study_dir), None
    store = AnswerStore(Path(study_dir) / "answers", study_id=study["study_id"])
    for item in read_items(study_dir):
        models = {item["model_a"], item["model_b"]}
        choice = "A" if item["model_a"] == prefer else "B" if item["model_b"] == prefer else "A"
        if tie_between and models == set(tie_between):
            choice = "Tie"
        store.save(annotator, item["item_id"], {"goal": choice, "approach": choice, "bond": choice})
    return store


def test_report_end_to_end_with_the_papers_tables_beside(runs, tmp_path, capsys):
    study = tmp_path / "study"
    assert sample(runs, study, "--n", "6", "--annotators", "ana,ben") == 0
    answer_by_rule(study, "ana", Z, tie_between=(X, Y))
    answer_by_rule(study, "ben", Z, tie_between=(X, Y))
    assert main(["pairwise", "report", str(study), "--out", str(tmp_path / "r"), "--bootstrap", "50"]) == 0
    report = json.loads((tmp_path / "r/pairwise_report.json").read_text())
    goal = report["humans"]["goal"]
    assert goal["beats"][Z] == {X: 100.0, Y: 100.0} and goal["beats"][X] == {Y: 50.0, Z: 0.0}
    assert goal["win_rate"] == {X: 25.0, Y: 25.0, Z: 100.0} and goal["comparisons"] == 36
    assert report["agreement"]["bond"]["pairs"]["ana vs ben"]["kappa"] == 1.0
    assert report["agreement"]["bond"]["krippendorff_alpha"] == 1.0
    assert report["paper"]["dimensions"]["goal"]["beats"][X][Y] == 42.13
    assert set(report["per_resistance"]) == {"emotional", "cognitive", "behavioral"}
    markdown = (tmp_path / "r/pairwise_report.md").read_text()
    assert (
        f"| **{Z}** | 100.00 | 100.00 | – | 100.00 |" in markdown
        and "| *paper* | *–* | *42.13* | *36.34* | *38.09* |" in markdown
    )
    assert "ties count as half a win for each side" in markdown
    assert (tmp_path / "r/win_rates.png").read_bytes()[:4] == b"\x89PNG"
    # exclude: X-Y were all ties, so no decided comparison
    assert main(["pairwise", "report", str(study), "--out", str(tmp_path / "r2"), "--ties", "exclude"]) == 0
    assert json.loads((tmp_path / "r2/pairwise_report.json").read_text())["humans"]["goal"]["beats"][X][Y] is None


def judge_server(server_factory, answer):
    return server_factory(answer=lambda body, n: answer(body["messages"][0]["content"]))


def test_a_judge_that_always_picks_the_first_dialogue_gives_ties_and_no_consistency(runs, tmp_path, server_factory):
    study = tmp_path / "study"
    assert sample(runs, study, "--n", "3") == 0
    server = judge_server(server_factory, lambda prompt: "Reasons.\nGoal: [[1]]\nApproach: [[1]]\nBond: [[1]]")
    spec = f"first@{server.url}"
    assert main(["pairwise", "judge", str(study), "--judge", spec, "--cache-dir", str(tmp_path / "c"), "--quiet"]) == 0
    assert len(server.requests) == 18  # 9 items x 2 orders
    assert main(["pairwise", "report", str(study), "--out", str(tmp_path / "r"), "--bootstrap", "0"]) == 0
    entry = json.loads((tmp_path / "r/pairwise_report.json").read_text())["judges"][spec]
    assert entry["position_consistency"] == {"consistent": 0, "compared": 27, "consistency": 0.0}
    assert entry["tables"]["goal"]["tie_share"] == 1.0
    # a rerun asks nothing
    assert main(["pairwise", "judge", str(study), "--judge", spec, "--cache-dir", str(tmp_path / "c2"), "--quiet"]) == 0
    assert len(server.requests) == 18


def test_a_consistent_judge_agrees_with_the_annotators(runs, tmp_path, server_factory):
    """The judge reads which run wrote each dialogue off its first line ([run:case]) and prefers run 2."""
    study = tmp_path / "study"
    assert sample(runs, study, "--n", "3") == 0
    answer_by_rule(study, "ana", Z)

    def answer(prompt):
        first = int(re.search(r"\[Dialogue 1\]\nCounselor: .*?\[(\d):", prompt).group(1))
        second = int(re.search(r"\[Dialogue 2\]\nCounselor: .*?\[(\d):", prompt).group(1))
        if 2 not in (first, second):  # neither is Z: the annotators said A; the judge says tie
            return "Goal: [[tie]]\nApproach: [[tie]]\nBond: [[tie]]"
        verdict = "1" if first == 2 else "2"
        return f"Goal: [[{verdict}]]\nApproach: [[{verdict}]]\nBond: [[{verdict}]]"

    server = judge_server(server_factory, answer)
    spec = f"reader@{server.url}"
    assert main(["pairwise", "judge", str(study), "--judge", spec, "--cache-dir", str(tmp_path / "c"), "--quiet"]) == 0
    assert main(["pairwise", "report", str(study), "--out", str(tmp_path / "r"), "--bootstrap", "0"]) == 0
    entry = json.loads((tmp_path / "r/pairwise_report.json").read_text())["judges"][spec]
    assert entry["position_consistency"]["consistency"] == 1.0
    assert entry["tables"]["goal"]["beats"][Z] == {X: 100.0, Y: 100.0}
    # the judge and ana agree on the 6 items with Z, not on the 3 X-Y ones (ana: A, the judge: Tie)
    kappa = entry["kappa_with_annotators"]["goal"]["ana"]
    assert 0 < kappa < 1


def test_an_unreadable_judge_is_reasked_then_left_missing(runs, tmp_path, server_factory, capsys):
    study = tmp_path / "study"
    assert sample(runs, study, "--n", "3") == 0
    server = judge_server(server_factory, lambda prompt: "I cannot decide.")
    spec = f"vague@{server.url}"
    args = ["pairwise", "judge", str(study), "--judge", spec, "--reasks", "1", "--cache-dir", str(tmp_path / "c")]
    assert main([*args, "--quiet"]) == 1  # nothing could be read
    assert len(server.requests) == 36 and "18 unreadable or failed" in capsys.readouterr().out
    assert main(["pairwise", "report", str(study), "--out", str(tmp_path / "r"), "--bootstrap", "0"]) == 0
    entry = json.loads((tmp_path / "r/pairwise_report.json").read_text())["judges"][spec]
    assert entry["items"] == 0 and entry["position_consistency"]["consistency"] is None


def test_bad_input_is_refused_or_recovered_and_no_answer_is_lost(runs, tmp_path, capsys):
    study = tmp_path / "study"
    assert sample(runs, study, "--n", "3", "--annotators", "ana") == 0
    store = answer_by_rule(study, "ana", X)
    path = store.path("ana")
    # a torn last line (a crash mid-write): left out, reported; the next save cuts it off and keeps all the rest
    path.write_bytes(path.read_bytes() + b'{"version": 1, "item_id": "i00')
    assert main(["pairwise", "report", str(study), "--out", str(tmp_path / "r"), "--bootstrap", "0"]) == 0
    report = json.loads((tmp_path / "r/pairwise_report.json").read_text())
    assert report["annotators"] == {"ana": 9} and report["answers"]["torn_lines_left_out"] == [str(path)]
    store.save("ana", "i0001", {"goal": "Tie", "approach": "Tie", "bond": "Tie"})
    answers, torn = read_answer_file(path)
    assert not torn and len(answers) == 10 and store.answered("ana")["i0001"]["goal"] == "Tie"

    # an unknown annotator, answers of another study, a damaged line in the middle: clear errors, nothing changed
    other = AnswerStore(study / "answers", study_id=read_study(study)["study_id"])
    other.save("zoe", "i0002", {"goal": "A", "approach": "A", "bond": "A"})
    before = {p.name: p.read_bytes() for p in (study / "answers").iterdir()}
    assert main(["pairwise", "report", str(study), "--out", str(tmp_path / "r3")]) == 2
    assert "annotator 'zoe' is not one of the study's (ana)" in capsys.readouterr().err
    (study / "answers/zoe.jsonl").unlink()
    AnswerStore(tmp_path / "elsewhere", study_id="another").save("ana", "i0001", {"goal": "A"})
    assert (
        main(
            ["pairwise", "report", str(study), "--answers", str(tmp_path / "elsewhere"), "--out", str(tmp_path / "r4")]
        )
        == 2
    )
    assert "an answer to study another, not to this one" in capsys.readouterr().err
    lines = path.read_bytes().split(b"\n")
    path.write_bytes(b"\n".join([lines[0], b"garbage", *lines[1:]]))
    assert main(["pairwise", "report", str(study), "--out", str(tmp_path / "r5")]) == 2
    assert f"{path}, line 2: not an answer" in capsys.readouterr().err
    path.write_bytes(b"\n".join([lines[0], *lines[1:]]))
    assert {p.name for p in (study / "answers").iterdir()} == set(before) - {"zoe.jsonl"}

    # a study folder from another version
    meta = json.loads((study / "study.json").read_text())
    (study / "study.json").write_text(json.dumps({**meta, "version": 99}))
    assert main(["pairwise", "report", str(study), "--out", str(tmp_path / "r6")]) == 2
    assert "format version 99; this mirror-hf reads version 1" in capsys.readouterr().err
    (study / "study.json").write_text(json.dumps(meta))

    # resampling another study over one with answers is refused and changes nothing
    assert sample(runs, study, "--n", "3", "--seed", "9", "--annotators", "ana") == 2
    assert "holds answers to study" in capsys.readouterr().err
    assert read_study(study)["study_id"] == meta["study_id"]
    # ... the same study again is fine: the answers, the sign-in links and the Space's answers setting stay
    links = (study / "annotator_links.txt").read_text()
    assert main(["pairwise", "annotate", str(study), "--push", "lab/answers", "--no-serve"]) == 0
    assert sample(runs, study, "--n", "3", "--annotators", "ana") == 0
    assert len(store.answered("ana")) == 9 and (study / "annotator_links.txt").read_text() == links
    assert json.loads((study / "app/config.json").read_text())["answers_repo"] == "lab/answers"
    assert not (tmp_path / "study.partial").exists()


def test_cli_refuses_a_foreign_folder_and_unknown_options(runs, tmp_path, capsys):
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine/notes.txt").write_text("keep me")
    assert sample(runs, tmp_path / "mine", "--n", "3") == 2
    assert "did not write (notes.txt)" in capsys.readouterr().err
    assert (tmp_path / "mine/notes.txt").read_text() == "keep me"
    assert sample(runs, tmp_path / "s", "--n", "3", "--resistance", "angry") == 2
    assert main(["pairwise", "report", str(tmp_path / "nowhere"), "--out", str(tmp_path / "r")]) == 2
    assert "not a pairwise study folder" in capsys.readouterr().err


def test_sample_study_works_from_a_sessions_dataset_folder_with_embedded_faces(runs, tmp_path):
    """A pulled sessions dataset (parquet, faces embedded) gives the same study as its run folder."""
    import shutil

    from mirror_hf.simulation.runner import write_sessions_dataset

    pulled = {}
    for name, folder in runs.items():
        lines = [json.loads(x) for x in Path(folder, "sessions.jsonl").read_text().splitlines()]
        empty = {"therapist": name, "client": "c", "variant": "base", "technique": None, "plan": None, "error": None}
        empty |= {"exchanges": 2, "prompt_tokens": 1, "completion_tokens": 1}
        with Path(folder, "sessions.jsonl").open("w") as f:
            for record in lines:
                turns = [{"raw": None, "emotional_caption": None, "plan": None, **t} for t in record["turns"]]
                f.write(json.dumps({**empty, **record, "turns": turns}) + "\n")
        write_sessions_dataset(folder)
        shutil.copytree(Path(folder) / "data", tmp_path / "pulled" / name / "data")
        pulled[name] = str(tmp_path / "pulled" / name)
    one = sample_study(specs(runs), tmp_path / "a", n=3)
    two = sample_study(specs(pulled), tmp_path / "b", n=3)
    assert one["study_id"] == two["study_id"]
    assert sorted(p.name for p in (tmp_path / "a/app/faces").iterdir()) == sorted(
        p.name for p in (tmp_path / "b/app/faces").iterdir()
    )


def test_annotate_writes_the_spaces_answers_setting(runs, tmp_path, capsys):
    study = tmp_path / "study"
    assert sample(runs, study, "--n", "3") == 0
    args = ["pairwise", "annotate", str(study), "--no-serve"]
    assert main(args) == 2 and "add --push ORG/NAME" in capsys.readouterr().err
    assert main([*args, "--push", "not a repo"]) == 2
    assert main([*args, "--push", "lab/answers", "--every", "5"]) == 0
    assert json.loads((study / "app/config.json").read_text()) == {"answers_repo": "lab/answers", "every_minutes": 5.0}
