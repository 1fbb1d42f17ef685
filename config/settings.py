"""Turnbox settings. Every value comes from the environment (README: Configuration).

The defaults are the embedded single-machine mode: SQLite, an in-memory channel
layer, Drive on local disk. Each variable also accepts ``<NAME>_FILE`` pointing at a
file that holds the value (Docker secrets).
"""

import ipaddress
from datetime import timedelta
from pathlib import Path

import environ
from cryptography.fernet import Fernet
from django.core.exceptions import ImproperlyConfigured
from django.core.management.utils import get_random_secret_key

from config.datadir import FILE_MODE, FOLDER_MODE, private_file, private_folder
from config.local_secrets import read_or_create
from config.storages import local_drive, s3_drive

BASE_DIR = Path(__file__).resolve().parent.parent
env = environ.FileAwareEnv()

DATA_DIR = private_folder(Path(env.str("TURNBOX_DATA_DIR", default=str(BASE_DIR / "var"))))
DEBUG = env.bool("DEBUG", default=False)

# Values read from <NAME>_FILE keep the file's trailing newline; strip it.
_secret_key = env.str("SECRET_KEY", default="").strip()
SECRET_KEY_GENERATED = not _secret_key
SECRET_KEY = _secret_key or read_or_create(DATA_DIR / "secret_key", get_random_secret_key)
# Comma-separated Fernet keys; the first encrypts, all decrypt (rotation: README).
_encryption_keys = [k.strip() for k in env.list("TURNBOX_ENCRYPTION_KEYS", default=[])]
ENCRYPTION_KEYS_GENERATED = not any(_encryption_keys)
TURNBOX_ENCRYPTION_KEYS = [k for k in _encryption_keys if k] or [
    read_or_create(DATA_DIR / "encryption_key", lambda: Fernet.generate_key().decode())
]

ALLOWED_HOSTS = env.list("ALLOWED_HOSTS", default=["localhost", "127.0.0.1", "[::1]"])
CSRF_TRUSTED_ORIGINS = env.list("CSRF_TRUSTED_ORIGINS", default=[])

INSTALLED_APPS = [
    "daphne",
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "channels",
    "axes",
    "workspaces",
    "connections",
    "drive",
    "sandbox",
    "skills",
    "billing",
    "agents",
    "portal",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "config.csp.ContentSecurityPolicyMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "workspaces.middleware.PasswordChangeRequiredMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "axes.middleware.AxesMiddleware",
]

ROOT_URLCONF = "config.urls"
WSGI_APPLICATION = "config.wsgi.application"
ASGI_APPLICATION = "config.asgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "workspaces.context_processors.workspace_nav",
            ],
        },
    },
]

DATABASES = {
    "default": env.db("DATABASE_URL", default=f"sqlite:///{DATA_DIR / 'db.sqlite3'}"),
}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    if DATABASES["default"]["NAME"] not in ("", ":memory:"):
        private_file(Path(DATABASES["default"]["NAME"]))
    # IMMEDIATE avoids "database is locked" when two requests upgrade read locks at once.
    # WAL lets readers go on during a write; with it, synchronous=NORMAL syncs at
    # checkpoints instead of every commit (an execution is two commits) and still never
    # corrupts the database: only a power cut can lose the last commits.
    DATABASES["default"].setdefault("OPTIONS", {}).update(
        {
            "transaction_mode": "IMMEDIATE",
            "timeout": 20,
            "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
        }
    )
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_USER_MODEL = "workspaces.User"
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
]
# Password guessing: after this many failures for one email from one address, that
# pair waits. Per pair, so an attacker elsewhere cannot lock a person out.
AXES_FAILURE_LIMIT = env.int("TURNBOX_LOGIN_FAILURE_LIMIT", default=10)
AXES_COOLOFF_TIME = timedelta(minutes=env.int("TURNBOX_LOGIN_COOLOFF_MINUTES", default=15))
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_RESET_ON_SUCCESS = True
AXES_USERNAME_CALLABLE = "workspaces.auth.login_attempt_email"
AXES_CLIENT_IP_CALLABLE = "workspaces.auth.client_address"
AXES_HANDLER = "workspaces.auth.LoginThrottle"
AXES_LOCKOUT_CALLABLE = "workspaces.auth.lockout_response"
# Wider limits over the same window: one address across emails, one email across addresses.
TURNBOX_LOGIN_ADDRESS_FAILURE_LIMIT = env.int("TURNBOX_LOGIN_ADDRESS_FAILURE_LIMIT", default=30)
TURNBOX_LOGIN_EMAIL_FAILURE_LIMIT = env.int("TURNBOX_LOGIN_EMAIL_FAILURE_LIMIT", default=30)
AXES_VERBOSE = False
# Messages can carry a secret shown once (a newly issued PixelML key): keep them in the
# server-side session, not in the default cookie, which is signed but readable.
MESSAGE_STORAGE = "django.contrib.messages.storage.session.SessionStorage"
# Email (invitations, password resets) goes through the operator's SMTP server, named by
# EMAIL_URL: smtp://user:password@host:25, smtp+tls://…:587 (STARTTLS), smtp+ssl://…:465.
# Without it nothing is delivered: messages are written to files in the data folder, the
# pages show invitation links to the admin and say who can claim them (workspaces/mail.py).
TURNBOX_EMAIL_DELIVERS = bool(env.str("EMAIL_URL", default=""))
if TURNBOX_EMAIL_DELIVERS:
    _email = env.email_url("EMAIL_URL")
    globals().update({key: "" if value is None else value for key, value in _email.items()})
else:
    EMAIL_BACKEND = "django.core.mail.backends.filebased.EmailBackend"
    EMAIL_FILE_PATH = str(DATA_DIR / "mail")
DEFAULT_FROM_EMAIL = env.str("DEFAULT_FROM_EMAIL", default="Turnbox <turnbox@localhost>")
EMAIL_TIMEOUT = env.int("EMAIL_TIMEOUT", default=20)
# A password-reset link works this long (Django's default is three days).
PASSWORD_RESET_TIMEOUT = env.int("TURNBOX_PASSWORD_RESET_HOURS", default=2) * 3600
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "home"
LOGOUT_REDIRECT_URL = "login"

LANGUAGE_CODE = "en-us"
TIME_ZONE = env.str("TIME_ZONE", default="UTC")
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = env.path("TURNBOX_STATIC_ROOT", default=DATA_DIR / "static")
STATICFILES_DIRS = [BASE_DIR / "static"]

# Drive: local disk by default, S3 (or any S3-compatible store) by configuration.
DRIVE_BACKEND = env.str("TURNBOX_DRIVE_BACKEND", default="local")
if DRIVE_BACKEND == "s3":
    _drive_storage = s3_drive(
        bucket=env.str("TURNBOX_S3_BUCKET"),
        endpoint_url=env.str("TURNBOX_S3_ENDPOINT_URL", default=None),
        region=env.str("TURNBOX_S3_REGION", default=None),
        access_key=env.str("TURNBOX_S3_ACCESS_KEY_ID", default=None),
        secret_key=env.str("TURNBOX_S3_SECRET_ACCESS_KEY", default=None),
        prefix=env.str("TURNBOX_S3_PREFIX", default="drive"),
    )
elif DRIVE_BACKEND == "local":
    _drive_storage = local_drive(env.str("TURNBOX_DRIVE_DIR", default=str(DATA_DIR / "drive")))
else:
    raise ImproperlyConfigured(
        f"TURNBOX_DRIVE_BACKEND must be 'local' or 's3', not {DRIVE_BACKEND!r}."
    )
STORAGES = {
    "default": _drive_storage,
    "drive": _drive_storage,
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"},
}
# Drive files, their folders and collected static files: the owner's alone.
FILE_UPLOAD_PERMISSIONS = FILE_MODE
FILE_UPLOAD_DIRECTORY_PERMISSIONS = FOLDER_MODE
DRIVE_MAX_FILE_BYTES = env.int("TURNBOX_DRIVE_MAX_FILE_MB", default=100) * 1024 * 1024
# Let connections point at servers on private networks (a local Ollama or vLLM).
TURNBOX_ALLOW_PRIVATE_BASE_URLS = env.bool("TURNBOX_ALLOW_PRIVATE_BASE_URLS", default=False)
# Largest request body: one Drive file plus the form around it (config.limits).
TURNBOX_MAX_REQUEST_BYTES = DRIVE_MAX_FILE_BYTES + 1024 * 1024
# Uploads larger than this go to a temporary file instead of memory.
FILE_UPLOAD_MAX_MEMORY_SIZE = 5 * 1024 * 1024
# Files in one request: a skill folder may hold 100 (skills.bundle.MAX_FILES).
DATA_UPLOAD_MAX_NUMBER_FILES = 100

# Sandboxes: one Docker container per agent turn (sandbox app). Docker itself is found
# the usual way (DOCKER_HOST, DOCKER_TLS_VERIFY, DOCKER_CERT_PATH).
# Empty image: the tag that build_sandbox_image makes from platform/sandbox/.
TURNBOX_SANDBOX_IMAGE = env.str("TURNBOX_SANDBOX_IMAGE", default="")
TURNBOX_SANDBOX_RUNTIME = env.str("TURNBOX_SANDBOX_RUNTIME", default="runc")
# Sessions with a network: empty means TURNBOX_SANDBOX_RUNTIME. gVisor registered with
# --network=none has no network, so with runsc above they are refused unless this says "runc".
TURNBOX_SANDBOX_NETWORK_RUNTIME = env.str("TURNBOX_SANDBOX_NETWORK_RUNTIME", default="")
# Only these two: the isolation checks (gVisor has no network) go by the runtime's name.
for _name, _runtime in (
    ("TURNBOX_SANDBOX_RUNTIME", TURNBOX_SANDBOX_RUNTIME),
    ("TURNBOX_SANDBOX_NETWORK_RUNTIME", TURNBOX_SANDBOX_NETWORK_RUNTIME or "runc"),
):
    if _runtime not in ("runc", "runsc"):
        raise ImproperlyConfigured(f"{_name} must be 'runc' or 'runsc', not {_runtime!r}.")
TURNBOX_SANDBOX_TIMEOUT_SECONDS = env.float("TURNBOX_SANDBOX_TIMEOUT_SECONDS", default=30)
# How long an interrupted execution may take to stop before its kernel is killed.
TURNBOX_SANDBOX_INTERRUPT_GRACE_SECONDS = env.float(
    "TURNBOX_SANDBOX_INTERRUPT_GRACE_SECONDS", default=0.5
)
TURNBOX_SANDBOX_MEMORY_MB = env.int("TURNBOX_SANDBOX_MEMORY_MB", default=512)
TURNBOX_SANDBOX_CPUS = env.float("TURNBOX_SANDBOX_CPUS", default=1)
TURNBOX_SANDBOX_PIDS = env.int("TURNBOX_SANDBOX_PIDS", default=128)
TURNBOX_SANDBOX_DISK_MB = env.int("TURNBOX_SANDBOX_DISK_MB", default=256)
TURNBOX_SANDBOX_TMP_MB = env.int("TURNBOX_SANDBOX_TMP_MB", default=64)
TURNBOX_SANDBOX_MAX_OUTPUT_BYTES = env.int("TURNBOX_SANDBOX_MAX_OUTPUT_KB", default=1024) * 1024
TURNBOX_SANDBOX_POOL_SIZE = env.int("TURNBOX_SANDBOX_POOL_SIZE", default=2)
# Containers older than this are removed by the reaper even when their owner is unknown.
TURNBOX_SANDBOX_MAX_AGE_SECONDS = env.int("TURNBOX_SANDBOX_MAX_AGE_SECONDS", default=3 * 3600)
TURNBOX_SANDBOX_REAP_INTERVAL_SECONDS = env.int(
    "TURNBOX_SANDBOX_REAP_INTERVAL_SECONDS", default=300
)
# Network egress of sandboxes (sandbox/network.py, sandbox/egress/): one Squid proxy
# container per Docker engine; each network-enabled sandbox gets a /29 of its own from
# TURNBOX_EGRESS_SUBNETS, shared with the proxy only.
TURNBOX_EGRESS_PROXY = env.str("TURNBOX_EGRESS_PROXY", default="turnbox-egress")
TURNBOX_EGRESS_SUBNETS = env.str("TURNBOX_EGRESS_SUBNETS", default="10.231.0.0/16")
# Networks refused besides the private, loopback and link-local ones (a company network
# on public addresses); they reach the proxy when it starts.
TURNBOX_EGRESS_REFUSE = env.list("TURNBOX_EGRESS_REFUSE", default=[])
for _network in TURNBOX_EGRESS_REFUSE:
    try:  # the proxy's firewall would refuse to start on it, far from this setting
        ipaddress.ip_network(_network, strict=False)
    except ValueError:
        raise ImproperlyConfigured(
            f"TURNBOX_EGRESS_REFUSE: {_network!r} is not a network such as 203.0.113.0/24."
        ) from None
TURNBOX_EGRESS_FIREWALL = env.bool("TURNBOX_EGRESS_FIREWALL", default=True)
# "auto": the host's CA bundle when the engine is local; "none"; or a path on the engine's host.
TURNBOX_EGRESS_CA_BUNDLE = env.str("TURNBOX_EGRESS_CA_BUNDLE", default="auto")
# Whether workspace admins may choose the open policy (every public address).
TURNBOX_EGRESS_ALLOW_OPEN = env.bool("TURNBOX_EGRESS_ALLOW_OPEN", default=False)
# Network-enabled sandboxes kept ready per process, once the process has opened one.
TURNBOX_EGRESS_POOL_SIZE = env.int("TURNBOX_EGRESS_POOL_SIZE", default=1)

# Channels: Redis when REDIS_URL is set (several Daphne/Celery processes), else in-memory.
REDIS_URL = env.str("REDIS_URL", default="")
if REDIS_URL:
    CHANNEL_LAYERS = {
        "default": {
            "BACKEND": "channels_redis.core.RedisChannelLayer",
            # A socket waits on Redis with a blocking pop of 5 s; redis-py's default read
            # timeout is 5 s too, so a quiet socket raced it and was closed (1011). 15 s
            # gives the pop's answer time to arrive.
            "CONFIG": {"hosts": [{"address": REDIS_URL, "socket_timeout": 15}]},
        }
    }
else:
    CHANNEL_LAYERS = {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}}

CELERY_BROKER_URL = env.str("CELERY_BROKER_URL", default=REDIS_URL or "memory://")
# Without a broker the embedded default runs tasks in-process.
CELERY_TASK_ALWAYS_EAGER = CELERY_BROKER_URL == "memory://"
CELERY_TASK_ACKS_LATE = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
# Celery kills (SIGKILL) a pool child that has not reported ready within this many
# seconds (4 by default): on a loaded host a child still starting its warm pool was
# killed, leaving its sandboxes behind.
CELERY_WORKER_PROC_ALIVE_TIMEOUT = env.float("CELERY_WORKER_PROC_ALIVE_TIMEOUT", default=30.0)
CELERY_TIMEZONE = TIME_ZONE
# Where agent turns run: "inprocess" (an asyncio task in the Daphne process) or
# "celery" (a worker; events reach browsers through the Redis channel layer).
TURNBOX_TURN_RUNNER = env.str(
    "TURNBOX_TURN_RUNNER", default="inprocess" if CELERY_TASK_ALWAYS_EAGER else "celery"
)


def _at_least_one(name: str, default: int) -> int:
    # Zero would refuse every turn or every tool call without saying why.
    value = env.int(name, default=default)
    if value < 1:
        raise ImproperlyConfigured(f"{name} must be 1 or more, not {value}.")
    return value


# Turns one person may have running at once (each can hold a sandbox).
TURNBOX_MAX_RUNNING_TURNS_PER_USER = _at_least_one("TURNBOX_MAX_RUNNING_TURNS_PER_USER", 3)
# Bounds of one turn: its running time, and the tool calls one model reply may ask for.
TURNBOX_TURN_MAX_SECONDS = _at_least_one("TURNBOX_TURN_MAX_SECONDS", 900)
TURNBOX_TURN_MAX_TOOL_CALLS = _at_least_one("TURNBOX_TURN_MAX_TOOL_CALLS", 16)
if TURNBOX_TURN_RUNNER not in ("inprocess", "celery"):
    raise ImproperlyConfigured(
        f"TURNBOX_TURN_RUNNER must be 'inprocess' or 'celery', not {TURNBOX_TURN_RUNNER!r}."
    )
if TURNBOX_TURN_RUNNER == "celery" and not REDIS_URL:
    # Workers would run turns whose events never leave the worker's own memory.
    raise ImproperlyConfigured(
        "Turns run in Celery workers (TURNBOX_TURN_RUNNER=celery, the default when "
        "CELERY_BROKER_URL is set), which needs REDIS_URL: the Redis channel layer is how a "
        "worker's events reach the browsers connected to Daphne. Set REDIS_URL, or "
        "TURNBOX_TURN_RUNNER=inprocess."
    )

# HTTPS: on in production (behind TLS); off for the embedded default on localhost.
HTTPS = env.bool("TURNBOX_HTTPS", default=False)
SESSION_COOKIE_SECURE = HTTPS
CSRF_COOKIE_SECURE = HTTPS
SECURE_SSL_REDIRECT = HTTPS and env.bool("SECURE_SSL_REDIRECT", default=True)
SECURE_HSTS_SECONDS = env.int("SECURE_HSTS_SECONDS", default=31_536_000 if HTTPS else 0)
SECURE_HSTS_INCLUDE_SUBDOMAINS = env.bool("SECURE_HSTS_INCLUDE_SUBDOMAINS", default=HTTPS)
SECURE_HSTS_PRELOAD = env.bool("SECURE_HSTS_PRELOAD", default=HTTPS)
# Behind proxies, the client's address is in X-Forwarded-For (workspaces.auth).
TURNBOX_TRUSTED_PROXIES = 0
if env.bool("TURNBOX_BEHIND_PROXY", default=False):
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    TURNBOX_TRUSTED_PROXIES = env.int("TURNBOX_PROXY_COUNT", default=1)
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
SESSION_COOKIE_HTTPONLY = True
X_FRAME_OPTIONS = "DENY"

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": env.str("LOG_LEVEL", default="INFO")},
}

# The demo logins' password (seed_demo); generated into the data folder when unset.
DEMO_PASSWORD = env.str("TURNBOX_DEMO_PASSWORD", default="")
