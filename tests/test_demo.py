"""`mirror-hf demo`: the crisis gate on our labelled set, the output check, the referral message and its log, the app
in headless Chromium against a loopback therapist server (an answer with its caption and plan; a crisis message
answered with the referral and **no** request to the server; no face, an oversized image, an unreachable back-end),
and the Space folder pushed to the loopback Hub with a card whose YAML validates."""

import json
import subprocess
import sys

import pytest
import yaml
from browser import browser, needs_browser  # noqa: F401  (fixture)
from crisis_phrases import CRISIS, IDIOMS
from helpers import free_port, wait_for
from hub_server import HubServer, validate_card

from mirror_hf.cli import main
from mirror_hf.demo.safety import REFERRAL, CrisisDetector, EventLog, Hit, check_answer, load_referral
from mirror_hf.errors import MirrorError


def test_the_gate_catches_every_crisis_phrasing_of_our_set_in_its_category():
    detector = CrisisDetector()
    missed = [(text, category, detector.check(text)) for text, category in CRISIS]
    missed = [m for m in missed if m[2] is None or m[2].category != m[1]]
    assert missed == []
    # the idioms the issue names pass; the rate over the whole idiom set is benchmarks/crisis_gate.py's to report
    for idiom in ("this job is killing me", "I could die of embarrassment"):
        assert idiom in IDIOMS and detector.check(idiom) is None


def test_answers_with_method_details_or_dismissal_are_blocked():
    assert check_answer("The lethal dose would be ...").category == "method"
    assert check_answer("Take 40 pills and you will sleep.").category == "method"
    assert check_answer("You're just being dramatic, it's not a big deal.").category == "dismissal"
    assert check_answer("It sounds like the cancellation stayed with you. What went through your mind?") is None


def test_the_referral_message_and_the_event_log(tmp_path):
    assert load_referral() == REFERRAL and "findahelpline.com" in REFERRAL
    resources = tmp_path / "resources.json"
    resources.write_text(json.dumps({"default": "Call someone.", "GB": "Call Samaritans."}))
    assert load_referral(resources, "GB") == "Call Samaritans." and load_referral(resources) == "Call someone."
    with pytest.raises(MirrorError, match="no message for 'FR'"):
        load_referral(resources, "FR")
    with pytest.raises(MirrorError, match="--region picks an entry"):
        load_referral(None, "GB")
    log = EventLog(tmp_path / "events.jsonl")
    log.record("input", CrisisDetector().check("I want to die"), "I want to die")
    event = json.loads((tmp_path / "events.jsonl").read_text())
    assert event["category"] == "suicide" and event["where"] == "input" and "text" not in event
    EventLog(tmp_path / "kept.jsonl", keep_text=True).record("output", check_answer("lethal dose"), "lethal dose")
    assert json.loads((tmp_path / "kept.jsonl").read_text())["text"] == "lethal dose"


def therapist_answer(body, n):
    prompt = json.dumps(body["messages"])
    if "Choose an appropriate CBT technique" in prompt:
        return "CBT technique:\nReality Testing\n\nCounseling planning:\n1. Check the evidence.\n2. Try a small step."
    if "emotional state" in prompt:
        return "Looks tense"
    return "That sounds heavy. What happened before the call?"


def serve_demo(spec: str, tmp_path):
    port = free_port()
    args = ["demo", "--therapist", spec, "--variant", "planning_ec", "--protocol", "corrected", "--port", str(port),
            "--log", str(tmp_path / "events.jsonl"), "--retries", "0", "--timeout", "5"]  # fmt: skip
    process = subprocess.Popen([sys.executable, "-m", "mirror_hf", *args], stdout=subprocess.PIPE,
                               stderr=subprocess.STDOUT, text=True)  # fmt: skip
    url = f"http://127.0.0.1:{port}/"
    try:
        wait_for(url, process)
    except AssertionError:
        process.kill()
        raise
    return process, url


def faces(tmp_path):
    from PIL import Image

    small, large = tmp_path / "face.png", tmp_path / "huge.png"
    Image.new("RGB", (336, 336), (200, 160, 140)).save(small)
    Image.new("RGB", (5000, 4000), (200, 160, 140)).save(large)
    return small, large


@needs_browser
def test_the_demo_answers_with_caption_and_plan_and_never_sends_a_crisis_message(
    tmp_path,
    server_factory,
    browser,  # noqa: F811
):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as ec
    from selenium.webdriver.support.ui import WebDriverWait

    server = server_factory(answer=therapist_answer)
    process, url = serve_demo(f"tiny@{server.url}", tmp_path)
    small, large = faces(tmp_path)
    wait = WebDriverWait(browser, 40)
    try:
        browser.get(url)
        box = wait.until(ec.visibility_of_element_located((By.CSS_SELECTOR, "#message textarea")))
        assert "not therapy" in browser.find_element(By.ID, "statement").text
        assert "not therapy" in browser.find_element(By.ID, "statement-footer").text

        def say(text):
            box.clear()
            box.send_keys(text)
            browser.execute_script("arguments[0].click()", browser.find_element(By.ID, "send"))

        say("My sister made me come.")  # no face yet
        wait.until(ec.text_to_be_present_in_element((By.ID, "notice"), "Show a face"))
        assert server.requests == []
        upload = browser.find_element(By.CSS_SELECTOR, "#face input[type=file]")
        upload.send_keys(str(large))
        wait.until(ec.presence_of_element_located((By.CSS_SELECTOR, "#face img")))  # the upload has arrived
        say("My sister made me come.")
        wait.until(ec.text_to_be_present_in_element((By.ID, "notice"), "at most 4096x4096"))
        assert server.requests == []
        clear = browser.find_element(By.CSS_SELECTOR, "#face button[aria-label='Remove Image']")
        browser.execute_script("arguments[0].click()", clear)
        upload = wait.until(ec.presence_of_element_located((By.CSS_SELECTOR, "#face input[type=file]")))
        upload.send_keys(str(small))
        wait.until(ec.presence_of_element_located((By.CSS_SELECTOR, "#face img")))
        say("My sister made me come.")
        wait.until(ec.text_to_be_present_in_element((By.ID, "chat"), "That sounds heavy"))
        assert "Looks tense" in browser.find_element(By.ID, "insight").text
        assert "Reality Testing" in browser.find_element(By.ID, "insight").text
        answered = len(server.requests)
        assert answered == 3  # caption, plan, answer; each with the face
        assert all("image_url" in json.dumps(r["body"]["messages"]) for r in server.requests)

        say("Honestly, some days I just want to end it all.")
        wait.until(ec.text_to_be_present_in_element((By.ID, "chat"), "findahelpline.com"))
        assert len(server.requests) == answered  # the model never saw it
        event = json.loads((tmp_path / "events.jsonl").read_text().splitlines()[-1])
        assert event["category"] == "suicide" and "text" not in event
    finally:
        process.terminate()
        process.wait(timeout=30)


@needs_browser
def test_an_unreachable_therapist_is_a_message_not_a_traceback(tmp_path, browser):  # noqa: F811
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as ec
    from selenium.webdriver.support.ui import WebDriverWait

    process, url = serve_demo(f"tiny@http://127.0.0.1:{free_port()}/v1", tmp_path)
    small, _ = faces(tmp_path)
    wait = WebDriverWait(browser, 40)
    try:
        browser.get(url)
        box = wait.until(ec.visibility_of_element_located((By.CSS_SELECTOR, "#message textarea")))
        browser.find_element(By.CSS_SELECTOR, "#face input[type=file]").send_keys(str(small))
        wait.until(ec.presence_of_element_located((By.CSS_SELECTOR, "#face img")))
        box.send_keys("Hello?")
        browser.execute_script("arguments[0].click()", browser.find_element(By.ID, "send"))
        wait.until(ec.text_to_be_present_in_element((By.ID, "notice"), "could not answer"))
        assert "127.0.0.1" in browser.find_element(By.ID, "notice").text
        assert browser.find_element(By.CSS_SELECTOR, "#message textarea").get_attribute("value") == "Hello?"
    finally:
        process.terminate()
        output = process.communicate(timeout=30)[0]
    assert "Traceback" not in output


def test_the_space_folder_pushes_as_a_space_with_a_valid_card(tmp_path):
    space = tmp_path / "space"
    resources = tmp_path / "resources.json"
    resources.write_text(json.dumps({"default": "Call someone."}))
    assert main(["demo", "--therapist", "local:me/mirror-llava-ec", "--write-space", str(space),
                 "--crisis-resources", str(resources)]) == 0  # fmt: skip
    card = (space / "README.md").read_text()
    meta = yaml.safe_load(card.split("---\n")[1])
    assert meta["sdk"] == "gradio" and meta["app_file"] == "app.py" and meta["suggested_hardware"] == "t4-small"
    assert meta["models"] == ["me/mirror-llava-ec"] and validate_card(card) == []
    assert "not therapy" in card and json.loads((space / "demo_config.json").read_text())["variant"] == "planning_ec"
    assert (space / "crisis_resources.json").is_file()
    hub = HubServer()
    try:
        done = hub.cli("push", str(space), "lab/mirror-demo", home=tmp_path / "home")
        assert done.returncode == 0, done.stderr
        files = hub.repos[("spaces", "lab/mirror-demo")].files
        assert {"README.md", "app.py", "requirements.txt", "demo_config.json"} <= set(files)
        assert validate_card(files["README.md"].decode()) == []
    finally:
        hub.close()


def test_the_model_card_links_its_demo_space_and_keeps_its_yaml(tmp_path):
    adapter = tmp_path / "adapter"
    adapter.mkdir()
    head = "---\nbase_model: llava-hf/llava-1.5-7b-hf\npipeline_tag: image-text-to-text\nwidget:\n- text: Hi\n---\n"
    (adapter / "README.md").write_text(head + "# My therapist\n\n## Citation\n\ncite us\n")
    args = ["demo", "--therapist", "local:me/ec", "--write-space", str(tmp_path / "s"), "--link-card", str(adapter)]
    assert main([*args, "me/ec-demo"]) == 0
    assert main([*args, "me/ec-demo-2"]) == 0  # again: one link, the new one
    card = (adapter / "README.md").read_text()
    assert card.startswith("---\n") and yaml.safe_load(card.split("---\n")[1])["widget"] == [{"text": "Hi"}]
    assert card.count("## Try it") == 1 and "https://huggingface.co/spaces/me/ec-demo-2" in card
    assert card.index("## Try it") < card.index("## Citation")
    assert main(["demo", "--therapist", "local:me/ec", "--link-card", str(adapter), "me/x"]) == 2


def test_an_operators_classifier_runs_locally_beside_the_rules(tmp_path):
    from tiny_models import build_tiny_text_classifier

    alarmed = CrisisDetector(str(build_tiny_text_classifier(tmp_path / "alarmed")))
    assert alarmed.label == "crisis"
    assert alarmed.check("the weather is nice") == Hit("classifier", "crisis")
    calm = CrisisDetector(str(build_tiny_text_classifier(tmp_path / "calm", favour="ok")), label="crisis")
    assert calm.check("the weather is nice") is None
    assert calm.check("I want to die").category == "suicide"  # the rules still come first
    with pytest.raises(MirrorError, match="name the crisis label with --crisis-label"):
        CrisisDetector(str(tmp_path / "calm"), label="danger")
    with pytest.raises(MirrorError, match="cannot load the crisis classifier"):
        CrisisDetector(str(tmp_path / "nowhere"))
