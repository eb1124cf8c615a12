"""Flags shared by the verbs that take a query (``search``, ``ask``), and the in-scope switch (``ask``, ``serve``,
``evaluate``)."""

from __future__ import annotations

import argparse

from mmedrag.types import Query


def add_query_arguments(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("query")
    group.add_argument("--image", help="query image (PNG, JPEG, DICOM, ...)")
    group.add_argument("--domain", help="the query's domain (radiology, ophthalmology, pathology, ...)")
    group.add_argument("--modality", help="the query image's modality (xray, ct, mri, fundus, ...)")
    group.add_argument("--patient-id", help="exclude this patient's records from the results (leakage guard)")
    group.add_argument("--study-id", help="exclude this study's records from the results (leakage guard)")
    filters = parser.add_argument_group("retrieval")
    filters.add_argument(
        "--mode",
        choices=("auto", "image", "text", "image2image"),
        default=None,
        help="image->report, text->report or image->image (auto: image when given)",
    )
    filters.add_argument("--filter-domain", help="only records of this domain")
    filters.add_argument("--filter-modality", help="only records of this modality")
    filters.add_argument("--filter-split", help="only records of this split")
    filters.add_argument(
        "--no-leakage-guard",
        action="store_true",
        help="allow results from the query's patient/study and copies of the query image",
    )
    filters.add_argument(
        "--no-near-duplicate-guard",
        action="store_true",
        help="exclude only pixel-identical copies of the query image, not re-encodes, resizes or crops of it",
    )


def add_scope_flag(parser: argparse.ArgumentParser | argparse._ArgumentGroup) -> None:
    """``--no-scope-check``, shared by ask, serve and evaluate."""
    parser.add_argument(
        "--no-scope-check",
        action="store_true",
        help="answer query images unlike every image of the index too (by default they get an out-of-scope "
        "abstention; same as --set scope_check=false)",
    )


def query_from_args(args: argparse.Namespace, text: str) -> Query:
    from mmedrag.domains import check_domain, check_modality
    from mmedrag.io.images import DECODE_SIDE, load_image

    return Query(
        text=text,
        image=load_image(args.image, max_side=DECODE_SIDE) if args.image else None,
        image_path=args.image,
        domain=check_domain(args.domain) if args.domain else None,
        modality=check_modality(args.modality) if args.modality else None,
        patient_id=args.patient_id,
        study_id=args.study_id,
    )
