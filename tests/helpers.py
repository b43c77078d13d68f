"""Every test fixture is built here: tiny configs, and (for data tests) small files in each
data set's real on-disk layout. Tests import from this module, never copy-paste."""

from __future__ import annotations

from g3an.models.generator import G3Spec


def tiny_spec(**kw) -> G3Spec:
    """A generator small enough for CPU tests: width 1/16, 32 px, 16 frames."""
    base = dict(preset="paper", width=1 / 16, size=32, attention="fused", attention_after=2)
    base.update(kw)
    return G3Spec(**base)
