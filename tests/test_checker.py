"""Framework and Type detection, and the check's answers (run in-process here)."""

import joblib
import pytest

import fakemodels
from mlreg import checker


def _instance_from(module, name, **attrs):
    cls = type(name, (), {"__module__": module, "predict": lambda self, X: X, **attrs})
    return cls()


@pytest.mark.parametrize("module,cls,framework,type_", [
    ("xgboost.sklearn", "XGBClassifier", "XGBoost", "Classification"),
    ("lightgbm.sklearn", "LGBMRegressor", "LightGBM", "Regression"),
    ("catboost.core", "CatBoostClassifier", "CatBoost", "Classification"),
    ("torch.nn.modules.module", "Module", "PyTorch", "Custom"),
    ("keras.src.models.sequential", "Sequential", "TensorFlow", "Custom"),
    ("tensorflow.python.keras", "Model", "TensorFlow", "Custom"),
    ("statsmodels.regression.linear_model", "RegressionResultsWrapper", "statsmodels", "Regression"),
    ("mycompany.models", "Scorer", "Custom", "Custom"),
])
def test_framework_by_module(module, cls, framework, type_):
    model = _instance_from(module, cls)
    assert checker.detect_framework(model) == framework
    assert checker.detect_type(model, framework) == type_


def test_sklearn_types(iris):
    from sklearn.cluster import KMeans
    from sklearn.decomposition import PCA
    from sklearn.linear_model import LinearRegression, LogisticRegression

    X, y = iris
    cases = [(LogisticRegression(max_iter=500).fit(X, y), "Classification"),
             (LinearRegression().fit(X, y), "Regression"),
             (KMeans(n_clusters=2, n_init=1).fit(X), "Clustering"),
             (PCA(2).fit(X), "Transformer")]
    for model, type_ in cases:
        assert checker.detect_framework(model) == "scikit-learn"
        assert checker.detect_type(model, "scikit-learn") == type_


def test_signature_of_an_iris_classifier(iris):
    from sklearn.linear_model import LogisticRegression

    X, y = iris
    sig = checker.signature(LogisticRegression(max_iter=500).fit(X, y))
    assert sig["n_features"] == 4 and sig["classes"] == [0, 1, 2]
    assert sig["class"] == "sklearn.linear_model._logistic.LogisticRegression"


def test_check_answers(tmp_path):
    good = tmp_path / "good.joblib"
    joblib.dump(fakemodels.ConstantModel(3), good)
    answer = checker.check(str(good), [[1, 2]])
    assert answer["ok"] and answer["framework"] == "Custom" and "joblib" in answer["libraries"]
    nopredict = tmp_path / "np.joblib"
    joblib.dump(fakemodels.NoPredict(), nopredict)
    answer = checker.check(str(nopredict), None)
    assert not answer["ok"] and "no callable predict" in answer["reason"]
