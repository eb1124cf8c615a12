"""Wire a :class:`~mmedrag.pipeline.RAGPipeline` from a :class:`~mmedrag.config.PipelineConfig`: the default
bundle from the top level, one bundle per configured domain, the router and the generator, each built from its
registry (:mod:`mmedrag.backends`)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from mmedrag.backends import SELECTORS
from mmedrag.calibration.confidence import ConfidenceCalibrator
from mmedrag.config import BundleConfig, PipelineConfig, RetrievalConfig, SelectorConfig
from mmedrag.domains import check_domain
from mmedrag.encoders import create_encoder
from mmedrag.generation.base import create_generator
from mmedrag.generation.prompts import PromptBuilder
from mmedrag.kg.links import ConceptLinks
from mmedrag.kg.load import open_graph
from mmedrag.pipeline import Bundle, RAGPipeline
from mmedrag.retrieval.context import ContextSelector
from mmedrag.retrieval.retriever import Filters, Retriever
from mmedrag.routing.base import load_router
from mmedrag.stores.locate import load_index


def build_retriever(
    index: str | Path | None, encoder: str | dict[str, Any] | None, retrieval: RetrievalConfig
) -> Retriever | None:
    """The index's retriever, with the encoder saved in the index unless another is named."""
    if index is None:
        return None
    knowledge = load_index(index)
    return Retriever(
        knowledge,
        create_encoder(encoder if encoder is not None else knowledge.encoder.spec),
        leakage_guard=retrieval.leakage_guard,
        near_duplicate_bits=retrieval.near_duplicate_bits,
        near_duplicate_guard=retrieval.near_duplicate_guard,
    )


def build_selector(selector: SelectorConfig) -> ContextSelector:
    """The selector ``selector.kind`` names, with its options (each config kind holds only what its selector takes)."""
    built: ContextSelector = SELECTORS.create(selector.model_dump(exclude_none=True))
    return built


def build_bundle(
    name: str, config: PipelineConfig, retriever: Retriever | None, own: BundleConfig | None = None
) -> Bundle:
    """One domain's bundle: every setting ``own`` leaves out is taken from the top level of ``config``."""
    own = own or BundleConfig()
    retrieval = own.retrieval or config.retrieval
    prompt = own.prompt or config.prompt
    return Bundle(
        name=name,
        retriever=retriever if own.index is None else build_retriever(own.index, own.encoder, retrieval),
        selector=build_selector(own.selector or config.selector),
        prompts=PromptBuilder(
            prompt.max_reference_tokens,
            prompt.min_reference_tokens,
            knowledge=open_graph(prompt.knowledge) if prompt.knowledge else None,
            max_knowledge_tokens=prompt.max_knowledge_tokens,
        ),
        fetch_k=retrieval.fetch_k,
        retrieval_mode=retrieval.mode,
        filters=Filters(
            domain=retrieval.domain, modality=retrieval.modality, split=retrieval.split, source=retrieval.source
        ),
        adapter=own.adapter,
        concept_links=_links(own.index or config.index) if prompt.knowledge and retrieval.concept_boost else None,
    )


def _links(index: str | Path | None) -> ConceptLinks | None:
    """The concept links beside an index folder (None: a spec without a folder, or no `mmedrag kg link` run)."""
    return ConceptLinks.beside(index) if index is not None and Path(index).is_dir() else None


def build_pipeline(config: PipelineConfig, retriever: Retriever | None = None) -> RAGPipeline:
    """Assemble the pipeline; pass ``retriever`` to reuse one already loaded for the default bundle."""
    if retriever is None:
        retriever = build_retriever(config.index, config.encoder, config.retrieval)
    router = None
    if config.router is not None:
        overrides = {"threshold": config.router.threshold} if config.router.threshold is not None else {}
        router = load_router(config.router.path, **overrides)
    return RAGPipeline(
        generator=create_generator(config.generator),
        default=build_bundle("default", config, retriever),
        bundles={
            check_domain(name): build_bundle(check_domain(name), config, retriever, own)
            for name, own in config.domains.items()
        },
        router=router,
        default_domain=check_domain(config.default_domain) if config.default_domain else None,
        consistency=config.retrieval.consistency,
        image_questions=config.image_questions,
        answer_weak=config.answers.answer_weak,
        min_confidence=config.answers.min_confidence,
        calibrator=(
            ConfidenceCalibrator.load(config.answers.confidence_calibration)
            if config.answers.confidence_calibration
            else None
        ),
        scope_check=config.scope_check,
    )
