"""Test-only stand-in for torchvision (see ../README.md); not the real package."""

__version__ = "0.0-stand-in"
