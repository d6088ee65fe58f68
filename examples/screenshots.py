"""Take the screenshots of the web pages shown in the README (docs/screenshots/).

Builds a small registry in a scratch folder, serves it with `mlreg serve` on a free
loopback port and photographs each page in headless Chromium (Debian's chromium and
chromium-driver, driven by selenium). Usage: python examples/screenshots.py
"""

import os
import re
import subprocess
import sys
import tempfile

import joblib
from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from sklearn.datasets import load_iris
from sklearn.linear_model import LogisticRegression

import mlreg

OUT = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "docs", "screenshots")
README = """# Iris Classifier

Predicts the species of an iris (setosa, versicolor, virginica) from four measurements in cm.

## Inputs

| feature | unit |
| --- | --- |
| sepal length | cm |
| sepal width | cm |
| petal length | cm |
| petal width | cm |

## Outputs

The class index: 0 setosa, 1 versicolor, 2 virginica.
"""


def build(root):
    os.environ["MLREG_USER"] = "alice@ml-laptop"  # who the pages show as the deployer
    os.chdir(root)  # the deploy logs name the artifacts as given: iris-0.joblib, ...
    X, y = load_iris(return_X_y=True)
    reg = mlreg.Registry(os.path.join(root, "registry"))
    for n, (c, acc) in enumerate([(0.05, 0.91), (0.3, 0.95), (1.0, 0.97), (3.0, 0.96)]):
        path = f"iris-{n}.joblib"
        joblib.dump(LogisticRegression(C=c, max_iter=1000).fit(X, y), path)
        reg.deploy(path, "Iris Classifier", metrics={"accuracy": acc}, params={"C": str(c)},
                   tags={"dataset": "iris-2026-11"} if n else {}, source=f"https://ci.example/runs/{40 + n}",
                   description="Predicts the species of an iris from four measurements",
                   sample_input=[[5.1, 3.5, 1.4, 0.2]], promote=n != 3)
    reg.set_alias("Iris Classifier", "champion", "0.3.0")
    reg.set_alias("Iris Classifier", "staging", "0.4.0")
    reg.set_readme("Iris Classifier", README)
    from sklearn.datasets import load_diabetes
    from sklearn.linear_model import Ridge

    Xd, yd = load_diabetes(return_X_y=True)
    path = "diabetes.joblib"
    joblib.dump(Ridge().fit(Xd, yd), path)
    reg.deploy(path, "Diabetes Progression", description="Disease progression one year after baseline")
    return reg.path


def main():
    here = os.getcwd()
    with tempfile.TemporaryDirectory() as root:
        registry = build(root)
        os.chdir(here)
        server = subprocess.Popen([sys.executable, "-m", "mlreg", "--registry", registry, "serve", "--port", "0",
                                   "--no-access-log"], stderr=subprocess.PIPE, text=True)
        try:
            url = "http://" + re.search(r"http://(127\.0\.0\.1:\d+)", server.stderr.readline()).group(1)
            options = webdriver.ChromeOptions()
            for argument in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--hide-scrollbars"):
                options.add_argument(argument)
            options.binary_location = "/usr/bin/chromium"
            driver = webdriver.Chrome(service=Service("/usr/bin/chromedriver"), options=options)
            try:
                os.makedirs(OUT, exist_ok=True)
                shots = [("models", "/", 1280, 520), ("model", "/models/iris-classifier", 1280, 1250),
                         ("readme", "/models/iris-classifier?tab=readme", 1280, 900),
                         ("history", "/models/iris-classifier?tab=history", 1280, 900),
                         ("version", "/models/iris-classifier/versions/0.3.0", 1280, 1500),
                         ("model-phone", "/models/iris-classifier", 390, 1400)]
                for name, path, width, height in shots:
                    driver.execute_cdp_cmd("Emulation.setDeviceMetricsOverride", {
                        "width": width, "height": height, "deviceScaleFactor": 1, "mobile": width < 600})
                    driver.get(url + path)
                    if name == "model":
                        driver.find_element("css selector", 'tr[data-version="0.2.0"] details.menu summary').click()
                    driver.save_screenshot(os.path.join(OUT, f"{name}.png"))
                    print(os.path.join(OUT, f"{name}.png"))
            finally:
                driver.quit()
        finally:
            server.terminate()
            server.wait(timeout=10)


if __name__ == "__main__":
    main()
