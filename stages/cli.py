"""``g3an-cli``: one command per pipeline stage. Heavy modules (torch, webdataset, cv2) are imported
inside the commands, so ``g3an-cli --help`` answers instantly."""

from __future__ import annotations

import sys
from typing import List, Optional

import typer

from stages.paths import shown

app = typer.Typer(help="G³AN pipeline: download → preprocess → train → train-evaluator → evaluate → render (each a DVC stage).",
                  no_args_is_help=True, add_completion=False, pretty_exceptions_enable=False)
config_app = typer.Typer(help="Inspect the resolved configuration.", no_args_is_help=True)
app.add_typer(config_app, name="config")

ParamsOpt = typer.Option("params.yaml", "--params", "-p", help="Params file (YAML).")
SetOpt = typer.Option(None, "--set", "-s", help="Override a param: KEY=VALUE, e.g. model.width=0.25 (repeatable).")


def _overrides(values: Optional[List[str]]) -> List[str]:
    return list(values or [])


@config_app.command("show")
def config_show(params: str = ParamsOpt, set_: Optional[List[str]] = SetOpt,
                hash_: bool = typer.Option(False, "--hash", help="Also print the training params hash.")):
    """Print the resolved, validated config as YAML."""
    from g3an.config import dump_yaml, load_config

    cfg = load_config(params, _overrides(set_))
    typer.echo(dump_yaml(cfg), nl=False)
    if hash_:
        typer.echo(f"# train params hash: {cfg.train_hash()}")


@app.command()
def download(dataset: Optional[str] = typer.Argument(None, help="Data set (default: base.dataset)."),
             source: Optional[str] = typer.Option(None, help="Local archive or folder (licensed sets)."),
             out: Optional[str] = typer.Option(None, help=f"Raw data folder (default: {shown('raw')})."),
             params: str = ParamsOpt, set_: Optional[List[str]] = SetOpt):
    """Fetch or render a raw data set (synthetic renders locally; licensed sets take --source)."""
    from stages.download import main as run

    run(dataset, source, out, params, _overrides(set_))


@app.command()
def preprocess(dataset: Optional[str] = typer.Argument(None, help="Data set (default: base.dataset)."),
               raw: Optional[str] = typer.Option(None, help=f"Raw data folder (default: {shown('raw')})."),
               out: Optional[str] = typer.Option(None, help=f"Shard folder (default: {shown('shards')})."),
               params: str = ParamsOpt, set_: Optional[List[str]] = SetOpt):
    """Decode, crop and resize every video into sharded WebDataset tars (train/test) + manifests."""
    from stages.preprocess import main as run

    run(dataset, raw, out, params, _overrides(set_))


@app.command()
def train(shards: Optional[str] = typer.Option(None, help=f"Shard folder (default: {shown('shards')})."),
          out: Optional[str] = typer.Option(None, help=f"Run folder (default: {shown('run')})."),
          live: Optional[str] = typer.Option(None, help=f"dvclive metrics/plots folder (default: {shown('live')}; <out>/live with --out)."),
          params: str = ParamsOpt, set_: Optional[List[str]] = SetOpt):
    """Train G³AN from shards; resumes automatically. DDP: torchrun --nproc_per_node N $(which g3an-cli) train"""
    from stages.train import main as run

    run(shards, out, live, params, _overrides(set_))


@app.command("train-evaluator")
def train_evaluator(shards: Optional[str] = typer.Option(None, help=f"Shard folder (default: {shown('shards')})."),
                    out: Optional[str] = typer.Option(None, help=f"Evaluator file (default: {shown('evaluator')})."),
                    metrics: Optional[str] = typer.Option(None, help=f"Accuracy JSON (default: {shown('evaluator_metrics')}; beside --out with --out)."),
                    params: str = ParamsOpt, set_: Optional[List[str]] = SetOpt):
    """Train the judge network (motion + appearance heads) on the real training shards."""
    from stages.train_evaluator import main as run

    run(shards, out, metrics, params, _overrides(set_))


@app.command()
def evaluate(generator: Optional[str] = typer.Option(None, help=f"Generator export (default: {shown('generator')})."),
             evaluator: Optional[str] = typer.Option(None, help=f"Evaluator (default: {shown('evaluator')})."),
             shards: Optional[str] = typer.Option(None, help=f"Shard folder (default: {shown('shards')})."),
             out: Optional[str] = typer.Option(None, help=f"metrics.json (default: {shown('metrics')})."),
             params: str = ParamsOpt, set_: Optional[List[str]] = SetOpt):
    """Score a generator: Fréchet distance, accuracy, entropies, ACD, disentanglement (+ paper FID with weights)."""
    from stages.evaluate import main as run

    run(generator, evaluator, shards, out, params, _overrides(set_))


@app.command()
def render(generator: Optional[str] = typer.Option(None, help=f"Generator export (default: {shown('generator')})."),
           out: Optional[str] = typer.Option(None, help=f"Output folder (default: {shown('render')})."),
           params: str = ParamsOpt, set_: Optional[List[str]] = SetOpt):
    """Draw the paper's appendix-C figures (PNG grids + GIFs + index.md) from a generator."""
    from stages.render import main as run

    run(generator, out, params, _overrides(set_))


def main() -> None:
    from g3an.errors import UserError

    try:
        app()
    except UserError as e:
        from rich.console import Console

        Console(stderr=True).print(f"[bold red]error:[/] {e}", highlight=False, soft_wrap=True)
        sys.exit(2)


if __name__ == "__main__":
    main()
