"""Batch planning (share groups, length sorting, padding) and the shared-prefix layout, without a model."""

from __future__ import annotations

import pytest

from conftest import make_image
from mmedrag.generation.batching import image_digest, padding_fraction, plan_batches, share_key
from mmedrag.generation.prompts import PromptBuilder
from mmedrag.types import Context, Hit, Prompt, Query, Record


def _prompt(question: str, seed: int, reports: tuple[str, ...] = ()) -> Prompt:
    hits = [Hit(Record(id=f"r{i}", text=text), 1.0, i) for i, text in enumerate(reports, start=1)]
    return PromptBuilder().build(Query(text=question, image=make_image(seed)), Context(hits=hits), "radiology")


def test_share_key_matches_same_pixels_loaded_twice_and_separates_references_and_adapters() -> None:
    a, b = _prompt("Is it?", 1, ("No effusion.",)), _prompt("Where?", 1, ("No effusion.",))
    assert image_digest(a) == image_digest(b)  # two image objects, same pixels
    assert share_key(a, None) == share_key(b, None)
    assert share_key(a, None) != share_key(_prompt("Is it?", 2, ("No effusion.",)), None)
    assert share_key(a, None) != share_key(_prompt("Is it?", 1, ("Effusion.",)), None)
    assert share_key(a, None) != share_key(a, "lora-a")


def test_groups_stay_together_and_only_groups_larger_than_a_batch_are_split() -> None:
    keys = ["x", "y", "x", "z", "y", "x", "x", "x"]
    lengths = [10] * len(keys)
    planned = plan_batches(range(len(keys)), lengths, keys, batch_size=4, sort_window=1)

    assert [b.indices for b in planned] == [(0, 2, 5, 6), (7, 1, 4, 3)]
    assert [b.groups for b in planned] == [((0, 2, 5, 6),), ((7,), (1, 4), (3,))]
    assert sorted(i for b in planned for i in b.indices) == list(range(len(keys)))
    assert all(len(b.indices) <= 4 for b in planned)


def test_without_keys_every_prompt_is_its_own_unit_in_input_order() -> None:
    planned = plan_batches([3, 1, 2], [5, 9, 7, 1], None, batch_size=2, sort_window=1)
    assert [b.indices for b in planned] == [(3, 1), (2,)]


def test_length_sorting_stays_inside_its_window() -> None:
    lengths = [5, 50, 6, 49, 100, 1, 99, 2]
    planned = plan_batches(range(8), lengths, None, batch_size=2, sort_window=4)
    order = [i for b in planned for i in b.indices]

    assert order[:4] == [1, 3, 2, 0]  # the first window, longest first
    assert order[4:] == [4, 6, 7, 5]  # the second window never mixes with the first
    unsorted = plan_batches(range(8), lengths, None, batch_size=2, sort_window=1)
    padded = sum(padding_fraction([lengths[i] for i in b.indices]) for b in planned)
    assert padded < sum(padding_fraction([lengths[i] for i in b.indices]) for b in unsorted)


def test_padding_fraction() -> None:
    assert padding_fraction([4, 4]) == 0.0
    assert padding_fraction([4, 2]) == pytest.approx(0.25)
    assert padding_fraction([]) == 0.0


def test_layout_puts_each_rows_prefix_where_left_padding_would_and_refuses_images_in_the_chunk() -> None:
    torch = pytest.importorskip("torch")
    from mmedrag.generation.prefix_cache import plan_layout

    image = 9
    rows = [[1, image, 2, 3, 4, 5], [1, image, 2, 3, 6], [1, image, 7, 8]]
    width = max(len(r) for r in rows)
    ids = torch.tensor([[0] * (width - len(r)) + r for r in rows])
    mask = torch.tensor([[0] * (width - len(r)) + [1] * len(r) for r in rows])
    inputs = {"input_ids": ids, "attention_mask": mask}

    layout = plan_layout(inputs, [[0, 1], [2]], image)
    assert layout is not None
    assert layout.prefix_lengths == (4, 3)  # [1, 9, 2, 3] shared; a lone row keeps its last token uncached
    assert layout.chunk == 2 and layout.cached == 4
    assert layout.keep == (4, 3, 2) and layout.pad == (0, 1, 2)
    assert layout.prefill_tokens == 4 + 3 + 3 * 2
    assert plan_layout(inputs, [[0], [1], [2]], image) is None  # no group of two: nothing to share

    rows[2] = [1, 7, 8, image]  # the image at the end of a short row would land in the uncached chunk
    ids = torch.tensor([[0] * (width - len(r)) + r for r in rows])
    assert plan_layout({"input_ids": ids, "attention_mask": mask}, [[0, 1], [2]], image) is None


@pytest.mark.parametrize("question", ["Is there a pleural effusion?", "Where is the lesion?"])
def test_prompts_put_the_image_and_references_first_and_the_question_last(question: str) -> None:
    """The order prefix sharing relies on: everything that depends on the question comes after everything that
    does not (the image part, the role, the references, the caution), in every task."""
    reports = ("No effusion. Lungs clear.", "Small right effusion.")
    prompt = _prompt(question, 1, reports)
    parts = prompt.messages[0]["content"]
    assert [part["type"] for part in parts] == ["image", "text"]
    lines = parts[1]["text"].splitlines()
    assert lines[-1] == f"Question: {question}"
    last_reference = max(i for i, line in enumerate(lines) if line.startswith("[") and "(case " in line)
    assert last_reference < len(lines) - 2  # the task instruction and the question follow the references
    other = _prompt("Is the heart enlarged?", 1, reports).messages[0]["content"][1]["text"].splitlines()
    assert lines[:-2] == other[:-2] and lines[-1] != other[-1]


@pytest.mark.parametrize(
    ("option", "value"),
    [
        ("closed_answer", "maybe"),
        ("sort_window", 0),
        ("batch_size", 0),
        ("max_new_tokens", 0),
        ("prefill_batch", 0),
        ("image_cache", -1),
        ("decode_cache", "paged"),
    ],
)
def test_generator_options_are_checked_before_anything_loads(option: str, value: object) -> None:
    from mmedrag.errors import ConfigError
    from mmedrag.generation.hf import HFGenerator

    with pytest.raises(ConfigError, match=option):
        HFGenerator("/no/such/model", **{option: value})
