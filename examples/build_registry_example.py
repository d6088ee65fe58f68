"""Build registry-example/, the small real registry that the README's quick start uses.

Usage: python examples/build_registry_example.py [TARGET]   (default: registry-example/)

It uses only mlreg's public Python API. The artifacts are pickles written by the
scikit-learn installed when it runs; the project's test extra pins the version
the committed example was built with, so that it loads without version warnings.
"""

from __future__ import annotations

import os
import shutil
import sys
import tempfile

import joblib
from sklearn.datasets import load_diabetes, load_iris
from sklearn.ensemble import RandomForestClassifier
from sklearn.linear_model import LogisticRegression, Ridge
from sklearn.preprocessing import StandardScaler

import mlreg

HERE = os.path.dirname(os.path.abspath(__file__))
DEFAULT_TARGET = os.path.join(os.path.dirname(HERE), "registry-example")
IRIS_SAMPLE = [[5.1, 3.5, 1.4, 0.2]]
DIABETES_SAMPLE = [[0.038, 0.051, 0.062, 0.022, -0.044, -0.035, -0.043, -0.003, 0.020, -0.018]]

IRIS_README = """# Iris Classifier

Iris Classifier tells the species of an iris flower (setosa, versicolor or virginica)
from four measurements of its sepals and petals, in centimetres. The botany course's
field app calls it to label photos of flowers measured by students.

## Purpose

Label iris flowers measured in the field. It knows only these three species: any other
flower still gets one of the three labels, so the app shows its answer as a suggestion.

## Inputs

One row per flower, four numbers in centimetres, in this order: `sepal length (cm)`,
`sepal width (cm)`, `petal length (cm)`, `petal width (cm)`. Rows may also be objects
keyed by these names.

## Outputs

One species name per row: `setosa`, `versicolor` or `virginica`. `--method predict_proba`
gives the probability of each species, in that order.

## Example

```sh
mlreg predict "Iris Classifier" --input '[[5.1, 3.5, 1.4, 0.2]]'
```

## Training data

Fisher's iris data set (150 flowers, 50 per species, measured in the Gaspé Peninsula),
as shipped with scikit-learn.

## Known limitations

- 150 flowers are few: versicolor and virginica overlap and are sometimes confused.
- Measurements in inches give confident, wrong answers: nothing checks the units.

## Versions

- 0.1.0: logistic regression. 0.2.0: random forest, rolled back to 0.1.0 after it
  overfitted. 0.2.1: random forest limited to depth 3, now primary. 0.3.0 failed: the
  scaler was deployed instead of the model.
"""

DIABETES_README = """# Diabetes Progression

Diabetes Progression estimates how far a patient's diabetes will progress in one year,
as a score from about 25 to 350, from ten baseline measurements. It serves the
teaching examples of the statistics course; it is not for clinical use.

## Purpose

Show how a linear model estimates a continuous quantity. Its estimates are point
values without error bars.

## Inputs

One row per patient, ten standardised baseline variables in this order: age, sex,
body mass index, average blood pressure and six blood serum measurements (`s1` to `s6`),
each scaled to mean 0 as in scikit-learn's diabetes data set.

## Outputs

One number per row: the estimated disease progression score one year after baseline.

## Example

```sh
mlreg predict "Diabetes Progression" --input '[[0.038, 0.051, 0.062, 0.022, -0.044, -0.035, -0.043, -0.003, 0.020, -0.018]]'
```

## Training data

The diabetes data set of Efron et al. (442 patients), as shipped with scikit-learn.

## Known limitations

- Raw, unscaled measurements give meaningless estimates.
- Ridge regression explains about half of the variance: expect errors of about 50 points.
"""


def build(target: str) -> mlreg.Registry:
    """Build the example registry in ``target`` (which must not exist)."""
    os.environ["MLREG_USER"] = "data-team@example"
    reg = mlreg.Registry(target)
    reg.init()

    iris = load_iris(as_frame=True)
    X, y = iris.data, iris.target_names[iris.target]
    reg.deploy(LogisticRegression(max_iter=1000).fit(X, y), "Iris Classifier",
               description="Species of an iris from four measurements", readme=IRIS_README,
               sample_input=IRIS_SAMPLE)
    reg.deploy(RandomForestClassifier(n_estimators=20, random_state=0).fit(X, y), "Iris Classifier",
               sample_input=IRIS_SAMPLE)
    reg.promote("Iris Classifier", "0.1.0", expect_primary="0.2.0")  # the rollback
    reg.deploy(RandomForestClassifier(n_estimators=20, max_depth=3, random_state=0).fit(X, y), "Iris Classifier",
               version_bump="patch", sample_input=IRIS_SAMPLE)
    with tempfile.TemporaryDirectory() as work:
        cwd = os.getcwd()
        os.chdir(work)  # a relative path keeps this machine's folders out of the deploy log
        try:
            joblib.dump(StandardScaler().fit(X), "scaler.joblib")
            try:
                reg.deploy("scaler.joblib", "Iris Classifier", sample_input=IRIS_SAMPLE)
            except mlreg.DeploymentFailed:
                pass
            else:
                raise SystemExit("the scaler was expected to fail its deploy check")
        finally:
            os.chdir(cwd)

    X, y = load_diabetes(return_X_y=True)
    reg.deploy(Ridge(alpha=0.1).fit(X, y), "Diabetes Progression",
               description="One-year disease progression score from ten baseline measurements",
               readme=DIABETES_README, sample_input=DIABETES_SAMPLE)
    return reg


def main() -> None:
    target = os.path.abspath(sys.argv[1] if len(sys.argv) > 1 else DEFAULT_TARGET)
    if os.path.exists(target):
        if not os.path.exists(os.path.join(target, "mlreg.toml")):
            raise SystemExit(f"{target} exists and is not a registry; refusing to replace it")
        keep = os.path.join(target, ".gitignore")
        saved = open(keep).read() if os.path.exists(keep) else None
        shutil.rmtree(target)
    else:
        saved = None
    build(target)
    if saved is not None:
        with open(os.path.join(target, ".gitignore"), "w") as f:
            f.write(saved)
    print(f"built {target}")


if __name__ == "__main__":
    main()
