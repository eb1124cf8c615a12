"""Calibrated choice of the number of references with a factuality-risk guarantee (RULE, Learn-then-Test)."""
