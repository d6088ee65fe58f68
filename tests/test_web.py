"""The web pages, the write API, who may write and the CSRF check (SPEC §9), route by
route, in-process through ``ModelService.respond`` (the browser tests drive a real server)."""

import json
import re
import shutil
from urllib.parse import urlencode

import pytest

import fakemodels
import mlreg
from conftest import fake_artifact
from mlreg.server import ModelService, Request
from mlreg.web.auth import WritePolicy


@pytest.fixture(scope="module")
def web_template(tmp_path_factory, iris_model_path):
    """m: 0.1.0, 0.2.0 (primary), a failed 0.3.0; metrics and a tag on the first two."""
    root = tmp_path_factory.mktemp("web")
    reg = mlreg.Registry(root / "registry")
    reg.deploy(iris_model_path, "m", metrics={"acc": 0.9}, tags={"stage": "dev"}, description="the model")
    reg.deploy(fake_artifact(root, fakemodels.ConstantModel(2)), "m", metrics={"acc": 0.95})
    with pytest.raises(mlreg.DeploymentFailed):
        reg.deploy(fake_artifact(root, fakemodels.NoPredict(), "n.joblib"), "m")
    return root / "registry"


@pytest.fixture
def reg(web_template, registry_path):
    shutil.copytree(web_template, registry_path)
    return mlreg.Registry(registry_path)


class Browser:
    """Requests as a browser sends them: a session cookie, the forms' CSRF token."""

    def __init__(self, service, host="127.0.0.1:8080"):
        self.service, self.host, self.cookie = service, host, None

    def request(self, method, path, body=None, headers=None):
        sent = {"host": self.host, **({"cookie": self.cookie} if self.cookie else {}), **(headers or {})}
        reply = self.service.respond(Request(method, path, body, sent))
        for key, value in reply.headers:
            if key == "Set-Cookie":
                self.cookie = value.split(";")[0]
        return reply

    def get(self, path):
        reply = self.request("GET", path)
        return reply, reply.body.decode()

    def csrf(self, path="/"):
        html = self.get(path)[1]
        found = re.search(r'name="csrf" value="([0-9a-f]+)"', html)
        return found.group(1) if found else ""  # a page without forms (signed out)

    def post(self, path, form, csrf=True, headers=None):
        fields = dict(form)
        if csrf is True:
            fields["csrf"] = self.csrf(path.rsplit("/", 1)[0] if "/versions/" in path else _page_of(path))
        elif csrf:
            fields["csrf"] = csrf
        reply = self.request("POST", path, urlencode(fields).encode(),
                             {"content-type": "application/x-www-form-urlencoded", **(headers or {})})
        return reply, reply.body.decode()


def _page_of(path):
    parts = path.split("/")
    return "/".join(parts[:3]) if path.startswith("/models/") else "/"


def _location(reply):
    return dict(reply.headers).get("Location")


def test_every_page_reads(reg):
    b = Browser(ModelService(reg))
    for path in ["/", "/?q=model", "/models/m", "/models/m?tab=readme", "/models/m?tab=history",
                 "/models/m?tab=readme&edit=readme", "/models/m/versions/0.1.0", "/models/m/versions/0.3.0",
                 "/models/m/versions/@primary", "/models/m/versions/0.1.0/delete"]:
        reply, html = b.get(path)
        assert reply.status == 200, (path, html[:300])
        assert reply.content_type.startswith("text/html") and "<main" in html
        assert "script-src 'self'" in dict(reply.headers)["Content-Security-Policy"]
    _, models = b.get("/")
    assert 'href="/models/m"' in models and "the model" in models and "0.2.0" in models
    _, page = b.get("/models/m")
    assert "Promote to primary" in page and "Deployment Failed" in page and "★ primary" in page
    assert "acc across Active versions" in page and "<svg" in page  # the metric's chart
    assert "curl -s -X POST http://127.0.0.1:8080/v1/models/m/predict" in page
    _, version = b.get("/models/m/versions/0.1.0")
    assert "stage=dev" in version and "acc" in version and "4 features" in version and "allocated version" in version
    assert ">sklearn.linear_model._logistic.LogisticRegression</code>" in version  # what it imports
    assert "<dt>Signatures</dt><dd>none</dd>" in version and "yes: this server loads it" in version
    assert b.get("/?q=nothing-like-it")[1].count('href="/models/m"') == 0
    assert b.get("/static/mlreg.css")[0].status == 200 and b.get("/static/mlreg.js")[0].status == 200
    assert b.get("/models/nope")[0].status == 404 and b.get("/models/m/versions/9.9.9")[0].status == 404
    assert b.get("/nowhere")[0].status == 404


def test_readme_is_sanitized(reg):
    reg.set_readme("m", "# Hi\n\n<script>alert(1)</script>\n\n<img src=x onerror=alert(2)>\n\n[x](javascript:alert(3))\n")
    _, html = Browser(ModelService(reg)).get("/models/m?tab=readme")
    readme = html.split('<article class="readme">')[1].split("</article>")[0]
    assert "<script" not in readme and "<img" not in readme and 'href="javascript' not in readme
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in readme and "<h1>Hi</h1>" in readme


def test_page_actions_change_the_registry(reg):
    b = Browser(ModelService(reg))
    reply, _ = b.post("/models/m/description", {"description": "new words"})
    assert reply.status == 303 and _location(reply) == "/models/m"
    assert reg.model("m").record.description == "new words"
    assert "Description saved." in b.get("/models/m")[1]
    reply, _ = b.post("/models/m/promote", {"version": "0.1.0", "expect_primary": "0.2.0"})
    assert reply.status == 303 and reg.model("m").record.primary == "0.1.0"
    reply, _ = b.post("/models/m/aliases", {"alias": "champion", "version": "0.2.0"})
    assert reply.status == 303 and reg.version("m", "@champion").version == "0.2.0"
    reply, html = b.post("/models/m/aliases", {"alias": "primary", "version": "0.2.0"})
    assert reply.status == 400 and "built in" in html
    reply, _ = b.post("/models/m/aliases/champion/delete", {})
    assert reply.status == 303 and reg.aliases("m") == []
    reply, _ = b.post("/models/m/versions/0.1.0/tags", {"tags": "stage=prod\nowner=ml team"})
    assert reply.status == 303 and reg.version("m", "0.1.0").tags == {"stage": "prod", "owner": "ml team"}
    reply, html = b.post("/models/m/versions/0.1.0/tags", {"tags": "bad key=1"})
    assert reply.status == 400 and "not valid" in html
    sha = re.search(r'name="expect_sha256" value="([0-9a-f]+)"', b.get("/models/m?tab=readme&edit=readme")[1]).group(1)
    reply, html = b.post("/models/m/readme/preview", {"readme": "# Preview *me*"})
    assert reply.status == 200 and "<em>me</em>" in html and reg.readme("m") != "# Preview *me*"
    fragment = b.post("/models/m/readme/preview", {"readme": "**b**"}, headers={"x-requested-with": "mlreg"})[1]
    assert fragment.strip() == "<p><strong>b</strong></p>"
    reply, _ = b.post("/models/m/readme", {"readme": "# Saved\r\n", "expect_sha256": sha})
    assert reply.status == 303 and reg.readme("m") == "# Saved\n"
    reply, html = b.post("/models/m/readme", {"readme": "# Stale", "expect_sha256": sha})
    assert reply.status == 409 and "changed by someone else" in html and reg.readme("m") == "# Saved\n"
    reply, html = b.post("/models/m/versions/0.1.0/delete", {})
    assert reply.status == 409 and "primary" in html  # the primary is never deleted
    reply, _ = b.post("/models/m/versions/0.2.0/delete", {})
    assert reply.status == 303 and [v.version for v in reg.versions("m")] == ["0.1.0", "0.3.0"]
    events = [e.event for e in reg.history("m")]
    assert {"describe", "primary", "alias", "tag", "readme", "delete"} <= set(events)


def test_a_stale_promote_says_so_and_changes_nothing(reg):
    b = Browser(ModelService(reg))
    csrf = b.csrf("/models/m")  # the page showed primary 0.2.0
    reg.promote("m", "0.1.0")  # someone else, meanwhile
    reply, html = b.post("/models/m/promote", {"version": "0.2.0", "expect_primary": "0.2.0"}, csrf=csrf)
    assert reply.status == 409 and "nothing changed" in html and "Reload" in html
    assert reg.model("m").record.primary == "0.1.0"


def test_csrf_and_cross_site_posts_are_refused(reg):
    b = Browser(ModelService(reg))
    csrf = b.csrf("/models/m")
    for form, headers in [({"description": "x"}, {}),  # no token
                          ({"description": "x", "csrf": "0" * 64}, {}),  # a wrong one
                          ({"description": "x", "csrf": csrf}, {"sec-fetch-site": "cross-site"}),
                          ({"description": "x", "csrf": csrf}, {"origin": "https://evil.example"})]:
        reply, _ = b.post("/models/m/description", form, csrf=False, headers=headers)
        assert reply.status == 403, (form, headers)
    other = Browser(ModelService(reg))  # another visitor's session: the token is not theirs
    other.get("/")
    assert other.post("/models/m/description", {"description": "x"}, csrf=csrf)[0].status == 403
    assert reg.model("m").record.description == "the model"
    assert b.post("/models/m/description", {"description": "x"}, csrf=csrf,
                  headers={"origin": "http://127.0.0.1:8080", "sec-fetch-site": "same-origin"})[0].status == 303


def _api(service, method, path, body=None, headers=None):
    sent = {"content-type": "application/json", **(headers or {})}
    data = body if isinstance(body, bytes) or body is None else json.dumps(body).encode()
    status, payload = service.handle(method, path, data, sent)
    return status, payload


def test_the_write_api(reg):
    s = ModelService(reg)
    assert _api(s, "POST", "/v1/models/m/promote", {"version": "0.1.0", "expect_primary": "0.1.0"})[0] == 409
    status, answer = _api(s, "POST", "/v1/models/m/promote", {"version": "0.1.0", "expect_primary": "0.2.0"})
    assert status == 200 and answer["to"] == "0.1.0" and answer["version"]["primary"] is True
    assert _api(s, "PUT", "/v1/models/m/description", {"description": "api"})[1]["description"] == "api"
    status, answer = _api(s, "PUT", "/v1/models/m/readme", {"readme": "# api\n"})
    assert status == 200 and reg.readme("m") == "# api\n"
    assert _api(s, "GET", "/v1/models/m/readme")[1]["readme_sha256"] == answer["readme_sha256"]
    assert _api(s, "PUT", "/v1/models/m/readme", {"readme": "x", "expect_sha256": "0" * 64})[0] == 409
    status, answer = _api(s, "PUT", "/v1/models/m/aliases/champion", {"version": "0.2.0", "expect": "none"})
    assert status == 200 and answer == {"alias": "champion", "version": "0.2.0",
                                        "version_id": reg.version("m", "0.2.0").version_id}
    assert _api(s, "PUT", "/v1/models/m/aliases/champion", {"version": "0.1.0", "expect": "none"})[0] == 409
    assert _api(s, "PUT", "/v1/models/m/aliases/champion", {"version": "0.3.0"})[0] == 409  # not Active
    assert _api(s, "GET", "/v1/models/m/aliases")[1] == [answer]
    assert _api(s, "DELETE", "/v1/models/m/aliases/champion")[0] == 200
    assert _api(s, "DELETE", "/v1/models/m/aliases/champion")[0] == 404
    status, answer = _api(s, "PUT", "/v1/models/m/versions/0.2.0/tags", {"set": {"a": "1"}, "remove": ["stage"]})
    assert status == 200 and answer["tags"] == {"a": "1"}
    assert _api(s, "PUT", "/v1/models/m/versions/0.2.0/tags", {"set": {"bad key": "1"}})[0] == 400
    assert _api(s, "PUT", "/v1/models/m/versions/0.2.0/tags", {"set": ["x"]})[0] == 400
    assert _api(s, "DELETE", "/v1/models/m/versions/0.1.0")[0] == 409  # the primary
    status, answer = _api(s, "DELETE", "/v1/models/m/versions/0.3.0")
    assert status == 200 and answer["version"] == "0.3.0"
    assert _api(s, "GET", "/v1/models/m/versions/0.3.0")[0] == 404
    assert _api(s, "GET", "/v1/models/m/versions/@primary")[1]["version"] == "0.1.0"
    assert _api(s, "POST", "/v1/models/m/promote", b"not json")[0] == 400


@pytest.mark.parametrize("method, path", [
    ("GET", "/v1/models/m/promote"), ("DELETE", "/v1/models/m/description"), ("POST", "/v1/models/m/aliases/x"),
    ("PATCH", "/v1/models/m/versions/0.1.0"), ("GET", "/v1/models/m/versions/0.1.0/tags"),
    ("PUT", "/v1/models/m"), ("DELETE", "/v1/models"), ("POST", "/models/m"), ("PUT", "/")])
def test_unknown_methods_are_405_json(reg, method, path):
    reply = ModelService(reg).respond(Request(method, path, b"{}", {"content-type": "application/json"}))
    assert reply.status == 405 and "error" in json.loads(reply.body)


def test_who_may_write(reg):
    plain = {"content-type": "application/json"}
    body = {"description": "changed"}
    # loopback without a token: writes, but only as JSON (a browser cannot send that cross-site unasked)
    s = ModelService(reg, WritePolicy("127.0.0.1"))
    assert _api(s, "PUT", "/v1/models/m/description", body, {"content-type": "text/plain"})[0] == 403
    assert _api(s, "PUT", "/v1/models/m/description", body, {**plain, "origin": "https://evil.example"})[0] == 403
    assert _api(s, "PUT", "/v1/models/m/description", body, plain)[0] == 200
    # bound to the network without a token: read-only, pages included
    s = ModelService(reg, WritePolicy("0.0.0.0"))
    assert _api(s, "PUT", "/v1/models/m/description", body, plain)[0] == 403
    b = Browser(s)
    assert "Read-only" in b.get("/models/m")[1] and "Promote to primary" not in b.get("/models/m")[1]
    assert b.post("/models/m/description", body)[0].status == 403
    assert _api(s, "GET", "/v1/models/m")[0] == 200  # reads still work
    # --read-only: nobody writes, not even with the token
    s = ModelService(reg, WritePolicy("127.0.0.1", token="t0ken", read_only=True))
    assert _api(s, "PUT", "/v1/models/m/description", body, {**plain, "authorization": "Bearer t0ken"})[0] == 403
    # a token: the API needs it as a bearer, the pages a session signed in with it
    s = ModelService(reg, WritePolicy("0.0.0.0", token="t0ken"))
    assert _api(s, "PUT", "/v1/models/m/description", body, plain)[0] == 401
    assert _api(s, "PUT", "/v1/models/m/description", body, {**plain, "authorization": "Bearer nope"})[0] == 403
    assert _api(s, "PUT", "/v1/models/m/description", body, {"authorization": "Bearer t0ken"})[0] == 200
    b = Browser(s)
    reply, _ = b.post("/models/m/description", {"description": "by page"})
    assert reply.status == 303 and _location(reply).startswith("/login?next=")
    assert "Sign in to make changes" in b.get("/models/m")[1]
    assert b.post("/login", {"token": "wrong", "next": "/models/m"}, csrf=False)[0].status == 403
    reply, _ = b.post("/login", {"token": "t0ken", "next": "//evil.example/"}, csrf=False)
    assert reply.status == 303 and _location(reply) == "/"  # never an open redirect
    assert b.post("/models/m/description", {"description": "by page"})[0].status == 303
    assert reg.model("m").record.description == "by page"
    b.post("/logout", {}, csrf=False)
    assert b.post("/models/m/description", {"description": "again"})[0].status == 303  # to /login again
    assert reg.model("m").record.description == "by page"


@pytest.mark.parametrize("args, env, expected", [
    (["--token", "s3cret"], {}, (401, 200)), ([], {"MLREG_SERVE_TOKEN": "s3cret"}, (401, 200)),
    (["--read-only"], {}, (403, 403)), ([], {}, (200, 200))])
def test_serve_flags_decide_who_writes(reg, args, env, expected):
    """--token, MLREG_SERVE_TOKEN and --read-only, through the real command and real HTTP."""
    import http.client
    import os
    import subprocess

    from conftest import mlreg_command

    proc = subprocess.Popen(mlreg_command() + ["--registry", reg.path, "serve", "--port", "0", "--no-access-log"]
                            + args, stderr=subprocess.PIPE, text=True, env={**os.environ, **env})
    try:
        line = proc.stderr.readline()
        port = int(re.search(r"http://127\.0\.0\.1:(\d+)", line).group(1))
        statuses = []
        for auth in ({}, {"Authorization": "Bearer s3cret"}):
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
            conn.request("PUT", "/v1/models/m/description", body=json.dumps({"description": "x"}),
                         headers={"Content-Type": "application/json", **auth})
            statuses.append(conn.getresponse().status)
            conn.close()
        assert tuple(statuses) == expected, line
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def test_a_readme_conflict_shows_their_text_and_replacing_it_is_its_own_action(reg):
    b = Browser(ModelService(reg))
    html = b.get("/models/m?tab=readme&edit=readme")[1]
    began = re.search(r'name="expect_sha256" value="([0-9a-f]{64})"', html).group(1)
    reg.set_readme("m", "# Theirs\n\nA teammate's words.\n")  # saved meanwhile
    csrf = b.csrf("/models/m")
    reply, html = b.post("/models/m/readme", {"readme": "# Mine\n", "expect_sha256": began}, csrf=csrf)
    assert reply.status == 409 and "A teammate&#39;s words." in html and "Replace their README" in html
    assert reg.readme("m").startswith("# Theirs")
    again = re.search(r'<input type="hidden" name="expect_sha256" value="([0-9a-f]{64})"', html).group(1)
    assert again == began  # a second Save conflicts again: it never silently replaces theirs
    reply, _ = b.post("/models/m/readme", {"readme": "# Mine\n", "expect_sha256": again}, csrf=csrf)
    assert reply.status == 409 and reg.readme("m").startswith("# Theirs")
    theirs = re.search(r'name="expect_sha256" value="([0-9a-f]{64})" class="danger"', html).group(1)
    reply, _ = b.post("/models/m/readme", {"readme": "# Mine\n", "expect_sha256": theirs}, csrf=csrf)
    assert reply.status == 303 and reg.readme("m") == "# Mine\n"


def test_the_tag_editor_keeps_tags_a_teammate_added(reg):
    b = Browser(ModelService(reg))
    html = b.get("/models/m/versions/0.1.0")[1]
    shown = re.search(r'name="shown" value="([^"]*)"', html).group(1).replace("&#34;", '"').replace("&quot;", '"')
    reg.tag("m", "0.1.0", {"owner": "teammate", "stage": "prod"}, [])  # after the page was shown
    csrf = b.csrf("/models/m")
    reply, _ = b.post("/models/m/versions/0.1.0/tags", {"tags": "stage=dev\nmine=1", "shown": shown}, csrf=csrf)
    assert reply.status == 303
    assert reg.version("m", "0.1.0").tags == {"owner": "teammate", "stage": "prod", "mine": "1"}
    reply, _ = b.post("/models/m/versions/0.1.0/tags", {"tags": "mine=1", "shown": shown}, csrf=csrf)
    assert reg.version("m", "0.1.0").tags == {"owner": "teammate", "mine": "1"}  # removed what the page showed


def test_the_metric_chart_shows_its_values(reg):
    html = Browser(ModelService(reg)).get("/models/m")[1]
    svg = html[html.index("<svg"):html.index("</svg>")]
    assert svg.count('class="value"') == 2 and ">0.9<" in svg and ">0.95<" in svg  # beside the points
    assert 'class="axis"' in svg and 'class="tick"' in svg  # a value axis with its range


def test_a_version_page_offers_its_own_actions_and_call_snippets(reg):
    b = Browser(ModelService(reg))
    vid = reg.version("m", "0.1.0").version_id
    html = b.get("/models/m/versions/0.1.0")[1]
    assert f"/v1/versions/{vid}/predict" in html and f"--version {vid}" in html
    assert "Promote to primary" in html and "Set alias" in html and "Delete…" in html
    reply, _ = b.post("/models/m/promote", {"version": "0.1.0", "expect_primary": "0.2.0",
                                            "back": "/models/m/versions/0.1.0"}, csrf=b.csrf("/models/m"))
    assert reply.status == 303 and _location(reply) == "/models/m/versions/0.1.0"
    assert reg.model("m").record.primary == "0.1.0"
    failed = b.get("/models/m/versions/0.3.0")[1]
    assert "/predict" not in failed and "Promote to primary" not in failed


def test_a_page_reads_each_file_of_its_model_once(reg, monkeypatch):
    """The model page and the version page read mlreg.toml, model.toml and the README
    at most once each (one Registry.model handle for the whole page)."""
    from collections import Counter

    reads = Counter()
    storage = reg.repo.storage
    original = storage.get

    def counting(key, *args, **kwargs):
        reads[key] += 1
        return original(key, *args, **kwargs)

    monkeypatch.setattr(storage, "get", counting)
    b = Browser(ModelService(reg))
    for path in ["/models/m", "/models/m?tab=readme", "/models/m/versions/0.1.0"]:
        reads.clear()
        assert b.get(path)[0].status == 200
        for key in ("mlreg.toml", "models/m/model.toml", "models/m/README.md"):
            assert reads[key] <= 1, (path, key, dict(reads))


def test_the_models_page_lists_no_versions(reg, monkeypatch):
    """The Models page's last deploy comes from model.toml: no listing of each model's
    versions (older model.toml files without it still show it, from their versions)."""
    newest = max(v.deployed_at for v in reg.versions("m"))
    assert reg.model("m").record.last_deployed_at == newest
    monkeypatch.setattr(type(reg), "versions", lambda *a, **k: pytest.fail("listed versions"))
    html = Browser(ModelService(reg)).get("/")[1]
    assert f'datetime="{newest}"' in html
