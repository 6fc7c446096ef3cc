"""Range checks of the simulated labels, where they are written and wherever they are read.

Choices are -1 or +1 and response times are positive; training holds both as float32, so a
response time that is finite in float64 but beyond float32's largest value (3.4e38) would turn
into inf there and be reported as a diverging learner. Every violation is a DataError naming
the file, the column, the row and the pair.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

from rtpref.data import DataError, first_bad_row

FLOAT32_MAX = float(np.finfo(np.float32).max)
READ_ADVICE = "rebuild the labels (rule enhance) from valid rewards"


def _refuse(
    source: str,
    column: str,
    bad: NDArray[np.bool_],
    values: NDArray,
    pair_index: NDArray,
    rows: NDArray | None,
    what: str,
    advice: str,
) -> None:
    position, row = first_bad_row(bad, rows)
    raise DataError(
        f"{source}: column {column!r} has {int(bad.sum())} row(s) {what}, first at row {row} "
        f"(pair_index {int(pair_index[position])}, value {values[position].item()!r}); {advice}"
    )


def check_labels(
    choice: NDArray,
    response_time: NDArray,
    pair_index: NDArray,
    source: str,
    rows: NDArray | None = None,
    advice: str = READ_ADVICE,
) -> None:
    """Raise DataError unless every choice is -1 or +1 and every response time is in
    (0, 3.4e38]; ``rows`` are the row numbers in ``source`` when they are not 0, 1, 2, ...;
    ``advice`` ends the message (what to do)."""
    choice = np.asarray(choice)
    bad_choice = (choice != 1) & (choice != -1)
    if bad_choice.any():
        _refuse(source, "choice", bad_choice, choice, pair_index, rows, "not -1 or +1", advice)
    response_time = np.asarray(response_time, dtype=np.float64)
    # Written as a negation so that NaN counts as out of range.
    not_positive = ~(response_time > 0)
    if not_positive.any():
        _refuse(
            source,
            "response_time",
            not_positive,
            response_time,
            pair_index,
            rows,
            "that are not positive numbers",
            advice,
        )
    too_large = response_time > FLOAT32_MAX
    if too_large.any():
        _refuse(
            source,
            "response_time",
            too_large,
            response_time,
            pair_index,
            rows,
            f"above {FLOAT32_MAX:.3g}, the largest float32 that training can hold "
            "(lower ddm.barrier or the reward scale)",
            advice,
        )
