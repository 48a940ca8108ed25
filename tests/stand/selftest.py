#!/usr/bin/env python3
"""Standalone check of the test stand:  VENV/bin/python tests/stand/selftest.py

Starts stand.py as a subprocess (stdin = a pipe), drives ECS with boto3 and validates every
ECS response body against botocore's ECS output shapes, speaks rpcv2Cbor to the CloudWatch
proxy (hand-built cbor2 requests, plus botocore's own CBOR client as an independent
implementation), checks SNS -> SQS delivery, drives the Lambda runtime emulator with a tiny
fake runtime, and tears everything down.  Prints "N passed, M failed"; exits 1 on failure.
No fixed sleeps: every wait polls a condition with a generous bound.
"""

from __future__ import annotations

import datetime
import hashlib
import http.client
import json
import os
import re
import signal
import subprocess
import sys
import tempfile
import threading
import time
import traceback
import urllib.error
import urllib.parse
import urllib.request

import botocore.model

# Make botocore's own client speak rpcv2Cbor for CloudWatch (its default priority picks
# awsJson), so the proxy is also checked against an independent CBOR implementation.
botocore.model.PRIORITY_ORDERED_SUPPORTED_PROTOCOLS = (
    "smithy-rpc-v2-cbor", "json", "rest-json", "rest-xml", "query", "ec2")

import boto3  # noqa: E402
import botocore.parsers  # noqa: E402
import botocore.session  # noqa: E402
import cbor2  # noqa: E402
from botocore.config import Config  # noqa: E402
from botocore.exceptions import ClientError  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
STAND = os.path.join(HERE, "stand.py")
READY_TIMEOUT = 180.0
EXIT_TIMEOUT = 60.0
ECS_MODEL = botocore.session.get_session().get_service_model("ecs")
CW_MODEL = botocore.session.get_session().get_service_model("cloudwatch")

RESULTS: list[tuple[str, bool, str]] = []
SHAPE_PROBLEMS: list[str] = []
ECS_CALLS: list[str] = []


def check(name):
    def deco(fn):
        try:
            fn()
            RESULTS.append((name, True, ""))
            print(f"ok   - {name}", flush=True)
        except Exception as e:
            detail = "".join(traceback.format_exception_only(type(e), e)).strip()
            RESULTS.append((name, False, detail))
            print(f"FAIL - {name}: {detail}", flush=True)
            traceback.print_exc()
        return fn
    return deco


def eq(a, b, what=""):
    if a != b:
        raise AssertionError(f"{what}: expected {b!r}, got {a!r}")


def ok(cond, what):
    if not cond:
        raise AssertionError(what)


def wait_for(cond, timeout, what, interval=0.05):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        v = cond()
        if v:
            return v
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}")


# --------------------------------------------------------------------------- shape validation

def validate(value, shape, path, problems):
    """Strict check of a JSON-protocol response value against a botocore shape."""
    t = shape.type_name
    if t == "structure" and shape.metadata.get("document"):
        return  # a Smithy document (e.g. HookDetails): any JSON value
    if t == "structure":
        if not isinstance(value, dict):
            problems.append(f"{path}: expected object, got {type(value).__name__}")
            return
        for k, v in value.items():
            if k not in shape.members:
                problems.append(f"{path}.{k}: not a member of {shape.name}")
            elif v is not None:
                validate(v, shape.members[k], f"{path}.{k}", problems)
        for req in shape.required_members:
            if req not in value:
                problems.append(f"{path}: required member {req} missing")
    elif t == "list":
        if not isinstance(value, list):
            problems.append(f"{path}: expected list")
            return
        for i, v in enumerate(value):
            validate(v, shape.member, f"{path}[{i}]", problems)
    elif t == "map":
        if not isinstance(value, dict):
            problems.append(f"{path}: expected map")
            return
        for k, v in value.items():
            validate(v, shape.value, f"{path}[{k}]", problems)
    elif t == "string":
        if not isinstance(value, str):
            problems.append(f"{path}: expected string, got {value!r}")
        elif getattr(shape, "enum", None) and value not in shape.enum:
            problems.append(f"{path}: {value!r} not in enum {shape.name}")
    elif t in ("integer", "long"):
        if not isinstance(value, int) or isinstance(value, bool):
            problems.append(f"{path}: expected integer, got {value!r}")
    elif t == "boolean":
        if not isinstance(value, bool):
            problems.append(f"{path}: expected boolean, got {value!r}")
    elif t in ("double", "float"):
        if not isinstance(value, (int, float)) or isinstance(value, bool):
            problems.append(f"{path}: expected number, got {value!r}")
    elif t == "timestamp":  # awsJson: epoch seconds
        if not isinstance(value, (int, float)) or isinstance(value, bool):
            problems.append(f"{path}: expected epoch-seconds timestamp, got {value!r}")


def ecs_after_call(http_response, parsed, model, **kwargs):
    ECS_CALLS.append(model.name)
    raw = http_response.content
    try:
        doc = json.loads(raw) if raw.strip() else {}
    except ValueError:
        SHAPE_PROBLEMS.append(f"{model.name}: body is not JSON: {raw[:200]!r}")
        return
    if http_response.status_code >= 300:
        code = str(doc.get("__type", "")).split("#")[-1]
        if code not in {e.name for e in model.error_shapes} and code not in ("ThrottlingException",):
            SHAPE_PROBLEMS.append(f"{model.name}: error {code!r} is not one of the operation's errors")
        return
    if model.output_shape is not None:
        validate(doc, model.output_shape, model.name, SHAPE_PROBLEMS)


# --------------------------------------------------------------------------- stand process

class StandProc:
    def __init__(self):
        self.dir = tempfile.mkdtemp(prefix="stand-selftest-")
        self.ready_path = os.path.join(self.dir, "ready.json")
        self.log_path = os.path.join(self.dir, "stand.log")
        self.log = open(self.log_path, "wb")
        self.proc = subprocess.Popen([sys.executable, STAND, "--ready-file", self.ready_path],
                                     stdin=subprocess.PIPE, stdout=self.log, stderr=subprocess.STDOUT)
        try:
            wait_for(lambda: os.path.exists(self.ready_path) or self.proc.poll() is not None,
                     READY_TIMEOUT, "the ready file", interval=0.1)
        except AssertionError:
            self.kill()
            raise
        if self.proc.poll() is not None:
            raise RuntimeError(f"stand exited early (rc={self.proc.returncode}):\n{self.tail()}")
        with open(self.ready_path) as f:
            self.doc = json.load(f)

    def tail(self, n=4000):
        try:
            with open(self.log_path, "rb") as f:
                return f.read()[-n:].decode(errors="replace")
        except OSError:
            return ""

    def children(self):
        kids = []
        for pid in os.listdir("/proc"):
            if not pid.isdigit():
                continue
            try:
                with open(f"/proc/{pid}/stat") as f:
                    fields = f.read().rsplit(")", 1)[1].split()
                if int(fields[1]) == self.proc.pid:
                    kids.append(int(pid))
            except (OSError, IndexError, ValueError):
                pass
        return kids

    def kill(self):
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(EXIT_TIMEOUT)


def control(doc, method, path, body=None):
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(doc["control"] + path, data=data, method=method,
                                 headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=60) as r:
            return r.status, json.load(r)
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read() or b"{}")


# --------------------------------------------------------------------------- main

def main() -> int:
    t0 = time.monotonic()
    stand = StandProc()
    doc = stand.doc
    print(f"stand up in {time.monotonic() - t0:.1f}s: {json.dumps({k: doc[k] for k in ('endpoint', 'cloudwatch', 'runtime_api', 'control', 'pid')})}", flush=True)
    try:
        run_all(stand, doc)
    finally:
        teardown(stand)
    passed = sum(1 for _, good, _ in RESULTS if good)
    failed = len(RESULTS) - passed
    if failed:
        print("\n--- stand log tail ---\n" + stand.tail(), flush=True)
    print(f"{passed} passed, {failed} failed", flush=True)
    return 0 if failed == 0 else 1


def run_all(stand: StandProc, doc: dict) -> None:
    kw = dict(region_name=doc["region"], aws_access_key_id="testing", aws_secret_access_key="testing")
    session = boto3.session.Session()
    ecs = session.client("ecs", endpoint_url=doc["endpoint"], **kw)
    ecs.meta.events.register("after-call.ecs", ecs_after_call)
    ecs1 = session.client("ecs", endpoint_url=doc["endpoint"], config=Config(retries={"total_max_attempts": 1, "mode": "standard"}), **kw)
    ecs1.meta.events.register("after-call.ecs", ecs_after_call)
    cw = session.client("cloudwatch", endpoint_url=doc["cloudwatch"], **kw)
    sns = session.client("sns", endpoint_url=doc["endpoint"], **kw)
    sqs = session.client("sqs", endpoint_url=doc["endpoint"], **kw)
    ctx: dict = {}

    @check("control: health and reset")
    def _():
        eq(control(doc, "GET", "/health")[0], 200, "health")
        eq(control(doc, "POST", "/reset", {}), (200, {"reset": True}), "reset")

    @check("control: the clock can start behind real time, only before any service")
    def _():
        st, out = control(doc, "POST", "/ecs/clock", {"startBehindSeconds": 900})
        eq(st, 200, "startBehindSeconds")
        ok(abs(out["now"] - (time.time() - 900)) < 5, f"now {out['now']} is 900 s behind")
        eq(control(doc, "POST", "/ecs/clock", {"startBehindSeconds": 60})[0], 409, "twice")
        eq(control(doc, "POST", "/ecs/clock", {"startBehindSeconds": -1})[0], 400, "negative")
        eq(control(doc, "POST", "/reset", {}), (200, {"reset": True}), "reset")
        eq(control(doc, "GET", "/ecs/clock")[1]["offsetSeconds"], 0.0, "reset puts it back")

    # ------------------------------------------------------------------ ECS basics
    @check("ecs: register task definitions (3 revisions, tags)")
    def _():
        ecs.create_cluster(clusterName="prod")
        arns = []
        for tag in ("1.25", "1.26", "1.27"):
            td = ecs.register_task_definition(
                family="web", containerDefinitions=[{"name": "app", "image": f"nginx:{tag}", "memory": 128}],
                tags=[{"key": "ecs-rollback:status", "value": "stable"}])["taskDefinition"]
            arns.append(td["taskDefinitionArn"])
            ok("registeredAt" in td, "registeredAt present")
        eq([a.rsplit(":", 1)[1] for a in arns], ["1", "2", "3"], "revisions")
        ctx["td"] = arns

    @check("ecs: create service stores deploymentConfiguration/controller, one PRIMARY deployment")
    def _():
        svc = ecs.create_service(
            cluster="prod", serviceName="api", taskDefinition="web:1", desiredCount=2,
            deploymentConfiguration={"deploymentCircuitBreaker": {"enable": True, "rollback": False}},
            tags=[{"key": "ecs-rollback:enabled", "value": "true"}])["service"]
        ctx["svc_arn"] = svc["serviceArn"]
        eq(svc["serviceArn"], f"arn:aws:ecs:{doc['region']}:{doc['account']}:service/prod/api", "service ARN")
        eq(svc["deploymentConfiguration"]["deploymentCircuitBreaker"], {"enable": True, "rollback": False}, "circuit breaker")
        eq(svc["deploymentConfiguration"]["maximumPercent"], 200, "maximumPercent default")
        eq(svc["deploymentController"], {"type": "ECS"}, "controller default")
        eq(len(svc["deployments"]), 1, "deployments")
        d = svc["deployments"][0]
        ok(re.fullmatch(r"ecs-svc/\d{19}", d["id"]), f"deployment id format {d['id']}")
        eq((d["status"], d["rolloutState"], d["taskDefinition"]), ("PRIMARY", "IN_PROGRESS", ctx["td"][0]), "primary")
        eq(svc["taskDefinition"], ctx["td"][0], "service.taskDefinition")
        ctx["d1"] = d["id"]

    @check("ecs: create service with CODE_DEPLOY controller keeps the controller")
    def _():
        svc = ecs.create_service(cluster="prod", serviceName="bg", taskDefinition="web:1", desiredCount=1,
                                 deploymentController={"type": "CODE_DEPLOY"})["service"]
        eq(svc["deploymentController"], {"type": "CODE_DEPLOY"}, "controller")

    @check("control: SUCCESSFUL returns a SERVICE_DEPLOYMENT_COMPLETED event")
    def _():
        st, out = control(doc, "POST", "/ecs/deployment-state", {"cluster": "prod", "service": "api", "state": "SUCCESSFUL"})
        eq(st, 200, f"status {out}")
        ev = out["event"]
        eq(sorted(ev), sorted(["version", "id", "detail-type", "source", "account", "time", "region", "resources", "detail"]), "event keys")
        eq((ev["version"], ev["detail-type"], ev["source"], ev["account"], ev["region"]),
           ("0", "ECS Deployment State Change", "aws.ecs", doc["account"], doc["region"]), "envelope")
        eq(ev["resources"], [ctx["svc_arn"]], "resources")
        det = ev["detail"]
        eq((det["eventType"], det["eventName"], det["deploymentId"]), ("INFO", "SERVICE_DEPLOYMENT_COMPLETED", ctx["d1"]), "detail")
        ok(re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", det["updatedAt"]), "updatedAt format")
        eq(det["reason"], f"ECS deployment {ctx['d1']} completed.", "reason")
        s = ecs.describe_services(cluster="prod", services=["api"])["services"][0]
        eq([(d["status"], d["rolloutState"], d["runningCount"]) for d in s["deployments"]], [("PRIMARY", "COMPLETED", 2)], "deployments")

    @check("ecs: UpdateService(taskDefinition) -> new PRIMARY, previous ACTIVE")
    def _():
        s = ecs.update_service(cluster="prod", service="api", taskDefinition="web:2")["service"]
        eq(s["taskDefinition"], ctx["td"][1], "service.taskDefinition")
        got = [(d["status"], d["taskDefinition"], d["rolloutState"]) for d in s["deployments"]]
        eq(got, [("PRIMARY", ctx["td"][1], "IN_PROGRESS"), ("ACTIVE", ctx["td"][0], "COMPLETED")], "deployments")
        ctx["d2"] = s["deployments"][0]["id"]
        s2 = ecs.describe_services(cluster="prod", services=[ctx["svc_arn"]], include=["TAGS"])["services"][0]
        eq(s2["tags"], [{"key": "ecs-rollback:enabled", "value": "true"}], "include TAGS")
        ok(s2.get("currentServiceDeployment", "").startswith(f"arn:aws:ecs:{doc['region']}:{doc['account']}:service-deployment/prod/api/"), "currentServiceDeployment")

    @check("ecs: UpdateService(desiredCount only) starts no deployment")
    def _():
        s = ecs.update_service(cluster="prod", service="api", desiredCount=2)["service"]
        eq(len(s["deployments"]), 2, "deployments")
        eq(s["deployments"][0]["id"], ctx["d2"], "primary unchanged")

    @check("ecs: ListServiceDeployments filters, order and pagination")
    def _():
        r = ecs.list_service_deployments(cluster="prod", service="api")
        eq([sd["status"] for sd in r["serviceDeployments"]], ["PENDING", "SUCCESSFUL"], "a new deployment is PENDING")
        control(doc, "POST", "/ecs/deployment-state", {"cluster": "prod", "service": "api", "state": "IN_PROGRESS"})
        r = ecs.list_service_deployments(cluster="prod", service="api")
        sds = r["serviceDeployments"]
        eq([sd["status"] for sd in sds], ["IN_PROGRESS", "SUCCESSFUL"], "statuses newest first")
        ok("nextToken" not in r, "no nextToken")
        for sd in sds:
            ok(re.fullmatch(rf"arn:aws:ecs:{doc['region']}:{doc['account']}:service-deployment/prod/api/[\w-]+", sd["serviceDeploymentArn"]), "sd ARN format")
            ok(re.fullmatch(rf"arn:aws:ecs:{doc['region']}:{doc['account']}:service-revision/prod/api/\d+", sd["targetServiceRevisionArn"]), "rev ARN format")
        ctx["sd_new"], ctx["sd_old"] = sds[0]["serviceDeploymentArn"], sds[1]["serviceDeploymentArn"]
        eq([x["serviceDeploymentArn"] for x in ecs.list_service_deployments(service="api", cluster="prod", status=["SUCCESSFUL"])["serviceDeployments"]], [ctx["sd_old"]], "status filter")
        p1 = ecs.list_service_deployments(service=ctx["svc_arn"], cluster="prod", maxResults=1)
        ok("nextToken" in p1, "page 1 has nextToken")
        p2 = ecs.list_service_deployments(service=ctx["svc_arn"], cluster="prod", maxResults=1, nextToken=p1["nextToken"])
        ok("nextToken" not in p2, "page 2 is last")
        eq([x["serviceDeploymentArn"] for x in p1["serviceDeployments"] + p2["serviceDeployments"]], [ctx["sd_new"], ctx["sd_old"]], "pages")
        eq(ecs.list_service_deployments(service="api", cluster="prod", createdAt={"after": time.time() + 3600})["serviceDeployments"], [], "createdAt.after filter")
        try:
            ecs.list_service_deployments(service="nope", cluster="prod")
            raise AssertionError("no error for unknown service")
        except ClientError as e:
            eq(e.response["Error"]["Code"], "ServiceNotFoundException", "unknown service")

    @check("ecs: DescribeServiceDeployments (source/target revisions, failures[] for unknown ARNs)")
    def _():
        bogus = f"arn:aws:ecs:{doc['region']}:{doc['account']}:service-deployment/prod/api/doesnotexist"
        r = ecs.describe_service_deployments(serviceDeploymentArns=[ctx["sd_new"], ctx["sd_old"], bogus])
        new, old = r["serviceDeployments"]
        eq(r["failures"], [{"arn": bogus, "reason": "MISSING"}], "failures")
        eq(new["status"], "IN_PROGRESS", "status")
        eq([s["arn"] for s in new["sourceServiceRevisions"]], [old["targetServiceRevision"]["arn"]], "source = previous revision")
        eq(old["sourceServiceRevisions"], [], "first deployment has no source")
        ok(old["finishedAt"] >= old["startedAt"] >= old["createdAt"], "timestamps ordered")
        eq(new["deploymentCircuitBreaker"]["status"], "MONITORING", "circuit breaker monitoring")
        ctx["rev1"], ctx["rev2"] = old["targetServiceRevision"]["arn"], new["targetServiceRevision"]["arn"]

    @check("ecs: DescribeServiceRevisions (taskDefinition, containerImages with sha256 digests)")
    def _():
        r = ecs.describe_service_revisions(serviceRevisionArns=[ctx["rev2"], ctx["rev2"] + "0"])
        eq(len(r["failures"]), 1, "unknown revision in failures")
        rev = r["serviceRevisions"][0]
        eq(rev["taskDefinition"], ctx["td"][1], "taskDefinition")
        eq(rev["containerImages"], [{"containerName": "app", "image": "nginx:1.26",
                                     "imageDigest": "sha256:" + hashlib.sha256(b"nginx:1.26").hexdigest()}], "containerImages")

    @check("control: image digest override applies to the next revision; newer deployment supersedes")
    def _():
        digest = "sha256:" + "ab" * 32
        eq(control(doc, "POST", "/ecs/image-digest", {"image": "nginx:1.27", "digest": digest})[0], 200, "set digest")
        ecs.update_service(cluster="prod", service="api", taskDefinition=ctx["td"][2])
        sds = ecs.list_service_deployments(cluster="prod", service="api")["serviceDeployments"]
        # the superseded deployment is stopping; it ends STOPPED once ECS has stopped it
        eq([s["status"] for s in sds], ["PENDING", "STOP_REQUESTED", "SUCCESSFUL"], "statuses")
        ctx["sd3"] = sds[0]["serviceDeploymentArn"]
        rev = ecs.describe_service_revisions(serviceRevisionArns=[sds[0]["targetServiceRevisionArn"]])["serviceRevisions"][0]
        eq(rev["containerImages"][0]["imageDigest"], digest, "digest")

    @check("ecs: StopServiceDeployment(ROLLBACK) -> ROLLBACK_REQUESTED, rollback to last SUCCESSFUL revision")
    def _():
        eq(ecs.stop_service_deployment(serviceDeploymentArn=ctx["sd3"], stopType="ROLLBACK")["serviceDeploymentArn"], ctx["sd3"], "answer")
        sd = ecs.describe_service_deployments(serviceDeploymentArns=[ctx["sd3"]])["serviceDeployments"][0]
        eq(sd["status"], "ROLLBACK_REQUESTED", "status")
        eq(sd["rollback"]["serviceRevisionArn"], ctx["rev1"], "rollback target")
        s = ecs.describe_services(cluster="prod", services=["api"])["services"][0]
        eq([(d["status"], d["taskDefinition"]) for d in s["deployments"]], [("PRIMARY", ctx["td"][0]), ("ACTIVE", ctx["td"][2])], "deployments")
        eq(s["taskDefinition"], ctx["td"][0], "service.taskDefinition")
        # stopping again while the rollback runs continues it (no error)
        ecs.stop_service_deployment(serviceDeploymentArn=ctx["sd3"], stopType="ROLLBACK")
        st, out = control(doc, "POST", "/ecs/deployment-state", {"cluster": "prod", "service": "api", "state": "SUCCESSFUL"})
        eq(st, 200, str(out))
        eq(out["serviceDeployment"]["status"], "ROLLBACK_SUCCESSFUL", "final status")
        eq(out["event"]["detail"]["eventName"], "SERVICE_DEPLOYMENT_COMPLETED", "event")

    @check("ecs: StopServiceDeployment errors (ConflictException, ServiceDeploymentNotFoundException)")
    def _():
        for arn, code in ((ctx["sd3"], "ConflictException"), (ctx["sd3"] + "x", "ServiceDeploymentNotFoundException")):
            try:
                ecs.stop_service_deployment(serviceDeploymentArn=arn, stopType="ROLLBACK")
                raise AssertionError(f"no error for {arn}")
            except ClientError as e:
                eq((e.response["Error"]["Code"], e.response["ResponseMetadata"]["HTTPStatusCode"]), (code, 400), "error")

    @check("control: FAILED, circuit breaker rollback=false -> PRIMARY FAILED, STOPPED, ERROR event")
    def _():
        ecs.create_service(cluster="prod", serviceName="nofix", taskDefinition="web:1", desiredCount=4,
                           deploymentConfiguration={"deploymentCircuitBreaker": {"enable": True, "rollback": False}})
        control(doc, "POST", "/ecs/deployment-state", {"cluster": "prod", "service": "nofix", "state": "SUCCESSFUL"})
        ecs.update_service(cluster="prod", service="nofix", taskDefinition="web:2")
        control(doc, "POST", "/ecs/deployment-state", {"cluster": "prod", "service": "nofix", "state": "IN_PROGRESS"})
        st, out = control(doc, "POST", "/ecs/deployment-state", {"cluster": "prod", "service": "nofix", "state": "FAILED", "failedTasks": 3})
        eq(st, 200, str(out))
        eq([e["detail"]["eventName"] for e in out["events"]], ["SERVICE_DEPLOYMENT_FAILED"], "events")
        det = out["event"]["detail"]
        eq((det["eventType"], det["reason"]), ("ERROR", "ECS deployment circuit breaker: task failed to start."), "detail")
        sd = out["serviceDeployment"]
        eq((sd["status"], sd["deploymentCircuitBreaker"]["status"], sd["deploymentCircuitBreaker"]["failureCount"]), ("STOP_REQUESTED", "TRIGGERED", 3), "sd")
        st2, out2 = control(doc, "POST", "/ecs/deployment-state", {"cluster": "prod", "service": "nofix", "state": "STOPPED"})
        eq((st2, out2["serviceDeployment"]["status"]), (200, "STOPPED"), "settles STOPPED")
        eq(out2["serviceDeployment"]["statusHistory"], ["PENDING", "IN_PROGRESS", "STOP_REQUESTED", "STOPPED"], "history")
        s = ecs.describe_services(cluster="prod", services=["nofix"])["services"][0]
        eq([(d["status"], d["rolloutState"]) for d in s["deployments"]], [("PRIMARY", "FAILED"), ("ACTIVE", "COMPLETED")], "deployments")
        eq(s["deployments"][0]["failedTasks"], 3, "failedTasks")
        eq(s["deployments"][0]["rolloutStateReason"], "ECS deployment circuit breaker: tasks failed to start.", "rolloutStateReason")

    @check("control: FAILED with circuit breaker rolling back -> ROLLBACK_IN_PROGRESS, earlier deployment PRIMARY again")
    def _():
        ecs.create_service(cluster="prod", serviceName="autofix", taskDefinition="web:1", desiredCount=2,
                           deploymentConfiguration={"deploymentCircuitBreaker": {"enable": True, "rollback": True}})
        _, ok1 = control(doc, "POST", "/ecs/deployment-state", {"cluster": "prod", "service": "autofix", "state": "SUCCESSFUL"})
        good_id = ok1["event"]["detail"]["deploymentId"]
        ecs.update_service(cluster="prod", service="autofix", taskDefinition="web:2")
        # never started: the failure reports its start first (PENDING -> IN_PROGRESS -> ...)
        st, out = control(doc, "POST", "/ecs/deployment-state", {"cluster": "prod", "service": "autofix", "state": "FAILED"})
        eq(st, 200, str(out))
        names = [e["detail"]["eventName"] for e in out["events"]]
        eq(names, ["SERVICE_DEPLOYMENT_IN_PROGRESS", "SERVICE_DEPLOYMENT_FAILED", "SERVICE_DEPLOYMENT_IN_PROGRESS"], "events")
        eq(out["event"]["detail"]["eventName"], "SERVICE_DEPLOYMENT_FAILED", "main event")
        eq(out["events"][2]["detail"]["reason"], f"ECS deployment circuit breaker: rolling back to deploymentId {good_id}.", "rollback reason")
        eq(out["events"][2]["detail"]["deploymentId"], good_id, "the rollback is the earlier deployment, no new id")
        eq(out["serviceDeployment"]["status"], "ROLLBACK_IN_PROGRESS", "sd status")
        s = ecs.describe_services(cluster="prod", services=["autofix"])["services"][0]
        eq([(d["status"], d["taskDefinition"], d["rolloutState"]) for d in s["deployments"]],
           [("PRIMARY", ctx["td"][0], "IN_PROGRESS"), ("ACTIVE", ctx["td"][1], "FAILED")], "deployments")
        ok(s["deployments"][0]["rolloutStateReason"].startswith("ECS deployment circuit breaker: rolling back to deploymentId ecs-svc/"), "primary reason")
        eq(s["deployments"][0]["id"], good_id, "restored PRIMARY keeps the earlier deployment id")
        eq(s["taskDefinition"], ctx["td"][0], "service.taskDefinition")

    @check("ecs: forceNewDeployment starts a deployment of the same task definition; events log; list order config")
    def _():
        svc = ecs.create_service(cluster="prod", serviceName="forced", taskDefinition="web:1", desiredCount=1)["service"]
        control(doc, "POST", "/ecs/deployment-state", {"cluster": "prod", "service": "forced", "state": "SUCCESSFUL"})
        s = ecs.update_service(cluster="prod", service="forced", forceNewDeployment=True)["service"]
        eq([(d["status"], d["taskDefinition"]) for d in s["deployments"]], [("PRIMARY", ctx["td"][0]), ("ACTIVE", ctx["td"][0])], "deployments")
        control(doc, "POST", "/ecs/deployment-state", {"cluster": "prod", "service": "forced", "state": "IN_PROGRESS"})
        # cluster omitted: the long service ARN names it
        sds = ecs.list_service_deployments(service=svc["serviceArn"])["serviceDeployments"]
        eq([x["status"] for x in sds], ["IN_PROGRESS", "SUCCESSFUL"], "newest first")
        eq(control(doc, "POST", "/ecs/config", {"listServiceDeploymentsOrder": "oldest"})[0], 200, "config")
        eq([x["status"] for x in ecs.list_service_deployments(service=svc["serviceArn"])["serviceDeployments"]], ["SUCCESSFUL", "IN_PROGRESS"], "oldest first")
        control(doc, "POST", "/ecs/config", {"listServiceDeploymentsOrder": "newest"})
        evs = [e for e in control(doc, "GET", "/ecs/events")[1]["events"] if e["resources"] == [svc["serviceArn"]]]
        eq([e["detail"]["eventName"] for e in evs], ["SERVICE_DEPLOYMENT_IN_PROGRESS", "SERVICE_DEPLOYMENT_COMPLETED", "SERVICE_DEPLOYMENT_IN_PROGRESS"], "events log")
        st, state = control(doc, "GET", "/ecs/state?cluster=prod&service=forced")
        eq((st, len(state["serviceDeployments"])), (200, 2), "state dump")

    @check("control: FAILED by deployment alarms; failed-tasks; created-at moves the time window")
    def _():
        ecs.create_service(cluster="prod", serviceName="alarmed", taskDefinition="web:1", desiredCount=1,
                           deploymentConfiguration={"alarms": {"alarmNames": ["api-5xx"], "enable": True, "rollback": False}})
        eq(control(doc, "POST", "/ecs/failed-tasks", {"cluster": "prod", "service": "alarmed", "failedTasks": 2})[1]["serviceDeployment"]["deploymentCircuitBreaker"]["failureCount"], 2, "failed-tasks")
        st, out = control(doc, "POST", "/ecs/created-at", {"cluster": "prod", "service": "alarmed", "secondsAgo": 7200})
        eq(st, 200, str(out))
        s = ecs.describe_services(cluster="prod", services=["alarmed"])["services"][0]
        age = time.time() - s["deployments"][0]["createdAt"].timestamp()
        ok(7100 < age < 7300, f"legacy createdAt moved ({age:.0f}s)")
        before = ecs.list_service_deployments(cluster="prod", service="alarmed", createdAt={"before": time.time() - 3600})
        eq(len(before["serviceDeployments"]), 1, "createdAt.before filter")
        st, out = control(doc, "POST", "/ecs/deployment-state", {"cluster": "prod", "service": "alarmed", "state": "FAILED", "cause": "alarms", "settle": True})
        eq(st, 200, str(out))
        eq(out["serviceDeployment"]["statusHistory"], ["PENDING", "IN_PROGRESS", "STOP_REQUESTED", "STOPPED"], "history")
        eq(out["serviceDeployment"]["alarms"]["status"], "TRIGGERED", "alarms status")
        eq(out["serviceDeployment"]["alarms"]["triggeredAlarmNames"], ["api-5xx"], "triggered alarms")
        eq(out["event"]["detail"]["eventName"], "SERVICE_DEPLOYMENT_FAILED", "event")
        st, out = control(doc, "POST", "/ecs/deployment-state", {"cluster": "prod", "service": "alarmed", "state": "SUCCESSFUL"})
        eq(st, 409, "completed deployments cannot move")

    @check("ecs: ListTaskDefinitions sort/status/familyPrefix/pagination; deregister/delete; tags")
    def _():
        ecs.register_task_definition(family="worker", containerDefinitions=[{"name": "w", "image": "busybox", "memory": 64}])
        asc = ecs.list_task_definitions()["taskDefinitionArns"]
        eq([a.split("/")[-1] for a in asc], ["web:1", "web:2", "web:3", "worker:1"], "ASC")
        desc = ecs.list_task_definitions(sort="DESC")["taskDefinitionArns"]
        eq([a.split("/")[-1] for a in desc], ["worker:1", "web:3", "web:2", "web:1"], "DESC")
        pages, token = [], None
        while True:
            kwargs = {"familyPrefix": "web", "sort": "DESC", "maxResults": 1}
            if token:
                kwargs["nextToken"] = token
            r = ecs.list_task_definitions(**kwargs)
            pages.append(r["taskDefinitionArns"])
            token = r.get("nextToken")
            if not token:
                break
        eq([p[0].split("/")[-1] for p in pages], ["web:3", "web:2", "web:1"], "paginated DESC")
        ecs.deregister_task_definition(taskDefinition="web:3")
        eq([a.split("/")[-1] for a in ecs.list_task_definitions(status="INACTIVE")["taskDefinitionArns"]], ["web:3"], "INACTIVE")
        eq(ecs.describe_task_definition(taskDefinition="web")["taskDefinition"]["revision"], 2, "family = latest ACTIVE")
        try:
            ecs.update_service(cluster="prod", service="api", taskDefinition="web:3")
            raise AssertionError("UpdateService accepted an INACTIVE task definition")
        except ClientError as e:
            eq(e.response["Error"]["Code"], "ClientException", "INACTIVE refused")
        r = ecs.delete_task_definitions(taskDefinitions=["web:3", "web:2"])
        eq([t["status"] for t in r["taskDefinitions"]], ["DELETE_IN_PROGRESS"], "deleted")
        eq(len(r["failures"]), 1, "ACTIVE cannot be deleted")
        eq([a.split("/")[-1] for a in ecs.list_task_definitions(status="DELETE_IN_PROGRESS")["taskDefinitionArns"]], ["web:3"], "DELETE_IN_PROGRESS listed")
        td = ecs.describe_task_definition(taskDefinition=ctx["td"][0], include=["TAGS"])
        eq(td["tags"], [{"key": "ecs-rollback:status", "value": "stable"}], "describe include TAGS")
        ecs.tag_resource(resourceArn=ctx["td"][0], tags=[{"key": "ecs-rollback:status", "value": "bad"}, {"key": "x", "value": "1"}])
        ecs.untag_resource(resourceArn=ctx["td"][0], tagKeys=["x"])
        eq(ecs.list_tags_for_resource(resourceArn=ctx["td"][0])["tags"], [{"key": "ecs-rollback:status", "value": "bad"}], "TD tags")
        ecs.tag_resource(resourceArn=ctx["svc_arn"], tags=[{"key": "ecs-rollback:last-rollback", "value": "2024-01-01T00:00:00Z"}])
        tags = {t["key"]: t["value"] for t in ecs.list_tags_for_resource(resourceArn=ctx["svc_arn"])["tags"]}
        eq(tags, {"ecs-rollback:enabled": "true", "ecs-rollback:last-rollback": "2024-01-01T00:00:00Z"}, "service tags")

    @check("faults: ThrottlingException twice, then success; request log records it")
    def _():
        control(doc, "DELETE", "/requests")
        st, out = control(doc, "POST", "/faults", {"service": "ecs", "operation": "ListServiceDeployments", "status": 400,
                                                  "code": "ThrottlingException", "message": "Rate exceeded", "count": 2})
        eq(st, 200, str(out))
        for _ in range(2):
            try:
                ecs1.list_service_deployments(cluster="prod", service="api")
                raise AssertionError("fault not injected")
            except ClientError as e:
                eq((e.response["Error"]["Code"], e.response["ResponseMetadata"]["HTTPStatusCode"]), ("ThrottlingException", 400), "fault")
        ecs1.list_service_deployments(cluster="prod", service="api")
        reqs = control(doc, "GET", "/requests?operation=ListServiceDeployments")[1]["requests"]
        eq([(r["status"], r.get("injected", False)) for r in reqs], [(400, True), (400, True), (200, False)], "log")
        eq((reqs[0]["service"], reqs[0]["protocol"], reqs[0]["params"]["service"]), ("ecs", "json", "api"), "log entry")
        eq(control(doc, "GET", "/faults")[1]["faults"][0]["remaining"], 0, "fault exhausted")
        control(doc, "DELETE", "/faults")

    # ------------------------------------------------------------------ ECS behaviours
    behaviours(doc, session, kw, ecs, ecs1)

    @check("ecs: every ECS response matched botocore's output shapes")
    def _():
        ok(len(ECS_CALLS) >= 30, f"only {len(ECS_CALLS)} ECS calls seen")
        ok(not SHAPE_PROBLEMS, "shape problems:\n  " + "\n  ".join(SHAPE_PROBLEMS[:30]))

    # ------------------------------------------------------------------ CloudWatch (CBOR)
    cw_host = doc["cloudwatch"][len("http://"):]

    def cbor_call(op, payload, headers=None, raw=None):
        h = {"smithy-protocol": "rpc-v2-cbor", "Accept": "application/cbor"}
        body = raw if raw is not None else (cbor2.dumps(payload) if payload is not None else b"")
        if body:
            h["Content-Type"] = "application/cbor"
        h.update(headers or {})
        c = http.client.HTTPConnection(cw_host, timeout=60)
        try:
            c.request("POST", f"/service/GraniteServiceVersion20100801/operation/{op}", body=body, headers=h)
            r = c.getresponse()
            return r.status, {k.lower(): v for k, v in r.getheaders()}, r.read()
        finally:
            c.close()

    @check("cloudwatch: botocore's CBOR client through the proxy (PutMetricAlarm, PutCompositeAlarm, TagResource)")
    def _():
        eq(cw.meta.service_model.resolved_protocol, "smithy-rpc-v2-cbor", "client protocol")
        cw.put_metric_alarm(
            AlarmName="api-5xx", EvaluationPeriods=1, Threshold=5.0, ComparisonOperator="GreaterThanThreshold",
            Metrics=[{"Id": "e1", "Expression": "100*m1/m2", "ReturnData": True},
                     {"Id": "m1", "ReturnData": False, "MetricStat": {"Period": 60, "Stat": "Sum", "Metric": {
                         "Namespace": "AWS/ApplicationELB", "MetricName": "HTTPCode_Target_5XX_Count",
                         "Dimensions": [{"Name": "TargetGroup", "Value": "tg/api"}]}}},
                     {"Id": "m2", "ReturnData": False, "MetricStat": {"Period": 60, "Stat": "Sum", "Metric": {
                         "Namespace": "AWS/ApplicationELB", "MetricName": "RequestCount",
                         "Dimensions": [{"Name": "TargetGroup", "Value": "tg/api"}]}}}],
            Tags=[{"Key": "ecs-rollback:cluster", "Value": "prod"}, {"Key": "ecs-rollback:service", "Value": "api"}])
        cw.put_metric_alarm(AlarmName="api-cpu", MetricName="CPUUtilization", Namespace="AWS/ECS", Statistic="Average",
                            Period=60, EvaluationPeriods=2, Threshold=90.0, ComparisonOperator="GreaterThanThreshold",
                            Dimensions=[{"Name": "ClusterName", "Value": "prod"}, {"Name": "ServiceName", "Value": "api"}])
        cw.put_composite_alarm(AlarmName="api-health", AlarmRule='ALARM("api-5xx") OR ALARM("api-cpu")')
        cw.tag_resource(ResourceARN=f"arn:aws:cloudwatch:{doc['region']}:{doc['account']}:alarm:api-health",
                        Tags=[{"Key": "ecs-rollback:cluster", "Value": "prod"}])
        r = cw.describe_alarms(AlarmTypes=["MetricAlarm", "CompositeAlarm"])
        eq(sorted(a["AlarmName"] for a in r["MetricAlarms"]), ["api-5xx", "api-cpu"], "metric alarms")
        eq([a["AlarmRule"] for a in r["CompositeAlarms"]], ['ALARM("api-5xx") OR ALARM("api-cpu")'], "composite")
        ok(hasattr(r["MetricAlarms"][0]["StateUpdatedTimestamp"], "tzinfo"), "timestamps parsed as datetimes")

    @check("cloudwatch: hand-built CBOR DescribeAlarms (empty body, a0, bf ff) decodes; tag-1 timestamps")
    def _():
        for raw in (b"", b"\xa0", b"\xbf\xff"):
            st, hdr, body = cbor_call("DescribeAlarms", None, raw=raw)
            eq(st, 200, f"status for {raw!r}")
            eq((hdr.get("smithy-protocol"), hdr.get("content-type")), ("rpc-v2-cbor", "application/cbor"), "headers")
            doc_ = cbor2.loads(body)
            eq(sorted(a["AlarmName"] for a in doc_["MetricAlarms"]), ["api-5xx", "api-cpu"], "metric alarms only by default")
            eq(doc_.get("CompositeAlarms", []), [], "no composite alarms without AlarmTypes")
        ok(b"\xc1" in body, "CBOR tag 1 present")
        alarm = next(a for a in doc_["MetricAlarms"] if a["AlarmName"] == "api-5xx")
        ok(type(alarm["StateUpdatedTimestamp"]).__name__ == "datetime", "timestamp decodes as datetime (tag 1)")
        ok(isinstance(alarm["Threshold"], float), "Threshold is a float")
        stat = next(m for m in alarm["Metrics"] if m["Id"] == "m1")["MetricStat"]
        eq(stat["Metric"]["Dimensions"], [{"Name": "TargetGroup", "Value": "tg/api"}], "dimensions")
        eq(next(m for m in alarm["Metrics"] if m["Id"] == "e1")["Expression"], "100*m1/m2", "expression")
        st, _, body = cbor_call("DescribeAlarms", {"AlarmTypes": ["CompositeAlarm"], "AlarmNames": ["api-health"]})
        got = cbor2.loads(body)
        eq((st, [a["AlarmRule"] for a in got["CompositeAlarms"]], got.get("MetricAlarms", [])),
           (200, ['ALARM("api-5xx") OR ALARM("api-cpu")'], []), "composite by name")
        # botocore's parser accepts what we send
        parser = botocore.parsers.create_parser("smithy-rpc-v2-cbor")
        parsed = parser.parse({"status_code": 200, "headers": {}, "body": body},
                              CW_MODEL.operation_model("DescribeAlarms").output_shape)
        eq(parsed["CompositeAlarms"][0]["AlarmName"], "api-health", "botocore parse")

    @check("cloudwatch: hand-built CBOR ListTagsForResource; errors carry __type + x-amzn-query-error")
    def _():
        arn = f"arn:aws:cloudwatch:{doc['region']}:{doc['account']}:alarm:api-5xx"
        st, _, body = cbor_call("ListTagsForResource", {"ResourceARN": arn})
        eq(st, 200, "status")
        eq(sorted((t["Key"], t["Value"]) for t in cbor2.loads(body)["Tags"]),
           [("ecs-rollback:cluster", "prod"), ("ecs-rollback:service", "api")], "tags")
        st, hdr, body = cbor_call("ListTagsForResource", {"ResourceARN": arn + "-missing"})
        err = cbor2.loads(body)
        eq((st, err["__type"]), (404, "com.amazonaws.cloudwatch#ResourceNotFoundException"), "error")
        ok(err.get("message"), "error message")
        eq(hdr.get("x-amzn-query-error"), "ResourceNotFoundException;Sender", "query error header")
        eq(hdr.get("smithy-protocol"), "rpc-v2-cbor", "protocol header on errors")

    @check("cloudwatch: Unit-output op has no body/Content-Type; protocol violations rejected; CBOR faults")
    def _():
        st, hdr, body = cbor_call("PutMetricAlarm", {"AlarmName": "tmp", "MetricName": "m", "Namespace": "n", "Statistic": "Sum",
                                                     "Period": 60, "EvaluationPeriods": 1, "Threshold": 1.0,
                                                     "ComparisonOperator": "GreaterThanThreshold"})
        eq((st, body, "content-type" in hdr), (200, b"", False), "unit output")
        eq(cbor_call("DescribeAlarms", {}, headers={"X-Amz-Target": "GraniteServiceVersion20100801.DescribeAlarms"})[0], 400, "X-Amz-Target rejected")
        eq(cbor_call("DescribeAlarms", {}, headers={"smithy-protocol": "rpc-v2-json"})[0], 400, "wrong smithy-protocol")
        control(doc, "POST", "/faults", {"service": "cloudwatch", "operation": "DescribeAlarms", "status": 400, "code": "ThrottlingException", "count": 1})
        st, hdr, body = cbor_call("DescribeAlarms", {})
        eq((st, cbor2.loads(body)["__type"]), (400, "com.amazonaws.cloudwatch#ThrottlingException"), "injected CBOR fault")
        eq(cbor_call("DescribeAlarms", {})[0], 200, "fault used up")
        log = control(doc, "GET", "/requests?service=cloudwatch")[1]["requests"]
        ok(any(r["operation"] == "DescribeAlarms" and r["protocol"] == "rpc-v2-cbor" for r in log), "CBOR calls logged")

    # ------------------------------------------------------------------ CloudWatch: ALB metrics, GetMetricData
    alb_rule = f"arn:aws:elasticloadbalancing:{doc['region']}:{doc['account']}:listener-rule/app/canary-alb/50dc6c495c0c9188/f2f7dc8efc522ab2/9683b2d02a6cabee"
    alb_tg = {c: f"arn:aws:elasticloadbalancing:{doc['region']}:{doc['account']}:targetgroup/{c}/{h}"
              for c, h in (("blue", "0123456789abcdef"), ("green", "fedcba9876543210"), ("idle", "00000000000000aa"))}
    cw_ctx: dict = {}

    def alb_dims(color):
        return [{"Name": "TargetGroup", "Value": alb_tg[color].split(":")[-1]},
                {"Name": "LoadBalancer", "Value": "app/canary-alb/50dc6c495c0c9188"}]

    def mq(qid, color, name, stat, **extra):
        return dict({"Id": qid, "MetricStat": {"Metric": {"Namespace": "AWS/ApplicationELB", "MetricName": name,
                                                          "Dimensions": alb_dims(color)}, "Period": 60, "Stat": stat}}, **extra)

    @check("cloudwatch: alb-metrics control op writes what ELB publishes; GetMetricData returns per-minute Sum/Average "
           "for two target groups (TargetGroup + LoadBalancer) at whole minutes, StartTime rounded down, EndTime "
           "exclusive, only minutes with data, exact metric identity; a target group without data is an empty series")
    def _():
        st, blue = control(doc, "POST", "/cloudwatch/alb-metrics", {"targetGroup": alb_tg["blue"], "loadBalancer": alb_rule, "minutes": [
            {"minutesAgo": m, "requests": 100, "target5xx": 1 if m == 3 else 0, "targetResponseTime": 0.2} for m in (5, 4, 3, 2, 1)]})
        eq(st, 200, "control op")
        eq(blue["dimensions"], alb_dims("blue"), "dimensions: the final portions of the target group and listener rule ARNs")
        eq([d["MetricName"] for d in blue["metricData"]].count("HTTPCode_Target_5XX_Count"), 1, "5XX only in the minute that had one")
        st, green = control(doc, "POST", "/cloudwatch/alb-metrics", {"targetGroup": alb_tg["green"].split(":")[-1],
                                                                    "loadBalancer": "app/canary-alb/50dc6c495c0c9188", "minutes": [
            {"minutesAgo": 3, "requests": 10, "targetResponseTime": 0.5},
            {"minutesAgo": 2, "requests": 10, "target5xx": 0, "targetResponseTime": 0.5},
            {"minutesAgo": 1, "requests": 20, "target5xx": 4, "targetResponseTime": 0.9}]})
        eq(st, 200, "control op (short dimension values)")
        minutes = sorted({datetime.datetime.fromisoformat(d["Timestamp"].replace("Z", "+00:00")) for d in blue["metricData"]})
        gmin = sorted({datetime.datetime.fromisoformat(d["Timestamp"].replace("Z", "+00:00")) for d in green["metricData"]})
        eq([m.second for m in minutes], [0] * 5, "datapoints at whole minutes")
        # PutMetricData through the proxy: a raw sample joins the statistic set of green's middle minute
        cw.put_metric_data(Namespace="AWS/ApplicationELB", MetricData=[
            {"MetricName": "TargetResponseTime", "Dimensions": alb_dims("green"), "Timestamp": gmin[1] + datetime.timedelta(seconds=30),
             "Values": [1.6], "Counts": [1.0], "Unit": "Seconds"}])
        # not the same metric: another namespace, or another dimension set
        cw.put_metric_data(Namespace="Other/ALB", MetricData=[{"MetricName": "RequestCount", "Dimensions": alb_dims("blue"),
                                                               "Timestamp": minutes[2], "Value": 1000.0}])
        cw.put_metric_data(Namespace="AWS/ApplicationELB", MetricData=[{"MetricName": "RequestCount", "Dimensions": alb_dims("blue")[:1],
                                                                        "Timestamp": minutes[2], "Value": 1000.0}])
        start = minutes[0] + datetime.timedelta(seconds=17)  # rounded down to minutes[0]
        end = datetime.datetime.now(datetime.timezone.utc)
        r = cw.get_metric_data(MetricDataQueries=[
            mq("blue_req", "blue", "RequestCount", "Sum"), mq("blue_5xx", "blue", "HTTPCode_Target_5XX_Count", "Sum"),
            mq("blue_rt", "blue", "TargetResponseTime", "Average"),
            mq("green_req", "green", "RequestCount", "Sum"), mq("green_5xx", "green", "HTTPCode_Target_5XX_Count", "Sum"),
            mq("green_rt", "green", "TargetResponseTime", "Average", Label="green latency"),
            mq("idle_req", "idle", "RequestCount", "Sum")], StartTime=start, EndTime=end, ScanBy="TimestampAscending")
        got = {x["Id"]: x for x in r["MetricDataResults"]}
        eq([x["Id"] for x in r["MetricDataResults"]], ["blue_req", "blue_5xx", "blue_rt", "green_req", "green_5xx", "green_rt", "idle_req"],
           "results in query order")
        series = {k: ([t.astimezone(datetime.timezone.utc) for t in x["Timestamps"]], x["Values"], x["StatusCode"]) for k, x in got.items()}
        eq(series["blue_req"], (minutes, [100.0] * 5, "Complete"), "blue RequestCount per minute (the first minute kept: StartTime rounded down)")
        eq(series["blue_5xx"], ([minutes[2]], [1.0], "Complete"), "blue 5XX: only the minute with errors")
        eq(series["blue_rt"][1], [0.2] * 5, "blue TargetResponseTime Average")
        eq(series["green_req"], (gmin, [10.0, 10.0, 20.0], "Complete"), "green RequestCount")
        eq(series["green_5xx"], ([gmin[2]], [4.0], "Complete"), "green 5XX")
        ok(all(abs(a - b) < 1e-9 for a, b in zip(series["green_rt"][1], [0.5, (10 * 0.5 + 1.6) / 11, 0.9])), f"green Average {series['green_rt'][1]}")
        eq(series["idle_req"], ([], [], "Complete"), "a target group without data: an empty series, no error")
        eq((got["blue_req"]["Label"], got["green_rt"]["Label"]), ("RequestCount", "green latency"), "default label = metric name")
        eq(r.get("Messages"), [], "Messages")
        r = cw.get_metric_data(MetricDataQueries=[mq("m", "blue", "RequestCount", "Sum")], StartTime=minutes[0], EndTime=minutes[4],
                               ScanBy="TimestampAscending")
        eq([t.astimezone(datetime.timezone.utc) for t in r["MetricDataResults"][0]["Timestamps"]], minutes[:4], "EndTime is exclusive")
        for bad in ({"targetGroup": "blue", "loadBalancer": alb_rule, "minutes": [{"minutesAgo": 1, "requests": 1}]},
                    {"targetGroup": alb_tg["blue"], "loadBalancer": alb_rule, "minutes": [{"minutesAgo": 1, "requests": 1, "target5xx": 2}]},
                    {"targetGroup": alb_tg["blue"], "loadBalancer": alb_rule, "minutes": [{"minutesAgo": 1}, {"minutesAgo": 1}]}):
            eq(control(doc, "POST", "/cloudwatch/alb-metrics", bad)[0], 400, f"refused: {bad['minutes']}")
        cw_ctx.update(minutes=minutes, end=end)

    @check("cloudwatch: GetMetricData ScanBy default TimestampDescending; MaxDatapoints pages with PartialData + NextToken; "
           "a bad NextToken is InvalidNextToken; invalid Id, Period or Stat is a ValidationError")
    def _():
        minutes, end = cw_ctx["minutes"], cw_ctx["end"]
        queries = [mq("blue_req", "blue", "RequestCount", "Sum"), mq("green_req", "green", "RequestCount", "Sum")]
        r = cw.get_metric_data(MetricDataQueries=queries[:1], StartTime=minutes[0], EndTime=end)
        eq([t.astimezone(datetime.timezone.utc) for t in r["MetricDataResults"][0]["Timestamps"]], minutes[::-1], "newest first by default")
        pages, token = [], None
        while True:
            kw = {"NextToken": token} if token else {}
            r = cw.get_metric_data(MetricDataQueries=queries, StartTime=minutes[0], EndTime=end, MaxDatapoints=3,
                                   ScanBy="TimestampAscending", **kw)
            pages.append([(x["Id"], len(x["Values"]), x["StatusCode"]) for x in r["MetricDataResults"]])
            token = r.get("NextToken")
            if not token:
                break
        eq(pages, [[("blue_req", 3, "PartialData"), ("green_req", 0, "PartialData")],
                   [("blue_req", 2, "Complete"), ("green_req", 1, "PartialData")],
                   [("blue_req", 0, "Complete"), ("green_req", 2, "Complete")]], "pages of at most 3 datapoints")
        _raises(lambda: cw.get_metric_data(MetricDataQueries=queries, StartTime=minutes[0], EndTime=end, NextToken="bm90IGEgdG9rZW4="),
                "InvalidNextToken")
        for q in (dict(queries[0], Id="Blue"), {"Id": "p", "MetricStat": dict(queries[0]["MetricStat"], Period=45)},
                  {"Id": "s", "MetricStat": dict(queries[0]["MetricStat"], Stat="tm99")}):
            _raises(lambda: cw.get_metric_data(MetricDataQueries=[q], StartTime=minutes[0], EndTime=end), "ValidationError")
        _raises(lambda: cw.get_metric_data(MetricDataQueries=queries[:1] * 2, StartTime=minutes[0], EndTime=end), "ValidationError")

    @check("cloudwatch: hand-built CBOR GetMetricData (tag-1 float timestamps in) answers Id, Label, StatusCode, "
           "Timestamps as tag 1, Values as float64; botocore's CBOR parser reads it")
    def _():
        minutes = cw_ctx["minutes"]
        t0 = minutes[0].timestamp()
        req = {"MetricDataQueries": [mq("green_req", "green", "RequestCount", "Sum"), mq("idle_req", "idle", "RequestCount", "Sum")],
               "StartTime": cbor2.CBORTag(1, t0 + 0.5), "EndTime": cbor2.CBORTag(1, t0 + 600.25), "ScanBy": "TimestampAscending"}
        st, hdr, body = cbor_call("GetMetricData", req)
        eq((st, hdr.get("content-type")), (200, "application/cbor"), "status")
        raw = cbor2.loads(body)
        green = raw["MetricDataResults"][0]
        eq((green["Id"], green["Label"], green["StatusCode"]), ("green_req", "RequestCount", "Complete"), "Id, Label, StatusCode")
        stamps = [int(t.timestamp()) for t in green["Timestamps"]]
        eq([t % 60 for t in stamps], [0, 0, 0], "whole minutes")
        ok(all(b"\xc1\x1a" + t.to_bytes(4, "big") in body for t in stamps), "Timestamps are tag 1 + integer epoch seconds")
        ok(all(isinstance(v, float) for v in green["Values"]) and b"\xfb\x40\x24" in body, "Values are float64 (10.0 = fb 40 24 ...)")
        eq((raw["MetricDataResults"][1]["Values"], raw["MetricDataResults"][1]["Timestamps"]), ([], []), "empty series encoded as empty lists")
        parser = botocore.parsers.create_parser("smithy-rpc-v2-cbor")
        parsed = parser.parse({"status_code": 200, "headers": {}, "body": body}, CW_MODEL.operation_model("GetMetricData").output_shape)
        eq(parsed["MetricDataResults"][0]["Values"], [10.0, 10.0, 20.0], "botocore parse")
        log = control(doc, "GET", "/requests?service=cloudwatch&operation=GetMetricData")[1]["requests"]
        eq(log[-1]["params"]["StartTime"], t0 + 0.5, "request log: tag-1 StartTime as epoch seconds")

    # ------------------------------------------------------------------ SNS -> SQS
    @check("sns -> sqs delivers (RawMessageDelivery false: JSON envelope)")
    def _():
        topic = sns.create_topic(Name="ecs-rollback-notify")["TopicArn"]
        q = sqs.create_queue(QueueName="notify-sink")["QueueUrl"]
        qarn = sqs.get_queue_attributes(QueueUrl=q, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=qarn, Attributes={"RawMessageDelivery": "false"})
        sns.publish(TopicArn=topic, Subject="ecs-rollback", Message=json.dumps({"action": "rolled_back"}))
        msgs = wait_for(lambda: sqs.receive_message(QueueUrl=q, WaitTimeSeconds=1).get("Messages"), 60, "SQS message")
        env = json.loads(msgs[0]["Body"])
        eq((env["Type"], env["TopicArn"], env["Subject"], json.loads(env["Message"])),
           ("Notification", topic, "ecs-rollback", {"action": "rolled_back"}), "envelope")

    # ------------------------------------------------------------------ Lambda runtime API
    rt = doc["runtime_api"]

    def http_req(method, hostport, path, body=b"", headers=None, timeout=150):
        c = http.client.HTTPConnection(hostport, timeout=timeout)
        try:
            c.request(method, path, body=body, headers=headers or {})
            r = c.getresponse()
            return r.status, {k.lower(): v for k, v in r.getheaders()}, r.read()
        finally:
            c.close()

    def fake_runtime(mode, seen):
        st, hdr, body = http_req("GET", rt, "/2018-06-01/runtime/invocation/next")
        seen["next"] = (st, hdr, json.loads(body))
        rid = hdr["lambda-runtime-aws-request-id"]
        if mode == "response":
            out = {"action": "skipped", "echo": json.loads(body)}
            seen["post"] = http_req("POST", rt, f"/2018-06-01/runtime/invocation/{rid}/response", json.dumps(out).encode())
        else:
            err = {"errorType": "RollbackError", "errorMessage": "unknown service"}
            seen["post"] = http_req("POST", rt, f"/2018-06-01/runtime/invocation/{rid}/error", json.dumps(err).encode(),
                                    {"Lambda-Runtime-Function-Error-Type": "RollbackError"})

    def invoke(payload):
        return http_req("POST", rt, "/2015-03-31/functions/ecs-rollback/invocations", json.dumps(payload).encode())

    @check("lambda: next/response round trip; Invoke returns 200 + the answer")
    def _():
        seen: dict = {}
        t = threading.Thread(target=fake_runtime, args=("response", seen), daemon=True)
        t.start()
        st, hdr, body = invoke({"cluster": "prod", "service": "api"})
        t.join(60)
        eq(st, 200, "invoke status")
        ok("x-amz-function-error" not in hdr, "no function error")
        eq(json.loads(body), {"action": "skipped", "echo": {"cluster": "prod", "service": "api"}}, "answer")
        nst, nh, nb = seen["next"]
        eq(nst, 200, "next status")
        eq(nh["lambda-runtime-invoked-function-arn"], doc["function_arn"], "function arn")
        ok(int(nh["lambda-runtime-deadline-ms"]) > time.time() * 1000, "deadline in the future")
        ok(nh.get("lambda-runtime-trace-id", "").startswith("Root=1-"), "trace id")
        eq(seen["post"][0], 202, "response accepted")

    @check("lambda: next/error -> Invoke 200 + X-Amz-Function-Error: Unhandled + error JSON")
    def _():
        seen: dict = {}
        t = threading.Thread(target=fake_runtime, args=("error", seen), daemon=True)
        t.start()
        st, hdr, body = invoke({"cluster": "prod", "service": "missing"})
        t.join(60)
        eq((st, hdr.get("x-amz-function-error")), (200, "Unhandled"), "invoke")
        eq(json.loads(body), {"errorType": "RollbackError", "errorMessage": "unknown service"}, "error body")
        eq(seen["post"][0], 202, "error accepted")
        eq(http_req("POST", rt, "/2018-06-01/runtime/invocation/not-a-request/response", b"{}")[0], 400, "unknown request id")
        invs = control(doc, "GET", "/lambda/invocations")[1]["invocations"]
        invs = [i for i in invs if isinstance(i["payload"], dict) and "lifecycleStage" not in i["payload"]
                and i["payload"] != HookRuntime.STOP]
        eq([i["status"] for i in invs], ["succeeded", "failed"], "invocation log")

    @check("lambda: Event invocation 202; init/error accepted and surfaces on Invoke")
    def _():
        eq(http_req("POST", rt, "/2015-03-31/functions/ecs-rollback/invocations", b"{}", {"X-Amz-Invocation-Type": "DryRun"})[0], 204, "DryRun")
        eq(http_req("POST", rt, "/2015-03-31/functions/other/invocations", b"{}")[0], 404, "unknown function")
        eq(http_req("POST", rt, "/2015-03-31/functions/ecs-rollback/invocations", b"{}", {"X-Amz-Invocation-Type": "Event"})[0], 202, "Event")
        eq(http_req("POST", rt, "/2018-06-01/runtime/init/error", b'{"errorType":"InitError","errorMessage":"no config"}')[0], 202, "init error")
        st, hdr, body = invoke({})
        eq((st, hdr.get("x-amz-function-error"), json.loads(body)["errorType"]), (200, "Unhandled", "InitError"), "init error surfaces")

    # ------------------------------------------------------------------ credentials (last: it resets the stand)
    @check("credentials: an access key AWS never issued is refused (ECS UnrecognizedClientException 400; SNS and "
           "CloudWatch InvalidClientTokenId 403); IAM and STS keys are served in their account; assumed-role sessions "
           "survive a control reset, IAM users' keys do not")
    def _():
        once = Config(retries={"total_max_attempts": 1, "mode": "standard"})
        bad = dict(region_name=doc["region"], aws_access_key_id="AKIANEVERISSUED00000", aws_secret_access_key="x")
        for client, call, want in (
                (session.client("ecs", endpoint_url=doc["endpoint"], config=once, **bad), "list_clusters",
                 ("UnrecognizedClientException", 400)),
                (session.client("sns", endpoint_url=doc["endpoint"], config=once, **bad), "list_topics",
                 ("InvalidClientTokenId", 403)),
                (session.client("cloudwatch", endpoint_url=doc["cloudwatch"], config=once, **bad), "describe_alarms",
                 ("InvalidClientTokenId", 403))):
            try:
                getattr(client, call)()
                raise AssertionError(f"{call} served an unknown access key")
            except ClientError as e:
                eq((e.response["Error"]["Code"], e.response["ResponseMetadata"]["HTTPStatusCode"]), want, call)
                eq(e.response["Error"]["Message"], "The security token included in the request is invalid.", "message")
        r = control(doc, "GET", "/requests?operation=ListClusters")[1]["requests"][-1]
        eq((r["status"], r["errorCode"]), (400, "UnrecognizedClientException"), "logged")
        iam = session.client("iam", endpoint_url=doc["endpoint"], **kw)
        iam.create_user(UserName="operator")
        key = iam.create_access_key(UserName="operator")["AccessKey"]
        user = session.client("ecs", endpoint_url=doc["endpoint"], config=once, region_name=doc["region"],
                              aws_access_key_id=key["AccessKeyId"], aws_secret_access_key=key["SecretAccessKey"])
        user.list_clusters()
        sts = session.client("sts", endpoint_url=doc["endpoint"], **kw)
        creds = sts.assume_role(RoleArn="arn:aws:iam::333333333333:role/ecs-rollback-member",
                                RoleSessionName="across-reset")["Credentials"]
        member_kw = dict(region_name=doc["region"], aws_access_key_id=creds["AccessKeyId"],
                         aws_secret_access_key=creds["SecretAccessKey"], aws_session_token=creds["SessionToken"])
        member = session.client("ecs", endpoint_url=doc["endpoint"], config=once, **member_kw)
        eq(member.create_cluster(clusterName="member")["cluster"]["clusterArn"].split(":")[4], "333333333333", "before reset")
        eq(control(doc, "POST", "/reset", {}), (200, {"reset": True}), "reset")
        eq(member.list_clusters()["clusterArns"], [], "the member's state is reset...")
        eq(member.create_cluster(clusterName="member")["cluster"]["clusterArn"].split(":")[4], "333333333333",
           "...and its session still acts in the member account")
        eq(session.client("sts", endpoint_url=doc["endpoint"], **member_kw).get_caller_identity()["Account"],
           "333333333333", "GetCallerIdentity after the reset")
        _raises(lambda: user.list_clusters(), "UnrecognizedClientException")
        ecs1.list_clusters()  # the default key still works


# --------------------------------------------------------------------------- ECS behaviours

def _raises(fn, code):
    try:
        fn()
    except ClientError as e:
        eq(e.response["Error"]["Code"], code, "error code")
        return e
    raise AssertionError(f"no {code}")


class HookRuntime:
    """A fake Lambda runtime behind the stand's runtime API that answers ECS lifecycle-hook
    payloads from a script: answers[stage] is a list consumed in order (the last one repeats);
    an answer is a dict (the response), "ERROR" (a function error) or a string (invalid body)."""

    STOP = {"_selftest_stop": True}

    def __init__(self, doc):
        self.rt = doc["runtime_api"]
        self.invoke_url = doc["invoke"]
        self.answers: dict[str, list] = {}
        self.seen: list[dict] = []
        self.stopping = False
        self.thread = threading.Thread(target=self.loop, daemon=True)
        self.thread.start()

    def http(self, method, path, body=b"", headers=None):
        c = http.client.HTTPConnection(self.rt, timeout=150)
        try:
            c.request(method, path, body=body, headers=headers or {})
            r = c.getresponse()
            return r.status, {k.lower(): v for k, v in r.getheaders()}, r.read()
        finally:
            c.close()

    def loop(self):
        while True:
            st, hdr, body = self.http("GET", "/2018-06-01/runtime/invocation/next")
            if st != 200:
                return
            rid = hdr["lambda-runtime-aws-request-id"]
            payload = json.loads(body)
            if payload == self.STOP:
                self.http("POST", f"/2018-06-01/runtime/invocation/{rid}/response", b"{}")
                return
            self.seen.append(payload)
            script = self.answers.get(payload.get("lifecycleStage"), [{"hookStatus": "SUCCEEDED"}])
            answer = script.pop(0) if len(script) > 1 else script[0]
            if answer == "ERROR":
                self.http("POST", f"/2018-06-01/runtime/invocation/{rid}/error",
                          json.dumps({"errorType": "HookError", "errorMessage": "boom"}).encode(),
                          {"Lambda-Runtime-Function-Error-Type": "HookError"})
            else:
                data = answer.encode() if isinstance(answer, str) else json.dumps(answer).encode()
                self.http("POST", f"/2018-06-01/runtime/invocation/{rid}/response", data)

    def stop(self):
        host = self.invoke_url.split("/")[2]
        c = http.client.HTTPConnection(host, timeout=60)
        try:
            c.request("POST", "/" + self.invoke_url.split("/", 3)[3], body=json.dumps(self.STOP).encode())
            c.getresponse().read()
        finally:
            c.close()
        self.thread.join(60)


def behaviours(doc, session, kw, ecs, ecs1):
    region, account = doc["region"], doc["account"]
    fn_arn = doc["function_arn"]
    ctx: dict = {}

    def ctl(path, body=None, method="POST", want=200):
        st, out = control(doc, method, path, body)
        eq(st, want, f"{method} {path}: {out}")
        return out

    def sds(service):
        return ecs.list_service_deployments(cluster="prod", service=service)["serviceDeployments"]

    def revision(arn):
        return ecs.describe_service_revisions(serviceRevisionArns=[arn])["serviceRevisions"][0]

    def service(name):
        return ecs.describe_services(cluster="prod", services=[name])["services"][0]

    def register(family, image, **extra):
        return ecs.register_task_definition(
            family=family, networkMode="awsvpc", requiresCompatibilities=["FARGATE"], cpu="256", memory="512",
            containerDefinitions=[dict({"name": "app", "image": image, "essential": True}, **extra)])["taskDefinition"]["taskDefinitionArn"]

    ec2 = session.client("ec2", endpoint_url=doc["endpoint"], **kw)
    vpc = ec2.create_vpc(CidrBlock="10.20.0.0/16")["Vpc"]["VpcId"]
    subnets = [ec2.create_subnet(VpcId=vpc, CidrBlock=f"10.20.{i}.0/24")["Subnet"]["SubnetId"] for i in (1, 2)]
    sg = ec2.create_security_group(GroupName="selftest", Description="selftest", VpcId=vpc)["GroupId"]
    net = {"awsvpcConfiguration": {"subnets": [subnets[0]], "securityGroups": [sg], "assignPublicIp": "DISABLED"}}
    tg = f"arn:aws:elasticloadbalancing:{region}:{account}:targetgroup/cfg/0123456789abcdef"

    @check("behaviour: what starts a deployment and a new revision (network, platform version, LBs, registries, "
           "Service Connect, volumes, VPC Lattice, force) and what does not (count, deployment config, placement, capacity provider)")
    def _():
        td = register("cfg", "nginx:1.28")
        ctx["cfg_td"] = td
        ecs.create_service(cluster="prod", serviceName="cfg", taskDefinition=td, desiredCount=2, launchType="FARGATE",
                           platformVersion="1.4.0", networkConfiguration=net,
                           deploymentConfiguration={"deploymentCircuitBreaker": {"enable": True, "rollback": True}})
        ctl("/ecs/deployment-state", {"cluster": "prod", "service": "cfg", "state": "SUCCESSFUL"})
        starts = [
            ("networkConfiguration", {"networkConfiguration": {"awsvpcConfiguration": {"subnets": [subnets[1]], "securityGroups": [sg]}}}),
            ("platformVersion", {"platformVersion": "LATEST"}),
            ("loadBalancers", {"loadBalancers": [{"targetGroupArn": tg, "containerName": "app", "containerPort": 80}]}),
            ("serviceRegistries", {"serviceRegistries": [{"registryArn": f"arn:aws:servicediscovery:{region}:{account}:service/srv-0123456789"}]}),
            ("serviceConnectConfiguration", {"serviceConnectConfiguration": {"enabled": True, "namespace": "demo"}}),
            ("volumeConfigurations", {"volumeConfigurations": [{"name": "data", "managedEBSVolume": {
                "roleArn": f"arn:aws:iam::{account}:role/ebs", "sizeInGiB": 10}}]}),
            ("vpcLatticeConfigurations", {"vpcLatticeConfigurations": [{"roleArn": f"arn:aws:iam::{account}:role/lattice",
                                                                        "targetGroupArn": tg.replace("cfg", "lat"), "portName": "http"}]}),
            ("forceNewDeployment", {"forceNewDeployment": True}),
        ]
        for what, change in starts:
            before = len(sds("cfg"))
            s = ecs.update_service(cluster="prod", service="cfg", **change)["service"]
            after = sds("cfg")
            eq(len(after), before + 1, f"{what} starts a service deployment")
            eq(s["deployments"][0]["taskDefinition"], td, f"{what}: same task definition")
            rev = revision(after[0]["targetServiceRevisionArn"])
            if what != "forceNewDeployment":
                key = what
                got = rev.get(key)
                want = change[key]
                if key == "networkConfiguration":
                    got = got["awsvpcConfiguration"]["subnets"]
                    want = want["awsvpcConfiguration"]["subnets"]
                eq(got, want, f"the new revision records {what}")
            ctl("/ecs/deployment-state", {"cluster": "prod", "service": "cfg", "state": "SUCCESSFUL"})
        for what, change in [("desiredCount", {"desiredCount": 3}),
                             ("deploymentConfiguration", {"deploymentConfiguration": {"maximumPercent": 150}}),
                             ("placementStrategy", {"placementStrategy": [{"type": "spread", "field": "attribute:ecs.availability-zone"}]}),
                             ("capacityProviderStrategy", {"capacityProviderStrategy": [{"capacityProvider": "FARGATE_SPOT", "weight": 1}]})]:
            before = [x["serviceDeploymentArn"] for x in sds("cfg")]
            ecs.update_service(cluster="prod", service="cfg", **change)
            eq([x["serviceDeploymentArn"] for x in sds("cfg")], before, f"{what} alone starts no deployment")

    @check("behaviour: service revisions carry their configuration; capacityProviderStrategy XOR launchType; digests")
    def _():
        rev = revision(sds("cfg")[0]["targetServiceRevisionArn"])
        for k in ("taskDefinition", "launchType", "platformVersion", "platformFamily", "loadBalancers", "serviceRegistries",
                  "networkConfiguration", "serviceConnectConfiguration", "volumeConfigurations", "vpcLatticeConfigurations",
                  "containerImages", "createdAt", "guardDutyEnabled"):
            ok(k in rev, f"revision has {k}: {sorted(rev)}")
        eq((rev["launchType"], rev["platformVersion"], rev["platformFamily"]), ("FARGATE", "LATEST", "Linux"), "launch type and platform")
        ok("capacityProviderStrategy" not in rev, "a launch-type revision has no capacity provider strategy")
        eq(rev["containerImages"], [{"containerName": "app", "image": "nginx:1.28",
                                     "imageDigest": "sha256:" + hashlib.sha256(b"nginx:1.28").hexdigest()}], "images")
        # the capacity-provider change recorded above (no deployment) rides along with the next one
        ecs.update_service(cluster="prod", service="cfg", forceNewDeployment=True)
        rev = revision(sds("cfg")[0]["targetServiceRevisionArn"])
        eq(rev["capacityProviderStrategy"], [{"capacityProvider": "FARGATE_SPOT", "weight": 1}], "capacity provider strategy")
        ok("launchType" not in rev, "a capacity-provider revision has no launchType")
        ctl("/ecs/deployment-state", {"cluster": "prod", "service": "cfg", "state": "SUCCESSFUL"})
        td = register("cfg", "nginx:latest", versionConsistency="disabled")
        ecs.update_service(cluster="prod", service="cfg", taskDefinition=td)
        rev = revision(sds("cfg")[0]["targetServiceRevisionArn"])
        eq(rev["containerImages"], [{"containerName": "app", "image": "nginx:latest"}], "versionConsistency disabled: no digest")
        d = service("cfg")["deployments"][0]
        eq(d["id"], "ecs-svc/" + rev["serviceRevisionArn"].rsplit("/", 1)[1], "revision id = the deployment's ecs-svc number")
        eq(d.get("capacityProviderStrategy"), [{"capacityProvider": "FARGATE_SPOT", "weight": 1}], "Deployment carries the strategy")

    @check("behaviour: identity - a rollback creates no deployment and no revision; the earlier deployment is PRIMARY again; "
           "ROLLBACK_REQUESTED -> ROLLBACK_IN_PROGRESS -> ROLLBACK_SUCCESSFUL")
    def _():
        good = sds("cfg")[1]
        good_dep = service("cfg")["deployments"][1]["id"]
        eq(good_dep, "ecs-svc/" + good["targetServiceRevisionArn"].rsplit("/", 1)[1], "good deployment id")
        bad = sds("cfg")[0]
        n = len(sds("cfg"))
        ecs.stop_service_deployment(serviceDeploymentArn=bad["serviceDeploymentArn"], stopType="ROLLBACK")
        s = service("cfg")
        eq([(d["status"], d["id"]) for d in s["deployments"]][0], ("PRIMARY", good_dep), "earlier deployment is PRIMARY")
        eq(len(sds("cfg")), n, "no new service deployment")
        out = ctl("/ecs/deployment-state", {"cluster": "prod", "service": "cfg", "state": "SUCCESSFUL"})
        sd = out["serviceDeployment"]
        # stopped while PENDING: "PENDING - The service deployment moves to the ROLLBACK_REQUESTED state"
        eq(sd["statusHistory"], ["PENDING", "ROLLBACK_REQUESTED", "ROLLBACK_IN_PROGRESS", "ROLLBACK_SUCCESSFUL"], "history")
        eq(sd["targetServiceRevision"]["arn"], bad["targetServiceRevisionArn"], "target stays the bad revision")
        eq(sd["rollback"]["serviceRevisionArn"], good["targetServiceRevisionArn"], "rollback.serviceRevisionArn = the good one")
        eq(out["event"]["detail"]["deploymentId"], good_dep, "COMPLETED event of the earlier deployment")
        eq([d["id"] for d in service("cfg")["deployments"]], [good_dep], "only the restored deployment runs")
        state = ctl("/ecs/state?cluster=prod&service=cfg", method="GET")
        revs = {x["targetServiceRevision"]["arn"] for x in state["serviceDeployments"]}
        eq(len(revs), len(state["serviceDeployments"]), "one revision per deployment, none for the rollback")

    @check("behaviour: state machine - PENDING first, then IN_PROGRESS (a move, a task of it, the clock); superseded -> "
           "STOP_REQUESTED -> STOPPED; impossible moves refused")
    def _():
        ecs.update_service(cluster="prod", service="cfg", forceNewDeployment=True)
        first = sds("cfg")[0]
        eq(first["status"], "PENDING", "a new deployment is PENDING")
        ok("startedAt" not in first, "PENDING has no startedAt")
        eq(ecs.describe_service_deployments(serviceDeploymentArns=[first["serviceDeploymentArn"]])["serviceDeployments"][0]["status"],
           "PENDING", "still PENDING when described again: nothing starts it by itself")
        ctl("/ecs/deployment-state", {"cluster": "prod", "service": "cfg", "state": "STOPPED"}, want=409)
        out = ctl("/ecs/deployment-state", {"cluster": "prod", "service": "cfg", "state": "IN_PROGRESS"})
        eq([e["detail"]["eventName"] for e in out["events"]], ["SERVICE_DEPLOYMENT_IN_PROGRESS"], "the start event")
        ctl("/ecs/deployment-state", {"cluster": "prod", "service": "cfg", "state": "IN_PROGRESS"}, want=409)
        ctl("/ecs/config", {"initialServiceDeploymentStatus": "IN_PROGRESS"}, want=400)
        # the stand's clock moving on starts a PENDING deployment; so does a task of it
        ecs.update_service(cluster="prod", service="cfg", forceNewDeployment=True)
        tick = ctl("/ecs/clock", {"advanceSeconds": 1})
        eq([(e["detail"]["eventName"], e["resources"]) for e in tick["events"]],
           [("SERVICE_DEPLOYMENT_IN_PROGRESS", [f"arn:aws:ecs:{region}:{account}:service/prod/cfg"])], "clock starts it")
        eq(sds("cfg")[0]["status"], "IN_PROGRESS", "IN_PROGRESS after the clock moved")
        ecs.update_service(cluster="prod", service="cfg", forceNewDeployment=True)
        out = ctl("/ecs/task-stopped", {"cluster": "prod", "service": "cfg", "stopCode": "SpotInterruption"})
        eq([e["detail"]["eventName"] for e in out["deploymentEvents"]], ["SERVICE_DEPLOYMENT_IN_PROGRESS"], "a task of it starts it")
        eq(out["deploymentEvent"], None, "no failure")
        eq(sds("cfg")[0]["status"], "IN_PROGRESS", "IN_PROGRESS once a task of it ran")
        ctl("/ecs/deployment-state", {"cluster": "prod", "service": "cfg", "state": "SUCCESSFUL"})
        ecs.update_service(cluster="prod", service="cfg", forceNewDeployment=True)
        first = sds("cfg")[0]
        ctl("/ecs/deployment-state", {"cluster": "prod", "service": "cfg", "state": "IN_PROGRESS"})
        ecs.update_service(cluster="prod", service="cfg", forceNewDeployment=True)
        old = ecs.describe_service_deployments(serviceDeploymentArns=[first["serviceDeploymentArn"]])["serviceDeployments"][0]
        eq(old["status"], "STOP_REQUESTED", "superseded: STOP_REQUESTED")
        ctl("/ecs/deployment-state", {"cluster": "prod", "service": "cfg", "state": "SUCCESSFUL"})
        st = ctl("/ecs/state?cluster=prod&service=cfg", method="GET")
        hist = next(x for x in st["serviceDeployments"] if x["serviceDeploymentArn"] == first["serviceDeploymentArn"])
        eq(hist["statusHistory"], ["PENDING", "IN_PROGRESS", "STOP_REQUESTED", "STOPPED"], "superseded history")
        ok(hist["stoppedAt"] >= hist["startedAt"], "stoppedAt")

    @check("behaviour: SERVICE_DEPLOYMENT_FAILED only with the circuit breaker or alarms; no rollback without an earlier COMPLETED one")
    def _():
        ecs.create_service(cluster="prod", serviceName="plain", taskDefinition=ctx["cfg_td"], desiredCount=1)
        out = ctl("/ecs/deployment-state", {"cluster": "prod", "service": "plain", "state": "FAILED"}, want=409)
        ok("circuit breaker" in out["error"], out["error"])
        ctl("/ecs/deployment-state", {"cluster": "prod", "service": "plain", "state": "FAILED", "cause": "alarms"}, want=409)
        ecs.create_service(cluster="prod", serviceName="first", taskDefinition=ctx["cfg_td"], desiredCount=1,
                           deploymentConfiguration={"deploymentCircuitBreaker": {"enable": True, "rollback": True}})
        _raises(lambda: ecs.stop_service_deployment(serviceDeploymentArn=sds("first")[0]["serviceDeploymentArn"]),
                "InvalidParameterException")
        ctl("/ecs/deployment-state", {"cluster": "prod", "service": "first", "state": "FAILED", "rollback": False}, want=409)
        out = ctl("/ecs/deployment-state", {"cluster": "prod", "service": "first", "state": "FAILED"})
        eq([e["detail"]["eventName"] for e in out["events"]], ["SERVICE_DEPLOYMENT_IN_PROGRESS", "SERVICE_DEPLOYMENT_FAILED"],
           "no rollback event (the start, then the failure)")
        eq(out["serviceDeployment"]["status"], "STOP_REQUESTED", "stopping, not rolling back")
        ok("No previous COMPLETED deployment" in out["serviceDeployment"]["statusReason"], "reason says why")
        ok("rollback" not in out["serviceDeployment"], "no rollback object")

    @check("behaviour: CODE_DEPLOY and EXTERNAL controllers answer UpdateService as ECS does")
    def _():
        for ctrl in ("CODE_DEPLOY", "EXTERNAL"):
            name = "ctl-" + ctrl.lower()
            ecs.create_service(cluster="prod", serviceName=name, taskDefinition=ctx["cfg_td"], desiredCount=1,
                               deploymentController={"type": ctrl})
            e = _raises(lambda: ecs.update_service(cluster="prod", service=name, taskDefinition=ctx["cfg_td"]),
                        "InvalidParameterException")
            ok(ctrl in e.response["Error"]["Message"], e.response["Error"]["Message"])
            _raises(lambda: ecs.update_service(cluster="prod", service=name, networkConfiguration=net), "InvalidParameterException")
            _raises(lambda: ecs.update_service(cluster="prod", service=name, forceNewDeployment=True), "InvalidParameterException")
            eq(ecs.update_service(cluster="prod", service=name, desiredCount=2)["service"]["desiredCount"], 2, "desiredCount allowed")
            eq(sds(name), [], f"{ctrl}: no ECS service deployments")
        ecs.update_service(cluster="prod", service="ctl-code_deploy", deploymentConfiguration={"maximumPercent": 150})
        _raises(lambda: ecs.update_service(cluster="prod", service="ctl-external",
                                           deploymentConfiguration={"maximumPercent": 150}), "InvalidParameterException")

    # ---- strategies and lifecycle hooks
    rt = HookRuntime(doc)
    try:
        strategies(doc, ecs, ctl, sds, service, register, rt, fn_arn, tg, net)
    finally:
        rt.stop()

    # ---- circuit breaker thresholds, pause hooks, 2026 deployment behaviours
    current(doc, ecs, ctl, sds, service, register, tg, net)

    @check("behaviour: multi-account (sts:AssumeRole) and multi-region state; control API takes account/region")
    def _():
        sts = session.client("sts", endpoint_url=doc["endpoint"], **kw)
        creds = sts.assume_role(RoleArn="arn:aws:iam::222222222222:role/ecs-rollback-member", RoleSessionName="selftest")["Credentials"]
        other = session.client("ecs", endpoint_url=doc["endpoint"], region_name=region,
                               aws_access_key_id=creds["AccessKeyId"], aws_secret_access_key=creds["SecretAccessKey"],
                               aws_session_token=creds["SessionToken"])
        other.meta.events.register("after-call.ecs", ecs_after_call)
        west = session.client("ecs", endpoint_url=doc["endpoint"], **dict(kw, region_name="us-west-2"))
        west.meta.events.register("after-call.ecs", ecs_after_call)
        for c in (other, west):
            c.create_cluster(clusterName="prod")
            td = c.register_task_definition(family="cfg", containerDefinitions=[{"name": "app", "image": "nginx:1", "memory": 64}])
            c.create_service(cluster="prod", serviceName="cfg", taskDefinition=td["taskDefinition"]["taskDefinitionArn"], desiredCount=1,
                             deploymentConfiguration={"deploymentCircuitBreaker": {"enable": True, "rollback": False}})
        svc = other.describe_services(cluster="prod", services=["cfg"])["services"][0]
        ok(svc["serviceArn"].startswith(f"arn:aws:ecs:{region}:222222222222:service/prod/cfg"), svc["serviceArn"])
        out = ctl("/ecs/deployment-state", {"cluster": "prod", "service": "cfg", "state": "SUCCESSFUL"}, want=400)
        ok("ambiguous" in out["error"], out["error"])
        out = ctl("/ecs/deployment-state", {"cluster": "prod", "service": "cfg", "state": "SUCCESSFUL", "account": "222222222222", "region": region})
        eq((out["event"]["account"], out["event"]["region"]), ("222222222222", region), "event in the member account")
        out = ctl("/ecs/deployment-state", {"cluster": "prod", "service": "cfg", "state": "SUCCESSFUL", "region": "us-west-2", "account": account})
        eq(out["event"]["region"], "us-west-2", "event in the other region")
        member_sd = other.list_service_deployments(cluster="prod", service="cfg")["serviceDeployments"][0]
        eq(member_sd["status"], "SUCCESSFUL", "member account's deployment moved")
        eq(ecs.describe_service_deployments(serviceDeploymentArns=[member_sd["serviceDeploymentArn"]])["failures"][0]["reason"],
           "MISSING", "another account's deployment is not visible")
        eq(sds("cfg")[0]["status"] in ("PENDING", "IN_PROGRESS", "SUCCESSFUL"), True, "default account untouched")
        reqs = control(doc, "GET", "/requests?operation=CreateService")[1]["requests"]
        eq({r["account"] for r in reqs} >= {account, "222222222222"}, True, "request log names the account")

    @check("behaviour: task stops - DescribeTasks/ListTasks and the real ECS Task State Change event; failures counted")
    def _():
        dep = service("cfg")["deployments"][0]
        before = dep["failedTasks"]
        out = ctl("/ecs/task-stopped", {"cluster": "prod", "service": "cfg", "account": account, "region": region,
                                        "stopCode": "EssentialContainerExited", "containers": [{"name": "app", "exitCode": 137}]})
        ev = out["event"]
        eq((ev["detail-type"], ev["source"], ev["account"], ev["region"]), ("ECS Task State Change", "aws.ecs", account, region), "envelope")
        det = ev["detail"]
        eq((det["lastStatus"], det["desiredStatus"], det["stopCode"], det["stoppedReason"], det["startedBy"], det["group"]),
           ("STOPPED", "STOPPED", "EssentialContainerExited", "Essential container in task exited", dep["id"], "service:cfg"), "detail")
        eq((det["containers"][0]["exitCode"], det["containers"][0]["name"]), (137, "app"), "container exit code")
        ok(re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", det["stoppedAt"]), det["stoppedAt"])
        eq(ev["resources"], [det["taskArn"]], "resources = task ARN")
        t = ecs.describe_tasks(cluster="prod", tasks=[det["taskArn"]])["tasks"][0]
        eq((t["taskArn"], t["stopCode"], t["containers"][0]["exitCode"]), (det["taskArn"], "EssentialContainerExited", 137), "DescribeTasks")
        listed = ecs.list_tasks(cluster="prod", serviceName="cfg", desiredStatus="STOPPED")["taskArns"]
        ok(det["taskArn"] in listed, "ListTasks(STOPPED)")
        eq(service("cfg")["deployments"][0]["failedTasks"], before + 1, "failedTasks counted")
        out = ctl("/ecs/task-stopped", {"cluster": "prod", "service": "cfg", "account": account, "region": region,
                                        "stopCode": "TaskFailedToStart"})
        c0 = out["event"]["detail"]["containers"][0]
        ok("exitCode" not in c0 and c0["reason"].startswith("CannotPullContainerError"), f"failed to start: {c0}")
        out = ctl("/ecs/task-stopped", {"cluster": "prod", "service": "cfg", "account": account, "region": region,
                                        "stopCode": "SpotInterruption"})
        eq((out["countedAsFailed"], out["event"]["detail"]["stoppedReason"]), (False, "Your Spot Task was interrupted."), "spot")
        eq(service("cfg")["deployments"][0]["failedTasks"], before + 2, "a Spot interruption is not a failure")
        ctl("/ecs/task-stopped", {"cluster": "prod", "service": "cfg", "account": account, "region": region, "stopCode": "Nope"}, want=400)
        ok(len(ctl("/ecs/task-events", method="GET")["events"]) >= 3, "task events logged")

    # ---- standalone tasks (RunTask, StopTask, task-exit)
    standalone(doc, ecs, ctl, net)

    @check("latency injection per operation; request log start/end; overlapping writes for one service reported")
    def _():
        rule = ctl("/latency", {"ms": 300, "service": "ecs", "operation": "UpdateService"})["rule"]
        t0 = time.monotonic()
        ecs.list_clusters()
        fast = time.monotonic() - t0
        control(doc, "DELETE", "/requests")
        t0 = time.monotonic()
        ecs.update_service(cluster="prod", service="plain", desiredCount=2)
        ok(time.monotonic() - t0 >= 0.3, "UpdateService delayed")
        ok(fast < 5, "other operations not delayed")
        r = control(doc, "GET", "/requests?operation=UpdateService")[1]["requests"][-1]
        ok(r["end"] - r["start"] >= 0.3 and r["latencyMs"] == 300, f"start/end: {r}")
        eq(ctl("/requests/overlaps", method="GET")["overlaps"], [], "sequential writes do not overlap")
        # Two writes that must overlap even on a loaded machine: both start together, each held 2 s.
        ctl("/latency", method="DELETE")
        rule = ctl("/latency", {"ms": 2000, "service": "ecs", "operation": "UpdateService"})["rule"]
        together = threading.Barrier(2)

        def write():
            together.wait(60)
            ecs.update_service(cluster="prod", service="plain", desiredCount=3)
        threads = [threading.Thread(target=write) for _ in range(2)]
        for th in threads:
            th.start()
        for th in threads:
            th.join(60)
        ov = ctl("/requests/overlaps", method="GET")["overlaps"]
        eq(len(ov), 1, f"two concurrent writes overlap: {ov}")
        eq(ov[0]["service"], f"{account}/{region}/prod/plain", "keyed by account/region/cluster/service")
        eq(ctl("/latency", method="GET")["latency"], [rule], "rules listed")
        ctl("/latency", method="DELETE")

    @check("stopped tasks are kept at least an hour on the stand's clock, then dropped (DescribeTasks MISSING, "
           "ListTasks STOPPED without them); RUNNING tasks stay")
    def _():
        svc_task = ctl("/ecs/task-stopped", {"cluster": "prod", "service": "cfg", "account": account, "region": region,
                                             "stopCode": "EssentialContainerExited"})["task"]["taskArn"]
        running = ecs.run_task(cluster="prod", taskDefinition="migrate", launchType="FARGATE", networkConfiguration=net,
                               startedBy="expiry")["tasks"][0]["taskArn"]
        stopped = ecs.run_task(cluster="prod", taskDefinition="migrate", launchType="FARGATE", networkConfiguration=net,
                               startedBy="expiry")["tasks"][0]["taskArn"]
        ecs.stop_task(cluster="prod", task=stopped)
        tick = ctl("/ecs/clock", {"advanceSeconds": 3590})
        eq([a for a in (svc_task, stopped, running) if a in tick["expiredTasks"]], [], "none of these before an hour")
        r = ecs.describe_tasks(cluster="prod", tasks=[svc_task, stopped, running])
        eq((len(r["tasks"]), r["failures"]), (3, []), "all describable within the hour")
        tick = ctl("/ecs/clock", {"advanceSeconds": 20})
        ok(svc_task in tick["expiredTasks"] and stopped in tick["expiredTasks"], f"expired: {tick['expiredTasks']}")
        ok(running not in tick["expiredTasks"], "a RUNNING task stays")
        r = ecs.describe_tasks(cluster="prod", tasks=[svc_task, stopped, running])
        eq([t["taskArn"] for t in r["tasks"]], [running], "only the RUNNING task is left")
        eq(sorted(f["arn"] for f in r["failures"]), sorted([svc_task, stopped]), "the dropped ones are MISSING")
        eq([f["reason"] for f in r["failures"]], ["MISSING", "MISSING"], "reason")
        listed = ecs.list_tasks(cluster="prod", desiredStatus="STOPPED")["taskArns"]
        ok(svc_task not in listed and stopped not in listed, "ListTasks STOPPED no longer lists them")
        ok(running in ecs.list_tasks(cluster="prod", startedBy="expiry")["taskArns"], "ListTasks RUNNING still does")
        eq(ctl("/ecs/clock", method="GET")["offsetSeconds"] >= 3610, True, "GET /ecs/clock shows the offset")
        ctl("/ecs/clock", {"advanceSeconds": -1}, want=400)


def strategies(doc, ecs, ctl, sds, service, register, rt, fn_arn, tg, net):
    region, account = doc["region"], doc["account"]
    ctl("/ecs/config", {"hookDelayScale": 0.001})
    lb = [{"targetGroupArn": tg, "containerName": "app", "containerPort": 80,
           "advancedConfiguration": {"alternateTargetGroupArn": tg.replace("cfg", "cfg-green"),
                                     "productionListenerRule": f"arn:aws:elasticloadbalancing:{region}:{account}:listener-rule/app/x/1/2/3",
                                     "roleArn": f"arn:aws:iam::{account}:role/ecs-lb"}}]
    hooks = [{"hookTargetArn": fn_arn, "roleArn": f"arn:aws:iam::{account}:role/hooks",
              "lifecycleStages": ["POST_TEST_TRAFFIC_SHIFT", "PRODUCTION_TRAFFIC_SHIFT"], "hookDetails": {"suite": "smoke"}}]
    bg = {"strategy": "BLUE_GREEN", "bakeTimeInMinutes": 10, "lifecycleHooks": hooks,
          "alarms": {"alarmNames": ["bg-5xx"], "enable": True, "rollback": True},
          "deploymentCircuitBreaker": {"enable": True, "rollback": True}}
    tds = [register("bg", f"nginx:1.{i}") for i in range(5)]

    def hooks_of(sd_arn):
        return ctl(f"/ecs/hooks?serviceDeploymentArn={urllib.parse.quote(sd_arn)}", method="GET")["invocations"]

    @check("strategy: BLUE_GREEN needs bakeTimeInMinutes; the first deployment walks the stages to SUCCESSFUL")
    def _():
        _raises(lambda: ecs.create_service(cluster="prod", serviceName="bad-bg", taskDefinition=tds[0], desiredCount=1,
                                           deploymentConfiguration={"strategy": "BLUE_GREEN"}), "InvalidParameterException")
        ecs.create_service(cluster="prod", serviceName="bluegreen", taskDefinition=tds[0], desiredCount=2, launchType="FARGATE",
                           networkConfiguration=net, loadBalancers=lb, deploymentConfiguration=bg)
        out = ctl("/ecs/advance", {"cluster": "prod", "service": "bluegreen"})
        eq(out["serviceDeployment"]["status"], "SUCCESSFUL", "first deployment done")
        eq(out["event"]["detail"]["eventName"], "SERVICE_DEPLOYMENT_COMPLETED", "COMPLETED event")

    @check("strategy: BLUE_GREEN stays IN_PROGRESS through the stages and bake time with the old revision running; "
           "hooks get the documented payload; IN_PROGRESS + callBackDelay re-invokes with hookDetails; "
           "DescribeServiceDeployments shows lifecycleHookDetails")
    def _():
        rt.answers["POST_TEST_TRAFFIC_SHIFT"] = [{"hookStatus": "IN_PROGRESS", "callBackDelay": 30, "hookDetails": {"round": 1}},
                                                 {"hookStatus": "SUCCEEDED"}]
        blue_dep = service("bluegreen")["deployments"][0]["id"]
        ecs.update_service(cluster="prod", service="bluegreen", taskDefinition=tds[1])
        sd_arn = sds("bluegreen")[0]["serviceDeploymentArn"]
        out = ctl("/ecs/advance", {"cluster": "prod", "service": "bluegreen", "steps": 1})
        eq(out["lifecycleStage"], "PRE_SCALE_UP", "first stage")
        out = ctl("/ecs/advance", {"cluster": "prod", "service": "bluegreen", "until": "BAKE_TIME"})
        eq((out["serviceDeployment"]["status"], out["lifecycleStage"]), ("IN_PROGRESS", "BAKE_TIME"), "in bake time")
        sd = ecs.describe_service_deployments(serviceDeploymentArns=[sd_arn])["serviceDeployments"][0]
        eq(sd["lifecycleStage"], "BAKE_TIME", "DescribeServiceDeployments lifecycleStage")
        eq((sd["targetServiceRevision"]["requestedProductionTrafficWeight"], sd["sourceServiceRevisions"][0]["requestedProductionTrafficWeight"]),
           (100.0, 0.0), "production traffic on green")
        s = service("bluegreen")
        eq([(d["status"], d["id"] == blue_dep) for d in s["deployments"]], [("PRIMARY", False), ("ACTIVE", True)], "blue still runs")
        inv = hooks_of(sd_arn)
        eq([(h["lifecycleStage"], h["outcome"]) for h in inv],
           [("POST_TEST_TRAFFIC_SHIFT", "IN_PROGRESS"), ("POST_TEST_TRAFFIC_SHIFT", "SUCCEEDED"), ("PRODUCTION_TRAFFIC_SHIFT", "SUCCEEDED")], "hook calls")
        p = inv[0]["payload"]
        eq(sorted(p), ["executionDetails", "executionId", "hookDetails", "lifecycleStage", "resourceArn"], "payload keys")
        eq((p["resourceArn"], p["executionDetails"]["serviceArn"], p["executionDetails"]["targetServiceRevisionArn"]),
           (sd_arn, s["serviceArn"], sd["targetServiceRevision"]["arn"]), "payload ARNs")
        eq(p["hookDetails"], {"suite": "smoke"}, "configured hookDetails")
        eq(inv[1]["payload"]["hookDetails"], {"suite": "smoke", "round": 1}, "hookDetails merged from IN_PROGRESS")
        eq(inv[1]["payload"]["executionId"], p["executionId"], "same execution")
        details = sd.get("lifecycleHookDetails") or []
        eq([(d["hookId"], d["targetType"], d["targetArn"], d["status"], d["timeoutAction"]) for d in details],
           [(p["executionId"], "AWS_LAMBDA", fn_arn, "SUCCEEDED", "ROLLBACK"),
            (inv[2]["payload"]["executionId"], "AWS_LAMBDA", fn_arn, "SUCCEEDED", "ROLLBACK")],
           "lifecycleHookDetails: one entry per hook execution, with its last status")
        ok(all(hasattr(d["expiresAt"], "timestamp") for d in details), "lifecycleHookDetails.expiresAt is a timestamp")
        eq(inv[0]["callBackDelay"], 30.0, "callBackDelay recorded")
        green, blue = sd["targetServiceRevision"]["arn"], sd["sourceServiceRevisions"][0]["arn"]
        eq(inv[2]["payload"]["executionDetails"]["productionTrafficWeights"], {green: 100.0, blue: 0.0}, "production weights")
        ok(len(rt.seen) >= 3 and rt.seen[0]["lifecycleStage"] == "POST_TEST_TRAFFIC_SHIFT", "invoked through the Lambda emulator")
        ctx_bg["sd"], ctx_bg["green"], ctx_bg["blue"], ctx_bg["blue_dep"] = sd_arn, green, blue, blue_dep

    @check("strategy: deployment alarms during bake time roll back by shifting traffic back; rollback hooks see the weights")
    def _():
        out = ctl("/ecs/deployment-state", {"cluster": "prod", "service": "bluegreen", "state": "FAILED", "cause": "alarms"})
        sd = out["serviceDeployment"]
        eq(sd["status"], "ROLLBACK_IN_PROGRESS", "rolling back")
        eq(sd["traffic"]["production"], {ctx_bg["green"]: 0.0, ctx_bg["blue"]: 100.0}, "traffic back on blue")
        eq(service("bluegreen")["deployments"][0]["id"], ctx_bg["blue_dep"], "blue's deployment PRIMARY again")
        rb = wait_for(lambda: [h for h in hooks_of(ctx_bg["sd"]) if h["rollback"]], 60, "rollback hook")
        eq(rb[0]["lifecycleStage"], "PRODUCTION_TRAFFIC_SHIFT", "re-invoked at PRODUCTION_TRAFFIC_SHIFT")
        eq(rb[0]["payload"]["executionDetails"]["productionTrafficWeights"], {ctx_bg["green"]: 0.0, ctx_bg["blue"]: 100.0}, "rollback weights")
        eq(rb[0]["payload"]["executionDetails"]["targetServiceRevisionArn"], ctx_bg["green"], "target stays green")
        out = ctl("/ecs/deployment-state", {"cluster": "prod", "service": "bluegreen", "state": "SUCCESSFUL"})
        eq(out["serviceDeployment"]["status"], "ROLLBACK_SUCCESSFUL", "rolled back")

    @check("strategy: an UpdateService runs the whole strategy again; StopServiceDeployment(ROLLBACK) in bake returns traffic")
    def _():
        ecs.update_service(cluster="prod", service="bluegreen", taskDefinition=tds[2])
        sd_arn = sds("bluegreen")[0]["serviceDeploymentArn"]
        out = ctl("/ecs/advance", {"cluster": "prod", "service": "bluegreen", "steps": 1})
        eq(out["lifecycleStage"], "PRE_SCALE_UP", "starts from the first stage")
        ctl("/ecs/advance", {"cluster": "prod", "service": "bluegreen", "until": "BAKE_TIME"})
        ecs.stop_service_deployment(serviceDeploymentArn=sd_arn, stopType="ROLLBACK")
        sd = ecs.describe_service_deployments(serviceDeploymentArns=[sd_arn])["serviceDeployments"][0]
        eq(sd["status"], "ROLLBACK_REQUESTED", "requested")
        eq((sd["targetServiceRevision"]["requestedProductionTrafficWeight"], sd["sourceServiceRevisions"][0]["requestedProductionTrafficWeight"]),
           (0.0, 100.0), "traffic back on the old revision")
        ctl("/ecs/advance", {"cluster": "prod", "service": "bluegreen"}, want=409)
        ctl("/ecs/deployment-state", {"cluster": "prod", "service": "bluegreen", "state": "IN_PROGRESS"})
        out = ctl("/ecs/deployment-state", {"cluster": "prod", "service": "bluegreen", "state": "SUCCESSFUL"})
        eq(out["serviceDeployment"]["statusHistory"][-3:], ["ROLLBACK_REQUESTED", "ROLLBACK_IN_PROGRESS", "ROLLBACK_SUCCESSFUL"], "history")

    @check("strategy: after completion the old revision is gone")
    def _():
        ecs.update_service(cluster="prod", service="bluegreen", taskDefinition=tds[3])
        sd_arn = sds("bluegreen")[0]["serviceDeploymentArn"]
        out = ctl("/ecs/deployment-state", {"cluster": "prod", "service": "bluegreen", "state": "SUCCESSFUL"})  # walks every stage
        eq(out["serviceDeployment"]["status"], "SUCCESSFUL", "done")
        ok("PRE_SCALE_UP" in [h["lifecycleStage"] for h in out["hookInvocations"]] or out["hookInvocations"], "hooks ran on the way")
        s = service("bluegreen")
        eq(len(s["deployments"]), 1, "only green runs")
        eq([r["arn"] for r in s["currentServiceRevisions"]], [sds("bluegreen")[0]["targetServiceRevisionArn"]], "currentServiceRevisions")
        _raises(lambda: ecs.stop_service_deployment(serviceDeploymentArn=sd_arn, stopType="ROLLBACK"), "ConflictException")

    @check("strategy: a hook answering FAILED, a function error, or an invalid answer rolls back")
    def _():
        for i, answer in enumerate([{"hookStatus": "FAILED"}, "ERROR", "not json", {"hookStatus": "MAYBE"}]):
            rt.answers["POST_TEST_TRAFFIC_SHIFT"] = [answer]
            ecs.update_service(cluster="prod", service="bluegreen", taskDefinition=tds[4])
            out = ctl("/ecs/advance", {"cluster": "prod", "service": "bluegreen"})
            sd = out["serviceDeployment"]
            eq(sd["status"], "ROLLBACK_IN_PROGRESS", f"{answer!r} rolls back")
            ok("lifecycle hook" in sd["rollback"]["reason"], sd["rollback"]["reason"])
            eq(out["lifecycleStage"], "POST_TEST_TRAFFIC_SHIFT", "stopped at the hook's stage")
            eq(out["hookInvocations"][-1]["outcome"] if answer != "ERROR" else out["hookInvocations"][-1]["functionError"],
               "FAILED" if answer != "ERROR" else "Unhandled", "recorded")
            ctl("/ecs/deployment-state", {"cluster": "prod", "service": "bluegreen", "state": "SUCCESSFUL"})
        rt.answers["POST_TEST_TRAFFIC_SHIFT"] = [{"hookStatus": "SUCCEEDED"}]

    @check("strategy: LINEAR and CANARY shift production traffic in steps; PRODUCTION_TRAFFIC_SHIFT hooks at every step")
    def _():
        for name, cfg, want in (("linear", {"strategy": "LINEAR", "linearConfiguration": {"stepPercent": 50.0, "stepBakeTimeInMinutes": 1}}, [50.0, 100.0]),
                                ("canary", {"strategy": "CANARY", "canaryConfiguration": {"canaryPercent": 10.0, "canaryBakeTimeInMinutes": 5}}, [10.0, 100.0])):
            cfg = dict(cfg, bakeTimeInMinutes=1, lifecycleHooks=[dict(hooks[0], lifecycleStages=["PRE_PRODUCTION_TRAFFIC_SHIFT", "PRODUCTION_TRAFFIC_SHIFT"])])
            ecs.create_service(cluster="prod", serviceName=name, taskDefinition=tds[0], desiredCount=1, deploymentConfiguration=cfg)
            ctl("/ecs/advance", {"cluster": "prod", "service": name})
            ecs.update_service(cluster="prod", service=name, taskDefinition=tds[1])
            out = ctl("/ecs/advance", {"cluster": "prod", "service": name, "until": "PRODUCTION_TRAFFIC_SHIFT"})
            eq((out["serviceDeployment"]["status"], out["lifecycleStage"]), ("IN_PROGRESS", "PRODUCTION_TRAFFIC_SHIFT"), f"{name} step 1")
            green = out["serviceDeployment"]["targetServiceRevision"]["arn"]
            eq(out["serviceDeployment"]["traffic"]["production"][green], want[0], f"{name} first weight")
            out = ctl("/ecs/advance", {"cluster": "prod", "service": name})
            eq(out["serviceDeployment"]["status"], "SUCCESSFUL", f"{name} done")
            calls = [(h["lifecycleStage"], h["payload"]["executionDetails"]["productionTrafficWeights"].get(green))
                     for h in hooks_of(out["serviceDeployment"]["serviceDeploymentArn"])]
            eq(calls, [("PRE_PRODUCTION_TRAFFIC_SHIFT", 0.0), ("PRODUCTION_TRAFFIC_SHIFT", want[0]),
                       ("PRE_PRODUCTION_TRAFFIC_SHIFT", want[0]), ("PRODUCTION_TRAFFIC_SHIFT", want[1])], f"{name} hook calls")
        ctl("/ecs/advance", {"cluster": "prod", "service": "plain"}, want=409)

    @check("strategy: a revision's resolvedConfiguration names the target group that did not serve production "
           "when it was created: alternate, primary, alternate ... per completed deployment; a rollback leaves "
           "production where it was; DescribeServices keeps the configured loadBalancers")
    def _():
        primary, alternate = lb[0]["targetGroupArn"], lb[0]["advancedConfiguration"]["alternateTargetGroupArn"]
        rule = lb[0]["advancedConfiguration"]["productionListenerRule"]
        cfg = {"strategy": "BLUE_GREEN", "bakeTimeInMinutes": 1,
               "alarms": {"alarmNames": ["tg-5xx"], "enable": True, "rollback": True}}

        def resolved(i=0):
            rev_arn = sds("tgswap")[i]["targetServiceRevisionArn"]
            rev = ecs.describe_service_revisions(serviceRevisionArns=[rev_arn])["serviceRevisions"][0]
            eq(rev["loadBalancers"][0]["targetGroupArn"], primary, "ServiceRevision.loadBalancers echoes the configuration")
            return rev["resolvedConfiguration"]["loadBalancers"]

        ecs.create_service(cluster="prod", serviceName="tgswap", taskDefinition=tds[0], desiredCount=1, launchType="FARGATE",
                           networkConfiguration=net, loadBalancers=lb, deploymentConfiguration=cfg)
        eq(resolved(), [{"targetGroupArn": alternate, "productionListenerRule": rule}], "first deployment: alternate")
        ctl("/ecs/advance", {"cluster": "prod", "service": "tgswap"})
        ecs.update_service(cluster="prod", service="tgswap", taskDefinition=tds[1])
        eq(resolved()[0]["targetGroupArn"], primary, "second deployment: primary (alternate serves production)")
        ctl("/ecs/advance", {"cluster": "prod", "service": "tgswap"})
        ecs.update_service(cluster="prod", service="tgswap", taskDefinition=tds[2])
        eq(resolved()[0]["targetGroupArn"], alternate, "third deployment: alternate again")
        ctl("/ecs/advance", {"cluster": "prod", "service": "tgswap", "until": "BAKE_TIME"})
        out = ctl("/ecs/deployment-state", {"cluster": "prod", "service": "tgswap", "state": "FAILED", "cause": "alarms"})
        eq(out["serviceDeployment"]["status"], "ROLLBACK_IN_PROGRESS", "third deployment rolls back")
        ctl("/ecs/deployment-state", {"cluster": "prod", "service": "tgswap", "state": "SUCCESSFUL"})
        eq(resolved()[0]["targetGroupArn"], alternate, "the rolled-back revision keeps its target group")
        eq(resolved(1)[0]["targetGroupArn"], primary, "the revision production went back to: primary")
        ecs.update_service(cluster="prod", service="tgswap", taskDefinition=tds[3])
        eq(resolved()[0]["targetGroupArn"], alternate, "after the rollback production stayed on primary: alternate")
        ecs.update_service(cluster="prod", service="tgswap", taskDefinition=tds[4])
        eq(resolved()[0]["targetGroupArn"], alternate, "a superseded deployment moved nothing: alternate again")
        eq(service("tgswap")["loadBalancers"], lb, "DescribeServices: the configured loadBalancers")


def current(doc, ecs, ctl, sds, service, register, tg, net):  # noqa: C901 - one check per behaviour
    """ECS as documented in 2026: circuit-breaker thresholdConfiguration and resetOnHealthyTask,
    the breaker tripping by itself, pause hooks and ContinueServiceDeployment, LINEAR/CANARY
    defaults, StopServiceDeployment's stop types and stoppedAt."""
    region, account = doc["region"], doc["account"]
    td1, td2, td3 = register("cb", "nginx:1.1"), register("cb", "nginx:1.2"), register("cb", "nginx:1.3")

    def service_in(cluster, name, **kw):
        return ecs.describe_services(cluster=cluster, services=[name], **kw)["services"][0]

    def sd_of(name, i=0):
        return ecs.describe_service_deployments(serviceDeploymentArns=[sds(name)[i]["serviceDeploymentArn"]])["serviceDeployments"][0]

    def cb_service(name, desired, cb, **cfg):
        ecs.create_service(cluster="prod", serviceName=name, taskDefinition=td1, desiredCount=desired,
                           deploymentConfiguration=dict({"deploymentCircuitBreaker": cb}, **cfg))

    def good_then_new(name, desired, cb, **cfg):
        """A service whose first deployment completed, and a second one in progress."""
        cb_service(name, desired, cb, **cfg)
        ctl("/ecs/deployment-state", {"cluster": "prod", "service": name, "state": "SUCCESSFUL"})
        ecs.update_service(cluster="prod", service=name, taskDefinition=td2)

    def stop(name, code="EssentialContainerExited", **extra):
        return ctl("/ecs/task-stopped", dict({"cluster": "prod", "service": name, "stopCode": code}, **extra))

    @check("circuit breaker: thresholdConfiguration COUNT n = n, BOUNDED_PERCENT clamped 3..200, UNBOUNDED_PERCENT "
           "unclamped, default 50 % of the desired count; recomputed from the latest desired count; invalid ones refused")
    def _():
        cases = [("th-default", 1, None, 3), ("th-default10", 10, None, 5), ("th-default7", 7, None, 4),
                 ("th-big", 1000, None, 200), ("th-count", 10, {"type": "COUNT", "value": 7}, 7),
                 ("th-bounded", 10, {"type": "BOUNDED_PERCENT", "value": 10}, 3),
                 ("th-unbounded", 10, {"type": "UNBOUNDED_PERCENT", "value": 10}, 1),
                 ("th-unbounded-big", 1000, {"type": "UNBOUNDED_PERCENT", "value": 50}, 500)]
        for name, desired, tc, want in cases:
            cb = {"enable": True, "rollback": False}
            if tc:
                cb["thresholdConfiguration"] = tc
            cb_service(name, desired, cb)
            got = sd_of(name)["deploymentCircuitBreaker"]
            eq((got["threshold"], got["failureCount"], got["status"]), (want, 0, "MONITORING"), f"{name} ({desired}, {tc})")
        eq(service("th-count")["deploymentConfiguration"]["deploymentCircuitBreaker"]["thresholdConfiguration"],
           {"type": "COUNT", "value": 7}, "DescribeServices echoes the threshold configuration")
        cb_service("th-follow", 1, {"enable": True, "rollback": False})
        eq(sd_of("th-follow")["deploymentCircuitBreaker"]["threshold"], 3, "desired 1")
        ecs.update_service(cluster="prod", service="th-follow", desiredCount=10)
        eq(sd_of("th-follow")["deploymentCircuitBreaker"]["threshold"], 5, "desired 1 -> 10: the latest desired count")
        ecs.update_service(cluster="prod", service="th-follow", desiredCount=100)
        eq(sd_of("th-follow")["deploymentCircuitBreaker"]["threshold"], 50, "desired 100")
        for bad in ({"type": "SOMETIMES", "value": 3}, {"type": "COUNT", "value": 0}):
            _raises(lambda: cb_service("th-bad", 1, {"enable": True, "rollback": False, "thresholdConfiguration": bad}),
                    "InvalidParameterException")

    @check("circuit breaker: trips by itself at the threshold, exactly as deployment-state FAILED does (rollback: "
           "FAILED + the earlier deployment IN_PROGRESS; no rollback: STOP_REQUESTED + FAILED); failures of "
           "another deployment and non-failures do not count")
    def _():
        cb = {"enable": True, "rollback": True, "thresholdConfiguration": {"type": "COUNT", "value": 3}}
        good_then_new("trip", 2, cb)
        good_then_new("trip-twin", 2, cb)
        new_id = service("trip")["deployments"][0]["id"]
        old_id = service("trip")["deployments"][1]["id"]
        out = stop("trip")
        eq([e["detail"]["eventName"] for e in out["deploymentEvents"]], ["SERVICE_DEPLOYMENT_IN_PROGRESS"], "first task: started")
        eq((out["circuitBreakerThresholdReached"], out["circuitBreakerTripped"], out["deploymentEvent"]), (False, False, None), "1 of 3")
        out = stop("trip", "SpotInterruption")
        eq(out["countedAsFailed"], False, "a Spot interruption is not a failure")
        out = stop("trip", "TaskFailedToStart", deploymentId=old_id)
        eq(out["countedAsFailed"], True, "a failure of the old deployment...")
        eq(sd_of("trip")["deploymentCircuitBreaker"]["failureCount"], 1, "...does not count for the new one")
        out = stop("trip")
        eq(out["circuitBreakerTripped"], False, "2 of 3")
        out = stop("trip", "TaskFailedToStart")
        eq((out["circuitBreakerThresholdReached"], out["circuitBreakerTripped"]), (True, True), "3 of 3: tripped")
        names = [e["detail"]["eventName"] for e in out["deploymentEvents"]]
        eq(names, ["SERVICE_DEPLOYMENT_FAILED", "SERVICE_DEPLOYMENT_IN_PROGRESS"], "events")
        eq(out["deploymentEvent"], out["deploymentEvents"][0], "main event: FAILED")
        eq(out["deploymentEvents"][0]["detail"]["deploymentId"], new_id, "FAILED names the new deployment")
        eq(out["deploymentEvents"][1]["detail"]["deploymentId"], old_id, "the rollback: the earlier deployment")
        eq(out["serviceDeployment"]["status"], "ROLLBACK_IN_PROGRESS", "rolling back")
        # the twin moved by the control op: the same events and texts
        ctl("/ecs/deployment-state", {"cluster": "prod", "service": "trip-twin", "state": "IN_PROGRESS"})
        twin = ctl("/ecs/deployment-state", {"cluster": "prod", "service": "trip-twin", "state": "FAILED"})
        eq([(e["detail"]["eventName"], e["detail"]["eventType"], e["detail"]["reason"].replace(e["detail"]["deploymentId"], "ID"))
            for e in out["deploymentEvents"]],
           [(e["detail"]["eventName"], e["detail"]["eventType"], e["detail"]["reason"].replace(e["detail"]["deploymentId"], "ID"))
            for e in twin["events"]], "the same events as deployment-state FAILED")
        eq(sd_of("trip")["statusReason"], sd_of("trip-twin")["statusReason"], "the same statusReason")
        ctl("/ecs/task-stopped", {"cluster": "prod", "service": "trip", "stopCode": "EssentialContainerExited"})
        eq(sd_of("trip")["status"], "ROLLBACK_IN_PROGRESS", "failures after the trip change nothing")
        good_then_new("trip-stop", 4, {"enable": True, "rollback": False})
        for _ in range(2):
            stop("trip-stop")
        out = stop("trip-stop")
        eq([e["detail"]["eventName"] for e in out["deploymentEvents"]], ["SERVICE_DEPLOYMENT_FAILED"], "no rollback: FAILED only")
        eq(out["serviceDeployment"]["status"], "STOP_REQUESTED", "stopping")
        cb_service("trip-off", 1, {"enable": False, "rollback": False})
        for _ in range(4):
            out = stop("trip-off")
        eq((out["circuitBreakerTripped"], sd_of("trip-off")["status"]), (False, "IN_PROGRESS"), "breaker off: never trips")

    @check("circuit breaker: resetOnHealthyTask (default true) - a task of the deployment reaching RUNNING and healthy "
           "resets failureCount and failedTasks to 0; false keeps them")
    def _():
        cb = {"enable": True, "rollback": False, "thresholdConfiguration": {"type": "COUNT", "value": 3}}
        for name, extra, reset in (("reset-default", {}, True), ("reset-on", {"resetOnHealthyTask": True}, True),
                                   ("reset-off", {"resetOnHealthyTask": False}, False)):
            good_then_new(name, 2, dict(cb, **extra))
            stop(name)
            stop(name)
            eq(sd_of(name)["deploymentCircuitBreaker"]["failureCount"], 2, f"{name}: two failures")
            out = ctl("/ecs/task-healthy", {"cluster": "prod", "service": name})
            eq(out["failureCountReset"], reset, f"{name}: reset")
            eq((out["event"]["detail"]["lastStatus"], out["event"]["detail"]["healthStatus"], out["task"]["startedBy"]),
               ("RUNNING", "HEALTHY", service(name)["deployments"][0]["id"]), "the task's RUNNING state change")
            want = 0 if reset else 2
            eq(sd_of(name)["deploymentCircuitBreaker"]["failureCount"], want, f"{name}: failureCount")
            eq(service(name)["deployments"][0]["failedTasks"], want, f"{name}: Deployment.failedTasks")
            ok(out["task"]["taskArn"] in ecs.list_tasks(cluster="prod", serviceName=name)["taskArns"], "ListTasks RUNNING")
            out = stop(name)
            eq(out["circuitBreakerTripped"], not reset, f"{name}: the next failure {'trips' if not reset else 'is 1 of 3'}")

    @check("DescribeServices / DescribeServiceDeployments report deploymentCircuitBreaker {status, failureCount, "
           "threshold}, Deployment.failedTasks and, for an alarm rollback, alarms {status, alarmNames, "
           "triggeredAlarmNames} in the model's shapes")
    def _():
        sd = sd_of("trip")
        eq(sd["deploymentCircuitBreaker"], {"status": "TRIGGERED", "failureCount": 3, "threshold": 3}, "circuit breaker")
        failed = next(d for d in service("trip")["deployments"] if d["rolloutState"] == "FAILED")
        eq(failed["failedTasks"], 3, "failedTasks of the failed deployment")
        cb_service("alarm-rb", 2, {"enable": False, "rollback": False},
                   alarms={"alarmNames": ["alarm-rb-5xx", "alarm-rb-latency"], "enable": True, "rollback": True})
        ctl("/ecs/deployment-state", {"cluster": "prod", "service": "alarm-rb", "state": "SUCCESSFUL"})
        ecs.update_service(cluster="prod", service="alarm-rb", taskDefinition=td2)
        out = ctl("/ecs/deployment-state", {"cluster": "prod", "service": "alarm-rb", "state": "FAILED", "cause": "alarms",
                                            "alarmNames": ["alarm-rb-5xx"]})
        eq(out["serviceDeployment"]["status"], "ROLLBACK_IN_PROGRESS", "alarm rollback")
        sd = sd_of("alarm-rb")
        eq(sd["alarms"], {"status": "TRIGGERED", "alarmNames": ["alarm-rb-5xx", "alarm-rb-latency"],
                          "triggeredAlarmNames": ["alarm-rb-5xx"]}, "alarms")
        eq(sd["deploymentCircuitBreaker"]["status"], "DISABLED", "breaker off")
        for what, shape in (("deploymentCircuitBreaker", "ServiceDeploymentCircuitBreaker"), ("alarms", "ServiceDeploymentAlarms")):
            members = set(ECS_MODEL.shape_for(shape).members)
            eq(set(sd[what]) - members, set(), f"{what} members are the model's")
        ok("triggeredAlarmNames" in ECS_MODEL.shape_for("ServiceDeploymentAlarms").members, "model has triggeredAlarmNames")

    @check("BLUE_GREEN: a fresh deployment reports its lifecycleStage from the start (PRE_SCALE_UP; RECONCILE_SERVICE "
           "with more than one ACTIVE source revision)")
    def _():
        ecs.create_service(cluster="prod", serviceName="bg-fresh", taskDefinition=td1, desiredCount=1,
                           deploymentConfiguration={"strategy": "BLUE_GREEN", "bakeTimeInMinutes": 1})
        first = sd_of("bg-fresh")
        eq((first["status"], first.get("lifecycleStage")), ("PENDING", "PRE_SCALE_UP"), "first deployment")
        ctl("/ecs/advance", {"cluster": "prod", "service": "bg-fresh"})
        ecs.update_service(cluster="prod", service="bg-fresh", taskDefinition=td2)
        eq(sd_of("bg-fresh").get("lifecycleStage"), "PRE_SCALE_UP", "second deployment, one source")
        ecs.update_service(cluster="prod", service="bg-fresh", taskDefinition=td3)
        eq(sd_of("bg-fresh").get("lifecycleStage"), "RECONCILE_SERVICE", "two ACTIVE source revisions")
        out = ctl("/ecs/advance", {"cluster": "prod", "service": "bg-fresh", "steps": 1})
        eq(out["lifecycleStage"], "RECONCILE_SERVICE", "the walk starts at the stage shown")
        ok("lifecycleStage" not in sd_of("trip"), "a rolling deployment without hooks has no lifecycleStage")

    @check("LINEAR / CANARY without linearConfiguration / canaryConfiguration: ECS's defaults (stepPercent 10, "
           "canaryPercent 5); stepPercent 3.0-100.0 and canaryPercent 0.1-100.0 in steps of 0.1, bake times 0-1440")
    def _():
        for name, strategy, first_weight, n_steps in (("lin-default", "LINEAR", 10.0, 10), ("can-default", "CANARY", 5.0, 2)):
            ecs.create_service(cluster="prod", serviceName=name, taskDefinition=td1, desiredCount=1,
                               deploymentConfiguration={"strategy": strategy, "bakeTimeInMinutes": 1})
            ctl("/ecs/advance", {"cluster": "prod", "service": name})
            ecs.update_service(cluster="prod", service=name, taskDefinition=td2)
            out = ctl("/ecs/advance", {"cluster": "prod", "service": name, "until": "PRODUCTION_TRAFFIC_SHIFT"})
            green = out["serviceDeployment"]["targetServiceRevision"]["arn"]
            eq(out["serviceDeployment"]["traffic"]["production"][green], first_weight, f"{name}: first step")
            eq(out["serviceDeployment"]["plan"].count("PRODUCTION_TRAFFIC_SHIFT"), n_steps, f"{name}: production steps")
        good = [("linearConfiguration", {"stepPercent": 3.0}), ("linearConfiguration", {"stepPercent": 100.0}),
                ("canaryConfiguration", {"canaryPercent": 0.1}), ("canaryConfiguration", {"canaryPercent": 12.5}),
                ("linearConfiguration", {"stepPercent": 10.0, "stepBakeTimeInMinutes": 1440})]
        bad = [("linearConfiguration", {"stepPercent": 2.9}), ("linearConfiguration", {"stepPercent": 100.1}),
               ("linearConfiguration", {"stepPercent": 3.05}), ("canaryConfiguration", {"canaryPercent": 0.05}),
               ("canaryConfiguration", {"canaryPercent": 101.0}), ("linearConfiguration", {"stepBakeTimeInMinutes": 1441}),
               ("canaryConfiguration", {"canaryBakeTimeInMinutes": -1})]
        for i, (key, sub) in enumerate(good):
            strategy = "LINEAR" if key == "linearConfiguration" else "CANARY"
            ecs.create_service(cluster="prod", serviceName=f"range-ok-{i}", taskDefinition=td1, desiredCount=1,
                               deploymentConfiguration={"strategy": strategy, "bakeTimeInMinutes": 1, key: sub})
        for key, sub in bad:
            strategy = "LINEAR" if key == "linearConfiguration" else "CANARY"
            _raises(lambda: ecs.create_service(cluster="prod", serviceName="range-bad", taskDefinition=td1, desiredCount=1,
                                               deploymentConfiguration={"strategy": strategy, "bakeTimeInMinutes": 1, key: sub}),
                    "InvalidParameterException")

    fixture = json.load(open(os.path.join(HERE, "..", "..", "events", "ecs-hook-state-change.json")))

    def check_hook_event(ev, name, stage, hook_id, sd_arn):
        eq(sorted(ev), sorted(fixture), "envelope keys as the fixture")
        eq(sorted(ev["detail"]), sorted(fixture["detail"]), "detail keys as the fixture")
        eq((ev["detail-type"], ev["source"], ev["account"], ev["region"], ev["resources"]),
           ("ECS Hook State Change", "aws.ecs", account, region, [f"arn:aws:ecs:{region}:{account}:service/prod/{name}"]), "envelope")
        eq((ev["detail"]["eventName"], ev["detail"]["lifecycleStage"], ev["detail"]["hookId"], ev["detail"]["serviceDeploymentArn"],
            ev["detail"]["clusterArn"]),
           ("HOOK_AWAITING_ACTION", stage, hook_id, sd_arn, f"arn:aws:ecs:{region}:{account}:cluster/prod"), "detail")
        ok(re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", ev["detail"]["updatedAt"]), ev["detail"]["updatedAt"])

    pause_at = lambda *stages, **timeout: {"targetType": "PAUSE", "lifecycleStages": list(stages),
                                           **({"timeoutConfiguration": timeout} if timeout else {})}

    def paused_service(name, strategy, hooks, **cfg):
        base = {"strategy": strategy, **({"bakeTimeInMinutes": 1} if strategy != "ROLLING" else {}), **cfg}
        ecs.create_service(cluster="prod", serviceName=name, taskDefinition=td1, desiredCount=2, deploymentConfiguration=base)
        ctl("/ecs/deployment-state", {"cluster": "prod", "service": name, "state": "SUCCESSFUL"})
        ecs.update_service(cluster="prod", service=name, taskDefinition=td2,
                           deploymentConfiguration=dict(base, lifecycleHooks=hooks))

    @check("pause hooks: a PAUSE hook holds a BLUE_GREEN deployment at its stage (AWAITING_ACTION, "
           "ECS Hook State Change HOOK_AWAITING_ACTION as the events/ fixture); advance stays; "
           "ContinueServiceDeployment CONTINUE moves it on")
    def _():
        paused_service("pause-bg", "BLUE_GREEN", [pause_at("POST_TEST_TRAFFIC_SHIFT")])
        sd_arn = sds("pause-bg")[0]["serviceDeploymentArn"]
        out = ctl("/ecs/advance", {"cluster": "prod", "service": "pause-bg"})
        held = out["awaitingAction"]
        ok(held and re.fullmatch(r"ecs-pause-[A-Za-z0-9_-]{43}", held["hookId"]), f"held: {held}")
        eq((out["serviceDeployment"]["status"], out["lifecycleStage"], held["lifecycleStage"]),
           ("IN_PROGRESS", "POST_TEST_TRAFFIC_SHIFT", "POST_TEST_TRAFFIC_SHIFT"), "held at its stage")
        eq(out["event"], held["event"], "advance's event: the ECS Hook State Change")
        check_hook_event(out["event"], "pause-bg", "POST_TEST_TRAFFIC_SHIFT", held["hookId"], sd_arn)
        detail = sd_of("pause-bg")["lifecycleHookDetails"]
        eq([(d["hookId"], d["targetType"], d["status"], d["timeoutAction"], "targetArn" in d) for d in detail],
           [(held["hookId"], "PAUSE", "AWAITING_ACTION", "ROLLBACK", False)], "lifecycleHookDetails")
        ok(1439 * 60 < detail[0]["expiresAt"].timestamp() - time.time() < 1441 * 60 + 7200, "expiresAt: default 1440 minutes")
        again = ctl("/ecs/advance", {"cluster": "prod", "service": "pause-bg"})
        eq((again["awaitingAction"]["hookId"], again["lifecycleStage"], again["serviceDeployment"]["status"]),
           (held["hookId"], "POST_TEST_TRAFFIC_SHIFT", "IN_PROGRESS"), "advance again: still held")
        again = ctl("/ecs/deployment-state", {"cluster": "prod", "service": "pause-bg", "state": "SUCCESSFUL"})
        eq(again["serviceDeployment"]["status"], "IN_PROGRESS", "deployment-state SUCCESSFUL walks up to the hold too")
        hook_events = ctl(f"/ecs/hook-events?serviceDeploymentArn={urllib.parse.quote(sd_arn)}", method="GET")["events"]
        eq([e["detail"]["hookId"] for e in hook_events], [held["hookId"]], "one HOOK_AWAITING_ACTION, logged")
        _raises(lambda: ecs.continue_service_deployment(serviceDeploymentArn=sd_arn, hookId="ecs-pause-nope"), "InvalidParameterException")
        eq(ecs.continue_service_deployment(serviceDeploymentArn=sd_arn, hookId=held["hookId"], action="CONTINUE")["serviceDeploymentArn"],
           sd_arn, "ContinueServiceDeployment answers the ARN")
        eq(sd_of("pause-bg")["lifecycleHookDetails"][0]["status"], "SUCCEEDED", "the hook SUCCEEDED")
        _raises(lambda: ecs.continue_service_deployment(serviceDeploymentArn=sd_arn, hookId=held["hookId"]), "InvalidParameterException")
        out = ctl("/ecs/advance", {"cluster": "prod", "service": "pause-bg"})
        eq((out["serviceDeployment"]["status"], out["awaitingAction"]), ("SUCCESSFUL", None), "moved on to the end")
        _raises(lambda: ecs.continue_service_deployment(serviceDeploymentArn=sd_arn, hookId=held["hookId"]), "InvalidParameterException")
        _raises(lambda: ecs.continue_service_deployment(serviceDeploymentArn=sd_arn + "x", hookId=held["hookId"]),
                "ServiceDeploymentNotFoundException")

    @check("pause hooks: ContinueServiceDeployment ROLLBACK rolls back as a failed hook does (SERVICE_DEPLOYMENT_FAILED, "
           "the earlier deployment IN_PROGRESS); a rolling deployment holds at its stage too; the timeout action "
           "applies when the stand's clock passes expiresAt; PAUSE stages and AWS_LAMBDA targets validated")
    def _():
        paused_service("pause-rb", "CANARY", [pause_at("PRE_PRODUCTION_TRAFFIC_SHIFT")])
        sd_arn = sds("pause-rb")[0]["serviceDeploymentArn"]
        out = ctl("/ecs/advance", {"cluster": "prod", "service": "pause-rb"})
        held = out["awaitingAction"]
        eq((held["lifecycleStage"], out["lifecycleStage"]), ("PRE_PRODUCTION_TRAFFIC_SHIFT", "POST_TEST_TRAFFIC_SHIFT"),
           "held before the production shift (the stage shown stays the previous one)")
        n = len(ctl("/ecs/events", method="GET")["events"])
        ecs.continue_service_deployment(serviceDeploymentArn=sd_arn, hookId=held["hookId"], action="ROLLBACK")
        evs = ctl("/ecs/events", method="GET")["events"][n:]
        eq([e["detail"]["eventName"] for e in evs], ["SERVICE_DEPLOYMENT_FAILED", "SERVICE_DEPLOYMENT_IN_PROGRESS"], "events")
        sd = sd_of("pause-rb")
        eq((sd["status"], sd["lifecycleHookDetails"][0]["status"]), ("ROLLBACK_IN_PROGRESS", "FAILED"), "rolled back")
        ok(held["hookId"] in sd["rollback"]["reason"], sd["rollback"]["reason"])
        # rolling deployments hold too
        paused_service("pause-roll", "ROLLING", [pause_at("POST_SCALE_UP")])
        sd = sd_of("pause-roll")
        eq(sd.get("lifecycleStage"), "PRE_SCALE_UP", "a rolling deployment with hooks shows its first stage")
        out = ctl("/ecs/deployment-state", {"cluster": "prod", "service": "pause-roll", "state": "SUCCESSFUL"})
        held = out["awaitingAction"]
        eq((out["serviceDeployment"]["status"], held["lifecycleStage"], out["event"]["detail-type"]),
           ("IN_PROGRESS", "POST_SCALE_UP", "ECS Hook State Change"), "held at POST_SCALE_UP")
        ecs.continue_service_deployment(serviceDeploymentArn=sd["serviceDeploymentArn"], hookId=held["hookId"])
        out = ctl("/ecs/advance", {"cluster": "prod", "service": "pause-roll"})
        eq((out["serviceDeployment"]["status"], out["event"]["detail"]["eventName"]), ("SUCCESSFUL", "SERVICE_DEPLOYMENT_COMPLETED"),
           "CONTINUE (action defaults to CONTINUE), then done")
        ok("lifecycleStage" not in sd_of("pause-roll"), "a completed deployment is in no stage")
        # the timeout: CONTINUE after 1 minute on the stand's clock
        paused_service("pause-timeout", "ROLLING", [pause_at("PRE_SCALE_UP", timeoutInMinutes=1, action="CONTINUE")])
        out = ctl("/ecs/advance", {"cluster": "prod", "service": "pause-timeout"})
        eq(out["awaitingAction"]["lifecycleStage"], "PRE_SCALE_UP", "held")
        ctl("/ecs/clock", {"advanceSeconds": 30})
        eq(sd_of("pause-timeout")["lifecycleHookDetails"][0]["status"], "AWAITING_ACTION", "not yet")
        tick = ctl("/ecs/clock", {"advanceSeconds": 31})
        sd = sd_of("pause-timeout")
        eq((sd["lifecycleHookDetails"][0]["status"], sd["status"]), ("TIMED_OUT", "IN_PROGRESS"), "timed out, continues")
        eq(ctl("/ecs/advance", {"cluster": "prod", "service": "pause-timeout"})["serviceDeployment"]["status"], "SUCCESSFUL", "on")
        paused_service("pause-timeout-rb", "ROLLING", [pause_at("POST_SCALE_UP", timeoutInMinutes=2)])
        ctl("/ecs/advance", {"cluster": "prod", "service": "pause-timeout-rb"})
        tick = ctl("/ecs/clock", {"advanceSeconds": 121})
        eq([e["detail"]["eventName"] for e in tick["events"]
             if e["resources"] == [f"arn:aws:ecs:{region}:{account}:service/prod/pause-timeout-rb"]],
           ["SERVICE_DEPLOYMENT_FAILED", "SERVICE_DEPLOYMENT_IN_PROGRESS"], "the default timeout action ROLLBACK")
        eq(sd_of("pause-timeout-rb")["status"], "ROLLBACK_IN_PROGRESS", "rolled back")
        for hooks in ([pause_at("PRODUCTION_TRAFFIC_SHIFT")], [pause_at("TEST_TRAFFIC_SHIFT")],
                      [{"targetType": "AWS_LAMBDA", "lifecycleStages": ["POST_SCALE_UP"]}],
                      [pause_at("POST_SCALE_UP", timeoutInMinutes=20161)]):
            _raises(lambda: ecs.create_service(cluster="prod", serviceName="pause-bad", taskDefinition=td1, desiredCount=1,
                                               deploymentConfiguration={"strategy": "BLUE_GREEN", "bakeTimeInMinutes": 1,
                                                                        "lifecycleHooks": hooks}), "InvalidParameterException")

    @check("StopServiceDeployment: stopType ABORT refused with InvalidParameterException (\"The valid values are "
           "ROLLBACK\"), nothing changes; ROLLBACK sets stoppedAt")
    def _():
        good_then_new("stopper", 1, {"enable": False, "rollback": False})
        sd_arn = sds("stopper")[0]["serviceDeploymentArn"]
        ctl("/ecs/deployment-state", {"cluster": "prod", "service": "stopper", "state": "IN_PROGRESS"})
        e = _raises(lambda: ecs.stop_service_deployment(serviceDeploymentArn=sd_arn, stopType="ABORT"), "InvalidParameterException")
        ok("ROLLBACK" in e.response["Error"]["Message"], e.response["Error"]["Message"])
        sd = sd_of("stopper")
        eq((sd["status"], "stoppedAt" in sd), ("IN_PROGRESS", False), "ABORT changed nothing")
        before = time.time()
        ecs.stop_service_deployment(serviceDeploymentArn=sd_arn, stopType="ROLLBACK")
        sd = sd_of("stopper")
        eq(sd["status"], "ROLLBACK_REQUESTED", "rollback requested")
        ok("stoppedAt" in sd and sd["stoppedAt"].timestamp() >= before - 1, f"stoppedAt set: {sd.get('stoppedAt')}")
        stopped = sd["stoppedAt"]
        ecs.stop_service_deployment(serviceDeploymentArn=sd_arn)  # continues the rollback
        eq(sd_of("stopper")["stoppedAt"], stopped, "stopping again keeps stoppedAt")

    def express_checks(out, got, want, tags, alarm, cw):
        for k, v in want.items():
            eq(got.get(k), v, f"DescribeServices {k} as the fixture")
        problems: list[str] = []
        validate(got, ECS_MODEL.shape_for("Service"), "service", problems)
        ok(not problems, "not a Service:\n  " + "\n  ".join(problems))
        described = service_in("prod", "express-web", include=["TAGS"])
        eq((described["resourceManagementType"], described["createdBy"], described["tags"]),
           ("ECS", want["createdBy"], tags), "DescribeServices through the API")
        eq(got["deploymentConfiguration"]["alarms"]["alarmNames"], [alarm], "the built-in alarm guards deployments")
        found = cw.describe_alarms(AlarmNames=[alarm])["MetricAlarms"]
        eq([(a["AlarmName"], a["Threshold"], a["EvaluationPeriods"], a["DatapointsToAlarm"]) for a in found],
           [(alarm, 1.0, 3, 2)], "the alarm in CloudWatch: > 1 % for 2 of 3 minutes")
        rev = ecs.describe_service_revisions(serviceRevisionArns=[sds("express-web")[0]["targetServiceRevisionArn"]])["serviceRevisions"][0]
        eq([m["arn"] for m in rev["ecsManagedResources"]["metricAlarms"]], [found[0]["AlarmArn"]], "ecsManagedResources")
        td = ecs.describe_task_definition(taskDefinition=got["taskDefinition"])["taskDefinition"]
        eq(([c["name"] for c in td["containerDefinitions"]], td["requiresCompatibilities"], td["networkMode"]),
           (["Main"], ["FARGATE"], "awsvpc"), "task definition: the container Main")
        # the API
        created = ecs.create_express_gateway_service(
            serviceName="express-api", cluster="prod", infrastructureRoleArn=f"arn:aws:iam::{account}:role/infra",
            executionRoleArn=f"arn:aws:iam::{account}:role/exec", primaryContainer={"image": "nginx:1.27", "containerPort": 8080},
            tags=tags)["service"]
        eq((created["serviceName"], created["status"]["statusCode"], created["infrastructureRoleArn"]),
           ("express-api", "ACTIVE", f"arn:aws:iam::{account}:role/infra"), "CreateExpressGatewayService")
        eq(created["activeConfigurations"][0]["primaryContainer"]["containerPort"], 8080, "container port")
        d = ecs.describe_express_gateway_service(serviceArn=created["serviceArn"], include=["TAGS"])["service"]
        eq((d["serviceArn"], d["tags"], d["currentDeployment"]), (created["serviceArn"], tags, sds("express-api")[0]["serviceDeploymentArn"]),
           "DescribeExpressGatewayService")
        ok("tags" not in ecs.describe_express_gateway_service(serviceArn=created["serviceArn"])["service"], "tags only when asked")
        s = service_in("prod", "express-api")
        eq((s["resourceManagementType"], s["createdBy"], s["deploymentConfiguration"]["strategy"],
            s["loadBalancers"][0]["containerPort"]), ("ECS", f"arn:aws:iam::{account}:role/infra", "CANARY", 8080), "an ordinary ECS service")
        _raises(lambda: ecs.describe_express_gateway_service(serviceArn=created["serviceArn"] + "x"), "ResourceNotFoundException")
        _raises(lambda: ecs.create_express_gateway_service(serviceName="express-api", cluster="prod",
                                                           infrastructureRoleArn=f"arn:aws:iam::{account}:role/infra",
                                                           primaryContainer={"image": "nginx:1.27"}), "InvalidParameterException")
        # deployments: CANARY 5 % then 100 %, guarded by the built-in alarm
        ctl("/ecs/advance", {"cluster": "prod", "service": "express-web"})
        ecs.update_service(cluster="prod", service="express-web", forceNewDeployment=True)
        walk = ctl("/ecs/advance", {"cluster": "prod", "service": "express-web", "until": "PRODUCTION_TRAFFIC_SHIFT"})
        green = walk["serviceDeployment"]["targetServiceRevision"]["arn"]
        eq(walk["serviceDeployment"]["traffic"]["production"][green], 5.0, "the canary step")
        failed = ctl("/ecs/deployment-state", {"cluster": "prod", "service": "express-web", "state": "FAILED", "cause": "alarms"})
        eq((failed["serviceDeployment"]["status"], failed["serviceDeployment"]["alarms"]["triggeredAlarmNames"]),
           ("ROLLBACK_IN_PROGRESS", [alarm]), "the built-in alarm rolls it back")

    @check("Express Mode: the control op creates an ordinary ECS service as express-service.json describes it "
           "(CANARY 5 %, the built-in deployment alarm with rollback, createdBy, resourceManagementType ECS, tags); "
           "CreateExpressGatewayService / DescribeExpressGatewayService in the model's shapes; the alarm is in "
           "CloudWatch; the canary walks 5 % then 100 %; the alarm rolls it back")
    def _():
        fx = json.load(open(os.path.join(HERE, "express-service.json")))
        tags = [{"key": "ecs-rollback:enabled", "value": "true"}]
        out = ctl("/ecs/express-service", {"serviceName": "express-web", "cluster": "prod", "tags": tags})
        got, vals = out["service"], out["placeholders"]

        def subst(v):
            if isinstance(v, dict):
                return {k: subst(x) for k, x in v.items()}
            if isinstance(v, list):
                res = []
                for x in v:
                    m = re.fullmatch(r"\$\{(\w+)\}", x) if isinstance(x, str) else None
                    res += vals[m.group(1)] if m and isinstance(vals.get(m.group(1)), list) else [subst(x)]
                return res
            return re.sub(r"\$\{(\w+)\}", lambda m: str(vals[m.group(1)]), v) if isinstance(v, str) else v
        want = subst(fx["service"])
        alarm = out["alarmName"]
        cw = boto3.session.Session().client("cloudwatch", endpoint_url=doc["cloudwatch"], region_name=region,
                                            aws_access_key_id="testing", aws_secret_access_key="testing")
        try:
            express_checks(out, got, want, tags, alarm, cw)
        finally:  # the CloudWatch checks count alarms
            cw.delete_alarms(AlarmNames=[alarm, "express-api-express-deployment"])

    @check("service deployments start PENDING: no SERVICE_DEPLOYMENT_IN_PROGRESS until ECS starts them")
    def _():
        n = len(ctl("/ecs/events", method="GET")["events"])
        ecs.update_service(cluster="prod", service="stopper", taskDefinition=td3)
        eq(len(ctl("/ecs/events", method="GET")["events"]), n, "UpdateService emits no deployment event")
        eq(sds("stopper")[0]["status"], "PENDING", "PENDING")
        out = ctl("/ecs/deployment-state", {"cluster": "prod", "service": "stopper", "state": "IN_PROGRESS"})
        eq([e["detail"]["eventName"] for e in out["events"]], ["SERVICE_DEPLOYMENT_IN_PROGRESS"], "started")
        ok(sd_of("stopper")["startedAt"] >= sd_of("stopper")["createdAt"], "startedAt")


# --------------------------------------------------------------------------- standalone tasks

TASK_EVENT_TIMES = ("connectivityAt", "createdAt", "executionStoppedAt", "pullStartedAt", "pullStoppedAt",
                    "startedAt", "stoppedAt", "stoppingAt", "updatedAt")
ISO_MS = r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z"


def check_task_event(ev, task_arn, account, region):
    """An 'ECS Task State Change' as EventBridge delivers it: the envelope, and a detail that is
    botocore's Task shape once its ISO-8601 timestamps are read back and `updatedAt` set aside."""
    eq(sorted(ev), sorted(["version", "id", "detail-type", "source", "account", "time", "region", "resources", "detail"]), "event keys")
    eq((ev["version"], ev["detail-type"], ev["source"], ev["account"], ev["region"], ev["resources"]),
       ("0", "ECS Task State Change", "aws.ecs", account, region, [task_arn]), "envelope")
    ok(re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", ev["time"]), f"time {ev['time']}")
    det = json.loads(json.dumps(ev["detail"]))
    eq(det["taskArn"], task_arn, "detail.taskArn")
    for k in TASK_EVENT_TIMES:
        if k in det:
            ok(re.fullmatch(ISO_MS, det[k]), f"detail.{k} {det[k]!r} is ISO-8601 with milliseconds")
            det[k] = datetime.datetime.fromisoformat(det[k].replace("Z", "+00:00")).timestamp()
    det.pop("updatedAt")
    ok("tags" not in det, "no tags in the event")
    problems: list[str] = []
    validate(det, ECS_MODEL.shape_for("Task"), "detail", problems)
    ok(not problems, "detail is not a Task:\n  " + "\n  ".join(problems))
    return ev["detail"]


def standalone(doc, ecs, ctl, net):
    """RunTask / DescribeTasks / ListTasks / StopTask of standalone tasks and the control API's
    task-exit and tasks."""
    region, account = doc["region"], doc["account"]
    subnet = net["awsvpcConfiguration"]["subnets"][0]
    td = ecs.register_task_definition(
        family="migrate", networkMode="awsvpc", requiresCompatibilities=["FARGATE"], cpu="256", memory="512",
        containerDefinitions=[{"name": "migrate", "image": "db-migrate:1.4", "essential": True, "memory": 512},
                              {"name": "log", "image": "fluent-bit:2", "essential": False}],
        tags=[{"key": "team", "value": "db"}])["taskDefinition"]["taskDefinitionArn"]
    env = [{"name": "SCHEMA_TARGET", "value": "41"}]
    base = dict(cluster="prod", taskDefinition=td, launchType="FARGATE", networkConfiguration=net,
                startedBy="ecs-rollback/down-migration", group="ecs-rollback:api",
                overrides={"containerOverrides": [{"name": "migrate", "environment": env}]})
    ctx: dict = {}

    def run(**kw):
        r = ecs.run_task(**{k: v for k, v in dict(base, **kw).items() if v is not None})
        eq(r["failures"], [], "failures")
        return r["tasks"]

    def describe(arn, **kw):
        return ecs.describe_tasks(cluster="prod", tasks=[arn], **kw)["tasks"][0]

    def listed(**kw):
        return ecs.list_tasks(cluster="prod", **kw)["taskArns"]

    def ours(started_by):
        return ctl("/ecs/tasks", {"startedBy": started_by})["tasks"]

    def events_of(arn):
        return [e for e in ctl("/ecs/task-events", method="GET")["events"] if e["resources"] == [arn]]

    @check("runtask: RunTask starts a standalone task that stays RUNNING, in the Task shape; group defaults to "
           "family:<family>; no startedBy when none was passed; the RUNNING state change is logged")
    def _():
        tasks = run(tags=[{"key": "purpose", "value": "down-migration"}])
        eq(len(tasks), 1, "count 1")
        t = tasks[0]
        arn = t["taskArn"]
        ok(re.fullmatch(rf"arn:aws:ecs:{region}:{account}:task/prod/[0-9a-f]{{32}}", arn), arn)
        eq((t["lastStatus"], t["desiredStatus"]), ("RUNNING", "RUNNING"), "status")
        eq((t["clusterArn"], t["taskDefinitionArn"], t["startedBy"], t["group"], t["launchType"], t["platformVersion"]),
           (f"arn:aws:ecs:{region}:{account}:cluster/prod", td, "ecs-rollback/down-migration", "ecs-rollback:api",
            "FARGATE", "1.4.0"), "task fields")
        eq(t["overrides"]["containerOverrides"], [{"name": "migrate", "environment": env}, {"name": "log"}],
           "overrides: every container, the given ones with their environment")
        eq([(c["name"], c["image"], c["lastStatus"], c["taskArn"]) for c in t["containers"]],
           [("migrate", "db-migrate:1.4", "RUNNING", arn), ("log", "fluent-bit:2", "RUNNING", arn)], "containers")
        ok(all("exitCode" not in c for c in t["containers"]), "no exit code while running")
        att = t["attachments"][0]
        eq((att["type"], att["status"], {d["name"]: d["value"] for d in att["details"]}["subnetId"]),
           ("ElasticNetworkInterface", "ATTACHED", subnet), "awsvpc ENI attachment")
        ok(all(k not in t for k in ("stopCode", "stoppedReason", "stoppedAt", "stoppingAt")), "no stop fields")
        ok(t["startedAt"] >= t["createdAt"], "startedAt")
        for _ in range(2):
            d = describe(arn)
            eq((d["lastStatus"], d["desiredStatus"]), ("RUNNING", "RUNNING"), "still RUNNING: nothing ends it by itself")
        ok("tags" not in d, "DescribeTasks without include has no tags")
        eq(describe(arn, include=["TAGS"])["tags"], [{"key": "purpose", "value": "down-migration"}], "include TAGS")
        evs = events_of(arn)
        eq([(e["detail"]["lastStatus"], e["detail"]["desiredStatus"]) for e in evs], [("RUNNING", "RUNNING")], "RUNNING event")
        check_task_event(evs[0], arn, account, region)
        bare = ecs.run_task(cluster="prod", taskDefinition="migrate", launchType="FARGATE", networkConfiguration=net)["tasks"][0]
        ok("startedBy" not in bare, f"no startedBy: {bare.get('startedBy')}")
        eq((bare["group"], bare["taskDefinitionArn"]), ("family:migrate", td), "group default; bare family = latest ACTIVE revision")
        eq(bare["overrides"]["containerOverrides"], [{"name": "migrate"}, {"name": "log"}], "no overrides given")
        ctx["running"], ctx["bare"] = arn, bare["taskArn"]

    @check("runtask: validation - startedBy > 128, group > 255, an override for an unknown container, overrides > 8192, "
           "count, clientToken, awsvpc without networkConfiguration, launchType with capacityProviderStrategy -> "
           "InvalidParameterException; unknown/INACTIVE task definition, Fargate on a bridge task definition -> "
           "ClientException; unknown cluster -> ClusterNotFoundException; nothing started")
    def _():
        bridge = ecs.register_task_definition(family="migrate-ec2", containerDefinitions=[
            {"name": "m", "image": "db-migrate:1.4", "memory": 64}])["taskDefinition"]["taskDefinitionArn"]
        ecs.register_task_definition(family="migrate-ec2", containerDefinitions=[{"name": "m", "image": "db-migrate:1.5", "memory": 64}])
        ecs.deregister_task_definition(taskDefinition=bridge)
        before = len(ctl("/ecs/tasks", {})["tasks"])
        bad = [
            ({"startedBy": "s" * 129}, "InvalidParameterException", "128"),
            ({"group": "g" * 256}, "InvalidParameterException", "255"),
            ({"overrides": {"containerOverrides": [{"name": "nope", "environment": env}]}}, "InvalidParameterException",
             "Override for container named nope is not a container in the TaskDefinition"),
            ({"overrides": {"containerOverrides": [{"name": "migrate", "environment": [{"name": "X", "value": "v" * 8200}]}]}},
             "InvalidParameterException", "8192"),
            ({"count": 11}, "InvalidParameterException", "count"),
            ({"count": 0}, "InvalidParameterException", "count"),
            ({"clientToken": "t" * 65}, "InvalidParameterException", "clientToken"),
            ({"clientToken": "has space"}, "InvalidParameterException", "clientToken"),
            ({"networkConfiguration": {}}, "InvalidParameterException",
             "Network Configuration must be provided when networkMode 'awsvpc' is specified."),
            ({"capacityProviderStrategy": [{"capacityProvider": "FARGATE", "weight": 1}]}, "InvalidParameterException",
             "Specify either Launch Type or Capacity Provider Strategy, but not both."),
            ({"taskDefinition": "nope"}, "ClientException", "Unable to describe task definition."),
            ({"taskDefinition": bridge, "launchType": "EC2", "networkConfiguration": {}}, "ClientException", "TaskDefinition is inactive"),
            ({"taskDefinition": "migrate-ec2", "networkConfiguration": {}}, "ClientException",
             "Task definition does not support launch_type FARGATE."),
            ({"taskDefinition": "migrate-ec2", "launchType": "EC2"}, "InvalidParameterException",
             "Network Configuration is not valid for the given networkMode of this task definition."),
            ({"cluster": "nocluster"}, "ClusterNotFoundException", ""),
        ]
        for change, code, text in bad:
            kw = {k: v for k, v in dict(base, **change).items() if v != {}}
            e = _raises(lambda: ecs.run_task(**kw), code)
            ok(text in e.response["Error"]["Message"], f"{change}: {e.response['Error']['Message']!r}")
        eq(len(ctl("/ecs/tasks", {})["tasks"]), before, "no task started by a refused RunTask")
        ok(run(startedBy="s" * 128, group="g" * 255)[0]["startedBy"] == "s" * 128, "startedBy of 128 and group of 255 accepted")
        t = ecs.run_task(cluster="prod", taskDefinition="migrate-ec2", startedBy="ec2-task")["tasks"][0]
        eq((t["launchType"], t["attachments"], t["taskDefinitionArn"].rsplit(":", 1)[1]), ("EC2", [], "2"),
           "no launch type and no cluster strategy: EC2, bridge, no ENI")
        t = run(launchType=None, capacityProviderStrategy=[{"capacityProvider": "FARGATE_SPOT", "weight": 1}], startedBy="spot-task")[0]
        eq((t.get("capacityProviderName"), "launchType" in t), ("FARGATE_SPOT", False), "capacity provider strategy")

    @check("runtask: clientToken - the same token and parameters return the same task and start none; other "
           "parameters -> ConflictException with resourceIds")
    def _():
        first = run(clientToken="down-migration-1", startedBy="idem")[0]
        again = run(clientToken="down-migration-1", startedBy="idem")[0]
        eq(again["taskArn"], first["taskArn"], "same task")
        eq(len(ours("idem")), 1, "one task for one token")
        e = _raises(lambda: ecs.run_task(**dict(base, clientToken="down-migration-1", startedBy="idem-2")), "ConflictException")
        eq(e.response.get("resourceIds"), [first["taskArn"]], "resourceIds = the token's tasks")
        eq(len(ours("idem-2")), 0, "nothing started by the conflicting call")
        other = run(clientToken="down-migration-2", startedBy="idem")[0]
        ok(other["taskArn"] != first["taskArn"], "another token, another task")
        ctl("/ecs/task-exit", {"taskArn": first["taskArn"], "exitCode": 0})
        later = run(clientToken="down-migration-1", startedBy="idem")[0]
        eq((later["taskArn"], later["lastStatus"]), (first["taskArn"], "STOPPED"), "a retry after the task ended returns it as it is now")

    @check("listtasks: startedBy with desiredStatus RUNNING (default) / STOPPED, family, launchType, PENDING lists nothing, "
           "pagination; control tasks lists them")
    def _():
        tasks = run(startedBy="lt-batch", count=3)
        arns = [t["taskArn"] for t in tasks]
        eq(len(set(arns)), 3, "count 3: three tasks")
        eq(sorted(listed(startedBy="lt-batch")), sorted(arns), "RUNNING by default")
        eq(listed(startedBy="lt-batch", desiredStatus="STOPPED"), [], "none STOPPED yet")
        ecs.stop_task(cluster="prod", task=arns[0])
        eq(sorted(listed(startedBy="lt-batch", desiredStatus="RUNNING")), sorted(arns[1:]), "RUNNING after a stop")
        eq(listed(startedBy="lt-batch", desiredStatus="STOPPED"), [arns[0]], "STOPPED after a stop")
        eq(listed(startedBy="lt-batch", desiredStatus="PENDING"), [], "PENDING lists nothing")
        eq(sorted(listed(startedBy="lt-batch", family="migrate")), sorted(arns[1:]), "family")
        eq(listed(startedBy="lt-batch", family="migrate-ec2"), [], "other family")
        eq(listed(startedBy="lt-batch", launchType="EC2"), [], "launchType")
        ok(ctx["running"] in listed(family="migrate") and ctx["bare"] in listed(), "without startedBy: every RUNNING task")
        pages, token = [], None
        while True:
            r = ecs.list_tasks(cluster="prod", startedBy="lt-batch", maxResults=1, **({"nextToken": token} if token else {}))
            pages.append(r["taskArns"])
            token = r.get("nextToken")
            if not token:
                break
        eq([len(p) for p in pages], [1, 1], "pages of one")
        eq(sorted(sum(pages, [])), sorted(arns[1:]), "pages cover the list")
        _raises(lambda: ecs.list_tasks(cluster="prod", maxResults=101), "InvalidParameterException")
        _raises(lambda: ecs.list_tasks(cluster="nocluster"), "ClusterNotFoundException")
        got = ours("lt-batch")
        eq(sorted((t["taskArn"], t["lastStatus"]) for t in got),
           sorted([(arns[0], "STOPPED"), (arns[1], "RUNNING"), (arns[2], "RUNNING")]), "control tasks")
        eq(ctl("/ecs/tasks?startedBy=lt-batch&desiredStatus=RUNNING", method="GET")["tasks"][0]["lastStatus"], "RUNNING", "GET with a query")

    @check("stoptask: UserInitiated, stoppedReason = reason or 'Task stopped by user', containers exit 143, stoppedAt; "
           "tags deleted; STOPPED event logged; a stopped task stays describable and StopTask again changes nothing; "
           "an unknown task -> InvalidParameterException")
    def _():
        a = run(startedBy="stop-me", tags=[{"key": "k", "value": "v"}])[0]["taskArn"]
        t = ecs.stop_task(cluster="prod", task=a, reason="superseded by a newer rollback")["task"]
        eq((t["lastStatus"], t["desiredStatus"], t["stopCode"], t["stoppedReason"]),
           ("STOPPED", "STOPPED", "UserInitiated", "superseded by a newer rollback"), "stopped")
        eq([(c["lastStatus"], c["exitCode"]) for c in t["containers"]], [("STOPPED", 143), ("STOPPED", 143)], "SIGTERM")
        ok(t["stoppedAt"] >= t["stoppingAt"] >= t["startedAt"], "stop timestamps")
        eq(t["attachments"][0]["status"], "DELETED", "ENI deleted")
        eq(describe(a, include=["TAGS"]).get("tags", []), [], "StopTask deletes the task's tags")
        again = ecs.stop_task(cluster="prod", task=a.rsplit("/", 1)[1])["task"]
        eq((again["stoppedReason"], again["stoppedAt"]), (t["stoppedReason"], t["stoppedAt"]), "stopping again changes nothing")
        d = describe(a)
        eq((d["lastStatus"], d["stopCode"], d["stoppedAt"]), ("STOPPED", "UserInitiated", t["stoppedAt"]), "describable")
        evs = events_of(a)
        eq([e["detail"]["lastStatus"] for e in evs], ["RUNNING", "STOPPED"], "state changes")
        det = check_task_event(evs[-1], a, account, region)
        eq((det["stopCode"], det["stoppedReason"], [c["exitCode"] for c in det["containers"]]),
           ("UserInitiated", "superseded by a newer rollback", [143, 143]), "STOPPED event detail")
        ok(det["version"] > evs[0]["detail"]["version"], "version grows with each state change")
        b = run(startedBy="stop-me")[0]["taskArn"]
        eq(ecs.stop_task(cluster="prod", task=b)["task"]["stoppedReason"], "Task stopped by user", "default reason")
        e = _raises(lambda: ecs.stop_task(cluster="prod", task="0123456789abcdef0123456789abcdef"), "InvalidParameterException")
        eq(e.response["Error"]["Message"], "The referenced task was not found.", "message")
        _raises(lambda: ecs.stop_task(cluster="nocluster", task=b), "ClusterNotFoundException")
        r = ecs.describe_tasks(cluster="prod", tasks=[a, "0" * 32])
        eq(([x["taskArn"] for x in r["tasks"]], r["failures"]), ([a], [{"arn": "0" * 32, "reason": "MISSING"}]), "unknown task in failures")

    @check("control task-exit: exitCode 0 / 3 -> EssentialContainerExited with that exit code on every container; "
           "null -> TaskFailedToStart (CannotPullContainerError, no exit codes, no startedAt); the ECS Task State Change "
           "with every field of the captured standalone fixture; DescribeTasks shows the same")
    def _():
        fixture = json.load(open(os.path.join(HERE, "..", "..", "events", "ecs-task-stopped-standalone.json")))["detail"]
        for exit_code in (0, 3):
            a = run(startedBy="exit-test")[0]["taskArn"]
            out = ctl("/ecs/task-exit", {"taskArn": a, "exitCode": exit_code})
            t, ev = out["task"], out["event"]
            eq((t["lastStatus"], t["desiredStatus"], t["stopCode"], t["stoppedReason"]),
               ("STOPPED", "STOPPED", "EssentialContainerExited", "Essential container in task exited"), f"exit {exit_code}")
            eq([c.get("exitCode") for c in t["containers"]], [exit_code, exit_code], "exit code on every container")
            ok(t["stoppedAt"] >= t["startedAt"], "stoppedAt")
            det = check_task_event(ev, a, account, region)
            eq((det["lastStatus"], det["desiredStatus"], det["stopCode"], det["startedBy"], det["group"], det["clusterArn"],
                det["taskDefinitionArn"], det["overrides"]["containerOverrides"][0]),
               ("STOPPED", "STOPPED", "EssentialContainerExited", "exit-test", "ecs-rollback:api",
                f"arn:aws:ecs:{region}:{account}:cluster/prod", td, {"name": "migrate", "environment": env}), "detail")
            eq([c["exitCode"] for c in det["containers"]], [exit_code, exit_code], "detail exit codes")
            eq(det["attachments"][0]["type"], "eni", "the event types the ENI attachment eni")
            missing = sorted(set(fixture) - set(det))
            eq(missing, [], "detail fields the captured standalone event has")
            missing = sorted(set(fixture["containers"][0]) - set(det["containers"][0]))
            eq(missing, [], "container fields the captured standalone event has")
            eq(ev["time"], det["stoppedAt"][:19] + "Z", "time = stoppedAt in whole seconds")
            d = describe(a)
            eq((d["stopCode"], [c["exitCode"] for c in d["containers"]]), ("EssentialContainerExited", [exit_code] * 2), "DescribeTasks")
            eq(d["stoppedAt"].timestamp(), t["stoppedAt"], "same stoppedAt")
            ok(a in listed(startedBy="exit-test", desiredStatus="STOPPED"), "ListTasks STOPPED")
            ok(ev in events_of(a), "logged in task-events")
        a = run(startedBy="exit-test")[0]["taskArn"]
        out = ctl("/ecs/task-exit", {"taskArn": a, "exitCode": None})
        t = out["task"]
        eq(t["stopCode"], "TaskFailedToStart", "null: failed to start")
        ok(t["stoppedReason"].startswith("CannotPullContainerError:") and "db-migrate:1.4" in t["stoppedReason"], t["stoppedReason"])
        ok(all("exitCode" not in c and c["reason"] == t["stoppedReason"] for c in t["containers"]), f"containers {t['containers']}")
        ok("startedAt" not in t and all("imageDigest" not in c for c in t["containers"]), "never started")
        det = check_task_event(out["event"], a, account, region)
        eq((det["stopCode"], det["lastStatus"]), ("TaskFailedToStart", "STOPPED"), "event")
        ok(all("exitCode" not in c for c in det["containers"]), "no exit codes in the event")
        a = run(startedBy="exit-test")[0]["taskArn"]
        out = ctl("/ecs/task-exit", {"taskArn": a.rsplit("/", 1)[1], "exitCode": 1, "reason": "OutOfMemoryError: Container killed due to memory usage"})
        eq(out["task"]["stoppedReason"], "OutOfMemoryError: Container killed due to memory usage", "reason given")

    @check("control task-exit: a task that is not RUNNING -> 409 naming why; unknown -> 404; bad exitCode -> 400; "
           "a service task -> 409")
    def _():
        a = run(startedBy="exit-refused")[0]["taskArn"]
        ctl("/ecs/task-exit", {"taskArn": a, "exitCode": 0})
        out = ctl("/ecs/task-exit", {"taskArn": a, "exitCode": 0}, want=409)
        ok("not RUNNING" in out["error"] and "STOPPED" in out["error"] and "EssentialContainerExited" in out["error"], out["error"])
        b = run(startedBy="exit-refused")[0]["taskArn"]
        ecs.stop_task(cluster="prod", task=b)
        out = ctl("/ecs/task-exit", {"taskArn": b, "exitCode": None}, want=409)
        ok("UserInitiated" in out["error"], out["error"])
        eq(describe(b)["stopCode"], "UserInitiated", "unchanged by the refused exit")
        ctl("/ecs/task-exit", {"taskArn": a[:-4] + "ffff", "exitCode": 0}, want=404)
        c = run(startedBy="exit-refused")[0]["taskArn"]
        ctl("/ecs/task-exit", {"taskArn": c}, want=400)
        ctl("/ecs/task-exit", {"taskArn": c, "exitCode": "3"}, want=400)
        ctl("/ecs/task-exit", {"exitCode": 0}, want=400)
        eq(describe(c)["lastStatus"], "RUNNING", "still RUNNING after refused calls")
        svc_task = next(e["resources"][0] for e in ctl("/ecs/task-events", method="GET")["events"]
                        if e["detail"]["group"].startswith("service:"))
        ctl("/ecs/task-exit", {"taskArn": svc_task, "exitCode": 0}, want=409)


ctx_bg: dict = {}


def teardown(stand: StandProc) -> None:
    @check("teardown: stand has no child processes; stdin EOF stops it cleanly")
    def _():
        try:
            eq(stand.children(), [], "children")
            stand.proc.stdin.close()
            rc = stand.proc.wait(EXIT_TIMEOUT)
            eq(rc, 0, "exit code")
            ok(not os.path.exists(stand.ready_path), "ready file removed")
            ok(not os.path.exists(f"/proc/{stand.proc.pid}"), "process gone")
        finally:
            stand.kill()
            stand.log.close()

    @check("teardown: SIGTERM stops a second stand cleanly")
    def _():
        s2 = StandProc()
        try:
            st, _ = control(s2.doc, "GET", "/health")
            eq(st, 200, "second stand healthy")
            s2.proc.send_signal(signal.SIGTERM)
            eq(s2.proc.wait(EXIT_TIMEOUT), 0, "exit code")
            eq(s2.children(), [], "children")
        finally:
            s2.kill()
            s2.proc.stdin.close()
            s2.log.close()


if __name__ == "__main__":
    sys.exit(main())
