import numpy as np
import pytest
import torch
from PIL import Image

from g3an.config import RenderConfig
from g3an.errors import UserError
from g3an.models.build import load_generator
from g3an.render.figures import build_figures
from g3an.render.grid import frame_grid
from g3an.render.render import render_all
from tests.helpers import cli, make_generator_export, tiny_config, tiny_overrides

CFG = RenderConfig(n_appearance=2, n_motion=3, columns=4, scale=1, sweep_steps=3, latent_lengths=(1, 2, 3), gif_fps=10)


def _gif_durations(path):
    gif = Image.open(path)
    out = []
    for i in range(gif.n_frames):
        gif.seek(i)
        out.append(gif.info["duration"])
    return out


@pytest.fixture
def rendered(tmp_path):
    path = make_generator_export(tmp_path / "generator.pt", n_classes=4)
    g, export = load_generator(path)
    entries = render_all(g, export, CFG, tmp_path / "out")
    return g, export, {e["name"]: e for e in entries}, tmp_path / "out"


def test_every_figure_and_its_geometry(rendered):
    _, _, entries, out = rendered
    assert set(entries) == {"c1_unconditional", "c2_conditional_subject0", "c2_conditional_subject1",
                            "c3_appearance_dim0", "c3_appearance_dim1", "c3_motion_dim0", "c3_motion_dim1",
                            "c4_motion_switch", "variable_length"}
    rows = {"c1_unconditional": 6, "c2_conditional_subject0": 4 * 2, "c2_conditional_subject1": 4 * 2,
            "c3_appearance_dim0": 3, "c4_motion_switch": 4}
    for name, n in rows.items():
        assert len(entries[name]["rows"]) == n
        png = np.asarray(Image.open(out / entries[name]["png"]))
        grid_h = n * 32 + (n + 1) * 2  # rows × 32 px frames + gutters, below the title bar
        assert png.shape[0] > grid_h and png.shape[0] - grid_h < 40
    assert entries["c2_conditional_subject0"]["rows"][0]["caption"] == "subject 0, up, z_m 0"
    assert entries["c2_conditional_subject1"]["rows"][0]["caption"] == "subject 1, up, z_m 0"
    assert (out / "index.md").read_text().count("![") == 9


def test_grid_geometry():
    videos = np.zeros((3, 16, 32, 32, 3), np.uint8)
    assert frame_grid(videos, columns=8, gutter=2, scale=2).shape == (3 * 64 + 4 * 2, 8 * 64 + 9 * 2, 3)


def test_motion_switch_rows_equal_direct_generation(rendered):
    g, export, entries, out = rendered
    fig = next(f for f in build_figures(CFG, export["classes"], 4, export["latent_length"]) if f.name == "c4_motion_switch")
    o0, o1, s0, s1 = fig.rows
    assert torch.equal(s0.z_a, o0.z_a) and torch.equal(s0.z_m, o1.z_m) and s0.label == o1.label
    assert torch.equal(s1.z_a, o1.z_a) and torch.equal(s1.z_m, o0.z_m) and s1.label == o0.label
    with torch.no_grad():
        direct = g(o0.z_a[None], o1.z_m[None], torch.tensor([o1.label]))[0]  # (3, T, H, W)
    gif = Image.open(out / entries["c4_motion_switch"]["rows"][2]["gif"])
    first = np.asarray(gif.convert("RGB"))
    expected = ((direct[:, 0].clamp(-1, 1) + 1) * 127.5).round().byte().permute(1, 2, 0).numpy()
    assert np.abs(first.astype(int) - expected.astype(int)).mean() < 4  # GIF palette quantisation only


def test_gifs_last_one_frame_time_per_video_frame_and_lengths_follow_t_z(rendered):
    _, export, entries, out = rendered
    assert [r["frames"] for r in entries["variable_length"]["rows"]] == [16, 24, 32]  # paper: 8·(T_z + 1)
    for r in entries["variable_length"]["rows"] + entries["c1_unconditional"]["rows"]:
        # GIF writers merge identical consecutive frames (adding their durations): the play time is exact
        assert sum(_gif_durations(out / r["gif"])) == 100 * r["frames"]


def test_a_gif_has_one_frame_per_distinct_video_frame(tmp_path):
    from g3an.render.media import write_gif
    from tests.helpers import moving_frames

    write_gif(tmp_path / "a.gif", moving_frames(16, 32, 32), fps=10, scale=2)
    assert Image.open(tmp_path / "a.gif").n_frames == 16 and Image.open(tmp_path / "a.gif").size == (64, 64)
    assert _gif_durations(tmp_path / "a.gif") == [100] * 16


def test_same_inputs_give_identical_bytes(rendered, tmp_path):
    g, export, _, out = rendered
    render_all(g, export, CFG, tmp_path / "again")
    files = sorted(p.relative_to(out) for p in out.rglob("*") if p.is_file())
    assert files and all((out / f).read_bytes() == (tmp_path / "again" / f).read_bytes() for f in files)


def test_unconditional_generator_has_no_c2(tmp_path):
    g, export = load_generator(make_generator_export(tmp_path / "g.pt", n_classes=0))
    names = [e["name"] for e in render_all(g, export, CFG, tmp_path / "out")]
    assert not any(n.startswith("c2_conditional") for n in names) and "c4_motion_switch" in names


def test_missing_and_incompatible_generators_are_one_line_errors(tmp_path):
    with pytest.raises(UserError, match="generator not found; run `g3an-cli train`"):
        load_generator(tmp_path / "nope.pt")
    path = make_generator_export(tmp_path / "g.pt")
    with pytest.raises(UserError, match="trained with preset=paper width=0.0625 size=32, but params expect "
                                        "preset=reference"):
        load_generator(path, tiny_config(model__preset="reference").model)
    (tmp_path / "params.yaml").write_text("{}\n")
    r = cli("render", "--generator", str(tmp_path / "nope.pt"), "--params", str(tmp_path / "params.yaml"),
            cwd=tmp_path)
    assert r.returncode == 2 and len(r.stderr.strip().splitlines()) == 1 and "nope.pt" in r.stderr


def test_render_stage_end_to_end(tmp_path):
    make_generator_export(tmp_path / "runs" / "train" / "generator.pt", n_classes=4)
    (tmp_path / "params.yaml").write_text("{}\n")
    args = ["render"] + [a for s in tiny_overrides(render__columns=4) for a in ("--set", s)]
    r = cli(*args, cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    assert (tmp_path / "runs" / "render" / "figures" / "c4_motion_switch.png").exists()
    assert not [p for p in tmp_path.joinpath("runs").iterdir() if ".tmp-" in p.name or ".old-" in p.name]  # only the lock file stays
