"""Training: image towers aligned to a frozen text encoder (retrievers), and later preference tuning."""
