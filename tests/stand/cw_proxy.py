"""CloudWatch for the Rust SDK: a Smithy RPC v2 CBOR front end for moto, plus the moto
CloudWatch additions the stand needs (composite alarms, AlarmTypes, ResourceNotFound, alarm mute
rules, GetMetricData as the API reference describes it) and the ALB metrics control op.

aws-sdk-cloudwatch 1.x sends ``POST {prefix}/service/GraniteServiceVersion20100801/operation/<Op>``
with ``smithy-protocol: rpc-v2-cbor`` and a CBOR body.  The proxy converts the body to the
awsJson1_0 document moto understands (walking botocore's CloudWatch input shape), forwards
it to moto with ``X-Amz-Target``, and converts the JSON answer back to CBOR (walking the
output shape: timestamps become CBOR tag 1 epoch seconds, blobs byte strings).  Errors are
CBOR maps with ``__type`` set to the error's absolute shape id and a ``message``; the
``x-amzn-query-error`` header is kept because CloudWatch is awsQueryCompatible.
Wire rules: smithy-lang/smithy docs "Smithy RPC v2 CBOR protocol" (requests, responses,
timestamp serialization, operation error serialization) and the rpcv2Cbor protocol tests
(empty-input-output.smithy, errors.smithy).
"""

from __future__ import annotations

import base64
import datetime as _dt
import http.client
import json
import math
import re
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Callable

import botocore.session
import cbor2
from moto.cloudwatch.metric_data_expression_parser import parse_expression
from moto.cloudwatch.responses import CloudWatchResponse
from moto.core.exceptions import ServiceException
from moto.core.responses import ActionResult, EmptyResult

SERVICE_NAME = "GraniteServiceVersion20100801"
NAMESPACE = "com.amazonaws.cloudwatch"
PATH_RE = re.compile(r"^(?:/[^?]*)?/service/([^/?]+)/operation/([^/?]+)/?(?:\?.*)?$")

_MODEL = botocore.session.get_session().get_service_model("cloudwatch")


class CwError(ServiceException):
    """Serialized by moto from botocore's CloudWatch model (defined outside the moto
    package so moto looks the code up in the CloudWatch model)."""

    def __init__(self, code: str, message: str):
        super().__init__(code, message)


# --------------------------------------------------------------------------- alarm mute rules
# moto has no alarm mute rules (CloudWatch API reference: PutAlarmMuteRule, GetAlarmMuteRule,
# ListAlarmMuteRules, DeleteAlarmMuteRule; a rule mutes its target alarms' actions during its
# window, the alarms keep evaluating). The proxy keeps them itself. The window of a one-time
# rule, ``at(yyyy-mm-ddThh:mm:ss)`` + ISO 8601 ``Duration``, is evaluated; a recurring ``cron(...)``
# rule reads ACTIVE between its StartDate and ExpireDate (the stand does not evaluate cron).

MUTE_RULES: dict[str, dict] = {}
MUTE_OPS = ("PutAlarmMuteRule", "GetAlarmMuteRule", "ListAlarmMuteRules", "DeleteAlarmMuteRule")


def _iso_duration(text: str) -> float:
    m = re.fullmatch(r"P(?:(\d+)D)?(?:T(?:(\d+)H)?(?:(\d+)M)?(?:(\d+)S)?)?", text or "")
    if not m:
        raise ValueError(f"Duration {text!r} is not ISO 8601")
    d, h, mi, s = (int(x or 0) for x in m.groups())
    return ((d * 24 + h) * 60 + mi) * 60 + s


def _mute_status(rule: dict, now: float) -> str:
    start, expire = rule.get("StartDate"), rule.get("ExpireDate")
    if expire is not None and now >= _epoch(expire):
        return "EXPIRED"
    if start is not None and now < _epoch(start):
        return "SCHEDULED"
    schedule = (rule.get("Rule") or {}).get("Schedule") or {}
    expr = schedule.get("Expression", "")
    m = re.fullmatch(r"at\((.+)\)", expr)
    if m:
        begins = _dt.datetime.fromisoformat(m.group(1)).replace(tzinfo=_dt.timezone.utc).timestamp()
        ends = begins + _iso_duration(schedule.get("Duration", "PT0S"))
        return "SCHEDULED" if now < begins else "ACTIVE" if now < ends else "EXPIRED"
    return "ACTIVE"


def mute_rule_op(op_name: str, params: dict, region: str) -> dict:
    now = time.time()
    if op_name == "PutAlarmMuteRule":
        rule = dict(params, LastUpdatedTimestamp=now)
        MUTE_RULES[params["Name"]] = rule
        return {}
    if op_name == "DeleteAlarmMuteRule":
        MUTE_RULES.pop(params.get("AlarmMuteRuleName", ""), None)
        return {}
    arn = lambda name: f"arn:aws:cloudwatch:{region}:123456789012:alarm-mute-rule:{name}"  # noqa: E731
    if op_name == "GetAlarmMuteRule":
        name = params.get("AlarmMuteRuleName", "")
        if name not in MUTE_RULES:
            raise KeyError(name)
        rule = MUTE_RULES[name]
        got = {k: v for k, v in rule.items() if k != "Tags"}
        return dict(got, AlarmMuteRuleArn=arn(name), Status=_mute_status(rule, now))
    summaries = []
    for name, rule in MUTE_RULES.items():
        targets = (rule.get("MuteTargets") or {}).get("AlarmNames") or []
        if params.get("AlarmName") and params["AlarmName"] not in targets:
            continue
        status = _mute_status(rule, now)
        if params.get("Statuses") and status not in params["Statuses"]:
            continue
        expr = (((rule.get("Rule") or {}).get("Schedule") or {}).get("Expression") or "")
        summaries.append({"AlarmMuteRuleArn": arn(name), "Status": status,
                          "MuteType": "ONE_TIME" if expr.startswith("at(") else "RECURRING",
                          "LastUpdatedTimestamp": rule["LastUpdatedTimestamp"]})
    return {"AlarmMuteRuleSummaries": summaries}


# --------------------------------------------------------------------------- moto additions

def _describe_alarms(self) -> ActionResult:
    """AlarmTypes: "If you omit this parameter, only metric alarms are returned, even if
    composite alarms or log alarms exist in the account."  Filters combine; pagination by
    MaxRecords/NextToken."""
    backend = self.cloudwatch_backend
    types = self._get_param("AlarmTypes") or ["MetricAlarm"]
    names = self._get_param("AlarmNames") or []
    prefix = self._get_param("AlarmNamePrefix")
    state = self._get_param("StateValue")
    action_prefix = self._get_param("ActionPrefix")
    alarms = sorted(backend.alarms.values(), key=lambda a: a.name)
    if names:
        alarms = [a for a in alarms if a.name in names]
    if prefix:
        alarms = [a for a in alarms if a.name.startswith(prefix)]
    if state:
        alarms = [a for a in alarms if a.state_value == state]
    if action_prefix:
        alarms = [a for a in alarms if any(x.startswith(action_prefix) for x in (a.alarm_actions or []))]
    items = [("m", a) for a in alarms if a.rule is None and "MetricAlarm" in types]
    items += [("c", a) for a in alarms if a.rule is not None and "CompositeAlarm" in types]
    max_records = int(self._get_param("MaxRecords") or 50)
    start = 0
    token = self._get_param("NextToken")
    if token:
        try:
            start = int(base64.urlsafe_b64decode(token.encode()).decode())
        except Exception:
            raise CwError("InvalidNextToken", "The service returned an invalid next token.")
    page = items[start:start + max_records]
    result: dict[str, Any] = {
        "MetricAlarms": [a for k, a in page if k == "m"],
        "CompositeAlarms": [a for k, a in page if k == "c"],
    }
    if start + max_records < len(items):
        result["NextToken"] = base64.urlsafe_b64encode(str(start + max_records).encode()).decode()
    return ActionResult(result)


def _put_composite_alarm(self) -> EmptyResult:
    self.cloudwatch_backend.put_metric_alarm(
        name=self._get_param("AlarmName"),
        namespace=None,
        metric_name=None,
        comparison_operator=None,
        evaluation_periods=None,
        period=None,
        threshold=None,
        statistic=None,
        description=self._get_param("AlarmDescription"),
        dimensions=[],
        alarm_actions=self._get_param("AlarmActions", []),
        ok_actions=self._get_param("OKActions", []),
        insufficient_data_actions=self._get_param("InsufficientDataActions", []),
        actions_enabled=self._get_param("ActionsEnabled", True),
        rule=self._get_param("AlarmRule"),
        tags=self._get_param("Tags", []),
    )
    return EmptyResult()


def _list_tags_for_resource(self) -> ActionResult:
    arn = self._get_param("ResourceARN")
    backend = self.cloudwatch_backend
    if ":alarm:" in (arn or "") and not any(a.alarm_arn == arn for a in backend.alarms.values()):
        raise CwError("ResourceNotFoundException", f"Alarm {arn} does not exist.")
    tags = backend.list_tags_for_resource(arn)
    return ActionResult({"Tags": [{"Key": k, "Value": v} for k, v in tags.items()]})


# --------------------------------------------------------------------------- GetMetricData
# moto's GetMetricData differs from the API reference (GetMetricData, MetricDataQuery, MetricStat,
# MetricDataResult) in ways a canary analysis notices: its periods start at the unrounded
# StartTime, a query with dimensions ignores the namespace (and a query without dimensions takes
# every dimension set), MaxDatapoints/NextToken are ignored, the default label is
# "<MetricName> <Stat>", and results come out grouped by kind instead of in query order.
# The stand answers MetricStat queries itself; math expressions and Metrics Insights queries
# keep moto's (limited) evaluation.

MAX_DATAPOINTS = 100_800  # GetMetricData MaxDatapoints: "If you omit this, the default of 100,800 is used."
MAX_QUERIES = 500  # "A single GetMetricData call can include as many as 500 MetricDataQuery structures."
SIMPLE_STATS = ("SampleCount", "Average", "Sum", "Minimum", "Maximum")
PERCENTILE_RE = re.compile(r"^p(\d{1,2}(?:\.\d{1,2})?|100)$")
QUERY_ID_RE = re.compile(r"^[a-z][A-Za-z0-9_]*$")


def _epoch_f(v: Any) -> float:
    """A moto timestamp (naive datetimes are UTC), an epoch number or an ISO-8601 string."""
    if isinstance(v, _dt.datetime):
        return (v if v.tzinfo else v.replace(tzinfo=_dt.timezone.utc)).timestamp()
    if isinstance(v, str):
        try:
            return float(v)
        except ValueError:
            return _dt.datetime.fromisoformat(v.replace("Z", "+00:00")).timestamp()
    return float(v)


def _utc(t: float) -> _dt.datetime:
    return _dt.datetime.fromtimestamp(t, tz=_dt.timezone.utc)


def rounded_start(start: float, period: int, now: float) -> float:
    """GetMetricData StartTime: "CloudWatch rounds the specified time stamp as follows: Start time
    less than 15 days ago - Round down to the nearest whole minute ... between 15 and 63 days ago -
    ... 5-minute clock interval ... greater than 63 days ago - ... 1-hour clock interval"; with a
    Period of 5, 10, 20 or 30 "rounded down to the nearest time that corresponds to even 5-, 10-,
    20-, or 30-second divisions of a minute"."""
    if period < 60:
        step = period
    else:
        age = now - start
        step = 60 if age < 15 * 86400 else 300 if age < 63 * 86400 else 3600
    return float(math.floor(start / step) * step)


def _same_dimensions(md: Any, dims: list[tuple[str, str]]) -> bool:
    # a metric is its namespace, name and complete dimension set (order does not matter)
    return sorted((d.name, d.value) for d in md.dimensions) == dims


def _percentile(samples: list[float], p: float) -> float:
    ordered = sorted(samples)
    k = max(0, math.ceil(p / 100.0 * len(ordered)) - 1)  # nearest rank
    return ordered[min(k, len(ordered) - 1)]


def statistic(stat: str, data: list[Any]) -> float | None:
    """One period's statistic over raw values (MetricDatum) and statistic sets (MetricAggregatedDatum)."""
    raw = [float(md.value) for md in data if hasattr(md, "value")]
    sets = [md for md in data if not hasattr(md, "value")]
    count = len(raw) + sum(float(s.sample_count) for s in sets)
    total = sum(raw) + sum(float(s.sum) for s in sets)
    if stat == "SampleCount":
        return count
    if stat == "Sum":
        return total
    if stat == "Average":
        return total / count if count else None
    if stat == "Minimum":
        return min(raw + [float(s.min) for s in sets])
    if stat == "Maximum":
        return max(raw + [float(s.max) for s in sets])
    m = PERCENTILE_RE.match(stat)
    if m:
        # "CloudWatch needs raw data points to calculate percentile statistics. If you publish data
        # using a statistic set instead, you can only retrieve percentile statistics for this data
        # if one of the following conditions is true: The SampleCount value of the statistic set is
        # 1. The Min and the Max values of the statistic set are equal." (GetMetricStatistics)
        samples = list(raw)
        for s in sets:
            if float(s.sample_count) != 1 and float(s.min) != float(s.max):
                return None
            samples += [float(s.min)] * max(1, int(round(float(s.sample_count))))
        return _percentile(samples, float(m.group(1))) if samples else None
    raise _unsupported(stat)


def _unsupported(stat: str) -> CwError:
    return CwError("ValidationError", f"The statistic {stat} is not supported by the test stand "
                                      "(SampleCount, Average, Sum, Minimum, Maximum, pNN.NN).")


def metric_stat_series(backend: Any, stat_q: dict, start: float, end: float, now: float) -> list[tuple[float, float]]:
    """(period start, value) ascending, one per period that has data in [rounded StartTime, EndTime)."""
    metric = stat_q.get("Metric") or {}
    period = int(stat_q.get("Period") or 0)
    stat = stat_q.get("Stat") or ""
    unit = stat_q.get("Unit")
    dims = sorted((d.get("Name"), d.get("Value")) for d in metric.get("Dimensions") or [])
    first = rounded_start(start, period, now)
    buckets: dict[int, list[Any]] = {}
    for md in backend.get_all_metrics():
        if md.namespace != metric.get("Namespace") or md.name != metric.get("MetricName"):
            continue
        if not _same_dimensions(md, dims) or (unit and md.unit != unit):
            continue
        t = _epoch_f(md.timestamp)
        if first <= t < end:  # "StartTime ... inclusive"; "EndTime ... exclusive"
            buckets.setdefault(int((t - first) // period), []).append(md)
    out = []
    for i in sorted(buckets):
        v = statistic(stat, buckets[i])
        if v is not None:
            out.append((first + i * period, v))
    return out


def _validate_queries(queries: list[dict]) -> None:
    if len(queries) > MAX_QUERIES:
        raise CwError("ValidationError", f"The collection MetricDataQueries must not have a size greater than {MAX_QUERIES}.")
    seen = set()
    for n, q in enumerate(queries, 1):
        if "MetricStat" not in q and "Expression" not in q:
            raise CwError("ValidationError", f"The parameter MetricDataQueries.member.{n}.MetricStat is required.\n")
        if "MetricStat" in q and "Expression" in q:
            raise CwError("ValidationError", f"The parameter MetricDataQueries.member.{n} must specify either "
                                             "MetricStat or Expression, not both.")
        qid = q.get("Id") or ""
        if not QUERY_ID_RE.match(qid):
            raise CwError("ValidationError", f"The value {qid} for parameter MetricDataQueries.member.{n}.Id is "
                                             "invalid: letters, numbers and underscore, starting with a lowercase letter.")
        if qid in seen:
            raise CwError("ValidationError", f"The value {qid} for parameter MetricDataQueries.member.{n}.Id is "
                                             "used more than once.")
        seen.add(qid)
        if "MetricStat" in q:
            period = q["MetricStat"].get("Period")
            if not isinstance(period, int) or period < 1 or (period % 60 and period not in (1, 5, 10, 20, 30)):
                raise CwError("ValidationError", f"The parameter MetricDataQueries.member.{n}.MetricStat.Period must "
                                                 "be 1, 5, 10, 20, 30 or a multiple of 60.")
            stat = q["MetricStat"].get("Stat") or ""
            if stat not in SIMPLE_STATS and not PERCENTILE_RE.match(stat):
                raise _unsupported(stat)


def _get_metric_data(self) -> ActionResult:
    params = self._get_params()
    backend = self.cloudwatch_backend
    queries = params.get("MetricDataQueries") or []
    _validate_queries(queries)
    start, end = _epoch_f(params["StartTime"]), _epoch_f(params["EndTime"])
    if start > end:
        raise CwError("ValidationError", "The parameter EndTime must be greater than StartTime.")
    if start == end:
        raise CwError("ValidationError", "The parameter StartTime must not equal parameter EndTime.")
    descending = (params.get("ScanBy") or "TimestampDescending") == "TimestampDescending"
    budget = int(params.get("MaxDatapoints") or MAX_DATAPOINTS)
    offsets: dict[str, int] = {}
    if params.get("NextToken"):
        try:
            offsets = json.loads(base64.urlsafe_b64decode(params["NextToken"].encode()).decode())
            assert isinstance(offsets, dict) and set(offsets) <= {q["Id"] for q in queries}
        except Exception:
            raise CwError("InvalidNextToken", "The service returned an invalid next token.")
    now = time.time()
    series: dict[str, list[tuple[float, float]]] = {}
    for q in queries:
        if "MetricStat" in q:
            series[q["Id"]] = metric_stat_series(backend, q["MetricStat"], start, end, now)
    # moto's expression evaluation reads these (ascending, as moto builds them)
    moto_results = [{"id": i, "values": [v for _, v in pts], "timestamps": [_utc(t) for t, _ in pts]}
                    for i, pts in series.items()]
    paginate = not any("Expression" in q for q in queries)  # "NextToken is not returned if you are performing a math expression."
    results, next_offsets = [], {}
    for q in queries:
        if not q.get("ReturnData", True):
            continue
        qid = q["Id"]
        if "MetricStat" in q:
            pts = list(series[qid])
            label = q.get("Label") or q["MetricStat"]["Metric"]["MetricName"]
        elif not q["Expression"].startswith("SELECT"):
            values, stamps = parse_expression(q["Expression"], moto_results)
            pts = sorted((_epoch_f(t), v) for t, v in zip(stamps, values))
            label = q.get("Label") or qid
        else:  # Metrics Insights: moto's evaluation
            got = backend.get_metric_data(queries=[q], start_time=_utc(start), end_time=_utc(end),
                                          scan_by="TimestampAscending")
            pts = [(_epoch_f(t), v) for t, v in zip(got[0]["timestamps"], got[0]["values"])] if got else []
            label = q.get("Label") or qid
        if descending:
            pts.reverse()
        skip = int(offsets.get(qid, 0))
        page = pts[skip:skip + max(budget, 0)]
        budget -= len(page)
        status = "Complete"
        if skip + len(page) < len(pts):
            status = "PartialData"
            next_offsets[qid] = skip + len(page)
        results.append({"Id": qid, "Label": label, "Timestamps": [_utc(t) for t, _ in page],
                        "Values": [float(v) for _, v in page], "StatusCode": status})
    out: dict[str, Any] = {"MetricDataResults": results, "Messages": []}
    if next_offsets and paginate:
        # queries already complete keep their place: the next page continues each one
        for q in queries:
            if q.get("ReturnData", True) and q["Id"] not in next_offsets:
                next_offsets[q["Id"]] = len(series.get(q["Id"], []))
        out["NextToken"] = base64.urlsafe_b64encode(json.dumps(next_offsets).encode()).decode()
    return ActionResult(out)


# --------------------------------------------------------------------------- ALB metrics (control op)
# POST $control/cloudwatch/alb-metrics: what an Application Load Balancer publishes for one target
# group, minute by minute, written into moto's CloudWatch as ELB would (namespace AWS/ApplicationELB,
# dimensions TargetGroup + LoadBalancer, one datapoint per metric per minute at the minute's start).

ALB_NAMESPACE = "AWS/ApplicationELB"
_TG_RE = re.compile(r"(?:^|:)(targetgroup/[^/:]+/[0-9a-f]+)$")
_LB_RE = re.compile(r"(?:^|:|loadbalancer/|listener/|listener-rule/)(app/[^/:]+/[0-9a-f]+)(?:/|$)")


def alb_dimension(kind: str, value: Any) -> str:
    """The dimension value: "the final portion" of the ARN - `targetgroup/<name>/<id>` of a target
    group ARN, `app/<name>/<id>` of a load balancer, listener or listener rule ARN."""
    m = (_TG_RE if kind == "targetGroup" else _LB_RE).search(str(value or ""))
    if not m:
        want = "targetgroup/<name>/<hex id> or a target group ARN" if kind == "targetGroup" else \
            "app/<name>/<hex id> or the ARN of the load balancer, a listener or a listener rule"
        raise ValueError(f"{kind} must be {want}")
    return m.group(1)


def _minute_of(entry: dict, now: float) -> float:
    if "timestamp" in entry:
        t = _epoch_f(entry["timestamp"])
    elif "minutesAgo" in entry:
        t = math.floor(now / 60) * 60 - 60 * float(entry["minutesAgo"])
    else:
        raise ValueError("every minute needs timestamp (epoch seconds or ISO-8601) or minutesAgo")
    return float(math.floor(t / 60) * 60)


def alb_metric_data(body: dict, now: float | None = None) -> list[dict]:
    """PutMetricData MetricData for the minutes of one target group (see the README)."""
    now = time.time() if now is None else now
    tg = alb_dimension("targetGroup", body.get("targetGroup"))
    lb = alb_dimension("loadBalancer", body.get("loadBalancer"))
    dims = [{"Name": "TargetGroup", "Value": tg}, {"Name": "LoadBalancer", "Value": lb}]
    minutes = body.get("minutes")
    if not isinstance(minutes, list) or not minutes:
        raise ValueError("minutes must be a non-empty list")
    data, seen = [], set()
    for entry in minutes:
        if not isinstance(entry, dict):
            raise ValueError("every minute is an object")
        unknown = set(entry) - {"timestamp", "minutesAgo", "requests", "target5xx", "targetResponseTime"}
        if unknown:
            raise ValueError(f"unknown fields {sorted(unknown)}")
        t = _minute_of(entry, now)
        if t in seen:
            raise ValueError(f"minute {_utc(t).isoformat()} given twice")
        seen.add(t)
        requests, errors = entry.get("requests", 0), entry.get("target5xx", 0)
        if not all(isinstance(x, int) and not isinstance(x, bool) and x >= 0 for x in (requests, errors)):
            raise ValueError("requests and target5xx are counts (integers >= 0)")
        if errors > requests:
            raise ValueError("target5xx cannot exceed requests (each 5XX answers a request)")
        rt = entry.get("targetResponseTime")
        if rt is not None and (not isinstance(rt, (int, float)) or isinstance(rt, bool) or rt < 0):
            raise ValueError("targetResponseTime is the average in seconds (a number >= 0)")
        if requests == 0:
            if rt is not None:
                raise ValueError("targetResponseTime needs requests in that minute")
            continue  # no requests: ELB reports nothing
        stamp = _utc(t).replace(tzinfo=None)  # moto keeps naive UTC datetimes
        # counts as ELB publishes them: Sum = the count, and "Minimum, Maximum, and Average all return 1"
        data.append({"MetricName": "RequestCount", "Dimensions": dims, "Timestamp": stamp, "Unit": "Count",
                     "StatisticValues": {"SampleCount": float(requests), "Sum": float(requests),
                                         "Minimum": 1.0, "Maximum": 1.0}})
        if errors:  # HTTPCode_Target_5XX_Count: "Reporting criteria: There is a nonzero value"
            data.append({"MetricName": "HTTPCode_Target_5XX_Count", "Dimensions": dims, "Timestamp": stamp,
                         "Unit": "Count", "StatisticValues": {"SampleCount": float(errors), "Sum": float(errors),
                                                              "Minimum": 1.0, "Maximum": 1.0}})
        if rt is not None:  # one sample per request, all at the minute's average
            data.append({"MetricName": "TargetResponseTime", "Dimensions": dims, "Timestamp": stamp,
                         "Unit": "Seconds", "StatisticValues": {"SampleCount": float(requests),
                                                                "Sum": float(rt) * requests,
                                                                "Minimum": float(rt), "Maximum": float(rt)}})
    return data


def put_alb_metrics(body: dict, account: str, region: str) -> dict:
    from moto.cloudwatch.models import cloudwatch_backends
    data = alb_metric_data(body)
    if data:
        cloudwatch_backends[account][region].put_metric_data(ALB_NAMESPACE, data)
    return {"namespace": ALB_NAMESPACE, "dimensions": data[0]["Dimensions"] if data else
            [{"Name": "TargetGroup", "Value": alb_dimension("targetGroup", body.get("targetGroup"))},
             {"Name": "LoadBalancer", "Value": alb_dimension("loadBalancer", body.get("loadBalancer"))}],
            "metricData": [dict(d, Timestamp=d["Timestamp"].isoformat() + "Z") for d in data]}


def install_moto_patches() -> None:
    CloudWatchResponse.describe_alarms = _describe_alarms
    CloudWatchResponse.put_composite_alarm = _put_composite_alarm
    CloudWatchResponse.list_tags_for_resource = _list_tags_for_resource
    CloudWatchResponse.get_metric_data = _get_metric_data


# --------------------------------------------------------------------------- shape walking

def _epoch(v: Any) -> float | int:
    if isinstance(v, _dt.datetime):
        if v.tzinfo is None:
            v = v.replace(tzinfo=_dt.timezone.utc)
        v = v.timestamp()
    if isinstance(v, cbor2.CBORTag):
        v = v.value
    if isinstance(v, str):
        v = _dt.datetime.fromisoformat(v.replace("Z", "+00:00")).timestamp()
    v = round(float(v), 3)
    return int(v) if v == int(v) else v


def cbor_to_json(value: Any, shape) -> Any:
    """CBOR-decoded request value -> the awsJson document moto reads."""
    if value is None or shape is None:
        return value
    t = shape.type_name
    if t == "structure":
        if not isinstance(value, dict):
            raise ValueError(f"{shape.name}: expected a map")
        out = {}
        for k, v in value.items():
            if k in shape.members and v is not None:
                out[k] = cbor_to_json(v, shape.members[k])
        return out
    if t == "list":
        return [cbor_to_json(v, shape.member) for v in value]
    if t == "map":
        return {k: cbor_to_json(v, shape.value) for k, v in value.items()}
    if t == "timestamp":
        return _epoch(value)
    if t == "blob":
        return base64.b64encode(value).decode() if isinstance(value, (bytes, bytearray)) else value
    if t in ("double", "float"):
        return float(value)
    return value


def json_to_cbor(value: Any, shape) -> Any:
    """moto's JSON answer -> values for cbor2 (timestamps as tag 1 epoch seconds)."""
    if value is None or shape is None:
        return value
    t = shape.type_name
    if t == "structure":
        out = {}
        for k, v in value.items():
            if k in shape.members and v is not None:
                out[k] = json_to_cbor(v, shape.members[k])
        return out
    if t == "list":
        return [json_to_cbor(v, shape.member) for v in value]
    if t == "map":
        return {k: json_to_cbor(v, shape.value) for k, v in value.items()}
    if t == "timestamp":
        return cbor2.CBORTag(1, _epoch(value))
    if t == "blob":
        return base64.b64decode(value) if isinstance(value, str) else value
    if t in ("double", "float"):
        return float(value)
    if t in ("integer", "long", "short", "byte"):
        return int(value)
    return value


def error_shape_for(code: str):
    for name in _MODEL.shape_names:
        sh = _MODEL.shape_for(name)
        if not sh.metadata.get("exception"):
            continue
        if name == code or (sh.metadata.get("error") or {}).get("code") == code:
            return sh
    return None


def cbor_error(code: str, message: str, status: int | None = None) -> tuple[int, dict, bytes]:
    sh = error_shape_for(code)
    name = sh.name if sh is not None else code
    err_meta = (sh.metadata.get("error") or {}) if sh is not None else {}
    if status is None:
        status = err_meta.get("httpStatusCode") or (500 if err_meta.get("fault") else 400)
    query_code = err_meta.get("code") or code
    fault = "Sender" if (status < 500) else "Receiver"
    body = {"__type": f"{NAMESPACE}#{name}", "message": message}
    if sh is not None and "Message" in sh.members:
        body["Message"] = message
    headers = {"x-amzn-query-error": f"{query_code};{fault}", "Content-Type": "application/cbor"}
    return status, headers, cbor2.dumps(body)


# --------------------------------------------------------------------------- the proxy

class CborProxy:
    """Loopback HTTP server: rpcv2Cbor in, awsJson1_0 to moto, rpcv2Cbor out."""

    def __init__(self, moto_host: str, moto_port: int, on_request: Callable[[dict], None],
                 take_fault: Callable[[str, str], dict | None], region: str = "us-east-1",
                 latency_for: Callable[[str, str], float] | None = None):
        self.moto_host, self.moto_port = moto_host, moto_port
        self.latency_for = latency_for
        self.region = region
        self.on_request = on_request
        self.take_fault = take_fault
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, fmt, *args):  # quiet
                pass

            def do_POST(self):
                proxy.handle(self)

            def do_GET(self):
                self._plain(405, b"rpcv2Cbor requests must use POST")

            do_PUT = do_DELETE = do_GET

            def _plain(self, status, body):
                self.send_response(status)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, name="cbor-proxy", daemon=True)

    @property
    def port(self) -> int:
        return self.server.server_address[1]

    def start(self) -> None:
        self.thread.start()

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    # ------------------------------------------------------------------
    def handle(self, h: BaseHTTPRequestHandler) -> None:
        try:
            self._handle(h)
        except Exception as e:  # never drop the connection without an answer
            import traceback
            traceback.print_exc()
            status, headers, payload = cbor_error("InternalServiceFault", f"stand proxy failure: {e}", 500)
            h.send_response(status)
            h.send_header("smithy-protocol", "rpc-v2-cbor")
            for k, v in headers.items():
                h.send_header(k, v)
            h.send_header("Content-Length", str(len(payload)))
            h.end_headers()
            h.wfile.write(payload)

    def _handle(self, h: BaseHTTPRequestHandler) -> None:
        started = time.time()
        body = read_body(h)
        m = PATH_RE.match(h.path)
        entry: dict[str, Any] = {
            "time": started, "start": started, "method": "POST", "path": h.path, "service": "cloudwatch",
            "protocol": "rpc-v2-cbor", "operation": m.group(2) if m else None, "params": None,
        }

        def reply(status: int, headers: dict, payload: bytes, error_code: str | None = None):
            h.send_response(status)
            h.send_header("smithy-protocol", "rpc-v2-cbor")
            h.send_header("x-amzn-RequestId", entry.get("requestId") or "stand-cbor")
            for k, v in headers.items():
                h.send_header(k, v)
            h.send_header("Content-Length", str(len(payload)))
            h.end_headers()
            h.wfile.write(payload)
            entry["end"] = time.time()
            entry["status"] = status
            entry["errorCode"] = error_code
            self.on_request(entry)

        service = m.group(1) if m else None
        if not m or service not in (SERVICE_NAME, f"{NAMESPACE}.{SERVICE_NAME}"):
            return reply(*cbor_error("UnknownOperationException", f"no route for {h.path}", 404),
                         error_code="UnknownOperationException")
        op_name = m.group(2)
        if h.headers.get("smithy-protocol") != "rpc-v2-cbor":
            return reply(*cbor_error("ValidationException", "missing header smithy-protocol: rpc-v2-cbor", 400),
                         error_code="ValidationException")
        if h.headers.get("X-Amz-Target") or h.headers.get("X-Amzn-Target"):
            return reply(*cbor_error("ValidationException", "rpcv2Cbor requests must not carry X-Amz-Target", 400),
                         error_code="ValidationException")
        try:
            op = _MODEL.operation_model(op_name)
        except Exception:
            return reply(*cbor_error("UnknownOperationException", f"unknown operation {op_name}", 400),
                         error_code="UnknownOperationException")
        try:
            decoded = cbor2.loads(body) if body else {}
            if not isinstance(decoded, dict):
                raise ValueError("request body is not a CBOR map")
            params = cbor_to_json(decoded, op.input_shape) if op.input_shape is not None else {}
        except Exception as e:  # malformed CBOR
            return reply(*cbor_error("SerializationException", f"cannot decode CBOR body: {e}", 400),
                         error_code="SerializationException")
        entry["params"] = params

        extra_ms = self.latency_for("cloudwatch", op_name) if self.latency_for else 0
        if extra_ms > 0:
            time.sleep(extra_ms / 1000.0)
            entry["latencyMs"] = extra_ms
        fault = self.take_fault("cloudwatch", op_name)
        if fault is not None and fault.get("delay"):
            time.sleep(fault["delay"])
        if fault is not None and not fault.get("code"):
            fault = None  # delay-only (reset is not modelled on the proxy)
        if fault is not None:
            status, headers, payload = cbor_error(fault["code"], fault.get("message") or fault["code"],
                                                  int(fault.get("status", 400)))
            entry["injected"] = True
            return reply(status, headers, payload, error_code=fault["code"])

        if op_name in MUTE_OPS:
            try:
                doc = mute_rule_op(op_name, params, self.region)
            except (KeyError, ValueError) as e:
                code = "ResourceNotFoundException" if isinstance(e, KeyError) else "ValidationException"
                return reply(*cbor_error(code, str(e), 400 if code == "ValidationException" else 404),
                             error_code=code)
            if op.output_shape is None:
                return reply(200, {}, b"")
            return reply(200, {"Content-Type": "application/cbor"},
                         cbor2.dumps(json_to_cbor(doc, op.output_shape)))

        # forward to moto as awsJson1_0
        fwd_headers = {
            "Content-Type": "application/x-amz-json-1.0",
            "X-Amz-Target": f"{SERVICE_NAME}.{op_name}",
            "X-Stand-Forwarded": "1",
        }
        for k in ("Authorization", "X-Amz-Date", "X-Amz-Security-Token", "User-Agent"):
            if h.headers.get(k):
                fwd_headers[k] = h.headers[k]
        if "monitoring/aws4_request" not in fwd_headers.get("Authorization", ""):
            # moto routes by the SigV4 credential scope; unsigned requests would land in S3
            fwd_headers["Authorization"] = (
                f"AWS4-HMAC-SHA256 Credential=testing/20240101/{self.region}/monitoring/aws4_request, "
                "SignedHeaders=host, Signature=0")
        conn = http.client.HTTPConnection(self.moto_host, self.moto_port, timeout=60)
        try:
            conn.request("POST", "/", body=json.dumps(params).encode(), headers=fwd_headers)
            resp = conn.getresponse()
            raw = resp.read()
            status = resp.status
            query_error = resp.getheader("x-amzn-query-error")
            entry["requestId"] = resp.getheader("x-amzn-requestid")
        finally:
            conn.close()

        if status == 200:
            if op.output_shape is None:  # Unit output: no body, no Content-Type
                return reply(200, {}, b"")
            doc = json.loads(raw) if raw.strip() else {}
            payload = cbor2.dumps(json_to_cbor(doc, op.output_shape))
            return reply(200, {"Content-Type": "application/cbor"}, payload)

        try:
            doc = json.loads(raw) if raw.strip() else {}
        except ValueError:
            doc = {"message": raw.decode(errors="replace")}
        code = str(doc.get("__type") or "InternalFailure").split("#")[-1].split(":")[0]
        message = doc.get("message") or doc.get("Message") or ""
        st, headers, payload = cbor_error(code, message, status)
        if query_error:
            headers["x-amzn-query-error"] = query_error
        return reply(st, headers, payload, error_code=code)


def read_body(h: BaseHTTPRequestHandler) -> bytes:
    if "chunked" in (h.headers.get("Transfer-Encoding") or "").lower():
        chunks = []
        while True:
            line = h.rfile.readline().strip()
            size = int(line.split(b";")[0], 16) if line else 0
            if size == 0:
                while h.rfile.readline() not in (b"\r\n", b"\n", b""):
                    pass  # trailers
                break
            chunks.append(h.rfile.read(size))
            h.rfile.readline()
        return b"".join(chunks)
    n = int(h.headers.get("Content-Length") or 0)
    return h.rfile.read(n) if n else b""
