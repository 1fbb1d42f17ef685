"""The sandbox image: its tag, the no-op rebuild, the offline recipe's two layers and the
removal of older builds, and what the built image holds."""

import io
import os
import re
import shutil
import time

import pytest
from django.core.management import CommandError, call_command

from sandbox import builds, image
from sandbox.image import base_tag, build_image, configured_image, image_tag

LIBRARIES = [
    "pandas", "numpy", "scipy", "matplotlib", "seaborn", "plotly", "PIL", "pypdf",
    "openpyxl", "sklearn", "statsmodels", "sympy", "reportlab", "xgboost", "ipykernel",
    "requests",
]  # fmt: skip

# Imports the libraries, then names every module it loaded from source without byte code
# (frozen and built-in modules have none to need): the root file system is read-only in a
# sandbox, so those would compile again on every start.
UNCOMPILED = """
import importlib, os, sys
for name in sys.argv[1:]:
    importlib.import_module(name)
from importlib.machinery import SourceFileLoader
specs = [getattr(m, "__spec__", None) for m in list(sys.modules.values())]
print(sorted(
    spec.name for spec in specs
    if spec and isinstance(spec.loader, SourceFileLoader) and not os.path.exists(spec.cached)
))
"""


def run(client, sandbox_image: str, *command: str) -> str:
    # As read-only and offline as a real sandbox, with its writable /tmp.
    output = client.containers.run(
        sandbox_image, list(command), remove=True, network_disabled=True,
        read_only=True, tmpfs={"/tmp": ""},  # noqa: S108
    )  # fmt: skip
    return output.decode().strip()


# -- tag ---------------------------------------------------------------------------------
def test_the_tag_is_a_stable_hash_of_the_image_sources():
    assert re.fullmatch(r"turnbox-sandbox:[0-9a-f]{16}", image_tag())
    assert image_tag() == image_tag()


@pytest.fixture
def sources(tmp_path, monkeypatch):
    """A copy of platform/sandbox/ that the tag is computed from instead."""
    for name in image.SOURCE_FILES:
        shutil.copy(image.SOURCE_DIR / name, tmp_path / name)
    monkeypatch.setattr(image, "SOURCE_DIR", tmp_path)
    return tmp_path


def test_the_tag_follows_the_bridge_contents(sources):
    original = image_tag()
    bridge = sources / "bridge.py"
    text = bridge.read_text()
    bridge.write_text(text + "\n# changed\n")
    changed = image_tag()
    bridge.write_text(text)
    assert changed != original
    assert image_tag() == original


def test_every_source_file_and_the_recipe_version_change_the_tag(sources, monkeypatch):
    original = image_tag()
    for name in image.SOURCE_FILES:
        path = sources / name
        text = path.read_bytes()
        path.write_bytes(text + b"\n")
        assert image_tag() != original, name
        path.write_bytes(text)
    monkeypatch.setattr(image, "RECIPE_VERSION", image.RECIPE_VERSION + 1)
    assert image_tag() != original


def test_the_base_tag_leaves_out_the_bridge(sources, monkeypatch):
    assert re.fullmatch(r"turnbox-sandbox-base:[0-9a-f]{16}", base_tag())
    original = base_tag()
    (sources / "bridge.py").write_text("# another bridge\n")
    assert base_tag() == original
    for name in image.BASE_FILES:
        path = sources / name
        text = path.read_bytes()
        path.write_bytes(text + b"\n")
        assert base_tag() != original, name
        path.write_bytes(text)
    monkeypatch.setattr(image, "RECIPE_VERSION", image.RECIPE_VERSION + 1)
    assert base_tag() != original


def test_the_tag_depends_on_contents_not_on_where_they_are(monkeypatch, tmp_path):
    real = image_tag()
    for name in image.SOURCE_FILES:
        shutil.copy(image.SOURCE_DIR / name, tmp_path / name)
    monkeypatch.setattr(image, "SOURCE_DIR", tmp_path)
    assert image_tag() == real


def test_the_setting_names_another_image(settings):
    settings.TURNBOX_SANDBOX_IMAGE = ""
    assert configured_image() == image_tag()
    settings.TURNBOX_SANDBOX_IMAGE = "registry.example/sandbox:7"
    assert configured_image() == "registry.example/sandbox:7"


def test_the_dockerfile_base_is_pinned_to_a_release():
    pinned = r"python:3\.11\.\d+-slim-bookworm(@sha256:[0-9a-f]{64})?"
    assert re.fullmatch(pinned, image.base_image())


# -- build -------------------------------------------------------------------------------
def test_an_existing_tag_is_not_built_again(docker_engine):
    tag = build_image(client=docker_engine)  # builds once if the engine lacks it
    before = docker_engine.images.get(tag).id
    for client in (docker_engine, None):
        said = []
        started = time.monotonic()
        assert build_image(client=client, method="offline", log=said.append) == tag
        assert time.monotonic() - started < 1
        assert said == []
    assert docker_engine.images.get(tag).id == before


def test_an_unknown_method_is_refused():
    with pytest.raises(ValueError, match="method"):
        build_image(method="magic")


def test_the_command_prints_the_tag(capsys):
    call_command("build_sandbox_image", "--print-tag")
    assert capsys.readouterr().out.strip() == configured_image()


def test_the_command_builds_nothing_when_the_image_exists(sandbox_image, capsys):
    call_command("build_sandbox_image")
    out, err = capsys.readouterr()
    assert out.strip() == sandbox_image
    assert "Building" not in err


def test_the_command_says_when_docker_is_unreachable(monkeypatch, tmp_path):
    monkeypatch.setenv("DOCKER_HOST", f"unix://{tmp_path}/missing.sock")
    with pytest.raises(CommandError, match="Docker is not reachable"):
        call_command("build_sandbox_image")


# -- the offline recipe's two layers, and older builds ----------------------------------
TEST_REPOSITORY = "turnbox-sandbox-test"
TEST_BASE_REPOSITORY = "turnbox-sandbox-test-base"


@pytest.fixture(scope="session")
def offline_base(docker_engine) -> str:
    """The real base layer, built once if the engine lacks it (the image may exist without it,
    built from the Dockerfile or before the recipe had layers)."""
    if not builds.image_exists(docker_engine, base_tag()) and os.geteuid() != 0:
        pytest.skip("the offline recipe needs root to build its base")
    return image.ensure_base(docker_engine)


@pytest.fixture
def own_repositories(docker_engine, offline_base, monkeypatch):
    """Builds go to repositories of the tests' own, so that removing older builds never
    reaches the real ones; the real base is tagged there too, to be built upon. Whatever
    the test tagged is removed afterwards, finals first, then the bases under them."""
    monkeypatch.setattr(image, "REPOSITORY", TEST_REPOSITORY)
    monkeypatch.setattr(image, "BASE_REPOSITORY", TEST_BASE_REPOSITORY)
    real_base = docker_engine.images.get(offline_base)
    yield real_base
    for repository in (TEST_REPOSITORY, TEST_BASE_REPOSITORY):
        for found in docker_engine.images.list(name=repository):
            for tag in found.tags:
                if tag.startswith(f"{repository}:"):
                    docker_engine.images.remove(tag)


def tag_as(found, tag: str) -> None:
    repository, _, name = tag.rpartition(":")
    found.tag(repository, name)


def test_a_bridge_change_builds_only_the_top_layer(docker_engine, own_repositories, sources):
    real_base = own_repositories
    tag_as(real_base, base_tag())
    bridge = sources / "bridge.py"
    bridge.write_text(bridge.read_text() + "\n# changed\n")
    said = []
    tag = build_image(client=docker_engine, method="offline", log=said.append)
    assert tag == image_tag() and tag.startswith(f"{TEST_REPOSITORY}:")
    # The bootstrap was not run: the base came as it was and the new image sits on it.
    assert f"Reusing the base {base_tag()}" in said
    assert not [line for line in said if "Bootstrapping" in line or "Building the base" in line]
    assert docker_engine.images.get(base_tag()).id == real_base.id
    built = docker_engine.images.get(tag)
    assert built.attrs["Parent"] == real_base.id
    assert built.attrs["RootFS"]["Layers"][:-1] == real_base.attrs["RootFS"]["Layers"]
    assert len(built.attrs["RootFS"]["Layers"]) == len(real_base.attrs["RootFS"]["Layers"]) + 1
    # What the base's import set up holds in the final image too.
    assert built.attrs["Config"]["Cmd"] == real_base.attrs["Config"]["Cmd"]
    assert built.attrs["Config"]["User"] == "1000:1000"
    assert run(docker_engine, tag, "cat", image.BRIDGE_PATH) == bridge.read_text().strip()
    listing = run(docker_engine, tag, "stat", "-c", "%U %a", image.BRIDGE_PATH)
    assert listing == "root 644"


def test_force_builds_the_base_again(docker_engine, own_repositories, sources, monkeypatch):
    real_base = own_repositories
    tag_as(real_base, base_tag())
    # A bridge of its own, or Docker's cache would hand back the real image.
    (sources / "bridge.py").write_text("# a bridge for this test\n")
    first = docker_engine.images.get(build_image(client=docker_engine, method="offline"))
    bases = []

    def build_base(client, tag, log):
        # Stands in for the bootstrap, which takes minutes: the same root file system.
        bases.append(tag)
        tag_as(real_base, tag)

    monkeypatch.setattr(image, "_build_base", build_base)
    said = []
    tag = build_image(client=docker_engine, method="offline", force=True, log=said.append)
    assert bases == [base_tag()]
    assert f"Building the base {base_tag()}" in said
    again = docker_engine.images.get(tag)
    assert again.id != first.id
    # The image the tag used to name is gone: nothing but the tag held it.
    assert not builds.image_exists(docker_engine, first.id)


def test_older_builds_go_and_other_tags_stay(docker_engine, own_repositories):
    real_base = own_repositories
    keep = [f"{TEST_REPOSITORY}:{'a' * 16}", f"{TEST_BASE_REPOSITORY}:{'b' * 16}"]
    older = [f"{TEST_REPOSITORY}:{'1' * 16}", f"{TEST_BASE_REPOSITORY}:{'2' * 16}"]
    others = [
        f"{TEST_REPOSITORY}:dev", f"{TEST_REPOSITORY}:dev2", f"{TEST_BASE_REPOSITORY}:proto",
        f"{TEST_REPOSITORY}:{'3' * 15}", f"{TEST_REPOSITORY}:{'4' * 17}",
        f"{TEST_BASE_REPOSITORY}:{'A' * 16}",
    ]  # fmt: skip
    for tag in keep + older + others:
        tag_as(real_base, tag)
    in_use = f"{TEST_BASE_REPOSITORY}:{'5' * 16}"
    container = used_image(docker_engine, keep[1], in_use)
    try:
        said = []
        repositories = (TEST_REPOSITORY, TEST_BASE_REPOSITORY)
        builds.remove_older_builds(
            docker_engine, keep=tuple(keep), log=said.append, repositories=repositories
        )
        assert said == [f"Removed the older build {tag}" for tag in older]
        assert own_tags(docker_engine) == {*keep, *others, in_use}
    finally:
        container.remove()
    assert docker_engine.images.get(real_base.id).id == real_base.id


def used_image(client, base: str, tag: str):
    """A distinct image under tag, its only name, with a container made from it."""
    dockerfile = io.BytesIO(f"FROM {base}\nLABEL turnbox.test=in-use\n".encode())
    client.images.build(fileobj=dockerfile, tag=tag, pull=False, rm=True)
    return client.containers.create(tag, ["true"])


def own_tags(client) -> set[str]:
    repositories = (TEST_REPOSITORY, TEST_BASE_REPOSITORY)
    found = [t for r in repositories for i in client.images.list(name=r) for t in i.tags]
    return {tag for tag in found if tag.rpartition(":")[0] in repositories}


# -- the built image ---------------------------------------------------------------------
def test_the_image_imports_every_promised_library(docker_engine, sandbox_image):
    code = f"import {', '.join(LIBRARIES)}; import sys; print(sys.prefix)"
    assert run(docker_engine, sandbox_image, "python", "-c", code) == "/opt/python"


def test_everything_those_imports_load_is_compiled(docker_engine, sandbox_image):
    output = run(docker_engine, sandbox_image, "python", "-c", UNCOMPILED, *LIBRARIES)
    assert output == "[]"


def test_the_image_runs_as_the_sandbox_user_in_the_workspace(docker_engine, sandbox_image):
    assert run(docker_engine, sandbox_image, "id", "-u", "-n") == "sandbox"
    assert run(docker_engine, sandbox_image, "sh", "-c", "id -u; id -g; pwd; echo $HOME") == (
        "1000\n1000\n/workspace\n/tmp"
    )


def test_the_image_holds_this_bridge_and_its_command_line(docker_engine, sandbox_image):
    bridge = run(docker_engine, sandbox_image, "cat", "/opt/turnbox/bridge.py")
    assert bridge == (image.SOURCE_DIR / "bridge.py").read_text().strip()
    command = ["/usr/bin/tini", "--", "/opt/python/bin/python", "-c", "print('ok')"]
    assert run(docker_engine, sandbox_image, *command) == "ok"
