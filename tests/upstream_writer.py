"""A stand-in for the authors' repository (nobel-postech/mirror), written for the tests: the same file names,
constant names, placeholders and Python shapes (f-string layouts, branches) as the released code, with wording of
our own. Its Python files run as they are (no imports), so a test can compute what the authors' code would send
and compare it with what mirror-hf sends.
"""

import hashlib
import json
from pathlib import Path

from mirror_hf.upstream import MIRROR, Upstream

FILES = {
    "mirror-llava/llava/chat/prompts/agent_client.txt": (
        "SYSTEM-VLM: you play a client in a first counseling session; answer as 'Client:' with [cues].\n"
        "End with '[/END]' once you feel better."
    ),
    "llm_therapist/src/prompts/agent_client.txt": "SYSTEM-TEXT: play the client; say 'Client:' first; [/END] ends.",
    "mirror-llava/llava/chat/client.py": '''
QUERY = """### Who ###: 
{client_information}

### Traits ###: {personality_trait}
### Thought ###: {distorted_thoughts}
### Why ###: {reason_counseling}

### So far ###:
{history}"""

INITIAL_QUERY = """### Who ###: 
{client_information}

### Traits ###: {personality_trait}
### Thought ###: {distorted_thoughts}
### Why ###: {reason_counseling}

OPENING: show your feelings without words, e.g. [Looks down]."""
''',
    "llm_therapist/src/agents/client.py": '''
QUERY = """### Who (text) ###:
{client_information}
### Traits ###: {personality_trait}
### Thought ###: {distorted_thoughts}
### Why ###: {reason_counseling}
### So far ###:
{history}"""
''',
    "mirror-llava/llava/chat/therapy.py": '''
def get_resistance_desc(personality):
    if "Emotional Resistance" in personality:
        return """LONG-EMOTIONAL: hides feelings, seems detached."""
    elif "Cognitive Resistance" in personality:
        return """LONG-COGNITIVE: rejects advice, keeps the distorted thought."""
    elif "Behavioral Resistance" in personality:
        return """LONG-BEHAVIORAL: skips homework, doubts therapy."""
''',
    "llm_therapist/src/run.py": '''
def get_resistance_desc(personality):
    if "Emotional Resistance" in personality:
        return """TEXT-EMOTIONAL."""
    elif "Cognitive Resistance" in personality:
        return """TEXT-COGNITIVE."""
    elif "Behavioral Resistance" in personality:
        return """TEXT-BEHAVIORAL."""


class TherapySession:
    def _exchange_statements(self):
        counselor_statement = "Hi {name}, welcome. How is your week?".format(
            name=self.example["name"].split()[0]
        )
        return counselor_statement
''',
    "mirror-llava/llava/chat/vlm.py": '''
IMAGE_DESC = "<image>\\nPICTURE OF THE CLIENT."
IMG_EMOTION_RECOG_DESC = "READ THE FACE: how does the client feel?"
CBT_DESC = "ANSWER AS A CBT THERAPIST."

PLANNING_DESC = """PICK A TECHNIQUE AND PLAN.

CBT technique:
{{selected_cbt}}

Counseling planning:
{{generated_cbt_plan}}"""


class LlavaMirrorCounselor:
    def generate_response_instruction(self):
        if len(self.history) == 0:
            return \'\'.join([
                f"{IMAGE_DESC}\\n",
                f"- Info: {self.client_information}\\n",
                f"- Why: {self.reason_counseling}\\n",
                f"{CBT_DESC}"
            ])
        else:
            history = self._get_history_text(self.history, ctx_len=self.ctx_len)
            return \'\'.join([
                f"{IMAGE_DESC}\\n",
                f"- Info: {self.client_information}\\n",
                f"- Why: {self.reason_counseling}\\n",
                f"\\nTALK SO FAR:\\n{history}\\n\\n",
                f"{CBT_DESC}"
            ])


class LlavaMirrorPlanningCounselor:
    def generate_ec_instruction(self):
        return f"{IMAGE_DESC}\\n{IMG_EMOTION_RECOG_DESC}"

    def generate_planning_instruction(self):
        general_inst = f"""{IMAGE_DESC}
    PLANNER: choose a CBT technique for this client.

    Techniques: Reality Testing, Decatastrophizing, Alternative Perspective"""
        if len(self.history) == 0:
            return \'\'.join([
                f"{general_inst}\\n",
                f"- Info: {self.client_information}\\n",
                f"- Why: {self.reason_counseling}\\n",
                f"{PLANNING_DESC}"
            ])
        else:
            history = self._get_history_text(self.history, ctx_len=self.ctx_len)
            return \'\'.join([
                f"{general_inst}\\n",
                f"- Info: {self.client_information}\\n",
                f"- Why: {self.reason_counseling}\\n",
                f"\\nTALK SO FAR:\\n{history}\\n\\n",
                f"{PLANNING_DESC}"
            ])

    def generate_response_instruction(self, cbt_plan):
        if len(self.history) == 0:
            return \'\'.join([
                f"{IMAGE_DESC}\\n",
                f"- Info: {self.client_information}\\n",
                f"- Why: {self.reason_counseling}\\n",
                f"{cbt_plan}\\n",
                f"{CBT_DESC}"
            ])
        else:
            history = self._get_history_text(self.history, ctx_len=self.ctx_len)
            return \'\'.join([
                f"{IMAGE_DESC}\\n",
                f"- Info: {self.client_information}\\n",
                f"- Why: {self.reason_counseling}\\n",
                f"{cbt_plan}\\n",
                f"\\nTALK SO FAR:\\n{history}\\n\\n",
                f"{CBT_DESC}"
            ])


class LlavaMirrorEcPlanningCounselor(LlavaMirrorPlanningCounselor):
    def generate_response_instruction(self, stage_direction, cbt_plan):
        if len(self.history) == 0:
            return \'\'.join([
                f"{IMAGE_DESC}\\n",
                f"- Info: {self.client_information}\\n",
                f"- Feels: {stage_direction}\\n",
                f"- Why: {self.reason_counseling}\\n",
                f"{cbt_plan}\\n",
                f"{CBT_DESC}"
            ])
        else:
            history = self._get_history_text(self.history, ctx_len=self.ctx_len)
            return \'\'.join([
                f"{IMAGE_DESC}\\n",
                f"- Info: {self.client_information}\\n",
                f"- Feels: {stage_direction}\\n",
                f"- Why: {self.reason_counseling}\\n",
                f"{cbt_plan}\\n",
                f"\\nTALK SO FAR:\\n{history}\\n\\n",
                f"{CBT_DESC}"
            ])
''',
    "mirror-llava/llava/conversation.py": """
conv_vicuna_v1 = Conversation(
    system="SYSTEM SENTENCE OF THE TESTS. "
    "It is two sentences.",
    roles=("USER", "ASSISTANT"),
    version="v1",
    messages=(),
    offset=0,
    sep_style=SeparatorStyle.TWO,
    sep=" ",
    sep2="</s>",
)
""",
    "llm_therapist/src/agents/gpt.py": '''
QUERY = """### Client ###:
{client_information}

### Why ###:
{reason_counseling}

### So far ###:
{history}"""
''',
    "llm_therapist/src/prompts/agent_llama3.txt": (
        "LLAMA3 COUNSELOR: answer the client.\n\nClient:\n{client_information}\n\nWhy:\n{reason_counseling}\n\n"
        "Talk:\n{history}"
    ),
    "llm_therapist/src/prompts/agent_gpt.txt": "GPT COUNSELOR SYSTEM: answer the client kindly.",
    "llm_therapist/src/prompts/agent_cactus_llama3.txt": (
        "<|start_header_id|>system<|end_header_id|>\n\nCAMEL COUNSELOR: follow the plan.<|eot_id|>"
        "<|start_header_id|>user<|end_header_id|>\n\nClient:\n{client_information}\n\nWhy:\n{reason_counseling}\n\n"
        "Plan:\n{cbt_plan}\n\nTalk:\n{history}<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n\n"
    ),
    # the data pipeline: screenplays (mirror/agent) and expressions (mirror/src/prompts)
    "mirror/agent/prompts/session_v3.txt": "SCREENWRITER: write a first CBT session, with [stage directions].",
    "mirror/agent/examples/prompt_1.txt": "EXAMPLE PROFILE ONE",
    "mirror/agent/examples/output_1.txt": "Therapist: [Smiles] Hello.\nClient: [Sighs] Hi.",
    "mirror/agent/examples/prompt_2.txt": "EXAMPLE PROFILE TWO",
    "mirror/agent/examples/output_2.txt": "Therapist: Welcome.\nClient: [Nods] Thanks.",
    "mirror/agent/counseling_gen.py": '''
QUERY = """## Who ##
### Person ###: {client_persona}
### Traits ###: {personality_trait}
### Thought ###: {distorted_thoughts}
### Traps ###: {cognitive_distortion}
### Why ###: {reason_counseling}
## Plan ##
{cbt_plan}
## SESSION ##"""
''',
    "mirror/agent/personality.py": """
PERSONALITY_TRAITS = [
    {"trait_name": "Emotional Resistance", "desc": "HIDES FEELINGS (stand-in)."},
    {"trait_name": "Cognitive Resistance", "desc": "ARGUES BACK (stand-in)."},
    {"trait_name": "Behavioral Resistance", "desc": "SKIPS TASKS (stand-in)."},
    {"trait_name": "No Resistance", "desc": "OPEN (stand-in)."},
]
""",
    "mirror/src/prompts/llama.py": '''
QUERY = """FACE WRITER: describe the face.
### Talk ###
{dialogue}
### Line ###
{utterance}"""
''',
    "mirror/src/prompts/__init__.py": '''
SAMPLE_DIALOG = """Therapist: [Calm] How are you?"""
SAMPLE_UTTER = """Client: [Frowns] Tired."""


def build_message_for_llama(dialogue, utter):
    messages = [{"role": "user", "content": LLAMA_QUERY.format(dialogue=SAMPLE_DIALOG, utterance=SAMPLE_UTTER)},
           {"role": "assistance", "content": """Facial Expression Description: tired eyes
Contrasting Facial Expression Description: a bright grin"""}]
    messages += [{"role": "user", "content": LLAMA_QUERY.format(dialogue=dialogue, utterance=utter)}]
    return messages
''',
    "llm_therapist/src/prompts/agent_cbt_llama3.txt": (
        "<|start_header_id|>system<|end_header_id|>\n\nCAMEL PLANNER.<|eot_id|>"
        "<|start_header_id|>user<|end_header_id|>\n\nClient:\n{client_information}\n\nWhy:\n{reason_counseling}\n\n"
        "Talk:\n{history}\n\nPick a technique and a plan.<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n"
    ),
}


def write_upstream(folder: Path) -> Upstream:
    """The stand-in repository in ``folder`` and an Upstream pinned to its files' digests, read from there."""
    digests = {}
    for path, text in FILES.items():
        target = folder / path
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(text.lstrip("\n") if path.endswith(".py") else text, encoding="utf-8")
        digests[path] = hashlib.sha256(target.read_bytes()).hexdigest()
    pins_path(folder).write_text(json.dumps({"commit": MIRROR.commit, "digests": digests}), encoding="utf-8")
    return Upstream(MIRROR.repo, MIRROR.commit, digests, clone=str(folder))


def pins_path(folder) -> Path:
    """The stand-in's pins (``--upstream-pins``), beside it: the command line reads the stand-in through them."""
    folder = Path(folder)
    return folder.parent / f"{folder.name}-pins.json"


def cli_upstream(upstream: Upstream) -> list[str]:
    """The command-line options that make a command read the stand-in."""
    return ["--upstream", upstream.clone, "--upstream-pins", str(pins_path(upstream.clone))]


def run_upstream(folder: Path, path: str) -> dict:
    """The stand-in Python file executed (it imports nothing): its names."""
    names = {"Conversation": dict, "SeparatorStyle": type("SeparatorStyle", (), {"TWO": "TWO"})}
    exec((folder / path).read_text(encoding="utf-8"), names)  # our own test file
    return names


class CounselorState:
    """The fields the authors' counselor methods read from ``self``, and its history rendering."""

    def __init__(self, info: str, reason: str, history: list[tuple[str, str]], ctx_len: int = 16):
        self.client_information, self.reason_counseling, self.ctx_len = info, reason, ctx_len
        self.history = [{"role": role, "content": content} for role, content in history]

    def _get_history_text(self, history, ctx_len=None):
        if ctx_len:
            history = history[-ctx_len:]
        return "\n".join(f"{m['role'].capitalize()}: {m['content']}" for m in history)
