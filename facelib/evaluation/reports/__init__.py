"""Per-paper reports: each paper's published tables as data, printed beside our numbers."""
