import pytest

from g3an.errors import UserError
from pipeline.manifest import read_manifest
from tests.helpers import make_index_shards, make_training_shards


def test_the_manifest_carries_the_factor_vocabularies_in_order(tmp_path):
    from pipeline.sources.synthetic import FACTORS

    m = read_manifest(make_training_shards(tmp_path))
    assert m["factors"] == [[k, list(v)] for k, v in FACTORS.items()]
    assert m["dataset"] == "synthetic" and m["split"] == "train" and m["classes"][0] == "up"


@pytest.mark.parametrize("text, fragment", [
    ("{not json", "not valid JSON"),
    ("{}", "missing dataset, split"),
    ("[1, 2]", "not a g3an shard manifest"),
    (b"\xff\xfe\x00", "not valid JSON"),
])
def test_a_broken_manifest_is_one_line_naming_the_file_and_the_fix(tmp_path, text, fragment):
    make_index_shards(tmp_path / "train")
    path = tmp_path / "train" / "manifest.json"
    path.write_bytes(text if isinstance(text, bytes) else text.encode())
    with pytest.raises(UserError, match=fragment) as e:
        read_manifest(tmp_path)
    assert str(path) in str(e.value) and "g3an-cli preprocess" in str(e.value) and "\n" not in str(e.value)


def test_a_missing_manifest_says_to_preprocess(tmp_path):
    with pytest.raises(UserError, match="no train manifest; run `g3an-cli preprocess`"):
        read_manifest(tmp_path)
