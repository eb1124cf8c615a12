"""The web page rendered from constructed answers of every grade: badge and colour, banner, confidence, note, the
no-citation rule for abstentions, "No image given", the DICOM caption for DICOM uploads alone, ids that wrap."""

from __future__ import annotations

import colorsys
import io
import re
from dataclasses import replace
from pathlib import Path

import pytest

pytest.importorskip("fastapi", reason="needs fastapi: pip install 'mmedrag[serve]'")
pytest.importorskip("jinja2", reason="needs jinja2: pip install 'mmedrag[serve]'")

from PIL import Image

from mmedrag.retrieval.context import TopK
from mmedrag.serve.page import HERE, breakable, dicom_caption, page_templates, result_view
from mmedrag.types import GRADES, Answer, Hit, Query, Record

LONG_ID = "synpic12345_view_2/series-0001/instance.000042"
RECORDS = [
    Record(LONG_ID, "Small left pleural effusion. Heart size normal.", domain="radiology", modality="xray"),
    Record("b", "No pleural effusion. Lungs clear.", domain="radiology", modality="xray"),
]
NOTES = {
    "supported": "Case [1] states a small left pleural effusion.",
    "inferred": "The report of this patient's own study mentions no effusion.",
    "weak": "Only similar cases were silent about an effusion.",
    "abstained": "The cited cases disagree, so no answer is given.",
    "out_of_scope": "it looks like a chart, not a medical image.",
}


def _answer(grade: str, confidence: float | None = 0.873, calibrated: bool = True, note: str | None = None) -> Answer:
    hits = [Hit(record, 0.9 - 0.1 * rank, rank) for rank, record in enumerate(RECORDS, start=1)]
    context = TopK(k=2).select(Query(text="Is there a pleural effusion?"), hits)
    trace = {"route": {"probability": 0.93}, "domain_source": "router", "selector": dict(context.trace)}
    text = "unknown" if grade in ("abstained", "out_of_scope") else "yes"
    return Answer(
        text,
        "radiology",
        "closed",
        context,
        trace=trace,
        grade=grade,  # type: ignore[arg-type]
        confidence=confidence,
        confidence_calibrated=calibrated,
        note=NOTES[grade] if note is None else note,
    )


def _png() -> Image.Image:
    return Image.new("RGB", (64, 48), (90, 90, 90))


def _png_bytes() -> bytes:
    buffer = io.BytesIO()
    _png().save(buffer, format="PNG")
    return buffer.getvalue()


def _render(answer: Answer, image: Image.Image | None = None, upload: bytes | None = None) -> str:
    view = result_view(answer, None, image, upload, lambda record_id: None)
    context = {
        "title": "mmedrag",
        "auth_required": False,
        "domains": ("radiology",),
        "max_k": 8,
        "indexes": ["v1"],
        "ready": True,
        "form": {},
        "result": view,
    }
    return str(page_templates().env.get_template("index.html").render(context))


def _article(html: str) -> str:
    return html[html.index("<article") : html.index("</article>")]


@pytest.mark.parametrize("grade", GRADES)
def test_each_grade_has_its_badge_and_only_answered_grades_list_cited_cases(grade) -> None:
    html = _render(_answer(grade), _png(), _png_bytes())
    article = _article(html)
    assert f'data-grade="{grade}"' in article and f'class="badge grade-{grade}"' in article
    assert article.count('class="badge') == 1
    assert "Answered" not in html
    cited = 'class="card evidence-card"' in html and "Evidence: cases cited" in html
    if grade in ("abstained", "out_of_scope"):
        assert not cited and "evidence-title" not in html  # no case is offered as support for no answer
        assert "No answer" in article and ">yes<" not in article
        assert "none cited, as no answer rests on them (top-k rule" in article  # retrieved, not offered as support
    else:
        assert cited and html.count('class="card evidence-card"') == 2
        assert '<p class="answer-text">yes</p>' in article and "none cited" not in article


def test_confidence_shows_as_a_percentage_with_its_calibration_and_the_note_as_text() -> None:
    article = _article(_render(_answer("supported", 0.873, calibrated=True)))
    assert re.search(r"Confidence 87%\s*<span class=\"calibration\">\(calibrated\)", article)
    assert NOTES["supported"] in article
    raw = _article(_render(_answer("weak", 0.61, calibrated=False)))
    assert "Confidence 61%" in raw and "(uncalibrated)" in raw and NOTES["weak"] in raw
    unknown = _article(_render(_answer("inferred", None)))
    assert 'class="confidence"' not in unknown  # no number: no confidence shown, not "None%"
    assert "None" not in unknown
    hostile = _article(_render(_answer("weak", note='<script>alert("n")</script> Only similar cases.')))
    assert "<script>" not in hostile and "&lt;script&gt;" in hostile


def test_an_out_of_scope_image_gets_the_banner_with_its_note() -> None:
    article = _article(_render(_answer("out_of_scope", None), _png(), _png_bytes()))
    assert 'class="banner out-of-scope"' in article
    assert "This image does not look like anything in the knowledge base:" in article
    assert NOTES["out_of_scope"] in article and 'class="confidence"' not in article
    for grade in ("supported", "weak", "abstained"):
        assert "banner out-of-scope" not in _render(_answer(grade))


def test_a_router_refusal_is_out_of_scope_whatever_the_grade_field_says() -> None:
    refused = Answer("unknown", "out_of_scope", "closed", _answer("abstained").context, trace={"abstained": "x"})
    html = _render(refused, _png(), _png_bytes())
    assert 'data-grade="out_of_scope"' in html and "banner out-of-scope" in html and "evidence-card" not in html


def test_green_is_the_colour_of_supported_alone() -> None:
    css = (HERE / "static" / "style.css").read_text(encoding="utf-8")
    variables = dict(re.findall(r"--([\w-]+):\s*(#[0-9a-fA-F]{6})", css))

    def background(grade: str) -> str:
        body = re.search(r"\.badge\.grade-" + grade + r"\s*\{([^}]*)\}", css)
        value = re.search(r"background:\s*([^;]+);", body.group(1) if body else _default_badge(css)).group(1)
        name = re.fullmatch(r"var\(--([\w-]+)\)", value.strip())
        return variables[name.group(1)] if name else value.strip()

    def hue(colour: str) -> tuple[float, float]:
        r, g, b = (int(colour[i : i + 2], 16) / 255 for i in (1, 3, 5))
        h, _, s = colorsys.rgb_to_hls(r, g, b)
        return h * 360, s

    def green(colour: str) -> bool:
        degrees, saturation = hue(colour)
        return 75 <= degrees <= 165 and saturation > 0.2

    colours = {grade: background(grade) for grade in GRADES}
    assert green(colours["supported"])
    assert not any(green(colours[g]) for g in GRADES if g != "supported")
    assert len(set(colours.values())) == len(GRADES)  # every grade its own colour
    assert 30 <= hue(colours["weak"])[0] <= 50  # amber
    assert hue(colours["abstained"])[1] < 0.2  # grey


def _default_badge(css: str) -> str:
    match = re.search(r"\n\.badge\s*\{([^}]*)\}", css)
    assert match, "style.css has no .badge rule"
    return match.group(1)


def test_no_image_given_is_said_and_the_dicom_caption_is_for_dicom_uploads_alone() -> None:
    none = _render(_answer("supported"))
    assert "No image given" in none and "<figure" not in none
    png = _render(_answer("supported"), _png(), _png_bytes())
    assert "No image given" not in png and "<figure" in png
    assert "DICOM" not in png.split('class="query-image"', 1)[1].split("</figure>")[0]
    pytest.importorskip("pydicom", reason="needs pydicom: pip install 'mmedrag[dicom]'")
    from pydicom.data import get_testdata_file

    data = Path(get_testdata_file("CT_small.dcm")).read_bytes()
    dicom = _render(_answer("supported"), _png(), data)
    caption = dicom.split("<figcaption>", 1)[1].split("</figcaption>")[0]
    assert caption.startswith("Your DICOM image (CT, 128x128)") and "window" in caption
    assert dicom_caption(data) == caption


def test_long_record_ids_break_after_separators_and_stay_escaped() -> None:
    assert str(breakable("a_b/c")) == "a_<wbr>b/<wbr>c"
    assert str(breakable("<x>_y")) == "&lt;x&gt;_<wbr>y"
    html = _render(_answer("supported"))
    assert 'data-case-id="' + LONG_ID + '"' in html
    assert "synpic12345_<wbr>view_<wbr>2/<wbr>series-<wbr>0001/<wbr>instance.<wbr>000042" in html
    css = (HERE / "static" / "style.css").read_text(encoding="utf-8")
    assert re.search(r"\.case-id\s*\{[^}]*overflow-wrap:\s*anywhere", css)


def test_reports_and_ids_with_markup_are_shown_as_text_on_the_cards() -> None:
    hostile = Record('x<b>_"y"', '<script>alert("kb")</script> Small effusion. <img src=x onerror=alert(1)>')
    hits = (Hit(hostile, 0.9, 1),)
    answer = replace(_answer("supported"), context=replace(_answer("supported").context, hits=hits))
    html = _render(answer)
    assert 'class="card evidence-card"' in html and "<script>alert" not in html and "<img src=x" not in html
    assert "&lt;img src=x onerror=alert(1)&gt;" in html and "x&lt;b&gt;_<wbr>&#34;y&#34;" in html


def test_the_page_links_its_favicon_and_loads_no_inline_script_or_style() -> None:
    html = _render(_answer("weak"), _png(), _png_bytes())
    assert '<link rel="icon" href="/static/favicon.svg" type="image/svg+xml">' in html
    svg = (HERE / "static" / "favicon.svg").read_text(encoding="utf-8")
    assert svg.lstrip().startswith("<svg") and "<script" not in svg
    assert re.findall(r"<script[^>]*>", html) == ['<script src="/static/app.js" defer>']  # CSP: script-src 'self'
    assert "<style" not in html and " style=" not in html  # CSP: style-src 'self' forbids inline styles
