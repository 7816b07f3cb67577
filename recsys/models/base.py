"""The model contract every recommender follows (scikit-learn style, batch-first, external ids).

- ``__init__`` takes keyword-only hyper-parameters and stores them unchanged.
- ``fit(dataset)`` returns ``self``; fitted attributes end in ``_``.
- ``recommend`` answers ``[reader_id, book_id, score, rank]`` and ``similar_books`` answers
  ``[book_id, similar_book_id, score, rank]``; both return exactly ``k`` rows per query whenever
  ``k`` eligible books exist, whatever is filtered.
- ``save(directory)`` writes parameters as JSON and fitted arrays as `.npy` files (never pickle)
  and ``load(directory)`` reads them back, the large arrays memory-mapped so that every service
  worker shares one copy (`recsys.array_files`); `recsys.artifacts` adds the manifest and
  checksums.
- ``forget_readers(readers)`` removes everything a fitted model keeps per reader (an erasure
  purges the saved runs with it).
"""

from __future__ import annotations

import inspect
import json
from abc import ABC, abstractmethod
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any, ClassVar, Self

import numpy as np
import pandas as pd

from recsys.array_files import load_arrays, save_arrays
from recsys.columns import Columns as C
from recsys.data.dataset import Dataset
from recsys.exceptions import NotFittedError

RECOMMEND_COLUMNS = [C.READER_ID, C.BOOK_ID, C.SCORE, C.RANK]
SIMILAR_COLUMNS = [C.BOOK_ID, C.SIMILAR_BOOK_ID, C.SCORE, C.RANK]
PARAMS_FILE = "params.json"
#: The folder of a saved model's arrays, one `.npy` file each.
ARRAYS_DIR = "arrays"
#: Signals behind a per-book list's books (`Recommender.similar_signals`): at least k readers
#: borrowed the book after the page's book, or borrowed both, or only the catalog links them.
BORROWED_NEXT = "borrowed next"
BORROWED_TOO = "borrowed too"
CATALOG = "catalog"


class Recommender(ABC):
    """Base class of every recommender; see the module docstring for the contract."""

    #: Registry name written into the manifest, used by `recsys.models.registry` to load a bundle.
    name: ClassVar[str]
    #: Whether every list the model makes is k-anonymous: no book reaches a list through fewer
    #: than `min_pair_support` other readers (content and popularity reveal no one). Only such
    #: models are published and served; the others are baselines for evaluation.
    private_lists: ClassVar[bool] = False

    def get_params(self) -> dict[str, Any]:
        """The constructor arguments, as stored (goes into the manifest)."""
        signature = inspect.signature(type(self).__init__)
        return {
            p.name: getattr(self, p.name)
            for p in signature.parameters.values()
            if p.kind is inspect.Parameter.KEYWORD_ONLY
        }

    def set_params(self, **params: Any) -> Self:
        valid = self.get_params()
        for key, value in params.items():
            if key not in valid:
                raise ValueError(f"{type(self).__name__} has no parameter {key!r}")
            setattr(self, key, value)
        return self

    @abstractmethod
    def fit(self, dataset: Dataset) -> Self:
        """Learn from `dataset`; returns self."""

    def fit_for_reader_lists(self, dataset: Dataset) -> Self:
        """`fit` for a model that will only make readers' lists (an evaluation's candidate):
        a model may skip what only `similar_books` and `save` need."""
        return self.fit(dataset)

    def fitted_params(self) -> dict[str, Any]:
        """Parameters that refit this fitted model's own choices on other data without searching
        for them again (a model that tunes itself records what it chose); `get_params` here."""
        self._check_fitted()
        return self.get_params()

    @abstractmethod
    def recommend(
        self,
        readers: Sequence[str],
        *,
        k: int = 10,
        exclude_seen: bool = True,
        candidates: Iterable[str] | None = None,
        exclude: Iterable[str] | None = None,
        history: pd.DataFrame | None = None,
    ) -> pd.DataFrame:
        """Top-k books per reader.

        Parameters
        ----------
        readers
            Pseudonymous reader ids; readers unknown to the model get a non-personal fallback.
        k
            List length per reader.
        exclude_seen
            Drop books (and other editions of works) the reader already borrowed.
        candidates
            If given, only these book ids may be recommended.
        exclude
            Book ids that must not be recommended.
        history
            Interactions newer than the training data (``reader_id, book_id, event, timestamp``),
            folded in without a retrain.
        """

    @abstractmethod
    def similar_books(
        self, books: Sequence[str], *, k: int = 10, candidates: Iterable[str] | None = None
    ) -> pd.DataFrame:
        """Top-k books similar to each of `books` (never the book itself)."""

    def explain(
        self,
        reader_id: str,
        books: Sequence[str],
        *,
        history: pd.DataFrame | None = None,
        n: int = 3,
    ) -> dict[str, list[str]]:
        """Up to `n` of the reader's own books behind each of `books` (empty lists from a model
        that cannot name them)."""
        self._check_fitted()
        return {str(book): [] for book in books}

    # What serving asks of a fitted model besides lists (`recsys.lists`).
    @property
    @abstractmethod
    def trained_until(self) -> float | None:
        """Unix time of the newest interaction the model learnt from (None: undated); a reader's
        loans after it are folded in when their list is made."""

    @abstractmethod
    def known_readers(self) -> np.ndarray:
        """Pseudonyms of the readers the model has a training row for (their lists are the
        same until the next model, so they are precomputed)."""

    @abstractmethod
    def reader_row(self, reader: str) -> int | None:
        """`reader`'s training row: their position in `known_readers` (None: they have none)."""

    @abstractmethod
    def training_books(self, reader: str) -> list[str]:
        """The books of `reader`'s training row (none for a reader without one): what the model
        holds of them, which their data export shows (a model that pools a work's records holds
        the work under one of its records)."""

    @abstractmethod
    def book_popularity(self, books: Sequence[str]) -> np.ndarray:
        """The model's popularity of each of `books` (0 for a book it does not know): the order
        of popular padding and ties, and of a work's records where a list picks one."""

    @abstractmethod
    def linked_by_readers(self, book: str) -> bool:
        """Whether `similar_books` of `book` comes from what readers borrowed together (else
        from catalog content alone)."""

    def similar_signals(self, book: str, similar: Sequence[str]) -> list[str]:
        """The signal that put each of `similar` in `book`'s `similar_books` list:
        `BORROWED_NEXT`, `BORROWED_TOO` or `CATALOG` (what a catalog page's reason names).
        Here: every book is linked by readers, or by catalog content alone."""
        signal = BORROWED_TOO if self.linked_by_readers(book) else CATALOG
        return [signal] * len(similar)

    @abstractmethod
    def forget_readers(self, readers: Iterable[str]) -> int:
        """Remove from this fitted model everything it keeps per reader for `readers`
        (pseudonyms; unknown ones are ignored): their id, their training data and anything
        learned or precomputed for them alone. Returns how many of them the model held.

        Book-level numbers learned from many readers (book factors, co-borrowing and pair
        counts, popularity) keep the readers' share until the next fit without them.
        """

    def save(self, directory: Path) -> list[Path]:
        """Write parameters (JSON) and fitted arrays (`.npy` files); returns the files written."""
        self._check_fitted()
        directory.mkdir(parents=True, exist_ok=True)
        params_path = directory / PARAMS_FILE
        params_path.write_text(
            json.dumps(
                {"name": self.name, "params": self.get_params()},
                indent=2,
                sort_keys=True,
                default=str,
            )
        )
        return [params_path, *save_arrays(directory / ARRAYS_DIR, self._state_arrays())]

    @classmethod
    def load(cls, directory: Path) -> Self:
        """Rebuild a fitted recommender from `save` output (no pickle involved); also reads the
        single `.npz` archive of bundles saved before arrays had files of their own."""
        spec = json.loads((directory / PARAMS_FILE).read_text())
        model = cls(**spec["params"])
        archive = directory / f"{cls.name}.npz"
        if (directory / ARRAYS_DIR).is_dir() or not archive.is_file():
            model._restore_arrays(load_arrays(directory / ARRAYS_DIR))
            return model
        with np.load(archive, allow_pickle=False) as arrays:
            model._restore_arrays({key: arrays[key] for key in arrays.files})
        return model

    @abstractmethod
    def _state_arrays(self) -> dict[str, np.ndarray]:
        """Fitted state as plain numpy arrays, no objects (ids through `IdMap.state`)."""

    @abstractmethod
    def _restore_arrays(self, arrays: dict[str, np.ndarray]) -> None:
        """Inverse of `_state_arrays`."""

    @abstractmethod
    def _is_fitted(self) -> bool: ...

    def _check_fitted(self) -> None:
        if not self._is_fitted():
            raise NotFittedError(f"{type(self).__name__} is not fitted; call fit(dataset) first")


def check_k(k: int) -> int:
    """Validate a list length, naming the parameter and the bad value."""
    if isinstance(k, bool) or not isinstance(k, int | np.integer) or k < 1:
        raise ValueError(f"k must be a positive integer; got {k!r}")
    return int(k)


def empty_recommendations() -> pd.DataFrame:
    return pd.DataFrame(
        {c: pd.Series(dtype=float if c == C.SCORE else object) for c in RECOMMEND_COLUMNS}
    )


def empty_similar() -> pd.DataFrame:
    return pd.DataFrame(
        {c: pd.Series(dtype=float if c == C.SCORE else object) for c in SIMILAR_COLUMNS}
    )
