"""The benchmark tables' time-to-threshold on hand-made traces (bench/_report.py)."""

import math
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "bench"))
import _report  # noqa: E402  (bench/ is not a package)


def _trace(*points):
    return [dict(time=t, val=v, test=v + 0.1) for t, v in points]


RUNS = {
    # f* = 1.0 (hoag); within 1e-2 means val <= 1.01, within 1e-3 val <= 1.001.
    "hoag-exponential": dict(records=_trace((1.0, 2.0), (2.0, 1.005), (3.0, 1.0))),
    "grid": dict(records=_trace((0.5, 1.5), (4.0, 1.009), (8.0, 1.0008))),
    "tpe": dict(records=_trace((0.1, math.nan), (6.0, 1.02))),
}


def test_time_to_reach_and_best():
    assert _report.best_value(RUNS) == 1.0
    records = RUNS["grid"]["records"]
    assert _report.time_to_reach(records, 1.0, 1e-2) == 4.0
    assert _report.time_to_reach(records, 1.0, 1e-3) == 8.0
    assert _report.time_to_reach(RUNS["tpe"]["records"], 1.0, 1e-2) is None
    # A NaN value is skipped, never counted as reached nor as the best.
    assert _report.best_record(RUNS["tpe"]["records"])["time"] == 6.0


def test_summary_rows_ratios_and_fits():
    f_best, rows = _report.summarise(RUNS, t_fit=2.0)
    assert f_best == 1.0
    by = {row["method"]: row for row in rows}
    assert by["hoag-exponential"]["reach"] == {1e-2: 2.0, 1e-3: 3.0}
    assert by["grid"]["ratio"] == {1e-2: 2.0, 1e-3: 8.0 / 3.0}
    assert by["grid"]["in_fits"] == {1e-2: 2.0, 1e-3: 4.0}
    assert by["tpe"]["ratio"] == {1e-2: None, 1e-3: None}
    assert by["grid"]["val"] == 1.0008 and by["grid"]["test"] == pytest.approx(1.1008)
    assert by["grid"]["total"] == 8.0 and by["tpe"]["n_evals"] == 2


def test_given_f_best_moves_the_thresholds():
    # With f* = 1.005 (say an exact value above hoag's inexact 1.0), grid's
    # 1.009 is within 1e-2 and hoag reaches 1e-3 at its 1.005.
    f_best, rows = _report.summarise(RUNS, t_fit=2.0, f_best=1.005)
    by = {row["method"]: row for row in rows}
    assert f_best == 1.005
    assert by["hoag-exponential"]["reach"] == {1e-2: 2.0, 1e-3: 2.0}
    assert by["grid"]["reach"] == {1e-2: 4.0, 1e-3: 8.0}


def test_markdown_says_never():
    table = _report.markdown_table("toy", RUNS, t_fit=2.0)
    tpe_line = next(line for line in table.splitlines() if line.startswith("| tpe"))
    assert tpe_line.count("never") == 6
    grid_line = next(line for line in table.splitlines() if line.startswith("| grid"))
    assert "| 4 | 2.00 | 2.00 | 8 | 2.67 | 4.00 |" in grid_line


def test_running_best_follows_the_best_point():
    times, vals, tests = _report.running_best(RUNS["grid"]["records"]
                                              + _trace((9.0, 1.2)))
    assert list(times) == [0.5, 4.0, 8.0, 9.0]
    assert list(vals) == [1.5, 1.009, 1.0008, 1.0008]
    assert tests[-1] == pytest.approx(1.1008)
