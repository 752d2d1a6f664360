"""One meaning of "the same result" for every equivalence test (two code paths that must compute the same thing).

Discrete values are compared exactly: integers, booleans, strings, ``None``, actions, ids, flags, lengths, counts,
and of every array its dtype and shape. Floats are compared with a tolerance per dtype, the only place it is set:

====================  ==========  ==========
dtype                 rtol        atol
====================  ==========  ==========
float16 / bfloat16    1e-2        1e-3
float32               1e-4        1e-5
float64 (and Python)  1e-9        1e-12
====================  ==========  ==========

Why these. Two paths that compute the same thing round the same maths differently when the batch shape, the
instruction set (AVX-512, AVX2, torch's ``default`` kernels), the BLAS kernel (MKL picks one per CPU and per matrix
shape) or the thread count (the order of a parallel sum) differ: each matmul or reduction is then off by a few ulps,
and these add up along what follows it. The longest such chains in the tests are an LSTM carried over a
few hundred steps and GAE's backward sum over a whole episode; measured across kernels (``ATEN_CPU_CAPABILITY``
``default`` vs ``avx512``, ``MKL_CBWR=COMPATIBLE``, ``OMP_NUM_THREADS=1`` vs 2; docs/architecture.md, "Testing"),
float32 results there differ by up to about 1e-6 relative. The float32 tolerance leaves two orders of magnitude
over that; float32's epsilon is 1.2e-7, so 1e-4 is about 840 ulps. float64 values in the tests are sums of
a few hundred terms (returns, reward sums): 1e-9 is millions of ulps of float64's 2.2e-16 and still far below any
real difference. ``atol`` covers values that should be 0 but are a rounding away from it (a difference of two
nearly equal numbers, which has no relative precision). A real bug (a wrong column, a step shifted by one, a
state from the wrong car, a missing reset) changes values by orders of magnitude more than any of these.
"""

from __future__ import annotations

from typing import Any

import numpy as np

TOLERANCES: dict[str, tuple[float, float]] = {
    "float16": (1e-2, 1e-3),
    "bfloat16": (1e-2, 1e-3),
    "float32": (1e-4, 1e-5),
    "float64": (1e-9, 1e-12),
}
"""(rtol, atol) per float dtype name: |actual - expected| <= atol + rtol * |expected| element by element."""


def tolerance(dtype: Any) -> tuple[float, float]:
    """(rtol, atol) for a numpy or torch float dtype (or ``float`` for Python floats)."""
    name = "float64" if dtype is float else str(dtype).removeprefix("torch.")
    if name not in TOLERANCES:
        raise KeyError(f"no tolerance for dtype {name!r}: add it to TOLERANCES in {__name__}")
    return TOLERANCES[name]


def _is_tensor(x: Any) -> bool:
    return type(x).__module__.startswith("torch") and hasattr(x, "detach") and hasattr(x, "dtype")


def _as_numpy(x: Any) -> tuple[np.ndarray, str]:
    """The array's values and its dtype's name (a torch dtype keeps its own name, bfloat16 included)."""
    if _is_tensor(x):
        name = str(x.dtype).removeprefix("torch.")
        t = x.detach().cpu()
        if name == "bfloat16":
            t = t.float()
        return t.numpy(), name
    arr = np.asarray(x)
    return arr, arr.dtype.name


def _index(flat_index: int, shape: tuple[int, ...]) -> tuple[int, ...] | int:
    return tuple(int(i) for i in np.unravel_index(flat_index, shape)) if len(shape) > 1 else flat_index


def _compare_arrays(actual: Any, expected: Any, path: str) -> list[str]:
    a, a_dtype = _as_numpy(actual)
    b, b_dtype = _as_numpy(expected)
    kind = "tensor" if _is_tensor(actual) or _is_tensor(expected) else "array"
    if _is_tensor(actual) != _is_tensor(expected):
        return [f"{path}: one is a torch tensor, the other a {type(expected if _is_tensor(actual) else actual)}"]
    if a_dtype != b_dtype:
        return [f"{path}: dtype {a_dtype} != {b_dtype}"]
    if a.shape != b.shape:
        return [f"{path}: shape {a.shape} != {b.shape}"]
    if a_dtype in TOLERANCES:
        return _compare_floats(a, b, a_dtype, path, kind)
    if a.dtype == object:
        # ragged leftovers (lists of arrays stored as objects): element by element, through the same rules
        pairs = enumerate(zip(a.ravel(), b.ravel(), strict=True))
        return [d for i, (x, y) in pairs for d in differences(x, y, f"{path}[{i}]")]
    wrong = a != b
    if not wrong.any():
        return []
    first = int(np.flatnonzero(wrong)[0])
    return [
        f"{path}: {a_dtype} {kind} {a.shape}: {int(wrong.sum())} of {a.size} elements differ (discrete, compared "
        f"exactly); first at {_index(first, a.shape)}: {a.ravel()[first]!r} != {b.ravel()[first]!r}"
    ]


def _compare_floats(a: np.ndarray, b: np.ndarray, dtype: str, path: str, kind: str = "array") -> list[str]:
    rtol, atol = TOLERANCES[dtype]
    a64, b64 = a.astype(np.float64).ravel(), b.astype(np.float64).ravel()
    nan_a, nan_b = np.isnan(a64), np.isnan(b64)
    if (nan_a != nan_b).any():
        first = int(np.flatnonzero(nan_a != nan_b)[0])
        return [f"{path}: NaN at {_index(first, a.shape)} in one only: {a64[first]!r} vs {b64[first]!r}"]
    finite = np.isfinite(a64) & np.isfinite(b64)
    inf_wrong = ~finite & ~nan_a & (a64 != b64)
    if inf_wrong.any():
        first = int(np.flatnonzero(inf_wrong)[0])
        return [f"{path}: infinities differ at {_index(first, a.shape)}: {a64[first]!r} vs {b64[first]!r}"]
    with np.errstate(invalid="ignore"):  # inf - inf where both are the same infinity
        diff = np.where(finite, np.abs(a64 - b64), 0.0)
    wrong = diff > atol + rtol * np.abs(np.where(finite, b64, 0.0))
    if not wrong.any():
        return []
    worst = int(np.argmax(np.where(wrong, diff, -1.0)))
    return [
        f"{path}: {dtype} {kind} {a.shape}: {int(wrong.sum())} of {a.size} elements beyond rtol={rtol:g}, "
        f"atol={atol:g}; largest difference {diff[worst]:.3g} at {_index(worst, a.shape)}: "
        f"{a64[worst]!r} vs {b64[worst]!r}"
    ]


def _buffer_parts(x: Any) -> dict[str, Any] | None:
    """RLlib's InfiniteLookbackBuffer (episode columns) compared by what it holds."""
    if hasattr(x, "lookback") and hasattr(x, "data") and hasattr(x, "finalized"):
        return {"data": x.data, "lookback": x.lookback, "finalized": x.finalized}
    return None


def differences(actual: Any, expected: Any, path: str = "") -> list[str]:
    """Every place where ``actual`` is not the same result as ``expected``, one message each (empty if the same).

    Walks dicts (same keys, then each value), lists and tuples (same type and length, then each item), numpy arrays
    and scalars and torch tensors (same dtype and shape, then the values: floats within :data:`TOLERANCES`, the rest
    exactly), Python floats (as float64), and compares anything else with ``==``.
    """
    where = path or "<root>"
    if isinstance(actual, dict) or isinstance(expected, dict):
        if not (isinstance(actual, dict) and isinstance(expected, dict)):
            return [f"{where}: {type(actual).__name__} != {type(expected).__name__}"]
        if actual.keys() != expected.keys():
            only_a = sorted(map(str, actual.keys() - expected.keys()))
            only_b = sorted(map(str, expected.keys() - actual.keys()))
            return [f"{where}: keys differ: only in actual {only_a}, only in expected {only_b}"]
        return [d for k in sorted(actual, key=str) for d in differences(actual[k], expected[k], f"{path}/{k}")]
    if isinstance(actual, list | tuple) or isinstance(expected, list | tuple):
        if type(actual) is not type(expected):
            return [f"{where}: {type(actual).__name__} != {type(expected).__name__}"]
        if len(actual) != len(expected):
            return [f"{where}: length {len(actual)} != {len(expected)}"]
        pairs = enumerate(zip(actual, expected, strict=True))
        return [d for i, (x, y) in pairs for d in differences(x, y, f"{path}[{i}]")]
    parts_a, parts_b = _buffer_parts(actual), _buffer_parts(expected)
    if parts_a is not None or parts_b is not None:
        if parts_a is None or parts_b is None:
            return [f"{where}: {type(actual).__name__} != {type(expected).__name__}"]
        return differences(parts_a, parts_b, path)
    arrays = (np.ndarray, np.generic)
    if isinstance(actual, arrays) or isinstance(expected, arrays) or _is_tensor(actual) or _is_tensor(expected):
        if type(actual) is not type(expected) and not (_is_tensor(actual) and _is_tensor(expected)):
            return [f"{where}: {type(actual).__name__} != {type(expected).__name__}"]
        return _compare_arrays(actual, expected, where)
    if isinstance(actual, float) or isinstance(expected, float):
        if type(actual) is not type(expected):
            return [f"{where}: {type(actual).__name__} {actual!r} != {type(expected).__name__} {expected!r}"]
        return _compare_floats(np.array([actual]), np.array([expected]), "float64", where, "Python float")
    if type(actual) is not type(expected):
        return [f"{where}: {type(actual).__name__} {actual!r} != {type(expected).__name__} {expected!r}"]
    return [] if actual == expected else [f"{where}: {actual!r} != {expected!r}"]


def assert_same(actual: Any, expected: Any, what: str = "", show: int = 5) -> None:
    """Fail naming each differing column (path) and its largest difference; see :func:`differences`."""
    found = differences(actual, expected, what)
    if found:
        more = f"\n  ... and {len(found) - show} more" if len(found) > show else ""
        raise AssertionError(f"{len(found)} difference(s):\n  " + "\n  ".join(found[:show]) + more)
