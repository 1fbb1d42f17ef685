"""A sandbox session for the tools that move files, against real Docker."""

import pytest

from sandbox.session import open_session


@pytest.fixture
def session(team):
    with open_session(workspace=team.workspace, purpose="test") as session:
        yield session
