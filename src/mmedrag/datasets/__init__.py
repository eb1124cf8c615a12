"""Public datasets: a catalogue in the package, resumable verified fetching, and verification of a data folder.

``mmedrag data list | fetch NAME... | verify [NAME...] | path NAME`` is the command line over this package.
"""

from __future__ import annotations

from mmedrag.datasets.catalogue import (
    ChecksumError,
    Dataset,
    FetchError,
    FileEntry,
    Licence,
    LicenceError,
    Source,
    data_root,
    get_dataset,
    load_catalogue,
)
from mmedrag.datasets.fetch import FetchReport, ensure_datasets, fetch_dataset, fetch_datasets
from mmedrag.datasets.verify import VerifyReport, dataset_path, is_ready, verify_dataset

__all__ = [
    "ChecksumError",
    "Dataset",
    "FetchError",
    "FetchReport",
    "FileEntry",
    "Licence",
    "LicenceError",
    "Source",
    "VerifyReport",
    "data_root",
    "dataset_path",
    "ensure_datasets",
    "fetch_dataset",
    "fetch_datasets",
    "get_dataset",
    "is_ready",
    "load_catalogue",
    "verify_dataset",
]
