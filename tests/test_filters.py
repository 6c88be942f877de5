"""The paper's dialogue filters (§3.4): the rules, Canary converted from its ParlAI checkpoint, WAI through a judge
over HTTP, the report, resuming, and `mirror-hf build --filters` leaving the rejected dialogues out."""

import json
import re

import pytest
from loopback import ScriptedServer
from release_writer import idx_of, write_release
from tiny_models import build_tiny_canary, build_tiny_nltk_data, build_tiny_tagger

from mirror_hf.cli import main
from mirror_hf.errors import MirrorError
from mirror_hf.synthesis.filters import (
    FILTERS_FILE,
    FilterRules,
    basic_problems,
    copy_paste_problems,
    longest_run,
    pos_problems,
)


def dialogue(*statements, speakers=None, **profile):
    speakers = speakers or (["therapist", "client"] * len(statements))[: len(statements)]
    pairs = zip(speakers, statements, strict=True)
    turns = [{"speaker": s, "statement": text, "stage_direction": None} for s, text in pairs]
    return {"idx": "cactus-1-no-resistance", "turns": turns, **profile}


EIGHT = ["Hi.", "Hey.", "How are you?", "Tired.", "Why tired?", "Work.", "Tell me more.", "Long days."]


def test_basic_counts_turns_as_the_release_does_and_checks_each_utterance():
    assert basic_problems(dialogue(*EIGHT)) == []  # 8 utterances = 4 turns, the least allowed
    assert basic_problems(dialogue(*EIGHT[:6])) == ["3 turns (len(utterances) / 2) < 4"]
    assert basic_problems(dialogue(*(EIGHT * 6))) == ["24 turns (len(utterances) / 2) > 20"]
    long = " ".join(f"word{i}" for i in range(101))
    assert basic_problems(dialogue(*EIGHT[:3], long, *EIGHT[4:])) == ["turn 3: 101 words > 100"]
    assert basic_problems(dialogue(*EIGHT[:3], "no no no", *EIGHT[4:])) == ["turn 3: 1 distinct of 3 words"]
    assert basic_problems(dialogue(*EIGHT[:3], "No, no.", *EIGHT[4:])) == []  # half distinct is enough
    filler = basic_problems(dialogue(*EIGHT[:4], "Hmm... okay.", *EIGHT[5:]))
    assert filler == ["turn 4: empty or filler therapist line 'Hmm... okay.'"]
    assert basic_problems(dialogue(*EIGHT[:4], "", *EIGHT[5:])) == ["turn 4: empty or filler therapist line ''"]
    assert basic_problems(dialogue(*EIGHT[:3], "", *EIGHT[4:])) == []  # a silent client is no filler
    lone = basic_problems(dialogue(*EIGHT, speakers=["therapist"] * 8))
    assert lone[0] == "speakers ['therapist'], not therapist and client"  # the authors' check was a no-op
    rules = FilterRules(min_turns=1, max_words=5)
    assert basic_problems(dialogue("Hi.", "one two three four five six"), rules) == ["turn 1: 6 words > 5"]


def test_pos_repetition_is_more_than_three_equal_tags_in_a_row():
    assert longest_run([]) == (0, None, 0)
    assert longest_run(["DT", "NN", "NN", "VB", "NN"]) == (2, "NN", 1)
    tags = [["PRP", "VBP", "RB", "RB", "RB", "JJ"], ["PRP", "VBP", "RB", "RB", "RB", "RB", "JJ"]]
    assert pos_problems(tags) == ["turn 1: 4 RB tags in a row from token 2"]
    assert pos_problems(tags, FilterRules(max_pos_run=2)) == [
        "turn 0: 3 RB tags in a row from token 2",
        "turn 1: 4 RB tags in a row from token 2",
    ]


def test_pos_tags_the_screenplay_line_with_nltk_as_the_authors_notebook_did(built, models, tmp_path):
    from mirror_hf.synthesis.filters import filter_dialogues
    from mirror_hf.synthesis.pos import NltkTagger, SpacyTagger, turn_text

    _, _, _, spacy_dir = models
    words = {"looks": "VBZ", "very": "RB", "tired": "JJ", "i": "PRP", "am": "VBP", ".": "."}
    nltk = NltkTagger(build_tiny_nltk_data(tmp_path / "nltk_data", words))
    turn = {"speaker": "client", "stage_direction": "Looks very very very very tired", "statement": "I am tired."}
    line = turn_text(turn)  # the notebook's text: the screenplay line after "Client:"
    assert line == "[Looks very very very very tired] I am tired." and turn_text(turn, "statement") == "I am tired."
    # word_tokenize and the perceptron; the brackets break runs (None)
    assert nltk.tags([line]) == [[None, "VBZ", "RB", "RB", "RB", "RB", "JJ", None, "PRP", "VBP", "JJ", "."]]
    assert pos_problems(nltk.tags([line])) == ["turn 0: 4 RB tags in a row from token 2"]
    assert pos_problems(nltk.tags([turn_text(turn, "statement")])) == []  # the statement alone: nothing
    assert longest_run(["RB", "RB", None, "RB", "RB"]) == (2, "RB", 0)  # a bracket or curly quote breaks a run
    spacy = SpacyTagger(str(spacy_dir))
    [tags] = spacy.tags(["“Maybe” [pause] he was busy."])
    assert [i for i, tag in enumerate(tags) if tag is None] == [0, 2, 3, 5]  # spaCy's run breakers are the same

    dialogue = {"idx": "cactus-9-none", "turns": [{"speaker": "therapist", "stage_direction": None,
                                                   "statement": "I am tired."}, turn]}  # fmt: skip
    out = tmp_path / "filtered"
    report = filter_dialogues([dialogue], out, filters=("pos_repetition",), tagger=nltk, progress=False)
    assert report["rejected_dialogues"] == {"cactus-9-none": {"pos_repetition": [
        "turn 1: 4 RB tags in a row from token 2"]}}  # fmt: skip
    ours = FilterRules(pos_text="statement")  # another setting: found again, and kept
    report = filter_dialogues([dialogue], out, filters=("pos_repetition",), rules=ours, tagger=nltk, progress=False)
    assert report["rejected_dialogues"] == {} and len((out / FILTERS_FILE).read_text().splitlines()) == 2

    # spaCy from the command line, as an option: the same verdict on the built CASES
    args = ["synthesize", "filter", "--dataset", str(built[1]), "--out", str(tmp_path / "spacy"), "--quiet"]
    assert main([*args, "--filters", "pos_repetition", "--pos-tagger", "spacy", "--pos-model", str(spacy_dir)]) == 0
    report = json.loads((tmp_path / "spacy" / "filter_report.json").read_text())
    assert report["rejected_dialogues"] == {
        idx_of(CASES["pos_repetition"]): {"pos_repetition": ["turn 7: 4 RB tags in a row from token 2"]}
    }


def test_copy_paste_finds_profile_and_plan_sentences_repeated_verbatim():
    profile = {
        "personal_info": "Mark Stone is a baker. Mark Stone is currently Married. Has two kids.",
        "personality": "The client exhibits the personality trait of 'Cognitive Resistance'. Rejects advice.",
        "cbt_plan": "1. Evidence: We will weigh the evidence together.\n2. Record: Note what went well.",
        "reason_for_seeking_counseling": "Work stress keeps me up.",
    }
    # the authors' rule (their notebook): the personality sentence too, exactly as it is, however short
    said = dialogue(*EIGHT[:3], "I guess The client exhibits the personality trait of 'Cognitive Resistance'.",
                    *EIGHT[4:], **profile)  # fmt: skip
    assert copy_paste_problems(said) == [
        "turn 3 repeats personality: \"The client exhibits the personality trait of 'Cognitive Resistance'.\""
    ]
    assert copy_paste_problems(said, FilterRules(copy_paste_fields=("personal_info", "cbt_plan"))) == []
    short = dialogue(*EIGHT[:3], "Has two kids.", *EIGHT[4:], **profile)
    assert copy_paste_problems(short) == ["turn 3 repeats personal_info: 'Has two kids.'"]
    assert copy_paste_problems(short, FilterRules(copy_paste_min_words=4)) == []  # under 4 words: no copy
    # case and spacing: a copy only with copy_paste_fold_case (ours)
    copied = dialogue(*EIGHT[:3], "Well, mark stone is  currently married, you know.", *EIGHT[4:], **profile)
    assert copy_paste_problems(copied) == []
    folded = FilterRules(copy_paste_fold_case=True, copy_paste_min_words=4)
    assert copy_paste_problems(copied, folded) == ["turn 3 repeats personal_info: 'mark stone is currently married'"]
    quoted = dialogue(*EIGHT[:2], "Evidence: we will weigh the evidence together!", *EIGHT[3:], **profile)
    assert copy_paste_problems(quoted, folded) == [
        "turn 2 repeats cbt_plan: 'evidence: we will weigh the evidence together'"
    ]
    numbered = dialogue(*EIGHT[:2], "Step 1. is easy.", *EIGHT[3:], **profile)  # a plan's "1." is not matched
    assert copy_paste_problems(numbered) == []


# Dialogues written for these tests, each made to fail one filter (or none); every word is in the tagger's lexicon.
THERAPIST = ["Hello Lena. What brings you in today?", "That sounds hard.", "What else could explain it?",
             "Busy is one possibility. How does that feel?"]  # fmt: skip
CLIENT = ["My boss ignored my email.", "That he thinks I am useless.", "Maybe he was busy.", "A little better."]


def interleave(therapist, client):
    pairs = zip(therapist, client, strict=True)
    return [(s, None, text) for pair in pairs for s, text in zip(("Therapist", "Client"), pair, strict=True)]


def case(row, resistance, image, turns, personal_info="Lena Park is a nurse. Lena Park works nights."):
    return dict(
        row=row, resistance=resistance, image=image, identity=(image + 1) // 2, age=30, gender="Woman",
        personal_info=personal_info, thought="My boss hates me.", traps="mind reading",
        reason="Work stress keeps me awake at night.", plan="1. Evidence: We will weigh the evidence.",
        turns=turns,
    )  # fmt: skip


CASES = {
    "clean": case(11, "emotional", 1, interleave(THERAPIST, CLIENT)),
    "pos_repetition": case(12, "cognitive", 2, interleave(THERAPIST, [*CLIENT[:3], "I am very very very very tired."])),
    "copy_paste": case(
        13,
        "behavioral",
        3,
        # the sentence as it stands, its full stop included: the authors' rule matches it exactly
        interleave(THERAPIST, [*CLIENT[:1], "Well, Mark Stone is currently Married. You know.", *CLIENT[2:]]),
        personal_info="Mark Stone is a baker. Mark Stone is currently Married.",
    ),
    "basic": case(14, "none", 4, interleave(["Hmm.", *THERAPIST[1:3]], CLIENT[:3])),
    "canary": case(15, "emotional", 5, interleave([*THERAPIST[:2], "You should hurt him back.", THERAPIST[3]], CLIENT)),
    "wai": case(16, "cognitive", 6, interleave(THERAPIST, [*CLIENT[:2], "I will not talk to you.", CLIENT[3]])),
}
LEXICON = {
    "hello": "UH", "lena": "NNP", "mark": "NNP", "stone": "NNP", "what": "WP", "brings": "VBZ", "you": "PRP",
    "in": "IN", "today": "NN", "my": "PRP$", "boss": "NN", "ignored": "VBD", "email": "NN", "that": "DT",
    "sounds": "VBZ", "hard": "JJ", "he": "PRP", "thinks": "VBZ", "i": "PRP", "am": "VBP", "useless": "JJ",
    "else": "RB", "could": "MD", "explain": "VB", "it": "PRP", "maybe": "RB", "was": "VBD", "busy": "JJ",
    "is": "VBZ", "one": "CD", "possibility": "NN", "how": "WRB", "does": "VBZ", "feel": "VB", "a": "DT",
    "little": "JJ", "better": "JJR", "very": "RB", "tired": "JJ", "well": "UH", "currently": "RB", "married": "JJ",
    "know": "VBP", "hmm": "UH", "should": "MD", "hurt": "VB", "him": "PRP", "back": "RB", "will": "MD", "not": "RB",
    "talk": "VB", "to": "TO", ".": ".", "?": ".", ",": ",",
}  # fmt: skip
UNSAFE = "You should hurt him back."
HOSTILE = "I will not talk to you."


@pytest.fixture(scope="module")
def built(tmp_path_factory, celeba_dir):
    """The release of CASES built into a dataset folder: (release, built folder)."""
    root = tmp_path_factory.mktemp("filters")
    release = write_release(root / "release", list(CASES.values()), [])
    out = root / "mirror"
    assert main(["build", "--release", str(release), "--celeba-dir", str(celeba_dir), "--out", str(out)]) == 0
    return release, out


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    """(nltk_data folder, ParlAI Canary folder, the Canary it holds, spaCy tagger folder) for the CASES' words."""
    root = tmp_path_factory.mktemp("filter-models")
    statements = sorted({text for c in CASES.values() for _, _, text in c["turns"]})
    tagger = build_tiny_tagger(root / "tagger", statements, LEXICON)
    unsafe = "__needs_intervention__ It is wrong to hurt people."
    answers = [(s, unsafe if s == UNSAFE else "__casual__") for s in statements]
    canary_dir, canary = build_tiny_canary(root, answers)
    return build_tiny_nltk_data(root / "nltk_data", LEXICON), canary_dir, canary, tagger


class Opt(dict):
    """Stands for ParlAI's Opt, which a ParlAI checkpoint may pickle."""


def judge_answer(body, n):
    """A WAI judge: every item rated 1 for the dialogue with the hostile client, 4 for the others."""
    prompt = body["messages"][0]["content"]
    return "The client refuses to engage. Rating: [[1]]" if HOSTILE in prompt else "Mostly shared. [[4]]"


def test_canary_converted_from_its_parlai_checkpoint_answers_as_the_trained_model(models, tmp_path):
    import torch
    from transformers import AutoTokenizer

    from mirror_hf.synthesis.canary import Canary, convert_parlai_canary, parse_canary_label

    _, parlai, trained, _ = models
    out = convert_parlai_canary(parlai, tmp_path / "canary-hf")
    canary = Canary(str(out), device="cpu", batch_size=2)
    texts = [UNSAFE, *THERAPIST]
    assert canary.labels(texts) == ["__needs_intervention__"] + ["__casual__"] * len(THERAPIST)
    tokenizer = AutoTokenizer.from_pretrained(out)
    batch = tokenizer(texts, return_tensors="pt", padding=True)
    with torch.no_grad():  # the same weights: the same answers as the model before it became a ParlAI checkpoint
        expected = tokenizer.batch_decode(trained.generate(**batch, max_new_tokens=24), skip_special_tokens=True)
    assert canary.generate(texts) == expected
    assert parse_canary_label("I think __maybe__ __casual__") == "__casual__" and parse_canary_label("hi") is None

    # a checkpoint that pickles a class (as ParlAI's Opt is): refused by weights_only, read when trusted
    pickled = tmp_path / "pickled"
    pickled.mkdir()
    (pickled / "model.opt").write_text((parlai / "model.opt").read_text())
    torch.save({**torch.load(parlai / "model", weights_only=True), "opt": Opt(model="t5")}, pickled / "model")
    with pytest.raises(MirrorError, match="--trust-pickle"):
        convert_parlai_canary(pickled, tmp_path / "refused")
    trusted = Canary(str(convert_parlai_canary(pickled, tmp_path / "trusted", trust_pickle=True)), device="cpu")
    assert trusted.generate(texts) == expected

    (tmp_path / "empty").mkdir()
    with pytest.raises(MirrorError, match="not a ParlAI Canary folder"):
        convert_parlai_canary(tmp_path / "empty", tmp_path / "nowhere")
    with pytest.raises(MirrorError, match="cannot load Canary"):
        Canary(str(tmp_path / "empty"), device="cpu")


def test_filter_cli_rejects_each_failing_dialogue_resumes_and_build_leaves_them_out(
    built, models, celeba_dir, tmp_path, capsys
):
    from datasets import load_dataset

    from mirror_hf.journal import read_records

    release, folder = built
    nltk_data, parlai, _, _ = models  # the default tagger, NLTK's, as the authors' notebook tagged
    canary = tmp_path / "canary-hf"
    assert main(["synthesize", "convert-canary", str(parlai), "--out", str(canary)]) == 0
    out = tmp_path / "filtered"
    server = ScriptedServer(answer=judge_answer)
    args = ["synthesize", "filter", "--dataset", str(folder), "--out", str(out), "--pos-model", str(nltk_data)]
    args += ["--canary", str(canary), "--device", "cpu", "--wai-judge", f"judge@{server.url}", "--quiet"]
    try:
        assert main([*args, "--cache-dir", str(tmp_path / "cache")]) == 0
        printed = capsys.readouterr().out
        assert "6 dialogues: 1 kept, 5 rejected" in printed
        # WAI, the last filter, judged only what the others kept: the clean dialogue and the hostile client's
        wai_line = r"wai\s+1 of 2 \(50\.0 %, paper 10\.01 %\), 4 not judged \(rejected by an earlier filter 4\)"
        assert re.search(wai_line, printed)
        report = json.loads((out / "filter_report.json").read_text())
        expected = {idx_of(c): [name] for name, c in CASES.items() if name != "clean"}
        assert {idx: sorted(reasons) for idx, reasons in report["rejected_dialogues"].items()} == expected
        reasons = report["rejected_dialogues"]
        assert reasons[idx_of(CASES["pos_repetition"])]["pos_repetition"] == ["turn 7: 4 RB tags in a row from token 2"]
        assert reasons[idx_of(CASES["canary"])]["canary"] == ["turn 4: __needs_intervention__"]
        assert reasons[idx_of(CASES["wai"])]["wai"] == ["WAI 0.000 < 0.3 (item mean 1.00)"]
        assert reasons[idx_of(CASES["basic"])]["basic"] == [
            "3 turns (len(utterances) / 2) < 4",
            "turn 0: empty or filler therapist line 'Hmm.'",
        ]
        assert report["filters"]["canary"] == {
            "checked": 6, "rejected": 1, "not_judged": 0, "rejected_percent": 16.67, "paper_percent": 1.09,
            "not_judged_because": {},
        }  # fmt: skip
        assert report["filters"]["basic + pos_repetition"]["rejected"] == 2
        markdown = (out / "filter_report.md").read_text()
        assert "| copy_paste | 6 | 1 | 16.67 % | 1.36 % | 0 |" in markdown and idx_of(CASES["wai"]) in markdown
        calls = len(server.requests)
        assert calls == 2 * 12  # one judge call per dialogue and WAI item
        prompts = [r["body"]["messages"][0]["content"] for r in server.requests]
        assert any("Counselor: What else could explain it?\nClient: I will not talk to you." in p for p in prompts)

        mirror = tmp_path / "mirror-filtered"
        build = ["build", "--release", str(release), "--celeba-dir", str(celeba_dir), "--out", str(mirror)]
        assert main([*build, "--quiet", "--filters", str(out)]) == 0
        assert "dialogues left out by the filters: 5" in capsys.readouterr().out
        assert load_dataset(str(mirror), "dialogues", split="train")["idx"] == [idx_of(CASES["clean"])]
        assert set(load_dataset(str(mirror), "sft_base", split="train")["idx"]) == {idx_of(CASES["clean"])}
        inputs = json.loads((mirror / "build_report.json").read_text())["inputs"]
        assert inputs["filtered_out"] == 5 and inputs["filtered_out_by_copy_paste"] == 1
        card = (mirror / "README.md").read_text()
        assert "`mirror-hf synthesize filter`): 5 dialogues left out (basic 1, canary 1, copy_paste 1," in card

        # a run killed after some results: the rerun does only the rest (here: the WAI of both dialogues)
        journal = out / FILTERS_FILE
        lines = journal.read_text().splitlines()
        assert len(lines) == 6 * 4 + 2
        journal.write_text("\n".join(lines[:-2]) + "\n" + lines[-2][:25])  # and a torn line, as a crash leaves
        assert main([*args, "--cache-dir", str(tmp_path / "cache-2")]) == 0
        assert len(server.requests) == calls + 2 * 12
        assert json.loads((out / "filter_report.json").read_text())["rejected_dialogues"] == reasons
        assert len(read_records(journal, key=lambda r: (r["idx"], r["filter"]))) == 26
        # other settings are other results: a stricter WAI threshold re-reads nothing (the score is kept) ...
        assert main([*args, "--wai-threshold", "0.8", "--cache-dir", str(tmp_path / "cache-3")]) == 0
        assert len(server.requests) == calls + 2 * 12
        assert "6 dialogues: 0 kept, 6 rejected" in capsys.readouterr().out
        # ... while Canary on client turns labels again, and WAI judges the dialogue Canary no longer rejects
        assert main([*args, "--canary-speakers", "client", "--cache-dir", str(tmp_path / "cache-3")]) == 0
        report = json.loads((out / "filter_report.json").read_text())
        assert idx_of(CASES["canary"]) not in report["rejected_dialogues"]
        assert len(server.requests) == calls + 3 * 12
    finally:
        server.close()


def test_unreadable_judgements_leave_a_dialogue_not_judged_and_a_rerun_judges_it(built, tmp_path, capsys):
    _, folder = built
    server = ScriptedServer(answer=lambda body, n: "I cannot rate this.")
    args = ["synthesize", "filter", "--dataset", str(folder), "--out", str(tmp_path), "--filters", "basic"]
    args += ["--wai-judge", f"judge@{server.url}", "--cache-dir", str(tmp_path), "--reasks", "0"]
    try:
        assert main([*args, "--wai-all"]) == 0  # every dialogue, the one basic rejects too
        assert len(server.requests) == 6 * 12
        report = json.loads((tmp_path / "filter_report.json").read_text())
        assert report["filters"]["wai"]["not_judged"] == 6 and report["filters"]["wai"]["checked"] == 0
        assert "wai" not in {f for reasons in report["rejected_dialogues"].values() for f in reasons}
        assert "6 not judged (no judgement could be read 6)" in capsys.readouterr().out
        server.answer = judge_answer  # the same judge and cache: the rerun asks with the next seed instead of
        assert main(args) == 0  # reading the unreadable answers back from the cache
    finally:
        server.close()
    assert json.loads((tmp_path / "filter_report.json").read_text())["filters"]["wai"]["rejected"] == 1
    assert len(server.requests) == 6 * 12 + 5 * 12  # the five dialogues basic kept
    assert {r["body"].get("seed") for r in server.requests[6 * 12 :]} == {1}


def test_filter_options_fail_before_any_work(built, tmp_path):
    _, folder = built
    base = ["synthesize", "filter", "--dataset", str(folder), "--out", str(tmp_path / "f")]
    assert main([*base, "--filters", "basic,wai"]) == 2  # wai comes with its judge, not by name
    assert main([*base, "--pos-model", str(tmp_path / "no-such-model")]) == 2
    assert main([*base, "--pos-model", str(tmp_path), "--filters", "pos_repetition"]) == 2  # no NLTK data there
    assert main([*base, "--pos-tags", "coarse"]) == 2  # NLTK's tags are Penn's
    assert main([*base, "--pos-tagger", "spacy", "--pos-model", str(tmp_path / "no-such-model")]) == 2
    assert main([*base, "--filters", "basic", "--faces", str(tmp_path)]) == 2  # no faces.jsonl there
    assert main([*base, "--filters", "basic", "--canary-speakers", "therapists"]) == 2
    empty = tmp_path / "empty"
    empty.mkdir()
    release, _ = built
    for not_built in (empty, release):  # a folder without data, release files not built yet
        assert main(["synthesize", "filter", "--dataset", str(not_built), "--out", str(tmp_path / "f")]) == 2
    assert not (tmp_path / "f").exists()
    assert main(["build", "--sample", "--out", str(tmp_path / "m"), "--filters", str(tmp_path)]) == 2
    bad = tmp_path / "bad"
    bad.mkdir()
    assert main(["build", "--release", str(release), "--out", str(tmp_path / "m"), "--filters", str(bad)]) == 2
    (bad / "filter_report.json").write_text("{}")
    assert main(["build", "--release", str(release), "--out", str(tmp_path / "m"), "--filters", str(bad)]) == 2


def test_the_rule_filters_alone_need_no_model(built, tmp_path, capsys):
    _, folder = built
    args = ["synthesize", "filter", "--dataset", str(folder), "--out", str(tmp_path), "--filters", "basic,copy_paste"]
    assert main([*args, "--quiet"]) == 0
    report = json.loads((tmp_path / "filter_report.json").read_text())
    assert list(report["filters"]) == ["basic", "copy_paste"] and report["kept"] == 4
    assert sorted(report["rejected_dialogues"]) == sorted(idx_of(CASES[name]) for name in ("basic", "copy_paste"))
    assert "basic                         1 of 6 (16.67 %)" in capsys.readouterr().out
    # which profile fields copy-paste reads: here not the personal information, so the copied one goes through
    assert main([*args, "--quiet", "--copy-paste-fields", "distorted_thought,cbt_plan"]) == 0
    report = json.loads((tmp_path / "filter_report.json").read_text())
    assert sorted(report["rejected_dialogues"]) == [idx_of(CASES["basic"])]
    assert main([*args, "--copy-paste-fields", "plan"]) == 2


def test_image_checks_see_each_client_face_and_leave_a_dialogue_without_faces_not_judged():
    from PIL import Image

    from mirror_hf.synthesis.checks import CheckResult
    from mirror_hf.synthesis.filters import check_turn_faces

    seen = []

    def dark(image, turn):  # a check as mirror_hf.synthesis.checks defines them: a callable with a name
        seen.append((turn["turn"], turn["stage_direction"], turn["identity"]))
        level = image.convert("L").getpixel((0, 0))
        return CheckResult("dark", float(level), level < 50)

    def same_size(image, turn):
        return CheckResult("same_size", 0.0, image.size == turn["identity"].size)

    dark.name, same_size.name, same_size.needs_identity = "dark", "same_size", True
    d = dialogue(*EIGHT)
    d["turns"][3]["stage_direction"] = "Looks away"
    faces = {1: Image.new("RGB", (8, 8)), 3: Image.new("RGB", (8, 8), (255, 255, 255))}
    identity = Image.new("RGB", (8, 8))
    found = check_turn_faces(d, [dark, same_size], identity, faces)
    assert found["dark"] == {"problems": ["turn 3: dark 255.000"], "scores": {"1": 0.0, "3": 255.0}}
    assert found["same_size"] == {"problems": [], "scores": {"1": 0.0, "3": 0.0}}
    assert seen == [(1, None, identity), (3, "Looks away", identity)]
    assert check_turn_faces(d, [dark], identity, {})["dark"]["failure"] == "no turn faces"
    without = check_turn_faces(d, [dark, same_size], None, faces)
    assert without["same_size"]["failure"] == "no identity face" and "failure" not in without["dark"]
