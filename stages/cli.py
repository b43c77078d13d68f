"""``g3an-cli``: one command per pipeline stage. Heavy modules (torch, webdataset, cv2) are imported
inside the commands, so ``g3an-cli --help`` answers instantly."""

from __future__ import annotations

import errno
import os
import sys
import typing
from typing import List, Optional

import typer

from g3an.config import BaseConfig
from stages.paths import shown

DATASETS = typing.get_args(typing.get_type_hints(BaseConfig)["dataset"])

app = typer.Typer(help="G³AN pipeline: download → preprocess → train → train-evaluator → evaluate → render → report (each a DVC "
                       "stage). Errors are one line; add --debug (or set G3AN_DEBUG=1) for the traceback.",
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
def download(dataset: Optional[str] = typer.Argument(None, help=f"Data set: {', '.join(DATASETS)} (default: base.dataset).",
                                                     metavar="DATASET"),
             source: Optional[List[str]] = typer.Option(None, help="Local archive or folder (licensed sets; Weizmann "
                                                        "too); repeatable. A folder's archives are extracted."),
             out: Optional[str] = typer.Option(None, help=f"Raw data folder (default: {shown('raw')})."),
             params: str = ParamsOpt, set_: Optional[List[str]] = SetOpt):
    """Fetch or render a raw data set (synthetic renders locally; licensed sets take --source)."""
    from stages.download import main as run

    run(dataset, list(source or []), out, params, _overrides(set_))


@app.command()
def preprocess(dataset: Optional[str] = typer.Argument(None, help=f"Data set: {', '.join(DATASETS)} (default: base.dataset).",
                                                       metavar="DATASET"),
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


@app.command()
def export(checkpoint: str = typer.Argument(..., help="A training checkpoint, e.g. runs/train/checkpoints/step-0001800.pt.",
                                            metavar="CHECKPOINT"),
           out: Optional[str] = typer.Option(None, help="Generator file (default: generator-<checkpoint name>.pt "
                                             "beside the run's generator.pt).")):
    """Export a checkpoint's generator as train does at the end (EMA, BatchNorm re-estimated): evaluate or render any kept step."""
    from stages.export import main as run

    step, path = run(checkpoint, out)
    typer.echo(f"step {step} → {path}  (score it: g3an-cli evaluate --generator {path} --out <folder>)")


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
             out: Optional[str] = typer.Option(None, help=f"Metrics folder: one JSON per headline metric + details.json (default: {shown('metrics')})."),
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


@app.command()
def report(out: Optional[str] = typer.Option(None, help=f"The page (default: {shown('report')})."),
           params: str = ParamsOpt, set_: Optional[List[str]] = SetOpt):
    """One offline HTML page of the run: figures with their rows animated, metrics beside their references, curves."""
    from stages.report import main as run

    run(out, params, _overrides(set_))


def _os_error(e: OSError) -> str:
    """An OSError as ``<path>: <reason>; <fix>``."""
    where = e.filename or "g3an"
    fixes = {errno.ENOSPC: "free some space or point the output elsewhere",
             errno.EDQUOT: "free some space or point the output elsewhere",
             errno.EROFS: "the file system is read-only: choose a writable output path",
             errno.EACCES: "check the permissions, or choose another path",
             errno.EPERM: "check the permissions, or choose another path",
             errno.ENOTDIR: "a path component is a file, not a folder: fix the path",
             errno.EISDIR: "a folder was given where a file is expected: fix the path",
             errno.ENOENT: "check the path"}
    return f"{where}: {e.strerror or e}; {fixes.get(e.errno, 'check the path and the disk')}"


_METAVARS = {"params": "FILE", "set_": "KEY=VALUE"}


def command():
    """The command tree, with plain metavars in the help (``--out PATH``, ``--set KEY=VALUE``; flags
    such as ``--help`` show none) instead of typer's ``<str>`` / ``<list[str]>`` / ``<bool>``."""
    root = typer.main.get_command(app)

    def fix(cmd) -> None:
        ctx = cmd.context_class(cmd, info_name=cmd.name)
        for param in [*cmd.params, cmd.get_help_option(ctx)]:
            if param is not None and param.param_type_name == "option" and param.metavar is None:
                param.metavar = "" if param.is_flag else _METAVARS.get(param.name, "PATH")
        for sub in getattr(cmd, "commands", {}).values():
            fix(sub)

    fix(root)
    return root


def main() -> None:
    """Expected failures (bad params, files, data, paths, a full or read-only disk) end as one line
    ``error: <path or key>: <reason>; <fix>`` and exit 2; ``--debug`` (or ``G3AN_DEBUG=1``) shows
    the traceback instead."""
    from g3an.errors import UserError
    from g3an.runtime import set_process_defaults

    set_process_defaults()  # before any command imports torch
    debug = "--debug" in sys.argv[1:] or os.environ.get("G3AN_DEBUG", "") not in ("", "0")
    sys.argv = [a for a in sys.argv if a != "--debug"]
    try:
        command()(prog_name="g3an-cli")
    except (UserError, OSError) as e:
        if debug:
            raise
        from rich.console import Console
        from rich.markup import escape

        text = _os_error(e) if isinstance(e, OSError) else str(e)
        Console(stderr=True).print(f"[bold red]error:[/] {escape(text)}", highlight=False, soft_wrap=True)
        sys.exit(2)


if __name__ == "__main__":
    main()
