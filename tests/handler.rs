//! The handler end to end through the real SDK clients, answered by aws-smithy-mocks.
//! Every DESIGN §4 rule from an `events/*.json` fixture; assertions on the calls made.

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
}

impl World {
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
        }
    }

    fn service(&self) -> ecs::Service {
        let mut b = ecs::Service::builder()
            .service_arn(service_arn(&self.name))
            .service_name(&self.name)
            .cluster_arn(CLUSTER_ARN)
            .status("ACTIVE")
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
            match services.get(&name) {
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
                .created_at(at(*h, m.saturating_sub(5)))
                .started_at(at(*h, m.saturating_sub(4)))
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

/// CloudWatch: alarm tags by ARN, and DescribeAlarms for composite children.
fn cloudwatch_rules(
    alarm_tags: Vec<(&'static str, &'static str, &'static str)>,
) -> Vec<(&'static str, Rule)> {
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
            mock!(aws_sdk_cloudwatch::Client::describe_alarms).then_compute_output(|req| {
                let mut out = DescribeAlarmsOutput::builder();
                for name in req.alarm_names() {
                    if name == "hello-world-5xx" {
                        let dim = |n: &str, v: &str| {
                            aws_sdk_cloudwatch::types::Dimension::builder()
                                .name(n)
                                .value(v)
                                .build()
                        };
                        out = out.metric_alarms(
                            aws_sdk_cloudwatch::types::MetricAlarm::builder()
                                .alarm_name(name)
                                .alarm_arn(format!(
                                    "arn:aws:cloudwatch:eu-west-1:123456789012:alarm:{name}"
                                ))
                                .dimensions(dim("ClusterName", "demo"))
                                .dimensions(dim("ServiceName", "hello-world"))
                                .build(),
                        );
                    }
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
    let writes: Writes = Arc::default();
    let ecs = ecs_rules(world, &writes, extra);
    let cw = cloudwatch_rules(alarm_tags);
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
    assert_eq!(writes[0], format!("UpdateService {}", td("hello-world", 3)));
    assert_eq!(
        writes[1],
        format!(
            "TagResource {} ecs-rollback:status=bad",
            td("hello-world", 4)
        )
    );
    assert!(
        writes[2].starts_with(&format!(
            "TagResource {} ecs-rollback:last-rollback-at=2026-11-26T10:20:00Z",
            service_arn("hello-world")
        )),
        "{}",
        writes[2]
    );
    assert_eq!(writes.len(), 3, "{writes:?}");
    // Calls for a rollback: service, history (list + revisions), the target's details.
    assert_eq!(h.calls("DescribeServices"), 1);
    assert_eq!(h.calls("ListServiceDeployments"), 1);
    assert_eq!(h.calls("DescribeServiceRevisions"), 1);
    assert_eq!(h.calls("DescribeTaskDefinition"), 1);
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

#[tokio::test]
async fn same_failed_event_after_rollback_is_a_duplicate_and_reads_only_the_service() {
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
    for (fixture_name, breaker) in [
        ("ecs-deployment-failed-circuit-breaker-rollback.json", false),
        ("ecs-deployment-failed.json", true),
    ] {
        let mut w = World::new();
        w.breaker_rollback = breaker;
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
    let mut w = World::new();
    w.deployments[0].3 = ecs::DeploymentRolloutState::Completed;
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
async fn metric_math_alarm_is_parsed_and_acts() {
    let mut w = World::new();
    w.deployments[0].3 = ecs::DeploymentRolloutState::Completed;
    let h = harness(&w);
    let r = response(h.run("cloudwatch-alarm-metric-math.json").await.unwrap());
    assert_eq!(r.action, "rolled_back", "{r:?}");
}

#[tokio::test]
async fn alarm_outside_the_window_does_nothing() {
    let mut w = World::new();
    w.deployments[0].3 = ecs::DeploymentRolloutState::Completed;
    w.deployments[0].5 = (8, 0);
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
    let mut w = World::new();
    w.deployments[0].3 = ecs::DeploymentRolloutState::Completed;
    let h = harness(&w);
    let r = response(h.run("cloudwatch-alarm-composite.json").await.unwrap());
    assert_eq!(r.action, "rolled_back", "{r:?}");
    assert_eq!(h.calls("cw:DescribeAlarms"), 1);
}

#[tokio::test]
async fn alarm_guarding_two_services_returns_one_response_per_service() {
    let mut w = World::new();
    w.deployments[0].3 = ecs::DeploymentRolloutState::Completed;
    w.also = vec!["checkout".into()];
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
    // Only hello-world exists in this world: checkout is unknown, which is bad input → error,
    // after hello-world was handled.
    let mut w = World::new();
    w.deployments[0].3 = ecs::DeploymentRolloutState::Completed;
    let h = harness(&w);
    let err = h
        .run("cloudwatch-alarm-two-services.json")
        .await
        .unwrap_err();
    assert!(err.to_string().contains("checkout"), "{err}");
    assert_eq!(
        h.calls("UpdateService"),
        1,
        "the known service was still handled"
    );
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
    // Even with a mutable tag: ECS's own rollback restores the recorded digests, no copy needed.
    w.revisions.get_mut(&3).unwrap().2 = "repo/app:latest".into();
    let h = harness(&w);
    let r = response(h.run("cloudwatch-alarm-metric.json").await.unwrap());
    assert_eq!(r.action, "rolled_back", "{r:?}");
    assert_eq!(
        h.writes()[0],
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
    assert_eq!(writes[1], format!("UpdateService {}", td("hello-world", 5)));
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
async fn revisions_marked_bad_or_inactive_are_skipped() {
    let mut w = World::new();
    w.revisions.get_mut(&3).unwrap().1 = Some("bad");
    w.revisions.get_mut(&2).unwrap().0 = ecs::TaskDefinitionStatus::Inactive;
    let h = harness(&w);
    let r = response(h.run("ecs-deployment-failed.json").await.unwrap());
    assert_eq!(r.to, Some(td("hello-world", 1)), "{r:?}");
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
    let mut w = World::new();
    w.tags.push((
        "ecs-rollback:last-rollback-at",
        "2026-11-26T10:05:00Z".into(),
    ));
    w.tags
        .push(("ecs-rollback:last-rollback-to", td("hello-world", 2)));
    let h = harness(&w);
    let r = response(h.run("ecs-deployment-failed.json").await.unwrap());
    assert_eq!(r.action, "skipped");
    assert!(r.reason.contains("Cooldown"), "{}", r.reason);
    assert_no_writes(&h);
}

#[tokio::test]
async fn failing_rollback_target_is_reported_not_chased() {
    let mut w = World::new();
    w.tags.push((
        "ecs-rollback:last-rollback-at",
        "2026-11-26T08:00:00Z".into(),
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
        h.writes()[0],
        format!("UpdateService {}", td("hello-world", 2))
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
        ("invalid/unknown-detail-type.json", "detail-type"),
        ("invalid/missing-resources.json", "resources[0]"),
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

#[test]
fn every_fixture_is_accounted_for() {
    // A fixture nobody tests is a fixture that can rot: list them all here.
    let known = [
        "cloudwatch-alarm-composite.json",
        "cloudwatch-alarm-insufficient-data.json",
        "cloudwatch-alarm-metric-math.json",
        "cloudwatch-alarm-metric.json",
        "cloudwatch-alarm-ok.json",
        "cloudwatch-alarm-tagged-no-dimensions.json",
        "cloudwatch-alarm-two-services.json",
        "direct-invoke-dry-run.json",
        "direct-invoke-to-revision.json",
        "direct-invoke.json",
        "ecs-deployment-completed.json",
        "ecs-deployment-failed-circuit-breaker-rollback.json",
        "ecs-deployment-failed-other-account.json",
        "ecs-deployment-failed.json",
        "ecs-deployment-in-progress.json",
        "ecs-deployment-rollback-in-progress.json",
        "ecs-task-stopped-essential-exited.json",
        "ecs-task-stopped-failed-to-start.json",
        "ecs-task-stopped-old-deployment.json",
        "ecs-task-stopped-spot-interruption.json",
        "ecs-task-stopped-scale-in.json",
        "ecs-task-stopped-user-initiated.json",
        "ecs-task-stopped-standalone.json",
        "ecs-task-stopped-elb-health-check.json",
        "ecs-service-action-task-start-impaired.json",
        "ecs-service-action-task-configuration-failure.json",
        "ecs-service-action-placement-failure.json",
    ];
    let dir = format!("{}/events", env!("CARGO_MANIFEST_DIR"));
    for entry in std::fs::read_dir(&dir).unwrap() {
        let name = entry.unwrap().file_name().into_string().unwrap();
        if name.ends_with(".json") {
            assert!(
                known.contains(&name.as_str()),
                "fixture {name} is not covered by a test"
            );
            ecs_rollback::event::parse(fixture(&name)).unwrap_or_else(|e| panic!("{name}: {e}"));
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
        h.calls("ListServiceDeployments"),
        0,
        "nothing more is read below the threshold"
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
        "ecs-task-stopped-elb-health-check.json",
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
    assert_eq!(
        h.calls("TagResource"),
        0,
        "nothing recorded for a rollback that did not happen"
    );
}
