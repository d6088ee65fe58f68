import pytest

from mlreg import versions
from mlreg.errors import InvalidVersion, UsageError


def test_first_versions_per_bump():
    assert str(versions.next_version(None)) == "0.1.0"
    assert str(versions.next_version(None, "major")) == "1.0.0"
    assert str(versions.next_version(None, "patch")) == "0.0.1"


def test_bump_is_case_insensitive_and_checked():
    assert str(versions.next_version(versions.parse("1.2.3"), "PATCH")) == "1.2.4"
    assert str(versions.next_version(versions.parse("1.2.3"), "Minor")) == "1.3.0"
    with pytest.raises(UsageError):
        versions.next_version(None, "huge")


@pytest.mark.parametrize("text", ["01.2.3", "1.2", " 1.2.3", "v1.2.3", "1.2.3.4", "", "latest"])
def test_invalid_versions(text):
    with pytest.raises(InvalidVersion):
        versions.parse(text)


def test_ordering_is_semantic_not_textual():
    ordered = sorted(map(versions.parse, ["0.10.0", "0.9.0", "1.0.0", "1.0.0-rc.1"]))
    assert [str(v) for v in ordered] == ["0.9.0", "0.10.0", "1.0.0-rc.1", "1.0.0"]


def test_build_metadata_shares_a_folder():
    assert versions.folder(versions.parse("1.0.0+a")) == versions.folder(versions.parse("1.0.0+b")) == "1.0.0"
    assert versions.folder(versions.parse("1.0.0-rc.1+b")) == "1.0.0-rc.1"


def test_version_or_id():
    assert versions.is_version("1.2.3") and not versions.is_version_id("1.2.3")
    assert versions.is_version_id("ab12cd34") and not versions.is_version("ab12cd34")
    assert not versions.is_version_id("AB12CD34")


def test_sort_key_orders_as_semver_does():
    import random

    texts = ["1.0.0", "1.0.0-alpha", "1.0.0-alpha.1", "1.0.0-alpha.beta", "1.0.0-beta", "1.0.0-beta.2",
             "1.0.0-beta.11", "1.0.0-rc.1", "0.10.0", "0.9.0", "2.0.0", "1.0.1-0", "1.0.1-1", "1.0.1-a"]
    parsed = [versions.parse(t) for t in texts]
    random.Random(0).shuffle(parsed)
    assert sorted(parsed, key=versions.sort_key) == sorted(parsed)
