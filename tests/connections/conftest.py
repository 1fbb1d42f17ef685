from collections.abc import Callable, Iterator
from contextlib import ExitStack

import pytest
from cryptography.fernet import Fernet

from connections import services
from connections.models import PixelMLKey
from tests.connections.fake_provider import FakeProvider

OPENAI_KEY = "sk-proj-Zq8vN3kLmT7pRw2XyB5c"
ANTHROPIC_KEY = "sk-ant-api03-Hf6sJd9KqW2eRt4YuI8o"


@pytest.fixture(autouse=True)
def encryption_key(settings) -> str:
    """Each test encrypts under a fresh key of its own, never the data folder's."""
    key = Fernet.generate_key().decode()
    settings.TURNBOX_ENCRYPTION_KEYS = [key]
    return key


@pytest.fixture(autouse=True)
def private_servers_allowed(settings) -> None:
    """The fake providers listen on 127.0.0.1; test_egress turns this off again."""
    settings.TURNBOX_ALLOW_PRIVATE_BASE_URLS = True


@pytest.fixture
def issued_key(db) -> tuple[PixelMLKey, str]:
    return services.pixelml_key_issue(name="Acme Corp")


@pytest.fixture
def fake_provider() -> Iterator[Callable[..., FakeProvider]]:
    """Starts fake provider servers (see FakeProvider) and stops them after the test."""
    with ExitStack() as stack:
        yield lambda key, **options: stack.enter_context(FakeProvider(key, **options))
