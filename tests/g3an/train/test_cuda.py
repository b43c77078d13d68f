"""The CUDA paths: `train.device` auto/cuda, bf16 autocast, TF32, `train.compile`, DDP on NCCL.
They run only where CUDA exists (a GPU machine); everywhere else they are skipped with that reason,
so the paths are not dead code the day a GPU is there."""

import copy

import pytest
import torch

from g3an.config import LoaderConfig, ModelConfig
from g3an.models.build import build_models, load_generator
from g3an.train.loop import fit
from g3an.train.step import Nets, gan_step, make_optimizers
from tests.helpers import assert_ranks_identical, make_index_shards, run_ddp_driver, tiny_config

pytestmark = pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device here: these run on a GPU machine")


def _finite(metrics: dict) -> bool:
    return all(v is None or bool(torch.isfinite(torch.tensor(float(v)))) for v in metrics.values())


@pytest.mark.parametrize("extra", [{}, {"train__compile": True, "train__r1_gamma": 0.0}], ids=["bf16-r1", "compile"])
def test_fit_on_cuda_trains_and_exports_a_generator_the_cpu_loads(training_shards, tmp_path, extra):
    res = fit(tiny_config(train__device="cuda", **extra), training_shards, tmp_path / "run")
    assert res.step == 6 and res.interrupted is None and _finite(res.metrics)
    g, blob = load_generator(tmp_path / "run" / "generator.pt")  # weights_only, onto the CPU
    z_a, z_m = torch.randn(2, 128), torch.randn(2, 10, blob["latent_length"])
    with torch.no_grad():
        video = g(z_a, z_m, torch.tensor([0, 1]) if blob["n_classes"] else None)
    assert video.shape == (2, 3, 16, 32, 32) and torch.isfinite(video).all()


def test_one_float32_step_on_cuda_matches_the_cpu_step():
    """Same weights, same draws, no autocast and no TF32: the step's losses and updated weights agree."""
    torch.manual_seed(0)
    g, d_v, d_i, tz = build_models(ModelConfig(size=32, width=0.0625), LoaderConfig())
    real = torch.rand(2, 3, 16, 32, 32) * 2 - 1
    tf32 = torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32
    torch.backends.cuda.matmul.allow_tf32 = torch.backends.cudnn.allow_tf32 = False
    try:
        outs, nets = [], []
        for dev in ("cpu", "cuda"):
            gg, dv, di = (copy.deepcopy(m).to(dev) for m in (g, d_v, d_i))
            n = Nets(gg, dv, di, *make_optimizers(gg, dv, di), tz, r1_gamma=1.0)
            outs.append(gan_step(n, real.to(dev), None, torch.Generator().manual_seed(3)))
            nets.append(n)
    finally:
        torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32 = tf32
    for k in outs[0]:
        torch.testing.assert_close(outs[1][k].cpu(), outs[0][k], rtol=1e-3, atol=1e-4, msg=k)
    for a, b in zip(nets[0].g.parameters(), nets[1].g.parameters()):
        torch.testing.assert_close(b.detach().cpu(), a.detach(), rtol=1e-3, atol=1e-4)


@pytest.mark.skipif(torch.cuda.device_count() < 2, reason="DDP on NCCL needs two CUDA devices")
def test_two_rank_ddp_on_nccl_keeps_the_ranks_identical(tmp_path):
    shards = tmp_path / "shards"
    make_index_shards(shards / "train", videos=16, frames=40, size=32, per_shard=4)
    (r0, r1), states = run_ddp_driver(shards, tmp_path / "run", "train__device=cuda", timeout=600)
    assert r0["step"] == r1["step"] == 6 and not set(r0["seen"]) & set(r1["seen"])
    assert_ranks_identical(states, ("g", "d_v", "d_i"))
