"""What a librarian checks after records were grouped into works: the largest groups and the
borderline decisions, with titles and authors as readers see them.

Borderline decisions are of four kinds: records joined although their titles differ (a shared
ISBN, a uniform title, an other-edition entry); derived works that may be several volumes of a
set, since the catalog records no part: a collective title ("Oeuvres complètes", "Poems"), ISBNs
close together (a set is numbered at once), or no ISBN at all; records a rule kept
apart although an identifier or their title linked them; and records with the same title in
different works because their authors differ or one has none. `recsys works split|merge`
corrects any of them.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass

import pandas as pd

from recsys.columns import Columns as C
from recsys.data import works
from recsys.data.work_evidence import own_isbns
from recsys.display import clean_author, clean_title

JOINED = "one work, titles differ"
VOLUMES = "one work, perhaps several volumes"
KEPT_APART = "kept apart"
SAME_TITLE = "same title, author differs or is missing"
CHECK_ORDER = {JOINED: 0, VOLUMES: 1, KEPT_APART: 2, SAME_TITLE: 3}
COLLECTIVE_TITLE = "collective title"
CLOSE_ISBNS = "ISBNs close together (a set?)"
NO_ISBNS = "no ISBN to tell volumes from editions"
#: ISBNs (without check digit) at most this far apart were likely given to one set at once.
CLOSE_ISBN_DISTANCE = 10
OTHER = "other_"
#: Words of collective titles (a volume of them is often catalogued without its part number),
#: and the words that join them ("Romans et contes", "Oeuvres complètes").
COLLECTIVE_WORDS = frozenset(
    "oeuvres works poems poemes poesies poesie romans nouvelles contes theatre essais "  # noqa: SIM905 (reads better as text)
    "ecrits werke schriften gedichte opere obras dramen plays stories novels letters "
    "lettres correspondance writings".split()
)
JOINING_WORDS = frozenset(
    "et and und e y de des du of the la le les l complete completes completas romanesques "  # noqa: SIM905 (reads better as text)
    "choisies choisis selected collected gesammelte samtliche".split()
)
LARGEST_COLUMNS = (C.WORK_ID, "records", works.SOURCE, C.TITLE, C.AUTHOR, "titles", "book_ids")
BORDERLINE_COLUMNS = (
    "check",
    "why",
    C.BOOK_ID,
    C.TITLE,
    C.AUTHOR,
    OTHER + C.BOOK_ID,
    OTHER + C.TITLE,
    OTHER + C.AUTHOR,
    "same_work",
)


@dataclass(frozen=True)
class WorksReport:
    """`summary` (label -> value), `largest` (the biggest works first) and `borderline` (every
    decision worth a look, by kind)."""

    summary: pd.Series
    largest: pd.DataFrame
    borderline: pd.DataFrame


def works_report(sources: pd.DataFrame, evidence: pd.DataFrame) -> WorksReport:
    """The report for a catalog's `sources` (`recsys.db.works.load_sources`) and its stored
    `evidence` (`recsys.db.works.load_evidence`)."""
    resolved = works.resolve_works(sources).set_index(C.BOOK_ID)
    info = pd.DataFrame(
        {
            C.TITLE: sources[C.TITLE].map(clean_title).to_numpy(),
            C.AUTHOR: sources[C.AUTHOR].map(clean_author).to_numpy(),
            C.WORK_ID: resolved[C.WORK_ID].to_numpy(),
            works.SOURCE: resolved[works.SOURCE].to_numpy(),
        },
        index=pd.Index(sources[C.BOOK_ID].astype(str), name=C.BOOK_ID),
    )
    sizes = info[C.WORK_ID].value_counts()
    grouping = works.group_records(evidence)
    return WorksReport(
        summary=_summary(info, sizes, grouping.links),
        largest=_largest(info, sizes),
        borderline=pd.concat(
            [
                _links(info, grouping.links),
                _volumes(info, evidence),
                _same_titles(info, evidence),
            ],
            ignore_index=True,
        ).sort_values("check", key=lambda check: check.map(CHECK_ORDER), kind="stable"),
    )


def _summary(info: pd.DataFrame, sizes: pd.Series, links: pd.DataFrame) -> pd.Series:
    grouped = sizes[sizes > 1]
    by_source = info[works.SOURCE].value_counts()
    return pd.Series(
        {
            "records": len(info),
            "works": int(info[C.WORK_ID].nunique()) + int(info[C.WORK_ID].isna().sum()),
            "works of several records": len(grouped),
            "records in those works": int(grouped.sum()),
            "largest work (records)": int(sizes.max()) if len(sizes) else 0,
            "records placed by a librarian": int(by_source.get(works.FROM_LIBRARIAN, 0)),
            "records placed by the catalog's work_id": int(by_source.get(works.FROM_CATALOG, 0)),
            "records placed by the derived key": int(by_source.get(works.FROM_DERIVED, 0)),
            "links followed across different titles": int(links["merged"].sum()),
            "links a rule did not follow": int((~links["merged"]).sum()),
        },
        name="value",
    )


def _largest(info: pd.DataFrame, sizes: pd.Series) -> pd.DataFrame:
    members = info.loc[info[C.WORK_ID].isin(sizes.index[sizes > 1])]
    rows = [
        {
            C.WORK_ID: work,
            "records": len(group),
            works.SOURCE: ", ".join(sorted(group[works.SOURCE].unique())),
            C.TITLE: _first_or_none(group[C.TITLE].dropna().mode()),
            C.AUTHOR: _first_or_none(group[C.AUTHOR].dropna()),
            "titles": int(group[C.TITLE].nunique()),
            "book_ids": " ".join(group.index),
        }
        for work, group in members.groupby(C.WORK_ID, sort=False)
    ]
    frame = pd.DataFrame(rows, columns=list(LARGEST_COLUMNS))
    return frame.sort_values(["records", C.WORK_ID], ascending=[False, True], ignore_index=True)


def _first_or_none(values: pd.Series) -> str | None:
    return str(values.iloc[0]) if len(values) else None


def _links(info: pd.DataFrame, links: pd.DataFrame) -> pd.DataFrame:
    known = links[C.BOOK_ID].isin(info.index) & links["other_book_id"].isin(info.index)
    links = links.loc[known]
    return _pairs(
        info,
        list(zip(links[C.BOOK_ID], links["other_book_id"], strict=True)),
        check=links["merged"].map({True: JOINED, False: KEPT_APART}).tolist(),
        why=(links["via"] + links["why"].map(lambda why: f": {why}" if why else "")).tolist(),
    )


def _volumes(info: pd.DataFrame, evidence: pd.DataFrame) -> pd.DataFrame:
    """Each record of a derived work that may be several volumes, beside the work's first
    record, with the reason."""
    by_book = evidence.set_index(C.BOOK_ID).reindex(info.index)
    derived = info.loc[info[works.SOURCE] == works.FROM_DERIVED]
    sizes = derived[C.WORK_ID].value_counts()
    derived = derived.loc[derived[C.WORK_ID].isin(sizes.index[sizes > 1])].sort_index()
    pairs, whys = [], []
    for _, group in derived.groupby(C.WORK_ID, sort=True):
        books = group.index
        why = _why_volumes(
            by_book.loc[books, C.MAIN_TITLE_KEY].tolist(),
            [own_isbns(i) for i in by_book.loc[books, C.IDENTIFIERS]],
        )
        if why:
            pairs += [(books[0], book) for book in books[1:]]
            whys += [why] * (len(books) - 1)
    return _pairs(info, pairs, check=[VOLUMES] * len(pairs), why=whys)


def _why_volumes(main_titles: list[object], isbns: list[set[str]]) -> str | None:
    if any(_is_collective(title) for title in main_titles):
        return COLLECTIVE_TITLE
    numbers = [{int(isbn[:12]) for isbn in own} for own in isbns]
    for (a, own_a), (b, own_b) in itertools.combinations(zip(numbers, isbns, strict=True), 2):
        close = a and b and min(abs(x - y) for x in a for y in b) <= CLOSE_ISBN_DISTANCE
        if close and not own_a & own_b:
            return CLOSE_ISBNS
    if not any(isbns):
        return NO_ISBNS
    return None


def _is_collective(title: object) -> bool:
    words = set(title.split()) if isinstance(title, str) else set()
    return bool(words & COLLECTIVE_WORDS) and words <= COLLECTIVE_WORDS | JOINING_WORDS


def _same_titles(info: pd.DataFrame, evidence: pd.DataFrame) -> pd.DataFrame:
    """Works sharing a title because their authors differ or are missing: the first record of
    each beside the first record of the title's first work."""
    titles = evidence.set_index(C.BOOK_ID)[C.TITLE_KEY].reindex(info.index)
    frame = info.assign(key=titles, work=info[C.WORK_ID].fillna("book:" + info.index.to_series()))
    frame = frame.loc[frame["key"].notna() & (frame["key"] != "")].sort_index()
    firsts = frame.loc[~frame.duplicated(["key", "work"])]
    pairs = [
        (group.index[0], book)
        for _, group in firsts.groupby("key", sort=True)
        for book in group.index[1:]
    ]
    return _pairs(info, pairs, check=[SAME_TITLE] * len(pairs), why=[""] * len(pairs))


def _pairs(
    info: pd.DataFrame, pairs: list[tuple[str, str]], *, check: list[str], why: list[str]
) -> pd.DataFrame:
    left = info.reindex([a for a, _ in pairs])
    right = info.reindex([b for _, b in pairs])
    return pd.DataFrame(
        {
            "check": check,
            "why": why,
            C.BOOK_ID: left.index.to_numpy(),
            C.TITLE: left[C.TITLE].to_numpy(),
            C.AUTHOR: left[C.AUTHOR].to_numpy(),
            OTHER + C.BOOK_ID: right.index.to_numpy(),
            OTHER + C.TITLE: right[C.TITLE].to_numpy(),
            OTHER + C.AUTHOR: right[C.AUTHOR].to_numpy(),
            "same_work": left[C.WORK_ID].to_numpy() == right[C.WORK_ID].to_numpy(),
        },
        columns=list(BORDERLINE_COLUMNS),
    )
