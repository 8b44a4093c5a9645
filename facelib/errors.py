"""Exceptions that carry the fix in their message.

Every error a reader can cause (a missing asset, a bad file, an impossible option) is raised as a
:class:`FacelibError` whose message says what is wrong *and* what to run or change. Command-line
entry points catch it and print the message alone, without a traceback.
"""

from __future__ import annotations


class FacelibError(RuntimeError):
    """Base class for errors whose message names the fix."""


class AssetMissingError(FacelibError):
    """An asset is neither in the cache nor in a mirror; the message names the fetch command."""


class AssetChecksumError(FacelibError):
    """A file exists but does not match its recorded sha256."""


class DownloadError(FacelibError):
    """Fetching from upstream failed (no network, dead link); the message names the alternatives."""


def run_cli(main) -> None:
    """Run ``main()`` and turn a :class:`FacelibError` into one message and exit status 2."""
    import sys

    try:
        code = main()
    except FacelibError as err:
        print(f"error: {err}", file=sys.stderr)
        raise SystemExit(2) from None
    raise SystemExit(code or 0)
