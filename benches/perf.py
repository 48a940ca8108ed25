#!/usr/bin/env python3
"""Performance measurements of ecs-rollback, side by side on one machine, printed as one table.

Run through `benches/perf` (it builds the binaries first). Measures:
  * cold start: exec -> first GET /runtime/invocation/next, ecs-rollback-lambda vs a bare
    lambda_runtime hello-world built with the same profile (median of N alternating runs);
  * time to first response of a rollback event (exec -> Invoke answered), against the stand;
  * AWS calls per event kind and path, counted in the stand's request log;
  * peak RSS (VmHWM) of the Lambda process over the run;
  * deployment zip size (zip -9 of the release binary named bootstrap);
  * CPU per event (parse + decide) from criterion's estimates, when `cargo bench` was run;
  * a storm: 1,000 alarm events over 100 services through the runtime API -> exactly 100 rollbacks.
"""

from __future__ import annotations

import argparse
import json
import os
import pathlib
import platform
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
import zipfile
from concurrent.futures import ThreadPoolExecutor
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

ROOT = pathlib.Path(__file__).resolve().parent.parent
REGION, ACCOUNT = "eu-west-1", "123456789012"
REGISTRY = "123456789012.dkr.ecr.eu-west-1.amazonaws.com/hello-world"


# --------------------------------------------------------------------------- cold start

def cold_start_once(binary: pathlib.Path, env_extra: dict) -> float:
    """Seconds from exec to the binary's first GET /runtime/invocation/next."""
    seen = threading.Event()
    stamp = {}

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self):  # noqa: N802
            if "/runtime/invocation/next" in self.path and not seen.is_set():
                stamp["t"] = time.perf_counter()
                seen.set()
            time.sleep(0.5)  # hold the long poll; the process is killed meanwhile

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    home = tempfile.mkdtemp()
    env = {
        "PATH": os.environ.get("PATH", ""), "HOME": home,
        "AWS_LAMBDA_RUNTIME_API": f"127.0.0.1:{server.server_address[1]}",
        "AWS_LAMBDA_FUNCTION_NAME": "ecs-rollback", "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "256",
        "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST", "AWS_REGION": REGION,
        "AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing", "AWS_SESSION_TOKEN": "testing",
        **env_extra,
    }
    t0 = time.perf_counter()
    proc = subprocess.Popen([str(binary)], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        if not seen.wait(30):
            raise RuntimeError(f"{binary.name} never polled the runtime API")
        return stamp["t"] - t0
    finally:
        proc.kill()
        proc.wait()
        server.shutdown()
        server.server_close()


def cold_starts(lambda_bin, hello_bin, runs):
    ours, hello = [], []
    for _ in range(runs):  # alternate, so machine noise hits both alike
        ours.append(cold_start_once(lambda_bin, {}))
        hello.append(cold_start_once(hello_bin, {}))
    return statistics.median(ours), statistics.median(hello)


# --------------------------------------------------------------------------- the stand

class Stand:
    def __init__(self, python: str):
        self.dir = tempfile.mkdtemp()
        ready = pathlib.Path(self.dir, "ready.json")
        self.proc = subprocess.Popen(
            [python, str(ROOT / "tests/stand/stand.py"), "--ready-file", str(ready), "--region", REGION,
             "--function-timeout", "300"],
            stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=open(pathlib.Path(self.dir, "stand.log"), "w"))
        deadline = time.time() + 120
        while not ready.exists():
            if self.proc.poll() is not None or time.time() > deadline:
                raise RuntimeError("the stand did not start: " + pathlib.Path(self.dir, "stand.log").read_text())
            time.sleep(0.05)
        self.doc = json.loads(ready.read_text())
        self.lambda_proc = None

    def control(self, method, path, body=None):
        req = urllib.request.Request(self.doc["control"] + path, method=method,
                                     data=json.dumps(body or {}).encode() if method == "POST" else None,
                                     headers={"content-type": "application/json"})
        with urllib.request.urlopen(req, timeout=60) as r:
            return json.loads(r.read())

    def invoke(self, event) -> tuple[dict, str | None]:
        req = urllib.request.Request(self.doc["invoke"], data=json.dumps(event).encode(), method="POST")
        with urllib.request.urlopen(req, timeout=300) as r:
            return json.loads(r.read()), r.headers.get("X-Amz-Function-Error")

    def start_lambda(self, binary, extra=None):
        env = {"PATH": os.environ.get("PATH", ""), "HOME": self.dir, **self.doc["lambda_env"], **(extra or {})}
        self.lambda_proc = subprocess.Popen([str(binary)], env=env, stdout=subprocess.DEVNULL,
                                            stderr=subprocess.DEVNULL)
        return time.perf_counter()

    def peak_rss_kib(self) -> int:
        for line in pathlib.Path(f"/proc/{self.lambda_proc.pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
        return -1

    def calls(self) -> dict:
        out = {}
        for r in self.control("GET", "/requests")["requests"]:
            out[r["operation"]] = out.get(r["operation"], 0) + 1
        return out

    def close(self):
        if self.lambda_proc:
            self.lambda_proc.kill()
            self.lambda_proc.wait()
        self.proc.stdin.close()
        try:
            self.proc.wait(20)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


def clients(stand):
    import boto3
    kw = dict(region_name=REGION, aws_access_key_id="testing", aws_secret_access_key="testing",
              endpoint_url=stand.doc["endpoint"])
    return boto3.client("ecs", **kw), boto3.client("sns", **kw)


def service_good_then_bad(stand, ecs, name, opted_in=True, strategy=None, images=("a1b2c3d", "c3d4e5f")):
    """Revisions good (deployed, COMPLETED delivered) and bad (deployed); returns the COMPLETED
    event and the ARNs. The alarm `<name>-5xx` is one of the service's deployment alarms
    (rollback off), so its dimensions make it a guard (DESIGN §4 rule 4)."""
    tds = []
    for tag in images:
        tds.append(ecs.register_task_definition(
            family=name, containerDefinitions=[{"name": "app", "image": f"{REGISTRY}:{tag}", "memory": 256}],
        )["taskDefinition"]["taskDefinitionArn"])
    tags = [{"key": "ecs-rollback:enabled", "value": "true"}] if opted_in else []
    cfg = {"deploymentCircuitBreaker": {"enable": True, "rollback": False},
           "alarms": {"alarmNames": [f"{name}-5xx"], "enable": True, "rollback": False}}
    if strategy:
        cfg.update({"strategy": strategy, "bakeTimeInMinutes": 10})
    ecs.create_service(cluster="demo", serviceName=name, taskDefinition=tds[0], desiredCount=1, tags=tags,
                       deploymentConfiguration=cfg)
    completed = stand.control("POST", "/ecs/deployment-state",
                              {"cluster": "demo", "service": name, "state": "SUCCESSFUL"})["event"]
    ecs.update_service(cluster="demo", service=name, taskDefinition=tds[1])
    return completed, tds


def alarm_event(service):
    e = json.loads((ROOT / "events/cloudwatch-alarm-metric.json").read_text())
    e["resources"] = [f"arn:aws:cloudwatch:{REGION}:{ACCOUNT}:alarm:{service}-5xx"]
    e["detail"]["alarmName"] = f"{service}-5xx"
    e["time"] = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    e["detail"]["configuration"]["metrics"][0]["metricStat"]["metric"]["dimensions"] = {
        "ClusterName": "demo", "ServiceName": service}
    return e


def call_counts(python, lambda_bin):
    """AWS calls per event kind and path; also time to first response and peak RSS."""
    stand = Stand(python)
    try:
        ecs, sns = clients(stand)
        ecs.create_cluster(clusterName="demo")
        topic = sns.create_topic(Name="ecs-rollback")["TopicArn"]
        completed, _ = service_good_then_bad(stand, ecs, "hello-world")
        failed = stand.control("POST", "/ecs/deployment-state",
                               {"cluster": "demo", "service": "hello-world", "state": "FAILED"})["event"]
        service_good_then_bad(stand, ecs, "recorded")
        completed_now = stand.control("POST", "/ecs/deployment-state",
                                      {"cluster": "demo", "service": "recorded", "state": "SUCCESSFUL"})["event"]
        service_good_then_bad(stand, ecs, "dry")
        # Blue/green in its bake time: StopServiceDeployment, a traffic shift back.
        bg_completed, _ = service_good_then_bad(stand, ecs, "bg", strategy="BLUE_GREEN")
        stand.control("POST", "/ecs/advance", {"cluster": "demo", "service": "bg", "until": "BAKE_TIME"})
        # The same revision force-deployed after `latest` was re-pushed: a pinned copy.
        digest = lambda c: "sha256:" + c * 64  # noqa: E731
        stand.control("POST", "/ecs/image-digest", {"image": f"{REGISTRY}:latest", "digest": digest("a")})
        service_good_then_bad(stand, ecs, "latest", images=("latest", "latest"))
        stand.control("POST", "/ecs/deployment-state", {"cluster": "demo", "service": "latest", "state": "SUCCESSFUL"})
        stand.control("POST", "/ecs/image-digest", {"image": f"{REGISTRY}:latest", "digest": digest("b")})
        ecs.update_service(cluster="demo", service="latest", forceNewDeployment=True)
        failed_latest = stand.control("POST", "/ecs/deployment-state",
                                      {"cluster": "demo", "service": "latest", "state": "FAILED"})["event"]
        # CloudFormation deregistered the stable revision: restored by a copy.
        _, cfn_tds = service_good_then_bad(stand, ecs, "cfn")
        ecs.deregister_task_definition(taskDefinition=cfn_tds[0])
        failed_cfn = stand.control("POST", "/ecs/deployment-state",
                                   {"cluster": "demo", "service": "cfn", "state": "FAILED"})["event"]
        _, _ = service_good_then_bad(stand, ecs, "not-opted-in", opted_in=False)
        failed_other = stand.control("POST", "/ecs/deployment-state",
                                     {"cluster": "demo", "service": "not-opted-in", "state": "FAILED"})["event"]
        rows = []

        def measure(label, event):
            stand.control("DELETE", "/requests")
            t = time.perf_counter()
            body, err = stand.invoke(event)
            dt = time.perf_counter() - t
            calls = stand.calls()
            total = sum(calls.values())
            rows.append((label, body.get("action", err), total, calls, dt))
            return body

        t0 = stand.start_lambda(lambda_bin, {"ROLLBACK_NOTIFY_TOPIC_ARN": topic})
        measure("COMPLETED -> recorded", completed_now)
        body = measure("FAILED -> rollback", failed)
        assert body.get("action") == "rolled_back", body
        measure("same FAILED again (duplicate)", failed)
        body = measure("alarm, BLUE_GREEN in bake time -> rollback (StopServiceDeployment)", alarm_event("bg"))
        assert body.get("action") == "rolled_back", body
        body = measure("FAILED, re-pushed latest, same task definition -> rollback (pinned copy)", failed_latest)
        assert body.get("action") == "rolled_back", body
        body = measure("FAILED, stable revision INACTIVE -> rollback (copy)", failed_cfn)
        assert body.get("action") == "rolled_back", body
        measure("COMPLETED of a superseded deployment (stale)", completed)
        measure("FAILED, service not opted in (skip)", failed_other)
        ok = json.loads((ROOT / "events/cloudwatch-alarm-ok.json").read_text())
        measure("alarm OK (skip)", ok)
        measure("direct dryRun (dry run)", {"cluster": "demo", "service": "dry", "dryRun": True,
                                            "reason": "bench"})
        rss = stand.peak_rss_kib()
        return rows, rss, t0
    finally:
        stand.close()


def first_response(python, lambda_bin):
    """exec -> the answer to a rollback event: cold start plus the first (cold) rollback."""
    stand = Stand(python)
    try:
        ecs, _ = clients(stand)
        ecs.create_cluster(clusterName="demo")
        service_good_then_bad(stand, ecs, "hello-world")
        failed = stand.control("POST", "/ecs/deployment-state",
                               {"cluster": "demo", "service": "hello-world", "state": "FAILED"})["event"]
        t0 = stand.start_lambda(lambda_bin)
        body, _ = stand.invoke(failed)
        assert body.get("action") == "rolled_back", body
        return time.perf_counter() - t0
    finally:
        stand.close()


def storm(python, lambda_bin, services=100, events=1000, senders=8):
    stand = Stand(python)
    try:
        ecs, _ = clients(stand)
        ecs.create_cluster(clusterName="demo")
        names = [f"svc-{i:03d}" for i in range(services)]
        for n in names:
            service_good_then_bad(stand, ecs, n)
            stand.control("POST", "/ecs/deployment-state", {"cluster": "demo", "service": n, "state": "SUCCESSFUL"})
        stand.start_lambda(lambda_bin)
        stand.invoke({"cluster": "demo", "service": names[0], "dryRun": True, "reason": "warm-up"})
        batch = [alarm_event(names[i % services]) for i in range(events)]
        stand.control("DELETE", "/requests")
        t = time.perf_counter()
        with ThreadPoolExecutor(senders) as pool:
            results = list(pool.map(stand.invoke, batch))
        wall = time.perf_counter() - t
        actions = {}
        errors = 0
        for body, err in results:
            if err:
                errors += 1
            else:
                actions[body.get("action")] = actions.get(body.get("action"), 0) + 1
        updates = stand.calls().get("UpdateService", 0)
        rss = stand.peak_rss_kib()
        return {"wall": wall, "actions": actions, "errors": errors, "updates": updates, "rss": rss}
    finally:
        stand.close()


def zip_size(binary: pathlib.Path) -> int:
    with tempfile.TemporaryDirectory() as d:
        z = pathlib.Path(d, "lambda.zip")
        with zipfile.ZipFile(z, "w", zipfile.ZIP_DEFLATED, compresslevel=9) as zf:
            zf.write(binary, "bootstrap")
        return z.stat().st_size


def criterion_estimate(name: str) -> float | None:
    p = ROOT / "target/criterion" / name / "new/estimates.json"
    if not p.exists():
        return None
    return json.loads(p.read_text())["median"]["point_estimate"] / 1e3  # ns -> µs


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--lambda-bin", required=True, type=pathlib.Path)
    ap.add_argument("--hello-bin", required=True, type=pathlib.Path)
    ap.add_argument("--python", default=sys.executable)
    ap.add_argument("--runs", type=int, default=30)
    ap.add_argument("--skip-storm", action="store_true")
    args = ap.parse_args()

    print(f"machine: {platform.machine()}, {os.cpu_count()} cores, {platform.platform()}", flush=True)
    ours, hello = cold_starts(args.lambda_bin, args.hello_bin, args.runs)
    rows, rss, _ = call_counts(args.python, args.lambda_bin)
    ttfr = statistics.median(first_response(args.python, args.lambda_bin) for _ in range(5))
    st = None if args.skip_storm else storm(args.python, args.lambda_bin)

    print("\n| measure | value | target |\n|---|---|---|")
    print(f"| cold start, exec → first `/next` (median of {args.runs}) | {ours*1e3:.1f} ms vs hello-world "
          f"{hello*1e3:.1f} ms = **{ours/hello:.2f}×** | ≤ 1.5× |")
    print(f"| time to first response of a rollback event (exec → answer, median of 5) | {ttfr*1e3:.0f} ms | — |")
    for label, action, total, calls, dt in rows:
        detail = ", ".join(f"{k} {v}" if v > 1 else k for k, v in sorted(calls.items())) or "none"
        print(f"| AWS calls: {label} → `{action}` | **{total}** ({detail}); {dt*1e3:.0f} ms | "
              f"{'≤ 4' if 'rollback' in label else '≤ 2' if 'duplicate' in label or 'stale' in label else '—'} |")
    for name in ("parse FAILED event", "parse metric-math alarm event", "parse + decide (rollback, digest-pinned)"):
        est = criterion_estimate(name)
        value = f"{est:.1f} µs" if est is not None else "run `cargo bench --bench decide`"
        print(f"| CPU: {name} (criterion median) | {value} | < 1 ms |")
    print(f"| peak RSS of the Lambda process (VmHWM) over the call-count run | {rss/1024:.1f} MiB | < 30 MB |")
    z = zip_size(args.lambda_bin)
    print(f"| deployment zip, {platform.machine()} release binary (zip -9) | {z/2**20:.2f} MiB "
          f"(binary {args.lambda_bin.stat().st_size/2**20:.1f} MiB) | ≤ 6 MB |")
    arm = ROOT / ".aws-sam/build/RollbackFunction/bootstrap"
    if arm.exists():
        print(f"| deployment zip, arm64 (`sam build`) | {zip_size(arm)/2**20:.2f} MiB | ≤ 6 MB |")
    if st:
        rate = 1000 / st["wall"]
        print(f"| storm: 1,000 alarm events over 100 services | {st['actions']}, errors {st['errors']}, "
              f"UpdateService {st['updates']}; {st['wall']:.1f} s = {rate:.0f} events/s; peak RSS "
              f"{st['rss']/1024:.1f} MiB | exactly 100 rollbacks, 0 errors |")
    ok = (not st) or (st["actions"].get("rolled_back") == 100 and st["errors"] == 0 and st["updates"] == 100)
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
