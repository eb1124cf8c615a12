"""MkDocs hook: pages generated from the code, so that they cannot drift from it.

A page containing one of these markers gets it replaced when the site is built:

* ``<!-- mmedrag:cli -->``: the ``--help`` of every ``mmedrag`` verb (and of each ``mmedrag data`` action), rendered
  by the real argparse parsers;
* ``<!-- mmedrag:config -->``: one table per configuration section, from the pydantic models in ``mmedrag.config``;
* ``<!-- mmedrag:datasets -->``: the dataset catalogue shipped in the package.
"""

from __future__ import annotations

import argparse
import os
from typing import Any

CLI_MARKER, CONFIG_MARKER, DATASETS_MARKER = (
    "<!-- mmedrag:cli -->",
    "<!-- mmedrag:config -->",
    "<!-- mmedrag:datasets -->",
)


def _subparsers(parser: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
    for action in parser._actions:  # argparse keeps sub-commands here; there is no public accessor
        if isinstance(action, argparse._SubParsersAction):
            return dict(action.choices)
    return {}


def render_cli() -> str:
    """Every verb's help text, in the order of ``mmedrag --help``."""
    os.environ["COLUMNS"] = "110"  # argparse wraps to the terminal: fix it so the page is the same everywhere
    from mmedrag.cli import build_parser

    parser = build_parser()
    parts = ["```text", parser.format_help().rstrip(), "```"]
    for verb, sub in _subparsers(parser).items():
        parts += [f"## mmedrag {verb}", "", "```text", sub.format_help().rstrip(), "```", ""]
        for action, subsub in _subparsers(sub).items():
            parts += [f"### mmedrag {verb} {action}", "", "```text", subsub.format_help().rstrip(), "```", ""]
    return "\n".join(parts)


# Meanings of the keys whose pydantic field has no description yet (a field's own description wins).
FALLBACK_MEANINGS = {
    "top level.index": "index built with `mmedrag index`: a folder, or `milvus:URI|collection=NAME`",
    "top level.encoder": "encoder spec; null: the encoder saved in the index",
    "top level.generator": "generator spec: `extractive`, `hf:...` or `openai:MODEL@URL`",
    "top level.default_domain": "domain used when neither the query nor the router decides; null: refuse",
    "top level.router": "domain router (section `router`); null: no router",
    "top level.retrieval": "section `retrieval`",
    "top level.selector": "section `selector`",
    "top level.prompt": "section `prompt`",
    "top level.domains": "per-domain bundles (section `domains.NAME`)",
    "retrieval.mode": "`auto`: image -> report when there is an image, else question -> report",
    "retrieval.leakage_guard": "never return the query's patient, study or image",
    "retrieval.domain": "only candidates of this domain",
    "retrieval.modality": "only candidates of this modality",
    "retrieval.split": "only candidates of this split",
    "retrieval.source": "only candidates of this source",
    "selector.kind": "how many references the generator sees (each kind takes only its own keys)",
    "selector.min_score": "min_score: the least score kept",
    "selector.k_min": "gap: the fewest references kept",
    "selector.calibration": "calibrated: the calibration.json written by `mmedrag calibrate`",
    "selector.on_uncertified": "calibrated, when no k was certified: abstain, or answer without references",
    "prompt.max_reference_tokens": "budget for all references, counted with the generator's tokenizer",
    "prompt.min_reference_tokens": "a reference cut shorter than this is dropped instead",
    "router.path": "a `mmedrag train-router` folder, or `zero_shot:ENCODER`",
    "router.threshold": "least calibrated top-class probability to route with; overrides the saved one",
}


def _type_name(annotation: Any) -> str:
    text = getattr(annotation, "__name__", None) if isinstance(annotation, type) else None
    text = text or str(annotation).replace("typing.", "").replace("pathlib.", "")
    return text.replace("NoneType", "None").replace("mmedrag.config.", "").replace("|", "\\|")


def render_config() -> str:
    """One table per section of the pipeline configuration: key, type, default, meaning."""
    from pydantic_core import PydanticUndefined

    from mmedrag import config

    sections = [
        ("top level", config.PipelineConfig),
        ("retrieval", config.RetrievalConfig),
        *((f"selector (kind: {model.model_fields['kind'].default})", model) for model in config.SELECTOR_MODELS),
        ("prompt", config.PromptConfig),
        ("answers", config.AnswersConfig),
        ("router", config.RouterConfig),
        ("domains.NAME", config.BundleConfig),
    ]
    parts: list[str] = []
    for title, model in sections:
        doc = " ".join((model.__doc__ or "").split())
        parts += [f"### `{title}`", "", doc, "", "| key | type | default | meaning |", "|---|---|---|---|"]
        for name, field in model.model_fields.items():
            if field.default is PydanticUndefined:
                default = "required" if field.default_factory is None else "(section defaults)"
            else:
                default = f"`{field.default!r}`" if field.default is not None else "`null`"
            bundle = "this domain's own value (else the top level's)" if title == "domains.NAME" else ""
            key = f"selector.{name}" if title.startswith("selector") else f"{title}.{name}"
            meaning = (field.description or FALLBACK_MEANINGS.get(key, bundle)).replace("|", "\\|")
            parts.append(f"| `{name}` | `{_type_name(field.annotation)}` | {default} | {meaning} |")
        parts.append("")
    return "\n".join(parts)


def render_datasets() -> str:
    """The catalogue: name, content, size, licence, citation and source of each dataset."""
    from mmedrag.datasets import load_catalogue
    from mmedrag.datasets.catalogue import human_size

    parts = ["| name | files | size | download | licence |", "|---|---|---|---|---|"]
    catalogue = load_catalogue()
    for d in catalogue.values():
        terms = f" ({', '.join(d.licence.terms)})" if d.licence.terms else ""
        licence = f"[{d.licence.name}]({d.licence.url}){terms}"
        parts.append(
            f"| `{d.name}` | {len(d.fetchable)} | {human_size(d.size)} | {human_size(d.download_size)} | {licence} |"
        )
    parts.append("")
    for d in catalogue.values():
        sources = "; ".join(
            f"<{s.repository or s.url}>" + (f" at `{s.commit[:12]}`" if s.commit else "") for s in d.sources.values()
        )
        optional = [f.path for f in d.files if f.source is None]
        parts += [
            f"### `{d.name}`: {d.title}",
            "",
            d.description,
            "",
            f"- **Layout:** {d.layout}",
            f"- **Source:** {sources}",
            f"- **Licence:** {d.licence.name}. {d.licence.note}".rstrip(),
            f"- **Cite:** {d.citation}",
        ]
        if optional:
            parts.append(f"- **Not fetched** (derived copies, verified when present): {', '.join(optional)}")
        parts.append("")
    return "\n".join(parts)


def on_page_markdown(markdown: str, **_: Any) -> str:
    """Replace the markers this hook knows (see the module docstring)."""
    for marker, render in (
        (CLI_MARKER, render_cli),
        (CONFIG_MARKER, render_config),
        (DATASETS_MARKER, render_datasets),
    ):
        if marker in markdown:
            markdown = markdown.replace(marker, render())
    return markdown
