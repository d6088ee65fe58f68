"""Train an iris classifier and save it with joblib: python examples/train_iris.py OUT.joblib [MAX_DEPTH]"""

import sys

import joblib
from sklearn.datasets import load_iris
from sklearn.tree import DecisionTreeClassifier

iris = load_iris(as_frame=True)
depth = int(sys.argv[2]) if len(sys.argv) > 2 else 3
model = DecisionTreeClassifier(max_depth=depth, random_state=0).fit(iris.data, iris.target_names[iris.target])
joblib.dump(model, sys.argv[1])
