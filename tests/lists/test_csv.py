"""Batch CSV output: cells a spreadsheet would run as a formula are neutralized (OWASP's rule)."""

from __future__ import annotations

import csv
import io

import pandas as pd
from hypothesis import given
from hypothesis import strategies as st

from recsys.lists.render import FORMULA_STARTS, write_csv

# Any text the csv module can carry (it refuses NUL); ids may start with anything.
TEXT = st.text(st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"))
IDS = st.one_of(TEXT, st.sampled_from(FORMULA_STARTS).flatmap(lambda c: TEXT.map(c.__add__)))


def _cells(frame: pd.DataFrame) -> list[list[str]]:
    buffer = io.StringIO()
    write_csv(frame, buffer)
    return list(csv.reader(io.StringIO(buffer.getvalue(), newline="")))


@given(
    rows=st.lists(
        st.tuples(IDS, IDS, st.floats(allow_nan=False, allow_infinity=False, width=32)),
        min_size=1,
        max_size=20,
    )
)
def test_text_cells_that_start_like_a_formula_get_a_leading_quote(
    rows: list[tuple[str, str, float]],
) -> None:
    books, similar, scores = (list(column) for column in zip(*rows, strict=True))
    frame = pd.DataFrame(
        {
            "book_id": pd.Series(books, dtype=object),
            "rank": range(1, len(rows) + 1),
            "similar_book_id": pd.Series(similar, dtype=object),
            "score": scores,
        }
    )
    header, *lines = _cells(frame)
    assert header == ["book_id", "rank", "similar_book_id", "score"]
    assert len(lines) == len(rows)
    for (book, other, score), (book_cell, rank_cell, other_cell, score_cell) in zip(
        rows, lines, strict=True
    ):
        for original, cell in ((book, book_cell), (other, other_cell)):
            risky = original.startswith(FORMULA_STARTS)
            assert cell == ("'" + original if risky else original)
            assert not cell.startswith(FORMULA_STARTS)
        assert int(rank_cell) >= 1
        assert float(score_cell) == score  # numbers stay numbers (as rendered), minus included
