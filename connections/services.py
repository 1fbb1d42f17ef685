import secrets
from dataclasses import dataclass
from urllib.parse import urlsplit

from django.core.exceptions import NON_FIELD_ERRORS, ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone

from connections import base_urls, crypto, providers, selectors, signals
from connections.masking import mask_secret
from connections.models import DEFAULT_BASE_URLS, Connection, Kind, PixelMLKey
from connections.providers import CheckResult
from workspaces.models import User, Workspace

PIXELML_KEY_PREFIX = "pxm_"
# The form field that carries the key (named here once; "secret" trips the linter).
KEY_FIELD = "secret"
INVALID_PIXELML_KEY = "This PixelML key is not valid or has been revoked."
UNDECRYPTABLE_KEY = (
    "The stored key cannot be decrypted with the configured TURNBOX_ENCRYPTION_KEYS. "
    "Ask the operator, or delete this connection and add it again."
)


@transaction.atomic
def pixelml_key_issue(*, name: str, created_by: User | None = None) -> tuple[PixelMLKey, str]:
    """Returns the key record and the plaintext key, which exists only in this return."""
    name = name.strip()
    if not name:
        raise ValidationError({"name": "Name the account this key bills."})
    plaintext = PIXELML_KEY_PREFIX + secrets.token_urlsafe(32)
    key = PixelMLKey.objects.create(
        name=name,
        prefix=plaintext[len(PIXELML_KEY_PREFIX) :][:8],
        key_hash=selectors.pixelml_key_hash(plaintext),
        created_by=created_by,
    )
    return key, plaintext


@transaction.atomic
def pixelml_key_revoke(*, key: PixelMLKey) -> PixelMLKey:
    """Revokes a key; the workspaces using it stop their turns and code at once."""
    # Filtered update keeps the first revocation time when two operators revoke at once.
    unrevoked = PixelMLKey.objects.filter(pk=key.pk, revoked_at__isnull=True)
    if unrevoked.update(revoked_at=timezone.now()):
        workspace_ids = list(key.connections.values_list("workspace_id", flat=True))
        transaction.on_commit(
            lambda: signals.pixelml_withdrawn_announce(
                workspace_ids=workspace_ids, why=signals.KEY_REVOKED
            )
        )
    key.refresh_from_db(fields=["revoked_at"])
    return key


@transaction.atomic
def connection_create(
    *,
    workspace: Workspace,
    kind: str,
    name: str,
    secret: str,
    base_url: str = "",
    default_model: str = "",
    created_by: User | None = None,
) -> Connection:
    """Validates, verifies a PixelML key, and stores the secret encrypted.
    Raises ValidationError keyed by field (kind, name, secret, base_url, default_model)."""
    kind, name, secret = kind.strip(), name.strip(), secret.strip()
    base_url, default_model = base_url.strip().rstrip("/"), default_model.strip()
    errors = _name_errors(workspace, name)
    if kind == Kind.PIXELML:
        errors |= _pixelml_errors(workspace, secret, base_url, default_model)
    elif kind in Kind.values:
        errors |= _provider_errors(kind, secret, base_url)
    else:
        errors["kind"] = f"Unknown kind of connection: {kind!r}."
    connection = Connection(
        workspace=workspace,
        kind=kind,
        name=name,
        secret_encrypted=crypto.encrypt(secret) if secret else "",
        secret_hint=mask_secret(secret),
        base_url=base_url,
        default_model=default_model,
        pixelml_key=selectors.pixelml_key_find(key=secret) if kind == Kind.PIXELML else None,
        created_by=created_by,
    )
    _save(connection, errors)
    return connection


def _save(connection: Connection, errors: dict[str, str]) -> None:
    try:
        connection.clean_fields(exclude=[*errors, "workspace", "secret_encrypted"])
    except ValidationError as error:
        errors = {**error.message_dict, **errors}
    if errors:
        raise ValidationError(errors)
    try:
        with transaction.atomic():
            connection.save()
    except IntegrityError:
        raise ValidationError(
            {NON_FIELD_ERRORS: "Another connection was saved at the same time; try again."}
        ) from None


def _name_errors(workspace: Workspace, name: str, exclude_pk: int | None = None) -> dict[str, str]:
    if not name:
        return {"name": "Give the connection a name."}
    others = Connection.objects.filter(workspace=workspace, name__iexact=name)
    if others.exclude(pk=exclude_pk).exists():
        return {"name": f"This workspace already has a connection named “{name}”."}
    return {}


def _pixelml_errors(
    workspace: Workspace, secret: str, base_url: str, default_model: str
) -> dict[str, str]:
    errors = {}
    existing = selectors.pixelml_connection(workspace=workspace)
    if existing is not None:
        errors["kind"] = (
            f"This workspace already has a PixelML connection (“{existing.name}”). "
            "Delete it first to switch to another key."
        )
    if not secret:
        errors[KEY_FIELD] = "Paste the PixelML key your platform operator gave you."
    elif selectors.pixelml_key_find(key=secret) is None:
        errors[KEY_FIELD] = INVALID_PIXELML_KEY
    return errors | _no_provider_fields(base_url, default_model)


def _no_provider_fields(base_url: str, default_model: str) -> dict[str, str]:
    errors = {}
    if base_url:
        errors["base_url"] = "PixelML connections have no base URL: leave it empty."
    if default_model:
        errors["default_model"] = "PixelML connections have no model: leave it empty."
    return errors


def _provider_errors(kind: str, secret: str, base_url: str) -> dict[str, str]:
    errors = {}
    if base_url and (problem := _base_url_problem(base_url)):
        errors["base_url"] = problem
    if not secret and kind == Kind.ANTHROPIC:
        errors[KEY_FIELD] = "Paste the Anthropic API key."
    elif not secret and not base_url:
        errors[KEY_FIELD] = (
            "Paste the API key. Only a server of your own (base URL set, e.g. Ollama) "
            "may go without one."
        )
    return errors


def _base_url_problem(url: str) -> str:
    if any(c.isspace() for c in url):
        return "A URL cannot contain spaces."
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - parsing the port is what raises for "host:abc"
    except ValueError:
        parts = None
    if parts is None or parts.scheme not in ("http", "https") or not parts.hostname:
        return "Use an http:// or https:// URL, e.g. http://localhost:11434/v1."
    if parts.username or parts.password:
        return "Put credentials in the key field, not in the URL."
    if parts.query or parts.fragment:
        return "The base URL cannot have a query (?…) or fragment (#…)."
    return base_urls.private_address_problem(url)


@transaction.atomic
def connection_update(
    *,
    connection: Connection,
    name: str,
    secret: str = "",
    base_url: str = "",
    default_model: str = "",
) -> Connection:
    """Renames, re-points or re-keys a connection. An empty ``secret`` keeps the stored
    key. A PixelML connection takes only a new name: another key means another account,
    which is a new connection. Raises ValidationError keyed by field."""
    name, secret = name.strip(), secret.strip()
    base_url, default_model = base_url.strip().rstrip("/"), default_model.strip()
    errors = _update_errors(connection, name, secret, base_url, default_model)
    if secret or base_url != connection.base_url:
        # The last test spoke of the old key or server.
        connection.last_checked_at, connection.last_check_ok = None, None
        connection.last_check_message = ""
    if secret:
        connection.secret_encrypted = crypto.encrypt(secret)
        connection.secret_hint = mask_secret(secret)
    connection.name, connection.base_url, connection.default_model = name, base_url, default_model
    try:
        _save(connection, errors)
    except ValidationError:
        connection.refresh_from_db()  # The caller's object must not keep refused values.
        raise
    return connection


def _update_errors(
    connection: Connection, name: str, secret: str, base_url: str, default_model: str
) -> dict[str, str]:
    errors = _name_errors(connection.workspace, name, exclude_pk=connection.pk)
    if connection.is_pixelml:
        return errors | _pixelml_edit_errors(secret, base_url, default_model)
    has_key = bool(secret or connection.secret_encrypted)
    errors |= _provider_errors(connection.kind, "key" if has_key else "", base_url)
    if not secret and connection.secret_encrypted and _moves(connection, base_url):
        errors[KEY_FIELD] = (
            "The server changes: paste the key again. A stored key is never sent to "
            "a server it was not entered for."
        )
    return errors


def _moves(connection: Connection, base_url: str) -> bool:
    """Whether the requests would go to another server: an empty base URL means the
    provider's own, so clearing one moves the key too."""

    def origin(url: str) -> tuple:
        parts = urlsplit(url or DEFAULT_BASE_URLS.get(connection.kind, ""))
        scheme = parts.scheme.lower()
        return scheme, parts.hostname, parts.port or {"http": 80, "https": 443}.get(scheme)

    return origin(base_url) != origin(connection.base_url)


def _pixelml_edit_errors(secret: str, base_url: str, default_model: str) -> dict[str, str]:
    errors = _no_provider_fields(base_url, default_model)
    if secret:
        errors[KEY_FIELD] = (
            "A PixelML connection keeps its key: delete it and add the new key instead."
        )
    return errors


@transaction.atomic
def connection_delete(*, connection: Connection) -> None:
    """Deleting a PixelML connection stops the workspace's turns and code at once
    (connections.signals); what they ran is charged to the account bound to each
    session as it opened."""
    if connection.is_pixelml:
        workspace_ids = [connection.workspace_id]
        transaction.on_commit(
            lambda: signals.pixelml_withdrawn_announce(
                workspace_ids=workspace_ids, why=signals.CONNECTION_DELETED
            )
        )
    connection.delete()


def connection_check(*, connection: Connection) -> CheckResult:
    """Makes a real request (or PixelML key lookup) and records the outcome.
    Not one transaction: the request can take seconds and would hold the write lock."""
    try:
        secret = selectors.connection_secret(connection=connection)
    except crypto.InvalidToken:
        result = CheckResult(False, UNDECRYPTABLE_KEY)
    else:
        result = _check(connection, secret)
    _record_check(connection, result)
    return result


def _check(connection: Connection, secret: str) -> CheckResult:
    if connection.is_pixelml:
        key = selectors.pixelml_key_find(key=secret)
        if key is None:
            return CheckResult(False, INVALID_PIXELML_KEY)
        words, warning = [f"The key is valid: code execution is billed to {key.name}."], False
        for _, answer in signals.pixelml_checked.send(sender=None, key=key):
            if answer:
                words.append(answer[0])
                warning = warning or answer[1]
        return CheckResult(True, " ".join(words), warning=warning)
    return providers.check_provider(
        kind=connection.kind,
        secret=secret,
        base_url=connection.effective_base_url,
    )


@transaction.atomic
def _record_check(connection: Connection, result: CheckResult) -> None:
    connection.last_checked_at = timezone.now()
    connection.last_check_ok = result.ok
    connection.last_check_message = result.message[:500]
    Connection.objects.filter(pk=connection.pk).update(
        last_checked_at=connection.last_checked_at,
        last_check_ok=connection.last_check_ok,
        last_check_message=connection.last_check_message,
    )


@dataclass(frozen=True)
class RotationReport:
    rotated: int
    already_current: int
    unreadable: list[int]


@transaction.atomic
def connection_secrets_rotate() -> RotationReport:
    """Re-encrypts every secret not yet under the first key. Idempotent: a second run
    finds them all current and rewrites nothing."""
    rotated, current, unreadable = 0, 0, []
    rows = (
        Connection.objects.select_for_update()
        .exclude(secret_encrypted="")
        .order_by("pk")
        .values_list("pk", "secret_encrypted")
    )
    for pk, token in rows:
        if crypto.is_current(token):
            current += 1
            continue
        try:
            Connection.objects.filter(pk=pk).update(secret_encrypted=crypto.rotate(token))
        except crypto.InvalidToken:
            unreadable.append(pk)
        else:
            rotated += 1
    return RotationReport(rotated=rotated, already_current=current, unreadable=unreadable)
