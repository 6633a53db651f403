import pytest

from mlcost.errors import InputError
from mlcost.jsonfile import read_json_object


def test_reads_an_object(tmp_path):
    p = tmp_path / "a.json"
    p.write_text('{"flops": 12}')
    assert read_json_object(p, "--profile") == {"flops": 12}


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (None, "--profile: .*a.json does not exist"),
        ("{oops", "--profile: .*a.json is not valid JSON"),
        ("[1, 2]", "--profile: .*a.json must be a JSON object, not list"),
        (b"\xff\xfe{}", "not valid JSON"),
        ("x" * 101, "is 101 bytes, over the 100-byte limit"),
    ],
)
def test_every_failure_is_one_input_error(tmp_path, content, message):
    p = tmp_path / "a.json"
    if isinstance(content, str):
        p.write_text(content)
    elif content is not None:
        p.write_bytes(content)
    with pytest.raises(InputError, match=message) as info:
        read_json_object(p, "--profile", max_bytes=100)
    assert "\n" not in str(info.value)


def test_a_folder_is_refused(tmp_path):
    with pytest.raises(InputError, match="is a folder"):
        read_json_object(tmp_path, "--compute-json")
