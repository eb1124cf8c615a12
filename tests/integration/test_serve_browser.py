"""A real headless Chromium opens the page, uploads a VQA-RAD image, asks, and finds the answer and evidence cards
with loaded thumbnails, at desktop and tablet widths. Needs Debian's browser (no browser download anywhere):

    apt-get update && apt-get install -y --no-install-recommends chromium chromium-driver
"""

from __future__ import annotations

import os
import shutil
import tempfile
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
    build_index(records, folder / "index", HashEncoder(dim=64), store="exact")
    server = Server(["--index", str(folder / "index"), "-k", "3"], log=folder / "serve.log")
    try:
        server.wait_ready()
        yield server
    finally:
        server.stop()


def _ask(driver, url: str, image: Path, question: str) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions
    from selenium.webdriver.support.ui import WebDriverWait

    driver.get(url + "/")
    driver.find_element(By.ID, "image").send_keys(str(image))
    driver.find_element(By.ID, "question").send_keys(question)
    driver.find_element(By.ID, "without_retrieval").click()
    driver.find_element(By.ID, "ask-button").click()
    WebDriverWait(driver, 60).until(expected_conditions.presence_of_element_located((By.CLASS_NAME, "answer-text")))


def test_upload_ask_and_see_the_answer_and_evidence_cards(browser, medpix_server, shared_data, tmp_path) -> None:
    from selenium.webdriver.common.by import By

    image = shared_data / "vqa_rad" / "images" / "synpic42182.jpg"
    _ask(browser, medpix_server.url, image, "Is there a mass in the liver?")
    answers = browser.find_elements(By.CSS_SELECTOR, "article.answer")
    assert len(answers) == 2  # with retrieval and without, side by side
    assert answers[0].find_element(By.CLASS_NAME, "badge").text in {"Answered", "Abstained", "Out of scope"}
    assert answers[0].find_element(By.CLASS_NAME, "answer-text").text.strip()
    assert "top-k rule" in answers[0].text and "Domain" in answers[0].text
    cards = browser.find_elements(By.CSS_SELECTOR, "li.evidence-card")
    assert 1 <= len(cards) <= 3
    thumb = cards[0].find_element(By.CSS_SELECTOR, "img.thumb")
    assert browser.execute_script("return arguments[0].complete && arguments[0].naturalWidth", thumb) > 0
    assert cards[0].get_attribute("data-case-id").startswith("medpix2:")
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
