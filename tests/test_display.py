"""Titles and authors as readers see them: no ISBD punctuation closing them, no life dates."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from recsys.display import clean_author, clean_title


@pytest.mark.parametrize(
    ("raw", "shown"),
    [
        (
            "Admirable : L'histoire de la dernière femme ridée sur Terre : roman /",
            "Admirable : L'histoire de la dernière femme ridée sur Terre : roman",
        ),
        ("The hobbit : or, There and back again /", "The hobbit : or, There and back again"),
        (
            "Formulaires et tables : mathématiques, physique, chimie /",
            "Formulaires et tables : mathématiques, physique, chimie",
        ),
        ("Dune.", "Dune"),
        ("Vies des douze Césars...", "Vies des douze Césars..."),
        ("  Pays-Bas  ", "Pays-Bas"),
        ("", None),
        (None, None),
        (float("nan"), None),
    ],
)
def test_titles_lose_the_punctuation_that_closed_their_field(
    raw: object, shown: str | None
) -> None:
    assert clean_title(raw) == shown


@pytest.mark.parametrize(
    ("raw", "shown"),
    [
        ("Oury, Juliette 1989-....", "Oury, Juliette"),
        ("Cicurel, Francine, 1947-", "Cicurel, Francine"),
        ("Tolkien, J. R. R., 1892-1973.", "Tolkien, J. R. R."),
        ("Tolkien, J. R. R. 1892-1973 (John Ronald Reuel)", "Tolkien, J. R. R."),
        ("Laipsker, Alexis 19..-....", "Laipsker, Alexis"),
        ("Plato, ca. 427- ca. 348 av. J.-C", "Plato"),
        ("Bruner, Jerome S.\u200f\u200e 1915-2016 (Jerome Seymour)\u200f,", "Bruner, Jerome S."),
        ("Marieb, Elaine Nicpon, 1936", "Marieb, Elaine Nicpon"),
        ("Library of Congress. Map Division.", "Library of Congress. Map Division"),
        ("Expo 2000", "Expo 2000"),
        ("Dupont, Jean, 1950, 1960-", "Dupont, Jean"),  # a number in a name is not a date
        ("Austen, Jane; Brontë, Charlotte, 1816-1855", "Austen, Jane; Brontë, Charlotte"),
        (None, None),
    ],
)
def test_authors_lose_life_dates_and_closing_punctuation(
    raw: str | None, shown: str | None
) -> None:
    assert clean_author(raw) == shown


@settings(max_examples=300, deadline=None)
@given(text=st.text(max_size=60))
def test_cleaning_twice_changes_nothing(text: str) -> None:
    assert clean_title(clean_title(text)) == clean_title(text)
    assert clean_author(clean_author(text)) == clean_author(text)
