"""`make book`'s driver: where it is, resume, and a Ctrl-C that lets the chapter's training checkpoint."""

import json
import os
import signal
import threading
import time
from pathlib import Path

import pytest

from facelib import bookrun
from facelib.errors import FacelibError


def _notebook(path: Path, *sources: str) -> Path:
    cells = [{"cell_type": "code", "execution_count": None, "id": f"c{i}", "metadata": {}, "outputs": [],
              "source": s} for i, s in enumerate(sources)]
    nb = {"cells": cells, "metadata": {"kernelspec": {"name": "python3", "display_name": "Python 3",
                                                        "language": "python"}},
          "nbformat": 4, "nbformat_minor": 5}
    path.write_text(json.dumps(nb))
    return path


def _log(path: Path, *entries: dict) -> None:
    path.parent.mkdir(parents=True)
    path.write_text("".join(json.dumps(e) + "\n" for e in entries))


def test_training_status_names_the_newest_training_its_step_and_the_time_left(tmp_path):
    since = time.time() - 5
    _log(tmp_path / "05_baselines/cpu/rnet/log.jsonl",
         {"step": 10, "of": 1500, "time": 4.0, "losses": {}},
         {"step": 340, "of": 1500, "time": 136.0, "losses": {}}, {"step": 340, "val": {}})
    text = bookrun.training_status(tmp_path, since)
    assert text == "training rnet (05_baselines): step 340 of 1500, 0.40 s/step, about 8 min left"
    with open(tmp_path / "05_baselines/cpu/rnet/log.jsonl", "a") as f:
        f.write('{"step": 350, "of": 15')  # a line the training is writing now: left out
    assert bookrun.training_status(tmp_path, since) == text
    # a log from before the chapter started is not this chapter's training
    assert bookrun.training_status(tmp_path, time.time() + 60) is None
    # the most recently written log wins; a log without "of" (written before it existed) still reports
    time.sleep(0.05)
    _log(tmp_path / "06_orn/cpu/sopi/log.jsonl", {"step": 20, "time": 5.0, "losses": {}})
    assert bookrun.training_status(tmp_path, since) == "training sopi (06_orn): step 20, 0.25 s/step"
    # a finished training is not "running"
    time.sleep(0.05)
    _log(tmp_path / "06_orn/cpu/mopi/log.jsonl", {"step": 40, "of": 40, "time": 9.0, "losses": {}})
    assert bookrun.training_status(tmp_path, since) is None


def test_book_keeps_chapters_executed_by_the_same_cells_and_reruns_from_the_first_changed(tmp_path):
    book = tmp_path / "book"
    book.mkdir()
    _notebook(book / "01_a.ipynb", "x = 1\nprint(x)")
    second = _notebook(book / "02_b.ipynb", "print(2)")
    out = tmp_path / "out"
    lines: list[str] = []
    done = bookrun.run_book("smoke", book=book, out_dir=out, every=30, report=lines.append)
    assert [p.name for p in done] == ["01_a.ipynb", "02_b.ipynb"]
    assert json.loads((out / "01_a.ipynb").read_text())["cells"][0]["outputs"][0]["text"] in ("1\n", ["1\n"])
    assert lines[0] == "chapter 1 of 2: 01_a" and any("done in" in line for line in lines)

    lines.clear()
    bookrun.run_book("smoke", book=book, out_dir=out, every=30, report=lines.append)
    assert lines == ["chapter 1 of 2: 01_a — executed earlier, kept", "chapter 2 of 2: 02_b — executed earlier, kept"]

    _notebook(second, "print(3)")  # the second chapter's cells change: it runs again, the first is kept
    lines.clear()
    bookrun.run_book("smoke", book=book, out_dir=out, every=30, report=lines.append)
    assert lines[0].endswith("executed earlier, kept") and lines[1] == "chapter 2 of 2: 02_b"
    assert json.loads((out / "02_b.ipynb").read_text())["cells"][0]["outputs"][0]["text"] in ("3\n", ["3\n"])

    # another profile is another run
    lines.clear()
    bookrun.run_book("cpu", book=book, out_dir=out, every=30, report=lines.append)
    assert not any("kept" in line for line in lines)


def test_a_failing_chapter_names_its_log_and_is_not_kept(tmp_path):
    book = tmp_path / "book"
    book.mkdir()
    _notebook(book / "01_a.ipynb", "print(1)")
    _notebook(book / "02_b.ipynb", "raise ValueError('broken chapter')")
    out = tmp_path / "out"
    with pytest.raises(FacelibError, match=r"(?s)chapter 02_b failed .*02_b\.log.*chapter 1 is kept") as err:
        bookrun.run_book("smoke", book=book, out_dir=out, every=30, report=lambda line: None)
    assert "broken chapter" in str(err.value)
    assert (out / ("01_a" + bookrun.RECORD)).is_file() and not (out / ("02_b" + bookrun.RECORD)).exists()


def test_ctrl_c_asks_the_kernel_to_checkpoint_and_the_next_run_resumes(tmp_path):
    """The chapter's kernel gets SIGTERM (what a training turns into a checkpoint), not a kill."""
    book = tmp_path / "book"
    book.mkdir()
    started, saved = tmp_path / "started", tmp_path / "saved"
    _notebook(book / "01_a.ipynb", "print(1)")
    _notebook(book / "02_train.ipynb",
              "import pathlib, signal, sys, time\n"
              f"def save(*_):\n    pathlib.Path({str(saved)!r}).write_text('checkpoint')\n    sys.exit(0)\n"
              "signal.signal(signal.SIGTERM, save)\n"
              f"pathlib.Path({str(started)!r}).write_text('')\n"
              "time.sleep(120)")
    out = tmp_path / "out"

    def interrupt():
        deadline = time.time() + 60
        while not started.exists() and time.time() < deadline:
            time.sleep(0.2)
        os.kill(os.getpid(), signal.SIGINT)

    threading.Thread(target=interrupt, daemon=True).start()
    t0 = time.time()
    with pytest.raises(bookrun.Interrupted, match="stopped in chapter 2 of 2"):
        bookrun.run_book("smoke", book=book, out_dir=out, every=30, grace=60, report=lambda line: None)
    assert saved.read_text() == "checkpoint"
    assert time.time() - t0 < 60  # it did not wait for the cell's two minutes
    lines: list[str] = []
    _notebook(book / "02_train.ipynb", "print('resumed')")
    bookrun.run_book("smoke", book=book, out_dir=out, every=30, report=lines.append)
    assert lines[0] == "chapter 1 of 2: 01_a — executed earlier, kept" and lines[1] == "chapter 2 of 2: 02_train"
