"""``python -m facelib …``: the command line (:mod:`facelib.cli`)."""

from .cli import main
from .errors import run_cli

run_cli(main)
