"""Turn-face synthesis. Step 1: the expression prompt (paper Appendix I) rendered from a dialogue, answers parsed,
PhotoMaker's prompts, and a resumable run over every client turn of a built dataset (`mirror-hf synthesize
expressions`, a back-end served over HTTP). Step 2: PhotoMaker's real pipeline (photomakerv) on a tiny SDXL built
here draws those turns into the layout the build and the simulation read (`mirror-hf synthesize faces`), each face
fixed by its own seed, resumable, checked (CLIP, NSFW: tiny models built here) and drawn again when a check fails."""

import asyncio
import json
from pathlib import Path

import pytest
from datasets import load_dataset
from loopback import ScriptedServer
from test_simulation import ScriptedBackend
from tiny_models import tiny_photomaker_settings

from mirror_hf.cli import main
from mirror_hf.llm import BackendError
from mirror_hf.protocol import CORRECTED
from mirror_hf.synthesis.expressions import (
    EXPRESSIONS_FILE,
    Expressions,
    describe_expressions,
    parse_expressions,
    photomaker_prompts,
    render_expression_prompt,
)

TURNS = [
    {"speaker": "therapist", "stage_direction": None, "statement": "What brings you here today?"},
    {"speaker": "client", "stage_direction": "Arms crossed", "statement": "My sister made me come."},
    {"speaker": "therapist", "stage_direction": "Leans in", "statement": "That sounds frustrating."},
    {"speaker": "client", "stage_direction": "Looks away", "statement": "Whatever."},
]


def answer_for(prompt: str) -> str:
    """A model that draws what the client's utterance says and contrasts it with a smile."""
    utterance = prompt.rsplit("Client's Utterance ###\n", 1)[1]
    return f"- Facial Expression Description: shows {utterance}\n- Contrasting Facial Expression Description: a smile"


def test_the_prompt_holds_the_history_and_the_utterance_with_its_stage_direction():
    prompt = render_expression_prompt(TURNS, 3)
    history, utterance = prompt.split("Dialogue History ###\n", 1)[1].split("\n\nClient's Utterance ###\n")
    assert history.splitlines() == [
        "Therapist: What brings you here today?",
        "Client: [Arms crossed] My sister made me come.",
        "Therapist: [Leans in] That sounds frustrating.",
    ]
    assert utterance == "[Looks away] Whatever."
    assert "- Contrasting Facial Expression Description:" in prompt
    with pytest.raises(ValueError, match="client turns"):
        render_expression_prompt(TURNS, 2)


@pytest.mark.parametrize(
    "text",
    [
        "- Facial Expression Description: eyes downcast\n- Contrasting Facial Expression Description: beaming",
        "**Contrasting Facial Expression Description:** beaming\n**Facial Expression Description:** eyes downcast",
        "Sure!\nFacial Expression Description: [eyes downcast]\nContrasting facial expression description: [beaming]",
    ],
)
def test_answers_in_several_shapes_parse_the_same(text):
    assert parse_expressions(text) == Expressions("eyes downcast", "beaming")


@pytest.mark.parametrize(
    "text", ["- Facial Expression Description: eyes downcast", "- Contrasting Facial Expression Description: x", ""]
)
def test_an_answer_without_both_descriptions_is_unreadable(text):
    with pytest.raises(ValueError, match="no .* description"):
        parse_expressions(text)


def test_photomaker_prompts_carry_gender_trigger_word_and_both_expressions():
    prompt, negative = photomaker_prompts("man", Expressions("jaw clenched", "a relaxed smile"))
    assert prompt.startswith("portrait photo of a man img, ") and prompt.endswith(", jaw clenched")
    assert negative.startswith("nsfw, lowres,") and negative.endswith(", a relaxed smile, missing limbs, mutilated")
    assert photomaker_prompts(None, Expressions("a", "b"))[0].startswith("portrait photo of a person img")


def test_every_client_turn_is_described_failures_are_kept_and_a_rerun_does_only_those(dialogues, tmp_path):
    _, rows = dialogues
    client_turns = [(d["idx"], t) for d in rows for t, turn in enumerate(d["turns"]) if turn["speaker"] == "client"]
    shaky, down = rows[0], rows[1]["idx"]

    shaky_prompt = render_expression_prompt(shaky["turns"], client_index(shaky, -1))
    down_prompts = {render_expression_prompt(rows[1]["turns"], t) for idx, t in client_turns if idx == down}

    def first_run(request):
        prompt = request.messages[0]["content"]
        if prompt == shaky_prompt and request.seed is None:
            return "I would rather not say."  # unreadable once: asked again with a new seed
        if prompt in down_prompts:
            return BackendError("503 after retries", status=503)  # the back-end gave up on this dialogue
        return answer_for(prompt)

    backend = ScriptedBackend("llama", first_run)
    report = asyncio.run(describe_expressions(rows, backend, tmp_path, concurrency=4, progress=False))
    failed = sum(1 for i, _ in client_turns if i == down)
    assert report == {
        "client_turns": len(client_turns),
        "already_done": 0,
        "described": len(client_turns) - failed,
        "failed": failed,
        "file": str(tmp_path / EXPRESSIONS_FILE),
    }
    assert len(backend.requests) == len(client_turns) + 1  # one re-ask
    records = [json.loads(line) for line in (tmp_path / EXPRESSIONS_FILE).read_text().splitlines()]
    assert sorted((r["idx"], r["turn"]) for r in records) == sorted(client_turns)
    lost = [r for r in records if r["failure"]]
    assert {r["idx"] for r in lost} == {down} and all(r["failure"].startswith("backend: ") for r in lost)
    assert all(r["expression"] is None and r["prompt"] is None for r in lost)  # nothing invented
    retried = next(r for r in records if r["idx"] == shaky["idx"] and r["turn"] == client_index(shaky, -1))
    assert len(retried["raw"]) == 2 and retried["failure"] is None
    sample = next(r for r in records if not r["failure"])
    dialogue = next(d for d in rows if d["idx"] == sample["idx"])
    assert sample["expression"] == f"shows {sample['utterance']}" and sample["gender"] == dialogue["gender"]
    assert (sample["prompt"], sample["negative_prompt"]) == photomaker_prompts(
        dialogue["gender"], Expressions(sample["expression"], sample["contrasting"])
    )

    again = ScriptedBackend("llama", lambda request: answer_for(request.messages[0]["content"]))
    report = asyncio.run(describe_expressions(rows, again, tmp_path, progress=False))
    assert report["already_done"] == len(client_turns) - failed and report["described"] == failed
    assert len(again.requests) == failed  # only the failed turns are asked again
    from mirror_hf.journal import read_records

    final = read_records(tmp_path / EXPRESSIONS_FILE, key=lambda r: (r["idx"], r["turn"]))
    assert len(final) == len(client_turns) and not any(r["failure"] for r in final)


def _turn(record: dict) -> tuple[str, int]:
    return record["idx"], record["turn"]


def client_index(dialogue: dict, k: int) -> int:
    return [t for t, turn in enumerate(dialogue["turns"]) if turn["speaker"] == "client"][k]


def test_synthesize_expressions_cli_with_a_model_over_http(dialogues, tmp_path, capsys):
    folder, rows = dialogues
    server = ScriptedServer(answer=lambda body, n: answer_for(body["messages"][0]["content"]))
    try:
        args = ["synthesize", "expressions", "--dataset", str(folder), "--model", f"llama@{server.url}"]
        args += ["--protocol", "corrected"]  # the paper's prompt (the authors': test_protocol)
        args += ["--out", str(tmp_path / "faces"), "--dialogues", "2", "--quiet", "--cache-dir", str(tmp_path / "c")]
        assert main(args) == 0
    finally:
        server.close()
    expected = sum(turn["speaker"] == "client" for d in rows[:2] for turn in d["turns"])
    lines = (tmp_path / "faces" / EXPRESSIONS_FILE).read_text().splitlines()
    assert len(lines) == expected == len(server.requests)
    body = server.requests[0]["body"]
    assert (body["temperature"], body["top_p"], body["max_tokens"]) == (0.7, 0.9, 128)  # the authors' settings
    assert f"{expected} client turns: {expected} described now" in capsys.readouterr().out


def test_faces_are_drawn_in_the_authors_layout_each_fixed_by_its_own_seed_and_resumed(
    dialogues, tiny_photomaker, tiny_encoder, tmp_path, capsys
):
    import numpy as np
    from PIL import Image

    from mirror_hf.data.turn_images import index_turn_images
    from mirror_hf.simulation.faces import FolderFaces
    from mirror_hf.synthesis.faces import IdentityFaceIndex, draw_faces, load_photomaker

    folder, rows = dialogues
    described, skipped = rows[:2], rows[2]
    backend = ScriptedBackend("llama", lambda request: answer_for(request.messages[0]["content"]))
    asyncio.run(describe_expressions(described, backend, tmp_path / "faces", progress=False))
    journal = tmp_path / "faces" / EXPRESSIONS_FILE
    failed = {"idx": skipped["idx"], "turn": 1, "failure": "unreadable: no expression", "celeba_image": "x.jpg"}
    journal.write_text(journal.read_text() + json.dumps(failed) + "\n")  # a turn step 1 could not describe
    wanted = {(d["idx"], t) for d in described for t, turn in enumerate(d["turns"]) if turn["speaker"] == "client"}

    args = ["synthesize", "faces", "--dataset", str(folder), "--out", str(tmp_path / "faces")]
    args += ["--base-model", str(tiny_photomaker), "--adapter", str(tiny_photomaker)]
    args += ["--weight-name", "photomaker-tiny.bin", "--steps", "3", "--generation-size", "64", "--device", "cpu"]
    assert main([*args, "--checks", "none", "--quiet"]) == 0
    out = capsys.readouterr().out
    assert f"{len(wanted)} faces drawn (0 after a failed check), 0 rejected after 10 tries, 0 already there" in out
    assert "1 turns without expressions" in out
    index = index_turn_images(tmp_path / "faces")
    assert {(idx, t) for idx, turns in index.items() for t in turns} == wanted
    first = next(iter(sorted(wanted)))
    row = next(d for d in described if d["idx"] == first[0])
    path = index[first[0]][first[1]]
    assert path.name == f"turn:{first[1]}_{Path(row['celeba_image']).stem}.png"
    with Image.open(path) as image:
        assert image.size == (336, 336)
        drawn = np.asarray(image.convert("RGB"))
    assert drawn.std() > 1  # a picture, not a blank
    assert FolderFaces(tmp_path / "faces").face({"idx": first[0]}, first[1], None).size == (336, 336)

    # the faces feed the build: the training records of the described dialogues now show them
    from mirror_hf.data.sample import prepare_sample

    sources = prepare_sample(tmp_path / "sample")
    build = ["build", "--release", str(sources.release), "--celeba-dir", str(sources.celeba_dir), "--quiet"]
    assert main([*build, "--turn-images", str(tmp_path / "faces"), "--out", str(tmp_path / "rebuilt")]) == 0
    records = load_dataset(str(tmp_path / "rebuilt"), "sft_base", split="train")
    ours = [r for r in records if r["id"].split(":")[0] in {d["idx"] for d in described}]
    assert ours and {r["image_source"] for r in ours} == {"turn"}
    shown = next(r for r in ours if r["id"] == f"{first[0]}:{first[1] + 1}:response")  # turn t+1 shows turn t's face
    assert np.array_equal(np.asarray(shown["images"][0].convert("RGB")), drawn)

    # the same turn drawn alone, in another run, is the same face; a deleted face is drawn again, and only it
    settings = tiny_photomaker_settings(tiny_photomaker, steps=3)
    alone = tmp_path / "alone"
    alone.mkdir()
    lines = [json.loads(line) for line in journal.read_text().splitlines()]
    (alone / EXPRESSIONS_FILE).write_text(
        "".join(json.dumps(r) + "\n" for r in lines if (r["idx"], r["turn"]) == first)
    )
    pipe = load_photomaker(settings, device="cpu")
    identities = IdentityFaceIndex(load_dataset(str(folder), "dialogues", split="train"))
    assert draw_faces(alone, identities, pipe, alone, settings, progress=False)["drawn"] == 1
    with Image.open(alone / path.relative_to(tmp_path / "faces")) as image:
        assert np.array_equal(np.asarray(image.convert("RGB")), drawn)
    path.unlink()
    report = draw_faces(tmp_path / "faces", identities, pipe, tmp_path / "faces", settings, progress=False)
    assert (report["drawn"], report["already_drawn"], report["no_expression"]) == (1, len(wanted) - 1, 1)
    with Image.open(path) as image:
        assert np.array_equal(np.asarray(image.convert("RGB")), drawn)
    assert not list((tmp_path / "faces").rglob("*.partial"))
    faceless = draw_faces(alone, {}, pipe, tmp_path / "faceless", settings, progress=False)  # no identity face known
    assert faceless["no_identity_face"] == 1 and faceless["without_identity_face"] == [first[0]]
    assert not (tmp_path / "faceless").exists() or not list((tmp_path / "faceless").rglob("*.png"))


def test_shards_split_the_dialogues_between_processes_and_together_draw_each_turn_once(
    dialogues, tiny_photomaker, tiny_encoder, tmp_path, capsys
):
    from mirror_hf.synthesis.faces import FACES_FILE, shard_of

    folder, rows = dialogues
    backend = ScriptedBackend("llama", lambda request: answer_for(request.messages[0]["content"]))
    asyncio.run(describe_expressions(rows, backend, tmp_path / "faces", progress=False))
    by_shard = {k: {d["idx"] for d in rows if shard_of(d["idx"], 2) == k} for k in (0, 1)}
    assert by_shard[0] and by_shard[1]  # the sample's dialogues fall in both shards
    turns = {d["idx"]: sum(t["speaker"] == "client" for t in d["turns"]) for d in rows}

    args = ["synthesize", "faces", "--dataset", str(folder), "--out", str(tmp_path / "faces"), "--checks", "none"]
    args += ["--base-model", str(tiny_photomaker), "--adapter", str(tiny_photomaker), "--quiet"]
    args += ["--weight-name", "photomaker-tiny.bin", "--steps", "2", "--generation-size", "64", "--device", "cpu"]
    assert main([*args, "--shard", "0/2"]) == 0
    drawn = {p.parent.name for p in (tmp_path / "faces").rglob("*.png")}
    assert drawn == by_shard[0]
    others = sum(turns[idx] for idx in by_shard[1])
    assert f"shard 0/2: {others} turns left to the other shards" in capsys.readouterr().out
    assert main([*args, "--shard", "1/2"]) == 0
    assert len(list((tmp_path / "faces").rglob("*.png"))) == sum(turns.values())
    lines = (tmp_path / "faces" / FACES_FILE).read_text().splitlines()
    assert len(lines) == sum(turns.values())  # each turn drawn once, by one shard
    assert main([*args, "--shard", "2/2"]) == 2
    assert "--shard '2/2'" in capsys.readouterr().err


def test_a_face_that_fails_its_checks_is_drawn_again_with_the_next_seed_or_rejected(
    dialogues, tiny_photomaker, tiny_encoder, tmp_path, capsys
):
    import numpy as np
    import open_clip
    import torch
    from PIL import Image
    from tiny_models import build_tiny_clip, build_tiny_nsfw_classifier
    from torchvision import transforms

    from mirror_hf.journal import read_records
    from mirror_hf.synthesis.checks import CheckResult, ClipCheck, NsfwCheck, clip_text
    from mirror_hf.synthesis.drawing import DrawRequest, FaceDrawer
    from mirror_hf.synthesis.faces import (
        FACES_FILE,
        IdentityFaceIndex,
        draw_faces,
        load_photomaker,
        turn_seed,
    )
    from mirror_hf.synthesis.filters import filter_dialogues

    folder, rows = dialogues
    backend = ScriptedBackend("llama", lambda request: answer_for(request.messages[0]["content"]))
    asyncio.run(describe_expressions(rows[:1], backend, tmp_path, progress=False))
    turns = read_records(tmp_path / EXPRESSIONS_FILE, key=lambda r: (r["idx"], r["turn"]))
    settings = tiny_photomaker_settings(tiny_photomaker, steps=3)
    pipe = load_photomaker(settings, device="cpu")
    identities = IdentityFaceIndex(load_dataset(str(folder), "dialogues", split="train"))

    # CLIP's score is the cosine of the image's and the text's features, the face prepared as OpenAI's clip.load
    # prepares it (bicubic resize of the short side, centre crop, CLIP's mean and std) as the authors' script ran it
    clip_dir = build_tiny_clip(tmp_path / "clip")
    clip = ClipCheck(str(clip_dir), threshold=1.01, device="cpu")  # nothing reaches it: every face is rejected
    face = Image.new("RGB", (336, 300), (90, 60, 40))
    face.paste((200, 10, 10), (0, 0, 120, 300))  # not uniform: a crop that cut the wrong part would show
    config = json.loads((clip_dir / "mirror-tiny-clip.json").read_text())
    model = open_clip.model.CLIP(**config)
    model.load_state_dict(torch.load(clip_dir / "mirror-tiny-clip.pt"))
    prepare = transforms.Compose([
        transforms.Resize(32, interpolation=transforms.InterpolationMode.BICUBIC),
        transforms.CenterCrop(32),
        transforms.ToTensor(),
        transforms.Normalize((0.48145466, 0.4578275, 0.40821073), (0.26862954, 0.26130258, 0.27577711)),
    ])  # fmt: skip
    with torch.no_grad():
        a = model.eval().encode_image(prepare(face).unsqueeze(0))[0]
        b = model.encode_text(open_clip.tokenize([clip_text("Looks away")]))[0]
    expected = torch.nn.functional.cosine_similarity(a, b, dim=0).item()
    assert clip_text("Looks away") == "A facial photo with looks away"
    assert clip.similarity(face, "A facial photo with looks away") == pytest.approx(expected, abs=1e-5)
    assert clip(face, {"stage_direction": None}) is None  # no direction, nothing to compare

    out = tmp_path / "rejected"
    report = draw_faces(tmp_path, identities, pipe, out, settings, checks=[clip], tries=2, progress=False)
    checked = [t for t in turns if t["stage_direction"]]
    assert report["rejected"] == len(checked) and report["failed_checks"] == {"clip": 2 * len(checked)}
    assert report.get("drawn", 0) == len(turns) - len(checked)  # turns without a direction have nothing to fail
    log = read_records(out / FACES_FILE, key=lambda r: (r["idx"], r["turn"]))
    rejected = [r for r in log if r["status"] == "rejected"]
    assert len(rejected) == len(checked) and all(r["attempts"] == 2 for r in rejected)
    assert all(r["checks"][0]["name"] == "clip" and not r["checks"][0]["passed"] for r in rejected)
    assert not [path for r in rejected for path in (out / r["idx"]).glob(f"turn:{r['turn']}_*.png")]
    # the faces filter: a dialogue with a rejected face is rejected; the others have no faces, so are not judged
    filtered = filter_dialogues(rows, tmp_path / "filtered", filters=("faces",), faces_dir=out, progress=False)
    assert filtered["rejected_dialogues"] == {
        rows[0]["idx"]: {"faces": [f"turn {r['turn']}: face rejected (clip)" for r in sorted(rejected, key=_turn)]}
    }
    assert filtered["filters"]["faces"]["not_judged_because"] == {"no face drawn": len(rows) - 1}
    first = filtered["face_checks_first_face"]
    assert first["turns"] == len(turns) and first["checks"]["clip"]["turns_percent"] == round(
        100 * len(checked) / len(turns), 2
    )
    assert first["checks"]["clip"]["dialogues_percent"] == 100.0 and first["checks"]["clip"]["paper_percent"] == 2.95
    again = draw_faces(tmp_path, identities, pipe, out, settings, checks=[clip], tries=2, progress=False)
    assert again.get("rejected", 0) == 0 and again["rejected_before"] == len(checked)  # not redrawn for nothing
    lenient = ClipCheck(str(clip_dir), threshold=-1.0, device="cpu")
    redone = draw_faces(tmp_path, identities, pipe, out, settings, checks=[lenient], redraw_rejected=True)
    assert redone["drawn"] == len(checked) and redone.get("rejected", 0) == 0

    # a check that fails each turn's first face: the second attempt's seed draws the face that is kept
    seen = set()

    def first_fails(image, turn):
        key = (turn["idx"], turn["turn"])
        passed = key in seen
        seen.add(key)
        return CheckResult("flaky", 0.0, passed)

    out = tmp_path / "redrawn"
    report = draw_faces(tmp_path, identities, pipe, out, settings, checks=[first_fails], progress=False)
    assert report["drawn"] == report["redrawn"] == len(turns) and report["failed_checks"] == {"flaky": len(turns)}
    assert {tuple(r["first_failed"]) for r in read_records(out / FACES_FILE, key=_turn)} == {("flaky",)}
    filtered = filter_dialogues(rows[:1], tmp_path / "kept", filters=("faces",), faces_dir=out, progress=False)
    assert filtered["kept"] == 1 and filtered["face_checks_first_face"]["checks"]["flaky"]["turns_percent"] == 100.0
    turn = turns[0]
    again = DrawRequest(turn["prompt"], turn["negative_prompt"], turn_seed(settings.seed, turn["idx"], turn["turn"], 1))
    (second,) = FaceDrawer(pipe, settings).draw(identities[turn["idx"]], [again])
    kept = next((out / turn["idx"]).glob(f"turn:{turn['turn']}_*.png"))
    with Image.open(kept) as image:
        assert np.array_equal(np.asarray(image.convert("RGB")), np.asarray(second))

    # NSFW: a classifier that finds every face unsafe rejects them all; one that finds them normal keeps them
    unsafe = NsfwCheck(str(build_tiny_nsfw_classifier(tmp_path / "nsfw-no", "nsfw")), device="cpu")
    safe = build_tiny_nsfw_classifier(tmp_path / "nsfw-ok", "normal")
    assert not unsafe(face, {}).passed and NsfwCheck(str(safe), device="cpu")(face, {}).passed
    args = ["synthesize", "faces", "--dataset", str(folder), "--expressions", str(tmp_path), "--out"]
    args += [str(tmp_path / "cli"), "--base-model", str(tiny_photomaker), "--adapter", str(tiny_photomaker)]
    args += ["--weight-name", "photomaker-tiny.bin", "--steps", "3", "--generation-size", "64", "--device", "cpu"]
    args += ["--checks", "clip,nsfw", "--clip-model", str(clip_dir), "--clip-threshold", "-1", "--nsfw-model"]
    assert main([*args, str(safe), "--tries", "1", "--quiet"]) == 0
    assert f"{len(turns)} faces drawn (0 after a failed check), 0 rejected" in capsys.readouterr().out
    assert main([*args, str(safe), "--checks", "sharpness"]) == 2  # an unknown check is named, nothing drawn


def test_identity_gender_and_age_are_read_by_deepface_against_the_client_face(
    dialogues, tiny_photomaker, tiny_encoder, tmp_path, monkeypatch, capsys
):
    import numpy as np
    from PIL import Image
    from tiny_models import build_tiny_deepface

    from mirror_hf.journal import read_records
    from mirror_hf.synthesis.checks import DeepFaceChecks
    from mirror_hf.synthesis.faces import FACES_FILE

    monkeypatch.setenv("DEEPFACE_HOME", str(build_tiny_deepface(tmp_path / "deepface")))
    monkeypatch.setenv("DEEPFACE_BACKEND_ENGINE", "onnx")
    deepface = DeepFaceChecks(detector_backend="skip")
    reads = []
    represent = deepface.deepface.represent
    monkeypatch.setattr(deepface.deepface, "represent", lambda *a, **k: reads.append(1) or represent(*a, **k))
    identity = Image.new("RGB", (178, 218), (200, 120, 60))
    turn = {"idx": "cactus-1-emotional-resistance", "identity": identity}

    def verdicts(colour, checks=None):
        face = Image.new("RGB", (336, 336), colour)
        return {r.name: r for r in (check(face, turn) for check in (checks or deepface.checks()))}

    same = verdicts((200, 120, 60))
    assert all(r.passed for r in same.values()) and len(reads) == 2  # the client's face read once, the face once

    def embedding(image):
        bgr = np.asarray(image)[:, :, ::-1].copy()
        return np.asarray(represent(bgr, model_name="ArcFace", detector_backend="skip")[0]["embedding"])

    embeddings = [embedding(identity), embedding(Image.new("RGB", (336, 336), (60, 120, 200)))]
    cosine = embeddings[0] @ embeddings[1] / (np.linalg.norm(embeddings[0]) * np.linalg.norm(embeddings[1]))
    other = verdicts((60, 120, 200))  # the tiny gender model reads channel 0 against channel 2: the other gender
    assert other["identity"].score == pytest.approx(cosine) and other["identity"].passed
    assert not other["gender"].passed and other["age"].passed
    older = verdicts((60, 200, 40))  # the tiny age model reads channel 1's share: ~35 years apart
    assert not older["age"].passed and older["age"].score > 10
    strict = DeepFaceChecks(identity_threshold=0.95, detector_backend="skip")
    assert not verdicts((60, 120, 200), strict.checks())["identity"].passed

    folder, rows = dialogues
    backend = ScriptedBackend("llama", lambda request: answer_for(request.messages[0]["content"]))
    asyncio.run(describe_expressions(rows[:1], backend, tmp_path / "faces", progress=False))
    args = ["synthesize", "faces", "--dataset", str(folder), "--out", str(tmp_path / "faces"), "--quiet"]
    args += ["--base-model", str(tiny_photomaker), "--adapter", str(tiny_photomaker), "--device", "cpu"]
    args += ["--weight-name", "photomaker-tiny.bin", "--steps", "3", "--generation-size", "64", "--tries", "2"]
    assert main([*args, "--checks", "identity,gender,age", "--face-detector", "skip"]) == 0
    log = read_records(tmp_path / "faces" / FACES_FILE, key=lambda r: (r["idx"], r["turn"]))
    client_turns = sum(turn["speaker"] == "client" for turn in rows[0]["turns"])
    assert len(log) == client_turns
    assert all([c["name"] for c in r["checks"]] == ["identity", "gender", "age"] for r in log)
    assert all(r["status"] == ("drawn" if all(c["passed"] for c in r["checks"]) else "rejected") for r in log)


def test_a_live_simulation_draws_each_client_turn_from_the_dialogue_so_far(tiny_photomaker, tiny_encoder):
    """LiveFaces in a VLM session (the authors' simulation): each client turn, the opening included, is described from
    the dialogue so far and drawn; the therapist sees that face; an unreadable description shows the identity face."""
    from test_simulation import PROFILE, therapist_answers

    from mirror_hf.simulation.client import ResistantClient
    from mirror_hf.simulation.session import run_session
    from mirror_hf.synthesis.faces import LiveFaces, PhotoMakerSettings, load_photomaker
    from mirror_hf.therapist import MirrorTherapist

    settings = PhotoMakerSettings(
        base_model=str(tiny_photomaker), adapter=str(tiny_photomaker), weight_name="photomaker-tiny.bin", steps=2,
        generation_size=64, size=48,
    )  # fmt: skip
    prompts = []

    def describe(request):
        prompt = request.messages[0]["content"]
        prompts.append(prompt)
        return "no idea" if "Second answer" in prompt else answer_for(prompt)

    faces = LiveFaces(ScriptedBackend("llama", describe), load_photomaker(settings, device="cpu"), settings)
    lines = ["Client: [Arms crossed]", "Client: [Sighs] First answer.", "Client: [Looks away] Second answer. [/END]"]
    client = ResistantClient(ScriptedBackend("client", lines), protocol=CORRECTED)
    therapist_backend = ScriptedBackend("therapist", therapist_answers)
    profile = {**PROFILE, "gender": "woman"}
    result = asyncio.run(
        run_session(
            profile, MirrorTherapist(therapist_backend, variant="planning_ec", protocol=CORRECTED), client, faces
        )
    )
    assert result.end_reason == "client_ended"
    client_turns = [(t, turn) for t, turn in enumerate(result.turns) if turn.speaker == "client"]
    assert [t for t, _ in client_turns] == [0, 2, 4]
    assert [turn.image.size for _, turn in client_turns] == [(48, 48), (48, 48), PROFILE["identity_image"].size]
    assert faces.stats == {"drawn": 2, "no_expression": 1}
    # the opening is described with no history; later turns with everything said before, stage directions included
    assert prompts[0].endswith("Dialogue History ###\n\n\nClient's Utterance ###\n[Arms crossed]")
    assert "Therapist: Therapist line 1\nClient: [Sighs] First answer." in prompts[-1]
    assert prompts[-1].endswith("Client's Utterance ###\n[Looks away] Second answer.")
    import base64
    import io

    from PIL import Image

    urls = [
        part["image_url"]["url"]
        for request in therapist_backend.requests
        for message in request.messages
        if isinstance(message["content"], list)
        for part in message["content"]
        if part.get("type") == "image_url"
    ]
    sizes = {Image.open(io.BytesIO(base64.b64decode(url.split(",", 1)[1]))).size for url in urls}
    assert (48, 48) in sizes  # the therapist was shown the drawn faces


def test_simulate_draw_faces_cli(dialogues, tiny_photomaker, tiny_encoder, tmp_path, capsys):
    """`mirror-hf simulate --draw-faces SPEC`: therapist, client and expression model over HTTP, faces drawn live."""
    from test_runner import client_answers
    from test_simulation import therapist_answers

    folder, _ = dialogues

    class Request:  # the scripted answers read a request's messages
        def __init__(self, body):
            self.messages = body["messages"]

    def answer(body, n):
        text = "\n".join(
            m["content"] if isinstance(m["content"], str) else " ".join(p.get("text", "") for p in m["content"])
            for m in body["messages"]
        )
        if "Client's Utterance ###" in text:
            return answer_for(body["messages"][0]["content"])
        if body["model"] == "client":
            return client_answers(Request(body))
        return therapist_answers(Request(body))

    server = ScriptedServer(answer=answer)
    args = ["simulate", "--profiles", f"{folder}:eval_profiles", "--therapist", f"therapist@{server.url}"]
    args += ["--client", f"client@{server.url}", "--out", str(tmp_path / "sim"), "--sessions", "1"]
    args += ["--draw-faces", f"llama@{server.url}", "--cache-dir", str(tmp_path / "cache"), "--checks", "none"]
    args += ["--base-model", str(tiny_photomaker), "--adapter", str(tiny_photomaker), "--device", "cpu"]
    args += ["--weight-name", "photomaker-tiny.bin", "--steps", "2", "--generation-size", "64", "--face-size", "40"]
    args += ["--protocol", "corrected"]  # the scripted answers follow the paper's prompts
    try:
        assert main(args) == 0
    finally:
        server.close()
    session = load_dataset(str(tmp_path / "sim"), split="train")[0]
    faces = [t["image"] for t in session["turns"] if t["speaker"] == "client"]
    assert faces and all(face.size == (40, 40) for face in faces)  # drawn, not the identity face
    assert f"faces drawn live: drawn {len(faces)}\n" in capsys.readouterr().out  # a count, not a dict's repr
    described = [r for r in server.requests if "Client's Utterance ###" in r["body"]["messages"][0]["content"]]
    assert len(described) == len(faces) and all(r["body"]["model"] == "llama" for r in described)


def test_the_image_checks_filter_the_built_turn_faces_as_the_authors_filtered_theirs(
    dialogues, tmp_path, monkeypatch, capsys
):
    import statistics

    from tiny_models import build_tiny_clip, build_tiny_deepface, build_tiny_nsfw_classifier

    from mirror_hf.synthesis.checks import ClipCheck, clip_text
    from mirror_hf.synthesis.filters import FILTERS_FILE

    folder, rows = dialogues
    clip_dir = build_tiny_clip(tmp_path / "clip")
    clip = ClipCheck(str(clip_dir), device="cpu")
    scores = {}  # every client turn's CLIP score, computed here
    for row in load_dataset(str(folder), "dialogues", split="train"):
        for t, turn in enumerate(row["turns"]):
            if turn["image"] is not None and turn["stage_direction"]:
                scores[(row["idx"], t)] = clip.similarity(turn["image"], clip_text(turn["stage_direction"]))
    lowest = sorted({idx: min(v for (i, _), v in scores.items() if i == idx) for idx, _ in scores}.values())
    threshold = statistics.fmean(lowest[1:3])  # between the second and third lowest dialogue: two fail
    expected = {idx for (idx, _), score in scores.items() if score < threshold}
    assert len(expected) == 2
    monkeypatch.setenv("DEEPFACE_HOME", str(build_tiny_deepface(tmp_path / "deepface")))
    out = tmp_path / "filtered"
    args = ["synthesize", "filter", "--dataset", str(folder), "--out", str(out), "--filters", "basic", "--quiet"]
    args += ["--image-checks", "clip,nsfw,identity,gender,age", "--clip-model", str(clip_dir), "--device", "cpu"]
    args += ["--nsfw-model", str(build_tiny_nsfw_classifier(tmp_path / "nsfw", "normal")), "--face-detector", "skip"]
    assert main([*args, "--clip-threshold", str(threshold)]) == 0
    report = json.loads((out / "filter_report.json").read_text())
    rejected_by = {
        name: {i for i, r in report["rejected_dialogues"].items() if name in r} for name in report["filters"]
    }
    assert rejected_by["clip"] == expected and rejected_by["nsfw"] == set()
    assert report["filters"]["clip"]["checked"] == len(rows) and report["filters"]["clip"]["paper_percent"] == 2.95
    for name in ("identity", "gender", "age"):  # the tiny DeepFace reads colours: each check gives a verdict
        assert report["filters"][name]["checked"] == len(rows)
    lines = (out / FILTERS_FILE).read_text().splitlines()
    clip_lines = [json.loads(line) for line in lines if json.loads(line)["filter"] == "clip"]
    assert sum(len(r["scores"]) for r in clip_lines) == len(scores)
    by_idx = {r["idx"]: r["scores"] for r in clip_lines}
    assert all(by_idx[idx][str(t)] == pytest.approx(score, abs=1e-5) for (idx, t), score in scores.items())

    assert main([*args, "--clip-threshold", str(threshold)]) == 0  # nothing left to do: nothing appended
    assert len((out / FILTERS_FILE).read_text().splitlines()) == len(lines)
    assert main([*args, "--clip-threshold", "-1"]) == 0  # another CLIP threshold: CLIP alone checks again
    again = [json.loads(line) for line in (out / FILTERS_FILE).read_text().splitlines()[len(lines) :]]
    assert {r["filter"] for r in again} == {"clip"} and len(again) == len(rows)
    report = json.loads((out / "filter_report.json").read_text())
    assert not [idx for idx, reasons in report["rejected_dialogues"].items() if "clip" in reasons]


def test_clip_holds_the_kth_face_against_the_kth_client_turn_as_the_authors_script_zips_them(tmp_path):
    from PIL import Image
    from tiny_models import build_tiny_clip

    from mirror_hf.errors import MirrorError
    from mirror_hf.synthesis.checks import ClipCheck, clip_text
    from mirror_hf.synthesis.filters import check_turn_faces

    said = ["Frowns", "Looks down", "Smiles faintly"]
    turns = [{"speaker": "therapist", "utterance": "Hello.", "stage_direction": None}]
    turns += [{"speaker": "client", "utterance": f"Line {i}.", "stage_direction": d} for i, d in enumerate(said)]
    dialogue = {"idx": "d-1", "turns": turns}
    red, blue = Image.new("RGB", (48, 48), (220, 20, 20)), Image.new("RGB", (48, 48), (20, 20, 220))
    faces = {2: red, 3: blue}  # the first client turn (1) has no face
    model = str(build_tiny_clip(tmp_path / "clip"))
    authors = ClipCheck(model, threshold=-1.0, device="cpu")  # pairing="authors" is the default
    by_turn = ClipCheck(model, threshold=-1.0, device="cpu", pairing="turn")
    [got] = check_turn_faces(dialogue, [authors], None, faces).values()
    # the faces of turns 2 and 3 against the first two client turns' directions, recorded under the faces' turns
    assert got["scores"] == pytest.approx({
        "2": authors.similarity(red, clip_text(said[0])), "3": authors.similarity(blue, clip_text(said[1]))
    }, abs=1e-6)  # fmt: skip
    [own] = check_turn_faces(dialogue, [by_turn], None, faces).values()
    assert own["scores"] == pytest.approx({
        "2": by_turn.similarity(red, clip_text(said[1])), "3": by_turn.similarity(blue, clip_text(said[2]))
    }, abs=1e-6)  # fmt: skip
    assert got["scores"] != pytest.approx(own["scores"], abs=1e-6)  # the two pairings give other verdicts here
    assert authors.settings["pairing"] != by_turn.settings["pairing"]  # so a changed pairing checks again

    with pytest.raises(MirrorError, match="one open_clip model config"):
        ClipCheck(str(tmp_path), device="cpu")  # a folder with no NAME.json
    with pytest.raises(MirrorError, match="cannot load CLIP") as err:
        ClipCheck("no-such-architecture", pretrained=None, device="cpu")
    assert "--clip-model" in str(err.value)
