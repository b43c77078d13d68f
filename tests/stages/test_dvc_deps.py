"""dvc.yaml's code deps cannot go stale: each stage's deps must cover every project module its
command reaches — the whole import closure of its stage module, following imports made inside
functions and the ``"package.module:Name"`` strings of registries (``pipeline.sources``)."""

import ast
import re
from pathlib import Path

import pytest
import yaml

from tests.helpers import ROOT

PACKAGES = ("g3an", "pipeline", "stages")
_REGISTRY_STRING = re.compile(r"^((?:g3an|pipeline|stages)(?:\.\w+)+)(?::\w+)?$")


def _module_file(name: str) -> Path | None:
    if name.split(".")[0] not in PACKAGES:
        return None
    p = ROOT.joinpath(*name.split("."))
    for candidate in (p / "__init__.py", p.with_suffix(".py")):
        if candidate.is_file():
            return candidate
    return None


def _package_inits(path: Path) -> set[Path]:
    """Importing a.b.c runs a/__init__.py and a/b/__init__.py first."""
    out, folder = set(), path.parent
    while folder != ROOT and (folder / "__init__.py").is_file():
        out.add(folder / "__init__.py")
        folder = folder.parent
    return out


def _names_imported(path: Path) -> set[str]:
    names: set[str] = set()
    package = ".".join(path.relative_to(ROOT).with_suffix("").parts[:-1])
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            names |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:  # relative import
                parent = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join(parent + ([base] if base else []))
            names.add(base)
            names |= {f"{base}.{a.name}" for a in node.names}  # `from pkg import module`
        elif isinstance(node, ast.Constant) and isinstance(node.value, str):
            m = _REGISTRY_STRING.match(node.value)
            if m:
                names.add(m.group(1))
    return names


def import_closure(entry: Path, skip: frozenset = frozenset()) -> set[Path]:
    """Every project file that running ``entry`` can import (never following the modules in ``skip``)."""
    seen: set[Path] = set()
    todo = [entry]
    while todo:
        path = todo.pop()
        if path in seen:
            continue
        seen.add(path)
        todo += sorted(_package_inits(path) - seen)
        for name in _names_imported(path) - skip:
            f = _module_file(name)
            if f is not None and f not in seen and name.rsplit(".", 1)[0] not in skip:
                todo.append(f)
    return seen


CLI = ROOT / "stages" / "cli.py"  # every stage's command runs through it (pyproject's g3an-cli entry point)
# the commands' own modules, which cli.py imports inside each command: a stage reaches only its own
_COMMANDS = frozenset(re.findall(r"from (stages\.\w+) import main", CLI.read_text()))


def stage_closure(entry: Path) -> set[Path]:
    """What a stage's command runs: the CLI (without the other commands) and the stage's module."""
    return import_closure(CLI, _COMMANDS) | import_closure(entry)


def uncovered(stage: dict, entry: Path) -> list[str]:
    """Project files a stage's command reaches (``entry``: its module) that no dep of ``stage`` covers
    (a file or a folder above it)."""
    deps = [ROOT / d for d in stage.get("deps", []) if "${" not in d]
    reached = stage_closure(entry)
    return sorted(str(f.relative_to(ROOT)) for f in reached
                  if not any(f == d or d in f.parents for d in deps))


def _stages() -> dict:
    return yaml.safe_load((ROOT / "dvc.yaml").read_text())["stages"]


def _entry(name: str) -> Path:
    return ROOT / "stages" / f"{name.replace('-', '_')}.py"


@pytest.mark.parametrize("name", list(_stages()))
def test_every_module_a_stage_reaches_is_a_dep(name):
    stage = _stages()[name]
    assert f"g3an-cli {name} " in stage["cmd"] + " ", "each stage runs its own g3an-cli command"
    missing = uncovered(stage, _entry(name))
    assert not missing, f"dvc.yaml stage {name!r} reaches modules its deps do not list: {missing}"


@pytest.mark.parametrize("name", list(_stages()))
def test_every_code_dep_exists(name):
    code = [d for d in _stages()[name].get("deps", []) if d.split("/")[0] in PACKAGES]
    assert [d for d in code if not (ROOT / d).exists()] == []


def test_the_check_fails_when_a_stage_misses_a_module():
    stage = dict(_stages()["evaluate"])
    stage["deps"] = [d for d in stage["deps"] if not d.startswith("pipeline")]
    assert "pipeline/crop.py" in uncovered(stage, _entry("evaluate"))  # the oracle draws frames with it
    assert "pipeline/sources/synthetic.py" in uncovered(stage, _entry("evaluate"))


def test_the_cli_and_what_it_runs_first_are_in_every_stage_but_not_the_other_commands():
    reached = {str(p.relative_to(ROOT)) for p in stage_closure(_entry("download"))}
    assert {"stages/cli.py", "g3an/runtime.py", "stages/download.py"} <= reached
    assert "stages/evaluate.py" not in reached and "g3an/models/generator.py" not in reached
    assert len(_COMMANDS) >= 8


def test_the_closure_follows_registry_strings_and_function_level_imports():
    reached = {str(p.relative_to(ROOT)) for p in import_closure(_entry("preprocess"))}
    assert {"pipeline/sources/mug.py", "pipeline/sources/uva_nemo.py", "pipeline/preprocess.py",
            "g3an/__init__.py", "pipeline/sources/__init__.py"} <= reached
    assert "g3an/models/generator.py" not in reached  # data plumbing never touches the model


# stage → {CLI option: the stages/paths.py default it must equal}
_CMD_PATHS = {
    "download": {"--out": "raw"},
    "preprocess": {"--raw": "raw", "--out": "shards"},
    "train": {"--shards": "shards", "--out": "run", "--live": "live"},
    "train-evaluator": {"--shards": "shards", "--out": "evaluator", "--metrics": "evaluator_metrics"},
    "evaluate": {"--generator": "generator", "--evaluator": "evaluator", "--shards": "shards", "--out": "metrics"},
    "render": {"--generator": "generator", "--out": "render"},
    "report": {"--out": "report"},
}


@pytest.mark.parametrize("name", list(_CMD_PATHS))
def test_hand_runs_and_dvc_runs_use_the_same_paths(name):
    """`g3an-cli <stage>` with no path options writes exactly where dvc.yaml says the stage writes."""
    from stages.paths import DEFAULTS

    words = _stages()[name]["cmd"].split()
    given = {words[i]: words[i + 1] for i in range(len(words) - 1) if words[i].startswith("--")}
    as_dvc = {opt: DEFAULTS[key].replace("{", "${base.") for opt, key in _CMD_PATHS[name].items()}
    assert given == as_dvc


def test_the_declared_evaluate_metrics_are_the_headline_files():
    """dvc.yaml declares exactly the files the evaluate stage writes, one per headline metric."""
    from g3an.metrics.summary import HEADLINE

    stage = yaml.safe_load((ROOT / "dvc.yaml").read_text())["stages"]["evaluate"]
    declared = {next(iter(m)) if isinstance(m, dict) else m for m in stage["metrics"]}
    assert declared == {f"results/evaluate/{stem}.json" for stem in HEADLINE}
