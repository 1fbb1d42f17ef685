"""Real requests to LLM providers through their official SDKs, with failures turned into
plain words. Every message leaving this module has been scrubbed of the key."""

import socket
import ssl
from dataclasses import dataclass

import anthropic
import openai

from connections import base_urls
from connections.masking import scrub
from connections.models import Kind

TIMEOUT_SECONDS = 10.0
# The OpenAI SDK refuses an empty key, and with None it would read OPENAI_API_KEY from
# the server's environment and send the operator's key to the workspace's base URL.
NO_KEY_PLACEHOLDER = "no-key"
_MAX_MESSAGE = 300

_STATUS_ERRORS = (openai.APIStatusError, anthropic.APIStatusError)
_TIMEOUT_ERRORS = (openai.APITimeoutError, anthropic.APITimeoutError)
_CONNECTION_ERRORS = (openai.APIConnectionError, anthropic.APIConnectionError)


@dataclass(frozen=True)
class CheckResult:
    ok: bool
    message: str
    # It works, with a caveat the person should act on (a PixelML key without credits).
    warning: bool = False


@dataclass(frozen=True)
class ModelList:
    ok: bool
    message: str
    # The model ids the provider lists; empty when the request failed.
    models: tuple[str, ...] = ()


def check_provider(*, kind: str, secret: str, base_url: str) -> CheckResult:
    """Lists the provider's models at ``base_url`` (always explicit: the SDKs would
    otherwise read OPENAI_BASE_URL / ANTHROPIC_BASE_URL from the server's environment)."""
    listed = provider_models(kind=kind, secret=secret, base_url=base_url)
    return CheckResult(listed.ok, listed.message)


def provider_models(*, kind: str, secret: str, base_url: str) -> ModelList:
    """check_provider's request, keeping the model ids (an agent's "Check model")."""
    # Checked again at request time: the name may resolve elsewhere than when saved.
    if problem := base_urls.private_address_problem(base_url):
        return ModelList(False, problem)
    try:
        models = _list_models(kind, secret, base_url)
    except Exception as error:  # any failure becomes a message, never a 500
        return ModelList(False, scrub(describe_error(error, where=base_url), secret))
    count = "1 model" if len(models) == 1 else f"{len(models)} models"
    return ModelList(True, f"Connected: the provider lists {count}.", tuple(models))


def _list_models(kind: str, secret: str, base_url: str) -> list[str]:
    options = {"timeout": TIMEOUT_SECONDS, "max_retries": 0, "base_url": base_url}
    transport = base_urls.transport_for_base_urls()
    if kind == Kind.OPENAI:
        if transport:
            options["http_client"] = openai.DefaultHttpxClient(transport=transport)
        client = openai.OpenAI(api_key=secret or NO_KEY_PLACEHOLDER, **options)
    elif kind == Kind.ANTHROPIC:
        if transport:
            options["http_client"] = anthropic.DefaultHttpxClient(transport=transport)
        client = anthropic.Anthropic(api_key=secret, **options)
    else:
        raise ValueError(f"{kind} is not an LLM provider.")
    with client:
        return [model.id for model in client.models.list().data]


def describe_error(error: Exception, *, where: str) -> str:
    if isinstance(error, _TIMEOUT_ERRORS):
        return f"No answer from {where} within {TIMEOUT_SECONDS:g} seconds."
    if isinstance(error, _CONNECTION_ERRORS):
        return f"Could not reach {where}: {_network_reason(error).rstrip('.')}."
    if isinstance(error, _STATUS_ERRORS):
        return _describe_status(error.status_code, _provider_message(error), where)
    text = f"{where} answered, but not like the provider's API ({type(error).__name__})."
    return text[:_MAX_MESSAGE]


def _describe_status(status: int, detail: str, where: str) -> str:
    if status == 401:
        text = f"The provider rejected the key (401): {detail}"
    elif status == 403:
        text = f"The key is not allowed to list models (403): {detail}"
    elif status == 404:
        text = (
            f"{where} has no models endpoint (404), so it does not look like this provider's "
            "API. For OpenAI-compatible servers the base URL usually ends in /v1."
        )
    elif status == 429:
        text = f"The provider is rate-limiting or out of quota (429): {detail}"
    elif status >= 500:
        text = f"The provider had an internal error ({status}): {detail}"
    else:
        text = f"The provider answered {status}: {detail}"
    return text[:_MAX_MESSAGE]


def _provider_message(error: Exception) -> str:
    # OpenAI passes the inner "error" object as body; Anthropic the whole JSON document.
    body = getattr(error, "body", None)
    if isinstance(body, dict):
        inner = body.get("error", body)
        if isinstance(inner, dict) and isinstance(inner.get("message"), str):
            return inner["message"]
        if isinstance(inner, str):
            return inner
    if isinstance(body, str) and body.strip():
        return body.strip()[:200]
    return "no details given."


def _network_reason(error: Exception) -> str:
    root = _root_cause(error)
    if isinstance(root, ConnectionRefusedError):
        return "connection refused (is the server running, and is the port right?)"
    if isinstance(root, socket.gaierror):
        return "the host name could not be resolved"
    if isinstance(root, ssl.SSLError):
        return f"TLS error ({root.reason or root})"
    return str(root) or type(root).__name__


def _root_cause(error: BaseException) -> BaseException:
    seen = {id(error)}
    while (nxt := error.__cause__ or error.__context__) is not None and id(nxt) not in seen:
        seen.add(id(nxt))
        error = nxt
    return error
