"""Event weights, repeat damping and recency decay, checked on cases computed by hand."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from recsys.columns import Columns as C
from recsys.models.matrix import IdMap
from recsys.models.weighting import event_weights, latest_time

from .pair_reference import aggregate

NOW = pd.Timestamp("2024-06-01", tz="UTC")


def frame(events: list[str], days_ago: list[float], books: list[str] | None = None) -> pd.DataFrame:
    n = len(events)
    return pd.DataFrame(
        {
            C.READER_ID: ["r"] * n,
            C.BOOK_ID: books or [f"b{i}" for i in range(n)],
            C.EVENT: events,
            C.TIMESTAMP: [NOW - pd.Timedelta(days=d) for d in days_ago],
        }
    )


def test_loans_outweigh_renewals_and_holds_which_outweigh_views() -> None:
    weights = event_weights(frame(["loan", "renewal", "hold", "view"], [0, 0, 0, 0]))
    loan, renewal, hold, view = weights
    assert loan > renewal >= hold > view > 0 or loan > hold >= renewal > view > 0


def test_decay_halves_weight_after_one_half_life() -> None:
    data = frame(["loan", "loan", "loan"], [0, 30, 60])
    weights = event_weights(data, half_life_days=30, reference_time=latest_time(data))
    np.testing.assert_allclose(weights, [1.0, 0.5, 0.25])


def test_events_after_the_reference_do_not_grow() -> None:
    data = frame(["loan"], [-10])
    reference = NOW.timestamp()
    assert event_weights(data, half_life_days=30, reference_time=reference)[0] == 1.0


def test_repeat_loans_are_damped_on_a_log_scale() -> None:
    data = frame(["loan"] * 4, [0, 0, 0, 0], books=["b", "b", "b", "c"])
    summed = aggregate(data, event_weights(data)).set_index(C.BOOK_ID)[C.WEIGHT]
    assert summed["c"] == pytest.approx(1.0)
    assert summed["b"] == pytest.approx(2.0)  # log2(1 + 3)


def test_unknown_event_is_refused_by_name() -> None:
    with pytest.raises(ValueError, match=r"unknown event values \['purchase'\]"):
        event_weights(frame(["purchase"], [0]))


def test_event_weight_overrides_are_checked() -> None:
    with pytest.raises(ValueError, match=r"event_weights has unknown event 'like'"):
        event_weights(frame(["loan"], [0]), event_weights={"like": 1.0})
    with pytest.raises(ValueError, match=r"event_weights\['view'\] must be >= 0"):
        event_weights(frame(["loan"], [0]), event_weights={"view": -1.0})


def test_half_life_must_be_positive() -> None:
    with pytest.raises(ValueError, match="half_life_days must be positive or None; got 0"):
        event_weights(frame(["loan"], [0]), half_life_days=0, reference_time=NOW.timestamp())


def test_id_map_round_trip_and_unknown_ids() -> None:
    ids = IdMap(["x", "y", "z"])
    np.testing.assert_array_equal(ids.index(["z", "nope", "x"]), [2, -1, 0])
    assert ids.ids.dtype.kind == "O"  # Python strings: memory grows with each id, not the longest
    with pytest.raises(ValueError, match="IdMap ids must be unique"):
        IdMap(["x", "x"])


def test_id_map_position_of_one_id() -> None:
    ids = IdMap(["x", "y", "z"])
    assert [ids.position(i) for i in ("z", "x", "nope", "")] == [2, 0, None, None]
