import pytest
from django.core.files.base import ContentFile
from django.http import Http404

from drive import rules, selectors, services
from drive.selectors import Crumb, Folder


def put(team, path: str, data: bytes = b"x\n"):
    return services.drive_file_upload(
        workspace=team.workspace, path=path, content=ContentFile(data), uploaded_by=team.member
    )


@pytest.fixture
def tree(team):
    for path, data in [
        ("/readme.md", b"hello\n"),
        ("/data/files/q4_sales.csv", b"a" * 10),
        ("/data/files/q3_sales.csv", b"b" * 20),
        ("/data/summary.csv", b"c" * 5),
        ("/data/raw/2024/jan.json", b"d" * 7),
        ("/Data/upper.csv", b"e" * 3),
        ("/database.txt", b"f"),
    ]:
        put(team, path, data)
    return team


def test_listing_shows_immediate_files_and_subfolders_with_totals(tree):
    listing = selectors.drive_listing(workspace=tree.workspace, folder="/data/")

    assert [f.path for f in listing.files] == ["/data/summary.csv"]
    assert listing.folders == [
        Folder(name="files", path="/data/files/", file_count=2, size=30),
        Folder(name="raw", path="/data/raw/", file_count=1, size=7),
    ]
    assert not listing.is_empty


def test_listing_of_the_root(tree):
    listing = selectors.drive_listing(workspace=tree.workspace, folder="/")

    assert [f.name for f in listing.files] == ["database.txt", "readme.md"]
    assert [f.name for f in listing.folders] == ["Data", "data"]
    assert listing.breadcrumbs == [Crumb(name="Drive", path="/")]


def test_listing_matches_folder_names_exactly_and_case_sensitively(tree):
    listing = selectors.drive_listing(workspace=tree.workspace, folder="/Data/")

    assert [f.path for f in listing.files] == ["/Data/upper.csv"]
    assert listing.folders == []


def test_listing_normalizes_the_folder_and_builds_breadcrumbs(tree):
    listing = selectors.drive_listing(workspace=tree.workspace, folder="//data//files")

    assert listing.folder == "/data/files/"
    assert [f.name for f in listing.files] == ["q3_sales.csv", "q4_sales.csv"]
    assert listing.breadcrumbs == [
        Crumb(name="Drive", path="/"),
        Crumb(name="data", path="/data/"),
        Crumb(name="files", path="/data/files/"),
    ]


def test_a_folder_without_files_is_empty(tree):
    assert selectors.drive_listing(workspace=tree.workspace, folder="/nowhere/").is_empty


def test_listing_refuses_invalid_folders(tree):
    with pytest.raises(rules.PathError):
        selectors.drive_listing(workspace=tree.workspace, folder="/data/../etc/")


def test_listing_shows_only_this_workspaces_files(tree, other_team):
    put(other_team, "/data/theirs.csv")

    listing = selectors.drive_listing(workspace=tree.workspace, folder="/data/")

    assert [f.name for f in listing.files] == ["summary.csv"]


def test_usage_counts_files_and_bytes_per_workspace(tree, other_team):
    put(other_team, "/big.txt", b"z" * 1000)

    assert selectors.drive_usage(workspace=tree.workspace) == (7, 6 + 10 + 20 + 5 + 7 + 3 + 1)
    assert selectors.drive_usage(workspace=other_team.workspace) == (1, 1000)


def test_usage_of_an_empty_drive(team):
    assert selectors.drive_usage(workspace=team.workspace) == (0, 0)


def test_get_finds_a_file_by_path_or_pk(tree):
    by_path = selectors.drive_file_get(workspace=tree.workspace, path="//data/summary.csv")

    assert selectors.drive_file_get(workspace=tree.workspace, pk=by_path.pk) == by_path


@pytest.mark.parametrize(
    "lookup", [{"path": "/nope.csv"}, {"path": "/data/../readme.md"}, {"pk": 999_999}]
)
def test_get_raises_404_for_missing_or_invalid_files(tree, lookup):
    with pytest.raises(Http404):
        selectors.drive_file_get(workspace=tree.workspace, **lookup)


def test_get_raises_404_for_another_workspaces_file(tree, other_team):
    theirs = put(other_team, "/secret.csv")

    with pytest.raises(Http404):
        selectors.drive_file_get(workspace=tree.workspace, pk=theirs.pk)
    with pytest.raises(Http404):
        selectors.drive_file_get(workspace=tree.workspace, path="/secret.csv")


def test_open_reads_the_stored_content(team):
    drive_file = put(team, "/a.txt", b"content\n")

    with selectors.drive_file_open(drive_file=drive_file) as stream:
        assert stream.read() == b"content\n"
