"""The page of a metric's Hub Space: paste dialogues as JSON, name a judge, see the result. Needs ``gradio``.

Example (a Space's ``app.py``):
    >>> from mirror_hf.metrics.space import build_demo
    >>> build_demo("wai_alliance").launch()                                                  # doctest: +SKIP
"""

from __future__ import annotations

import json
import os

EXAMPLE = [
    [
        {"role": "therapist", "content": "What brings you here today?"},
        {"role": "client", "content": "My boss thinks I am useless, so I probably am."},
    ]
]


def build_demo(name: str):
    import evaluate
    import gradio as gr

    from mirror_hf.metrics import module_path

    module = evaluate.load(str(module_path(name)))

    def judge(dialogues_json: str, judge_spec: str, api_key: str) -> dict:
        if api_key:
            os.environ["OPENAI_API_KEY"] = api_key  # this process only, never stored
        return module.compute(dialogues=json.loads(dialogues_json), judge=judge_spec, progress=False)

    return gr.Interface(
        fn=judge,
        inputs=[
            gr.Code(json.dumps(EXAMPLE, indent=1), language="json", label="dialogues"),
            gr.Textbox("openai:gpt-4o", label="judge: openai:MODEL or MODEL@https://HOST/v1"),
            gr.Textbox(type="password", label="API key (for this call only)"),
        ],
        outputs=gr.JSON(label="result"),
        title=name,
        description=module.description,
        article=module.inputs_description,
    )
