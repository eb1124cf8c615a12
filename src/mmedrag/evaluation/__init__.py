"""Evaluation: answer parsing and metrics."""
