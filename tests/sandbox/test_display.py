"""The one mapping from a sandbox's events to what a page is shown, for turns and skill
test runs alike: images only as base64, HTML only where the page seals it."""

import base64

import pytest

from sandbox.display import browser_event, image_base64

PNG = base64.b64encode(b"\x89PNG\r\n\x1a\n" + b"\0" * 16).decode()
SVG = '<svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></svg>'
HTML = {"text/html": "<b>table</b><script>alert(1)</script>", "text/plain": "table"}


def display(data) -> dict:
    return {"type": "display", "data": data}


@pytest.mark.parametrize("html", [True, False])
def test_svg_markup_reaches_the_page_only_as_base64_image_data(html):
    shown = browser_event(display({"image/svg+xml": SVG, "text/plain": "<Figure>"}), html=html)

    assert shown == {
        "type": "display",
        "mime": "image/svg+xml",
        "data": base64.b64encode(SVG.encode()).decode(),
    }
    assert "<" not in shown["data"]


def test_base64_images_pass_as_they_are_line_breaks_and_all():
    wrapped = PNG[:10] + "\n" + PNG[10:]
    assert browser_event(display({"image/png": PNG}))["data"] == PNG
    assert image_base64(wrapped) == wrapped


def test_html_goes_only_to_a_page_that_seals_it_with_its_plain_text():
    sealed = browser_event({"type": "result", "data": HTML}, html=True)
    plain = browser_event({"type": "result", "data": HTML})

    assert sealed == {
        "type": "display",
        "mime": "text/html",
        "data": HTML["text/html"],
        "text": "table\n",
    }
    assert plain == {"type": "stdout", "text": "table\n"}


def test_html_without_a_plain_form_shows_nothing_on_a_page_without_a_frame():
    assert browser_event(display({"text/html": "<b>x</b>"})) is None


def test_an_image_wins_over_html_and_text():
    shown = browser_event(display({"image/png": PNG, **HTML}), html=True)
    assert (shown["mime"], shown["data"]) == ("image/png", PNG)


def test_streams_errors_and_plain_values():
    error = {"type": "error", "ename": "KeyError", "evalue": "'x'", "traceback": ["a", "b"]}
    assert browser_event({"type": "stderr", "text": "w"}) == {"type": "stderr", "text": "w"}
    assert browser_event(error) == {"type": "stderr", "text": "a\nb\n"}
    assert browser_event({**error, "traceback": []}) == {
        "type": "stderr",
        "text": "KeyError: 'x'\n",
    }
    assert browser_event({"type": "result", "data": 42}) == {"type": "stdout", "text": "42\n"}


@pytest.mark.parametrize("kind", ["status", "network_blocked", "unknown"])
def test_status_and_blocked_attempts_are_not_shown_as_output(kind):
    assert browser_event({"type": kind, "message": "m"}) is None
