"""The mapping layer in front of ingest: an export file as chunks of our columns.

With a preset, a system's own loan export is read by role: rows that are not loan events
(returns, in-library use) and anonymized loans are set aside (counted, never stored), a renewed
loan adds a renewal event, and a loan that names only its copy gets its record from the stored
items (unknown copies are quarantined as ``unknown_item``). Items exports and MARC catalogs
follow the preset's layout and id field. Without a preset a file is read as our columns
(optionally renamed with ``--columns``). Every loans file, preset or not, has the configured
anonymous ids set aside and passes the giant-reader guard.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd
from sqlalchemy import Engine

from recsys.columns import Columns as C
from recsys.columns import Events
from recsys.config import Settings
from recsys.data.marc import PRESET_REASON, parse_id_field
from recsys.data.readers import LINE_NUMBER, is_marc, read_chunks
from recsys.data.validation import Reasons
from recsys.db.items import stored_item_count
from recsys.exceptions import InputFormatError
from recsys.integrations.anonymous import (
    ANONYMIZED,
    ReaderShareGuard,
    anonymous_ids,
    is_anonymous,
)
from recsys.integrations.items import CopyRecords
from recsys.integrations.layouts import RoleSource, read_roles
from recsys.integrations.presets import NONE, Format, Names, Preset, get_preset
from recsys.integrations.rules import RENEWED_AT, text

#: The kinds of file a preset describes.
PRESET_KINDS = ("loans", "items", "catalog")


@dataclass
class Export:
    """An opened export: its chunks, and the rows set aside so far, by reason."""

    chunks: Iterator[pd.DataFrame]
    set_aside: Counter[str] = field(default_factory=Counter)


def choose_preset(settings: Settings, name: str | None) -> Preset | None:
    """The preset named on the command line, else ``RECSYS_LOAN_PRESET``; ``none`` for neither."""
    option = "--preset" if name is not None else "RECSYS_LOAN_PRESET"
    chosen = name if name is not None else settings.loan_preset
    if not chosen or chosen.strip().lower() == NONE:
        return None
    return get_preset(chosen, option=option)


def open_export(
    engine: Engine,
    settings: Settings,
    *,
    kind: str,
    path: Path,
    column_map: Mapping[str, str] | None = None,
    preset: str | None = None,
    id_field: str | None = None,
) -> Export:
    """Open `path` as `kind`; the header (and for item-level loans, the items) is checked now.

    `preset` is an explicit choice (``--preset``); without it ``RECSYS_LOAN_PRESET`` applies
    to loans, items and MARC catalogs. `id_field` (``--id-field``) overrides the MARC id field.
    """
    chosen = choose_preset(settings, preset)
    if preset is not None and chosen is not None and kind not in PRESET_KINDS:
        raise InputFormatError(f"--preset applies to {list(PRESET_KINDS)} files; got {kind!r}")
    if id_field is not None and kind != "catalog":
        raise InputFormatError(f"--id-field applies to catalog files; got {kind!r}")
    if chosen is not None and column_map and kind in ("loans", "items"):
        raise InputFormatError(
            f"--columns and the {chosen.name} preset both map columns; use one of them "
            "(--preset none reads a file by our column names)"
        )
    rows = settings.ingest_chunk_rows
    if kind == "catalog":
        marc_id = _catalog_id_field(settings, chosen, path, id_field)
        return Export(
            read_chunks(path, kind, column_map=column_map, chunk_rows=rows, id_field=marc_id)
        )
    if kind == "items" and chosen is not None:
        return Export(_items(path, chosen, rows))
    if kind != "loans":
        return Export(read_chunks(path, kind, column_map=column_map, chunk_rows=rows))
    export = Export(iter(()))
    ids = anonymous_ids(settings, chosen)
    if chosen is None:
        plain = read_chunks(path, kind, column_map=column_map, chunk_rows=rows)
        chunks = _without_anonymous(plain, ids, export.set_aside)
    else:
        chunks = _preset_loans(engine, path, chosen, ids, export.set_aside, rows)
    guard = ReaderShareGuard(file_name=Path(path).name, max_share=settings.max_reader_share)
    export.chunks = guard.watch(chunks)
    return export


def _catalog_id_field(
    settings: Settings, chosen: Preset | None, path: Path, explicit: str | None
) -> str | None:
    """``--id-field``, else (for MARC files) RECSYS_MARC_ID_FIELD, else the preset's."""
    if explicit is not None:
        return explicit
    if settings.marc_id_field:
        parse_id_field(settings.marc_id_field, option="RECSYS_MARC_ID_FIELD")
    configured = settings.marc_id_field or (chosen.catalog_id_field if chosen else None)
    return configured if configured and is_marc(Path(path)) else None


def _without_anonymous(
    chunks: Iterator[pd.DataFrame], ids: frozenset[str], set_aside: Counter[str]
) -> Iterator[pd.DataFrame]:
    if not ids:
        yield from chunks
        return
    for chunk in chunks:
        anonymous = is_anonymous(chunk[C.READER_ID], ids, blank=False)
        if anonymous.any():
            set_aside[ANONYMIZED] += int(anonymous.sum())
            chunk = chunk.loc[~anonymous].reset_index(drop=True)
        yield chunk


def _items(path: Path, preset: Preset, chunk_rows: int) -> Iterator[pd.DataFrame]:
    layout = preset.items
    if layout is None:
        raise InputFormatError(
            f"{Path(path).name}: {preset.system}'s loans name their record, so the "
            f"{preset.name} preset needs no items export"
        )
    source = read_roles(path, layout.roles, Format.CSV, chunk_rows)
    missing = [
        _names(layout.roles[role]) for role in (C.COPY_ID, C.BOOK_ID) if role not in source.found
    ]
    if missing:
        raise _missing_columns(path, preset.name, missing, layout.export, source)
    return source.chunks


def _preset_loans(
    engine: Engine,
    path: Path,
    preset: Preset,
    ids: frozenset[str],
    set_aside: Counter[str],
    chunk_rows: int,
) -> Iterator[pd.DataFrame]:
    source = read_roles(path, preset.columns, preset.format, chunk_rows)
    _check_columns(path, preset, source)
    if C.BOOK_ID not in source.found and stored_item_count(engine) == 0:
        items = f": {preset.items.export}" if preset.items else ""
        raise InputFormatError(
            f"{Path(path).name}: {preset.name} names copies ({source.found[C.COPY_ID]}), which "
            "map to records through the items export, and no items are stored yet. Ingest "
            f"{preset.system}'s items export first{items} (recsys ingest items FILE --preset "
            f"{preset.name}, or drop it into inbox/items/)"
        )
    copies = CopyRecords(engine)
    return (_map_loans(copies, preset, raw, ids, set_aside) for raw in source.chunks)


def _map_loans(
    copies: CopyRecords,
    preset: Preset,
    raw: pd.DataFrame,
    ids: frozenset[str],
    set_aside: Counter[str],
) -> pd.DataFrame:
    """One chunk of a preset's export as our loan columns (plus a preset reason where known bad)."""
    classified = preset.classify(raw)
    readers = text(raw, C.READER_ID)
    anonymous = is_anonymous(readers, ids, blank=preset.blank_reader_is_anonymous)
    aside = classified.set_aside.mask(classified.set_aside.isna() & anonymous, ANONYMIZED)
    set_aside.update({str(k): int(v) for k, v in aside.dropna().value_counts().items()})
    keep = aside.isna()
    loans = pd.DataFrame(
        {
            LINE_NUMBER: raw[LINE_NUMBER],
            C.READER_ID: readers,
            C.BOOK_ID: text(raw, C.BOOK_ID),
            C.BORROWED_AT: preset.times(raw),
            C.EVENT: classified.event,
            C.LIBRARY_ID: text(raw, C.LIBRARY_ID),
            C.COPY_ID: text(raw, C.COPY_ID),
            PRESET_REASON: pd.Series(None, index=raw.index, dtype=object),
        }
    )
    _books_from_items(copies, loans, keep)
    if preset.renewed is None:
        return loans.loc[keep].reset_index(drop=True)
    renewed = keep & preset.renewed(raw) & (classified.event == Events.LOAN)
    renewals = loans.loc[renewed].copy()
    renewals[C.EVENT] = Events.RENEWAL
    renewals[C.BORROWED_AT] = text(raw, RENEWED_AT)[renewed].fillna(renewals[C.BORROWED_AT])
    return pd.concat([loans.loc[keep], renewals]).sort_index(kind="stable").reset_index(drop=True)


def _books_from_items(copies: CopyRecords, loans: pd.DataFrame, keep: pd.Series) -> None:
    """Fill the record of kept loans that name only their copy; unknown copies get a reason."""
    wanted = keep & loans[C.BOOK_ID].isna() & loans[C.COPY_ID].notna()
    if not wanted.any():
        return
    books = copies.books(loans.loc[wanted, C.COPY_ID])
    loans.loc[wanted, C.BOOK_ID] = books
    loans.loc[wanted & loans[C.BOOK_ID].isna(), PRESET_REASON] = Reasons.UNKNOWN_ITEM


def _check_columns(path: Path, preset: Preset, source: RoleSource) -> None:
    """Refuse an export lacking a column the preset needs, naming every missing one."""
    needed = (C.READER_ID, C.BORROWED_AT, *preset.required)
    missing = [_names(preset.columns[role]) for role in needed if role not in source.found]
    if C.BOOK_ID not in needed and not {C.BOOK_ID, C.COPY_ID} & set(source.found):
        ids = [preset.columns[role] for role in (C.BOOK_ID, C.COPY_ID) if role in preset.columns]
        missing.append(" or ".join(_names(names) for names in ids))
    if missing:
        raise _missing_columns(path, preset.name, missing, preset.export, source)


def _missing_columns(
    path: Path, name: str, missing: list[str], export: str, source: RoleSource
) -> InputFormatError:
    return InputFormatError(
        f"{Path(path).name}: the {name} preset needs the column(s) {', '.join(missing)}, "
        f"which the file lacks (expected {export}); found columns: {source.header}"
    )


def _names(names: Names) -> str:
    """``'a'`` or ``'a' (or 'b', 'c')``: a role's export names for a message."""
    others = f" (or {', '.join(repr(name) for name in names[1:])})" if len(names) > 1 else ""
    return f"{names[0]!r}{others}"
