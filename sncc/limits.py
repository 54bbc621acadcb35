"""Size limits on untrusted input (spec/ir.md section 2 and 5.1).

Models, IR files and data files are untrusted: without these bounds a one-line IR file
or a command-line flag could make sncc allocate terabytes or loop for hours. Each limit
is far above any network sncc targets and is checked where the number enters.
"""

# Elements of one tensor. Keeps every flat index within a signed 32-bit integer (the CPU
# runtime's spike index lists are int32) and every dimension product exact in int64.
MAX_ELEMENTS = 2**31 - 1

# Timesteps of a spiking run (module attribute T, `-T`, `T=` options). Memory for state and
# pre-drawn random numbers grows linearly with T; published conversions use T <= 1024.
MAX_T = 65536

# Integer literals in IR text and attribute values: signed 64-bit, like every integer the
# IR stores (dimensions, indices, seeds, fixed-point values).
INT_MIN, INT_MAX = -(2**63), 2**63 - 1


def short(v, limit: int = 40) -> str:
    """repr(v) cut to `limit` characters: error messages stay one readable line even for a
    5,000-digit number (whose str() Python refuses beyond 4,300 digits)."""
    if isinstance(v, int) and not isinstance(v, bool) and abs(v) >= 10**limit:
        return f"{'-' if v < 0 else ''}<a {v.bit_length()}-bit integer>"
    text = repr(v)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def check_T(T, what: str = "T") -> None:
    """Raise SnccError unless T is an integer in 1..MAX_T."""
    import numpy as np

    from sncc.errors import SnccError

    if isinstance(T, bool) or not isinstance(T, (int, np.integer)) or not 1 <= T <= MAX_T:
        raise SnccError(f"{what} must be an integer in 1..{MAX_T}, got {short(T)}")
