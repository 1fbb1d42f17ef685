"""The stack's images and the compose file that runs them agree: every image the build
names is one the compose file reads, and Debian's docker-compose accepts the file."""

import re
import shutil
import subprocess

import pytest
import yaml

from portal import stack_images
from portal.stack_images import StackImages

COMPOSE = stack_images.ROOT / "platform" / "compose.yaml"
SOCKET_OVERRIDE = stack_images.ROOT / "platform" / "compose.docker-socket.yaml"


def compose_image_defaults() -> dict[str, str]:
    text = COMPOSE.read_text()
    return dict(re.findall(r"image: \$\{(TURNBOX_\w*IMAGE):-([^}]+)\}", text))


def test_the_compose_file_reads_every_image_the_build_names() -> None:
    images = StackImages("w", "p", "r", "n", method="offline")

    assert set(images.env()) == set(compose_image_defaults())


def test_registry_builds_run_the_compose_files_own_defaults() -> None:
    defaults = compose_image_defaults()

    assert defaults["TURNBOX_POSTGRES_IMAGE"] == stack_images.SERVICES["postgres"][0]
    assert defaults["TURNBOX_REDIS_IMAGE"] == stack_images.SERVICES["redis"][0]
    assert defaults["TURNBOX_NGINX_IMAGE"] == stack_images.SERVICES["nginx"][0]


def test_every_offline_service_has_its_recipe() -> None:
    for name in stack_images.SERVICES:
        assert (stack_images.OFFLINE_DIR / f"{name}.Dockerfile").is_file()
        assert stack_images.service_tag(name).startswith(f"{stack_images.SERVICES[name][1]}:")


def test_the_web_base_changes_with_the_lock_file(tmp_path, monkeypatch) -> None:
    before = stack_images.web_base_tag()
    lock = tmp_path / "requirements.lock"
    lock.write_text(stack_images.LOCK.read_text() + "extra==1.0\n")
    monkeypatch.setattr(stack_images, "LOCK", lock)

    assert stack_images.web_base_tag() != before


@pytest.mark.skipif(not shutil.which("docker-compose"), reason="docker-compose is not installed")
def test_docker_compose_1_29_accepts_the_file_with_the_socket_override(tmp_path) -> None:
    (tmp_path / "app.env").write_text("")
    env = {
        "PATH": "/usr/bin:/bin",
        "POSTGRES_PASSWORD": "secret",
        "TURNBOX_ENV_FILE": str(tmp_path / "app.env"),
        "TURNBOX_DOCKER_GID": "999",
        "TURNBOX_IMAGE": "turnbox:checked",
    }
    command = ["docker-compose", "-p", "check", "-f", str(COMPOSE), "-f", str(SOCKET_OVERRIDE)]
    done = subprocess.run(
        [*command, "config"], env=env, capture_output=True, text=True, check=False
    )

    assert done.returncode == 0, done.stderr
    assert "image: turnbox:checked" in done.stdout
    assert "/var/run/docker.sock:/var/run/docker.sock" in done.stdout


def test_what_uses_the_database_and_broker_depends_on_them_directly() -> None:
    # Compose stops dependents first only along depends_on; through migrate (exited by
    # then) the chain is broken, and PostgreSQL and Redis stopped under running workers.
    services = yaml.safe_load(COMPOSE.read_text())["services"]
    for name in ("migrate", "web", "worker"):
        assert {"postgres", "redis"} <= set(services[name]["depends_on"]), name
