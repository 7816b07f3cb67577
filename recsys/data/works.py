"""Records grouped into works, FRBR-style, for catalogs that give no `work_id`.

Discovery layers group editions the same way (Aspen's grouped works, OCLC's FRBR work-set
algorithm): each record yields *evidence* (`recsys.data.work_evidence`), and records whose
evidence agrees are one work.

- **Title and author.** Records with the same normalized title (245 $a $b without its
  non-filing characters; ISBD punctuation, case and diacritics folded) and the same normalized
  main author (100/110/111 without life dates) are one work. A uniform title (240) is a second
  title of its record, so a translation meets its original.
- **Identifiers.** Records sharing an ISBN (every 020 of one record is one work's) or a control
  number (001, 035) are one work when their main titles (before the subtitle) agree: a record
  for a whole set carries its volumes' ISBNs too, and must not tie them together. An other-edition
  entry (776 $w to another record's control number, 776 $z to its ISBN) links the two records
  whatever their titles (a translation's title differs).
- **What keeps works apart.** A merge needs the author to agree: "Poems" by two authors never
  merge, and a record without an author joins others only through a shared identifier (where
  one form of a name may extend the other: "Butler, Judith" and "Butler, Judith Pamela"). Volumes
  stay apart: the part (245 $n $p) is part of the title, no merge joins two parts or two numbers
  of one series (490/830 $v), and when one title and author has several volumes numbered in a
  series, the records without a number stay a work of their own.

Linked records are joined with a union-find, in a fixed order, so the same catalog always gives
the same groups; a group's key is a hash of its members' evidence, not of their order.
`resolve_works` then puts the librarians first: a split or merge made with `recsys works`, then
the catalog's own `work_id`, then the derived key.
"""

from __future__ import annotations

import hashlib
import itertools
from collections import Counter, defaultdict
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from recsys.columns import Columns as C
from recsys.data.work_evidence import (
    identifier_tokens,
    is_isbn,
    part_key_of,
    present,
    record_evidence,
    series_marks,
    title_key_of,
)

#: Where a record's effective work comes from (`resolve_works`).
FROM_LIBRARIAN = "librarian"
FROM_CATALOG = "catalog"
FROM_DERIVED = "derived"
FROM_RECORD = "record"
#: Librarians' overrides (`recsys works merge|split`), as `resolve_works` reads them.
MERGE = "merge"
SPLIT = "split"
OVERRIDE_WORK = "override_work"
OVERRIDE_ACTION = "override_action"
SOURCE = "source"
#: How two records were linked (the report shows it).
BY_TITLE = "title and author"
BY_UNIFORM_TITLE = "uniform title (240) and author"
BY_ISBN = "shared ISBN"
BY_RECORD_ID = "shared control number (001, 035)"
BY_OTHER_EDITION = "other-edition entry (776)"
#: Why a link was not followed.
AUTHORS_DIFFER = "authors differ"
TITLES_DIFFER = "main titles differ"
PARTS_DIFFER = "parts (245 $n $p) differ"
NUMBERS_DIFFER = "series numbers differ"
UNNUMBERED = "unnumbered beside numbered volumes"


@dataclass
class _Traits:
    """What a group of records holds that a merge must respect."""

    authors: set[str]
    parts: set[str]
    numbers: dict[str, set[str]]

    def conflict(self, other: _Traits) -> str | None:
        """Why this group and `other` cannot be one work (None when they can)."""
        if not _same_person(self.authors | other.authors):
            return AUTHORS_DIFFER
        if len(self.parts | other.parts) > 1:
            return PARTS_DIFFER
        for series in self.numbers.keys() & other.numbers.keys():
            if len(self.numbers[series] | other.numbers[series]) > 1:
                return NUMBERS_DIFFER
        return None

    def absorb(self, other: _Traits) -> None:
        self.authors |= other.authors
        self.parts |= other.parts
        for series, numbers in other.numbers.items():
            self.numbers.setdefault(series, set()).update(numbers)


def _same_person(authors: set[str]) -> bool:
    """Whether the name forms may be one person: each one's words begin every longer one's."""
    names = sorted((name.split() for name in authors), key=len)
    return all(
        longer[: len(shorter)] == shorter
        for i, shorter in enumerate(names)
        for longer in names[i + 1 :]
    )


@dataclass
class _UnionFind:
    traits: list[_Traits]
    parent: list[int] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.parent = list(range(len(self.traits)))

    def find(self, i: int) -> int:
        while self.parent[i] != i:
            self.parent[i] = self.parent[self.parent[i]]
            i = self.parent[i]
        return i

    def union(self, a: int, b: int) -> str | None:
        """Join the groups of `a` and `b` unless they conflict; returns the conflict."""
        root_a, root_b = self.find(a), self.find(b)
        if root_a == root_b:
            return None
        conflict = self.traits[root_a].conflict(self.traits[root_b])
        if conflict is None:
            root_a, root_b = sorted((root_a, root_b))
            self.parent[root_b] = root_a
            self.traits[root_a].absorb(self.traits[root_b])
        return conflict


@dataclass(frozen=True)
class Grouping:
    """Records grouped into works.

    Attributes
    ----------
    work_key
        The derived work of each record (index ``book_id``).
    links
        The links a librarian may want to check: ``[book_id, other_book_id, via, merged, why]``,
        the links that joined two different titles (a shared identifier, a uniform title) and
        those not followed (``why`` says the rule).
    """

    work_key: pd.Series
    links: pd.DataFrame


LINK_COLUMNS = (C.BOOK_ID, "other_book_id", "via", "merged", "why")


def group_records(evidence: pd.DataFrame) -> Grouping:
    """Group records by their evidence (`record_evidence` or the stored book_works rows)."""
    frame = evidence.drop_duplicates(C.BOOK_ID).sort_values(C.BOOK_ID, kind="stable")
    linker = _Linker(frame.reset_index(drop=True))
    for via, members in _title_buckets(linker.frame, linker.authors):
        for chain in linker.volume_chains(members, via):
            for a, b in itertools.pairwise(chain):
                linker.link(a, b, via)
    for token, holders in _identifier_buckets(linker.frame):
        linker.link_identified(token, holders)
    roots = [linker.groups.find(i) for i in range(len(linker.books))]
    keys = _group_keys(roots, linker.books, linker.titles, linker.authors, linker.marks)
    return Grouping(
        work_key=pd.Series(keys, index=pd.Index(linker.books, name=C.BOOK_ID), name=C.WORK_KEY),
        links=pd.DataFrame(linker.links, columns=list(LINK_COLUMNS)).drop_duplicates(
            ignore_index=True
        ),
    )


class _Linker:
    """The union-find over one catalog's records, and the links worth a librarian's look."""

    def __init__(self, frame: pd.DataFrame) -> None:
        self.frame = frame
        self.books = frame[C.BOOK_ID].astype(str).tolist()
        self.titles = frame[C.TITLE_KEY].fillna("").astype(str).tolist()
        self.main_titles = frame[C.MAIN_TITLE_KEY].fillna("").astype(str).tolist()
        self.authors = [a if present(a) else "" for a in frame[C.AUTHOR_KEY].tolist()]
        self.marks = [series_marks(s) for s in frame[C.SERIES_KEY].tolist()]
        self.groups = _UnionFind(
            [
                _Traits({a} - {""}, {part_key_of(t)}, {s: {n} for s, n in m.items()})
                for a, t, m in zip(self.authors, self.titles, self.marks, strict=True)
            ]
        )
        self.links: list[tuple[str, str, str, bool, str]] = []

    def link(self, a: int, b: int, via: str) -> None:
        """Join `a` and `b` unless a rule keeps them apart (then noted, as is a merge of two
        different titles)."""
        conflict = self.groups.union(a, b)
        if conflict is not None:
            self.links.append((self.books[a], self.books[b], via, False, conflict))
        elif via != BY_TITLE and self.titles[a] != self.titles[b]:
            self.links.append((self.books[a], self.books[b], via, True, ""))

    def link_identified(self, token: str, members: list[tuple[int, bool]]) -> None:
        """Join each record holding identifier `token` to an earlier holder it agrees with: the
        same main title, unless one names the other as another edition (776)."""
        for position, (b, b_named) in enumerate(members[1:], start=1):
            refusal = None
            for a, a_named in members[:position]:
                named = a_named or b_named
                via = BY_OTHER_EDITION if named else _identifier_kind(token)
                if not named and self.main_titles[a] != self.main_titles[b]:
                    refusal = refusal or (self.books[a], self.books[b], via, False, TITLES_DIFFER)
                    continue
                conflict = self.groups.union(a, b)
                if conflict is None:
                    if self.titles[a] != self.titles[b]:
                        self.links.append((self.books[a], self.books[b], via, True, ""))
                    break
                refusal = refusal or (self.books[a], self.books[b], via, False, conflict)
            else:
                if refusal is not None:
                    self.links.append(refusal)

    def volume_chains(self, members: list[int], via: str) -> list[list[int]]:
        """The records of one title and author to chain, apart by volume where a series numbers
        several of them: one chain per number, and one of the unnumbered records."""
        numbers: dict[str, set[str]] = defaultdict(set)
        for i in members:
            for series, number in self.marks[i].items():
                numbers[series].add(number)
        varying = sorted(series for series, seen in numbers.items() if len(seen) > 1)
        if not varying:
            return [members]
        chains: dict[tuple[str, ...], list[int]] = defaultdict(list)
        for i in members:
            chains[tuple(self.marks[i].get(series, "") for series in varying)].append(i)
        ordered = sorted(chains.items())
        for (number_a, chain_a), (number_b, chain_b) in itertools.pairwise(ordered):
            why = UNNUMBERED if not (all(number_a) and all(number_b)) else NUMBERS_DIFFER
            self.links.append((self.books[chain_a[0]], self.books[chain_b[0]], via, False, why))
        return [chain for _, chain in ordered]


def _title_buckets(frame: pd.DataFrame, authors: list[str]) -> Iterator[tuple[str, list[int]]]:
    """Records with an author sharing a title with that author; and records whose uniform
    title (240) is another's title or main title (a translation and its original, whose full
    title often has a subtitle the uniform title leaves out)."""
    titles = frame[C.TITLE_KEY].fillna("").astype(str).tolist()
    mains = [
        title_key_of(main, part_key_of(title)) if present(main) else ""
        for main, title in zip(frame[C.MAIN_TITLE_KEY].tolist(), titles, strict=True)
    ]
    uniforms = frame[C.UNIFORM_TITLE_KEY].tolist()
    by_title: dict[str, list[int]] = defaultdict(list)
    by_main: dict[str, list[int]] = defaultdict(list)
    by_uniform: dict[str, list[int]] = defaultdict(list)
    for i, author in enumerate(authors):
        if not author:
            continue
        if titles[i]:
            by_title[f"{author}|{titles[i]}"].append(i)
        if mains[i]:
            by_main[f"{author}|{mains[i]}"].append(i)
        if present(uniforms[i]):
            by_uniform[f"{author}|{uniforms[i]}"].append(i)
    buckets = [(key, BY_TITLE, members) for key, members in by_title.items()]
    buckets += [
        (key, BY_UNIFORM_TITLE, sorted({*members, *by_title[key], *by_main[key]}))
        for key, members in by_uniform.items()
    ]
    for _, via, members in sorted(buckets):
        if len(members) > 1:
            yield via, members


def _identifier_buckets(frame: pd.DataFrame) -> Iterator[tuple[str, list[tuple[int, bool]]]]:
    """Per identifier, the records holding it, each with whether it names the identifier as
    another edition's."""
    buckets: dict[str, list[tuple[int, bool]]] = defaultdict(list)
    for i, identifiers in enumerate(frame[C.IDENTIFIERS].tolist()):
        for token, named in identifier_tokens(identifiers):
            buckets[token].append((i, named))
    for token, members in sorted(buckets.items()):
        if len(members) > 1:
            yield token, members


def _identifier_kind(token: str) -> str:
    return BY_ISBN if is_isbn(token) else BY_RECORD_ID


def _group_keys(
    roots: list[int],
    books: list[str],
    titles: list[str],
    authors: list[str],
    marks: list[dict[str, str]],
) -> list[str]:
    """A key per record: the hash of its group's smallest evidence string (a record without an
    author or title stands for itself), so a new edition joining a work does not rename it."""
    evidence: dict[int, str] = {}
    for i, root in enumerate(roots):
        if authors[i] and titles[i]:
            numbers = ",".join(f"{s}={n}" for s, n in sorted(marks[i].items()))
            own = f"a|{authors[i]}|{titles[i]}|{numbers}"
        else:
            own = f"r|{books[i]}"
        evidence[root] = min(evidence.get(root, own), own)
    first_book: dict[int, str] = {}
    for i, root in enumerate(roots):  # books are sorted: the first seen is the smallest
        first_book.setdefault(root, books[i])
    taken: set[str] = set()
    names: dict[int, str] = {}
    for root in sorted(evidence, key=lambda r: (evidence[r], first_book[r])):
        text = evidence[root]
        if text in taken:  # two groups kept apart with the same evidence (a refused merge)
            text = f"{text}|{first_book[root]}"
        taken.add(text)
        names[root] = "w" + hashlib.sha1(text.encode()).hexdigest()[:16]
    return [names[root] for root in roots]


def derive_work_ids(catalog: pd.DataFrame) -> pd.Series:
    """The effective work of each catalog row (aligned with `catalog`): its own `work_id` where
    it has one, else the work derived from its evidence (a file's catalog with no store)."""
    grouping = group_records(record_evidence(catalog))
    curated = catalog[C.WORK_ID] if C.WORK_ID in catalog else pd.Series(None, index=catalog.index)
    frame = pd.DataFrame(
        {
            C.BOOK_ID: catalog[C.BOOK_ID].astype(str).to_numpy(),
            C.WORK_ID: curated.to_numpy(),
            C.WORK_KEY: catalog[C.BOOK_ID].astype(str).map(grouping.work_key).to_numpy(),
        }
    )
    resolved = resolve_works(frame)
    return pd.Series(resolved[C.WORK_ID].to_numpy(), index=catalog.index, name=C.WORK_ID)


def resolve_works(frame: pd.DataFrame) -> pd.DataFrame:
    """Each record's effective work and where it comes from.

    `frame` holds ``book_id``, ``work_id`` (the catalog's own, may be missing) and ``work_key``
    (derived), optionally ``override_work`` and ``override_action`` (a librarian's merge or
    split). In order: the librarian's override; the catalog's `work_id`; the work a librarian
    merged into, or the catalog's `work_id`, held by another record of the same derived work
    (so an edition catalogued later joins it; a split record claims nothing); the derived key.
    A record with none of these is a work of its own (`work_id` missing).

    Returns ``[book_id, work_id, source]`` in the order of `frame`.
    """
    book_ids = frame[C.BOOK_ID].astype(str).to_numpy()
    curated = _column(frame, C.WORK_ID)
    derived = _column(frame, C.WORK_KEY)
    override = _column(frame, OVERRIDE_WORK)
    action = _column(frame, OVERRIDE_ACTION)
    work = np.full(len(frame), None, dtype=object)
    source = np.full(len(frame), FROM_RECORD, dtype=object)
    # derived work -> the works its records were put in, by librarian or catalog, and how often
    claims: dict[str, Counter[tuple[str, str]]] = defaultdict(Counter)
    for i in range(len(frame)):
        if override[i] is not None:
            work[i], source[i] = override[i], FROM_LIBRARIAN
            if action[i] == MERGE and derived[i] is not None:
                claims[derived[i]][(override[i], FROM_LIBRARIAN)] += 1
        elif curated[i] is not None:
            work[i], source[i] = curated[i], FROM_CATALOG
            if derived[i] is not None:
                claims[derived[i]][(curated[i], FROM_CATALOG)] += 1
    for i in range(len(frame)):
        if work[i] is not None or derived[i] is None:
            continue
        counts = claims.get(derived[i])
        if counts:  # the most claimed work, the smallest id among equals
            work[i], source[i] = min(counts, key=lambda claim: (-counts[claim], claim))
        else:
            work[i], source[i] = derived[i], FROM_DERIVED
    return pd.DataFrame({C.BOOK_ID: book_ids, C.WORK_ID: work, SOURCE: source})


def _column(frame: pd.DataFrame, name: str) -> np.ndarray:
    """`frame[name]` as objects with None for missing or blank values."""
    if name not in frame:
        return np.full(len(frame), None, dtype=object)
    return np.array([str(v) if present(v) else None for v in frame[name].tolist()], dtype=object)


def work_map(catalog: pd.DataFrame) -> pd.Series:
    """Book id -> `work_id` for the catalog rows that have one."""
    if C.WORK_ID not in catalog.columns or catalog.empty:
        return pd.Series(dtype=object)
    works = catalog.loc[catalog[C.WORK_ID].notna(), [C.BOOK_ID, C.WORK_ID]]
    return pd.Series(
        works[C.WORK_ID].astype(str).to_numpy(), index=works[C.BOOK_ID].astype(str).to_numpy()
    )


def works_of(books: Iterable[str] | pd.Series, work_of: pd.Series) -> pd.Series:
    """The work of each book, or ``book:<id>`` when the catalog groups it with nothing."""
    books = pd.Series(books).astype(str)
    if work_of.empty:
        return "book:" + books
    mapped = books.map(work_of)
    return ("work:" + mapped).fillna("book:" + books)
