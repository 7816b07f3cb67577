"""Erasure reaches the saved model runs: every retained run is purged of the reader, a run that
may still hold an erased reader is never published, rolled back to, gated through or loaded, and
the running service serves the purged model at once."""

from __future__ import annotations

import gzip
import io
import json
import shutil
import zipfile
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from pipelines.cli import main
from recsys import artifacts
from recsys.erasure import forget_reader
from recsys.exceptions import RecsysError
from recsys.lists.catalog import CatalogIndex
from recsys.lists.readers import ReaderLists
from recsys.lists.served import served_lists
from recsys.models.popularity import PopularityRecommender
from recsys.nightly import steps
from tests.privacy.conftest import point_cli_at


@pytest.fixture
def cli(site, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """The `recsys` command line pointed at the site (its SQLite file, the default URL)."""
    yield from point_cli_at(site.settings, None, monkeypatch)


def _models(site) -> Path:
    return Path(site.settings.models_dir)


def _copy_of_current(site) -> str:
    """A second saved run: the published one under a new run id (as a later nightly's)."""
    models = _models(site)
    source = artifacts.run_path(models, artifacts.current_run_id(models) or "")
    run_id = artifacts.new_run_id()
    target = artifacts.run_path(models, run_id)
    shutil.copytree(source, target)
    manifest = json.loads((target / artifacts.MANIFEST).read_text())
    manifest["run_id"] = run_id
    (target / artifacts.MANIFEST).write_text(json.dumps(manifest))
    return run_id


def _texts(path: Path) -> str:
    """Every text a run's file holds: `.npz` string arrays and id texts, gzip members, other
    files."""
    if path.suffix == ".npz":
        with zipfile.ZipFile(path) as archive:
            parts = []
            for name in archive.namelist():
                values = np.load(io.BytesIO(archive.read(name)), allow_pickle=False)
                if values.dtype.kind in "US":
                    parts.extend(map(str, values.ravel().tolist()))
                elif name.endswith(".utf8.npy"):  # ids stored as UTF-8 text (`IdMap.state`)
                    parts.append(values.tobytes().decode("utf-8"))
            return "\n".join(parts)
    data = path.read_bytes()
    return (gzip.decompress(data) if path.suffix == ".gz" else data).decode("latin-1")


def _runs_holding(site, pseudonym: str) -> list[str]:
    runs = _models(site) / artifacts.RUNS_DIR
    return sorted(
        p.relative_to(runs).as_posix()
        for p in runs.rglob("*")
        if p.is_file() and pseudonym in _texts(p)
    )


def _served_readers(client) -> set[str]:
    return set(client.app.state.store.served.model.readers_.ids.tolist())


def test_forget_purges_every_retained_run_and_rollback_restores_a_purged_one(
    site, cli: None, capsys: pytest.CaptureFixture
) -> None:
    raw = site.busiest_readers(1)[0]
    pseudonym = site.pseudonym(raw)
    first = artifacts.current_run_id(_models(site))
    second = _copy_of_current(site)
    assert main(["publish", second]) == 0
    assert _runs_holding(site, pseudonym)  # not vacuous: both runs held the reader

    assert main(["forget", raw]) == 0

    assert _runs_holding(site, pseudonym) == []
    for run_id in (first, second):
        manifest = artifacts.verify_bundle(artifacts.run_path(_models(site), run_id))
        assert manifest["privacy"]["purged_at"]
        assert raw not in json.dumps(manifest) and pseudonym not in json.dumps(manifest)
    assert main(["rollback"]) == 0
    assert artifacts.current_run_id(_models(site)) == first
    out = capsys.readouterr()
    assert "2 purged" in out.out
    assert raw not in out.out + out.err and pseudonym not in out.out + out.err


def test_a_purged_run_carries_the_lists_of_its_purged_model(site, cli: None) -> None:
    raw = site.busiest_readers(1)[0]
    path = artifacts.run_path(_models(site), artifacts.current_run_id(_models(site)) or "")
    before = artifacts.load_bundle(path, latest_erasure=0)
    assert before.lists  # not vacuous: the nightly's run carries every list
    readers_before = len(before.model.known_readers())

    assert main(["forget", raw]) == 0

    manifest = artifacts.verify_bundle(path)
    after = artifacts.load_bundle(path, latest_erasure=artifacts.erasures_applied(manifest))
    assert len(after.model.known_readers()) == readers_before - 1
    expected = served_lists(after.model, after.catalog, after.holdings)
    assert sorted(after.lists) == sorted(expected)
    for name, array in expected.items():
        assert np.array_equal(after.lists[name], array), name
    index = CatalogIndex(after.catalog, after.holdings)
    assert ReaderLists.from_arrays(after.model, index, after.lists) is not None  # served as is


def test_a_run_trained_before_an_erasure_and_not_purged_is_never_published(
    site, cli: None, capsys: pytest.CaptureFixture
) -> None:
    raw = site.busiest_readers(1)[0]
    first = artifacts.current_run_id(_models(site))
    later = _copy_of_current(site)
    assert main(["publish", later]) == 0
    unpublished = _copy_of_current(site)
    capsys.readouterr()
    # An erasure recorded in the store only (as when it happened while these runs were being
    # written): none of the runs reflects it.
    forget_reader(site.engine, pseudonym=site.pseudonym(raw))

    assert main(["publish", unpublished]) == 1
    assert main(["rollback"]) == 1
    assert main(["gate", unpublished]) == 3
    assert artifacts.current_run_id(_models(site)) == later
    assert artifacts.previous_run_id(_models(site)) == first
    out = capsys.readouterr()
    errors = [line for line in out.err.splitlines() if line.startswith("recsys")]
    assert len(errors) == 2 and all("latest erasure" in line for line in errors)
    assert "latest erasure" in out.out  # the gate's explanation
    client = site.client()
    assert client.app.state.store.served is None
    assert "latest erasure" in (client.app.state.store.last_error or "")


def test_a_running_service_serves_the_purged_model_after_recsys_forget(site, cli: None) -> None:
    raw = site.busiest_readers(1)[0]
    client = site.client()
    version = client.app.state.store.served.version
    assert site.pseudonym(raw) in _served_readers(client)

    assert main(["forget", raw]) == 0
    outcome = client.app.state.store.refresh()

    assert (outcome.outcome, outcome.model_version) == ("swapped", version)
    assert site.pseudonym(raw) not in _served_readers(client)
    assert client.app.state.store.stand_in() is None


def test_a_refresh_that_saw_a_purge_half_done_loads_the_run_once_the_purge_is_done(
    site, cli: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The service's poll may verify the served run while a purge has replaced its files but
    not yet its manifest. The refusal must name the manifest it verified: when it named the one
    the purge wrote meanwhile, the erasure route's own refresh took the purged run for refused
    too and answered 500."""
    raw = site.busiest_readers(1)[0]
    client = site.client()
    store = client.app.state.store
    manifest = artifacts.run_path(_models(site), store.served.version) / artifacts.MANIFEST
    before = manifest.read_bytes()
    assert main(["forget", raw]) == 0
    purged = manifest.read_bytes()
    manifest.write_bytes(before)  # the purge half done: new files, the old manifest
    verify = artifacts.verify_bundle

    def verify_while_the_purge_finishes(path: Path, **options: bool) -> None:
        try:
            verify(path, **options)
        finally:
            monkeypatch.setattr(artifacts, "verify_bundle", verify)
            manifest.write_bytes(purged)  # the purge writes its manifest last

    monkeypatch.setattr(artifacts, "verify_bundle", verify_while_the_purge_finishes)
    assert store.refresh().outcome == "refused"

    assert store.refresh().outcome == "swapped"
    assert site.pseudonym(raw) not in _served_readers(client)


def test_admin_erasure_purges_the_runs_and_the_served_model_at_once(site) -> None:
    raw = site.busiest_readers(1)[0]
    _copy_of_current(site)
    client = site.client()

    response = client.delete(f"/admin/readers/{raw}", headers=site.admin_headers)

    assert response.status_code == 200, response.text
    assert response.json()["runs_purged"] == 2
    assert site.pseudonym(raw) not in _served_readers(client)
    assert _runs_holding(site, site.pseudonym(raw)) == []
    assert raw not in response.text and site.pseudonym(raw) not in response.text


def test_a_run_that_trained_while_a_reader_was_erased_is_discarded(site) -> None:
    raw = site.busiest_readers(1)[0]
    ctx = steps.RunContext(artifacts.new_run_id(), site.engine)
    dataset = steps.load_data(site.settings, ctx)
    ctx.model = PopularityRecommender().fit(dataset)
    steps.lists(site.settings, ctx)
    forget_reader(site.engine, pseudonym=site.pseudonym(raw))  # while "training"

    with pytest.raises(RecsysError, match=r"erased while run .* trained"):
        steps.save(site.settings, ctx)

    assert not (ctx.run_dir(site.settings) / artifacts.MODEL_DIR).exists()
    assert not (ctx.run_dir(site.settings) / artifacts.LISTS_DIR).exists()
    assert (ctx.run_dir(site.settings) / artifacts.MANIFEST).is_file()  # it had been saved
