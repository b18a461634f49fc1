"""``interanimate app`` in a real headless Chromium (Debian's ``chromium``, driven by Playwright; no browser is
downloaded): generate a clip and watch it play, download and load its labels, open a dataset, annotate a real clip
after a bad upload. The same run takes the screenshots in docs/app.md and the README:

    INTERANIMATE_APP_SCREENSHOTS=docs/images .venv/bin/python -m pytest tests/test_app_browser.py -m slow
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import numpy as np
import pytest

from app_server import app_server, reference_photo, short_clip  # noqa: F401  (fixture)

pytestmark = pytest.mark.slow
CHROMIUM = os.environ.get("INTERANIMATE_CHROMIUM", "/usr/bin/chromium")
JOB_TIMEOUT_MS = 300_000


@pytest.fixture(scope="module")
def browser():
    if not Path(CHROMIUM).is_file() and not shutil.which("chromium"):
        message = f"no Chromium at {CHROMIUM}: install Debian's package (apt-get install -y chromium)"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    playwright = pytest.importorskip("playwright.sync_api")
    with playwright.sync_playwright() as p:
        executable = CHROMIUM if Path(CHROMIUM).is_file() else shutil.which("chromium")
        flags = ["--no-sandbox", "--disable-gpu", "--autoplay-policy=no-user-gesture-required"]
        browser = p.chromium.launch(executable_path=executable, args=flags)
        yield browser
        browser.close()


@pytest.fixture
def shots(tmp_path) -> Path:
    folder = Path(os.environ.get("INTERANIMATE_APP_SCREENSHOTS") or tmp_path / "screenshots")
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def _playing(page, selector: str) -> None:
    """The video element has loaded media with a duration and its clock advances."""
    page.wait_for_function(f"""() => {{ const v = document.querySelector('{selector} video');
        return v && v.readyState >= 2 && v.duration > 0; }}""", timeout=60_000)
    page.evaluate(f"() => {{ const v = document.querySelector('{selector} video'); v.muted = true; v.play(); }}")
    page.wait_for_function(f"() => document.querySelector('{selector} video').currentTime > 0", timeout=30_000)


def _video_src(page, selector: str) -> str:
    return page.evaluate(f"() => document.querySelector('{selector} video').currentSrc")


def test_the_app_in_a_real_browser(app_server, browser, opencv_media, tmp_path, shots):
    from playwright.sync_api import TimeoutError as PlaywrightTimeout

    assert app_server.url.startswith("http://127.0.0.1:")
    context = browser.new_context(viewport={"width": 1360, "height": 1000}, accept_downloads=True)
    requests: list[str] = []
    context.on("request", lambda request: requests.append(request.url))
    page = context.new_page()
    page.goto(app_server.url)
    page.wait_for_selector("#animate-go", timeout=60_000)

    # --- Animate: photo + one pattern -> a video that plays, labels drawn on request, labels download and load.
    page.locator("#animate-photo input[type=file]").set_input_files(str(reference_photo(tmp_path)))
    page.locator("#animate-poke").get_by_label("poke_cheek_left").check()
    page.locator("#animate-frames input[type=number]").fill("16")
    page.locator("#animate-frames input[type=number]").press("Enter")
    page.locator("#animate-steps input[type=number]").fill("2")
    page.locator("#animate-steps input[type=number]").press("Enter")
    page.locator("#animate-go").click()
    page.wait_for_selector("#animate-status :text('Generated 1 clip')", timeout=JOB_TIMEOUT_MS)
    _playing(page, "#animate-video")
    plain = _video_src(page, "#animate-video")
    page.locator("#animate-labels input[type=checkbox]").check()
    page.wait_for_function(f"() => document.querySelector('#animate-video video')?.currentSrc !== {plain!r}",
                           timeout=30_000)
    assert "overlay" in _video_src(page, "#animate-video")
    _playing(page, "#animate-video")
    with page.expect_download(timeout=30_000) as download:
        page.locator("#animate-downloads a[download$='.labels.npz']").first.click()
    labels = tmp_path / "labels.npz"
    download.value.save_as(labels)
    arrays = np.load(labels)
    assert arrays["contact"].shape == (16, 2) and arrays["contact"].any()
    assert arrays["hand_keypoints"].shape == (16, 2, 21, 3)
    page.wait_for_timeout(800)
    page.screenshot(path=str(shots / "app-animate.png"), full_page=True)

    # --- Dataset: open the dataset under the root; the table, a clip with its labels, the stats, the checks.
    page.get_by_role("tab", name="Dataset").click()
    name = page.locator("#dataset-name input")
    name.fill("datasets/sketch")
    name.press("Enter")
    page.locator("#dataset-open").click()
    page.wait_for_selector("#dataset-validation textarea", timeout=60_000)
    page.wait_for_function("() => document.querySelector('#dataset-validation textarea').value.startsWith('OK')",
                           timeout=JOB_TIMEOUT_MS)
    assert page.locator("#dataset-table").get_by_text("poke_nose").count() >= 1
    _playing(page, "#dataset-video")
    page.wait_for_timeout(800)
    page.screenshot(path=str(shots / "app-dataset.png"), full_page=True)
    subject = page.get_by_label("subject contains")
    subject.fill("7-0001")
    page.wait_for_function("() => !document.querySelector('#dataset-table').innerText.includes('sketch-7-0000')",
                           timeout=30_000)
    table_text = page.locator("#dataset-table").inner_text()
    assert "sketch-7-0001" in table_text and table_text.count("sketch-7-0001") >= 6

    # --- Annotate: a text file named .mp4 -> a clear message; then a real clip still works.
    page.get_by_role("tab", name="Annotate").click()
    page.wait_for_selector("#annotate-go", state="visible", timeout=30_000)
    page.wait_for_selector("#annotate-video input[type=file]", state="attached", timeout=60_000)
    junk = tmp_path / "holiday.mp4"
    junk.write_text("this is a text file, not a video\n" * 50)
    page.locator("#annotate-video input[type=file]").set_input_files(str(junk))
    page.locator("#annotate-go").click()
    error = page.get_by_text("not a readable video").first
    error.wait_for(timeout=60_000)
    assert "Traceback" not in page.content()
    # The next request, from the same page: clear the upload (Gradio's video player does not always offer its
    # clear button for a file it cannot play; then the page is reloaded, the server is the same).
    try:
        page.locator("#annotate-video button[aria-label='Clear']").first.click(timeout=10_000)
        page.wait_for_selector("#annotate-video input[type=file]", state="attached", timeout=10_000)
    except PlaywrightTimeout:
        page.reload()
        page.get_by_role("tab", name="Annotate").click()
        page.wait_for_selector("#annotate-video input[type=file]", state="attached", timeout=60_000)
    clip = short_clip(opencv_media / "Megamind.avi", tmp_path / "megamind.mp4", 200, 270)
    page.locator("#annotate-video input[type=file]").set_input_files(str(clip))
    page.locator("#annotate-go").click()
    page.wait_for_selector("#annotate-verdict :text('clip(s) written')", timeout=JOB_TIMEOUT_MS)
    _playing(page, "#annotate-overlay")
    page.wait_for_timeout(800)
    page.screenshot(path=str(shots / "app-annotate.png"), full_page=True)

    assert app_server.alive()
    outside = [u for u in requests if not u.startswith(("http://127.0.0.1:", "data:", "blob:"))]
    assert not outside, outside[:5]
    context.close()
