import re
from dataclasses import dataclass

from django.core.files import File
from django.core.files.storage import storages
from django.db.models import Count, QuerySet, Sum
from django.http import Http404
from django.shortcuts import get_object_or_404

from drive import rules
from drive.models import DriveFile
from workspaces.models import Workspace


@dataclass(frozen=True)
class Folder:
    name: str
    path: str
    file_count: int
    size: int


@dataclass(frozen=True)
class Crumb:
    name: str
    path: str


@dataclass(frozen=True)
class Listing:
    folder: str
    folders: list[Folder]
    files: list[DriveFile]
    breadcrumbs: list[Crumb]

    @property
    def is_empty(self) -> bool:
        return not self.folders and not self.files


def drive_storage():
    # Looked up per call: tests and deployments swap STORAGES at runtime.
    return storages["drive"]


def files_under(*, workspace: Workspace, prefix: str, rest: str = "") -> QuerySet[DriveFile]:
    """Files whose path starts with ``prefix`` (exactly) and continues like regex ``rest``.

    ``startswith`` alone is case-insensitive on SQLite; the regex is case-sensitive on
    every backend, and ``startswith`` still lets Postgres narrow the scan."""
    return DriveFile.objects.filter(
        workspace=workspace,
        path__startswith=prefix,
        path__regex=f"^{re.escape(prefix)}{rest}",
    )


def drive_listing(*, workspace: Workspace, folder: str) -> Listing:
    folder = rules.normalize_folder(folder)
    files = list(
        files_under(workspace=workspace, prefix=folder, rest="[^/]+$").select_related("uploaded_by")
    )
    files.sort(key=lambda f: _by_name(f.name))
    return Listing(
        folder=folder,
        folders=_subfolders(workspace, folder),
        files=files,
        breadcrumbs=_breadcrumbs(folder),
    )


def _subfolders(workspace: Workspace, folder: str) -> list[Folder]:
    nested = files_under(workspace=workspace, prefix=folder, rest="[^/]+/")
    totals: dict[str, list[int]] = {}
    for path, size in nested.values_list("path", "size"):
        name = path[len(folder) :].split("/", 1)[0]
        count_and_size = totals.setdefault(name, [0, 0])
        count_and_size[0] += 1
        count_and_size[1] += size
    return [
        Folder(name=name, path=f"{folder}{name}/", file_count=count, size=size)
        for name, (count, size) in sorted(totals.items(), key=lambda item: _by_name(item[0]))
    ]


def _breadcrumbs(folder: str) -> list[Crumb]:
    crumbs = [Crumb(name="Drive", path="/")]
    for segment in folder.strip("/").split("/") if folder != "/" else []:
        crumbs.append(Crumb(name=segment, path=f"{crumbs[-1].path}{segment}/"))
    return crumbs


def drive_file_get(*, workspace: Workspace, path: str | None = None, pk: int | None = None):
    """One file of this workspace, by path or primary key; 404 for anything else."""
    if (path is None) == (pk is None):
        raise TypeError("Pass exactly one of path and pk.")
    lookup = {"pk": pk}
    if path is not None:
        try:
            lookup = {"path": rules.normalize_path(path)}
        except rules.PathError:
            raise Http404("No such file.") from None
    return get_object_or_404(
        DriveFile.objects.select_related("uploaded_by"), workspace=workspace, **lookup
    )


def drive_file_exists(*, workspace: Workspace, path: str) -> bool:
    return DriveFile.objects.filter(workspace=workspace, path=path).exists()


def drive_usage(*, workspace: Workspace) -> tuple[int, int]:
    """(number of files, total bytes) of a workspace's Drive."""
    totals = DriveFile.objects.filter(workspace=workspace).aggregate(
        count=Count("pk"), size=Sum("size")
    )
    return totals["count"], totals["size"] or 0


def drive_file_open(*, drive_file: DriveFile) -> File:
    """The stored content, opened for binary reading; the caller closes it."""
    return drive_storage().open(drive_file.blob_name, "rb")


def _by_name(name: str) -> tuple[str, str]:
    # Case-insensitive like a file manager, with a fixed order between "Data" and "data".
    return name.casefold(), name
