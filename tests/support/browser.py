"""Open a local HTML file or a URL in headless Chromium (Debian's /usr/bin/chromium, driven by
the Python ``playwright`` package; browsers are never downloaded) and return what a test needs:
the DOM, the visible text, console errors, page errors, failed requests and a screenshot.

Usage (import it as ``tests.support.browser`` once tests/ is a package; today autorank's
site-packages ``tests`` package shadows that name, so tests/test_report.py falls back to
``support.browser``, which pytest's rootdir insertion of tests/ makes importable)::

    from tests.support.browser import open_page, require_chromium

    require_chromium()  # skips locally without Chromium; fails under CI (CI installs it)
    page = open_page(tmp_path / "report.html", tmp_path / "shot.png",
                     evaluate="Array.from(document.images).map(i => i.naturalWidth)")
    assert not page.console_errors
    assert all(w > 0 for w in page.evaluated)

For a single-page app (e.g. the MLflow UI) pass ``wait_for="css selector"`` and/or
``wait_until="networkidle"``.
"""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

CHROMIUM = os.environ.get("BENCH_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--no-first-run",
]


def chromium_available() -> bool:
    """True when the Chromium executable exists and playwright is importable."""
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        return False
    return Path(CHROMIUM).exists() or shutil.which(CHROMIUM) is not None


def require_chromium() -> None:
    """pytest.skip without Chromium, except under CI (``$CI`` set), where that is a failure."""
    import pytest

    if chromium_available():
        return
    message = f"Chromium not found at {CHROMIUM} (apt-get install chromium) or playwright missing"
    if os.environ.get("CI"):
        pytest.fail(message + "; CI must install it")
    pytest.skip(message)


@dataclass
class PageResult:
    """What the browser saw."""

    url: str
    title: str
    html: str  # serialised DOM after load (and after wait_for)
    text: str  # document.body.innerText
    screenshot: Path
    console_errors: list[str] = field(default_factory=list)  # console.error messages
    page_errors: list[str] = field(default_factory=list)  # uncaught exceptions
    failed_requests: list[str] = field(default_factory=list)  # "URL: failure text"
    evaluated: Any = None  # result of the ``evaluate`` expression

    @property
    def errors(self) -> list[str]:
        """Console errors, page errors and failed requests together."""
        return self.console_errors + self.page_errors + self.failed_requests


def to_url(target: str | os.PathLike[str]) -> str:
    """A URL as is; a path becomes an absolute file:// URL."""
    text = os.fspath(target)
    if "://" in text:
        return text
    return Path(text).resolve().as_uri()


def open_page(
    target: str | os.PathLike[str],
    screenshot: str | os.PathLike[str],
    *,
    wait_until: str = "load",
    wait_for: str | None = None,
    evaluate: str | None = None,
    timeout_ms: int = 30000,
    viewport: tuple[int, int] = (1400, 1000),
    full_page: bool = True,
) -> PageResult:
    """Load ``target`` (file path or URL) in headless Chromium and screenshot it.

    wait_until: playwright's load state ("load", "domcontentloaded", "networkidle").
    wait_for: a CSS selector to wait for (visible) before reading the page.
    evaluate: a JavaScript expression evaluated in the page; its value is ``evaluated``.
    """
    from playwright.sync_api import sync_playwright

    url = to_url(target)
    shot = Path(screenshot)
    shot.parent.mkdir(parents=True, exist_ok=True)
    console_errors: list[str] = []
    page_errors: list[str] = []
    failed: list[str] = []
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        try:
            page = browser.new_page(viewport={"width": viewport[0], "height": viewport[1]})
            page.on(
                "console", lambda m: console_errors.append(m.text) if m.type == "error" else None
            )
            page.on("pageerror", lambda e: page_errors.append(str(e)))
            page.on("requestfailed", lambda r: failed.append(f"{r.url}: {r.failure}"))
            page.goto(url, wait_until=wait_until, timeout=timeout_ms)
            if wait_for:
                page.wait_for_selector(wait_for, timeout=timeout_ms)
            value = page.evaluate(evaluate) if evaluate else None
            page.screenshot(path=str(shot), full_page=full_page)
            return PageResult(
                url=url,
                title=page.title(),
                html=page.content(),
                text=page.inner_text("body"),
                screenshot=shot,
                console_errors=console_errors,
                page_errors=page_errors,
                failed_requests=failed,
                evaluated=value,
            )
        finally:
            browser.close()
