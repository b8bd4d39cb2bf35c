"""Browser flows whose API routes are built on other branches.

Each test names the routes it drives and skips itself until GET /openapi.json lists them, so the
whole file runs as soon as those branches are merged.
"""

from __future__ import annotations

import re
import time
import uuid
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import requests
from playwright.sync_api import expect

from tests.e2e.conftest import require_routes
from tests.e2e.ui_data import CONTENT, create_draft, import_accounts, seed_cohort

pytestmark = [pytest.mark.e2e, pytest.mark.browser, pytest.mark.needs_api]

BIG_AUDIENCE = 2_000  # enough accounts for a send to still be running when the admin acts


@pytest.fixture(scope="module")
def big_audience(stack: Any, api_routes: set[str]) -> list[str]:
    require_routes(api_routes, "POST /communications/{}/cancel")  # every test using it cancels
    return import_accounts(stack, BIG_AUDIENCE)


def _email_only_draft(stack: Any, name: str, account_ids: list[str]) -> dict[str, Any]:
    return create_draft(stack, name, account_ids, channels=["email"], content={"email": CONTENT["email"]})


def _wait_until_finished(stack: Any, comm_id: str, timeout_s: float = 60) -> dict[str, Any]:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        detail: dict[str, Any] = stack.call("GET", f"/communications/{comm_id}").json()
        if detail["status"] in ("COMPLETED", "FAILED", "CANCELLED"):
            return detail
        time.sleep(0.3)
    raise AssertionError(f"{comm_id} did not finish in {timeout_s} s")


def test_preview_for_an_account_dry_run_and_a_test_send(screen, stack, api_routes):
    require_routes(
        api_routes,
        "POST /communications/{}/preview",
        "POST /communications/{}/dry-run",
        "POST /communications/{}/test-send",
    )
    cohort = seed_cohort(stack)
    draft = create_draft(stack, f"Preview {uuid.uuid4().hex[:4]}", cohort.ids)
    screen.sign_in()
    page = screen.page
    screen.open(f"#/communications/{draft['id']}/edit?step=message")

    # the preview renders the message for the chosen account, in her language
    page.get_by_test_id("preview-account").fill(cohort.marie)
    page.get_by_test_id("preview-account").press("Enter")
    preview = page.get_by_test_id("preview-email")
    expect(preview).to_contain_text("Maintenance ce soir, Marie", timeout=10_000)
    screen.shoot("13-wizard-preview")

    # the dry run counts what a send would do, with the skips by reason
    page.get_by_role("button", name="Next: review & send").click()
    dry_run = page.get_by_test_id("dry-run")
    expect(dry_run.get_by_test_id("dry-run-total")).to_contain_text("5", timeout=20_000)
    expect(dry_run.get_by_test_id("skipped-by-reason")).to_contain_text("No phone number on file")
    screen.shoot("05-wizard-review-dry-run")

    # a test goes to one address and changes no count
    page.get_by_placeholder(re.compile("you@example.com")).fill("reviewer@example.com")
    page.get_by_role("button", name="Send test").click()
    expect(page.get_by_text("Test sent to reviewer@example.com.")).to_be_visible()
    assert stack.call("GET", f"/communications/{draft['id']}").json()["counts"]["messages_total"] == 0


def test_cancel_a_running_communication_from_the_list(screen, stack, api_routes, big_audience):
    # Cancelling a communication that is sending comes with pausing; cancel alone covers SCHEDULED.
    require_routes(api_routes, "POST /communications/{}/cancel", "POST /communications/{}/pause")
    draft = _email_only_draft(stack, f"To cancel {uuid.uuid4().hex[:4]}", big_audience)
    screen.sign_in()
    page = screen.page
    assert stack.call("POST", f"/communications/{draft['id']}/send").status_code == 202
    screen.open()
    row = page.get_by_test_id("communications").get_by_role("row").filter(has_text=draft["name"])
    expect(row.locator("[data-status]")).to_have_text("In progress")
    expect(page.get_by_text("Updating live")).to_be_visible()
    row.get_by_role("button", name=f"Actions for {draft['name']}").click()
    row.get_by_role("menuitem", name="Cancel").click()
    dialog = page.get_by_role("dialog", name="Cancel this communication?")
    expect(dialog).to_contain_text("cannot be undone")
    dialog.get_by_role("button", name="Cancel communication").click()
    expect(row.locator("[data-status]")).to_have_text("Cancelled", timeout=20_000)
    detail = _wait_until_finished(stack, draft["id"])
    assert detail["status"] == "CANCELLED"
    # Not everyone got it (a cancel right after the start may even come before any planning).
    assert detail["counts"]["sent"] < len(big_audience)


def test_pause_resume_and_cancel_on_the_detail_page(screen, stack, api_routes, big_audience):
    require_routes(
        api_routes,
        "POST /communications/{}/pause",
        "POST /communications/{}/resume",
        "POST /communications/{}/cancel",
    )
    draft = _email_only_draft(stack, f"To pause {uuid.uuid4().hex[:4]}", big_audience)
    screen.sign_in()
    page = screen.page
    assert stack.call("POST", f"/communications/{draft['id']}/send").status_code == 202
    screen.open(f"#/communications/{draft['id']}")
    badge = page.locator("h1 [data-status]")
    expect(badge).to_have_text("In progress")
    page.get_by_role("button", name="Pause").click()
    expect(badge).to_have_text("Paused")
    screen.shoot("14-detail-paused")
    page.get_by_role("button", name="Resume").click()
    expect(badge).to_have_text("In progress")
    page.get_by_role("button", name="Cancel").click()
    page.get_by_role("dialog").get_by_role("button", name="Cancel communication").click()
    expect(badge).to_have_text("Cancelled", timeout=20_000)


def test_send_failures_tab_downloads_the_accounts_and_starts_a_new_communication(
    screen, stack, api_routes, tmp_path: Path
):
    require_routes(api_routes, "GET /communications/{}/send-failures", "POST /communications/{}/clone")
    cohort = seed_cohort(stack)
    draft = create_draft(stack, f"With failures {uuid.uuid4().hex[:4]}", cohort.ids)
    assert stack.call("POST", f"/communications/{draft['id']}/send").status_code == 202
    assert _wait_until_finished(stack, draft["id"])["status"] == "FAILED"
    screen.sign_in()
    page = screen.page
    screen.open(f"#/communications/{draft['id']}")
    page.get_by_role("tab", name=re.compile("^Send failures")).click()
    failures = page.get_by_test_id("send-failures")
    expect(failures.locator("tbody tr")).to_have_count(1)
    expect(failures).to_contain_text(cohort.broken)
    expect(failures).to_contain_text("SES")
    screen.shoot("15-send-failures")

    with page.expect_download() as download:
        page.get_by_role("button", name="Download CSV").click()
    saved = tmp_path / "failures.csv"
    download.value.save_as(saved)
    assert cohort.broken in saved.read_text()

    page.get_by_role("button", name="New communication from these accounts").click()
    expect(page).to_have_url(re.compile(r"#/communications/[0-9a-f-]+/edit"))
    expect(page.get_by_test_id("accepted")).to_contain_text("1")


def test_a_completed_communication_has_no_send_failures_tab(screen, stack, api_routes):
    require_routes(api_routes, "GET /communications/{}/send-failures")
    cohort = seed_cohort(stack)
    draft = create_draft(stack, f"All sent {uuid.uuid4().hex[:4]}", [cohort.marie, cohort.alan])
    assert stack.call("POST", f"/communications/{draft['id']}/send").status_code == 202
    assert _wait_until_finished(stack, draft["id"])["status"] == "COMPLETED"
    screen.sign_in()
    screen.open(f"#/communications/{draft['id']}")
    expect(screen.page.get_by_role("tab", name="Account delivery status")).to_be_visible()
    expect(screen.page.get_by_role("tab", name=re.compile("^Send failures"))).to_have_count(0)


def test_start_from_a_saved_template(screen, stack, api_routes):
    require_routes(api_routes, "POST /templates", "GET /templates", "GET /templates/{}")
    template_name = f"Outage notice {uuid.uuid4().hex[:4]}"
    created = stack.call(
        "POST", "/templates", json={"name": template_name, "default_language": "en", "content": CONTENT}
    )
    assert created.status_code == 201, created.text
    screen.sign_in()
    page = screen.page
    page.get_by_role("link", name="New communication").click()
    page.get_by_label("Communication name").fill(f"From a template {uuid.uuid4().hex[:4]}")
    page.get_by_label("Communication name").press("Tab")
    expect(page.get_by_test_id("save-state")).to_contain_text("Draft saved")
    page.get_by_role("button", name="Next: message").click()
    page.get_by_test_id("template-select").select_option(label=template_name)
    page.get_by_role("button", name="Use template").click()
    expect(page.get_by_label(re.compile("^Subject"))).to_have_value(CONTENT["email"]["en"]["subject"])
    page.get_by_role("radiogroup", name="Language to edit").get_by_text("fr", exact=True).click()
    expect(page.get_by_label(re.compile("^Subject"))).to_have_value(CONTENT["email"]["fr"]["subject"])


def _audience_takes_json(stack: Any) -> bool:
    document = requests.get(f"{stack.api_url}/openapi.json", timeout=30).json()
    for path, operations in document.get("paths", {}).items():
        if re.fullmatch(r"/communications/\{[^}]+\}/audience", path):
            content = operations.get("put", {}).get("requestBody", {}).get("content", {})
            return any("json" in media_type for media_type in content)
    return False


def test_choose_recipients_by_account_attributes(screen, stack):
    if not _audience_takes_json(stack):
        pytest.skip("the server's audience route does not take JSON filters yet")
    cohort = seed_cohort(stack)
    screen.sign_in()
    page = screen.page
    page.get_by_role("link", name="New communication").click()
    page.get_by_label("Communication name").fill(f"By segment {uuid.uuid4().hex[:4]}")
    page.get_by_text("Choose by account attributes").click()
    page.get_by_label("Segment").fill(cohort.segment)
    page.get_by_role("button", name="Use these accounts").click()
    expect(page.get_by_test_id("accepted")).to_contain_text("4")


def test_schedule_for_later_then_unschedule(screen, stack, api_routes):
    require_routes(api_routes, "POST /communications/{}/schedule", "POST /communications/{}/unschedule")
    cohort = seed_cohort(stack)
    draft = create_draft(stack, f"Scheduled {uuid.uuid4().hex[:4]}", cohort.ids)
    screen.sign_in()
    page = screen.page
    screen.open(f"#/communications/{draft['id']}/edit?step=review")
    # Within the API's one-year scheduling horizon.
    send_at = (datetime.now() + timedelta(days=30)).strftime("%Y-%m-%dT%H:%M")
    page.get_by_label("Send at").fill(send_at)
    page.get_by_role("button", name="Schedule").click()
    badge = page.locator("h1 [data-status]")
    expect(badge).to_have_text("Scheduled")
    page.get_by_role("button", name="Unschedule").click()
    expect(badge).to_have_text("Draft")


def test_a_csv_over_5_mb_uploads_with_a_progress_bar(screen, stack, api_routes):
    require_routes(api_routes, "POST /communications/{}/audience/upload-url")
    cohort = seed_cohort(stack)
    notes = "n" * 2_000  # other columns are ignored; they only make the file big
    lines = ["account_id,notes"] + [f"{cohort.ids[i % 4]},{notes}" for i in range(2_800)]
    body = ("\n".join(lines) + "\n").encode()
    assert len(body) > 5 * 1024 * 1024
    screen.sign_in()
    page = screen.page
    page.get_by_role("link", name="New communication").click()
    page.get_by_label("Communication name").fill(f"Big file {uuid.uuid4().hex[:4]}")
    page.get_by_test_id("csv-input").set_input_files(
        files=[{"name": "big.csv", "mimeType": "text/csv", "buffer": body}]
    )
    expect(page.get_by_test_id("accepted")).to_contain_text("4", timeout=60_000)
    expect(page.get_by_test_id("duplicates")).to_contain_text("2,796")
