"""Chapter 10's benchmark: rows assembled from the chapters' metrics, completed views, paired verdicts."""

import numpy as np
import pytest

from facelib import results, stats
from facelib.errors import FacelibError
from facelib.evaluation.protocols import benchmark as B

from .toys import tiny_synthetic_set

FACES = list(range(30))


def _row(values: dict[str, list[float]], faces=FACES) -> dict:
    return {"faces": list(faces), "per_face": values, **{k: {"mean": float(np.mean(v))} for k, v in values.items()}}


def _write(tmp_path, monkeypatch, chapter_rows: dict[str, dict], own: dict | None = None):
    """Chapter metrics files as the chapters write them, under a temporary results folder."""
    monkeypatch.setenv("FACELIB_RESULTS", str(tmp_path))
    from facelib import profile

    cpu = profile.resolve("cpu")
    for chapter, rows in chapter_rows.items():
        results.write_metrics(chapter, cpu, rows)
    if own is not None:
        results.write_metrics(B.CHAPTER, cpu, own)


ROWS = (B.Row("mean face", "05_baselines", "mean face"), B.Row("R-Net", "05_baselines", "R-Net"),
        B.Row("SOPI", "06_orn", "SOPI"))


def _chapters(rng):
    base = rng.uniform(8, 12, len(FACES))
    views = lambda scale: {v: _row({"landmark_me": list(base * scale)}) for v in B.VIEWS}  # noqa: E731
    return {"05_baselines": {"mean face": {"views": views(1.5)}, "R-Net": {"views": views(1.0)}},
            "06_orn": {"SOPI": {"views": {"clean": _row({"landmark_me": list(base * 0.9)})}}}}


def test_rows_come_from_their_chapters_and_missing_views_from_chapter_10(tmp_path, monkeypatch):
    chapters = _chapters(np.random.default_rng(0))
    _write(tmp_path, monkeypatch, chapters)
    metrics, sources = B.assemble("cpu", ROWS)
    assert B.missing_views(metrics) == {"SOPI": ("occluded", "noisy")}
    assert sources["SOPI"] == {"clean": "06_orn"}
    own_views = {v: _row({"landmark_me": [1.0] * len(FACES)}) for v in B.VIEWS}
    _write(tmp_path, monkeypatch, chapters, own={"SOPI": {"views": own_views}})
    metrics, sources = B.assemble("cpu", ROWS)
    assert sources["SOPI"] == {"clean": "06_orn", "occluded": B.CHAPTER, "noisy": B.CHAPTER}
    # the chapter's own clean view wins over chapter 10's copy of it
    assert metrics["SOPI"]["views"]["clean"] is not own_views["clean"]
    assert metrics["SOPI"]["views"]["clean"]["landmark_me"]["mean"] != 1.0
    assert B.missing_views(metrics) == {}
    assert B.same_faces(metrics) == {"clean": 30, "occluded": 30, "noisy": 30}
    table = B.readme_table("cpu", ROWS)
    assert table.splitlines()[2].startswith("| mean face | 15.") and "30 synthetic test faces" in table


def test_a_missing_chapter_or_row_names_the_notebook_to_run(tmp_path, monkeypatch):
    chapters = _chapters(np.random.default_rng(1))
    del chapters["06_orn"]
    _write(tmp_path, monkeypatch, chapters)
    with pytest.raises(FacelibError, match=r"run book/06_orn.ipynb first"):
        B.assemble("cpu", ROWS)
    assert B.readme_table("cpu", ROWS) == ("_Not complete for the cpu profile yet: run book/06_orn.ipynb, "
                                           "then book/10_benchmark.ipynb._")  # what to run instead of a table


def test_rows_on_different_faces_are_refused(tmp_path, monkeypatch):
    chapters = _chapters(np.random.default_rng(2))
    chapters["06_orn"]["SOPI"]["views"]["clean"] = _row({"landmark_me": [1.0] * 29}, faces=FACES[1:])
    _write(tmp_path, monkeypatch, chapters)
    metrics, _ = B.assemble("cpu", ROWS)
    with pytest.raises(FacelibError, match="different faces of the clean view"):
        B.same_faces(metrics)


def test_verdicts_are_paired_changes_against_r_net(tmp_path, monkeypatch):
    _write(tmp_path, monkeypatch, _chapters(np.random.default_rng(3)))
    metrics, _ = B.assemble("cpu", ROWS)
    claims = B.verdicts(metrics, "landmark_me")
    assert set(claims) == {"mean face", "SOPI"} and set(claims["SOPI"]) == {"clean"}  # SOPI: clean view only
    sopi = claims["SOPI"]["clean"]
    # every face 10 % lower: the change is -10 % with a zero-width paired interval
    assert sopi.interval.estimate == pytest.approx(-10.0) and sopi.interval.high == pytest.approx(-10.0)
    assert sopi.verdict == stats.HOLDS
    assert claims["mean face"]["occluded"].interval.estimate == pytest.approx(50.0)
    assert claims["mean face"]["occluded"].verdict == stats.FAILS
    grid = B.verdict_grid(claims)
    assert "-10.0 % [-10.0, -10.0] lower" in grid and "+50.0 % [+50.0, +50.0] higher" in grid
    assert B.ranking(metrics, "landmark_me", "clean") == ["SOPI", "R-Net", "mean face"]


def test_conditions_cut_each_view_by_occluder_family_and_noise_type(tmp_path_factory, ict):
    root = tiny_synthetic_set(tmp_path_factory, ict, "benchmark", seed=6)
    groups = B.condition_groups(root)
    n = len(groups["clean"][1])
    assert [groups[v][0] for v in B.VIEWS] == list(B.VIEWS)
    families = [g for g in groups if g.startswith("occluded: ")]
    noises = [g for g in groups if g.startswith("noisy: ")]
    assert len(families) == len(B.OCCLUDER_FAMILIES) and len(noises) == len(B.NOISE_TYPES)
    # every face in exactly one family and one noise type
    assert sorted(i for g in families for i in groups[g][1]) == list(range(n))
    assert sorted(i for g in noises for i in groups[g][1]) == list(range(n))
