"""scripts/compose.sh: Docker Compose for stack-check, installed only when neither the
plugin nor Debian's docker-compose answers."""

import pytest

from tests.scripts.machine import LOG, STANDINS, Machine


@pytest.fixture
def machine(tmp_path) -> Machine:
    return Machine(tmp_path)


def test_it_installs_debians_docker_compose_when_no_compose_answers(machine):
    # A client whose `docker compose` is an unknown command, as on a machine without the plugin.
    machine.add("bin/docker", f'{LOG}\n[ "$1" = compose ] && exit 1\nexit 0')
    package = machine.dir / "packages" / "docker-compose" / "bin"
    package.mkdir(parents=True)
    (package / "docker-compose").write_text(f"#!/bin/sh\n{LOG}\n")
    (package / "docker-compose").chmod(0o755)

    result = machine.run(["compose.sh"], "ensure_compose")

    assert result.code == 0, result.out
    assert result.installed == ["docker-compose"]


def test_it_uses_the_compose_plugin_as_it_is(machine):
    machine.add("bin/docker", STANDINS["docker"])

    result = machine.run(["compose.sh"], "ensure_compose")

    assert result.code == 0, result.out
    assert result.installed == []


def test_it_says_what_to_install_when_not_root(tmp_path):
    user_machine = Machine(tmp_path, root=False)

    result = user_machine.run(["compose.sh"], "ensure_compose")

    assert result.code == 1
    assert "apt-get install docker-compose" in result.out
    assert not result.ran("apt-get")
