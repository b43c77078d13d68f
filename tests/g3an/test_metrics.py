import json

import numpy as np
import pytest
import torch

from g3an.config import SYNTHETIC_ACTIONS, EvalConfig, LoaderConfig
from g3an.metrics import acd
from g3an.metrics.evaluate import Context, app_coverage, disentanglement_metrics, evaluate
from g3an.metrics.evaluator import save_evaluator, train_and_score
from g3an.metrics.frechet import fd_of_features, frechet_distance
from pipeline.manifest import read_manifest
from tests.helpers import RendererGenerator, make_generator_export, make_training_shards, tiny_config


def test_frechet_zero_symmetric_and_closed_form():
    rng = np.random.default_rng(0)
    a, b = rng.normal(size=(500, 6)), rng.normal(1.0, 2.0, size=(400, 6))
    assert fd_of_features(a, a) == pytest.approx(0, abs=1e-8)
    assert fd_of_features(a, b) == pytest.approx(fd_of_features(b, a), rel=1e-9)
    m1, m2 = np.array([0.0, 1.0, 2.0]), np.array([1.0, 1.0, 0.0])
    v1, v2 = np.array([1.0, 4.0, 9.0]), np.array([4.0, 1.0, 1.0])
    closed = ((m1 - m2) ** 2).sum() + ((np.sqrt(v1) - np.sqrt(v2)) ** 2).sum()  # diagonal Gaussians
    assert frechet_distance(m1, np.diag(v1), m2, np.diag(v2)) == pytest.approx(closed, rel=1e-9)
    rot = np.linalg.qr(rng.normal(size=(3, 3)))[0]  # the same pair rotated: the distance is unchanged
    assert frechet_distance(rot @ m1, rot @ np.diag(v1) @ rot.T, rot @ m2, rot @ np.diag(v2) @ rot.T) == \
        pytest.approx(closed, rel=1e-7)


def test_app_coverage_is_one_minus_the_total_variation_per_head():
    heads = [("background", 2), ("colour", 3)]
    real = {"background": [50, 50], "colour": [10, 10, 10]}
    assert app_coverage(real, real, heads) == (1.0, {"background": 1.0, "colour": 1.0})
    dark_only = {"background": [100], "colour": [0, 5, 5]}  # bincount stops at the last drawn value
    value, per = app_coverage(dark_only, real, heads)
    assert per == {"background": pytest.approx(0.5), "colour": pytest.approx(2 / 3)}
    assert value == pytest.approx((0.5 + 2 / 3) / 2)
    assert app_coverage({"background": [0, 7], "colour": [0, 0, 9]}, {"background": [3, 0], "colour": [4, 4, 0]},
                        heads)[0] == 0.0


def test_acd_colour_measures_drift_and_refuses_blank_videos():
    still = np.zeros((2, 4, 16, 16, 3), np.uint8)
    still[:, :, 4:12, 4:12] = (200, 50, 50)
    drifting = still.copy()
    for t in range(4):
        drifting[:, t, 4:12, 4:12] = (200 - 40 * t, 50, 50)
    assert acd.acd_color(still)["value"] == pytest.approx(0)
    assert acd.acd_color(drifting)["value"] > 40
    blank = acd.acd_color(np.zeros((2, 4, 16, 16, 3), np.uint8))
    assert blank["value"] is None and blank["coverage"] == 0


@pytest.fixture(scope="module")
def judged(tmp_path_factory):
    """12-subject synthetic shards at 32 px and an evaluator trained on them (once per module)."""
    root = tmp_path_factory.mktemp("judged")
    shards = make_training_shards(root, subjects=12)
    manifest = read_manifest(shards)
    ev = EvalConfig(evaluator_steps=600, evaluator_batch=16, evaluator_lr=1e-3, evaluator_width=16, seed=0, n_real=64)
    loader = LoaderConfig(clip_length=16, frame_steps=(2, 3), workers=0)
    model, info = train_and_score(shards, manifest, ev, loader)
    save_evaluator(root / "evaluator.pt", model, info)
    return root, shards, model, info


def test_evaluator_beats_chance_by_a_wide_margin(judged):
    _, _, _, info = judged
    acc = info["test_accuracy"]
    assert acc["motion"] > 0.6  # chance 1/8
    assert acc["colour"] > 0.6 and acc["background"] > 0.8  # chance 1/6, 1/2
    assert acc["where_first"] > 0.6 and acc["where_last"] > 0.6  # the object's cell of 3 × 3: chance 1/9
    # (shape and size are not learnable at this fixture's 32 px: the objects are ~3 px across)


def _ctx(model, info, g, n_classes=8):
    cfg = tiny_config(eval__disentangle_sets=4)
    heads = [(k, len(v)) for k, v in info["heads"]]
    return Context(cfg, {"resolution": 32, "clip_length": 16, "frame_steps": [2, 3], "extractor": "test"},
                   list(SYNTHETIC_ACTIONS), n_classes, heads, real={"test": {"n": 0}}, g=g, evaluator=model,
                   extra={"where_readable": True})


def test_disentanglement_perfect_renderer_scores_high_and_motion_blind_low(judged):
    _, _, model, info = judged
    perfect = disentanglement_metrics(_ctx(model, info, RendererGenerator(SYNTHETIC_ACTIONS)))
    blind = disentanglement_metrics(_ctx(model, info, RendererGenerator(SYNTHETIC_ACTIONS, ignore_motion=True)))
    p, b = perfect["dis_disentanglement_16f"]["value"], blind["dis_disentanglement_16f"]["value"]
    # the oracle's ceiling is the evaluator's own accuracy (~0.85 on motion at this fixture's 32 px),
    # and that judge's float32 training differs between our CPU kinds: the oracle scored 0.74 on the
    # Intel machine, 0.57 on the AMD one (switch 0.42, motion kept 0.55), 0.62 on a third host that
    # rounds differently again (2026-11-30 evening), the blind one 0.29 on all
    assert p > 0.5 and b < 0.35 and p > b + 0.2
    # appearance kept across z_m: the judge reads colour at only ~0.8 here, so its misreads of moving
    # objects cost the perfect renderer some agreement (> 0.9 on the first two hosts, 0.896 on the
    # third); the blind renderer, whose clips under one z_a are identical, gets 1.0
    assert perfect["dis_app_kept_16f"]["value"] > 0.85 and perfect["dis_motion_varies_16f"]["value"] > 0.8
    assert blind["dis_motion_varies_16f"]["value"] < 0.1 and blind["dis_switch_16f"]["value"] < 0.1
    assert perfect["dis_switch_16f"]["value"] > 0.3


def test_path_scores_see_what_z_m_does_within_a_class(judged):
    """Within one class, the renderer's z_m moves the object (start, offset, speed, phase) and its z_a
    does not; the motion-blind renderer draws one path whatever z_m says: identical clips, 0 exactly."""
    from g3an.metrics.evaluate import path_metrics

    _, _, model, info = judged
    perfect = path_metrics(_ctx(model, info, RendererGenerator(SYNTHETIC_ACTIONS)))
    blind = path_metrics(_ctx(model, info, RendererGenerator(SYNTHETIC_ACTIONS, ignore_motion=True)))
    # this 32 px judge reads the cell at ~0.85 (AMD EPYC: 0.88 / 0.84), so the renderer's scores sit
    # below the 64 px run's 0.72 / 0.81 (here 0.63 / 0.65); a judge guessing cells would give ~1 / ~0.01
    assert perfect["dis_path_varies_16f"]["value"] > 0.4 and blind["dis_path_varies_16f"]["value"] == 0
    assert perfect["dis_path_kept_16f"]["value"] > 0.4 and perfect["dis_path_kept_16f"]["grid"] == "3x3"
    ctx = _ctx(model, info, RendererGenerator(SYNTHETIC_ACTIONS))
    ctx.extra["where_readable"] = False  # a judge whose where head is near chance: no path scores at all
    assert path_metrics(ctx) == {}


def test_untrained_generator_is_worse_than_real_data_and_stats_are_cached(judged, tmp_path):
    root, shards, _, _ = judged
    gen = make_generator_export(tmp_path / "generator.pt", n_classes=8)
    cfg = tiny_config(eval__n_fake=48, eval__n_real=48, eval__disentangle_sets=2)
    first = evaluate(cfg, gen, root / "evaluator.pt", shards, tmp_path / "cache")
    assert first["_meta"]["real_stats_cache_hit"] is False
    fd = first["fd_cls256_16f"]
    assert fd["value"] > 5 * fd["floor_real_train_vs_test"]
    acc = first["acc_cls_16f"]
    assert acc["value"] < acc["real_test"] - 0.3
    assert first["inter_entropy_cls_16f"]["value"] < first["inter_entropy_cls_16f"]["real_test"]
    dis = first["dis_disentanglement_16f"]
    assert dis["value"] < 0.3 and dis["oracle"] > dis["value"] + 0.3  # the renderer is scored as the ceiling
    for key in ("fd_cls256_16f", "acc_cls_16f", "intra_entropy_cls_16f", "inter_entropy_cls_16f", "acd_color_16f",
                "acd_feat_16f", "dis_app_kept_16f", "dis_app_varies_16f", "dis_motion_kept_16f",
                "dis_motion_varies_16f", "dis_switch_16f", "dis_disentanglement_16f", "dis_path_varies_16f",
                "dis_path_kept_16f"):
        r = first[key]
        assert {"value", "n_real", "n_fake", "resolution", "clip_length", "frame_steps", "extractor"} <= set(r)
        assert r["resolution"] == 32 and r["clip_length"] == 16 and r["frame_steps"] == [2, 3]
    again = evaluate(cfg, gen, root / "evaluator.pt", shards, tmp_path / "cache")
    assert again["_meta"]["real_stats_cache_hit"] is True
    assert again["fd_cls256_16f"]["value"] == pytest.approx(fd["value"])
    assert len(list((tmp_path / "cache").glob("real-*.pt"))) == 1
    # other real clips (the loader's sampling) are other statistics: never a stale cache hit
    other = evaluate(tiny_config(eval__n_fake=48, eval__n_real=48, eval__disentangle_sets=2, loader__shuffle_buffer=7),
                     gen, root / "evaluator.pt", shards, tmp_path / "cache")
    assert other["_meta"]["real_stats_cache_hit"] is False
    json.dumps(first)  # JSON-serialisable as written by the stage
    from g3an.metrics.summary import HEADLINE, details, headline

    rows = headline(first)  # what DVC reads: numbers only, the value under the metric's own name
    assert set(rows) == set(HEADLINE)
    assert rows["fd"] == {"fd": pytest.approx(fd["value"], rel=1e-3),
                          "floor": pytest.approx(fd["floor_real_train_vs_test"], rel=1e-3)}
    assert rows["acc"]["chance"] == 0.125 and rows["disentangle"]["oracle"] == pytest.approx(dis["oracle"], rel=1e-3)
    cov = first["app_coverage_16f"]
    assert set(cov["per_head"]) == set(dis["appearance_heads"].split("+"))
    assert 0 <= cov["value"] < cov["oracle"] <= 1 and cov["real_test"] > 0.5
    assert all(isinstance(v, float) for row in rows.values() for v in row.values())
    side = details(first)
    assert side["headline"]["switch"] == "dis_switch_16f" and side["records"]["acd_feat_16f"] is first["acd_feat_16f"]


def test_paper_fvd_path_with_random_resnext_weights(judged, tmp_path):
    from g3an.metrics.resnext import ResNeXt3D

    root, shards, _, _ = judged
    torch.manual_seed(0)
    torch.save({"arch": "resnext-101", "state_dict": {f"module.{k}": v for k, v in ResNeXt3D().state_dict().items()}},
               tmp_path / "resnext.pth")
    gen = make_generator_export(tmp_path / "generator.pt", n_classes=8)
    cfg = tiny_config(eval__n_fake=8, eval__n_real=8, eval__disentangle_sets=1, eval__resnext_fakes=4,
                      eval__i3d_or_resnext_weights=str(tmp_path / "resnext.pth"))
    out = evaluate(cfg, gen, root / "evaluator.pt", shards, tmp_path / "cache")
    r = out["fvd_resnext101_2048_16f"]
    assert r["value"] >= 0 and r["n_fake"] == 4 and r["resolution"] == 112
    assert r["n_real"] == read_manifest(shards)["videos"]  # every training video once
    assert "user weights resnext.pth" in r["extractor"] and "mean nothing" in r["note"]


def test_a_judge_trained_on_other_clip_lengths_is_refused(judged, tmp_path):
    from g3an.errors import UserError
    from g3an.persistence import load_artifact, save_artifact

    root, shards, _, _ = judged
    blob = load_artifact(root / "evaluator.pt", "evaluator")
    assert blob["info"]["clip_length"] == 16 and blob["info"]["frame_steps"] == [2, 3]  # recorded by training
    blob["info"]["clip_length"] = 32  # e.g. trained with loader.clip_length=32
    save_artifact({k: v for k, v in blob.items() if k != "format"}, tmp_path / "judge32.pt", "evaluator")
    gen = make_generator_export(tmp_path / "generator.pt", n_classes=8)
    with pytest.raises(UserError, match="judge was trained on 32-frame clips but the generator makes 16"):
        evaluate(tiny_config(), gen, tmp_path / "judge32.pt", shards, tmp_path / "cache")


def test_a_generator_of_other_classes_than_the_shards_is_refused(judged, tmp_path):
    """e.g. a MUG generator given with the synthetic shards and judge: its labels mean other motions."""
    from g3an.errors import UserError

    root, shards, _, _ = judged
    gen = make_generator_export(tmp_path / "generator.pt", n_classes=4)  # 4 classes; the shards hold 8
    with pytest.raises(UserError, match=r"generator.pt: trained on classes \['up', 'down', 'left', 'right'\] but"):
        evaluate(tiny_config(), gen, root / "evaluator.pt", shards, tmp_path / "cache")
    assert not (tmp_path / "cache").exists()


def test_a_judge_from_an_older_version_is_refused_with_the_fix(judged, tmp_path):
    from g3an.errors import UserError
    from g3an.metrics.evaluator import load_evaluator
    from g3an.persistence import load_artifact, save_artifact

    root, _, _, _ = judged
    blob = load_artifact(root / "evaluator.pt", "evaluator")
    del blob["config"]["arch"]  # as written before the judge's layers changed
    save_artifact(blob, tmp_path / "old.pt", "evaluator")
    with pytest.raises(UserError, match=r"old\.pt: a judge from an older g3an .*dvc repro train-evaluator"):
        load_evaluator(tmp_path / "old.pt")


def test_flat_videos_and_a_weak_judge_are_called_out():
    """A flat grey generator and a near-chance judge would read as perfect on the "kept" scores:
    both are named, with the fix."""
    from g3an.metrics.evaluator import judge_warning
    from g3an.sampling import flat_output

    grey = torch.zeros(8, 3, 16, 32, 32)  # (B, C, T, H, W)
    assert "untrained or collapsed" in flat_output(grey) and "train.steps" in flat_output(grey)
    assert flat_output(torch.rand(8, 3, 16, 32, 32) * 2 - 1) is None
    assert "evaluator_steps" in judge_warning({"test_accuracy": {"motion": 0.2}}, n_classes=8)
    assert judge_warning({"test_accuracy": {"motion": 0.9}}, n_classes=8) is None


def test_a_head_is_readable_from_halfway_between_chance_and_perfect():
    from g3an.metrics.evaluator import WHERE_HEADS, chance_levels, readable

    manifest = {"classes": list("abcdefgh")}
    chance = chance_levels(manifest, [("colour", ["r", "g", "b", "y"])], track_grid=3)
    assert chance == {"motion": 1 / 8, "colour": 1 / 4, **{k: 1 / 9 for k in WHERE_HEADS}}
    assert list(chance_levels(manifest, [], track_grid=0)) == ["motion"]  # untracked data: no where heads
    assert readable(0.5625, chance["motion"]) and not readable(0.56, chance["motion"])
    assert readable(0.625, chance["colour"]) and not readable(0.62, chance["colour"]) and not readable(None, 0.5)
