"""GPU check: contrastive training of a BiomedCLIP-size retriever (timm ViT-B/16 + BERT-base, 196 M parameters,
random init built from a local config as in docs/offline.md §4) with bf16 autocast: images/s, peak GPU memory, the
loss curve and the card; then ``train_retriever`` end to end on the same device (bf16 path, checkpoint with CUDA RNG
state, resume-ready save, reload through ``create_encoder``).

Throughput runs on a fixed pool of synthetic (image, text) pairs kept on the GPU, so it measures the model, not
image decoding. Texts are tokenized to BiomedCLIP's 256-token context by a WordPiece tokenizer trained on the fly.

Smoke test on CPU:  .venv/bin/python benchmarks/gpu_train_retriever.py --steps 2 --batch-size 2 --out /tmp/gpu.json

On the device machine (no open_clip, pydantic there; carry them as wheels, README of the device tool). Once, here:
    echo /.whl/ >> .git/info/exclude
    python3 -m pip download --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \\
      --platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64 -d .whl \\
      open_clip_torch==3.3.0 ftfy==6.3.1 wcwidth==0.9.4 pydantic==2.14.4 pydantic_core==2.50.5 \\
      annotated_types==0.8.0 typing_inspection==0.4.5 typing_extensions==4.16.0     (5 MB; checked 2026-11-26)
  then one run (carry [".whl"], timeout_s 540):
    python3 -m pip install -q --no-index --no-deps --no-compile --target /tmp/site .whl/*.whl && \\
    export PYTHONPATH=/tmp/site:src PYTHONUNBUFFERED=1 HF_HUB_OFFLINE=1 && \\
    python3 benchmarks/gpu_train_retriever.py --steps 300 --batch-size 128 --out $OUT/gpu_train_retriever.json
  and back here:
    .venv/bin/python benchmarks/gpu_train_retriever.py --record FILES_AT/gpu_train_retriever.json \\
      --benchmarks BENCHMARKS.md
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from benchlib import write_section

_WORD_LIST = (
    "frontal lateral chest radiograph ct mri axial coronal sagittal contrast enhanced noncontrast lesion mass nodule "
    "opacity consolidation effusion pneumothorax atelectasis cardiomegaly edema fracture hemorrhage infarct tumor cyst "
    "abscess calcification enlargement thickening stenosis aneurysm dilation obstruction left right bilateral upper "
    "lower lobe segment liver kidney spleen pancreas bladder prostate brain ventricle cortex white matter spine "
    "vertebra disc cord femur tibia humerus pelvis hip knee shoulder no acute abnormality normal size mild moderate "
    "severe small large focal diffuse multiple single well defined ill margins irregular rounded enhancing findings "
    "consistent with diagnosis differential includes likely unlikely follow up recommended compared prior study "
    "unchanged increased decreased new resolved"
)
WORDS = tuple(_WORD_LIST.split())


def log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def synthetic_texts(count: int, seed: int) -> list[str]:
    """Report-like word salad, 40-120 words each: enough to fill most of a 256-token context."""
    import random

    rng = random.Random(seed)
    return [" ".join(rng.choice(WORDS) for _ in range(rng.randint(40, 120))) + "." for _ in range(count)]


def build_biomedclip_local(folder: Path, seed: int) -> Path:
    """An open_clip ``local-dir`` folder with BiomedCLIP's architecture and random weights (offline.md §4)."""
    import open_clip
    import safetensors.torch
    import torch
    from tokenizers import Tokenizer, models, normalizers, pre_tokenizers, processors, trainers
    from transformers import BertConfig, BertTokenizer

    tok = Tokenizer(models.WordPiece(unk_token="[UNK]"))
    tok.normalizer = normalizers.BertNormalizer(lowercase=True)
    tok.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    specials = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
    tok.train_from_iterator(
        synthetic_texts(2000, seed), trainers.WordPieceTrainer(vocab_size=2000, special_tokens=specials)
    )
    cls, sep = tok.token_to_id("[CLS]"), tok.token_to_id("[SEP]")
    assert cls is not None and sep is not None
    tok.post_processor = processors.BertProcessing(("[SEP]", sep), ("[CLS]", cls))
    tokenizer = BertTokenizer(tokenizer_object=tok, model_max_length=512)
    model_dir = folder / "model"
    model_dir.mkdir(parents=True)
    # PubMedBERT-base's shape: vocabulary 30522 (our tokenizer uses the first ids), 12 layers of 768.
    BertConfig(vocab_size=30522, hidden_size=768, num_hidden_layers=12, num_attention_heads=12).save_pretrained(
        model_dir
    )
    tokenizer.save_pretrained(model_dir)
    cfg = {
        "embed_dim": 512,
        "vision_cfg": {
            "timm_model_name": "vit_base_patch16_224",
            "timm_model_pretrained": False,
            "timm_pool": "",
            "timm_proj": "linear",
            "image_size": 224,
        },
        "text_cfg": {
            "hf_model_name": str(model_dir),
            "hf_tokenizer_name": str(model_dir),
            "hf_proj_type": "mlp",
            "hf_pooler_type": "cls_last_hidden_state_pooler",
            "context_length": 256,
        },
    }
    (model_dir / "open_clip_config.json").write_text(json.dumps({"model_cfg": cfg, "preprocess_cfg": {}}))
    torch.manual_seed(seed)
    model = open_clip.create_model(f"local-dir:{model_dir}", pretrained_text=False)
    safetensors.torch.save_file(model.state_dict(), str(model_dir / "open_clip_model.safetensors"))
    return model_dir


def throughput(model_dir: Path, steps: int, batch: int, device: str, seed: int) -> dict[str, Any]:
    """``steps`` AdamW steps of the symmetric InfoNCE loss at ``batch`` pairs, bf16 autocast on CUDA."""
    import open_clip
    import torch

    from mmedrag.training.contrastive import MAX_LOGIT_SCALE, contrastive_loss, warmup_cosine

    torch.manual_seed(seed)
    model = open_clip.create_model(f"local-dir:{model_dir}").to(device).train()
    tokenizer = open_clip.get_tokenizer(f"local-dir:{model_dir}")
    pool = max(4 * batch, 64)
    tokens = tokenizer(synthetic_texts(pool, seed + 1)).to(device)
    generator = torch.Generator(device=device).manual_seed(seed)
    images = torch.randn(pool, 3, 224, 224, generator=generator, device=device)
    decay = [p for n, p in model.named_parameters() if p.ndim >= 2 and "logit_scale" not in n]
    no_decay = [p for n, p in model.named_parameters() if p.ndim < 2 or "logit_scale" in n]
    optimizer = torch.optim.AdamW(
        [{"params": decay, "weight_decay": 0.05}, {"params": no_decay, "weight_decay": 0.0}],
        lr=5e-4,
        betas=(0.9, 0.98),
        eps=1e-6,
    )
    warmup = max(1, min(50, steps // 10))
    scheduler = warmup_cosine(optimizer, warmup, steps + warmup)
    cuda = device.startswith("cuda")
    autocast = torch.autocast("cuda", dtype=torch.bfloat16) if cuda else torch.autocast("cpu", enabled=False)

    def step() -> Any:
        rows = torch.randint(0, pool, (batch,), generator=generator, device=device)
        with autocast:
            image_features = model.encode_image(images[rows])
            text_features = model.encode_text(tokens[rows])
        loss = contrastive_loss(image_features, text_features, model.logit_scale, rows)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        scheduler.step()
        with torch.no_grad():
            model.logit_scale.clamp_(0, MAX_LOGIT_SCALE)
        return loss.detach()

    log(f"{sum(p.numel() for p in model.parameters()) / 1e6:.1f} M parameters; {warmup} warm-up steps untimed")
    for _ in range(warmup):
        step()
    if cuda:
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
    losses, started = [], time.perf_counter()
    for number in range(steps):
        losses.append(step())
        if number % 50 == 0:
            log(f"step {number}/{steps}: loss {float(losses[-1]):.4f}")
    if cuda:
        torch.cuda.synchronize()
    seconds = time.perf_counter() - started
    curve = [round(float(loss), 4) for loss in losses]
    return {
        "parameters_m": round(sum(p.numel() for p in model.parameters()) / 1e6, 1),
        "steps": steps,
        "batch_size": batch,
        "images_per_s": round(steps * batch / seconds, 2),
        "step_ms": round(1000 * seconds / steps, 1),
        "peak_memory_gib": round(torch.cuda.max_memory_allocated() / 1024**3, 2) if cuda else None,
        "loss_first": curve[0],
        "loss_last": curve[-1],
        "loss_curve_every_10": curve[::10],
        "final_temperature": round(float(model.logit_scale.exp()), 2),
        "precision": "bf16 autocast" if cuda else "fp32",
    }


def trainer_check(model_dir: Path, work: Path, batch: int, device: str) -> dict[str, Any]:
    """``train_retriever`` for 2 epochs on synthetic PNG pairs: the library's own bf16 + checkpoint + save path."""
    import numpy as np
    from PIL import Image

    from mmedrag.encoders import create_encoder
    from mmedrag.training.retriever import RetrieverSettings, train_retriever
    from mmedrag.training.retriever_pairs import Pair

    rng = np.random.default_rng(0)
    texts = synthetic_texts(6 * batch, 7)
    pairs = []
    for number, text in enumerate(texts):
        path = work / f"img{number}.png"
        Image.fromarray(rng.integers(0, 255, (64, 64, 3), dtype=np.uint8)).resize((256, 256)).save(path)
        pairs.append(Pair(str(path), text, str(number)))
    started = time.perf_counter()
    report = train_retriever(
        pairs[: 4 * batch],
        pairs[4 * batch :],
        work / "out",
        RetrieverSettings(
            base=f"open_clip:{model_dir}",
            train_text=True,
            epochs=2,
            batch_size=batch,
            lr=5e-4,
            allow_worse=True,
            device=device,
        ),
        log=log,
    )
    encoder = create_encoder(report.encoder, device=device)
    vectors = encoder.encode_texts(texts[:4])
    checkpoint = work / "out" / "checkpoints" / "epoch-2" / "state.pt"
    return {
        "seconds": round(time.perf_counter() - started, 1),
        "before_mean": report.before_mean,
        "after_mean": report.after_mean,
        "losses": report.losses,
        "checkpoint_gib": round(checkpoint.stat().st_size / 1024**3, 2),
        "reloaded_dim": int(vectors.shape[1]),
        "device": report.device,
    }


def card(device: str) -> dict[str, Any]:
    import torch

    info: dict[str, Any] = {"device": device, "torch": torch.__version__, "python": platform.python_version()}
    if device.startswith("cuda"):
        props = torch.cuda.get_device_properties(0)
        info.update(gpu=props.name, gpu_memory_gib=round(props.total_memory / 1024**3, 1), cuda=torch.version.cuda)
    else:
        info.update(cpu=platform.processor() or platform.machine(), cpus=os.cpu_count())
    return info


def markdown(result: dict[str, Any]) -> str:
    t, c = result["throughput"], result["card"]
    where = (
        f"{c['gpu']} ({c['gpu_memory_gib']} GiB), torch {c['torch']}, CUDA {c['cuda']}"
        if "gpu" in c
        else f"CPU smoke test ({c['cpus']} cores), torch {c['torch']}"
    )
    lines = [
        "## GPU: BiomedCLIP-size retriever training (ViT-B/16 + BERT-base, random init)",
        "",
        f"`benchmarks/gpu_train_retriever.py`, {result['date']}, {where}.",
        "",
        "| params (M) | batch | steps | precision | images/s | ms/step | peak memory (GiB) | loss first -> last |",
        "|---|---|---|---|---|---|---|---|",
        f"| {t['parameters_m']} | {t['batch_size']} | {t['steps']} | {t['precision']} | {t['images_per_s']} "
        f"| {t['step_ms']} | {t['peak_memory_gib']} | {t['loss_first']} -> {t['loss_last']} |",
        "",
        f"Loss every 10 steps: {', '.join(str(x) for x in t['loss_curve_every_10'])}.",
    ]
    if result.get("trainer_check"):
        tc = result["trainer_check"]
        lines += [
            "",
            f"`train_retriever` end to end on {tc['device']} (2 epochs, synthetic pairs): {tc['seconds']} s, losses "
            f"{tc['losses']}, checkpoint {tc['checkpoint_gib']} GiB, reloaded through `create_encoder` "
            f"({tc['reloaded_dim']}-d).",
        ]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--steps", type=int, default=300)
    p.add_argument("--batch-size", type=int, default=128)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--device", default="auto", help="cuda, cpu or auto")
    p.add_argument("--skip-trainer-check", action="store_true", help="only the throughput measurement")
    p.add_argument("--out", help="JSON result path (default: $OUT/gpu_train_retriever.json, else ./)")
    p.add_argument("--record", help="instead of running: a result JSON to write into --benchmarks")
    p.add_argument("--benchmarks", default="BENCHMARKS.md", help="markdown file for --record")
    args = p.parse_args(argv)
    if args.record:
        recorded = json.loads(Path(args.record).read_text(encoding="utf-8"))
        write_section(Path(args.benchmarks), "gpu_train_retriever", markdown(recorded))
        log(f"wrote the gpu_train_retriever section of {args.benchmarks}")
        return 0
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    import torch

    device = ("cuda" if torch.cuda.is_available() else "cpu") if args.device == "auto" else args.device
    if device.startswith("cuda"):
        torch.backends.cuda.matmul.allow_tf32 = True  # fp32 leftovers (loss, optimizer) on tensor cores
    out = Path(args.out or Path(os.environ.get("OUT", ".")) / "gpu_train_retriever.json")
    result: dict[str, Any] = {"date": dt.date.today().isoformat(), "card": card(device)}
    with tempfile.TemporaryDirectory() as scratch:
        clock = time.perf_counter()
        model_dir = build_biomedclip_local(Path(scratch), args.seed)
        log(f"built the BiomedCLIP-shaped model in {time.perf_counter() - clock:.1f} s")
        result["throughput"] = throughput(model_dir, args.steps, args.batch_size, device, args.seed)
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(json.dumps(result, indent=2), encoding="utf-8")  # keep the numbers if the check fails
        if not args.skip_trainer_check:
            work = Path(scratch) / "trainer"
            work.mkdir()
            result["trainer_check"] = trainer_check(model_dir, work, args.batch_size, device)
    out.write_text(json.dumps(result, indent=2), encoding="utf-8")
    print(markdown(result))
    log(f"wrote {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
