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


def test_exact_values_replace_inexact_ones():
    # hoag's inexact 1.0 at t=3 is exactly 1.02: grid's 1.0008 becomes f*,
    # and hoag reaches 1e-2 at t=2 (exact 1.005), 1e-3 never.
    runs = {
        "hoag-exponential": dict(records=[
            dict(time=1.0, val=2.0, test=2.1, exact=2.0, exact_test=2.1),
            dict(time=2.0, val=1.004, test=1.1, exact=1.005, exact_test=1.2),
            dict(time=3.0, val=1.0, test=1.1, exact=1.02, exact_test=1.3),
        ]),
        "grid": RUNS["grid"],
    }
    f_best, rows = _report.summarise(runs, t_fit=2.0)
    by = {row["method"]: row for row in rows}
    assert f_best == 1.0008
    assert by["hoag-exponential"]["reach"] == {1e-2: 2.0, 1e-3: None}
    # The best point is still the one the run returns (its trace's lowest),
    # reported with its exact losses.
    assert by["hoag-exponential"]["val"] == 1.02
    assert by["hoag-exponential"]["test"] == 1.3


class _FakeTask:
    """A task whose exact validation loss at ``lam`` is ``(lam - 1)**2 + 1``."""

    def __init__(self):
        self.fits = []

    def fitter(self):
        def fit(lam):
            self.fits.append(float(lam[0]))
            value = (float(lam[0]) - 1.0) ** 2 + 1.0
            return value, value + 0.5

        return fit

    def test_loss(self, model):
        return model


def test_exact_hoag_values_scan_until_the_finest_level():
    import run  # bench/run.py, on the path above

    def trace(*points):
        # Inexact values 0.1 below the exact ones.
        return [dict(time=t, lam=[lam], val=(lam - 1.0) ** 2 + 0.9, test=0.0)
                for t, lam in points]

    task = _FakeTask()
    runs = {
        "hoag-cubic": dict(records=trace((1.0, 3.0), (2.0, 1.01), (3.0, 1.0),
                                         (4.0, 1.5))),
        "grid": dict(records=[dict(time=1.0, lam=[0.0], val=2.0, test=0.0)]),
    }
    f_best = run.exact_hoag_values(task, runs, 1e-3)

    # f* = 1: the exact loss at hoag's best point, not its inexact 0.9.
    assert f_best == 1.0
    records = runs["hoag-cubic"]["records"]
    exact = [r.get("exact") for r in records]
    assert exact[0] == 5.0 and exact[1] == pytest.approx(1.0001) and exact[2] == 1.0
    # The last point is after the first within 1e-3: not fitted.
    assert "exact" not in records[3] and len(task.fits) == 3
    assert records[1]["exact_test"] == pytest.approx(1.5001)
    assert _report.time_to_reach(records, f_best, 1e-3) == 2.0


def test_exact_hoag_values_lower_f_star_repeats_the_scan():
    import run

    task = _FakeTask()
    # The best trace points are lam 1.04 (exact 1.0016) and lam 2 (exact 2):
    # the first f* is 1.0016, which hoag-a's first point meets. hoag-b's scan
    # then finds exact 1.0 at lam 1, and hoag-a is scanned on to a closer point.
    runs = {
        "hoag-a": dict(records=[
            dict(time=1.0, lam=[1.04], val=0.5, test=0.0),
            dict(time=2.0, lam=[1.02], val=1.2, test=0.0),
            dict(time=3.0, lam=[1.0], val=1.3, test=0.0),
        ]),
        "hoag-b": dict(records=[
            dict(time=1.0, lam=[1.0], val=1.95, test=0.0),
            dict(time=2.0, lam=[2.0], val=1.9, test=0.0),
        ]),
    }
    f_best = run.exact_hoag_values(task, runs, 1e-3)

    assert f_best == 1.0
    # 1.0016 > 1.001 and 1.0004 <= 1.001: hoag-a reaches 1e-3 at t=2.
    assert _report.time_to_reach(runs["hoag-a"]["records"], f_best, 1e-3) == 2.0
    assert "exact" not in runs["hoag-a"]["records"][2]
    assert task.fits == [1.04, 2.0, 1.0, 1.02]


def test_exact_hoag_values_without_hoag_runs():
    # --methods grid tpe: f* is the baselines' best, and nothing is fitted.
    import run

    task = _FakeTask()
    runs = {"grid": dict(records=[dict(time=1.0, lam=[0.0], val=2.0, test=0.0),
                                  dict(time=2.0, lam=[1.0], val=1.5, test=0.0)])}
    assert run.exact_hoag_values(task, runs, 1e-3) == 1.5
    assert task.fits == []
