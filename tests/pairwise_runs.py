"""Simulated runs for the pairwise study's tests, in the layout `mirror-hf simulate` writes: three therapists named
as the paper's, 16 profiles (4 per resistance type, no-resistance included), a face at each client turn, and one
failed session (behavioral profile 11 in the third run), which no study may draw."""

import json

from PIL import Image

MODELS = ("LLaMA-3-8B", "CAMEL-LLaMA3", "MIRROR-LLaVA_P+EC")
SLUGS = ("emotional-resistance", "cognitive-resistance", "behavioral-resistance", "no-resistance")
PROFILES = [f"cactus-{k + 1}-{SLUGS[k % 4]}" for k in range(16)]
FAILED = ("MIRROR-LLaVA_P+EC", "cactus-11-behavioral-resistance")


def write_runs(root) -> dict[str, str]:
    """NAME -> run folder, for each of MODELS."""
    runs = {}
    for m, model in enumerate(MODELS):
        run = root / f"run{m}"
        (run / "faces").mkdir(parents=True)
        with (run / "sessions.jsonl").open("w") as f:
            for k, idx in enumerate(PROFILES):
                face = f"faces/{idx}/turn_1.png"
                (run / face).parent.mkdir(parents=True)
                Image.new("RGB", (336, 336), (30 + 70 * m, (15 * k) % 255, 120)).save(run / face)
                turns = [
                    {"speaker": "therapist", "text": f"Welcome. What brings you here today? [{m}:{k}]"},
                    {"speaker": "client", "text": "My sister thinks I need this.", "stage_direction": "(shrugs)"},
                    {
                        "speaker": "therapist",
                        "text": "What do you think?",
                        "emotional_caption": "guarded",
                        "plan": "ask",
                    },
                    {"speaker": "client", "text": "Maybe she is right.", "stage_direction": None},
                ]
                for t, turn in enumerate(turns):
                    turn.setdefault("stage_direction", None)
                    turn["image"] = face if t == 1 else None
                end = "backend_error" if (model, idx) == FAILED else "client_ended"
                record = {"session_id": idx, "profile_idx": idx, "end_reason": end, "turns": turns}
                f.write(json.dumps(record) + "\n")
        runs[model] = str(run)
    return runs


def specs(runs: dict[str, str]) -> list[str]:
    return [f"{name}={path}" for name, path in runs.items()]
