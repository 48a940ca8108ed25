//! The handler end to end through the real SDK clients, answered by aws-smithy-mocks.
//! Every decision rule from an `events/*.json` fixture; assertions on the calls made.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use aws_sdk_cloudwatch::operation::describe_alarms::DescribeAlarmsOutput;
use aws_sdk_cloudwatch::operation::list_tags_for_resource::ListTagsForResourceOutput as CwTagsOutput;
use aws_sdk_ecs::operation::describe_service_deployments::DescribeServiceDeploymentsOutput;
use aws_sdk_ecs::operation::describe_service_revisions::DescribeServiceRevisionsOutput;
use aws_sdk_ecs::operation::describe_services::DescribeServicesOutput;
use aws_sdk_ecs::operation::describe_task_definition::{
    DescribeTaskDefinitionError, DescribeTaskDefinitionOutput,
};
use aws_sdk_ecs::operation::list_service_deployments::ListServiceDeploymentsOutput;
use aws_sdk_ecs::operation::list_task_definitions::ListTaskDefinitionsOutput;
use aws_sdk_ecs::operation::register_task_definition::RegisterTaskDefinitionOutput;
use aws_sdk_ecs::operation::stop_service_deployment::StopServiceDeploymentOutput;
use aws_sdk_ecs::operation::tag_resource::TagResourceOutput;
use aws_sdk_ecs::operation::update_service::UpdateServiceOutput;
use aws_sdk_ecs::types as ecs;
use aws_sdk_sns::operation::publish::PublishOutput;
use aws_smithy_mocks::{mock, mock_client, MockResponse, Rule, RuleMode};
use chrono::{TimeZone, Utc};
use ecs_rollback::aws::cloudwatch::CloudWatch;
use ecs_rollback::aws::ecs::Ecs;
use ecs_rollback::aws::sns::Sns;
use ecs_rollback::config::Config;
use ecs_rollback::error::Error;
use ecs_rollback::handler::{handle, Deps, Invocation, Response};
use serde_json::Value;

const ACCOUNT: &str = "123456789012";
const CLUSTER_ARN: &str = "arn:aws:ecs:eu-west-1:123456789012:cluster/demo";
const TOPIC: &str = "arn:aws:sns:eu-west-1:123456789012:ecs-rollback";

fn service_arn(name: &str) -> String {
    format!("arn:aws:ecs:eu-west-1:123456789012:service/demo/{name}")
}
fn td(family: &str, rev: i32) -> String {
    format!("arn:aws:ecs:eu-west-1:123456789012:task-definition/{family}:{rev}")
}
fn sd_arn(n: u32) -> String {
    format!("arn:aws:ecs:eu-west-1:123456789012:service-deployment/demo/hello-world/sd{n}")
}
fn rev_arn(n: u32) -> String {
    format!("arn:aws:ecs:eu-west-1:123456789012:service-revision/demo/hello-world/r{n}")
}
fn at(h: u32, m: u32) -> aws_sdk_ecs::primitives::DateTime {
    aws_sdk_ecs::primitives::DateTime::from_secs(
        Utc.with_ymd_and_hms(2026, 11, 26, h, m, 0)
            .unwrap()
            .timestamp(),
    )
}
fn now() -> chrono::DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 26, 10, 20, 0).unwrap()
}

fn fixture(name: &str) -> Value {
    let path = format!("{}/events/{name}", env!("CARGO_MANIFEST_DIR"));
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{path}: {e}"))
}

fn invocation() -> Invocation {
    Invocation {
        function_arn: Some(format!(
            "arn:aws:lambda:eu-west-1:{ACCOUNT}:function:ecs-rollback"
        )),
        deadline: None,
    }
}

/// (id, status, revision, rolloutState, rolloutStateReason, createdAt h:m)
type DeploymentRow = (
    &'static str,
    &'static str,
    i32,
    ecs::DeploymentRolloutState,
    Option<&'static str>,
    (u32, u32),
);
/// (n, status, target revision, finishedAt h:m, source revision)
type HistoryRow = (
    u32,
    ecs::ServiceDeploymentStatus,
    i32,
    (u32, u32),
    Option<i32>,
);

/// The ECS world the mocks answer from. Tests change it before building the clients.
#[derive(Clone)]
struct World {
    name: String,
    /// (id, status, revision, rolloutState, reason, createdAt)
    deployments: Vec<DeploymentRow>,
    current: i32,
    tags: Vec<(&'static str, String)>,
    /// revision → (status, ledger tag, image)
    revisions: BTreeMap<i32, (ecs::TaskDefinitionStatus, Option<&'static str>, String)>,
    /// (n, status, target revision, finishedAt, source revision)
    history: Vec<HistoryRow>,
    history_fails: bool,
    breaker_rollback: bool,
    /// Further services in the cluster, copies of this one under another name.
    also: Vec<String>,
    /// `failedTasks` of the PRIMARY deployment (early detection).
    primary_failed: i32,
    /// `deploymentConfiguration.alarms.alarmNames` (enabled; `rollback` from `alarms_rollback`).
    deployment_alarms: Vec<&'static str>,
    alarms_rollback: bool,
    /// Stopped tasks of the PRIMARY deployment: (stopCode, stoppedReason) — ListTasks/DescribeTasks.
    stopped: Vec<(&'static str, &'static str)>,
    /// Every alarm's state in CloudWatch now (DescribeAlarms), and its transition time (h:m).
    alarm_state: (aws_sdk_cloudwatch::types::StateValue, Option<(u32, u32)>),
    /// Alarms that read OK in CloudWatch now, whatever `alarm_state` says.
    ok_alarms: Vec<&'static str>,
    /// ECS names the service with an old-format ARN (`…:service/NAME`, no cluster).
    old_arn: bool,
    /// Alarms an ACTIVE alarm mute rule mutes (`ListAlarmMuteRules`).
    muted: Vec<&'static str>,
    /// An Express Mode service (`resourceManagementType: ECS`).
    express: bool,
}

impl World {
    /// The new revision's deployment completed, and `hello-world-5xx` is one of the service's
    /// deployment alarms (so its dimensions make it a guard).
    fn guarded() -> World {
        let mut w = World::new();
        w.deployments[0].3 = ecs::DeploymentRolloutState::Completed;
        w.deployment_alarms = vec!["hello-world-5xx"];
        w
    }

    fn new() -> World {
        World {
            name: "hello-world".into(),
            deployments: vec![
                (
                    "ecs-svc/4444444444444444444",
                    "PRIMARY",
                    4,
                    ecs::DeploymentRolloutState::Failed,
                    Some("ECS deployment circuit breaker: tasks failed to start."),
                    (10, 0),
                ),
                (
                    "ecs-svc/3333333333333333333",
                    "ACTIVE",
                    3,
                    ecs::DeploymentRolloutState::Completed,
                    None,
                    (9, 0),
                ),
            ],
            current: 4,
            tags: vec![("ecs-rollback:enabled", "true".into())],
            revisions: (1..=4)
                .map(|r| {
                    (
                        r,
                        (
                            ecs::TaskDefinitionStatus::Active,
                            None,
                            format!("repo/app:{r}a1b2c3d"),
                        ),
                    )
                })
                .collect(),
            // Listed oldest first on purpose: the core must sort by the deployments' timestamps.
            history: vec![
                (1, ecs::ServiceDeploymentStatus::Successful, 1, (7, 0), None),
                (
                    2,
                    ecs::ServiceDeploymentStatus::Successful,
                    2,
                    (8, 0),
                    Some(1),
                ),
                (
                    3,
                    ecs::ServiceDeploymentStatus::Successful,
                    3,
                    (9, 10),
                    Some(2),
                ),
                (
                    4,
                    ecs::ServiceDeploymentStatus::Stopped,
                    4,
                    (10, 10),
                    Some(3),
                ),
            ],
            history_fails: false,
            breaker_rollback: false,
            also: Vec::new(),
            primary_failed: 0,
            deployment_alarms: Vec::new(),
            alarms_rollback: false,
            stopped: Vec::new(),
            alarm_state: (aws_sdk_cloudwatch::types::StateValue::Alarm, None),
            ok_alarms: Vec::new(),
            old_arn: false,
            muted: Vec::new(),
            express: false,
        }
    }

    fn service(&self) -> ecs::Service {
        let arn = if self.old_arn {
            format!("arn:aws:ecs:eu-west-1:{ACCOUNT}:service/{}", self.name)
        } else {
            service_arn(&self.name)
        };
        let mut b = ecs::Service::builder()
            .service_arn(arn)
            .service_name(&self.name)
            .cluster_arn(CLUSTER_ARN)
            .status("ACTIVE")
            .set_resource_management_type(self.express.then_some(ecs::ResourceManagementType::Ecs))
            .task_definition(td("hello-world", self.current))
            .deployment_controller(
                ecs::DeploymentController::builder()
                    .r#type(ecs::DeploymentControllerType::Ecs)
                    .build()
                    .unwrap(),
            )
            .deployment_configuration(
                ecs::DeploymentConfiguration::builder()
                    .deployment_circuit_breaker(
                        ecs::DeploymentCircuitBreaker::builder()
                            .enable(true)
                            .rollback(self.breaker_rollback)
                            .build(),
                    )
                    .set_alarms((!self.deployment_alarms.is_empty()).then(|| {
                        ecs::DeploymentAlarms::builder()
                            .set_alarm_names(Some(
                                self.deployment_alarms
                                    .iter()
                                    .map(|a| a.to_string())
                                    .collect(),
                            ))
                            .enable(true)
                            .rollback(self.alarms_rollback)
                            .build()
                            .unwrap()
                    }))
                    .build(),
            );
        for (id, status, rev, rollout, reason, (h, m)) in &self.deployments {
            let failed = if *status == "PRIMARY" {
                self.primary_failed
            } else {
                0
            };
            b = b.deployments(
                ecs::Deployment::builder()
                    .failed_tasks(failed)
                    .id(*id)
                    .status(*status)
                    .task_definition(td("hello-world", *rev))
                    .rollout_state(rollout.clone())
                    .set_rollout_state_reason(reason.map(str::to_string))
                    .created_at(at(*h, *m))
                    .build(),
            );
        }
        for (k, v) in &self.tags {
            b = b.tags(ecs::Tag::builder().key(*k).value(v).build());
        }
        b.build()
    }
}

/// Records every write the handler makes, in order.
type Writes = Arc<Mutex<Vec<String>>>;

struct Harness {
    deps: Deps,
    writes: Writes,
    rules: Vec<(&'static str, Rule)>,
    published: Arc<Mutex<Vec<String>>>,
}

impl Harness {
    fn calls(&self, op: &str) -> usize {
        self.rules
            .iter()
            .filter(|(n, _)| *n == op)
            .map(|(_, r)| r.num_calls())
            .sum()
    }
    fn writes(&self) -> Vec<String> {
        self.writes.lock().unwrap().clone()
    }
    async fn run(&self, fixture_name: &str) -> Result<Value, Error> {
        handle(&self.deps, fixture(fixture_name), &invocation(), now()).await
    }
}

fn ecs_rules(
    world: &World,
    writes: &Writes,
    extra: Vec<(&'static str, Rule)>,
) -> Vec<(&'static str, Rule)> {
    let mut rules = extra;
    let mut services: BTreeMap<String, ecs::Service> = BTreeMap::new();
    services.insert(world.name.clone(), world.service());
    for other in &world.also {
        let mut w = world.clone();
        w.name = other.clone();
        services.insert(other.clone(), w.service());
    }
    let w = world.clone();
    rules.push((
        "DescribeServices",
        mock!(aws_sdk_ecs::Client::describe_services).then_compute_output(move |req| {
            let name = req.services().first().cloned().unwrap_or_default();
            let name = name.rsplit('/').next().unwrap_or_default().to_string();
            // The services live in cluster `demo`.
            let in_demo = req
                .cluster()
                .is_none_or(|c| c == "demo" || c == CLUSTER_ARN);
            match services.get(&name).filter(|_| in_demo) {
                Some(s) => DescribeServicesOutput::builder()
                    .services(s.clone())
                    .build(),
                None => DescribeServicesOutput::builder()
                    .failures(
                        ecs::Failure::builder()
                            .arn(service_arn(&name))
                            .reason("MISSING")
                            .build(),
                    )
                    .build(),
            }
        }),
    ));
    let history_fails = w.history_fails;
    let briefs: Vec<ecs::ServiceDeploymentBrief> = w
        .history
        .iter()
        .map(|(n, status, _, (h, m), _)| {
            ecs::ServiceDeploymentBrief::builder()
                .service_deployment_arn(sd_arn(*n))
                .status(status.clone())
                .target_service_revision_arn(rev_arn(*n))
                .created_at(at(*h, m.saturating_sub(10)))
                .started_at(at(*h, m.saturating_sub(9)))
                .set_finished_at(
                    (*status != ecs::ServiceDeploymentStatus::InProgress).then(|| at(*h, *m)),
                )
                .build()
        })
        .collect();
    if history_fails {
        rules.push((
            "ListServiceDeployments",
            mock!(aws_sdk_ecs::Client::list_service_deployments).then_http_response(|| {
                aws_smithy_runtime_api::http::Response::new(
                    aws_smithy_runtime_api::http::StatusCode::try_from(500).unwrap(),
                    aws_smithy_types::body::SdkBody::from(
                        r#"{"__type":"ServerException","message":"internal error"}"#,
                    ),
                )
            }),
        ));
    } else {
        rules.push((
            "ListServiceDeployments",
            mock!(aws_sdk_ecs::Client::list_service_deployments).then_output(move || {
                ListServiceDeploymentsOutput::builder()
                    .set_service_deployments(Some(briefs.clone()))
                    .build()
            }),
        ));
    }
    let hist = w.history.clone();
    rules.push((
        "DescribeServiceDeployments",
        mock!(aws_sdk_ecs::Client::describe_service_deployments).then_compute_output(move |req| {
            let mut out = DescribeServiceDeploymentsOutput::builder();
            for arn in req.service_deployment_arns() {
                if let Some((n, status, _, _, source)) = hist.iter().find(|h| sd_arn(h.0) == *arn) {
                    let mut d = ecs::ServiceDeployment::builder()
                        .service_deployment_arn(arn)
                        .status(status.clone())
                        .target_service_revision(
                            ecs::ServiceRevisionSummary::builder()
                                .arn(rev_arn(*n))
                                .build(),
                        );
                    if let Some(s) = source {
                        let src_n = hist.iter().find(|h| h.2 == *s).map(|h| h.0).unwrap();
                        d = d.source_service_revisions(
                            ecs::ServiceRevisionSummary::builder()
                                .arn(rev_arn(src_n))
                                .build(),
                        );
                    }
                    out = out.service_deployments(d.build());
                }
            }
            out.build()
        }),
    ));
    let hist = w.history.clone();
    let revs = w.revisions.clone();
    rules.push((
        "DescribeServiceRevisions",
        mock!(aws_sdk_ecs::Client::describe_service_revisions).then_compute_output(move |req| {
            assert!(
                req.service_revision_arns().len() <= 20,
                "DescribeServiceRevisions takes at most 20 ARNs"
            );
            let mut out = DescribeServiceRevisionsOutput::builder();
            for arn in req.service_revision_arns() {
                if let Some((n, _, rev, _, _)) = hist.iter().find(|h| rev_arn(h.0) == *arn) {
                    let image = revs.get(rev).map(|r| r.2.clone()).unwrap_or_default();
                    out = out.service_revisions(
                        ecs::ServiceRevision::builder()
                            .service_revision_arn(rev_arn(*n))
                            .task_definition(td("hello-world", *rev))
                            .container_images(
                                ecs::ContainerImage::builder()
                                    .container_name("app")
                                    .image(image)
                                    .image_digest(format!("sha256:{:0>64}", rev))
                                    .build(),
                            )
                            .build(),
                    );
                }
            }
            out.build()
        }),
    ));
    let revs = w.revisions.clone();
    rules.push((
        "DescribeTaskDefinition",
        mock!(aws_sdk_ecs::Client::describe_task_definition).then_compute_response(move |req| {
            let name = req.task_definition().unwrap_or_default();
            let rev = name.rsplit(':').next().and_then(|r| r.parse::<i32>().ok());
            match rev.and_then(|r| revs.get(&r).map(|v| (r, v))) {
                Some((r, (status, ledger, image))) => {
                    let def = ecs::TaskDefinition::builder()
                        .task_definition_arn(td("hello-world", r))
                        .family("hello-world")
                        .revision(r)
                        .status(status.clone())
                        .execution_role_arn("arn:aws:iam::123456789012:role/ecsTaskExecutionRole")
                        .cpu("256")
                        .memory("512")
                        .network_mode(ecs::NetworkMode::Awsvpc)
                        .requires_compatibilities(ecs::Compatibility::Fargate)
                        .container_definitions(
                            ecs::ContainerDefinition::builder()
                                .name("app")
                                .image(image)
                                .essential(true)
                                .environment(
                                    ecs::KeyValuePair::builder()
                                        .name("DB_PASSWORD")
                                        .value("hunter2-secret")
                                        .build(),
                                )
                                .build(),
                        )
                        .build();
                    let mut out = DescribeTaskDefinitionOutput::builder().task_definition(def);
                    if let Some(l) = ledger {
                        out = out.tags(
                            ecs::Tag::builder()
                                .key("ecs-rollback:status")
                                .value(*l)
                                .build(),
                        );
                    }
                    MockResponse::Output(out.build())
                }
                None => MockResponse::Error(DescribeTaskDefinitionError::ClientException(
                    aws_sdk_ecs::types::error::ClientException::builder()
                        .message("Unable to describe task definition.")
                        .build(),
                )),
            }
        }),
    ));
    let family: Vec<String> = w.revisions.keys().map(|r| td("hello-world", *r)).collect();
    rules.push((
        "ListTaskDefinitions",
        mock!(aws_sdk_ecs::Client::list_task_definitions).then_compute_output(move |req| {
            // Two pages, ascending order inside each page: the core must not trust the API's order.
            let (page, token) = match req.next_token() {
                None => (
                    family.iter().take(2).cloned().collect::<Vec<_>>(),
                    Some("page2".to_string()),
                ),
                Some(_) => (family.iter().skip(2).cloned().collect(), None),
            };
            ListTaskDefinitionsOutput::builder()
                .set_task_definition_arns(Some(page))
                .set_next_token(token)
                .build()
        }),
    ));
    let log = writes.clone();
    rules.push((
        "UpdateService",
        mock!(aws_sdk_ecs::Client::update_service).then_compute_output(move |req| {
            log.lock().unwrap().push(format!(
                "UpdateService {}",
                req.task_definition().unwrap_or_default()
            ));
            UpdateServiceOutput::builder().build()
        }),
    ));
    let log = writes.clone();
    rules.push((
        "StopServiceDeployment",
        mock!(aws_sdk_ecs::Client::stop_service_deployment).then_compute_output(move |req| {
            log.lock().unwrap().push(format!(
                "StopServiceDeployment {} {:?}",
                req.service_deployment_arn().unwrap_or_default(),
                req.stop_type()
            ));
            StopServiceDeploymentOutput::builder().build()
        }),
    ));
    let log = writes.clone();
    rules.push((
        "TagResource",
        mock!(aws_sdk_ecs::Client::tag_resource).then_compute_output(move |req| {
            let tags: Vec<String> = req
                .tags()
                .iter()
                .map(|t| {
                    format!(
                        "{}={}",
                        t.key().unwrap_or_default(),
                        t.value().unwrap_or_default()
                    )
                })
                .collect();
            log.lock().unwrap().push(format!(
                "TagResource {} {}",
                req.resource_arn().unwrap_or_default(),
                tags.join(",")
            ));
            TagResourceOutput::builder().build()
        }),
    ));
    let stopped = w.stopped.clone();
    rules.push((
        "ListTasks",
        mock!(aws_sdk_ecs::Client::list_tasks).then_compute_output(move |req| {
            assert_eq!(req.desired_status(), Some(&ecs::DesiredStatus::Stopped));
            assert!(req.started_by().is_some_and(|s| s.starts_with("ecs-svc/")));
            aws_sdk_ecs::operation::list_tasks::ListTasksOutput::builder()
                .set_task_arns(Some(
                    (0..stopped.len())
                        .map(|i| format!("arn:aws:ecs:eu-west-1:123456789012:task/demo/t{i}"))
                        .collect(),
                ))
                .build()
        }),
    ));
    let stopped = w.stopped.clone();
    rules.push((
        "DescribeTasks",
        mock!(aws_sdk_ecs::Client::describe_tasks).then_compute_output(move |req| {
            let mut out = aws_sdk_ecs::operation::describe_tasks::DescribeTasksOutput::builder();
            // Tasks the world does not list (a down-migration task) are unknown to ECS.
            for (arn, (code, reason)) in req.tasks().iter().zip(stopped.iter()) {
                out = out.tasks(
                    ecs::Task::builder()
                        .task_arn(arn)
                        .stop_code(ecs::TaskStopCode::from(*code))
                        .stopped_reason(*reason)
                        .build(),
                );
            }
            out.build()
        }),
    ));
    let log = writes.clone();
    rules.push((
        "UntagResource",
        mock!(aws_sdk_ecs::Client::untag_resource).then_compute_output(move |req| {
            log.lock().unwrap().push(format!(
                "UntagResource {} {}",
                req.resource_arn().unwrap_or_default(),
                req.tag_keys().join(",")
            ));
            aws_sdk_ecs::operation::untag_resource::UntagResourceOutput::builder().build()
        }),
    ));
    let log = writes.clone();
    rules.push((
        "RegisterTaskDefinition",
        mock!(aws_sdk_ecs::Client::register_task_definition).then_compute_output(move |req| {
            let c = &req.container_definitions()[0];
            log.lock().unwrap().push(format!(
                "RegisterTaskDefinition {} image={} env={} role={} cpu={}",
                req.family().unwrap_or_default(),
                c.image().unwrap_or_default(),
                c.environment().len(),
                req.execution_role_arn().unwrap_or_default(),
                req.cpu().unwrap_or_default()
            ));
            RegisterTaskDefinitionOutput::builder()
                .task_definition(
                    ecs::TaskDefinition::builder()
                        .task_definition_arn(td("hello-world", 5))
                        .build(),
                )
                .build()
        }),
    ));
    rules
}

/// A metric alarm as DescribeAlarms shows it: (name, service dimension, actions, ActionsEnabled).
type MockAlarm = (&'static str, Option<&'static str>, Vec<String>, bool);

/// CloudWatch: alarm tags by ARN, and DescribeAlarms (actions, ActionsEnabled, dimensions) for
/// `alarms` plus `hello-world-5xx` (a plain metric alarm on the service).
fn cloudwatch_rules_with(
    alarm_tags: Vec<(&'static str, &'static str, &'static str)>,
    mut alarms: Vec<MockAlarm>,
    alarm_state: (aws_sdk_cloudwatch::types::StateValue, Option<(u32, u32)>),
    ok_alarms: Vec<&'static str>,
) -> Vec<(&'static str, Rule)> {
    alarms.push(("hello-world-5xx", Some("hello-world"), Vec::new(), true));
    let tags = alarm_tags.clone();
    vec![
        (
            "cw:ListTagsForResource",
            mock!(aws_sdk_cloudwatch::Client::list_tags_for_resource).then_compute_output(
                move |req| {
                    let arn = req.resource_arn().unwrap_or_default();
                    let mut out = CwTagsOutput::builder();
                    for (alarm, k, v) in &tags {
                        if arn.ends_with(&format!(":alarm:{alarm}")) {
                            out = out.tags(
                                aws_sdk_cloudwatch::types::Tag::builder()
                                    .key(*k)
                                    .value(*v)
                                    .build(),
                            );
                        }
                    }
                    out.build()
                },
            ),
        ),
        (
            "cw:DescribeAlarms",
            mock!(aws_sdk_cloudwatch::Client::describe_alarms).then_compute_output(move |req| {
                let mut out = DescribeAlarmsOutput::builder();
                for name in req.alarm_names() {
                    // An alarm the test does not describe exists with no dimensions or actions:
                    // the event's own configuration then decides, as before.
                    let plain = (name.as_str(), None, Vec::new(), true);
                    let (_, service, actions, enabled) =
                        alarms.iter().find(|a| a.0 == name).unwrap_or(&plain);
                    let dim = |n: &str, v: &str| {
                        aws_sdk_cloudwatch::types::Dimension::builder()
                            .name(n)
                            .value(v)
                            .build()
                    };
                    let mut a =
                        aws_sdk_cloudwatch::types::MetricAlarm::builder()
                            .alarm_name(name)
                            .alarm_arn(format!(
                                "arn:aws:cloudwatch:eu-west-1:123456789012:alarm:{name}"
                            ))
                            .set_alarm_actions(Some(actions.clone()))
                            .actions_enabled(*enabled)
                            .state_value(if ok_alarms.contains(&name.as_str()) {
                                aws_sdk_cloudwatch::types::StateValue::Ok
                            } else {
                                alarm_state.0.clone()
                            })
                            .set_state_transitioned_timestamp(alarm_state.1.map(|(h, m)| {
                                aws_smithy_types::DateTime::from_secs(at(h, m).secs())
                            }));
                    if let Some(service) = service {
                        a = a
                            .dimensions(dim("ClusterName", "demo"))
                            .dimensions(dim("ServiceName", service));
                    }
                    out = out.metric_alarms(a.build());
                }
                out.build()
            }),
        ),
    ]
}

fn harness_with(
    world: &World,
    alarm_tags: Vec<(&'static str, &'static str, &'static str)>,
    config: Config,
    extra: Vec<(&'static str, Rule)>,
) -> Harness {
    harness_full(world, alarm_tags, Vec::new(), config, extra)
}

fn harness_full(
    world: &World,
    alarm_tags: Vec<(&'static str, &'static str, &'static str)>,
    alarms: Vec<MockAlarm>,
    config: Config,
    extra: Vec<(&'static str, Rule)>,
) -> Harness {
    let writes: Writes = Arc::default();
    let ecs = ecs_rules(world, &writes, extra);
    let mut cw = cloudwatch_rules_with(
        alarm_tags,
        alarms,
        world.alarm_state.clone(),
        world.ok_alarms.clone(),
    );
    let muted = world.muted.clone();
    cw.push((
        "cw:ListAlarmMuteRules",
        mock!(aws_sdk_cloudwatch::Client::list_alarm_mute_rules).then_compute_output(
            move |req| {
                let mut out = aws_sdk_cloudwatch::operation::list_alarm_mute_rules::ListAlarmMuteRulesOutput::builder();
                if muted.contains(&req.alarm_name().unwrap_or_default()) {
                    out = out.alarm_mute_rule_summaries(
                        aws_sdk_cloudwatch::types::AlarmMuteRuleSummary::builder()
                            .alarm_mute_rule_arn(
                                "arn:aws:cloudwatch:eu-west-1:123456789012:alarm-mute-rule:weekly-maintenance",
                            )
                            .status(aws_sdk_cloudwatch::types::AlarmMuteRuleStatus::Active)
                            .build(),
                    );
                }
                out.build()
            },
        ),
    ));
    let published: Arc<Mutex<Vec<String>>> = Arc::default();
    let log = published.clone();
    let sns_rule = mock!(aws_sdk_sns::Client::publish).then_compute_output(move |req| {
        log.lock().unwrap().push(format!(
            "{}\n{}",
            req.subject().unwrap_or_default(),
            req.message().unwrap_or_default()
        ));
        PublishOutput::builder().message_id("m-1").build()
    });
    let retry = |c: aws_sdk_ecs::config::Builder| {
        c.retry_config(
            aws_sdk_ecs::config::retry::RetryConfig::standard()
                .with_max_attempts(3)
                .with_initial_backoff(Duration::from_millis(1)),
        )
    };
    let ecs_refs: Vec<&Rule> = ecs.iter().map(|(_, r)| r).collect();
    let cw_refs: Vec<&Rule> = cw.iter().map(|(_, r)| r).collect();
    let ecs_client = mock_client!(aws_sdk_ecs, RuleMode::MatchAny, &ecs_refs, retry);
    let cw_client = mock_client!(aws_sdk_cloudwatch, RuleMode::MatchAny, &cw_refs);
    let sns_client = mock_client!(aws_sdk_sns, RuleMode::MatchAny, &[&sns_rule]);
    let sns = config.notify_topic_arn.clone().map(|topic_arn| Sns {
        client: sns_client,
        topic_arn,
    });
    let mut rules = ecs;
    rules.extend(cw);
    rules.push(("sns:Publish", sns_rule));
    Harness {
        deps: Deps {
            ecs: Ecs::new(ecs_client),
            cloudwatch: CloudWatch::new(cw_client),
            sns,
            config,
            pool: None,
            lease: None,
        },
        writes,
        rules,
        published,
    }
}

fn notify_config() -> Config {
    Config {
        notify_topic_arn: Some(TOPIC.into()),
        ..Config::default()
    }
}

fn harness(world: &World) -> Harness {
    harness_with(world, vec![], notify_config(), vec![])
}

fn response(v: Value) -> Response {
    serde_json::from_value(v).expect("one response object")
}

const WRITES: &[&str] = &[
    "UpdateService",
    "StopServiceDeployment",
    "TagResource",
    "UntagResource",
    "RegisterTaskDefinition",
];

fn assert_no_writes(h: &Harness) {
    for op in WRITES {
        assert_eq!(h.calls(op), 0, "{op} must not be called");
    }
}

#[tokio::test]
async fn failed_deployment_rolls_back_to_last_successful_revision() {
    let h = harness(&World::new());
    let r = response(h.run("ecs-deployment-failed.json").await.unwrap());
    assert_eq!(r.action, "rolled_back", "{r:?}");
    assert_eq!(r.cluster.as_deref(), Some("demo"));
    assert_eq!(r.service.as_deref(), Some("hello-world"));
    assert_eq!(r.from, Some(td("hello-world", 4)));
    assert_eq!(r.to, Some(td("hello-world", 3)));
    assert!(
        r.reason.contains("hello-world:4") && r.reason.contains("hello-world:3"),
        "{}",
        r.reason
    );
    let writes = h.writes();
    // Rule 8: the loop guard is written before the rollback write.
    assert_eq!(
        writes[0],
        format!(
            "TagResource {} ecs-rollback:last-rollback-at=2026-11-26T10:20:00Z,ecs-rollback:last-rollback-to={},ecs-rollback:last-rollback-from={},ecs-rollback:last-rollback-kind=automatic,ecs-rollback:last-rollback-by=ecs-rollback",
            service_arn("hello-world"),
            td("hello-world", 3),
            td("hello-world", 4)
        )
    );
    assert_eq!(writes[1], format!("UpdateService {}", td("hello-world", 3)));
    assert_eq!(
        writes[2],
        format!(
            "TagResource {} ecs-rollback:status=bad,ecs-rollback:bad-for=demo/hello-world",
            td("hello-world", 4)
        )
    );
    assert_eq!(writes.len(), 3, "{writes:?}");
    // Calls for a rollback: service, history (list + revisions), the target's details, and the
    // failed revision's tags (its `bad-for` is merged, never overwritten).
    assert_eq!(h.calls("DescribeServices"), 1);
    assert_eq!(h.calls("ListServiceDeployments"), 1);
    assert_eq!(h.calls("DescribeServiceRevisions"), 1);
    assert_eq!(h.calls("DescribeTaskDefinition"), 2);
    assert_eq!(h.calls("ListTaskDefinitions"), 0);
    let published = h.published.lock().unwrap().clone();
    assert_eq!(published.len(), 1);
    let note = &published[0];
    for want in [
        "rolled_back",
        "demo",
        "hello-world:4",
        "hello-world:3 (app=repo/app:3a1b2c3d)",
        "ecs-svc/4444444444444444444",
        "circuit breaker",
    ] {
        assert!(note.contains(want), "notification lacks {want:?}:\n{note}");
    }
    assert!(!note.contains("hunter2"), "secrets must never be notified");
}

/// The service after our rollback 4 → 3 at 10:16 (its deployment in flight), and the loop
/// guard tags that rollback wrote: the same FAILED event again is a duplicate.
fn after_our_rollback() -> World {
    let mut w = World::new();
    w.deployments = vec![
        (
            "ecs-svc/9999999999999999999",
            "PRIMARY",
            3,
            ecs::DeploymentRolloutState::InProgress,
            None,
            (10, 16),
        ),
        (
            "ecs-svc/4444444444444444444",
            "ACTIVE",
            4,
            ecs::DeploymentRolloutState::Failed,
            None,
            (10, 0),
        ),
    ];
    w.current = 3;
    w.tags
        .push(("ecs-rollback:last-rollback-to", td("hello-world", 3)));
    w.tags.push((
        "ecs-rollback:last-rollback-at",
        "2026-11-26T10:16:00Z".into(),
    ));
    w
}

#[tokio::test]
async fn same_failed_event_after_rollback_is_a_duplicate_and_reads_only_the_service() {
    let w = after_our_rollback();
    let h = harness(&w);
    let r = response(h.run("ecs-deployment-failed.json").await.unwrap());
    assert_eq!(r.action, "skipped");
    assert!(r.reason.contains("Duplicate"), "{}", r.reason);
    assert_no_writes(&h);
    let reads: usize = [
        "ListServiceDeployments",
        "DescribeTaskDefinition",
        "ListTaskDefinitions",
    ]
    .iter()
    .map(|o| h.calls(o))
    .sum();
    assert_eq!((h.calls("DescribeServices"), reads), (1, 0));
}

#[tokio::test]
async fn circuit_breaker_rolling_back_means_we_stand_back() {
    // ECS's rollback is read from the service's settings and the history, never from the
    // FAILED event's reason alone (that text is on the rollback's IN_PROGRESS event).
    for (fixture_name, breaker, rolling_back) in [
        ("ecs-deployment-failed.json", true, false),
        ("ecs-deployment-failed.json", false, true),
    ] {
        let mut w = World::new();
        w.breaker_rollback = breaker;
        if rolling_back {
            w.history[3].1 = ecs::ServiceDeploymentStatus::RollbackInProgress;
        }
        let h = harness(&w);
        let r = response(h.run(fixture_name).await.unwrap());
        assert_eq!(r.action, "skipped", "{fixture_name}");
        assert!(r.reason.contains("ECS is already rolling"), "{}", r.reason);
        assert_no_writes(&h);
        assert_eq!(
            h.published.lock().unwrap().len(),
            1,
            "operators are told ECS handles it"
        );
    }
}

#[tokio::test]
async fn completed_event_for_a_failed_deployment_records_nothing() {
    // The payload claims COMPLETED; ECS reports the deployment FAILED.
    let h = harness(&World::new());
    let r = response(h.run("ecs-deployment-completed.json").await.unwrap());
    assert_eq!(r.action, "skipped");
    assert!(r.reason.contains("ECS reports it FAILED"), "{}", r.reason);
    assert!(h.writes().is_empty(), "{:?}", h.writes());
}

#[tokio::test]
async fn completed_deployment_is_recorded_stable() {
    let mut w = World::new();
    w.deployments[0].3 = ecs::DeploymentRolloutState::Completed;
    let h = harness(&w);
    let r = response(h.run("ecs-deployment-completed.json").await.unwrap());
    assert_eq!(r.action, "recorded");
    assert_eq!(
        h.writes(),
        vec![format!(
            "TagResource {} ecs-rollback:status=stable",
            td("hello-world", 4)
        )]
    );
    assert_eq!(h.calls("UpdateService"), 0);
}

#[tokio::test]
async fn in_progress_event_does_nothing() {
    let h = harness(&World::new());
    let r = response(h.run("ecs-deployment-in-progress.json").await.unwrap());
    assert_eq!(r.action, "skipped");
    assert_no_writes(&h);
}

#[tokio::test]
async fn metric_alarm_finds_service_by_dimensions_and_rolls_back() {
    // Dimensions count because the service lists the alarm among its deployment alarms.
    let w = World::guarded();
    let h = harness(&w);
    let r = response(h.run("cloudwatch-alarm-metric.json").await.unwrap());
    assert_eq!(r.action, "rolled_back", "{r:?}");
    assert_eq!(r.to, Some(td("hello-world", 3)));
    assert_eq!(
        h.calls("cw:ListTagsForResource"),
        1,
        "tags are consulted first"
    );
}

#[tokio::test]
async fn an_express_services_own_alarm_after_completion_rolls_nothing_back() {
    // The same alarm and service as above, but ECS manages the service (Express Mode): its
    // deployment alarm counts 4xx too, and after the canary completed it guards nothing here.
    let mut w = World::guarded();
    w.express = true;
    let h = harness(&w);
    let r = response(h.run("cloudwatch-alarm-metric.json").await.unwrap());
    assert_eq!(r.action, "skipped", "{r:?}");
    assert!(
        r.reason.contains("Express service's own deployment alarm"),
        "{r:?}"
    );
    assert!(h.writes().is_empty(), "{:?}", h.writes());
}

#[tokio::test]
async fn metric_math_alarm_is_parsed_and_acts() {
    let mut w = World::new();
    w.deployments[0].3 = ecs::DeploymentRolloutState::Completed;
    w.deployment_alarms = vec!["hello-world-error-rate"];
    let h = harness(&w);
    let r = response(h.run("cloudwatch-alarm-metric-math.json").await.unwrap());
    assert_eq!(r.action, "rolled_back", "{r:?}");
}

#[tokio::test]
async fn alarm_outside_the_window_does_nothing() {
    let mut w = World::new();
    w.deployments[0].3 = ecs::DeploymentRolloutState::Completed;
    w.deployments[0].5 = (8, 0);
    w.deployment_alarms = vec!["hello-world-5xx"];
    let h = harness(&w);
    let r = response(h.run("cloudwatch-alarm-metric.json").await.unwrap());
    assert_eq!(r.action, "skipped");
    assert!(r.reason.contains("alarm window"), "{}", r.reason);
    assert_no_writes(&h);
}

#[tokio::test]
async fn alarm_with_window_zero_acts_on_old_deployment() {
    let mut w = World::new();
    w.deployments[0].3 = ecs::DeploymentRolloutState::Completed;
    w.deployments[0].5 = (1, 0);
    w.deployment_alarms = vec!["hello-world-5xx"];
    let config =
        Config::from_lookup(|k| (k == "ROLLBACK_ALARM_WINDOW_MINUTES").then(|| "0".to_string()))
            .unwrap();
    let h = harness_with(&w, vec![], config, vec![]);
    let r = response(h.run("cloudwatch-alarm-metric.json").await.unwrap());
    assert_eq!(r.action, "rolled_back", "{r:?}");
}

#[tokio::test]
async fn alarm_tags_name_the_guarded_service() {
    let mut w = World::new();
    w.name = "checkout".into();
    w.deployments[0].3 = ecs::DeploymentRolloutState::Completed;
    let h = harness_with(
        &w,
        vec![
            ("checkout-latency-p99", "ecs-rollback:cluster", "demo"),
            ("checkout-latency-p99", "ecs-rollback:service", "checkout"),
        ],
        notify_config(),
        vec![],
    );
    let r = response(
        h.run("cloudwatch-alarm-tagged-no-dimensions.json")
            .await
            .unwrap(),
    );
    assert_eq!(
        (r.action.as_str(), r.service.as_deref()),
        ("rolled_back", Some("checkout")),
        "{r:?}"
    );
}

#[tokio::test]
async fn composite_alarm_follows_its_triggering_child() {
    let w = World::guarded();
    let h = harness(&w);
    let r = response(h.run("cloudwatch-alarm-composite.json").await.unwrap());
    assert_eq!(r.action, "rolled_back", "{r:?}");
    assert_eq!(
        h.calls("cw:DescribeAlarms"),
        2,
        "the composite itself (actions), then its child"
    );
}

#[tokio::test]
async fn composite_alarm_whose_child_reads_ok_in_cloudwatch_guards_nothing() {
    // The event names the child as triggering; CloudWatch reads it OK now: not verified.
    let mut w = World::guarded();
    w.ok_alarms = vec!["hello-world-5xx"];
    let h = harness(&w);
    let r = response(h.run("cloudwatch-alarm-composite.json").await.unwrap());
    assert_eq!(r.action, "skipped", "{r:?}");
    assert!(h.writes().is_empty(), "{:?}", h.writes());
}

#[tokio::test]
async fn alarm_guarding_two_services_returns_one_response_per_service() {
    let mut w = World::new();
    w.deployments[0].3 = ecs::DeploymentRolloutState::Completed;
    w.also = vec!["checkout".into()];
    w.deployment_alarms = vec!["demo-cluster-errors"];
    let h = harness(&w);
    let v = h.run("cloudwatch-alarm-two-services.json").await.unwrap();
    let responses: Vec<Response> = serde_json::from_value(v).expect("an array");
    let services: Vec<_> = responses
        .iter()
        .map(|r| (r.service.clone().unwrap(), r.action.clone()))
        .collect();
    assert_eq!(
        services,
        vec![
            ("hello-world".to_string(), "rolled_back".to_string()),
            ("checkout".to_string(), "rolled_back".to_string())
        ]
    );
    assert_eq!(h.calls("UpdateService"), 2);
}

#[tokio::test]
async fn alarm_guarding_a_missing_service_still_handles_the_others() {
    // Only hello-world exists in this world: checkout is unknown. Each service gets its own
    // response; the unknown one does not turn hello-world's rollback into a function error.
    let mut w = World::new();
    w.deployments[0].3 = ecs::DeploymentRolloutState::Completed;
    w.deployment_alarms = vec!["demo-cluster-errors"];
    let h = harness(&w);
    let v = h.run("cloudwatch-alarm-two-services.json").await.unwrap();
    let responses: Vec<Response> = serde_json::from_value(v).expect("an array");
    assert_eq!(responses.len(), 2, "{responses:?}");
    assert_eq!(responses[0].action, "rolled_back");
    assert_eq!(responses[1].action, "skipped");
    assert_eq!(responses[1].service.as_deref(), Some("checkout"));
    assert!(
        responses[1].reason.contains("does not exist"),
        "{}",
        responses[1].reason
    );
    assert_eq!(
        h.calls("UpdateService"),
        1,
        "the known service was still handled"
    );
}

#[tokio::test]
async fn alarm_of_several_services_with_a_throttled_one_fails_so_lambda_retries() {
    // A retryable error for one service still fails the invocation (Lambda retries; the service
    // already rolled back then answers as a duplicate).
    let mut w = World::new();
    w.deployments[0].3 = ecs::DeploymentRolloutState::Completed;
    w.deployment_alarms = vec!["demo-cluster-errors"];
    let describe = mock!(aws_sdk_ecs::Client::describe_services)
        .match_requests(|req| req.services().iter().any(|s| s.ends_with("checkout")))
        .sequence()
        .http_status(
            400,
            Some(r#"{"__type":"ThrottlingException","message":"Rate exceeded"}"#.into()),
        )
        .repeatedly()
        .build();
    let h = harness_with(
        &w,
        vec![],
        notify_config(),
        vec![("DescribeServices", describe)],
    );
    let err = h
        .run("cloudwatch-alarm-two-services.json")
        .await
        .unwrap_err();
    assert!(err.is_retryable(), "{err}");
    assert_eq!(h.calls("UpdateService"), 1, "hello-world was handled first");
}

#[tokio::test]
async fn untagged_dimension_alarm_not_listed_by_the_service_is_no_trigger() {
    // Rule 4: ClusterName/ServiceName dimensions alone never make a trigger.
    let mut w = World::new();
    w.deployments[0].3 = ecs::DeploymentRolloutState::Completed;
    let h = harness(&w);
    let r = response(h.run("cloudwatch-alarm-metric.json").await.unwrap());
    assert_eq!(r.action, "skipped", "{r:?}");
    assert!(r.reason.contains("deployment alarms"), "{}", r.reason);
    assert_no_writes(&h);
}

#[tokio::test]
async fn target_tracking_alarm_never_triggers_even_tagged() {
    // Application Auto Scaling's AlarmLow: ECS dimensions, scaling-policy actions.
    let mut w = World::new();
    w.deployments[0].3 = ecs::DeploymentRolloutState::Completed;
    w.deployment_alarms = vec![
        "TargetTracking-service/demo/hello-world-AlarmLow-5f3c8e1a-2b4d-4e6f-8a9b-0c1d2e3f4a5b",
    ];
    let policy = "arn:aws:autoscaling:eu-west-1:123456789012:scalingPolicy:8d5c2f1e-3a4b-4c5d-9e6f-7a8b9c0d1e2f:resource/ecs/service/demo/hello-world:policyName/cpu-target-tracking".to_string();
    let h = harness_full(
        &w,
        vec![
            (
                "TargetTracking-service/demo/hello-world-AlarmLow-5f3c8e1a-2b4d-4e6f-8a9b-0c1d2e3f4a5b",
                "ecs-rollback:cluster",
                "demo",
            ),
            (
                "TargetTracking-service/demo/hello-world-AlarmLow-5f3c8e1a-2b4d-4e6f-8a9b-0c1d2e3f4a5b",
                "ecs-rollback:service",
                "hello-world",
            ),
        ],
        vec![(
            "TargetTracking-service/demo/hello-world-AlarmLow-5f3c8e1a-2b4d-4e6f-8a9b-0c1d2e3f4a5b",
            Some("hello-world"),
            vec![policy],
            true,
        )],
        notify_config(),
        vec![],
    );
    let r = response(
        h.run("cloudwatch-alarm-target-tracking-low.json")
            .await
            .unwrap(),
    );
    assert_eq!(r.action, "skipped", "{r:?}");
    assert!(
        r.reason.contains("Application Auto Scaling"),
        "{}",
        r.reason
    );
    assert_no_writes(&h);
    assert_eq!(
        h.calls("DescribeServices"),
        0,
        "decided from the alarm alone"
    );
}

#[tokio::test]
async fn alarm_with_actions_disabled_is_no_trigger() {
    let mut w = World::new();
    w.deployments[0].3 = ecs::DeploymentRolloutState::Completed;
    w.deployment_alarms = vec!["hello-world-latency"];
    let h = harness_full(
        &w,
        vec![],
        vec![(
            "hello-world-latency",
            Some("hello-world"),
            Vec::new(),
            false,
        )],
        notify_config(),
        vec![],
    );
    let r = response(
        h.run("cloudwatch-alarm-actions-disabled.json")
            .await
            .unwrap(),
    );
    assert_eq!(r.action, "skipped", "{r:?}");
    assert!(r.reason.contains("ActionsEnabled"), "{}", r.reason);
    assert_no_writes(&h);
}

#[tokio::test]
async fn suppressed_composite_alarm_is_no_trigger() {
    let h = harness(&World::new());
    let r = response(
        h.run("cloudwatch-alarm-composite-suppressed.json")
            .await
            .unwrap(),
    );
    assert_eq!(r.action, "skipped", "{r:?}");
    assert!(
        r.reason.contains("suppressed") && r.reason.contains("maintenance-window"),
        "{}",
        r.reason
    );
    assert_no_writes(&h);
}

#[tokio::test]
async fn deployment_alarm_with_ecs_rollback_during_the_deployment_is_ecs_s() {
    let mut w = World::new();
    w.deployments[0].3 = ecs::DeploymentRolloutState::InProgress;
    w.deployments[0].4 = None;
    w.deployment_alarms = vec!["hello-world-5xx"];
    w.alarms_rollback = true;
    let h = harness(&w);
    let r = response(h.run("cloudwatch-alarm-metric.json").await.unwrap());
    assert_eq!(r.action, "skipped", "{r:?}");
    assert!(
        r.reason.contains("ECS rolls it back itself"),
        "{}",
        r.reason
    );
    assert_no_writes(&h);
}

#[tokio::test]
async fn circuit_breaker_failure_is_ours_when_only_the_alarms_roll_back() {
    // Circuit breaker rollback=false, deployment alarms rollback=true: a FAILED event from the
    // circuit breaker is ours (ECS will not roll it back).
    let mut w = World::new();
    w.deployment_alarms = vec!["hello-world-5xx"];
    w.alarms_rollback = true;
    let h = harness(&w);
    let r = response(h.run("ecs-deployment-failed.json").await.unwrap());
    assert_eq!(r.action, "rolled_back", "{r:?}");
}

#[tokio::test]
async fn alarm_action_payload_rolls_back_like_the_eventbridge_form() {
    let w = World::guarded();
    let h = harness(&w);
    let r = response(h.run("cloudwatch-alarm-action-lambda.json").await.unwrap());
    assert_eq!(r.action, "rolled_back", "{r:?}");
    assert_eq!(r.to, Some(td("hello-world", 3)));
}

#[tokio::test]
async fn alarm_ok_and_insufficient_data_make_no_call() {
    for f in [
        "cloudwatch-alarm-ok.json",
        "cloudwatch-alarm-insufficient-data.json",
    ] {
        let h = harness(&World::new());
        let r = response(h.run(f).await.unwrap());
        assert_eq!(r.action, "skipped", "{f}");
        let total: usize = h.rules.iter().map(|(_, r)| r.num_calls()).sum();
        assert_eq!(
            total, 0,
            "{f}: no AWS call for an alarm that is not in ALARM"
        );
    }
}

#[tokio::test]
async fn alarm_during_deployment_stops_it_with_rollback() {
    let mut w = World::new();
    w.deployments[0].3 = ecs::DeploymentRolloutState::InProgress;
    w.deployments[0].4 = None;
    w.history[3].1 = ecs::ServiceDeploymentStatus::InProgress;
    w.deployment_alarms = vec!["hello-world-5xx"];
    // Even with a mutable tag: ECS's own rollback restores the recorded digests, no copy needed.
    w.revisions.get_mut(&3).unwrap().2 = "repo/app:latest".into();
    let h = harness(&w);
    let r = response(h.run("cloudwatch-alarm-metric.json").await.unwrap());
    assert_eq!(r.action, "rolled_back", "{r:?}");
    assert_eq!(
        h.writes()[1],
        format!("StopServiceDeployment {} Some(Rollback)", sd_arn(4))
    );
    assert_eq!(h.calls("UpdateService"), 0);
    assert_eq!(h.calls("DescribeServiceDeployments"), 1);
}

#[tokio::test]
async fn mutable_tag_target_is_deployed_as_digest_pinned_copy() {
    let mut w = World::new();
    w.revisions.get_mut(&3).unwrap().2 = "repo/app:latest".into();
    let h = harness(&w);
    let r = response(h.run("ecs-deployment-failed.json").await.unwrap());
    assert_eq!(r.action, "rolled_back");
    assert_eq!(
        r.to,
        Some(td("hello-world", 5)),
        "the pinned copy is what runs"
    );
    let writes = h.writes();
    assert_eq!(
        writes[0],
        format!(
            "RegisterTaskDefinition hello-world image=repo/app@sha256:{:0>64} env=1 role=arn:aws:iam::123456789012:role/ecsTaskExecutionRole cpu=256",
            3
        ),
        "a full copy: environment, role and cpu kept"
    );
    assert!(writes[1].starts_with("TagResource"), "{writes:?}");
    assert_eq!(writes[2], format!("UpdateService {}", td("hello-world", 5)));
}

#[tokio::test]
async fn history_api_error_falls_back_to_family_newest_first_across_pages() {
    let mut w = World::new();
    w.history_fails = true;
    let h = harness(&w);
    let r = response(h.run("ecs-deployment-failed.json").await.unwrap());
    assert_eq!(r.action, "rolled_back", "{r:?}");
    assert_eq!(
        r.to,
        Some(td("hello-world", 3)),
        "newest older revision, though the API listed it last"
    );
    assert!(
        h.calls("ListServiceDeployments") >= 2,
        "the history read is retried before falling back"
    );
    assert_eq!(h.calls("ListTaskDefinitions"), 2, "both pages read");
    assert!(r.reason.contains("newest older revision"), "{}", r.reason);
}

#[tokio::test]
async fn ledger_stable_tag_beats_newer_untagged_revision_in_fallback() {
    let mut w = World::new();
    w.history_fails = true;
    w.revisions.get_mut(&2).unwrap().1 = Some("stable");
    let h = harness(&w);
    let r = response(h.run("ecs-deployment-failed.json").await.unwrap());
    assert_eq!(r.to, Some(td("hello-world", 2)), "{r:?}");
}

#[tokio::test]
async fn revisions_marked_bad_are_skipped_and_inactive_ones_restored_by_copy() {
    let mut w = World::new();
    w.revisions.get_mut(&3).unwrap().1 = Some("bad");
    let h = harness(&w);
    let r = response(h.run("ecs-deployment-failed.json").await.unwrap());
    assert_eq!(r.to, Some(td("hello-world", 2)), "{r:?}");

    // CloudFormation deregistered revision 3: a full copy of it is registered and deployed.
    let mut w = World::new();
    w.revisions.get_mut(&3).unwrap().0 = ecs::TaskDefinitionStatus::Inactive;
    let h = harness(&w);
    let r = response(h.run("ecs-deployment-failed.json").await.unwrap());
    assert_eq!(r.action, "rolled_back", "{r:?}");
    assert_eq!(r.to, Some(td("hello-world", 5)), "the copy runs: {r:?}");
    assert!(r.reason.contains("INACTIVE"), "{}", r.reason);
    let writes = h.writes();
    assert!(
        writes[0].starts_with("RegisterTaskDefinition hello-world image=repo/app:3a1b2c3d"),
        "{writes:?}"
    );
}

#[tokio::test]
async fn throttling_is_retried() {
    let w = World::new();
    let service = w.service();
    let throttled = mock!(aws_sdk_ecs::Client::describe_services)
        .sequence()
        .http_status(
            400,
            Some(r#"{"__type":"ThrottlingException","message":"Rate exceeded"}"#.into()),
        )
        .times(2)
        .output(move || {
            DescribeServicesOutput::builder()
                .services(service.clone())
                .build()
        })
        .build();
    let h = harness_with(
        &w,
        vec![],
        notify_config(),
        vec![("DescribeServices", throttled)],
    );
    let r = response(h.run("ecs-deployment-failed.json").await.unwrap());
    assert_eq!(r.action, "rolled_back", "{r:?}");
    assert_eq!(
        h.calls("DescribeServices"),
        3,
        "two throttled attempts, then success"
    );
}

#[tokio::test]
async fn throttling_exhausted_is_a_retryable_error_without_writes() {
    let w = World::new();
    let throttled = mock!(aws_sdk_ecs::Client::describe_services)
        .sequence()
        .http_status(
            400,
            Some(r#"{"__type":"ThrottlingException","message":"Rate exceeded"}"#.into()),
        )
        .repeatedly()
        .build();
    let h = harness_with(
        &w,
        vec![],
        notify_config(),
        vec![("DescribeServices", throttled)],
    );
    let err = h.run("ecs-deployment-failed.json").await.unwrap_err();
    assert!(err.is_retryable(), "{err}");
    assert!(err.to_string().contains("ThrottlingException"), "{err}");
    assert_no_writes(&h);
}

#[tokio::test]
async fn cooldown_blocks_a_second_automatic_rollback() {
    // Our rollback to 3 at 10:05 completed; the alarm still rings: the same incident.
    let mut w = World::new();
    w.deployments = vec![(
        "ecs-svc/9999999999999999999",
        "PRIMARY",
        3,
        ecs::DeploymentRolloutState::Completed,
        None,
        (10, 5),
    )];
    w.current = 3;
    w.deployment_alarms = vec!["hello-world-5xx"];
    w.tags.push((
        "ecs-rollback:last-rollback-at",
        "2026-11-26T10:05:00Z".into(),
    ));
    w.tags
        .push(("ecs-rollback:last-rollback-to", td("hello-world", 3)));
    let h = harness(&w);
    let r = response(h.run("cloudwatch-alarm-metric.json").await.unwrap());
    assert_eq!(r.action, "skipped");
    assert!(r.reason.contains("already rolled back"), "{}", r.reason);
    assert_no_writes(&h);
}

#[tokio::test]
async fn a_new_deployment_after_a_rollback_is_a_new_incident() {
    // A manual rollback to 2 at 09:50, then the team deployed 4 at 10:00, which failed: the
    // cooldown guards against loops, not against a new deployment's failure.
    let mut w = World::new();
    w.deployments[1].2 = 2;
    w.tags.push((
        "ecs-rollback:last-rollback-at",
        "2026-11-26T09:50:00Z".into(),
    ));
    w.tags
        .push(("ecs-rollback:last-rollback-to", td("hello-world", 2)));
    w.tags
        .push(("ecs-rollback:last-rollback-kind", "manual".into()));
    let h = harness(&w);
    let r = response(h.run("ecs-deployment-failed.json").await.unwrap());
    assert_eq!(r.action, "rolled_back", "{r:?}");
}

#[tokio::test]
async fn a_future_or_unparsable_rollback_time_is_reported_and_the_history_decides() {
    for stamp in ["2027-01-01T00:00:00Z", "yesterday"] {
        let mut w = World::new();
        w.tags
            .push(("ecs-rollback:last-rollback-at", stamp.to_string()));
        w.tags
            .push(("ecs-rollback:last-rollback-to", td("hello-world", 3)));
        let h = harness(&w);
        let r = response(h.run("ecs-deployment-failed.json").await.unwrap());
        assert_eq!(r.action, "rolled_back", "{stamp}: {r:?}");
        assert!(
            r.reason.contains("last-rollback-at") && r.reason.contains("ignored"),
            "{stamp}: {}",
            r.reason
        );
        let note = h.published.lock().unwrap().join("\n");
        assert!(note.contains("ignored"), "{stamp}: notified: {note}");
    }
}

#[tokio::test]
async fn failing_rollback_target_is_reported_not_chased() {
    let mut w = World::new();
    // Our rollback to 4 at 10:00 started deployment ecs-svc/4 (created 10:00), which fails.
    w.tags.push((
        "ecs-rollback:last-rollback-at",
        "2026-11-26T10:00:00Z".into(),
    ));
    w.tags
        .push(("ecs-rollback:last-rollback-to", td("hello-world", 4)));
    let h = harness(&w);
    let r = response(h.run("ecs-deployment-failed.json").await.unwrap());
    assert_eq!(r.action, "skipped");
    assert!(r.reason.contains("a human must decide"), "{}", r.reason);
    assert_no_writes(&h);
    assert_eq!(h.published.lock().unwrap().len(), 1);
}

#[tokio::test]
async fn service_not_opted_in_is_left_alone() {
    let mut w = World::new();
    w.tags.clear();
    let h = harness(&w);
    let r = response(h.run("ecs-deployment-failed.json").await.unwrap());
    assert_eq!(r.action, "skipped");
    assert!(r.reason.contains("not opted in"), "{}", r.reason);
    assert_no_writes(&h);
}

#[tokio::test]
async fn dry_run_decides_notifies_and_changes_nothing() {
    let h = harness(&World::new());
    let r = response(h.run("direct-invoke-dry-run.json").await.unwrap());
    assert_eq!(r.action, "dry_run", "{r:?}");
    assert_eq!(r.to, Some(td("hello-world", 3)));
    assert_no_writes(&h);
    assert_eq!(h.published.lock().unwrap().len(), 1);

    let config = Config {
        policy: ecs_rollback::decision::Policy {
            dry_run: true,
            ..Default::default()
        },
        ..notify_config()
    };
    let h = harness_with(&World::new(), vec![], config, vec![]);
    let r = response(h.run("ecs-deployment-failed.json").await.unwrap());
    assert_eq!(r.action, "dry_run");
    assert_no_writes(&h);
}

#[tokio::test]
async fn direct_invoke_rolls_back_and_to_revision_is_honoured() {
    let h = harness(&World::new());
    let r = response(h.run("direct-invoke.json").await.unwrap());
    assert_eq!(
        (r.action.as_str(), r.to.clone()),
        ("rolled_back", Some(td("hello-world", 3)))
    );
    let h = harness(&World::new());
    let r = response(h.run("direct-invoke-to-revision.json").await.unwrap());
    assert_eq!(
        (r.action.as_str(), r.to.clone()),
        ("rolled_back", Some(td("hello-world", 2))),
        "{r:?}"
    );
    assert_eq!(
        h.writes()[1],
        format!("UpdateService {}", td("hello-world", 2))
    );
    assert!(
        h.writes()[0].contains("ecs-rollback:last-rollback-kind=manual"),
        "{:?}",
        h.writes()
    );
}

#[tokio::test]
async fn direct_invoke_to_another_family_is_refused() {
    // Rule 10: lambda:InvokeFunction alone never moves a service onto an unrelated task
    // definition (and its task role).
    let h = harness(&World::new());
    let r = response(h.run("direct-invoke-other-family.json").await.unwrap());
    assert_eq!(r.action, "skipped", "{r:?}");
    assert!(
        r.reason.contains("admin-tools") && r.reason.contains("hello-world"),
        "{}",
        r.reason
    );
    assert_no_writes(&h);
    assert_eq!(
        h.calls("DescribeTaskDefinition"),
        0,
        "refused before any read"
    );
}

#[tokio::test]
async fn unknown_requested_revision_is_bad_input() {
    let mut w = World::new();
    w.revisions.remove(&2);
    let h = harness(&w);
    let err = h.run("direct-invoke-to-revision.json").await.unwrap_err();
    assert_eq!(err.error_type(), "InvalidInput.NonRetryable");
    assert!(err.to_string().contains("hello-world:2"), "{err}");
    assert_no_writes(&h);
}

#[tokio::test]
async fn unknown_service_is_bad_input() {
    let mut w = World::new();
    w.name = "something-else".into();
    let h = harness(&w);
    let err = h.run("ecs-deployment-failed.json").await.unwrap_err();
    assert_eq!(err.error_type(), "InvalidInput.NonRetryable");
    assert!(
        err.to_string().contains("hello-world") && err.to_string().contains("demo"),
        "{err}"
    );
    assert_no_writes(&h);
}

#[tokio::test]
async fn event_from_another_account_is_ignored() {
    let h = harness(&World::new());
    let r = response(
        h.run("ecs-deployment-failed-other-account.json")
            .await
            .unwrap(),
    );
    assert_eq!(r.action, "skipped");
    assert!(r.reason.contains("210987654321"), "{}", r.reason);
    let total: usize = h.rules.iter().map(|(_, r)| r.num_calls()).sum();
    assert_eq!(total, 0);
}

#[tokio::test]
async fn malformed_and_unknown_inputs_are_clear_non_retryable_errors() {
    let cases: &[(&str, &str)] = &[
        ("invalid/missing-resources.json", "resources[0]"),
        (
            "invalid/alarm-action-missing-alarm-data-state.json",
            "alarmData.state.value",
        ),
        (
            "invalid/lifecycle-hook-missing-target-revision.json",
            "executionDetails.targetServiceRevisionArn",
        ),
        ("invalid/not-a-service-arn.json", "resources[0]"),
        ("invalid/direct-missing-service.json", "service"),
        (
            "invalid/deployment-failed-missing-deployment-id.json",
            "deploymentId",
        ),
    ];
    for (f, field) in cases {
        let h = harness(&World::new());
        let err = h.run(f).await.unwrap_err();
        let msg = err.to_string();
        assert_eq!(err.error_type(), "InvalidInput.NonRetryable", "{f}: {msg}");
        assert!(
            msg.contains(field),
            "{f}: message should name {field}: {msg}"
        );
        assert!(!msg.contains('\n'), "{f}: one line: {msg}");
        let total: usize = h.rules.iter().map(|(_, r)| r.num_calls()).sum();
        assert_eq!(total, 0, "{f}: no AWS call for bad input");
    }
    let path = format!(
        "{}/events/invalid/malformed.json",
        env!("CARGO_MANIFEST_DIR")
    );
    let bytes = std::fs::read(path).unwrap();
    let err = ecs_rollback::event::parse_bytes(&bytes).unwrap_err();
    assert!(
        err.to_string().starts_with("event is not valid JSON"),
        "{err}"
    );
}

/// How a fixture is expected to come out of the handler (issue: every real payload shape).
enum Expect {
    Action(&'static str),
    Error(&'static str),
}

#[tokio::test]
async fn every_fixture_replays_to_its_documented_outcome() {
    use Expect::*;
    // Worlds: the failing rolling deployment (default); a completed one with the alarms listed;
    // a crash loop above the threshold.
    fn alarmed() -> World {
        let mut w = World::new();
        w.deployments[0].3 = ecs::DeploymentRolloutState::Completed;
        w.deployment_alarms = vec![
            "hello-world-5xx",
            "hello-world-error-rate",
            "demo-cluster-errors",
            "hello-world-latency",
        ];
        w.also = vec!["checkout".into()];
        w
    }
    type Row = (&'static str, fn() -> World, Expect);
    let table: &[Row] = &[
        (
            "cloudwatch-alarm-action-lambda.json",
            alarmed,
            Action("rolled_back"),
        ),
        (
            "cloudwatch-alarm-actions-disabled.json",
            alarmed,
            Action("rolled_back"),
        ),
        (
            "cloudwatch-alarm-composite-suppressed.json",
            alarmed,
            Action("skipped"),
        ),
        (
            "cloudwatch-alarm-composite.json",
            alarmed,
            Action("rolled_back"),
        ),
        (
            "cloudwatch-alarm-insufficient-data.json",
            alarmed,
            Action("skipped"),
        ),
        (
            "cloudwatch-alarm-metric-math.json",
            alarmed,
            Action("rolled_back"),
        ),
        (
            "cloudwatch-alarm-metric.json",
            alarmed,
            Action("rolled_back"),
        ),
        ("cloudwatch-alarm-ok.json", alarmed, Action("skipped")),
        (
            "cloudwatch-alarm-tagged-no-dimensions.json",
            alarmed,
            Action("skipped"),
        ),
        (
            "cloudwatch-alarm-target-tracking-low.json",
            alarmed,
            Action("skipped"),
        ),
        (
            "cloudwatch-alarm-two-services.json",
            alarmed,
            Action("rolled_back"),
        ),
        ("direct-invoke-dry-run.json", World::new, Action("dry_run")),
        (
            "direct-invoke-other-family.json",
            World::new,
            Action("skipped"),
        ),
        (
            "direct-invoke-to-revision.json",
            World::new,
            Action("rolled_back"),
        ),
        ("direct-invoke.json", World::new, Action("rolled_back")),
        (
            "ec2-instance-state-change.json",
            World::new,
            Action("skipped"),
        ),
        (
            "ecs-deployment-completed.json",
            || {
                let mut w = World::new();
                w.deployments[0].3 = ecs::DeploymentRolloutState::Completed;
                w
            },
            Action("recorded"),
        ),
        (
            "ecs-deployment-failed-other-account.json",
            World::new,
            Action("skipped"),
        ),
        (
            "ecs-deployment-failed.json",
            World::new,
            Action("rolled_back"),
        ),
        (
            "ecs-deployment-in-progress.json",
            World::new,
            Action("skipped"),
        ),
        (
            "ecs-deployment-rollback-in-progress.json",
            World::new,
            Action("skipped"),
        ),
        ("ecs-hook-state-change.json", World::new, Action("skipped")),
        (
            // This world has no such service deployment (a function error, FAILED for ECS);
            // the gate's answers are replayed in tests/gate.rs against a world that has it.
            "ecs-lifecycle-hook-invocation.json",
            World::new,
            Error("InvalidInput.NonRetryable"),
        ),
        (
            "ecs-service-action-placement-failure.json",
            || crash_looping(5),
            Action("skipped"),
        ),
        (
            "ecs-service-action-task-configuration-failure.json",
            || crash_looping(5),
            Action("rolled_back"),
        ),
        (
            "ecs-service-action-task-start-impaired.json",
            || crash_looping(5),
            Action("rolled_back"),
        ),
        (
            "ecs-task-deprovisioning.json",
            || crash_looping(5),
            Action("skipped"),
        ),
        (
            "ecs-task-provisioning.json",
            || crash_looping(5),
            Action("skipped"),
        ),
        (
            "ecs-task-stopped-elb-health-check.json",
            || crash_looping(5),
            Action("rolled_back"),
        ),
        (
            "ecs-task-stopped-essential-exited.json",
            || crash_looping(5),
            Action("rolled_back"),
        ),
        (
            "ecs-task-stopped-failed-to-start.json",
            || crash_looping(5),
            Action("rolled_back"),
        ),
        (
            "ecs-task-stopped-image-pull-throttled.json",
            || crash_looping(5),
            Action("skipped"),
        ),
        // A down-migration task the service records nothing of: verified, then nothing to do.
        (
            "ecs-task-stopped-migration.json",
            World::new,
            Action("skipped"),
        ),
        (
            "ecs-task-stopped-old-deployment.json",
            || crash_looping(5),
            Action("skipped"),
        ),
        (
            "ecs-task-stopped-scale-in.json",
            || crash_looping(5),
            Action("skipped"),
        ),
        (
            "ecs-task-stopped-spot-interruption.json",
            || crash_looping(5),
            Action("skipped"),
        ),
        (
            "ecs-task-stopped-standalone.json",
            || crash_looping(5),
            Action("skipped"),
        ),
        (
            "ecs-task-stopped-user-initiated.json",
            || crash_looping(5),
            Action("skipped"),
        ),
    ];
    // A fixture nobody replays is a fixture that can rot: the table lists them all.
    let dir = format!("{}/events", env!("CARGO_MANIFEST_DIR"));
    let mut files: Vec<String> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .filter(|n| n.ends_with(".json"))
        .collect();
    files.sort();
    let listed: Vec<&str> = table.iter().map(|(f, _, _)| *f).collect();
    assert_eq!(files, listed, "events/*.json and the table differ");
    let readme = std::fs::read_to_string(format!("{dir}/README.md")).unwrap();
    for (name, world, expect) in table {
        assert!(
            readme.contains(&format!("`{name}`")),
            "{name} is not in events/README.md"
        );
        let h = harness(&world());
        let out = h.run(name).await;
        match (expect, out) {
            (Action(want), Ok(v)) => {
                let actions: Vec<String> = match &v {
                    Value::Array(items) => items
                        .iter()
                        .map(|i| i["action"].as_str().unwrap_or_default().to_string())
                        .collect(),
                    other => vec![other["action"].as_str().unwrap_or_default().to_string()],
                };
                assert!(
                    actions.iter().all(|a| a == want),
                    "{name}: want {want}, got {v}"
                );
            }
            (Error(want), Err(e)) => assert_eq!(e.error_type(), *want, "{name}: {e}"),
            (Action(want), Err(e)) => panic!("{name}: want {want}, got the error {e}"),
            (Error(want), Ok(v)) => panic!("{name}: want the error {want}, got {v}"),
        }
    }
}

#[tokio::test]
async fn rollback_in_progress_event_is_not_acted_on() {
    let h = harness(&World::new());
    let r = response(
        h.run("ecs-deployment-rollback-in-progress.json")
            .await
            .unwrap(),
    );
    assert_eq!(r.action, "skipped");
    assert_no_writes(&h);
}

/// The new deployment rolling out and crash-looping with `failed` failed tasks.
fn crash_looping(failed: i32) -> World {
    let mut w = World::new();
    w.deployments[0].3 = ecs::DeploymentRolloutState::InProgress;
    w.deployments[0].4 = None;
    w.primary_failed = failed;
    w
}

#[tokio::test]
async fn early_detection_rolls_back_a_crash_looping_revision() {
    for f in [
        "ecs-task-stopped-essential-exited.json",
        "ecs-task-stopped-failed-to-start.json",
        "ecs-task-stopped-elb-health-check.json",
        "ecs-service-action-task-start-impaired.json",
        "ecs-service-action-task-configuration-failure.json",
    ] {
        let h = harness(&crash_looping(2));
        let r = response(h.run(f).await.unwrap());
        assert_eq!(r.action, "rolled_back", "{f}: {r:?}");
        assert_eq!(r.to, Some(td("hello-world", 3)), "{f}");
        let note = h.published.lock().unwrap().join("\n");
        assert!(note.contains("Trigger:"), "{f}: {note}");
    }
}

#[tokio::test]
async fn early_detection_waits_for_the_threshold_read_from_ecs() {
    let h = harness(&crash_looping(1));
    let r = response(
        h.run("ecs-task-stopped-essential-exited.json")
            .await
            .unwrap(),
    );
    assert_eq!(r.action, "skipped");
    assert!(r.reason.contains("1 failed task"), "{}", r.reason);
    assert_no_writes(&h);
    assert_eq!(h.calls("DescribeServices"), 1);
    assert_eq!(
        h.calls("ListTasks"),
        1,
        "the deployment's stopped tasks are read"
    );
    assert_eq!(
        h.calls("ListServiceDeployments"),
        0,
        "nothing more is read below the threshold"
    );
}

#[tokio::test]
async fn a_revision_that_starts_then_crash_loops_is_counted_from_its_stopped_tasks() {
    // ECS resets failedTasks once a task reaches RUNNING: the stopped tasks themselves count,
    // read from ECS (only the revision's faults: a scale-in stop does not).
    let mut w = crash_looping(0);
    w.stopped = vec![
        ("EssentialContainerExited", "Essential container in task exited"),
        ("ServiceSchedulerInitiated", "Task failed ELB health checks in (target-group arn:aws:elasticloadbalancing:eu-west-1:123456789012:targetgroup/hello-world/6d0ecf831eec9f09)"),
        ("ServiceSchedulerInitiated", "Scaling activity initiated by (deployment ecs-svc/4444444444444444444)"),
    ];
    let h = harness(&w);
    let r = response(
        h.run("ecs-task-stopped-essential-exited.json")
            .await
            .unwrap(),
    );
    assert_eq!(r.action, "rolled_back", "{r:?}");

    let mut w = crash_looping(0);
    w.stopped = vec![
        (
            "EssentialContainerExited",
            "Essential container in task exited",
        ),
        (
            "ServiceSchedulerInitiated",
            "Scaling activity initiated by (deployment ecs-svc/4444444444444444444)",
        ),
    ];
    let h = harness(&w);
    let r = response(
        h.run("ecs-task-stopped-essential-exited.json")
            .await
            .unwrap(),
    );
    assert_eq!(
        r.action, "skipped",
        "one fault is below the threshold of 2: {r:?}"
    );
}

#[tokio::test]
async fn tasks_of_the_old_deployment_never_count() {
    let h = harness(&crash_looping(5));
    let r = response(h.run("ecs-task-stopped-old-deployment.json").await.unwrap());
    assert_eq!(r.action, "skipped");
    assert!(
        r.reason.contains("ecs-svc/3333333333333333333"),
        "{}",
        r.reason
    );
    assert_no_writes(&h);
}

#[tokio::test]
async fn stops_that_are_not_the_revisions_fault_never_trigger_and_cost_no_call() {
    for f in [
        "ecs-task-stopped-spot-interruption.json",
        "ecs-task-stopped-scale-in.json",
        "ecs-task-stopped-user-initiated.json",
        "ecs-task-stopped-standalone.json",
        "ecs-task-stopped-image-pull-throttled.json",
        "ecs-task-provisioning.json",
        "ecs-task-deprovisioning.json",
        "ecs-service-action-placement-failure.json",
    ] {
        let h = harness(&crash_looping(50));
        let r = response(h.run(f).await.unwrap());
        assert_eq!(r.action, "skipped", "{f}");
        assert!(r.reason.contains("not"), "{f}: {}", r.reason);
        let total: usize = h.rules.iter().map(|(_, r)| r.num_calls()).sum();
        assert_eq!(total, 0, "{f}: no AWS call");
    }
}

#[tokio::test]
async fn early_detection_off_means_task_events_do_nothing() {
    let config =
        Config::from_lookup(|k| (k == "ROLLBACK_EARLY_FAILED_TASKS").then(|| "0".to_string()))
            .unwrap();
    let h = harness_with(&crash_looping(9), vec![], config, vec![]);
    let r = response(
        h.run("ecs-task-stopped-essential-exited.json")
            .await
            .unwrap(),
    );
    assert_eq!(r.action, "skipped");
    assert!(r.reason.contains("Early detection is off"), "{}", r.reason);
    assert_no_writes(&h);
}

// ---------------------------------------------------------------------------------------------
// Writes are never repeated blindly (hardening): the SDK does not retry the rollback write; the
// handler reads the service again and repeats the write only if it did not happen.

fn server_error_update() -> Rule {
    mock!(aws_sdk_ecs::Client::update_service)
        .sequence()
        .http_status(
            500,
            Some(r#"{"__type":"ServerException","message":"internal"}"#.into()),
        )
        .repeatedly()
        .build()
}

/// The service after our UpdateService took effect: a new PRIMARY deployment of revision 3.
fn rolled_back_world() -> World {
    let mut after = World::new();
    after.deployments.insert(
        0,
        (
            "ecs-svc/5555555555555555555",
            "PRIMARY",
            3,
            ecs::DeploymentRolloutState::InProgress,
            None,
            (10, 19),
        ),
    );
    after.deployments[1].1 = "ACTIVE";
    after.current = 3;
    after
}

#[tokio::test]
async fn a_write_whose_response_was_lost_is_not_repeated() {
    let before = World::new().service();
    let after = rolled_back_world().service();
    let describe = mock!(aws_sdk_ecs::Client::describe_services)
        .sequence()
        .output(move || {
            DescribeServicesOutput::builder()
                .services(before.clone())
                .build()
        })
        .output(move || {
            DescribeServicesOutput::builder()
                .services(after.clone())
                .build()
        })
        .build();
    let h = harness_with(
        &World::new(),
        vec![],
        notify_config(),
        vec![
            ("UpdateService", server_error_update()),
            ("DescribeServices", describe),
        ],
    );
    let r = response(h.run("ecs-deployment-failed.json").await.unwrap());
    assert_eq!(r.action, "rolled_back", "{r:?}");
    assert_eq!(
        h.calls("UpdateService"),
        1,
        "the lost write happened: not repeated"
    );
    assert_eq!(h.calls("DescribeServices"), 2, "the service was read again");
}

#[tokio::test]
async fn a_write_that_did_not_happen_is_repeated_after_reading_again() {
    let failing_once = mock!(aws_sdk_ecs::Client::update_service)
        .sequence()
        .http_status(
            503,
            Some(r#"{"__type":"ServiceUnavailableException","message":"busy"}"#.into()),
        )
        .output(|| UpdateServiceOutput::builder().build())
        .build();
    let h = harness_with(
        &World::new(),
        vec![],
        notify_config(),
        vec![("UpdateService", failing_once)],
    );
    let r = response(h.run("ecs-deployment-failed.json").await.unwrap());
    assert_eq!(r.action, "rolled_back", "{r:?}");
    assert_eq!(h.calls("UpdateService"), 2);
    assert_eq!(h.calls("DescribeServices"), 2);
}

#[tokio::test]
async fn a_write_failing_every_time_is_a_retryable_error_with_no_record() {
    let h = harness_with(
        &World::new(),
        vec![],
        notify_config(),
        vec![("UpdateService", server_error_update())],
    );
    let err = h.run("ecs-deployment-failed.json").await.unwrap_err();
    assert!(err.is_retryable(), "{err}");
    assert_eq!(h.calls("UpdateService"), 3, "bounded attempts");
    // The loop guard was written first; the rollback did not happen, so it is removed again
    // (a guard for a rollback that never happened would block the next real one), and no
    // revision is marked bad.
    let writes = h.writes();
    let tags: Vec<&String> = writes
        .iter()
        .filter(|w| w.starts_with("TagResource"))
        .collect();
    assert_eq!(tags.len(), 1, "{writes:?}");
    assert!(tags[0].contains("last-rollback-at"), "{writes:?}");
    assert_eq!(
        writes.last().unwrap(),
        &format!(
            "UntagResource {} ecs-rollback:last-rollback-at,ecs-rollback:last-rollback-to,ecs-rollback:last-rollback-from,ecs-rollback:last-rollback-kind,ecs-rollback:last-rollback-by",
            service_arn("hello-world")
        ),
        "nothing recorded for a rollback that did not happen"
    );
    assert!(
        !writes.iter().any(|w| w.contains("status=bad")),
        "{writes:?}"
    );
}

/// A DynamoDB lease answered by mocks: (PutItem, DeleteItem) calls are counted in `h.rules`.
fn with_lease(h: &mut Harness) {
    use aws_sdk_dynamodb::operation::delete_item::DeleteItemOutput;
    use aws_sdk_dynamodb::operation::put_item::PutItemOutput;
    let put = mock!(aws_sdk_dynamodb::Client::put_item)
        .then_compute_output(|_| PutItemOutput::builder().build());
    let delete = mock!(aws_sdk_dynamodb::Client::delete_item)
        .then_compute_output(|_| DeleteItemOutput::builder().build());
    let client = mock_client!(aws_sdk_dynamodb, RuleMode::MatchAny, &[&put, &delete]);
    h.deps.lease = Some(ecs_rollback::aws::lease::Lease::new(
        client,
        "ecs-rollback-leases",
        Duration::from_secs(90),
    ));
    h.rules.push(("dynamodb:PutItem", put));
    h.rules.push(("dynamodb:DeleteItem", delete));
}

// With a lease table, a decision that writes takes the service's lease and is made
// again inside it from fresh reads (read-decide-write atomic per service)...
#[tokio::test]
async fn with_a_lease_a_rollback_is_decided_again_inside_the_service_s_lease() {
    let mut h = harness(&World::new());
    with_lease(&mut h);
    let r = response(h.run("ecs-deployment-failed.json").await.unwrap());
    assert_eq!(r.action, "rolled_back", "{r:?}");
    assert_eq!(
        (h.calls("dynamodb:PutItem"), h.calls("dynamodb:DeleteItem")),
        (1, 1),
        "one lease taken and given back"
    );
    assert_eq!(
        h.calls("DescribeServices"),
        2,
        "read once to decide, once more inside the lease"
    );
    assert_eq!(h.calls("UpdateService"), 1);
}

// ...while a decision that only reads (here: the duplicate of a rollback already made) takes no
// lease at all: in an incident most events are such, and they never wait behind a holder.
#[tokio::test]
async fn with_a_lease_a_decision_that_only_reads_takes_no_lease() {
    let w = after_our_rollback();
    let mut h = harness(&w);
    with_lease(&mut h);
    let r = response(h.run("ecs-deployment-failed.json").await.unwrap());
    assert_eq!(r.action, "skipped");
    assert!(r.reason.contains("Duplicate"), "{}", r.reason);
    assert_no_writes(&h);
    assert_eq!(
        (
            h.calls("dynamodb:PutItem"),
            h.calls("dynamodb:DeleteItem"),
            h.calls("DescribeServices")
        ),
        (0, 0, 1)
    );
}

// ---------------------------------------------------------------------------------------------
// Claims verified in CloudWatch, and incidents over time through the whole handler.

#[tokio::test]
async fn a_forged_alarm_claim_is_checked_in_cloudwatch_in_both_payload_forms() {
    // The payload says ALARM; CloudWatch says OK now: no write, in either form.
    for fixture in [
        "cloudwatch-alarm-metric.json",
        "cloudwatch-alarm-action-lambda.json",
    ] {
        let mut w = World::guarded();
        w.alarm_state = (aws_sdk_cloudwatch::types::StateValue::Ok, Some((10, 19)));
        let h = harness(&w);
        let r = response(h.run(fixture).await.unwrap());
        assert_eq!(r.action, "skipped", "{fixture}: {r:?}");
        assert!(
            r.reason.contains("OK in CloudWatch now"),
            "{fixture}: {}",
            r.reason
        );
        assert_no_writes(&h);
    }
}

#[tokio::test]
async fn an_alarm_that_transitioned_before_the_deployment_is_stale() {
    // CloudWatch says the alarm entered ALARM at 09:50, before deployment 4 (10:00) started:
    // it is about the older deployment, whatever time the payload claims.
    let mut w = World::guarded();
    w.alarm_state = (aws_sdk_cloudwatch::types::StateValue::Alarm, Some((9, 50)));
    let h = harness(&w);
    let r = response(h.run("cloudwatch-alarm-metric.json").await.unwrap());
    assert_eq!(r.action, "skipped", "{r:?}");
    assert!(r.reason.starts_with("Stale alarm"), "{}", r.reason);
    assert_no_writes(&h);
}

/// One hostile payload: its name, the world it meets, and the payload (from a fixture that
/// would otherwise act).
type HostileRow = (&'static str, fn() -> World, Value);

/// Hostile payloads through the whole handler: every row makes no write and answers either a
/// `skipped` response with the reason or a non-retryable error naming the field.
#[tokio::test]
async fn hostile_payloads_make_no_write_and_say_why() {
    use serde_json::json;
    fn acting() -> World {
        World::new()
    }
    fn guarded_ok_in_cloudwatch() -> World {
        let mut w = World::guarded();
        w.alarm_state = (aws_sdk_cloudwatch::types::StateValue::Ok, Some((10, 19)));
        w
    }
    fn completed() -> World {
        let mut w = World::new();
        w.deployments[0].3 = ecs::DeploymentRolloutState::Completed;
        w
    }
    let failed = || fixture("ecs-deployment-failed.json");
    let action = || fixture("cloudwatch-alarm-action-lambda.json");
    let with = |mut v: Value, pointer: &str, new: Value| {
        *v.pointer_mut(pointer).unwrap() = new;
        v
    };
    let swap = |v: Value, from: &str, to: &str| -> Value {
        serde_json::from_str(&v.to_string().replace(from, to)).unwrap()
    };
    let mut nested = json!("x");
    for _ in 0..200 {
        nested = json!({ "detail": nested });
    }
    let deep = with(failed(), "/detail/reason", nested);
    let mut huge = failed();
    huge["detail"]["reason"] = json!("x".repeat(300 * 1024));
    let rows: Vec<(HostileRow, &str)> = vec![
        (
            (
                "forged account",
                acting,
                swap(failed(), ACCOUNT, "999999999999"),
            ),
            "account 999999999999",
        ),
        (
            (
                "forged region",
                acting,
                swap(failed(), "eu-west-1", "us-west-2"),
            ),
            "region us-west-2",
        ),
        (
            (
                "forged partition",
                acting,
                swap(failed(), "arn:aws:", "arn:aws-cn:"),
            ),
            "partition aws-cn",
        ),
        (
            (
                "forged state (alarm OK in CloudWatch)",
                guarded_ok_in_cloudwatch,
                action(),
            ),
            "OK in CloudWatch now",
        ),
        (
            ("forged deployment (COMPLETED in ECS)", completed, failed()),
            "ECS reports it COMPLETED",
        ),
        (
            (
                "alarm action naming another account",
                World::guarded,
                swap(action(), ACCOUNT, "222222222222"),
            ),
            "own account",
        ),
        (
            (
                "service ARN of another account than the envelope",
                acting,
                with(
                    failed(),
                    "/resources/0",
                    json!("arn:aws:ecs:eu-west-1:222222222222:service/demo/hello-world"),
                ),
            ),
            "resources[0]",
        ),
        (
            (
                "unicode in the service name",
                acting,
                with(
                    failed(),
                    "/resources/0",
                    json!(format!(
                        "arn:aws:ecs:eu-west-1:{ACCOUNT}:service/demo/hello\u{202e}dlrow"
                    )),
                ),
            ),
            "resources[0]",
        ),
        (
            (
                "a number where a string is due",
                acting,
                with(failed(), "/detail/deploymentId", json!(4444)),
            ),
            "detail.deploymentId",
        ),
        (
            (
                "an object where the reason is due",
                acting,
                with(failed(), "/detail/reason", json!({"a": 1})),
            ),
            "detail.reason",
        ),
        (
            (
                "a direct invocation naming a service with spaces",
                acting,
                json!({"cluster": "demo", "service": "hello world"}),
            ),
            "`service`",
        ),
        (("oversized", acting, huge), "bytes, more than"),
        (("deep nesting", acting, deep), "recursion limit"),
    ];
    let mut failures = Vec::new();
    for ((name, world, payload), says) in rows {
        let h = harness(&world());
        // Oversized payloads arrive as bytes; everything else as the runtime hands it over.
        let out = match name {
            "oversized" | "deep nesting" => {
                ecs_rollback::event::parse_bytes(payload.to_string().as_bytes())
                    .map(|_| json!({}))
                    .map_err(Error::from)
            }
            _ => handle(&h.deps, payload, &invocation(), now()).await,
        };
        let answer = match &out {
            Ok(v) if v["action"] == "skipped" => v["reason"].as_str().unwrap_or("").to_string(),
            Ok(v) => format!("acted: {v}"),
            Err(e) if e.error_type().ends_with("NonRetryable") => e.to_string(),
            Err(e) => format!("retryable error: {e}"),
        };
        if !answer.contains(says) || answer.starts_with("acted") || answer.starts_with("retryable")
        {
            failures.push(format!("{name}: want {says:?}, got {answer}"));
        }
        if !h.writes().is_empty() {
            failures.push(format!("{name}: wrote {:?}", h.writes()));
        }
        println!("{name:<50} {answer}");
    }
    assert!(failures.is_empty(), "\n{}", failures.join("\n"));
}

fn old_arn_event() -> Value {
    let mut e = fixture("ecs-deployment-failed.json");
    e["resources"][0] = Value::String(format!(
        "arn:aws:ecs:eu-west-1:{ACCOUNT}:service/hello-world"
    ));
    e
}

fn clusters(arns: &'static [&'static str]) -> Rule {
    mock!(aws_sdk_ecs::Client::list_clusters).then_output(move || {
        aws_sdk_ecs::operation::list_clusters::ListClustersOutput::builder()
            .set_cluster_arns(Some(arns.iter().map(|a| a.to_string()).collect()))
            .build()
    })
}

#[tokio::test]
async fn an_old_format_service_arn_is_resolved_to_its_cluster_and_answered() {
    let mut w = World::new();
    w.old_arn = true;
    let h = harness_with(
        &w,
        vec![],
        notify_config(),
        vec![(
            "ListClusters",
            clusters(&[
                "arn:aws:ecs:eu-west-1:123456789012:cluster/other",
                CLUSTER_ARN,
            ]),
        )],
    );
    let r = response(
        handle(&h.deps, old_arn_event(), &invocation(), now())
            .await
            .unwrap(),
    );
    assert_eq!(
        (r.action.as_str(), r.cluster.as_deref()),
        ("rolled_back", Some("demo")),
        "{r:?}"
    );
    assert_eq!(h.calls("ListClusters"), 1);
}

#[tokio::test]
async fn an_old_format_service_arn_no_cluster_has_is_skipped_with_the_reason_and_notified() {
    let mut w = World::new();
    w.old_arn = true;
    let h = harness_with(
        &w,
        vec![],
        notify_config(),
        vec![(
            "ListClusters",
            clusters(&["arn:aws:ecs:eu-west-1:123456789012:cluster/other"]),
        )],
    );
    let r = response(
        handle(&h.deps, old_arn_event(), &invocation(), now())
            .await
            .unwrap(),
    );
    assert_eq!(r.action, "skipped", "{r:?}");
    assert!(r.reason.contains("old-format ARN"), "{}", r.reason);
    assert!(h.writes().is_empty(), "{:?}", h.writes());
    assert_eq!(h.published.lock().unwrap().len(), 1);
}

fn register_refused() -> Rule {
    mock!(aws_sdk_ecs::Client::register_task_definition).then_http_response(|| {
        aws_smithy_runtime_api::http::Response::new(
            aws_smithy_runtime_api::http::StatusCode::try_from(400).unwrap(),
            aws_smithy_types::body::SdkBody::from(
                r#"{"__type":"AccessDeniedException","message":"not authorized to perform: iam:PassRole"}"#,
            ),
        )
    })
}

#[tokio::test]
async fn a_refused_copy_passes_over_to_the_next_candidate_and_says_so() {
    // Revision 3 is INACTIVE (only a copy restores it) and the copy is refused for good.
    let mut w = World::new();
    w.revisions.get_mut(&3).unwrap().0 = ecs::TaskDefinitionStatus::Inactive;
    let h = harness_with(
        &w,
        vec![],
        notify_config(),
        vec![("RegisterTaskDefinition", register_refused())],
    );
    let r = response(h.run("ecs-deployment-failed.json").await.unwrap());
    assert_eq!(r.action, "rolled_back", "{r:?}");
    assert_eq!(
        r.to,
        Some(td("hello-world", 2)),
        "the next candidate: {r:?}"
    );
    assert!(
        r.reason
            .contains("Registering a copy of hello-world:3 was refused")
            && r.reason.contains("iam:PassRole"),
        "{}",
        r.reason
    );
    assert!(
        h.writes()
            .contains(&format!("UpdateService {}", td("hello-world", 2))),
        "{:?}",
        h.writes()
    );
}

#[tokio::test]
async fn a_refused_pinned_copy_with_no_other_candidate_deploys_the_target_unpinned() {
    // Revision 3 runs a mutable tag (a pinned copy is wanted); every other revision is bad.
    let mut w = World::new();
    w.revisions.get_mut(&3).unwrap().2 = "repo/app:latest".into();
    for rev in [1, 2] {
        w.revisions.get_mut(&rev).unwrap().1 = Some("bad");
    }
    let h = harness_with(
        &w,
        vec![],
        notify_config(),
        vec![("RegisterTaskDefinition", register_refused())],
    );
    let r = response(h.run("ecs-deployment-failed.json").await.unwrap());
    assert_eq!(r.action, "rolled_back", "{r:?}");
    assert_eq!(r.to, Some(td("hello-world", 3)), "{r:?}");
    assert!(r.reason.contains("deployed unpinned"), "{}", r.reason);
}

#[tokio::test]
async fn an_alarm_muted_by_an_alarm_mute_rule_does_nothing_while_muted() {
    let mut w = World::guarded();
    w.muted = vec!["hello-world-5xx"];
    let h = harness(&w);
    let r = response(h.run("cloudwatch-alarm-action-lambda.json").await.unwrap());
    assert_eq!(r.action, "skipped", "{r:?}");
    assert!(
        r.reason
            .contains("muted by the alarm mute rule weekly-maintenance"),
        "{}",
        r.reason
    );
    assert_no_writes(&h);
}

/// The canary analysis's CloudWatch read: one GetMetricData for both target groups (three
/// metrics each, both dimensions, period 60, from whole minutes), paged, each series back in
/// minutes; a minute without a 5xx datapoint had none, one without a request count is no minute.
#[tokio::test]
async fn alb_minutes_reads_both_target_groups_in_one_call_and_follows_pages() {
    use aws_sdk_cloudwatch::operation::get_metric_data::GetMetricDataOutput;
    use aws_sdk_cloudwatch::types::MetricDataResult;
    use aws_smithy_types::DateTime;
    use ecs_rollback::aws::cloudwatch::{
        load_balancer_dimension, target_group_dimension, CloudWatch,
    };
    let rule = mock!(aws_sdk_cloudwatch::Client::get_metric_data)
        .match_requests(|req| {
            let q = req.metric_data_queries();
            let dims = |i: usize| {
                q[i].metric_stat()
                    .and_then(|s| s.metric())
                    .map(|m| {
                        m.dimensions()
                            .iter()
                            .map(|d| {
                                format!("{}={}", d.name().unwrap_or(""), d.value().unwrap_or(""))
                            })
                            .collect::<Vec<_>>()
                    })
                    .unwrap_or_default()
            };
            q.len() == 6
                && q.iter()
                    .all(|q| q.metric_stat().and_then(|s| s.period()) == Some(60))
                && dims(3)
                    == [
                        "TargetGroup=targetgroup/old/2".to_string(),
                        "LoadBalancer=app/alb/9".to_string(),
                    ]
                && req.start_time().map(|t| t.secs() % 60) == Some(0)
                && req.end_time().map(|t| t.secs()) == Some(1_800_000_000)
        })
        .sequence()
        .output(|| {
            GetMetricDataOutput::builder()
                .metric_data_results(
                    MetricDataResult::builder()
                        .id("q0m0")
                        .timestamps(DateTime::from_secs(1_799_999_880))
                        .values(1000.0)
                        .build(),
                )
                .metric_data_results(
                    MetricDataResult::builder()
                        .id("q0m1")
                        .timestamps(DateTime::from_secs(1_799_999_880))
                        .values(12.0)
                        .build(),
                )
                .next_token("page-2")
                .build()
        })
        .output(|| {
            GetMetricDataOutput::builder()
                .metric_data_results(
                    MetricDataResult::builder()
                        .id("q0m0")
                        .timestamps(DateTime::from_secs(1_799_999_940))
                        .values(900.0)
                        .build(),
                )
                .metric_data_results(
                    MetricDataResult::builder()
                        .id("q0m2")
                        .timestamps(DateTime::from_secs(1_799_999_940))
                        .values(0.2)
                        .build(),
                )
                .metric_data_results(
                    MetricDataResult::builder()
                        .id("q1m0")
                        .timestamps(DateTime::from_secs(1_799_999_940))
                        .values(9000.0)
                        .build(),
                )
                .build()
        })
        .build();
    let cw = CloudWatch::new(mock_client!(
        aws_sdk_cloudwatch,
        RuleMode::MatchAny,
        &[&rule]
    ));
    let lb = load_balancer_dimension(
        "arn:aws:elasticloadbalancing:eu-west-1:1:listener-rule/app/alb/9/l/r",
    )
    .unwrap();
    let tg = |name: &str, id: &str| {
        format!("arn:aws:elasticloadbalancing:eu-west-1:1:targetgroup/{name}/{id}")
    };
    // Half a minute into a minute: the read ends at the last whole one.
    let now = chrono::DateTime::from_timestamp(1_800_000_030, 0).unwrap();
    let series = cw
        .alb_minutes(
            &lb,
            &[tg("new", "1"), tg("old", "2")],
            now - chrono::Duration::seconds(1_000),
            now,
        )
        .await
        .unwrap();
    assert_eq!(rule.num_calls(), 2, "both pages");
    let new: Vec<(f64, f64, Option<f64>)> = series[0]
        .iter()
        .map(|m| (m.requests, m.errors, m.latency))
        .collect();
    assert_eq!(new, vec![(1000.0, 12.0, None), (900.0, 0.0, Some(0.2))]);
    assert_eq!(series[1].len(), 1);
    assert_eq!(series[1][0].requests, 9000.0);
    // Dimensions only from the ARNs they belong to.
    assert_eq!(
        target_group_dimension(&tg("new", "1")).as_deref(),
        Some("targetgroup/new/1")
    );
    assert_eq!(
        target_group_dimension("arn:aws:elasticloadbalancing:eu-west-1:1:loadbalancer/app/alb/9"),
        None
    );
    assert_eq!(
        load_balancer_dimension("arn:aws:elasticloadbalancing:eu-west-1:1:listener/app/alb/9/l")
            .as_deref(),
        Some("app/alb/9")
    );
    assert_eq!(
        load_balancer_dimension("arn:aws:elasticloadbalancing:eu-west-1:1:listener/net/nlb/9/l"),
        None
    );
    assert!(cw
        .alb_minutes(&lb, &["not-an-arn".into()], now, now)
        .await
        .is_err());
}
