//! The deployment gate through the real SDK clients, answered by aws-smithy-mocks: which calls a
//! hook invocation makes (the tag scan once per execution), how read errors are answered, what is
//! written on FAILED, and the CLI's view of a deployment in flight.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use aws_sdk_cloudwatch::operation::describe_alarms::DescribeAlarmsOutput;
use aws_sdk_cloudwatch::operation::list_tags_for_resource::ListTagsForResourceOutput as CwTags;
use aws_sdk_cloudwatch::types as cw;
use aws_sdk_ecs::operation::describe_service_deployments::DescribeServiceDeploymentsOutput;
use aws_sdk_ecs::operation::describe_service_revisions::DescribeServiceRevisionsOutput;
use aws_sdk_ecs::operation::describe_services::DescribeServicesOutput;
use aws_sdk_ecs::operation::describe_task_definition::DescribeTaskDefinitionOutput;
use aws_sdk_ecs::operation::list_service_deployments::ListServiceDeploymentsOutput;
use aws_sdk_ecs::operation::list_tasks::ListTasksOutput;
use aws_sdk_ecs::operation::tag_resource::TagResourceOutput;
use aws_sdk_ecs::types as ecs;
use aws_sdk_sns::operation::publish::PublishOutput;
use aws_smithy_mocks::{mock, mock_client, Rule, RuleMode};
use chrono::{TimeZone, Utc};
use ecs_rollback::aws::cloudwatch::CloudWatch;
use ecs_rollback::aws::ecs::Ecs;
use ecs_rollback::aws::sns::Sns;
use ecs_rollback::config::Config;
use ecs_rollback::handler::{handle, Deps, Invocation};
use serde_json::{json, Value};

const SERVICE_ARN: &str = "arn:aws:ecs:eu-west-1:123456789012:service/demo/hello-world";
const SD_ARN: &str =
    "arn:aws:ecs:eu-west-1:123456789012:service-deployment/demo/hello-world/Kq2xQoPh7XoEXAMPLE";
const GREEN: &str =
    "arn:aws:ecs:eu-west-1:123456789012:service-revision/demo/hello-world/4444444444444444444";
const BLUE: &str =
    "arn:aws:ecs:eu-west-1:123456789012:service-revision/demo/hello-world/3333333333333333333";
const FUNCTION: &str = "arn:aws:lambda:eu-west-1:123456789012:function:ecs-rollback";

fn td(rev: i32) -> String {
    format!("arn:aws:ecs:eu-west-1:123456789012:task-definition/hello-world:{rev}")
}
fn secs(s: i64) -> aws_sdk_ecs::primitives::DateTime {
    aws_sdk_ecs::primitives::DateTime::from_secs(1_800_000_000 + s)
}
fn now(s: i64) -> chrono::DateTime<Utc> {
    Utc.timestamp_opt(1_800_000_000 + s, 0).unwrap()
}

/// The fixture, with `hookDetails`.
fn hook(details: Value) -> Value {
    let mut v: Value =
        serde_json::from_str(include_str!("../events/ecs-lifecycle-hook-invocation.json")).unwrap();
    v["hookDetails"] = details;
    v
}

/// What the mocked account holds.
struct Account {
    tags: Vec<(&'static str, &'static str)>,
    /// (name, state, tagged for the service, actions)
    alarms: Vec<(&'static str, cw::StateValue, bool, Vec<String>)>,
    green_td: i32,
    describe_services_throttled: bool,
    deployment_known: bool,
    /// The history also holds an older, SUCCESSFUL deployment of the blue revision (td 3).
    blue_succeeded_before: bool,
}

impl Account {
    fn new() -> Self {
        Account {
            tags: vec![
                ("ecs-rollback:enabled", "true"),
                ("ecs-rollback:gate-observe-minutes", "5"),
            ],
            alarms: vec![("hello-world-5xx", cw::StateValue::Ok, true, Vec::new())],
            green_td: 4,
            describe_services_throttled: false,
            deployment_known: true,
            blue_succeeded_before: false,
        }
    }
}

/// Every ECS TagResource: (resource ARN, tags).
type TagLog = Arc<Mutex<Vec<(String, Vec<(String, String)>)>>>;

struct Harness {
    deps: Deps,
    rules: Vec<(&'static str, Rule)>,
    ecs_tags: TagLog,
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
    async fn run(&self, payload: Value, at: i64) -> Result<Value, ecs_rollback::error::Error> {
        let inv = Invocation {
            function_arn: Some(FUNCTION.into()),
            deadline: None,
        };
        handle(&self.deps, payload, &inv, now(at)).await
    }
}

fn harness(a: Account, config: Config) -> Harness {
    let tags = a.tags.clone();
    let throttled = a.describe_services_throttled;
    let describe_services = if throttled {
        mock!(aws_sdk_ecs::Client::describe_services)
            .sequence()
            .http_status(
                400,
                Some(r#"{"__type":"ThrottlingException","message":"Rate exceeded"}"#.into()),
            )
            .repeatedly()
            .build()
    } else {
        mock!(aws_sdk_ecs::Client::describe_services).then_output(move || {
            let mut svc = ecs::Service::builder()
                .service_arn(SERVICE_ARN)
                .service_name("hello-world")
                .cluster_arn("arn:aws:ecs:eu-west-1:123456789012:cluster/demo")
                .status("ACTIVE")
                .task_definition(td(4))
                .deployment_configuration(
                    ecs::DeploymentConfiguration::builder()
                        .strategy(ecs::DeploymentStrategy::Canary)
                        .build(),
                )
                .deployments(
                    ecs::Deployment::builder()
                        .id("ecs-svc/4444444444444444444")
                        .status("PRIMARY")
                        .task_definition(td(4))
                        .rollout_state(ecs::DeploymentRolloutState::InProgress)
                        .build(),
                )
                .deployments(
                    ecs::Deployment::builder()
                        .id("ecs-svc/3333333333333333333")
                        .status("ACTIVE")
                        .task_definition(td(3))
                        .build(),
                );
            for (k, v) in &tags {
                svc = svc.tags(ecs::Tag::builder().key(*k).value(*v).build());
            }
            DescribeServicesOutput::builder()
                .services(svc.build())
                .build()
        })
    };
    let known = a.deployment_known;
    let describe_sd =
        mock!(aws_sdk_ecs::Client::describe_service_deployments).then_output(move || {
            let mut out = DescribeServiceDeploymentsOutput::builder();
            if known {
                out = out.service_deployments(
                    ecs::ServiceDeployment::builder()
                        .service_deployment_arn(SD_ARN)
                        .status(ecs::ServiceDeploymentStatus::InProgress)
                        .started_at(secs(0))
                        .lifecycle_stage(ecs::ServiceDeploymentLifecycleStage::PostTestTrafficShift)
                        .deployment_configuration(
                            ecs::DeploymentConfiguration::builder()
                                .strategy(ecs::DeploymentStrategy::Canary)
                                .build(),
                        )
                        .target_service_revision(
                            ecs::ServiceRevisionSummary::builder().arn(GREEN).build(),
                        )
                        .source_service_revisions(
                            ecs::ServiceRevisionSummary::builder().arn(BLUE).build(),
                        )
                        .lifecycle_hook_details(
                            ecs::DeploymentLifecycleHookDetail::builder()
                                .target_arn(FUNCTION)
                                .status(ecs::DeploymentLifecycleHookStatus::InProgress)
                                .build(),
                        )
                        .build(),
                );
            } else {
                out = out.failures(
                    ecs::Failure::builder()
                        .arn(SD_ARN)
                        .reason("MISSING")
                        .build(),
                );
            }
            out.build()
        });
    let green_td = a.green_td;
    let describe_revisions =
        mock!(aws_sdk_ecs::Client::describe_service_revisions).then_output(move || {
            DescribeServiceRevisionsOutput::builder()
                .service_revisions(
                    ecs::ServiceRevision::builder()
                        .service_revision_arn(GREEN)
                        .task_definition(td(green_td))
                        .build(),
                )
                .service_revisions(
                    ecs::ServiceRevision::builder()
                        .service_revision_arn(BLUE)
                        .task_definition(td(3))
                        .build(),
                )
                .build()
        });
    let list_tasks =
        mock!(aws_sdk_ecs::Client::list_tasks).then_output(|| ListTasksOutput::builder().build());
    let describe_td = mock!(aws_sdk_ecs::Client::describe_task_definition).then_output(|| {
        DescribeTaskDefinitionOutput::builder()
            .task_definition(
                ecs::TaskDefinition::builder()
                    .task_definition_arn(td(4))
                    .family("hello-world")
                    .revision(4)
                    .status(ecs::TaskDefinitionStatus::Active)
                    .build(),
            )
            .build()
    });
    let ecs_tags: TagLog = Arc::default();
    let log = ecs_tags.clone();
    let tag = mock!(aws_sdk_ecs::Client::tag_resource).then_compute_output(move |req| {
        log.lock().unwrap().push((
            req.resource_arn().unwrap_or_default().to_string(),
            req.tags()
                .iter()
                .map(|t| {
                    (
                        t.key().unwrap_or_default().to_string(),
                        t.value().unwrap_or_default().to_string(),
                    )
                })
                .collect(),
        ));
        TagResourceOutput::builder().build()
    });
    let blue_before = a.blue_succeeded_before;
    let list_sd = mock!(aws_sdk_ecs::Client::list_service_deployments).then_output(move || {
        let mut out = ListServiceDeploymentsOutput::builder().service_deployments(
            ecs::ServiceDeploymentBrief::builder()
                .service_deployment_arn(SD_ARN)
                .status(ecs::ServiceDeploymentStatus::InProgress)
                .target_service_revision_arn(GREEN)
                .created_at(secs(0))
                .build(),
        );
        if blue_before {
            out = out.service_deployments(
                ecs::ServiceDeploymentBrief::builder()
                    .service_deployment_arn(format!("{SD_ARN}-blue"))
                    .status(ecs::ServiceDeploymentStatus::Successful)
                    .target_service_revision_arn(BLUE)
                    .created_at(secs(-7200))
                    .finished_at(secs(-6900))
                    .build(),
            );
        }
        out.build()
    });
    let alarms = Arc::new(a.alarms);
    let all = alarms.clone();
    let describe_alarms =
        mock!(aws_sdk_cloudwatch::Client::describe_alarms).then_compute_output(move |req| {
            let mut out = DescribeAlarmsOutput::builder();
            for (name, state, _, actions) in all.iter() {
                if !req.alarm_names().is_empty() && !req.alarm_names().iter().any(|n| n == name) {
                    continue;
                }
                out = out.metric_alarms(
                    cw::MetricAlarm::builder()
                        .alarm_name(*name)
                        .alarm_arn(format!(
                            "arn:aws:cloudwatch:eu-west-1:123456789012:alarm:{name}"
                        ))
                        .state_value(state.clone())
                        .state_reason("Threshold Crossed")
                        .state_updated_timestamp(
                            aws_sdk_cloudwatch::primitives::DateTime::from_secs(1_800_000_010),
                        )
                        .period(60)
                        .evaluation_periods(1)
                        .set_alarm_actions(Some(actions.clone()))
                        .actions_enabled(true)
                        .build(),
                );
            }
            out.build()
        });
    let tagged = alarms.clone();
    let cw_tags =
        mock!(aws_sdk_cloudwatch::Client::list_tags_for_resource).then_compute_output(move |req| {
            let arn = req.resource_arn().unwrap_or_default();
            let mut out = CwTags::builder();
            if tagged
                .iter()
                .any(|(n, _, t, _)| *t && arn.ends_with(&format!(":alarm:{n}")))
            {
                for (k, v) in [
                    ("ecs-rollback:cluster", "demo"),
                    ("ecs-rollback:service", "hello-world"),
                ] {
                    out = out.tags(cw::Tag::builder().key(k).value(v).build());
                }
            }
            out.build()
        });
    let published: Arc<Mutex<Vec<String>>> = Arc::default();
    let plog = published.clone();
    let publish = mock!(aws_sdk_sns::Client::publish).then_compute_output(move |req| {
        plog.lock().unwrap().push(format!(
            "{}\n{}",
            req.subject().unwrap_or_default(),
            req.message().unwrap_or_default()
        ));
        PublishOutput::builder().message_id("m").build()
    });
    let rules: Vec<(&'static str, Rule)> = vec![
        ("DescribeServices", describe_services),
        ("DescribeServiceDeployments", describe_sd),
        ("DescribeServiceRevisions", describe_revisions),
        ("ListTasks", list_tasks),
        ("DescribeTaskDefinition", describe_td),
        ("TagResource", tag),
        ("ListServiceDeployments", list_sd),
        ("cw:DescribeAlarms", describe_alarms),
        ("cw:ListTagsForResource", cw_tags),
        ("sns:Publish", publish),
    ];
    let ecs_rules: Vec<&Rule> = rules[..7].iter().map(|(_, r)| r).collect();
    let cw_rules: Vec<&Rule> = rules[7..9].iter().map(|(_, r)| r).collect();
    let retry = |c: aws_sdk_ecs::config::Builder| {
        c.retry_config(
            aws_sdk_ecs::config::retry::RetryConfig::standard()
                .with_max_attempts(2)
                .with_initial_backoff(Duration::from_millis(1)),
        )
    };
    let ecs_client = mock_client!(aws_sdk_ecs, RuleMode::MatchAny, &ecs_rules, retry);
    let cw_client = mock_client!(aws_sdk_cloudwatch, RuleMode::MatchAny, &cw_rules);
    let sns_client = mock_client!(aws_sdk_sns, RuleMode::MatchAny, &[&rules[9].1]);
    let sns = config.notify_topic_arn.clone().map(|topic_arn| Sns {
        client: sns_client,
        topic_arn,
    });
    Harness {
        deps: Deps {
            ecs: Ecs::new(ecs_client),
            cloudwatch: CloudWatch::new(cw_client),
            sns,
            config,
            pool: None,
            lease: None,
        },
        rules,
        ecs_tags,
        published,
    }
}

fn config() -> Config {
    Config {
        notify_topic_arn: Some("arn:aws:sns:eu-west-1:123456789012:ecs-rollback".into()),
        ..Config::default()
    }
}

#[tokio::test]
async fn the_tag_scan_runs_once_per_execution_and_the_state_rides_in_hook_details() {
    let h = harness(Account::new(), config());
    // First call: the scan (DescribeAlarms of every alarm + the tags of the candidates).
    let first = h.run(hook(json!({})), 20).await.unwrap();
    assert_eq!(first["hookStatus"], "IN_PROGRESS", "{first}");
    assert_eq!(first["callBackDelay"], 30);
    let memo = &first["hookDetails"]["ecsRollbackGate"];
    assert_eq!(memo["alarms"], json!(["hello-world-5xx"]), "{memo}");
    assert_eq!(h.calls("cw:ListTagsForResource"), 1);
    assert_eq!(h.calls("cw:DescribeAlarms"), 1);
    // ECS calls again with the answered hookDetails: no scan, no tag read, one DescribeAlarms.
    let second = h.run(hook(first["hookDetails"].clone()), 50).await.unwrap();
    assert_eq!(second["hookStatus"], "IN_PROGRESS", "{second}");
    assert_eq!(h.calls("cw:ListTagsForResource"), 1, "no second scan");
    assert_eq!(h.calls("cw:DescribeAlarms"), 2);
    assert_eq!(
        second["hookDetails"]["ecsRollbackGate"]["firstSeen"], memo["firstSeen"],
        "the observation started on the first call"
    );
    // The alarm's 60 s window has passed since the first call: SUCCEEDED, nothing written.
    let third = h
        .run(hook(second["hookDetails"].clone()), 81)
        .await
        .unwrap();
    assert_eq!(third["hookStatus"], "SUCCEEDED", "{third}");
    assert!(third.get("callBackDelay").is_none());
    assert_eq!(h.calls("TagResource"), 0);
    assert_eq!(h.calls("sns:Publish"), 0);
    // The new revision's stopped tasks were read from its own deployment (ecs-svc/<revision id>).
    assert_eq!(h.calls("ListTasks"), 3);
}

#[tokio::test]
async fn a_tagged_alarm_in_alarm_fails_the_hook_marks_the_revision_and_notifies() {
    let mut a = Account::new();
    a.alarms = vec![
        ("hello-world-5xx", cw::StateValue::Alarm, true, Vec::new()),
        // Auto Scaling's alarm is never a guard, tagged or not.
        (
            "TargetTracking-service/demo/hello-world-AlarmHigh-1",
            cw::StateValue::Alarm,
            true,
            Vec::new(),
        ),
    ];
    let h = harness(a, config());
    let out = h.run(hook(json!({})), 20).await.unwrap();
    assert_eq!(out["hookStatus"], "FAILED", "{out}");
    let reason = out["hookDetails"]["ecsRollbackGate"]["reason"]
        .as_str()
        .unwrap();
    assert!(
        reason.contains("hello-world-5xx") && !reason.contains("TargetTracking"),
        "{reason}"
    );
    // The gate writes nothing: ECS rolls back, and its history keeps the revision unproven.
    assert_eq!(
        h.calls("TagResource"),
        0,
        "{:?}",
        h.ecs_tags.lock().unwrap()
    );
    let published = h.published.lock().unwrap().clone();
    assert_eq!(published.len(), 1);
    assert!(
        published[0].contains(&format!(
            "ECS is rolling back deployment {SD_ARN} because the guarding alarm hello-world-5xx"
        )),
        "{}",
        published[0]
    );
}

#[tokio::test]
async fn a_failure_of_a_same_task_definition_revision_is_not_put_on_the_task_definition() {
    let mut a = Account::new();
    a.alarms = vec![("hello-world-5xx", cw::StateValue::Alarm, true, Vec::new())];
    a.green_td = 3; // a re-pushed tag or a configuration change: the source runs the same one
    let h = harness(a, config());
    let out = h.run(hook(json!({})), 20).await.unwrap();
    assert_eq!(out["hookStatus"], "FAILED", "{out}");
    assert_eq!(h.calls("TagResource"), 0);
    assert_eq!(h.calls("sns:Publish"), 1);
}

#[tokio::test]
async fn a_service_that_cannot_be_read_is_retried_later_never_failed_at_once() {
    let mut a = Account::new();
    a.describe_services_throttled = true;
    let h = harness(a, config());
    let out = h.run(hook(json!({})), 20).await.unwrap();
    assert_eq!(out["hookStatus"], "IN_PROGRESS", "{out}");
    let reason = out["hookDetails"]["ecsRollbackGate"]["reason"]
        .as_str()
        .unwrap();
    assert!(reason.contains("ThrottlingException"), "{reason}");
    // Still unreadable when the default observation time (5 min) is over: FAILED by default.
    let later = h
        .run(hook(out["hookDetails"].clone()), 20 + 301)
        .await
        .unwrap();
    assert_eq!(later["hookStatus"], "FAILED", "{later}");
    assert_eq!(
        h.calls("TagResource"),
        0,
        "an unread service proves nothing against the revision"
    );
}

#[tokio::test]
async fn an_unknown_service_deployment_is_a_non_retryable_error_naming_the_field() {
    let mut a = Account::new();
    a.deployment_known = false;
    let h = harness(a, config());
    let err = h.run(hook(json!({})), 20).await.unwrap_err();
    assert_eq!(err.error_type(), "InvalidInput.NonRetryable");
    assert!(err.to_string().contains("resourceArn"), "{err}");
}

#[tokio::test]
async fn a_service_not_opted_in_is_let_through_after_one_read() {
    let mut a = Account::new();
    a.tags = vec![];
    let h = harness(a, config());
    let out = h.run(hook(json!({})), 20).await.unwrap();
    assert_eq!(out["hookStatus"], "SUCCEEDED", "{out}");
    let total: usize = h.rules.iter().map(|(_, r)| r.num_calls()).sum();
    assert_eq!((h.calls("DescribeServices"), total), (1, 1));
}

#[tokio::test]
async fn a_malformed_hook_makes_no_call() {
    let h = harness(Account::new(), config());
    let mut bad = hook(json!({}));
    bad["executionDetails"]
        .as_object_mut()
        .unwrap()
        .remove("serviceArn");
    let err = h.run(bad, 20).await.unwrap_err();
    assert_eq!(err.error_type(), "InvalidInput.NonRetryable");
    assert!(
        err.to_string().contains("executionDetails.serviceArn"),
        "{err}"
    );
    let total: usize = h.rules.iter().map(|(_, r)| r.num_calls()).sum();
    assert_eq!(total, 0);
}

#[tokio::test]
async fn status_reads_strategy_stage_and_the_hooks_last_verdict() {
    let h = harness(Account::new(), config());
    let service = h
        .deps
        .ecs
        .describe_service(&ecs_rollback::model::ServiceRef {
            cluster: "demo".into(),
            service: "hello-world".into(),
        })
        .await
        .unwrap();
    let in_flight = h.deps.ecs.in_flight(&service).await.unwrap();
    assert_eq!(in_flight.len(), 1);
    assert_eq!(
        in_flight[0].line(Some(FUNCTION)),
        "CANARY at POST_TEST_TRAFFIC_SHIFT, gate IN_PROGRESS"
    );
}

#[tokio::test]
async fn the_gate_never_judges_a_restore() {
    // Our rollback of a canary deployment: its target is the proven revision 3 (it completed a
    // deployment two hours ago), and the alarm that caused the rollback is still in ALARM. The
    // gate passes it at once instead of holding production on the bad revision, or failing it.
    let mut a = Account::new();
    a.alarms = vec![("hello-world-5xx", cw::StateValue::Alarm, true, Vec::new())];
    a.green_td = 3;
    a.blue_succeeded_before = true;
    let h = harness(a, config());
    let out = h.run(hook(json!({})), 20).await.unwrap();
    assert_eq!(out["hookStatus"], "SUCCEEDED", "{out}");
    let reason = out["hookDetails"]["ecsRollbackGate"]["reason"]
        .as_str()
        .unwrap();
    assert!(reason.contains("never judges a restore"), "{reason}");
    assert!(h.ecs_tags.lock().unwrap().is_empty(), "nothing marked bad");
    assert_eq!(
        h.calls("cw:DescribeAlarms"),
        0,
        "no alarm read for a restore"
    );
}

#[tokio::test]
async fn the_gate_refuses_every_payload_that_is_not_a_lifecycle_hook_without_a_call() {
    let gate = Config {
        gate_only: true,
        ..config()
    };
    let h = harness(Account::new(), gate);
    for name in [
        "direct-invoke.json",
        "ecs-deployment-failed.json",
        "cloudwatch-alarm-action-lambda.json",
    ] {
        let text = std::fs::read_to_string(format!("{}/events/{name}", env!("CARGO_MANIFEST_DIR")))
            .unwrap();
        let err = h
            .run(serde_json::from_str(&text).unwrap(), 20)
            .await
            .unwrap_err();
        assert_eq!(
            err.error_type(),
            "InvalidInput.NonRetryable",
            "{name}: {err}"
        );
        assert!(
            err.to_string().contains("ROLLBACK_MODE=gate"),
            "{name}: {err}"
        );
    }
    let total: usize = h.rules.iter().map(|(_, r)| r.num_calls()).sum();
    assert_eq!(total, 0, "no call for a refused payload");
    // A lifecycle hook is still answered.
    let out = h.run(hook(json!({})), 20).await.unwrap();
    assert!(out["hookStatus"].is_string(), "{out}");
}
