import os
import subprocess
import sys

from mlreg import identity


def test_user_at_host():
    who = identity.user_at_host()
    assert who.count("@") == 1 and all(who.split("@"))


def test_this_process_is_alive_and_a_dead_one_is_not():
    me = identity.this_process()
    assert me["pid"] == os.getpid() and me["started"]
    assert identity.same_process_alive(me) is True
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    assert identity.same_process_alive({**me, "pid": child.pid}) is False


def test_reused_pid_is_not_mistaken():
    me = identity.this_process()
    assert identity.same_process_alive({**me, "started": "1"}) is False


def test_other_host_is_unknown():
    assert identity.same_process_alive({**identity.this_process(), "host": "elsewhere.example"}) is None
