"""The offline build's Debian mirror, taken from the host's apt sources."""

import re

import pytest

from sandbox.builds import ImageBuildError
from sandbox.debian import debian_mirror


def test_the_mirror_comes_from_deb822_sources(tmp_path):
    (tmp_path / "sources.list.d").mkdir()
    (tmp_path / "sources.list.d" / "debian.sources").write_text(
        "Types: deb-src\nURIs: http://src.mirror.test/debian\nSuites: bookworm\n\n"
        "Enabled: no\nTypes: deb\nURIs: http://off.mirror.test/debian\nSuites: bookworm\n\n"
        "Types: deb\n# a comment\nURIs: http://mirror.test/debian/\n"
        "Suites: bookworm bookworm-updates\nComponents: main\n"
    )
    assert debian_mirror(tmp_path) == "http://mirror.test/debian"


def test_the_mirror_comes_from_one_line_sources(tmp_path):
    (tmp_path / "sources.list").write_text(
        "# deb http://commented.test/debian bookworm main\n"
        "deb http://security.test/debian-security bookworm-security main\n"
        "deb [signed-by=/usr/share/keyrings/k.gpg] http://mirror.test/debian bookworm main\n"
    )
    assert debian_mirror(tmp_path) == "http://mirror.test/debian"


def test_no_bookworm_source_is_a_clear_error(tmp_path):
    (tmp_path / "sources.list").write_text("deb http://archive.test/ubuntu noble main\n")
    with pytest.raises(ImageBuildError, match="No Debian bookworm source"):
        debian_mirror(tmp_path)


def test_this_hosts_apt_names_a_mirror():
    assert re.match(r"(https?|ftp|file):", debian_mirror())
