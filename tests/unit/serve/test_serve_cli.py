"""``mmedrag serve`` fails in a second, with one line and exit code 2, before binding anything."""

from __future__ import annotations

import pytest

pytest.importorskip("fastapi", reason="needs fastapi: pip install 'mmedrag[serve]'")

from mmedrag.cli import main


def test_a_missing_index_is_a_one_line_error(tmp_path, capsys) -> None:
    assert main(["serve", "--index", str(tmp_path / "nope"), "--port", "1"]) == 2
    error = capsys.readouterr().err.strip()
    assert error.startswith("mmedrag serve: error:") and "no index found" in error and "\n" not in error


def test_a_public_address_without_keys_is_refused(tmp_path, capsys, monkeypatch) -> None:
    monkeypatch.delenv("MMEDRAG_API_KEYS", raising=False)
    monkeypatch.delenv("MMEDRAG_ADMIN_KEYS", raising=False)
    assert main(["serve", "--host", "0.0.0.0", "--port", "1"]) == 2
    assert "refusing to listen beyond loopback" in capsys.readouterr().err


def test_a_short_key_in_a_key_file_is_refused(tmp_path, capsys) -> None:
    keys = tmp_path / "keys"
    keys.write_text("team:short\n", encoding="utf-8")
    assert main(["serve", "--api-key-file", str(keys), "--port", "1"]) == 2
    assert "shorter than 16 characters" in capsys.readouterr().err


def test_a_bad_config_value_is_refused(capsys) -> None:
    assert main(["serve", "--set", "selector.k=-1", "--port", "1"]) == 2
    assert "selector.k" in capsys.readouterr().err


def test_the_demo_knowledge_base_is_built_on_first_use_only(tmp_path, monkeypatch) -> None:
    from mmedrag.serve import demo_source

    built: list[object] = []

    def fake_run_demo(settings, log):  # stands in for the two-minute tower training + indexing
        built.append(settings)
        (settings.work_dir / "index").mkdir(parents=True)
        (settings.work_dir / "index" / "CURRENT").write_text("v-000001\n")
        (settings.work_dir / "tower").mkdir()
        (settings.work_dir / "tower" / "demo.json").write_text("{}")
        return {}

    checked: list[object] = []
    monkeypatch.setattr(demo_source, "run_demo", fake_run_demo)
    monkeypatch.setattr(demo_source, "ensure_scope", lambda index, log: checked.append(index))
    for name in ("medpix2", "vqa_rad"):
        (tmp_path / "data" / name).mkdir(parents=True)
    first = demo_source.demo_values(tmp_path / "data", tmp_path / "work")
    second = demo_source.demo_values(tmp_path / "data", tmp_path / "work")
    assert len(built) == 1 and first == second
    assert checked == [tmp_path / "work" / "index"]  # a cached index gets its in-scope fit if it has none
    assert first["index"] == str(tmp_path / "work" / "index") and first["selector.k"] == 3


def test_without_the_datasets_the_demo_says_how_to_get_them(tmp_path) -> None:
    from mmedrag.errors import DataError
    from mmedrag.serve import demo_source

    with pytest.raises(DataError, match="run `mmedrag demo`"):
        demo_source.demo_values(tmp_path / "no-data", tmp_path / "work")
