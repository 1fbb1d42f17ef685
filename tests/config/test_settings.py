"""Settings are read once per process, so these start a fresh interpreter per case."""

import os
import secrets
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from itertools import count
from pathlib import Path

import pytest
from cryptography.fernet import Fernet

from config.local_secrets import read_or_create

ROOT = Path(__file__).resolve().parents[2]
SECRET = secrets.token_urlsafe(50)


def clean_env(data_dir, **env) -> dict:
    """The environment of a fresh process with the defaults, but for ``env``."""
    # The browser fixture sets DJANGO_ALLOW_ASYNC_UNSAFE, which the deploy check rejects.
    ours = ("TURNBOX_", "SECRET_KEY", "DJANGO_", "DATABASE_URL")
    clean = {k: v for k, v in os.environ.items() if not k.startswith(ours)}
    clean.update({"TURNBOX_DATA_DIR": str(data_dir), "DJANGO_SETTINGS_MODULE": "config.settings"})
    return {**clean, **env}


def run_manage(tmp_path, *args, **env) -> subprocess.CompletedProcess:
    clean = clean_env(tmp_path, **env)
    return subprocess.run(
        [sys.executable, "manage.py", *args], cwd=ROOT, env=clean, capture_output=True, text=True
    )


def production_env(tmp_path) -> dict:
    key_file = tmp_path / "secret_key.txt"
    key_file.write_text(SECRET + "\n")
    return {
        "SECRET_KEY_FILE": str(key_file),
        "TURNBOX_ENCRYPTION_KEYS": Fernet.generate_key().decode(),
        "TURNBOX_HTTPS": "true",
        "ALLOWED_HOSTS": "turnbox.example.com",
    }


def test_production_settings_pass_the_deploy_check_without_warnings(tmp_path):
    result = run_manage(
        tmp_path, "check", "--deploy", "--fail-level", "WARNING", **production_env(tmp_path)
    )
    assert result.returncode == 0, result.stderr
    assert "no issues" in result.stdout


def test_the_deploy_check_warns_when_secrets_are_generated(tmp_path):
    env = production_env(tmp_path)
    del env["SECRET_KEY_FILE"], env["TURNBOX_ENCRYPTION_KEYS"]
    result = run_manage(tmp_path, "check", "--deploy", **env)
    assert "turnbox.W001" in result.stderr and "turnbox.W002" in result.stderr
    assert (tmp_path / "secret_key").stat().st_mode & 0o777 == 0o600


def test_a_secret_read_from_a_file_loses_its_trailing_newline(tmp_path):
    result = run_manage(
        tmp_path,
        "shell",
        "-c",
        "from django.conf import settings; print(repr(settings.SECRET_KEY))",
        **production_env(tmp_path),
    )
    assert result.stdout.strip().splitlines()[-1] == repr(SECRET)


def test_a_generated_secret_is_kept_across_starts(tmp_path):
    first = read_or_create(tmp_path / "s", lambda: "one")
    second = read_or_create(tmp_path / "s", lambda: "two")
    assert first == second == "one"


def test_an_unknown_drive_backend_is_a_clear_error(tmp_path):
    result = run_manage(tmp_path, "check", TURNBOX_DRIVE_BACKEND="ftp")
    assert result.returncode != 0
    assert "TURNBOX_DRIVE_BACKEND must be 'local' or 's3', not 'ftp'." in result.stderr


@pytest.mark.parametrize(
    "name",
    [
        "TURNBOX_TURN_MAX_SECONDS",
        "TURNBOX_TURN_MAX_TOOL_CALLS",
        "TURNBOX_MAX_RUNNING_TURNS_PER_USER",
    ],
)
def test_a_turn_bound_below_one_is_a_clear_error(tmp_path, name):
    result = run_manage(tmp_path, "check", **{name: "0"})
    assert result.returncode != 0
    assert f"{name} must be 1 or more, not 0." in result.stderr


@pytest.mark.parametrize("name", ["TURNBOX_SANDBOX_RUNTIME", "TURNBOX_SANDBOX_NETWORK_RUNTIME"])
def test_a_runtime_other_than_runc_or_runsc_is_a_clear_error(tmp_path, name):
    result = run_manage(tmp_path, "check", **{name: "runsc-kvm"})
    assert result.returncode != 0
    assert f"{name} must be 'runc' or 'runsc', not 'runsc-kvm'." in result.stderr


def test_a_refused_network_that_is_not_one_is_a_clear_error(tmp_path):
    result = run_manage(tmp_path, "check", TURNBOX_EGRESS_REFUSE="203.0.113.0/24,intranet")
    assert result.returncode != 0
    assert "TURNBOX_EGRESS_REFUSE: 'intranet' is not a network such as 203.0.113.0/24." in (
        result.stderr
    )


def test_the_celery_turn_runner_without_redis_is_a_clear_error(tmp_path):
    result = run_manage(
        tmp_path,
        "check",
        REDIS_URL="",
        CELERY_BROKER_URL="amqp://broker.example",
    )
    assert result.returncode != 0
    assert "(TURNBOX_TURN_RUNNER=celery, the default when CELERY_BROKER_URL is set)" in (
        result.stderr
    )
    assert "Set REDIS_URL, or TURNBOX_TURN_RUNNER=inprocess." in result.stderr


def test_the_celery_turn_runner_with_redis_passes_the_check(tmp_path):
    result = run_manage(
        tmp_path, "check", TURNBOX_TURN_RUNNER="celery", REDIS_URL="redis://127.0.0.1:1/0"
    )
    assert result.returncode == 0, result.stderr


def test_concurrent_starts_agree_on_one_generated_secret(tmp_path):
    numbers = count()
    with ThreadPoolExecutor(8) as pool:
        values = set(
            pool.map(
                lambda _: read_or_create(tmp_path / "k", lambda: f"v{next(numbers)}"), range(32)
            )
        )
    assert len(values) == 1 and values.pop().startswith("v")
    assert (tmp_path / "k").stat().st_mode & 0o777 == 0o600
    assert [p.name for p in tmp_path.iterdir()] == ["k"]


def test_an_empty_secret_file_left_by_a_crash_is_an_error_not_an_empty_key(tmp_path):
    (tmp_path / "k").write_text("\n")
    with pytest.raises(RuntimeError, match="is empty"):
        read_or_create(tmp_path / "k", lambda: "never used")
