# cython: language_level=3
"""Compiled core of hoag: kernels and inner solvers.

Design notes
------------
A. One extension module. The kernels, the L-BFGS and conjugate-gradient solvers and
   the RBF blocks live in the ``.pxi`` files included below and are compiled into
   ``hoag._core``. Solvers call objectives through ``cdef`` methods without the GIL,
   which needs the classes in one compilation unit (or a ``.pxd`` shared across
   modules, which buys nothing here).
B. Data in float32 or float64, parameters in float64. The training data keep the
   dtype the user gave (half the memory traffic for float32); coefficients,
   gradients and every accumulation are float64, so float32 input loses accuracy
   only in the data themselves.
C. Dense and CSR through one row abstraction: a row is either ``p`` contiguous
   values or the ``indptr[i]:indptr[i+1]`` slice of ``data``/``indices``. Each kernel
   is written once; the layout branch is per row and perfectly predictable.
D. Python allocates, kernels fill. Every output and workspace is a NumPy array made
   in Python (or in the ``__init__`` of a class); nothing below allocates inside a
   ``nogil`` block. Failures come back as status codes.
E. Threads. Row loops run under OpenMP ``prange``. Loops that accumulate a
   gradient-sized vector split the rows into a fixed number of contiguous chunks
   (the machine's OpenMP thread count, or ``n_threads`` if larger), each summed
   into its own buffer; the buffers are added in chunk order after the loop. The
   partition does not depend on ``n_threads``, so one and two threads give the
   same bits and a whole fit does not depend on the thread count; per-row
   kernels (curvature, RBF blocks and products) are deterministic anyway.
"""

cimport cython
from cython cimport floating
from cython.parallel cimport prange, parallel, threadid
from libc.math cimport exp, log, log1p, sqrt, fabs, isfinite, INFINITY
from libc.string cimport memset, memcpy

import numpy as np
import scipy.sparse as sp

include "_common.pxi"
include "_logistic.pxi"
include "_multinomial.pxi"
include "_lbfgs.pxi"
include "_cg.pxi"
include "_rbf.pxi"
