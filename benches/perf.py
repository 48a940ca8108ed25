#!/usr/bin/env python3
"""Performance measurements of ecs-rollback, side by side on one machine, printed as one table.

Run through `benches/perf` (it builds the binaries first). Measures:
  * cold start: exec -> first GET /runtime/invocation/next, ecs-rollback-lambda vs a bare
    lambda_runtime hello-world built with the same profile (median of N alternating runs);
  * the first event of a fresh process (a rollback), against the stand, alternating with the
    hello-world: exec -> answer, split into init (exec -> event handed over) and handling (handed
    over -> answered), and how much of the handling the stand spent serving AWS calls;
  * AWS calls per event kind and path, counted in the stand's request log;
  * peak RSS (VmHWM) of the Lambda process over the run;
  * deployment zip size (zip -9 of the release binary named bootstrap);
  * CPU per event (parse + decide) from criterion's estimates, when `cargo bench` was run;
  * a storm: 1,000 alarm events over 100 services through the runtime API -> exactly 100 rollbacks;
  * the organization storm: 1,000 alarm events over 100 services in 3 accounts with 50 ms of
    latency per AWS call, concurrency 1 (no lease) vs. N sandboxes with the DynamoDB lease,
    checked from the stand's request log: exactly 100 rollbacks, 0 errors, no overlap per service.
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
import urllib.parse
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


def cloudwatch_client(stand):
    import boto3
    return boto3.client("cloudwatch", region_name=REGION, aws_access_key_id="testing",
                        aws_secret_access_key="testing", endpoint_url=stand.doc["endpoint"])


def service_good_then_bad(stand, ecs, name, opted_in=True, strategy=None, images=("a1b2c3d", "c3d4e5f")):
    """Revisions good (deployed, COMPLETED delivered) and bad (deployed); returns the COMPLETED
    event and the ARNs. The alarm `<name>-5xx` is one of the service's deployment alarms
    (rollback off), so its dimensions make it a guard (rule 4)."""
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


def ring(cloudwatch, service):
    """The alarm `<service>-5xx` exists in CloudWatch and is in ALARM: the function checks every
    alarm claim there before it acts."""
    name = f"{service}-5xx"
    cloudwatch.put_metric_alarm(
        AlarmName=name, Namespace="AWS/ECS", MetricName="CPUUtilization", Statistic="Average", Period=60,
        EvaluationPeriods=1, Threshold=90.0, ComparisonOperator="GreaterThanThreshold",
        Dimensions=[{"Name": "ClusterName", "Value": "demo"}, {"Name": "ServiceName", "Value": service}])
    cloudwatch.set_alarm_state(AlarmName=name, StateValue="ALARM", StateReason="set by the benchmark")


def alarm_event(service):
    """The EventBridge event of `<service>-5xx` entering ALARM now (see `ring`)."""
    e = json.loads((ROOT / "events/cloudwatch-alarm-metric.json").read_text())
    e["resources"] = [f"arn:aws:cloudwatch:{REGION}:{ACCOUNT}:alarm:{service}-5xx"]
    e["detail"]["alarmName"] = f"{service}-5xx"
    e["time"] = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    e["detail"]["state"]["timestamp"] = time.strftime("%Y-%m-%dT%H:%M:%S.000+0000", time.gmtime())
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
        ring(cloudwatch_client(stand), "bg")
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


def first_response(python, lambda_bin, rollback=True):
    """The first event of a fresh process, against the stand: exec -> answer, split into init
    (exec -> the event handed over by `/next`) and handling (handed over -> answered), and the
    part of the handling the stand itself spent serving AWS calls. `rollback=False` is the
    hello-world baseline (the same event, echoed)."""
    stand = Stand(python)
    try:
        ecs, _ = clients(stand)
        ecs.create_cluster(clusterName="demo")
        service_good_then_bad(stand, ecs, "hello-world")
        failed = stand.control("POST", "/ecs/deployment-state",
                               {"cluster": "demo", "service": "hello-world", "state": "FAILED"})["event"]
        stand.control("DELETE", "/requests")
        w0 = time.time()
        t0 = stand.start_lambda(lambda_bin)
        body, _ = stand.invoke(failed)
        total = time.perf_counter() - t0
        if rollback:
            assert body.get("action") == "rolled_back", body
        inv = stand.control("GET", "/lambda/invocations")["invocations"][-1]
        calls = sum(r["end"] - r["start"] for r in stand.control("GET", "/requests")["requests"]
                    if r.get("end") and r.get("start"))
        return {"total": total, "init": inv["deliveredAt"] - w0,
                "handling": inv["answeredAt"] - inv["deliveredAt"], "calls": calls}
    finally:
        stand.close()


def first_responses(python, lambda_bin, hello_bin, runs=5):
    """`runs` pairs, ours and the hello-world in turn: medians of each part, and the pair ratios."""
    ours, hello = [], []
    for _ in range(runs):
        ours.append(first_response(python, lambda_bin))
        hello.append(first_response(python, hello_bin, rollback=False))
    med = lambda rows, k: statistics.median(r[k] for r in rows)  # noqa: E731
    return {k: med(ours, k) for k in ours[0]}, {k: med(hello, k) for k in hello[0]}


def storm(python, lambda_bin, services=100, events=1000, senders=8):
    stand = Stand(python)
    try:
        ecs, _ = clients(stand)
        ecs.create_cluster(clusterName="demo")
        names = [f"svc-{i:03d}" for i in range(services)]
        for n in names:
            service_good_then_bad(stand, ecs, n)
            stand.control("POST", "/ecs/deployment-state", {"cluster": "demo", "service": n, "state": "SUCCESSFUL"})
        cloudwatch = cloudwatch_client(stand)
        for n in names:
            ring(cloudwatch, n)
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


# --------------------------------------------------------------------------- organization storm

MEMBERS = ("222222222222", "333333333333")
MEMBER_ROLE = "ecs-rollback-member"
LEASE_TABLE = "ecs-rollback-leases"
WRITES = ("UpdateService", "StopServiceDeployment", "TagResource", "RegisterTaskDefinition")


def account_clients(stand, account, service="ecs"):
    """boto3 client of `service` acting in `account`: the member role assumed through moto's STS."""
    import boto3
    kw = dict(region_name=REGION, endpoint_url=stand.doc["endpoint"])
    if account == ACCOUNT:
        return boto3.client(service, aws_access_key_id="testing", aws_secret_access_key="testing", **kw)
    sts = boto3.client("sts", aws_access_key_id="testing", aws_secret_access_key="testing", **kw)
    c = sts.assume_role(RoleArn=f"arn:aws:iam::{account}:role/{MEMBER_ROLE}", RoleSessionName="bench")["Credentials"]
    return boto3.client(service, aws_access_key_id=c["AccessKeyId"], aws_secret_access_key=c["SecretAccessKey"],
                        aws_session_token=c["SessionToken"], **kw)


def org_alarm_event(account, service):
    e = alarm_event(service)
    e["account"] = account
    e["resources"] = [f"arn:aws:cloudwatch:{REGION}:{account}:alarm:{service}-5xx"]
    return e


def service_of(request):
    """(account, service name) a write or lease request is about, from its parameters."""
    p = request.get("params") or {}
    op = request["operation"]
    if op in ("PutItem", "DeleteItem"):
        pk = (p.get("Item") or p.get("Key") or {}).get("pk", {}).get("S", "")
        account, _region, rest = pk.split(":", 2)
        return account, rest.rsplit("/", 1)[-1]
    arn = {"UpdateService": p.get("service"), "StopServiceDeployment": p.get("serviceDeploymentArn"),
           "TagResource": p.get("resourceArn"), "RegisterTaskDefinition": None}.get(op)
    if op == "RegisterTaskDefinition":
        return None, p.get("family")  # a pinned copy: the family is the service's (one each here)
    account = arn.split(":")[4]
    kind, path = arn.split(":", 5)[5].split("/", 1)
    if kind == "task-definition":
        return account, path.split(":")[0]
    if kind == "service-deployment":
        return account, path.split("/")[1]
    return account, path.rsplit("/", 1)[-1]


def overlaps(requests):
    """Leases intruded on, leases never given back, and writes outside their service's lease.

    `requests` are the stands' request logs (entries with `time` = arrival, one clock). A lease
    is owned by the token in its PutItem; its DeleteItem is conditioned on that owner. Any other
    acquisition of the same service while it was held (a second holder, or a takeover of an
    expired lease) makes that DeleteItem fail its condition, so "every DeleteItem succeeded"
    proves no two holders overlapped — whatever order the log recorded the calls in. A write lies
    inside its holder's lease causally (PutItem answered → reads → write → DeleteItem sent), by at
    least one call's latency on each side, which the arrival times show."""
    problems = []
    took, gave = {}, {}
    for r in requests:
        p = r.get("params") or {}
        if r["operation"] == "PutItem" and r.get("status", 0) < 300:
            owner = p["Item"]["lease_owner"]["S"]
            took.setdefault(owner, (r["time"], service_of(r)))
        elif r["operation"] == "DeleteItem":
            owner = p["ExpressionAttributeValues"][":owner"]["S"]
            if r.get("status", 0) >= 300:
                problems.append(f"{service_of(r)}: the lease of {owner} was taken by another while held "
                                f"({r.get('errorCode')})")
            else:
                gave[owner] = r["time"]
    intervals = {}
    for owner, (start, key) in took.items():
        if owner not in gave:
            problems.append(f"{key}: the lease of {owner} was never given back")
            continue
        intervals.setdefault(key, []).append((start, gave[owner]))
    for r in requests:
        if r["operation"] not in WRITES or r.get("status", 0) >= 300:
            continue
        account, name = service_of(r)
        spans = [iv for k, ivs in intervals.items() if k[1] == name and account in (None, k[0]) for iv in ivs]
        if not any(start < r["time"] < end for start, end in spans):
            problems.append(f"{(account, name)}: {r['operation']} at {r['time']:.3f} outside the service's lease")
    return problems


class KeptAliveInvoker:
    """Invoke with one kept-alive HTTP/1.1 connection per sender thread: the emulator's server has
    socketserver's listen backlog of 5, and dozens of fresh connections at once overflow it."""

    def __init__(self, url):
        import http.client
        u = urllib.parse.urlsplit(url)
        self.host, self.port, self.path = u.hostname, u.port, u.path
        self.local = threading.local()
        self.http = http.client

    def __call__(self, event):
        conn = getattr(self.local, "conn", None)
        if conn is None:
            conn = self.local.conn = self.http.HTTPConnection(self.host, self.port, timeout=300)
        conn.request("POST", self.path, body=json.dumps(event).encode(),
                     headers={"content-type": "application/json"})
        r = conn.getresponse()
        body = json.loads(r.read())
        return body, r.headers.get("X-Amz-Function-Error")


def stand_cpu_seconds(stand):
    """CPU seconds (user + system) the stand's Python process used so far."""
    fields = pathlib.Path(f"/proc/{stand.proc.pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def org_storm(python, lambda_bin, concurrency, services=100, events=1000, latency=0.05, seed=11,
              lease_stand=False, lease=None):
    """1,000 alarm events over 100 services in 3 accounts, `concurrency` sandboxes (a lease when > 1).

    `lease_stand`: the lease table is served by a second stand process (DynamoDB is a service of
    its own; the stand is one Python process whose GIL bounds every call it serves)."""
    import boto3
    import random
    stand = Stand(python)
    ddb_stand = Stand(python) if lease_stand else None
    ddb = ddb_stand or stand
    procs = []
    try:
        accounts = (ACCOUNT,) + MEMBERS
        ecs_by_account = {a: account_clients(stand, a) for a in accounts}
        cloudwatch_by_account = {a: account_clients(stand, a, "cloudwatch") for a in accounts}
        for ecs in ecs_by_account.values():
            ecs.create_cluster(clusterName="demo")
        boto3.client("dynamodb", region_name=REGION, aws_access_key_id="testing", aws_secret_access_key="testing",
                     endpoint_url=ddb.doc["endpoint"]).create_table(
            TableName=LEASE_TABLE, BillingMode="PAY_PER_REQUEST",
            AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
            KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}])
        placed = []  # (account, service)
        for i in range(services):
            account = accounts[i % len(accounts)]
            name = f"svc-{i:03d}"
            placed.append((account, name))
            ecs = ecs_by_account[account]
            tds = []
            for tag in ("a1b2c3d", "c3d4e5f"):
                tds.append(ecs.register_task_definition(
                    family=name, containerDefinitions=[{"name": "app", "image": f"{REGISTRY}:{tag}", "memory": 256}],
                )["taskDefinition"]["taskDefinitionArn"])
            # The alarm guards the service because the service lists it among its deployment alarms
            # (rule 4: dimensions alone never make a trigger).
            ecs.create_service(cluster="demo", serviceName=name, taskDefinition=tds[0], desiredCount=1,
                               tags=[{"key": "ecs-rollback:enabled", "value": "true"}],
                               deploymentConfiguration={
                                   "deploymentCircuitBreaker": {"enable": True, "rollback": False},
                                   "alarms": {"alarmNames": [f"{name}-5xx"], "enable": True, "rollback": False}})
            stand.control("POST", "/ecs/deployment-state", {"cluster": "demo", "service": name, "state": "SUCCESSFUL",
                                                            "account": account, "region": REGION})
            ecs.update_service(cluster="demo", service=name, taskDefinition=tds[1])
            ring(cloudwatch_by_account[account], name)
        rng = random.Random(seed)
        batch = [org_alarm_event(*placed[i % services]) for i in range(events)]
        rng.shuffle(batch)
        env = {"PATH": os.environ.get("PATH", ""), "HOME": stand.dir, **stand.doc["lambda_env"],
               "ROLLBACK_MEMBER_ROLE_NAME": MEMBER_ROLE, "ROLLBACK_ALLOWED_ACCOUNTS": ",".join(MEMBERS),
               "AWS_ENDPOINT_URL_STS": stand.doc["endpoint"], "AWS_ENDPOINT_URL_DYNAMODB": ddb.doc["endpoint"],
               "RUST_LOG": "warn"}
        if concurrency > 1 if lease is None else lease:
            env["ROLLBACK_LEASE_TABLE"] = LEASE_TABLE
        for _ in range(concurrency):
            procs.append(subprocess.Popen([str(lambda_bin)], env=env, stdout=subprocess.DEVNULL,
                                          stderr=subprocess.DEVNULL))
        # Latency of a real AWS call, on every call from now on (the stand's delay fault).
        for st in {id(stand): stand, id(ddb): ddb}.values():
            st.control("POST", "/faults", {"operation": "*", "delay": latency, "count": -1})
        warm = [{"cluster": "demo", "service": placed[0][1], "dryRun": True, "reason": "warm-up"}] * concurrency
        with ThreadPoolExecutor(concurrency) as pool:
            list(pool.map(stand.invoke, warm))
        stand.control("DELETE", "/requests")
        ddb.control("DELETE", "/requests")
        invoke = KeptAliveInvoker(stand.doc["invoke"])
        cpu0 = stand_cpu_seconds(stand)
        ddb_cpu0 = stand_cpu_seconds(ddb_stand) if ddb_stand else 0.0
        t = time.perf_counter()
        with ThreadPoolExecutor(concurrency) as pool:
            results = list(pool.map(invoke, batch))
        wall = time.perf_counter() - t
        stand_cpu = stand_cpu_seconds(stand) - cpu0
        ddb_cpu = (stand_cpu_seconds(ddb_stand) - ddb_cpu0) if ddb_stand else 0.0
        stand.control("DELETE", "/faults")
        actions, errors = {}, 0
        for body, err in results:
            if err:
                errors += 1
                continue
            for one in body if isinstance(body, list) else [body]:
                actions[one.get("action")] = actions.get(one.get("action"), 0) + 1
        log = stand.control("GET", "/requests")["requests"]
        if ddb_stand:
            log += ddb_stand.control("GET", "/requests")["requests"]
        writes = [r for r in log if r["operation"] in ("UpdateService", "StopServiceDeployment")
                  and r.get("status", 0) < 300]
        per_service = {}
        for r in writes:
            k = service_of(r)
            per_service[k] = per_service.get(k, 0) + 1
        return {"concurrency": concurrency, "wall": wall, "rate": events / wall, "actions": actions,
                "errors": errors, "rollback_writes": len(writes), "services_written": len(per_service),
                "twice": sorted(k for k, n in per_service.items() if n > 1),
                "overlaps": overlaps(log) if concurrency > 1 or lease else [], "calls": len(log),
                "stand_cpu": stand_cpu, "lease_stand_cpu": ddb_cpu, "lease_stand": lease_stand}
    finally:
        for p in procs:
            p.kill()
            p.wait()
        stand.close()
        if ddb_stand:
            ddb_stand.close()


def org_table(runs):
    """One column per run: concurrency 1 first."""
    def title(r):
        if r["concurrency"] == 1:
            return "concurrency 1 (no lease)"
        where = "lease table on its own stand process" if r["lease_stand"] else "one stand process for everything"
        return f"concurrency {r['concurrency']} + DynamoDB lease ({where})"
    one = runs[0]
    print("\n| organization storm: 1,000 alarm events, 100 services in 3 accounts, 50 ms per AWS call | "
          + " | ".join(title(r) for r in runs) + " | target |")
    print("|---|" + "---|" * len(runs) + "---|")

    def row(label, cells, target):
        print(f"| {label} | " + " | ".join(cells) + f" | {target} |")
    row("wall time", [f"{r['wall']:.1f} s" for r in runs], "—")
    row("events/s", [f"{r['rate']:.1f}" + ("" if r is one else f" (**{r['rate']/one['rate']:.1f}×**)") for r in runs], "≥ 10×")
    row("actions", [", ".join(f"{k} {v}" for k, v in sorted(r["actions"].items())) for r in runs], "100 rolled_back")
    row("errors", [str(r["errors"]) for r in runs], "0")
    row("rollback writes (UpdateService / StopServiceDeployment)", [str(r["rollback_writes"]) for r in runs], "100")
    row("services written / written twice", [f"{r['services_written']} / {len(r['twice'])}" for r in runs], "100 / 0")
    row("leases intruded on / never given back / writes outside their service's lease",
        ["—" if r is one else str(len(r["overlaps"])) for r in runs], "0")
    row("AWS calls served", [str(r["calls"]) for r in runs], "—")
    row("CPU seconds of the stand process(es) during the run",
        [f"{r['stand_cpu']:.1f}" + (f" + {r['lease_stand_cpu']:.1f}" if r["lease_stand"] else "") for r in runs], "—")
    for r in runs:
        for p in r["overlaps"][:10]:
            print(f"|   {p} | " + " | " * len(runs))


def org_runs(args):
    """Concurrency 1, then N sandboxes with the lease: all on one stand, and the lease table on its own."""
    return [org_storm(args.python, args.lambda_bin, 1),
            org_storm(args.python, args.lambda_bin, args.org_concurrency),
            org_storm(args.python, args.lambda_bin, args.org_concurrency, lease_stand=True)]


def org_passed(runs):
    """Every run correct; the best concurrent run at least 10× concurrency 1."""
    return all(org_ok(r) for r in runs) and max(r["rate"] for r in runs[1:]) >= 10 * runs[0]["rate"]


def org_ok(r):
    return (r["actions"].get("rolled_back") == 100 and r["errors"] == 0 and r["rollback_writes"] == 100
            and r["services_written"] == 100 and not r["twice"] and not r["overlaps"])


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
    ap.add_argument("--org-only", action="store_true", help="only the organization storm")
    ap.add_argument("--org-concurrency", type=int, default=32)
    args = ap.parse_args()

    if args.org_only:
        print(f"machine: {platform.machine()}, {os.cpu_count()} cores, {platform.platform()}", flush=True)
        runs = org_runs(args)
        org_table(runs)
        sys.exit(0 if org_passed(runs) else 1)

    print(f"machine: {platform.machine()}, {os.cpu_count()} cores, {platform.platform()}", flush=True)
    ours, hello = cold_starts(args.lambda_bin, args.hello_bin, args.runs)
    rows, rss, _ = call_counts(args.python, args.lambda_bin)
    first, first_hello = first_responses(args.python, args.lambda_bin, args.hello_bin)
    st = None if args.skip_storm else storm(args.python, args.lambda_bin)
    org = None if args.skip_storm else org_runs(args)

    print("\n| measure | value | target |\n|---|---|---|")
    print(f"| cold start, exec → first `/next` (median of {args.runs}) | {ours*1e3:.1f} ms vs hello-world "
          f"{hello*1e3:.1f} ms = **{ours/hello:.2f}×** | ≤ 1.5× |")
    ms = lambda v: f"{v*1e3:.1f} ms"  # noqa: E731
    print(f"| first event, a rollback: exec → answer (median of 5, alternating with the hello-world) | "
          f"**{ms(first['total'])}** vs hello-world {ms(first_hello['total'])} | ≤ 25 ms |")
    print(f"| … init: exec → event handed over by `/next` | {ms(first['init'])} vs hello-world "
          f"{ms(first_hello['init'])} | — |")
    print(f"| … handling: event handed over → answered | **{ms(first['handling'])}**, of which the stand "
          f"served AWS calls {ms(first['calls'])} (our own part {ms(first['handling'] - first['calls'])}) "
          f"vs hello-world {ms(first_hello['handling'])} | ≤ 20 ms |")
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
    if org:
        org_table(org)
    ok = (not st) or (st["actions"].get("rolled_back") == 100 and st["errors"] == 0 and st["updates"] == 100)
    ok = ok and ((not org) or org_passed(org))
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
