"""Every public tensor function states its shapes.

The rule, checked over every module of :mod:`facelib` (except ``facelib.__main__``):

* **Which functions.** Public module-level functions and the public methods of public classes
  (name not starting with ``_``, defined in that module: ``__module__`` is the module; for a class,
  only the methods written in its own body). Properties and dunder methods are skipped.
  A function is a *tensor function* when one of its parameters is annotated with something whose
  text contains ``Tensor`` (``torch.Tensor``, ``Tensor | None``, ``list[torch.Tensor]``, ...).
* **What counts as stating shapes.** The function's own docstring (not one inherited, not "same as
  :func:`other`") contains either the word *scalar* or a shape: a parenthesised, comma-separated
  list of short dimension tokens, e.g. ``(B, 3, H, W)``, ``(V, 3)``, ``(B,)``, ``(n, w, P)``, or
  ``()`` for a 0-d tensor, or a lone capital letter such as ``(B)``. A token is an identifier of up
  to 12 characters with an optional integer prefix and prime (``B``, ``n_id``, ``3V``, ``V'``), an
  integer, ``...`` or ``…``, or a simple product/sum of those (``n·w``, ``B*K``, ``H×W``, ``H/2``);
  at least one token must be a single letter (``B``, ``3V``), an integer or an ellipsis, so that a
  list of words such as "(angle, translation)" is not taken for a shape. Prose in parentheses such
  as "(a frozen network)" or "(see Eq. 5)" does not count, nor does a call such as ``f(x, y)``.
"""

from __future__ import annotations

import importlib
import inspect
import pkgutil
import re
from types import ModuleType

import facelib

_ATOM = r"(?:\d*[^\W\d]\w{0,11}['′]?|\d+|\.\.\.|…)"
_DIM = rf"{_ATOM}(?:\s*[*·×/+-]\s*{_ATOM})*"
SHAPE = re.compile(  # a candidate: the dimensions still need one short token (see ``states_shapes``)
    r"(?<![\w.])(?:"  # not a call such as ``f(x, y)`` or ``model.eval()``
    rf"\(\s*(?:{_DIM}\s*,\s*(?:{_DIM}(?:\s*,\s*{_DIM})*\s*,?)?)?\s*\)"  # (), (B,), (B, 3), (n·w, P, ...)
    r"|\([A-Z]\))"  # (B)
)
SCALAR = re.compile(r"\bscalars?\b", re.IGNORECASE)
_SHORT = re.compile(r"\d*[^\W\d_]['′]?|\d+|\.\.\.|…")  # B, 3V, V', 68, ...: surely a dimension, not a word


def states_shapes(doc: str | None) -> bool:
    """Whether a docstring states tensor shapes (see the module docstring)."""
    if not doc:
        return False
    if SCALAR.search(doc):
        return True
    for match in SHAPE.finditer(doc):
        dims = [d for d in re.split(r"[\s,*·×/+-]+", match.group(0)[1:-1]) if d]
        if not dims or any(_SHORT.fullmatch(d) for d in dims):  # "(angle, translation)" is prose
            return True
    return False


def takes_tensor(func) -> bool:
    """Whether one of ``func``'s parameters is annotated with a tensor type."""
    try:
        params = inspect.signature(func).parameters.values()
    except (TypeError, ValueError):
        return False
    for p in params:
        ann = p.annotation
        if ann is inspect.Parameter.empty:
            continue
        text = ann if isinstance(ann, str) else inspect.formatannotation(ann)
        if "Tensor" in text:
            return True
    return False


def _public(name: str) -> bool:
    return not name.startswith("_")


def public_functions(module: ModuleType):
    """``(qualname, function)`` for the module's public functions and its public classes' public methods."""
    for name, obj in sorted(vars(module).items()):
        if not _public(name) or getattr(obj, "__module__", None) != module.__name__:
            continue
        if inspect.isfunction(obj):
            yield obj.__qualname__, obj
        elif inspect.isclass(obj):
            for attr, member in sorted(vars(obj).items()):
                if not _public(attr) or isinstance(member, property):
                    continue
                if isinstance(member, (staticmethod, classmethod)):
                    member = member.__func__
                if inspect.isfunction(member) and member.__module__ == module.__name__:
                    yield f"{obj.__qualname__}.{attr}", member


def facelib_modules() -> list[ModuleType]:
    names = [m.name for m in pkgutil.walk_packages(facelib.__path__, "facelib.")]
    return [facelib] + [importlib.import_module(n) for n in sorted(names) if n != "facelib.__main__"]


def check(modules) -> tuple[list[str], list[str]]:
    """``(tensor_functions, offenders)``, each a list of ``module.qualname``."""
    found, offenders = [], []
    for module in modules:
        for qualname, func in public_functions(module):
            if not takes_tensor(func):
                continue
            found.append(f"{module.__name__}.{qualname}")
            if not states_shapes(func.__doc__):
                offenders.append(found[-1])
    return found, offenders


def test_every_public_tensor_function_states_its_shapes():
    found, offenders = check(facelib_modules())
    assert found, "the checker found no tensor function at all"
    assert not offenders, (
        f"{len(offenders)} of {len(found)} public tensor functions do not state tensor shapes in their "
        "docstring (e.g. ``(B, 3, H, W)`` images in [0, 1]; see tests/test_docstrings.py):\n  "
        + "\n  ".join(offenders)
    )


# ------------------------------------------------------------------ the checker itself
def test_shape_statements():
    for doc in ["``(B, 3, H, W)`` images", "vertices (V, 3)", "(B,) weights", "(N, P)", "(n, w, P)",
                "returns ()", "a (B) vector", "(n·w, P)", "(B*K, 3)", "(H×W, 3)", "(3V, n_id)",
                "(..., 3)", "(…, 3)", "a scalar loss", "(B, feature_dim)", "(B,\n 3)",
                "(B, V')"]:
        assert states_shapes(doc), doc
    for doc in [None, "", "Render the face (a frozen network).", "As in Deep3D (see Eq. 5).",
                "the loss (1)", "(b)", "(e.g., the nose)", "call ``model.eval()``",
                "``render(x, y)``", "(angle, translation)",
                "(identity,\n    expression, texture)", "the same shapes as :func:`render`"]:
        assert not states_shapes(doc), doc


def test_checker_reports_a_tensor_function_without_shapes():
    import torch

    module = ModuleType("dummy")

    def no_shapes(x: torch.Tensor) -> torch.Tensor:
        """Double the input (a frozen network)."""
        return 2 * x

    def with_shapes(x: torch.Tensor) -> torch.Tensor:
        """Double ``x`` ``(B, 3)``."""
        return 2 * x

    def not_a_tensor_function(x: int) -> int:
        """Double an integer."""
        return 2 * x

    class Model:
        def forward(self, x: "torch.Tensor | None") -> None:
            """Nothing about shapes."""

        @property
        def size(self) -> int:
            return 0

        def _private(self, x: torch.Tensor) -> None:
            pass

    for obj in (no_shapes, with_shapes, not_a_tensor_function, Model):
        obj.__module__ = "dummy"
        setattr(module, obj.__name__, obj)
    Model.forward.__module__ = "dummy"
    found, offenders = check([module])
    qual = "test_checker_reports_a_tensor_function_without_shapes.<locals>."
    assert found == [f"dummy.{qual}Model.forward", f"dummy.{qual}no_shapes", f"dummy.{qual}with_shapes"]
    assert offenders == [f"dummy.{qual}Model.forward", f"dummy.{qual}no_shapes"]
