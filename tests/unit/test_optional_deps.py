"""Each optional backend fails early, naming the extra that provides it (txtai's testoptional idea)."""

from __future__ import annotations

import sys
from collections.abc import Callable

import pytest

from mmedrag.errors import MissingExtraError


def _faiss() -> object:
    from mmedrag.stores.faiss_store import FaissStore

    return FaissStore(8)


def _open_clip() -> object:
    from mmedrag.encoders.open_clip import OpenClipEncoder

    return OpenClipEncoder("local-dir:/nowhere")


def _hf_clip() -> object:
    from mmedrag.encoders.hf_clip import HFClipEncoder

    return HFClipEncoder("/nowhere")


def _sentence() -> object:
    from mmedrag.encoders.sentence import SentenceEncoder

    return SentenceEncoder()


def _hf_generator() -> object:
    from mmedrag.generation.hf import HFGenerator

    return HFGenerator("/nowhere")


def _openai() -> object:
    from mmedrag.generation.openai_compat import OpenAICompatGenerator

    return OpenAICompatGenerator("http://127.0.0.1:9/v1", "m")


@pytest.mark.parametrize(
    ("module", "extra", "build"),
    [
        ("faiss", "faiss", _faiss),
        ("open_clip", "openclip", _open_clip),
        ("transformers", "hf", _hf_clip),
        ("sentence_transformers", "text", _sentence),
        ("transformers", "hf", _hf_generator),
        ("openai", "openai", _openai),
    ],
)
def test_missing_extra_names_the_pip_install(
    monkeypatch: pytest.MonkeyPatch, module: str, extra: str, build: Callable[[], object]
) -> None:
    monkeypatch.setitem(sys.modules, module, None)
    with pytest.raises(MissingExtraError) as caught:
        build()
    assert f"pip install 'mmedrag[{extra}]'" in str(caught.value)
    assert isinstance(caught.value, ImportError)


def test_the_core_imports_without_torch_or_backends(monkeypatch: pytest.MonkeyPatch) -> None:
    import subprocess

    code = (
        "import sys\n"
        "for name in ('torch', 'transformers', 'faiss', 'open_clip', 'sentence_transformers', 'openai'):\n"
        "    sys.modules[name] = None\n"
        "import mmedrag\n"
        "from mmedrag.cli import main\n"
        "assert main(['--help']) == 0\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stderr
