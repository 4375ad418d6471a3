"""Cross-validation criteria: the mean of several problems' held-out losses.

A k-fold criterion is a HOAG problem made of one inner problem per fold::

    f(lam) = 1/k sum_f g_f(x_f(lam), lam),   x_f(lam) = argmin_x h_f(x, lam),
    grad f = 1/k sum_f (d2_g_f - d12_h_f^T H_f^{-1} d1_g_f).

Each fold keeps its own solution, Hessian system and warm starts; the loop of
:func:`hoag.hoag` sees tuples of per-fold objects, which it never looks into.
"""

import numpy as np

from ._outer import SolveInfo

__all__ = ["MeanOverFolds"]


def _merge(infos):
    """One SolveInfo for a set of per-fold solves: total work, worst residual."""
    messages = sorted({info.message for info in infos if info.message})
    return SolveInfo(
        n_iter=sum(int(info.n_iter) for info in infos),
        residual=max(float(info.residual) for info in infos),
        converged=all(bool(info.converged) for info in infos),
        message="; ".join(messages),
    )


class MeanOverFolds:
    """The mean of the criteria of several HOAG problems sharing ``lam``.

    Implements :class:`hoag.HOAGProblem` with ``x = (x_1, ..., x_k)`` and
    ``q = (q_1, ..., q_k)``. Each fold's relative tolerances are met fold by
    fold, which implies them for the stacked systems.

    Parameters
    ----------
    problems : sequence of HOAGProblem
        One problem per fold, all with the same ``n_hyperparams``.

    Attributes
    ----------
    n_hyperparams : int
        Shared number of hyperparameters.
    n_folds : int
        Number of problems.
    """

    def __init__(self, problems):
        self.problems = list(problems)
        if not self.problems:
            raise ValueError("MeanOverFolds needs at least one problem")
        sizes = {int(problem.n_hyperparams) for problem in self.problems}
        if len(sizes) != 1:
            raise ValueError(
                f"all folds must have the same number of hyperparameters, got {sizes}"
            )
        self.n_hyperparams = sizes.pop()
        self.n_folds = len(self.problems)

    def _each(self, objects):
        return objects if objects is not None else (None,) * self.n_folds

    def inner_solve(self, lam, x0, tol):
        """Solve every fold's inner problem; ``info`` sums iterations.

        Parameters
        ----------
        lam : ndarray of shape (n_hyperparams,)
        x0 : tuple of per-fold warm starts, or None
        tol : float

        Returns
        -------
        x : tuple of per-fold solutions
        info : SolveInfo
        """
        pairs = [problem.inner_solve(lam.copy(), x, tol)
                 for problem, x in zip(self.problems, self._each(x0))]
        return tuple(x for x, _ in pairs), _merge([info for _, info in pairs])

    def outer_value_grad(self, x, lam):
        """Mean held-out criterion ``1/k sum_f g_f`` and its partial gradients.

        Returns
        -------
        g : float
        d1_g : tuple of per-fold ``d1_g_f / k``
        d2_g : ndarray of shape (n_hyperparams,)
        """
        k = self.n_folds
        values, d1, d2 = [], [], np.zeros(self.n_hyperparams)
        for problem, x_f in zip(self.problems, x):
            g_f, d1_f, d2_f = problem.outer_value_grad(x_f, lam.copy())
            values.append(float(g_f))
            d1.append(d1_f / k)
            d2 += np.asarray(d2_f, dtype=float) / k
        return float(np.mean(values)), tuple(d1), d2

    def hessian_solve(self, x, lam, b, q0, tol):
        """Solve each fold's system ``H_f q_f = b_f`` to its relative tolerance.

        Returns
        -------
        q : tuple of per-fold solutions
        info : SolveInfo
        """
        triples = zip(self.problems, x, b, self._each(q0))
        pairs = [problem.hessian_solve(x_f, lam.copy(), b_f, q_f, tol)
                 for problem, x_f, b_f, q_f in triples]
        return tuple(q for q, _ in pairs), _merge([info for _, info in pairs])

    def cross_term(self, x, lam, q):
        """``sum_f d12_h_f^T q_f`` (the 1/k is already in the right-hand sides).

        Returns
        -------
        ndarray of shape (n_hyperparams,)
        """
        out = np.zeros(self.n_hyperparams)
        for problem, x_f, q_f in zip(self.problems, x, q):
            out += np.asarray(problem.cross_term(x_f, lam.copy(), q_f), dtype=float)
        return out
