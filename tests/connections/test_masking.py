import pytest

from connections.masking import FULL_MASK, mask_secret, scrub

KEY = "sk-proj-Zq8vN3kLmT7pRw2XyB5c"


@pytest.mark.parametrize(
    ("secret", "shown"),
    [
        (KEY, "sk-…yB5c"),
        ("sk-ant-api03-Hf6sJd9KqW2eRt4YuI8o", "sk-…uI8o"),
        ("pxm_Yy3bQ0c9yq1lWm6Zr5tDp2o8u7i4", "pxm_…u7i4"),
        ("a8f0c2d94e1b7a6c5d3f", "…5d3f"),
        ("verylongprefix-abcdefgh1234", "…1234"),
        ("short-key-12", "…12"),
        ("abc123", FULL_MASK),
        ("", ""),
    ],
)
def test_it_masks_keys_for_display(secret, shown):
    assert mask_secret(secret) == shown


def test_it_shows_at_most_a_prefix_and_four_characters():
    masked = mask_secret(KEY)
    assert KEY[3:-4] not in masked
    assert len(masked.replace("…", "")) <= len("sk-") + 4


@pytest.mark.parametrize(
    "message",
    [
        f"Incorrect API key provided: {KEY}.",
        f"Incorrect API key provided: '{KEY[:14]}'",
        f"bad key {KEY[6:]}, try again",
        f"url http://x/?key={KEY}",
    ],
)
def test_it_scrubs_the_key_and_pieces_of_it_from_messages(message):
    scrubbed = scrub(message, KEY)
    assert KEY not in scrubbed
    assert KEY[6:14] not in scrubbed
    assert "sk-…yB5c" in scrubbed


def test_it_leaves_messages_without_the_key_alone():
    message = "The provider rejected the key (401): invalid x-api-key, see docs.example.com"
    assert scrub(message, KEY) == message
