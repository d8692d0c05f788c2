"""Seeded parameter draws shared by the statements (each statement gets its own stream)."""

from __future__ import annotations

import zlib

import numpy as np


def rng(statement_id: str, seed: int) -> np.random.Generator:
    """A generator that depends on the statement and the user's --seed (stable across runs)."""
    return np.random.default_rng([zlib.crc32(statement_id.encode()), seed])


def log_uniform(g: np.random.Generator, lo: float, hi: float) -> float:
    return float(np.exp(g.uniform(np.log(lo), np.log(hi))))
