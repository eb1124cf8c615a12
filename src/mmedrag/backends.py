"""Every role's registry and its built-in kinds, on one page.

Entries name their factory by import path, so this module imports no backend: ``mmedrag env`` lists every kind
without loading torch, and a backend's module is imported only when a spec names it. A new backend is one line
here (or ``@ROLE.register("name")`` in code outside mmedrag) plus the shared contract tests, which iterate over
these registries.
"""

from __future__ import annotations

from typing import Any

from mmedrag.errors import ConfigError
from mmedrag.registry import Registry, int_argument


def _faiss_argument(argument: str) -> dict[str, Any]:
    """``faiss:HNSW32`` or ``faiss:IVF1024,Flat|nprobe=32``: an index_factory string, then search parameters."""
    factory, _, params = argument.partition("|")
    return {"factory": factory or "Flat", "search_params": params}


def _openai_argument(argument: str) -> dict[str, Any]:
    """``openai:MODEL@BASE_URL`` (the base URL of any OpenAI-compatible server, e.g. vLLM's /v1)."""
    model, sep, base_url = argument.partition("@")
    if not sep or not model or not base_url:
        raise ConfigError(f"bad generator spec 'openai:{argument}'; use openai:<model>@<base url>")
    return {"model": model, "base_url": base_url}


def _milvus_argument(argument: str) -> dict[str, Any]:
    """``milvus:URI|options``: a URI is required, and a token never travels in a spec (the rest is checked on open)."""
    uri, _, options = argument.partition("|")
    if not uri.strip():
        raise ConfigError(f"bad index spec 'milvus:{argument}'; use milvus:URI|collection=NAME")
    keys = {item.partition("=")[0].strip().lower() for item in options.split(",")}
    if keys & {"token", "password", "user"}:
        raise ConfigError("never put a Milvus token in a spec string; set MILVUS_TOKEN or `token` in the config")
    return {"location": argument}


def _float_argument(name: str) -> Any:
    def parse(argument: str) -> dict[str, Any]:
        try:
            return {name: float(argument)}
        except ValueError as exc:
            raise ConfigError(f"{name} must be a number, got {argument!r}") from exc

    return parse


ENCODERS: Registry[Any] = Registry("encoder")
ENCODERS.add("hash", "mmedrag.encoders.hashing:HashEncoder", int_argument("dim"), "deterministic hashing (tests)")
ENCODERS.add(
    "open_clip", "mmedrag.encoders.open_clip:OpenClipEncoder", "model", "open_clip name, folder or hf-hub:", "openclip"
)
ENCODERS.add("hf_clip", "mmedrag.encoders.hf_clip:HFClipEncoder", "model", "transformers CLIP / SigLIP", "hf")
ENCODERS.add(
    "sentence", "mmedrag.encoders.sentence:SentenceEncoder", "model", "sentence-transformers text encoder", "text"
)
ENCODERS.add(
    "tower", "mmedrag.encoders.tower:TowerEncoder", "path", "trained image tower + frozen text encoder", "torch"
)
ENCODERS.alias(
    "biomedclip", {"kind": "open_clip", "model": "hf-hub:microsoft/BiomedCLIP-PubMedBERT_256-vit_base_patch16_224"}
)
ENCODERS.alias("minilm", {"kind": "sentence", "model": "minilm"})

STORES: Registry[Any] = Registry("store")
STORES.add("exact", "mmedrag.stores.exact:ExactStore", None, "numpy brute force; the reference and test oracle")
STORES.add("faiss", "mmedrag.stores.faiss_store:FaissStore", _faiss_argument, "FAISS index_factory string", "faiss")
STORES.add(
    "milvus", "mmedrag.stores.milvus_store:MilvusVectorStore", "uri", "a Milvus collection: Lite or server", "milvus"
)

# Where an index lives: a folder (records in SQLite, vectors in a STORES kind) or a database that holds both and
# filters server-side. Each entry is an IndexKind (mmedrag.stores.locate): `load_index` asks each which one claims a
# location (a folder's CURRENT file, a `milvus:` spec or a folder's Milvus pointer), so the kind is decided once.
INDEXES: Registry[Any] = Registry("index")
INDEXES.add("folder", "mmedrag.stores.index:FolderIndex", "path", "an index folder: SQLite records + a store")
INDEXES.add(
    "milvus", "mmedrag.stores.milvus_build:MilvusKind", _milvus_argument, "Milvus Lite, standalone or cluster", "milvus"
)

GENERATORS: Registry[Any] = Registry("generator")
GENERATORS.add("extractive", "mmedrag.generation.extractive:ExtractiveGenerator", None, "report-reading answerer, CPU")
GENERATORS.add("hf", "mmedrag.generation.hf:HFGenerator", "model", "transformers VLM (Gemma3, Qwen2.5-VL, LLaVA)", "hf")
GENERATORS.add(
    "openai", "mmedrag.generation.openai_compat:OpenAICompatGenerator", _openai_argument, "vLLM & co.", "openai"
)

SELECTORS: Registry[Any] = Registry("selector")
SELECTORS.add("top_k", "mmedrag.retrieval.context:TopK", int_argument("k"), "the k best hits")
SELECTORS.add("min_score", "mmedrag.retrieval.context:MinScore", _float_argument("min_score"), "hits above a score")
SELECTORS.add("gap", "mmedrag.retrieval.context:GapCutoff", _float_argument("gamma"), "MMed-RAG's gap rule")
SELECTORS.add("ratio_to_top1", "mmedrag.retrieval.context:RatioToTop1", _float_argument("ratio"), "reference code")
SELECTORS.add("calibrated", "mmedrag.retrieval.context:CalibratedK", "calibration", "RULE's calibrated k*")

ROUTERS: Registry[Any] = Registry("router")
ROUTERS.add("trained", "mmedrag.routing.trained:TrainedRouter.load", "path", "a router folder from train-router")
ROUTERS.add("zero_shot", "mmedrag.routing.zero_shot:create_zero_shot", "encoder", "text prompts per domain")

TOWERS: Registry[Any] = Registry("training tower")
TOWERS.add(
    "tower", "mmedrag.training.towers:OfflineTowers", "path", "the offline image tower (MiniLM text side)", "text"
)
TOWERS.add("open_clip", "mmedrag.training.towers:OpenClipTowers", "model", "open_clip / BiomedCLIP", "openclip")
TOWERS.add("hf_clip", "mmedrag.training.towers:HFClipTowers", "model", "transformers CLIP / SigLIP", "hf")

READERS: Registry[Any] = Registry("reader")
# Most specific first: format detection takes the first match, and the CSV and folder rules are the broadest.
for _name, _module, _help in (
    ("openi", "openi", "Open-i / IU-Xray XML reports (folder or .tgz)"),
    ("covid_chestxray", "covid", "COVID-19 image data collection"),
    ("ham10000", "ham10000", "HAM10000 dermoscopy"),
    ("medmnist", "medmnist", "MedMNIST .npz files"),
    ("hf_dataset", "hf_datasets", "Hugging Face parquet / save_to_disk"),
    ("medpix2", "medpix", "MedPix 2.0"),
    ("vqa_rad", "vqa_rad", "VQA-RAD"),
    ("mmed_rag", "mmed_rag", "MMed-RAG / RULE IU-Xray files"),
    ("manifest", "manifest_reader", "mmedrag JSONL manifest"),
    ("dicom", "dicom_reader", "a folder of DICOM files"),
    ("csv", "tabular", "CSV / TSV with image and report columns"),
    ("folder", "folder", "a folder of images with sidecar reports"),
):
    READERS.add(_name, f"mmedrag.io.readers.{_module}:SPEC", None, _help)

ROLES: dict[str, Registry[Any]] = {
    "reader": READERS,
    "encoder": ENCODERS,
    "store": STORES,
    "index": INDEXES,
    "generator": GENERATORS,
    "selector": SELECTORS,
    "router": ROUTERS,
    "tower": TOWERS,
}


def registered_kinds() -> dict[str, list[str]]:
    """Role -> registered kinds (what ``mmedrag env --json`` reports)."""
    return {role: registry.names() for role, registry in ROLES.items()}
