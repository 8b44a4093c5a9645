"""Same command, same numbers (DESIGN-NOTES 29; issue 31).

On a CPU a training or a fit gives the same weights on a given machine and thread count whatever
else the machine is doing, because of two things this module holds:

* :func:`deterministic` — the block a training step or a fit step runs in. On a CPU it turns on
  torch's deterministic algorithms. Without them, the gradient of an advanced-indexing gather
  (``values[index]``, the renderer's barycentric interpolation and every vertex lookup) is an
  ``index_put_(accumulate=True)`` that torch runs on several threads with atomic float adds once
  it holds 32,768 elements or more: the order of the additions, hence the last bits of the sum,
  follows the threads' timing, which another process on the machine changes. Deterministic mode
  runs that accumulation on one thread, in index order.
* Intel MKL's conditional numerical reproducibility (``MKL_CBWR=AUTO``, set when facelib is
  imported; :func:`mkl_reproducible` reads it back). Without it MKL's float32 matrix products on
  two threads differ in the last bits from call to call, whatever else the machine runs: the
  gradient of dlib's face-recognition network at its input, for one face, took 4 to 5 distinct
  values in 60 identical calls, and with it one (DESIGN-NOTES 37). torch's deterministic mode
  does not reach MKL; :func:`deterministic` warns when MKL runs without it.
* :func:`use_threads` — the thread count is part of a result (a reduction split over two threads
  adds in another order than over eight): the reference run uses the profile's count
  (:attr:`facelib.profile.Profile.threads`), and :func:`environment` records it with the library
  versions and the precision, for the banner and ``metrics.json``.
"""

from __future__ import annotations

import contextlib
import ctypes
import functools
import os
import platform
import warnings
from collections.abc import Iterator

import torch

from .errors import FacelibError

#: the environment variable that overrides a profile's thread count (e.g. a reader's 8 cores)
THREADS_VARIABLE = "FACELIB_THREADS"
#: set to 0 to run without deterministic kernels (the control of ``python -m facelib.bench same``)
DETERMINISTIC_VARIABLE = "FACELIB_DETERMINISTIC"


def deterministic_kernels(device: torch.device | str = "cpu") -> bool:
    """Whether :func:`deterministic` turns torch's deterministic algorithms on for ``device``: on a
    CPU, unless ``$FACELIB_DETERMINISTIC`` is ``0``."""
    return torch.device(device).type == "cpu" and os.environ.get(DETERMINISTIC_VARIABLE, "1").strip() != "0"


@contextlib.contextmanager
def deterministic(device: torch.device | str = "cpu") -> Iterator[None]:
    """Run the block with torch's deterministic algorithms when ``device`` is a CPU (the previous
    setting comes back afterwards); on CUDA nothing changes (its deterministic kernels need
    ``CUBLAS_WORKSPACE_CONFIG`` and pytorch3d's rasteriser has none), nor with
    ``$FACELIB_DETERMINISTIC=0``."""
    if not deterministic_kernels(device):
        yield
        return
    if mkl_reproducible() == "OFF":
        _warn_mkl_off()
    was, warn_only = torch.are_deterministic_algorithms_enabled(), torch.is_deterministic_algorithms_warn_only_enabled()
    torch.use_deterministic_algorithms(True)
    try:
        yield
    finally:
        torch.use_deterministic_algorithms(was, warn_only=warn_only)


#: MKL's code for its reproducibility branch (``mkl_cbwr_get(MKL_CBWR_BRANCH)``) -> the name of ``MKL_CBWR``
MKL_BRANCHES = {1: "OFF", 2: "AUTO", 3: "COMPATIBLE", 4: "SSE2", 6: "SSE4_2", 8: "AVX", 9: "AVX2",
                11: "AVX512_MIC", 12: "AVX512", 13: "AVX512_MIC_E1", 14: "AVX512_E1"}


@functools.cache
def _mkl_service():
    """torch's statically linked MKL's service functions, or ``None`` (a torch without MKL)."""
    try:
        lib = ctypes.CDLL(os.path.join(os.path.dirname(torch.__file__), "lib", "libtorch_cpu.so"))
        return lib.mkl_serv_cbwr_get
    except (OSError, AttributeError):
        return None


def mkl_reproducible() -> str | None:
    """The reproducibility branch torch's MKL runs (``"AUTO"`` once facelib set it before MKL's
    first call; ``"OFF"``: calls may differ in the last bits), or ``None`` where torch has no MKL."""
    get = _mkl_service()
    if get is None or not torch.backends.mkl.is_available():
        return None
    code = int(get(1))  # MKL_CBWR_BRANCH
    return MKL_BRANCHES.get(code, str(code))


@functools.cache
def _warn_mkl_off() -> None:
    warnings.warn("Intel MKL runs without its reproducibility mode (MKL_CBWR), so two runs of the same "
                  "command may differ in the last bits: import facelib before torch computes anything, "
                  "or start Python with MKL_CBWR=AUTO.", RuntimeWarning, stacklevel=4)


def threads_for(profile_threads: int | None) -> int | None:
    """The thread count a run uses: ``$FACELIB_THREADS`` when set, else the profile's (None: torch's
    default, one per core)."""
    text = os.environ.get(THREADS_VARIABLE, "").strip()
    if not text:
        return profile_threads
    if not text.isdigit() or int(text) < 1:
        raise FacelibError(f"{THREADS_VARIABLE}={text!r}: give a positive whole number of threads (or unset it "
                           "for the profile's count)")
    return int(text)


def use_threads(profile_threads: int | None) -> int:
    """Set torch's intra-op thread count to :func:`threads_for` ``(profile_threads)``; returns the
    count in use."""
    n = threads_for(profile_threads)
    if n is not None and n != torch.get_num_threads():
        torch.set_num_threads(n)
    return torch.get_num_threads()


def cpu_has_bf16() -> bool:
    """Whether this CPU computes bf16 matrix products in hardware (AVX-512 BF16 or AMX)."""
    return bool(torch.cpu._is_avx512_bf16_supported() or torch.cpu._is_amx_tile_supported())


@contextlib.contextmanager
def kernels_switched(on: bool) -> Iterator[None]:
    """The block with :func:`deterministic` switched ``on`` or off through ``$FACELIB_DETERMINISTIC``
    (the bench's control), the variable restored afterwards."""
    before = os.environ.get(DETERMINISTIC_VARIABLE)
    os.environ[DETERMINISTIC_VARIABLE] = "1" if on else "0"
    try:
        yield
    finally:
        if before is None:
            os.environ.pop(DETERMINISTIC_VARIABLE)
        else:
            os.environ[DETERMINISTIC_VARIABLE] = before


def _cpu_model() -> str:
    try:
        for line in open("/proc/cpuinfo"):
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def environment(precision: str | None = None) -> dict:
    """What a reader needs to reproduce a run's numbers exactly: ``threads``, ``torch``, ``numpy``,
    ``python``, ``device`` (the CPU model or the GPU), ``bf16_units`` and ``mkl_cbwr`` (on a CPU:
    :func:`mkl_reproducible`), ``precision`` (in use, when given) and ``deterministic`` (whether
    training and fitting run deterministic kernels, :func:`deterministic`)."""
    import numpy

    cuda = torch.cuda.is_available()
    out = {"threads": torch.get_num_threads(), "torch": torch.__version__, "numpy": numpy.__version__,
           "python": platform.python_version(),
           "device": torch.cuda.get_device_name(0) if cuda else _cpu_model(),
           "deterministic": deterministic_kernels("cuda" if cuda else "cpu")}
    if not cuda:
        out["bf16_units"] = cpu_has_bf16()
        out["mkl_cbwr"] = mkl_reproducible()
    if precision is not None:
        out["precision"] = precision
    return out
