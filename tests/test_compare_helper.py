"""The equivalence tests' comparison helper (tests/support/compare.py): kernel-sized float differences pass, any
change to what is discrete fails, and the message names the column and the largest difference."""

import numpy as np
import pytest
import torch
from compare import TOLERANCES, assert_same, differences


def batch(**changes):
    """A learner-batch-like structure: float columns, discrete columns, nested dicts, lists, Python scalars."""
    b = {
        "main": {
            "obs": np.linspace(-3, 3, 24, dtype=np.float32).reshape(4, 6),
            "advantages": np.array([0.5, -1.25, 1e-3, 0.0], np.float32),
            "actions": np.array([3, 0, 89, 12], np.int64),
            "terminateds": np.array([False, False, True, False]),
            "state_in": {"h": torch.linspace(-1, 1, 8).reshape(2, 4), "c": torch.zeros(2, 4)},
            "seq_lens": np.array([3, 1], np.int32),
        },
        "episode_ids": ["a1", "b2"],
        "length": 4,
        "return": 12.5,
    }
    for path, value in changes.items():
        *parents, leaf = path.split("/")
        node = b
        for p in parents:
            node = node[p]
        node[leaf] = value(node[leaf]) if callable(value) else value
    return b


def ulp(x: np.ndarray, n: int = 1) -> np.ndarray:
    """``x`` moved ``n`` representable floats up, element by element."""
    out = x.copy()
    for _ in range(n):
        out = np.nextafter(out, np.inf, dtype=out.dtype)
    return out


def test_the_same_structure_is_the_same():
    assert differences(batch(), batch()) == []
    assert_same(batch(), batch())


@pytest.mark.parametrize("column", ["main/obs", "main/advantages"])
def test_a_one_ulp_change_in_a_float_passes(column):
    assert_same(batch(**{column: ulp}), batch())
    assert_same(batch(**{column: lambda x: ulp(x, 50)}), batch())  # a few dozen roundings apart still passes


def test_float_tensors_and_python_floats_get_their_dtypes_tolerance():
    h = torch.linspace(-1, 1, 8).reshape(2, 4)
    assert_same(batch(**{"main/state_in/h": torch.nextafter(h, torch.tensor(2.0))}), batch())
    assert_same(batch(**{"return": float(np.nextafter(12.5, 13.0))}), batch())
    assert differences(batch(**{"return": np.float64(12.5)}), batch())  # a numpy scalar is not a Python float
    assert differences(batch(**{"return": 12.5 + 1e-6}), batch())  # float64: 1e-6 is far beyond rounding


def test_a_real_float_difference_fails_naming_the_column_and_the_largest_difference():
    found = differences(batch(**{"main/advantages": lambda x: x + np.array([0, 0, 0.01, 0], np.float32)}), batch())
    assert len(found) == 1
    msg = found[0]
    assert msg.startswith("/main/advantages: float32")
    assert "1 of 4 elements" in msg and "largest difference 0.01 at 2" in msg
    rtol, atol = TOLERANCES["float32"]
    assert f"rtol={rtol:g}" in msg and f"atol={atol:g}" in msg
    with pytest.raises(AssertionError, match=r"/main/advantages: .*largest difference 0\.01"):
        assert_same(batch(**{"main/advantages": lambda x: x + 0.01}), batch())


def test_a_value_that_should_be_zero_may_be_a_rounding_away_from_it():
    assert_same(batch(**{"main/advantages": lambda x: x + np.array([0, 0, 0, 1e-7], np.float32)}), batch())
    assert differences(batch(**{"main/advantages": lambda x: x + np.array([0, 0, 0, 1e-3], np.float32)}), batch())


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        ({"main/actions": lambda x: x + np.array([0, 1, 0, 0])}, "/main/actions: int64 array (4,): 1 of 4 elements"),
        ({"main/terminateds": lambda x: ~x}, "/main/terminateds: bool array (4,): 4 of 4 elements"),
        ({"main/seq_lens": np.array([2, 2], np.int32)}, "/main/seq_lens: int32"),
        ({"main/obs": lambda x: x[:3]}, "/main/obs: shape (3, 6) != (4, 6)"),
        ({"main/obs": lambda x: x.reshape(6, 4)}, "/main/obs: shape (6, 4) != (4, 6)"),
        ({"main/obs": lambda x: x.astype(np.float64)}, "/main/obs: dtype float64 != float32"),
        ({"main/actions": lambda x: x.astype(np.int32)}, "/main/actions: dtype int32 != int64"),
        ({"main/state_in/c": lambda x: x.numpy()}, "/main/state_in/c: ndarray != Tensor"),
        ({"episode_ids": ["a1", "b3"]}, "/episode_ids[1]: 'b3' != 'b2'"),
        ({"episode_ids": ["a1"]}, "/episode_ids: length 1 != 2"),
        ({"length": 5}, "/length: 5 != 4"),
        ({"length": 4.0}, "/length: float 4.0 != int 4"),
        ({"main/extra": np.zeros(1)}, "/main: keys differ: only in actual ['extra']"),
    ],
)
def test_a_changed_action_flag_count_shape_or_dtype_fails(change, expected):
    found = differences(batch(**change), batch())
    assert found and found[0].startswith(expected), found


def test_nan_must_be_where_it_was_and_infinities_equal():
    x = np.array([1.0, np.nan, np.inf], np.float32)
    assert_same(x.copy(), x)
    assert differences(np.array([1.0, 0.0, np.inf], np.float32), x)[0].startswith("<root>: NaN at 1")
    assert differences(np.array([1.0, np.nan, -np.inf], np.float32), x)[0].startswith("<root>: infinities differ")


def test_every_float_dtype_in_use_has_a_tolerance():
    for dtype in (np.float16, np.float32, np.float64):
        x = np.ones(3, dtype)
        assert_same(ulp(x), x)
    y = torch.ones(3, dtype=torch.bfloat16)
    assert_same(y + torch.tensor(2**-7, dtype=torch.bfloat16), y)  # bfloat16's one ulp at 1.0
    assert differences(np.ones(2, np.complex64), np.ones(2, np.complex64)) == []  # non-float dtypes: exact
