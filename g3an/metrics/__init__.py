"""Metrics: a registry of protocol-named metrics (``METRICS``) over one evaluation context.

Names encode the protocol: ``fd_cls256_16f`` is a Fréchet distance in the 256-d feature space of
our evaluator on 16-frame clips. Every result records N real, N fake, resolution, clip length,
frame steps and the feature extractor.
"""

from __future__ import annotations

from typing import Callable

METRICS: dict[str, Callable] = {}


def register(name: str):
    def wrap(fn):
        METRICS[name] = fn
        return fn

    return wrap
