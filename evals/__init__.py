"""Evaluation scripts: `python -m evals.run|squad|bench` (metrics live in rag.metrics)."""
