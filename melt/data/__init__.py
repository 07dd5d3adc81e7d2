"""Corpora, audio I/O and label maps shared by every concern."""
