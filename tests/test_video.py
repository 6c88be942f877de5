"""`mirror-hf video`: AnnoMI-format transcripts with AnnoMI's quirks, videos found by id, faces cropped from a video
that the tests draw and encode with PyAV (checked by their content), a run with a tiny local VLM therapist, resume
without decoding again, and bad input."""

import csv
import json
import shutil

import pytest
from browser import browser, needs_browser  # noqa: F401  (fixture)
from video_writer import T1_MIDDLES, URL, segment, tint, write_transcripts, write_video

from mirror_hf.cli import main
from mirror_hf.errors import MirrorError
from mirror_hf.video import frames as frames_module
from mirror_hf.video.frames import FaceFinder, FrameSettings, choose_face, extract_faces, sharpness
from mirror_hf.video.transcripts import find_videos, parse_timestamp, read_transcripts, video_key

VIDEO_NAME = "Session one [abcDEF12345].mp4"


@pytest.fixture(scope="module")
def media(tmp_path_factory):
    root = tmp_path_factory.mktemp("annomi")
    (root / "videos").mkdir()
    write_video(root / "videos" / VIDEO_NAME)
    write_transcripts(root / "AnnoMI-simple.csv")
    write_transcripts(root / "AnnoMI-full.csv", full=True)
    return root


def by_id(transcripts):
    return {t.transcript_id: t for t in transcripts}


def test_the_reader_takes_annomis_quirks_as_stated(media):
    transcripts, counts = read_transcripts(media / "AnnoMI-simple.csv")
    t1 = by_id(transcripts)["t1"]
    assert [u.utterance_id for u in t1.utterances] == list(range(8))  # the file was in reverse order
    assert [u.start for u in t1.utterances] == [0.0, 4.0, 8.0, 10.0, 14.0, None, 18.0, 22.0]
    assert counts["timestamps_repaired"] == 1 and counts["timestamps_backwards"] == 1 and counts["transcripts"] == 3
    assert t1.span(5) == (14.0, 18.0) and t1.span(7) == (22.0, None)
    assert t1.utterances[1].labels == {"main_therapist_behaviour": None, "client_talk_type": "neutral"}
    assert t1.fields == {"mi_quality": "high", "video_title": "Session t1", "topic": "reducing alcohol consumption"}
    full, full_counts = read_transcripts(media / "AnnoMI-full.csv")
    f1 = by_id(full)["t1"]
    assert [(u.text, u.start) for u in f1.utterances] == [(u.text, u.start) for u in t1.utterances]
    assert f1.utterances[1].labels["client_talk_type"] is None and full_counts["labels_disagreeing"] == 1
    assert f1.utterances[3].labels["client_talk_type"] == "neutral"
    assert parse_timestamp("01:02:03.5") == (3723.5, False) and parse_timestamp("12:61") == (None, False)
    assert parse_timestamp("00:09:025") == (565.0, True) and parse_timestamp("00:09:125") == (None, False)


def test_videos_are_found_by_their_id_shared_and_missing_ones_listed(media, tmp_path):
    transcripts, _ = read_transcripts(media / "AnnoMI-simple.csv")
    found = find_videos(transcripts, media / "videos")
    assert found == {"t1": media / "videos" / VIDEO_NAME, "t2": media / "videos" / VIDEO_NAME}  # t3: none
    assert video_key("https://youtu.be/abcDEF12345?t=3") == "abcDEF12345" and video_key("https://vimeo.com/12345678")
    (tmp_path / "map.csv").write_text(f"video_url,file\n{URL},clip.mp4\n")
    shutil.copy(media / "videos" / VIDEO_NAME, tmp_path / "clip.mp4")
    assert find_videos(transcripts, None, tmp_path / "map.csv")["t1"] == (tmp_path / "clip.mp4").resolve()
    twice = tmp_path / "twice"
    twice.mkdir()
    for name in ("a [abcDEF12345].mp4", "b abcDEF12345.mkv"):
        (twice / name).write_bytes(b"")
    with pytest.raises(MirrorError, match="2 files hold its video id abcDEF12345"):
        find_videos(transcripts, twice)


def crop_tint(image):
    return image.getpixel((168, 200))  # inside the client's face in every crop of it


def close(a, b, tolerance=14):
    return all(abs(x - y) <= tolerance for x, y in zip(a, b, strict=True))


def test_the_faces_are_the_clients_at_the_middle_of_each_span(media, tmp_path, monkeypatch):
    from PIL import Image

    transcripts, _ = read_transcripts(media / "AnnoMI-simple.csv")
    t1 = by_id(transcripts)["t1"]
    calls = []
    frame_at = frames_module.VideoReader.frame_at
    monkeypatch.setattr(frames_module.VideoReader, "frame_at", lambda self, t: calls.append(t) or frame_at(self, t))
    records = extract_faces(t1, media / "videos" / VIDEO_NAME, tmp_path, finder=FaceFinder())
    assert {r["utterance_id"]: r["time"] for r in records} == T1_MIDDLES
    for r in records:
        face = Image.open(tmp_path / r["image"])
        assert face.size == (336, 336) and r["face_found"]
        assert close(crop_tint(face), tint(segment(r["time"]))), (r, crop_tint(face))
        x, y, w, h = r["box"]
        assert x + w / 2 < 320  # the client's face: the larger, on the left
    # a rerun decodes nothing; other settings in the same folder are refused
    assert extract_faces(t1, media / "videos" / VIDEO_NAME, tmp_path, finder=FaceFinder()) == records
    assert len(calls) == 4
    with pytest.raises(MirrorError, match="other frame settings"):
        extract_faces(t1, media / "videos" / VIDEO_NAME, tmp_path, settings=FrameSettings(client_face="right"))
    # the rule for two faces, and a crop box instead of detection
    settings = FrameSettings(client_face="right")
    right = extract_faces(t1, media / "videos" / VIDEO_NAME, tmp_path / "r", settings=settings, finder=FaceFinder())
    assert all(r["box"][0] > 320 for r in right)
    assert close(crop_tint(Image.open(tmp_path / "r" / right[0]["image"])), (200, 170, 140))
    boxed = extract_faces(t1, media / "videos" / VIDEO_NAME, tmp_path / "b", box=(100, 80, 160, 200))
    assert [r["box"] for r in boxed] == [[100, 80, 160, 200]] * 4
    assert close(Image.open(tmp_path / "b" / boxed[1]["image"]).getpixel((168, 150)), tint(segment(12.0)))


def test_sharpest_prefers_the_sharp_frame_and_rules_choose_faces():
    from PIL import Image, ImageDraw, ImageFilter

    sharp = Image.new("RGB", (64, 64), "white")
    ImageDraw.Draw(sharp).rectangle([10, 10, 40, 40], fill="black")
    assert sharpness(sharp) > sharpness(sharp.filter(ImageFilter.GaussianBlur(3)))
    boxes = [(0, 0, 10, 10), (100, 0, 30, 30), (50, 0, 20, 20)]
    assert choose_face(boxes, "largest") == (100, 0, 30, 30)
    assert choose_face(boxes, "left") == (0, 0, 10, 10) and choose_face(boxes, "right") == (100, 0, 30, 30)
    assert choose_face([], "largest") is None


def test_a_tiny_therapist_answers_real_sessions_and_a_killed_run_resumes(media, tiny_llava, tmp_path, capsys):
    out = tmp_path / "out"
    args = ["video", "--transcripts", str(media / "AnnoMI-simple.csv"), "--videos", str(media / "videos"),
            "--therapist", f"local:{tiny_llava}", "--variant", "planning_ec", "--out", str(out),
            "--protocol", "corrected,therapist_max_tokens=6"]  # fmt: skip
    assert main(args) == 0
    captured = capsys.readouterr()
    assert "1 transcript(s) without a video file, left out: t3" in captured.err
    report = json.loads((out / "video_report.json").read_text())
    # answer points: t1 utterances 2, 4, 6 (each after a client turn); t2 utterance 1
    assert report["turns"] == 4 and report["answered"] == 4 and report["sessions"] == 2
    assert report["repairs"] == {"timestamps_repaired": 1, "timestamps_backwards": 1, "timestamps_unreadable": 0,
                                 "labels_disagreeing": 0} and report["without_video"] == ["t3"]  # fmt: skip
    from datasets import load_dataset

    rows = load_dataset(str(out), split="train")
    assert rows.num_rows == 4 and rows[0]["face"].size == (336, 336)
    assert {(r["transcript_id"], r["utterance_id"], r["client_utterance_id"]) for r in rows} == {
        ("t1", 2, 1),
        ("t1", 4, 3),
        ("t1", 6, 5),
        ("t2", 1, 0),
    }
    assert all(r["caption"] is not None and r["answer"] is not None for r in rows)
    assert rows.filter(lambda r: r["utterance_id"] == 4 and r["transcript_id"] == "t1")[0]["real_therapist"] == (
        "therapist line 4 of t1"
    )
    page = (out / "pages" / "t1.html").read_text()
    assert page.count('<section class="turn"') == 3 and "Real therapist:</b> therapist line 2 of t1" in page
    assert 'src="../frames/t1/1.png"' in page

    # "killed" after the first answer: the rerun decodes no frame again and asks only the missing turns
    lines = (out / "turns.jsonl").read_text().splitlines()
    (out / "turns.jsonl").write_text(lines[0] + "\n" + lines[1][:20])
    frames_before = (out / "frames.jsonl").read_text()
    assert main(args) == 0
    assert (out / "frames.jsonl").read_text() == frames_before
    assert json.loads((out / "video_report.json").read_text())["answered"] == 4
    kept = json.loads(lines[0])
    assert json.loads((out / "turns.jsonl").read_text().splitlines()[0]) == kept

    # the model against the real therapist, turn by turn, as a pairwise study
    study = tmp_path / "study"
    assert main(["pairwise", "sample", "--video", str(out), "--n", "5", "--out", str(study)]) == 2
    assert "has 4 answered turns" in capsys.readouterr().err
    assert main(["pairwise", "sample", "--video", str(out), "--n", "4", "--label", "tiny", "--out", str(study)]) == 0
    from mirror_hf.pairwise.study import read_items, read_study

    items = read_items(study)
    assert {frozenset((i["model_a"], i["model_b"])) for i in items} == {frozenset(("tiny", "real therapist"))}
    sessions = json.loads((study / "app/sessions.json").read_text())

    def real_side(i):
        return sessions[i["session_a"] if i["model_a"] == "real therapist" else i["session_b"]]

    item = next(i for i in items if real_side(i)[-1]["text"] == "therapist line 4 of t1")
    a, b = sessions[item["session_a"]], sessions[item["session_b"]]
    assert a[:-1] == b[:-1] and [t["speaker"] for t in a] == ["counselor", "client"] * 2 + ["counselor"]
    assert a[1]["face"] and a[3]["face"] and not a[0]["face"]  # the client's faces at its own lines
    from mirror_hf.pairwise.answer_store import AnswerStore

    store = AnswerStore(study / "answers", study_id=read_study(study)["study_id"])
    for i in items:  # the annotator prefers the real therapist
        side = "A" if i["model_a"] == "real therapist" else "B"
        store.save("ana", i["item_id"], {"goal": side, "approach": side, "bond": "Tie"})
    assert main(["pairwise", "report", str(study), "--out", str(tmp_path / "r"), "--bootstrap", "20"]) == 0
    result = json.loads((tmp_path / "r/pairwise_report.json").read_text())
    assert result["humans"]["goal"]["beats"]["real therapist"]["tiny"] == 100.0
    assert result["humans"]["bond"]["win_rate"] == {"tiny": 50.0, "real therapist": 50.0}
    assert result["per_resistance"] == {}


def test_bad_input_names_the_file_and_row(media, tmp_path, capsys):
    broken = tmp_path / "broken.csv"
    rows = list(csv.DictReader((media / "AnnoMI-simple.csv").open()))
    with broken.open("w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=[c for c in rows[0] if c != "timestamp"])
        writer.writeheader()
        writer.writerows({k: v for k, v in r.items() if k != "timestamp"} for r in rows)
    base = ["video", "--videos", str(media / "videos"), "--therapist", "m@http://127.0.0.1:9/v1", "--out"]
    assert main([*base, str(tmp_path / "o1"), "--transcripts", str(broken)]) == 2
    assert f"{broken}: missing column(s) timestamp" in capsys.readouterr().err
    rows[3]["interlocutor"] = "narrator"
    with broken.open("w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    assert main([*base, str(tmp_path / "o2"), "--transcripts", str(broken)]) == 2
    assert f"{broken}, row 4: interlocutor 'narrator'" in capsys.readouterr().err
    (tmp_path / "empty").mkdir()
    assert main([*base[:1], "--videos", str(tmp_path / "empty"), *base[3:], str(tmp_path / "o3"),
                 "--transcripts", str(media / "AnnoMI-simple.csv")]) == 2  # fmt: skip
    assert "no transcript has a video file" in capsys.readouterr().err
    (tmp_path / "bad").mkdir()
    (tmp_path / "bad" / VIDEO_NAME).write_bytes(b"not a video at all")
    transcripts, _ = read_transcripts(media / "AnnoMI-simple.csv")
    with pytest.raises(MirrorError, match="cannot read this video"):
        extract_faces(by_id(transcripts)["t1"], tmp_path / "bad" / VIDEO_NAME, tmp_path / "o4")
    with pytest.raises(MirrorError, match="no such video file"):
        extract_faces(by_id(transcripts)["t1"], tmp_path / "nowhere.mp4", tmp_path / "o5")


@needs_browser
def test_the_session_page_shows_faces_and_both_answers_in_a_browser(media, tmp_path, browser):  # noqa: F811
    from selenium.webdriver.common.by import By

    from mirror_hf.video.run import write_pages

    transcripts, _ = read_transcripts(media / "AnnoMI-simple.csv")
    records = extract_faces(by_id(transcripts)["t1"], media / "videos" / VIDEO_NAME, tmp_path, finder=FaceFinder())
    rows = [
        {"transcript_id": "t1", "utterance_id": r["utterance_id"] + 1, "client_text": f"client {r['utterance_id']}",
         "face": r["image"], "frame_time": r["time"], "real_therapist": "what the therapist said", "answer": "<ours>",
         "caption": "guarded", "failure": None}
        for r in records
    ]  # fmt: skip
    page = write_pages(tmp_path, rows, "tiny-pec")[0]
    browser.get(page.as_uri())
    sections = browser.find_elements(By.CSS_SELECTOR, "section.turn")
    assert len(sections) == 4
    widths = [int(i.get_attribute("naturalWidth")) for i in browser.find_elements(By.CSS_SELECTOR, "section img")]
    assert widths == [336] * 4  # every face file resolved from the page
    text = sections[0].text
    assert "tiny-pec: <ours>" in text and "Real therapist: what the therapist said" in text and "guarded" in text


def test_a_video_folder_is_pushed_only_privately_or_without_its_faces(media, tmp_path):
    from hub_server import HubServer

    from mirror_hf.journal import append_record
    from mirror_hf.video.run import write_video_dataset

    transcripts, _ = read_transcripts(media / "AnnoMI-simple.csv")
    t1 = by_id(transcripts)["t1"]
    out = tmp_path / "out"
    records = extract_faces(t1, media / "videos" / VIDEO_NAME, out, box=(100, 80, 160, 200))
    for r in records:
        append_record(out / "turns.jsonl", {
            "transcript_id": "t1", "utterance_id": r["utterance_id"] + 1, "client_utterance_id": r["utterance_id"],
            "client_text": "c", "face": r["image"], "face_found": True, "frame_time": r["time"],
            "real_therapist": "r", "answer": "a b c", "caption": None, "technique": None, "plan": None, "failure": None,
        })  # fmt: skip
    report = write_video_dataset(out, transcripts=[t1], therapist="tiny", notes={})
    assert report["words_per_turn"]["model"]["mean"] == 3
    hub = HubServer()
    try:

        def push(*args):
            return hub.cli("push", str(out), "lab/annomi-pec", *args, home=tmp_path / "home")

        refused = push()
        assert refused.returncode == 2 and "4 face image(s)" in refused.stderr and "real people" in refused.stderr
        assert push("--drop-images").returncode == 0
        files = hub.repos[("datasets", "lab/annomi-pec")].files
        assert {"README.md", "video_report.json", "data/turns/train-00000-of-00001.parquet"} <= set(files)
        assert not any(n.startswith(("frames/", "pages/")) for n in files)
        assert "lab/annomi-pec" in files["README.md"].decode()
    finally:
        hub.close()
