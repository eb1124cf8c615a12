"""Milvus expressions and specs: values can never escape their literal, tokens never ride on a command line."""

from __future__ import annotations

import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from mmedrag.errors import ConfigError
from mmedrag.stores.milvus_filters import literal, none_of, one_of, search_expression
from mmedrag.stores.milvus_spec import default_name, parse_milvus_spec

NASTY = ['a"b', "c'd", "e\\f", 'x" or record_id != "', "g\nh", "ümlaut", "]", "1 == 1 or"]


@given(st.text())
def test_literal_reads_back_as_the_same_single_string(value: str) -> None:
    text = literal(value)
    assert text.startswith('"') and text.endswith('"')
    assert json.loads(text) == value  # one literal, decoded to exactly the value: no way to close it early


def test_one_of_and_none_of_quote_every_value() -> None:
    assert one_of("domain", "radiology") == 'domain == "radiology"'
    assert one_of("domain", ["b", "a", "a"]) == 'domain in ["a", "b"]'
    assert none_of("record_id", []) is None
    assert none_of("record_id", ['x" or "1"=="1']) == 'record_id != "x\\" or \\"1\\"==\\"1"'


def test_field_names_are_whitelisted() -> None:
    with pytest.raises(ValueError, match="cannot filter on"):
        one_of("data) or (1", "x")
    with pytest.raises(ValueError, match="cannot filter on"):
        search_expression("record", {"patient_id": "p"})


def test_search_expression_combines_filters_and_guard() -> None:
    expression = search_expression("record", {"domain": ("a", "b"), "split": ""}, 'p"1', None, ["r1"])
    assert expression == (
        '(kind == "record") and (has_vector == true) and (domain in ["a", "b"]) and (patient_id != "p\\"1") '
        'and (record_id != "r1")'
    )


def test_spec_strings_parse_and_refuse_tokens() -> None:
    spec, token = parse_milvus_spec("milvus:http://db:19530|collection=cxr,index=ivf_flat,nlist=256,nprobe=16")
    assert (spec.uri, spec.collection, spec.index_type, token) == ("http://db:19530", "cxr", "IVF_FLAT", None)
    assert spec.index_params == {"nlist": 256} and spec.search_params == {"nprobe": 16}
    assert parse_milvus_spec("milvus:./data")[0].index_params == {"M": 16, "efConstruction": 200}
    assert parse_milvus_spec({"kind": "milvus", "uri": "http://db:19530", "token": "root:x"})[1] == "root:x"
    with pytest.raises(ConfigError, match="never put a Milvus token"):
        parse_milvus_spec("milvus:http://db:19530|token=root:Milvus")
    with pytest.raises(ConfigError, match="not built by Milvus Lite"):
        parse_milvus_spec("milvus:./data|index=IVF_PQ")
    with pytest.raises(ConfigError, match="unknown Milvus option"):
        parse_milvus_spec("milvus:./data|efsearch=3")
    with pytest.raises(ConfigError, match="collection name"):
        parse_milvus_spec("milvus:./data|collection=a-b")
    assert parse_milvus_spec("milvus:http://db:19530|collection=a")[0].uri == "http://db:19530"  # config keeps "//"
    assert default_name("idx/cxr-2024") == "cxr_2024" and default_name("idx/2024") == "i_2024"
