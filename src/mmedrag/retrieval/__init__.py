"""Retrieval: search an index by image or text, with filters and the leakage guard; choose how many hits to use."""
