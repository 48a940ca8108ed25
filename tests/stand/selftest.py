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
        eq([s["status"] for s in sds], ["IN_PROGRESS", "STOP_REQUESTED", "SUCCESSFUL"], "statuses")
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
        st, out = control(doc, "POST", "/ecs/deployment-state", {"cluster": "prod", "service": "autofix", "state": "FAILED"})
        eq(st, 200, str(out))
        names = [e["detail"]["eventName"] for e in out["events"]]
        eq(names, ["SERVICE_DEPLOYMENT_FAILED", "SERVICE_DEPLOYMENT_IN_PROGRESS"], "events")
        eq(out["events"][1]["detail"]["reason"], f"ECS deployment circuit breaker: rolling back to deploymentId {good_id}.", "rollback reason")
        eq(out["events"][1]["detail"]["deploymentId"], good_id, "the rollback is the earlier deployment, no new id")
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
        eq([i["status"] for i in invs], ["succeeded", "failed"], "invocation log")

    @check("lambda: Event invocation 202; init/error accepted and surfaces on Invoke")
    def _():
        eq(http_req("POST", rt, "/2015-03-31/functions/ecs-rollback/invocations", b"{}", {"X-Amz-Invocation-Type": "DryRun"})[0], 204, "DryRun")
        eq(http_req("POST", rt, "/2015-03-31/functions/other/invocations", b"{}")[0], 404, "unknown function")
        eq(http_req("POST", rt, "/2015-03-31/functions/ecs-rollback/invocations", b"{}", {"X-Amz-Invocation-Type": "Event"})[0], 202, "Event")
        eq(http_req("POST", rt, "/2018-06-01/runtime/init/error", b'{"errorType":"InitError","errorMessage":"no config"}')[0], 202, "init error")
        st, hdr, body = invoke({})
        eq((st, hdr.get("x-amz-function-error"), json.loads(body)["errorType"]), (200, "Unhandled", "InitError"), "init error surfaces")


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
