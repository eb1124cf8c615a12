"""Zero-shot domain routing: the encoder's image embedding against the text tower's embedding of prompts per domain.

CLIP-style zero-shot classification with prompt ensembling (Radford et al. 2021, §3.1.4): each class is the
normalised mean of its prompts' embeddings. It needs an image-text encoder (BiomedCLIP); it trains nothing.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from mmedrag.encoders.base import Encoder, l2_normalize
from mmedrag.errors import ConfigError
from mmedrag.io.atomic import atomic_write_json
from mmedrag.routing.base import OUT_OF_SCOPE, ROUTER_FILE, check_router_classes, check_threshold
from mmedrag.routing.temperature import fit_temperature, softmax

# Several phrasings per class and per modality (domains.MODALITIES): prompt ensembles are more robust than one
# prompt (Radford et al. 2021, §3.1.4). The out_of_scope class gives charts, screenshots and photos somewhere to go
# besides "the least unlikely domain".
DEFAULT_PROMPTS: dict[str, list[str]] = {
    "radiology": [
        "a chest X-ray",
        "a radiograph",
        "a frontal chest radiograph",
        "a CT scan",
        "an axial computed tomography image",
        "an MRI scan",
        "a brain magnetic resonance image",
        "an ultrasound image",
        "a sonogram",
        "a mammogram",
    ],
    "ophthalmology": [
        "a fundus photograph",
        "a retinal fundus image",
        "a color photograph of the retina showing the optic disc",
        "an optical coherence tomography scan of the retina",
        "an OCT B-scan of the macula",
    ],
    "pathology": [
        "an H&E stained histopathology image",
        "a histology slide under the microscope",
        "a hematoxylin and eosin stained tissue section",
        "an immunohistochemistry stained tissue section",
        "a whole slide image patch",
    ],
    "dermatology": [
        "a dermoscopy image of a skin lesion",
        "a dermatoscopic image of a mole",
        "a clinical photograph of a skin rash",
        "a close-up photograph of a pigmented skin lesion",
    ],
    "endoscopy": [
        "an endoscopy image",
        "a colonoscopy image of the colon mucosa",
        "a gastroscopy image of the stomach",
        "an endoscopic view of a polyp",
    ],
    "other": [
        "a medical image",
        "an electrocardiogram tracing",
        "an intraoperative photograph",
        "a photograph of a medical device",
    ],
    OUT_OF_SCOPE: [
        "a chart",
        "a bar plot",
        "a line graph with axes and a legend",
        "a screenshot of text",
        "a table of numbers",
        "a photo of a person",
        "a natural photograph",
        "a photo of a landscape",
        "a cartoon drawing",
    ],
}


class ZeroShotRouter:
    """Route by cosine similarity between an image and class prompt sets, softmaxed at a temperature.

    Example:
        >>> router = ZeroShotRouter(create_encoder("biomedclip"))  # doctest: +SKIP
        >>> router.predict_proba([image])  # doctest: +SKIP
    """

    kind = "zero_shot"

    def __init__(
        self,
        encoder: Encoder,
        prompts: dict[str, list[str]] | None = None,
        temperature: float = 0.01,
        threshold: float = 0.5,
    ) -> None:
        """Build the class embeddings.

        Args:
            encoder: an image-text encoder; its text tower embeds the prompts.
            prompts: class name -> phrasings; classes are domains or ``out_of_scope``. Default: ``DEFAULT_PROMPTS``.
            temperature: softmax temperature on cosines (0.01 = CLIP's learned logit scale of 100).
            threshold: least top-class probability to answer with; below it the router abstains.
        """
        if not {"image", "text"} <= encoder.modalities:
            raise ConfigError(f"zero-shot routing needs an image-text encoder; {encoder.name} lacks one of them")
        if temperature <= 0:
            raise ConfigError(f"temperature must be > 0, got {temperature}")
        table = {name: list(texts) for name, texts in (prompts or DEFAULT_PROMPTS).items()}
        empty = [name for name, texts in table.items() if not texts]
        if empty:
            raise ConfigError(f"zero-shot prompt set(s) {empty} are empty; give each class at least one phrasing")
        self.classes = check_router_classes(list(table))
        self.prompts = {name: table[name] for name in table}
        self.encoder = encoder
        self.temperature = float(temperature)
        self.threshold = check_threshold(threshold)
        self._class_vectors = self._embed_classes()

    def _embed_classes(self) -> np.ndarray:
        texts = [text for name in self.prompts for text in self.prompts[name]]
        vectors = np.asarray(self.encoder.encode_texts(texts), dtype=np.float32)
        rows, start = [], 0
        for name in self.prompts:
            count = len(self.prompts[name])
            rows.append(vectors[start : start + count].mean(axis=0))
            start += count
        return l2_normalize(np.stack(rows))

    def similarities(self, images: Sequence[Image.Image]) -> np.ndarray:
        """Cosine of each image with each class embedding, shape (n, classes)."""
        if not images:
            return np.zeros((0, len(self.classes)), dtype=np.float32)
        vectors = l2_normalize(np.asarray(self.encoder.encode_images(list(images)), dtype=np.float32))
        return vectors @ self._class_vectors.T

    def predict_proba(self, images: Sequence[Image.Image]) -> np.ndarray:
        return softmax(self.similarities(images), self.temperature)

    def fit_temperature(self, images: Sequence[Image.Image], labels: Sequence[str]) -> float:
        """Set the temperature that minimises NLL on labelled images (Guo et al. 2017) and return it."""
        index = {name: row for row, name in enumerate(self.classes)}
        unknown = sorted({label for label in labels if label not in index})
        if unknown:
            raise ConfigError(f"labels {unknown} are not router classes {list(self.classes)}")
        if len(images) != len(labels):
            raise ConfigError(f"{len(images)} images but {len(labels)} labels")
        self.temperature = fit_temperature(self.similarities(images), [index[label] for label in labels])
        return self.temperature

    def spec(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "encoder": self.encoder.spec(),
            "classes": list(self.classes),
            "prompts": self.prompts,
            "temperature": self.temperature,
            "threshold": self.threshold,
        }

    def save(self, path: str | Path) -> Path:
        """Write ``router.json``; :func:`~mmedrag.routing.base.load_router` rebuilds the router (and its encoder)."""
        folder = Path(path).expanduser()
        folder.mkdir(parents=True, exist_ok=True)
        atomic_write_json(folder / ROUTER_FILE, self.spec())
        return folder

    @classmethod
    def from_spec(cls, spec: dict[str, Any], encoder: Encoder | None = None, **overrides: Any) -> ZeroShotRouter:
        """Rebuild from :meth:`spec` output; ``encoder`` skips rebuilding it, ``overrides`` win over saved values."""
        if encoder is None:
            from mmedrag.encoders import create_encoder

            if "encoder" not in spec:
                raise ConfigError("a zero-shot router spec needs an 'encoder' (e.g. biomedclip)")
            device = overrides.pop("device", None)
            encoder = create_encoder(spec["encoder"], device=device)
        overrides.pop("device", None)
        params = {key: spec[key] for key in ("prompts", "temperature", "threshold") if spec.get(key) is not None}
        if "prompts" in params and spec.get("classes"):
            # router.json is written with sorted keys: the saved class list restores the column order.
            params["prompts"] = {name: params["prompts"][name] for name in spec["classes"]}
        params.update(overrides)
        return cls(encoder, **params)


def create_zero_shot(encoder: str | dict[str, Any], device: str | None = None, **params: Any) -> ZeroShotRouter:
    """The ``zero_shot`` router kind: ``zero_shot:biomedclip`` is the BiomedCLIP text tower against default prompts."""
    return ZeroShotRouter.from_spec({"encoder": encoder, **params}, device=device)
