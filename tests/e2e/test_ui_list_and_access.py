"""The admin web app in a real browser: the list, drafts, who may do what, and narrow windows."""

from __future__ import annotations

import re
import uuid

import pytest
from playwright.sync_api import expect

from tests.e2e.ui_data import create_draft, seed_cohort

pytestmark = [pytest.mark.e2e, pytest.mark.browser]

PAGE_SIZE = 20  # list.js


def test_without_the_permission_a_clear_page_instead_of_a_broken_table(screen):
    screen.sign_in("Nadia Nopermission", role="none")
    page = screen.page
    expect(page.get_by_role("heading", name="You need the Mass Communications permission")).to_be_visible()
    expect(page.get_by_test_id("forbidden")).to_contain_text("Nadia Nopermission")
    expect(page.locator("table")).to_have_count(0)
    screen.shoot("10-forbidden")
    page.get_by_role("button", name="Sign in as someone else").click()
    expect(page.get_by_role("heading", name="Sign in to Mass Communications")).to_be_visible()


def test_a_viewer_reads_but_cannot_create_or_change(screen, stack):
    draft = create_draft(stack, f"Viewer sees this {uuid.uuid4().hex[:4]}")
    screen.sign_in("Vera Viewer", role="viewer")
    page = screen.page
    expect(page.get_by_test_id("signed-in-as")).to_have_text("Vera Viewer")
    row = page.get_by_test_id("communications").get_by_role("row").filter(has_text=draft["name"])
    expect(row).to_be_visible()
    expect(page.get_by_role("link", name="New communication")).to_have_count(0)
    row.get_by_role("button", name=re.compile("^Actions for")).click()
    expect(row.get_by_role("menuitem")).to_have_text(["View"])


def test_a_pasted_token_signs_in_and_an_expired_one_is_refused(screen, stack):
    from chalicelib.local.tokens import mint_for_name

    page = screen.page
    page.goto(f"{stack.api_url}/")
    page.get_by_text("Paste a token instead").click()
    page.get_by_label(re.compile("^Token")).fill(mint_for_name("Paula Paste", ttl_s=-10))
    page.get_by_role("button", name="Use this token").click()
    expect(page.get_by_role("status").filter(has_text="expired")).to_be_visible()
    page.get_by_text("Paste a token instead").click()
    page.get_by_label(re.compile("^Token")).fill("Bearer " + mint_for_name("Paula Paste"))
    page.get_by_role("button", name="Use this token").click()
    expect(page.get_by_test_id("signed-in-as")).to_have_text("Paula Paste")


def test_the_list_pages_filters_by_status_and_deletes_a_draft_after_confirming(screen, stack):
    prefix = f"Paging {uuid.uuid4().hex[:4]}"
    names = [f"{prefix} #{i:02d}" for i in range(PAGE_SIZE + 3)]
    ids = [create_draft(stack, name)["id"] for name in names]
    screen.sign_in()
    page = screen.page
    table = page.get_by_test_id("communications")

    # newest first, twenty to a page; the three oldest are on the next page
    expect(table.locator("tbody tr")).to_have_count(PAGE_SIZE)
    expect(table.locator("tbody tr").first).to_contain_text(names[-1])
    page.get_by_role("button", name="Older →").click()
    for name in names[:3]:
        expect(table.get_by_role("row").filter(has_text=name)).to_be_visible()
    page.get_by_role("button", name="← Newer").click()
    expect(table.locator("tbody tr").first).to_contain_text(names[-1])

    # filtering by status shows only that status; drafts show no date, count or sender
    page.get_by_test_id("status-filter").select_option("COMPLETED")
    expect(table.get_by_role("row").filter(has_text=prefix)).to_have_count(0)
    page.get_by_test_id("status-filter").select_option("DRAFT")
    expect(page).to_have_url(re.compile(r"#/\?status=DRAFT$"))
    expect(table.locator("tbody [data-status]").first).to_have_text("Draft")
    statuses = table.locator("tbody [data-status]").all_inner_texts()
    assert set(statuses) == {"Draft"}, statuses
    newest = table.get_by_role("row").filter(has_text=names[-1])
    expect(newest.locator("time")).to_have_count(0)

    # a draft offers View, Edit and Delete; Delete asks first, and "Keep it" keeps it
    newest.get_by_role("button", name=f"Actions for {names[-1]}").click()
    expect(newest.get_by_role("menuitem")).to_have_text(["View", "Edit", "Delete"])
    newest.get_by_role("menuitem", name="Delete").click()
    dialog = page.get_by_role("dialog", name="Delete this draft?")
    expect(dialog).to_contain_text("cannot be undone")
    dialog.get_by_role("button", name="Keep it").click()
    expect(newest).to_be_visible()
    newest.get_by_role("button", name=f"Actions for {names[-1]}").click()
    newest.get_by_role("menuitem", name="Delete").click()
    screen.shoot("11-delete-draft", full_page=False)
    dialog.get_by_role("button", name="Delete draft").click()
    expect(table.get_by_role("row").filter(has_text=names[-1])).to_have_count(0)
    assert stack.call("GET", "/communications?status=DRAFT&limit=200").json()["items"][0]["name"] == names[-2]
    for comm_id in ids[:-1]:  # leave the list to the other tests
        assert stack.call("DELETE", f"/communications/{comm_id}").status_code == 204


def test_a_draft_is_autosaved_and_editing_returns_to_the_step_it_was_left_on(screen, stack):
    cohort = seed_cohort(stack)
    screen.sign_in()
    page = screen.page
    name = f"Autosaved {uuid.uuid4().hex[:4]}"
    page.get_by_role("link", name="New communication").click()
    page.get_by_label("Communication name").fill(name)
    page.get_by_test_id("csv-input").set_input_files(
        files=[{"name": "a.csv", "mimeType": "text/csv", "buffer": f"id\n{cohort.alan}\n".encode()}]
    )
    expect(page.get_by_test_id("accepted")).to_contain_text("1")
    page.get_by_role("button", name="Next: message").click()
    with page.expect_response(
        lambda r: r.request.method == "PATCH" and "Saved as I type." in (r.request.post_data or "")
    ) as saved:
        page.get_by_label(re.compile("^Subject")).fill("Hello {{ account.first_name }}")
        page.get_by_label(re.compile("^Plain-text body")).fill("Saved as I type.")
    assert saved.value.status == 200
    expect(page.get_by_test_id("save-state")).to_contain_text("Draft saved at")

    # WHEN the admin comes back later through the list's Edit
    page.goto(f"{stack.api_url}/ui/index.html")
    row = page.get_by_test_id("communications").get_by_role("row").filter(has_text=name)
    row.get_by_role("button", name=f"Actions for {name}").click()
    row.get_by_role("menuitem", name="Edit").click()

    # THEN the wizard opens on the message step with what was typed
    expect(page.get_by_role("button", name="2 Message")).to_have_attribute("aria-current", "step")
    expect(page.get_by_label(re.compile("^Subject"))).to_have_value("Hello {{ account.first_name }}")
    expect(page.get_by_label(re.compile("^Plain-text body"))).to_have_value("Saved as I type.")
    stored = stack.call("GET", "/communications?status=DRAFT&limit=200").json()["items"]
    assert next(c for c in stored if c["name"] == name)["wizard_step"] == "message"

    # AND a template mistake is shown, not swallowed
    page.get_by_label(re.compile("^Subject")).fill("Hello {{ account.first_name ")
    expect(page.get_by_role("alert")).to_contain_text("template", timeout=10_000)
    expect(page.get_by_test_id("save-state")).to_have_text("Not saved")


def _sideways_overflow(page) -> int:
    overflow: int = page.evaluate("() => document.documentElement.scrollWidth - window.innerWidth")
    return overflow


def test_readable_on_a_narrow_window_without_sideways_scrolling(screen, stack):
    cohort = seed_cohort(stack)
    sent = create_draft(stack, f"Narrow window {uuid.uuid4().hex[:4]}", cohort.ids)
    assert stack.call("POST", f"/communications/{sent['id']}/send").status_code == 202
    screen.page.set_viewport_size({"width": 390, "height": 844})
    screen.sign_in()
    page = screen.page
    expect(page.get_by_test_id("communications").locator("tbody tr").first).to_be_visible()
    assert _sideways_overflow(page) <= 0, "the list scrolls sideways"
    screen.shoot("12-list-narrow", full_page=False)

    page.get_by_role("link", name=sent["name"]).click()
    expect(page.get_by_test_id("progress")).to_have_attribute("aria-valuenow", "100")
    assert _sideways_overflow(page) <= 0, "the overview scrolls sideways"
    page.get_by_role("tab", name="Account delivery status").click()
    expect(page.get_by_test_id("messages").locator("tbody tr")).to_have_count(5)
    assert _sideways_overflow(page) <= 0, "the delivery tab scrolls sideways"


def test_the_row_menu_works_from_the_keyboard(screen, stack):
    draft = create_draft(stack, f"Keyboard {uuid.uuid4().hex[:4]}")
    screen.sign_in()
    page = screen.page
    menu_button = page.get_by_role("button", name=f"Actions for {draft['name']}")
    menu_button.focus()
    page.keyboard.press("Enter")
    expect(page.get_by_role("menuitem", name="View")).to_be_focused()
    page.keyboard.press("ArrowDown")
    expect(page.get_by_role("menuitem", name="Edit")).to_be_focused()
    page.keyboard.press("Escape")
    expect(page.get_by_role("menu")).to_have_count(0)
    expect(menu_button).to_be_focused()
    page.keyboard.press("Enter")
    expect(page.get_by_role("menuitem", name="View")).to_be_focused()
    page.keyboard.press("ArrowUp")  # wraps to the last item
    expect(page.get_by_role("menuitem", name="Delete")).to_be_focused()
    page.keyboard.press("Enter")
    expect(page.get_by_role("dialog", name="Delete this draft?")).to_be_visible()
    page.keyboard.press("Escape")
    expect(page.get_by_role("dialog")).to_have_count(0)
