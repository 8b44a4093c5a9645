"""Per-paper evaluation protocols: the experiments a single paper runs, on top of the runner."""
