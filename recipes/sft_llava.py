"""LoRA fine-tuning of LLaVA on MIRROR (TRL SFTTrainer + peft), one GPU or many.

    accelerate launch --config_file recipes/accelerate_configs/single_gpu.yaml \\
        recipes/sft_llava.py --config recipes/llava-1.5-7b/ec_planning.yaml

Any field can be overridden on the command line (``--per_device_train_batch_size 8``). Rerunning with the same
``output_dir`` resumes from its last checkpoint. Outputs: the adapter (LoRA + the fully trained projector), the
processor, ``mirror_recipe.yaml`` (every resolved setting) and a model card; ``--push_to_hub`` publishes them.
"""

import logging
from pathlib import Path

import yaml
from datasets import load_dataset
from transformers import AutoModelForImageTextToText, AutoProcessor, set_seed
from trl import ModelConfig, ScriptArguments, TrlParser

from mirror_hf.schema import RECIPE_FILE
from mirror_hf.training.config import MirrorSFTConfig
from mirror_hf.training.conversation import conversation_template
from mirror_hf.training.lora import mirror_lora_config
from mirror_hf.training.preflight import preflight
from mirror_hf.training.recipe import add_length_column, last_checkpoint, recipe_card_renderer, resolved_config
from mirror_hf.training.trainer import MirrorSFTTrainer
from mirror_hf.upstream import resolve

logger = logging.getLogger(__name__)


def main(script_args: ScriptArguments, training_args: MirrorSFTConfig, model_args: ModelConfig) -> None:
    set_seed(training_args.seed)
    dataset = load_dataset(
        script_args.dataset_name,
        script_args.dataset_config,
        split=script_args.dataset_train_split,
        revision=training_args.dataset_revision,
    )
    processor = AutoProcessor.from_pretrained(model_args.model_name_or_path, revision=model_args.model_revision)
    template = conversation_template(
        training_args.conversation_format, resolve(training_args.upstream, training_args.upstream_pins)
    )
    if template is not None:  # the authors' LLaVA-v1 format, in training and (saved with the adapter) at inference
        processor.chat_template = template
    model = AutoModelForImageTextToText.from_pretrained(
        model_args.model_name_or_path,
        revision=model_args.model_revision,
        dtype=model_args.dtype,
        attn_implementation=model_args.attn_implementation,
    )
    if training_args.train_sampling_strategy in ("group_by_length", "batch_rebalance"):
        dataset = add_length_column(dataset, processor, progress=training_args.process_index == 0)
    peft_config = None
    if model_args.use_peft:
        peft_config = mirror_lora_config(
            model,
            r=model_args.lora_r,
            alpha=model_args.lora_alpha,
            dropout=model_args.lora_dropout,
            target_modules=model_args.lora_target_modules,
        )
    trainer = MirrorSFTTrainer(
        model=model, args=training_args, train_dataset=dataset, processing_class=processor, peft_config=peft_config
    )
    trainer.model_card_renderer = recipe_card_renderer(script_args, training_args, model_args, dataset)
    if training_args.preflight_batches:
        # every process checks (a bad row stops them all alike); the main one prints
        preflight(trainer, training_args.preflight_batches, log=trainer.is_world_process_zero())

    resume = training_args.resume_from_checkpoint or last_checkpoint(training_args)
    if resume:
        trainer.accelerator.print(f"Resuming from {resume}")
    trainer.train(resume_from_checkpoint=resume)
    trainer.save_model(training_args.output_dir)
    trainer.save_state()
    if trainer.is_world_process_zero():
        processor.save_pretrained(training_args.output_dir)
        config = resolved_config(script_args, training_args, model_args)
        Path(training_args.output_dir, RECIPE_FILE).write_text(yaml.safe_dump(config, sort_keys=False))
        trainer.create_model_card()
    if training_args.push_to_hub:
        trainer.push_to_hub(dataset_name=script_args.dataset_name)
    trainer.accelerator.wait_for_everyone()


if __name__ == "__main__":
    parser = TrlParser((ScriptArguments, MirrorSFTConfig, ModelConfig))
    main(*parser.parse_args_and_config())
