"""How secrets are shown after saving, and how they are kept out of messages."""

import re

FULL_MASK = "••••••••"
# A vendor prefix such as "sk-" or "pxm_" says which kind of key it is, not the key.
_PREFIX = re.compile(r"^[A-Za-z0-9]{1,5}[-_]")
# Runs of key-like characters in free text (provider errors often echo the key).
_TOKEN = re.compile(r"[A-Za-z0-9_\-.~+/=]{8,}")


def mask_secret(secret: str) -> str:
    """``sk-…abcd`` for ordinary keys; short keys reveal less, very short ones nothing."""
    if not secret:
        return ""
    if len(secret) < 8:
        return FULL_MASK
    if len(secret) < 16:
        return f"…{secret[-2:]}"
    match = _PREFIX.match(secret)
    prefix = match.group(0) if match else ""
    return f"{prefix}…{secret[-4:]}"


def scrub(text: str, secret: str) -> str:
    """Replaces the secret, and any 8+ character piece of it, with its masked form."""
    if not secret or not text:
        return text
    masked = mask_secret(secret)
    text = text.replace(secret, masked)

    def hide(match: re.Match) -> str:
        token = match.group(0)
        core = token.strip("._-~+/=")
        return token.replace(core, masked) if len(core) >= 8 and core in secret else token

    return _TOKEN.sub(hide, text)
