"""MELT registry: LLM re-annotation of MELD as a DVC-versioned data and model registry."""

__version__ = "0.1.0"
