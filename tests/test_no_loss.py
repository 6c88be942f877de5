"""Nothing lost, nothing silent: a user's files survive every command, a missing folder is an error (never a cached
dataset), an empty config says why, an unreachable server fails loudly with its URL, and every failure a user can
cause is one line with exit code 2 (Ctrl-C: 130 and a resume hint)."""

import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
from datasets import load_dataset
from helpers import build_cli
from loopback import ScriptedServer
from release_writer import write_release

from mirror_hf.cli import main
from mirror_hf.errors import MirrorError

CLOSED = "http://127.0.0.1:9/v1"  # the discard port: nothing listens there


def _files(folder: Path) -> dict:
    return {p.relative_to(folder).as_posix(): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def _project(folder: Path) -> dict:
    """A researcher's own folder: a README, results and raw data under data/."""
    (folder / "data" / "experiments").mkdir(parents=True)
    (folder / "README.md").write_text("# my project\n")
    (folder / "data" / "experiments" / "results.csv").write_text("a,b\n1,2\n")
    (folder / "data" / "raw.json").write_text('{"keep": true}')
    return _files(folder)


def _cli(*args: str, env: dict | None = None, cwd=None, timeout: float = 120) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "mirror_hf", *args],
        capture_output=True,
        text=True,
        env={**os.environ, **(env or {})},
        cwd=cwd,
        timeout=timeout,
    )


def _one_error_line(result: subprocess.CompletedProcess) -> str:
    """The one line a failure prints: exit code 2, no traceback."""
    assert result.returncode == 2, (result.returncode, result.stderr[-2000:])
    assert "Traceback" not in result.stderr, result.stderr[-2000:]
    bar = re.compile(r"\d+%\|")  # progress bars share stderr
    lines = [line for line in result.stderr.splitlines() if line.strip() and not bar.search(line)]
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
    return lines[0]


def test_build_refuses_a_folder_of_other_files_and_force_replaces_only_its_own(tmp_path, monkeypatch, capsys):
    project = tmp_path / "project"
    project.mkdir()
    before = _project(project)
    monkeypatch.chdir(project)
    assert main(["build", "--sample", "--out", ".", "--quiet"]) == 2
    err = capsys.readouterr().err
    assert "already holds files that `mirror-hf build` did not write" in err and "--force" in err
    assert _files(project) == before  # nothing deleted, nothing overwritten

    assert main(["build", "--sample", "--out", ".", "--quiet", "--force"]) == 0
    after = _files(project)
    for mine in ("data/experiments/results.csv", "data/raw.json"):
        assert after[mine] == before[mine]
    assert after["README.md"] != before["README.md"]  # the card: a file a build writes
    assert load_dataset(str(project), "dialogues", split="train").num_rows == 5

    # an earlier build now: a rebuild needs no --force, keeps the user's files, and drops the shards it no longer has
    (project / "data" / "notes.txt").write_text("mine")
    assert main(["build", "--sample", "--out", ".", "--quiet", "--configs", "dialogues"]) == 0
    assert (project / "data" / "notes.txt").read_text() == "mine" and (project / "data" / "raw.json").is_file()
    assert not (project / "data" / "sft_base").exists() and (project / "data" / "dialogues").is_dir()


@pytest.mark.parametrize(
    "command",
    [
        ["simulate", "--therapist", f"t@{CLOSED}", "--client", f"c@{CLOSED}"],
        ["evaluate", "run", "--judge", f"j@{CLOSED}"],
        ["synthesize", "expressions", "--model", f"m@{CLOSED}"],
        ["synthesize", "faces", "--checks", "none"],
        ["synthesize", "filter", "--filters", "basic"],
        ["synthesize", "screenplays", "--cactus", "cactus.json", "--celeba-dir", "celeba", "--model", f"m@{CLOSED}"],
        ["pull", "me/mirror"],
        ["export", "--adapter", "adapter"],
    ],
    ids=lambda c: " ".join(c[:2]) if c[0] == "synthesize" else c[0],
)
def test_every_command_refuses_an_output_folder_of_other_files(command, tmp_path, capsys):
    project = tmp_path / "project"
    project.mkdir()
    before = _project(project)
    assert main([*command, "--out", str(project)]) == 2
    assert "did not write" in capsys.readouterr().err
    assert _files(project) == before


def test_outputs_that_are_files_or_cannot_be_made_fail_before_any_work(tmp_path):
    afile = tmp_path / "afile.txt"
    afile.write_text("mine")
    line = _one_error_line(_cli("build", "--sample", "--out", str(afile), "--quiet"))
    assert "is a file, not a folder" in line and afile.read_text() == "mine"
    assert not list(tmp_path.glob(".afile.txt.staging*"))  # no build was started
    line = _one_error_line(_cli("build", "--sample", "--out", "/proc/mirror-hf-test/out", "--quiet"))
    assert "cannot be created" in line
    line = _one_error_line(_cli("preview", "mirror", "--out", str(afile), cwd=tmp_path))
    assert "was not written by mirror-hf" in line and afile.read_text() == "mine"


def test_a_missing_folder_is_an_error_never_a_cached_dataset(tmp_path, monkeypatch, capsys):
    first = tmp_path / "first"
    first.mkdir()
    monkeypatch.chdir(first)
    assert main(["build", "--sample", "--quiet"]) == 0
    load_dataset("mirror", "eval_profiles", split="test")  # datasets now holds a cache entry named "mirror"
    empty = tmp_path / "empty"
    empty.mkdir()
    monkeypatch.chdir(empty)
    capsys.readouterr()
    assert main(["preview"]) == 2
    assert "there is no folder ./mirror" in capsys.readouterr().err and not list(empty.iterdir())
    assert main(["simulate", "--therapist", f"t@{CLOSED}", "--client", f"c@{CLOSED}", "--out", "sims"]) == 2
    assert "there is no folder ./mirror" in capsys.readouterr().err and not (empty / "sims").exists()
    assert main(["preview", "me/mirror"]) == 2  # a Hub id, with HF_HUB_OFFLINE set (conftest)
    assert "HF_HUB_OFFLINE is set" in capsys.readouterr().err


def test_an_empty_config_is_named_with_its_cause(release_dir, tmp_path, capsys):
    (release_dir / "mirror_test.csv").unlink()
    out = tmp_path / "mirror"
    assert build_cli(release_dir, out) == 0  # no --celeba-dir: no face for any training record
    printed = capsys.readouterr()
    assert "warning: sft_base was not written" in printed.err and "pass --celeba-dir" in printed.err
    assert "warning: eval_profiles was not written: the release has no mirror_test.csv" in printed.err
    assert "NOT WRITTEN" in printed.out and "load_dataset" in printed.out and "'dialogues'" in printed.out
    report = json.loads((out / "build_report.json").read_text())
    assert "no client face" in report["configs"]["sft_planning"]["note"]
    assert report["configs"]["dialogues"]["rows"] and "note" not in report["configs"]["dialogues"]


def test_a_plan_less_release_names_no_plan_not_no_image(tmp_path, celeba_dir, capsys):
    from release_writer import DIALOGUES, PROFILES

    planless = [{**d, "plan": "We will talk, and then talk some more."} for d in DIALOGUES]  # names no technique
    release = write_release(tmp_path / "release", planless, PROFILES)
    assert build_cli(release, tmp_path / "mirror", "--configs", "sft_planning", celeba=celeba_dir) == 0
    err = capsys.readouterr().err
    assert "sft_planning was not written" in err and "no CBT technique or plan" in err and "no_image" not in err


def test_simulate_against_an_unreachable_server_names_it_and_fails(dialogues, tmp_path, capsys):
    built, _ = dialogues
    out = tmp_path / "sims"
    args = ["simulate", "--profiles", f"{built}:eval_profiles", "--protocol", "corrected"]  # no authors' files needed
    args += ["--client", f"c@{CLOSED}", "--out", str(out)]
    assert main([*args, "--therapist", f"t@{CLOSED}", "--retries", "0"]) == 2
    err = capsys.readouterr().err
    assert f"cannot reach the model server {CLOSED}" in err and not out.exists()

    failing = ScriptedServer(script=[(503, {})] * 200)  # there, but every call fails
    try:
        spec = f"m@{failing.url}"
        code = main([*args[:-4], "--client", spec, "--therapist", spec, "--out", str(out), "--retries", "0"])
    finally:
        failing.close()
    printed = capsys.readouterr()
    assert code == 1 and "every session failed" in printed.err
    assert failing.url in printed.err and "HTTP 503" in printed.err  # the cause, and where


def test_hub_failures_are_one_line(dialogues, tmp_path):
    built, _ = dialogues
    unreachable = {"HF_HUB_OFFLINE": "0", "HF_ENDPOINT": "http://127.0.0.1:9", "HF_TOKEN": "hf_test"}
    line = _one_error_line(_cli("push", str(built), "me/mirror", "--private", env=unreachable))
    assert "cannot reach the Hub (http://127.0.0.1:9)" in line
    line = _one_error_line(_cli("push", str(built), "not a repo", "--private", env=unreachable))
    assert "not a Hub repository id" in line
    no_token = {**unreachable, "HF_TOKEN": "", "HF_HOME": str(tmp_path / "hf-home")}
    line = _one_error_line(_cli("push", str(built), "me/mirror", "--private", env=no_token))
    assert "not logged in to the Hub" in line and "hf auth login" in line and "http" not in line
    line = _one_error_line(_cli("pull", "me/mirror", "--out", str(tmp_path / "copy")))  # HF_HUB_OFFLINE=1
    assert "nothing of it is cached" in line or "HF_HUB_OFFLINE" in line


def test_user_errors_are_one_line_with_the_fix(tmp_path, release_dir, celeba_dir):
    line = _one_error_line(_cli("preview", "nosuch", cwd=tmp_path))
    assert "there is no folder ./nosuch" in line and "Fix:" in line
    line = _one_error_line(_cli("build", "--release", "./no_such_release", "--quiet", cwd=tmp_path))
    assert "the local folder './no_such_release' does not exist" in line
    line = _one_error_line(_cli("build", "--release", "data/release", "--quiet", cwd=tmp_path))
    assert "there is no local folder 'data/release'" in line
    deep = str(celeba_dir / "img_align_celeba")
    line = _one_error_line(_cli("build", "--release", str(release_dir), "--celeba-dir", deep, cwd=tmp_path))
    assert "one level too deep" in line and f"give its parent, {str(celeba_dir)!r}" in line
    assert ".. Fix" not in line
    debug = _cli("--debug", "preview", "nosuch", cwd=tmp_path)
    assert debug.returncode == 1 and "Traceback" in debug.stderr and "MirrorError" in debug.stderr


def test_a_celeba_copy_without_its_annotations_is_refused_at_the_start(tmp_path, celeba_dir):
    import shutil

    from release_writer import DIALOGUES, PROFILES

    partial = tmp_path / "celeba"
    shutil.copytree(celeba_dir, partial)
    (partial / "list_attr_celeba.txt").unlink()
    release = write_release(tmp_path / "release", [{**d, "gender": None} for d in DIALOGUES], PROFILES)
    out = tmp_path / "out"
    line = _one_error_line(_cli("build", "--release", str(release), "--celeba-dir", str(partial), "--out", str(out)))
    assert "lacks list_attr_celeba.txt, which this build needs" in line and not out.exists()
    # a release that names every gender and identity needs neither file
    (partial / "identity_CelebA.txt").unlink()
    assert build_cli(write_release(tmp_path / "full", DIALOGUES, PROFILES), out, celeba=partial) == 0


def test_a_truncated_release_file_is_called_truncated(release_dir, tmp_path):
    data = release_dir / "mirror_data.csv"
    text = data.read_text(encoding="utf-8")
    cut = text.rindex("Thursday")  # inside the last dialogue's quoted screenplay, near the end of the file
    data.write_text(text[:cut], encoding="utf-8")
    line = _one_error_line(_cli("build", "--release", str(release_dir), "--out", str(tmp_path / "o"), "--quiet"))
    assert "ends inside a quoted field" in line and "truncated" in line and "mirror_data.csv" in line
    data.write_text(text.splitlines()[0] + "\n", encoding="utf-8")
    line = _one_error_line(_cli("build", "--release", str(release_dir), "--out", str(tmp_path / "o"), "--quiet"))
    assert "header but no rows" in line and "Fix:" in line


def test_a_period_is_never_doubled_before_the_fix():
    assert str(MirrorError("the file is cut.", fix="download it again")) == "the file is cut. Fix: download it again"


def test_evaluate_without_the_rubrics_names_the_cli_option(tmp_path, monkeypatch, capsys):
    from test_report import LEVELS, write_run

    run = tmp_path / "run"
    write_run(run, LEVELS["ref"], words=10)
    monkeypatch.setenv("MIRROR_HF_GITHUB_RAW", "http://127.0.0.1:9")  # GitHub unreachable, even where CI is online
    assert main(["evaluate", f"x={run}", "--judge", f"j@{CLOSED}", "--out", str(tmp_path / "eval")]) == 2
    err = capsys.readouterr().err
    assert "--rubrics DIR" in err and "prompts_dir" not in err


def _listening_but_silent() -> tuple[socket.socket, int]:
    """A loopback port that accepts connections and never answers: a call to it waits until interrupted."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(16)
    return sock, sock.getsockname()[1]


@pytest.mark.parametrize("command", ["simulate", "build"])
def test_ctrl_c_says_how_to_resume_and_exits_130(command, dialogues, tmp_path):
    sock, port = _listening_but_silent()
    built, _ = dialogues
    if command == "simulate":
        spec = f"m@http://127.0.0.1:{port}/v1"
        argv = ["simulate", "--profiles", f"{built}:eval_profiles", "--therapist", spec, "--client", spec]
        argv += ["--protocol", "corrected"]
        argv += ["--out", str(tmp_path / "sims")]
    else:  # the release from the Hub, which takes its time
        argv = ["build", "--release", "me/mirror", "--out", str(tmp_path / "mirror"), "--quiet"]
    env = {**os.environ, "HF_HUB_OFFLINE": "0", "HF_ENDPOINT": f"http://127.0.0.1:{port}", "HF_TOKEN": "hf_test"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "mirror_hf", *argv], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env
    )
    try:
        deadline = time.time() + 60
        sock.settimeout(60)
        connection, _ = sock.accept()  # the command is now waiting on the silent server
        assert time.time() < deadline
        time.sleep(0.5)
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=60)
    finally:
        proc.kill()
        sock.close()
    assert proc.returncode == 130, err[-2000:]
    assert "interrupted; run the same command again to resume" in err and "Traceback" not in err
