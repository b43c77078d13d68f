"""What DVC reads from an evaluation: the headline metrics, one small numeric file each, and the
full records (protocol, notes, diagnostics) as a details sidecar that is an output, not a metric.

Each headline file holds the metric's value under the metric's own name and the references it is
read against under shared names (``floor``, ``real``, ``chance``, ``oracle``), so that

- ``dvc metrics show`` is one row per metric with a handful of columns,
- ``dvc exp show --only-changed`` shows each metric under its own short name (references do not
  change between runs of one data set and judge, so they drop out there), and
- ``dvc metrics diff`` is one line per changed number.

The six headline metrics are the ones the paper's claim is read by (quality: FD, class accuracy;
disentanglement: motion varies with z_m, appearance kept under z_m, the switch, the combined score).
Entropies, ACDs and the other disentanglement parts stay in the details file (and the report).
"""

from __future__ import annotations

from typing import Optional

# the record keys a value is read against → their short names (metrics files, logs, report)
REFERENCES = {"real_test": "real", "oracle": "oracle", "chance": "chance", "floor_real_train_vs_test": "floor",
              "maximum": "maximum"}

# file stem (= key of the value) → (record-name prefix, {record key: reference name})
HEADLINE: dict[str, tuple[str, dict[str, str]]] = {
    "fd": ("fd_cls", {"floor_real_train_vs_test": "floor"}),
    "acc": ("acc_cls_", {"real_test": "real", "chance": "chance"}),
    "disentangle": ("dis_disentanglement_", {"oracle": "oracle"}),
    "switch": ("dis_switch_", {"oracle": "oracle"}),
    "motion_varies": ("dis_motion_varies_", {"oracle": "oracle"}),
    "app_kept": ("dis_app_kept_", {"oracle": "oracle"}),
}


def short(v: Optional[float]) -> Optional[float]:
    """Four significant digits: what a table shows, and what stays stable across CPUs."""
    return None if v is None else float(f"{float(v):.4g}")


def _record(results: dict, prefix: str) -> tuple[Optional[str], Optional[dict]]:
    names = sorted(n for n in results if n.startswith(prefix))
    return (names[0], results[names[0]]) if names else (None, None)


def headline(results: dict) -> dict[str, dict]:
    """``{stem: {stem: value, <reference>: value, ...}}`` — numbers only, missing ones left out."""
    out = {}
    for stem, (prefix, refs) in HEADLINE.items():
        _, r = _record(results, prefix)
        row = {} if r is None else {stem: short(r.get("value")),
                                    **{ref: short(r.get(key)) for key, ref in refs.items()}}
        out[stem] = {k: v for k, v in row.items() if v is not None}
    return out


def details(results: dict) -> dict:
    """The sidecar: every record as evaluate made it, and which record each headline file shows."""
    shows = {stem: _record(results, prefix)[0] for stem, (prefix, _) in HEADLINE.items()}
    return {"headline": {k: v for k, v in shows.items() if v}, "records": results}
