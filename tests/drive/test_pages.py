import re

import pytest
from django.core.files.storage import storages
from playwright.sync_api import expect

from drive.models import DriveFile

SALES = b"region,total\nnorth,10\n"
SALES_V2 = b"region,total\nnorth,10\nsouth,12\nwest,7\n"


def payload(name: str, data: bytes, mime: str = "text/plain") -> dict:
    return {"name": name, "mimeType": mime, "buffer": data}


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
def test_a_member_uploads_replaces_and_deletes_files(page, login, team):
    login(team.member)
    page.get_by_role("link", name="Drive", exact=True).click()
    expect(page.get_by_test_id("empty")).to_contain_text("Your Drive is empty")
    expect(page.locator("form[data-drive-upload].is-enhanced")).to_have_count(1)
    upload_input = page.get_by_test_id("upload-input")
    uploads = page.get_by_test_id("upload-item")
    sales_row = page.locator("tr[data-path='/q4_sales.csv']")

    upload_input.set_input_files(
        [payload("q4_sales.csv", SALES, "text/csv"), payload("notes.md", b"# Notes\n")]
    )

    expect(uploads.filter(has_text="Uploaded")).to_have_count(2)
    expect(sales_row).to_be_visible()
    expect(page.locator("tr[data-path='/notes.md']")).to_be_visible()
    expect(sales_row.get_by_test_id("file-size")).to_have_text(re.compile(rf"{len(SALES)}\sbytes"))

    upload_input.set_input_files([payload("q4_sales.csv", SALES_V2, "text/csv")])

    refused = uploads.filter(has_text="file already exists")
    expect(refused).to_have_count(1)
    expect(refused).to_have_attribute("data-state", "error")
    expect(refused).to_contain_text("Choose “Replace existing files” to overwrite it.")
    expect(sales_row.get_by_test_id("file-size")).to_have_text(re.compile(rf"{len(SALES)}\sbytes"))

    page.get_by_label("Replace existing files").check()
    upload_input.set_input_files([payload("q4_sales.csv", SALES_V2, "text/csv")])

    expect(uploads.filter(has_text="Replaced")).to_have_count(1)
    expect(sales_row.get_by_test_id("file-size")).to_have_text(
        re.compile(rf"{len(SALES_V2)}\sbytes")
    )
    with storages["drive"].open(DriveFile.objects.get(path="/q4_sales.csv").blob_name) as blob:
        assert blob.read() == SALES_V2

    page.get_by_role("button", name="Delete notes.md").click()
    page.get_by_test_id("confirm").click()

    expect(page.get_by_role("status")).to_contain_text("Deleted /notes.md.")
    expect(page.locator("tr[data-path='/notes.md']")).to_have_count(0)
    expect(sales_row).to_be_visible()
    assert list(DriveFile.objects.values_list("path", flat=True)) == ["/q4_sales.csv"]
