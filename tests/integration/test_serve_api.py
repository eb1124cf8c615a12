"""The HTTP API through FastAPI's test client, on a real pipeline (hash encoder index + extractive answerer):
every route, every error code, traversal attempts, a DICOM upload, the OpenAI client, the page and its escaping."""

from __future__ import annotations

import base64
import io
import json
import re
import threading
import time
from dataclasses import replace

import pytest

pytest.importorskip("fastapi", reason="needs fastapi: pip install 'mmedrag[serve]'")

from fastapi.testclient import TestClient
from PIL import Image

from fakes import EchoGenerator
from mmedrag.config import load_config
from mmedrag.factory import build_pipeline
from mmedrag.serve.app import create_app
from mmedrag.serve.settings import ServeSettings
from serve_helpers import HOSTILE_TEXT, data_url, dicom_bytes, knowledge_base, png_bytes, small_png

pytestmark = pytest.mark.integration

USER, ADMIN = "user-secret-0123456789", "admin-secret-0123456789"
ASK_KEYS = {"answer", "domain", "task", "k", "citations", "prompt_tokens", "yes_probability", "timings_ms", "trace"}


@pytest.fixture(scope="module")
def index(tmp_path_factory):
    return knowledge_base(tmp_path_factory.mktemp("kb"))


def _pipeline(index):
    return build_pipeline(load_config(values={"index": str(index)}))


@pytest.fixture(scope="module")
def client(index, tmp_path_factory):
    audit = tmp_path_factory.mktemp("audit") / "audit.jsonl"
    settings = ServeSettings(max_body_bytes=1_000_000, max_pixels=1_000_000, audit_log=audit, rate_limit_per_minute=0)
    with TestClient(create_app(_pipeline(index), settings)) as test_client:
        test_client.audit_path = audit
        yield test_client


@pytest.fixture(scope="module")
def keyed(index):
    settings = ServeSettings(api_keys={"user": USER}, admin_keys={"ops": ADMIN}, rate_limit_per_minute=6)
    with TestClient(create_app(_pipeline(index), settings)) as test_client:
        yield test_client


def _error(response, status: int) -> str:
    assert response.status_code == status, response.text
    body = response.json()
    assert body["error"]["code"] == status and "\n" not in body["error"]["message"]
    return body["error"]["message"]


def test_health_and_readiness(client) -> None:
    assert client.get("/healthz").json() == {"status": "alive"}
    ready = client.get("/readyz").json()
    assert ready["status"] == "ready" and ready["indexes"][0].startswith("index@v-")


def test_ask_multipart_returns_the_ask_json_object_with_evidence_and_the_baseline(client) -> None:
    files = {"image": ("scan.bin", png_bytes(3), "application/octet-stream")}  # name and type are not trusted
    response = client.post("/v1/ask", files=files, data={"question": "Is there a pleural effusion?", "k": "2"})
    body = response.json()
    assert response.status_code == 200, body
    assert set(body) >= ASK_KEYS and body["k"] <= 2 and len(body["citations"]) == body["k"]
    assert [card["id"] for card in body["evidence"]] == [c["id"] for c in body["citations"]]
    assert body["summary"]["selector"].startswith("top-k rule")
    both = client.post(
        "/v1/ask", files=files, data={"question": "Is there a pleural effusion?", "without_retrieval": "true"}
    ).json()
    assert both["without_retrieval"]["k"] == 0 and both["without_retrieval"]["citations"] == []


def test_ask_json_with_base64_gives_the_same_answer_as_multipart(client) -> None:
    question = "Is there cardiomegaly?"
    multipart = client.post("/v1/ask", files={"image": ("a.png", png_bytes(4))}, data={"question": question}).json()
    as_json = client.post("/v1/ask", json={"image": base64.b64encode(png_bytes(4)).decode(), "question": question})
    assert as_json.status_code == 200
    assert as_json.json()["citations"] == multipart["citations"] and as_json.json()["answer"] == multipart["answer"]


@pytest.fixture(scope="module")
def leaning(index):
    """Weak answers shown (``answers.answer_weak: lean``): a text question finds its cases by its words, and what
    another patient's report says of them is weak evidence, withheld by default."""
    with TestClient(create_app(replace(_pipeline(index), answer_weak="lean"), ServeSettings())) as test_client:
        yield test_client


def test_a_text_question_is_answered_with_its_deciding_sentence_highlighted(client, leaning) -> None:
    # With three references the cases disagree about the effusion (weak evidence: withheld); the best one states it.
    split = client.post("/v1/ask", json={"question": "Is there a pleural effusion?", "domain": "radiology"}).json()
    assert (split["answer"], split["grade"], split["evidence"]) == ("unknown", "abstained", [])
    assert split["note"].startswith('Similar cases disagree about "pleural effusion"')
    alone = client.post("/v1/ask", json={"question": "Is there a pleural effusion?", "domain": "radiology", "k": 1})
    assert alone.json()["grade"] == "abstained" and "found by the question's words" in alone.json()["note"]
    body = leaning.post(
        "/v1/ask", json={"question": "Is there a pleural effusion?", "domain": "radiology", "k": 1}
    ).json()
    assert body["summary"]["status"] == "answered" and body["grade"] == "weak", body["answer"]
    decided = [card for card in body["evidence"] if card["deciding_sentence"]]
    assert decided and decided[0]["deciding_sentence"] in decided[0]["report"]
    assert decided[0]["deciding_sentence"] in body["answer"]


def test_a_dicom_upload_is_answered(client) -> None:
    files = {"image": ("study", dicom_bytes(), "application/dicom")}
    body = client.post("/v1/ask", files=files, data={"question": "Is there a pleural effusion?"}).json()
    assert body["domain"] == "radiology" and body["k"] >= 1


def test_search_returns_cases_without_patient_identifiers(client) -> None:
    body = client.post("/v1/search", json={"text": "pleural effusion", "k": 3}).json()
    assert len(body["cases"]) == 3 and body["route"]["domain"] == "radiology"
    assert all("patient_id" not in case and "image_paths" not in case for case in body["cases"])
    by_image = client.post("/v1/search", json={"image": data_url(png_bytes(5)), "k": 2}).json()
    assert len(by_image["cases"]) == 2
    _error(client.post("/v1/search", json={"k": 2}), 422)


def test_cases_and_thumbnails_png_and_dicom(client) -> None:
    case = client.get("/v1/cases/r2").json()
    assert case["report"].startswith("Large left pleural effusion") and case["modality"] == "xray"
    assert "p2" not in json.dumps(case)  # the patient id never leaves the service
    for case_id in ("r2", "ct-1"):
        response = client.get(f"/v1/cases/{case_id}/thumbnail")
        assert response.status_code == 200 and response.headers["content-type"] == "image/png"
        thumb = Image.open(io.BytesIO(response.content))
        assert max(thumb.size) <= 192


@pytest.mark.parametrize(
    "path",
    [
        "/v1/cases/..%2F..%2F..%2Fetc%2Fpasswd",
        "/v1/cases/../../etc/passwd",
        "/v1/cases/%2e%2e/%2e%2e/etc/passwd/thumbnail",
        "/v1/cases/%2Fetc%2Fpasswd/thumbnail",
        "/v1/cases/r1%00.png/thumbnail",
        "/v1/cases/" + "a" * 600,
        "/static/..%2F..%2Fserve%2Fapp.py",
        "/static/%2e%2e/%2e%2e/pyproject.toml",
    ],
)
def test_traversal_attempts_are_404(client, path: str) -> None:
    response = client.get(path)
    assert response.status_code == 404 and "root:" not in response.text


def test_bad_input_gets_a_4xx_json_line_and_the_service_keeps_serving(client) -> None:
    png = png_bytes()
    cases = [
        (client.post("/v1/ask", files={"image": ("x.png", png[:50])}, data={"question": "Is it?"}), 400),
        (client.post("/v1/ask", files={"image": ("x.png", b"")}, data={"question": "Is it?"}), 400),
        (client.post("/v1/ask", content=b'{"question": ', headers={"content-type": "application/json"}), 400),
        (client.post("/v1/ask", content=b"--x\r\n", headers={"content-type": "multipart/form-data"}), 400),
        (
            client.post(
                "/v1/ask",
                content=b'--x\r\nContent-Disposition: form-data; filename="a"\r\n\r\nhi\r\n--x--\r\n',
                headers={"content-type": "multipart/form-data; boundary=x"},
            ),
            400,
        ),
        (client.post("/v1/ask", content=b"question=hi", headers={"content-type": "text/plain"}), 415),
        (client.post("/v1/ask", files={"image": ("x.gif", b"GIF89a" + b"0" * 50)}, data={"question": "Is it?"}), 415),
        (client.post("/v1/ask", json={"question": ""}), 422),
        (client.post("/v1/ask", json={"question": "x" * 20_000}), 422),
        (client.post("/v1/ask", json={"question": "Is it?", "domain": "astrology"}), 422),
        (client.post("/v1/ask", json={"question": "Is it?", "k": 0}), 422),
        (client.post("/v1/ask", json={"question": "Is it?", "colour": "red"}), 422),
        (client.post("/v1/ask", json=["not", "an", "object"]), 422),
        (client.post("/v1/ask", files={"image": ("x.png", small_png((3000, 3000)))}, data={"question": "Is it?"}), 413),
        (client.post("/v1/ask", content=b"0" * 1_500_000, headers={"content-type": "application/json"}), 413),
        (client.get("/v1/nothing-here"), 404),
    ]
    for response, status in cases:
        _error(response, status)
    assert client.post("/v1/ask", json={"question": "Is there a pleural effusion?"}).status_code == 200


def test_keys_rate_limits_and_the_admin_route(keyed, index) -> None:
    _error(keyed.post("/v1/ask", json={"question": "Is it?"}), 401)
    _error(keyed.post("/v1/ask", json={"question": "Is it?"}, headers={"Authorization": "Bearer wrong-key-wrong"}), 401)
    _error(keyed.get("/metrics"), 401)
    user = {"Authorization": f"Bearer {USER}"}
    assert keyed.get("/v1/cases/r1", headers=user).status_code == 200
    _error(keyed.post("/v1/admin/reload", headers=user), 403)
    assert keyed.get("/healthz").status_code == 200  # health checks need no key
    statuses = [keyed.get("/v1/cases/r1", headers=user).status_code for _ in range(8)]
    assert statuses.count(429) >= 1 and statuses[0] == 200
    limited = keyed.get("/v1/cases/r1", headers=user)
    assert limited.status_code == 429 and int(limited.headers["retry-after"]) >= 1
    assert keyed.get("/v1/cases/r1", headers={"Authorization": f"Bearer {ADMIN}"}).status_code == 200  # own bucket


def test_not_ready_is_503_with_retry_after_while_health_is_200(index) -> None:
    gate = threading.Event()

    def slow_loader():
        gate.wait(30)
        return _pipeline(index)

    with TestClient(create_app(slow_loader, ServeSettings())) as slow:
        assert slow.get("/healthz").status_code == 200
        _error(slow.get("/readyz"), 503)
        response = slow.post("/v1/ask", json={"question": "Is it?"})
        _error(response, 503)
        assert response.headers["retry-after"]
        gate.set()


def test_under_several_workers_ready_means_every_live_worker_has_loaded(index) -> None:
    import subprocess

    from mmedrag.serve.peers import shared_readiness

    other = subprocess.Popen(["sleep", "60"])  # a second worker, alive and still loading
    try:
        with shared_readiness(2) as peers, TestClient(create_app(_pipeline(index), ServeSettings())) as worker:
            assert "1 of 2 workers are ready" in _error(worker.get("/readyz"), 503)
            (peers.folder / str(other.pid)).touch()
            assert worker.get("/readyz").status_code == 200
            other.kill()
            other.wait()
            _error(worker.get("/readyz"), 503)  # it died: its marker is stale until a new worker loads
    finally:
        other.kill()


class _GatedEcho(EchoGenerator):
    """The echo generator, holding every call until the gate opens: the warm-up query in progress."""

    def __init__(self, gate: threading.Event) -> None:
        super().__init__()
        self.gate = gate

    def generate(self, prompts):
        self.gate.wait(30)
        return super().generate(prompts)


def test_ready_only_after_a_warm_up_query_has_gone_through_the_pipeline(index) -> None:
    gate = threading.Event()
    generator = _GatedEcho(gate)
    pipeline = replace(_pipeline(index), generator=generator)
    with TestClient(create_app(lambda: pipeline, ServeSettings())) as warming:
        message = _error(warming.get("/readyz"), 503)  # loaded, but the warm-up question is not answered yet
        assert "not loaded yet" in message and not generator.calls
        gate.set()
        deadline = time.monotonic() + 30
        while warming.get("/readyz").status_code != 200 and time.monotonic() < deadline:
            time.sleep(0.05)
        assert warming.get("/readyz").status_code == 200
        warmed = [prompt.question for call in generator.calls for prompt in call]
        assert warmed and all(question == "Is there an abnormality?" for question in warmed)


def test_reload_switches_to_the_newest_index_version(tmp_path) -> None:
    from mmedrag.encoders.hashing import HashEncoder
    from mmedrag.indexing import build_index
    from mmedrag.types import Record

    index = knowledge_base(tmp_path / "kb", with_dicom=False)
    settings = ServeSettings(admin_keys={"ops": ADMIN})
    admin = {"Authorization": f"Bearer {ADMIN}"}
    with TestClient(create_app(_pipeline(index), settings)) as app_client:
        _error(app_client.get("/v1/cases/new-case", headers=admin), 404)
        Image.new("RGB", (32, 32), "white").save(tmp_path / "new.png")
        build_index([Record("new-case", "Pneumothorax.", (str(tmp_path / "new.png"),))], index, HashEncoder(dim=32))
        result = app_client.post("/v1/admin/reload", headers=admin).json()
        assert result["generation"] == 2 and result["indexes"] != result["previous"]
        assert app_client.get("/v1/cases/new-case", headers=admin).json()["report"] == "Pneumothorax."


def test_metrics_and_the_audit_log(client) -> None:
    client.post("/v1/ask", json={"question": "Is there a secret finding?"})
    text = client.get("/metrics").text
    for name in ("mmedrag_requests_total", "mmedrag_stage_seconds_bucket", "mmedrag_batch_size_bucket"):
        assert name in text
    assert 'route="/v1/ask"' in text
    lines = [json.loads(line) for line in client.audit_path.read_text().splitlines()]
    asks = [line for line in lines if line["route"] == "/v1/ask" and line["status"] == 200]
    assert asks and all(len(line["question_sha256"]) == 64 and "citations" in line for line in asks)
    assert "secret finding" not in client.audit_path.read_text()  # question text stays out by default


def test_the_page_escapes_reports_and_questions_and_sends_a_strict_csp(client, leaning) -> None:
    page = client.get("/")
    assert page.status_code == 200 and "script-src 'self'" in page.headers["content-security-policy"]
    assert '<label for="image">' in page.text and '<label for="question">' in page.text
    question = 'Is there a pleural effusion? <script>alert("q")</script>'
    response = client.post(
        "/",
        files={"image": ("x.png", png_bytes(51))},
        data={"question": question, "without_retrieval": "on", "domain": "radiology", "k": "8"},
    )
    assert response.status_code == 200
    html = response.text
    assert "<script>alert" not in html and "&lt;script&gt;alert(&#34;q&#34;)" in html
    assert "Without retrieval" in html and HOSTILE_TEXT not in html
    if _shown_grade(html) in ("abstained", "out_of_scope"):  # no answer: no case is offered as its support
        assert 'class="card evidence-card"' not in html and "onerror" not in html
    # The record with markup, asked about by its own words and alone, is the one case cited: its text is escaped.
    cited = leaning.post(
        "/", data={"question": "Is there a small right pleural effusion?", "domain": "radiology", "k": "1"}
    ).text
    assert _shown_grade(cited) == "weak" and 'data-case-id="html"' in cited
    assert "&lt;img src=x onerror=alert(1)&gt;" in cited and HOSTILE_TEXT not in cited and "<img src=x" not in cited
    bad = client.post("/", files={"image": ("x.png", b"nope")}, data={"question": "Is it?"})
    assert bad.status_code == 415 and 'role="alert"' in bad.text


def _shown_grade(html: str) -> str:
    found = re.search(r'<article class="answer grade-(\w+)"', html)
    assert found, "the page shows no graded answer"
    return found.group(1)


def test_the_page_says_no_image_given_and_captions_dicom_uploads_alone(client) -> None:
    question = {"question": "Is there a pleural effusion?"}
    nothing_picked = {"image": ("", b"", "application/octet-stream")}  # what a browser sends with no file chosen
    text_only = client.post("/", files=nothing_picked, data=question)
    assert text_only.status_code == 200 and "No image given" in text_only.text and "<figure" not in text_only.text
    png = client.post("/", files={"image": ("x.png", png_bytes(52))}, data=question).text
    assert "<figure" in png and "No image given" not in png and "Your DICOM image" not in png
    dicom = client.post("/", files={"image": ("study", dicom_bytes(), "application/dicom")}, data=question).text
    assert "<figcaption>Your DICOM image (CT, 128x128), as the service decoded it:" in dicom
    served = client.post("/v1/ask", files={"image": ("x.png", png_bytes(52))}, data=question).json()
    assert _shown_grade(png) == served["summary"]["grade"]  # the page and the API show the same grade
    assert 'rel="icon" href="/static/favicon.svg"' in png
    icon = client.get("/favicon.ico")
    assert icon.status_code == 200 and icon.headers["content-type"].startswith("image/svg+xml")
    assert icon.content == client.get("/static/favicon.svg").content and b"<script" not in icon.content


def test_the_openai_client_gets_answers_and_citations_also_streamed(client) -> None:
    openai = pytest.importorskip("openai")
    api = openai.OpenAI(base_url="http://testserver/v1", api_key="unused", http_client=client)
    content = [
        {"type": "text", "text": "Is there a pleural effusion?"},
        {"type": "image_url", "image_url": {"url": data_url(png_bytes(9))}},
    ]
    completion = api.chat.completions.create(model="mmedrag", messages=[{"role": "user", "content": content}])
    reference = client.post("/v1/ask", json={"image": data_url(png_bytes(9)), "question": content[0]["text"]}).json()
    text = completion.choices[0].message.content
    assert text.startswith(reference["answer"] + "\n\n**Evidence:**")  # the answer, then its evidence
    assert all(f"Case {cited['id']}**" in text for cited in reference["citations"])
    assert completion.model_extra["citations"] == reference["citations"]
    chunks = list(
        api.chat.completions.create(model="mmedrag", messages=[{"role": "user", "content": content}], stream=True)
    )
    streamed = "".join(chunk.choices[0].delta.content or "" for chunk in chunks)
    assert streamed == text
    assert chunks[-1].choices[0].finish_reason == "stop" and chunks[-1].model_extra["citations"]
    with pytest.raises(openai.BadRequestError, match="data: URL"):
        remote = [{"type": "image_url", "image_url": {"url": "http://example.org/x.png"}}, content[0]]
        api.chat.completions.create(model="mmedrag", messages=[{"role": "user", "content": remote}])


def test_the_openapi_page_and_its_viewer_are_served_locally(client) -> None:
    spec = client.get("/openapi.json").json()
    for path in ("/v1/ask", "/v1/search", "/v1/cases/{case_id}", "/v1/chat/completions", "/v1/admin/reload"):
        assert path in spec["paths"]
    assert "multipart/form-data" in spec["paths"]["/v1/ask"]["post"]["requestBody"]["content"]
    docs = client.get("/docs").text
    assert "cdn." not in docs and "/static-offline-docs/swagger-ui-bundle.js" in docs
    assert client.get("/static-offline-docs/swagger-ui-bundle.js").status_code == 200


def test_cors_is_off_unless_origins_are_configured(client, index) -> None:
    preflight = {"Origin": "https://viewer.example", "Access-Control-Request-Method": "POST"}
    assert "access-control-allow-origin" not in client.options("/v1/ask", headers=preflight).headers
    settings = ServeSettings(cors_origins=("https://viewer.example",))
    with TestClient(create_app(_pipeline(index), settings)) as cors:
        allowed = cors.options("/v1/ask", headers=preflight)
        assert allowed.headers["access-control-allow-origin"] == "https://viewer.example"
        other = cors.options("/v1/ask", headers={**preflight, "Origin": "https://evil.example"})
        assert "access-control-allow-origin" not in other.headers


@pytest.mark.parametrize("threshold", [0.0, 1.0])
def test_routed_domains_show_their_confidence_and_out_of_scope_is_shown_as_such(index, threshold) -> None:
    config = load_config(
        values={"index": str(index), "router.path": "zero_shot:hash:32", "router.threshold": threshold}
    )
    with TestClient(create_app(build_pipeline(config), ServeSettings())) as routed:
        files = {"image": ("x.png", png_bytes(61))}
        body = routed.post("/v1/ask", files=files, data={"question": "Is there an effusion?"}).json()
        page = routed.post("/", files=files, data={"question": "Is there an effusion?"}).text
    if threshold == 1.0:  # no probability reaches 1: the router refuses every image
        assert body["summary"]["status"] == "out_of_scope" and body["citations"] == []
        assert body["domain"] == "out_of_scope" and "Out of scope" in page
    else:
        assert body["summary"]["domain_source"] == "router" and 0 < body["summary"]["domain_confidence"] <= 1
        assert "confidence" in page


def test_with_keys_the_page_asks_for_one(index) -> None:
    settings = ServeSettings(api_keys={"user": USER}, rate_limit_per_minute=0)
    with TestClient(create_app(_pipeline(index), settings)) as keyed_page:
        assert 'id="api_key"' in keyed_page.get("/").text
        form = {"question": "Is there an effusion?"}
        refused = keyed_page.post("/", files={"image": ("x.png", png_bytes(62))}, data=form)
        assert refused.status_code == 401 and "API key is required" in refused.text
        answered = keyed_page.post("/", files={"image": ("x.png", png_bytes(62))}, data={**form, "api_key": USER})
        assert answered.status_code == 200 and '<article class="answer' in answered.text
