"""Workers: what n processes gather and reduce equals what one process computes on the whole batch (two real gloo
processes), and a sharded engine without GPUs is refused in one line."""

from __future__ import annotations

from pathlib import Path

import pytest

torch = pytest.importorskip("torch", reason="needs torch: pip install 'mmedrag[torch]'")

from mmedrag.errors import ConfigError
from mmedrag.training.workers import Workers, check_hardware, launched_engine


def _loss(images: torch.Tensor, texts: torch.Tensor, scale: torch.Tensor) -> torch.Tensor:
    logits = scale.exp() * images @ texts.T
    labels = torch.arange(len(images))
    return (torch.nn.functional.cross_entropy(logits, labels) + torch.nn.functional.cross_entropy(logits.T, labels)) / 2


def _batch() -> tuple[torch.nn.Linear, torch.nn.Parameter, torch.Tensor, torch.Tensor]:
    torch.manual_seed(0)
    tower, scale = torch.nn.Linear(6, 4), torch.nn.Parameter(torch.tensor(1.0))
    return tower, scale, torch.randn(5, 6), torch.randn(5, 4)


def _worker(rank: int, world: int, store: str, out: str) -> None:
    torch.distributed.init_process_group("gloo", init_method=f"file://{store}", rank=rank, world_size=world)
    try:
        workers = Workers(rank=rank, world=world)
        tower, scale, pixels, texts = _batch()
        mine = slice(0, 3) if rank == 0 else slice(3, 5)  # unequal shares: 3 rows and 2
        images = workers.gather_rows(tower(pixels[mine]))
        loss = _loss(images, texts, scale)
        loss.backward()
        workers.reduce_gradients([tower.weight, tower.bias], [scale])
        agree = (workers.same_everywhere("adapter-sha"), workers.same_everywhere(f"drifted-{rank}"))
        if rank == 0:
            saved = {
                "loss": loss.detach(),
                "w": tower.weight.grad,
                "s": scale.grad,
                "rows": len(images),
                "agree": agree,
            }
            torch.save(saved, out)
    finally:
        torch.distributed.destroy_process_group()


def test_two_processes_get_the_gradients_of_the_whole_batch(tmp_path: Path) -> None:
    out = tmp_path / "rank0.pt"
    torch.multiprocessing.spawn(_worker, args=(2, str(tmp_path / "store"), str(out)), nprocs=2)
    tower, scale, pixels, texts = _batch()
    loss = _loss(tower(pixels), texts, scale)
    loss.backward()
    got = torch.load(out)
    assert got["rows"] == 5 and torch.allclose(got["loss"], loss.detach())
    assert got["agree"] == (True, False)  # replicas that drifted apart are noticed
    assert torch.allclose(got["w"], tower.weight.grad, atol=1e-6)  # summed over the processes' rows
    assert torch.allclose(got["s"], scale.grad, atol=1e-6)  # not counted twice


def test_one_process_is_left_alone() -> None:
    workers = Workers()
    rows = torch.ones(2, 3)
    assert workers.main and not workers.distributed and workers.gather_rows(rows) is rows
    assert workers.agree("x") == "x"


def test_a_sharded_engine_without_gpus_is_one_line(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ACCELERATE_USE_DEEPSPEED", "true")
    assert launched_engine() == "DeepSpeed"
    with pytest.raises(ConfigError, match="uses DeepSpeed, which needs CUDA GPUs.*configs/accelerate/cpu.yaml"):
        check_hardware(launched_engine(), cuda=False)
    check_hardware(launched_engine(), cuda=True)
    monkeypatch.delenv("ACCELERATE_USE_DEEPSPEED")
    assert launched_engine() is None


@pytest.mark.parametrize(("count", "world"), [(10, 3), (2, 2), (7, 4), (0, 2)])
def test_shares_cover_every_item_once_in_order(count: int, world: int) -> None:
    shares = [Workers(rank=rank, world=world).share(count) for rank in range(world)]
    items = list(range(count))
    assert [i for part in shares for i in items[part]] == items
    assert max(len(items[p]) for p in shares) - min(len(items[p]) for p in shares) <= 1
