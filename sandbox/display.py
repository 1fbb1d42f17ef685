"""What a page is shown of one execution event: the one mapping from the engine's
events (sandbox/outcome.py) to the browser's, for agent turns and skill test runs alike.

The code is hostile, so the mapping is strict about what may reach a page:
- images go out as base64 only, to be shown in ``<img>``: an SVG arrives as markup
  and is encoded here, so no page ever receives markup it could be tricked into
  inserting; in ``<img>`` an SVG's scripts never run;
- HTML goes out only to a page that seals it (an iframe with an empty sandbox and
  a Content-Security-Policy, as the playground does), and only when it asks for it:
  everywhere else the output's plain-text form is shown instead;
- blocked network attempts are not shown one by one: hostile code can cause thousands,
  and the execution's status message names them.
"""

import base64
import binascii

IMAGE_MIMES = ("image/png", "image/jpeg", "image/svg+xml")
HTML = "text/html"


def browser_event(event: dict, *, html: bool = False) -> dict | None:
    """The browser event for one engine event, or None when it shows nothing.

    Text streams and errors become ``{"type": "stdout"|"stderr", "text": ...}``; rich
    output becomes ``{"type": "display", "mime": ..., "data": ...}`` or plain text.
    An HTML display also carries its plain-text form as ``text``, for a history that
    keeps text only. Status events are left to the caller, which knows how it ends."""
    kind = event.get("type")
    if kind in ("stdout", "stderr"):
        return {"type": kind, "text": event.get("text", "")}
    if kind == "error":
        lines = event.get("traceback") or [f"{event.get('ename')}: {event.get('evalue')}"]
        return {"type": "stderr", "text": "\n".join(lines) + "\n"}
    if kind in ("display", "result"):
        return _display(event.get("data"), html=html)
    return None


def _display(data, *, html: bool) -> dict | None:
    if not isinstance(data, dict):
        data = {"text/plain": str(data)}
    mime = next((m for m in IMAGE_MIMES if m in data), None)
    if mime:
        return {"type": "display", "mime": mime, "data": image_base64(data[mime])}
    if html and HTML in data:
        plain = str(data.get("text/plain", "")) + "\n"
        return {"type": "display", "mime": HTML, "data": str(data[HTML]), "text": plain}
    if "text/plain" in data:
        return {"type": "stdout", "text": str(data["text/plain"]) + "\n"}
    return None


def image_base64(data) -> str:
    """An image's data as base64: kernels send PNG and JPEG encoded, SVG as markup."""
    text = str(data or "")
    try:  # line breaks are allowed in base64; markup always has "<"
        base64.b64decode("".join(text.split()), validate=True)
    except (binascii.Error, ValueError):
        return base64.b64encode(text.encode()).decode()
    return text
