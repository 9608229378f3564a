"""The trained extractive reader: answer spans with a calibrated no-answer margin.

Serving (`reader.py`, `windows.py`) never imports the training code in
`training/` (data loading, mined negatives, the training loop), which
imports serving for the shared window cutting and file names.
"""

from rag.reader.reader import Reader, Reading, Span, load_reader

__all__ = ["Reader", "Reading", "Span", "load_reader"]
