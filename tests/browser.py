"""Airflow's web UI as a new user first sees it after `make stack` and `make run`, in a real headless browser.

The REST checks prove the API works; these prove what a person sees: the login form takes the credentials `make stack`
prints, the dashboard shows no "Dag Import Error" (Airflow 3.3 shows that button only while a file in dags/ fails to
parse), the DAG list shows the project's DAGs, and the champion asset lists the event that `make run`'s promotion
emitted. The browser is Debian's chromium (`make browser`), driven by Playwright: no `playwright install`, no browser
download, and requests to anything but the stack's own origin are aborted. Each page visited is saved as a full-page
screenshot, whether its check passed or not.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from .helpers import is_ci

try:
    from playwright.sync_api import Locator, Page, sync_playwright
    from playwright.sync_api import TimeoutError as PageTimeout
except ImportError:  # require_chromium() skips (fails on CI) and says how to get it
    sync_playwright = None

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
TIMEOUT_MS = 30_000  # every wait: page loads, clicks, content appearing
DAGS = ("train_and_score", "score_champion")
CHAMPION_ASSET = "model_pipeline_champion"  # lifecycle.CHAMPION_ASSET_NAME for the default package name
IMPORT_ERRORS = re.compile(r"Dag Import Error", re.IGNORECASE)  # "1 Dag Import Error", "2 Dag Import Errors"
EVENTS = re.compile(r"^(\d+) Asset Events?$")  # the asset page's heading over its event list


def require_chromium() -> None:
    """Skip (fail on CI) unless Playwright can start Debian's chromium; the reason says how to get it."""
    problem = None
    if sync_playwright is None:
        problem = "playwright is not installed in .venv (`make bootstrap` installs requirements-dev.txt)"
    elif not os.access(CHROMIUM, os.X_OK):
        problem = f"{CHROMIUM} not found: `make browser` installs Debian's chromium when run as root"
    else:
        try:
            with chromium_page():
                pass
        except Exception as exc:
            detail = next(iter(str(exc).splitlines()), type(exc).__name__)
            problem = f"{CHROMIUM} does not start under Playwright ({detail}): `make browser` as root reinstalls it"
    if problem:
        if is_ci():
            pytest.fail(problem)
        pytest.skip(problem)


@contextmanager
def chromium_page(origin: str = "http://127.0.0.1") -> Iterator[Page]:
    """A page in headless Debian chromium that can reach `origin` only."""
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1400, "height": 900})
            page.set_default_timeout(TIMEOUT_MS)
            page.route(lambda url: not url.startswith(f"{origin}/"), lambda route: route.abort())
            yield page
        finally:
            browser.close()


def check_airflow_ui(url: str, username: str, password: str, screenshots: Path, asset: str = CHAMPION_ASSET) -> None:
    """Log in at `url` (what `make stack` printed), then check the dashboard, the DAG list and the champion asset."""
    url = url.rstrip("/")
    screenshots.mkdir(parents=True, exist_ok=True)
    with chromium_page(origin=url) as page:
        with visit(page, url, screenshots / "home.png"):
            log_in(page, username, password)
            check_no_import_errors(page)
        with visit(page, f"{url}/dags", screenshots / "dags.png"):
            for dag_id in DAGS:
                expect_visible(page, page.get_by_role("link", name=dag_id, exact=True), f"the DAG {dag_id} listed")
        with visit(page, f"{url}/assets", screenshots / "assets.png"):
            expect_visible(page, page.get_by_role("link", name=asset, exact=True), f"the asset {asset} listed")
        with visit(page, None, screenshots / "champion.png"):
            page.get_by_role("link", name=asset, exact=True).click()  # from the list to its page, as a user goes
            check_asset_events(page, asset)


@contextmanager
def visit(page: Page, url: str | None, screenshot: Path) -> Iterator[None]:
    """Open `url` (None: stay where a click led) and save the page as a screenshot after its checks, pass or fail."""
    if url is not None:
        page.goto(url)  # loads the app's shell; the checks wait for the content they need
    try:
        yield
    finally:
        page.screenshot(path=screenshot, full_page=True)


def log_in(page: Page, username: str, password: str) -> None:
    """The simple auth manager's form; Airflow redirects there and back to the dashboard."""
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Sign in").click()
    expect_visible(page, page.get_by_role("heading", name="Welcome"), f"the dashboard after signing in as {username}")


def check_no_import_errors(page: Page) -> None:
    """The dashboard adds a "Dag Import Error" button once its import-error query returns any; none must appear."""
    page.wait_for_load_state("networkidle", timeout=TIMEOUT_MS)  # the dashboard's queries have all answered
    errors = page.get_by_role("button", name=IMPORT_ERRORS)
    if errors.count():
        shown = " ".join(errors.first.inner_text().split())
        errors.first.click()  # the dialog names the files that failed
        files = " ".join(page.get_by_role("dialog").inner_text().split())
        raise AssertionError(f"expected no DAG import errors on the dashboard; it shows {shown!r}: {files}")


def check_asset_events(page: Page, asset: str) -> None:
    """The asset's page counts its events over the list: `make run` promoted a model, so at least one."""
    heading = page.get_by_role("heading", name=EVENTS)
    expect_visible(page, heading, f"the asset {asset}'s page with its event count")
    count = int(EVENTS.match(heading.first.inner_text().strip()).group(1))
    assert count >= 1, f"expected at least one event on the asset {asset}; its page shows {count}: {page_text(page)}"


def expect_visible(page: Page, locator: Locator, expected: str) -> None:
    """Wait (bounded) for what a user expects to see; if it never shows, say what the page showed instead."""
    try:
        locator.first.wait_for(state="visible", timeout=TIMEOUT_MS)
    except PageTimeout:
        waited = f"{TIMEOUT_MS // 1000} s"
        raise AssertionError(f"expected {expected} within {waited} at {page.url}; it shows {page_text(page)}") from None


def page_text(page: Page, limit: int = 600) -> str:
    """The page's visible text on one line, cut to `limit` characters for an error message."""
    text = " ".join(page.locator("body").inner_text().split())
    return text if len(text) <= limit else f"{text[:limit]}..."
