"""Branches, works and their editions, and what each branch holds.

Everything is kept as numpy arrays indexed by book position; ids and text are made only for the
catalog and holdings frames, which have at most a few hundred thousand rows.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from recsys.columns import Audiences
from recsys.columns import Columns as C
from recsys.sample import vocab
from recsys.sample.config import SampleConfig

AUDIENCE_CODE = {name: code for code, name in enumerate(Audiences.ALL)}
FORMAT_CODE = {name: code for code, name in enumerate(vocab.FORMATS)}
EBOOK = FORMAT_CODE["ebook"]
CENTRAL = 0  # branch 0 holds the whole collection and runs the e-library
ZIPF_EXPONENT = 0.85
AWAY_WEIGHT = 0.15  # demand for a book not on the shelves of the reader's branch
LONG_TAIL = 0.3  # popularity exponent when a reader looks past a subject's hits


@dataclass(frozen=True)
class Catalog:
    """Books (editions) as parallel arrays, plus copies held per branch."""

    work: np.ndarray  # int32, work index of each book
    subject: np.ndarray  # int16, primary subject
    subject2: np.ndarray  # int16, secondary subject or -1
    audience: np.ndarray  # int8, index into Audiences.ALL
    format: np.ndarray  # int8, index into vocab.FORMATS
    year: np.ndarray  # int16
    release_day: np.ndarray  # int32, day index (0 = config.start) from which it can be loaned
    demand: np.ndarray  # float64, relative popularity
    copies: np.ndarray  # int32 (branches x books), 0 = not held
    copy_base: np.ndarray  # int64 (branches x books), serial of the first copy
    subject_audience: np.ndarray  # int8 per subject
    subject_demand: np.ndarray  # float64 per subject
    branch_share: np.ndarray  # float64 per branch, share of readers registered there
    frame: pd.DataFrame  # the catalog in canonical columns (row i = book i)

    @property
    def n_books(self) -> int:
        return len(self.work)


def build_catalog(config: SampleConfig, rng: np.random.Generator) -> Catalog:
    """Generate works, their editions and the branches' holdings."""
    n_subjects = config.subjects
    subjects = vocab.SUBJECTS[:n_subjects]
    subject_audience = np.array([AUDIENCE_CODE[s[1]] for s in subjects], dtype=np.int8)
    subject_demand = np.array([s[3] for s in subjects])

    editions = rng.choice([1, 2, 3], p=[0.78, 0.15, 0.07], size=config.books)
    n_works = int(np.searchsorted(np.cumsum(editions), config.books)) + 1
    editions = editions[:n_works]
    editions[-1] -= editions.sum() - config.books

    # Every subject gets at least one work; the rest follow demand (bigger shelves for crime).
    share = subject_demand**0.8 / (subject_demand**0.8).sum()
    work_subject = np.concatenate(
        [
            np.arange(min(n_subjects, n_works)),
            rng.choice(n_subjects, p=share, size=max(0, n_works - n_subjects)),
        ]
    ).astype(np.int16)
    rng.shuffle(work_subject)
    film = np.array([s[2] == "film" for s in subjects])[work_subject]
    editions[film & (editions > 1)] = 1
    extra = config.books - editions.sum()  # films have one edition; give the rest to others
    if extra:
        others = np.flatnonzero(~film)
        np.add.at(editions, rng.choice(others, size=extra), 1)

    work_audience = subject_audience[work_subject]
    work_subject2 = _secondary_subjects(work_subject, subjects, rng)
    work_year = _work_years(n_works, config.end.year, rng)
    work_language = rng.choice(len(vocab.LANGUAGES), p=vocab.LANGUAGE_SHARES, size=n_works)
    work_demand = _work_demand(work_subject, n_subjects, rng)
    work_demand *= np.where(work_language == 0, 1.0, 0.35)
    age = config.end.year - work_year
    work_demand *= np.select([age <= 1, age <= 4, age > 30], [3.0, 1.5, 0.5], 1.0)

    work = np.repeat(np.arange(n_works, dtype=np.int32), editions)
    first = np.concatenate([[0], np.cumsum(editions)[:-1]])
    edition = np.arange(config.books) - np.repeat(first, editions)
    fmt = np.full(config.books, FORMAT_CODE["book"], dtype=np.int8)
    later = edition > 0
    later_formats = np.array([FORMAT_CODE[f] for f in vocab.EDITION_FORMATS], dtype=np.int8)
    fmt[later] = rng.choice(later_formats, p=vocab.EDITION_FORMAT_SHARES, size=int(later.sum()))
    fmt[film[work]] = FORMAT_CODE["dvd"]
    year = work_year[work] + np.where(later, rng.geometric(0.5, config.books), 0)
    digital = (fmt == EBOOK) | (fmt == FORMAT_CODE["audiobook"])
    year = np.where(
        digital & (year < 2005), rng.integers(2005, config.end.year + 1, config.books), year
    )
    year = np.minimum(year, config.end.year).astype(np.int16)
    demand_by_format = np.array([vocab.FORMAT_DEMAND.get(f, 1.0) for f in vocab.FORMATS])
    demand = work_demand[work] * np.where(later, demand_by_format[fmt], 1.0)

    jan1 = (pd.to_datetime(year.astype(str), format="%Y") - pd.Timestamp(config.start)).days
    release_day = (jan1.to_numpy() + rng.integers(0, 365, config.books)).astype(np.int32)
    release_day = np.minimum(release_day, config.days - 14)

    branch_share = np.array([3.0, 2.0, 1.6, 1.3, 1.1, 1.0, 0.9, 0.8][: config.branches])
    branch_share /= branch_share.sum()
    copies = _holdings(demand, fmt, branch_share, rng)
    copy_base = (np.cumsum(copies.ravel()) - copies.ravel()).reshape(copies.shape)

    frame = _catalog_frame(
        rng,
        work=work,
        work_subject=work_subject,
        work_subject2=work_subject2,
        work_language=work_language,
        fmt=fmt,
        year=year,
        subjects=subjects,
    )
    return Catalog(
        work=work,
        subject=work_subject[work],
        subject2=work_subject2[work],
        audience=work_audience[work],
        format=fmt,
        year=year,
        release_day=release_day,
        demand=demand,
        copies=copies,
        copy_base=copy_base.astype(np.int64),
        subject_audience=subject_audience,
        subject_demand=subject_demand,
        branch_share=branch_share,
        frame=frame,
    )


def _secondary_subjects(
    work_subject: np.ndarray,
    subjects: tuple[tuple[str, str, str, float], ...],
    rng: np.random.Generator,
) -> np.ndarray:
    """A second heading for ~30% of works: same audience, most often the same kind of book."""
    audience = np.array([s[1] for s in subjects])
    family = np.array([s[2] for s in subjects])
    second = np.full(len(work_subject), -1, dtype=np.int16)
    for s in range(len(subjects)):
        weight = np.where(family == family[s], 20.0, 1.0)
        weight[(audience != audience[s]) | (family == "film")] = 0.0
        weight[s] = 0.0
        members = np.flatnonzero(work_subject == s)
        chosen = members[rng.random(len(members)) < 0.3]
        if weight.sum() > 0 and len(chosen):
            second[chosen] = rng.choice(len(subjects), p=weight / weight.sum(), size=len(chosen))
    return second


def _work_years(n_works: int, end_year: int, rng: np.random.Generator) -> np.ndarray:
    """Mostly recent publications, with a long tail of older ones."""
    recent = end_year - np.floor(rng.exponential(5.0, n_works))
    old = rng.integers(1920, end_year + 1, n_works)
    return np.clip(np.where(rng.random(n_works) < 0.6, recent, old), 1900, end_year).astype(
        np.int16
    )


def _work_demand(work_subject: np.ndarray, n_subjects: int, rng: np.random.Generator) -> np.ndarray:
    """Zipf-like popularity within each subject: a few hits and a long tail."""
    demand = np.empty(len(work_subject))
    for s in range(n_subjects):
        members = np.flatnonzero(work_subject == s)
        ranks = rng.permutation(len(members)) + 1
        demand[members] = 1.0 / ranks**ZIPF_EXPONENT
    return demand


def _holdings(
    demand: np.ndarray, fmt: np.ndarray, branch_share: np.ndarray, rng: np.random.Generator
) -> np.ndarray:
    """Copies per branch: the central library holds everything, branches the more wanted part."""
    n_books = len(demand)
    pct = np.empty(n_books)
    pct[np.argsort(demand, kind="stable")] = np.arange(n_books) / max(1, n_books - 1)
    copies = np.zeros((len(branch_share), n_books), dtype=np.int32)
    copies[CENTRAL] = 1 + rng.poisson(6.0 * pct**8)
    size = 0.25 + 0.35 * branch_share / branch_share.max()
    for branch in range(1, len(branch_share)):
        held = rng.random(n_books) < np.clip(size[branch] * (0.3 + 1.7 * pct**2), 0, 0.98)
        held &= fmt != EBOOK
        copies[branch, held] = 1 + rng.poisson(3.0 * pct[held] ** 8)
    return copies


def _catalog_frame(
    rng: np.random.Generator,
    *,
    work: np.ndarray,
    work_subject: np.ndarray,
    work_subject2: np.ndarray,
    work_language: np.ndarray,
    fmt: np.ndarray,
    year: np.ndarray,
    subjects: tuple[tuple[str, str, str, float], ...],
) -> pd.DataFrame:
    """Titles, authors, headings and ISBNs as text, one row per book."""
    n_works = len(work_subject)
    titles = _titles(work_subject, subjects, rng)
    authors = _authors(work_subject, len(subjects), rng)
    headings = np.array([s[0] for s in subjects], dtype=object)
    text = headings[work_subject]
    has_second = work_subject2 >= 0
    text[has_second] = text[has_second] + "; " + headings[work_subject2[has_second]]
    fiction = np.array([s[2] in ("mystery", "romance", "history", "literary") for s in subjects])
    placed = fiction[work_subject] & (rng.random(n_works) < 0.35)
    places = np.array(vocab.PLACES, dtype=object)[rng.integers(0, len(vocab.PLACES), n_works)]
    text[placed] = text[placed] + "; " + places[placed]

    n_books = len(work)
    numbers = np.sort(rng.choice(999_999, size=n_books, replace=False) + 1)
    isbn = _isbn13(rng.integers(0, 10**8, n_books))
    isbn[fmt == FORMAT_CODE["dvd"]] = ""
    audiences = np.array(Audiences.ALL, dtype=object)
    subject_audience = np.array([AUDIENCE_CODE[s[1]] for s in subjects])
    return pd.DataFrame(
        {
            C.BOOK_ID: [f"B{n:06d}" for n in numbers],
            C.TITLE: titles[work],
            C.AUTHOR: authors[work],
            C.SUBJECTS: text[work],
            C.ISBN: isbn,
            C.LANGUAGE: np.array(vocab.LANGUAGES, dtype=object)[work_language][work],
            C.AUDIENCE: audiences[subject_audience[work_subject]][work],
            C.YEAR: year.astype(np.int64),
            C.WORK_ID: [f"W{w + 1:06d}" for w in work],
            C.FORMAT: np.array(vocab.FORMATS, dtype=object)[fmt],
        }
    )


def _titles(
    work_subject: np.ndarray,
    subjects: tuple[tuple[str, str, str, float], ...],
    rng: np.random.Generator,
) -> np.ndarray:
    n = len(work_subject)
    picks = rng.integers(0, 1 << 30, size=(n, 5))
    out = np.empty(n, dtype=object)
    for i, (s, pick) in enumerate(zip(work_subject.tolist(), picks.tolist(), strict=True)):
        adjectives, nouns = vocab.WORDS[subjects[s][2]]
        template = vocab.TEMPLATES[pick[0] % len(vocab.TEMPLATES)]
        noun = nouns[pick[2] % len(nouns)]
        out[i] = template.format(
            a=adjectives[pick[1] % len(adjectives)],
            n=noun,
            n2=nouns[(pick[2] + 1 + pick[3] % (len(nouns) - 1)) % len(nouns)],
            f=vocab.FIRST_NAMES[pick[3] % len(vocab.FIRST_NAMES)],
            p=vocab.PLACES[pick[4] % len(vocab.PLACES)],
        )
    return out


def _authors(work_subject: np.ndarray, n_subjects: int, rng: np.random.Generator) -> np.ndarray:
    """Authors write within one subject; a few are prolific (Zipf over an author pool)."""
    first = np.array(vocab.FIRST_NAMES, dtype=object)
    last = np.array(vocab.LAST_NAMES, dtype=object)
    initials = np.array([f" {chr(65 + i)}. " for i in range(26)] + [" "] * 26, dtype=object)
    out = np.empty(len(work_subject), dtype=object)
    for s in range(n_subjects):
        members = np.flatnonzero(work_subject == s)
        n_authors = max(1, len(members) // 3)
        weights = 1.0 / np.arange(1, n_authors + 1) ** 0.8
        chosen = rng.choice(n_authors, p=weights / weights.sum(), size=len(members))
        names = (
            first[rng.integers(0, len(first), n_authors)]
            + initials[rng.integers(0, len(initials), n_authors)]
            + last[rng.integers(0, len(last), n_authors)]
        )
        out[members] = names[chosen]
    return out


def _isbn13(body: np.ndarray) -> np.ndarray:
    """Valid ISBN-13s with the Swedish prefix 978-91 and a computed check digit."""
    digits = np.zeros((len(body), 12), dtype=np.int64)
    digits[:, :5] = [9, 7, 8, 9, 1]
    for position in range(11, 4, -1):
        digits[:, position] = body % 10
        body = body // 10
    weights = np.tile([1, 3], 6)
    check = (10 - (digits * weights).sum(axis=1) % 10) % 10
    full = np.concatenate([digits, check[:, None]], axis=1)
    return np.array(["".join(map(str, row)) for row in full.tolist()], dtype=object)


def catalog_block_sampler(catalog: Catalog, n_branches: int, n_subjects: int) -> BookSampler:
    """Prepare the per (branch, subject) popularity distributions that readers draw books from."""
    books = np.concatenate([np.arange(catalog.n_books), np.flatnonzero(catalog.subject2 >= 0)])
    subject = np.concatenate([catalog.subject, catalog.subject2[catalog.subject2 >= 0]])
    base = catalog.demand[books] * np.where(np.arange(len(books)) < catalog.n_books, 1.0, 0.5)
    order = np.lexsort((books, subject))
    books, subject, base = books[order], subject[order], base[order]
    bounds = np.searchsorted(subject, np.arange(n_subjects + 1))
    keys: dict[float, list[np.ndarray]] = {1.0: [], LONG_TAIL: []}
    for branch in range(n_branches):
        on_shelf = np.where(catalog.copies[branch, books] > 0, 1.0, AWAY_WEIGHT)
        for power, stacked in keys.items():
            stacked.append(
                branch * n_subjects + subject + _within_block_cdf(base**power * on_shelf, bounds)
            )
    return BookSampler(
        popular=np.concatenate(keys[1.0]),
        long_tail=np.concatenate(keys[LONG_TAIL]),
        books=np.tile(books, n_branches).astype(np.int32),
        n_subjects=n_subjects,
    )


def _within_block_cdf(weight: np.ndarray, bounds: np.ndarray) -> np.ndarray:
    """Cumulative share of `weight` within each block [bounds[i], bounds[i+1]), in (0, 1]."""
    cum = np.cumsum(weight)
    before = np.concatenate([[0.0], cum])[bounds[:-1]]
    sizes = np.diff(bounds)
    within = (cum - np.repeat(before, sizes)) / np.repeat(cum[bounds[1:] - 1] - before, sizes)
    within[bounds[1:] - 1] = 1.0  # the last entry closes its block exactly
    return within


@dataclass(frozen=True)
class BookSampler:
    """Draws a book for (branch, subject) pairs with one `searchsorted` over stacked CDFs.

    `long_tail` flattens popularity: a reader who has read a subject's hits goes on to its
    lesser-known books instead of borrowing the hits again.
    """

    popular: np.ndarray
    long_tail: np.ndarray
    books: np.ndarray
    n_subjects: int

    def draw(
        self,
        branch: np.ndarray,
        subject: np.ndarray,
        rng: np.random.Generator,
        *,
        long_tail: bool = False,
    ) -> np.ndarray:
        block = branch.astype(np.float64) * self.n_subjects + subject
        keys = self.long_tail if long_tail else self.popular
        position = np.searchsorted(keys, block + rng.random(len(block)), side="right")
        return self.books[position]
