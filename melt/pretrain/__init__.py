"""Text pre-training from unlabelled speech (MERITS-L part 1): ASR, LLM pseudo-labels, a text model."""
