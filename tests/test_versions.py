import pytest
from hypothesis import given
from hypothesis import strategies as st

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
    random.Random(0).shuffle(texts)
    assert sorted(texts, key=versions.sort_key) == [str(v) for v in sorted(map(versions.parse, texts))]
    assert versions.higher("1.0.0", "1.0.0-rc.1") and not versions.higher("0.9.0", "0.10.0")


def test_a_version_folder_drops_build_metadata_and_refuses_what_is_not_semver():
    assert versions.folder("1.0.0-rc.1+b.2") == "1.0.0-rc.1"
    assert versions.same("1.0.0+a", "1.0.0+b") and not versions.same("1.0.0", "1.0.1")
    with pytest.raises(InvalidVersion):
        versions.folder("1.0")


semver_text = st.from_regex(r"\A(0|[1-9][0-9]{0,3}|0[0-9])\.[0-9]{1,2}\.[0-9]{1,2}(-[0-9A-Za-z.-]{0,8})?(\+[0-9A-Za-z.-]{0,6})?\Z")


@given(st.one_of(semver_text, st.text(max_size=16)))
def test_reading_agrees_with_the_semver_package(text):
    """Reading (status, versions) uses semver.org's grammar without importing
    semver; it must accept exactly what semver.Version.parse accepts."""
    import semver

    try:
        expected = semver.Version.parse(text)
    except (ValueError, TypeError):
        expected = None
    assert versions.is_version(text) is (expected is not None)
    if expected is not None:
        assert versions.folder(text) == versions.folder(expected)


identifier = st.one_of(st.integers(0, 20).map(str), st.from_regex(r"\A[0-9]{0,2}[a-zA-Z-][0-9a-zA-Z-]{0,3}\Z"))
valid_semver = st.builds(
    lambda core, pre, build: ".".join(map(str, core)) + (f"-{'.'.join(pre)}" if pre else "") + (f"+{build}" if build else ""),
    st.tuples(st.integers(0, 3), st.integers(0, 3), st.integers(0, 3)),
    st.lists(identifier, max_size=3),
    st.sampled_from(["", "b1", "exp.sha.5114f85"]),
)


@given(valid_semver, valid_semver)
def test_order_agrees_with_the_semver_package(a, b):
    import semver

    va, vb = semver.Version.parse(a), semver.Version.parse(b)
    assert versions.higher(a, b) is (va > vb)
    assert versions.same(a, b) is (va == vb)
    assert versions.folder(a) == versions.folder(va)


@pytest.mark.parametrize("text", ["0.0.0", "1.2.3", "10.20.300", "01.2.3", "1.02.3", "1.2.03", "1.2", "1.2.3.4", "1..3",
                                  "1.2.3\n", " 1.2.3", "1.2.3-rc.1", "1.2.3+b", "\u0661.\u0662.\u0663", "1.2.\u00b3", ""])
def test_a_plain_number_is_read_as_the_grammar_reads_it(text):
    """A plain X.Y.Z is told without compiling the grammar (start-up): the two agree."""
    import re

    grammar = re.fullmatch(versions._SEMVER, text)
    plain = versions._plain(text)
    assert (plain is not None) == (grammar is not None and grammar[4] is None and "+" not in text)
    assert versions.is_version(text) is (grammar is not None)
    if plain is not None:
        assert plain == [grammar[1], grammar[2], grammar[3]]
        assert versions.sort_key(text) == (int(grammar[1]), int(grammar[2]), int(grammar[3]), 1, ())


def test_a_number_too_long_for_int_is_still_read_as_a_version():
    """Telling a version needs no int() (over 4,300 digits it raises), as the grammar did not."""
    text = "1" * 5000 + ".0.0"
    assert versions.is_version(text) and versions.folder(text) == text and versions.same(text, text)
