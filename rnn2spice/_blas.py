"""One BLAS thread for the small dense linear algebra of rnn2spice.

The matrices here are n x n with n <= ~500: OpenBLAS's extra threads gain nothing on them
and spin against any other busy process (ngspice, a second worker): measured on a loaded
2-core box, a 100 x 100 solve took 100 ms instead of 0.4 ms, expm of 40 x 40 was 100x
slower and eigvals of the trained 100 x 100 network 0.23 s instead of 0.02 s.
"""

from __future__ import annotations

from threadpoolctl import ThreadpoolController

__all__ = ["one_blas_thread"]

_CONTROLLER: list[ThreadpoolController] = []


def one_blas_thread():
    """Context manager limiting BLAS to one thread (the libraries are found once: a fresh
    search reads /proc, ~0.5 ms a call)."""
    if not _CONTROLLER:
        _CONTROLLER.append(ThreadpoolController())
    return _CONTROLLER[0].limit(limits=1, user_api="blas")
