"""mmedrag: multimodal retrieval-augmented generation for medical vision-language models.

The public API re-exported here is what the CLI and the tests use; heavy backends load only when asked for.
"""

from __future__ import annotations

import importlib.metadata

from mmedrag.config import PipelineConfig, load_config
from mmedrag.errors import (
    ConfigError,
    DataError,
    EncoderMismatchError,
    GenerationError,
    ImageError,
    IndexFolderError,
    MissingExtraError,
    MmedragError,
)
from mmedrag.factory import build_pipeline
from mmedrag.indexing import build_index, delete_records
from mmedrag.io.manifest import read_manifest, write_manifest
from mmedrag.io.readers import read_source
from mmedrag.pipeline import RAGPipeline
from mmedrag.retrieval.retriever import Filters, Retriever
from mmedrag.stores.index import FolderIndex
from mmedrag.stores.locate import KnowledgeIndex, load_index
from mmedrag.types import Answer, Context, Hit, Query, Question, Record

try:
    __version__ = importlib.metadata.version("mmedrag")
except importlib.metadata.PackageNotFoundError:  # running from a source tree that was not installed
    __version__ = "0.0.0+unknown"

__all__ = [
    "Answer",
    "ConfigError",
    "Context",
    "DataError",
    "EncoderMismatchError",
    "Filters",
    "GenerationError",
    "Hit",
    "ImageError",
    "FolderIndex",
    "IndexFolderError",
    "KnowledgeIndex",
    "MissingExtraError",
    "MmedragError",
    "PipelineConfig",
    "Query",
    "Question",
    "RAGPipeline",
    "Record",
    "Retriever",
    "__version__",
    "build_index",
    "build_pipeline",
    "delete_records",
    "load_config",
    "load_index",
    "read_manifest",
    "read_source",
    "write_manifest",
]
