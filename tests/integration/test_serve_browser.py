"""A real headless Chromium opens the page, uploads a VQA-RAD image, asks, and finds the graded answer and (when it
answers) the evidence cards with loaded thumbnails and wrapping ids, at desktop and tablet widths; the asked image sits
beside the answer on a tablet, a question without an image says so, and the favicon loads under the page's CSP.
Needs Debian's browser (no browser download anywhere):

    apt-get update && apt-get install -y --no-install-recommends chromium chromium-driver
"""

from __future__ import annotations

import os
import shutil
import tempfile
from dataclasses import replace
from pathlib import Path

import pytest

pytest.importorskip("fastapi", reason="needs fastapi: pip install 'mmedrag[serve]'")
pytest.importorskip("selenium", reason="needs selenium: pip install 'mmedrag[dev]'")

from selenium import webdriver

from mmedrag.encoders.hashing import HashEncoder
from mmedrag.indexing import build_index
from mmedrag.io.readers import read_source
from serve_helpers import Server

pytestmark = pytest.mark.integration

CHROMIUM, DRIVER = Path("/usr/bin/chromium"), Path("/usr/bin/chromedriver")
INSTALL = "apt-get update && apt-get install -y --no-install-recommends chromium chromium-driver"
LABELS = {
    "supported": "Supported",
    "inferred": "Inferred",
    "weak": "Weak evidence",
    "abstained": "Abstained",
    "out_of_scope": "Out of scope",
}
GREEN = "rgb(23, 107, 53)"  # style.css --supported


@pytest.fixture(scope="module")
def browser():
    if not (CHROMIUM.exists() and DRIVER.exists()):
        pytest.skip(f"headless Chromium not installed; install it with: {INSTALL}")
    os.environ["SE_OFFLINE"] = "true"  # Selenium Manager must not try to download a driver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    profile = tempfile.mkdtemp(prefix="mmedrag-chromium-")
    for flag in (
        "--headless=new",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-dev-shm-usage",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--hide-scrollbars",
        f"--user-data-dir={profile}",
        "--window-size=1280,1000",
    ):
        options.add_argument(flag)
    driver = webdriver.Chrome(service=Service(str(DRIVER)), options=options)
    try:
        yield driver
    finally:
        driver.quit()
        shutil.rmtree(profile, ignore_errors=True)


@pytest.fixture(scope="module")
def medpix_server(shared_data, tmp_path_factory):
    folder = tmp_path_factory.mktemp("browser")
    records = read_source(shared_data / "medpix2").records[:80]
    # Long, path-like ids (as some sources have) must wrap on the cards, not widen the page.
    records = [replace(r, id=f"{r.id}/teaching_files/view_2_series_0001_instance_000042") for r in records]
    build_index(records, folder / "index", HashEncoder(dim=64), store="exact")
    server = Server(["--index", str(folder / "index"), "-k", "3"], log=folder / "serve.log")
    try:
        server.wait_ready()
        yield server
    finally:
        server.stop()


def _ask(driver, url: str, image: Path | None, question: str, compare: bool = True) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions
    from selenium.webdriver.support.ui import WebDriverWait

    driver.get(url + "/")
    if image is not None:
        driver.find_element(By.ID, "image").send_keys(str(image))
    driver.find_element(By.ID, "question").send_keys(question)
    if compare:
        driver.find_element(By.ID, "without_retrieval").click()
    driver.find_element(By.ID, "ask-button").click()
    WebDriverWait(driver, 60).until(expected_conditions.presence_of_element_located((By.CLASS_NAME, "answer-text")))


def test_upload_ask_and_see_the_answer_and_evidence_cards(browser, medpix_server, shared_data, tmp_path) -> None:
    from selenium.webdriver.common.by import By

    image = shared_data / "vqa_rad" / "images" / "synpic42182.jpg"
    _ask(browser, medpix_server.url, image, "Is there a mass in the liver?")
    answers = browser.find_elements(By.CSS_SELECTOR, "article.answer")
    assert len(answers) == 2  # with retrieval and without, side by side
    grade = answers[0].get_attribute("data-grade")
    badge = answers[0].find_element(By.CLASS_NAME, "badge")
    assert badge.text == LABELS[grade] and "grade-" + grade in badge.get_attribute("class")
    green = browser.execute_script("return getComputedStyle(arguments[0]).backgroundColor", badge) == GREEN
    assert green == (grade == "supported")  # green means a cited sentence states the answer, nothing less
    assert answers[0].find_element(By.CLASS_NAME, "answer-text").text.strip()
    assert "top-k rule" in answers[0].text and "Domain" in answers[0].text
    caption = browser.find_element(By.CSS_SELECTOR, ".query-image figcaption").text
    assert caption.startswith("Your image") and "DICOM" not in caption  # a JPEG upload has no DICOM window
    cards = browser.find_elements(By.CSS_SELECTOR, "li.evidence-card")
    if grade in ("abstained", "out_of_scope"):
        assert not cards and not browser.find_elements(By.ID, "evidence-title")
    else:
        assert 1 <= len(cards) <= 3
        thumb = cards[0].find_element(By.CSS_SELECTOR, "img.thumb")
        assert browser.execute_script("return arguments[0].complete && arguments[0].naturalWidth", thumb) > 0
        assert cards[0].get_attribute("data-case-id").startswith("medpix2:")
        for box in (cards[0], cards[0].find_element(By.TAG_NAME, "h3")):  # the long id wraps inside its card
            assert browser.execute_script("return arguments[0].scrollWidth <= arguments[0].clientWidth + 1", box)
        summary = cards[0].find_element(By.TAG_NAME, "summary")
        summary.click()  # the full report is one click away
        assert cards[0].find_element(By.CLASS_NAME, "report").text.strip()
    assert browser.execute_script("return document.documentElement.scrollWidth") <= 1280
    shot = tmp_path / "serve-page.png"
    browser.save_screenshot(str(shot))
    assert shot.stat().st_size > 10_000
    keep = os.environ.get("MMEDRAG_SCREENSHOT_DIR")
    if keep:
        Path(keep).mkdir(parents=True, exist_ok=True)
        shutil.copyfile(shot, Path(keep) / "serve-page.png")


def test_the_page_fits_a_tablet_and_shows_errors_as_alerts(browser, medpix_server, tmp_path) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions
    from selenium.webdriver.support.ui import WebDriverWait

    browser.set_window_size(820, 1180)
    try:
        bad = tmp_path / "notes.png"
        bad.write_text("not an image at all", encoding="utf-8")
        browser.get(medpix_server.url + "/")
        browser.find_element(By.ID, "image").send_keys(str(bad))
        browser.find_element(By.ID, "question").send_keys("Is there a fracture?")
        browser.find_element(By.ID, "ask-button").click()
        alert = WebDriverWait(browser, 60).until(
            expected_conditions.presence_of_element_located((By.CSS_SELECTOR, "[role=alert]"))
        )
        assert "not PNG, JPEG or DICOM" in alert.text
        width = browser.execute_script("return window.innerWidth")
        assert browser.execute_script("return document.documentElement.scrollWidth") <= width
    finally:
        browser.set_window_size(1280, 1000)


def test_on_a_tablet_the_image_sits_beside_the_answer(browser, medpix_server, shared_data) -> None:
    from selenium.webdriver.common.by import By

    for width, height in ((820, 1180), (1024, 768)):
        browser.set_window_size(width, height)
        try:
            _ask(browser, medpix_server.url, shared_data / "vqa_rad" / "images" / "synpic42182.jpg", "Is it?", False)
            figure = browser.find_element(By.CSS_SELECTOR, ".result-head .query-image").rect
            answer = browser.find_element(By.CSS_SELECTOR, "article.answer").rect
            assert figure["x"] + figure["width"] <= answer["x"]  # beside, not above
            assert abs(figure["y"] - answer["y"]) < 2
            inner = browser.execute_script("return window.innerWidth")
            assert browser.execute_script("return document.documentElement.scrollWidth") <= inner
        finally:
            browser.set_window_size(1280, 1000)


def test_a_question_without_an_image_says_so_and_the_favicon_loads(browser, medpix_server) -> None:
    from selenium.webdriver.common.by import By

    _ask(browser, medpix_server.url, None, "Is there a pleural effusion?", False)
    assert browser.find_element(By.ID, "no-image").text.startswith("No image given")
    assert not browser.find_elements(By.CSS_SELECTOR, ".result-head figure")
    icon = browser.find_element(By.CSS_SELECTOR, "link[rel=icon]").get_attribute("href")
    drawn = browser.execute_async_script(
        "const done = arguments[arguments.length - 1], img = new Image();"
        "img.onload = () => done(img.naturalWidth); img.onerror = () => done(-1); img.src = arguments[0];",
        icon,
    )
    assert drawn > 0  # the SVG loads and draws under the page's Content-Security-Policy (img-src 'self')
