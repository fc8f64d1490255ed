"""Instruction parsing: pick phrase, place phrase, preposition and spatial words (see parse)."""
