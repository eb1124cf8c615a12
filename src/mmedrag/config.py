"""One typed configuration with three front doors: code, YAML (``--config``) and ``--set key.path=value`` flags.

Precedence: defaults < YAML < ``--set`` overrides < explicit CLI flags. Unknown keys fail (``extra="forbid"``), so a
typo in a YAML file is an error, not a silently ignored setting. The resolved config is saved beside outputs.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Discriminator,
    Field,
    Tag,
    ValidationError,
    field_validator,
)

from mmedrag.backends import ENCODERS, GENERATORS, INDEXES, ROUTERS, SELECTORS
from mmedrag.errors import ConfigError
from mmedrag.registry import Registry

CONFIDENCE_FILE = "confidence.json"
"""The confidence calibration `mmedrag calibrate --confidence` writes; found beside a config file by default."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)  # a NaN threshold passes every comparison


def _check_spec(registry: Registry[Any], value: Any, paths: bool = False) -> Any:
    """Parse ``value`` through ``registry`` (its one-line error becomes the field's); with ``paths``, a string that
    names no registered kind before a ``:`` is a folder (an index folder, a router folder), checked when opened."""
    if value is None:
        return None
    if paths and isinstance(value, str) and value.partition(":")[0] not in registry.names():
        if not value.strip():
            raise ValueError("empty; give a folder or a KIND:ARGUMENT spec")
        return value.strip()
    try:
        registry.parse(value)
    except ConfigError as exc:
        raise ValueError(str(exc)) from None
    return value.strip() if isinstance(value, str) else value


IndexSpec = Annotated[
    str | None,
    BeforeValidator(lambda value: str(value) if isinstance(value, Path) else value),
    AfterValidator(lambda value: _check_spec(INDEXES, value, paths=True)),
    Field(description="an index folder, a folder holding a Milvus pointer, or milvus:URI|collection=NAME"),
]
EncoderSpec = Annotated[str | dict[str, Any] | None, AfterValidator(lambda value: _check_spec(ENCODERS, value))]
GeneratorSpec = Annotated[str | dict[str, Any], AfterValidator(lambda value: _check_spec(GENERATORS, value))]


class RetrievalConfig(_Strict):
    mode: Literal["auto", "image", "text", "image2image"] = "auto"
    fetch_k: int = Field(10, ge=1, description="hits retrieved before context selection")
    leakage_guard: bool = True
    near_duplicate_guard: bool = Field(True, description="exclude near copies of the query image (re-encodes, crops)")
    near_duplicate_bits: int | None = Field(
        None, ge=0, le=64, description="dHash distance that makes a near-copy candidate (null: 10)"
    )
    consistency: bool = Field(
        True,
        description="set aside retrieved cases whose body region or modality contradicts the query's (traced)",
    )
    concept_boost: bool = Field(
        False,
        description="with prompt.knowledge and concept links beside the index (`mmedrag kg link`), cases whose "
        "report asserts the asked concept fill the selector's places first (off: on VQA-RAD train with a MedPix "
        "knowledge base it fixed 6 answers and broke 12; BENCHMARKS.md bench_kg)",
    )
    domain: str | None = None
    modality: str | None = None
    split: str | None = None
    source: str | None = None


class _Selector(_Strict):
    k: int = Field(3, ge=0, description="k for top_k; the cap for min_score, gap (k_max) and ratio_to_top1")


class TopKConfig(_Selector):
    """The ``k`` best hits."""

    kind: Literal["top_k"] = "top_k"


class MinScoreConfig(_Selector):
    """Hits scoring at least ``min_score``, at most ``k``."""

    kind: Literal["min_score"] = "min_score"
    min_score: float = 0.0


class GapConfig(_Selector):
    """MMed-RAG's gap rule (method.md §4): cut where log(S_i / S_i+1) exceeds ``gamma``; between ``k_min`` and ``k``."""

    kind: Literal["gap"] = "gap"
    gamma: float = Field(0.1, ge=0, description="gap rule: cut where log(S_i / S_i+1) exceeds gamma")
    k_min: int = Field(1, ge=0)


class RatioConfig(_Selector):
    """The reference code's rule: keep hit j while S_1 / S_j < ``ratio``, at most ``k``."""

    kind: Literal["ratio_to_top1"] = "ratio_to_top1"
    ratio: float = Field(1.5, ge=1, description="ratio_to_top1: keep j while S_1 / S_j < ratio")


class CalibratedConfig(_Strict):
    """RULE's calibrated k* (``calibration``: the file `mmedrag calibrate` wrote)."""

    kind: Literal["calibrated"] = "calibrated"
    calibration: str
    on_uncertified: Literal["abstain", "no_retrieval"] = "abstain"
    k: int | None = Field(None, ge=0, description="calibrated: a cap on the certified k* (null: k* itself)")


class CustomSelectorConfig(BaseModel):
    """A selector outside mmedrag (``kind: package.module:Factory``); its other keys go to the factory as they are."""

    model_config = ConfigDict(extra="allow", allow_inf_nan=False)
    kind: str = Field(pattern=r"^[A-Za-z_][\w.]*:[A-Za-z_][\w.]*$")


SELECTOR_MODELS = (TopKConfig, MinScoreConfig, GapConfig, RatioConfig, CalibratedConfig)
_SELECTOR_KINDS = tuple(str(model.model_fields["kind"].default) for model in SELECTOR_MODELS)


def _selector_tag(value: Any) -> str:
    kind = value.get("kind", "top_k") if isinstance(value, dict) else getattr(value, "kind", "top_k")
    if kind in _SELECTOR_KINDS:
        return str(kind)
    if isinstance(kind, str) and ":" in kind:
        return "custom"
    return "unknown"


def _unknown_selector(value: Any) -> Any:
    raise ValueError(f"unknown selector {value.get('kind')!r}; use one of {', '.join(SELECTORS.names())}")


def _default_kind(value: Any) -> Any:
    return {"kind": "top_k", **value} if isinstance(value, dict) and "kind" not in value else value


SelectorConfig = Annotated[
    Annotated[TopKConfig, Tag("top_k")]
    | Annotated[MinScoreConfig, Tag("min_score")]
    | Annotated[GapConfig, Tag("gap")]
    | Annotated[RatioConfig, Tag("ratio_to_top1")]
    | Annotated[CalibratedConfig, Tag("calibrated")]
    | Annotated[CustomSelectorConfig, Tag("custom")]
    | Annotated[Any, BeforeValidator(_unknown_selector), Tag("unknown")],
    Discriminator(_selector_tag),
    BeforeValidator(_default_kind),
]
"""How many references: one model per kind of :data:`mmedrag.backends.SELECTORS`, each with only the options its
selector takes (an option of another kind is an error, not silently dropped); ``kind`` defaults to ``top_k``."""


class PromptConfig(_Strict):
    max_reference_tokens: int = Field(1024, ge=0)
    min_reference_tokens: int = Field(16, ge=1)
    knowledge: str | None = Field(
        None,
        description="a concept graph for the question's terms: 'hpo' (the Human Phenotype Ontology, needs the kg "
        "extra) or a file from `mmedrag kg build`; its definitions go in the prompt and the extractive reader reads "
        "plain words as the terms reports use",
    )
    max_knowledge_tokens: int = Field(160, ge=0)

    @field_validator("knowledge")
    @classmethod
    def _graph_exists(cls, value: str | None) -> str | None:
        if value is None or value == "hpo" or Path(value).expanduser().is_file():
            return value
        raise ValueError(f"no concept graph at {value!r}; use hpo or a file written by `mmedrag kg build --out`")


class AnswersConfig(_Strict):
    """What a reader is shown: how weak evidence is answered and how confidence is calibrated."""

    answer_weak: Literal["abstain", "lean"] = Field(
        "abstain",
        description="a weakly supported answer (similar cases' silence, disagreeing references, a VLM answer no "
        "reference states): abstain and say why, or give the leaning answer graded weak",
    )
    min_confidence: float = Field(
        0.5,
        ge=0,
        le=1,
        description="a yes/no answer whose confidence is below this is withheld with the reason (below 0.5 the "
        "other answer is the likelier one)",
    )
    confidence_calibration: str | None = Field(
        None,
        description="confidence.json written by `mmedrag calibrate --confidence` (default: the confidence.json "
        "beside the config file, when there is one)",
    )


class RouterConfig(_Strict):
    """A trained router folder, or ``zero_shot:ENCODER_SPEC``; ``threshold`` overrides the saved one."""

    path: Annotated[str, AfterValidator(lambda value: _check_spec(ROUTERS, value, paths=True))]
    threshold: float | None = Field(None, ge=0, le=1)


class BundleConfig(_Strict):
    """One domain's own settings; every field left out is taken from the top level of the pipeline config."""

    index: IndexSpec = None
    encoder: EncoderSpec = None
    retrieval: RetrievalConfig | None = None
    selector: SelectorConfig | None = None
    prompt: PromptConfig | None = None
    adapter: str | None = Field(None, description="LoRA adapter folder the generator uses for this domain")


class PipelineConfig(_Strict):
    """Everything `mmedrag ask` needs. ``encoder`` None means: the encoder saved in the index.

    The top-level index, retrieval, selector and prompt settings answer every domain that has no entry in
    ``domains``. ``default_domain`` is used when neither the query nor the router decides (null: refuse instead).
    """

    index: IndexSpec = None
    encoder: EncoderSpec = None
    generator: GeneratorSpec = "extractive"
    default_domain: str | None = "radiology"
    router: RouterConfig | None = None
    image_questions: bool = Field(
        True, description='abstain on a question about "this image" asked without an image (false: answer text-only)'
    )
    scope_check: bool = Field(
        True,
        description="abstain (grade out_of_scope) on a query image unlike every image of the index, by the in-scope "
        "check fitted when the index was built (alpha 5%: `mmedrag index --scope-alpha`); false turns it off",
    )
    retrieval: RetrievalConfig = Field(default_factory=RetrievalConfig)
    selector: SelectorConfig = Field(default_factory=TopKConfig)
    prompt: PromptConfig = Field(default_factory=PromptConfig)
    answers: AnswersConfig = Field(
        default_factory=AnswersConfig, description="evidence grades shown to readers and confidence calibration"
    )
    domains: dict[str, BundleConfig] = Field(default_factory=dict)


def _set_path(tree: dict[str, Any], dotted: str, value: Any) -> None:
    keys = dotted.split(".")
    node = tree
    for key in keys[:-1]:
        node = node.setdefault(key, {})
        if not isinstance(node, dict):
            raise ConfigError(f"--set {dotted}: {key!r} is not a section")
    node[keys[-1]] = value


def load_config(
    path: str | Path | None = None, overrides: list[str] | None = None, values: dict[str, Any] | None = None
) -> PipelineConfig:
    """Defaults, then the YAML file, then ``key.path=value`` overrides (parsed as YAML scalars), then ``values``
    (dotted keys, taken as they are: what explicit CLI flags set)."""
    tree: dict[str, Any] = {}
    if path is not None:
        file = Path(path)
        try:
            tree = yaml.safe_load(file.read_text(encoding="utf-8")) or {}
        except (OSError, UnicodeDecodeError, yaml.YAMLError) as exc:
            reason = str(exc).replace("\n", " ")
            raise ConfigError(f"{file}: cannot read the config ({reason}); it must be a UTF-8 YAML file") from exc
        if not isinstance(tree, dict):
            raise ConfigError(f"{file}: a config file must be a YAML mapping")
    for item in overrides or []:
        key, sep, raw = item.partition("=")
        if not sep or not key:
            raise ConfigError(f"--set {item!r}: expected key.path=value")
        try:
            value = yaml.safe_load(raw)
        except yaml.YAMLError as exc:
            reason = str(exc).replace("\n", " ")
            raise ConfigError(f"--set {item!r}: the value is not a YAML scalar ({reason}); quote it") from exc
        _set_path(tree, key.strip(), value)
    for key, value in (values or {}).items():
        _set_path(tree, key, value)
    beside = Path(path).with_name(CONFIDENCE_FILE) if path is not None else None
    answers = tree.get("answers")
    if (
        beside is not None
        and beside.is_file()
        and not (isinstance(answers, dict) and "confidence_calibration" in answers)
    ):
        _set_path(tree, "answers.confidence_calibration", str(beside))
    try:
        return PipelineConfig.model_validate(tree)
    except ValidationError as exc:
        first = exc.errors()[0]
        where, kind = _where(first["loc"])
        message = first["msg"].removeprefix("Value error, ") + (f" for selector kind {kind!r}" if kind else "")
        raise ConfigError(f"config {where}: {message} ({len(exc.errors())} error(s) in all)") from exc


def _where(loc: tuple[int | str, ...]) -> tuple[str, str | None]:
    """The dotted key of an error, without the selector union's tag (returned apart: the kind that was chosen)."""
    parts: list[str] = []
    kind = None
    names = [str(part) for part in loc]
    for number, part in enumerate(names):
        if number and names[number - 1] == "selector" and part in (*_SELECTOR_KINDS, "custom", "unknown"):
            kind = part if part in _SELECTOR_KINDS else None
            continue
        parts.append(part)
    return ".".join(parts), kind


def dump_config(config: PipelineConfig) -> str:
    return yaml.safe_dump(config.model_dump(mode="json"), sort_keys=False)
