"""What the browser is shown of a tool call, live and again after a reload.

Live, every engine event goes through sandbox.display's mapping; the history keeps
the same, merged and capped (``OutputLog``) so one runaway loop cannot fill the
database. What the model is told is agents/tools/results.py's business.
"""

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from sandbox.display import IMAGE_MIMES, browser_event

__all__ = ["IMAGE_MIMES", "OutputLog", "show"]
# What the page keeps of one tool call for showing it again after a reload.
SAVED_TEXT_CHARS = 200_000
SAVED_IMAGE_BYTES = 8 * 1024 * 1024
# Notices one call keeps, and the length of each: hostile code can cause many.
MAX_NOTICES = 30
NOTICE_CHARS = 2_000


@dataclass
class OutputLog:
    """The tool call's output as the page shows it: consecutive chunks of one stream
    merged, text and images capped so one runaway loop cannot fill the database."""

    entries: list[dict] = field(default_factory=list)
    text_chars: int = 0
    image_bytes: int = 0
    notices: int = 0
    _capped_text: bool = False

    def text(self, stream: str, text: str) -> None:
        room = SAVED_TEXT_CHARS - self.text_chars
        if room <= 0:
            if not self._capped_text:
                self._capped_text = True
                self.notice("[the saved output stops here; the model saw the full output]")
            return
        text = text[:room]
        self.text_chars += len(text)
        last = self.entries[-1] if self.entries else None
        if last and last["type"] == stream:
            last["text"] += text
        else:
            self.entries.append({"type": stream, "text": text})

    def image(self, mime: str, data: str) -> bool:
        """False when the image is over the saved size (it was still shown live)."""
        if self.image_bytes + len(data) > SAVED_IMAGE_BYTES:
            self.notice("[an image was shown but is too large to keep in the history]")
            return False
        self.image_bytes += len(data)
        self.entries.append({"type": "image", "mime": mime, "data": data})
        return True

    def file(self, path: str, url: str) -> None:
        self.entries.append({"type": "file", "path": path, "url": url})

    def notice(self, text: str, *, first: bool = False) -> None:
        self.notices += 1
        if self.notices > MAX_NOTICES + 1:
            return
        if self.notices == MAX_NOTICES + 1:
            text = "[more notices were shown than the history keeps]"
        entry = {"type": "notice", "text": text[:NOTICE_CHARS]}
        if first:
            self.entries.insert(0, entry)
        else:
            self.entries.append(entry)


async def show(event: dict, log: OutputLog, emit: Callable[..., Awaitable[None]]) -> None:
    """Forwards one sandbox event to the browser and keeps it for the history."""
    shown = browser_event(event, html=True)  # the playground seals HTML in its frame
    if shown is None:
        return
    kind = shown.pop("type")
    if kind in ("stdout", "stderr"):
        log.text(kind, shown["text"])
    elif shown["mime"] in IMAGE_MIMES:
        log.image(shown["mime"], shown["data"])
    else:  # HTML: shown live in its sealed frame; the history keeps its plain text
        log.text("stdout", shown.pop("text"))
    await emit(kind, **shown)
