//! Event payloads in the shapes AWS delivers them (see the fixtures in `events/`).

use serde_json::{json, Value};

use super::world::*;

fn iso(t: Time) -> String {
    t.to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

/// CloudWatch writes its state timestamps as `2026-11-26T10:14:59.655+0000`.
fn cw_time(t: Time) -> String {
    t.format("%Y-%m-%dT%H:%M:%S%.3f+0000").to_string()
}

fn event_id(kind: &str, at: Time, extra: &str) -> String {
    format!("{kind}-{}-{extra}", at.timestamp())
}

/// EventBridge "ECS Deployment State Change" (`events/ecs-deployment-failed.json`).
pub fn deployment_event(svc: &str, name: &str, dep: &str, at: Time, reason: &str) -> Value {
    json!({
        "version": "0",
        "id": event_id(name, at, dep),
        "detail-type": "ECS Deployment State Change",
        "source": "aws.ecs",
        "account": ACCOUNT,
        "time": at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        "region": REGION,
        "resources": [service_arn(svc)],
        "detail": {
            "eventType": if name == "SERVICE_DEPLOYMENT_FAILED" { "ERROR" } else { "INFO" },
            "eventName": name,
            "clusterArn": CLUSTER_ARN,
            "deploymentId": dep,
            "updatedAt": iso(at),
            "reason": reason,
        }
    })
}

/// EventBridge "ECS Task State Change" for a stopped service task
/// (`events/ecs-task-stopped-*.json`).
pub fn task_stopped(svc: &str, task: &StoppedTask, image: &str, digest: &str) -> Value {
    let mut container = json!({
        "containerArn": format!("{}/app", task.arn.replace(":task/", ":container/")),
        "lastStatus": "STOPPED",
        "name": "app",
        "image": image,
        "imageDigest": digest,
        "taskArn": task.arn,
        "cpu": "0",
        "memory": "512",
    });
    if let Some(code) = task.exit_code {
        container["exitCode"] = json!(code);
    }
    if let Some(r) = &task.container_reason {
        container["reason"] = json!(r);
    }
    let at = task.stopped_at;
    json!({
        "version": "0",
        "id": event_id("task", at, short(&task.arn)),
        "detail-type": "ECS Task State Change",
        "source": "aws.ecs",
        "account": ACCOUNT,
        "time": at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        "region": REGION,
        "resources": [task.arn],
        "detail": {
            "clusterArn": CLUSTER_ARN,
            "containers": [container],
            "createdAt": iso(at - chrono::Duration::minutes(1)),
            "desiredStatus": "STOPPED",
            "group": format!("service:{svc}"),
            "launchType": "FARGATE",
            "lastStatus": "STOPPED",
            "startedBy": task.started_by,
            "stopCode": task.stop_code,
            "stoppedAt": iso(at),
            "stoppedReason": task.reason,
            "taskArn": task.arn,
            "taskDefinitionArn": task.td,
            "updatedAt": iso(at),
            "version": 5
        }
    })
}

fn alarm_detail(a: &Alarm, at: Time) -> Value {
    let (value, previous) = match a.state {
        AlarmState::Alarm => ("ALARM", "OK"),
        AlarmState::Ok => ("OK", "ALARM"),
    };
    json!({
        "alarmName": a.name,
        "state": {
            "value": value,
            "reason": format!("Threshold Crossed: 3 out of the last 3 datapoints were {} the threshold (50.0).", if value == "ALARM" { "greater than" } else { "not greater than" }),
            "timestamp": cw_time(at),
        },
        "previousState": {
            "value": previous,
            "reason": "Threshold Crossed.",
            "timestamp": cw_time(at - chrono::Duration::minutes(30)),
        },
        "configuration": {
            "description": format!("5xx responses of {}", a.service),
            "metrics": [{
                "id": "m1",
                "metricStat": {
                    "metric": {
                        "namespace": "Demo/Http",
                        "name": "Http5xx",
                        "dimensions": {"ClusterName": CLUSTER, "ServiceName": a.service}
                    },
                    "period": 60,
                    "stat": "Sum"
                },
                "returnData": true
            }]
        }
    })
}

/// An alarm state change: EventBridge "CloudWatch Alarm State Change"
/// (`events/cloudwatch-alarm-metric.json`), or CloudWatch invoking the function as the alarm's
/// action (`events/cloudwatch-alarm-action-lambda.json`).
pub fn alarm_event(a: &Alarm, at: Time, as_action: bool) -> Value {
    if as_action {
        return json!({
            "source": "aws.cloudwatch",
            "alarmArn": alarm_arn(&a.name),
            "accountId": ACCOUNT,
            "time": cw_time(at),
            "region": REGION,
            "alarmData": alarm_detail(a, at),
        });
    }
    json!({
        "version": "0",
        "id": event_id("alarm", at, &a.name),
        "detail-type": "CloudWatch Alarm State Change",
        "source": "aws.cloudwatch",
        "account": ACCOUNT,
        "time": at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        "region": REGION,
        "resources": [alarm_arn(&a.name)],
        "detail": alarm_detail(a, at),
    })
}
