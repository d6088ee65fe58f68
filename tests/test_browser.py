"""The pages in a real browser: headless Chromium (Debian's chromium and chromium-driver)
driven by selenium against a real ``mlreg serve`` on a loopback port."""

import json
import os
import re
import shutil
import subprocess

import pytest

import fakemodels
import mlreg
from conftest import fake_artifact, mlreg_command

pytestmark = pytest.mark.browser
CHROMIUM, DRIVER = "/usr/bin/chromium", "/usr/bin/chromedriver"


def _browser_missing():
    import importlib.util

    if importlib.util.find_spec("selenium") is None:
        return "selenium is not installed (pip install -e '.[test]')"
    for path in (CHROMIUM, DRIVER):
        if not os.path.exists(path):
            return f"{path} is missing (apt install chromium chromium-driver)"
    return None


@pytest.fixture(scope="module")
def driver():
    missing = _browser_missing()
    if missing:
        if os.environ.get("CI"):
            pytest.fail(f"CI must run the browser tests: {missing}")
        pytest.skip(missing)
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    for argument in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--window-size=1280,900",
                     "--disable-gpu", "--no-first-run", "--disable-extensions"):
        options.add_argument(argument)
    options.binary_location = CHROMIUM
    browser = webdriver.Chrome(service=Service(DRIVER), options=options)
    browser.implicitly_wait(5)
    yield browser
    browser.quit()


@pytest.fixture(scope="module")
def template(tmp_path_factory, iris_model_path):
    root = tmp_path_factory.mktemp("browser")
    reg = mlreg.Registry(root / "registry")
    reg.deploy(iris_model_path, "Iris Classifier", metrics={"acc": 0.9}, description="Predicts the species")
    reg.deploy(fake_artifact(root, fakemodels.ConstantModel(2)), "Iris Classifier", metrics={"acc": 0.95})
    reg.deploy(fake_artifact(root, fakemodels.ConstantModel(3)), "Iris Classifier", metrics={"acc": 0.97})
    return root / "registry"


@pytest.fixture
def served(template, registry_path):
    shutil.copytree(template, registry_path)
    proc = subprocess.Popen(mlreg_command() + ["--registry", str(registry_path), "serve", "--port", "0",
                                               "--no-access-log"], stderr=subprocess.PIPE, text=True)
    line = proc.stderr.readline()
    match = re.search(r"http://127\.0\.0\.1:(\d+)", line)
    assert match, line
    yield str(registry_path), f"http://127.0.0.1:{match.group(1)}"
    proc.terminate()
    proc.wait(timeout=10)


def _cli(registry, *args):
    p = subprocess.run(mlreg_command() + ["--registry", registry] + list(args), capture_output=True, text=True,
                       timeout=120)
    assert p.returncode == 0, p.stderr
    return json.loads(p.stdout) if "--json" in args else p.stdout


def _menu(driver, version):
    from selenium.webdriver.common.by import By

    row = driver.find_element(By.CSS_SELECTOR, f'tr[data-version="{version}"]')
    row.find_element(By.CSS_SELECTOR, "details.menu summary").click()
    return row


def test_open_a_model_and_promote_from_the_row_menu(driver, served):
    from selenium.webdriver.common.by import By

    registry, url = served
    driver.get(url + "/")
    assert driver.title == "Models · mlreg"
    driver.find_element(By.LINK_TEXT, "Iris Classifier").click()
    assert driver.find_element(By.TAG_NAME, "h1").text == "Iris Classifier"
    row = _menu(driver, "0.1.0")
    row.find_element(By.CSS_SELECTOR, "button.promote").click()
    assert "0.1.0 is now the primary (was 0.3.0)" in driver.find_element(By.CSS_SELECTOR, ".flash").text
    assert _cli(registry, "status", "Iris Classifier", "--json")["version"] == "0.1.0"
    primary_row = driver.find_element(By.CSS_SELECTOR, 'tr[data-version="0.1.0"]')
    assert "primary" in primary_row.text


def test_a_stale_promote_is_refused(driver, served):
    from selenium.webdriver.common.by import By

    registry, url = served
    driver.get(url + "/models/iris-classifier")
    _cli(registry, "promote", "Iris Classifier", "0.2.0")  # someone else, after the page was shown
    row = _menu(driver, "0.1.0")
    row.find_element(By.CSS_SELECTOR, "button.promote").click()
    message = driver.find_element(By.CSS_SELECTOR, "[role=alert]").text
    assert "not 0.3.0" in message and "nothing changed" in message
    assert _cli(registry, "status", "Iris Classifier", "--json")["version"] == "0.2.0"


def test_edit_the_description_in_place(driver, served):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys

    registry, url = served
    driver.get(url + "/models/iris-classifier")
    shown = driver.find_element(By.CSS_SELECTOR, "details.describe summary")
    assert shown.find_element(By.CSS_SELECTOR, ".description-text").text == "Predicts the species"  # as text
    shown.click()  # edited on click
    field = driver.find_element(By.ID, "description")
    field.clear()
    field.send_keys("Iris species from four measurements", Keys.ENTER)
    assert driver.find_element(By.CSS_SELECTOR, ".flash").text == "Description saved."
    assert _cli(registry, "show", "iris-classifier", "--json")["description"] == "Iris species from four measurements"


def test_a_hostile_readme_runs_nothing(driver, served):
    from selenium.webdriver.common.by import By

    registry, url = served
    hostile = ("# Notes\n\n<script>window.pwned = 1</script>\n\n<img src=x onerror=\"window.pwned = 2\">\n\n"
               "[click](javascript:window.pwned=3)\n")
    p = subprocess.run(mlreg_command() + ["--registry", registry, "readme", "edit", "Iris Classifier", "--file", "-"],
                       input=hostile, capture_output=True, text=True, timeout=60)
    assert p.returncode == 0, p.stderr
    driver.get(url + "/models/iris-classifier?tab=readme")
    readme = driver.find_element(By.CSS_SELECTOR, "article.readme")
    assert "<script>window.pwned = 1</script>" in readme.text  # shown as the text it is
    assert driver.execute_script("return window.pwned === undefined")
    assert not readme.find_elements(By.TAG_NAME, "img") and not readme.find_elements(By.TAG_NAME, "script")


def test_edit_the_readme_with_a_preview(driver, served):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    registry, url = served
    driver.get(url + "/models/iris-classifier?tab=readme&edit=readme")
    text = driver.find_element(By.ID, "readme")
    text.clear()
    text.send_keys("# Iris\n\nIt *works*.")
    driver.find_element(By.CSS_SELECTOR, "button.preview-button").click()
    WebDriverWait(driver, 5).until(lambda d: d.find_elements(By.CSS_SELECTOR, "#preview em"))
    assert _cli(registry, "readme", "show", "Iris Classifier") != "# Iris\n\nIt *works*."  # previewed, not saved
    driver.find_element(By.XPATH, "//form[contains(@class,'readme-edit')]//button[text()='Save']").click()
    assert driver.find_element(By.CSS_SELECTOR, ".flash").text == "README saved."
    assert _cli(registry, "readme", "show", "Iris Classifier", "--json")["readme"].strip() == "# Iris\n\nIt *works*."


def test_menus_are_keyboard_reachable_and_pages_fit_a_phone(driver, served):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys

    registry, url = served
    driver.get(url + "/models/iris-classifier")
    summary = driver.find_element(By.CSS_SELECTOR, 'tr[data-version="0.2.0"] details.menu summary')
    summary.send_keys(Keys.ENTER)
    assert driver.find_element(By.CSS_SELECTOR, 'tr[data-version="0.2.0"] details.menu').get_attribute("open")
    summary.send_keys(Keys.ESCAPE)
    assert not driver.find_element(By.CSS_SELECTOR, 'tr[data-version="0.2.0"] details.menu').get_attribute("open")
    for control in driver.find_elements(By.CSS_SELECTOR, "input:not([type=hidden]), textarea, select"):
        label = control.get_attribute("id") and driver.find_elements(By.CSS_SELECTOR, f'label[for="{control.get_attribute("id")}"]')
        assert label or control.get_attribute("aria-label"), control.get_attribute("outerHTML")
    # A phone's 390 px: nothing reaches past the screen's edge but inside a box that scrolls
    # (a wide table); Chrome's window cannot be that narrow, so the screen is emulated.
    driver.execute_cdp_cmd("Emulation.setDeviceMetricsOverride",
                           {"width": 390, "height": 844, "deviceScaleFactor": 1, "mobile": True})
    try:
        for path in ("/", "/models/iris-classifier", "/models/iris-classifier?tab=history",
                     "/models/iris-classifier/versions/0.1.0"):
            driver.get(url + path)
            past = driver.execute_script("""
                var found = [];
                document.querySelectorAll("body *").forEach(function (e) {
                  if (e.closest(".scroll") || e.closest("svg") || e.closest("details:not([open])") && e.tagName != "SUMMARY") return;
                  var r = e.getBoundingClientRect();
                  if (r.width && r.right > 391) found.push(e.tagName + "." + e.className + " " + Math.round(r.right));
                });
                return found;""")
            assert past == [], (path, past)
    finally:
        driver.execute_cdp_cmd("Emulation.clearDeviceMetricsOverride", {})
