"""The compiled L-BFGS: its line search, its kept memory and its status codes.

The iterates are observed from outside: a run is deterministic, so the run
stopped by ``max_iter=k`` ends at the k-th iterate of the full run. Each step
is then checked in NumPy against the conditions the solver claims for it.
"""

import numpy as np
import pytest

from hoag import _core
from hoag.datasets import load_breast_cancer_standardised

# The line-search constants of src/_lbfgs.pxi.
C1, C2 = 1e-4, 0.9


@pytest.fixture(scope="module")
def cancer_objective():
    """Breast cancer logistic loss with an intercept, one thread."""
    X, y = load_breast_cancer_standardised()
    return _core.BinaryLogistic(X, np.where(y > 0, 1.0, -1.0), n_threads=1)


def iterates(obj, n_steps, x0=None, memory_m=10):
    """The first ``n_steps + 1`` iterates of a run from ``x0`` (zero if None).

    Returns
    -------
    xs : ndarray of shape (n_steps + 1, obj.n)
    memory : LBFGSMemory
        The memory after the last step.
    """
    start = np.zeros(obj.n) if x0 is None else x0
    xs = [start.copy()]
    for k in range(1, n_steps + 1):
        x = start.copy()
        memory = _core.LBFGSMemory(obj.n, memory_m)
        *_, n_iter, _, status = _core.lbfgs(obj, x, 0.0, max_iter=k, memory=memory)
        assert n_iter == k and status == 1
        xs.append(x)
    return np.array(xs), memory


def two_loop_direction(S, Y, g):
    """``-H g`` of L-BFGS from pairs oldest first, ``H_0 = (s.y / y.y) I``."""
    d = -g.copy()
    coef = []
    for s, y in zip(S[::-1], Y[::-1]):
        a = (s @ d) / (s @ y)
        coef.append(a)
        d -= a * y
    d *= (S[-1] @ Y[-1]) / (Y[-1] @ Y[-1])
    for (s, y), a in zip(zip(S, Y), coef[::-1]):
        d += (a - (y @ d) / (s @ y)) * s
    return d


@pytest.mark.parametrize("C", [1.0, 1e4])
def test_every_step_is_a_strong_wolfe_step(cancer_objective, C):
    """Each step s_k = x_{k+1} - x_k has, with phi_k(t) = h(x_k + t s_k):
    h(x_{k+1}) < h(x_k), h(x_{k+1}) <= h(x_k) + c1 g_k.s_k, and
    |g_{k+1}.s_k| <= c2 |g_k.s_k|. A backtracking search from t = 1 cannot
    lengthen a short first step, so its steps fail the curvature condition.
    """
    obj = cancer_objective
    obj.alpha = 1.0 / C
    xs, _ = iterates(obj, 25)

    for x, x_next in zip(xs[:-1], xs[1:]):
        f, g = obj.value_grad(x)
        f_next, g_next = obj.value_grad(x_next)
        s = x_next - x
        slope = g @ s
        assert slope < 0
        assert f_next < f
        assert f_next <= f + C1 * slope
        assert abs(g_next @ s) <= C2 * abs(slope) * (1 + 1e-9)


def test_shift_penalty_keeps_the_pairs_exact(cancer_objective):
    """After ``shift_penalty(delta)`` the next direction is the two-loop direction
    from the pairs (s_k, y_k + delta s_k), the newest 10 of 13 in order."""
    obj = cancer_objective
    rng = np.random.default_rng(0)
    alpha = rng.uniform(0.5, 2.0, obj.n)
    obj.alpha = alpha
    xs, memory = iterates(obj, 13)
    grads = np.array([obj.value_grad(x)[1] for x in xs])
    S, Y = np.diff(xs, axis=0)[-10:], np.diff(grads, axis=0)[-10:]
    assert memory.n_pairs == 10

    delta = rng.uniform(-0.4, 0.4, obj.n)
    delta[-1] = 0.0  # the intercept is not penalised
    delta_copy = delta.copy()
    memory.shift_penalty(delta)
    assert np.array_equal(delta, delta_copy)
    obj.alpha = alpha + delta
    z = xs[-1] + 0.01 * rng.standard_normal(obj.n)
    x = z.copy()
    *_, n_iter, _, _ = _core.lbfgs(obj, x, 0.0, max_iter=1, memory=memory)

    expected = two_loop_direction(S, Y + delta * S, obj.value_grad(z)[1])
    step = x - z
    assert n_iter == 1
    cosine = step @ expected / (np.linalg.norm(step) * np.linalg.norm(expected))
    assert cosine > 1 - 1e-10


def test_shift_penalty_drops_pairs_without_positive_curvature(cancer_objective):
    """A shift that makes s_k.y_k <= 0 drops exactly those pairs; the others
    keep their order, and the next direction uses them alone."""
    obj = cancer_objective
    obj.alpha = 1.0
    xs, memory = iterates(obj, 6)
    grads = np.array([obj.value_grad(x)[1] for x in xs])
    S, Y = np.diff(xs, axis=0), np.diff(grads, axis=0)
    ratios = np.einsum("ij,ij->i", S, Y) / np.einsum("ij,ij->i", S, S)

    # between the third and fourth smallest curvature ratio: three pairs go
    cut = np.sort(ratios)[2:4].mean()
    keep = ratios > cut
    memory.shift_penalty(-cut)
    assert memory.n_pairs == keep.sum() == 3

    # undo the shift on the kept pairs and continue at the original penalty
    memory.shift_penalty(cut)
    z = xs[-1].copy()
    x = z.copy()
    _core.lbfgs(obj, x, 0.0, max_iter=1, memory=memory)
    expected = two_loop_direction(S[keep], Y[keep], grads[-1])
    step = x - z
    cosine = step @ expected / (np.linalg.norm(step) * np.linalg.norm(expected))
    assert cosine > 1 - 1e-10


def test_unreachable_tolerance_ends_in_a_line_search_status(cancer_objective):
    """tol = 0 cannot be met: the run stops with status 2 near the optimum,
    long before the iteration cap, not silently with status 0 or 1."""
    obj = cancer_objective
    obj.alpha = 1.0
    x = np.zeros(obj.n)
    f, gnorm, n_iter, n_fev, status = _core.lbfgs(obj, x, 0.0, max_iter=100_000)
    _, g0 = obj.value_grad(np.zeros(obj.n))

    assert status == 2
    assert n_iter < 10_000 and n_fev >= n_iter
    assert gnorm <= 1e-9 * np.linalg.norm(g0)
    assert f == obj.value_grad(x)[0]


def test_non_finite_start_is_a_status(cancer_objective):
    """A start where h is not finite returns status 3 without iterating."""
    obj = cancer_objective
    obj.alpha = 1.0
    x = np.full(obj.n, np.nan)
    *_, n_iter, n_fev, status = _core.lbfgs(obj, x, 1e-6)
    assert (status, n_iter, n_fev) == (3, 0, 1)


@pytest.mark.parametrize("n_steps", [0, 4, 13])
def test_memory_pickles_with_its_pairs(cancer_objective, n_steps):
    """A memory sent to another process continues exactly as the original."""
    import pickle

    obj = cancer_objective
    obj.alpha = np.full(obj.n, 0.5)
    xs, memory = iterates(obj, max(n_steps, 1), memory_m=5)
    if n_steps == 0:
        memory = _core.LBFGSMemory(obj.n, 5)
    copy = pickle.loads(pickle.dumps(memory))
    assert (copy.n, copy.m, copy.n_pairs) == (memory.n, memory.m, memory.n_pairs)

    runs = []
    for mem in (memory, copy):
        x = xs[-1] + 0.01
        *_, n_iter, _, _ = _core.lbfgs(obj, x, 1e-10, max_iter=30, memory=mem)
        runs.append((x, n_iter))
    np.testing.assert_array_equal(runs[0][0], runs[1][0])
    assert runs[0][1] == runs[1][1]
