"""The exact transfer matrix of a linear network (THEORY.md section 6, frequency domain)."""

from __future__ import annotations

import numpy as np
from threadpoolctl import threadpool_limits

from rnn2spice.network.spec import RnnSpec


def transfer_matrix(spec: RnnSpec, frequency: np.ndarray) -> np.ndarray:
    """Exact ``H(j 2 pi f) = (j 2 pi f I - A)^-1 w_in``, shape (F, n, m), paper-form w_in."""
    a = spec.state_matrix()
    _, w_in, _ = spec.paper_form()
    freq = np.asarray(frequency, dtype=float)
    mats = (2j * np.pi * freq)[:, None, None] * np.eye(spec.n)[None] - a[None].astype(complex)
    rhs = np.broadcast_to(np.asarray(w_in, dtype=complex), (freq.size, spec.n, spec.m))
    with threadpool_limits(limits=1, user_api="blas"):  # small systems: threads only spin
        return np.linalg.solve(mats, rhs)
