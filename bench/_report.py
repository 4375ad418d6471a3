"""Tables and figures of the benchmark suite, from the traces alone.

A trace is a list of records with ``time``, ``val`` and ``test`` (see
``_tuners.py``), and for hoag's inexact solves, where ``run.py`` evaluated it,
``exact`` and ``exact_test``: the losses of the exact fit at that point. A
point's criterion is ``exact`` when present, else ``val``. "Within r of the
best" means criterion ``<= (1 + r) f*`` with ``f*`` the lowest criterion of
the dataset. The figures draw the traces as the methods saw them (``val``).
"""

import math

import numpy as np

LEVELS = (1e-2, 1e-3)
REFERENCE = "hoag-exponential"


def jsonable(value):
    """JSON form of NumPy scalars and arrays (``default=`` of ``json.dumps``)."""
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")


def best_value(runs):
    """``f*``: the lowest finite criterion over every method's trace."""
    values = [criterion(r) for run in runs.values() for r in run["records"]
              if math.isfinite(criterion(r))]
    return min(values) if values else math.nan


def best_record(records):
    """The record with the lowest finite validation loss (what a method returns)."""
    finite = [r for r in records if math.isfinite(r["val"])]
    return min(finite, key=lambda r: r["val"]) if finite else None


def criterion(record):
    """The exact validation loss of a record where known, else its ``val``."""
    return record.get("exact", record["val"])


def time_to_reach(records, f_best, rel):
    """Time of the first record with criterion ``<= (1 + rel) f_best``, or None."""
    for r in records:
        value = criterion(r)
        if math.isfinite(value) and value <= (1.0 + rel) * f_best:
            return r["time"]
    return None


def running_best(records):
    """Times, best validation loss so far, and the test loss of that best point.

    The curves a user would see: the model a method would return if stopped
    at that time.
    """
    times, vals, tests = [], [], []
    best = None
    for r in records:
        if math.isfinite(r["val"]) and (best is None or r["val"] < best["val"]):
            best = r
        if best is not None:
            times.append(r["time"])
            vals.append(best["val"])
            tests.append(best["test"])
    return np.array(times), np.array(vals), np.array(tests)


def summarise(runs, t_fit, reference=REFERENCE, levels=LEVELS, f_best=None):
    """One row of figures per method.

    Parameters
    ----------
    runs : dict of str to dict
        Method name to ``{"records": [...], "info": {...}}``.
    t_fit : float
        Seconds of one exact fit at the best point found.
    reference : str
        The method whose times are the unit of the ratios.
    levels : sequence of float
        The relative distances ``r`` to ``f*``.
    f_best : float, optional
        ``f*``; default :func:`best_value` of the traces.

    Returns
    -------
    f_best : float
    rows : list of dict
        ``method``, ``n_evals``, ``total`` (time of the last record),
        ``reach`` (level -> seconds or None), ``ratio`` (level -> time over
        the reference's time, None if either never reached), ``in_fits``
        (level -> seconds / t_fit), ``val`` and ``test`` of the best record.
    """
    if f_best is None:
        f_best = best_value(runs)
    reach = {name: {rel: time_to_reach(run["records"], f_best, rel)
                    for rel in levels} for name, run in runs.items()}
    rows = []
    for name, run in runs.items():
        records = run["records"]
        best = best_record(records)
        row = dict(method=name, n_evals=len(records),
                   total=records[-1]["time"] if records else None,
                   reach=reach[name], ratio={}, in_fits={},
                   val=criterion(best) if best else None,
                   test=best.get("exact_test", best["test"]) if best else None)
        for rel in levels:
            t, t_ref = reach[name][rel], reach.get(reference, {}).get(rel)
            row["ratio"][rel] = t / t_ref if t is not None and t_ref else None
            row["in_fits"][rel] = t / t_fit if t is not None else None
        rows.append(row)
    return f_best, rows


def _cell(value, fmt):
    return "never" if value is None else format(value, fmt)


def markdown_table(name, runs, t_fit, header="", reference=REFERENCE,
                   levels=LEVELS, f_best=None):
    """The Markdown table of one dataset (with a title and ``header`` text)."""
    f_best, rows = summarise(runs, t_fit, reference, levels, f_best)
    lines = [f"## {name}", ""]
    if header:
        lines += [header, ""]
    lines += [f"f* = {f_best:.6g} (the best validation loss found); "
              f"t_fit = {t_fit:.3g} s (one exact fit at the best point). "
              f"Times in seconds; "
              f"'/ref' = time / {reference}'s time; '/t_fit' = time / t_fit.", ""]
    head = ["method", "evals", "total s"]
    for rel in levels:
        head += [f"t({rel:g}) s", "/ref", "/t_fit"]
    head += ["best val", "test loss"]
    lines.append("| " + " | ".join(head) + " |")
    lines.append("|" + "---|" * len(head))
    for row in rows:
        cells = [row["method"], str(row["n_evals"]), _cell(row["total"], ".3g")]
        for rel in levels:
            cells += [_cell(row["reach"][rel], ".3g"), _cell(row["ratio"][rel], ".2f"),
                      _cell(row["in_fits"][rel], ".2f")]
        cells += [_cell(row["val"], ".6g"), _cell(row["test"], ".6g")]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def plot_dataset(name, runs, path, ylabel, f_best=None, levels=LEVELS):
    """Two panels against wall time (log axis), one line per method.

    Left: the relative gap ``(val - f*) / f*`` of the best validation loss so
    far (log axis, floored at 1e-6 since hoag's inexact values may lie below
    f*), with the levels of the tables as dotted lines. Right: the test loss
    of that model, within 10 % of the lowest test loss drawn.
    """
    from hoag.plotting import _pyplot, _save

    if f_best is None:
        f_best = best_value(runs)
    plt = _pyplot()
    fig, axes = plt.subplots(1, 2, figsize=(11, 4.2), sharex=True)
    lowest_test = math.inf
    for k, (method, run) in enumerate(runs.items()):
        times, vals, tests = running_best(run["records"])
        if times.size == 0:
            continue
        style = dict(lw=1.6, drawstyle="steps-post", color=f"C{k}",
                     ls="-" if method.startswith("hoag") else "--")
        gap = np.maximum((vals - f_best) / abs(f_best), 1e-6)
        axes[0].plot(times, gap, label=method, **style)
        axes[1].plot(times, tests, label=method, **style)
        lowest_test = min(lowest_test, float(np.nanmin(tests)))
    for rel in levels:
        axes[0].axhline(rel, color="0.4", lw=0.8, ls=":")
    axes[0].set_yscale("log")
    axes[0].set_ylabel(f"(validation {ylabel} - f*) / f*")
    axes[0].set_title(f"{name}: best validation loss so far, f* = {f_best:.6g}")
    if math.isfinite(lowest_test):
        pad = 0.1 * abs(lowest_test)
        axes[1].set_ylim(lowest_test - 0.1 * pad, lowest_test + pad)
    axes[1].set_ylabel(f"test {ylabel}")
    axes[1].set_title(f"{name}: test loss of that model")
    axes[1].legend(fontsize="small", loc="upper right")
    for ax in axes:
        ax.set_xscale("log")
        ax.set_xlabel("wall time (s)")
        ax.grid(True, which="both", alpha=0.3)
    fig.tight_layout()
    return _save(plt, fig, path)
