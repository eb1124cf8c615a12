"""Corpus quality checks before indexing: validation (files, duplicates, leakage), PHI screening, report hygiene.

:func:`~mmedrag.quality.validate.validate` is behind ``mmedrag validate``; :mod:`~mmedrag.quality.phi` and
:mod:`~mmedrag.quality.sections` are text utilities that validation and ingestion share.
"""

from __future__ import annotations
