"""The pairwise annotation app for real: `mirror-hf pairwise annotate` served and used in headless Chromium
(Debian's chromium + chromedriver, driven by Selenium; .ci/run installs them), the app folder run as a Space
without mirror-hf, answers pushed to and restored from a loopback Hub through CommitScheduler, and the study and its
app pushed with `mirror-hf push` (faces only to a private Space)."""

import json
import os
import shutil
import subprocess
import sys
import urllib.request
from pathlib import Path

import pytest
from browser import browser, needs_browser  # noqa: F401  (fixture)
from helpers import free_port, wait_for
from hub_server import HubServer
from pairwise_runs import specs, write_runs

from mirror_hf.cli import main
from mirror_hf.pairwise.answer_store import read_answer_file
from mirror_hf.pairwise.study import read_items, read_study


@pytest.fixture
def study(tmp_path):
    runs = write_runs(tmp_path / "runs")
    out = tmp_path / "study"
    assert main(["pairwise", "sample", *specs(runs), "--n", "3", "--annotators", "ana,ben", "--out", str(out)]) == 0
    return out


@pytest.fixture
def served(study):
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "mirror_hf", "pairwise", "annotate", str(study), "--port", str(port)],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    url = f"http://127.0.0.1:{port}/"
    try:
        wait_for(url, process)
        yield url
    finally:
        process.terminate()
        process.wait(timeout=30)


def token_of(study: Path, name: str) -> str:
    for line in (study / "annotator_links.txt").read_text().splitlines():
        who, _, query = line.partition("\t")
        if who == name:
            return query.removeprefix("?token=")
    raise KeyError(name)


@needs_browser
def test_an_annotator_signs_in_answers_reloads_and_resumes(study, served, browser):  # noqa: F811
    from selenium.common.exceptions import TimeoutException
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as ec
    from selenium.webdriver.support.ui import WebDriverWait

    wait = WebDriverWait(browser, 30)

    def text_in(element_id: str, text: str) -> str:
        wait.until(ec.text_to_be_present_in_element((By.ID, element_id), text))
        return browser.find_element(By.ID, element_id).text

    def pick(dimension: str, choice: str) -> None:
        browser.find_element(By.CSS_SELECTOR, f"#answer-{dimension} input[value='{choice}']").click()

    browser.get(served)
    name = wait.until(
        ec.visibility_of_element_located((By.CSS_SELECTOR, "#annotator-name input, #annotator-name textarea"))
    )
    for _ in range(6):  # the field can show before the page's handlers are connected (a loaded machine): try again
        name.clear()
        name.send_keys("zoe")
        browser.find_element(By.ID, "sign-in").click()
        try:
            WebDriverWait(browser, 10).until(
                ec.text_to_be_present_in_element((By.ID, "sign-in-message"), "not an annotator")
            )
            break
        except TimeoutException:
            continue
    assert "'zoe' is not an annotator of this study" in text_in("sign-in-message", "not an annotator")
    name.clear()
    name.send_keys("ana")
    browser.find_element(By.ID, "sign-in").click()
    assert "0 of 9 answered · item 1 of 9" in text_in("progress", "item 1 of 9")

    # the faces load; stage directions are hidden until asked for
    wait.until(
        lambda d: (
            all(
                int(i.get_attribute("naturalWidth") or 0) == 336
                for i in d.find_elements(By.CSS_SELECTOR, "#dialogue-a img")
            )
            and d.find_elements(By.CSS_SELECTOR, "#dialogue-a img")
        )
    )
    assert "(shrugs)" not in browser.find_element(By.ID, "dialogue-a").text
    browser.find_element(By.CSS_SELECTOR, "#show-directions input").click()
    text_in("dialogue-a", "(shrugs)")

    # an incomplete answer is not saved
    pick("goal", "A")
    browser.find_element(By.ID, "save").click()
    assert "answer Approach, Affective bond first" in text_in("message", "first")
    assert browser.find_element(By.CSS_SELECTOR, "#answer-goal input[value='A']").is_selected()  # the pick stays
    clicked = {"i0001": ("A", "Tie", "B"), "i0002": ("B", "B", "B"), "i0003": ("Tie", "A", "Tie")}
    for k, (_item, choices) in enumerate(clicked.items(), 1):
        text_in("progress", f"item {k} of 9")
        for dimension, choice in zip(("goal", "approach", "bond"), choices, strict=True):
            pick(dimension, choice)
        browser.find_element(By.ID, "save").click()
        text_in("message", f"saved item {k}")
    assert "3 of 9 answered · item 4 of 9" in text_in("progress", "item 4 of 9")

    # reload: signed out; the token link signs in and goes on at item 4
    browser.get(served + "?token=" + token_of(study, "ana"))
    assert "Signed in as ana · 3 of 9 answered · item 4 of 9" in text_in("progress", "item 4")
    browser.get(served + "?token=not-a-token")
    assert "not one of this study's" in text_in("sign-in-message", "link")

    # on disk: each answer as clicked, and the key maps its sides to the right models
    answers, torn = read_answer_file(study / "answers" / "ana.jsonl")
    assert not torn and {a["item_id"]: tuple(a["answers"].values()) for a in answers} == clicked
    assert {a["study_id"] for a in answers} == {read_study(study)["study_id"]}
    assert main(["pairwise", "report", str(study), "--out", str(study.parent / "r"), "--bootstrap", "0"]) == 0
    items = {i["item_id"]: i for i in read_items(study)}
    report = json.loads((study.parent / "r/pairwise_report.json").read_text())
    first = items["i0001"]  # goal A: model_a beat model_b
    assert report["humans"]["goal"]["counts"][first["model_a"]][first["model_b"]]["wins"] >= 1
    expected = sum(1 for i, c in clicked.items() if c[0] != "Tie")
    assert sum(v["wins"] for row in report["humans"]["goal"]["counts"].values() for v in row.values()) == expected


def test_the_app_folder_runs_as_a_space_without_mirror_hf(study, tmp_path):
    """A copy of app/ elsewhere, with `mirror_hf` unimportable: what a Space that installs only its requirements
    runs."""
    space = tmp_path / "space"
    shutil.copytree(study / "app", space)
    card = (space / "README.md").read_text()
    assert "sdk: gradio" in card and "app_file: app.py" in card and "private" in card
    port = free_port()
    blocker = "import sys; sys.modules['mirror_hf'] = None; import runpy; runpy.run_path('app.py', run_name='__main__')"
    env = {**os.environ, "GRADIO_SERVER_PORT": str(port), "GRADIO_SERVER_NAME": "127.0.0.1"}
    process = subprocess.Popen(
        [sys.executable, "-c", blocker], cwd=space, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
    try:
        wait_for(f"http://127.0.0.1:{port}/", process)
        config = json.loads(urllib.request.urlopen(f"http://127.0.0.1:{port}/config", timeout=10).read())
        labels = json.dumps(config)
        assert "Which counseling dialogue is better?" in labels and "Save and next" in labels
    finally:
        process.terminate()
        process.wait(timeout=30)


def in_hub(hub: HubServer, code: str, home: Path) -> str:
    done = subprocess.run([sys.executable, "-c", code], env=hub.env(home), capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    return done.stdout


@pytest.fixture
def hub():
    server = HubServer()
    yield server
    server.close()


def test_answers_go_to_a_private_hub_dataset_and_come_back_after_a_restart(study, hub, tmp_path):
    code = f"""
from pathlib import Path
from mirror_hf.pairwise.annotation_app import open_scheduler
from mirror_hf.pairwise.answer_store import AnswerStore
answers = Path({str(tmp_path / "answers")!r})
scheduler = open_scheduler("lab/study-answers", answers, every=60)
store = AnswerStore(answers, study_id="sid", lock=scheduler.lock)
store.save("ana", "i0001", {{"goal": "A", "approach": "B", "bond": "Tie"}})
scheduler.trigger().result()
scheduler.stop()
# a restarted Space: an empty disk gets the answers back before anything is saved
fresh = Path({str(tmp_path / "fresh")!r})
scheduler = open_scheduler("lab/study-answers", fresh, every=60)
scheduler.stop()
print(AnswerStore(fresh, study_id="sid").answered("ana"))
"""
    out = in_hub(hub, code, tmp_path / "home")
    assert "{'i0001': {'goal': 'A', 'approach': 'B', 'bond': 'Tie'}}" in out
    repo = hub.repos[("datasets", "lab/study-answers")]
    assert repo.private and "answers/ana.jsonl" in repo.files


def test_push_the_study_and_its_app(study, hub, tmp_path):

    def push(*args):
        return hub.cli("push", *args, home=tmp_path / "home")

    public = push(str(study / "app"), "lab/study-app")
    assert public.returncode == 2 and "face image(s)" in public.stderr and not hub.repos
    done = push(str(study / "app"), "lab/study-app", "--private")
    assert done.returncode == 0, done.stderr
    space = hub.repos[("spaces", "lab/study-app")]
    assert space.private and {"app.py", "annotation_app.py", "answer_store.py", "study.json"} <= set(space.files)
    assert sum(name.startswith("faces/") for name in space.files) == 9
    done = push(str(study), "lab/study")
    assert done.returncode == 0, done.stderr
    files = set(hub.repos[("datasets", "lab/study")].files)
    assert {"README.md", "study.json", "data/items/train-00000-of-00001.parquet"} <= files
    assert not any(n.startswith("app/") or "links" in n for n in files)
