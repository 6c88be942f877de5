"""The faster turn-face drawing (issue #20) on PhotoMaker's real pipeline (photomakerv) over a tiny SDXL built here:
`FaceDrawer` gives the package's own `pipe(...)` pixels one face at a time, computes a client's ID features once,
handles the trigger word as the authors' copy of the pipeline does, and draws several turns per UNet call within
float tolerance; the CLIP and NSFW checks give the same verdicts in a batch; the benchmark's tiny mode runs."""

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from tiny_models import tiny_photomaker_settings

from mirror_hf.synthesis.drawing import DrawRequest, FaceDrawer, trigger_token_ids

ROOT = Path(__file__).resolve().parents[1]
WORDS = ["down", "up", "away", "at the floor", "past you"]


@pytest.fixture(scope="module")
def tiny(tiny_photomaker):
    """The tiny pipeline loaded once for the module (the tiny ID encoder patched in only while it loads)."""
    import photomaker.pipeline
    from tiny_models import tiny_photomaker_encoder

    from mirror_hf.synthesis.faces import load_photomaker

    settings = tiny_photomaker_settings(tiny_photomaker, steps=4)
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(photomaker.pipeline, "PhotoMakerIDEncoder", tiny_photomaker_encoder())
        pipe = load_photomaker(settings, device="cpu")
    return pipe, settings


def identity(colour):
    from PIL import Image

    face = Image.new("RGB", (64, 64), colour)
    face.paste((20, 20, 20), (20, 30, 44, 40))
    return face


def requests(n: int, seed: int = 100) -> list[DrawRequest]:
    return [DrawRequest(f"a photo of a woman img, looking {w}", "smiling, cheerful", seed + k) for k, w in
            enumerate(WORDS[:n])]  # fmt: skip


def pixels(image) -> np.ndarray:
    return np.asarray(image.convert("RGB"), dtype=int)


def pipeline_face(pipe, settings, face, request):
    """The face as PhotoMaker's own pipeline call draws it (what `synthesize faces` called before the drawer)."""
    import torch
    from PIL import Image

    image = pipe(
        prompt=request.prompt, negative_prompt=request.negative_prompt, input_id_images=[face],
        num_inference_steps=settings.steps, start_merge_step=settings.start_merge_step,
        height=settings.generation_size, width=settings.generation_size,
        generator=torch.Generator(device="cpu").manual_seed(request.seed),
    ).images[0]  # fmt: skip
    return image.resize((settings.size, settings.size), Image.Resampling.BICUBIC)


def test_one_face_at_a_time_the_drawer_gives_photomakers_own_pixels(tiny):
    pipe, settings = tiny
    drawer = FaceDrawer(pipe, settings)
    for face in (identity((200, 150, 120)), identity((90, 60, 40))):  # a second client: its own features
        asked = requests(3)
        drawn = drawer.draw(face, asked)
        assert [d.size for d in drawn] == [(336, 336)] * 3
        for request, image in zip(asked, drawn, strict=True):
            assert np.array_equal(pixels(image), pixels(pipeline_face(pipe, settings, face, request)))
    assert np.abs(pixels(drawn[0]) - pixels(drawn[1])).max() > 50  # the turns are different faces


def test_a_clients_id_features_are_computed_once_for_all_its_turns(tiny):
    pipe, settings = tiny
    calls = []
    hook = pipe.id_encoder.vision_model.register_forward_hook(lambda *_: calls.append(1))
    try:
        drawer, first, second = FaceDrawer(pipe, settings, batch_size=2), identity((200, 150, 120)), identity((9, 9, 9))
        drawer.draw(first, requests(3))
        drawer.draw(first, requests(2, seed=7))
        assert len(calls) == 1
        drawer.draw(second, requests(1))
        assert len(calls) == 2
        pipe(prompt="a photo of a man img", negative_prompt="x", input_id_images=[first], num_inference_steps=1,
             height=64, width=64)  # fmt: skip
        assert len(calls) == 3  # the pipeline's own call computes them every time
    finally:
        hook.remove()


def test_several_turns_in_one_unet_call_are_the_same_faces_within_float_tolerance(tiny):
    pipe, settings = tiny
    face = identity((200, 150, 120))
    alone = FaceDrawer(pipe, settings).draw(face, requests(5))
    for batch_size in (2, 5):
        together = FaceDrawer(pipe, settings, batch_size=batch_size).draw(face, requests(5))
        gaps = [np.abs(pixels(a) - pixels(b)).max() for a, b in zip(alone, together, strict=True)]
        assert max(gaps) <= 2, gaps  # float rounding; a turn given another's prompt or seed would be ~100 off
    shuffled = FaceDrawer(pipe, settings, batch_size=5).draw(face, requests(5)[::-1])[::-1]
    assert (
        max(np.abs(pixels(a) - pixels(b)).max() for a, b in zip(alone, shuffled, strict=True)) <= 2
    )  # order does not matter


def test_the_trigger_word_is_taken_out_after_truncation_as_the_authors_pipeline_does(tiny):
    pipe, _ = tiny
    tokenizer = pipe.tokenizer_2
    trigger = tokenizer.convert_tokens_to_ids("img")
    bos, eos, pad = tokenizer.bos_token_id, tokenizer.eos_token_id, tokenizer.pad_token_id

    short = "a photo of a man img, tired"
    ids, position = trigger_token_ids(tokenizer, short, trigger)
    plain = tokenizer.encode(short)
    expected = [t for t in plain if t != trigger]
    assert ids == expected + [pad] * (77 - len(expected))  # a short prompt: the photomakerv package's tokens too
    assert ids[position] == plain[plain.index(trigger) - 1]  # the class word the trigger follows

    long = "a photo of a man img, " + "frowning, " * 12  # the tiny tokenizer spells letters: ~140 tokens
    ids, _ = trigger_token_ids(tokenizer, long, trigger)
    truncated = tokenizer(long, max_length=77, truncation=True).input_ids
    assert len(truncated) == 77 and truncated[0] == bos and truncated[-1] == eos
    assert ids == [t for t in truncated if t != trigger] + [pad]  # truncated first, ends in end-of-text, padded
    package_order = [t for t in tokenizer.encode(long) if t != trigger][:77]  # trigger out first, truncated after
    assert package_order[-1] != eos and package_order[:76] != ids[:76]

    from mirror_hf.errors import MirrorError

    with pytest.raises(MirrorError, match="trigger word exactly once"):
        trigger_token_ids(tokenizer, "a photo of a man, tired", trigger)


def test_the_clip_and_nsfw_checks_give_the_same_verdicts_in_a_batch(tmp_path, tiny):
    from tiny_models import build_tiny_clip, build_tiny_nsfw_classifier

    from mirror_hf.synthesis.checks import CheckResult, ClipCheck, NsfwCheck, check_faces

    pipe, settings = tiny
    faces = FaceDrawer(pipe, settings, batch_size=3).draw(identity((200, 150, 120)), requests(3))
    turns = [{"idx": "a", "turn": k, "stage_direction": d} for k, d in enumerate(["Looks down", None, "Sighs"])]
    clip = ClipCheck(str(build_tiny_clip(tmp_path / "clip")), threshold=-1.0, device="cpu")
    nsfw = NsfwCheck(str(build_tiny_nsfw_classifier(tmp_path / "nsfw", "nsfw")), device="cpu")
    for check in (clip, nsfw):
        batched, single = check.batch(faces, turns), [check(f, t) for f, t in zip(faces, turns, strict=True)]
        assert [r and (r.name, r.passed) for r in batched] == [r and (r.name, r.passed) for r in single]
        assert [r and r.score for r in batched] == pytest.approx([r and r.score for r in single], abs=1e-5)
    assert clip.batch(faces, turns)[1] is None  # no stage direction, nothing to compare
    assert len({r.score for r in clip.batch(faces, turns) if r}) == 2  # each face against its own direction

    order = []

    def one_at_a_time(image, turn):  # no batch method: all of a face's checks before the next face
        order.append(turn["turn"])
        return CheckResult("plain", 0.0, True)

    results = check_faces([clip, one_at_a_time, nsfw], faces, turns)
    assert [[r.name for r in found] for found in results] == [["clip", "plain", "nsfw"], ["plain", "nsfw"]] + [
        ["clip", "plain", "nsfw"]
    ]
    assert order == [0, 1, 2]


def test_synthesize_faces_draws_in_batches_with_redraws_and_refuses_a_zero_batch(
    dialogues, tiny_photomaker, tiny_encoder, tmp_path, capsys
):
    import asyncio

    from datasets import load_dataset
    from test_simulation import ScriptedBackend
    from test_synthesis import answer_for

    from mirror_hf.cli import main
    from mirror_hf.data.turn_images import index_turn_images
    from mirror_hf.synthesis.checks import CheckResult
    from mirror_hf.synthesis.expressions import describe_expressions
    from mirror_hf.synthesis.faces import IdentityFaceIndex, draw_faces, load_photomaker

    folder, rows = dialogues
    backend = ScriptedBackend("llama", lambda request: answer_for(request.messages[0]["content"]))
    asyncio.run(describe_expressions(rows[:2], backend, tmp_path / "faces", progress=False))
    args = ["synthesize", "faces", "--dataset", str(folder), "--expressions", str(tmp_path / "faces")]
    args += ["--base-model", str(tiny_photomaker), "--adapter", str(tiny_photomaker), "--weight-name"]
    args += ["photomaker-tiny.bin", "--steps", "3", "--generation-size", "64", "--device", "cpu", "--checks", "none"]
    assert main([*args, "--out", str(tmp_path / "one"), "--quiet"]) == 0
    assert main([*args, "--out", str(tmp_path / "three"), "--batch-size", "3", "--quiet"]) == 0
    one, three = index_turn_images(tmp_path / "one"), index_turn_images(tmp_path / "three")
    assert one.keys() == three.keys() and sum(len(t) for t in one.values()) > 3
    for idx, turns in one.items():
        assert turns.keys() == three[idx].keys()
        for t, path in turns.items():
            assert np.abs(pixels(_open(path)) - pixels(_open(three[idx][t]))).max() <= 2
    capsys.readouterr()
    assert main([*args, "--out", str(tmp_path / "zero"), "--batch-size", "0"]) == 2
    assert "--batch-size 0" in capsys.readouterr().err and not (tmp_path / "zero").exists()

    # a check that fails each turn's first face: the failed faces of a batch are drawn again together, with each
    # turn's second seed, and are the faces one-at-a-time drawing keeps
    def flaky():
        seen = set()

        def check(image, turn):
            key = (turn["idx"], turn["turn"])
            passed = key in seen or turn["turn"] % 4 == 1  # turns 1, 5, 9, ... pass at once
            seen.add(key)
            return CheckResult("flaky", 0.0, passed)

        return check

    settings = tiny_photomaker_settings(tiny_photomaker, steps=3)
    pipe = load_photomaker(settings, device="cpu")
    identities = IdentityFaceIndex(load_dataset(str(folder), "dialogues", split="train"))
    drawn_at_all = sum(len(turns) for turns in one.values())
    redrawn = sum(1 for turns in one.values() for t in turns if t % 4 != 1)
    assert 0 < redrawn < drawn_at_all  # some turns of a batch pass at once, the others are drawn again
    drawn = {}
    for batch_size in (1, 4):
        out = tmp_path / f"flaky{batch_size}"
        report = draw_faces(tmp_path / "faces", identities, pipe, out, settings, checks=[flaky()],
                            batch_size=batch_size, progress=False)  # fmt: skip
        assert report["redrawn"] == redrawn and report["drawn"] == drawn_at_all
        drawn[batch_size] = index_turn_images(out)
    for idx, turns in drawn[1].items():
        for t, path in turns.items():
            assert np.abs(pixels(_open(path)) - pixels(_open(drawn[4][idx][t]))).max() <= 2


def test_the_pipeline_loads_in_a_named_dtype_or_says_which_are_known(tiny_photomaker, tiny_encoder):
    import torch

    from mirror_hf.errors import MirrorError
    from mirror_hf.synthesis.faces import load_photomaker

    settings = tiny_photomaker_settings(tiny_photomaker, steps=2)
    pipe = load_photomaker(settings, device="cpu", dtype="bfloat16", channels_last=True)
    assert {p.dtype for p in pipe.unet.parameters()} == {torch.bfloat16}
    (face,) = FaceDrawer(pipe, settings).draw(identity((200, 150, 120)), requests(1))
    assert face.size == (336, 336) and pixels(face).std() > 1
    with pytest.raises(MirrorError, match="bfloat16, float16, float32"):
        load_photomaker(settings, device="cpu", dtype="half")


def test_another_scheduler_is_a_named_option_that_draws_other_faces(tiny, tiny_photomaker, tiny_encoder):
    from dataclasses import replace

    from mirror_hf.errors import MirrorError
    from mirror_hf.synthesis.faces import load_photomaker

    pipe, settings = tiny
    (ddim,) = FaceDrawer(pipe, settings).draw(identity((200, 150, 120)), requests(1))
    faster = replace(settings, scheduler="dpmpp_2m", steps=3)
    other = load_photomaker(faster, device="cpu")
    assert type(other.scheduler).__name__ == "DPMSolverMultistepScheduler"
    (dpm,) = FaceDrawer(other, faster).draw(identity((200, 150, 120)), requests(1))
    assert dpm.size == (336, 336) and np.abs(pixels(dpm) - pixels(ddim)).mean() > 0
    with pytest.raises(MirrorError, match="ddim, dpmpp_2m"):
        load_photomaker(replace(settings, scheduler="euler"), device="cpu")


def test_the_synthesis_benchmark_runs_its_tiny_mode(tmp_path):
    """The benchmark's own code path on the CPU: two variants and the checks' timing, each one line."""
    done = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "synthesis_throughput.py"), "--tiny", "--device", "cpu",
         "--faces", "2", "--variants", "authors,batch2", "--checks"],
        capture_output=True, text=True, timeout=600, cwd=tmp_path,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-2000:]
    lines = [line for line in done.stdout.splitlines() if line.startswith("synthesis_throughput:")]
    assert len(lines) == 4 and "faces/GPU-hour" in lines[0] and "authors" in lines[0]
    assert lines[1].startswith("synthesis_throughput: batch2") and "pixels vs authors: max " in lines[1]
    assert int(lines[1].split("pixels vs authors: max ")[1].split(",")[0]) <= 2
    assert "check clip" in lines[2] and "check nsfw" in lines[3] and "in a batch of 2" in lines[3]
    typo = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "synthesis_throughput.py"), "--tiny", "--variants", "batch0"],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert typo.returncode != 0 and "unknown variant part 'batch0'" in typo.stderr


def _open(path):
    from PIL import Image

    with Image.open(path) as image:
        return image.convert("RGB")
