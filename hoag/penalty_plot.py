"""Figures of many learned penalties: the loss trace and the penalties, as an image.

With one penalty per pixel (MNIST: 784 of them) a line per hyperparameter
against time says nothing; the learned ``log10 C`` drawn at each pixel's place
shows which parts of the image the model may use freely (large C) and which
it is kept off (small C). matplotlib is optional, as in :mod:`hoag.plotting`.
"""

import math

import numpy as np

from .plotting import _draw_loss, _pyplot, _save, _trace_columns

__all__ = ["image_shape", "plot_penalties"]


def image_shape(n_features):
    """``(s, s)`` when ``n_features = s * s``, ``s >= 2`` (square images), else None.

    Parameters
    ----------
    n_features : int

    Returns
    -------
    tuple of int or None
    """
    side = math.isqrt(int(n_features))
    return (side, side) if side >= 2 and side * side == n_features else None


def plot_penalties(history, C, path, title=None, shape=None):
    """Save a PNG of the validation loss against time and of the learned penalties.

    Left: the validation loss of each outer iteration (accepted steps joined,
    rejected ones as red crosses). Right: ``log10 C_j`` for each feature ``j``,
    drawn as an image of ``shape`` (row-major pixels) when given, else against
    the feature index. Per-coefficient penalties ``C`` of shape ``(K, p)`` are
    summarised per feature by the mean of ``log10 C`` over the classes.

    Parameters
    ----------
    history : list of dict
        Trace records with keys ``time``, ``value`` and ``accepted``.
    C : array-like of shape (p,) or (K, p)
        The learned penalties (``LogisticRegressionCV.C_``).
    path : str or path-like
        The PNG file to write.
    title : str, optional
        Title above the panels.
    shape : tuple of int, optional
        Image shape with ``prod(shape) == p``; see :func:`image_shape`.

    Returns
    -------
    pathlib.Path
        The file written.

    Raises
    ------
    ImportError
        If matplotlib is not installed.
    ValueError
        If ``history`` is empty or ``shape`` does not match ``C``.
    """
    if len(history) == 0:
        raise ValueError("the trace is empty: nothing to plot")
    log_C = np.log10(np.asarray(C, dtype=float))
    per_class = log_C.ndim == 2
    if per_class:
        log_C = log_C.mean(axis=0)
    if shape is not None and int(np.prod(shape)) != log_C.size:
        raise ValueError(f"shape {shape} does not hold {log_C.size} penalties")
    plt = _pyplot()

    fig, (ax_loss, ax_C) = plt.subplots(1, 2, figsize=(10, 4.2),
                                        constrained_layout=True)
    _draw_loss(ax_loss, *_trace_columns(history))
    ax_loss.set_xlabel("wall-clock time (s)")

    label = "mean over classes of log10 C" if per_class else "log10 C"
    if shape is not None:
        image = ax_C.imshow(log_C.reshape(shape), cmap="viridis",
                            interpolation="nearest")
        ax_C.set_xticks([])
        ax_C.set_yticks([])
        fig.colorbar(image, ax=ax_C, label=label)
        ax_C.set_title("learned penalty per pixel")
    else:
        ax_C.plot(np.arange(log_C.size), log_C, ".", ms=4)
        ax_C.set_xlabel("feature")
        ax_C.set_ylabel(label)
        ax_C.grid(True, alpha=0.3)
        ax_C.set_title("learned penalty per feature")
    if title:
        fig.suptitle(title)
    return _save(plt, fig, path)
