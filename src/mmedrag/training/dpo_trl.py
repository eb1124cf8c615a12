"""The two small TRL subclasses that let the rejected side of a DPO pair see a different image (a noise image),
which stock TRL 1.16 cannot do (method.md §5.1.2, §5.4). Built on first use so that mmedrag imports without TRL."""

from __future__ import annotations

import copy
import functools
from dataclasses import dataclass
from typing import Any

from mmedrag._optional import require


@functools.cache
def trl_classes() -> tuple[Any, Any]:
    """The collator and trainer subclasses, built on first use so that mmedrag imports without TRL."""
    dpo = require("trl.trainer.dpo_trainer", "train")

    class _RejectedImagesProcessor:
        """Stands in for the processor during one collation: of the 2n image lists TRL passes (chosen rows, then the
        same lists again for the rejected rows), the second n are replaced by the rejected images."""

        def __init__(self, processor: Any, rejected: list[list[Any]]) -> None:
            self._processor, self._rejected, self.swaps = processor, rejected, 0

        def __getattr__(self, name: str) -> Any:
            return getattr(self._processor, name)

        def __call__(self, *args: Any, images: Any = None, **kwargs: Any) -> Any:
            if images is not None:
                n = len(self._rejected)
                if len(images) != 2 * n:
                    raise RuntimeError(f"expected {2 * n} image lists (chosen + rejected), got {len(images)}")
                images = list(images[:n]) + self._rejected
                self.swaps += 1
            return self._processor(*args, images=images, **kwargs)

    @dataclass
    class RejectedImageCollator(dpo.DataCollatorForVisionPreference):  # type: ignore[name-defined]
        """TRL's vision preference collator, but rows of the rejected half get ``rejected_images`` (when present).

        Stock TRL 1.16 builds one batch [chosen rows; rejected rows] and processes ``images * 2``, so x_l = x_w always
        (as RULE's trainer did, §5.3). MMed-RAG's cross-modality pairs need x_l = a noise image (§5.1.2, §5.4). The
        processor is wrapped for the call so that everything else (chat template, tokenising, flush-left, Gemma's
        ``token_type_ids``, Qwen's ``image_grid_thw``/``mm_token_type_ids``) stays TRL's own code.
        """

        def torch_call(self, examples: list[dict[str, Any]]) -> dict[str, Any]:
            rejected = []
            for example in examples:
                chosen = example["images"] if "images" in example else [example["image"]]
                rejected.append(list(example.pop("rejected_images", None) or chosen))
            view = copy.copy(self)  # the collator is shared by dataloader workers: wrap a copy's processor
            view.processor = proxy = _RejectedImagesProcessor(self.processor, rejected)
            batch = dpo.DataCollatorForVisionPreference.torch_call(view, examples)
            if proxy.swaps != 1:  # a TRL upgrade changed how images reach the processor: fail, do not train wrong
                raise RuntimeError(f"the rejected images were swapped {proxy.swaps} times instead of once")
            return batch

    class RejectedImageDPOTrainer(dpo.DPOTrainer):  # type: ignore[name-defined]
        """``DPOTrainer`` that keeps the ``rejected_images`` column (Trainer drops columns outside its signature list).

        One forward over [chosen; rejected] equals the reference's separate chosen and rejected forwards (§5.4): rows
        do not attend to each other, and the rejected rows' pixel values are the rejected images'.
        """

        _signature_columns: list[str] | None

        def _set_signature_columns_if_needed(self) -> None:
            super()._set_signature_columns_if_needed()
            if self._signature_columns is not None and "rejected_images" not in self._signature_columns:
                self._signature_columns = [*self._signature_columns, "rejected_images"]

    return RejectedImageCollator, RejectedImageDPOTrainer
