"""Files in and out of a sandbox, against a real Docker engine.

The code in the sandbox is treated as hostile: it plants links, FIFOs and folders where
a transfer expects files, and the transfers must neither follow nor copy them. The
copies here check file types as every caller does, with the Drive's rules."""

import hashlib
import io
import re
import tarfile

import pytest
from django.conf import settings

from drive import rules
from sandbox import archive as docker_archive
from sandbox import transfer
from sandbox.session import open_session, run_to_end
from sandbox.transfer import TransferError, sandbox_path_of

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("sandbox_image")]

CSV = b"region,sales\nnorth,10\nsouth,20\n"
ELF = b"\x7fELF\x02\x01\x01\x00" + b"\x00" * 120


@pytest.fixture
def session(team):
    with open_session(workspace=team.workspace, purpose="test") as session:
        yield session


def shell(session, command: str) -> str:
    """Runs a command in the sandbox as its code would; returns what it printed."""
    printed = []
    status = run_to_end(
        session.shell(command),
        on_event=lambda e: printed.append(e["text"]) if e["type"] == "stdout" else None,
    )
    assert status["status"] == "ok", status
    return "".join(printed)


def owners(session, *paths: str) -> list[str]:
    """uid, gid and permissions of each path, from Python: coreutils' statx call fails
    under older gVisor releases."""
    script = (
        "import os, sys\n"
        "for p in sys.argv[1:]:\n"
        "    s = os.stat(p)\n"
        "    print(p, s.st_uid, s.st_gid, oct(s.st_mode & 0o777)[2:])"
    )
    return shell(session, f"python -c '{script}' {' '.join(paths)}").splitlines()


def refusal(call, **kwargs) -> str:
    with pytest.raises(TransferError) as caught:
        call(**kwargs)
    return str(caught.value)


def copy_in(*args, **kwargs) -> str:
    limit = settings.DRIVE_MAX_FILE_BYTES
    return transfer.copy_in(*args, limit=limit, check=rules.check_file_type, **kwargs)


def copy_out(*args, **kwargs) -> tuple[str, bytes]:
    return transfer.copy_out(*args, check=rules.check_file_type, **kwargs)


def test_binary_content_survives_both_ways_and_new_folders_belong_to_the_code(session):
    data = hashlib.sha256(b"seed").digest() * (3 * 1024 * 1024 // 32)  # 3 MiB, no zeros
    container = session.sandbox.container
    path = copy_in(
        container, sandbox_path="/workspace/in/deep/noise.png", data=data, size=len(data)
    )
    made = owners(session, "in", "in/deep", "in/deep/noise.png")
    name, back = copy_out(container, sandbox_path="in/./deep//noise.png", limit=len(data))
    assert path == "/workspace/in/deep/noise.png"
    assert made == [
        "in 1000 1000 755",
        "in/deep 1000 1000 755",
        "in/deep/noise.png 1000 1000 644",
    ]
    assert (name, hashlib.sha256(back).digest()) == ("noise.png", hashlib.sha256(data).digest())


def test_copying_in_keeps_an_existing_folders_permissions_and_replaces_a_file(session):
    shell(session, "mkdir private && chmod 700 private && echo old > private/a.csv")
    copy_in(session.sandbox.container, sandbox_path="private/a.csv", data=CSV, size=len(CSV))
    assert owners(session, "private") == ["private 1000 1000 700"]
    assert shell(session, "cat private/a.csv") == CSV.decode()


def test_a_file_like_source_that_cannot_seek_is_measured_first(session):
    class Pipe(io.RawIOBase):
        def __init__(self, data: bytes):
            self._data = io.BytesIO(data)

        def readable(self) -> bool:
            return True

        def readinto(self, buffer) -> int:
            chunk = self._data.read(len(buffer))
            buffer[: len(chunk)] = chunk
            return len(chunk)

    container = session.sandbox.container
    copy_in(container, sandbox_path="piped.csv", data=Pipe(CSV), size=len(CSV))
    short = refusal(copy_in, container=container, sandbox_path="short.csv", data=Pipe(CSV), size=99)
    assert shell(session, "cat piped.csv; ls") == CSV.decode() + "piped.csv\n"
    assert f"has {len(CSV)} bytes, not the 99 expected" in short


def test_reading_out_stops_once_the_stream_passes_its_cap():
    chunks = iter([b"a" * 600, b"b" * 600])
    reader = docker_archive.BoundedReader(chunks, 1000, TransferError("grew"))
    assert reader.read(500) == b"a" * 500
    with pytest.raises(TransferError, match="grew"):
        reader.read(1000)


def test_docker_itself_refuses_a_folder_that_became_a_link_after_the_check(session):
    # The moment between looking at a folder and writing through it: the code could swap
    # the folder for a link right then. The directory member makes Docker stop.
    shell(session, "mkdir real && ln -s /etc swapped")
    container = session.sandbox.container
    members = [docker_archive.tar_member("/workspace/swapped", mode=0o755)]
    members.append(docker_archive.tar_member("/workspace/swapped/x.csv", size=len(CSV)))
    chunks = docker_archive.tar_chunks(members, CSV, io.BytesIO(), len(CSV))
    message = refusal(
        docker_archive.archive_put,
        container=container,
        path="/workspace/swapped/x.csv",
        chunks=chunks,
    )
    assert "changed while copying" in message
    assert written_outside_the_workspace(container) == []


def test_folders_are_refused_both_ways(session):
    shell(session, "mkdir results.csv && echo 1 > plain.csv")
    container = session.sandbox.container
    out = refusal(copy_out, container=container, sandbox_path="results.csv", limit=10**6)
    into = refusal(
        copy_in, container=container, sandbox_path="results.csv", data=CSV, size=len(CSV)
    )
    under_a_file = refusal(copy_out, container=container, sandbox_path="plain.csv/x.csv", limit=10)
    assert out == "/workspace/results.csv is a folder; copy the files in it one at a time."
    assert into == "/workspace/results.csv is a folder in the sandbox; choose a file path."
    assert under_a_file == "/workspace/plain.csv is a file, not a folder."
    assert shell(session, "ls -A results.csv") == ""


def test_pipes_and_missing_files_are_refused_and_links_are_replaced_not_followed(session):
    shell(session, "mkfifo pipe.csv && echo kept > real.csv && ln -s real.csv link.csv")
    container = session.sandbox.container
    pipe = refusal(copy_out, container=container, sandbox_path="pipe.csv", limit=10**6)
    missing = refusal(copy_out, container=container, sandbox_path="gone/x.csv", limit=10**6)
    copy_in(container, sandbox_path="link.csv", data=CSV, size=len(CSV))
    assert pipe == "/workspace/pipe.csv is a named pipe (FIFO); only regular files can be copied."
    assert missing == "no such file in the sandbox: /workspace/gone/x.csv"
    assert (
        shell(session, "cat real.csv; test -L link.csv || cat link.csv") == "kept\n" + CSV.decode()
    )


@pytest.mark.parametrize(
    ("raw", "normalized"),
    [
        ("x.csv", "/workspace/x.csv"),
        ("./a//b.csv", "/workspace/a/b.csv"),
        ("/workspace/a/./b.csv", "/workspace/a/b.csv"),
        ("/workspace//x.csv", "/workspace/x.csv"),
    ],
)
def test_sandbox_paths_are_normalized(raw, normalized):
    assert sandbox_path_of(raw) == normalized


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ("../etc/passwd.txt", "“..” is not allowed"),
        ("a/../../x.csv", "“..” is not allowed"),
        ("/workspace/../etc/x.csv", "“..” is not allowed"),
        ("/etc/x.csv", "/etc/x.csv is outside /workspace"),
        ("/workspacex/a.csv", "is outside /workspace"),
        ("/tmp/x.csv", "is outside /workspace"),  # noqa: S108
        ("", "the sandbox path is empty"),
        ("  ", "the sandbox path is empty"),
        ("/workspace", "names a folder"),
        ("/workspace/", "names a folder"),
        ("data/", "names a folder"),
        ("x\x00.csv", "NUL"),
        ("x\n.csv", "control character (U+000A)"),
        ("x\udcff.csv", "not valid Unicode"),
        ("a" * 300 + ".csv", "longer than 255 bytes"),
        ("a/" * 2100 + "x.csv", "longer than 4096 bytes"),
    ],
)
def test_paths_that_leave_the_workspace_are_refused(raw, message):
    with pytest.raises(TransferError, match=re.escape(message)):
        sandbox_path_of(raw)


def test_the_archive_built_for_copy_in_is_well_formed():
    members = [docker_archive.tar_member("/workspace/a", mode=0o755)]
    members.append(docker_archive.tar_member("/workspace/a/b.csv", size=len(CSV)))
    data = b"".join(docker_archive.tar_chunks(members, CSV, io.BytesIO(), len(CSV)))
    with tarfile.open(fileobj=io.BytesIO(data)) as archive:
        names = [(m.name, m.type, m.uid, m.mode) for m in archive.getmembers()]
        content = archive.extractfile("a/b.csv").read()
    assert names == [("a", tarfile.DIRTYPE, 1000, 0o755), ("a/b.csv", tarfile.REGTYPE, 1000, 0o644)]
    assert content == CSV


def written_outside_the_workspace(container) -> list[str]:
    """What the container's own layer holds, the mount point of /workspace aside."""
    # Docker lists a mount point as changed when the image lacks it; ours has it.
    return [c["Path"] for c in container.diff() or [] if c["Path"] != "/workspace"]
