import pytest

from mlreg import names
from mlreg.errors import InvalidName


@pytest.mark.parametrize("name", ["Iris Classifier", "iris  classifier", "iris-classifier", "IRIS CLASSIFIER"])
def test_spellings_of_one_model_share_a_folder(name):
    assert names.folder(name) == "iris-classifier"


def test_first_spelling_is_kept_and_nfc_normalised():
    decomposed = "Cafe\u0301 model"
    assert names.normalize(decomposed) == "Caf\u00e9 model"
    assert names.folder(decomposed) == names.folder("CAF\u00c9 MODEL") == "caf\u00e9-model"


@pytest.mark.parametrize("name", ["модель 1", "模型", "model_v2.1", "a", "x" * 64, "Straße"])
def test_valid_names(name):
    assert names.normalize(name) == name


@pytest.mark.parametrize(
    "name",
    ["", "..", ".", "a/b", "/abs", "a\\b", "a\x00b", "line\nbreak", "tab\tname", "bidi\u202eevil",
     "x" * 65, " leading", "trailing ", "-dash", "dot.", "emoji 🙂", "a:b", "a*b", "zero\u200bwidth"],
)
def test_invalid_names_are_refused(name):
    with pytest.raises(InvalidName):
        names.normalize(name)


def test_invalid_name_exit_code_is_2():
    assert InvalidName.exit_code == 2


def test_folder_never_holds_a_separator_or_dotdot():
    for name in ["a.b", "a..b", "x . y"]:
        folder = names.folder(name)
        assert "/" not in folder and folder not in (".", "..")
