"""What the API takes as a number: Python's and numpy's, never a bool."""

from __future__ import annotations

from typing import Any

import numpy as np

__all__ = ["is_real", "is_whole"]


def is_real(value: Any) -> bool:
    """True for a real number an API caller may pass: int, float or a numpy integer or
    floating scalar (np.float32 included), never a bool.  Finiteness is the caller's check."""
    return isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(value, (bool, np.bool_))


def is_whole(value: Any) -> bool:
    """True for a whole number an API caller may pass: int or a numpy integer, never a bool."""
    return isinstance(value, (int, np.integer)) and not isinstance(value, (bool, np.bool_))
