"""scripts/postgres.sh, scripts/redis.sh and scripts/chromium.sh: each installs the server or
browser the tests use when that very thing is missing, never because of a neighbour."""

import pytest

from tests.scripts.machine import LOG, Machine

PG_START = "start_throwaway_postgres && echo URL=$TURNBOX_TEST_POSTGRES_URL"


@pytest.fixture
def machine(tmp_path) -> Machine:
    return Machine(tmp_path)


@pytest.fixture
def user_machine(tmp_path) -> Machine:
    return Machine(tmp_path, root=False)


def test_it_installs_the_postgresql_server_when_only_a_client_is_here(machine):
    machine.add("bin/psql")

    result = machine.run(["postgres.sh"], PG_START)

    assert result.code == 0, result.out
    assert result.installed == ["postgresql"]
    assert result.ran("runuser -u postgres -- ")
    assert result.ran("initdb -D ")
    assert "URL=postgres://postgres@127.0.0.1:" in result.out


def test_it_does_not_take_initdb_alone_for_a_server(machine):
    # Bare client-side programs on PATH, without the server beside them.
    machine.add("bin/initdb")
    machine.add("bin/pg_ctl")
    machine.add_user("postgres")

    result = machine.run(["postgres.sh"], PG_START)

    assert result.code == 0, result.out
    assert result.installed == ["postgresql"]


def test_it_installs_postgresql_when_root_lacks_the_user_to_run_it(machine):
    for name in ("initdb", "pg_ctl", "postgres"):
        machine.add(f"bin/{name}")

    result = machine.run(["postgres.sh"], PG_START)

    assert result.code == 0, result.out
    assert result.installed == ["postgresql"]


def test_it_uses_an_installed_server_as_it_is(machine):
    machine.install("postgresql")

    result = machine.run(["postgres.sh"], PG_START)

    assert result.code == 0, result.out
    assert result.installed == []


def test_it_says_what_to_install_for_postgresql_when_not_root(user_machine):
    user_machine.add("bin/psql")

    result = user_machine.run(["postgres.sh"], PG_START)

    assert result.code == 1
    assert "apt-get install postgresql" in result.out
    assert "TURNBOX_TEST_POSTGRES_URL" in result.out
    assert not result.ran("apt-get")


def test_it_starts_no_postgresql_for_a_server_of_your_own(user_machine):
    result = user_machine.run(
        ["postgres.sh"], PG_START, TURNBOX_TEST_POSTGRES_URL="postgres://db.example/t"
    )

    assert result.code == 0, result.out
    assert "URL=postgres://db.example/t" in result.out
    assert result.calls == []


def test_it_installs_the_redis_server_when_only_the_client_is_here(machine):
    machine.add("bin/redis-cli")

    result = machine.run(["redis.sh"], "start_throwaway_redis && echo URL=$TURNBOX_TEST_REDIS_URL")

    assert result.code == 0, result.out
    assert result.installed == ["redis-server"]
    assert result.ran("redis-server --bind 127.0.0.1")
    assert "URL=redis://127.0.0.1:" in result.out


def test_it_says_what_to_install_for_redis_when_not_root(user_machine):
    result = user_machine.run(["redis.sh"], "start_throwaway_redis")

    assert result.code == 1
    assert "install it or set TURNBOX_TEST_REDIS_URL" in result.out
    assert not result.ran("apt-get")


def test_it_installs_chromium_when_the_browser_on_path_does_not_start(machine):
    # Ubuntu's chromium-browser can be a stub that only asks for a snap.
    machine.add("bin/chromium-browser", f"{LOG}\necho 'requires the chromium snap' >&2; exit 1")

    result = machine.run(["chromium.sh"], "ensure_chromium && echo BROWSER=$TURNBOX_CHROMIUM")

    assert result.code == 0, result.out
    assert result.installed == ["chromium"]
    assert f"BROWSER={machine.bin}/chromium" in result.out


def test_it_uses_a_chromium_that_starts(machine):
    machine.install("chromium")

    result = machine.run(["chromium.sh"], "ensure_chromium && echo BROWSER=$TURNBOX_CHROMIUM")

    assert result.code == 0, result.out
    assert result.installed == []
    assert f"BROWSER={machine.bin}/chromium" in result.out


def test_it_refuses_a_given_browser_that_does_not_start(machine):
    result = machine.run(
        ["chromium.sh"], "ensure_chromium", TURNBOX_CHROMIUM=str(machine.dir / "nothing-here")
    )

    assert result.code == 1
    assert "does not start" in result.out
    assert not result.ran("apt-get")


def test_it_says_what_to_install_for_chromium_when_not_root(user_machine):
    result = user_machine.run(["chromium.sh"], "ensure_chromium")

    assert result.code == 1
    assert "apt-get install chromium" in result.out
    assert not result.ran("apt-get")


def test_it_makes_a_virtualenv_that_no_longer_runs_anew(machine, tmp_path):
    venv = tmp_path / "venv"
    (venv / "bin").mkdir(parents=True)
    # Its interpreter points at a Python that is gone.
    (venv / "bin" / "python").symlink_to(tmp_path / "gone" / "python3")
    lock = tmp_path / "empty.lock"
    lock.write_text("")

    result = machine.run([], f'ensure_venv "{lock}"', TURNBOX_VENV=str(venv))

    assert result.code == 0, result.out
    assert "does not run: creating it again" in result.out
    assert (venv / "bin" / "python").resolve().exists()
