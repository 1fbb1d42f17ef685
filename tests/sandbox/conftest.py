"""Real Docker for the sandbox tests: CI has an engine (the test command starts one), so a
missing engine fails the tests instead of skipping them."""

from collections.abc import Iterator

import docker
import pytest
import requests

from sandbox.builds import image_exists
from sandbox.egress import image as egress_image
from sandbox.image import build_image, configured_image, image_tag


@pytest.fixture(scope="session")
def docker_engine() -> Iterator[docker.DockerClient]:
    try:
        client = docker.from_env()
        client.ping()
    except (docker.errors.DockerException, requests.exceptions.RequestException) as error:
        pytest.fail(f"Docker is not reachable ({error}): run the README's test command.")
    yield client
    client.close()


@pytest.fixture(scope="session")
def sandbox_image(docker_engine) -> str:
    """The image sandboxes run (configured_image()), built once if the engine lacks it."""
    image = configured_image()
    if image == image_tag():
        build_image(client=docker_engine)
    elif not image_exists(docker_engine, image):
        pytest.fail(f"TURNBOX_SANDBOX_IMAGE names {image}, which the Docker engine does not have.")
    return image


@pytest.fixture(scope="session")
def egress_proxy_image(docker_engine) -> str:
    """The egress proxy's image, built once if the engine lacks it (the test command
    builds it before pytest starts)."""
    return egress_image.build_image(client=docker_engine)
