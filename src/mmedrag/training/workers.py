"""The processes of one training run: one when started plainly, n under ``accelerate launch`` (DDP, FSDP or DeepSpeed
from the files in ``configs/accelerate/``). Only the main process prints, shows progress and writes results; the
others compute their share and wait for it.

The contrastive retriever trains data-parallel by hand here rather than through a DDP wrapper: its loss needs the
features of the whole batch (every image against every text), so each process gathers the others' features, computes
the full loss with gradients through its own rows only, and the gradients are summed (open_clip's ``gather_features``
with the local rows kept differentiable; Radford et al. 2021, §2.5 "we gather the features of the global batch").
"""

from __future__ import annotations

import functools
import os
import warnings
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from mmedrag._optional import require
from mmedrag.errors import ConfigError

# What `accelerate launch` sets for a config that shards the model; a plain data-parallel config sets neither.
_SHARDED_ENGINES = {"ACCELERATE_USE_DEEPSPEED": "DeepSpeed", "ACCELERATE_USE_FSDP": "FSDP"}


def launched_engine() -> str | None:
    """ "DeepSpeed" or "FSDP" when ``accelerate launch`` was given such a config, else None (plain or DDP)."""
    for variable, engine in _SHARDED_ENGINES.items():
        if os.environ.get(variable, "").lower() in {"1", "true", "yes"}:
            return engine
    return None


def check_hardware(engine: str | None, cuda: bool) -> None:
    """One line instead of a DeepSpeed/NCCL traceback deep inside the first step: sharded engines need GPUs here."""
    if engine is not None and not cuda:
        raise ConfigError(
            f"this accelerate config uses {engine}, which needs CUDA GPUs, and none is visible; on CPU launch with "
            f"configs/accelerate/cpu.yaml (data parallel over gloo)"
        )


def warn_if_sharded(workers: Workers, trainer: str) -> None:
    """Say once that a hand-written data-parallel loop ignores the config's FSDP/ZeRO sharding."""
    engine = launched_engine()
    if engine is not None and workers.main:
        warnings.warn(
            f"{trainer} trains data parallel (every process holds the whole model); the {engine} sharding of this "
            f"accelerate config applies to train-dpo only",
            UserWarning,
            stacklevel=3,
        )


@dataclass(frozen=True)
class Workers:
    """Where this process stands among the run's processes. ``rank`` 0 is the main process."""

    rank: int = 0
    world: int = 1
    device: str = "cpu"

    @property
    def main(self) -> bool:
        return self.rank == 0

    @property
    def distributed(self) -> bool:
        return self.world > 1

    def barrier(self) -> None:
        if self.distributed:
            require("torch", "torch").distributed.barrier()

    def gather_rows(self, local: Any) -> Any:
        """Every process's rows, concatenated in rank order; only this process's rows carry gradients. Processes
        may hold different numbers of rows (an unreadable image is dropped from one process's share)."""
        if not self.distributed:
            return local
        torch = require("torch", "torch")
        dist = torch.distributed
        count = torch.tensor([local.shape[0]], device=local.device)
        counts = [torch.zeros_like(count) for _ in range(self.world)]
        dist.all_gather(counts, count)
        rows = [int(c.item()) for c in counts]
        padded = local.new_zeros((max(rows), *local.shape[1:]))
        padded[: rows[self.rank]] = local.detach()
        gathered = [torch.zeros_like(padded) for _ in range(self.world)]
        dist.all_gather(gathered, padded)
        parts = [part[:n] for part, n in zip(gathered, rows, strict=True)]
        parts[self.rank] = local
        return torch.cat(parts)

    def share(self, count: int) -> slice:
        """This process's contiguous share of ``count`` items (sizes differ by at most one), so that gathering the
        shares' results in rank order gives them in item order."""
        base, extra = divmod(count, self.world)
        start = self.rank * base + min(self.rank, extra)
        return slice(start, start + base + (self.rank < extra))

    def reduce_gradients(self, summed: Iterable[Any], averaged: Iterable[Any]) -> None:
        """Make every process's gradients those of the global loss: ``summed`` parameters reach the loss only through
        this process's rows (their true gradient is the sum over processes); ``averaged`` ones (the temperature) enter
        every process's copy of the full loss directly, so each already holds the whole gradient."""
        if not self.distributed:
            return
        torch = require("torch", "torch")
        for parameters, divide in ((summed, False), (averaged, True)):
            grads = [p.grad for p in parameters if p.grad is not None]
            if not grads:
                continue
            flat = torch.cat([g.reshape(-1) for g in grads])  # one message, not one per tensor
            torch.distributed.all_reduce(flat)
            if divide:
                flat /= self.world
            offset = 0
            for grad in grads:
                grad.copy_(flat[offset : offset + grad.numel()].view_as(grad))
                offset += grad.numel()

    def average_buffers(self, module: Any) -> None:
        """Batch-norm running statistics are computed on each process's share of the batch: average them so every
        replica stays the same model (DDP broadcasts rank 0's instead; the mean uses every share)."""
        if not self.distributed:
            return
        dist = require("torch", "torch").distributed
        for statistic in module.buffers():
            if statistic.is_floating_point():
                dist.all_reduce(statistic)
                statistic.div_(self.world)

    def same_everywhere(self, value: Any) -> bool:
        """Whether every process holds an equal ``value`` (a weights digest, to check replicas did not drift)."""
        if not self.distributed:
            return True
        values: list[Any] = [None] * self.world
        require("torch", "torch").distributed.all_gather_object(values, value)
        return all(other == values[0] for other in values)

    def agree(self, value: Any) -> Any:
        """The main process's ``value`` on every process (e.g. a folder name only it drew)."""
        if not self.distributed:
            return value
        box = [value]
        require("torch", "torch").distributed.broadcast_object_list(box, src=0)
        return box[0]


@functools.cache
def current_workers(device: str = "auto") -> Workers:
    """This process's place in the run. Under ``accelerate launch`` with several processes, the process group is
    started here (gloo on CPU, NCCL on GPUs) and each process gets its own GPU; ``device`` then only says CPU or not."""
    torch = require("torch", "torch")
    check_hardware(launched_engine(), torch.cuda.is_available())
    if int(os.environ.get("WORLD_SIZE", "1")) <= 1:
        from mmedrag.encoders.torch_utils import resolve_device

        return Workers(device=resolve_device(device))
    accelerate = require("accelerate", "hf")
    state = accelerate.PartialState(cpu=device == "cpu" or not torch.cuda.is_available())
    device = "cpu" if state.device.type == "cpu" else str(state.device)
    return Workers(rank=state.process_index, world=state.num_processes, device=device)
