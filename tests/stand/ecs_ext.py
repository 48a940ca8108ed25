"""In-process extension of moto's ECS: service deployments, service revisions and a
deployment model that DescribeServices reflects.

moto's JSON dispatch calls the method of ``EC2ContainerServiceResponse`` named after the
operation in snake_case, so ``install()`` adds/overrides methods there.  Our state lives
beside moto's ECS backend, keyed by (account, region); the legacy ``deployments[]`` view
is written onto moto's own ``Service`` object so moto's serializer (driven by botocore's
ECS model) renders it.  Every field name, enum value and error code below comes from
botocore's ECS ``service-2.json``; the behaviours cite the ECS API reference in README.md.
"""

from __future__ import annotations

import base64
import copy
import datetime as _dt
import hashlib
import json
import math
import random
import string
import threading
import time
import uuid
from typing import Any

from moto.core.exceptions import ServiceException
from moto.core.responses import ActionResult
from moto.ecs import responses as _ecs_responses

Resp = _ecs_responses.EC2ContainerServiceResponse

LOCK = threading.RLock()

# ServiceDeploymentStatus groups (developer guide "View service history using Amazon ECS
# service deployments": pending / ongoing / completed stages).
ONGOING = ("PENDING", "IN_PROGRESS", "STOP_REQUESTED", "ROLLBACK_REQUESTED", "ROLLBACK_IN_PROGRESS")
COMPLETED = ("SUCCESSFUL", "STOPPED", "ROLLBACK_SUCCESSFUL", "ROLLBACK_FAILED")
HISTORY_SECONDS = 90 * 24 * 3600  # "the last 90 days of history"

CB_FAILED_REASON = "ECS deployment circuit breaker: tasks failed to start."
CB_EVENT_REASON = "ECS deployment circuit breaker: task failed to start."
# DescribeTasks: "stopped tasks appear in the returned results for at least one hour"
STOPPED_TASK_SECONDS = 3600
THRESHOLD_TYPES = ("COUNT", "BOUNDED_PERCENT", "UNBOUNDED_PERCENT")  # botocore ThresholdType
HOOK_TARGET_TYPES = ("AWS_LAMBDA", "PAUSE")  # botocore DeploymentLifecycleHookTargetType
# developer guide "Pause hooks for Amazon ECS service deployments", "Configuration fields":
# the lifecycle stages at which a deployment can pause
PAUSE_STAGES = ("RECONCILE_SERVICE", "PRE_SCALE_UP", "POST_SCALE_UP", "POST_TEST_TRAFFIC_SHIFT",
                "PRE_PRODUCTION_TRAFFIC_SHIFT", "POST_PRODUCTION_TRAFFIC_SHIFT")
HOOK_TIMEOUT_MINUTES = (1, 20160)  # botocore DeploymentLifecycleHookDuration
# botocore LinearConfiguration / CanaryConfiguration: defaults and valid ranges
LINEAR_DEFAULTS = {"stepPercent": 10.0, "stepBakeTimeInMinutes": 6}
CANARY_DEFAULTS = {"canaryPercent": 5.0, "canaryBakeTimeInMinutes": 10}
STEP_PERCENT_RANGE = (3.0, 100.0)
CANARY_PERCENT_RANGE = (0.1, 100.0)
STEP_BAKE_RANGE = (0, 1440)


class EcsError(ServiceException):
    """An error whose code is an ECS error shape name (serialized by moto from the model)."""

    def __init__(self, code: str, message: str, **members: Any):
        super().__init__(code, message)
        for k, v in members.items():
            setattr(self, k, v)


class ControlError(Exception):
    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status = status
        self.message = message


# --------------------------------------------------------------------------- helpers

def now() -> float:
    """The stand's clock: wall time plus the offset the control API's `clock` op added."""
    return round(time.time() + STORE.clock_offset, 3)


def iso(t: float) -> str:
    return _dt.datetime.fromtimestamp(t, _dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def to_epoch(v: Any) -> float | None:
    if v is None:
        return None
    if isinstance(v, _dt.datetime):
        if v.tzinfo is None:
            v = v.replace(tzinfo=_dt.timezone.utc)
        return v.timestamp()
    if isinstance(v, (int, float)):
        return float(v)
    if isinstance(v, str):
        try:
            return float(v)
        except ValueError:
            s = v.replace("Z", "+00:00")
            d = _dt.datetime.fromisoformat(s)
            if d.tzinfo is None:
                d = d.replace(tzinfo=_dt.timezone.utc)
            return d.timestamp()
    raise ValueError(f"not a timestamp: {v!r}")


def rand19() -> str:
    return str(random.randint(10**18, 10**19 - 1))


def short_id(n: int = 22) -> str:
    alphabet = string.ascii_letters + string.digits + "_-"
    return "".join(random.choice(alphabet) for _ in range(n))


def encode_token(offset: int, fingerprint: str) -> str:
    raw = json.dumps({"o": offset, "f": fingerprint}).encode()
    return base64.urlsafe_b64encode(raw).decode()


def decode_token(token: str | None, fingerprint: str) -> int:
    if not token:
        return 0
    try:
        data = json.loads(base64.urlsafe_b64decode(token.encode()))
        if data.get("f") != fingerprint:
            raise ValueError("token for another query")
        return int(data["o"])
    except Exception:
        raise EcsError("InvalidParameterException", "Invalid nextToken.")


def paginate(items: list, max_results: Any, next_token: str | None, default: int, fingerprint: str):
    if max_results is not None:
        max_results = int(max_results)
        if not 1 <= max_results <= 100:
            raise EcsError("InvalidParameterException", "maxResults must be between 1 and 100.")
    limit = max_results or default
    start = decode_token(next_token, fingerprint)
    page = items[start:start + limit]
    token = encode_token(start + limit, fingerprint) if start + limit < len(items) else None
    return page, token


# --------------------------------------------------------------------------- state

class Store:
    def __init__(self) -> None:
        self.regions: dict[tuple[str, str], dict[str, Any]] = {}
        self.digests: dict[str, str] = {}  # image string -> digest set by the control API
        self.events: list[dict] = []  # every ECS Deployment State Change the model emitted
        self.task_events: list[dict] = []  # every ECS Task State Change the control API produced
        self.hooks: list[dict] = []  # every lifecycle-hook invocation and its answer
        self.hook_events: list[dict] = []  # every ECS Hook State Change (pause hooks)
        self.clock_offset = 0.0  # seconds the control API's `clock` op moved the stand's clock on
        self.config: dict[str, Any] = {
            "listServiceDeploymentsOrder": "newest",  # newest | oldest | random
            # Real seconds the stand waits per second of a hook's callBackDelay (1.0 = as ECS).
            "hookDelayScale": 1.0,
        }

    def region(self, account: str, region: str) -> dict[str, Any]:
        key = (account, region)
        if key not in self.regions:
            self.regions[key] = {"services": {}, "sds": {}, "revs": {}, "tasks": {}, "runTokens": {}}
        return self.regions[key]

    def reset(self) -> None:
        self.__init__()


STORE = Store()
# Set by stand.py: invoke(function_ref, payload_bytes) -> (http_status, body_bytes, headers)
HOOK_INVOKER: Any = None


class SvcState:
    def __init__(self, service: Any, account: str, region: str):
        self.service = service  # moto's Service object
        self.account = account
        self.region = region
        self.arn = service.arn
        self.cluster_arn = service.cluster_arn
        self.cluster_name = service.cluster_name
        self.name = service.name
        self.sd_arns: list[str] = []
        self.last_successful_rev: str | None = None  # the revision of the last COMPLETED deployment
        # the service configuration a revision captures (API member names), see REVISION_FIELDS
        self.config: dict[str, Any] = {}

    @property
    def deployments(self) -> list[dict]:
        return self.service.deployments

    @property
    def controller(self) -> str:
        return (self.service.deployment_controller or {}).get("type", "ECS")


def image_digest(image: str) -> str:
    if image in STORE.digests:
        return STORE.digests[image]
    return "sha256:" + hashlib.sha256(image.encode()).hexdigest()


# --------------------------------------------------------------------------- task definitions

def resolve_td(backend: Any, td_str: str, for_use: bool):
    """Resolve family, family:revision or ARN.  A bare family means the latest ACTIVE
    revision (DescribeTaskDefinition).  for_use=True applies the CreateService/UpdateService
    rules: INACTIVE and DELETE_IN_PROGRESS revisions are refused."""
    name = td_str.split("/")[-1]
    if ":" in name:
        family, rev = name.rsplit(":", 1)
        try:
            td = backend.task_definitions.get(family, {}).get(int(rev))
        except ValueError:
            raise EcsError("ClientException", "Invalid revision number. Number: " + rev)
    else:
        family = name
        active = [t for t in backend.task_definitions.get(family, {}).values() if t.status == "ACTIVE"]
        td = max(active, key=lambda t: t.revision) if active else None
    if td is None:
        raise EcsError("ClientException", "Unable to describe task definition.")
    if for_use and td.status == "INACTIVE":
        raise EcsError("ClientException", "TaskDefinition is inactive")
    if for_use and td.status == "DELETE_IN_PROGRESS":
        raise EcsError("ClientException", "TaskDefinition is in DELETE_IN_PROGRESS state")
    return td


# --------------------------------------------------------------------------- deployment model

def default_deployment_configuration(given: dict | None) -> dict:
    cfg = copy.deepcopy(given) if given else {}
    cfg.setdefault("maximumPercent", 200)
    cfg.setdefault("minimumHealthyPercent", 100)
    cfg.setdefault("deploymentCircuitBreaker", {"enable": False, "rollback": False})
    return cfg


def merge_deployment_configuration(current: dict | None, update: dict) -> dict:
    cfg = default_deployment_configuration(current)
    for k, v in update.items():
        cfg[k] = copy.deepcopy(v)
    return cfg


def cb_threshold(cb_cfg: dict | None, desired: int) -> int:
    """DeploymentCircuitBreaker.thresholdConfiguration (API reference ThresholdConfiguration):
    COUNT n = n; the percentage types multiply `value` by the latest desired count,
    BOUNDED_PERCENT clamped to 3..200 (ServiceDeploymentCircuitBreaker.threshold); default
    BOUNDED_PERCENT 50. Rounded up; an unbounded threshold is at least one failure."""
    tc = (cb_cfg or {}).get("thresholdConfiguration") or {}
    kind = tc.get("type") or "BOUNDED_PERCENT"
    value = tc.get("value", 50)
    if kind == "COUNT":
        return int(value)
    n = math.ceil(round(value * desired / 100.0, 6))
    if kind == "UNBOUNDED_PERCENT":
        return max(1, n)
    return min(200, max(3, n))


def refresh_threshold(st: "SvcState", sd: dict) -> None:
    """The threshold follows "the latest service desired count" while the deployment runs."""
    if sd["status"] in ONGOING:
        cb = sd["deploymentConfiguration"].get("deploymentCircuitBreaker") or {}
        sd["deploymentCircuitBreaker"]["threshold"] = cb_threshold(cb, st.service.desired_count or 0)


def _multiple_of_tenth(v: float) -> bool:
    return abs(v * 10 - round(v * 10)) < 1e-6




def strategy_of(cfg: dict | None) -> str:
    return ((cfg or {}).get("strategy") or "ROLLING").upper()


def validate_deployment_configuration(cfg: dict) -> None:
    """The constraints botocore's model documents for DeploymentConfiguration."""
    strategy = strategy_of(cfg)
    if strategy not in ("ROLLING", "BLUE_GREEN", "LINEAR", "CANARY"):
        raise EcsError("InvalidParameterException", f"Invalid deployment strategy: {strategy}")
    if strategy == "BLUE_GREEN" and cfg.get("bakeTimeInMinutes") is None:
        # DeploymentConfiguration.bakeTimeInMinutes: "You must provide this parameter when
        # you use the BLUE_GREEN deployment strategy."
        raise EcsError("InvalidParameterException",
                       "bakeTimeInMinutes is required for the BLUE_GREEN deployment strategy.")
    # LinearConfiguration / CanaryConfiguration are optional: ECS uses their documented defaults.
    for key, pct, lo_hi, bake in (("linearConfiguration", "stepPercent", STEP_PERCENT_RANGE, "stepBakeTimeInMinutes"),
                                  ("canaryConfiguration", "canaryPercent", CANARY_PERCENT_RANGE,
                                   "canaryBakeTimeInMinutes")):
        sub = cfg.get(key) or {}
        if sub.get(pct) is not None:
            v = float(sub[pct])
            if not (lo_hi[0] <= v <= lo_hi[1]) or not _multiple_of_tenth(v):
                raise EcsError("InvalidParameterException",
                               f"{key}.{pct} must be a multiple of 0.1 from {lo_hi[0]} to {lo_hi[1]}.")
        if sub.get(bake) is not None and not STEP_BAKE_RANGE[0] <= int(sub[bake]) <= STEP_BAKE_RANGE[1]:
            raise EcsError("InvalidParameterException",
                           f"{key}.{bake} must be from {STEP_BAKE_RANGE[0]} to {STEP_BAKE_RANGE[1]} minutes.")
    cb = cfg.get("deploymentCircuitBreaker") or {}
    tc = cb.get("thresholdConfiguration")
    if tc is not None:
        if tc.get("type") not in THRESHOLD_TYPES:
            raise EcsError("InvalidParameterException",
                           f"deploymentCircuitBreaker.thresholdConfiguration.type must be one of "
                           f"{', '.join(THRESHOLD_TYPES)}.")
        v = tc.get("value")
        if not isinstance(v, int) or isinstance(v, bool) or v < 1:
            raise EcsError("InvalidParameterException",
                           "deploymentCircuitBreaker.thresholdConfiguration.value must be a positive integer.")
    for hook in cfg.get("lifecycleHooks") or []:
        kind = hook.get("targetType") or "AWS_LAMBDA"
        if kind not in HOOK_TARGET_TYPES:
            raise EcsError("InvalidParameterException", f"Invalid lifecycle hook targetType: {kind}")
        if kind == "AWS_LAMBDA" and not hook.get("hookTargetArn"):
            # DeploymentLifecycleHook.hookTargetArn: "You must provide this parameter when
            # configuring an AWS_LAMBDA lifecycle hook."
            raise EcsError("InvalidParameterException",
                           "hookTargetArn is required for an AWS_LAMBDA lifecycle hook.")
        for stage in hook.get("lifecycleStages") or []:
            if stage not in HOOK_STAGES:
                raise EcsError("InvalidParameterException", f"Invalid lifecycle stage: {stage}")
            if kind == "PAUSE" and stage not in PAUSE_STAGES:
                raise EcsError("InvalidParameterException",
                               f"A PAUSE lifecycle hook cannot pause at {stage}; valid stages: "
                               f"{', '.join(PAUSE_STAGES)}.")
        minutes = (hook.get("timeoutConfiguration") or {}).get("timeoutInMinutes")
        if minutes is not None and not HOOK_TIMEOUT_MINUTES[0] <= int(minutes) <= HOOK_TIMEOUT_MINUTES[1]:
            raise EcsError("InvalidParameterException",
                           f"timeoutConfiguration.timeoutInMinutes must be from {HOOK_TIMEOUT_MINUTES[0]} "
                           f"to {HOOK_TIMEOUT_MINUTES[1]}.")


def find_legacy(st: SvcState, dep_id: str | None) -> dict | None:
    for d in st.deployments:
        if d["id"] == dep_id:
            return d
    return None


def rev_id(rev_arn: str) -> str:
    return rev_arn.rsplit("/", 1)[-1]


def dep_id_of(rev_arn: str) -> str:
    """A revision's id is the number of the `ecs-svc/<number>` deployment that created it:
    terraform-provider-aws' findPrimaryDeploymentARN finds a service deployment by the PRIMARY
    deployment's `ecs-svc/` number inside the deployment's targetServiceRevisionArn."""
    return "ecs-svc/" + rev_id(rev_arn)


def summary(d: dict, sd: dict | None = None) -> dict:
    s = {
        "arn": d["_revisionArn"],
        "requestedTaskCount": d.get("desiredCount", 0),
        "runningTaskCount": d.get("runningCount", 0),
        "pendingTaskCount": d.get("pendingCount", 0),
    }
    traffic = (sd or {}).get("_traffic")
    if traffic is not None:
        s["requestedProductionTrafficWeight"] = float(traffic["production"].get(d["_revisionArn"], 0))
        s["requestedTestTrafficWeight"] = float(traffic["test"].get(d["_revisionArn"], 0))
    return s


def recount(st: SvcState, rs: dict | None = None) -> None:
    svc = st.service
    svc.running_count = sum(d.get("runningCount", 0) for d in st.deployments)
    svc.pending_count = sum(d.get("pendingCount", 0) for d in st.deployments)
    primary = next((d for d in st.deployments if d["status"] == "PRIMARY"), None)
    if primary is not None:
        svc.task_definition = primary["taskDefinition"]
    svc.current_service_deployment = st.sd_arns[-1] if st.sd_arns else None
    sd = None
    if rs is not None and st.sd_arns:
        sd = rs["sds"].get(st.sd_arns[-1])
    svc.current_service_revisions = [summary(d, sd) for d in st.deployments if d.get("_revisionArn")]


def status_to(sd: dict, status: str, t: float | None = None) -> None:
    """Every status change goes through here so the history shows the sequence ECS went through."""
    t = now() if t is None else t
    if sd["status"] != status:
        sd["_history"].append({"status": status, "at": t})
    sd["status"] = status
    sd["updatedAt"] = t
    if status != "IN_PROGRESS":
        sd.pop("_hold", None)  # a pause hook holds only a deployment in progress


def new_legacy(st: SvcState, rev: dict, desired: int, reason: str | None = None) -> dict:
    dep_id = dep_id_of(rev["serviceRevisionArn"])
    t = now()
    d = {
        "id": dep_id,
        "status": "PRIMARY",
        "taskDefinition": rev["taskDefinition"],
        "desiredCount": desired,
        "pendingCount": desired,
        "runningCount": 0,
        "failedTasks": 0,
        "createdAt": t,
        "updatedAt": t,
        "rolloutState": "IN_PROGRESS",
        "rolloutStateReason": reason or f"ECS deployment {dep_id} in progress.",
        "_revisionArn": rev["serviceRevisionArn"],
    }
    # the Deployment shape carries the same configuration as the revision it deploys
    for k in ("capacityProviderStrategy", "launchType", "platformVersion", "platformFamily",
              "networkConfiguration", "serviceConnectConfiguration", "volumeConfigurations",
              "vpcLatticeConfigurations"):
        if rev.get(k) not in (None, []):
            d[k] = copy.deepcopy(rev[k])
    return d


# API members of CreateService/UpdateService that a service revision records
# (botocore ServiceRevision) and whether a change of it alone starts a deployment.
REVISION_FIELDS = {
    "capacityProviderStrategy": False,  # needs forceNewDeployment (see README)
    "launchType": False,  # CreateService only
    "platformVersion": True,
    "loadBalancers": True,
    "serviceRegistries": True,
    "networkConfiguration": True,
    "serviceConnectConfiguration": True,
    "volumeConfigurations": True,
    "vpcLatticeConfigurations": True,
}


def td_platform_family(td: Any) -> str | None:
    rp = getattr(td, "runtime_platform", None) or {}
    fam = rp.get("operatingSystemFamily") if isinstance(rp, dict) else None
    if fam and fam != "LINUX":
        return fam
    return "Linux"


def make_revision(rs: dict, st: SvcState, td: Any, rid: str | None = None) -> dict:
    rid = rid or rand19()
    rev_arn = f"arn:aws:ecs:{st.region}:{st.account}:service-revision/{st.cluster_name}/{st.name}/{rid}"
    cfg = st.config
    rev: dict[str, Any] = {
        "serviceRevisionArn": rev_arn,
        "serviceArn": st.arn,
        "clusterArn": st.cluster_arn,
        "taskDefinition": td.arn,
    }
    # capacityProviderStrategy XOR launchType (a capacity-provider service has no launch type)
    if cfg.get("capacityProviderStrategy"):
        rev["capacityProviderStrategy"] = copy.deepcopy(cfg["capacityProviderStrategy"])
        fargate = any("FARGATE" in (i.get("capacityProvider") or "") for i in cfg["capacityProviderStrategy"])
    else:
        rev["launchType"] = cfg.get("launchType") or "EC2"
        fargate = rev["launchType"] == "FARGATE"
    if fargate:
        rev["platformVersion"] = cfg.get("platformVersion") or "LATEST"
        rev["platformFamily"] = td_platform_family(td)
    for k in ("loadBalancers", "serviceRegistries"):
        rev[k] = copy.deepcopy(cfg.get(k) or [])
    for k in ("networkConfiguration", "serviceConnectConfiguration"):
        if cfg.get(k):
            rev[k] = copy.deepcopy(cfg[k])
    for k in ("volumeConfigurations", "vpcLatticeConfigurations"):
        if cfg.get(k):
            rev[k] = copy.deepcopy(cfg[k])
    rev["containerImages"] = [
        {"containerName": c.get("name"), "imageDigest": container_digest(c), "image": c.get("image")}
        for c in td.container_definitions
    ]
    rev["containerImages"] = [{k: v for k, v in ci.items() if v is not None} for ci in rev["containerImages"]]
    rev["guardDutyEnabled"] = False
    if strategy_of(getattr(st.service, "deployment_configuration", None)) != "ROLLING":
        lbs = [resolved_lb(rs, st, lb) for lb in rev["loadBalancers"]]
        if lbs:
            rev["resolvedConfiguration"] = {"loadBalancers": lbs}
    rev["createdAt"] = now()
    rs["revs"][rev_arn] = rev
    return rev


def production_tg(rs: dict, st: SvcState, lb: dict) -> str | None:
    """The target group of a blue/green load balancer entry that serves production now: the one
    the revision of the last COMPLETED deployment resolved to (a rollback leaves it where it
    was), else the configured primary `targetGroupArn` (the listener rule forwards to it before
    ECS first shifts traffic; a rolling revision registers its tasks there too)."""
    primary = lb.get("targetGroupArn")
    alternate = (lb.get("advancedConfiguration") or {}).get("alternateTargetGroupArn")
    last = rs["revs"].get(st.last_successful_rev or "")
    if last is None:
        return primary
    resolved = (last.get("resolvedConfiguration") or {}).get("loadBalancers") or []
    for cfg_lb, res in zip(last.get("loadBalancers") or [], resolved):
        alt = (cfg_lb.get("advancedConfiguration") or {}).get("alternateTargetGroupArn")
        same_entry = (cfg_lb.get("containerName"), cfg_lb.get("containerPort")) == (lb.get("containerName"), lb.get("containerPort"))
        if same_entry and {cfg_lb.get("targetGroupArn"), alt} == {primary, alternate} and res.get("targetGroupArn"):
            return res["targetGroupArn"]
    return primary


def resolved_lb(rs: dict, st: SvcState, lb: dict) -> dict:
    """ServiceRevisionLoadBalancer of a BLUE_GREEN/LINEAR/CANARY revision: the target group its
    (green) tasks register in is the one of the pair that does not serve production when the
    revision is created, so the roles of `targetGroupArn` and `alternateTargetGroupArn` swap
    with every deployment that completes. API reference *ResolvedConfiguration* ("the actual
    resources your service revision uses, such as which target groups serve traffic"),
    *ServiceRevisionLoadBalancer* (`targetGroupArn` "of the target group associated with the
    service revision"); developer guide *Application Load Balancer resources for blue/green,
    linear, and canary deployments* ("Amazon ECS automatically registers tasks with the
    appropriate target group based on the deployment stage")."""
    adv = lb.get("advancedConfiguration") or {}
    out: dict[str, Any] = {}
    tg, alternate = lb.get("targetGroupArn"), adv.get("alternateTargetGroupArn")
    if tg and alternate:
        out["targetGroupArn"] = alternate if production_tg(rs, st, lb) == tg else tg
    elif tg:
        out["targetGroupArn"] = tg
    if adv.get("productionListenerRule"):
        out["productionListenerRule"] = adv["productionListenerRule"]
    return out


def container_digest(c: dict) -> str | None:
    # ContainerDefinition.versionConsistency "disabled": ECS does not resolve the digest
    if (c.get("versionConsistency") or "").lower() == "disabled":
        return None
    return image_digest(c.get("image", ""))


def event(st: SvcState, name: str, dep_id: str, reason: str, etype: str = "INFO") -> dict:
    t = now()
    ev = {
        "version": "0",
        "id": str(uuid.uuid4()),
        "detail-type": "ECS Deployment State Change",
        "source": "aws.ecs",
        "account": st.account,
        "time": iso(t),
        "region": st.region,
        "resources": [st.arn],
        "detail": {
            "eventType": etype,
            "eventName": name,
            "deploymentId": dep_id,
            "updatedAt": iso(t),
            "reason": reason,
        },
    }
    STORE.events.append(ev)
    return ev


# --------------------------------------------------------------------------- strategies

HOOK_STAGES = ("RECONCILE_SERVICE", "PRE_SCALE_UP", "POST_SCALE_UP", "TEST_TRAFFIC_SHIFT",
               "POST_TEST_TRAFFIC_SHIFT", "PRE_PRODUCTION_TRAFFIC_SHIFT", "PRODUCTION_TRAFFIC_SHIFT",
               "POST_PRODUCTION_TRAFFIC_SHIFT")


def plan_for(cfg: dict, n_sources: int) -> list[dict]:
    """The stages a BLUE_GREEN / LINEAR / CANARY deployment walks through (developer guide
    "Amazon ECS blue/green deployments", "linear", "canary" and the lifecycleStage enum).
    Each step: `stage` shown in ServiceDeployment.lifecycleStage (None = unchanged), `hook`
    (the DeploymentLifecycleHookStage whose hooks run), and the traffic it sets."""
    strategy = strategy_of(cfg)
    steps: list[dict] = []
    if n_sources > 1:
        steps.append({"stage": "RECONCILE_SERVICE", "hook": "RECONCILE_SERVICE"})
    steps += [
        {"stage": "PRE_SCALE_UP", "hook": "PRE_SCALE_UP"},
        {"stage": "SCALE_UP", "hook": None, "scale": True},
        {"stage": "POST_SCALE_UP", "hook": "POST_SCALE_UP"},
    ]
    if strategy == "ROLLING":  # a rolling deployment with lifecycle hooks: no traffic stages
        return steps
    steps += [
        {"stage": "TEST_TRAFFIC_SHIFT", "hook": "TEST_TRAFFIC_SHIFT", "test": 100},
        {"stage": "POST_TEST_TRAFFIC_SHIFT", "hook": "POST_TEST_TRAFFIC_SHIFT"},
    ]
    if strategy == "LINEAR":
        lc = dict(LINEAR_DEFAULTS, **{k: v for k, v in (cfg.get("linearConfiguration") or {}).items()
                                      if v is not None})
        pct = float(lc["stepPercent"])
        weights, w = [], 0.0
        while w < 100:
            w = min(100.0, round(w + pct, 1))
            weights.append(w)
        bake = lc["stepBakeTimeInMinutes"]
    elif strategy == "CANARY":
        cc = dict(CANARY_DEFAULTS, **{k: v for k, v in (cfg.get("canaryConfiguration") or {}).items()
                                      if v is not None})
        weights = [float(cc["canaryPercent"]), 100.0]
        bake = cc["canaryBakeTimeInMinutes"]
    else:
        weights, bake = [100.0], 0
    for i, w in enumerate(weights):
        steps.append({"stage": None, "hook": "PRE_PRODUCTION_TRAFFIC_SHIFT"})
        steps.append({"stage": "PRODUCTION_TRAFFIC_SHIFT", "hook": "PRODUCTION_TRAFFIC_SHIFT",
                      "production": w, "stepBakeTimeInMinutes": bake if i < len(weights) - 1 else None})
    steps += [
        {"stage": "POST_PRODUCTION_TRAFFIC_SHIFT", "hook": "POST_PRODUCTION_TRAFFIC_SHIFT"},
        {"stage": "BAKE_TIME", "hook": None, "bakeTimeInMinutes": cfg.get("bakeTimeInMinutes", 0)},
        {"stage": "CLEAN_UP", "hook": None},
    ]
    return steps


def set_traffic(sd: dict, green: str, sources: list[str], *, production: float | None = None,
                test: float | None = None) -> None:
    tr = sd["_traffic"]
    if production is not None:
        tr["production"] = {green: production}
        for s in sources:
            tr["production"][s] = round(100.0 - production, 1) if s == sources[0] else 0.0
    if test is not None:
        tr["test"] = {green: test}
        for s in sources:
            tr["test"][s] = round(100.0 - test, 1) if s == sources[0] else 0.0


def hook_payload(st: SvcState, sd: dict, stage: str, execution_id: str, details: dict | None) -> dict:
    tr = sd.get("_traffic") or {"test": {}, "production": {}}
    p = {
        "executionId": execution_id,
        "lifecycleStage": stage,
        "resourceArn": sd["serviceDeploymentArn"],
        "executionDetails": {
            "serviceArn": st.arn,
            "targetServiceRevisionArn": sd["targetServiceRevision"]["arn"],
            "testTrafficWeights": dict(tr["test"]) if stage in ("TEST_TRAFFIC_SHIFT",) else {},
            "productionTrafficWeights": dict(tr["production"])
            if stage in ("PRE_PRODUCTION_TRAFFIC_SHIFT", "PRODUCTION_TRAFFIC_SHIFT") else {},
        },
    }
    if details:
        p["hookDetails"] = details
    return p


def run_hook(st: SvcState, sd: dict, hook: dict, stage: str, rollback: bool = False) -> tuple[str, str]:
    """Invoke one lifecycle hook until it answers SUCCEEDED or FAILED (developer guide
    "Lambda hooks for Amazon ECS service deployments"). Called WITHOUT the lock: the hook
    function may call ECS. Returns (outcome, reason); outcome SUCCEEDED | FAILED | STOPPED."""
    execution_id = str(uuid.uuid4())
    details = copy.deepcopy(hook.get("hookDetails")) if isinstance(hook.get("hookDetails"), dict) else None
    timeout = hook.get("timeoutConfiguration") or {}
    timeout_s = float(timeout.get("timeoutInMinutes", 1440)) * 60
    timeout_action = (timeout.get("action") or "ROLLBACK").upper()
    elapsed = 0.0  # ECS seconds
    target = hook.get("hookTargetArn", "")
    attempt = 0
    # DescribeServiceDeployments' `lifecycleHookDetails[]` (developer guide "Lifecycle hooks for
    # Amazon ECS service deployments", "Lifecycle hook details"): one entry per hook execution,
    # its status moving IN_PROGRESS -> SUCCEEDED | FAILED | TIMED_OUT as the hook answers.
    detail = {"hookId": execution_id, "targetType": "AWS_LAMBDA", "targetArn": target,
              "status": "IN_PROGRESS", "expiresAt": now() + timeout_s, "timeoutAction": timeout_action}
    with LOCK:
        sd.setdefault("lifecycleHookDetails", []).append(detail)

    def settle(status: str) -> None:
        with LOCK:
            detail["status"] = status
    while True:
        attempt += 1
        with LOCK:
            if not rollback and sd["status"] not in ("PENDING", "IN_PROGRESS"):
                return "STOPPED", f"deployment is {sd['status']}"
            payload = hook_payload(st, sd, stage, execution_id, details)
        rec = {"seq": len(STORE.hooks) + 1, "time": now(), "serviceDeploymentArn": sd["serviceDeploymentArn"],
               "serviceArn": st.arn, "account": st.account, "region": st.region,
               "lifecycleStage": stage, "hookTargetArn": target, "executionId": execution_id,
               "attempt": attempt, "rollback": rollback, "payload": payload}
        if HOOK_INVOKER is None:
            status, body, headers = 500, b'{"errorType":"Stand.NoLambda"}', {"X-Amz-Function-Error": "Unhandled"}
        else:
            status, body, headers = HOOK_INVOKER(target, json.dumps(payload).encode())
        func_err = {k.lower(): v for k, v in (headers or {}).items()}.get("x-amz-function-error")
        try:
            answer = json.loads(body) if body else None
        except ValueError:
            answer = body.decode(errors="replace")
        rec.update(httpStatus=status, response=answer, functionError=func_err)
        if status != 200 or func_err:
            outcome, why = "FAILED", f"lifecycle hook {target} failed at {stage} (function error)"
        elif not isinstance(answer, dict) or answer.get("hookStatus") not in ("SUCCEEDED", "FAILED", "IN_PROGRESS"):
            outcome, why = "FAILED", f"lifecycle hook {target} returned an invalid response at {stage}"
        else:
            outcome = answer["hookStatus"]
            why = f"lifecycle hook {target} returned {outcome} at {stage}"
        rec["outcome"] = outcome
        if outcome == "IN_PROGRESS":
            delay = answer.get("callBackDelay", 30)
            try:
                delay = max(0.0, float(delay))
            except (TypeError, ValueError):
                delay = 30.0
            rec["callBackDelay"] = delay
            if isinstance(answer.get("hookDetails"), dict):
                details = dict(details or {}, **answer["hookDetails"])
            elapsed += delay
            if elapsed >= timeout_s:
                rec["timedOut"] = True
                STORE.hooks.append(rec)
                settle("TIMED_OUT")
                if timeout_action == "CONTINUE":
                    return "SUCCEEDED", f"lifecycle hook {target} timed out at {stage}; CONTINUE"
                return "FAILED", f"lifecycle hook {target} timed out at {stage}"
            STORE.hooks.append(rec)
            time.sleep(delay * float(STORE.config.get("hookDelayScale", 1.0)))
            continue
        STORE.hooks.append(rec)
        settle(outcome)
        return outcome, why


def hooks_for(sd: dict, stage: str) -> list[dict]:
    return [h for h in (sd["deploymentConfiguration"].get("lifecycleHooks") or [])
            if stage in (h.get("lifecycleStages") or [])]


def is_pause(hook: dict) -> bool:
    return (hook.get("targetType") or "AWS_LAMBDA") == "PAUSE"


def pause_hook_id() -> str:
    """`ecs-pause-` and 43 URL-safe characters, as the developer guide's example hookId."""
    return "ecs-pause-" + short_id(43)


def hook_event(st: SvcState, sd: dict, stage: str, hook_id: str, name: str = "HOOK_AWAITING_ACTION") -> dict:
    """The `ECS Hook State Change` EventBridge event (developer guide "Pause hooks for Amazon ECS
    service deployments": "Amazon ECS emits an EventBridge event with the detail-type ECS Hook
    State Change and the event name HOOK_AWAITING_ACTION"). Detail fields as the repository's
    events/ecs-hook-state-change.json fixture."""
    t = now()
    ev = {
        "version": "0", "id": str(uuid.uuid4()), "detail-type": "ECS Hook State Change", "source": "aws.ecs",
        "account": st.account, "time": iso(t), "region": st.region, "resources": [st.arn],
        "detail": {"eventType": "INFO", "eventName": name, "clusterArn": st.cluster_arn,
                   "serviceDeploymentArn": sd["serviceDeploymentArn"], "lifecycleStage": stage,
                   "hookId": hook_id, "updatedAt": _iso_ms(t)},
    }
    STORE.hook_events.append(ev)
    return ev


def pause(st: SvcState, sd: dict, hook: dict, stage: str, step_index: int, next_hook: int) -> dict:
    """A PAUSE hook holds the deployment at its stage: a lifecycleHookDetails entry
    AWAITING_ACTION and the HOOK_AWAITING_ACTION event. Called under LOCK."""
    timeout = hook.get("timeoutConfiguration") or {}
    hook_id = pause_hook_id()
    detail = {"hookId": hook_id, "targetType": "PAUSE", "status": "AWAITING_ACTION",
              "expiresAt": now() + float(timeout.get("timeoutInMinutes", 1440)) * 60,
              "timeoutAction": (timeout.get("action") or "ROLLBACK").upper()}
    sd.setdefault("lifecycleHookDetails", []).append(detail)
    ev = hook_event(st, sd, stage, hook_id)
    sd["_hold"] = {"hookId": hook_id, "stage": stage, "step": step_index, "next": next_hook,
                   "released": False, "detail": detail, "event": ev}
    sd["updatedAt"] = now()
    return ev


def held_view(sd: dict) -> dict | None:
    hold = sd.get("_hold")
    if hold is None or hold["released"]:
        return None
    return {"hookId": hold["hookId"], "lifecycleStage": hold["stage"], "event": hold["event"]}


def advance(rs: dict, st: SvcState, sd: dict, until: str | None = None, steps: int | None = None) -> dict:
    """Walk a deployment's plan (traffic-shifting strategies, and rolling deployments with
    lifecycle hooks). The lock is held for each state change and released while a hook runs.
    Stops after entering stage `until` (its hooks done), after `steps` steps, at the end
    (SUCCESSFUL), at a PAUSE hook (the deployment stays there until ContinueServiceDeployment),
    or when the deployment stops or rolls back."""
    done = 0
    first_hook = len(STORE.hooks)
    events: list[dict] = []
    while True:
        with LOCK:
            if sd["status"] == "PENDING":
                events += start_in_progress(st, sd)
            if sd["status"] != "IN_PROGRESS":
                break
            plan = sd["_plan"]
            hold = sd.get("_hold")
            if hold is not None and not hold["released"]:
                break  # held at a pause hook: nothing moves until ContinueServiceDeployment
            if hold is not None:  # CONTINUE: the rest of that stage's hooks, then on
                sd.pop("_hold")
                step, start_at = plan[hold["step"]], hold["next"]
                step_index = hold["step"]
            else:
                i = sd["_step"]
                if i >= len(plan):
                    events += complete(rs, st, sd)
                    break
                step, start_at, step_index = plan[i], 0, i
                sd["_step"] = i + 1
                green = sd["targetServiceRevision"]["arn"]
                sources = [x["arn"] for x in sd["sourceServiceRevisions"]]
                d = find_legacy(st, sd["_legacyId"])
                if step.get("stage"):
                    sd["lifecycleStage"] = step["stage"]
                if step.get("scale") and d is not None:
                    d["runningCount"], d["pendingCount"] = d["desiredCount"], 0
                    sd["targetServiceRevision"]["runningTaskCount"] = d["desiredCount"]
                    sd["targetServiceRevision"]["pendingTaskCount"] = 0
                if "test" in step:
                    set_traffic(sd, green, sources, test=step["test"])
                if "production" in step:
                    set_traffic(sd, green, sources, production=step["production"])
                sd["updatedAt"] = now()
                recount(st, rs)
            hooks = hooks_for(sd, step["hook"]) if step.get("hook") else []
            stage_shown = sd.get("lifecycleStage")
        failed = None
        paused = False
        for k in range(start_at, len(hooks)):
            h = hooks[k]
            if is_pause(h):
                with LOCK:
                    if sd["status"] != "IN_PROGRESS":
                        break
                    pause(st, sd, h, step["hook"], step_index, k + 1)
                paused = True
                break
            outcome, why = run_hook(st, sd, h, step["hook"])
            if outcome == "STOPPED":
                break
            if outcome == "FAILED":
                failed = why
                break
        if paused:
            break
        if failed is not None:
            with LOCK:
                if sd["status"] in ("PENDING", "IN_PROGRESS"):
                    events += fail(rs, st, sd, cause="hook", reason=failed, rollback=True)
            break
        done += 1
        if steps is not None and done >= steps:
            break
        if until and step.get("stage") == until and stage_shown == until:
            break
    with LOCK:
        return {"serviceDeployment": public(sd), "events": events,
                "hookInvocations": STORE.hooks[first_hook:], "awaitingAction": held_view(sd)}


# --------------------------------------------------------------------------- deployment model

def start_in_progress(st: SvcState, sd: dict) -> list[dict]:
    t = now()
    status_to(sd, "IN_PROGRESS", t)
    sd["startedAt"] = t
    d = find_legacy(st, sd["_legacyId"])
    return [event(st, "SERVICE_DEPLOYMENT_IN_PROGRESS", d["id"], d["rolloutStateReason"])]


def settle_stopping(rs: dict, st: SvcState, t: float) -> None:
    """STOP_REQUESTED deployments end STOPPED once ECS has stopped them (here: when another
    deployment starts, or when one is moved to STOPPED through the control API)."""
    for arn in st.sd_arns:
        sd = rs["sds"][arn]
        if sd["status"] == "STOP_REQUESTED":
            status_to(sd, "STOPPED", t)
            sd["stoppedAt"] = sd["finishedAt"] = t


def start_deployment(rs: dict, st: SvcState, td: Any) -> dict:
    """CreateService / an UpdateService that needs a deployment: a new service revision, a new
    service deployment (PENDING first), and a new PRIMARY deployment; the previous deployments
    become ACTIVE (they still run tasks)."""
    svc = st.service
    t = now()
    settle_stopping(rs, st, t)
    # a newer deployment supersedes ongoing ones: STOP_REQUESTED (STOPPED when they settle)
    for arn in st.sd_arns:
        sd = rs["sds"][arn]
        if sd["status"] in ("PENDING", "IN_PROGRESS"):
            status_to(sd, "STOP_REQUESTED", t)
            sd["statusReason"] = "Service deployment stopped because a newer service deployment started."
    sources = []
    for d in st.deployments:
        d["status"] = "ACTIVE"
        if d.get("_revisionArn"):
            sources.append(summary(d))
    rev = make_revision(rs, st, td)
    desired = svc.desired_count or 0
    legacy = new_legacy(st, rev, desired)
    cfg = default_deployment_configuration(getattr(svc, "deployment_configuration", None))
    cb = cfg.get("deploymentCircuitBreaker") or {}
    alarms = cfg.get("alarms") or {}
    sd_arn = f"arn:aws:ecs:{st.region}:{st.account}:service-deployment/{st.cluster_name}/{st.name}/{short_id()}"
    sd = {
        "serviceDeploymentArn": sd_arn,
        "serviceArn": st.arn,
        "clusterArn": st.cluster_arn,
        "createdAt": t,
        "updatedAt": t,
        "sourceServiceRevisions": sources,
        "targetServiceRevision": {
            "arn": rev["serviceRevisionArn"],
            "requestedTaskCount": desired,
            "runningTaskCount": 0,
            "pendingTaskCount": desired,
        },
        "status": "PENDING",
        "deploymentConfiguration": cfg,
        "deploymentCircuitBreaker": {
            "status": "MONITORING" if cb.get("enable") else "DISABLED",
            "failureCount": 0,
            "threshold": cb_threshold(cb, desired),
        },
        "alarms": {
            "status": "MONITORING" if alarms.get("enable") else "DISABLED",
            "alarmNames": list(alarms.get("alarmNames") or []),
        },
        "_legacyId": legacy["id"],
        "_history": [{"status": "PENDING", "at": t}],
        "_strategy": strategy_of(cfg),
    }
    if sd["_strategy"] != "ROLLING" or cfg.get("lifecycleHooks"):
        # traffic-shifting strategies, and rolling deployments with lifecycle hooks, walk stages;
        # the first one is shown from the start
        sd["_plan"] = plan_for(cfg, len(sources))
        sd["_step"] = 0
        sd["lifecycleStage"] = sd["_plan"][0]["stage"]
    if sd["_strategy"] != "ROLLING":
        sd["_traffic"] = {"production": {}, "test": {}}
        if sources:
            sd["_traffic"]["production"] = {rev["serviceRevisionArn"]: 0.0, sources[0]["arn"]: 100.0}
        sd["targetServiceRevision"].update(requestedProductionTrafficWeight=0.0, requestedTestTrafficWeight=0.0)
    legacy["_sd"] = sd_arn
    rs["sds"][sd_arn] = sd
    st.sd_arns.append(sd_arn)
    svc.deployments.insert(0, legacy)
    recount(st, rs)
    # PENDING until ECS starts it: a control move, a task of it, or the stand's clock (`clock`)
    return sd


def begin_rollback(rs: dict, st: SvcState, sd: dict, status: str, reason: str,
                   legacy_reason: str | None) -> dict:
    """Roll the service back to its last successful service revision. ECS creates no new
    service revision and no new deployment for a rollback: the failing service deployment
    carries it, and the PRIMARY becomes the earlier deployment again (same `ecs-svc/` id)."""
    t = now()
    target_rev = rs["revs"][st.last_successful_rev]
    restored_id = dep_id_of(target_rev["serviceRevisionArn"])
    failed = find_legacy(st, sd["_legacyId"])
    desired = st.service.desired_count or 0
    if legacy_reason is None:
        legacy_reason = f"ECS deployment circuit breaker: rolling back to deploymentId {restored_id}."
    rb = find_legacy(st, restored_id)
    if rb is None:  # it no longer ran tasks: ECS starts it again under its id
        rb = new_legacy(st, target_rev, desired, reason=legacy_reason)
        rb["createdAt"] = target_rev["createdAt"]
    rb.update(status="PRIMARY", rolloutState="IN_PROGRESS", rolloutStateReason=legacy_reason,
              desiredCount=desired, updatedAt=t)
    rb["_sd"] = sd["serviceDeploymentArn"]
    keep = [failed] if failed is not None and failed is not rb else []
    for d in keep:
        d["status"] = "ACTIVE"
        d["updatedAt"] = t
    st.service.deployments[:] = [rb] + keep
    status_to(sd, status, t)  # PENDING -> ROLLBACK_REQUESTED directly for StopServiceDeployment
    sd["rollback"] = {"reason": reason, "startedAt": t, "serviceRevisionArn": target_rev["serviceRevisionArn"]}
    sd["_rollbackLegacyId"] = rb["id"]
    if sd.get("_traffic") is not None:  # traffic-shifting strategies: shift back to the old revision
        green = sd["targetServiceRevision"]["arn"]
        sd["_traffic"] = {"production": {green: 0.0, target_rev["serviceRevisionArn"]: 100.0}, "test": {}}
        rb["runningCount"], rb["pendingCount"] = desired, 0
        hooks = [(h, s) for s in ("PRODUCTION_TRAFFIC_SHIFT", "TEST_TRAFFIC_SHIFT") for h in hooks_for(sd, s)]
        if hooks:  # "ECS re-invokes hooks registered at PRODUCTION_TRAFFIC_SHIFT and TEST_TRAFFIC_SHIFT"
            threading.Thread(target=_rollback_hooks, args=(st, sd, hooks), daemon=True,
                             name="rollback-hooks").start()
    recount(st, rs)
    return rb


def _rollback_hooks(st: SvcState, sd: dict, hooks: list) -> None:
    for h, stage in hooks:
        run_hook(st, sd, h, stage, rollback=True)


def complete(rs: dict, st: SvcState, sd: dict) -> list[dict]:
    """The deployment reached a steady state (rolling) or finished CLEAN_UP (traffic shifting):
    SUCCESSFUL, its PRIMARY COMPLETED, every older deployment gone."""
    t = now()
    status_to(sd, "SUCCESSFUL", t)
    sd["finishedAt"] = t
    sd.setdefault("startedAt", sd["createdAt"])
    for mon in ("deploymentCircuitBreaker", "alarms"):
        if sd[mon]["status"] == "MONITORING":
            sd[mon]["status"] = "MONITORING_COMPLETE"
    tgt = sd["targetServiceRevision"]
    tgt["runningTaskCount"], tgt["pendingTaskCount"] = tgt["requestedTaskCount"], 0
    if sd.get("_traffic") is not None:
        sd["_traffic"] = {"production": {tgt["arn"]: 100.0}, "test": {}}
        tgt.update(requestedProductionTrafficWeight=100.0, requestedTestTrafficWeight=0.0)
    if sd.get("_plan") is not None:
        sd.pop("lifecycleStage", None)  # a completed deployment is in no stage
    st.last_successful_rev = tgt["arn"]
    events = []
    d = find_legacy(st, sd["_legacyId"])
    if d is not None:
        d.update(rolloutState="COMPLETED", rolloutStateReason=f"ECS deployment {d['id']} completed.",
                 runningCount=d["desiredCount"], pendingCount=0, updatedAt=t, status="PRIMARY")
        st.service.deployments[:] = [d]  # ACTIVE deployments drained: the old revision is gone
        events.append(event(st, "SERVICE_DEPLOYMENT_COMPLETED", d["id"], d["rolloutStateReason"]))
    settle_stopping(rs, st, t)
    recount(st, rs)
    return events


def fail(rs: dict, st: SvcState, sd: dict, *, cause: str, reason: str | None = None,
         rollback: bool | None = None, failed_tasks: int | None = None,
         alarm_names: list[str] | None = None, settle: bool = False) -> list[dict]:
    t = now()
    events: list[dict] = []
    cfg = sd["deploymentConfiguration"]
    cb_cfg = cfg.get("deploymentCircuitBreaker") or {}
    al_cfg = cfg.get("alarms") or {}
    if cause == "circuitBreaker" and (sd["_strategy"] not in ("ROLLING", "BLUE_GREEN") or not cb_cfg.get("enable")):
        raise ControlError(409, "the deployment circuit breaker is not enabled for this service (or its "
                                "strategy): ECS does not fail the deployment")
    if cause == "alarms" and not al_cfg.get("enable"):
        raise ControlError(409, "deployment alarms are not enabled for this service: ECS does not fail "
                                "the deployment (SERVICE_DEPLOYMENT_FAILED needs the circuit breaker or alarms)")
    if cause == "alarms":
        rollback = _configured_rollback(rollback, bool(al_cfg.get("rollback")), "alarms.rollback")
    elif cause == "circuitBreaker":
        rollback = _configured_rollback(rollback, bool(cb_cfg.get("rollback")), "deploymentCircuitBreaker.rollback")
    elif cause == "hook":
        rollback = True  # "If your function ... fails, Amazon ECS rolls back the deployment."
    else:
        raise ControlError(400, "cause must be circuitBreaker or alarms")
    if sd["status"] == "PENDING":  # it failed after it started: ECS reported it in progress first
        events += start_in_progress(st, sd)
    if cause == "alarms":
        names = list(alarm_names or al_cfg.get("alarmNames") or [])
        fail_reason = reason or f"ECS deployment failed: alarm(s) {', '.join(names)} in ALARM state."
        event_reason = fail_reason
        sd["alarms"]["status"] = "TRIGGERED"
        sd["alarms"]["triggeredAlarmNames"] = names
        if not sd["alarms"].get("alarmNames"):
            sd["alarms"]["alarmNames"] = names
    elif cause == "circuitBreaker":
        fail_reason = reason or CB_FAILED_REASON
        event_reason = reason or CB_EVENT_REASON
        cbs = sd["deploymentCircuitBreaker"]
        cbs["status"] = "TRIGGERED"
        cbs["failureCount"] = failed_tasks if failed_tasks is not None else max(cbs["failureCount"], cbs["threshold"])
    else:
        fail_reason = event_reason = reason or "lifecycle hook failed"

    d = find_legacy(st, sd["_legacyId"])
    if d is not None:
        d["rolloutState"] = "FAILED"
        d["rolloutStateReason"] = fail_reason
        d["updatedAt"] = t
        if failed_tasks is not None:
            d["failedTasks"] = failed_tasks
        elif cause == "circuitBreaker":
            d["failedTasks"] = max(d.get("failedTasks", 0), sd["deploymentCircuitBreaker"]["failureCount"])
        events.append(event(st, "SERVICE_DEPLOYMENT_FAILED", d["id"], event_reason, "ERROR"))

    # "The rollback method requires a previous deployment in COMPLETED state."
    can_roll_back = (rollback and st.last_successful_rev is not None
                     and st.last_successful_rev != sd["targetServiceRevision"]["arn"])
    sd["statusReason"] = fail_reason
    if can_roll_back:
        rb = begin_rollback(rs, st, sd, "ROLLBACK_IN_PROGRESS", fail_reason, None)
        events.append(event(st, "SERVICE_DEPLOYMENT_IN_PROGRESS", rb["id"], rb["rolloutStateReason"]))
    else:
        if rollback:
            sd["statusReason"] = fail_reason + " No previous COMPLETED deployment to roll back to."
        status_to(sd, "STOP_REQUESTED", t)
        if settle:
            status_to(sd, "STOPPED", t)
            sd["stoppedAt"] = sd["finishedAt"] = t
        recount(st, rs)
    return events


def _configured_rollback(asked: bool | None, configured: bool, what: str) -> bool:
    """ECS rolls back exactly when the service's configuration says so."""
    if asked is not None and bool(asked) != configured:
        raise ControlError(409, f"the service's {what} is {str(configured).lower()}: ECS cannot "
                                f"{'roll back' if asked else 'skip the rollback'} here")
    return configured


def move(rs: dict, st: SvcState, sd: dict, state: str, *, rollback: bool | None = None,
         cause: str = "circuitBreaker", failed_tasks: int | None = None,
         alarm_names: list[str] | None = None, reason: str | None = None, settle: bool = False) -> list[dict]:
    """Control API: move a service deployment along a path ECS itself takes; returns the
    EventBridge events ECS emits. Runs under LOCK (except the traffic-shifting SUCCESSFUL
    path, which the caller routes to advance())."""
    t = now()
    status = sd["status"]
    events: list[dict] = []
    state = state.upper()
    if status in COMPLETED:
        raise ControlError(409, f"service deployment is already {status}")
    if state == "IN_PROGRESS":
        if status == "PENDING":
            return start_in_progress(st, sd)
        if status == "ROLLBACK_REQUESTED":
            status_to(sd, "ROLLBACK_IN_PROGRESS", t)
            return events
        raise ControlError(409, f"cannot move {status} to IN_PROGRESS")

    rolling_back = status in ("ROLLBACK_REQUESTED", "ROLLBACK_IN_PROGRESS")
    if state in ("SUCCESSFUL", "COMPLETED"):
        if status == "STOP_REQUESTED":
            status_to(sd, "STOPPED", t)
            sd["stoppedAt"] = sd["finishedAt"] = t
            return events
        if not rolling_back:
            if status == "PENDING":
                events += start_in_progress(st, sd)
            return events + complete(rs, st, sd)
        if status == "ROLLBACK_REQUESTED":
            status_to(sd, "ROLLBACK_IN_PROGRESS", t)
        status_to(sd, "ROLLBACK_SUCCESSFUL", t)
        sd["finishedAt"] = t
        for mon in ("deploymentCircuitBreaker", "alarms"):
            if sd[mon]["status"] == "MONITORING":
                sd[mon]["status"] = "MONITORING_COMPLETE"
        d = find_legacy(st, sd.get("_rollbackLegacyId"))
        if d is not None:
            d.update(rolloutState="COMPLETED", rolloutStateReason=f"ECS deployment {d['id']} completed.",
                     runningCount=d["desiredCount"], pendingCount=0, updatedAt=t)
            st.service.deployments[:] = [d]
            st.last_successful_rev = d["_revisionArn"]
            events.append(event(st, "SERVICE_DEPLOYMENT_COMPLETED", d["id"], d["rolloutStateReason"]))
        if sd.get("_traffic") is not None:
            sd["_traffic"] = {"production": {st.last_successful_rev: 100.0}, "test": {}}
            sd.pop("lifecycleStage", None)
        settle_stopping(rs, st, t)
        recount(st, rs)
        return events

    if state == "STOPPED":
        if status != "STOP_REQUESTED":
            raise ControlError(409, f"cannot move {status} to STOPPED: ECS stops a deployment after "
                                    "STOP_REQUESTED (a newer deployment, a failure without rollback)")
        status_to(sd, "STOPPED", t)
        sd["stoppedAt"] = sd["finishedAt"] = t
        return events

    if state != "FAILED":
        raise ControlError(400, f"unknown state {state}")

    if status == "STOP_REQUESTED":
        raise ControlError(409, "cannot fail a deployment that is stopping")
    if rolling_back:
        d = find_legacy(st, sd.get("_rollbackLegacyId"))
        fail_reason = reason or "ECS deployment circuit breaker: rollback failed."
        if d is not None:
            d.update(rolloutState="FAILED", rolloutStateReason=fail_reason, updatedAt=t)
            events.append(event(st, "SERVICE_DEPLOYMENT_FAILED", d["id"], reason or CB_EVENT_REASON, "ERROR"))
        if status == "ROLLBACK_REQUESTED":
            status_to(sd, "ROLLBACK_IN_PROGRESS", t)
        status_to(sd, "ROLLBACK_FAILED", t)
        sd["statusReason"] = fail_reason
        sd["finishedAt"] = t
        recount(st, rs)
        return events
    return fail(rs, st, sd, cause=cause, reason=reason, rollback=rollback, failed_tasks=failed_tasks,
                alarm_names=alarm_names, settle=settle)


# --------------------------------------------------------------------------- lookups

def svc_state(account: str, region: str, service: Any) -> SvcState:
    rs = STORE.region(account, region)
    st = rs["services"].get(service.arn)
    if st is None or st.service is not service:
        st = SvcState(service, account, region)
        rs["services"][service.arn] = st
    return st


def find_service_state(cluster: str, service: str, account: str | None = None,
                       region: str | None = None) -> tuple[dict, SvcState]:
    cluster_name = cluster.split("/")[-1]
    service_name = service.split("/")[-1]
    hits = []
    for (acct, reg), rs in STORE.regions.items():
        if account and acct != account or region and reg != region:
            continue
        for st in rs["services"].values():
            if st.cluster_name == cluster_name and st.name == service_name:
                hits.append((rs, st))
    if not hits:
        raise ControlError(404, f"no service {cluster_name}/{service_name} known to the stand")
    if len(hits) > 1:
        raise ControlError(400, "service is ambiguous across accounts/regions: pass account and region")
    return hits[0]


def find_sd(arn: str) -> tuple[dict, SvcState, dict] | None:
    for rs in STORE.regions.values():
        sd = rs["sds"].get(arn)
        if sd is not None:
            st = rs["services"].get(sd["serviceArn"])
            if st is not None:
                return rs, st, sd
    return None


def public(d: dict) -> dict:
    out = {k: copy.deepcopy(v) for k, v in d.items() if not k.startswith("_")}
    return out


def public_sd(sd: dict) -> dict:
    """What DescribeServiceDeployments shows: the traffic weights live in the revision summaries."""
    out = public(sd)
    tr = sd.get("_traffic")
    if tr is not None:
        for s in [out["targetServiceRevision"]] + out["sourceServiceRevisions"]:
            s["requestedProductionTrafficWeight"] = float(tr["production"].get(s["arn"], 0))
            s["requestedTestTrafficWeight"] = float(tr["test"].get(s["arn"], 0))
    return out


def control_sd(sd: dict) -> dict:
    """The control API's view: the public shape plus the status history and traffic."""
    out = public_sd(sd)
    out["statusHistory"] = [h["status"] for h in sd["_history"]]
    out["awaitingAction"] = held_view(sd)
    if sd.get("_traffic") is not None:
        out["traffic"] = copy.deepcopy(sd["_traffic"])
    if sd.get("_plan") is not None:
        out["planStep"] = sd["_step"]
        out["plan"] = [s.get("stage") or f"({s['hook']})" for s in sd["_plan"]]
    return out


def brief(sd: dict) -> dict:
    keys = ("serviceDeploymentArn", "serviceArn", "clusterArn", "startedAt", "createdAt",
            "finishedAt", "status", "statusReason")
    b = {k: sd[k] for k in keys if k in sd}
    b["targetServiceRevisionArn"] = sd["targetServiceRevision"]["arn"]
    return b


# --------------------------------------------------------------------------- response methods

_orig = {}

# UpdateService members ECS accepts per deployment controller (API reference UpdateService:
# "For services using the blue/green (CODE_DEPLOY) deployment controller, only the desired count,
# deployment configuration, health check grace period, task placement constraints and strategies,
# enable ECS managed tags option, and propagate tags can be updated using this API." and for
# EXTERNAL "only the desired count, task placement constraints and strategies, health check grace
# period, enable ECS managed tags option, and propagate tags option").
_CONTROLLER_ALLOWED = {
    "CODE_DEPLOY": {"cluster", "service", "desiredCount", "deploymentConfiguration", "healthCheckGracePeriodSeconds",
                    "placementConstraints", "placementStrategy", "enableECSManagedTags", "propagateTags"},
    "EXTERNAL": {"cluster", "service", "desiredCount", "healthCheckGracePeriodSeconds", "placementConstraints",
                 "placementStrategy", "enableECSManagedTags", "propagateTags"},
}
_CONTROLLER_HINT = {
    "CODE_DEPLOY": "Use AWS CodeDeploy to trigger a new deployment.",
    "EXTERNAL": "Use a new task set (CreateTaskSet) instead.",
}
_FIELD_WORDS = {"taskDefinition": "task definition", "networkConfiguration": "network configuration",
                "platformVersion": "platform version", "loadBalancers": "load balancers",
                "forceNewDeployment": "force new deployment"}


def _norm(v: Any) -> Any:
    return None if v in (None, [], {}) else v


def _initial_config(params: dict) -> dict:
    cfg = {}
    for k in REVISION_FIELDS:
        if _norm(params.get(k)) is not None:
            cfg[k] = copy.deepcopy(params[k])
    return cfg


def create_service_from(backend: Any, account: str, region: str, params: dict) -> Any:
    """CreateService with `params` (API member names): moto's service plus the stand's
    deployment model. Used by the API and by Express Mode (express.py). Call under LOCK."""
    td_str = params.get("taskDefinition")
    td = resolve_td(backend, td_str, for_use=True) if td_str else None
    dc = default_deployment_configuration(params.get("deploymentConfiguration"))
    dc.setdefault("strategy", "ROLLING")
    validate_deployment_configuration(dc)
    desired = params.get("desiredCount")
    backend.create_service(
        params.get("cluster") or "default", params["serviceName"], int(desired) if desired is not None else None,
        td_str, params.get("loadBalancers"), params.get("schedulingStrategy"), params.get("tags"),
        params.get("deploymentController"), params.get("launchType"),
        network_configuration=params.get("networkConfiguration"), service_registries=params.get("serviceRegistries"),
        platform_version=params.get("platformVersion"), propagate_tags=params.get("propagateTags") or "NONE",
        role_arn=params.get("role"))
    cluster = backend._get_cluster(params.get("cluster") or "default")
    service = backend.services[f"{cluster.name}:{params['serviceName']}"]
    service.deployment_configuration = dc
    service.created_at = now()
    if not service.network_configuration:
        service.network_configuration = None
    service.deployments = []
    st = svc_state(account, region, service)
    rs = STORE.region(account, region)
    # a re-created service starts a fresh history
    for arn in st.sd_arns:
        rs["sds"].pop(arn, None)
    st.sd_arns = []
    st.last_successful_rev = None
    st.config = _initial_config(params)
    if params.get("capacityProviderStrategy"):
        service.launch_type = None
    if st.controller == "ECS" and td is not None:
        service.task_definition = td.arn
        start_deployment(rs, st, td)
    return service


def _create_service(self):
    with LOCK:
        return ActionResult({"service": create_service_from(self.ecs_backend, self.current_account, self.region,
                                                            self._get_params())})


def _update_service(self):
    with LOCK:
        backend = self.ecs_backend
        params = self._get_params()
        cluster_str = params.get("cluster", "default")
        service = backend._get_service(cluster_str, params["service"].split("/")[-1])
        if service.status != "ACTIVE":
            raise EcsError("ServiceNotActiveException", "Service was not ACTIVE.")
        st = svc_state(self.current_account, self.region, service)
        rs = STORE.region(self.current_account, self.region)
        controller = st.controller
        if controller in _CONTROLLER_ALLOWED:
            bad = [k for k, v in params.items() if v is not None and k not in _CONTROLLER_ALLOWED[controller]]
            if bad:
                what = _FIELD_WORDS.get(bad[0], bad[0])
                raise EcsError("InvalidParameterException",
                               f"Unable to update {what} on services with a {controller} deployment controller. "
                               + _CONTROLLER_HINT[controller])
        td = resolve_td(backend, params["taskDefinition"], for_use=True) if params.get("taskDefinition") else None
        primary = next((d for d in st.deployments if d["status"] == "PRIMARY"), None)
        current_td = primary["taskDefinition"] if primary else service.task_definition
        dc = params.get("deploymentConfiguration")
        new_dc = None
        if dc is not None:
            new_dc = merge_deployment_configuration(getattr(service, "deployment_configuration", None), dc)
            new_dc.setdefault("strategy", "ROLLING")
            validate_deployment_configuration(new_dc)
        new_cfg = copy.deepcopy(st.config)
        for k in REVISION_FIELDS:
            if k in params and params[k] is not None:
                new_cfg[k] = copy.deepcopy(params[k])
        changed = [k for k, starts in REVISION_FIELDS.items()
                   if starts and _norm(new_cfg.get(k)) != _norm(st.config.get(k))]
        props = {_camel_to_snake(k): v for k, v in params.items()}
        props.pop("force_new_deployment", None)  # moto would rewrite our PRIMARY's id
        props.pop("deployment_configuration", None)
        if td is not None:
            props["task_definition"] = td.arn
        service = backend.update_service(props)
        if new_dc is not None:
            service.deployment_configuration = new_dc
        if not getattr(service, "network_configuration", None):
            service.network_configuration = None
        st.config = new_cfg
        if new_cfg.get("capacityProviderStrategy"):
            service.launch_type = None
        force = bool(params.get("forceNewDeployment"))
        td_changed = td is not None and td.arn != current_td
        if params.get("desiredCount") is not None:
            for arn in st.sd_arns:  # the threshold follows the latest desired count
                if arn in rs["sds"]:
                    refresh_threshold(st, rs["sds"][arn])
        if controller == "ECS" and (force or td_changed or changed):
            target = td if td is not None else resolve_td(backend, current_td, for_use=False)
            start_deployment(rs, st, target)
        else:
            if primary is not None and params.get("desiredCount") is not None:
                primary["desiredCount"] = service.desired_count
                if primary["rolloutState"] == "COMPLETED":
                    primary["runningCount"] = service.desired_count
                    primary["pendingCount"] = 0
                primary["updatedAt"] = now()
            service.task_definition = current_td
            recount(st, rs)
        return ActionResult({"service": service})


def _camel_to_snake(name: str) -> str:
    from moto.core.utils import camelcase_to_underscores
    return camelcase_to_underscores(name)


def _delete_service(self):
    with LOCK:
        result = _orig["delete_service"](self)
        backend = self.ecs_backend
        service = backend._get_service(self._get_param("cluster", "default"),
                                       self._get_param("service").split("/")[-1])
        rs = STORE.region(self.current_account, self.region)
        st = rs["services"].get(service.arn)
        if st is not None:  # "When you delete a service, Amazon ECS deletes the corresponding service deployments"
            for arn in st.sd_arns:
                sd = rs["sds"].pop(arn, None)
                if sd:
                    rs["revs"].pop(sd["targetServiceRevision"]["arn"], None)
            st.sd_arns = []
        return result
def _register_task_definition(self):
    with LOCK:
        result = _orig["register_task_definition"](self)
        family = self._get_param("family")
        tds = self.ecs_backend.task_definitions[family]
        td = tds[max(tds)]
        td.registered_at = now()
        return result


def _deregister_task_definition(self):
    with LOCK:
        result = _orig["deregister_task_definition"](self)
        td = resolve_td(self.ecs_backend, self._get_param("taskDefinition"), for_use=False)
        td.deregistered_at = now()
        return result


def _describe_task_definition(self):
    with LOCK:
        td = resolve_td(self.ecs_backend, self._get_param("taskDefinition"), for_use=False)
        resp = {"taskDefinition": td}
        if "TAGS" in (self._get_param("include") or []):
            resp["tags"] = list(td.tags or [])
        return ActionResult(resp)


def _list_task_definitions(self):
    with LOCK:
        family = self._get_param("familyPrefix")
        status = self._get_param("status") or "ACTIVE"
        sort = (self._get_param("sort") or "ASC").upper()
        if status not in ("ACTIVE", "INACTIVE", "DELETE_IN_PROGRESS"):
            raise EcsError("InvalidParameterException", f"Invalid status: {status}")
        if sort not in ("ASC", "DESC"):
            raise EcsError("InvalidParameterException", f"Invalid sort: {sort}")
        tds = [td for fam, revs in self.ecs_backend.task_definitions.items()
               if family is None or fam == family
               for td in revs.values() if td.status == status]
        tds.sort(key=lambda t: (t.family, t.revision), reverse=(sort == "DESC"))
        arns = [td.arn for td in tds]
        fp = hashlib.sha1(json.dumps([family, status, sort]).encode()).hexdigest()[:12]
        page, token = paginate(arns, self._get_param("maxResults"), self._get_param("nextToken"), 100, fp)
        out: dict[str, Any] = {"taskDefinitionArns": page}
        if token:
            out["nextToken"] = token
        return ActionResult(out)


def _delete_task_definitions(self):
    with LOCK:
        backend = self.ecs_backend
        names = self._get_param("taskDefinitions") or []
        if not names:
            raise EcsError("InvalidParameterException", "size of TaskDefinition references list must be greater than 0")
        if len(names) > 10:
            raise EcsError("InvalidParameterException", "Size of TaskDefinition references list cannot exceed 10")
        deleted, failures = [], []
        for ref in names:
            name = ref.split("/")[-1]
            if ":" not in name:
                failures.append({"arn": ref, "reason": "The specified task definition identifier is invalid. Specify a valid name or ARN and try again."})
                continue
            family, rev = name.rsplit(":", 1)
            td = backend.task_definitions.get(family, {}).get(int(rev)) if rev.isdigit() else None
            if td is None:
                failures.append({"arn": ref, "reason": "The specified task definition does not exist. Specify a valid account, family, revision and try again."})
                continue
            if td.status == "ACTIVE":
                failures.append({"arn": ref, "reason": "The specified task definition is still in ACTIVE status. Please deregister the target and try again."})
                continue
            td.status = "DELETE_IN_PROGRESS"
            td.delete_requested_at = now()
            deleted.append(td)  # kept: DELETE_IN_PROGRESS revisions stay visible
        return ActionResult({"taskDefinitions": deleted, "failures": failures})


def _list_service_deployments(self):
    with LOCK:
        backend = self.ecs_backend
        service_ref = self._get_param("service")
        cluster = self._get_param("cluster")
        if not cluster:  # a long-format service ARN names its cluster
            parts = service_ref.split(":", 5)[-1].split("/") if service_ref.startswith("arn:") else []
            cluster = parts[1] if len(parts) == 3 else "default"
        service = backend._get_service(cluster, service_ref)  # Cluster/ServiceNotFoundException
        rs = STORE.region(self.current_account, self.region)
        st = rs["services"].get(service.arn)
        sds = [rs["sds"][a] for a in (st.sd_arns if st else []) if a in rs["sds"]]
        statuses = self._get_param("status") or []
        if statuses:
            sds = [sd for sd in sds if sd["status"] in statuses]
        created = self._get_param("createdAt") or {}
        before, after = to_epoch(created.get("before")), to_epoch(created.get("after"))
        horizon = now() - HISTORY_SECONDS
        sds = [sd for sd in sds if sd["createdAt"] >= horizon
               and (before is None or sd["createdAt"] < before)
               and (after is None or sd["createdAt"] > after)]
        order = STORE.config.get("listServiceDeploymentsOrder", "newest")
        sds.sort(key=lambda sd: sd["createdAt"], reverse=(order != "oldest"))
        if order == "random":
            random.shuffle(sds)
        fp = hashlib.sha1(json.dumps([service.arn, statuses, before, after]).encode()).hexdigest()[:12]
        page, token = paginate(sds, self._get_param("maxResults"), self._get_param("nextToken"), 20, fp)
        out: dict[str, Any] = {"serviceDeployments": [brief(sd) for sd in page]}
        if token:
            out["nextToken"] = token
        return ActionResult(out)


def _describe_service_revisions(self):
    with LOCK:
        arns = self._get_param("serviceRevisionArns") or []
        if not arns:
            raise EcsError("InvalidParameterException", "serviceRevisionArns must not be empty.")
        if len(arns) > 20:
            raise EcsError("InvalidParameterException", "You can specify a maximum of 20 ARNs.")
        rs = STORE.region(self.current_account, self.region)
        found, failures = [], []
        for arn in arns:
            rev = rs["revs"].get(arn)
            if rev is None:
                failures.append({"arn": arn, "reason": "MISSING"})
            else:
                found.append(public(rev))
        return ActionResult({"serviceRevisions": found, "failures": failures})




def _describe_service_deployments(self):
    with LOCK:
        arns = self._get_param("serviceDeploymentArns") or []
        if not arns:
            raise EcsError("InvalidParameterException", "serviceDeploymentArns must not be empty.")
        if len(arns) > 20:
            raise EcsError("InvalidParameterException", "You can specify a maximum of 20 ARNs.")
        rs = STORE.region(self.current_account, self.region)
        found, failures = [], []
        for arn in arns:
            sd = rs["sds"].get(arn)
            if sd is None:
                failures.append({"arn": arn, "reason": "MISSING"})
            else:
                found.append(public_sd(sd))
        return ActionResult({"serviceDeployments": found, "failures": failures})


def _stop_service_deployment(self):
    with LOCK:
        arn = self._get_param("serviceDeploymentArn")
        stop_type = self._get_param("stopType") or "ROLLBACK"
        if stop_type != "ROLLBACK":
            # botocore's enum lists ABORT, but StopServiceDeployment documents "The valid values
            # are ROLLBACK." (API reference and model docs)
            raise EcsError("InvalidParameterException",
                           f"Invalid stopType: {stop_type}. The valid values are ROLLBACK.")
        rs = STORE.region(self.current_account, self.region)
        sd = rs["sds"].get(arn)
        st = rs["services"].get(sd["serviceArn"]) if sd else None
        if sd is None or st is None:
            raise EcsError("ServiceDeploymentNotFoundException",
                           f"The service deployment {arn} does not exist.")
        status = sd["status"]
        if status in COMPLETED:
            raise EcsError("ConflictException",
                           f"The service deployment is in {status} status and can't be stopped.",
                           resourceIds=[arn])
        if status in ("ROLLBACK_REQUESTED", "ROLLBACK_IN_PROGRESS", "STOP_REQUESTED"):
            return ActionResult({"serviceDeploymentArn": arn})  # "continues" the operation
        if st.last_successful_rev is None or st.last_successful_rev == sd["targetServiceRevision"]["arn"]:
            raise EcsError("InvalidParameterException",
                           "There is no previous service revision to roll back to.")
        reason = "Service deployment rolled back because of a StopServiceDeployment request."
        sd["statusReason"] = reason
        rb = begin_rollback(rs, st, sd, "ROLLBACK_REQUESTED", reason, legacy_reason=None)
        # ServiceDeployment.stoppedAt: "The service deployment stops when ... A user manually
        # stops the deployment"
        sd["stoppedAt"] = sd["updatedAt"]
        rb["rolloutStateReason"] = f"ECS deployment {rb['id']} in progress."
        event(st, "SERVICE_DEPLOYMENT_IN_PROGRESS", rb["id"], rb["rolloutStateReason"])
        return ActionResult({"serviceDeploymentArn": arn})


def _continue_service_deployment(self):
    """ContinueServiceDeployment (API reference; developer guide "Continuing service
    deployments"): the pause hook `hookId` must be AWAITING_ACTION and the deployment
    IN_PROGRESS. CONTINUE (default) releases the hold: the deployment moves on at its next step
    (`advance`); ROLLBACK rolls it back as a failed lifecycle hook does."""
    with LOCK:
        arn = self._get_param("serviceDeploymentArn")
        hook_id = self._get_param("hookId")
        action = self._get_param("action") or "CONTINUE"
        if action not in ("CONTINUE", "ROLLBACK"):
            raise EcsError("InvalidParameterException", f"Invalid action: {action}. Valid values: CONTINUE, ROLLBACK.")
        rs = STORE.region(self.current_account, self.region)
        sd = rs["sds"].get(arn or "")
        st = rs["services"].get(sd["serviceArn"]) if sd else None
        if sd is None or st is None:
            raise EcsError("ServiceDeploymentNotFoundException", f"The service deployment {arn} does not exist.")
        hold = sd.get("_hold")
        if sd["status"] != "IN_PROGRESS":
            raise EcsError("InvalidParameterException",
                           f"The service deployment is in {sd['status']} status; only an IN_PROGRESS "
                           "deployment can be continued.")
        if hold is None or hold["hookId"] != hook_id or hold["released"]:
            raise EcsError("InvalidParameterException",
                           f"The lifecycle hook {hook_id} is not in AWAITING_ACTION status.")
        resolve_pause(rs, st, sd, action, "SUCCEEDED" if action == "CONTINUE" else "FAILED",
                      f"pause hook {hook_id} was rolled back at {hold['stage']} (ContinueServiceDeployment ROLLBACK)")
        return ActionResult({"serviceDeploymentArn": arn})


def resolve_pause(rs: dict, st: SvcState, sd: dict, action: str, status: str, reason: str) -> list[dict]:
    """Settle the pause hook holding `sd`: CONTINUE releases it, ROLLBACK fails the deployment
    as a failed hook does. Called under LOCK; returns the deployment events."""
    hold = sd["_hold"]
    hold["detail"]["status"] = status
    sd["updatedAt"] = now()
    if action == "CONTINUE":
        hold["released"] = True
        return []
    sd.pop("_hold", None)
    return fail(rs, st, sd, cause="hook", reason=reason, rollback=True)


# --------------------------------------------------------------------------- tasks

FAILURE_STOP_CODES = ("TaskFailedToStart", "EssentialContainerExited")
STOP_DEFAULTS = {  # stoppedReason and container exit code as ECS writes them (events/ fixtures)
    "TaskFailedToStart": ("CannotPullContainerError: pull image manifest has been retried 7 time(s): "
                          "failed to resolve ref {image}: {image}: not found", None),
    "EssentialContainerExited": ("Essential container in task exited", 1),
    "UserInitiated": ("Task stopped by user", 0),
    "ServiceSchedulerInitiated": ("Scaling activity initiated by (deployment {deployment})", 143),
    "SpotInterruption": ("Your Spot Task was interrupted.", 143),
    "TerminationNotice": ("Your Spot Task was interrupted.", 143),
    "InfrastructureHealth": ("Task stopped due to infrastructure health", 143),
}


def _iso_ms(t: float) -> str:
    return _dt.datetime.fromtimestamp(t, _dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


TASK_TIMES = ("connectivityAt", "createdAt", "executionStoppedAt", "pullStartedAt", "pullStoppedAt",
              "startedAt", "stoppedAt", "stoppingAt")


def task_event(account: str, region: str, task: dict, t: float) -> dict:
    """The 'ECS Task State Change' EventBridge event for `task` as it is at `t` (developer guide
    "Amazon ECS task state change events"): detail = the task in the DescribeTasks shape with
    ISO-8601 millisecond timestamps and `updatedAt`, without tags; ENI attachments are typed
    `eni` there (DescribeTasks says `ElasticNetworkInterface`). Logged for GET /ecs/task-events."""
    detail = json.loads(json.dumps(public(task)))
    for k in TASK_TIMES:
        if k in detail:
            detail[k] = _iso_ms(detail[k])
    detail["updatedAt"] = _iso_ms(t)
    detail.pop("tags", None)
    for a in detail.get("attachments") or []:
        if a.get("type") == "ElasticNetworkInterface":
            a["type"] = "eni"
    ev = {"version": "0", "id": str(uuid.uuid4()), "detail-type": "ECS Task State Change", "source": "aws.ecs",
          "account": account, "time": iso(t), "region": region, "resources": [task["taskArn"]], "detail": detail}
    STORE.task_events.append(ev)
    return ev


def stop_task(rs: dict, st: SvcState, body: dict) -> dict:
    """A task of one of the service's deployments stops with the given codes; returns the task
    (DescribeTasks shape), the 'ECS Task State Change' event and the deployment's counts."""
    dep_id = body.get("deploymentId")
    d = find_legacy(st, dep_id) if dep_id else next((x for x in st.deployments if x["status"] == "PRIMARY"), None)
    if d is None:
        raise ControlError(404, f"no deployment {dep_id or 'PRIMARY'} in the service's deployments[]")
    code = body.get("stopCode", "EssentialContainerExited")
    if code not in STOP_DEFAULTS:
        raise ControlError(400, f"stopCode must be one of {sorted(STOP_DEFAULTS)}")
    backend_td = None
    from moto.ecs.models import ecs_backends
    backend = ecs_backends[st.account][st.region]
    backend_td = resolve_td(backend, d["taskDefinition"], for_use=False)
    rev = rs["revs"].get(d.get("_revisionArn")) or {}
    t1 = now()
    t0 = t1 - 60
    task_id = uuid.uuid4().hex
    task_arn = f"arn:aws:ecs:{st.region}:{st.account}:task/{st.cluster_name}/{task_id}"
    default_reason, default_exit = STOP_DEFAULTS[code]
    images = {c.get("name"): c for c in backend_td.container_definitions}
    first_image = next(iter(images.values()), {}).get("image", "")
    reason = body.get("stoppedReason") or default_reason.format(image=first_image, deployment=d["id"])
    overrides = {c.get("name"): c for c in body.get("containers") or []}
    containers = []
    for name, c in images.items():
        o = overrides.get(name, {})
        ct = {
            "containerArn": f"arn:aws:ecs:{st.region}:{st.account}:container/{st.cluster_name}/{task_id}/{uuid.uuid4()}",
            "taskArn": task_arn, "name": name, "image": c.get("image"), "lastStatus": "STOPPED",
            "cpu": str(c.get("cpu", 0)),
        }
        digest = container_digest(c)
        if code != "TaskFailedToStart" and digest:
            ct["imageDigest"] = digest
            ct["runtimeId"] = f"{task_id}-{random.randint(10**9, 10**10 - 1)}"
        exit_code = o.get("exitCode", default_exit if code != "TaskFailedToStart" else None)
        if exit_code is not None:
            ct["exitCode"] = int(exit_code)
        creason = o.get("reason", reason if code == "TaskFailedToStart" else None)
        if creason:
            ct["reason"] = creason
        if c.get("memory"):
            ct["memory"] = str(c["memory"])
        containers.append(ct)
    fargate = rev.get("launchType") == "FARGATE" or any(
        "FARGATE" in (i.get("capacityProvider") or "") for i in rev.get("capacityProviderStrategy") or [])
    task: dict[str, Any] = {
        "attachments": [], "attributes": [{"name": "ecs.cpu-architecture", "value": "x86_64"}],
        "availabilityZone": f"{st.region}a", "clusterArn": st.cluster_arn,
        "connectivity": "CONNECTED", "connectivityAt": t0 + 1, "containers": containers,
        "cpu": str(getattr(backend_td, "cpu", None) or 256), "createdAt": t0, "desiredStatus": "STOPPED",
        "enableExecuteCommand": False, "executionStoppedAt": t1 - 2, "group": f"service:{st.name}",
        "lastStatus": "STOPPED", "memory": str(getattr(backend_td, "memory", None) or 512),
        "overrides": {"containerOverrides": [{"name": n} for n in images], "inferenceAcceleratorOverrides": []},
        "startedBy": d["id"], "stopCode": code, "stoppedAt": t1, "stoppedReason": reason,
        "stoppingAt": t1 - 1, "tags": [], "taskArn": task_arn,
        "taskDefinitionArn": d["taskDefinition"], "version": 5,
    }
    if rev.get("capacityProviderStrategy"):
        task["capacityProviderName"] = rev["capacityProviderStrategy"][0].get("capacityProvider")
    else:
        task["launchType"] = rev.get("launchType", "EC2")
    if fargate:
        task["platformVersion"] = "1.4.0"
        task["platformFamily"] = rev.get("platformFamily", "Linux")
        task["ephemeralStorage"] = {"sizeInGiB": 20}
    if code != "TaskFailedToStart":
        task.update(pullStartedAt=t0 + 5, pullStoppedAt=t0 + 10, startedAt=t0 + 15)
    rs["tasks"][task_arn] = task
    counted = code in FAILURE_STOP_CODES or "health check" in reason.lower()
    dep_events = started_by_task(st, rs, d)
    sd = None
    reached = tripped = False
    if counted:
        d["failedTasks"] = d.get("failedTasks", 0) + 1
        d["updatedAt"] = t1
        sd = rs["sds"].get(d.get("_sd") or "")
        if sd is not None and sd.get("_legacyId") == d["id"] and sd["status"] in ("PENDING", "IN_PROGRESS"):
            cbs = sd["deploymentCircuitBreaker"]
            cbs["failureCount"] += 1
            sd["updatedAt"] = t1
            refresh_threshold(st, sd)
            reached = cbs["status"] == "MONITORING" and cbs["failureCount"] >= cbs["threshold"]
            cb_cfg = sd["deploymentConfiguration"].get("deploymentCircuitBreaker") or {}
            if reached and sd["_strategy"] in ("ROLLING", "BLUE_GREEN") and cb_cfg.get("enable"):
                # "when the failed-task count reaches the threshold, the deployment fails":
                # the same path (and events) as deployment-state FAILED with cause circuitBreaker
                dep_events += fail(rs, st, sd, cause="circuitBreaker")
                tripped = True
        else:
            sd = None
    ev = task_event(st.account, st.region, task, t1)
    out = {"task": copy.deepcopy(task), "event": ev, "deployment": public(d), "countedAsFailed": counted,
           "deploymentEvents": dep_events, "deploymentEvent": _main_event(dep_events) if tripped else None}
    if sd is not None:
        out["serviceDeployment"] = control_sd(sd)
        out["circuitBreakerThresholdReached"] = reached
        out["circuitBreakerTripped"] = tripped
    return out


def started_by_task(st: SvcState, rs: dict, d: dict) -> list[dict]:
    """A task of a PENDING service deployment exists: ECS has started the deployment."""
    sd = rs["sds"].get(d.get("_sd") or "")
    if sd is not None and sd.get("_legacyId") == d["id"] and sd["status"] == "PENDING":
        return start_in_progress(st, sd)
    return []


def task_healthy(rs: dict, st: SvcState, body: dict) -> dict:
    """Control API: a task of the service's PRIMARY deployment (or `deploymentId`) reaches RUNNING
    and passes its health checks. With the circuit breaker's resetOnHealthyTask (default true:
    botocore DeploymentCircuitBreaker) the failure count of its ongoing service deployment and
    the deployment's failedTasks go back to 0."""
    dep_id = body.get("deploymentId")
    d = find_legacy(st, dep_id) if dep_id else next((x for x in st.deployments if x["status"] == "PRIMARY"), None)
    if d is None:
        raise ControlError(404, f"no deployment {dep_id or 'PRIMARY'} in the service's deployments[]")
    from moto.ecs.models import ecs_backends
    td = resolve_td(ecs_backends[st.account][st.region], d["taskDefinition"], for_use=False)
    rev = rs["revs"].get(d.get("_revisionArn")) or {}
    t = now()
    task_id = uuid.uuid4().hex
    task_arn = f"arn:aws:ecs:{st.region}:{st.account}:task/{st.cluster_name}/{task_id}"
    containers = []
    for c in td.container_definitions:
        ct = {"containerArn": f"arn:aws:ecs:{st.region}:{st.account}:container/{st.cluster_name}/{task_id}/{uuid.uuid4()}",
              "taskArn": task_arn, "name": c.get("name"), "image": c.get("image"), "lastStatus": "RUNNING",
              "healthStatus": "HEALTHY", "cpu": str(c.get("cpu", 0)),
              "runtimeId": f"{task_id}-{random.randint(10**9, 10**10 - 1)}"}
        digest = container_digest(c)
        if digest:
            ct["imageDigest"] = digest
        if c.get("memory"):
            ct["memory"] = str(c["memory"])
        containers.append(ct)
    task: dict[str, Any] = {
        "attachments": [], "attributes": [{"name": "ecs.cpu-architecture", "value": "x86_64"}],
        "availabilityZone": f"{st.region}a", "clusterArn": st.cluster_arn, "connectivity": "CONNECTED",
        "connectivityAt": t - 20, "containers": containers, "cpu": str(getattr(td, "cpu", None) or 256),
        "createdAt": t - 30, "desiredStatus": "RUNNING", "enableExecuteCommand": False,
        "group": f"service:{st.name}", "healthStatus": "HEALTHY", "lastStatus": "RUNNING",
        "memory": str(getattr(td, "memory", None) or 512),
        "overrides": {"containerOverrides": [{"name": c.get("name")} for c in td.container_definitions],
                      "inferenceAcceleratorOverrides": []},
        "pullStartedAt": t - 15, "pullStoppedAt": t - 10, "startedAt": t - 5, "startedBy": d["id"], "tags": [],
        "taskArn": task_arn, "taskDefinitionArn": d["taskDefinition"], "version": 3,
    }
    if rev.get("capacityProviderStrategy"):
        task["capacityProviderName"] = rev["capacityProviderStrategy"][0].get("capacityProvider")
    else:
        task["launchType"] = rev.get("launchType", "EC2")
    rs["tasks"][task_arn] = task
    events = started_by_task(st, rs, d)
    d["runningCount"] = min(d.get("desiredCount", 0), d.get("runningCount", 0) + 1)
    d["pendingCount"] = max(0, d.get("desiredCount", 0) - d["runningCount"])
    d["updatedAt"] = t
    recount(st, rs)
    sd = rs["sds"].get(d.get("_sd") or "")
    reset = False
    if sd is not None and sd.get("_legacyId") == d["id"] and sd["status"] in ("PENDING", "IN_PROGRESS"):
        cb_cfg = sd["deploymentConfiguration"].get("deploymentCircuitBreaker") or {}
        if cb_cfg.get("resetOnHealthyTask", True) is not False:
            sd["deploymentCircuitBreaker"]["failureCount"] = 0
            d["failedTasks"] = 0
            reset = True
        sd["updatedAt"] = t
    else:
        sd = None
    out = {"task": task_view(task), "event": task_event(st.account, st.region, task, t), "deployment": public(d),
           "failureCountReset": reset, "deploymentEvents": events}
    if sd is not None:
        out["serviceDeployment"] = control_sd(sd)
    return out


# --------------------------------------------------------------------------- standalone tasks (RunTask)

RUN_TASK_MAX_COUNT = 10  # RunTask `count`: "You can specify up to 10 tasks for each call."
STARTED_BY_MAX = 128  # RunTask `startedBy`: "Up to 128 letters …"
GROUP_MAX = 255  # developer guide "Group related Amazon ECS tasks": "255 or fewer characters"
CLIENT_TOKEN_MAX = 64  # RunTask `clientToken`: "Up to 64 characters … in the range of 33-126"
OVERRIDES_MAX = 8192  # RunTask `overrides`: "A total of 8192 characters are allowed for overrides."
USER_STOP_REASON = "Task stopped by user"
SIGTERM_EXIT = 143  # 128 + SIGTERM: StopTask's `docker stop` with the default STOPSIGNAL
ESSENTIAL_EXITED = "Essential container in task exited"
PULL_FAILED = ("CannotPullContainerError: pull image manifest has been retried 7 time(s): "
               "failed to resolve ref {image}: {image}: not found")
LAUNCH_TYPES = ("EC2", "FARGATE", "EXTERNAL", "MANAGED_INSTANCES")


def _bad(message: str) -> EcsError:
    return EcsError("InvalidParameterException", message)


def task_view(task: dict, tags: bool = True) -> dict:
    """A stored task as the API shows it: private keys dropped, tags only when asked for."""
    out = public(task)
    if not tags:
        out.pop("tags", None)
    return out


def _eni(region: str, subnet: str) -> tuple[dict, dict]:
    """An awsvpc task's ENI attachment (DescribeTasks `attachments[]`) and the container's
    `networkInterfaces[]` entry."""
    att_id = str(uuid.uuid4())
    ip = f"10.0.{random.randint(0, 255)}.{random.randint(4, 250)}"
    mac = "02:" + ":".join(f"{random.randint(0, 255):02x}" for _ in range(5))
    eni = "eni-" + "".join(random.choice("0123456789abcdef") for _ in range(17))
    att = {"id": att_id, "type": "ElasticNetworkInterface", "status": "ATTACHED", "details": [
        {"name": "subnetId", "value": subnet},
        {"name": "networkInterfaceId", "value": eni},
        {"name": "macAddress", "value": mac},
        {"name": "privateDnsName", "value": f"ip-{ip.replace('.', '-')}.{region}.compute.internal"},
        {"name": "privateIPv4Address", "value": ip},
    ]}
    return att, {"attachmentId": att_id, "privateIpv4Address": ip}


def _run_task(self):
    """RunTask of a standalone task (API reference RunTask): validated as below, then RUNNING
    until StopTask or the control API's `task-exit` ends it."""
    with LOCK:
        backend = self.ecs_backend
        p = self._get_params()
        cluster = backend._get_cluster(p.get("cluster") or "default")  # ClusterNotFoundException
        if not p.get("taskDefinition"):
            raise _bad("taskDefinition can not be blank.")
        count = p.get("count", 1)
        if not isinstance(count, int) or not 1 <= count <= RUN_TASK_MAX_COUNT:
            raise _bad(f"count must be between 1 and {RUN_TASK_MAX_COUNT}.")
        started_by = p.get("startedBy")
        if started_by is not None and len(started_by) > STARTED_BY_MAX:
            raise _bad(f"startedBy must be at most {STARTED_BY_MAX} characters.")
        group = p.get("group")
        if group is not None and len(group) > GROUP_MAX:
            raise _bad(f"group must be at most {GROUP_MAX} characters.")
        token = p.get("clientToken")
        if token is not None and (not 1 <= len(token) <= CLIENT_TOKEN_MAX
                                  or any(not 33 <= ord(ch) <= 126 for ch in token)):
            raise _bad(f"clientToken must be 1 to {CLIENT_TOKEN_MAX} ASCII characters in the range 33-126.")
        rs = STORE.region(self.current_account, self.region)
        expire_tasks()
        # Ensuring idempotency: the same token with the same parameters returns the first
        # call's tasks and starts nothing; with other parameters it is a ConflictException
        # whose resourceIds are the tasks that token started.
        fingerprint = json.dumps({k: v for k, v in p.items() if k != "clientToken"}, sort_keys=True, default=str)
        if token is not None and token in rs["runTokens"]:
            prior = rs["runTokens"][token]
            if prior["fingerprint"] != fingerprint:
                raise EcsError("ConflictException",
                               "The clientToken is already in use with a different RunTask request.",
                               resourceIds=list(prior["taskArns"]))
            return ActionResult({"tasks": [task_view(rs["tasks"][a]) for a in prior["taskArns"]], "failures": []})
        launch = p.get("launchType")
        strategy = p.get("capacityProviderStrategy") or None
        if launch and launch not in LAUNCH_TYPES:
            raise _bad(f"launch type should be one of [{','.join(LAUNCH_TYPES)}]")
        if launch and strategy:
            raise _bad("Specify either Launch Type or Capacity Provider Strategy, but not both.")
        if not launch and not strategy:  # the cluster's default strategy, else EC2
            strategy = copy.deepcopy(getattr(cluster, "default_capacity_provider_strategy", None)) or None
            if not strategy:
                launch = "EC2"
        td = resolve_td(backend, p["taskDefinition"], for_use=True)
        fargate = launch == "FARGATE" or bool(
            strategy and "FARGATE" in (strategy[0].get("capacityProvider") or ""))
        required = getattr(td, "requires_compatibilities", None) or []
        if fargate and ((required and "FARGATE" not in required) or td.network_mode != "awsvpc"):
            raise EcsError("ClientException", "Task definition does not support launch_type FARGATE.")
        net = p.get("networkConfiguration")
        subnets = ((net or {}).get("awsvpcConfiguration") or {}).get("subnets") or []
        if td.network_mode == "awsvpc" and not subnets:
            raise _bad("Network Configuration must be provided when networkMode 'awsvpc' is specified.")
        if td.network_mode != "awsvpc" and net:
            raise _bad("Network Configuration is not valid for the given networkMode of this task definition.")
        overrides = copy.deepcopy(p.get("overrides") or {})
        given = overrides.get("containerOverrides") or []
        if len(json.dumps(given, separators=(",", ":"))) > OVERRIDES_MAX:
            raise _bad(f"Container Overrides length must be at most {OVERRIDES_MAX}")
        names = [c.get("name") for c in td.container_definitions]
        for co in given:
            if co.get("name") not in names:
                raise _bad(f"Override for container named {co.get('name')} is not a container in the TaskDefinition.")
        tags = list(p.get("tags") or [])
        if p.get("propagateTags") == "TASK_DEFINITION":
            tags = list(td.tags or []) + tags
        tasks = [new_standalone_task(rs, self.current_account, self.region, cluster, td, p, overrides, launch,
                                     strategy, subnets, tags) for _ in range(count)]
        if token is not None:
            rs["runTokens"][token] = {"fingerprint": fingerprint, "taskArns": [t["taskArn"] for t in tasks]}
        return ActionResult({"tasks": [task_view(t) for t in tasks], "failures": []})


def new_standalone_task(rs: dict, account: str, region: str, cluster: Any, td: Any, p: dict, overrides: dict,
                        launch: str | None, strategy: list | None, subnets: list, tags: list) -> dict:
    t = now()
    task_id = uuid.uuid4().hex
    task_arn = f"arn:aws:ecs:{region}:{account}:task/{cluster.name}/{task_id}"
    att = ni = None
    if subnets:
        att, ni = _eni(region, subnets[0])
    by_name = {co.get("name"): co for co in overrides.get("containerOverrides") or []}
    containers = []
    for c in td.container_definitions:
        ct = {
            "containerArn": f"arn:aws:ecs:{region}:{account}:container/{cluster.name}/{task_id}/{uuid.uuid4()}",
            "taskArn": task_arn, "name": c.get("name"), "image": c.get("image"), "lastStatus": "RUNNING",
            "healthStatus": "UNKNOWN", "cpu": str(c.get("cpu", 0)),
        }
        digest = container_digest(c)
        if digest:
            ct["imageDigest"] = digest
        ct["runtimeId"] = f"{task_id}-{random.randint(10**9, 10**10 - 1)}"
        if ni:
            ct["networkInterfaces"] = [dict(ni)]
        if c.get("memory"):
            ct["memory"] = str(c["memory"])
        containers.append(ct)
    # every container of the task definition is listed, with the overrides it was given
    overrides["containerOverrides"] = [copy.deepcopy(by_name.get(n, {"name": n}))
                                       for n in (c.get("name") for c in td.container_definitions)]
    task: dict[str, Any] = {
        "attachments": [att] if att else [], "attributes": [{"name": "ecs.cpu-architecture", "value": "x86_64"}],
        "availabilityZone": f"{region}a", "clusterArn": cluster.arn, "connectivity": "CONNECTED",
        "connectivityAt": t, "containers": containers,
        "cpu": str(overrides.get("cpu") or getattr(td, "cpu", None) or 256), "createdAt": t,
        "desiredStatus": "RUNNING", "enableExecuteCommand": bool(p.get("enableExecuteCommand", False)),
        "group": p.get("group") or f"family:{td.family}", "healthStatus": "UNKNOWN", "lastStatus": "RUNNING",
        "memory": str(overrides.get("memory") or getattr(td, "memory", None) or 512), "overrides": overrides,
        "pullStartedAt": t, "pullStoppedAt": t, "startedAt": t, "tags": tags, "taskArn": task_arn,
        "taskDefinitionArn": td.arn,
        # PROVISIONING -> PENDING -> RUNNING: three changes, each one an event and a version
        "version": 3,
        "_standalone": True,
    }
    if p.get("startedBy") is not None:  # absent when the caller passed none
        task["startedBy"] = p["startedBy"]
    if strategy:
        task["capacityProviderName"] = strategy[0].get("capacityProvider")
    else:
        task["launchType"] = launch
    if launch == "FARGATE" or (strategy and "FARGATE" in (strategy[0].get("capacityProvider") or "")):
        pv = p.get("platformVersion") or "LATEST"
        task["platformVersion"] = "1.4.0" if pv == "LATEST" else pv
        task["platformFamily"] = td_platform_family(td)
        task["ephemeralStorage"] = {"sizeInGiB": 20}
    rs["tasks"][task_arn] = task
    task_event(account, region, task, t)  # the RUNNING state change
    return task


def end_task(account: str, region: str, task: dict, code: str, reason: str, exit_code: int | None,
             container_reason: str | None = None) -> dict:
    """A RUNNING standalone task stops; returns its 'ECS Task State Change' (lastStatus STOPPED)."""
    t = now()
    task.update(lastStatus="STOPPED", desiredStatus="STOPPED", stopCode=code, stoppedReason=reason,
                stoppingAt=t, executionStoppedAt=t, stoppedAt=t, version=task.get("version", 3) + 2)
    failed_to_start = code == "TaskFailedToStart"
    if failed_to_start:  # it never ran: no start, no pulled image (as the service tasks that fail to start)
        for k in ("pullStoppedAt", "startedAt"):
            task.pop(k, None)
    for a in task.get("attachments") or []:
        a["status"] = "DELETED"
    for c in task["containers"]:
        c["lastStatus"] = "STOPPED"
        if exit_code is not None:
            c["exitCode"] = exit_code
        if container_reason:
            c["reason"] = container_reason
        if failed_to_start:
            c.pop("imageDigest", None)
            c.pop("runtimeId", None)
    return task_event(account, region, task, t)


def expire_tasks(t: float | None = None) -> list[str]:
    """Stopped tasks are kept "at least one hour" (DescribeTasks), on the stand's clock; then
    they are gone, with the RunTask client tokens that named them."""
    t = now() if t is None else t
    gone: list[str] = []
    for rs in STORE.regions.values():
        mine = [a for a, task in rs["tasks"].items()
                if task.get("lastStatus") == "STOPPED" and task.get("stoppedAt") is not None
                and t - task["stoppedAt"] > STOPPED_TASK_SECONDS]
        for a in mine:
            del rs["tasks"][a]
        if mine:
            for token, rec in list(rs["runTokens"].items()):
                if any(a not in rs["tasks"] for a in rec["taskArns"]):
                    del rs["runTokens"][token]
        gone += mine
    return gone


def clock(body: dict) -> dict:
    """Control API: the stand's clock. `advanceSeconds` moves it on; ECS then catches up: PENDING
    service deployments start (IN_PROGRESS), pause hooks past `expiresAt` take their timeout
    action (TIMED_OUT, then CONTINUE or ROLLBACK), stopped tasks older than an hour are dropped."""
    behind = body.get("startBehindSeconds")
    if behind is not None:
        # CloudWatch runs on real time: a test that needs a deployment started in the real past
        # (its metrics written at real minutes after that start) starts the stand's clock behind
        # real time, before ECS holds anything, and lets it run from there.
        if isinstance(behind, bool) or not isinstance(behind, (int, float)) or behind < 0:
            raise ControlError(400, "startBehindSeconds must be a number >= 0")
        if STORE.clock_offset != 0.0 or any(rs["services"] for rs in STORE.regions.values()):
            raise ControlError(409, "startBehindSeconds only right after reset, before any service")
        STORE.clock_offset = -float(behind)
        return {"now": now(), "offsetSeconds": STORE.clock_offset, "events": [], "expiredTasks": []}
    adv = body.get("advanceSeconds", 0)
    if isinstance(adv, bool) or not isinstance(adv, (int, float)) or adv < 0:
        raise ControlError(400, "advanceSeconds must be a number >= 0")
    STORE.clock_offset += float(adv)
    t = now()
    events: list[dict] = []
    for rs in list(STORE.regions.values()):
        for st in list(rs["services"].values()):
            for arn in list(st.sd_arns):
                sd = rs["sds"].get(arn)
                if sd is None:
                    continue
                if adv > 0 and sd["status"] == "PENDING":
                    events += start_in_progress(st, sd)
                hold = sd.get("_hold")
                if (hold is not None and not hold["released"] and sd["status"] == "IN_PROGRESS"
                        and hold["detail"]["expiresAt"] <= t):
                    action = hold["detail"]["timeoutAction"]
                    events += resolve_pause(rs, st, sd, action, "TIMED_OUT",
                                            f"pause hook {hold['hookId']} timed out at {hold['stage']}")
    return {"now": t, "offsetSeconds": STORE.clock_offset, "events": events, "expiredTasks": expire_tasks(t)}


def find_task(ref: str, account: str | None = None, region: str | None = None,
              cluster: str | None = None) -> tuple[str, str, dict, dict] | None:
    expire_tasks()
    hits = []
    for (acct, reg), rs in STORE.regions.items():
        if account and acct != account or region and reg != region:
            continue
        for arn, task in rs["tasks"].items():
            if (arn == ref or arn.rsplit("/", 1)[-1] == ref) and (
                    not cluster or task["clusterArn"].endswith("/" + cluster.split("/")[-1])):
                hits.append((acct, reg, rs, task))
    if len(hits) > 1:
        raise ControlError(400, "task is ambiguous across accounts/regions: pass account and region")
    return hits[0] if hits else None


def _stop_task(self):
    """StopTask (API reference StopTask): stopCode UserInitiated, stoppedReason = `reason` or
    "Task stopped by user", containers exit 143 (SIGTERM), tags deleted ("Any tags associated
    with the task will be deleted"); a task already STOPPED is returned as it is."""
    with LOCK:
        cluster = self.ecs_backend._get_cluster(self._get_param("cluster") or "default")  # ClusterNotFoundException
        ref = self._get_param("task") or ""
        rs = STORE.region(self.current_account, self.region)
        expire_tasks()
        task = next((t for a, t in rs["tasks"].items()
                     if (a == ref or a.rsplit("/", 1)[-1] == ref) and t["clusterArn"] == cluster.arn), None)
        if task is None:
            if any(a == ref or a.rsplit("/", 1)[-1] == ref for a in self.ecs_backend.tasks.get(cluster.name, {})):
                return _orig["stop_task"](self)  # moto's own tasks (StartTask)
            raise _bad("The referenced task was not found.")
        if task["lastStatus"] != "STOPPED":
            reason = self._get_param("reason") or USER_STOP_REASON
            end_task(self.current_account, self.region, task, "UserInitiated", reason, SIGTERM_EXIT)
            task["tags"] = []
        return ActionResult({"task": task_view(task)})


def _describe_tasks(self):
    with LOCK:
        refs = self._get_param("tasks") or []
        if not refs:
            raise EcsError("InvalidParameterException", "Tasks cannot be empty.")
        if len(refs) > 100:
            raise EcsError("InvalidParameterException", "Tasks cannot exceed 100.")
        cluster = (self._get_param("cluster") or "default").split("/")[-1]
        rs = STORE.region(self.current_account, self.region)
        expire_tasks()
        ours, rest = [], []
        for ref in refs:
            hit = next((t for a, t in rs["tasks"].items()
                        if (a == ref or a.rsplit("/", 1)[-1] == ref) and t["clusterArn"].endswith("/" + cluster)), None)
            (ours.append(hit) if hit else rest.append(ref))
        moto_tasks = []
        if rest:
            try:
                moto_tasks = self.ecs_backend.describe_tasks(cluster, rest)
            except Exception:
                moto_tasks = []
        found = {getattr(t, "task_arn", "") for t in moto_tasks}
        failures = [{"arn": r, "reason": "MISSING"} for r in rest
                    if not any(f == r or f.rsplit("/", 1)[-1] == r for f in found)]
        include = self._get_param("include") or []
        tasks = [task_view(t, tags="TAGS" in include) for t in ours]
        return ActionResult({"tasks": tasks + list(moto_tasks), "failures": failures})


def _list_tasks(self):
    """ListTasks over the stand's tasks (standalone tasks from RunTask, RUNNING or STOPPED, and the
    stopped service tasks of the control API) merged with moto's own: filters `desiredStatus`
    (default RUNNING; PENDING lists nothing), `startedBy`, `family`, `serviceName`, `launchType`;
    `maxResults` 1-100 (default 100) and an opaque `nextToken`."""
    with LOCK:
        status = self._get_param("desiredStatus") or "RUNNING"
        if status not in ("RUNNING", "PENDING", "STOPPED"):
            raise _bad(f"Invalid desiredStatus: {status}")
        result = _orig["list_tasks"](self)  # also ClusterNotFoundException
        cluster = (self._get_param("cluster") or "default").split("/")[-1]
        service = self._get_param("serviceName")
        started_by = self._get_param("startedBy")
        family = self._get_param("family")
        launch = self._get_param("launchType")
        rs = STORE.region(self.current_account, self.region)
        expire_tasks()
        arns = [a for a, t in rs["tasks"].items()
                if t["clusterArn"].endswith("/" + cluster) and t["desiredStatus"] == status
                and (not service or (not t.get("_standalone") and t["group"] == f"service:{service.split('/')[-1]}"))
                and (not started_by or t.get("startedBy") == started_by)
                and (not family or t["taskDefinitionArn"].split("/")[-1].rsplit(":", 1)[0] == family)
                and (not launch or t.get("launchType") == launch)]
        prior = list(result.result.get("taskArns", [])) if isinstance(result.result, dict) else []
        fp = hashlib.sha1(json.dumps([cluster, status, service, started_by, family, launch]).encode()).hexdigest()[:12]
        page, token = paginate(prior + arns, self._get_param("maxResults"), self._get_param("nextToken"), 100, fp)
        out: dict[str, Any] = {"taskArns": page}
        if token:
            out["nextToken"] = token
        return ActionResult(out)


_NEW_METHODS = {
    "create_service": _create_service,
    "update_service": _update_service,
    "delete_service": _delete_service,
    "register_task_definition": _register_task_definition,
    "deregister_task_definition": _deregister_task_definition,
    "describe_task_definition": _describe_task_definition,
    "list_task_definitions": _list_task_definitions,
    "delete_task_definitions": _delete_task_definitions,
    "list_service_deployments": _list_service_deployments,
    "describe_service_deployments": _describe_service_deployments,
    "describe_service_revisions": _describe_service_revisions,
    "stop_service_deployment": _stop_service_deployment,
    "continue_service_deployment": _continue_service_deployment,
    "describe_tasks": _describe_tasks,
    "list_tasks": _list_tasks,
    "run_task": _run_task,
    "stop_task": _stop_task,
}
def _call_action(self):
    # dispatch *and* serialization under the lock: the control API mutates the same
    # Service objects moto serializes
    with LOCK:
        return _orig["call_action"](self)


def install() -> None:
    if "call_action" not in _orig:
        _orig["call_action"] = Resp.call_action
        Resp.call_action = _call_action
    for name, fn in _NEW_METHODS.items():
        if name not in _orig and hasattr(Resp, name):
            _orig[name] = getattr(Resp, name)
        setattr(Resp, name, fn)


# --------------------------------------------------------------------------- control API



# --------------------------------------------------------------------------- control API

def _main_event(events: list[dict]) -> dict | None:
    return next((e for e in events if e["detail"]["eventName"] != "SERVICE_DEPLOYMENT_IN_PROGRESS"),
                events[0] if events else None)


def control(op: str, body: dict) -> dict:
    """ECS part of the control API (POST /_stand/ecs/<op>)."""
    # Operations that may invoke a lifecycle hook run without the lock around the hook call.
    if op in ("advance", "deployment-state"):
        with LOCK:
            rs, st = _svc_from(body)
            sd = _sd_from(rs, st, body)
            walk = op == "advance" or (
                str(body.get("state", "")).upper() in ("SUCCESSFUL", "COMPLETED")
                and sd.get("_plan") is not None and sd["status"] in ("PENDING", "IN_PROGRESS"))
            if walk and sd.get("_plan") is None:
                raise ControlError(409, "advance is for BLUE_GREEN, LINEAR and CANARY deployments and rolling "
                                        "deployments with lifecycle hooks; this ROLLING deployment moves with "
                                        "deployment-state")
            if walk and sd["status"] not in ("PENDING", "IN_PROGRESS"):
                raise ControlError(409, f"service deployment is {sd['status']}")
        if walk:
            until = None if op == "deployment-state" else body.get("until")
            out = advance(rs, st, sd, until=None if until in (None, "COMPLETE") else until, steps=body.get("steps"))
            with LOCK:
                out["event"] = _main_event(out["events"])
                if out["awaitingAction"] is not None and not any(
                        e["detail"]["eventName"] != "SERVICE_DEPLOYMENT_IN_PROGRESS" for e in out["events"]):
                    out["event"] = out["awaitingAction"]["event"]  # held: the ECS Hook State Change
                out["serviceDeployment"] = control_sd(sd)
                out["lifecycleStage"] = sd.get("lifecycleStage")
            return out
    with LOCK:
        if op == "deployment-state":
            events = move(rs, st, sd, body.get("state", ""),
                          rollback=body.get("rollback"), cause=body.get("cause", "circuitBreaker"),
                          failed_tasks=body.get("failedTasks"), alarm_names=body.get("alarmNames"),
                          reason=body.get("reason"), settle=bool(body.get("settle")))
            return {"event": _main_event(events), "events": events, "serviceDeployment": control_sd(sd)}
        if op == "failed-tasks":
            rs, st = _svc_from(body)
            sd = _sd_from(rs, st, body)
            n = int(body["failedTasks"])
            lid = sd.get("_rollbackLegacyId") or sd["_legacyId"]
            d = find_legacy(st, lid)
            if d is not None:
                d["failedTasks"] = n
                d["updatedAt"] = now()
            sd["deploymentCircuitBreaker"]["failureCount"] = n
            sd["updatedAt"] = now()
            return {"serviceDeployment": control_sd(sd)}
        if op == "task-stopped":
            rs, st = _svc_from(body)
            return stop_task(rs, st, body)
        if op == "task-healthy":
            rs, st = _svc_from(body)
            return task_healthy(rs, st, body)
        if op == "clock":
            return clock(body)
        if op == "hook-events":
            arn = body.get("serviceDeploymentArn")
            return {"events": [e for e in STORE.hook_events
                               if not arn or e["detail"]["serviceDeploymentArn"] == arn]}
        if op == "task-events":
            return {"events": list(STORE.task_events)}
        if op == "task-exit":
            return task_exit(body)
        if op == "tasks":
            return {"tasks": standalone_tasks(body)}
        if op == "hooks":
            arn = body.get("serviceDeploymentArn")
            return {"invocations": [h for h in STORE.hooks if not arn or h["serviceDeploymentArn"] == arn]}
        if op == "image-digest":
            image, digest = body["image"], body["digest"]
            if not digest.startswith("sha256:"):
                raise ControlError(400, "digest must look like sha256:<hex>")
            STORE.digests[image] = digest
            return {"image": image, "digest": digest}
        if op == "created-at":
            rs, st = _svc_from(body) if "serviceDeploymentArn" not in body else (None, None)
            if st is None:
                hit = find_sd(body["serviceDeploymentArn"])
                if hit is None:
                    raise ControlError(404, "unknown serviceDeploymentArn")
                rs, st, sd = hit
            else:
                sd = _sd_from(rs, st, body)
            if "secondsAgo" in body:
                t = now() - float(body["secondsAgo"])
            else:
                t = to_epoch(body["createdAt"])
            t = round(t, 3)
            sd["createdAt"] = t
            if "startedAt" in sd:
                sd["startedAt"] = t
            sd["updatedAt"] = max(sd.get("updatedAt", t), t)
            for lid in (sd.get("_legacyId"), sd.get("_rollbackLegacyId")):
                d = find_legacy(st, lid)
                if d is not None:
                    d["createdAt"] = t
                    d["updatedAt"] = max(d["updatedAt"], t)
            return {"serviceDeployment": control_sd(sd)}
        if op == "state":
            rs, st = _svc_from(body)
            return {
                "serviceArn": st.arn,
                "account": st.account,
                "region": st.region,
                "serviceDeployments": [control_sd(rs["sds"][a]) for a in st.sd_arns if a in rs["sds"]],
                "deployments": [public(d) for d in st.deployments],
                "lastSuccessfulServiceRevisionArn": st.last_successful_rev,
                "configuration": copy.deepcopy(st.config),
            }
        if op == "events":
            return {"events": list(STORE.events)}
        if op == "config":
            for k, v in body.items():
                if k == "initialServiceDeploymentStatus":
                    raise ControlError(400, "initialServiceDeploymentStatus is gone: every service deployment "
                                            "starts PENDING and starts (IN_PROGRESS) with a deployment-state move, "
                                            "advance, a task of it, or the clock")
                if k not in STORE.config:
                    raise ControlError(400, f"unknown config key {k}")
                STORE.config[k] = v
            return {"config": dict(STORE.config)}
        raise ControlError(404, f"unknown ECS control operation {op}")


def task_exit(body: dict) -> dict:
    """Control API: a RUNNING standalone task (RunTask) ends by itself. `exitCode` an integer:
    its essential container exited with it (EssentialContainerExited, every container that
    exit code); `null`: the task failed to start (TaskFailedToStart, CannotPullContainerError,
    no exit codes). Returns the task (DescribeTasks shape) and its 'ECS Task State Change'."""
    ref = body.get("taskArn")
    if not ref:
        raise ControlError(400, "taskArn is required")
    if "exitCode" not in body:
        raise ControlError(400, "exitCode is required: an integer, or null for a task that failed to start")
    exit_code = body["exitCode"]
    if exit_code is not None and (not isinstance(exit_code, int) or isinstance(exit_code, bool)):
        raise ControlError(400, "exitCode must be an integer or null")
    hit = find_task(ref, body.get("account"), body.get("region"), body.get("cluster"))
    if hit is None:
        raise ControlError(404, f"no task {ref} known to the stand")
    account, region, _rs, task = hit
    if not task.get("_standalone"):
        raise ControlError(409, f"task {ref} is a service task: task-exit ends tasks started with RunTask")
    if task["lastStatus"] != "RUNNING":
        raise ControlError(409, f"task {ref} is not RUNNING: it is {task['lastStatus']} "
                                f"(stopCode {task.get('stopCode')}, stoppedReason {task.get('stoppedReason')!r}); "
                                "only a RUNNING task can exit")
    if exit_code is None:
        image = task["containers"][0].get("image", "") if task["containers"] else ""
        reason = body.get("reason") or PULL_FAILED.format(image=image)
        ev = end_task(account, region, task, "TaskFailedToStart", reason, None, container_reason=reason)
    else:
        ev = end_task(account, region, task, "EssentialContainerExited", body.get("reason") or ESSENTIAL_EXITED,
                      exit_code)
    return {"task": task_view(task, tags=False), "event": ev}


def standalone_tasks(body: dict) -> list[dict]:
    """Control API: the tasks started with RunTask (oldest first), filtered by `startedBy`,
    `cluster`, `desiredStatus`, `account`, `region`; DescribeTasks shape with tags."""
    out = []
    expire_tasks()
    for (acct, reg), rs in STORE.regions.items():
        if body.get("account") and acct != body["account"] or body.get("region") and reg != body["region"]:
            continue
        for task in rs["tasks"].values():
            if not task.get("_standalone"):
                continue
            if "startedBy" in body and task.get("startedBy") != body["startedBy"]:
                continue
            if body.get("cluster") and not task["clusterArn"].endswith("/" + body["cluster"].split("/")[-1]):
                continue
            if body.get("desiredStatus") and task["desiredStatus"] != body["desiredStatus"]:
                continue
            out.append(task_view(task))
    out.sort(key=lambda t: t["createdAt"])
    return out


def _svc_from(body: dict):
    if "cluster" not in body or "service" not in body:
        raise ControlError(400, "cluster and service are required")
    return find_service_state(body["cluster"], body["service"], body.get("account"), body.get("region"))


def _sd_from(rs: dict, st: SvcState, body: dict) -> dict:
    arn = body.get("serviceDeploymentArn")
    if arn:
        sd = rs["sds"].get(arn)
        if sd is None or sd["serviceArn"] != st.arn:
            raise ControlError(404, "unknown serviceDeploymentArn for this service")
        return sd
    if not st.sd_arns:
        raise ControlError(409, "the service has no service deployment")
    return rs["sds"][st.sd_arns[-1]]
