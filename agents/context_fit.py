"""Keeping a conversation within the model's context window: when the server says the
prompt is too long (or answers nothing, as llama.cpp's server does then), the oldest
earlier turns are dropped from what the model is sent, half of them at a time, and the
turn says so. The history itself is kept: only the model's view shrinks."""

from dataclasses import dataclass

from agents.providers.base import ChatMessage

CUT_BY_LENGTH = (
    "The reply was cut: the model reached its output limit (finish reason “length”) "
    "before it finished. Ask it to continue, or to answer more briefly."
)


@dataclass
class Fit:
    """What was dropped so far in this turn, to tell the person once at the end."""

    dropped: int = 0
    kept: int = 0

    def note(self) -> str:
        if not self.dropped:
            return ""
        turns = "turn" if self.dropped == 1 else "turns"
        kept = "none" if not self.kept else f"the last {self.kept}"
        return (
            f"The conversation no longer fit the model's context window: its "
            f"{self.dropped} oldest {turns} were dropped from what the model sees "
            f"(they stay in the history here; of the earlier turns it saw {kept})."
        )


def drop_oldest(messages: list[ChatMessage], current: int, fit: Fit) -> int:
    """Drops the oldest half of the earlier turns (``messages[:current]``, each starting
    with its user message) in place; returns how many messages went, 0 when there were
    no earlier turns left to drop."""
    starts = [i for i, message in enumerate(messages[:current]) if message.role == "user"]
    if not starts:
        return 0
    drop = (len(starts) + 1) // 2
    end = starts[drop] if drop < len(starts) else current
    del messages[:end]
    fit.dropped += drop
    fit.kept = len(starts) - drop
    return end
