"""Wire a :class:`~mmedrag.pipeline.RAGPipeline` from a :class:`~mmedrag.config.PipelineConfig`."""

from __future__ import annotations

from mmedrag.config import PipelineConfig
from mmedrag.domains import check_domain
from mmedrag.encoders import create_encoder
from mmedrag.generation.factory import create_generator
from mmedrag.generation.prompts import PromptBuilder
from mmedrag.pipeline import RAGPipeline
from mmedrag.retrieval.context import ContextSelector, MinScore, TopK
from mmedrag.retrieval.retriever import Filters, Retriever
from mmedrag.stores.index import KnowledgeIndex


def build_retriever(config: PipelineConfig) -> Retriever | None:
    """The index's retriever, with the encoder saved in the index unless the config names another."""
    if config.index is None:
        return None
    index = KnowledgeIndex.load(config.index)
    encoder = create_encoder(config.encoder if config.encoder is not None else index.encoder.spec)
    return Retriever(
        index,
        encoder,
        leakage_guard=config.retrieval.leakage_guard,
        near_duplicate_bits=config.retrieval.near_duplicate_bits,
    )


def build_selector(config: PipelineConfig) -> ContextSelector:
    if config.selector.kind == "min_score":
        return MinScore(min_score=config.selector.min_score or 0.0, k=config.selector.k)
    return TopK(k=config.selector.k)


def build_pipeline(config: PipelineConfig, retriever: Retriever | None = None) -> RAGPipeline:
    """Assemble the pipeline; pass ``retriever`` to reuse one already loaded."""
    r = config.retrieval
    return RAGPipeline(
        generator=create_generator(config.generator),
        retriever=retriever if retriever is not None else build_retriever(config),
        selector=build_selector(config),
        prompts=PromptBuilder(config.prompt.max_reference_tokens, config.prompt.min_reference_tokens),
        fetch_k=r.fetch_k,
        retrieval_mode=r.mode,
        filters=Filters(domain=r.domain, modality=r.modality, split=r.split, source=r.source),
        default_domain=check_domain(config.default_domain),
    )
