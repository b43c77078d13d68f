"""Run by ``torchrun`` in test_distributed.py: trains a few steps with real DDP (gloo) and saves, per
rank, the final parameters and which videos this rank's loader delivered."""

import json
import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[3]))

import torch  # noqa: E402

import g3an.train.loop as loop  # noqa: E402
from g3an.train.loop import fit  # noqa: E402
from tests.helpers import tiny_config  # noqa: E402

seen: set[int] = set()
_real = loop.to_model_input


def _recording(frames, device="cpu"):  # the real conversion, plus a note of which videos came by
    seen.update(int(v) for v in frames[:, 0, 0, 0, 1].tolist())  # make_index_shards: channel 1 = video
    return _real(frames, device)


loop.to_model_input = _recording  # the name the training loop calls

shards, out = Path(sys.argv[1]), Path(sys.argv[2])
extra = dict(kv.split("=", 1) for kv in sys.argv[3:])  # e.g. train__r1_gamma=0
result = fit(tiny_config(train__steps=6, train__ckpt_every=3, loader__workers=1, **extra), shards, out)
rank = int(os.environ["RANK"])
# parameters, not buffers: BN running stats and spectral-norm vectors are per-rank buffers that DDP
# re-broadcasts from rank 0 at each forward, so they legitimately differ after the last one
torch.save({name: {k: v.detach().clone() for k, v in m.named_parameters()}
            for name, m in result.models.items() if m is not None}, out / f"rank{rank}.pt")
(out / f"rank{rank}.json").write_text(json.dumps({"seen": sorted(seen), "step": result.step, "clips": result.clips}))
