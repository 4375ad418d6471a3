"""Figures of a HOAG run: validation loss and hyperparameters against time.

matplotlib is optional (``pip install hoag[plot]``): it is imported only when a
figure is drawn, with the non-interactive Agg backend, so that plots can be
written on a machine without a display.
"""

import logging
import sys
from pathlib import Path

import numpy as np

__all__ = ["plot_trace"]

logger = logging.getLogger(__name__)

MISSING_MATPLOTLIB = (
    "plotting needs matplotlib, which is not installed; install it with "
    "'pip install matplotlib' (or 'pip install hoag[plot]')"
)


def _pyplot():
    """matplotlib.pyplot on the Agg backend, or an ImportError that says why."""
    try:
        import matplotlib
    except ImportError as exc:
        raise ImportError(MISSING_MATPLOTLIB) from exc

    # Agg draws to files only: no display, and no change to a user's own
    # backend once pyplot has been imported elsewhere.
    if "matplotlib.pyplot" not in sys.modules:
        matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _trace_columns(history):
    """Time, validation loss and accepted flag of each trace record, as arrays."""
    time = np.array([float(r["time"]) for r in history])
    value = np.array([float(r["value"]) for r in history])
    accepted = np.array([bool(r["accepted"]) for r in history])
    return time, value, accepted


def _draw_loss(ax, time, value, accepted):
    """The criterion against time: accepted steps joined, rejections as crosses.

    Rejected steps show where the step size backed off.
    """
    ax.plot(time[accepted], value[accepted], "o-", ms=3, lw=1.2, color="C0",
            label="accepted step")
    if (~accepted).any():
        ax.plot(time[~accepted], value[~accepted], "x", ms=6, color="C3",
                label="rejected step")
    ax.set_ylabel("validation loss")
    ax.grid(True, alpha=0.3)
    ax.legend(loc="upper right", fontsize="small")


def _save(plt, fig, path):
    """Write fig as a PNG at path, close it, and return the path."""
    path = Path(path)
    try:
        fig.savefig(path, dpi=100)
    finally:
        plt.close(fig)
    logger.info("wrote %s", path)
    return path


def plot_trace(history, path, title=None, chosen_C=None):
    """Save a PNG of the validation loss and of C against wall-clock time.

    Two panels share the time axis: the validation loss at each outer
    iteration (accepted steps joined by a line, rejected steps as red crosses,
    and ``C = exp(-lam)`` on a log scale, with the chosen C as a dashed line.

    Parameters
    ----------
    history : list of dict
        One record per outer iteration, as in ``LogisticRegressionCV.history_``
        or ``HOAGResult.trace``; the keys used are ``time`` (seconds since the
        start), ``value`` (validation loss), ``lam`` (``-log C``, scalar or
        array) and ``accepted``.
    path : str or path-like
        The PNG file to write.
    title : str, optional
        A title above the two panels.
    chosen_C : float, optional
        The C the search returned (for example ``LogisticRegressionCV.C_``),
        drawn as a horizontal line.

    Returns
    -------
    pathlib.Path
        The file written.

    Raises
    ------
    ImportError
        If matplotlib is not installed.
    ValueError
        If ``history`` is empty.
    """
    if len(history) == 0:
        raise ValueError("the trace is empty: nothing to plot")
    plt = _pyplot()

    time, value, accepted = _trace_columns(history)
    lam = np.vstack([np.atleast_1d(np.asarray(r["lam"], float)) for r in history])
    C = np.exp(-lam)

    fig, (ax_loss, ax_C) = plt.subplots(
        2, 1, sharex=True, figsize=(7, 5.5), constrained_layout=True
    )

    # Top: the criterion.
    _draw_loss(ax_loss, time, value, accepted)

    # Bottom: the hyperparameter(s), on the log scale they are optimised in.
    for j in range(C.shape[1]):
        label = "C" if C.shape[1] == 1 else f"C[{j}]"
        ax_C.plot(time[accepted], C[accepted, j], "o-", ms=3, lw=1.2,
                  color=f"C{j % 10}", label=label)
        if (~accepted).any():
            ax_C.plot(time[~accepted], C[~accepted, j], "x", ms=6, color="C3")
    # The chosen C, not the lowest plotted loss: early losses come from loose
    # inner solves and are not comparable with later ones.
    if chosen_C is not None:
        ax_C.axhline(chosen_C, ls="--", lw=1, color="C1",
                     label=f"chosen C = {chosen_C:.4g}")
    ax_C.set_yscale("log")
    ax_C.set_ylabel("C (log scale)")
    ax_C.set_xlabel("wall-clock time (s)")
    ax_C.grid(True, which="both", alpha=0.3)
    if C.shape[1] > 1 or chosen_C is not None:
        ax_C.legend(loc="best", fontsize="small")
    if title:
        fig.suptitle(title)
    return _save(plt, fig, path)
