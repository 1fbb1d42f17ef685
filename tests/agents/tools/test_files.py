"""Files between Drive and a sandbox, against a real Docker engine: the Drive's side
of the upload and download tools, its rules holding both ways.

The code in the sandbox is treated as hostile: it plants links, FIFOs and folders where
a transfer expects files, and the transfers must neither follow nor copy them."""

import io

import pytest

from agents.tools import files as transfer
from drive import selectors
from drive.services import drive_file_upload
from sandbox.models import Execution
from sandbox.session import SessionError, open_session
from tests.sandbox.test_transfer import (
    CSV,
    ELF,
    copy_in,
    copy_out,
    owners,
    refusal,
    shell,
    written_outside_the_workspace,
)

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("sandbox_image")]


def store(workspace, path: str, data: bytes):
    return drive_file_upload(workspace=workspace, path=path, content=io.BytesIO(data))


def drive_content(workspace, path: str) -> bytes:
    drive_file = selectors.drive_file_get(workspace=workspace, path=path)
    with selectors.drive_file_open(drive_file=drive_file) as stream:
        return stream.read()


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


# --- Paths -----------------------------------------------------------------------------


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
    # A person in Direct mode is told what to type.
    told = download(how_to_replace=transfer.DIRECT_REPLACE)["message"]
    assert told.endswith("add --replace to the /download line to replace it.")
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
