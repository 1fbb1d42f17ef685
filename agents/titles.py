"""A conversation's title, made from its first message: the words a person wrote, not
the code they pasted. Fenced blocks are left out; a message that is only code is named
by the code's first line."""

import re

TITLE_CHARS = 80
FENCE = re.compile(r"^\s*(```|~~~)")


def title_from_message(text: str) -> str:
    prose, code = [], []
    fenced = False
    for line in text.splitlines():
        if FENCE.match(line):
            fenced = not fenced
            continue
        if line.strip():
            (code if fenced else prose).append(line.strip())
    if prose:
        return _shortened(" ".join(" ".join(prose).split()))
    if code:
        return _shortened("Code: " + " ".join(code[0].split()))
    return ""


def _shortened(text: str) -> str:
    if len(text) <= TITLE_CHARS:
        return text
    cut = text[: TITLE_CHARS - 1]
    # At a word boundary when there is one in the last part, and said to be cut.
    space = cut.rfind(" ")
    return (cut[:space] if space > TITLE_CHARS // 2 else cut).rstrip(" ,.;:") + "…"
