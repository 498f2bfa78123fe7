"""Fixtures of the integration tests."""

from __future__ import annotations

import pytest

from tests.conftest import dora


@pytest.fixture
def background(control_dirs):
    """A background coordinator for the test (`dora up`), destroyed at its end."""
    started = dora("up")
    assert started.returncode == 0, started.stderr
    assert started.stdout.startswith("dora: coordinator started (pid ")
    yield control_dirs
    dora("destroy")
