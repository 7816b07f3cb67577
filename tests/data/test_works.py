"""Records grouped into works: MARC fixtures (binary and MARCXML) read the way ingest reads them,
and the rules that must hold for any catalog (property tests)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path

import pandas as pd
import pymarc
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from recsys.columns import Columns as C
from recsys.data import works
from recsys.data.marc import read_marc
from recsys.data.work_evidence import author_key, record_evidence, title_key


def marc_record(
    book_id: str,
    title: str,
    *,
    subtitle: str | None = None,
    nonfiling: int = 0,
    author: str | None = None,
    dates: str | None = None,
    isbns: Sequence[str] = (),
    set_isbn: str | None = None,
    uniform: str | None = None,
    part: str | None = None,
    series: Sequence[tuple[str, str]] = (),
    traced_series: Sequence[tuple[str, str]] = (),
    other_editions: Sequence[str] = (),
    organization: str | None = None,
) -> pymarc.Record:
    """A MARC21 book record with the fields grouping reads, punctuated as cataloguers do."""
    record = pymarc.Record()
    record.leader = pymarc.Leader("00000nam a2200000 a 4500")
    record.add_field(pymarc.Field(tag="001", data=book_id))
    if organization:
        record.add_field(pymarc.Field(tag="003", data=organization))
    for isbn in isbns:
        record.add_field(_field("020", [("a", isbn)]))
    if set_isbn:
        record.add_field(_field("020", [("a", set_isbn), ("q", "set")]))
    if author:
        record.add_field(
            _field("100", [("a", f"{author},")] + ([("d", dates)] if dates else []), "1 ")
        )
    if uniform:
        record.add_field(_field("240", [("a", uniform), ("l", "French.")], "10"))
    subfields = [("a", f"{title}{' :' if subtitle else ''}")]
    if subtitle:
        subfields.append(("b", subtitle))
    if part:
        subfields.append(("n", part))
    subfields.append(("c", "by someone."))
    record.add_field(_field("245", subfields, f"1{nonfiling}"))
    for name, number in series:
        record.add_field(_field("490", [("a", f"{name} ;"), ("v", number)], "1 "))
    for name, number in traced_series:
        record.add_field(_field("830", [("a", f"{name} ;"), ("v", f"{number}.")], " 0"))
    for link in other_editions:
        code = "z" if link[:1].isdigit() else "w"
        record.add_field(_field("776", [("i", "Other edition:"), (code, link)], "08"))
    return record


def _field(tag: str, subfields: list[tuple[str, str]], indicators: str = "  ") -> pymarc.Field:
    return pymarc.Field(
        tag=tag,
        indicators=pymarc.Indicators(*indicators),
        subfields=[pymarc.Subfield(code, value) for code, value in subfields],
    )


def the_hobbit(book_id: str, **fields: object) -> pymarc.Record:
    """The hobbit as its English editions are catalogued (non-filing "The ", a subtitle)."""
    return marc_record(
        book_id,
        "The hobbit",
        subtitle="or, There and back again /",
        nonfiling=4,
        author="Tolkien, J. R. R.",
        **fields,
    )


Group = Callable[[list[pymarc.Record]], works.Grouping]


@pytest.fixture(params=["mrc", "xml"])
def group(request: pytest.FixtureRequest, tmp_path: Path) -> Group:
    """Writes records as binary MARC or MARCXML, reads them back as ingest does, groups them."""

    def grouped(records: list[pymarc.Record]) -> works.Grouping:
        path = tmp_path / f"catalog.{request.param}"
        if request.param == "mrc":
            path.write_bytes(b"".join(record.as_marc() for record in records))
        else:
            with path.open("wb") as handle:
                writer = pymarc.XMLWriter(handle)
                for record in records:
                    writer.write(record)
                writer.close(close_fh=False)
        return works.group_records(record_evidence(pd.DataFrame(list(read_marc(path)))))

    return grouped


def together(grouping: works.Grouping, *books: str) -> bool:
    return grouping.work_key.loc[list(books)].nunique() == 1


def apart(grouping: works.Grouping, *books: str) -> bool:
    return grouping.work_key.loc[list(books)].nunique() == len(books)


def test_editions_of_one_work_are_one_work(group: Group) -> None:
    grouping = group(
        [
            the_hobbit("e1", dates="1892-1973.", isbns=["9780261102217 (pbk.)"]),
            marc_record(
                "e2",
                "HOBBIT",
                subtitle="or there and back again",
                author="Tolkien, J.R.R.",
                isbns=["0-261-10221-4"],
            ),
            marc_record(
                "e3",
                "The hobbit",
                subtitle="a graphic novel /",
                nonfiling=4,
                author="Tolkien, J. R. R.",
            ),
        ]
    )
    assert together(grouping, "e1", "e2")
    assert apart(grouping, "e1", "e3")  # another subtitle is another work (245 $a $b)


def test_a_translation_meets_its_original_through_its_uniform_title(group: Group) -> None:
    grouping = group(
        [
            the_hobbit("en"),
            marc_record("fr", "Bilbo le Hobbit /", author="Tolkien, J. R. R.", uniform="Hobbit."),
            marc_record("de", "Der kleine Hobbit /", author="Tolkien, J. R. R.", uniform="Hobbit."),
            marc_record("other", "Bilbo le Hobbit /", author="Someone, Else"),
        ]
    )
    assert together(grouping, "en", "fr", "de")
    assert apart(grouping, "fr", "other")
    joined = grouping.links.loc[grouping.links["merged"], "via"]
    assert set(joined) == {works.BY_UNIFORM_TITLE}


def test_volumes_and_parts_stay_distinct_works(group: Group) -> None:
    author = "Duby, Georges"
    grouping = group(
        [
            marc_record("t1", "Histoire de France.", author=author, part="Tome 1"),
            marc_record("t2", "Histoire de France.", author=author, part="Tome 2"),
            marc_record("t2b", "Histoire de France.", author=author, part="T. 2"),
            marc_record("a5", "Astérix /", author="Goscinny", series=[("Astérix", "5")]),
            marc_record("a6", "Astérix /", author="Goscinny", series=[("Astérix", "6")]),
            marc_record("a6b", "Astérix /", author="Goscinny", series=[("Astérix", "6")]),
            marc_record("a6c", "Astérix /", author="Goscinny", traced_series=[("Astérix", "6")]),
            marc_record("a0", "Astérix /", author="Goscinny"),
            marc_record("f1", "L'étranger /", author="Camus", series=[("Folio", "2")]),
            marc_record("f2", "L'étranger /", author="Camus", series=[("Le livre de poche", "9")]),
        ]
    )
    assert apart(grouping, "t1", "t2") and together(grouping, "t2", "t2b")
    assert apart(grouping, "a5", "a6", "a0") and together(grouping, "a6", "a6b", "a6c")
    assert together(grouping, "f1", "f2")  # numbers in two publishers' series do not conflict
    kept = grouping.links.loc[~grouping.links["merged"], "why"]
    assert {works.NUMBERS_DIFFER, works.UNNUMBERED} <= set(kept)


def test_same_title_by_different_authors_never_merges(group: Group) -> None:
    grouping = group(
        [
            marc_record("d1", "Poems /", author="Dickinson, Emily", isbns=["9780316184137"]),
            marc_record("d2", "Poems /", author="Dickinson, Emily"),
            marc_record("k1", "Poems /", author="Keats, John", isbns=["9780316184137"]),
        ]
    )
    assert together(grouping, "d1", "d2") and apart(grouping, "d1", "k1")
    refused = grouping.links.loc[~grouping.links["merged"]]
    assert refused["why"].tolist() == [works.AUTHORS_DIFFER]


def test_records_without_author_merge_only_on_a_shared_identifier(group: Group) -> None:
    grouping = group(
        [
            marc_record("g1", "Italie /", isbns=["978-2-01-625633-6"]),
            marc_record("g2", "Italie /", isbns=["2016256338"]),  # the same ISBN, as ISBN-10
            marc_record("g3", "Italie /", isbns=["9782067257863"]),
            marc_record("g4", "Italie /"),
        ]
    )
    assert together(grouping, "g1", "g2")
    assert apart(grouping, "g1", "g3", "g4")


def test_a_set_record_does_not_tie_its_volumes_together(group: Group) -> None:
    volumes = ["9782505000327", "9782505002697"]
    grouping = group(
        [
            marc_record("set", "Death note /", author="Ohba, Tsugumi", isbns=volumes),
            marc_record(
                "v1", "Ennui /", author="Ohba, Tsugumi", isbns=volumes[:1], set_isbn="9782505009054"
            ),
            marc_record(
                "v2", "Cible /", author="Ohba, Tsugumi", isbns=volumes[1:], set_isbn="9782505009054"
            ),
        ]
    )
    assert apart(grouping, "set", "v1", "v2")
    refused = grouping.links.loc[~grouping.links["merged"], "why"]
    assert refused.tolist() == [works.TITLES_DIFFER, works.TITLES_DIFFER]


def test_an_other_edition_entry_links_records_whatever_their_titles(group: Group) -> None:
    grouping = group(
        [
            marc_record(
                "100", "Le deuxième sexe /", author="Beauvoir, Simone de", organization="CH-000"
            ),
            marc_record(
                "200",
                "The second sex /",
                author="Beauvoir, Simone de",
                other_editions=["(CH-000)100"],
            ),
            marc_record(
                "300",
                "Das andere Geschlecht /",
                author="Beauvoir, Simone de",
                other_editions=["9782070205134"],
            ),
            marc_record(
                "400", "Le deuxième sexe /", author="Beauvoir, Simone de", isbns=["9782070205134"]
            ),
        ]
    )
    assert together(grouping, "100", "200", "300", "400")
    assert set(grouping.links["via"]) == {works.BY_OTHER_EDITION}


def test_a_curated_work_id_or_a_librarian_wins_over_the_derived_key() -> None:
    frame = pd.DataFrame(
        {
            C.BOOK_ID: ["a", "b", "c", "d", "e"],
            C.WORK_ID: ["W-cat", None, None, "W-own", None],
            C.WORK_KEY: ["w1", "w1", "w2", "w2", "w3"],
            works.OVERRIDE_WORK: [None, None, "S-split", None, None],
            works.OVERRIDE_ACTION: [None, None, works.SPLIT, None, None],
        }
    )
    resolved = works.resolve_works(frame).set_index(C.BOOK_ID)
    assert resolved[C.WORK_ID].to_dict() == {
        "a": "W-cat",  # the catalog's own work_id
        "b": "W-cat",  # an uncurated edition joins the curated work its key shares
        "c": "S-split",  # the librarian's split wins over everything
        "d": "W-own",
        "e": "w3",  # nothing better known: the derived key
    }
    assert resolved[works.SOURCE].tolist() == [
        works.FROM_CATALOG,
        works.FROM_CATALOG,
        works.FROM_LIBRARIAN,
        works.FROM_CATALOG,
        works.FROM_DERIVED,
    ]


def test_a_csv_catalog_groups_by_its_title_author_and_isbn_columns() -> None:
    catalog = pd.DataFrame(
        {
            C.BOOK_ID: ["1", "2", "3", "4"],
            C.TITLE: [
                "Les années glorieuses : roman /",
                "Les Années glorieuses : roman",
                "Pays-Bas /",
                "Pays-Bas",
            ],
            C.AUTHOR: ["Lemaitre, Pierre, 1951-", "Lemaitre, Pierre", None, None],
            C.ISBN: ["9782702180815; 2702180817", "9782702183618", None, None],
        }
    )
    work = works.derive_work_ids(catalog)
    assert work.iloc[0] == work.iloc[1] and work.iloc[2] != work.iloc[3]


# --- rules that hold for any catalog --------------------------------------------------------

WORDS = st.lists(
    st.text(alphabet="abcdefghijklmnopqrstuvwxyz", min_size=1, max_size=8), min_size=1, max_size=6
)
ACCENTS = {"a": "àâä", "e": "éèêë", "i": "îï", "o": "ôö", "u": "ùûü", "c": "ç"}
ISBD = [" : ", " / ", " ; ", " = ", ", ", ". ", " - ", " "]


@settings(max_examples=200, deadline=None)
@given(words=WORDS, data=st.data())
def test_the_title_key_ignores_isbd_punctuation_case_and_diacritics(
    words: list[str], data: st.DataObject
) -> None:
    varied = []
    for word in words:
        letters = [data.draw(st.sampled_from([c, *ACCENTS.get(c, "")])) for c in word]
        text = "".join(letters)
        varied.append(text.upper() if data.draw(st.booleans()) else text)
    separators = [data.draw(st.sampled_from(ISBD)) for _ in varied[1:]]
    title = varied[0] + "".join(s + w for s, w in zip(separators, varied[1:], strict=True))
    title += data.draw(st.sampled_from(["", " /", " :", ".", " ;"]))
    assert title_key(title) == title_key(" ".join(words))


@settings(max_examples=100, deadline=None)
@given(
    surname=st.sampled_from(["Oury", "Cicurel", "Müller", "Le Breton"]),
    given_name=st.sampled_from(["Juliette", "Francine", "J. R. R.", "Christoph"]),
    dates=st.sampled_from(
        ["", ", 1947-", " 1989-....", ", 1892-1973.", " 19..-....", ", ca. 1500-1560"]
    ),
)
def test_the_author_key_ignores_life_dates(surname: str, given_name: str, dates: str) -> None:
    assert author_key(f"{surname}, {given_name}{dates}") == author_key(f"{surname}, {given_name}")


SURNAMES = ["Austen", "Balzac", "Colette", "Duras", None]
CATALOGS = st.lists(
    st.tuples(
        st.sampled_from(["Poems", "Works", "Emma", "Letters : selected"]),
        st.sampled_from(SURNAMES),
        st.lists(st.sampled_from(["9780316184137", "9782070205134", "9782702180815"]), max_size=2),
    ),
    min_size=1,
    max_size=12,
)


def _catalog(rows: list[tuple[str, str | None, list[str]]]) -> pd.DataFrame:
    return pd.DataFrame(
        {
            C.BOOK_ID: [f"b{i:02d}" for i in range(len(rows))],
            C.TITLE: [title for title, _, _ in rows],
            C.AUTHOR: [author for _, author, _ in rows],
            C.ISBN: ["; ".join(isbns) or None for _, _, isbns in rows],
        }
    )


@settings(max_examples=200, deadline=None)
@given(rows=CATALOGS)
def test_distinct_authors_never_merge_and_no_author_merges_only_on_identifiers(
    rows: list[tuple[str, str | None, list[str]]],
) -> None:
    catalog = _catalog(rows)
    work = works.derive_work_ids(catalog)
    for _, members in catalog.groupby(work):
        assert members[C.AUTHOR].dropna().nunique() <= 1
        if len(members) > 1:
            for _, row in members.loc[members[C.AUTHOR].isna()].iterrows():
                others = members.drop(index=row.name)
                shared = set(str(row[C.ISBN] or "").split("; ")) - {""}
                assert any(shared & set(str(o or "").split("; ")) for o in others[C.ISBN])


@settings(max_examples=100, deadline=None)
@given(rows=CATALOGS, data=st.data())
def test_grouping_does_not_depend_on_the_order_of_the_records(
    rows: list[tuple[str, str | None, list[str]]], data: st.DataObject
) -> None:
    catalog = _catalog(rows)
    order = data.draw(st.permutations(range(len(catalog))))
    shuffled = catalog.iloc[list(order)].reset_index(drop=True)
    first = works.derive_work_ids(catalog).set_axis(catalog[C.BOOK_ID])
    second = works.derive_work_ids(shuffled).set_axis(shuffled[C.BOOK_ID])
    assert first.sort_index().equals(second.sort_index())
