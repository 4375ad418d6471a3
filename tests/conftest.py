"""Shared fixtures: the real-data folder and its datasets.

Tests that need ``../shared/data`` find it through ``HOAG_DATA_DIR``. On a
user's machine a missing folder skips them with a reason; under CI (the ``CI``
environment variable set) a missing dataset is a failure.
"""

import os

import pytest

from hoag.datasets import DatasetNotFoundError, data_dir


def _require(name):
    path = data_dir() / name
    if path.is_file():
        return path
    message = (
        f"dataset {name!r} not found in {str(data_dir())!r} (set HOAG_DATA_DIR to "
        "the folder holding the shared datasets)"
    )
    if os.environ.get("CI"):
        pytest.fail(message + "; CI must have the data folder")
    pytest.skip(message)


@pytest.fixture(scope="session")
def require_data():
    """Return a function that gives a dataset's path, or skips/fails without it."""
    return _require


@pytest.fixture(scope="session")
def news20():
    """The fixed train / validation / test split of binary 20newsgroups."""
    from hoag.datasets import news20_split

    _require("news20_bydate_counts.npz")
    try:
        return news20_split()
    except DatasetNotFoundError as exc:  # pragma: no cover - checked above
        pytest.fail(str(exc))
