"""ECS Express Mode services on the stand (kept apart from ecs_ext.py).

An Express Mode service is an ordinary ECS service that ``CreateExpressGatewayService`` creates
with Amazon ECS's defaults (developer guide "Resources created by Amazon ECS Express Mode
services", "Updating an Amazon ECS Express Mode service"; botocore's ECS model). The stand
builds it from ``express-service.json``: a task definition with the container ``Main``, the
service (CANARY 5 %, 3-minute canary bake and bake time, the built-in deployment alarm with
rollback, ``resourceManagementType: ECS``, ``createdBy`` = the infrastructure role), the
alarm in CloudWatch, and the revision's ``ecsManagedResources.metricAlarms``.

* API: ``CreateExpressGatewayService``, ``DescribeExpressGatewayService`` (ECSExpressGatewayService
  shape). Update/Delete of Express services are not modelled.
* Control API: ``POST /_stand/ecs/express-service`` ``{"serviceName"?, "cluster"?, "image"?,
  "infrastructureRoleArn"?, "executionRoleArn"?, "tags"?, "containerPort"?, "account"?,
  "region"?}`` -> ``{"service": <DescribeServices shape with tags>, "expressService":
  <ECSExpressGatewayService>, "alarmName", "placeholders"}``.
"""

from __future__ import annotations

import copy
import hashlib
import json
import os
import re
from typing import Any

import ecs_ext
from moto.core.responses import ActionResult
from moto.core.serialize import XFormedAttributePicker, get_serializer_class

HERE = os.path.dirname(os.path.abspath(__file__))
FIXTURE = os.path.join(HERE, "express-service.json")
PLACEHOLDER = re.compile(r"\$\{(\w+)\}")
_orig: dict = {}
DEFAULTS = {"account": "123456789012", "region": "us-east-1"}  # set by stand.py (--account, --region)


def fixture() -> dict:
    with open(FIXTURE) as f:
        return json.load(f)


def substitute(value: Any, vals: dict) -> Any:
    """${name} placeholders: a list element that is exactly "${name}" with a list value is
    spliced in; anywhere else the value is formatted into the string."""
    if isinstance(value, dict):
        return {k: substitute(v, vals) for k, v in value.items()}
    if isinstance(value, list):
        out = []
        for v in value:
            m = PLACEHOLDER.fullmatch(v) if isinstance(v, str) else None
            if m and isinstance(vals.get(m.group(1)), list):
                out += copy.deepcopy(vals[m.group(1)])
            else:
                out.append(substitute(v, vals))
        return out
    if isinstance(value, str):
        return PLACEHOLDER.sub(lambda m: str(vals[m.group(1)]), value)
    return value


def _hex16(seed: str) -> str:
    return hashlib.sha256(seed.encode()).hexdigest()[:16]


def _bad(message: str) -> ecs_ext.EcsError:
    return ecs_ext.EcsError("InvalidParameterException", message)


def create_express(backend: Any, account: str, region: str, p: dict) -> tuple[Any, dict]:
    """CreateExpressGatewayService with the request `p` (API member names). Under LOCK."""
    fx = fixture()
    d = fx["defaults"]
    cluster_name = (p.get("cluster") or d["cluster"]).split("/")[-1]
    if cluster_name not in backend.clusters:
        # "The ECS default cluster (if it does not already exist) with Fargate capacity providers"
        backend.create_cluster(cluster_name, capacity_providers=["FARGATE", "FARGATE_SPOT"])
    name = p.get("serviceName") or "express-" + _hex16(f"{account}/{region}/{ecs_ext.now()}")[:10]
    if f"{cluster_name}:{name}" in backend.services and backend.services[f"{cluster_name}:{name}"].status == "ACTIVE":
        raise _bad(f"Creation of service was not idempotent: a service named {name} already exists.")
    vals = {"account": account, "region": region}
    infra = p.get("infrastructureRoleArn") or substitute(d["infrastructureRoleArn"], vals)
    if not infra:
        raise _bad("infrastructureRoleArn is required.")
    container = dict(p.get("primaryContainer") or {})
    if p.get("taskDefinitionArn"):
        # "If you provide a task definition ARN, you cannot also specify primaryContainer, executionRoleArn,
        # taskRoleArn, cpu, memory, or cpuArchitecture."
        clash = [k for k in ("primaryContainer", "executionRoleArn", "taskRoleArn", "cpu", "memory", "cpuArchitecture")
                 if p.get(k) is not None]
        if clash:
            raise _bad(f"taskDefinitionArn cannot be combined with {', '.join(clash)}.")
        td = ecs_ext.resolve_td(backend, p["taskDefinitionArn"], for_use=True)
        main = next((c for c in td.container_definitions if c.get("name") == d["containerName"]), None)
        if main is None:
            raise _bad("The task definition must have a container named Main.")
        port = ((main.get("portMappings") or [{}])[0]).get("containerPort") or d["containerPort"]
    else:
        if not container.get("image"):
            raise _bad("primaryContainer.image is required.")
        port = int(container.get("containerPort") or d["containerPort"])
        logs = container.get("awsLogsConfiguration") or {}
        cdef = {"name": d["containerName"], "image": container["image"], "essential": True,
                "portMappings": [{"containerPort": port, "protocol": "tcp", "name": f"{d['containerName'].lower()}-{port}"}],
                "logConfiguration": {"logDriver": "awslogs", "options": {
                    "awslogs-group": logs.get("logGroup") or f"/aws/ecs/{cluster_name}/{name}",
                    "awslogs-region": region,
                    "awslogs-stream-prefix": logs.get("logStreamPrefix") or d["logStreamPrefix"]}}}
        for k in ("command", "environment", "secrets", "repositoryCredentials"):
            if container.get(k):
                cdef[k] = copy.deepcopy(container[k])
        td = backend.register_task_definition(
            name, [cdef], network_mode="awsvpc", requires_compatibilities=["FARGATE"],
            cpu=str(p.get("cpu") or d["cpu"]), memory=str(p.get("memory") or d["memory"]),
            task_role_arn=p.get("taskRoleArn"),
            execution_role_arn=p.get("executionRoleArn") or substitute(d["executionRoleArn"], vals),
            runtime_platform={"cpuArchitecture": p.get("cpuArchitecture") or d["cpuArchitecture"],
                              "operatingSystemFamily": "LINUX"})
        td.registered_at = ecs_ext.now()
    net = p.get("networkConfiguration") or {}
    subnets = list(net.get("subnets") or [])
    groups = list(net.get("securityGroups") or [])
    if not subnets:  # "If not provided, Amazon ECS will use the default VPC configuration"
        from moto.ec2.models import ec2_backends
        ec2 = ec2_backends[account][region]
        subnets = [s.id for s in ec2.describe_subnets(filters={"default-for-az": "true"})]
    if not groups:  # "Security groups with minimal required ingress"
        from moto.ec2.models import ec2_backends
        sg = ec2_backends[account][region].create_security_group(
            f"{name}-express-tasks", f"Tasks of the Express Mode service {name}", force=True)
        groups = [sg.id]
    short = name[:20]
    tags = list(p.get("tags") or [])
    vals.update(cluster=cluster_name, service=name, shortName=short, infrastructureRoleArn=infra,
                taskDefinitionArn=td.arn, subnets=subnets, securityGroups=groups, tags=tags,
                id16=_hex16(f"{account}/{region}/{name}/blue"), id16b=_hex16(f"{account}/{region}/{name}/green"),
                id16c=_hex16(f"{account}/{region}/{name}/rule"))
    vals["targetGroupDimension"] = f"targetgroup/{short}-tg-blue/{vals['id16']}"
    want = substitute(fx["service"], vals)
    want["loadBalancers"][0]["containerPort"] = port
    scaling = p.get("scalingTarget") or {}
    desired = int(scaling.get("minTaskCount") or d["minTaskCount"])
    want["desiredCount"] = desired
    params = {"cluster": cluster_name, "serviceName": name, "taskDefinition": td.arn, "desiredCount": desired,
              "loadBalancers": want["loadBalancers"], "capacityProviderStrategy": want["capacityProviderStrategy"],
              "platformVersion": want["platformVersion"], "networkConfiguration": want["networkConfiguration"],
              "deploymentConfiguration": want["deploymentConfiguration"], "tags": tags,
              "schedulingStrategy": want["schedulingStrategy"], "launchType": None}
    service = ecs_ext.create_service_from(backend, account, region, params)
    service.resource_management_type = "ECS"
    service.created_by = infra
    service.capacity_provider_strategy = copy.deepcopy(want["capacityProviderStrategy"])
    alarm = substitute(fx["alarm"], vals)
    alarm_arn = put_alarm(account, region, alarm)
    rs = ecs_ext.STORE.region(account, region)
    st = ecs_ext.svc_state(account, region, service)
    t = ecs_ext.now()
    for arn in st.sd_arns:
        rev = rs["revs"].get(rs["sds"][arn]["targetServiceRevision"]["arn"])
        if rev is not None:
            rev["ecsManagedResources"] = {"metricAlarms": [{"arn": alarm_arn, "status": "ACTIVE", "updatedAt": t}]}
    st.express = {
        "infrastructureRoleArn": infra, "executionRoleArn": getattr(td, "execution_role_arn", None),
        "taskRoleArn": getattr(td, "task_role_arn", None),
        "cpu": str(getattr(td, "cpu", None) or d["cpu"]), "memory": str(getattr(td, "memory", None) or d["memory"]),
        "cpuArchitecture": None if p.get("taskDefinitionArn") else (p.get("cpuArchitecture") or d["cpuArchitecture"]),
        "networkConfiguration": {"securityGroups": groups, "subnets": subnets},
        "healthCheckPath": p.get("healthCheckPath") or d["healthCheckPath"],
        "primaryContainer": dict(container, containerPort=port) if container else None,
        "scalingTarget": {"minTaskCount": desired, "maxTaskCount": int(scaling.get("maxTaskCount") or desired),
                          "autoScalingMetric": scaling.get("autoScalingMetric") or d["autoScalingMetric"],
                          "autoScalingTargetValue": int(scaling.get("autoScalingTargetValue") or d["autoScalingTargetValue"])},
        "tags": tags, "createdAt": t, "updatedAt": t, "alarmName": alarm["AlarmName"], "placeholders": vals,
    }
    return service, st.express


def put_alarm(account: str, region: str, alarm: dict) -> str:
    """The built-in deployment alarm, in moto's CloudWatch (as PutMetricAlarm with metric math)."""
    from moto.cloudwatch.models import Dimension, Metric, MetricDataQuery, MetricStat, cloudwatch_backends
    queries = []
    for m in alarm["Metrics"]:
        stat = None
        if m.get("MetricStat"):
            ms = m["MetricStat"]
            stat = MetricStat(metric=Metric(metric_name=ms["Metric"]["MetricName"], namespace=ms["Metric"]["Namespace"],
                                            dimensions=[Dimension(name=x["Name"], value=x["Value"])
                                                        for x in ms["Metric"].get("Dimensions", [])]),
                              period=ms["Period"], stat=ms["Stat"], unit=None)
        queries.append(MetricDataQuery(query_id=m["Id"], label=m.get("Label"), period=m.get("Period"),
                                       return_data=m.get("ReturnData"), expression=m.get("Expression"), metric_stat=stat))
    cw = cloudwatch_backends[account][region]
    a = cw.put_metric_alarm(
        name=alarm["AlarmName"], namespace=None, metric_name=None, comparison_operator=alarm["ComparisonOperator"],
        evaluation_periods=alarm["EvaluationPeriods"], period=None, threshold=alarm["Threshold"], statistic=None,
        description=alarm["AlarmDescription"], dimensions=[], alarm_actions=[], metric_data_queries=queries,
        datapoints_to_alarm=alarm["DatapointsToAlarm"], treat_missing_data=alarm["TreatMissingData"])
    return a.alarm_arn


def express_view(service: Any, st: Any, tags: bool = True) -> dict:
    """ECSExpressGatewayService (botocore) of an Express service."""
    x = st.express
    rs = ecs_ext.STORE.region(st.account, st.region)
    configs = []
    for d in st.deployments:
        rev = rs["revs"].get(d.get("_revisionArn")) or {}
        conf = {"serviceRevisionArn": d.get("_revisionArn"), "executionRoleArn": x["executionRoleArn"],
                "taskRoleArn": x["taskRoleArn"], "taskDefinitionArn": d["taskDefinition"], "cpu": x["cpu"],
                "memory": x["memory"], "cpuArchitecture": x["cpuArchitecture"],
                "networkConfiguration": x["networkConfiguration"], "healthCheckPath": x["healthCheckPath"],
                "primaryContainer": x["primaryContainer"], "scalingTarget": x["scalingTarget"],
                "createdAt": rev.get("createdAt", x["createdAt"])}
        configs.append({k: v for k, v in conf.items() if v is not None})
    out = {"cluster": st.cluster_name, "serviceName": st.name, "serviceArn": st.arn,
           "infrastructureRoleArn": x["infrastructureRoleArn"],
           "status": {"statusCode": "ACTIVE" if service.status == "ACTIVE" else service.status},
           "currentDeployment": st.sd_arns[-1] if st.sd_arns else None, "activeConfigurations": configs,
           "createdAt": x["createdAt"], "updatedAt": x["updatedAt"]}
    if tags:
        out["tags"] = list(service.tags or [])
    return {k: v for k, v in out.items() if v is not None}


def serialize(operation: str, result: dict) -> dict:
    """`result` as the ECS API answers `operation` (moto's model-driven serializer)."""
    from moto.core.utils import get_service_model
    model = get_service_model("ecs")
    op = model.operation_model(operation)
    ser = get_serializer_class("ecs", "json")(operation_model=op, pretty_print=False,
                                              value_picker=XFormedAttributePicker(response_transformers=None))
    return json.loads(ser.serialize(result)["body"])


def _create_express_gateway_service(self):
    with ecs_ext.LOCK:
        service, _x = create_express(self.ecs_backend, self.current_account, self.region, self._get_params())
        st = ecs_ext.svc_state(self.current_account, self.region, service)
        return ActionResult({"service": express_view(service, st)})


def _describe_express_gateway_service(self):
    with ecs_ext.LOCK:
        arn = self._get_param("serviceArn") or ""
        rs = ecs_ext.STORE.region(self.current_account, self.region)
        st = rs["services"].get(arn)
        if st is None or getattr(st, "express", None) is None:
            raise ecs_ext.EcsError("ResourceNotFoundException", f"The Express service {arn} was not found.")
        return ActionResult({"service": express_view(st.service, st, tags="TAGS" in (self._get_param("include") or []))})


def control(op: str, body: dict) -> dict:
    if op == "express-service":
        from moto.ecs.models import ecs_backends
        account = body.get("account") or DEFAULTS["account"]
        region = body.get("region") or DEFAULTS["region"]
        p = {k: v for k, v in body.items() if k not in ("account", "region", "image", "containerPort")}
        p["primaryContainer"] = dict(p.get("primaryContainer") or {}, image=body.get("image") or fixture()["defaults"]["image"])
        if body.get("containerPort"):
            p["primaryContainer"]["containerPort"] = int(body["containerPort"])
        with ecs_ext.LOCK:
            try:
                service, x = create_express(ecs_backends[account][region], account, region, p)
            except ecs_ext.EcsError as e:
                raise ecs_ext.ControlError(400, f"{getattr(e, 'code', 'Error')}: {getattr(e, 'message', e)}")
            st = ecs_ext.svc_state(account, region, service)
            described = serialize("DescribeServices", {"services": [service], "failures": []})["services"][0]
            return {"service": described, "expressService": serialize("DescribeExpressGatewayService",
                                                                       {"service": express_view(service, st)})["service"],
                    "alarmName": x["alarmName"], "placeholders": x["placeholders"]}
    return _orig["control"](op, body)


def install() -> None:
    if "control" not in _orig:
        _orig["control"] = ecs_ext.control
        ecs_ext.control = control
    ecs_ext.Resp.create_express_gateway_service = _create_express_gateway_service
    ecs_ext.Resp.describe_express_gateway_service = _describe_express_gateway_service
