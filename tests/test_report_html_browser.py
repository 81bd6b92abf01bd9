"""``report.html`` in a real headless browser: it renders, every image loads and nothing is
logged to the console; a screenshot is saved in the test's tmp dir (its path is printed).

Needs Debian's ``chromium`` (``apt-get install -y chromium``; ``.ci/run`` installs it), and
skips, saying so, where it is absent, except under ``CRYSTALGFN_REQUIRE_BROWSER=1`` (CI),
where its absence is an error.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest
from crystalgfn.cli import main

pytest.importorskip("matplotlib")
Image = pytest.importorskip("PIL.Image")  # matplotlib's own dependency

MP_SLICE = Path(__file__).resolve().parent / "data" / "mp_slice.csv"
BROWSER = shutil.which("chromium") or shutil.which("chromium-browser")
#: Set by .ci/run, which installs chromium: there a missing browser fails instead of skipping.
REQUIRED = os.environ.get("CRYSTALGFN_REQUIRE_BROWSER") == "1"
if BROWSER is None and REQUIRED:
    raise RuntimeError("CRYSTALGFN_REQUIRE_BROWSER=1 but chromium is not on PATH")
needs_browser = pytest.mark.skipif(
    BROWSER is None,
    reason="no chromium on PATH (apt-get install -y chromium); CI installs it in .ci/run",
)
#: Appended to a copy of the page: once everything has loaded, it writes one digit per
#: <img> (1 decoded with a size, 0 broken) and the page's scroll height into <body>.
PROBE = (
    '<script>window.addEventListener("load", () => {document.body.setAttribute("data-images",'
    ' [...document.images].map(i => i.complete && i.naturalWidth > 0 ? 1 : 0).join(""));'
    'document.body.setAttribute("data-height", document.documentElement.scrollHeight);});'
    "</script></body>"
)
FLAGS = ["--headless", "--disable-gpu", "--no-sandbox", "--virtual-time-budget=3000"]


def _chromium(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [BROWSER, *FLAGS, "--enable-logging=stderr", "--v=0", *args],
        capture_output=True, text=True, timeout=60, check=False,
    )


@pytest.fixture(scope="module")
def page(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("html")
    samples = root / "samples.csv"
    assert main(["sample", "-n", "200", "--out", str(samples), "--seed", "2"]) == 0
    out = root / "report"
    assert main(["report", str(samples), "--reference", str(MP_SLICE), "--baseline",
                 f"uniform={samples}", "--out", str(out)]) == 0
    return out / "report.html"


def test_the_page_is_self_contained(page):
    text = page.read_text(encoding="utf-8")
    sources = re.findall(r'<img src="([^"]*)"', text)
    assert len(sources) >= 7 and all(src.startswith("data:image/png;base64,") for src in sources)
    # nothing fetched from elsewhere: no external script, style sheet, font or image
    assert not re.search(r'(src|href)="(https?:)?//', text)
    assert "<link" not in text and "@import" not in text


@needs_browser
def test_chromium_renders_every_image_without_console_errors(page, tmp_path):
    probe = tmp_path / "probe.html"
    probe.write_text(page.read_text(encoding="utf-8").replace("</body>", PROBE, 1),
                     encoding="utf-8")
    dumped = _chromium("--dump-dom", probe.as_uri())
    assert dumped.returncode == 0, dumped.stderr[-2000:]
    images = re.search(r'data-images="([01]*)"', dumped.stdout)
    assert images, "the page did not finish loading:\n" + dumped.stdout[:500]
    n_images = page.read_text(encoding="utf-8").count("<img ")
    assert images.group(1) == "1" * n_images, f"broken images (0s): {images.group(1)}"
    assert int(re.search(r'data-height="(\d+)"', dumped.stdout).group(1)) > 3000
    # Chromium logs every console message and uncaught error as a CONSOLE line; the page
    # has no script of its own, so there must be none.
    console = [line for line in dumped.stderr.splitlines() if ":CONSOLE" in line]
    assert not console, "\n".join(console)
    assert "Crystal-GFN report" in dumped.stdout and "Validity (measured)" in dumped.stdout

    shot = tmp_path / "report.png"
    rendered = _chromium(f"--screenshot={shot}", "--window-size=1280,2400", page.as_uri())
    assert rendered.returncode == 0 and shot.is_file(), rendered.stderr[-2000:]
    with Image.open(shot) as image:
        assert image.size == (1280, 2400)
        # not a blank page: a rendered report has many distinct colours (text, plots)
        assert len(image.convert("RGB").getcolors(maxcolors=1 << 20) or []) > 50
    print(f"\nscreenshot of report.html: {shot}")
