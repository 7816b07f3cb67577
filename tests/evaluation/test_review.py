"""The notebook-facing review functions, on hand-made results whose right answers are known."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from matplotlib.figure import Figure
from sqlalchemy import Engine

from recsys.columns import Columns as C
from recsys.config import Settings
from recsys.data.dataset import Dataset
from recsys.db.runs import record_run_end, record_run_start
from recsys.evaluation import review, review_plots
from recsys.evaluation.evaluate import ComparisonResult, EvaluationResult
from recsys.evaluation.review_readers import (
    ReaderPanel,
    build_panels,
    choose_readers,
    reader_panels,
    reader_segments,
)
from recsys.evaluation.review_runs import RunComparison, compare_two_runs, resolve_runs
from recsys.exceptions import ModelNotFoundError, RecsysError
from recsys.models.knn import ItemKNNRecommender
from recsys.nightly.progress import Progress
from recsys.nightly.runner import run_nightly
from recsys.sample import SampleConfig, generate_library, write_library


def _result(
    per_reader: pd.DataFrame, recs: list[tuple[str, str]], books: list[str], k: int = 2
) -> EvaluationResult:
    """A result from a per-reader table and (reader, book) suggestions in rank order."""
    frame = pd.DataFrame(recs, columns=[C.READER_ID, C.BOOK_ID])
    frame[C.RANK] = frame.groupby(C.READER_ID).cumcount() + 1
    exposure = frame[C.BOOK_ID].value_counts().reindex(books, fill_value=0).rename("exposure")
    summary = {
        f"{m}@{k}": float(per_reader[m].mean()) if m in per_reader else 0.5
        for m in (
            "hit_rate",
            "precision",
            "recall",
            "ndcg",
            "coverage",
            "popular_share",
            "gini",
            "novelty",
            "diversity",
        )
    }
    return EvaluationResult(k, summary, per_reader, frame, exposure)


def _comparison(results: dict[str, EvaluationResult], k: int = 2) -> ComparisonResult:
    return ComparisonResult(k=k, split={}, results=results)


@pytest.fixture
def segmented() -> ComparisonResult:
    """Two models over 12 readers: 'model' is weak for light readers and at branch 'north'."""
    readers = [f"r{i:02d}" for i in range(12)]
    activity = ["light"] * 4 + ["medium"] * 4 + ["heavy"] * 4
    branch = ["north"] * 6 + ["south"] * 6
    model = [0.0, 0.0, 0.2, 0.2, 0.5, 0.5, 0.6, 0.6, 0.9, 0.9, 0.8, 0.8]
    baseline = [0.4] * 12
    frames = {}
    for name, values in (("model", model), ("popularity", baseline)):
        frames[name] = pd.DataFrame(
            {
                "ndcg": values,
                "activity": activity,
                "branch": branch,
                "audience": "adult",
                "subject": "Poetry",
            },
            index=pd.Index(readers, name=C.READER_ID),
        )
    recs = [(r, "b1") for r in readers]
    return _comparison({n: _result(f, recs, ["b1", "b2"]) for n, f in frames.items()})


def test_quality_table_states_each_measure_in_percent_or_as_is() -> None:
    per_reader = pd.DataFrame({"hit_rate": [1.0, 0.0], "ndcg": [0.6, 0.2]})
    result = _result(per_reader, [("a", "b1")], ["b1"])
    table = review.quality_table(_comparison({"m": result}))
    assert table.loc["m", "readers who borrowed a suggested book (%)"] == pytest.approx(50.0)
    assert table.loc["m", "ranking quality (NDCG, 0 to 1)"] == pytest.approx(0.4)
    assert list(table.columns) == [title for _, title, _ in review.QUALITY_COLUMNS]


def test_relabel_renames_models_and_keeps_unlisted_names() -> None:
    result = _result(pd.DataFrame({"ndcg": [1.0]}), [("a", "b1")], ["b1"])
    comparison = ComparisonResult(
        k=2,
        split={},
        results={"popularity": result, "mine": result},
        fit_seconds={"popularity": 1.0},
    )
    renamed = review.relabel(comparison, review.BASELINE_LABELS)
    assert list(renamed.results) == ["popularity (most borrowed)", "mine"]
    assert renamed.fit_seconds == {"popularity (most borrowed)": 1.0}
    assert renamed.results["mine"] is result


def _dataset(loans: list[tuple[str, str]], subjects: dict[str, str | None]) -> Dataset:
    frame = pd.DataFrame(loans, columns=[C.READER_ID, C.BOOK_ID])
    catalog = pd.DataFrame(
        {
            C.BOOK_ID: list(subjects),
            C.TITLE: [f"T-{b}" for b in subjects],
            C.SUBJECTS: list(subjects.values()),
        }
    )
    return Dataset.from_interactions(frame, catalog=catalog)


def test_reader_main_subject_counts_first_headings_and_breaks_ties_alphabetically() -> None:
    dataset = _dataset(
        [("r1", "b1"), ("r1", "b2"), ("r1", "b3"), ("r2", "b3"), ("r2", "b4"), ("r3", "b5")],
        {"b1": "Alps; Birds", "b2": "Alps", "b3": "Cooking", "b4": "Birds", "b5": None},
    )
    subject = review.reader_main_subject(dataset)
    assert subject.to_dict() == {"r1": "Alps", "r2": "Birds", "r3": "unknown"}


def test_add_subject_segment_gives_every_model_the_readers_subject() -> None:
    dataset = _dataset([("r1", "b1"), ("r2", "b2")], {"b1": "Alps", "b2": "Birds"})
    per_reader = pd.DataFrame({"ndcg": [1.0, 0.0]}, index=pd.Index(["r1", "r2"], name=C.READER_ID))
    comparison = _comparison({"m": _result(per_reader, [("r1", "b2")], ["b1", "b2"])})
    added = review.add_subject_segment(comparison, dataset)
    assert added.results["m"].per_reader["subject"].to_dict() == {"r1": "Alps", "r2": "Birds"}


def test_run_history_is_one_row_per_run_model_and_metric(engine: Engine) -> None:
    record_run_start(engine, run_id="20261101T010000Z-aaaa", started_at=1_793_500_000)
    record_run_end(
        engine,
        run_id="20261101T010000Z-aaaa",
        finished_at=1_793_500_100,
        status="published",
        decision="better",
        summary={
            "metrics": {
                "candidate": {"ndcg@10": 0.3, "recall@10": 0.5},
                "popularity": {"ndcg@10": 0.1},
            }
        },
    )
    record_run_start(engine, run_id="20261102T010000Z-bbbb", started_at=1_793_586_400)
    record_run_end(
        engine,
        run_id="20261102T010000Z-bbbb",
        finished_at=1_793_586_500,
        status="failed",
        decision=None,
        summary={"error": "no loans"},
    )
    history = review.run_history(engine)
    assert len(history) == 3
    assert set(history["run_id"]) == {"20261101T010000Z-aaaa"}
    row = history.loc[(history["model"] == "candidate") & (history["metric"] == "ndcg@10")]
    assert row["value"].tolist() == [0.3]
    table = review.history_table(history, metric="ndcg@10")
    assert table.loc["20261101T010000Z-aaaa", "model trained that night"] == 0.3
    assert table.loc["20261101T010000Z-aaaa", "popularity (most borrowed)"] == 0.1


def test_run_history_of_an_empty_store_is_empty_and_still_plots(engine: Engine) -> None:
    history = review.run_history(engine)
    assert history.empty
    assert list(history.columns) == [
        "run_id",
        "started_at",
        "status",
        "decision",
        "model",
        "metric",
        "value",
    ]
    assert review.history_table(history).empty
    figure = review_plots.history_lines(history, title="trend")
    assert "No nightly run" in figure.axes[0].texts[0].get_text()


def test_long_tail_table_splits_loans_and_suggestions_by_popularity() -> None:
    books = ["b1", "b2", "b3", "b4", "b5"]
    popularity = pd.Series([6, 3, 1, 0, 0], index=books)
    recs = [("r1", "b1"), ("r1", "b3"), ("r2", "b1"), ("r2", "b4")]
    comparison = _comparison({"m": _result(pd.DataFrame({"ndcg": [0.0]}), recs, books)})
    table = review.long_tail_table(comparison, popularity, head_share=0.2)
    head = "most borrowed 20% of borrowed books"
    assert table["books"].to_dict() == {head: 1, "other borrowed books": 2, "never borrowed": 2}
    assert table["loans (%)"].tolist() == pytest.approx([60.0, 40.0, 0.0])
    assert table["m: suggestions (%)"].tolist() == pytest.approx([50.0, 25.0, 25.0])
    with pytest.raises(ValueError, match=r"head_share must be between 0 and 1; got 1\.5"):
        review.long_tail_table(comparison, popularity, head_share=1.5)


def test_branch_coverage_measures_each_branch_against_its_own_shelves() -> None:
    per_reader = pd.DataFrame(
        {"branch": ["north", "north", "south"]},
        index=pd.Index(["r1", "r2", "r3"], name=C.READER_ID),
    )
    recs = [("r1", "b1"), ("r1", "b2"), ("r2", "b2"), ("r2", "b3"), ("r3", "b1")]
    holdings = pd.DataFrame(
        {C.BOOK_ID: ["b1", "b2", "b3"], C.LIBRARY_ID: ["north", "north", "south"]}
    )
    table = review.branch_coverage(_result(per_reader, recs, ["b1", "b2", "b3"]), holdings)
    assert table.loc["north"].tolist() == pytest.approx([2, 2, 100.0, 75.0])
    assert table.loc["south"].tolist() == pytest.approx([1, 1, 0.0, 0.0])
    assert table.index.tolist() == ["north", "south"]


def test_never_suggested_reasons_take_the_first_reason_that_applies() -> None:
    books = ["b1", "b2", "b3", "b4", "b5"]
    audiences = ["adult"] * 30 + ["children"]
    per_reader = pd.DataFrame(
        {"audience": audiences}, index=pd.Index([f"r{i}" for i in range(31)], name=C.READER_ID)
    )
    result = _result(per_reader, [("r0", "b1")], books)
    popularity = pd.Series([9, 0, 2, 5, 4], index=books)
    catalog = pd.DataFrame(
        {
            C.BOOK_ID: books,
            C.TITLE: [f"T{b}" for b in books],
            C.AUDIENCE: ["adult", "adult", "adult", "children", "adult"],
        }
    )
    table = review.never_suggested_reasons(result, popularity, catalog, min_pair_support=3)
    assert table["reason"].to_dict() == {
        "b4": review.RARE_AUDIENCE,
        "b5": review.OUTRANKED,
        "b3": review.TOO_FEW_READERS,
        "b2": review.NEVER_BORROWED,
    }
    counts = review.reason_counts(table)
    assert counts.index.tolist() == list(review.REASONS)
    assert counts["books"].tolist() == [1, 1, 1, 1]
    assert counts["share (%)"].tolist() == pytest.approx([25.0] * 4)


def test_segment_quality_orders_activity_and_drops_small_groups(
    segmented: ComparisonResult,
) -> None:
    table = review.segment_quality(segmented, by="activity", metric="ndcg")
    assert table.index.tolist() == ["light", "medium", "heavy"]
    assert table.loc["light", "model"] == pytest.approx(0.1)
    assert table.loc["light", "readers"] == 4
    assert review.segment_quality(segmented, by="activity", min_readers=5).empty


def test_weakest_segments_lists_lowest_groups_beside_the_best_baseline(
    segmented: ComparisonResult,
) -> None:
    weakest = review.weakest_segments(
        segmented, model="model", segments=("activity", "branch"), min_readers=1, n=2
    )
    assert weakest[["segment", "group"]].values.tolist() == [
        ["activity", "light"],
        ["branch", "north"],
    ]
    assert weakest.loc[0, "difference"] == pytest.approx(0.1 - 0.4)
    with pytest.raises(ValueError, match="model must be one of \\['model', 'popularity'\\]"):
        review.weakest_segments(segmented, model="nope")


def _segments() -> pd.DataFrame:
    readers = [f"p{i:02d}" for i in range(9)]
    return pd.DataFrame(
        {
            "train_loans": [1, 4, 4, 8, 8, 30, 30, 30, 2],
            "activity": [
                "light",
                "light",
                "light",
                "medium",
                "medium",
                "heavy",
                "heavy",
                "heavy",
                "light",
            ],
            "branch": ["north"] * 5 + ["south"] * 4,
        },
        index=pd.Index(readers, name=C.READER_ID),
    )


def test_choose_readers_is_reproducible_and_skips_readers_with_few_loans() -> None:
    segments = _segments()
    first = choose_readers(segments, n=4, seed=3)
    assert first == choose_readers(segments, n=4, seed=3)
    assert len(set(first)) == 4
    assert not {"p00", "p08"} & set(first)


def test_choose_readers_by_segment_takes_one_per_group_in_turn() -> None:
    chosen = choose_readers(_segments(), n=4, by="activity", seed=1)
    activity = _segments()["activity"]
    assert activity[chosen].tolist() == ["light", "medium", "heavy", "light"]
    heavy = choose_readers(_segments(), n=2, by="activity", value="heavy", seed=1)
    assert set(activity[heavy]) == {"heavy"}


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"by": "shoe size"}, "by must be one of \\['activity', 'branch'\\]; got 'shoe size'"),
        ({"value": "heavy"}, "value 'heavy' needs by"),
        (
            {"by": "branch", "value": "east"},
            "no reader with at least 3 loans has branch = 'east'; "
            "choose from \\['north', 'south'\\]",
        ),
        ({"n": 0}, "n must be between 1 and 26; got 0"),
    ],
)
def test_choose_readers_errors_name_the_rule_and_never_a_reader(
    kwargs: dict[str, object], message: str
) -> None:
    with pytest.raises(ValueError, match=message) as error:
        choose_readers(_segments(), **kwargs)  # type: ignore[arg-type]
    assert "p0" not in str(error.value)


def test_panels_show_titles_reasons_from_the_readers_own_books_and_no_ids(
    library: Dataset,
) -> None:
    titles = library.catalog.set_index(C.BOOK_ID)[C.TITLE]
    # the catalog as MARC exports hold it: panels show titles and authors clean
    raw = library.catalog.assign(
        **{
            C.TITLE: library.catalog[C.TITLE] + " /",
            C.AUTHOR: library.catalog[C.AUTHOR] + ", 1950-",
        }
    )
    library = Dataset(library.interactions, raw, library.holdings)
    model = ItemKNNRecommender(min_pair_support=2).fit(library)
    segments = reader_segments(library)
    readers = ["r000", "r001"]
    panels = build_panels(model, library, segments, readers, k=4, recent=3)
    assert [p.label for p in panels] == ["Reader A", "Reader B"]
    for panel, reader in zip(panels, readers, strict=True):
        own = library.interactions.loc[library.interactions[C.READER_ID] == reader]
        loans = own.loc[own[C.EVENT] != "view"].sort_values(C.TIMESTAMP, ascending=False)
        newest = loans.drop_duplicates(C.BOOK_ID)[C.BOOK_ID].head(3).map(titles).tolist()
        assert panel.recent_loans["title"].tolist() == newest
        assert panel.suggestions["rank"].tolist() == [1, 2, 3, 4]
        borrowed_titles = set(own[C.BOOK_ID].map(titles))
        for reasons in panel.suggestions["because you borrowed"]:
            assert set(reasons.split("; ")) <= borrowed_titles
        assert not set(panel.suggestions["title"]) & set(loans[C.BOOK_ID].map(titles))
        assert set(panel.suggestions["title"]) <= set(titles)
        assert not [a for a in panel.suggestions["author"] if "1950" in a]
        html = panel._repr_html_()
        assert reader not in html
        assert "Reader" in html


def test_panel_html_escapes_catalog_text() -> None:
    table = pd.DataFrame({"title": ["<script>x</script>"]})
    panel = ReaderPanel("Reader A", "light <reader>", table, table, pd.DataFrame())
    html = panel._repr_html_()
    assert "<script>" not in html
    assert "&lt;reader&gt;" in html


def test_overlap_summary_counts_identical_and_disjoint_lists() -> None:
    comparison = RunComparison(
        k=10,
        runs=pd.DataFrame(),
        note="",
        recorded=None,
        same_holdout=pd.DataFrame(),
        overlap=pd.Series([1.0, 0.5, 0.0, 1.0]),
        gained_lost=pd.DataFrame(),
    )
    summary = comparison.overlap_summary()
    assert summary["readers compared"] == 4
    assert summary["average share of the list kept (%)"] == pytest.approx(62.5)
    assert summary["readers with the same list (%)"] == pytest.approx(50.0)
    assert summary["readers with no book in common (%)"] == pytest.approx(25.0)


def _fake_run(models_dir: Path, run_id: str, *, complete: bool = True) -> None:
    path = models_dir / "runs" / run_id
    path.mkdir(parents=True)
    if complete:
        (path / "manifest.json").write_text("{}")


def test_resolve_runs_defaults_to_current_and_the_run_before_it(tmp_path: Path) -> None:
    ids = ["20261101T010000Z-aaaa", "20261102T010000Z-bbbb", "20261103T010000Z-cccc"]
    for run_id in ids:
        _fake_run(tmp_path, run_id, complete=run_id != ids[2])
    with pytest.raises(ModelNotFoundError, match="no published model"):
        resolve_runs(tmp_path, None, None)
    (tmp_path / "CURRENT").write_text(ids[1] + "\n")
    a, b, note = resolve_runs(tmp_path, None, None)
    assert (a, b) == (ids[0], ids[1])
    assert "newest other complete run" in note
    (tmp_path / "PREVIOUS").write_text(ids[0] + "\n")
    assert resolve_runs(tmp_path, None, None)[2].startswith("Run A is the model that was in")
    assert resolve_runs(tmp_path, ids[2], ids[0])[:2] == (ids[2], ids[0])


def test_resolve_runs_with_a_single_run_compares_it_with_itself(tmp_path: Path) -> None:
    _fake_run(tmp_path, "20261101T010000Z-aaaa")
    (tmp_path / "CURRENT").write_text("20261101T010000Z-aaaa\n")
    a, b, note = resolve_runs(tmp_path, None, None)
    assert a == b == "20261101T010000Z-aaaa"
    assert "Only one complete run exists" in note


def test_every_review_figure_has_a_title_and_labelled_axes(segmented: ComparisonResult) -> None:
    result = segmented.results["model"]
    panels = [
        ReaderPanel(
            "Reader A",
            "p",
            pd.DataFrame(),
            pd.DataFrame(),
            pd.DataFrame(
                {"their loans (%)": [50.0], "their suggestions (%)": [20.0]},
                index=pd.Index(["Poetry"], name="subject"),
            ),
        )
    ]
    gained = pd.DataFrame(
        {"change": [3, 0, -2], "title": ["Up", "Same", "Down"]}, index=["b1", "b2", "b3"]
    )
    same = pd.DataFrame(
        {"run A": [0.5, 0.1, 0.4, 0.2], "run B": [0.6, 0.1, 0.4, 0.3]},
        index=["hit_rate@10", "precision@10", "recall@10", "coverage@10"],
    )
    figures = [
        review_plots.quality_bars(review.quality_table(segmented), title="t"),
        review_plots.long_tail_bars(
            review.long_tail_table(segmented, pd.Series([3, 0], index=["b1", "b2"])), title="t"
        ),
        review_plots.branch_bars(
            review.branch_coverage(
                result, pd.DataFrame({C.BOOK_ID: ["b1"], C.LIBRARY_ID: ["north"]})
            ),
            title="t",
        ),
        review_plots.reason_bars(review.reason_counts(pd.DataFrame({"reason": []})), title="t"),
        review_plots.segment_lines(
            review.segment_quality(segmented), metric="ndcg@2", segment="activity", title="t"
        ),
        review_plots.reader_subjects(panels, title="t"),
        review_plots.overlap_histogram(pd.Series([1.0, 0.5]), k=10, title="t"),
        review_plots.gained_lost_bars(gained, title="t"),
        review_plots.run_bars(same, k=10, title="t"),
    ]
    for figure in figures:
        assert isinstance(figure, Figure)
        for axes in figure.axes:
            if axes.get_legend() is not None or axes.has_data():
                assert axes.get_title() or axes.get_title(loc="left")
                assert axes.get_xlabel() and axes.get_ylabel()
    assert "Every book in the catalog was suggested" in figures[3].axes[0].texts[0].get_text()
    labels = [t.get_text() for t in figures[7].axes[0].get_yticklabels()]
    assert labels == ["Down", "Up"]


def test_gained_lost_bars_say_so_when_nothing_changed() -> None:
    table = pd.DataFrame({"change": [0, 0], "title": ["A", "B"]}, index=["b1", "b2"])
    figure = review_plots.gained_lost_bars(table, title="t")
    assert "No book gained or lost" in figure.axes[0].texts[0].get_text()
    assert np.isclose(len(figure.axes[0].patches), 0)


@pytest.fixture(scope="module")
def published_site(tmp_path_factory: pytest.TempPathFactory) -> Settings:
    """A sample library after one real nightly run (one published model)."""
    root = tmp_path_factory.mktemp("review-site")
    settings = Settings(
        _env_file=None,
        data_dir=root / "data",
        models_dir=root / "models",
        pseudonym_key="review-test-key-" + "3" * 32,
        retention_days=36_500,
        max_volume_drop=1.0,
    )
    write_library(generate_library(SampleConfig(n_loans=800, seed=3)), settings.inbox_dir)
    code, summary = run_nightly(settings, progress=Progress("none"))
    assert code == 0, summary
    return settings


@pytest.mark.slow
def test_review_context_scores_the_published_recipe_beside_both_baselines(
    published_site: Settings,
) -> None:
    context = review.load_review_context(published_site, k=5)
    assert context.model_label == review.PUBLISHED_LABEL
    assert list(context.comparison.results) == [
        review.PUBLISHED_LABEL,
        "popularity (most borrowed)",
        "plain implicit ALS",
    ]
    assert "subject" in context.model_result.per_reader.columns
    facts = context.describe()
    assert facts["run"] == context.run_id
    assert facts["readers scored in the test period"] == len(context.split.test_readers)
    with pytest.raises(RecsysError, match="run_id '20200101T000000Z-dead' does not exist"):
        review.load_review_context(published_site, "20200101T000000Z-dead")


@pytest.mark.slow
def test_panels_of_the_published_model_show_labels_never_pseudonyms(
    published_site: Settings,
) -> None:
    context = review.load_review_context(published_site, k=5)
    panels = reader_panels(context, n=3, by="activity")
    assert [p.label for p in panels] == ["Reader A", "Reader B", "Reader C"]
    pseudonyms = set(context.dataset.interactions[C.READER_ID].astype(str))
    for panel in panels:
        assert len(panel.suggestions) == 5
        html = panel._repr_html_() + panel.profile
        assert not [p for p in pseudonyms if p in html]


@pytest.mark.slow
def test_comparing_the_only_run_with_itself_shows_no_difference(
    published_site: Settings,
) -> None:
    comparison = compare_two_runs(published_site, k=5, n_readers=50)
    assert "Only one complete run exists" in comparison.note
    assert comparison.runs["run id"].nunique() == 1
    assert (comparison.same_holdout["change"] == 0).all()
    assert comparison.recorded is not None
    assert (comparison.overlap == 1.0).all() and len(comparison.overlap) > 0
    assert (comparison.gained_lost["change"] == 0).all()
    assert comparison.overlap.index.equals(pd.RangeIndex(len(comparison.overlap)))
