"""Attacks on ``mlreg serve``'s writes, each reproduced: DNS rebinding, header injection
and open redirects through ``/login?next=``, session fixation, stale sessions."""

import json

import pytest

from mlreg.server import ModelService, Request
from mlreg.web import auth
from mlreg.web.auth import WritePolicy
from test_web import Browser, _api, _location, web_template, reg  # noqa: F401  (fixtures)

BODY = {"description": "rebound"}


@pytest.mark.parametrize("host", ["evil.example:8080", "evil.example", "127.0.0.1.evil.example:8080",
                                  "localhost.evil.example"])
def test_a_rebinding_page_cannot_write(reg, host):
    """A page on evil.example whose name now resolves to 127.0.0.1 sends its own Host, and
    a matching Origin: every write, API or page, is refused and changes nothing."""
    s = ModelService(reg, WritePolicy("127.0.0.1"))
    origin = {"origin": f"http://{host}", "host": host}
    for method, path, body in [("PUT", "/v1/models/m/description", BODY),
                               ("PUT", "/v1/models/m/readme", {"readme": "x"}),
                               ("PUT", "/v1/models/m/aliases/champion", {"version": "0.1.0"}),
                               ("PUT", "/v1/models/m/versions/0.1.0/tags", {"set": {"a": "b"}}),
                               ("DELETE", "/v1/models/m/versions/0.3.0", None),
                               ("POST", "/v1/models/m/promote", {"version": "0.1.0"})]:
        status, answer = _api(s, method, path, body, origin)
        assert status == 403 and "--allow-host" in answer["error"], (method, path)
    b = Browser(s, host=host)
    reply, html = b.post("/models/m/description", BODY, headers={"origin": f"http://{host}"})
    assert reply.status == 403 and "not this server" in html
    assert reg.model("m").record.description == "the model"
    assert reg.model("m").record.primary == "0.2.0" and reg.aliases("m") == []
    assert reg.version("m", "0.3.0").status == "failed"


@pytest.mark.parametrize("host", ["127.0.0.1:8080", "localhost:8080", "[::1]:8080", "LOCALHOST", "localhost."])
def test_loopback_names_write(reg, host):
    s = ModelService(reg, WritePolicy("127.0.0.1"))
    assert _api(s, "PUT", "/v1/models/m/description", BODY, {"host": host})[0] == 200


def test_allow_host_and_the_address_a_connection_arrived_at(reg):
    s = ModelService(reg, WritePolicy("0.0.0.0", token="t", allow_hosts=["models.internal"]))
    bearer = {"authorization": "Bearer t"}
    assert _api(s, "PUT", "/v1/models/m/description", BODY, {**bearer, "host": "models.internal:8080"})[0] == 200
    assert _api(s, "PUT", "/v1/models/m/description", BODY, {**bearer, "host": "other.internal:8080"})[0] == 403
    reply = s.respond(Request("PUT", "/v1/models/m/description", json.dumps(BODY).encode(),
                              {**bearer, "host": "10.1.2.3:8080"}, "10.1.2.3"))
    assert reply.status == 200
    bound = ModelService(reg, WritePolicy("10.1.2.3", token="t"))
    assert _api(bound, "PUT", "/v1/models/m/description", BODY, {**bearer, "host": "10.1.2.3:8080"})[0] == 200


@pytest.mark.parametrize("next_, expected", [
    ("/models/m\r\nSet-Cookie: mlreg_session=planted", "/"),
    ("/models/m%0d%0aSet-Cookie:x", "/models/m%0d%0aSet-Cookie:x"),  # encoded: stays text in one header
    ("/\t/evil.example", "/"), ("/\n/evil.example", "/"), ("//evil.example", "/"), ("/\\evil.example", "/"),
    ("https://evil.example/", "/"), (" /x", "/"), ("/models/m", "/models/m"),
    ("/models/caf\u00e9", "/models/caf%C3%A9")])
def test_next_is_a_same_site_path(reg, next_, expected):
    s = ModelService(reg, WritePolicy("127.0.0.1", token="t0ken"))
    b = Browser(s)
    reply, _ = b.post("/login", {"token": "t0ken", "next": next_}, csrf=False)
    assert reply.status == 303 and _location(reply) == expected
    for key, value in reply.headers:
        assert "\r" not in value and "\n" not in value and value.isascii()
    reply = b.request("GET", "/login?next=" + next_.replace("\r", "%0d").replace("\n", "%0a").replace("\t", "%09"))
    assert reply.status == 200


def test_a_planted_session_is_worth_nothing(reg):
    """The attacker sets the victim's cookie to an ID of their choosing (or one of their own
    sessions); the victim signs in; the attacker's ID still cannot write."""
    s = ModelService(reg, WritePolicy("127.0.0.1", token="t0ken"))
    attacker = Browser(s)
    attacker.get("/")  # a session the server issued to the attacker
    planted = attacker.cookie
    chosen = Browser(s)
    chosen.cookie = "mlreg_session=" + "A" * 32
    chosen.get("/")
    assert chosen.cookie != "mlreg_session=" + "A" * 32  # an ID the server never issued is ignored
    victim = Browser(s)
    victim.cookie = planted
    reply, _ = victim.post("/login", {"token": "t0ken", "next": "/models/m"}, csrf=False)
    assert reply.status == 303 and victim.cookie != planted  # a new ID at sign-in
    assert victim.post("/models/m/description", {"description": "victim"})[0].status == 303
    reply, _ = attacker.post("/models/m/description", {"description": "attacker"})
    assert reply.status == 303 and _location(reply).startswith("/login")
    assert reg.model("m").record.description == "victim"


def test_sessions_expire(reg, monkeypatch):
    clock = [1000.0]
    monkeypatch.setattr(auth.time, "time", lambda: clock[0])
    s = ModelService(reg, WritePolicy("127.0.0.1", token="t0ken"))
    b = Browser(s)
    b.post("/login", {"token": "t0ken", "next": "/"}, csrf=False)
    assert b.post("/models/m/description", {"description": "one"})[0].status == 303
    assert reg.model("m").record.description == "one"
    clock[0] += auth.SESSION_IDLE + 1
    signed = b.cookie
    reply, _ = b.post("/models/m/description", {"description": "two"}, csrf=False)
    assert b.cookie != signed  # forgotten: a new, signed-out session
    assert reg.model("m").record.description == "one"
    b.post("/login", {"token": "t0ken", "next": "/"}, csrf=False)
    for _ in range(8):  # in use, yet a sign-in ends after SESSION_MAX
        clock[0] += auth.SESSION_MAX / 8 + 1
        b.get("/")
    assert "Sign in to make changes" in b.get("/models/m")[1]


def test_a_session_is_a_signed_cookie_every_replica_sharing_the_token_accepts(reg):
    """No session lives in server memory: a replica (or a restarted server) with the same
    token accepts the cookie; another token, or a cookie altered to claim a sign-in, is
    worth nothing; signing out replaces the cookie."""
    first = Browser(ModelService(reg, WritePolicy("127.0.0.1", token="t0ken")))
    reply, _ = first.post("/login", {"token": "t0ken", "next": "/"}, csrf=False)
    assert [v for k, v in reply.headers if k == "Set-Cookie"][0].endswith(
        f"; Max-Age={auth.SESSION_MAX}; HttpOnly; SameSite=Strict; Path=/")
    replica = Browser(ModelService(reg, WritePolicy("127.0.0.1", token="t0ken")))
    replica.cookie = first.cookie
    assert replica.post("/models/m/description", {"description": "from the replica"})[0].status == 303
    assert reg.model("m").record.description == "from the replica"
    rotated = Browser(ModelService(reg, WritePolicy("127.0.0.1", token="new-t0ken")))
    rotated.cookie = first.cookie
    reply, _ = rotated.post("/models/m/description", {"description": "rotated"})
    assert _location(reply).startswith("/login") and rotated.cookie != first.cookie
    forged = Browser(ModelService(reg, WritePolicy("127.0.0.1", token="t0ken")))
    forged.get("/")  # a signed-out cookie of this server, its payload rewritten to claim a sign-in
    import base64

    value = forged.cookie.split("=", 1)[1]
    payload, _, signature = value.partition(".")
    data = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    data["s"] = data["t"]
    forged.cookie = "mlreg_session=" + base64.urlsafe_b64encode(
        json.dumps(data, separators=(",", ":")).encode()).decode().rstrip("=") + "." + signature
    reply, _ = forged.post("/models/m/description", {"description": "forged"})
    assert _location(reply).startswith("/login")
    signed_in = replica.cookie
    replica.request("POST", "/logout", b"", {"content-type": "application/x-www-form-urlencoded"})
    assert replica.cookie != signed_in and "Sign in to make changes" in replica.get("/models/m")[1]
    assert reg.model("m").record.description == "from the replica"


def test_signing_in_at_a_write_returns_to_its_page(reg):
    s = ModelService(reg, WritePolicy("127.0.0.1", token="t0ken"))
    b = Browser(s)
    html = b.get("/models/m")[1]
    assert "Promote to primary" not in html and "Sign in to make changes" in html
    for action, page in [("/models/m/promote", "/models/m"), ("/models/m/description", "/models/m"),
                         ("/models/m/versions/0.1.0/tags", "/models/m/versions/0.1.0"),
                         ("/models/m/versions/0.3.0/delete", "/models/m/versions/0.3.0/delete")]:
        reply, _ = b.post(action, {"version": "0.1.0"})
        assert _location(reply) == "/login?next=" + page.replace("/", "%2F"), action
    reply, _ = b.post("/login", {"token": "t0ken", "next": "/models/m/versions/0.1.0"}, csrf=False)
    assert _location(reply) == "/models/m/versions/0.1.0"
    assert "Promote to primary" in b.get("/models/m")[1]


def test_a_long_description_is_shown_whole_as_text(reg):
    long = "A model. " * 200
    reg.describe("m", long.strip())
    html = Browser(ModelService(reg)).get("/models/m")[1]
    assert long.strip() in html and 'class="description-text"' in html
    assert 'value="A model.' not in html  # not squeezed into a one-line input
    read_only = Browser(ModelService(reg, WritePolicy("0.0.0.0"))).get("/models/m")[1]
    assert long.strip() in read_only and "<textarea" not in read_only
