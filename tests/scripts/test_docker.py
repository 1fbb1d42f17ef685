"""scripts/docker.sh: what ensure_docker installs, starts or says on each kind of machine."""

from collections.abc import Iterator

import pytest

from tests.scripts.machine import STANDINS, Machine

REMOTE = "tcp://sandbox-host.example:2376"
# A docker command-line client alone, as some machines ship it.
DOCKER_CLIENT = STANDINS["docker"]


@pytest.fixture
def machine(tmp_path) -> Iterator[Machine]:
    made = Machine(tmp_path)
    yield made
    made.stop()


@pytest.fixture
def user_machine(tmp_path) -> Iterator[Machine]:
    made = Machine(tmp_path, root=False)
    yield made
    made.stop()


def ensure(machine: Machine, **env: str):
    return machine.run(["docker.sh"], "ensure_docker", **env)


def test_it_installs_the_engine_when_only_a_client_is_here(machine):
    machine.add("bin/docker", DOCKER_CLIENT)

    result = ensure(machine)

    assert result.code == 0, result.out
    assert "docker.io" in result.installed
    assert result.ran("dockerd --pidfile")
    runtimes = machine.config()["runtimes"]
    assert runtimes["runsc"]["runtimeArgs"] == ["--network=none"]
    assert runtimes["runsc-net"]["runtimeArgs"] == ["--network=sandbox"]
    assert {"runsc", "debootstrap"} <= set(result.installed)


def test_it_starts_an_installed_engine_without_installing_anything(machine):
    for package in ("docker.io", "runsc", "debootstrap"):
        machine.install(package)

    result = ensure(machine)

    assert result.code == 0, result.out
    assert result.installed == []
    assert result.ran(f"dockerd --pidfile {machine.pidfile} --config-file {machine.config_file}")
    assert len([call for call in result.calls if call.startswith("dockerd")]) == 1


def test_it_starts_dockerd_without_a_configuration_file_when_nothing_is_registered(machine):
    machine.install("docker.io")
    machine.install("debootstrap")
    # A package archive without runsc: apt-get "succeeds" and nothing arrives.
    (machine.dir / "packages" / "runsc" / "bin" / "runsc").unlink()

    result = ensure(machine)

    # Nothing to register, and dockerd refuses a --config-file that does not exist.
    assert result.code == 0, result.out
    assert result.installed == ["runsc"]
    assert f"dockerd --pidfile {machine.pidfile}" in result.calls
    assert "gVisor sandboxes are unavailable" in result.out


def test_it_registers_runsc_with_a_running_engine(machine):
    machine.install("docker.io")
    machine.install("debootstrap")
    machine.start_dockerd()

    result = ensure(machine)

    assert result.code == 0, result.out
    assert result.installed == ["runsc"]
    assert "dockerd reloaded" in result.calls
    assert machine.config()["runtimes"]["runsc"]["path"].endswith("/bin/runsc")
    # The engine that ran is reloaded, not started again.
    assert [call for call in result.calls if call.startswith("dockerd --")] == [
        f"dockerd --pidfile {machine.pidfile}"
    ]


def test_it_keeps_the_engines_other_settings_when_registering_runsc(machine):
    for package in ("docker.io", "runsc", "debootstrap"):
        machine.install(package)
    machine.config_file.write_text('{"log-level": "warn", "runtimes": {"kata": {"path": "k"}}}')
    machine.start_dockerd()

    result = ensure(machine)

    assert result.code == 0, result.out
    config = machine.config()
    assert config["log-level"] == "warn"
    assert set(config["runtimes"]) == {"kata", "runsc", "runsc-net"}


def test_it_does_nothing_when_the_engine_answers_with_runsc(machine):
    for package in ("docker.io", "runsc", "debootstrap"):
        machine.install(package)
    machine.engine_up(runtimes=("runsc", "runsc-net"))

    result = ensure(machine)

    assert result.code == 0, result.out
    assert result.installed == []
    assert not result.ran("dockerd")
    assert not machine.config_file.exists()


def test_it_uses_a_remote_engine_as_it_is(machine):
    machine.add("bin/docker", DOCKER_CLIENT)
    machine.install("debootstrap")
    machine.engine_up()

    result = ensure(machine, DOCKER_HOST=REMOTE)

    assert result.code == 0, result.out
    assert "docker.io" not in result.installed
    assert "runsc" not in result.installed
    assert not result.ran("dockerd")
    assert not machine.config_file.exists()
    assert "no runsc runtime: gVisor sandboxes are unavailable" in result.out


def test_it_names_the_remote_engine_that_does_not_answer(machine):
    machine.add("bin/docker", DOCKER_CLIENT)

    result = ensure(machine, DOCKER_HOST=REMOTE)

    assert result.code == 1
    assert f"Docker at {REMOTE} does not answer" in result.out
    assert result.installed == []
    assert not result.ran("dockerd")


def test_it_installs_the_offline_build_tool_for_a_remote_engine_too(machine):
    machine.add("bin/docker", DOCKER_CLIENT)
    machine.engine_up(runtimes=("runsc",))

    result = ensure(machine, DOCKER_HOST=REMOTE)

    assert result.code == 0, result.out
    assert result.installed == ["debootstrap"]


def test_it_says_what_to_install_when_not_root(user_machine):
    user_machine.add("bin/docker", DOCKER_CLIENT)

    result = ensure(user_machine)

    assert result.code == 1
    assert "apt-get install docker.io" in result.out
    assert not result.ran("apt-get")
    assert not result.ran("dockerd")


def test_it_says_to_start_an_installed_engine_when_not_root(user_machine):
    user_machine.install("docker.io")

    result = ensure(user_machine)

    assert result.code == 1
    assert "installed but not running" in result.out
    assert not result.ran("apt-get")
    assert not result.ran("dockerd")


def test_it_notes_a_missing_runsc_without_installing_it_when_not_root(user_machine):
    user_machine.install("docker.io")
    user_machine.engine_up()

    result = ensure(user_machine)

    assert result.code == 0, result.out
    assert not result.ran("apt-get")
    assert "gVisor sandboxes are unavailable" in result.out


def test_it_says_so_when_apt_brings_no_engine(machine):
    machine.add("bin/docker", DOCKER_CLIENT)
    # A package archive without docker.io: apt-get "succeeds" and nothing arrives.
    (machine.dir / "packages" / "docker.io" / "bin" / "dockerd").unlink()

    result = ensure(machine)

    assert result.code == 1
    assert "did not bring dockerd" in result.out


def test_it_shows_the_engines_log_when_dockerd_dies_at_start(machine):
    machine.install("docker.io")
    machine.install("runsc")
    machine.add("bin/dockerd", 'echo "failed to start daemon: no iptables" >&2; exit 1')

    result = ensure(machine)

    assert result.code == 1
    assert "no iptables" in result.out
    assert "dockerd did not answer" in result.out


def test_it_adds_gvisor_with_a_network_to_an_engine_that_has_runsc_alone(machine):
    for package in ("docker.io", "runsc", "debootstrap"):
        machine.install(package)
    machine.config_file.write_text(
        '{"runtimes": {"runsc": {"path": "/usr/bin/runsc", "runtimeArgs": ["--network=none"]}}}'
    )
    machine.start_dockerd()

    result = ensure(machine, TURNBOX_RUNSC_NETWORK="host")

    assert result.code == 0, result.out
    assert "dockerd reloaded" in result.calls
    runtimes = machine.config()["runtimes"]
    assert runtimes["runsc"] == {"path": "/usr/bin/runsc", "runtimeArgs": ["--network=none"]}
    assert runtimes["runsc-net"]["runtimeArgs"] == ["--network=host"]


def test_it_notes_a_remote_engine_whose_gvisor_has_no_network(machine):
    machine.add("bin/docker", DOCKER_CLIENT)
    machine.install("debootstrap")
    machine.engine_up(runtimes=("runsc",))

    result = ensure(machine, DOCKER_HOST=REMOTE)

    assert result.code == 0, result.out
    assert "no runsc-net runtime: gVisor sandboxes have no network" in result.out
    assert not machine.config_file.exists()
