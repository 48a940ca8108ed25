//! Parse an invocation payload (EventBridge envelope or direct invocation) into domain types.
//! No SDK calls. Malformed or unknown input becomes an [`InputError`] naming the field.

use aws_lambda_events::eventbridge::EventBridgeEvent;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::error::InputError;
use crate::model::*;

pub const DETAIL_TYPE_DEPLOYMENT: &str = "ECS Deployment State Change";
pub const DETAIL_TYPE_ALARM: &str = "CloudWatch Alarm State Change";
pub const DETAIL_TYPE_TASK: &str = "ECS Task State Change";
pub const DETAIL_TYPE_SERVICE_ACTION: &str = "ECS Service Action";
pub const DETAIL_TYPE_HOOK: &str = "ECS Hook State Change";

pub use crate::faults::FAULT_STOP_CODES;
/// Service actions that mean the new revision's tasks cannot start. Placement failures
/// (capacity) and every other action never trigger.
pub const FAULT_SERVICE_ACTIONS: &[&str] = &[
    "SERVICE_TASK_START_IMPAIRED",
    "SERVICE_TASK_CONFIGURATION_FAILURE",
];

/// Where an event came from (`account`, `region` of the envelope or alarm action) and the path
/// it took: only an EventBridge event may name another account (organization mode).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Origin {
    pub account: Option<String>,
    pub region: Option<String>,
    /// A CloudWatch alarm action invoking the function: CloudWatch invokes only functions of
    /// the alarm's own account, so such a payload acts only in the function's own account.
    pub alarm_action: bool,
    /// The partition the payload's ARNs name (`aws`, `aws-cn`, …), when they name one.
    pub partition: Option<String>,
}

/// The account and region an ARN of the payload names must be the event's own: an event about
/// another account's resource is forged or misrouted, never acted on. `field` names the ARN.
fn same_place(field: &str, arn: &str, origin: &mut Origin) -> Result<(), InputError> {
    let parts: Vec<&str> = arn.splitn(6, ':').collect();
    if parts.len() < 6 {
        return Ok(());
    }
    if !parts[1].is_empty() {
        origin.partition = Some(parts[1].to_string());
    }
    for (what, named, own) in [
        ("region", parts[3], origin.region.as_deref()),
        ("account", parts[4], origin.account.as_deref()),
    ] {
        if let Some(own) = own {
            if !named.is_empty() && named != own {
                return Err(InputError::Invalid {
                    field: field.into(),
                    why: format!(
                        "{arn:?} names {what} {named}, but the event comes from {what} {own}"
                    ),
                });
            }
        }
    }
    Ok(())
}

/// A parsed invocation.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Event {
    /// An event about one service: a deployment state change, a task stopped for the revision's
    /// fault, or a service action saying its tasks cannot start.
    Service { origin: Origin, trigger: Trigger },
    /// A CloudWatch alarm state change; the guarded services are resolved by the handler.
    Alarm { origin: Origin, alarm: AlarmEvent },
    /// `{"cluster","service","reason","toTaskDefinition"?,"dryRun"?}`.
    Direct { trigger: Trigger },
    /// A down-migration task the responder started (`startedBy: ecs-rollback/<id>`) stopped: the
    /// rollback it precedes follows, once the task is verified in ECS.
    Migration {
        origin: Origin,
        target: ServiceRef,
        task_arn: String,
    },
    /// A pause lifecycle hook holds a deployment (`ECS Hook State Change`, `HOOK_AWAITING_ACTION`):
    /// answered with `ContinueServiceDeployment` for services that ask for it.
    Paused {
        origin: Origin,
        target: ServiceRef,
        deployment_arn: String,
        hook_id: String,
        stage: String,
    },
    /// An ECS lifecycle-hook invocation (the deployment gate): answered `{"hookStatus", …}`.
    Hook { hook: crate::gate::HookInvocation },
    /// A well-formed event that never acts (a spot interruption, a scale-in, a placement
    /// failure, …): answered `skipped` with the reason, without any AWS call.
    Ignored {
        origin: Origin,
        target: Option<ServiceRef>,
        kind: &'static str,
        reason: String,
    },
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AlarmEvent {
    pub name: String,
    pub arn: Option<String>,
    pub state: AlarmState,
    pub reason: String,
    /// A composite alarm whose actions are suppressed: `state.actionsSuppressedBy` (`Alarm`,
    /// `WaitPeriod`, `ExtensionPeriod`) with the suppressor and its reason, for people.
    pub suppressed: Option<String>,
    /// Services named by `ClusterName` + `ServiceName` dimensions of the alarm's metrics.
    pub dimension_targets: Vec<ServiceRef>,
    /// A composite alarm's rule.
    pub alarm_rule: Option<String>,
    /// A composite alarm's triggering children (ARNs), from `state.reasonData`.
    pub triggering: Vec<String>,
    /// `state.timestamp`: when the alarm entered this state, as the event claims.
    pub since: Option<Time>,
}

impl AlarmEvent {
    pub fn cause(&self, guard: AlarmGuard) -> Cause {
        Cause::Alarm {
            name: self.name.clone(),
            state: self.state,
            reason: self.reason.clone(),
            guard,
            since: self.since,
        }
    }
}

/// The parts of an ECS service ARN.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ServiceArn {
    pub partition: String,
    pub region: String,
    pub account: String,
    pub cluster: String,
    pub service: String,
}

/// An ECS name (cluster, service): up to 255 letters, digits, hyphens and underscores.
pub fn is_ecs_name(name: &str) -> bool {
    (1..=255).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// A service ARN of ECS's old format, `arn:PARTITION:ecs:REGION:ACCOUNT:service/SERVICE` (no
/// cluster: services created before the long ARN format, `serviceLongArnFormat`, was the
/// default). Its cluster is found in the handler; until then it is `""`.
pub const CLUSTER_UNKNOWN: &str = "";

/// A service ARN of either format: the old one answers the cluster [`CLUSTER_UNKNOWN`].
pub fn parse_any_service_arn(field: &str, arn: &str) -> Result<ServiceArn, InputError> {
    parse_arn(field, arn, true)
}

/// `arn:PARTITION:ecs:REGION:ACCOUNT:service/CLUSTER/SERVICE`. `field` names the input for errors.
pub fn parse_service_arn(field: &str, arn: &str) -> Result<ServiceArn, InputError> {
    parse_arn(field, arn, false)
}

fn parse_arn(field: &str, arn: &str, old_format: bool) -> Result<ServiceArn, InputError> {
    let invalid = |why: &str| InputError::Invalid {
        field: field.to_string(),
        why: format!("{arn:?} {why}"),
    };
    let parts: Vec<&str> = arn.splitn(6, ':').collect();
    if parts.len() != 6 || parts[0] != "arn" || parts[1].is_empty() {
        return Err(invalid("is not an ARN"));
    }
    if parts[2] != "ecs" {
        return Err(invalid("is not an ECS ARN"));
    }
    let (region, account) = (parts[3], parts[4]);
    if region.is_empty() || account.len() != 12 || !account.bytes().all(|b| b.is_ascii_digit()) {
        return Err(invalid("has no valid region and 12-digit account"));
    }
    let Some(path) = parts[5].strip_prefix("service/") else {
        return Err(invalid("is not an ECS service ARN"));
    };
    let (cluster, service) = match path.split_once('/') {
        Some(names) => names,
        None if old_format => (CLUSTER_UNKNOWN, path),
        None => return Err(invalid(
            "is an old-format service ARN without the cluster name (opt in to the long ARN format)",
        )),
    };
    if !(is_ecs_name(cluster) || (old_format && cluster == CLUSTER_UNKNOWN))
        || !is_ecs_name(service)
    {
        return Err(invalid(
            "is not an ECS service ARN (cluster and service names are 1-255 letters, digits, hyphens and underscores)",
        ));
    }
    Ok(ServiceArn {
        partition: parts[1].to_string(),
        region: region.to_string(),
        account: account.to_string(),
        cluster: cluster.to_string(),
        service: service.to_string(),
    })
}

/// `detail` of "ECS Deployment State Change".
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
struct DeploymentDetail {
    event_name: String,
    deployment_id: String,
    #[serde(default)]
    reason: Option<String>,
    #[serde(default)]
    event_type: Option<String>,
    #[serde(default)]
    updated_at: Option<String>,
}

/// A direct invocation.
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct Direct {
    cluster: String,
    service: String,
    #[serde(default)]
    reason: Option<String>,
    #[serde(default)]
    to_task_definition: Option<String>,
    #[serde(default)]
    dry_run: bool,
}

/// The largest payload accepted (Lambda's own async limit is 256 KiB; EventBridge events are ≤ 256 KB).
pub const MAX_PAYLOAD_BYTES: usize = 256 * 1024;

/// Parse raw bytes (the CLI's `replay` and tests use this).
pub fn parse_bytes(bytes: &[u8]) -> Result<Event, InputError> {
    if bytes.len() > MAX_PAYLOAD_BYTES {
        return Err(InputError::TooLarge(bytes.len()));
    }
    let value: Value = serde_json::from_slice(bytes).map_err(InputError::Json)?;
    parse(value)
}

/// Parse an invocation payload.
pub fn parse(value: Value) -> Result<Event, InputError> {
    let Value::Object(map) = &value else {
        return Err(InputError::Invalid {
            field: "event".into(),
            why: "is not a JSON object".into(),
        });
    };
    if map.contains_key("detail-type") {
        let envelope: EventBridgeEvent<Value> =
            serde_path_to_error::deserialize(value).map_err(InputError::Envelope)?;
        return parse_eventbridge(envelope);
    }
    if map.contains_key("alarmData") {
        return parse_alarm_action(&value);
    }
    if map.contains_key("executionId") && map.contains_key("lifecycleStage") {
        return parse_hook(&value)
            .map(|hook| Event::Hook { hook })
            .map_err(|e| InputError::Hook(Box::new(e)));
    }
    if map.contains_key("cluster") || map.contains_key("service") {
        let direct: Direct = serde_path_to_error::deserialize(value).map_err(InputError::Direct)?;
        return parse_direct(direct);
    }
    Err(InputError::Invalid {
        field: "event".into(),
        why: "is neither an EventBridge event (no `detail-type`), a CloudWatch alarm action (no `alarmData`) nor a direct invocation (no `cluster`/`service`)".into(),
    })
}

/// An ECS lifecycle-hook invocation (ECS Developer Guide, "Lifecycle hooks for Amazon ECS service
/// deployments" → "Lifecycle payloads"): `executionId`, `lifecycleStage`, `resourceArn` (the
/// service-deployment ARN), `executionDetails.{serviceArn, targetServiceRevisionArn, …}`,
/// `hookDetails`. Every field the gate relies on is checked here, named when it is wrong.
fn parse_hook(value: &Value) -> Result<crate::gate::HookInvocation, InputError> {
    let required = |path: &[&str], field: &str| {
        str_at(value, path)
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(str::to_string)
            .ok_or_else(|| InputError::Missing(field.to_string()))
    };
    let execution_id = required(&["executionId"], "executionId")?;
    let stage = required(&["lifecycleStage"], "lifecycleStage")?;
    if !stage.bytes().all(|b| b.is_ascii_uppercase() || b == b'_') {
        return Err(InputError::Invalid {
            field: "lifecycleStage".into(),
            why: format!("{stage:?} is not a lifecycle stage"),
        });
    }
    if !value.get("executionDetails").is_some_and(Value::is_object) {
        return Err(InputError::Missing("executionDetails".into()));
    }
    let service_arn = required(
        &["executionDetails", "serviceArn"],
        "executionDetails.serviceArn",
    )?;
    let arn = parse_service_arn("executionDetails.serviceArn", &service_arn)?;
    let deployment_arn = required(&["resourceArn"], "resourceArn")?;
    let prefix = format!(
        "arn:{}:ecs:{}:{}:service-deployment/{}/{}/",
        arn.partition, arn.region, arn.account, arn.cluster, arn.service
    );
    if !deployment_arn.starts_with(&prefix) || deployment_arn.len() == prefix.len() {
        return Err(InputError::Invalid {
            field: "resourceArn".into(),
            why: format!("{deployment_arn:?} is not a service-deployment ARN of {service_arn}"),
        });
    }
    let target_revision_arn = required(
        &["executionDetails", "targetServiceRevisionArn"],
        "executionDetails.targetServiceRevisionArn",
    )?;
    let revision_prefix = format!(
        "arn:{}:ecs:{}:{}:service-revision/{}/{}/",
        arn.partition, arn.region, arn.account, arn.cluster, arn.service
    );
    if !target_revision_arn.starts_with(&revision_prefix)
        || target_revision_arn.len() == revision_prefix.len()
    {
        return Err(InputError::Invalid {
            field: "executionDetails.targetServiceRevisionArn".into(),
            why: format!("{target_revision_arn:?} is not a service-revision ARN of {service_arn}"),
        });
    }
    let hook_details = match value.get("hookDetails") {
        None | Some(Value::Null) => serde_json::Map::new(),
        Some(Value::Object(map)) => map.clone(),
        Some(_) => {
            return Err(InputError::Invalid {
                field: "hookDetails".into(),
                why: "is not a JSON object".into(),
            })
        }
    };
    Ok(crate::gate::HookInvocation {
        execution_id,
        stage,
        deployment_arn,
        target: ServiceRef {
            cluster: arn.cluster,
            service: arn.service,
        },
        service_arn,
        account: arn.account,
        region: arn.region,
        target_revision_arn,
        hook_details,
    })
}

fn non_empty(field: &str, value: &str) -> Result<(), InputError> {
    if value.trim().is_empty() {
        return Err(InputError::Missing(field.to_string()));
    }
    Ok(())
}

fn parse_direct(direct: Direct) -> Result<Event, InputError> {
    non_empty("cluster", &direct.cluster)?;
    non_empty("service", &direct.service)?;
    for (field, value) in [("cluster", &direct.cluster), ("service", &direct.service)] {
        if !value.starts_with("arn:") && !is_ecs_name(value) {
            return Err(InputError::Invalid {
                field: field.into(),
                why: format!(
                    "{value:?} is not an ECS name (1-255 letters, digits, hyphens and underscores) or ARN"
                ),
            });
        }
    }
    if let Some(to) = &direct.to_task_definition {
        if split_task_definition(to).is_none() {
            return Err(InputError::Invalid {
                field: "toTaskDefinition".into(),
                why: format!("{to:?} is not `family:revision` or a task-definition ARN"),
            });
        }
    }
    let reason = direct
        .reason
        .filter(|r| !r.trim().is_empty())
        .unwrap_or_else(|| "no reason given".into());
    Ok(Event::Direct {
        trigger: Trigger {
            target: ServiceRef {
                cluster: direct.cluster,
                service: direct.service,
            },
            cause: Cause::Manual {
                reason,
                to: direct.to_task_definition,
                dry_run: direct.dry_run,
                // Rule 10: `lambda:InvokeFunction` alone never moves a service to another family.
                allow_other_family: false,
                force: false,
                by: None,
            },
        },
    })
}

fn parse_eventbridge(envelope: EventBridgeEvent<Value>) -> Result<Event, InputError> {
    let mut origin = Origin {
        account: envelope.account.clone(),
        region: envelope.region.clone(),
        alarm_action: false,
        partition: None,
    };
    match envelope.detail_type.as_str() {
        DETAIL_TYPE_DEPLOYMENT => {
            if envelope.source != "aws.ecs" {
                return Err(InputError::Invalid {
                    field: "source".into(),
                    why: format!("{:?} is not aws.ecs", envelope.source),
                });
            }
            let resource = envelope
                .resources
                .as_ref()
                .and_then(|r| r.first())
                .ok_or_else(|| InputError::Missing("resources[0]".into()))?;
            let arn = parse_any_service_arn("resources[0]", resource)?;
            same_place("resources[0]", resource, &mut origin)?;
            let detail: DeploymentDetail =
                serde_path_to_error::deserialize(envelope.detail).map_err(InputError::Detail)?;
            non_empty("detail.deploymentId", &detail.deployment_id)?;
            let deployment_id = detail.deployment_id;
            let cause = match detail.event_name.as_str() {
                "SERVICE_DEPLOYMENT_FAILED" => Cause::DeploymentFailed {
                    deployment_id,
                    reason: detail.reason.unwrap_or_default(),
                },
                "SERVICE_DEPLOYMENT_COMPLETED" => Cause::DeploymentCompleted { deployment_id },
                "SERVICE_DEPLOYMENT_IN_PROGRESS" => Cause::DeploymentInProgress { deployment_id },
                other => {
                    return Err(InputError::Invalid {
                        field: "detail.eventName".into(),
                        why: format!("{other:?} is not a deployment state change"),
                    })
                }
            };
            let origin = Origin {
                account: origin.account.or(Some(arn.account.clone())),
                region: origin.region.or(Some(arn.region.clone())),
                alarm_action: false,
                partition: origin.partition,
            };
            Ok(Event::Service {
                origin,
                trigger: Trigger {
                    target: ServiceRef {
                        cluster: arn.cluster,
                        service: arn.service,
                    },
                    cause,
                },
            })
        }
        DETAIL_TYPE_ALARM => {
            if envelope.source != "aws.cloudwatch" {
                return Err(InputError::Invalid {
                    field: "source".into(),
                    why: format!("{:?} is not aws.cloudwatch", envelope.source),
                });
            }
            let arn = envelope.resources.as_ref().and_then(|r| r.first()).cloned();
            if let Some(arn) = &arn {
                same_place("resources[0]", arn, &mut origin)?;
            }
            let alarm = parse_alarm_detail(&envelope.detail, arn)?;
            Ok(Event::Alarm { origin, alarm })
        }
        DETAIL_TYPE_TASK => parse_task_state(origin, &envelope.detail),
        DETAIL_TYPE_HOOK if envelope.source == "aws.ecs" => {
            let resource = envelope
                .resources
                .as_ref()
                .and_then(|r| r.first())
                .ok_or_else(|| InputError::Missing("resources[0]".into()))?;
            let arn = parse_any_service_arn("resources[0]", resource)?;
            same_place("resources[0]", resource, &mut origin)?;
            let target = ServiceRef {
                cluster: arn.cluster,
                service: arn.service,
            };
            let name = str_at(&envelope.detail, &["eventName"]).unwrap_or("");
            if name != "HOOK_AWAITING_ACTION" {
                return Ok(Event::Ignored {
                    origin,
                    target: Some(target),
                    kind: "hook_state",
                    reason: format!(
                        "Lifecycle hook event {name:?} is not a pause awaiting action: nothing to do."
                    ),
                });
            }
            let field = |f: &str| {
                str_at(&envelope.detail, &[f])
                    .filter(|s| !s.is_empty())
                    .map(str::to_string)
                    .ok_or_else(|| InputError::Missing(format!("detail.{f}")))
            };
            let deployment_arn = field("serviceDeploymentArn")?;
            same_place("detail.serviceDeploymentArn", &deployment_arn, &mut origin)?;
            Ok(Event::Paused {
                origin,
                target,
                deployment_arn,
                hook_id: field("hookId")?,
                stage: field("lifecycleStage")?,
            })
        }
        DETAIL_TYPE_SERVICE_ACTION => {
            let resource = envelope
                .resources
                .as_ref()
                .and_then(|r| r.first())
                .ok_or_else(|| InputError::Missing("resources[0]".into()))?;
            let arn = parse_any_service_arn("resources[0]", resource)?;
            same_place("resources[0]", resource, &mut origin)?;
            let name = str_at(&envelope.detail, &["eventName"])
                .filter(|s| !s.is_empty())
                .ok_or_else(|| InputError::Missing("detail.eventName".into()))?;
            let target = ServiceRef {
                cluster: arn.cluster,
                service: arn.service,
            };
            if !FAULT_SERVICE_ACTIONS.contains(&name) {
                return Ok(Event::Ignored {
                    origin,
                    target: Some(target),
                    kind: "service_action",
                    reason: format!("Service action {name} is not the revision's fault (only {} are): nothing to do.", FAULT_SERVICE_ACTIONS.join(" and ")),
                });
            }
            let signal = match str_at(&envelope.detail, &["reason"]) {
                Some(reason) if !reason.is_empty() => format!("{name} ({reason})"),
                _ => name.to_string(),
            };
            Ok(Event::Service {
                origin,
                trigger: Trigger {
                    target,
                    cause: Cause::TaskFailures {
                        deployment_id: None,
                        task_definition: None,
                        signal,
                    },
                },
            })
        }
        // A well-formed envelope of a kind this function does not act on (`ECS Hook State
        // Change`, `ECS Container Instance State Change`, types AWS adds later): answered, not
        // failed, so that a broad rule does not retry it into the dead-letter queue.
        other => Ok(Event::Ignored {
            origin,
            target: envelope
                .resources
                .as_ref()
                .and_then(|r| r.first())
                .and_then(|arn| parse_service_arn("resources[0]", arn).ok())
                .map(|arn| ServiceRef {
                    cluster: arn.cluster,
                    service: arn.service,
                }),
            kind: "unknown_event",
            reason: format!(
                "{other:?} from {} is not an event this function acts on: nothing to do.",
                envelope.source
            ),
        }),
    }
}

/// A CloudWatch alarm action that invokes the function directly (CloudWatch User Guide, "Lambda
/// alarm actions"): `{"source":"aws.cloudwatch","alarmArn","accountId","time","region",
/// "alarmData":{…the same as an alarm event's detail…}}`.
fn parse_alarm_action(value: &Value) -> Result<Event, InputError> {
    match str_at(value, &["source"]) {
        Some("aws.cloudwatch") => {}
        Some(other) => {
            return Err(InputError::Invalid {
                field: "source".into(),
                why: format!("{other:?} is not aws.cloudwatch"),
            })
        }
        None => return Err(InputError::Missing("source".into())),
    }
    let arn = str_at(value, &["alarmArn"])
        .filter(|a| a.starts_with("arn:") && a.contains(":alarm:"))
        .ok_or_else(|| InputError::Missing("alarmArn".into()))?;
    let data = value
        .get("alarmData")
        .filter(|d| d.is_object())
        .ok_or_else(|| InputError::Missing("alarmData".into()))?;
    let alarm =
        parse_alarm_detail(data, Some(arn.to_string())).map_err(|e| e.under("alarmData"))?;
    let mut origin = Origin {
        account: str_at(value, &["accountId"]).map(str::to_string),
        region: str_at(value, &["region"]).map(str::to_string),
        alarm_action: true,
        partition: None,
    };
    same_place("alarmArn", arn, &mut origin)?;
    Ok(Event::Alarm { origin, alarm })
}

/// "ECS Task State Change": only STOPPED service tasks with a fault stop code act.
fn parse_task_state(mut origin: Origin, detail: &Value) -> Result<Event, InputError> {
    let required = |field: &str| {
        str_at(detail, &[field])
            .filter(|s| !s.is_empty())
            .ok_or_else(|| InputError::Missing(format!("detail.{field}")))
    };
    let cluster_arn = required("clusterArn")?;
    same_place("detail.clusterArn", cluster_arn, &mut origin)?;
    let last_status = required("lastStatus")?;
    let cluster = cluster_arn
        .rsplit_once(":cluster/")
        .map(|(_, name)| name)
        .filter(|name| !name.is_empty() && !name.contains('/'))
        .ok_or_else(|| InputError::Invalid {
            field: "detail.clusterArn".into(),
            why: format!("{cluster_arn:?} is not an ECS cluster ARN"),
        })?;
    let group = str_at(detail, &["group"]).unwrap_or("");
    let started_by = str_at(detail, &["startedBy"]).unwrap_or("");
    if started_by.starts_with(MIGRATION_STARTED_BY) {
        let service = group
            .strip_prefix(MIGRATION_GROUP)
            .filter(|s| !s.is_empty())
            .ok_or_else(|| InputError::Invalid {
                field: "detail.group".into(),
                why: format!(
                    "{group:?} does not name the service of a down-migration task ({MIGRATION_GROUP}<service>)"
                ),
            })?;
        let target = ServiceRef {
            cluster: cluster.to_string(),
            service: service.to_string(),
        };
        if last_status != "STOPPED" {
            return Ok(Event::Ignored {
                origin,
                target: Some(target),
                kind: "migration_task",
                reason: format!(
                    "The down-migration task is {last_status}, not STOPPED: nothing to do yet."
                ),
            });
        }
        let task_arn = required("taskArn")?;
        same_place("detail.taskArn", task_arn, &mut origin)?;
        return Ok(Event::Migration {
            origin,
            target,
            task_arn: task_arn.to_string(),
        });
    }
    let service = group.strip_prefix("service:").filter(|s| !s.is_empty());
    let target = service.map(|service| ServiceRef {
        cluster: cluster.to_string(),
        service: service.to_string(),
    });
    let ignored = |reason: String| {
        Ok(Event::Ignored {
            origin: origin.clone(),
            target: target.clone(),
            kind: "task_state",
            reason,
        })
    };
    if last_status != "STOPPED" {
        return ignored(format!(
            "The task is {last_status}, not STOPPED: nothing to do."
        ));
    }
    let Some(target) = target.clone() else {
        return ignored(format!(
            "The task is not a service task (group {group:?}): nothing to do."
        ));
    };
    let stop_code = str_at(detail, &["stopCode"]).unwrap_or("");
    let stopped_reason = str_at(detail, &["stoppedReason"]).unwrap_or("");
    let container_reasons: Vec<&str> = detail
        .get("containers")
        .and_then(Value::as_array)
        .map(|cs| {
            cs.iter()
                .filter_map(|c| c.get("reason").and_then(Value::as_str))
                .collect()
        })
        .unwrap_or_default();
    if let crate::faults::Verdict::NotFault(why) =
        crate::faults::classify(stop_code, stopped_reason, &container_reasons)
    {
        return ignored(format!(
            "The task stop is not the revision's fault ({why}): nothing to do."
        ));
    }
    let exit_codes: Vec<String> = detail
        .get("containers")
        .and_then(Value::as_array)
        .map(|containers| {
            containers
                .iter()
                .filter_map(|c| {
                    let code = c.get("exitCode")?.as_i64()?;
                    Some(format!(
                        "{}={code}",
                        c.get("name").and_then(Value::as_str).unwrap_or("?")
                    ))
                })
                .collect()
        })
        .unwrap_or_default();
    let mut signal = stop_code.to_string();
    if let Some(reason) = str_at(detail, &["stoppedReason"]).filter(|r| !r.is_empty()) {
        signal = format!("{signal}: {reason}");
    }
    if !exit_codes.is_empty() {
        signal = format!("{signal} (exit codes {})", exit_codes.join(", "));
    }
    Ok(Event::Service {
        origin,
        trigger: Trigger {
            target,
            cause: Cause::TaskFailures {
                deployment_id: str_at(detail, &["startedBy"])
                    .filter(|s| s.starts_with("ecs-svc/"))
                    .map(str::to_string),
                task_definition: str_at(detail, &["taskDefinitionArn"]).map(str::to_string),
                signal,
            },
        },
    })
}

fn str_at<'a>(value: &'a Value, path: &[&str]) -> Option<&'a str> {
    let mut v = value;
    for key in path {
        v = v.get(key)?;
    }
    v.as_str()
}

/// The alarm detail is read as JSON, not with `aws_lambda_events`' structs: those reject
/// metric-math alarms (an `expression` entry has no `metricStat`) and composite alarms.
fn parse_alarm_detail(detail: &Value, arn: Option<String>) -> Result<AlarmEvent, InputError> {
    let name = str_at(detail, &["alarmName"])
        .filter(|s| !s.is_empty())
        .ok_or_else(|| InputError::Missing("detail.alarmName".into()))?
        .to_string();
    let state = match str_at(detail, &["state", "value"]) {
        Some("ALARM") => AlarmState::Alarm,
        Some("OK") => AlarmState::Ok,
        Some("INSUFFICIENT_DATA") => AlarmState::InsufficientData,
        Some(other) => {
            return Err(InputError::Invalid {
                field: "detail.state.value".into(),
                why: format!("{other:?} is not ALARM, OK or INSUFFICIENT_DATA"),
            })
        }
        None => return Err(InputError::Missing("detail.state.value".into())),
    };
    let reason = str_at(detail, &["state", "reason"])
        .unwrap_or("")
        .to_string();
    let suppressed = str_at(detail, &["state", "actionsSuppressedBy"])
        .filter(|s| !s.is_empty())
        .map(|by| {
            let suppressor = str_at(detail, &["configuration", "actionsSuppressor"])
                .map(|a| a.rsplit(":alarm:").next().unwrap_or(a).to_string());
            let why = str_at(detail, &["state", "actionsSuppressedReason"]).unwrap_or("");
            match suppressor {
                Some(s) => format!("{by} by {s}: {why}"),
                None => format!("{by}: {why}"),
            }
            .trim_end_matches([':', ' '])
            .to_string()
        });
    let configuration = detail.get("configuration");
    let mut dimension_targets = Vec::new();
    if let Some(metrics) = configuration
        .and_then(|c| c.get("metrics"))
        .and_then(Value::as_array)
    {
        for metric in metrics {
            let Some(dims) = metric
                .get("metricStat")
                .and_then(|m| m.get("metric"))
                .and_then(|m| m.get("dimensions"))
                .and_then(Value::as_object)
            else {
                continue; // an expression, or a metric without dimensions
            };
            let cluster = dims.get("ClusterName").and_then(Value::as_str);
            let service = dims.get("ServiceName").and_then(Value::as_str);
            if let (Some(cluster), Some(service)) = (cluster, service) {
                let target = ServiceRef {
                    cluster: cluster.to_string(),
                    service: service.to_string(),
                };
                if !dimension_targets.contains(&target) {
                    dimension_targets.push(target);
                }
            }
        }
    }
    let alarm_rule = configuration
        .and_then(|c| c.get("alarmRule"))
        .and_then(Value::as_str)
        .map(str::to_string);
    let triggering = triggering_alarms(detail.get("state").and_then(|s| s.get("reasonData")));
    let since = match str_at(detail, &["state", "timestamp"]) {
        None => None,
        Some(t) => Some(parse_alarm_time(t).ok_or_else(|| InputError::Invalid {
            field: "detail.state.timestamp".into(),
            why: format!("{t:?} is not a time"),
        })?),
    };
    Ok(AlarmEvent {
        name,
        arn,
        state,
        reason,
        suppressed,
        dimension_targets,
        alarm_rule,
        triggering,
        since,
    })
}

/// CloudWatch's alarm times: `2026-11-26T10:14:59.533+0000` (no colon in the offset), or RFC 3339.
fn parse_alarm_time(t: &str) -> Option<Time> {
    chrono::DateTime::parse_from_str(t, "%Y-%m-%dT%H:%M:%S%.f%z")
        .or_else(|_| chrono::DateTime::parse_from_rfc3339(t))
        .ok()
        .map(|t| t.with_timezone(&chrono::Utc))
}

/// `state.reasonData` of a composite alarm (a JSON string, or an object) → triggering alarm ARNs.
fn triggering_alarms(reason_data: Option<&Value>) -> Vec<String> {
    let parsed;
    let data = match reason_data {
        Some(Value::String(s)) => match serde_json::from_str::<Value>(s) {
            Ok(v) => {
                parsed = v;
                &parsed
            }
            Err(_) => return Vec::new(),
        },
        Some(v) => v,
        None => return Vec::new(),
    };
    data.get("triggeringAlarms")
        .and_then(Value::as_array)
        .map(|alarms| {
            alarms
                .iter()
                .filter(|a| str_at(a, &["state", "value"]).is_none_or(|s| s == "ALARM"))
                .filter_map(|a| a.get("arn").and_then(Value::as_str).map(str::to_string))
                .collect()
        })
        .unwrap_or_default()
}

/// Alarm names referenced by a composite alarm rule: `ALARM("name")`, `ALARM(name)`, `OK(arn)`, ….
pub fn alarm_rule_children(rule: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut rest = rule;
    while let Some(open) = rest.find('(') {
        let func = rest[..open]
            .rsplit(|c: char| !c.is_ascii_alphabetic() && c != '_')
            .next()
            .unwrap_or("");
        let after = &rest[open + 1..];
        let (arg, tail) = if let Some(quoted) = after.trim_start().strip_prefix('"') {
            match quoted.find('"') {
                Some(end) => (&quoted[..end], &quoted[end + 1..]),
                None => break,
            }
        } else {
            match after.find(')') {
                Some(end) => (after[..end].trim(), &after[end..]),
                None => break,
            }
        };
        if matches!(func, "ALARM" | "OK" | "INSUFFICIENT_DATA")
            && !arg.is_empty()
            && !arg.contains('(')
        {
            let name = arg.rsplit(":alarm:").next().unwrap_or(arg).to_string();
            if !out.contains(&name) {
                out.push(name);
            }
            rest = tail;
        } else {
            rest = after;
        }
    }
    out
}

/// Services named by alarm tags: `ecs-rollback:cluster` and `ecs-rollback:service` (several
/// services separated by spaces).
pub fn targets_from_tags<'a>(
    tags: impl IntoIterator<Item = (&'a str, &'a str)>,
) -> Vec<ServiceRef> {
    let mut cluster = None;
    let mut services = None;
    for (k, v) in tags {
        match k {
            TAG_ALARM_CLUSTER => cluster = Some(v.trim()),
            TAG_ALARM_SERVICE => services = Some(v),
            _ => {}
        }
    }
    match (cluster, services) {
        (Some(cluster), Some(services)) if !cluster.is_empty() => services
            .split_whitespace()
            .map(|s| ServiceRef {
                cluster: cluster.to_string(),
                service: s.to_string(),
            })
            .collect(),
        _ => Vec::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn alarm_rules_name_their_children() {
        let cases: &[(&str, &[&str])] = &[
            (
                r#"ALARM("hello-world-5xx") OR ALARM(hello-world-latency)"#,
                &["hello-world-5xx", "hello-world-latency"],
            ),
            (
                r#"ALARM(arn:aws:cloudwatch:eu-west-1:123456789012:alarm:a) AND NOT OK("b c")"#,
                &["a", "b c"],
            ),
            (r#"(ALARM("x") OR ALARM("y")) AND ALARM("x")"#, &["x", "y"]),
            ("TRUE", &[]),
            ("ALARM(", &[]),
        ];
        for (rule, want) in cases {
            assert_eq!(alarm_rule_children(rule), *want, "{rule}");
        }
    }

    #[test]
    fn service_arns_are_checked() {
        let ok = parse_service_arn(
            "r",
            "arn:aws:ecs:eu-west-1:123456789012:service/demo/hello-world",
        )
        .unwrap();
        assert_eq!(
            (ok.cluster.as_str(), ok.service.as_str()),
            ("demo", "hello-world")
        );
        let old = parse_any_service_arn(
            "r",
            "arn:aws:ecs:eu-west-1:123456789012:service/hello-world",
        )
        .unwrap();
        assert_eq!(
            (
                old.cluster.as_str(),
                old.service.as_str(),
                old.account.as_str()
            ),
            (CLUSTER_UNKNOWN, "hello-world", "123456789012"),
            "an old-format ARN: the cluster is found later"
        );
        for bad in [
            "arn:aws:ecs:eu-west-1:123456789012:service/demo/hello w\u{202e}orld",
            "arn:aws:ecs:eu-west-1:123456789012:service/d\u{e9}mo/x",
            "arn:aws:ecs:eu-west-1:123456789012:cluster/demo",
            "arn:aws:ecs:eu-west-1:123456789012:service/hello-world",
            "arn:aws:lambda:eu-west-1:123456789012:function:x",
            "arn:aws:ecs:eu-west-1:12345:service/demo/x",
            "service/demo/x",
            "",
        ] {
            let err = parse_service_arn("resources[0]", bad)
                .unwrap_err()
                .to_string();
            assert!(err.contains("resources[0]"), "{bad}: {err}");
        }
    }

    #[test]
    fn alarm_tags_name_services() {
        let tags = [
            (TAG_ALARM_CLUSTER, "demo"),
            (TAG_ALARM_SERVICE, "a  b"),
            ("other", "x"),
        ];
        let got = targets_from_tags(tags.iter().map(|(k, v)| (*k, *v)));
        assert_eq!(got.len(), 2);
        assert_eq!(got[1].service, "b");
        assert!(targets_from_tags([(TAG_ALARM_SERVICE, "a")]).is_empty());
    }

    #[test]
    fn lifecycle_hooks_are_parsed_and_malformed_ones_name_the_field() {
        let good: Value =
            serde_json::from_str(include_str!("../events/ecs-lifecycle-hook-invocation.json"))
                .unwrap();
        let Event::Hook { hook } = parse(good.clone()).unwrap() else {
            panic!("a hook");
        };
        assert_eq!(hook.stage, "POST_TEST_TRAFFIC_SHIFT");
        assert_eq!(
            (hook.target.cluster.as_str(), hook.target.service.as_str()),
            ("demo", "hello-world")
        );
        assert_eq!(
            hook.ecs_deployment_id().as_deref(),
            Some("ecs-svc/4444444444444444444")
        );
        assert!(hook.hook_details.is_empty());
        let broken = |edit: &dyn Fn(&mut Value)| {
            let mut v = good.clone();
            edit(&mut v);
            parse(v).unwrap_err().to_string()
        };
        type Edit = Box<dyn Fn(&mut Value)>;
        let cases: Vec<(&str, Edit)> = vec![
            ("executionId", Box::new(|v| v["executionId"] = json!(""))),
            (
                "lifecycleStage",
                Box::new(|v| v["lifecycleStage"] = json!("post scale up")),
            ),
            (
                "resourceArn",
                Box::new(|v| {
                    v.as_object_mut().unwrap().remove("resourceArn");
                }),
            ),
            (
                "resourceArn",
                Box::new(|v| {
                    v["resourceArn"] =
                        json!("arn:aws:ecs:eu-west-1:123456789012:service-deployment/demo/other/x")
                }),
            ),
            (
                "executionDetails",
                Box::new(|v| v["executionDetails"] = json!("x")),
            ),
            (
                "executionDetails.serviceArn",
                Box::new(|v| {
                    v["executionDetails"]["serviceArn"] =
                        json!("arn:aws:ecs:eu-west-1:123456789012:cluster/demo")
                }),
            ),
            (
                "executionDetails.targetServiceRevisionArn",
                Box::new(|v| {
                    v["executionDetails"]
                        .as_object_mut()
                        .unwrap()
                        .remove("targetServiceRevisionArn");
                }),
            ),
            (
                "executionDetails.targetServiceRevisionArn",
                Box::new(|v| {
                    v["executionDetails"]["targetServiceRevisionArn"] =
                        json!("arn:aws:ecs:eu-west-1:123456789012:task-definition/x:1")
                }),
            ),
            ("hookDetails", Box::new(|v| v["hookDetails"] = json!([1]))),
        ];
        for (field, edit) in cases {
            let err = broken(&*edit);
            assert!(
                err.contains(field) && err.contains("lifecycle-hook"),
                "{field}: {err}"
            );
        }
        let mut null_details = good.clone();
        null_details["hookDetails"] = Value::Null;
        assert!(parse(null_details).is_ok());
    }

    #[test]
    fn a_stopped_migration_task_names_its_service_and_task() {
        let payload: Value =
            serde_json::from_str(include_str!("../events/ecs-task-stopped-migration.json"))
                .unwrap();
        let Event::Migration {
            target, task_arn, ..
        } = parse(payload.clone()).unwrap()
        else {
            panic!("not a migration event")
        };
        assert_eq!(
            (target.cluster.as_str(), target.service.as_str()),
            ("demo", "hello-world")
        );
        assert!(task_arn.ends_with("/5b7d9f1a3c5e4b6d8f0a2c4e6b8d0f1a"));
        // Running: nothing to do yet. A group that names no service: rejected, naming the field.
        let mut running = payload.clone();
        running["detail"]["lastStatus"] = "RUNNING".into();
        assert!(matches!(parse(running).unwrap(), Event::Ignored { .. }));
        let mut no_group = payload;
        no_group["detail"]["group"] = "family:hello-migrate".into();
        let err = parse(no_group).unwrap_err().to_string();
        assert!(err.contains("detail.group"), "{err}");
    }

    #[test]
    fn a_pause_awaiting_action_names_its_deployment_hook_and_stage() {
        let payload: Value =
            serde_json::from_str(include_str!("../events/ecs-hook-state-change.json")).unwrap();
        let Event::Paused {
            target,
            deployment_arn,
            hook_id,
            stage,
            ..
        } = parse(payload.clone()).unwrap()
        else {
            panic!("not a pause event")
        };
        assert_eq!(
            (target.cluster.as_str(), target.service.as_str()),
            ("demo", "hello-world")
        );
        assert!(deployment_arn.ends_with("/Kq2xQoPh7XoEXAMPLE"));
        assert_eq!(
            (hook_id.as_str(), stage.as_str()),
            ("hk-0123456789abcdef", "POST_TEST_TRAFFIC_SHIFT")
        );
        let mut other = payload.clone();
        other["detail"]["eventName"] = "HOOK_SUCCEEDED".into();
        assert!(matches!(parse(other).unwrap(), Event::Ignored { .. }));
        let mut no_hook = payload;
        no_hook["detail"].as_object_mut().unwrap().remove("hookId");
        let err = parse(no_hook).unwrap_err().to_string();
        assert!(err.contains("detail.hookId"), "{err}");
    }
}
