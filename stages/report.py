"""Stage ``report``: the metrics, curves and figures of a run → one offline page (index.html)."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Optional, Sequence

from g3an.fsutil import output_lock, write_bytes_atomic
from stages.common import Progress, setup
from stages.paths import default_path, details_beside

log = logging.getLogger("g3an.report")


def main(out: Optional[str], params: str, overrides: Sequence[str]) -> None:
    cfg = setup(params, overrides)
    from g3an.report import ReportInputs, build_report

    metrics = default_path(cfg, "metrics")
    inputs = ReportInputs(evaluate=metrics, evaluator=details_beside(default_path(cfg, "evaluator_metrics")),
                          live=default_path(cfg, "live"), render=default_path(cfg, "render"))
    out_path = Path(out or default_path(cfg, "report"))
    with output_lock(out_path), Progress() as bar:
        html = build_report(inputs, cfg, lambda d, t: bar.update("report", d, t))
        write_bytes_atomic(out_path, html.encode())
    log.info("report: %s (%.1f MB); open it in a browser, it needs no network", out_path, len(html) / 1e6)
