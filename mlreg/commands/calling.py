"""Calling models: ``predict`` and ``serve``."""

import signal
import sys
import threading
from typing import Annotated, Any, Optional

import typer

from .. import render
from ..errors import UsageError
from .base import (
    NameArg,
    command,
    funnel,
    read_text,
    registry,
)


@command()
@funnel
def predict(
    name: NameArg,
    version: Annotated[Optional[str], typer.Option("--version", metavar="VERSION|ID", help="Version number or ID (default: the primary).")] = None,
    input_json: Annotated[Optional[str], typer.Option("--input", metavar="JSON", help='Rows as JSON: [[5.1, 3.5, 1.4, 0.2]] or {"inputs": [...]}.')] = None,
    input_file: Annotated[Optional[str], typer.Option("--input-file", metavar="FILE", help="JSON, or CSV with a header row (by .csv suffix or content); '-' reads stdin.")] = None,
    method: Annotated[str, typer.Option("--method", help="predict, predict_proba, predict_log_proba, decision_function, transform or score_samples.")] = "predict",
    jsonl: Annotated[bool, typer.Option("--jsonl", help='One line per input row: {"row": i, "prediction": ...}.')] = False,
    expect_sha256: Annotated[Optional[str], typer.Option("--expect-sha256", metavar="HASH", help="Refuse (exit 7) unless the version's artifact has this sha256.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Accepted for symmetry with other commands: the output is JSON already.")] = False,
) -> None:
    """Predict with a version (the primary by default), after verifying its artifact; prints JSON.

    Without --input or --input-file, the rows are read from stdin.

    Example: mlreg predict "Iris Classifier" --input '[[5.1, 3.5, 1.4, 0.2]]'
    """
    from ..inputs import parse_csv, parse_json

    if input_json is not None and input_file is not None:
        raise UsageError("give either --input or --input-file, not both")
    if input_json is not None:
        payload = parse_json(input_json, "--input")
    else:
        if input_file in (None, "-"):
            if input_file is None and sys.stdin.isatty():
                raise UsageError("no input: give --input JSON, --input-file FILE, or pipe JSON on stdin")
            text, csv_name = sys.stdin.read(), False
            if not text.strip():
                raise UsageError("no input on stdin: pipe JSON rows or CSV, or give --input JSON / --input-file FILE")
        else:
            text, csv_name = read_text(input_file, "--input-file"), input_file.lower().endswith(".csv")
            if not text.strip():
                raise UsageError(f"--input-file {input_file} is empty: it needs JSON rows or CSV with a header row")
        is_json = not csv_name and text.lstrip()[:1] in ("[", "{")
        payload = parse_json(text, "the input") if is_json else parse_csv(text)
    result = registry().predict(name, payload, version=version, method=method, expect_sha256=expect_sha256)
    if jsonl:
        import json

        for i, value in enumerate(result["predictions"]):
            sys.stdout.write(json.dumps({"row": i, "prediction": value}, ensure_ascii=False) + "\n")
    else:
        render.emit_json(result)


@command()
@funnel
def serve(
    host: Annotated[str, typer.Option("--host", help="Address to listen on; loopback by default. 0.0.0.0 exposes every model to the network.")] = "127.0.0.1",
    port: Annotated[int, typer.Option("--port", help="Port to listen on (0 picks a free one).")] = 8080,
    max_body: Annotated[int, typer.Option("--max-body", metavar="BYTES", help="Largest request body; larger ones get 413.")] = 10 * 1024 * 1024,
    timeout: Annotated[float, typer.Option("--timeout", metavar="SECONDS", help="Drop a client whose request (line, headers and body) has not fully arrived this long after it began.")] = 30.0,
    max_connections: Annotated[int, typer.Option("--max-connections", metavar="N", help="Connections served at once; more are answered 503 and closed.")] = 64,
    max_per_client: Annotated[Optional[int], typer.Option("--max-per-client", metavar="N", min=1, help="Connections served at once from one client address (default: half of --max-connections); raise it behind a load balancer.")] = None,
    access_log: Annotated[bool, typer.Option("--access-log/--no-access-log", help="Log each request on stderr.")] = True,
    token: Annotated[Optional[str], typer.Option("--token", metavar="TOKEN", envvar="MLREG_SERVE_TOKEN", show_envvar=False, help="Writes (API and pages) need Authorization: Bearer TOKEN, or a page session signed in with it; default $MLREG_SERVE_TOKEN. Without one, only a loopback server accepts writes.")] = None,
    read_only: Annotated[bool, typer.Option("--read-only", help="Refuse every write (403), whoever asks.")] = False,
    allow_host: Annotated[Optional[list[str]], typer.Option("--allow-host", metavar="NAME", help="Also accept writes whose Host header is NAME (the name people reach this server by). Writes naming any other host are refused, so a web page cannot reach this server by DNS rebinding. Repeatable.")] = None,
    drain: Annotated[float, typer.Option("--drain", metavar="SECONDS", min=0, help="On SIGTERM: stop accepting connections, answer /v2/health/ready with 503, let requests in flight finish for up to this long, then exit 0.")] = 10.0,
    refresh: Annotated[Optional[float], typer.Option("--refresh", metavar="SECONDS", min=0, help="Re-read which version each model's primary, aliases and numbers name at most this often, so a loaded model answers with no store round trip; a promote or delete made elsewhere is seen within this time. Default 1 on s3://, 0 (every request) on a folder.")] = None,
    model: Annotated[Optional[str], typer.Option("--model", metavar="NAME[@REF]", help="The model POST /invocations (MLflow's scoring route) answers for: its primary, or the version REF names (a number, an ID, @ALIAS).")] = None,
) -> None:
    """Serve the registry: web pages at / and the HTTP JSON API at /v1, so people can browse and change it and programs can call any version.

    Predict routes also take MLflow's bodies (dataframe_split, dataframe_records, instances, inputs, text/csv); POST /invocations answers for --model.

    Example: mlreg serve --port 8080 & curl -s -X POST localhost:8080/v1/models/iris-classifier/predict -d '{"inputs": [[5.1, 3.5, 1.4, 0.2]]}'
    """
    from ..server import make_server

    reg = registry()
    try:
        server = make_server(reg, host, port, max_body=max_body, timeout=timeout, access_log=access_log,
                             max_connections=max_connections, token=token, read_only=read_only,
                             allow_hosts=allow_host or (), max_per_client=max_per_client, model=model,
                             refresh=refresh)
    except OSError as e:
        import errno

        hint = f"; choose another with --port (e.g. --port {port + 1}, or --port 0 for any free one)" \
            if e.errno == errno.EADDRINUSE else ""
        raise UsageError(f"cannot listen on {host}:{port}: {e.strerror}{hint}") from None
    bound_host, bound_port = server.server_address[:2]
    policy = server.RequestHandlerClass.service.policy
    mode = "read-only: " + policy.why_read_only() if not policy.writable else (
        "writes need the token" if policy.token else "writes allowed from this machine")
    render.err(f"mlreg: serving {reg.path} on http://{bound_host}:{bound_port} ({mode}; Ctrl-C to stop)")
    service = server.RequestHandlerClass.service

    def stop(signum: int, frame: Any) -> None:
        # serve_forever runs on this thread: it is told to stop from another one
        service.draining = True
        threading.Thread(target=server.shutdown, daemon=True).start()

    signal.signal(signal.SIGTERM, stop)
    try:
        server.serve_forever()
    finally:
        server.server_close()  # no new connections from here on
    if service.draining:
        drained = service.drained(drain)
        render.err(f"mlreg: stopped on SIGTERM; {'every request in flight was answered' if drained else f'{service.in_flight} request(s) still in flight after --drain {drain:g}s were dropped'}")
