"""Reading the ``Prefer`` header's ``wait`` (RFC 7240)."""

from __future__ import annotations

import pytest

from scaleserve.api.prefer import preference_applied, preferred_wait_s


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("wait=10", 10.0),
        ("Wait=10", 10.0),
        ('wait="7"', 7.0),
        ("respond-async, wait=5", 5.0),
        ("handling=lenient; x=y, wait=3; extra", 3.0),
        ("wait=0", 0.0),
        ("wait=1000", 60.0),  # capped
    ],
)
def test_a_wait_is_read_and_capped(value: str, expected: float) -> None:
    assert preferred_wait_s(value, max_wait_s=60) == expected


@pytest.mark.parametrize(
    "value",
    [None, "", "respond-async", "wait", "wait=", "wait=-1", "wait=1.5", "wait=abc", "wait=\uff11",
     "wait=" + "9" * 12, "x" * 2000 + ",wait=1"],
)  # fmt: skip
def test_anything_else_asks_for_no_wait(value: str | None) -> None:
    assert preferred_wait_s(value, max_wait_s=60) is None


def test_the_applied_preference_names_the_wait_honoured() -> None:
    assert preference_applied(2.0) == "wait=2"
