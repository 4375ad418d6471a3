"""The bounds-checked build is the one under test (CI's second build).

``.ci/run`` installs hoag compiled with ``-Dboundscheck=true`` into a second
venv and runs the kernel tests there with ``HOAG_EXPECT_BOUNDSCHECK=1``; this
test then proves that the imported extension is that build: an index out of
range in a typed memoryview raises IndexError instead of reading past the
buffer. The default build has no such checks, so the test runs only when asked.
"""

import os
from pathlib import Path

import numpy as np
import pytest

import hoag
from hoag import _core

pytestmark = pytest.mark.skipif(
    os.environ.get("HOAG_EXPECT_BOUNDSCHECK") != "1",
    reason="checks the bounds-checked build; set HOAG_EXPECT_BOUNDSCHECK=1 there")


def test_the_installed_package_is_imported_not_the_source_tree():
    source_tree = Path(__file__).resolve().parents[1] / "hoag"
    assert Path(hoag.__file__).resolve().parent != source_tree


def test_memoryview_indexing_is_bounds_checked():
    a = np.arange(3.0)
    assert _core._checked_read(a, 2) == 2.0
    assert _core._checked_read(a, -1) == 2.0  # wraparound is on with the checks
    with pytest.raises(IndexError):
        _core._checked_read(a, 3)
    with pytest.raises(IndexError):
        _core._checked_read(a, -4)
