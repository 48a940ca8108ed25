"""A faithful Lambda runtime API (2018-06-01) plus the Invoke API front door.

Runtime side (AWS Lambda developer guide "Using the Lambda runtime API for custom runtimes"):
  GET  /2018-06-01/runtime/invocation/next            long poll; event in the body, headers
       Lambda-Runtime-Aws-Request-Id, -Deadline-Ms, -Invoked-Function-Arn, -Trace-Id
  POST /2018-06-01/runtime/invocation/{id}/response   -> 202
  POST /2018-06-01/runtime/invocation/{id}/error      -> 202 (Lambda-Runtime-Function-Error-Type)
  POST /2018-06-01/runtime/init/error                 -> 202
Invoke side (Lambda API reference "Invoke"):
  POST /2015-03-31/functions/{name}/invocations       RequestResponse: 200 + the function's
       answer, or 200 + X-Amz-Function-Error: Unhandled + the error JSON; Event: 202; DryRun: 204.
"""

from __future__ import annotations

import json
import queue
import re
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from cw_proxy import read_body

NEXT = "/2018-06-01/runtime/invocation/next"
RESULT_RE = re.compile(r"^/2018-06-01/runtime/invocation/([^/]+)/(response|error)$")
INIT_ERROR = "/2018-06-01/runtime/init/error"
INVOKE_RE = re.compile(r"^/2015-03-31/functions/([^/]+)/invocations$")


class _Server(ThreadingHTTPServer):
    # socketserver listens with a backlog of 5: dozens of sandboxes and callers connecting at
    # once (benches/perf's organization storm) overflowed it and saw connection resets.
    request_queue_size = 128


class Invocation:
    def __init__(self, payload: bytes):
        self.id = str(uuid.uuid4())
        self.payload = payload
        self.done = threading.Event()
        self.error: bytes | None = None
        self.response: bytes | None = None
        self.status = "queued"
        self.created = time.time()
        self.deadline_ms = 0
        # When the runtime took it (`/next` answered) and when it answered: the handling time.
        self.delivered: float | None = None
        self.answered: float | None = None


class LambdaEmulator:
    def __init__(self, region: str, account: str, function_name: str = "ecs-rollback",
                 timeout_s: float = 120.0):
        self.function_name = function_name
        self.arn = f"arn:aws:lambda:{region}:{account}:function:{function_name}"
        self.timeout_s = timeout_s
        self.pending: "queue.Queue[Invocation]" = queue.Queue()
        self.inflight: dict[str, Invocation] = {}
        self.history: list[Invocation] = []
        self.init_error: bytes | None = None
        self.stopping = threading.Event()
        self.lock = threading.Lock()
        emu = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, fmt, *args):
                pass

            def send(self, status, body=b"", headers=None):
                self.send_response(status)
                for k, v in (headers or {}).items():
                    self.send_header(k, v)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def do_GET(self):
                if self.path != NEXT:
                    return self.send(404, b'{"errorType":"NotFound"}')
                inv = emu.next_invocation()
                if inv is None:  # shutting down
                    return self.send(500, b'{"errorType":"ShuttingDown"}')
                self.send(200, inv.payload, {
                    "Content-Type": "application/json",
                    "Lambda-Runtime-Aws-Request-Id": inv.id,
                    "Lambda-Runtime-Deadline-Ms": str(inv.deadline_ms),
                    "Lambda-Runtime-Invoked-Function-Arn": emu.arn,
                    "Lambda-Runtime-Trace-Id": f"Root=1-{int(time.time()):08x}-{uuid.uuid4().hex[:24]};Parent={uuid.uuid4().hex[:16]};Sampled=0",
                })

            def do_POST(self):
                body = read_body(self)
                m = RESULT_RE.match(self.path)
                if m:
                    ok = emu.finish(m.group(1), m.group(2), body, self.headers.get("Lambda-Runtime-Function-Error-Type"))
                    if not ok:
                        return self.send(400, b'{"errorMessage":"Invalid request ID","errorType":"InvalidRequestID"}',
                                         {"Content-Type": "application/json"})
                    return self.send(202, b'{"status":"OK"}', {"Content-Type": "application/json"})
                if self.path == INIT_ERROR:
                    emu.fail_init(body)
                    return self.send(202, b'{"status":"OK"}', {"Content-Type": "application/json"})
                m = INVOKE_RE.match(self.path.split("?")[0])
                if m:
                    return self.send(*emu.invoke(m.group(1), body, self.headers.get("X-Amz-Invocation-Type")))
                self.send(404, b'{"errorType":"NotFound"}')

        self.server = _Server(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, name="lambda-rt", daemon=True)

    @property
    def port(self) -> int:
        return self.server.server_address[1]

    def start(self):
        self.thread.start()

    def stop(self):
        self.stopping.set()
        self.server.shutdown()
        self.server.server_close()

    # ---- runtime side
    def next_invocation(self) -> Invocation | None:
        while not self.stopping.is_set():
            try:
                inv = self.pending.get(timeout=0.5)
            except queue.Empty:
                continue
            if inv.done.is_set():  # timed out while queued
                continue
            with self.lock:
                inv.status = "running"
                inv.delivered = time.time()
                inv.deadline_ms = int((time.time() + self.timeout_s) * 1000)
                self.inflight[inv.id] = inv
            return inv
        return None

    def finish(self, request_id: str, kind: str, body: bytes, error_type: str | None) -> bool:
        with self.lock:
            inv = self.inflight.pop(request_id, None)
            if inv is None:
                return False
            inv.answered = time.time()
            if kind == "response":
                inv.response, inv.status = body, "succeeded"
            else:
                if not body:
                    body = json.dumps({"errorType": error_type or "Unhandled", "errorMessage": ""}).encode()
                inv.error, inv.status = body, "failed"
            inv.done.set()
            return True

    def fail_init(self, body: bytes) -> None:
        with self.lock:
            self.init_error = body or b'{"errorType":"Runtime.InitError","errorMessage":""}'

    # ---- invoke side
    def invoke(self, name: str, payload: bytes, invocation_type: str | None):
        if name not in (self.function_name, self.arn):
            msg = json.dumps({"Type": "User", "message": f"Function not found: {name}"}).encode()
            return 404, msg, {"Content-Type": "application/json", "x-amzn-ErrorType": "ResourceNotFoundException"}
        invocation_type = invocation_type or "RequestResponse"
        if invocation_type == "DryRun":
            return 204, b"", {}
        inv = Invocation(payload or b"{}")
        self.history.append(inv)
        headers = {"Content-Type": "application/json", "X-Amz-Executed-Version": "$LATEST", "x-amzn-RequestId": inv.id}
        if self.init_error is not None:
            inv.status, inv.error = "failed", self.init_error
            return 200, self.init_error, dict(headers, **{"X-Amz-Function-Error": "Unhandled"})
        self.pending.put(inv)
        if invocation_type == "Event":
            return 202, b"", headers
        if not inv.done.wait(self.timeout_s):
            with self.lock:
                self.inflight.pop(inv.id, None)
                inv.status = "timedout"
                inv.done.set()
            err = json.dumps({
                "errorType": "Sandbox.Timedout",
                "errorMessage": f"{time.strftime('%Y-%m-%dT%H:%M:%SZ', time.gmtime())} {inv.id} Task timed out after {self.timeout_s:.2f} seconds",
            }).encode()
            inv.error = err
            return 200, err, dict(headers, **{"X-Amz-Function-Error": "Unhandled"})
        if inv.error is not None:
            return 200, inv.error, dict(headers, **{"X-Amz-Function-Error": "Unhandled"})
        return 200, inv.response or b"", headers

    def reset(self) -> None:
        """Forget history and a posted init error; queued invocations are answered as failed."""
        with self.lock:
            self.history.clear()
            self.init_error = None
        while True:
            try:
                inv = self.pending.get_nowait()
            except queue.Empty:
                break
            inv.error = b'{"errorType":"Stand.Reset","errorMessage":"the stand was reset"}'
            inv.status = "failed"
            inv.done.set()

    def describe(self) -> list[dict]:
        out = []
        for inv in list(self.history):
            def js(b):
                if b is None:
                    return None
                try:
                    return json.loads(b)
                except ValueError:
                    return b.decode(errors="replace")
            out.append({"requestId": inv.id, "status": inv.status, "payload": js(inv.payload),
                        "response": js(inv.response), "error": js(inv.error), "createdAt": inv.created,
                        "deliveredAt": inv.delivered, "answeredAt": inv.answered})
        return out
