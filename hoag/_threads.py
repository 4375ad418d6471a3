"""Thread limits shared by the models and the k-fold criterion.

The NumPy/LAPACK calls around the compiled kernels are small or memory-bound;
BLAS threads spinning beside the kernels' OpenMP threads only slow them down,
and several folds run at once must not each start a full BLAS pool.
"""

import contextlib
import functools
import threading

__all__ = ["one_blas_thread"]


@functools.cache
def _blas_controller():
    """threadpoolctl's controller, looked up once (about 10 ms); None without it."""
    try:
        from threadpoolctl import ThreadpoolController
    except ImportError:  # pragma: no cover - scikit-learn depends on it
        return None
    return ThreadpoolController()


# Holders of the one-thread BLAS limit: threadpoolctl's limit is process-wide,
# so threads of one process share it and the last one out restores it.
_limit_lock = threading.Lock()
_limit_state = {"holders": 0, "limiter": None}


@contextlib.contextmanager
def one_blas_thread():
    """Run the NumPy/LAPACK calls of the block on one BLAS thread.

    They are small (r x r factorisations, n x r products) or memory-bound
    (matrix-vector products), and OpenBLAS threads spinning next to the
    compiled OpenMP kernels made a 200 x 200 ``eigh`` 100 times slower on a
    loaded 2-core machine (284 ms against 2.8 ms). Safe to enter from several
    threads at once (parallel folds): the limit is set by the first thread in
    and restored by the last one out.
    """
    controller = _blas_controller()
    if controller is None:  # pragma: no cover
        yield
        return
    with _limit_lock:
        if _limit_state["holders"] == 0:
            _limit_state["limiter"] = controller.limit(limits=1, user_api="blas")
        _limit_state["holders"] += 1
    try:
        yield
    finally:
        with _limit_lock:
            _limit_state["holders"] -= 1
            if _limit_state["holders"] == 0:
                _limit_state["limiter"].restore_original_limits()
                _limit_state["limiter"] = None
