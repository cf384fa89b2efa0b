"""Browser tests: Debian's headless Chromium, driven by pytest-playwright, against the live production server.

Every test here is skipped with its reason when Chromium is missing, unless
SWEETSHOP_REQUIRE_BROWSER=1 (as in CI), which turns the skip into a failure.
"""
import os
from contextlib import contextmanager
from pathlib import Path

import pytest
from axe_playwright_python.base import AXE_SCRIPT
from support.harness import TEST_PASSWORD, LiveServer, migrated_database

CHROMIUM = "/usr/bin/chromium"
REQUIRE_BROWSER = os.environ.get("SWEETSHOP_REQUIRE_BROWSER") == "1"
SCREENSHOTS = Path(__file__).resolve().parents[2] / "docs" / "screenshots"
ADMIN = "boss"


@pytest.fixture(scope="session", autouse=True)
def chromium():
    if not os.access(CHROMIUM, os.X_OK):
        reason = f"no Chromium at {CHROMIUM} (install Debian's: apt-get install chromium)"
        if REQUIRE_BROWSER:
            pytest.fail(reason + "; SWEETSHOP_REQUIRE_BROWSER=1 requires the browser tests to run")
        pytest.skip(reason)
    return CHROMIUM


@pytest.fixture(scope="session")
def browser_type_launch_args(browser_type_launch_args, chromium):
    return {**browser_type_launch_args, "executable_path": chromium,
            "args": ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                     "--disable-component-update", "--disable-sync", "--no-first-run"]}


@contextmanager
def shop_server(directory):
    """The shop on the real server (2 workers) over a migrated SQLite database, with one admin."""
    with migrated_database("sqlite", directory) as url:
        server = LiveServer(url, workers=2)
        try:
            result = server.cli("create-admin", ADMIN, "--password-stdin", input=TEST_PASSWORD + "\n")
            assert result.returncode == 0, result.stderr
            server.admin_headers = server.token(ADMIN)
            yield server
        finally:
            server.stop()


@pytest.fixture(scope="session")
def server(tmp_path_factory, chromium):
    with shop_server(tmp_path_factory.mktemp("browser")) as server:
        yield server


@pytest.fixture(scope="session")
def base_url(server):
    """pytest-playwright opens every page relative to this: ``page.goto("/")``."""
    return server.base


@pytest.fixture
def log_in(page):
    """Log the page's browser in through the login form."""
    def log_in(username, password=TEST_PASSWORD):
        page.goto("/login")
        page.get_by_label("Username").fill(username)
        page.get_by_label("Password", exact=True).fill(password)
        page.get_by_role("button", name="Log in").click()
        page.get_by_role("button", name="Log out").wait_for()
    return log_in


# Impacts that fail the audit: axe-core ranks each violation minor, moderate, serious or critical.
BLOCKING_IMPACTS = ("serious", "critical")


def accessibility_violations(page):
    """The serious and critical violations axe-core (the engine axe-playwright-python ships) finds
    on the page as it stands, one line each. Injected through the browser's debugging protocol,
    which the pages' Content-Security-Policy (no inline script) does not apply to."""
    if not page.evaluate("typeof axe !== 'undefined'"):
        page.evaluate(AXE_SCRIPT)
    results = page.evaluate("axe.run(document, {resultTypes: ['violations']})")
    return [f"{page.url}: {violation['id']} ({violation['impact']}): {violation['help']} at "
            + "; ".join(" ".join(node["target"]) for node in violation["nodes"][:5])
            for violation in results["violations"] if violation["impact"] in BLOCKING_IMPACTS]
