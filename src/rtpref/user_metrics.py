"""Per-user test metrics of a sweep run whose test pairs carry ``user_id`` (image sources with
users on): the run's metrics split into pairs of users seen in its training rows and pairs of
users it never saw. A personalized model scores seen users with their embedding and unseen
ones with its base model g0; a global model scores everyone alike, so the two are compared on
the same pairs. Built on :func:`rtpref.personalization.per_user_metrics`."""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np
from numpy.typing import NDArray

from rtpref.data import Pairs
from rtpref.names import USER_GROUP_METRICS, USER_GROUPS


def _take(pairs: Pairs, mask: NDArray[np.bool_]) -> Pairs:
    values = {
        field.name: None if getattr(pairs, field.name) is None else getattr(pairs, field.name)[mask]
        for field in dataclasses.fields(pairs)
    }
    return Pairs(**values)


def user_group_metrics(
    predicted: NDArray[np.float64], test_pairs: Pairs, train_user_id: NDArray[np.int64]
) -> dict[str, Any]:
    """``seen_*`` and ``unseen_*`` metrics (:data:`rtpref.names.USER_GROUP_METRICS`, None for a
    group without test pairs) and ``{group}_pairs``; "seen" means the user has a pair among
    ``train_user_id``, the user ids of the run's training rows."""
    from rtpref.personalization import per_user_metrics

    if test_pairs.user_id is None:
        raise ValueError("per-user metrics need the test pairs' user_id")
    train_users = np.unique(np.asarray(train_user_id, np.int64))
    seen = np.isin(test_pairs.user_id, train_users)
    out: dict[str, Any] = {}
    for group, mask in zip(USER_GROUPS, (seen, ~seen), strict=True):
        out[f"{group}_pairs"] = int(mask.sum())
        values = (
            per_user_metrics(
                np.asarray(predicted, np.float64)[mask], _take(test_pairs, mask), train_users, group
            )
            if mask.any()
            else {}
        )
        for name in USER_GROUP_METRICS:
            out[f"{group}_{name}"] = values.get(name)
    return out
