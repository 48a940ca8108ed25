#!/usr/bin/env python3
"""ecs-rollback local test stand: one process that serves

* moto (server mode, in-process) with ECS extended: service deployments, service revisions,
  a deployment model behind DescribeServices, ListTaskDefinitions sort/pagination, ...
* a control API on the same port under /_stand/ (reset, deployment state moves that return
  the matching EventBridge event, request log, fault injection),
* a Smithy RPC v2 CBOR proxy for CloudWatch (aws-sdk-cloudwatch 1.x) on its own port,
* a Lambda runtime API + Invoke emulator on its own port.

Start:  VENV/bin/python tests/stand/stand.py --ready-file PATH   (stdin must be a pipe)
It writes PATH (atomically) once everything listens and exits on SIGTERM/SIGINT or when
stdin reaches EOF.  See README.md in this directory.
"""

from __future__ import annotations

import argparse
import io
import json
import logging
import os
import re
import signal
import socket
import sys
import threading
import time
import urllib.parse
from typing import Any

os.environ.setdefault("MOTO_ALLOW_NONEXISTENT_REGION", "true")

from moto.moto_server.threaded_moto_server import ThreadedMotoServer  # noqa: E402
from moto.moto_server.werkzeug_app import (  # noqa: E402
    DomainDispatcherApplication,
    MotoRequestHandler,
    create_backend_app,
)
from werkzeug.serving import make_server  # noqa: E402

sys.dont_write_bytecode = True  # keep tests/stand free of __pycache__
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import cli_ext  # noqa: E402  (the CLI tests' additions, kept apart)
import cw_proxy  # noqa: E402
import ecs_ext  # noqa: E402
import express  # noqa: E402  (ECS Express Mode services)
from lambda_rt import LambdaEmulator  # noqa: E402

DEFAULT_ACCOUNT = "123456789012"
TARGET_PREFIX_TO_SERVICE = {
    "AmazonEC2ContainerServiceV20141113": "ecs",
    "GraniteServiceVersion20100801": "cloudwatch",
    "AmazonSQS": "sqs",
}
SIGNING_NAME_TO_SERVICE = {"monitoring": "cloudwatch"}
CRED_RE = re.compile(r"Credential=([^/]+)/\d{8}/([^/]+)/([^/]+)/aws4_request")
QUERY_CRED_RE = re.compile(r"(?:^|&)X-Amz-Credential=([^&%/]+)(?:/|%2F)", re.I)
# The access key the stand issues in the default account (README: "use access key testing");
# every other key must come from IAM (CreateAccessKey) or STS (AssumeRole ...) in the stand.
DEFAULT_ACCESS_KEYS = frozenset({"testing"})
INVALID_TOKEN = "The security token included in the request is invalid."
# ECS writes that change one service (for the overlap check of /requests/overlaps)
SERVICE_WRITES = {"CreateService", "UpdateService", "DeleteService", "StopServiceDeployment",
                  "TagResource", "UntagResource"}


# --------------------------------------------------------------------------- shared state

class Stand:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.requests: list[dict] = []
        self.seq = 0
        self.faults: list[dict] = []
        self.fault_seq = 0
        self.latency: list[dict] = []  # {id, service?, operation?, ms}
        self.latency_seq = 0
        self.ready_doc: dict[str, Any] = {}
        self.lambda_emu: LambdaEmulator | None = None

    def record(self, entry: dict) -> None:
        with self.lock:
            self.seq += 1
            entry["seq"] = self.seq
            self.requests.append(entry)

    def take_fault(self, service: str | None, operation: str | None) -> dict | None:
        with self.lock:
            for f in self.faults:
                if f["operation"] not in (operation, "*"):
                    continue
                if f.get("service") and f["service"] != service:
                    continue
                if f["remaining"] == 0:
                    continue
                if f["remaining"] > 0:
                    f["remaining"] -= 1
                f["hits"] += 1
                return dict(f)
            return None

    def latency_for(self, service: str | None, operation: str | None) -> float:
        """Milliseconds to add to this request: the largest matching rule."""
        with self.lock:
            ms = [r["ms"] for r in self.latency
                  if (not r.get("service") or r["service"] == service)
                  and (not r.get("operation") or r["operation"] in (operation, "*"))]
        return max(ms) if ms else 0.0

    def reset(self) -> None:
        from moto.moto_api._internal.models import moto_api_backend

        with ecs_ext.LOCK:
            sessions = assumed_role_sessions()
            moto_api_backend.reset()
            restore_sessions(sessions)  # a credential ECS callers hold stays valid across a reset
            ecs_ext.STORE.reset()
        with self.lock:
            self.requests.clear()
            self.faults.clear()
            self.latency.clear()
        if self.lambda_emu is not None:
            self.lambda_emu.reset()


STAND = Stand()


# --------------------------------------------------------------------------- credentials

def assumed_role_sessions() -> list[tuple[str, str, Any]]:
    """Every sts:AssumeRole (and AssumeRoleWith*) session moto issued: (account, partition, role)."""
    from moto.sts.models import sts_backends
    out = []
    for account, by_partition in list(sts_backends.items()):
        for partition, backend in list(by_partition.items()):
            out += [(account, partition, role) for role in backend.assumed_roles]
    return out


def restore_sessions(sessions: list[tuple[str, str, Any]]) -> None:
    from moto.iam.models import iam_backends
    from moto.sts.models import sts_backends
    for account, partition, role in sessions:
        sts_backends[account][partition].assumed_roles.append(role)
        iam_backends[account][partition].access_keys[role.access_key_id] = role.access_key


def issued(access_key: str) -> bool:
    """An access key AWS issued: the stand's default key, or one moto's IAM holds (IAM users'
    keys and the temporary keys of sts:AssumeRole sessions, in any account)."""
    if access_key in DEFAULT_ACCESS_KEYS:
        return True
    from moto.iam.models import iam_backends
    for _account, by_partition in list(iam_backends.items()):
        for _partition, backend in list(by_partition.items()):
            if access_key in backend.access_keys:
                return True
    return False


def access_key_of(environ: dict) -> str | None:
    m = CRED_RE.search(environ.get("HTTP_AUTHORIZATION", ""))
    if m:
        return m.group(1)
    m = QUERY_CRED_RE.search(environ.get("QUERY_STRING", ""))
    return urllib.parse.unquote(m.group(1)) if m else None


def unknown_key_response(info: dict) -> tuple[int, list, bytes, str]:
    """How AWS refuses a key it never issued: JSON protocols `UnrecognizedClientException` (400),
    query protocols and CloudWatch (awsQueryCompatible) `InvalidClientTokenId` (403, Common
    Errors: "The X.509 certificate or AWS access key ID provided does not exist in our records")."""
    rid = "stand-unrecognized-key"
    if info["protocol"] == "json" and info["service"] != "cloudwatch":
        code, status = "UnrecognizedClientException", 400
        body = json.dumps({"__type": code, "message": INVALID_TOKEN}).encode()
        return status, [("Content-Type", "application/x-amz-json-1.1"), ("x-amzn-RequestId", rid),
                        ("X-Amzn-ErrorType", code)], body, code
    code, status = "InvalidClientTokenId", 403
    if info["protocol"] == "json":  # forwarded by the CloudWatch proxy (awsJson1_0 to moto)
        body = json.dumps({"__type": code, "message": INVALID_TOKEN}).encode()
        return status, [("Content-Type", "application/x-amz-json-1.0"), ("x-amzn-RequestId", rid),
                        ("X-Amzn-ErrorType", code), ("x-amzn-query-error", f"{code};Sender")], body, code
    body = (f"<ErrorResponse><Error><Type>Sender</Type><Code>{code}</Code><Message>{INVALID_TOKEN}</Message>"
            f"</Error><RequestId>{rid}</RequestId></ErrorResponse>").encode()
    return status, [("Content-Type", "text/xml"), ("x-amzn-RequestId", rid)], body, code


# --------------------------------------------------------------------------- request classification

def classify(environ: dict, body: bytes) -> dict:
    path = environ.get("PATH_INFO", "")
    auth = environ.get("HTTP_AUTHORIZATION", "")
    m = CRED_RE.search(auth)
    access_key, region, signing = (m.group(1), m.group(2), m.group(3)) if m else (None, None, None)
    service = SIGNING_NAME_TO_SERVICE.get(signing or "", signing)
    target = environ.get("HTTP_X_AMZ_TARGET")
    ctype = environ.get("CONTENT_TYPE", "")
    params: Any = None
    operation = None
    if target:
        prefix, _, operation = target.rpartition(".")
        service = service or TARGET_PREFIX_TO_SERVICE.get(prefix, prefix)
        protocol = "json"
        try:
            params = json.loads(body) if body.strip() else {}
        except ValueError:
            params = None
    elif "/operation/" in path and environ.get("HTTP_SMITHY_PROTOCOL"):
        operation = path.rstrip("/").rsplit("/", 1)[-1]
        protocol = "rpc-v2-cbor"
    elif ctype.startswith("application/x-www-form-urlencoded"):
        form = urllib.parse.parse_qs(body.decode(errors="replace"))
        params = {k: v[0] if len(v) == 1 else v for k, v in form.items()}
        operation = params.get("Action")
        protocol = "query"
    else:
        q = urllib.parse.parse_qs(environ.get("QUERY_STRING", ""))
        operation = (q.get("Action") or [None])[0]
        protocol = "query" if operation else "rest"
    account = None
    if access_key:
        from moto.iam.models import get_account_id_from
        try:
            account = get_account_id_from(access_key)
        except Exception:
            account = None
    return {"method": environ.get("REQUEST_METHOD"), "path": path, "service": service,
            "region": region, "account": account, "operation": operation, "protocol": protocol,
            "params": params}


def service_key(r: dict) -> str | None:
    """account/region/cluster/service a logged ECS write changes, or None."""
    if r.get("service") != "ecs" or r.get("operation") not in SERVICE_WRITES:
        return None
    p = r.get("params") or {}
    op = r["operation"]
    if op in ("TagResource", "UntagResource"):
        arn = p.get("resourceArn") or ""
        if ":service/" not in arn:
            return None
        parts = arn.split(":", 5)
        return f"{parts[4]}/{parts[3]}/{parts[5].split('/', 1)[1]}"
    if op == "StopServiceDeployment":
        arn = p.get("serviceDeploymentArn") or ""
        parts = arn.split(":", 5)
        if len(parts) < 6 or "/" not in parts[5]:
            return None
        c, svc = parts[5].split("/")[1:3]
        return f"{parts[4]}/{parts[3]}/{c}/{svc}"
    svc = p.get("service") or p.get("serviceName") or ""
    if svc.startswith("arn:"):
        parts = svc.split(":", 5)
        return f"{parts[4]}/{parts[3]}/{parts[5].split('/', 1)[1]}"
    cluster = (p.get("cluster") or "default").split("/")[-1]
    return f"{r.get('account')}/{r.get('region')}/{cluster}/{svc}"


def overlaps(requests: list[dict]) -> list[dict]:
    """Pairs of writes to one service whose [start, end] intervals overlap."""
    writes = [(service_key(r), r) for r in requests]
    writes = [(k, r) for k, r in writes if k and r.get("end") is not None]
    out = []
    for i, (ka, a) in enumerate(writes):
        for kb, b in writes[i + 1:]:
            if ka == kb and a["start"] < b["end"] and b["start"] < a["end"]:
                out.append({"service": ka, "a": {k: a[k] for k in ("seq", "operation", "start", "end")},
                            "b": {k: b[k] for k in ("seq", "operation", "start", "end")}})
    return out


def error_code_from(headers: list, body: bytes) -> str | None:
    for k, v in headers:
        if k.lower() == "x-amzn-errortype":
            return v.split(":")[0].split("#")[-1]
    try:
        doc = json.loads(body)
        if isinstance(doc, dict) and "__type" in doc:
            return str(doc["__type"]).split("#")[-1]
    except ValueError:
        m = re.search(rb"<Code>([^<]+)</Code>", body)
        if m:
            return m.group(1).decode()
    return None


def fault_response(info: dict, fault: dict) -> tuple[int, list, bytes]:
    code, message, status = fault["code"], fault.get("message") or fault["code"], int(fault.get("status", 400))
    rid = "stand-fault-%d" % fault["id"]
    if info["protocol"] == "rpc-v2-cbor":
        st, headers, body = cw_proxy.cbor_error(code, message, status)
        return st, list(headers.items()) + [("smithy-protocol", "rpc-v2-cbor"), ("x-amzn-RequestId", rid)], body
    if info["protocol"] in ("query", "rest"):
        body = (f"<ErrorResponse><Error><Type>{'Sender' if status < 500 else 'Receiver'}</Type>"
                f"<Code>{code}</Code><Message>{message}</Message></Error>"
                f"<RequestId>{rid}</RequestId></ErrorResponse>").encode()
        return status, [("Content-Type", "text/xml"), ("x-amzn-RequestId", rid)], body
    body = json.dumps({"__type": code, "message": message}).encode()
    return status, [("Content-Type", "application/x-amz-json-1.1"), ("x-amzn-RequestId", rid),
                    ("X-Amzn-ErrorType", code)], body


# --------------------------------------------------------------------------- control API

def control(method: str, path: str, query: dict, body: dict) -> tuple[int, Any]:
    parts = [p for p in path.split("/") if p][1:]  # drop "_stand"
    if parts == ["health"]:
        return 200, {"ok": True}
    if parts == ["ready"]:
        return 200, STAND.ready_doc
    if parts == ["reset"] and method == "POST":
        STAND.reset()
        return 200, {"reset": True}
    if parts == ["requests"]:
        if method == "DELETE":
            with STAND.lock:
                n = len(STAND.requests)
                STAND.requests.clear()
            return 200, {"cleared": n}
        with STAND.lock:
            items = list(STAND.requests)
        for key in ("service", "operation", "protocol"):
            if key in query:
                items = [r for r in items if r.get(key) == query[key]]
        if "since" in query:
            items = [r for r in items if r["seq"] > int(query["since"])]
        return 200, {"requests": items}
    if parts == ["requests", "overlaps"]:
        with STAND.lock:
            items = list(STAND.requests)
        found = overlaps(items)
        return 200, {"overlaps": found, "writes": sum(1 for r in items if service_key(r))}
    if parts == ["latency"]:
        if method == "DELETE":
            with STAND.lock:
                STAND.latency.clear()
            return 200, {"latency": []}
        if method == "POST":
            if "ms" not in body:
                return 400, {"error": "ms is required"}
            with STAND.lock:
                STAND.latency_seq += 1
                rule = {"id": STAND.latency_seq, "service": body.get("service"),
                        "operation": body.get("operation"), "ms": float(body["ms"])}
                STAND.latency.append(rule)
            return 200, {"rule": rule}
        with STAND.lock:
            return 200, {"latency": [dict(r) for r in STAND.latency]}
    if parts == ["faults"]:
        if method == "DELETE":
            with STAND.lock:
                STAND.faults.clear()
            return 200, {"faults": []}
        if method == "POST":
            # Kinds: an error response (`code`, `status`); `after: true` = the call reaches moto
            # (a write happens) but its response is replaced by that error - a lost response;
            # `delay` seconds before answering (past the client's timeout: a slow response);
            # `reset: true` = the connection is closed without any response.
            if "operation" not in body or not ("code" in body or body.get("delay") or body.get("reset")):
                return 400, {"error": "operation and one of code, delay, reset are required"}
            with STAND.lock:
                STAND.fault_seq += 1
                f = {"id": STAND.fault_seq, "service": body.get("service"), "operation": body["operation"],
                     "status": int(body.get("status", 400)), "code": body.get("code"),
                     "message": body.get("message") or body.get("code"),
                     "after": bool(body.get("after")), "delay": float(body.get("delay") or 0),
                     "reset": bool(body.get("reset")),
                     "remaining": int(body.get("count", 1)), "hits": 0}
                STAND.faults.append(f)
            return 200, {"fault": f}
        with STAND.lock:
            return 200, {"faults": [dict(f) for f in STAND.faults]}
    if parts[:1] == ["ecs"] and len(parts) == 2:
        args = dict(body)
        args.update({k: v for k, v in query.items() if k not in args})
        try:
            return 200, ecs_ext.control(parts[1], args)
        except ecs_ext.ControlError as e:
            return e.status, {"error": e.message}
        except KeyError as e:
            return 400, {"error": f"missing field {e}"}
    if parts == ["cloudwatch", "alb-metrics"] and method == "POST":
        doc = STAND.ready_doc or {}
        try:
            return 200, cw_proxy.put_alb_metrics(body, str(body.get("account") or doc.get("account") or DEFAULT_ACCOUNT),
                                                  str(body.get("region") or doc.get("region") or "us-east-1"))
        except ValueError as e:
            return 400, {"error": str(e)}
    if parts == ["lambda", "invocations"] and STAND.lambda_emu is not None:
        return 200, {"invocations": STAND.lambda_emu.describe()}
    return 404, {"error": f"unknown control path {method} {path}"}


# --------------------------------------------------------------------------- WSGI middleware

class StandMiddleware:
    def __init__(self, app):
        self.app = app

    def __call__(self, environ, start_response):
        path = environ.get("PATH_INFO", "")
        body = self._read_body(environ)
        environ["wsgi.input"] = io.BytesIO(body)
        environ["CONTENT_LENGTH"] = str(len(body))
        if path.startswith("/_stand/") or path == "/_stand":
            return self._control(environ, start_response, body)
        if path.startswith("/moto-api"):
            return self.app(environ, start_response)
        info = classify(environ, body)
        info["time"] = info["start"] = time.time()
        forwarded = bool(environ.get("HTTP_X_STAND_FORWARDED"))
        key = access_key_of(environ)
        if key is not None and not issued(key):
            status, headers, payload, code = unknown_key_response(info)
            headers.append(("Content-Length", str(len(payload))))
            start_response(f"{status} Refused", headers)
            if not forwarded:
                info.update(status=status, errorCode=code, end=time.time())
                STAND.record(info)
            return [payload]
        if not forwarded:
            extra_ms = STAND.latency_for(info["service"], info["operation"])
            if extra_ms > 0:
                time.sleep(extra_ms / 1000.0)
                info["latencyMs"] = extra_ms
            fault = STAND.take_fault(info["service"], info["operation"])
            if fault is not None and fault.get("delay"):
                time.sleep(fault["delay"])
            if fault is not None and fault.get("reset"):
                info.update(status=0, errorCode="ConnectionReset", injected=True, end=time.time())
                STAND.record(info)
                sock = environ.get("werkzeug.socket")
                if sock is not None:
                    try:
                        sock.shutdown(socket.SHUT_RDWR)
                    except OSError:
                        pass
                return []
            if fault is not None and fault.get("code"):
                if fault.get("after"):  # let the call happen, then lose its response
                    it = self.app(environ, lambda *a, **k: (lambda data: None))
                    try:
                        b"".join(it)
                    finally:
                        if hasattr(it, "close"):
                            it.close()
                status, headers, payload = fault_response(info, fault)
                headers.append(("Content-Length", str(len(payload))))
                start_response(f"{status} Injected", headers)
                info.update(status=status, errorCode=fault["code"], injected=True, applied=fault.get("after"),
                            end=time.time())
                STAND.record(info)
                return [payload]
        captured: dict[str, Any] = {}

        def sr(status, headers, exc_info=None):
            captured["status"], captured["headers"] = status, headers
            return start_response(status, headers, exc_info)

        it = self.app(environ, sr)
        try:
            payload = b"".join(it)
        finally:
            if hasattr(it, "close"):
                it.close()
        if not forwarded:
            status = int(str(captured.get("status", "500")).split()[0])
            info["status"] = status
            info["errorCode"] = error_code_from(captured.get("headers", []), payload) if status >= 300 else None
            info["end"] = time.time()
            STAND.record(info)
        return [payload]

    @staticmethod
    def _read_body(environ) -> bytes:
        stream = environ.get("wsgi.input")
        if stream is None:
            return b""
        length = environ.get("CONTENT_LENGTH")
        if length:
            return stream.read(int(length))
        if environ.get("wsgi.input_terminated"):
            return stream.read()
        return b""

    @staticmethod
    def _control(environ, start_response, body: bytes):
        method = environ.get("REQUEST_METHOD", "GET")
        query = {k: v[-1] for k, v in urllib.parse.parse_qs(environ.get("QUERY_STRING", "")).items()}
        try:
            doc = json.loads(body) if body.strip() else {}
            if not isinstance(doc, dict):
                raise ValueError("body must be a JSON object")
            status, out = control(method, environ.get("PATH_INFO", ""), query, doc)
        except ValueError as e:
            status, out = 400, {"error": str(e)}
        except Exception as e:  # keep the stand alive, tell the test what broke
            logging.exception("control API failure")
            status, out = 500, {"error": f"{type(e).__name__}: {e}"}
        payload = json.dumps(out, default=str).encode()
        start_response(f"{status} {'OK' if status < 300 else 'Error'}",
                       [("Content-Type", "application/json"), ("Content-Length", str(len(payload)))])
        return [payload]


class StandMotoServer(ThreadedMotoServer):
    """ThreadedMotoServer whose WSGI app is wrapped by the stand middleware."""

    def _server_entry(self) -> None:
        app = StandMiddleware(DomainDispatcherApplication(create_backend_app))
        self._server = make_server(self._ip_address, self._port, app, True,
                                   request_handler=MotoRequestHandler)
        self._server_ready_event.set()
        self._server.serve_forever()


# --------------------------------------------------------------------------- main

def write_ready(path: str, doc: dict) -> None:
    tmp = f"{path}.tmp.{os.getpid()}"
    with open(tmp, "w") as f:
        json.dump(doc, f, indent=2)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--ready-file", required=True, help="JSON written atomically once all servers listen")
    ap.add_argument("--region", default=os.environ.get("AWS_REGION", "us-east-1"))
    ap.add_argument("--account", default=DEFAULT_ACCOUNT, help="account moto uses (its default)")
    ap.add_argument("--function-name", default="ecs-rollback")
    ap.add_argument("--function-timeout", type=float, default=120.0,
                    help="seconds an Invoke waits for the runtime (the function timeout)")
    ap.add_argument("--ignore-stdin", action="store_true",
                    help="do not exit on stdin EOF (manual runs only)")
    ap.add_argument("--verbose", action="store_true")
    args = ap.parse_args(argv)

    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING,
                        format="stand: %(levelname)s %(message)s", stream=sys.stderr)
    if not args.verbose:
        logging.getLogger("werkzeug").setLevel(logging.ERROR)

    ecs_ext.install()
    cli_ext.install()
    express.install()
    express.DEFAULTS.update(account=args.account, region=args.region)
    cw_proxy.install_moto_patches()

    stop = threading.Event()
    reason = {"why": "?"}

    def on_signal(signum, _frame):
        reason["why"] = signal.Signals(signum).name
        stop.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)

    moto = StandMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    moto.start()
    host, port = moto.get_host_and_port()
    proxy = cw_proxy.CborProxy(host, port, STAND.record, STAND.take_fault, args.region, STAND.latency_for)
    proxy.start()
    emu = LambdaEmulator(args.region, args.account, args.function_name, args.function_timeout)
    emu.start()
    STAND.lambda_emu = emu
    # ECS lifecycle hooks reach the function through the emulator's Invoke API
    ecs_ext.HOOK_INVOKER = lambda target, payload: emu.invoke(target, payload, "RequestResponse")

    endpoint = f"http://{host}:{port}"
    doc = {
        "endpoint": endpoint,
        "cloudwatch": f"http://127.0.0.1:{proxy.port}",
        "runtime_api": f"127.0.0.1:{emu.port}",
        "invoke": f"http://127.0.0.1:{emu.port}/2015-03-31/functions/{args.function_name}/invocations",
        "control": f"{endpoint}/_stand",
        "pid": os.getpid(),
        "region": args.region,
        "account": args.account,
        "function_arn": emu.arn,
        "lambda_env": {
            "AWS_LAMBDA_RUNTIME_API": f"127.0.0.1:{emu.port}",
            "AWS_LAMBDA_FUNCTION_NAME": args.function_name,
            "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "128",
            "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST",
            "AWS_REGION": args.region,
            "AWS_ENDPOINT_URL_ECS": endpoint,
            "AWS_ENDPOINT_URL_CLOUDWATCH": f"http://127.0.0.1:{proxy.port}",
            "AWS_ENDPOINT_URL_SNS": endpoint,
            "AWS_ACCESS_KEY_ID": "testing",
            "AWS_SECRET_ACCESS_KEY": "testing",
        },
    }
    STAND.ready_doc = doc

    if not args.ignore_stdin:
        def watch_stdin():
            try:  # os.read: no BufferedReader lock to trip over at interpreter exit
                while os.read(0, 65536):
                    pass
            except OSError:
                pass
            reason["why"] = "stdin EOF"
            stop.set()

        threading.Thread(target=watch_stdin, name="stdin-watch", daemon=True).start()

    write_ready(args.ready_file, doc)
    if args.verbose:
        print(json.dumps(doc), file=sys.stderr, flush=True)

    while not stop.wait(1.0):
        pass
    print(f"stand: stopping ({reason['why']})", file=sys.stderr, flush=True)
    for fn in (emu.stop, proxy.stop, moto.stop):
        try:
            fn()
        except Exception:
            logging.exception("shutdown")
    try:
        os.unlink(args.ready_file)
    except OSError:
        pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
