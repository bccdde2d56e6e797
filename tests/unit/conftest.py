"""Fixtures of the intake service's unit tests (the platform ones are in tests/conftest.py)."""

import pytest


@pytest.fixture
def intake(platform, with_divisions):
    return platform.runtime("intake")


@pytest.fixture
def client(intake):
    """A client of intake's API alone (no gateway in front)."""
    return intake.create_api().test_client()
