"""Wire a :class:`~mmedrag.pipeline.RAGPipeline` from a :class:`~mmedrag.config.PipelineConfig`: the default
bundle from the top level, one bundle per configured domain, the router, the generator."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from mmedrag.config import BundleConfig, PipelineConfig, PromptConfig, RetrievalConfig, SelectorConfig
from mmedrag.domains import check_domain
from mmedrag.encoders import create_encoder
from mmedrag.errors import ConfigError
from mmedrag.generation.factory import create_generator
from mmedrag.generation.prompts import PromptBuilder
from mmedrag.pipeline import Bundle, RAGPipeline
from mmedrag.retrieval.context import CalibratedK, ContextSelector, GapCutoff, MinScore, RatioToTop1, TopK
from mmedrag.retrieval.retriever import Filters, Retriever
from mmedrag.stores.index import KnowledgeIndex


def build_retriever(
    index: Path | None, encoder: str | dict[str, Any] | None, retrieval: RetrievalConfig
) -> Retriever | None:
    """The index's retriever, with the encoder saved in the index unless another is named."""
    if index is None:
        return None
    knowledge = KnowledgeIndex.load(index)
    return Retriever(
        knowledge,
        create_encoder(encoder if encoder is not None else knowledge.encoder.spec),
        leakage_guard=retrieval.leakage_guard,
        near_duplicate_bits=retrieval.near_duplicate_bits,
        near_duplicate_guard=retrieval.near_duplicate_guard,
    )


def build_selector(selector: SelectorConfig) -> ContextSelector:
    if selector.kind == "min_score":
        return MinScore(min_score=selector.min_score or 0.0, k=selector.k)
    if selector.kind == "gap":
        return GapCutoff(gamma=selector.gamma, k_min=selector.k_min, k_max=selector.k)
    if selector.kind == "ratio_to_top1":
        return RatioToTop1(threshold=selector.ratio, k=selector.k)
    if selector.kind == "calibrated":
        if not selector.calibration:
            raise ConfigError(
                "selector kind 'calibrated' needs selector.calibration: the file `mmedrag calibrate` wrote"
            )
        return CalibratedK(selector.calibration, selector.on_uncertified)
    return TopK(k=selector.k)


def _bundle(
    name: str,
    retrieval: RetrievalConfig,
    selector: SelectorConfig,
    prompt: PromptConfig,
    retriever: Retriever | None,
    adapter: str | None = None,
) -> Bundle:
    return Bundle(
        name=name,
        retriever=retriever,
        selector=build_selector(selector),
        prompts=PromptBuilder(prompt.max_reference_tokens, prompt.min_reference_tokens),
        fetch_k=retrieval.fetch_k,
        retrieval_mode=retrieval.mode,
        filters=Filters(
            domain=retrieval.domain, modality=retrieval.modality, split=retrieval.split, source=retrieval.source
        ),
        adapter=adapter,
    )


def _domain_bundle(domain: str, own: BundleConfig, config: PipelineConfig, default: Retriever | None) -> Bundle:
    retrieval = own.retrieval or config.retrieval
    retriever = default if own.index is None else build_retriever(own.index, own.encoder, retrieval)
    return _bundle(
        domain, retrieval, own.selector or config.selector, own.prompt or config.prompt, retriever, own.adapter
    )


def build_pipeline(config: PipelineConfig, retriever: Retriever | None = None) -> RAGPipeline:
    """Assemble the pipeline; pass ``retriever`` to reuse one already loaded for the default bundle."""
    default_retriever = (
        retriever if retriever is not None else build_retriever(config.index, config.encoder, config.retrieval)
    )
    default = _bundle("default", config.retrieval, config.selector, config.prompt, default_retriever)
    bundles = {
        check_domain(name): _domain_bundle(check_domain(name), own, config, default_retriever)
        for name, own in config.domains.items()
    }
    router = None
    if config.router is not None:
        from mmedrag.routing.base import load_router

        overrides = {"threshold": config.router.threshold} if config.router.threshold is not None else {}
        router = load_router(config.router.path, **overrides)
    return RAGPipeline(
        generator=create_generator(config.generator),
        retriever=default.retriever,
        selector=default.selector,
        prompts=default.prompts,
        fetch_k=default.fetch_k,
        retrieval_mode=default.retrieval_mode,
        filters=default.filters,
        default_domain=check_domain(config.default_domain) if config.default_domain else None,
        router=router,
        bundles=bundles,
    )
