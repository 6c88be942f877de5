"""The authors' protocol: what a loopback server receives from the client, the VLM counselor and the three text
baselines equals what the authors' code sends, computed by running the stand-in of their files (tests/
upstream_writer.py, written in their grammar); sampling, history window and clean-up on recorded requests; the
planning schedules; the corrected protocol's differences; reading the authors' files (digests, cache, clone,
offline)."""

import asyncio
import dataclasses
import hashlib
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from PIL import Image
from test_judges import rubric_dir  # noqa: F401  (fixture)
from upstream_writer import CounselorState, cli_upstream, run_upstream

from mirror_hf.baselines import BaselineTherapist, as_messages, parse_camel_plan
from mirror_hf.errors import MirrorError
from mirror_hf.llm.openai_compat import OpenAICompatBackend
from mirror_hf.protocol import AUTHORS, CORRECTED, get_protocol
from mirror_hf.simulation.client import ResistantClient
from mirror_hf.simulation.faces import IdentityFaces
from mirror_hf.simulation.session import run_session
from mirror_hf.therapist import MirrorTherapist, cleanup_answer
from mirror_hf.upstream import MIRROR

PROFILE = {
    "idx": "cactus-901-emotional-resistance",
    "name": "Ada Moss",
    "personal_info": "Ada Moss is a 30-year-old female working as a Baker.",
    "personality": "The client exhibits the personality trait of 'Emotional Resistance'. Written for the tests.",
    "distorted_thought": "Nobody likes my bread.",
    "reason_for_seeking_counseling": "I feel unappreciated.",
    "identity_image": Image.new("RGB", (32, 32), (150, 110, 90)),
}
CLIENT_LINES = [
    "Client: [Arms crossed, looking down]",  # the opening: nonverbal only
    "Client: [Sighs] I bake every day.",
    "Client: [Frowns] Nobody cares. [Looks away] Really.",  # the authors' bracket rule eats the words between
    "Client: [Nods] Maybe. [/END]",
]


def client_answer(lines):
    def answer(body, n):
        return lines[min(n - 1, len(lines) - 1)]

    return answer


def counselor_answer(body, n):
    text = " ".join(b.get("text", "") for b in body["messages"][-1]["content"] if isinstance(b, dict))
    if "READ THE FACE" in text or "emotional state" in text:
        return "Tense, guarded."
    if "PLANNER" in text or "Choose an appropriate CBT technique" in text:  # the authors' planning, or the paper's
        return "- CBT technique: Reality Testing\n- Counseling planning: Check the facts.\n2. Then a small step."
    return f'Therapist: "Reply {n}" here.\nClient: I will answer for myself.'


def human_value(body) -> str:
    """A VLM request as LLaVA's human turn: the image first (``<image>``), then the text."""
    content = body["messages"][-1]["content"]
    assert [b["type"] for b in content] == ["image_url", "text"]
    return "<image>\n" + content[1]["text"]


def _play(upstream, server_factory, variant="planning_ec", protocol=AUTHORS, lines=CLIENT_LINES, **kwargs):
    counselor, client = server_factory(answer=counselor_answer), server_factory(answer=client_answer(lines))
    therapist = MirrorTherapist(
        OpenAICompatBackend("mirror-llava", counselor.url), variant, protocol=protocol, upstream=upstream
    )
    agent = ResistantClient(OpenAICompatBackend("gpt-3.5-turbo", client.url), protocol=protocol, upstream=upstream)
    result = asyncio.run(run_session(PROFILE, therapist, agent, IdentityFaces(), **kwargs))
    return result, counselor.requests, client.requests


def test_the_client_sends_the_authors_prompts(upstream, server_factory):
    result, _, requests = _play(upstream, server_factory)
    folder = Path(upstream.clone)
    client_py = run_upstream(folder, "mirror-llava/llava/chat/client.py")
    therapy = run_upstream(folder, "mirror-llava/llava/chat/therapy.py")
    fields = {
        "client_information": PROFILE["personal_info"],
        "personality_trait": therapy["get_resistance_desc"](PROFILE["personality"]),
        "distorted_thoughts": PROFILE["distorted_thought"],
        "reason_counseling": PROFILE["reason_for_seeking_counseling"],
    }
    assert fields["personality_trait"].startswith("LONG-EMOTIONAL")  # the long description, not the profile's
    bodies = [r["body"] for r in requests]
    # the opening: the INITIAL_QUERY alone, no system message
    assert bodies[0]["messages"] == [{"role": "user", "content": client_py["INITIAL_QUERY"].format(**fields)}]
    system = upstream.read("mirror-llava/llava/chat/prompts/agent_client.txt")
    therapist_lines = [t.text for t in result.turns if t.speaker == "therapist"]
    # then system + QUERY; the client's own history: the counselor's lines and its own raw answers ("Client: Client:")
    history = f"Counselor: {therapist_lines[0]}"
    assert bodies[1]["messages"] == [
        {"role": "system", "content": system},
        {"role": "user", "content": client_py["QUERY"].format(**fields, history=history)},
    ]
    history += f"\nClient: {CLIENT_LINES[1]}\nCounselor: {therapist_lines[1]}"
    assert bodies[2]["messages"][1]["content"] == client_py["QUERY"].format(**fields, history=history)
    assert "Client: Client: [Sighs] I bake every day." in bodies[2]["messages"][1]["content"]
    for body in bodies:  # client.py get_response / initial_response
        assert (body["temperature"], body["top_p"], body["max_tokens"]) == (0.7, 0.9, 128)
        assert body["frequency_penalty"] == body["presence_penalty"] == 0.2


def test_a_no_resistance_client_gets_the_text_none_and_corrected_its_own_personality(upstream, server_factory):
    profile = {**PROFILE, "idx": "cactus-902-no-resistance", "personality": "The client has 'No Resistance'."}
    for protocol, expected in ((AUTHORS, "### Traits ###: None\n"), (CORRECTED, "Personality Traits ###: The client")):
        agent = ResistantClient(OpenAICompatBackend("c", "http://127.0.0.1:9/v1"), protocol=protocol, upstream=upstream)
        assert expected in agent.request(profile, []).messages[1]["content"]


def test_the_authors_end_rule_and_bracket_rule_reach_the_session(upstream, server_factory):
    lines = ["Client: [Shrugs]", "Client: [Nods] WEEKEND plans, I guess.", "Client: [Sighs] I'm ENDing it.", "x"]
    result, counselor, _ = _play(upstream, server_factory, variant="base", lines=lines)
    # "END" anywhere ends the session once the therapist has spoken twice ("WEEKEND" came too early)
    assert result.end_reason == "client_ended" and result.exchanges == 2
    result, counselor, _ = _play(upstream, server_factory, variant="base")
    seen = human_value(counselor[-1]["body"])
    last = max(i for i, t in enumerate(result.turns) if t.speaker == "therapist")
    lines = [("Client" if t.speaker == "client" else "Therapist", t.text) for t in result.turns[:last]]
    state = CounselorState(PROFILE["personal_info"], PROFILE["reason_for_seeking_counseling"], lines)
    vlm = run_upstream(Path(upstream.clone), "mirror-llava/llava/chat/vlm.py")
    assert seen == vlm["LlavaMirrorCounselor"].generate_response_instruction(state)  # the base prompt, exactly
    assert "Client: Really." in seen and "Nobody cares" not in seen  # from the first "[" to the last "]"
    assert "Client: \n" in seen  # the nonverbal opening, an empty line (therapy.py, remove_text_in_parentheses)


def test_the_pec_counselor_plans_every_turn_and_sends_the_authors_prompts(upstream, server_factory):
    result, requests, _ = _play(upstream, server_factory)
    vlm = run_upstream(Path(upstream.clone), "mirror-llava/llava/chat/vlm.py")
    turns = result.exchanges
    kinds = []
    for request in requests:
        text = human_value(request["body"])
        kinds.append("caption" if "READ THE FACE" in text else "plan" if "PLANNER" in text else "response")
    assert kinds == ["caption", "plan", "response"] * turns  # P+EC plans again every turn, upstream
    for request in requests:  # vlm.py generate: sampled at 0.7 / 0.9 with up to 1024 new tokens, whatever is asked
        body = request["body"]
        assert (body["temperature"], body["top_p"], body["max_tokens"]) == (0.7, 0.9, 1024)
        # --conv-mode vicuna_v1: conv_vicuna_v1's system sentence first (the stand-in's conversation.py)
        system = {
            "role": "system",
            "content": [{"type": "text", "text": "SYSTEM SENTENCE OF THE TESTS. It is two sentences."}],
        }
        assert body["messages"][0] == system and len(body["messages"]) == 2

    # the last response prompt, as the authors' code builds it from the same session
    last = max(i for i, t in enumerate(result.turns) if t.speaker == "therapist")  # what the last answer saw
    history = [("Client" if t.speaker == "client" else "Therapist", t.text) for t in result.turns[:last]]
    state = CounselorState(PROFILE["personal_info"], PROFILE["reason_for_seeking_counseling"], history)
    plan = "- CBT technique: Reality Testing\n- Counseling planning:\nCheck the facts."  # parse_planning_value
    expected = vlm["LlavaMirrorEcPlanningCounselor"].generate_response_instruction(state, "Tense, guarded.", plan)
    assert human_value(requests[-1]["body"]) == expected
    expected_plan = vlm["LlavaMirrorPlanningCounselor"].generate_planning_instruction(state)
    assert human_value(requests[-2]["body"]) == expected_plan and "{{selected_cbt}}" in expected_plan
    assert human_value(requests[0]["body"]) == vlm["LlavaMirrorPlanningCounselor"].generate_ec_instruction(state)
    # the answers as post_process_response leaves them; the plan as parse_planning_value reads it (one line)
    assert [t.text for t in result.turns if t.speaker == "therapist"][0] == "Reply 3 here."
    assert result.technique == "Reality Testing" and result.plan == "Check the facts."


def test_the_corrected_pec_counselor_plans_once(upstream, server_factory):
    result, requests, _ = _play(upstream, server_factory, protocol=AUTHORS.replace(replan_every_turn=False))
    plans = [r for r in requests if "PLANNER" in human_value(r["body"])]
    assert len(plans) == 1 and result.exchanges >= 2
    result, requests, _ = _play(upstream, server_factory, protocol=CORRECTED)
    plans = [r for r in requests if "Choose an appropriate CBT technique" in human_value(r["body"])]
    assert len(plans) == 1
    assert all((r["body"]["temperature"], r["body"]["max_tokens"]) == (0.0, 128) for r in requests)
    assert all(len(r["body"]["messages"]) == 1 for r in requests)  # no system sentence: the model's template decides


def test_the_p_counselor_plans_once_at_its_first_turn_with_the_image(upstream, server_factory):
    result, requests, _ = _play(upstream, server_factory, variant="planning")
    plans = [r for r in requests if "PLANNER" in human_value(r["body"])]
    assert len(plans) == 1 and requests[0] is plans[0]  # the first call of the session
    vlm = run_upstream(Path(upstream.clone), "mirror-llava/llava/chat/vlm.py")
    opening = CounselorState(PROFILE["personal_info"], PROFILE["reason_for_seeking_counseling"], [("Client", "")])
    assert human_value(plans[0]["body"]) == vlm["LlavaMirrorPlanningCounselor"].generate_planning_instruction(opening)
    # the P prompt at inference: "{cbt_plan}\n" as parse_planning_value lays it out
    last = max(i for i, t in enumerate(result.turns) if t.speaker == "therapist")
    state_lines = [("Client" if t.speaker == "client" else "Therapist", t.text) for t in result.turns[:last]]
    state = CounselorState(PROFILE["personal_info"], PROFILE["reason_for_seeking_counseling"], state_lines)
    block = "- CBT technique: Reality Testing\n- Counseling planning:\nCheck the facts."
    expected = vlm["LlavaMirrorPlanningCounselor"].generate_response_instruction(state, block)
    assert human_value(requests[-1]["body"]) == expected
    trained = _play(upstream, server_factory, variant="planning", protocol=AUTHORS.replace(p_layout="training"))[1]
    assert "- CBT technique:\nReality Testing\n\n- Counseling planning:\nCheck the facts." in human_value(
        trained[-1]["body"]
    )


def test_the_counselor_sees_the_last_16_utterances(upstream, server_factory):
    lines = ["Client: [Shrugs]"] + [f"Client: [Sighs] Line {i}." for i in range(1, 30)]
    result, requests, _ = _play(upstream, server_factory, variant="base", lines=lines, max_exchanges=12)
    assert result.end_reason == "turn_limit" and result.exchanges == 12
    last = human_value(requests[-1]["body"])
    talk = last.split("TALK SO FAR:\n")[1].split("\n\n")[0].splitlines()
    assert len(talk) == 16 and talk[-1] == "Client: Line 11." and talk[1] == "Client: Line 4."
    assert "Line 3." not in last
    shorter = _play(upstream, server_factory, variant="base", lines=lines, max_exchanges=12,
                    protocol=AUTHORS.replace(history_window=6))[1]  # fmt: skip
    assert len(human_value(shorter[-1]["body"]).split("TALK SO FAR:\n")[1].split("\n\n")[0].splitlines()) == 6


def test_the_answer_clean_up_is_the_authors():
    assert cleanup_answer('Sure.\nTherapist: "Hi" \\there.\nClient: no', "upstream", "vlm") == "Hi there."
    assert cleanup_answer("Counselor: one\nCounselor: two\nthree", "upstream", "llama") == "twothree"
    assert cleanup_answer("{'message': \"Hello\", {'x'}]", "upstream", "gpt") == "Hello"
    from mirror_hf.therapist import UpstreamCrash

    with pytest.raises(UpstreamCrash):  # the VLM counselor has no clean_message: upstream, the session is lost
        cleanup_answer("{'message': 'Hello'}", "upstream", "vlm")
    assert cleanup_answer("{'message': 'Hello'}", "robust", "vlm") == "'Hello'"


def _baseline_session(upstream, server_factory, setup, protocol=AUTHORS):
    counselor = server_factory(answer=lambda body, n: "CBT technique: Reality Testing\nCounseling plan:\n1. Test it."
                               if n == 1 and setup == "camel" else "Counselor: How was today?\nClient: ok")  # fmt: skip
    client = server_factory(answer=client_answer(["Client: [Frowns] Fine.", "Client: [Nods] Ok. [/END]"]))
    baseline = BaselineTherapist(OpenAICompatBackend(setup, counselor.url), setup, protocol=protocol, upstream=upstream)
    agent = ResistantClient(OpenAICompatBackend("c", client.url), protocol=protocol, setup="text", upstream=upstream)
    result = asyncio.run(run_session(PROFILE, baseline, agent, IdentityFaces(), vision=False))
    return result, [r["body"] for r in counselor.requests], [r["body"] for r in client.requests]


def _baseline_fields(result, upto: int) -> dict:
    lines = [f"{'Counselor' if t.speaker == 'therapist' else 'Client'}: {t.text}" for t in result.turns[:upto]]
    return {
        "client_information": PROFILE["personal_info"],
        "reason_counseling": PROFILE["reason_for_seeking_counseling"],
        "history": "\n".join(lines),
    }


def test_the_llama3_baseline(upstream, server_factory):
    result, bodies, client_bodies = _baseline_session(upstream, server_factory, "llama3")
    assert result.turns[0].text == "Hi Ada, welcome. How is your week?"  # run.py's greeting, the first name
    # "[Nods] Ok. [/END]": the authors' bracket rule spans from "[Nods" to "[/END]", so nothing is left
    assert result.end_reason == "client_ended" and [t.text for t in result.turns[1::2]] == ["Fine.", ""]
    template = upstream.read("llm_therapist/src/prompts/agent_llama3.txt")
    assert bodies[0]["messages"] == [{"role": "user", "content": template.format(**_baseline_fields(result, 2))}]
    assert (bodies[0]["temperature"], bodies[0]["top_p"], bodies[0]["max_tokens"]) == (0.7, 0.9, 256)
    assert bodies[0]["frequency_penalty"] == bodies[0]["presence_penalty"] == 0.2
    # llama.py: what follows the last "Counselor:", newlines dropped, and no cut at "Client:" (the GPT's has one)
    assert result.turns[2].text == "How was today?Client: ok"
    assert client_bodies[0]["messages"][0]["content"].startswith("SYSTEM-TEXT")  # llm_therapist's own client
    assert "Counselor: Hi Ada, welcome." in client_bodies[0]["messages"][1]["content"]
    assert "TEXT-EMOTIONAL" in client_bodies[0]["messages"][1]["content"]


def test_the_gpt_baseline(upstream, server_factory):
    result, bodies, _ = _baseline_session(upstream, server_factory, "gpt")
    query = run_upstream(Path(upstream.clone), "llm_therapist/src/agents/gpt.py")["QUERY"]
    assert bodies[0]["messages"] == [
        {"role": "system", "content": upstream.read("llm_therapist/src/prompts/agent_gpt.txt")},
        {"role": "user", "content": query.format(**_baseline_fields(result, 2))},
    ]
    assert bodies[0]["max_tokens"] == 128 and result.turns[0].speaker == "therapist"
    assert result.turns[2].text == "How was today?"  # after the title, cut at "Client:"


def test_the_camel_baseline_plans_first_with_its_own_prompt(upstream, server_factory):
    result, bodies, _ = _baseline_session(upstream, server_factory, "camel")
    planning = upstream.read("llm_therapist/src/prompts/agent_cbt_llama3.txt")
    empty = {**_baseline_fields(result, 0), "history": ""}
    assert bodies[0]["messages"] == [{"role": "user", "content": planning.format(**empty)}]
    assert bodies[0]["max_tokens"] == 512
    prompt = upstream.read("llm_therapist/src/prompts/agent_cactus_llama3.txt")
    fields = {**_baseline_fields(result, 2), "cbt_plan": "1. Test it."}
    assert bodies[1]["messages"] == [{"role": "user", "content": prompt.format(**fields)}]  # headers and all
    assert bodies[1]["max_tokens"] == 128 and result.technique == "CBT technique: Reality Testing"
    _, corrected, _ = _baseline_session(upstream, server_factory, "camel", protocol=CORRECTED)
    assert [m["role"] for m in corrected[1]["messages"]] == ["system", "user"]
    assert "<|start_header_id|>" not in json.dumps(corrected[1]["messages"])
    assert as_messages("plain")[0]["content"] == "plain"
    with pytest.raises(ValueError):
        parse_camel_plan("no section here")


def test_protocols_by_name_and_switch():
    assert get_protocol("authors") is AUTHORS and get_protocol("corrected") is CORRECTED
    changed = get_protocol("authors,end_rule=token,history_window=6,disengage_after=none")
    assert (changed.end_rule, changed.history_window, changed.disengage_after) == ("token", 6, None)
    assert changed.differences(AUTHORS) == {"end_rule": ("token", "substring"), "history_window": (6, 16)}
    for bad in ("nobody", "authors,no_such=1", "authors,end_rule=maybe", "authors,history_window=x"):
        with pytest.raises(MirrorError):
            get_protocol(bad)


def _raw_github(files: dict) -> ThreadingHTTPServer:
    """A loopback stand-in for raw.githubusercontent.com: /{repo}/{commit}/{path}."""

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self):
            path = self.path.split("/", 4)[-1]
            data = files.get(path)
            self.send_response(200 if data is not None else 404)
            self.end_headers()
            self.wfile.write(data or b"not found")

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


def test_the_authors_files_are_fetched_checked_and_cached(tmp_path, monkeypatch):
    files = {"a/prompt.txt": b"PROMPT {x}", "b/code.py": b'Q = "query"\n'}
    pinned = dataclasses.replace(MIRROR, digests={p: hashlib.sha256(d).hexdigest() for p, d in files.items()})
    monkeypatch.setenv("MIRROR_HF_CACHE", str(tmp_path / "cache"))
    server = _raw_github(dict(files))
    try:
        monkeypatch.setenv("MIRROR_HF_GITHUB_RAW", f"http://127.0.0.1:{server.server_port}")
        assert pinned.read("a/prompt.txt") == "PROMPT {x}"
        tampered = dataclasses.replace(pinned, digests={**pinned.digests, "b/code.py": "0" * 64})
        with pytest.raises(MirrorError, match="is not the file of nobel-postech/mirror at commit 3bc4a9a"):
            tampered.read("b/code.py")
    finally:
        server.shutdown()
    monkeypatch.setenv("MIRROR_HF_GITHUB_RAW", "http://127.0.0.1:9")
    assert pinned.read("a/prompt.txt") == "PROMPT {x}"  # from the cache now
    with pytest.raises(MirrorError) as err:  # never fetched, and offline
        pinned.read("b/code.py")
    message = str(err.value)
    assert MIRROR.commit in message and "git clone https://github.com/nobel-postech/mirror" in message
    assert "--upstream DIR" in message
    clone = tmp_path / "clone"
    (clone / "b").mkdir(parents=True)
    (clone / "b" / "code.py").write_bytes(b'Q = "another"\n')
    with pytest.raises(MirrorError, match="is not the file of"):  # a clone at another commit
        pinned.with_clone(clone).read("b/code.py")


def test_simulate_records_the_protocol_and_refuses_to_mix(upstream, server_factory, dialogues, tmp_path, capsys):
    from datasets import load_dataset

    from mirror_hf.cli import main

    built, _ = dialogues
    counselor, client = server_factory(answer=counselor_answer), server_factory(answer=client_answer(CLIENT_LINES))
    out = tmp_path / "sims"
    args = ["simulate", "--profiles", f"{built}:eval_profiles", "--therapist", f"mirror-llava@{counselor.url}",
            "--client", f"gpt-3.5-turbo@{client.url}", "--out", str(out), "--sessions", "1",
            "--cache-dir", str(tmp_path / "cache"), *cli_upstream(upstream)]  # fmt: skip
    assert main(args) == 0
    assert "under protocol authors" in capsys.readouterr().out
    settings = json.loads((out / "protocol.json").read_text())
    assert settings["protocol"]["name"] == "authors" and settings["protocol"]["end_rule"] == "substring"
    assert json.loads((out / "run_report.json").read_text())["run"]["protocol"]["name"] == "authors"
    assert "protocol **authors**" in (out / "README.md").read_text()
    assert load_dataset(str(out), split="train").num_rows == 1
    assert main([*args, "--protocol", "corrected"]) == 2
    assert "protocol (authors -> corrected)" in capsys.readouterr().err


def test_evaluate_warns_when_the_runs_were_played_under_different_protocols(rubric_dir, tmp_path, capsys):  # noqa: F811
    from test_report import LEVELS, judge_answer, write_run

    from mirror_hf.cli import main

    for name, protocol in (("ref", AUTHORS), ("other", CORRECTED)):
        write_run(tmp_path / name, LEVELS[name], words=10)
        (tmp_path / name / "protocol.json").write_text(json.dumps({"protocol": protocol.settings()}))
    from loopback import ScriptedServer

    judge = ScriptedServer(answer=judge_answer())
    try:
        args = [f"ref={tmp_path / 'ref'}", f"other={tmp_path / 'other'}", "--judge", f"j@{judge.url}"]
        args += ["--rubrics", str(rubric_dir), "--out", str(tmp_path / "eval"), "--quiet"]
        assert main(["evaluate", *args, "--cache-dir", str(tmp_path / "cache")]) == 0
    finally:
        judge.close()
    assert "different protocols (ref: authors, other: corrected)" in capsys.readouterr().err
    markdown = (tmp_path / "eval" / "report.md").read_text()
    assert "Protocol: ref `authors`, other `corrected`" in markdown and "**Warning:**" in markdown


def test_screenplays_are_asked_with_the_authors_prompts_traits_and_sampling(upstream, server_factory, tmp_path):
    from mirror_hf.synthesis.design import Intake, design_profiles
    from mirror_hf.synthesis.screenplay import write_screenplays
    from mirror_hf.upstream.prompts import resistance_traits, screenplay_prompts

    server = server_factory(answer=lambda body, n: "Therapist: [Smiles] Hi Ann.\nClient: [Shrugs] Hi.")
    intake = Intake("Ann Lee", 30, "female", "Nurse", "Diploma", "Single", "Has a sister, Anna", "Work worries me.")
    plan = "Reality Testing\nCounseling plan:\n1. Check the thought.\n2. Try a step."
    client = {"row": 7, "intake": intake, "thought": "I fail.", "patterns": ["labeling", "personalization"],
              "cbt_technique": "Reality Testing", "cbt_plan": plan}  # fmt: skip
    face = {"image": "000003.jpg", "identity": 2, "age": 31, "dominant_gender": "Woman"}
    traits = resistance_traits(upstream)
    profiles = design_profiles([client], {7: face}, traits, capitalize_family=True)
    assert [p["idx"] for p in profiles] == [f"cactus-7-{slug}" for slug in traits]  # run_step2.py's slugs
    backend = OpenAICompatBackend("gpt-4o-mini", server.url)
    asyncio.run(
        write_screenplays(profiles[:1], backend, tmp_path, prompts=screenplay_prompts(upstream), progress=False)
    )
    body = server.requests[0]["body"]
    query = run_upstream(Path(upstream.clone), "mirror/agent/counseling_gen.py")["QUERY"]
    personal = (
        "Ann Lee is a 30-year-old female working as a Nurse. With a background in Diploma. Ann Lee is "
        "currently Single. Has a sister, anna."
    )  # fmt: skip  (str.capitalize(), as run_step2.py:62)
    expected = query.format(
        client_persona=personal,
        personality_trait="The client exhibits the personality trait of 'Emotional Resistance'. HIDES FEELINGS "
        "(stand-in).",
        distorted_thoughts="I fail.", cognitive_distortion="labeling, personalization",
        reason_counseling="Work worries me.", cbt_plan="1. Check the thought.\n2. Try a step.",
    )  # fmt: skip
    read = upstream.read
    assert body["messages"] == [
        {"role": "system", "content": read("mirror/agent/prompts/session_v3.txt")},
        {"role": "user", "content": read("mirror/agent/examples/prompt_1.txt")},
        {"role": "assistant", "content": read("mirror/agent/examples/output_1.txt")},
        {"role": "user", "content": read("mirror/agent/examples/prompt_2.txt")},
        {"role": "assistant", "content": read("mirror/agent/examples/output_2.txt")},
        {"role": "user", "content": expected},
    ]
    sampling = {k: body[k] for k in ("max_tokens", "temperature", "top_p", "frequency_penalty", "presence_penalty")}
    assert sampling == {
        "max_tokens": 1024,
        "temperature": 0.7,
        "top_p": 0.9,
        "frequency_penalty": 0.2,
        "presence_penalty": 0.2,
    }  # fmt: skip  (counseling_gen.py get_message)
    planless = {**client, "cbt_plan": "Reality Testing: 1. all on one line"}  # no "\n1. ": run_step2.py skips it
    assert design_profiles([planless], {7: face}, traits) == []
    kept = design_profiles([client], {7: face})  # mirror-hf's own descriptions and the family's capitals
    assert kept[0]["personal_info"].endswith("Has a sister, Anna.") and "stand-in" not in kept[0]["personality"]


def test_expressions_are_asked_with_the_authors_example_and_labelled_utterance(upstream, server_factory, tmp_path):
    from mirror_hf.synthesis.expressions import describe_expressions
    from mirror_hf.upstream.prompts import expression_prompts

    server = server_factory(answer=lambda body, n: "Facial Expression Description: tense\n"
                            "Contrasting Facial Expression Description: relaxed")  # fmt: skip
    turns = [
        {"speaker": "therapist", "stage_direction": "Warm", "statement": "How are you?"},
        {"speaker": "client", "stage_direction": "Looks down", "statement": "Fine, I guess."},
    ]
    dialogue = {"idx": "cactus-1-emotional-resistance", "gender": "woman", "celeba_image": "000003.jpg",
                "turns": turns}  # fmt: skip
    backend = OpenAICompatBackend("llama", server.url)
    prompts = expression_prompts(upstream)
    asyncio.run(describe_expressions([dialogue], backend, tmp_path / "a", prompts=prompts, progress=False))
    folder = Path(upstream.clone)
    names = {"LLAMA_QUERY": run_upstream(folder, "mirror/src/prompts/llama.py")["QUERY"]}
    exec((folder / "mirror/src/prompts/__init__.py").read_text(), names)  # the stand-in, in the authors' shape
    # preprocess_for_llm.py: the history with its directions, the utterance labelled "Client: [...]"
    expected = names["build_message_for_llama"]("Therapist: [Warm] How are you?", "Client: [Looks down] Fine, I guess.")
    body = server.requests[0]["body"]
    assert body["messages"] == expected and expected[1]["role"] == "assistance"
    assert (body["temperature"], body["top_p"], body["max_tokens"]) == (0.7, 0.9, 128)
    asyncio.run(describe_expressions([dialogue], backend, tmp_path / "b", prompts=prompts, progress=False,
                                     example_role="assistant"))  # fmt: skip
    assert server.requests[1]["body"]["messages"][1]["role"] == "assistant"
