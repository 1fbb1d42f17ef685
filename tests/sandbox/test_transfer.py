"""Files between Drive and a sandbox, against a real Docker engine.

The code in the sandbox is treated as hostile: it plants links, FIFOs and folders where
a transfer expects files, and the transfers must neither follow nor copy them."""

import hashlib
import io
import re
import tarfile

import pytest

from drive import selectors
from drive.services import drive_file_upload
from sandbox import transfer
from sandbox.models import Execution
from sandbox.session import SessionError, open_session, run_to_end
from sandbox.transfer import TransferError, copy_in, copy_out, sandbox_path_of

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


def store(workspace, path: str, data: bytes):
    return drive_file_upload(workspace=workspace, path=path, content=io.BytesIO(data))


def drive_content(workspace, path: str) -> bytes:
    drive_file = selectors.drive_file_get(workspace=workspace, path=path)
    with selectors.drive_file_open(drive_file=drive_file) as stream:
        return stream.read()


def refusal(call, **kwargs) -> str:
    with pytest.raises(TransferError) as caught:
        call(**kwargs)
    return str(caught.value)


# --- Round trips -----------------------------------------------------------------------


@pytest.mark.parametrize("runtime", ["runc", "runsc"])
def test_a_drive_file_goes_in_and_a_result_comes_back(team, runtime):
    store(team.workspace, "/data/q4.csv", CSV)
    with open_session(workspace=team.workspace, purpose="test", runtime=runtime) as session:
        uploaded = transfer.upload_to_session(
            session, workspace=team.workspace, drive_path="/data/q4.csv"
        )
        seen = shell(session, "cat /workspace/q4.csv")
        owner = owners(session, "q4.csv")
        shell(session, "mkdir -p out && sed 's/10/11/' q4.csv > out/fixed.csv")
        downloaded = transfer.download_from_session(
            session,
            workspace=team.workspace,
            sandbox_path="out/fixed.csv",
            drive_path="/reports/",
            user=team.member,
        )
    assert uploaded["type"] == "status" and uploaded["status"] == "ok", uploaded
    assert (uploaded["path"], uploaded["size"]) == ("/workspace/q4.csv", len(CSV))
    assert (seen, owner) == (CSV.decode(), ["q4.csv 1000 1000 644"])
    assert downloaded["status"] == "ok", downloaded
    assert (downloaded["path"], downloaded["size"]) == ("/reports/fixed.csv", len(CSV))
    assert drive_content(team.workspace, "/reports/fixed.csv") == CSV.replace(b"10", b"11")
    fixed = selectors.drive_file_get(workspace=team.workspace, path="/reports/fixed.csv")
    assert fixed.uploaded_by == team.member


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


# --- Drive rules -----------------------------------------------------------------------


def test_executables_are_refused_both_ways(session):
    container = session.sandbox.container
    by_name = refusal(copy_in, container=container, sandbox_path="tool.exe", data=b"x", size=1)
    by_content = refusal(
        copy_in, container=container, sandbox_path="a.csv", data=ELF, size=len(ELF)
    )
    shell(session, "cp /bin/true disguised.csv && cp /bin/true tool.exe")
    out_by_content = transfer.download_from_session(
        session,
        workspace=session.record.workspace,
        sandbox_path="disguised.csv",
        drive_path="/x.csv",
    )
    out_by_name = refusal(copy_out, container=container, sandbox_path="tool.exe", limit=10**8)
    assert "“.exe” files are executables" in by_name
    assert "the content looks like an executable" in by_content
    assert shell(session, "ls") == "disguised.csv\ntool.exe\n"  # nothing was written
    assert out_by_content["status"] == "error"
    assert "the content looks like an executable" in out_by_content["message"]
    assert "“.exe” files are executables" in out_by_name


def test_the_size_limit_holds_both_ways(session, team, settings):
    store(team.workspace, "/big.csv", b"a" * 2000)
    settings.DRIVE_MAX_FILE_BYTES = 1000
    shell(session, "head -c 1000 /dev/zero | tr '\\0' a > fits.txt")
    shell(session, "head -c 5000 /dev/zero | tr '\\0' a > big.txt")
    uploaded = transfer.upload_to_session(session, workspace=team.workspace, drive_path="/big.csv")
    too_big = transfer.download_from_session(
        session, workspace=team.workspace, sandbox_path="big.txt", drive_path="/big.txt"
    )
    fits = transfer.download_from_session(
        session, workspace=team.workspace, sandbox_path="fits.txt", drive_path="/fits.txt"
    )
    assert uploaded["status"] == "error"
    assert uploaded["message"] == "/workspace/big.csv is 1.95 KB; the limit is 1000 bytes."
    assert shell(session, "ls") == "big.txt\nfits.txt\n"
    assert too_big["status"] == "error"
    assert too_big["message"] == "/workspace/big.txt is 4.88 KB; the limit is 1000 bytes."
    assert not selectors.drive_file_exists(workspace=team.workspace, path="/big.txt")
    assert fits["status"] == "ok" and fits["size"] == 1000


def test_reading_out_stops_once_the_stream_passes_its_cap():
    chunks = iter([b"a" * 600, b"b" * 600])
    reader = transfer._BoundedReader(chunks, 1000, TransferError("grew"))
    assert reader.read(500) == b"a" * 500
    with pytest.raises(TransferError, match="grew"):
        reader.read(1000)


# --- Links, folders, pipes -------------------------------------------------------------


def test_a_link_to_etc_passwd_is_not_copied_out(session, team):
    shell(session, "ln -s /etc/passwd users.txt && ln -s /etc etc && ln -s ../../etc up")
    container = session.sandbox.container
    status = transfer.download_from_session(
        session, workspace=team.workspace, sandbox_path="users.txt", drive_path="/users.txt"
    )
    through_folder = refusal(copy_out, container=container, sandbox_path="etc/x.txt", limit=10**6)
    relative = refusal(copy_out, container=container, sandbox_path="up/x.txt", limit=10**6)
    assert status["status"] == "error"
    assert status["message"] == (
        "/workspace/users.txt is a symbolic link (to /etc/passwd); copy the file itself."
    )
    assert not selectors.drive_file_exists(workspace=team.workspace, path="/users.txt")
    assert through_folder == (
        "/workspace/etc is a symbolic link (to /etc); files are copied only through real folders."
    )
    # Docker reports where a relative link leads, not what it says.
    assert relative.startswith("/workspace/up is a symbolic link (to /etc)")


@pytest.mark.parametrize("target", ["/etc", "/tmp", "../../etc"])  # noqa: S108
def test_a_linked_folder_is_not_followed_on_copy_in(session, team, target):
    store(team.workspace, "/q4.csv", CSV)
    shell(session, f"ln -s {target} out")
    status = transfer.upload_to_session(
        session, workspace=team.workspace, drive_path="/q4.csv", sandbox_path="out/q4.csv"
    )
    assert status["status"] == "error"
    assert status["message"].startswith("/workspace/out is a symbolic link")
    # Docker would have written into the container's own layer: nothing changed there.
    assert written_outside_the_workspace(session.sandbox.container) == []
    assert shell(session, "ls -A /tmp /etc | grep -c q4.csv || true") == "0\n"


def test_docker_itself_refuses_a_folder_that_became_a_link_after_the_check(session):
    # The moment between looking at a folder and writing through it: the code could swap
    # the folder for a link right then. The directory member makes Docker stop.
    shell(session, "mkdir real && ln -s /etc swapped")
    container = session.sandbox.container
    members = [transfer._member("/workspace/swapped", mode=0o755)]
    members.append(transfer._member("/workspace/swapped/x.csv", size=len(CSV)))
    chunks = transfer._tar_chunks(members, CSV, io.BytesIO(), len(CSV))
    message = refusal(
        transfer._put, container=container, path="/workspace/swapped/x.csv", chunks=chunks
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


# --- Paths -----------------------------------------------------------------------------


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


def test_bad_paths_come_back_as_error_statuses(session, team):
    store(team.workspace, "/q4.csv", CSV)
    uploaded = transfer.upload_to_session(
        session, workspace=team.workspace, drive_path="/q4.csv", sandbox_path="../q4.csv"
    )
    downloaded = transfer.download_from_session(
        session, workspace=team.workspace, sandbox_path="/etc/passwd", drive_path="/p.txt"
    )
    assert (uploaded["status"], downloaded["status"]) == ("error", "error")
    assert uploaded["message"] == "“..” is not allowed in a sandbox path (../q4.csv)."
    assert downloaded["message"].startswith("/etc/passwd is outside /workspace")


# --- Drive side --------------------------------------------------------------------------


def test_a_download_replaces_a_drive_file_only_when_asked(session, team):
    store(team.workspace, "/out/r.csv", b"old\n")
    shell(session, "echo new > r.csv")

    def download(**options):
        return transfer.download_from_session(
            session,
            workspace=team.workspace,
            sandbox_path="r.csv",
            drive_path="/out/r.csv",
            **options,
        )

    refused = download()
    kept = drive_content(team.workspace, "/out/r.csv")
    replaced = download(replace=True)
    assert refused["status"] == "error"
    assert refused["message"] == (
        "/out/r.csv: a file already exists at this Drive path; pass replace=true to replace it."
    )
    assert kept == b"old\n"
    assert replaced["status"] == "ok"
    assert drive_content(team.workspace, "/out/r.csv") == b"new\n"


def test_another_workspaces_drive_is_out_of_reach(session, team, other_team):
    store(other_team.workspace, "/secret.csv", CSV)
    status = transfer.upload_to_session(session, workspace=team.workspace, drive_path="/secret.csv")
    assert status["status"] == "error"
    assert status["message"] == "No such file in Drive: /secret.csv"
    assert shell(session, "ls") == ""
    with pytest.raises(SessionError, match="another workspace"):
        transfer.upload_to_session(
            session, workspace=other_team.workspace, drive_path="/secret.csv"
        )


def test_every_transfer_is_recorded_with_its_host_measured_duration(session, team):
    store(team.workspace, "/q4.csv", CSV)
    ok = transfer.upload_to_session(session, workspace=team.workspace, drive_path="/q4.csv")
    refused = transfer.download_from_session(
        session, workspace=team.workspace, sandbox_path="missing.csv", drive_path="/m.csv"
    )
    executions = list(session.record.executions.order_by("started_at", "id"))
    assert [(e.kind, e.status) for e in executions] == [
        (Execution.Kind.UPLOAD, Execution.Status.OK),
        (Execution.Kind.DOWNLOAD, Execution.Status.ERROR),
    ]
    assert [e.source for e in executions] == [
        "/q4.csv -> /workspace/q4.csv",
        "missing.csv -> /m.csv",
    ]
    assert [e.duration_ms for e in executions] == [ok["duration_ms"], refused["duration_ms"]]
    assert all(e.duration_ms is not None and e.ended_at for e in executions)
    assert executions[1].message == "No such file in the sandbox: /workspace/missing.csv"
    assert set(ok) == {"type", "status", "duration_ms", "message", "path", "size"}


def test_a_closed_session_takes_no_transfers(team):
    with open_session(workspace=team.workspace, purpose="test") as session:
        pass
    with pytest.raises(SessionError, match="closed"):
        transfer.upload_to_session(session, workspace=team.workspace, drive_path="/q4.csv")
    assert not session.record.executions.exists()


def test_the_archive_built_for_copy_in_is_well_formed():
    members = [transfer._member("/workspace/a", mode=0o755)]
    members.append(transfer._member("/workspace/a/b.csv", size=len(CSV)))
    data = b"".join(transfer._tar_chunks(members, CSV, io.BytesIO(), len(CSV)))
    with tarfile.open(fileobj=io.BytesIO(data)) as archive:
        names = [(m.name, m.type, m.uid, m.mode) for m in archive.getmembers()]
        content = archive.extractfile("a/b.csv").read()
    assert names == [("a", tarfile.DIRTYPE, 1000, 0o755), ("a/b.csv", tarfile.REGTYPE, 1000, 0o644)]
    assert content == CSV


def written_outside_the_workspace(container) -> list[str]:
    """What the container's own layer holds, the mount point of /workspace aside."""
    # Docker lists a mount point as changed when the image lacks it; ours has it.
    return [c["Path"] for c in container.diff() or [] if c["Path"] != "/workspace"]
