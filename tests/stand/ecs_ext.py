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
    return round(time.time(), 3)


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
        self.config: dict[str, Any] = {
            "initialServiceDeploymentStatus": "IN_PROGRESS",  # or PENDING
            "listServiceDeploymentsOrder": "newest",  # newest | oldest | random
        }

    def region(self, account: str, region: str) -> dict[str, Any]:
        key = (account, region)
        if key not in self.regions:
            self.regions[key] = {"services": {}, "sds": {}, "revs": {}}
        return self.regions[key]

    def reset(self) -> None:
        self.__init__()


STORE = Store()


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
        self.last_successful_rev: str | None = None
        self.last_successful_dep_id: str | None = None

    @property
    def deployments(self) -> list[dict]:
        return self.service.deployments


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


def cb_threshold(desired: int) -> int:
    return min(200, max(3, math.ceil(0.5 * desired)))


def find_legacy(st: SvcState, dep_id: str | None) -> dict | None:
    for d in st.deployments:
        if d["id"] == dep_id:
            return d
    return None


def recount(st: SvcState) -> None:
    svc = st.service
    svc.running_count = sum(d.get("runningCount", 0) for d in st.deployments)
    svc.pending_count = sum(d.get("pendingCount", 0) for d in st.deployments)
    primary = next((d for d in st.deployments if d["status"] == "PRIMARY"), None)
    if primary is not None:
        svc.task_definition = primary["taskDefinition"]
    svc.current_service_deployment = st.sd_arns[-1] if st.sd_arns else None
    summaries = []
    for d in st.deployments:
        if d.get("_revisionArn"):
            summaries.append({
                "arn": d["_revisionArn"],
                "requestedTaskCount": d.get("desiredCount", 0),
                "runningTaskCount": d.get("runningCount", 0),
                "pendingTaskCount": d.get("pendingCount", 0),
            })
    svc.current_service_revisions = summaries


def new_legacy(st: SvcState, td_arn: str, desired: int, reason: str | None = None) -> dict:
    svc = st.service
    dep_id = "ecs-svc/" + rand19()
    t = now()
    d = {
        "id": dep_id,
        "status": "PRIMARY",
        "taskDefinition": td_arn,
        "desiredCount": desired,
        "pendingCount": desired,
        "runningCount": 0,
        "failedTasks": 0,
        "createdAt": t,
        "updatedAt": t,
        "launchType": svc.launch_type,
        "rolloutState": "IN_PROGRESS",
        "rolloutStateReason": reason or f"ECS deployment {dep_id} in progress.",
    }
    if svc.launch_type == "FARGATE" and svc.platform_version:
        d["platformVersion"] = svc.platform_version
    if getattr(svc, "network_configuration", None):
        d["networkConfiguration"] = svc.network_configuration
    return d


def make_revision(rs: dict, st: SvcState, td: Any) -> dict:
    svc = st.service
    rev_arn = f"arn:aws:ecs:{st.region}:{st.account}:service-revision/{st.cluster_name}/{st.name}/{rand19()}"
    rev = {
        "serviceRevisionArn": rev_arn,
        "serviceArn": st.arn,
        "clusterArn": st.cluster_arn,
        "taskDefinition": td.arn,
        "launchType": svc.launch_type,
        "loadBalancers": list(svc.load_balancers or []),
        "serviceRegistries": list(svc.service_registries or []),
        "containerImages": [
            {"containerName": c.get("name"), "imageDigest": image_digest(c.get("image", "")), "image": c.get("image")}
            for c in td.container_definitions
        ],
        "guardDutyEnabled": False,
        "createdAt": now(),
    }
    if svc.launch_type == "FARGATE" and svc.platform_version:
        rev["platformVersion"] = svc.platform_version
    if getattr(svc, "network_configuration", None):
        rev["networkConfiguration"] = svc.network_configuration
    rs["revs"][rev_arn] = rev
    return rev


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


def start_deployment(rs: dict, st: SvcState, td: Any) -> dict:
    """CreateService / UpdateService(taskDefinition | forceNewDeployment): a new service
    revision, a new service deployment, and a new PRIMARY deployment; the previous
    deployments become ACTIVE (they still run tasks)."""
    svc = st.service
    t = now()
    # a newer deployment supersedes ongoing ones
    for arn in st.sd_arns:
        sd = rs["sds"][arn]
        if sd["status"] in ONGOING:
            sd["status"] = "STOPPED"
            sd["statusReason"] = "Service deployment stopped because a newer service deployment started."
            sd["stoppedAt"] = sd["finishedAt"] = sd["updatedAt"] = t
    sources = []
    for d in st.deployments:
        d["status"] = "ACTIVE"
        if d.get("_revisionArn"):
            sources.append({
                "arn": d["_revisionArn"],
                "requestedTaskCount": d.get("desiredCount", 0),
                "runningTaskCount": d.get("runningCount", 0),
                "pendingTaskCount": d.get("pendingCount", 0),
            })
    rev = make_revision(rs, st, td)
    desired = svc.desired_count or 0
    legacy = new_legacy(st, td.arn, desired)
    legacy["_revisionArn"] = rev["serviceRevisionArn"]
    cfg = default_deployment_configuration(getattr(svc, "deployment_configuration", None))
    cb = cfg.get("deploymentCircuitBreaker") or {}
    alarms = cfg.get("alarms") or {}
    status = STORE.config.get("initialServiceDeploymentStatus", "IN_PROGRESS")
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
        "status": status,
        "deploymentConfiguration": cfg,
        "deploymentCircuitBreaker": {
            "status": "MONITORING" if cb.get("enable") else "DISABLED",
            "failureCount": 0,
            "threshold": cb_threshold(desired),
        },
        "alarms": {
            "status": "MONITORING" if alarms.get("enable") else "DISABLED",
            "alarmNames": list(alarms.get("alarmNames") or []),
        },
        "_legacyId": legacy["id"],
    }
    if status == "IN_PROGRESS":
        sd["startedAt"] = t
    legacy["_sd"] = sd_arn
    rs["sds"][sd_arn] = sd
    st.sd_arns.append(sd_arn)
    svc.deployments.insert(0, legacy)
    recount(st)
    event(st, "SERVICE_DEPLOYMENT_IN_PROGRESS", legacy["id"], legacy["rolloutStateReason"])
    return sd


def begin_rollback(rs: dict, st: SvcState, sd: dict, status: str, reason: str,
                   legacy_reason: str | None) -> dict:
    """Roll the service back to its last successful service revision (no new revision is
    created for a rollback).  Returns the new PRIMARY legacy deployment."""
    t = now()
    target_rev = rs["revs"][st.last_successful_rev]
    failed = find_legacy(st, sd["_legacyId"])
    desired = st.service.desired_count or 0
    if legacy_reason is None:
        legacy_reason = f"ECS deployment circuit breaker: rolling back to deploymentId {st.last_successful_dep_id}."
    rb = new_legacy(st, target_rev["taskDefinition"], desired, reason=legacy_reason)
    rb["_revisionArn"] = target_rev["serviceRevisionArn"]
    rb["_sd"] = sd["serviceDeploymentArn"]
    keep = [failed] if failed is not None else []
    for d in keep:
        d["status"] = "ACTIVE"
        d["updatedAt"] = t
    st.service.deployments[:] = [rb] + keep
    sd["status"] = status
    sd["updatedAt"] = t
    sd["rollback"] = {"reason": reason, "startedAt": t, "serviceRevisionArn": target_rev["serviceRevisionArn"]}
    sd["_rollbackLegacyId"] = rb["id"]
    recount(st)
    return rb


def move(rs: dict, st: SvcState, sd: dict, state: str, *, rollback: bool | None = None,
         cause: str = "circuitBreaker", failed_tasks: int | None = None,
         alarm_names: list[str] | None = None, reason: str | None = None) -> list[dict]:
    """Control API: move a service deployment; returns the EventBridge events ECS emits."""
    t = now()
    status = sd["status"]
    events: list[dict] = []
    state = state.upper()
    if status in COMPLETED:
        raise ControlError(409, f"service deployment is already {status}")
    if state == "IN_PROGRESS":
        if status == "PENDING":
            sd["status"] = "IN_PROGRESS"
            sd["startedAt"] = sd["updatedAt"] = t
            d = find_legacy(st, sd["_legacyId"])
            events.append(event(st, "SERVICE_DEPLOYMENT_IN_PROGRESS", d["id"], d["rolloutStateReason"]))
        elif status == "ROLLBACK_REQUESTED":
            sd["status"] = "ROLLBACK_IN_PROGRESS"
            sd["updatedAt"] = t
        else:
            raise ControlError(409, f"cannot move {status} to IN_PROGRESS")
        return events

    rolling_back = status in ("ROLLBACK_REQUESTED", "ROLLBACK_IN_PROGRESS")
    legacy_id = sd.get("_rollbackLegacyId") if rolling_back else sd["_legacyId"]
    d = find_legacy(st, legacy_id)

    if state in ("SUCCESSFUL", "COMPLETED"):
        if status == "STOP_REQUESTED":
            sd["status"] = "STOPPED"
            sd["stoppedAt"] = sd["finishedAt"] = sd["updatedAt"] = t
            return events
        sd["status"] = "ROLLBACK_SUCCESSFUL" if rolling_back else "SUCCESSFUL"
        sd["finishedAt"] = sd["updatedAt"] = t
        sd.setdefault("startedAt", sd["createdAt"])
        for mon in ("deploymentCircuitBreaker", "alarms"):
            if sd[mon]["status"] == "MONITORING":
                sd[mon]["status"] = "MONITORING_COMPLETE"
        if not rolling_back:
            sd["targetServiceRevision"]["runningTaskCount"] = sd["targetServiceRevision"]["requestedTaskCount"]
            sd["targetServiceRevision"]["pendingTaskCount"] = 0
            st.last_successful_rev = sd["targetServiceRevision"]["arn"]
        if d is not None:
            d["rolloutState"] = "COMPLETED"
            d["rolloutStateReason"] = f"ECS deployment {d['id']} completed."
            d["runningCount"] = d["desiredCount"]
            d["pendingCount"] = 0
            d["updatedAt"] = t
            st.service.deployments[:] = [d]  # ACTIVE deployments drained
            st.last_successful_dep_id = d["id"]
            if rolling_back:
                st.last_successful_rev = d.get("_revisionArn") or st.last_successful_rev
            events.append(event(st, "SERVICE_DEPLOYMENT_COMPLETED", d["id"], d["rolloutStateReason"]))
        recount(st)
        return events

    if state == "STOPPED":
        if status not in ("STOP_REQUESTED", "PENDING", "IN_PROGRESS"):
            raise ControlError(409, f"cannot move {status} to STOPPED")
        sd["status"] = "STOPPED"
        sd["stoppedAt"] = sd["finishedAt"] = sd["updatedAt"] = t
        return events

    if state != "FAILED":
        raise ControlError(400, f"unknown state {state}")

    # ---- FAILED
    if status == "STOP_REQUESTED":
        raise ControlError(409, "cannot fail a deployment that is stopping")
    cfg = sd["deploymentConfiguration"]
    if cause == "alarms":
        names = list(alarm_names or (cfg.get("alarms") or {}).get("alarmNames") or [])
        fail_reason = reason or f"ECS deployment failed: alarm(s) {', '.join(names)} in ALARM state."
        event_reason = fail_reason
        sd["alarms"]["status"] = "TRIGGERED"
        sd["alarms"]["triggeredAlarmNames"] = names
        if not sd["alarms"].get("alarmNames"):
            sd["alarms"]["alarmNames"] = names
        if rollback is None:
            rollback = bool((cfg.get("alarms") or {}).get("rollback"))
    elif cause == "circuitBreaker":
        fail_reason = reason or CB_FAILED_REASON
        event_reason = reason or CB_EVENT_REASON
        cbs = sd["deploymentCircuitBreaker"]
        cbs["status"] = "TRIGGERED"
        cbs["failureCount"] = failed_tasks if failed_tasks is not None else max(cbs["failureCount"], cbs["threshold"])
        if rollback is None:
            rollback = bool((cfg.get("deploymentCircuitBreaker") or {}).get("rollback"))
    else:
        raise ControlError(400, "cause must be circuitBreaker or alarms")

    if d is not None:
        d["rolloutState"] = "FAILED"
        d["rolloutStateReason"] = fail_reason
        d["updatedAt"] = t
        if failed_tasks is not None:
            d["failedTasks"] = failed_tasks
        elif cause == "circuitBreaker":
            d["failedTasks"] = sd["deploymentCircuitBreaker"]["failureCount"]
        events.append(event(st, "SERVICE_DEPLOYMENT_FAILED", d["id"], event_reason, "ERROR"))

    if rolling_back:
        sd["status"] = "ROLLBACK_FAILED"
        sd["statusReason"] = fail_reason
        sd["finishedAt"] = sd["updatedAt"] = t
        recount(st)
        return events

    can_roll_back = (
        rollback
        and st.last_successful_rev is not None
        and st.last_successful_rev != sd["targetServiceRevision"]["arn"]
    )
    if can_roll_back:
        sd["statusReason"] = fail_reason
        rb = begin_rollback(rs, st, sd, "ROLLBACK_IN_PROGRESS", fail_reason, None)
        events.append(event(st, "SERVICE_DEPLOYMENT_IN_PROGRESS", rb["id"], rb["rolloutStateReason"]))
    else:
        sd["status"] = "STOPPED"
        sd["statusReason"] = fail_reason
        sd["stoppedAt"] = sd["finishedAt"] = sd["updatedAt"] = t
        recount(st)
    return events


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
    return {k: copy.deepcopy(v) for k, v in d.items() if not k.startswith("_")}


def brief(sd: dict) -> dict:
    keys = ("serviceDeploymentArn", "serviceArn", "clusterArn", "startedAt", "createdAt",
            "finishedAt", "status", "statusReason")
    b = {k: sd[k] for k in keys if k in sd}
    b["targetServiceRevisionArn"] = sd["targetServiceRevision"]["arn"]
    return b


# --------------------------------------------------------------------------- response methods

_orig = {}


def _create_service(self):
    with LOCK:
        backend = self.ecs_backend
        td_str = self._get_param("taskDefinition")
        td = resolve_td(backend, td_str, for_use=True) if td_str else None
        result = _orig["create_service"](self)
        cluster = backend._get_cluster(self._get_param("cluster", "default"))
        service = backend.services[f"{cluster.name}:{self._get_param('serviceName')}"]
        service.deployment_configuration = default_deployment_configuration(
            self._get_param("deploymentConfiguration"))
        service.created_at = now()
        if not service.network_configuration:
            service.network_configuration = None
        service.deployments = []
        st = svc_state(self.current_account, self.region, service)
        rs = STORE.region(self.current_account, self.region)
        # a re-created service starts a fresh history
        for arn in st.sd_arns:
            rs["sds"].pop(arn, None)
        st.sd_arns = []
        st.last_successful_rev = st.last_successful_dep_id = None
        if service.deployment_controller.get("type", "ECS") == "ECS" and td is not None:
            service.task_definition = td.arn
            start_deployment(rs, st, td)
        return result


def _update_service(self):
    with LOCK:
        backend = self.ecs_backend
        params = self._get_params()
        cluster_str = params.get("cluster", "default")
        service = backend._get_service(cluster_str, params["service"].split("/")[-1])
        if service.status != "ACTIVE":
            raise EcsError("ServiceNotActiveException", "Service was not ACTIVE.")
        td = resolve_td(backend, params["taskDefinition"], for_use=True) if params.get("taskDefinition") else None
        st = svc_state(self.current_account, self.region, service)
        rs = STORE.region(self.current_account, self.region)
        primary = next((d for d in st.deployments if d["status"] == "PRIMARY"), None)
        current_td = primary["taskDefinition"] if primary else service.task_definition
        props = {}
        for k, v in params.items():
            props[_camel_to_snake(k)] = v
        props.pop("force_new_deployment", None)  # moto would rewrite our PRIMARY's id
        dc = props.pop("deployment_configuration", None)
        if td is not None:
            props["task_definition"] = td.arn
        service = backend.update_service(props)
        if dc is not None:
            service.deployment_configuration = merge_deployment_configuration(
                getattr(service, "deployment_configuration", None), dc)
        if not getattr(service, "network_configuration", None):
            service.network_configuration = None
        new_td = td.arn if td is not None else current_td
        force = bool(params.get("forceNewDeployment"))
        if service.deployment_controller.get("type", "ECS") == "ECS":
            if force or (td is not None and td.arn != current_td):
                target = td if td is not None else resolve_td(backend, new_td, for_use=False)
                start_deployment(rs, st, target)
            else:
                if primary is not None and params.get("desiredCount") is not None:
                    primary["desiredCount"] = service.desired_count
                    if primary["rolloutState"] == "COMPLETED":
                        primary["runningCount"] = service.desired_count
                        primary["pendingCount"] = 0
                    primary["updatedAt"] = now()
                service.task_definition = current_td
                recount(st)
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
        horizon = time.time() - HISTORY_SECONDS
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
                found.append(public(sd))
        return ActionResult({"serviceDeployments": found, "failures": failures})


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


def _stop_service_deployment(self):
    with LOCK:
        arn = self._get_param("serviceDeploymentArn")
        stop_type = (self._get_param("stopType") or "ROLLBACK").upper()
        if stop_type not in ("ROLLBACK", "ABORT"):
            raise EcsError("InvalidParameterException", f"Invalid stopType: {stop_type}")
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
        if stop_type == "ABORT":
            sd["status"] = "STOP_REQUESTED"
            sd["updatedAt"] = now()
            return ActionResult({"serviceDeploymentArn": arn})
        if st.last_successful_rev is None or st.last_successful_rev == sd["targetServiceRevision"]["arn"]:
            raise EcsError("InvalidParameterException",
                           "There is no previous service revision to roll back to.")
        reason = "Service deployment rolled back because of a StopServiceDeployment request."
        sd["statusReason"] = reason
        rb = begin_rollback(rs, st, sd, "ROLLBACK_REQUESTED", reason,
                            legacy_reason=None)
        rb["rolloutStateReason"] = f"ECS deployment {rb['id']} in progress."
        event(st, "SERVICE_DEPLOYMENT_IN_PROGRESS", rb["id"], rb["rolloutStateReason"])
        return ActionResult({"serviceDeploymentArn": arn})


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

def control(op: str, body: dict) -> dict:
    """ECS part of the control API (POST /_stand/ecs/<op>)."""
    with LOCK:
        if op == "deployment-state":
            rs, st = _svc_from(body)
            sd = _sd_from(rs, st, body)
            events = move(rs, st, sd, body.get("state", ""),
                          rollback=body.get("rollback"), cause=body.get("cause", "circuitBreaker"),
                          failed_tasks=body.get("failedTasks"), alarm_names=body.get("alarmNames"),
                          reason=body.get("reason"))
            main = next((e for e in events if e["detail"]["eventName"] != "SERVICE_DEPLOYMENT_IN_PROGRESS"),
                        events[0] if events else None)
            return {"event": main, "events": events, "serviceDeployment": public(sd)}
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
            return {"serviceDeployment": public(sd)}
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
                t = time.time() - float(body["secondsAgo"])
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
            return {"serviceDeployment": public(sd)}
        if op == "state":
            rs, st = _svc_from(body)
            return {
                "serviceArn": st.arn,
                "serviceDeployments": [public(rs["sds"][a]) for a in st.sd_arns if a in rs["sds"]],
                "deployments": [public(d) for d in st.deployments],
                "lastSuccessfulServiceRevisionArn": st.last_successful_rev,
            }
        if op == "events":
            return {"events": list(STORE.events)}
        if op == "config":
            for k, v in body.items():
                if k not in STORE.config:
                    raise ControlError(400, f"unknown config key {k}")
                STORE.config[k] = v
            return {"config": dict(STORE.config)}
        raise ControlError(404, f"unknown ECS control operation {op}")


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
