"""Tiny models for tests that need many fast deploys; importable by the check child
because conftest puts this folder on PYTHONPATH."""

import os
import time


class ConstantModel:
    """Predicts ``value`` for every row; ``payload`` makes the artifact as large as wanted."""

    def __init__(self, value=1, payload=b""):
        self.value = value
        self.payload = payload

    def predict(self, rows):
        return [self.value for _ in rows]


class SlowToLoad(ConstantModel):
    """Sleeps while being unpickled, for as long as $MLREG_TEST_LOAD_SECONDS says."""

    def __setstate__(self, state):
        time.sleep(float(os.environ.get("MLREG_TEST_LOAD_SECONDS", "0")))
        self.__dict__.update(state)


class NoPredict:
    def transform(self, rows):
        return rows


class FailsOnPredict(ConstantModel):
    def predict(self, rows):
        raise ValueError("this model cannot predict")


class SlowPredict(ConstantModel):
    """Takes ``seconds`` to answer each predict (a request in flight while serve stops)."""

    def __init__(self, value=1, seconds=1.0):
        super().__init__(value)
        self.seconds = seconds

    def predict(self, rows):
        time.sleep(self.seconds)
        return [self.value for _ in rows]
