"""The run on one offline page: ``runs/report/index.html``.

Every appendix figure with its caption and seed, the still grid beside its rows playing as
animations, the metrics beside their real / oracle / chance / floor references with a line on what
each means, the judge's accuracy per head, the loss and clips/s curves, and the run's identity
(data set, params hash, steps, timing). Self-contained: images are inline (WebP data URIs), curves
are inline SVG, no script, font or style is fetched — it opens from a mail attachment. The bytes
depend only on the inputs (no clock, no random ids), like every other output of the pipeline.
"""

from __future__ import annotations

import base64
import csv
import io
import json
import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from jinja2 import Environment, StrictUndefined
from PIL import Image

from g3an.config import Config
from g3an.errors import UserError
from g3an.metrics.summary import HEADLINE, REFERENCES, short

log = logging.getLogger("g3an.report")


@dataclass(frozen=True)
class ReportInputs:
    evaluate: Path  # results/evaluate: the headline files + details.json
    evaluator: Path  # results/evaluator/details.json
    live: Path  # results/train: dvclive's plots/metrics/train/*.tsv
    render: Path  # runs/render: figures.json, figures/*.png, videos/*/*.gif


def _read_json(path: Path):
    try:
        return json.loads(path.read_text())
    except FileNotFoundError:
        raise UserError(f"{path}: missing; run the stage that makes it first (`dvc repro`)") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise UserError(f"{path}: not valid JSON ({e}); re-run the stage that makes it") from None


def _data_uri(img: Image.Image, **save) -> str:
    buf = io.BytesIO()
    img.save(buf, "WEBP", quality=80, method=4, **save)
    return "data:image/webp;base64," + base64.b64encode(buf.getvalue()).decode()


def _still(path: Path) -> str:
    try:
        with Image.open(path) as im:
            return _data_uri(im.convert("RGB"))
    except (OSError, ValueError) as e:
        raise UserError(f"{path}: cannot read this figure ({e}); re-run `dvc repro render`") from None


def _animation(path: Path, scale: int) -> str:
    """A row's GIF as an animated WebP at the clip's own size (the GIF is ``scale``× nearest-neighbour)."""
    try:
        with Image.open(path) as im:
            duration = im.info.get("duration", 125)
            frames = []
            for i in range(getattr(im, "n_frames", 1)):
                im.seek(i)
                a = np.asarray(im.convert("RGB"))
                if scale > 1 and np.array_equal(a[::scale, ::scale].repeat(scale, 0).repeat(scale, 1), a):
                    a = a[::scale, ::scale]
                frames.append(Image.fromarray(np.ascontiguousarray(a)))
    except (OSError, ValueError) as e:
        raise UserError(f"{path}: cannot read this animation ({e}); re-run `dvc repro render`") from None
    return _data_uri(frames[0], save_all=True, append_images=frames[1:], duration=duration, loop=0)


def _series(folder: Path) -> dict[str, tuple[list[float], list[float]]]:
    """dvclive's TSVs: ``{name: (steps, values)}``."""
    out = {}
    for tsv in sorted(folder.glob("*.tsv")):
        with tsv.open(newline="") as f:
            rows = list(csv.DictReader(f, delimiter="\t"))
        if rows:
            name = tsv.stem
            out[name] = ([float(r["step"]) for r in rows], [float(r[name]) for r in rows])
    return out


def _svg_chart(series: dict, names: list[str], title: str, ylabel: str) -> str:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    with matplotlib.rc_context({"svg.hashsalt": "g3an-report", "svg.fonttype": "none", "font.size": 9}):
        fig, ax = plt.subplots(figsize=(5.6, 2.6))
        for n in names:
            if n in series:
                ax.plot(*series[n], label=n, linewidth=1.2)
        ax.set_title(title)
        ax.set_xlabel("step")
        ax.set_ylabel(ylabel)
        ax.grid(alpha=0.3)
        if len(names) > 1:
            ax.legend(fontsize=7, ncol=min(4, len(names)), loc="best", framealpha=0.8)
        fig.tight_layout()
        buf = io.StringIO()
        fig.savefig(buf, format="svg", metadata={"Date": None, "Creator": None})
        plt.close(fig)
    svg = buf.getvalue()
    return svg[svg.index("<svg"):]  # inline: drop the XML prolog and doctype


def _fmt(v) -> str:
    if v is None:
        return "n/a"
    if isinstance(v, bool) or not isinstance(v, (int, float)):
        return str(v)
    return f"{short(v):g}"


def _metric_rows(details: dict) -> list[dict]:
    records = details["records"]
    headline = details.get("headline", {})
    first = [headline[stem] for stem in HEADLINE if stem in headline]
    files = {headline[stem]: f"{stem}.json" for stem in HEADLINE if stem in headline}
    order = first + sorted(n for n in records if not n.startswith("_") and n not in first)
    rows = []
    for name in order:
        r = records[name]
        rows.append({"name": name, "headline": name in first, "file": files.get(name, ""),
                     "value": _fmt(r.get("value")),
                     "refs": {label: _fmt(r[key]) if key in r else "" for key, label in REFERENCES.items()},
                     "note": r.get("note", "")})
    return rows


def _timing(series: dict) -> dict:
    """Training time and speed from dvclive's history (each row: clips so far, clips/s over the last window)."""
    steps, clips = series.get("clips", ([], []))
    rates = dict(zip(*series.get("clips_per_s", ([], []))))
    seconds, prev = 0.0, 0.0
    for step, c in zip(steps, clips):
        if rates.get(step):
            seconds += (c - prev) / rates[step]
        prev = c
    return {"steps": int(steps[-1]) if steps else None, "clips": int(clips[-1]) if clips else None,
            "seconds": round(seconds), "clips_per_s": round(clips[-1] / seconds, 1) if seconds else None,
            "data_wait": series["data_wait"][1][-1] if "data_wait" in series else None}


TEMPLATE = """<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>G³AN run report — {{ run.dataset }}</title>
<style>
body { font-family: system-ui, sans-serif; margin: 1.5rem auto; max-width: 1180px; padding: 0 1rem; color: #222; }
h1 { margin-bottom: .2rem; } h2 { border-bottom: 1px solid #ccc; padding-bottom: .2rem; margin-top: 2rem; }
table { border-collapse: collapse; font-size: .9rem; }
th, td { padding: .25rem .6rem; border-bottom: 1px solid #eee; text-align: right; vertical-align: top; }
th:first-child, td:first-child, .note { text-align: left; }
td.note { color: #555; font-size: .85rem; }
.file { color: #888; font-weight: normal; font-size: .75rem; font-family: monospace; }
tr.headline td:first-child { font-weight: 600; }
.ident td, .ident th { text-align: left; }
.figure { margin-bottom: 2.5rem; }
.body { display: flex; gap: 1rem; align-items: flex-start; }
.still { max-width: 58%; border: 1px solid #ddd; }
.rows { display: flex; flex-wrap: wrap; gap: .5rem; align-content: flex-start; }
.rows figure { margin: 0; width: 112px; font-size: .7rem; text-align: center; }
.rows img { width: 104px; height: auto; image-rendering: pixelated; border: 1px solid #ddd; }
.charts { display: flex; flex-wrap: wrap; gap: .5rem; }
.charts svg { width: 560px; max-width: 100%; height: auto; }
.warn { background: #fff4e5; border-left: 4px solid #f0a020; padding: .4rem .8rem; }
</style>
</head>
<body>
<h1>G³AN run report</h1>
<p>Data set <b>{{ run.dataset }}</b> · params hash <code>{{ run.params_hash }}</code> ·
generator step {{ run.generator_step }} · preset {{ run.preset }}, width {{ run.width }}</p>
<table class="ident">
<tr><th>training</th><td>{{ timing.steps }} steps, {{ timing.clips }} clips in {{ timing.seconds }} s
({{ timing.clips_per_s }} clips/s, data wait {{ timing.data_wait }})</td></tr>
<tr><th>seeds</th><td>base {{ run.seed }} · evaluation {{ run.eval_seed }} · render {{ run.render_seed }}</td></tr>
<tr><th>judge</th><td>{% for h in judge %}{{ h.name }} {{ h.acc }} (chance {{ h.chance }}){% if not loop.last %} · {% endif %}{% endfor %}</td></tr>
</table>
{% for w in warnings %}<p class="warn">{{ w }}</p>{% endfor %}

<h2>Metrics</h2>
<p>Headline metrics first (the files <code>dvc metrics show</code> reads); each value beside the reference it is read against:
<i>real</i> = real test clips, <i>oracle</i> = the synthetic renderer itself scored as a generator (the ceiling),
<i>floor</i> = real train vs real test, <i>chance</i> = guessing.</p>
<table id="metrics">
<thead><tr><th>metric</th><th>value</th>{% for label in ref_labels %}<th>{{ label }}</th>{% endfor %}<th class="note">what it means</th></tr></thead>
<tbody>
{% for m in metrics %}<tr class="{{ 'headline' if m.headline else 'other' }}" data-metric="{{ m.name }}">
<td>{{ m.name }}{% if m.file %} <span class="file">{{ m.file }}</span>{% endif %}</td><td class="value">{{ m.value }}</td>{% for label in ref_labels %}<td>{{ m.refs[label] }}</td>{% endfor %}<td class="note">{{ m.note }}</td></tr>
{% endfor %}</tbody>
</table>

<h2>Training curves</h2>
<div class="charts">{% for svg in charts %}{{ svg | safe }}{% endfor %}</div>

<h2>Figures</h2>
{% for f in figures %}<section class="figure" id="{{ f.name }}">
<h3>{{ f.title }}</h3>
<p>{{ f.name }} · latents seed {{ f.seed }} · {{ f.rows | length }} rows</p>
<div class="body"><img class="still" src="{{ f.still }}" alt="{{ f.title }} (still grid)">
<div class="rows">{% for r in f.rows %}<figure><img class="anim" src="{{ r.src }}" alt="{{ r.caption }}"><figcaption>{{ r.caption }}{% if 'frames' not in r.caption %} · {{ r.frames }} frames{% endif %}</figcaption></figure>{% endfor %}</div>
</div>
</section>
{% endfor %}
</body>
</html>
"""


def build_report(inputs: ReportInputs, cfg: Config, progress=None) -> str:
    """The page's HTML (UTF-8 text). ``cfg``: the params the evaluation and figures were made with
    (seeds, render scale); the training run's identity comes from the generator, as evaluate recorded it.
    ``progress(done, total)`` is called per figure."""
    details = _read_json(inputs.evaluate / "details.json")
    judge_info = _read_json(inputs.evaluator)
    figures_index = _read_json(inputs.render / "figures.json")
    meta = details["records"].get("_meta", {})
    metrics = _metric_rows(details)
    labels = [label for label in REFERENCES.values() if any(m["refs"][label] for m in metrics)]
    judge = [{"name": k, "acc": _fmt(v), "chance": _fmt(judge_info.get("chance", {}).get(k))}
             for k, v in sorted(judge_info.get("test_accuracy", {}).items())]
    warnings = [w[0].upper() + w[1:] + "." for w in meta.get("warnings", [])]  # evaluate's, about these scores
    drew = _read_json(inputs.render / "generator.json") if (inputs.render / "generator.json").is_file() else None
    scored = {"params_hash": meta.get("params_hash"), "step": meta.get("generator_step")}
    if drew is not None and drew != scored:  # e.g. `render --generator` an earlier export, then `report`
        warnings.append(f"The figures were drawn by another generator (step {drew.get('step')}, params "
                        f"{drew.get('params_hash')}) than the one the metrics score (step {scored['step']}, params "
                        f"{scored['params_hash']}): render and evaluate the same generator.pt.")
        log.warning("report: %s", warnings[-1])
    series = _series(inputs.live / "plots" / "metrics" / "train")
    charts = [_svg_chart(series, ["loss_d_video", "loss_d_image", "loss_g_video", "loss_g_image"],
                         "losses", "loss"),
              _svg_chart(series, ["d_real", "d_fake"], "discriminator outputs", "mean D(x)"),
              _svg_chart(series, ["clips_per_s"], "training speed", "clips/s")]
    if "r1_video" in series:  # logged on R1 steps only: absent when train.r1_gamma is 0
        charts.insert(2, _svg_chart(series, ["r1_video", "r1_image"], "R1 penalty at real inputs", "‖∇ₓD‖²"))
    figures = []
    for i, f in enumerate(figures_index):
        figures.append({"name": f["name"], "title": f["title"], "seed": f["seed"],
                        "still": _still(inputs.render / f["png"]),
                        "rows": [{"caption": r["caption"], "frames": r["frames"],
                                  "src": _animation(inputs.render / r["gif"], cfg.render.scale)} for r in f["rows"]]})
        if progress:
            progress(i + 1, len(figures_index))
    run = {"dataset": meta.get("dataset"), "params_hash": meta.get("params_hash"),
           "generator_step": meta.get("generator_step"), "preset": meta.get("preset"), "width": meta.get("width"),
           "seed": meta.get("train_seed"), "eval_seed": cfg.eval.seed, "render_seed": cfg.render.seed}
    env = Environment(autoescape=True, undefined=StrictUndefined, keep_trailing_newline=True)
    return env.from_string(TEMPLATE).render(run=run, timing=_timing(series), judge=judge, warnings=warnings,
                                            metrics=metrics, ref_labels=labels, charts=charts, figures=figures)
