"""The recipe's typed configs, parsed from YAML + command line by TRL's ``TrlParser``.

Example:
    >>> from trl import ModelConfig, ScriptArguments, TrlParser
    >>> from mirror_hf.training.config import MirrorSFTConfig
    >>> parser = TrlParser((ScriptArguments, MirrorSFTConfig, ModelConfig))
    >>> script, training, model = parser.parse_args_and_config(["--dataset_name", "mirror", "--output_dir", "out"])
    >>> training.projector_lr
    2e-05
"""

from __future__ import annotations

from dataclasses import dataclass, field

from trl import SFTConfig


@dataclass
class MirrorSFTConfig(SFTConfig):
    """TRL's ``SFTConfig`` plus what the MIRROR recipe adds.

    ``learning_rate`` is the LoRA learning rate; the multimodal projector, trained fully, gets ``projector_lr`` in
    its own optimizer parameter group (the authors' ``mm_projector_lr``).
    """

    projector_lr: float | None = field(
        default=2e-5,
        metadata={"help": "Learning rate of the fully trained multimodal projector (None: same as learning_rate)."},
    )
    preflight_batches: int = field(
        default=2, metadata={"help": "Batches collated and checked before the first step (0 disables)."}
    )
    dataset_revision: str | None = field(default=None, metadata={"help": "Hub revision of the dataset."})
    conversation_format: str = field(
        default="llava_v1",
        metadata={
            "help": "llava_v1: the authors' conversation format (LLaVA's --version v1: the Vicuna system sentence, "
            "USER: / ASSISTANT:, </s> after the answer), read from their repository and saved with the adapter; "
            "processor: the processor's own chat template (llava-hf's has no system sentence)."
        },
    )
    upstream: str | None = field(
        default=None,
        metadata={"help": "A local clone of the authors' repository (nobel-postech/mirror) instead of fetching."},
    )
    upstream_pins: str | None = field(
        default=None, metadata={"help": "JSON pins of another commit of the authors' repository (a fork, a fix)."}
    )
    causal_only_attention: bool = field(
        default=True,
        metadata={
            "help": "Train without the padding mask, on causal attention alone: exact where a batch is padded on the "
            "right, as TRL's collators pad (no real token attends to a later position, padded positions carry no "
            "label), and it lets SDPA run its causal kernels, which skip the masked half (1.08x tokens/s on an H100, "
            "recipes/README.md). A batch padded otherwise keeps its mask."
        },
    )
    compile_decoder_layers: bool = field(
        default=False,
        metadata={
            "help": "torch.compile each decoder layer of the language model in place (regional compilation: fuses "
            "the element-wise work between the matrix products; 1.07x samples/s on an H100, recipes/README.md). "
            "Compiling adds start-up time. One process or DDP; not with DeepSpeed or FSDP."
        },
    )
    # transformers sets find_unused_parameters=True for any model that is not a PreTrainedModel, so for every peft
    # model: DDP then walks the autograd graph after each backward, for nothing (LoRA and projector are all used).
    ddp_find_unused_parameters: bool | None = field(
        default=False,
        metadata={"help": "DDP's find_unused_parameters (default False: every trainable parameter is used)."},
    )
    model_license: str = field(default="llama2", metadata={"help": "Licence of the trained model (the base's)."})
    widget_image: str | None = field(
        default=None,
        metadata={
            "help": "Image shown in the model card widget, published with the adapter: not a CelebA face, whose "
            "terms forbid that (default: a drawn face)."
        },
    )
