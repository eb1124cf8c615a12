"""Answer generation: prompt templates and generator backends (local transformers VLM, OpenAI-compatible server,
extractive CPU-only answerer)."""
