"""config/origins.py: a websocket opens only from a page of the very same origin."""

import pytest

from config.origins import normalise, origin_allowed


def scope(origin: str | None, host: str = "localhost", scheme: str = "ws", **extra: str):
    headers = [(b"host", host.encode())]
    if origin is not None:
        headers.append((b"origin", origin.encode()))
    headers += [(name.encode(), value.encode()) for name, value in extra.items()]
    return {"type": "websocket", "scheme": scheme, "headers": headers}


@pytest.mark.parametrize(
    ("origin", "host", "scheme"),
    [
        ("http://localhost", "localhost", "ws"),
        ("http://localhost:8000", "localhost:8000", "ws"),
        ("http://LOCALHOST:80", "localhost", "ws"),
        ("https://localhost", "localhost", "wss"),
        ("https://localhost:443", "localhost", "wss"),
    ],
)
def test_it_admits_the_sites_own_origin(origin, host, scheme):
    assert origin_allowed(scope(origin, host, scheme)) is True


@pytest.mark.parametrize(
    ("origin", "host", "scheme"),
    [
        ("http://localhost:9999", "localhost:8000", "ws"),
        ("http://127.0.0.1:1", "127.0.0.1:8000", "ws"),
        ("http://localhost", "localhost:8000", "ws"),
        ("https://localhost", "localhost", "ws"),
        ("http://localhost", "localhost", "wss"),
        ("http://evil.example", "localhost", "ws"),
        ("null", "localhost", "ws"),
        (None, "localhost", "ws"),
        ("http://localhost/page", "localhost", "ws"),
        ("http://user@localhost", "localhost", "ws"),
        ("http://localhost:notaport", "localhost", "ws"),
    ],
)
def test_it_refuses_another_port_scheme_or_host(origin, host, scheme):
    assert origin_allowed(scope(origin, host, scheme)) is False


def test_it_refuses_a_host_outside_allowed_hosts(settings):
    settings.ALLOWED_HOSTS = ["localhost"]

    assert origin_allowed(scope("http://evil.example", "evil.example")) is False


def test_it_reads_the_scheme_from_the_tls_proxy_only_when_told_to(settings):
    forwarded = {"x-forwarded-proto": "https"}
    settings.SECURE_PROXY_SSL_HEADER = None
    assert origin_allowed(scope("https://localhost", **forwarded)) is False

    settings.SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    assert origin_allowed(scope("https://localhost", **forwarded)) is True
    assert origin_allowed(scope("http://localhost", **forwarded)) is False


def test_it_admits_the_trusted_origins_as_csrf_does(settings):
    settings.ALLOWED_HOSTS = ["localhost", "app.example.com"]
    settings.CSRF_TRUSTED_ORIGINS = ["https://turnbox.example.com", "https://*.example.org"]

    assert origin_allowed(scope("https://turnbox.example.com", "localhost:8000")) is True
    assert origin_allowed(scope("https://a.example.org", "localhost:8000")) is True
    assert origin_allowed(scope("http://a.example.org", "localhost:8000")) is False
    assert origin_allowed(scope("https://a.example.org:8443", "localhost:8000")) is False
    assert origin_allowed(scope("https://turnbox.example.com:8443", "localhost")) is False


def test_it_spells_out_default_ports():
    assert normalise("https://Example.com") == "https://example.com:443"
    assert normalise("http://example.com:8080/") == "http://example.com:8080"
    assert normalise("ftp://example.com") is None
