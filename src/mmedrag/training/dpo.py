"""DPO preference tuning of a vision-language model with TRL and a PEFT LoRA adapter (method.md §5.2-§5.4), where the
rejected side of a pair may see another image than the chosen side (MMed-RAG's noise images, §5.1.4).
"""

from __future__ import annotations

import hashlib
import json
import re
import shutil
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from mmedrag._optional import require
from mmedrag.errors import ConfigError, DataError
from mmedrag.io.atomic import atomic_write_json
from mmedrag.training import dpo_output
from mmedrag.training.adapters import adapter_sha, check_adapter, load_adapter
from mmedrag.training.dpo_trl import trl_classes
from mmedrag.training.preference_reader import PreferencePair, PreferenceSet, read_preferences, to_dataset
from mmedrag.training.workers import current_workers, launched_engine

ADAPTER_INFO = "mmedrag_dpo.json"
# Attention + MLP projections of the language model; the vision tower and projector stay frozen (method.md §5.4).
LM_TARGETS = ("q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj")

Prefs = str | Path | PreferenceSet | Sequence[PreferencePair]


@dataclass
class DPOSettings:
    """Hyperparameters of one DPO stage; the defaults follow the reference objective (sigmoid loss, β 0.1, §5.4).

    ``reference`` is ``"base"`` (the policy with its adapter disabled, as in both reference stages, §5.4) or the folder
    of an adapter loaded frozen as the reference. ``init_adapter`` continues training that adapter (two-stage training,
    §5.2); its LoRA rank, alpha and targets then come from the adapter. ``bf16`` None means bf16 on CUDA only.
    ``save_steps`` > 0 keeps a Trainer checkpoint every that many steps in ``OUT.checkpoints/``, which a re-run
    continues when ``resume`` (the folder is removed once the adapter is saved). ``trl_args`` go straight to
    ``trl.DPOConfig`` (e.g. ``max_steps``, ``warmup_ratio``, ``lr_scheduler_type``).
    """

    beta: float = 0.1
    loss_type: str = "sigmoid"
    learning_rate: float = 5e-6
    epochs: float = 1.0
    per_device_batch_size: int = 1
    gradient_accumulation: int = 1
    max_length: int | None = 1024
    lora_r: int = 16
    lora_alpha: int = 32
    lora_dropout: float = 0.05
    lora_targets: tuple[str, ...] = LM_TARGETS
    reference: str = "base"
    init_adapter: str | None = None
    seed: int = 0
    bf16: bool | None = None
    gradient_checkpointing: bool = False
    save_steps: int = 0
    resume: bool = True
    trl_args: dict[str, Any] = field(default_factory=dict)

    def check(self) -> None:
        """Raise ConfigError for a value TRL would reject late or silently misuse."""
        if self.beta <= 0 or self.learning_rate <= 0 or self.epochs <= 0:
            raise ConfigError(
                f"beta, learning rate and epochs must be positive ({self.beta}, {self.learning_rate}, {self.epochs})"
            )
        if self.save_steps < 0:
            raise ConfigError(f"save steps must be 0 (no checkpoints) or positive, got {self.save_steps}")
        if min(self.per_device_batch_size, self.gradient_accumulation, self.lora_r, self.lora_alpha) < 1:
            raise ConfigError("batch size, gradient accumulation, LoRA rank and alpha must be at least 1")
        if self.max_length is not None and self.max_length < 1:
            raise ConfigError(f"max length must be at least 1 token (or None), got {self.max_length}")
        if not 0.0 <= self.lora_dropout < 1.0:
            raise ConfigError(f"LoRA dropout must be in [0, 1), got {self.lora_dropout}")
        bad = [t for t in self.lora_targets if not re.fullmatch(r"[A-Za-z_][\w]*", t)]
        if not self.lora_targets or bad:
            raise ConfigError(f"LoRA targets must be module names such as q_proj,v_proj; got {list(self.lora_targets)}")
        if self.reference != "base" and not Path(self.reference).expanduser().is_dir():
            raise ConfigError(f"reference {self.reference!r} is neither 'base' nor an adapter folder")
        if self.init_adapter is not None and not Path(self.init_adapter).expanduser().is_dir():
            raise ConfigError(f"init adapter {self.init_adapter} is not a folder")


@dataclass
class DPOReport:
    """What a DPO run did and measured. Margins are TRL's ``rewards/margins``: β·[(log π/π_ref)(y_w|x_w) −
    (log π/π_ref)(y_l|x_l)] with summed log-probs, averaged over held-out pairs; accuracy is the share with margin > 0.
    ``initial_adapter_sha``/``final_adapter_sha`` digest the trained LoRA weights (stage 2 starts at stage 1's final).
    """

    adapter_dir: str
    base_model: str
    architecture: str
    reference: str
    train_pairs: int
    heldout_pairs: int
    pair_types: dict[str, int]
    domains: list[str]
    dropped_identical: int
    steps: int
    losses: list[float]
    before: dict[str, float]
    after: dict[str, float]
    lora: dict[str, Any]
    trainable_parameters: int
    initial_adapter_sha: str
    final_adapter_sha: str
    data_digest: str
    device: str
    seconds: float
    settings: dict[str, Any] = field(default_factory=dict)
    processes: int = 1
    resumed_from_step: int | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _pairs(prefs: Prefs) -> tuple[list[PreferencePair], str, int]:
    """Pairs, digest and dropped count from a path, a PreferenceSet or a list of pairs."""
    if isinstance(prefs, (str, Path)):
        prefs = read_preferences(prefs)
    if isinstance(prefs, PreferenceSet):
        return prefs.pairs, prefs.digest, len(prefs.dropped_identical)
    pairs = list(prefs)
    digest = hashlib.sha256(json.dumps([asdict(p) for p in pairs], sort_keys=True).encode()).hexdigest()[:16]
    return pairs, digest, 0


def _lm_target_regex(model: Any, targets: Sequence[str]) -> str:
    """A PEFT ``target_modules`` regex for ``targets`` inside the language model only (Qwen2.5-VL's vision blocks
    also have gate/up/down projections, so leaf names alone would adapt the vision tower)."""
    decoder = model.get_decoder()
    prefix = next((name for name, module in model.named_modules() if module is decoder), "")
    if not prefix:
        raise ConfigError(f"cannot find the language model inside {type(model).__name__}; pass a vision-language model")
    return rf"{re.escape(prefix)}\..*\.({'|'.join(targets)})"


_HELDOUT = {"eval_rewards/margins": "margin", "eval_rewards/accuracies": "accuracy", "eval_loss": "loss"}


def _heldout(metrics: dict[str, Any]) -> dict[str, float]:
    return {short: round(float(metrics[key]), 5) for key, short in _HELDOUT.items() if key in metrics}


def _before(trainer: Any) -> dict[str, float]:
    """The held-out scores of the untrained adapter: Trainer's ``eval_on_start``, the first evaluation it logged (a
    resumed run reads it from the checkpoint's history). Scored inside ``train`` because an evaluation before it
    marks the model prepared, and Trainer would then skip the DDP/FSDP wrap: every process would train alone."""
    first: dict[str, Any] = next((entry for entry in trainer.state.log_history if "eval_loss" in entry), {})
    return _heldout(first)


def _load_policy(base: str, settings: DPOSettings, bf16: bool) -> tuple[Any, Any]:
    """Processor and PEFT model: a fresh LoRA on the language model, or ``init_adapter`` loaded trainable."""
    torch = require("torch", "train")
    transformers = require("transformers", "train")
    peft = require("peft", "train")
    try:
        processor = transformers.AutoProcessor.from_pretrained(base)
        model = transformers.AutoModelForImageTextToText.from_pretrained(
            base, dtype=torch.bfloat16 if bf16 else torch.float32
        )
    except Exception as exc:
        reason = str(exc).splitlines()[0][:160] if str(exc) else ""
        raise ConfigError(
            f"cannot load base model {base} as an image-text-to-text model ({type(exc).__name__}: {reason})"
        ) from exc
    if settings.init_adapter:
        folder = check_adapter(settings.init_adapter, model, "init adapter")
        return processor, load_adapter(model, folder, "default", trainable=True)
    lora = peft.LoraConfig(
        r=settings.lora_r,
        lora_alpha=settings.lora_alpha,
        lora_dropout=settings.lora_dropout,
        target_modules=_lm_target_regex(model, settings.lora_targets),
        bias="none",
        task_type="CAUSAL_LM",
    )
    try:
        return processor, peft.get_peft_model(model, lora)
    except ValueError as exc:
        raise ConfigError(
            f"LoRA targets {list(settings.lora_targets)} match no layer of the language model "
            f"({str(exc).splitlines()[0][:120]})"
        ) from exc


def _dpo_config(
    settings: DPOSettings, output_dir: Path, bf16: bool, cuda: bool, progress: bool, evaluate_first: bool
) -> Any:
    trl = require("trl", "train")
    saving = {"save_strategy": "steps", "save_steps": settings.save_steps, "save_total_limit": 2}
    options: dict[str, Any] = {
        "output_dir": str(output_dir),
        "beta": settings.beta,
        "loss_type": settings.loss_type,
        "learning_rate": settings.learning_rate,
        "num_train_epochs": settings.epochs,
        "per_device_train_batch_size": settings.per_device_batch_size,
        # One held-out pair per batch: TRL averages per-batch means (a short last batch would weigh more) and padding
        # shifts log-probs slightly, so batch 1 gives per-pair means that compare exactly across runs and stages.
        "per_device_eval_batch_size": 1,
        "eval_on_start": evaluate_first,
        "gradient_accumulation_steps": settings.gradient_accumulation,
        "max_length": settings.max_length,
        "seed": settings.seed,
        "bf16": bf16,
        "use_cpu": not cuda,
        "gradient_checkpointing": settings.gradient_checkpointing,  # TRL's default is on; tiny models run faster off
        "logging_steps": 1,
        **(saving if settings.save_steps else {"save_strategy": "no"}),
        "report_to": "none",
        "disable_tqdm": not progress,
        **settings.trl_args,
    }
    try:
        return trl.DPOConfig(**options)
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"invalid DPO option ({str(exc).splitlines()[0][:200]})") from exc


def _set_reference(policy: Any, reference: str) -> None:
    """TRL gives an already-wrapped PeftModel a frozen "ref" copy of its adapter; replace it with what was asked:
    nothing (adapters disabled = the base model, as both reference stages did, §5.4) or the named adapter frozen."""
    if "ref" in policy.peft_config:
        policy.delete_adapter("ref")
    if reference != "base":
        load_adapter(policy, reference, "ref", trainable=False)
    policy.set_adapter("default")


def train_dpo(
    prefs: Prefs,
    base_model: str | Path,
    out_dir: str | Path,
    settings: DPOSettings | None = None,
    heldout: Prefs | None = None,
    progress: bool = False,
) -> DPOReport:
    """Train (or continue) a LoRA adapter on ``base_model`` with DPO and save it to ``out_dir``, all or nothing.

    Args:
        prefs: preference JSONL (see :mod:`mmedrag.training.preference_reader`), a read set, or pairs.
        base_model: folder (or cached hub id) of a transformers image-text-to-text model.
        out_dir: adapter folder to write; an existing one is replaced only once training has succeeded.
        settings: hyperparameters (defaults: :class:`DPOSettings`).
        heldout: pairs never trained on, scored before and after (margin, accuracy, loss).
        progress: show TRL's progress bar; otherwise nothing is printed.

    Returns:
        The report, also saved as ``mmedrag_dpo.json`` beside ``adapter_config.json`` and the weights.

    Raises:
        DataError: a bad preference file (see :func:`~mmedrag.training.preference_reader.read_preferences`).
        ConfigError: a bad setting, an unloadable base model, or an adapter trained on another base model.
    """
    settings = settings or DPOSettings()
    settings.check()
    workers = current_workers()  # under `accelerate launch`, Trainer shards the data; only the main process writes
    out = Path(out_dir).expanduser().resolve()
    dpo_output.prepare_out(out, ADAPTER_INFO)
    started = time.monotonic()
    pairs, digest, dropped = _pairs(prefs)
    held, held_digest, _ = _pairs(heldout) if heldout is not None else ([], "", 0)
    if not pairs:
        raise DataError("no preference pairs to train on")
    train_ds, held_ds = to_dataset(pairs), (to_dataset(held) if held else None)
    base = str(Path(base_model).expanduser().resolve()) if Path(base_model).expanduser().exists() else str(base_model)
    cuda, bf16 = _precision(settings)
    require("transformers", "train").set_seed(settings.seed)  # before the LoRA weights are drawn
    processor, model = _load_policy(base, settings, bf16)
    reference = "base" if settings.reference == "base" else check_adapter(settings.reference, model, "reference")
    data_digest = hashlib.sha256(f"{digest}:{held_digest}".encode()).hexdigest()[:16]
    run = dpo_output.run_identity(base, data_digest, asdict(settings))
    checkpoints = dpo_output.checkpoint_dir(out)
    resume_from = dpo_output.resume_point(checkpoints, run, settings.resume) if settings.save_steps else None

    staging = dpo_output.staging_dir(out)
    try:
        if workers.main:
            dpo_output.start_run(staging, checkpoints if settings.save_steps else None, run, resume_from is not None)
        workers.barrier()
        folder = checkpoints if settings.save_steps else staging / "trainer"
        evaluate_first = held_ds is not None and resume_from is None
        args = _dpo_config(settings, folder, bf16, cuda, progress and workers.main, evaluate_first)
        trainer = _trainer(model, processor, args, (train_ds, held_ds), progress)
        policy = trainer.accelerator.unwrap_model(trainer.model)
        _set_reference(policy, reference)
        initial_sha = adapter_sha(policy)
        trainer.train(resume_from_checkpoint=resume_from)
        before = _before(trainer)
        after = _heldout(trainer.evaluate()) if held_ds is not None else {}
        # Every process takes part: FSDP and ZeRO-3 gather the sharded weights into the main process's copy.
        state = trainer.accelerator.get_state_dict(trainer.model)
        report = _report(
            trainer,
            policy,
            state,
            settings,
            pairs,
            held,
            adapter_dir=str(out),
            base_model=base,
            reference=reference,
            dropped_identical=dropped,
            before=before,
            after=after,
            initial_adapter_sha=initial_sha,
            data_digest=data_digest,
            seconds=round(time.monotonic() - started, 2),
            resumed_from_step=int(Path(resume_from).name.rpartition("-")[2]) if resume_from else None,
        )
        _check_replicas(workers, report.final_adapter_sha)
        if workers.main:
            _save(policy, state, staging, base, {"data": {"train": digest, "heldout": held_digest}, "report": report})
            dpo_output.publish(staging, out)
            shutil.rmtree(checkpoints, ignore_errors=True)
        workers.barrier()
    except BaseException:
        if workers.main:
            shutil.rmtree(staging, ignore_errors=True)
        raise
    return report


def _precision(settings: DPOSettings) -> tuple[bool, bool]:
    """Whether CUDA is there, and whether to train in bf16 (``settings.bf16``, else on GPUs that support it)."""
    torch = require("torch", "train")
    cuda = bool(torch.cuda.is_available())
    return cuda, settings.bf16 if settings.bf16 is not None else cuda and torch.cuda.is_bf16_supported()


def _check_replicas(workers: Any, sha: str) -> None:
    """Data-parallel processes must end with one adapter; differing ones mean the gradients were never shared (as
    when Trainer skips its DDP wrap) and the main process would save a model trained on its shard alone."""
    if workers.distributed and launched_engine() is None and not workers.same_everywhere(sha):
        raise RuntimeError("the processes ended with different adapters: their gradients were not synchronised")


def _trainer(model: Any, processor: Any, args: Any, datasets: tuple[Any, Any], progress: bool) -> Any:
    collator_cls, trainer_cls = trl_classes()
    trainer = trainer_cls(
        model=model,
        args=args,
        train_dataset=datasets[0],
        eval_dataset=datasets[1],
        processing_class=processor,
        data_collator=collator_cls(processor=processor, max_length=args.max_length),
    )
    if not progress:  # with the bar off, Trainer prints every log line to stdout
        trainer.remove_callback(require("transformers", "train").trainer_callback.PrinterCallback)
    return trainer


def _report(
    trainer: Any,
    policy: Any,
    state: dict[str, Any],
    settings: DPOSettings,
    pairs: list[PreferencePair],
    held: list[PreferencePair],
    **facts: Any,
) -> DPOReport:
    """The report of a finished run: what the trainer and the adapter say, plus the run's ``facts``."""
    config = policy.peft_config["default"]
    targets = config.target_modules
    return DPOReport(
        architecture=str(policy.get_base_model().config.model_type),
        train_pairs=len(pairs),
        heldout_pairs=len(held),
        pair_types=dict(Counter(p.pair_type or "unknown" for p in pairs)),
        domains=sorted({p.domain for p in pairs if p.domain}),
        steps=int(trainer.state.global_step),
        losses=[round(float(e["loss"]), 5) for e in trainer.state.log_history if "loss" in e],
        lora={
            "r": config.r,
            "alpha": config.lora_alpha,
            "dropout": config.lora_dropout,
            "targets": targets if isinstance(targets, str) else sorted(targets),
        },
        trainable_parameters=sum(p.numel() for p in policy.parameters() if p.requires_grad),
        final_adapter_sha=adapter_sha(policy, state=state),
        device=str(trainer.args.device),
        settings={**asdict(settings), "lora_targets": list(settings.lora_targets)},
        processes=int(trainer.args.world_size),
        **facts,
    )


def _save(policy: Any, state: dict[str, Any], staging: Path, base: str, info: dict[str, Any]) -> None:
    """The trained adapter (only "default", not the frozen reference) and the run's report into ``staging``."""
    policy.peft_config["default"].base_model_name_or_path = base  # HFGenerator checks the adapter against it
    policy.save_pretrained(str(staging), selected_adapters=["default"], state_dict=state, save_embedding_layers=False)
    shutil.rmtree(staging / "trainer", ignore_errors=True)
    atomic_write_json(staging / ADAPTER_INFO, {**info, "report": info["report"].to_dict()})
