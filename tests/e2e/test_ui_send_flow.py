"""The admin web app in a real browser: from a CSV with a bad line to a finished send and its tabs."""

from __future__ import annotations

import re
import uuid

import pytest
from playwright.sync_api import expect

from tests.e2e.ui_data import seed_cohort

pytestmark = [pytest.mark.e2e, pytest.mark.browser]


def _drop_file(page, selector: str, name: str, text: str) -> None:
    """Drag and drop a file onto `selector`, as a user dropping it from their desktop."""
    transfer = page.evaluate_handle(
        """([name, text]) => {
            const transfer = new DataTransfer();
            transfer.items.add(new File([text], name, { type: "text/csv" }));
            return transfer;
        }""",
        [name, text],
    )
    page.dispatch_event(selector, "drop", {"dataTransfer": transfer})


def test_an_admin_uploads_writes_a_bilingual_message_sends_and_follows_it(screen, stack):
    cohort = seed_cohort(stack)
    page = screen.page
    name = f"Fibre maintenance {uuid.uuid4().hex[:4]}"

    # GIVEN an admin signed in with a dev token
    screen.page.goto(f"{stack.api_url}/")
    expect(page.get_by_role("heading", name="Sign in to Mass Communications")).to_be_visible()
    screen.shoot("01-sign-in")
    screen.sign_in("Ada Lovelace")
    expect(page.get_by_test_id("signed-in-as")).to_have_text("Ada Lovelace")

    # WHEN they start a communication and drop a CSV with a duplicate, a malformed line and a stranger
    page.get_by_role("link", name="New communication").click()
    page.get_by_label("Communication name").fill(name)
    unknown = str(uuid.uuid4())
    csv = "account_id\n" + "\n".join(cohort.ids) + f"\n{cohort.alan}\nnot-a-uuid\n{unknown}\n"
    _drop_file(page, "[data-testid=dropzone]", "audience.csv", csv)

    # THEN the good lines are taken and each bad one is shown with its line number and reason
    stats = page.get_by_test_id("audience-stats")
    expect(stats.get_by_test_id("accepted")).to_contain_text("4")
    expect(stats.get_by_test_id("duplicates")).to_contain_text("1")
    expect(stats.get_by_test_id("rejected")).to_contain_text("2")
    errors = page.get_by_test_id("line-errors")
    expect(errors.get_by_role("row", name=re.compile(r"^7 not-a-uuid not a UUID"))).to_be_visible()
    expect(errors.get_by_role("row", name=re.compile(rf"^8 {unknown}"))).to_be_visible()
    screen.shoot("03-wizard-recipients")

    # WHEN they write the message by email and SMS, in English and French
    page.get_by_role("button", name="Next: message").click()
    page.get_by_label("SMS", exact=True).check()
    page.get_by_test_id("add-language").fill("fr")
    page.get_by_role("button", name="Add", exact=True).click()
    for language, subject, body in [
        ("en", "Maintenance tonight, {{ account.first_name }}", "Hello {{ account.first_name }}, 1-3 am."),
        (
            "fr",
            "Maintenance ce soir, {{ account.first_name }}",
            "Bonjour {{ account.first_name }}, 1 h à 3 h.",
        ),
    ]:
        page.get_by_role("radiogroup", name="Channel to edit").get_by_text("Email").click()
        page.get_by_role("radiogroup", name="Language to edit").get_by_text(language, exact=True).click()
        page.get_by_label(re.compile("^Subject")).fill(subject)
        page.get_by_label("HTML body").fill(f"<h2>Herald</h2><p>{body}</p>")
        page.get_by_label(re.compile("^Plain-text body")).fill(body)
        page.get_by_role("radiogroup", name="Channel to edit").get_by_text("SMS").click()
        page.get_by_label(re.compile("^SMS text")).fill(body)
    # the SMS meter counts characters and segments as the admin types (é is GSM-7, so 160 per segment)
    expect(page.get_by_test_id("sms-meter")).to_contain_text("1 segment")
    expect(page.get_by_test_id("sms-meter")).to_contain_text("GSM-7")
    page.get_by_label(re.compile("^SMS text")).fill("Bonjour {{ account.first_name }} 🛠 " + "x" * 80)
    expect(page.get_by_test_id("sms-meter")).to_contain_text("2 segments")
    expect(page.get_by_test_id("sms-meter")).to_contain_text("Unicode")
    page.get_by_label(re.compile("^SMS text")).fill("Bonjour {{ account.first_name }}, 1 h à 3 h.")
    expect(page.get_by_test_id("save-state")).to_contain_text("Draft saved at", timeout=10_000)
    screen.shoot("04-wizard-message")

    # AND review and send it now
    page.get_by_role("button", name="Next: review & send").click()
    expect(page.get_by_text("4 accounts (from a CSV)")).to_be_visible()
    screen.shoot("05-wizard-review")
    page.get_by_role("button", name="Send now").click()
    dialog = page.get_by_role("dialog")
    expect(dialog).to_contain_text("goes to 4 accounts by Email and SMS")
    dialog.get_by_role("button", name="Send now").click()

    # THEN the detail page follows the send live until every message is through
    progress = page.get_by_test_id("progress")
    expect(progress).to_be_visible()
    expect(progress).to_have_attribute("aria-valuenow", "100", timeout=60_000)
    expect(page.get_by_test_id("count-pending")).to_have_text("0")
    expect(page.get_by_test_id("count-sent")).to_have_text("3")  # Marie x2, Alan
    expect(page.get_by_test_id("count-failed")).to_have_text("1")  # Bob's address
    expect(page.get_by_test_id("count-skipped")).to_have_text("1")  # Grace has no phone
    expect(page.locator("h1 [data-status]")).to_have_text("Failed")
    # the email as recipients see it, rendered in a sandboxed frame
    expect(page.frame_locator("iframe.email-frame").locator("h2")).to_have_text("Herald")
    screen.shoot("06-detail-overview")

    # AND the overview shows the message as sent, per channel and language
    page.get_by_role("radiogroup", name="Channel").get_by_text("SMS").click()
    page.get_by_role("radiogroup", name="Language").get_by_text("French (fr)").click()
    expect(page.get_by_test_id("sms-content")).to_have_text("Bonjour {{ account.first_name }}, 1 h à 3 h.")
    expect(page.get_by_test_id("delivery-date").locator("time")).to_have_attribute(
        "title", re.compile(r"\d{4}")
    )

    # AND the tabs answer to the keyboard
    page.get_by_role("tab", name="Overview").focus()
    page.keyboard.press("ArrowRight")
    expect(page.get_by_role("tab", name="Account delivery status")).to_have_attribute("aria-selected", "true")

    # AND the delivery tab has one row per message, filtered to the failures with their reason
    messages = page.get_by_test_id("messages")
    expect(messages.locator("tbody tr")).to_have_count(5)
    page.get_by_test_id("message-status-filter").select_option("failed")
    expect(messages.locator("tbody tr")).to_have_count(1)
    failed = messages.locator("tbody tr").first
    expect(failed).to_contain_text(cohort.broken)
    failed.get_by_role("button", name="Why?").click()
    expect(failed.get_by_test_id("row-error")).to_contain_text("SES")
    screen.shoot("07-delivery-failures")
    page.get_by_test_id("message-status-filter").select_option("skipped")
    expect(messages.locator("tbody tr")).to_have_count(1)
    expect(messages.locator("tbody tr").first).to_contain_text(cohort.grace)
    expect(messages.locator("tbody tr").first.locator("[data-status]")).to_have_attribute(
        "title", re.compile("phone", re.I)
    )

    # AND the exact SMS Marie received, in French, with her name filled in
    page.get_by_test_id("message-status-filter").select_option("")
    page.get_by_test_id("message-channel-filter").select_option("sms")
    expect(messages.locator("tbody tr")).to_have_count(2)
    messages.get_by_role("row").filter(has_text=cohort.marie).get_by_role("button", name="View").click()
    received = page.get_by_role("dialog", name="Message received")
    expect(received.get_by_test_id("sms-content")).to_have_text("Bonjour Marie, 1 h à 3 h.")
    expect(received).to_contain_text("+15145550100")
    screen.shoot("08-message-received", full_page=False)
    page.keyboard.press("Escape")
    expect(received).to_be_hidden()

    # AND the list shows it with its counts, delivery date and sender
    page.get_by_role("link", name="← Mass communications").click()
    row = page.get_by_test_id("communications").get_by_role("row").filter(has_text=name)
    expect(row.locator("[data-status]")).to_have_text("Failed")
    expect(row).to_contain_text("3 / 4")
    expect(row).to_contain_text("75%")
    expect(row).to_contain_text("Ada Lovelace")
    expect(row.locator("time")).to_have_attribute("title", re.compile(r"\d{4}"))
    screen.shoot("02-list")
