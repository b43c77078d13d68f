import pytest

from g3an.config import Config, ConfigError, config_from_dict, load_config


def test_defaults_validate_and_round_trip():
    cfg = config_from_dict({})
    assert cfg == Config()
    assert config_from_dict(cfg.to_dict()) == cfg


def test_params_yaml_and_the_code_defaults_are_one_source_of_truth():
    """Tests build from the code defaults and `dvc repro` from params.yaml: they must be the same run."""
    from tests.helpers import ROOT

    assert load_config(ROOT / "params.yaml").to_dict() == Config().to_dict()


def test_paper_width_with_the_demo_attention_placement_is_flagged():
    assert Config().model.placement_warning() is None  # the CPU demo at width 1/8
    warning = config_from_dict({"model": {"width": 1.0}}).model.placement_warning()
    assert "model.attention_after=3" in warning and "model.d_width" not in warning
    narrow_d = config_from_dict({"model": {"width": 1.0, "d_width": 0.25}}).model.placement_warning()
    assert "model.d_width=0" in narrow_d
    paper = {"model": {"width": 1.0, "attention_after": 3, "d_width": 0}}
    assert config_from_dict(paper).model.placement_warning() is None
    assert config_from_dict({"model": {"width": 0.125}}).model.discriminator_width == 0.125
    assert config_from_dict({"model": {"width": 0.125, "d_width": 0.25}}).model.discriminator_width == 0.25


@pytest.mark.parametrize("data, fragment", [
    ({"model": {"widht": 1}}, "unknown key model.widht"),
    ({"nope": {}}, "unknown key nope"),
    ({"model": {"width": "big"}}, "model.width = 'big' is invalid: expected a number"),
    ({"model": {"width": -1}}, "model.width = -1.0 is invalid"),
    ({"model": {"video_mode": "4d"}}, "expected one of '1p2d', '2p1d', '3d'"),
    ({"model": {"size": 64.0}}, "model.size = 64.0 is invalid: expected one of 32, 64, 128"),  # 64.0 == 64 in Python
    ({"base": {"dataset": "imagenet"}}, "base.dataset = 'imagenet'"),
    ({"preprocess": {"size": -8}}, "preprocess.size = -8"),
    ({"train": {"steps": 1.5}}, "train.steps = 1.5 is invalid: expected an integer"),
    ({"train": {"steps": True}}, "expected an integer"),
    ({"train": {"compile": 1}}, "expected true or false"),
    ({"loader": {"frame_steps": [2, 0]}}, "loader.frame_steps"),
    ({"train": {"betas": [0.5]}}, "train.betas = [0.5] is invalid: expected a list of 2 values"),
    ({"train": {"r1_gamma": -1}}, "train.r1_gamma = -1.0 is invalid: expected a number >= 0"),
    ({"train": {"r1_gamma": 1, "compile": True}}, "no double backward"),
    ({"train": {"r1_every": 0}}, "train.r1_every = 0 is invalid: expected an integer >= 1"),
    ({"download": {"synthetic": {"actions": ["up", "fly"]}}}, "download.synthetic.actions"),
    ({"model": 3}, "model = 3 is invalid: expected a mapping"),
    ({"model": {"attention_after": 7}}, "model.attention_after = 7 is invalid: expected 0..4"),
    ({"model": {"d_mbstd": -1}}, "model.d_mbstd = -1 is invalid"),
    ({"train": {"pair_d": -0.5}}, "train.pair_d = -0.5 is invalid: expected a number >= 0"),
    ({"train": {"class_head": -1}}, "train.class_head = -1.0 is invalid: expected a number >= 0"),
    ({"train": {"za_info": -1}}, "train.za_info = -1.0 is invalid: expected a number >= 0"),
    ({"train": {"colour_prior": -1}}, "train.colour_prior = -1.0 is invalid: expected a number >= 0"),
    ({"train": {"change_prior": -1}}, "train.change_prior = -1.0 is invalid: expected a number >= 0"),
    ({"train": {"pair_d": 1, "zm_diversity": 0.1}}, "pair_d = 1.0 is invalid: expected 0 with train.zm_diversity > 0"),
])
def test_bad_values_name_the_dotted_key(data, fragment):
    with pytest.raises(ConfigError) as e:
        config_from_dict(data, source="params.yaml")
    assert fragment in str(e.value)
    assert str(e.value).startswith("params.yaml: ")
    assert "\n" not in str(e.value)


def test_overrides_are_typed_like_the_file(tmp_path):
    p = tmp_path / "params.yaml"
    p.write_text("model:\n  width: 0.5\n")
    cfg = load_config(p, ["model.width=0.25", "train.steps=7", "loader.frame_steps=[1, 2]", "model.preset=reference"])
    assert (cfg.model.width, cfg.train.steps, cfg.loader.frame_steps, cfg.model.preset) == (0.25, 7, (1, 2), "reference")
    assert load_config(p, ["train.lr_g=1e-3"]).train.lr_g == 0.001  # YAML 1.1 reads 1e-3 as a string
    with pytest.raises(ConfigError, match="train.steps = 'many'"):
        load_config(p, ["train.steps=many"])
    with pytest.raises(ConfigError, match="expected KEY=VALUE"):
        load_config(p, ["train.steps"])
    with pytest.raises(ConfigError, match="unknown key train.stpes"):
        load_config(p, ["train.stpes=3"])


def test_yes_and_no_written_unquoted_are_the_words_not_booleans(tmp_path):
    """`dvc exp run -S train.conditional=yes` writes it unquoted; YAML 1.1 reads that as true."""
    (tmp_path / "params.yaml").write_text("train:\n  conditional: yes\n")
    assert load_config(tmp_path / "params.yaml").train.conditional == "yes"
    assert load_config(tmp_path / "params.yaml", ["train.conditional=no"]).train.conditional == "no"
    with pytest.raises(ConfigError, match="train.compile = 'yes'"):  # a real boolean key stays strict
        config_from_dict({"train": {"compile": "yes"}})


def test_missing_and_malformed_files(tmp_path):
    with pytest.raises(ConfigError, match="params file not found"):
        load_config(tmp_path / "absent.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("model: [unclosed\n")
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_config(bad)


def test_yaml_is_loaded_safely(tmp_path):
    p = tmp_path / "evil.yaml"
    p.write_text("base: !!python/object/apply:os.system ['echo pwned']\n")
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_config(p)


def test_train_hash_ignores_run_length_but_not_shape():
    a = config_from_dict({})
    assert a.train_hash() == config_from_dict({"train": {"steps": 5, "log_every": 3}}).train_hash()
    assert a.train_hash() != config_from_dict({"train": {"lr_g": 1e-3}}).train_hash()
    assert a.train_hash() != config_from_dict({"model": {"width": 0.25}}).train_hash()
    assert a.train_hash() != config_from_dict({"base": {"seed": 1}}).train_hash()


@pytest.mark.parametrize("content, fragment", [
    (b"base:\n  seed: [1\n", r"p\.yaml:3:1: not valid YAML"),
    (b"model:\n  width: 1\n   size: 64\n", r"p\.yaml:3:\d+: not valid YAML"),
    (b"", "is empty; restore it"),
    (b"# only a comment\n", "is empty"),
    (b"\xff\xfebase: {}\n", "not UTF-8 text"),
])
def test_params_files_that_cannot_be_read_name_the_place(tmp_path, content, fragment):
    (tmp_path / "p.yaml").write_bytes(content)
    with pytest.raises(ConfigError, match=fragment):
        load_config(tmp_path / "p.yaml")


def test_a_folder_as_params_is_one_line(tmp_path):
    with pytest.raises(ConfigError, match="is a folder; pass --params a YAML file"):
        load_config(tmp_path)


@pytest.mark.parametrize("override, fragment", [
    ("eval.n_real=1", "--set eval.n_real = 1 is invalid"),
    ("train.lr_g=.inf", "train.lr_g = inf is invalid: expected a finite number"),
    ("train.lr_d=.nan", "expected a finite number"),
    ("preprocess.test_subjects=[001]", "quote it, e.g. '001'"),
    ("train.stepz=3", "--set unknown key train.stepz"),
])
def test_bad_overrides_are_blamed_on_the_command_line_with_the_right_key(override, fragment):
    with pytest.raises(ConfigError) as e:
        config_from_dict({}, [override], source="params.yaml")
    assert fragment in str(e.value) and "params.yaml" not in str(e.value)


def test_the_train_hash_ignores_speed_settings_but_not_the_data_protocol():
    base = Config().train_hash()
    assert config_from_dict({"loader": {"workers": 0}}).train_hash() == base  # resumes, never set aside
    assert config_from_dict({"train": {"steps": 5}}).train_hash() == base
    assert config_from_dict({"loader": {"batch_size": 8}}).train_hash() != base
    assert config_from_dict({"loader": {"frame_steps": [1]}}).train_hash() != base
