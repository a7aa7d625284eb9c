"""Fuzzing harness for smime's parsers: see ``harness.py`` and ``python -m tests.fuzz``."""
