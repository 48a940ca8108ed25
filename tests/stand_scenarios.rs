//! The responder end to end through the stand: real HTTP, the real SDK wire formats (awsJson for
//! ECS, Smithy RPC v2 CBOR for CloudWatch), the Lambda runtime protocol, SNS read back through SQS.
//! Each test is a story and asserts on the emulator's final state, not only on the response.

#[path = "stand/harness.rs"]
mod harness;

use std::time::Duration;

use aws_sdk_ecs::types::{Tag, TaskDefinitionField};
use harness::{wait_for, Invoked, Stand, World, ACCOUNT, REGION};
use serde_json::{json, Value};

const REGISTRY: &str = "123456789012.dkr.ecr.eu-west-1.amazonaws.com/hello-world";

/// A stand with cluster `demo`, an SNS topic read through an SQS queue, and the Lambda running
/// with `env` on top of the notification topic (the stand suites' shared world).
async fn world(env: &[(&str, &str)]) -> World {
    world_with(&[], env).await
}

/// [`world`] on a stand started with `stand_args` (`--function-timeout 15`, …).
async fn world_with(stand_args: &[&str], env: &[(&str, &str)]) -> World {
    World::start(stand_args, env, |_| {}).await
}

impl World {
    async fn register(&self, image: &str, secret_env: bool) -> String {
        harness::ecs::register(&self.ecs, image, |container| {
            if !secret_env {
                return container;
            }
            // A task definition full of secrets: none of it may ever reach a log or a notification.
            container
                .environment(
                    aws_sdk_ecs::types::KeyValuePair::builder().name("DB_PASSWORD").value("hunter2-stand-secret").build(),
                )
                .secrets(
                    aws_sdk_ecs::types::Secret::builder()
                        .name("API_TOKEN")
                        .value_from("arn:aws:secretsmanager:eu-west-1:123456789012:secret:prod/api-token-AbCdEf")
                        .build()
                        .unwrap(),
                )
                .repository_credentials(
                    aws_sdk_ecs::types::RepositoryCredentials::builder()
                        .credentials_parameter("arn:aws:secretsmanager:eu-west-1:123456789012:secret:registry-creds-XyZ")
                        .build()
                        .unwrap(),
                )
        })
        .await
    }

    async fn create_service(&self, name: &str, td: &str, opted_in: bool, breaker_rollback: bool) {
        harness::ecs::create_service(
            &self.ecs,
            name,
            td,
            opted_in.then_some("true"),
            breaker_rollback,
        )
        .await
    }

    async fn deploy(&self, service: &str, td: &str) {
        harness::ecs::deploy(&self.ecs, service, td).await
    }

    /// The story's prologue: revisions 1 and 2 deployed successfully (their COMPLETED events
    /// delivered), then revision 3 deployed. Returns the three ARNs.
    async fn good_then_bad(
        &self,
        service: &str,
        opted_in: bool,
        breaker_rollback: bool,
    ) -> [String; 3] {
        let r1 = self.register(&format!("{REGISTRY}:a1b2c3d"), false).await;
        let r2 = self.register(&format!("{REGISTRY}:b2c3d4e"), false).await;
        let r3 = self.register(&format!("{REGISTRY}:c3d4e5f"), true).await;
        self.create_service(service, &r1, opted_in, breaker_rollback)
            .await;
        let completed = self
            .stand
            .deployment_state(service, "SUCCESSFUL", json!({}));
        self.stand.invoke(&completed);
        self.deploy(service, &r2).await;
        let completed = self
            .stand
            .deployment_state(service, "SUCCESSFUL", json!({}));
        self.stand.invoke(&completed);
        self.deploy(service, &r3).await;
        [r1, r2, r3]
    }

    async fn service_td(&self, service: &str) -> String {
        harness::ecs::service_td(&self.ecs, service).await
    }

    async fn td_pinned_from(&self, td: &str) -> Option<String> {
        harness::ecs::td_tags(&self.ecs, td)
            .await
            .into_iter()
            .find(|(k, _)| k == "ecs-rollback:pinned-from")
            .map(|(_, v)| v)
    }

    async fn ledger(&self, td: &str) -> Option<String> {
        harness::ecs::ledger(&self.ecs, td).await
    }

    async fn service_tag(&self, service: &str, key: &str) -> Option<String> {
        harness::ecs::service_tag(&self.ecs, service, key).await
    }

    /// A metric alarm on the service's CPU that explicitly guards it (tags
    /// `ecs-rollback:cluster`/`ecs-rollback:service`, rule 4), created through the Rust
    /// SDK (CBOR), and the EventBridge event of it entering ALARM now.
    async fn alarm(&self, name: &str, service: &str) -> Value {
        let event = self.dimension_alarm(name, service).await;
        let tag = |k: &str, v: &str| {
            aws_sdk_cloudwatch::types::Tag::builder()
                .key(k)
                .value(v)
                .build()
        };
        self.cloudwatch
            .tag_resource()
            .resource_arn(format!(
                "arn:aws:cloudwatch:{REGION}:{ACCOUNT}:alarm:{name}"
            ))
            .tags(tag("ecs-rollback:cluster", "demo"))
            .tags(tag("ecs-rollback:service", service))
            .send()
            .await
            .unwrap();
        event
    }

    /// The same alarm with the service's ClusterName/ServiceName dimensions only (no tags): it
    /// guards the service only if the service lists it among its deployment alarms.
    async fn dimension_alarm(&self, name: &str, service: &str) -> Value {
        let dim = |n: &str, v: &str| {
            aws_sdk_cloudwatch::types::Dimension::builder()
                .name(n)
                .value(v)
                .build()
        };
        self.cloudwatch
            .put_metric_alarm()
            .alarm_name(name)
            .namespace("AWS/ECS")
            .metric_name("CPUUtilization")
            .dimensions(dim("ClusterName", "demo"))
            .dimensions(dim("ServiceName", service))
            .statistic(aws_sdk_cloudwatch::types::Statistic::Average)
            .period(60)
            .evaluation_periods(1)
            .threshold(90.0)
            .comparison_operator(
                aws_sdk_cloudwatch::types::ComparisonOperator::GreaterThanThreshold,
            )
            .send()
            .await
            .unwrap();
        alarm_event(name, service)
    }

    /// The composite alarm of `events/cloudwatch-alarm-composite.json` over the metric alarm
    /// `hello-world-5xx`, both created through the Rust SDK (CBOR).
    async fn composite_alarm(&self) {
        self.alarm("hello-world-5xx", "hello-world").await;
        self.cloudwatch
            .put_composite_alarm()
            .alarm_name("hello-world-health")
            .alarm_rule(r#"ALARM("hello-world-5xx") OR ALARM(hello-world-latency)"#)
            .send()
            .await
            .unwrap();
        // The child that makes the composite ring is in ALARM in CloudWatch (the function reads
        // it there: the event's list of triggering children is a claim).
        self.cloudwatch
            .set_alarm_state()
            .alarm_name("hello-world-5xx")
            .state_value(aws_sdk_cloudwatch::types::StateValue::Alarm)
            .state_reason("Threshold Crossed: set by the scenario")
            .send()
            .await
            .unwrap();
    }

    /// The alarm an event names enters the event's state in CloudWatch now, as the real alarm
    /// does before CloudWatch emits the event (the function verifies every claim there); answers
    /// the event with that transition's time, as CloudWatch would send it.
    async fn ring(&self, event: &Value) -> Value {
        let mut event = event.clone();
        let key = if event.get("detail").is_some() {
            "detail"
        } else {
            "alarmData"
        };
        event[key]["state"]["timestamp"] = json!(chrono::Utc::now()
            .format("%Y-%m-%dT%H:%M:%S%.3f+0000")
            .to_string());
        let detail = &event[key];
        let name = detail["alarmName"].as_str().expect("alarmName");
        let state = detail["state"]["value"].as_str().unwrap_or("ALARM");
        self.cloudwatch
            .set_alarm_state()
            .alarm_name(name)
            .state_value(aws_sdk_cloudwatch::types::StateValue::from(state))
            .state_reason("set by the scenario before its event")
            .send()
            .await
            .unwrap_or_else(|e| panic!("SetAlarmState {name}: {e:?}"));
        event
    }

    /// [`World::ring`], then deliver the event.
    async fn raise(&self, event: &Value) -> Invoked {
        let event = self.ring(event).await;
        self.stand.invoke(&event)
    }

    fn rollback_writes(&self) -> usize {
        self.stand.count("UpdateService") + self.stand.count("StopServiceDeployment")
    }
}

fn action(inv: &Invoked) -> &str {
    assert!(
        inv.function_error.is_none(),
        "function error: {:?}",
        inv.body
    );
    inv.body["action"].as_str().unwrap_or("")
}

fn short(arn: &str) -> &str {
    arn.rsplit('/').next().unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn bad_deploy_is_rolled_back_to_the_good_revision_and_people_are_told() {
    let w = world(&[]).await;
    let [_, good, bad] = w.good_then_bad("hello-world", true, false).await;
    assert_eq!(
        w.ledger(&good).await.as_deref(),
        Some("stable"),
        "COMPLETED marked the good revision stable"
    );

    let failed = w.stand.deployment_state("hello-world", "FAILED", json!({}));
    let r = w.stand.invoke(&failed);
    assert_eq!(action(&r), "rolled_back", "{:?}", r.body);
    assert_eq!(r.body["from"], json!(bad));
    assert_eq!(r.body["to"], json!(good));

    assert_eq!(
        w.service_td("hello-world").await,
        good,
        "the service runs the good revision again"
    );
    assert_eq!(w.ledger(&bad).await.as_deref(), Some("bad"));
    assert_eq!(
        w.service_tag("hello-world", "ecs-rollback:last-rollback-to")
            .await
            .as_deref(),
        Some(good.as_str())
    );
    let notes = w.notifications(1).await;
    assert_eq!(notes.len(), 1, "{notes:?}");
    assert!(
        notes[0].contains(short(&bad)) && notes[0].contains(short(&good)),
        "{}",
        notes[0]
    );
    assert!(
        notes[0].contains(":b2c3d4e"),
        "the image tag is in the notification: {}",
        notes[0]
    );
    // Never leak container definitions, environment variables, secrets or registry credentials.
    let log = w.stand.lambda_log();
    for secret in [
        "hunter2",
        "DB_PASSWORD",
        "prod/api-token",
        "API_TOKEN",
        "registry-creds",
        "secretsmanager",
    ] {
        assert!(!log.contains(secret), "{secret} leaked into the logs");
        assert!(
            !notes[0].contains(secret),
            "{secret} leaked into the notification"
        );
    }
    assert!(
        log.contains(r#""message":"decision""#),
        "one structured decision line:\n{log}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn the_same_failed_event_three_times_rolls_back_once() {
    let w = world(&[]).await;
    let [_, good, _] = w.good_then_bad("hello-world", true, false).await;
    let failed = w.stand.deployment_state("hello-world", "FAILED", json!({}));
    let actions: Vec<String> = (0..3)
        .map(|_| action(&w.stand.invoke(&failed)).to_string())
        .collect();
    assert_eq!(actions, ["rolled_back", "skipped", "skipped"]);
    assert_eq!(
        w.stand.count("UpdateService"),
        3,
        "two set-up deploys plus exactly one rollback"
    );
    assert_eq!(w.service_td("hello-world").await, good);
}

#[tokio::test(flavor = "multi_thread")]
async fn circuit_breaker_already_rolling_back_means_no_action() {
    let w = world(&[]).await;
    let [_, good, _] = w.good_then_bad("hello-world", true, true).await;
    w.stand.clear_requests();
    let failed = w.stand.deployment_state("hello-world", "FAILED", json!({}));
    let r = w.stand.invoke(&failed);
    assert_eq!(action(&r), "skipped");
    assert!(
        r.body["reason"]
            .as_str()
            .unwrap()
            .contains("ECS is already rolling"),
        "{:?}",
        r.body
    );
    assert_eq!(w.rollback_writes(), 0);
    assert_eq!(
        w.service_td("hello-world").await,
        good,
        "ECS's own rollback is what moved it"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn alarm_during_a_deployment_stops_it_with_rollback() {
    let w = world(&[]).await;
    let [_, good, _] = w.good_then_bad("hello-world", true, false).await;
    let alarm = w.alarm("hello-world-5xx", "hello-world").await;
    w.stand.clear_requests();
    let r = w.raise(&alarm).await;
    assert_eq!(action(&r), "rolled_back", "{:?}", r.body);
    assert_eq!(w.stand.count("StopServiceDeployment"), 1);
    assert_eq!(w.stand.count("UpdateService"), 0);
    let state = w.stand.control(
        "GET",
        "/ecs/state?cluster=demo&service=hello-world",
        Value::Null,
    );
    assert!(
        state.to_string().contains("ROLLBACK_REQUESTED")
            || state.to_string().contains("ROLLBACK_IN_PROGRESS"),
        "{state}"
    );
    assert_eq!(w.service_td("hello-world").await, good);
}

#[tokio::test(flavor = "multi_thread")]
async fn alarm_after_completion_within_the_window_rolls_back() {
    let w = world(&[]).await;
    let [_, good, bad] = w.good_then_bad("hello-world", true, false).await;
    let completed = w
        .stand
        .deployment_state("hello-world", "SUCCESSFUL", json!({}));
    assert_eq!(action(&w.stand.invoke(&completed)), "recorded");
    assert_eq!(w.ledger(&bad).await.as_deref(), Some("stable"));
    let alarm = w.alarm("hello-world-5xx", "hello-world").await;
    let r = w.raise(&alarm).await;
    assert_eq!(action(&r), "rolled_back", "{:?}", r.body);
    assert_eq!(w.service_td("hello-world").await, good);
    assert_eq!(
        w.ledger(&bad).await.as_deref(),
        Some("bad"),
        "a rollback overrides the stable mark"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn alarm_outside_the_window_does_nothing() {
    let w = world(&[]).await;
    let [_, _, bad] = w.good_then_bad("hello-world", true, false).await;
    w.stand
        .deployment_state("hello-world", "SUCCESSFUL", json!({}));
    w.stand.control(
        "POST",
        "/ecs/created-at",
        json!({"cluster": "demo", "service": "hello-world", "secondsAgo": 7200}),
    );
    let alarm = w.alarm("hello-world-5xx", "hello-world").await;
    w.stand.clear_requests();
    let r = w.raise(&alarm).await;
    assert_eq!(action(&r), "skipped");
    assert!(
        r.body["reason"].as_str().unwrap().contains("alarm window"),
        "{:?}",
        r.body
    );
    assert_eq!(w.rollback_writes(), 0);
    assert_eq!(w.service_td("hello-world").await, bad);
}

#[tokio::test(flavor = "multi_thread")]
async fn composite_alarm_rolls_back_the_service_its_child_guards() {
    let w = world(&[]).await;
    let [_, good, _] = w.good_then_bad("hello-world", true, false).await;
    w.stand
        .deployment_state("hello-world", "SUCCESSFUL", json!({}));
    w.composite_alarm().await;
    let event = fixture("cloudwatch-alarm-composite.json");
    let r = w.raise(&event).await;
    assert_eq!(action(&r), "rolled_back", "{:?}", r.body);
    assert_eq!(w.service_td("hello-world").await, good);
    let cbor = w.stand.requests(Some("DescribeAlarms"));
    assert!(
        cbor.iter().any(|q| q["protocol"] == "rpc-v2-cbor"),
        "the Rust SDK spoke CBOR: {cbor:?}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_bad_revision_is_passed_over_and_an_inactive_stable_one_is_restored_by_copy() {
    let w = world(&[]).await;
    let [first, good, _] = w.good_then_bad("hello-world", true, false).await;
    // The previous good revision is banned by hand: the one before it is chosen.
    w.ecs
        .tag_resource()
        .resource_arn(&good)
        .tags(
            Tag::builder()
                .key("ecs-rollback:status")
                .value("bad")
                .build(),
        )
        .send()
        .await
        .unwrap();
    let failed = w.stand.deployment_state("hello-world", "FAILED", json!({}));
    let r = w.stand.invoke(&failed);
    assert_eq!(r.body["to"], json!(first), "{:?}", r.body);
    assert_eq!(w.service_td("hello-world").await, first);

    // The same story with the previous revision deregistered (INACTIVE), as CloudFormation, CDK
    // and Copilot do on every update: the proven-stable revision is restored by registering a
    // full copy of it, never skipped for being INACTIVE.
    let w = world(&[]).await;
    let [_, good, _] = w.good_then_bad("hello-world", true, false).await;
    w.ecs
        .deregister_task_definition()
        .task_definition(&good)
        .send()
        .await
        .unwrap();
    let failed = w.stand.deployment_state("hello-world", "FAILED", json!({}));
    let r = w.stand.invoke(&failed);
    assert_eq!(action(&r), "rolled_back", "{:?}", r.body);
    assert!(
        r.body["reason"].as_str().unwrap().contains("INACTIVE"),
        "{:?}",
        r.body
    );
    let running = w.service_td("hello-world").await;
    assert_ne!(running, good);
    assert_eq!(
        w.td_pinned_from(&running).await.as_deref(),
        Some(good.as_str())
    );
    let image = w
        .ecs
        .describe_task_definition()
        .task_definition(&running)
        .send()
        .await
        .unwrap();
    assert_eq!(
        image.task_definition().unwrap().container_definitions()[0].image(),
        Some(format!("{REGISTRY}:b2c3d4e").as_str()),
        "the copy runs the image the stable revision ran"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn latest_tagged_target_is_deployed_as_a_digest_pinned_copy() {
    let w = world(&[]).await;
    let latest = format!("{REGISTRY}:latest");
    let digest = format!("sha256:{}", "ab".repeat(32));
    w.stand.control(
        "POST",
        "/ecs/image-digest",
        json!({"image": latest, "digest": digest}),
    );
    let good = w.register(&latest, false).await;
    let bad = w.register(&format!("{REGISTRY}:c3d4e5f"), false).await;
    w.create_service("hello-world", &good, true, false).await;
    w.stand
        .deployment_state("hello-world", "SUCCESSFUL", json!({}));
    w.deploy("hello-world", &bad).await;
    let failed = w.stand.deployment_state("hello-world", "FAILED", json!({}));
    let r = w.stand.invoke(&failed);
    assert_eq!(action(&r), "rolled_back", "{:?}", r.body);
    let running = w.service_td("hello-world").await;
    assert_ne!(running, good, "a copy, not the tag-based revision");
    let out = w
        .ecs
        .describe_task_definition()
        .task_definition(&running)
        .include(TaskDefinitionField::Tags)
        .send()
        .await
        .unwrap();
    let image = out.task_definition().unwrap().container_definitions()[0]
        .image()
        .unwrap()
        .to_string();
    assert_eq!(image, format!("{REGISTRY}@{digest}"));
    assert!(out
        .tags()
        .iter()
        .any(|t| t.key() == Some("ecs-rollback:pinned-from") && t.value() == Some(good.as_str())));
}

#[tokio::test(flavor = "multi_thread")]
async fn cooldown_blocks_a_second_automatic_rollback() {
    // The cooldown guards against loops: after our rollback the alarm keeps ringing on the
    // restored revision, and the responder does not walk one revision further back. (A new
    // deployment after the rollback is a new incident: see
    // a_new_deployment_after_a_rollback_is_a_new_incident.)
    let w = world(&[]).await;
    let [_, good, _] = w.good_then_bad("hello-world", true, false).await;
    let failed = w.stand.deployment_state("hello-world", "FAILED", json!({}));
    assert_eq!(action(&w.stand.invoke(&failed)), "rolled_back");
    w.stand
        .deployment_state("hello-world", "SUCCESSFUL", json!({}));
    let alarm = w.alarm("hello-world-5xx", "hello-world").await;
    let early = task_stopped(
        "hello-world",
        &w.primary("hello-world").await.0,
        &good,
        "EssentialContainerExited",
    );
    w.set_failed_tasks("hello-world", 5);
    let alarm = w.ring(&alarm).await;
    w.stand.clear_requests();
    for event in [&alarm, &early] {
        let r = w.stand.invoke(event);
        assert_eq!(action(&r), "skipped", "{:?}", r.body);
        let reason = r.body["reason"].as_str().unwrap();
        assert!(
            reason.contains("already rolled back") || reason.contains("Cooldown"),
            "{reason}"
        );
    }
    assert_eq!(w.rollback_writes(), 0);
    assert_eq!(w.service_td("hello-world").await, good);
    assert_eq!(
        w.service_tag("hello-world", "ecs-rollback:last-rollback-to")
            .await
            .as_deref(),
        Some(good.as_str()),
        "the record of the first rollback stands"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn dry_run_changes_nothing() {
    let w = world(&[("ROLLBACK_DRY_RUN", "true")]).await;
    let [_, good, bad] = w.good_then_bad("hello-world", true, false).await;
    assert_eq!(
        w.ledger(&good).await,
        None,
        "dry run writes no ledger entry either"
    );
    w.stand.clear_requests();
    let failed = w.stand.deployment_state("hello-world", "FAILED", json!({}));
    let r = w.stand.invoke(&failed);
    assert_eq!(action(&r), "dry_run");
    assert_eq!(r.body["to"], json!(good));
    for op in [
        "UpdateService",
        "StopServiceDeployment",
        "TagResource",
        "RegisterTaskDefinition",
    ] {
        assert_eq!(w.stand.count(op), 0, "{op}");
    }
    assert_eq!(w.service_td("hello-world").await, bad);
    assert_eq!(
        w.notifications(1).await.len(),
        1,
        "a dry run notifies as a real run would"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn malformed_and_unknown_inputs_are_clear_errors_and_change_nothing() {
    let w = world(&[]).await;
    let [_, _, bad] = w.good_then_bad("hello-world", true, false).await;
    w.stand.clear_requests();
    let mut unknown_service = fixture("ecs-deployment-failed.json");
    unknown_service["resources"][0] =
        json!(format!("arn:aws:ecs:{REGION}:{ACCOUNT}:service/demo/nope"));
    let cases: Vec<(Vec<u8>, &str)> = vec![
        // lambda_runtime rejects bytes that are not JSON before our handler runs; its message says so.
        (b"{not json".to_vec(), "deserialize"),
        (fixture("invalid/lifecycle-hook-missing-target-revision.json").to_string().into_bytes(), "executionDetails.targetServiceRevisionArn"),
        (fixture("invalid/not-a-service-arn.json").to_string().into_bytes(), "resources[0]"),
        (fixture("invalid/direct-missing-service.json").to_string().into_bytes(), "service"),
        (unknown_service.to_string().into_bytes(), "nope"),
        (json!({"cluster": "demo", "service": "hello-world", "toTaskDefinition": "hello-world:99"}).to_string().into_bytes(), "hello-world:99"),
    ];
    for (payload, names) in cases {
        let r = w.stand.invoke_raw(&payload);
        assert_eq!(
            r.function_error.as_deref(),
            Some("Unhandled"),
            "{names}: {:?}",
            r.body
        );
        let message = r.body["errorMessage"].as_str().unwrap_or_default();
        assert!(message.contains(names), "{names}: {message}");
    }
    for op in [
        "UpdateService",
        "StopServiceDeployment",
        "TagResource",
        "RegisterTaskDefinition",
    ] {
        assert_eq!(w.stand.count(op), 0, "{op}");
    }
    assert_eq!(w.service_td("hello-world").await, bad);
    // The Lambda survived every one of them.
    let failed = w.stand.deployment_state("hello-world", "FAILED", json!({}));
    assert_eq!(action(&w.stand.invoke(&failed)), "rolled_back");
}

#[tokio::test(flavor = "multi_thread")]
async fn service_not_opted_in_is_left_alone() {
    let w = world(&[]).await;
    let [_, _, bad] = w.good_then_bad("hello-world", false, false).await;
    let failed = w.stand.deployment_state("hello-world", "FAILED", json!({}));
    let r = w.stand.invoke(&failed);
    assert_eq!(action(&r), "skipped");
    assert!(r.body["reason"].as_str().unwrap().contains("not opted in"));
    assert_eq!(w.service_td("hello-world").await, bad);
    assert_eq!(w.ledger(&bad).await, None);
}

fn fixture(name: &str) -> Value {
    let path = format!("{}/events/{name}", env!("CARGO_MANIFEST_DIR"));
    serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap()
}

/// A metric alarm event for `service` in cluster `demo`, timestamped now.
fn alarm_event(name: &str, service: &str) -> Value {
    let mut e = fixture("cloudwatch-alarm-metric.json");
    e["resources"][0] = json!(format!(
        "arn:aws:cloudwatch:{REGION}:{ACCOUNT}:alarm:{name}"
    ));
    e["detail"]["alarmName"] = json!(name);
    e["time"] = json!(chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true));
    e["detail"]["configuration"]["metrics"][0]["metricStat"]["metric"]["dimensions"] =
        json!({"ClusterName": "demo", "ServiceName": service});
    e
}

#[test]
fn the_stand_stops_when_dropped() {
    let stand = Stand::start();
    let pid = stand.doc["pid"].as_u64().unwrap();
    drop(stand);
    wait_for("the stand process to exit", Duration::from_secs(30), || {
        (!std::path::Path::new(&format!("/proc/{pid}")).exists()).then_some(())
    });
}

// ---------------------------------------------------------------------------------------------
// Early detection (task stops and service actions, counted by ECS's failedTasks)

impl World {
    /// The PRIMARY deployment's id and task definition.
    async fn primary(&self, service: &str) -> (String, String) {
        let out = self
            .ecs
            .describe_services()
            .cluster("demo")
            .services(service)
            .send()
            .await
            .unwrap();
        let d = out.services()[0]
            .deployments()
            .iter()
            .find(|d| d.status() == Some("PRIMARY"))
            .expect("a PRIMARY deployment")
            .clone();
        (
            d.id().unwrap().to_string(),
            d.task_definition().unwrap().to_string(),
        )
    }

    fn set_failed_tasks(&self, service: &str, n: u32) {
        self.stand.control(
            "POST",
            "/ecs/failed-tasks",
            json!({"cluster": "demo", "service": service, "failedTasks": n}),
        );
    }
}

/// An "ECS Task State Change" for a stopped task of `service` started by `deployment`.
fn task_stopped(service: &str, deployment: &str, td: &str, stop_code: &str) -> Value {
    let mut e = fixture("ecs-task-stopped-essential-exited.json");
    e["time"] = json!(chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true));
    e["detail"]["group"] = json!(format!("service:{service}"));
    e["detail"]["startedBy"] = json!(deployment);
    e["detail"]["taskDefinitionArn"] = json!(td);
    e["detail"]["stopCode"] = json!(stop_code);
    e
}

#[tokio::test(flavor = "multi_thread")]
async fn crash_looping_new_revision_is_rolled_back_after_the_configured_failures() {
    let w = world(&[("ROLLBACK_EARLY_FAILED_TASKS", "2")]).await;
    let [_, good, bad] = w.good_then_bad("hello-world", true, false).await;
    let (deployment, td) = w.primary("hello-world").await;
    assert_eq!(td, bad);

    // First crash: ECS counts 1 failed task, below the threshold.
    w.set_failed_tasks("hello-world", 1);
    let r = w.stand.invoke(&task_stopped(
        "hello-world",
        &deployment,
        &td,
        "EssentialContainerExited",
    ));
    assert_eq!(action(&r), "skipped", "{:?}", r.body);
    assert_eq!(w.service_td("hello-world").await, bad);

    // Second crash: the threshold is reached, long before the circuit breaker's (3).
    w.set_failed_tasks("hello-world", 2);
    let r = w.stand.invoke(&task_stopped(
        "hello-world",
        &deployment,
        &td,
        "TaskFailedToStart",
    ));
    assert_eq!(action(&r), "rolled_back", "{:?}", r.body);
    assert_eq!(r.body["to"], json!(good));
    assert!(w.stand.count("StopServiceDeployment") + w.stand.count("UpdateService") >= 1);
    assert_eq!(w.ledger(&bad).await.as_deref(), Some("bad"));
    assert_ne!(
        w.primary("hello-world").await.0,
        deployment,
        "a new deployment took over"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn spot_interruptions_scale_in_and_capacity_shortages_never_trigger() {
    let w = world(&[]).await;
    let [_, _, bad] = w.good_then_bad("hello-world", true, false).await;
    let (deployment, td) = w.primary("hello-world").await;
    w.set_failed_tasks("hello-world", 50);
    w.stand.clear_requests();
    for code in [
        "SpotInterruption",
        "ServiceSchedulerInitiated",
        "UserInitiated",
        "TerminationNotice",
    ] {
        let r = w
            .stand
            .invoke(&task_stopped("hello-world", &deployment, &td, code));
        assert_eq!(action(&r), "skipped", "{code}");
    }
    let mut placement = fixture("ecs-service-action-placement-failure.json");
    placement["resources"][0] = json!(format!(
        "arn:aws:ecs:{REGION}:{ACCOUNT}:service/demo/hello-world"
    ));
    assert_eq!(action(&w.stand.invoke(&placement)), "skipped");
    assert!(
        w.stand.requests(None).is_empty(),
        "not even a read: {:?}",
        w.stand.requests(None)
    );
    assert_eq!(w.service_td("hello-world").await, bad);
}

#[tokio::test(flavor = "multi_thread")]
async fn old_deployment_task_failures_during_a_rollout_do_not_count() {
    let w = world(&[]).await;
    let [_, good, bad] = w.good_then_bad("hello-world", true, false).await;
    let out = w
        .ecs
        .describe_services()
        .cluster("demo")
        .services("hello-world")
        .send()
        .await
        .unwrap();
    let old = out.services()[0]
        .deployments()
        .iter()
        .find(|d| d.status() == Some("ACTIVE"))
        .expect("the old deployment still runs during the rollout")
        .id()
        .unwrap()
        .to_string();
    w.set_failed_tasks("hello-world", 7);
    let r = w.stand.invoke(&task_stopped(
        "hello-world",
        &old,
        &good,
        "EssentialContainerExited",
    ));
    assert_eq!(action(&r), "skipped", "{:?}", r.body);
    assert!(
        r.body["reason"].as_str().unwrap().contains(&old),
        "{:?}",
        r.body
    );
    assert_eq!(w.service_td("hello-world").await, bad);
}

#[tokio::test(flavor = "multi_thread")]
async fn two_task_events_arriving_together_cause_one_rollback() {
    let w = world(&[]).await;
    let [_, good, _] = w.good_then_bad("hello-world", true, false).await;
    let (deployment, td) = w.primary("hello-world").await;
    w.set_failed_tasks("hello-world", 2);
    w.stand.clear_requests();
    let a = task_stopped("hello-world", &deployment, &td, "EssentialContainerExited");
    let b = task_stopped("hello-world", &deployment, &td, "TaskFailedToStart");
    let (ra, rb) = std::thread::scope(|s| {
        let ha = s.spawn(|| w.stand.invoke(&a));
        let hb = s.spawn(|| w.stand.invoke(&b));
        (ha.join().unwrap(), hb.join().unwrap())
    });
    let mut actions = vec![action(&ra).to_string(), action(&rb).to_string()];
    actions.sort();
    assert_eq!(
        actions,
        ["rolled_back", "skipped"],
        "{:?} / {:?}",
        ra.body,
        rb.body
    );
    assert_eq!(w.rollback_writes(), 1, "exactly one rollback call");
    assert_eq!(w.service_td("hello-world").await, good);
}

// ---------------------------------------------------------------------------------------------
// Faults injected at the stand, per AWS call (hardening): retried with backoff within the
// function timeout, at most one rollback write, never a wrong target; exhausted retries give a
// clear, retryable function error (so the event reaches the DLQ) and no write.

/// Good → bad → FAILED, with `fault` armed just before the FAILED event is delivered.
async fn failed_with_fault(fault: Value) -> (World, [String; 3], Invoked) {
    let w = world(&[]).await;
    let revs = w.good_then_bad("hello-world", true, false).await;
    let failed = w.stand.deployment_state("hello-world", "FAILED", json!({}));
    w.stand.clear_requests();
    w.stand.control("POST", "/faults", fault);
    let r = w.stand.invoke(&failed);
    // Disarm before the test reads the final state with its own client.
    w.stand.control("DELETE", "/faults", Value::Null);
    (w, revs, r)
}

/// Rolled back to the good revision with exactly `writes` UpdateService calls reaching ECS.
async fn assert_rolled_back_once(w: &World, revs: &[String; 3], r: &Invoked, what: &str) {
    assert_eq!(action(r), "rolled_back", "{what}: {:?}", r.body);
    assert_eq!(r.body["to"], json!(revs[1]), "{what}");
    assert_eq!(w.service_td("hello-world").await, revs[1], "{what}");
    let applied = w
        .stand
        .requests(Some("UpdateService"))
        .iter()
        .filter(|q| q["status"] == 200 || q["applied"] == true)
        .count();
    assert_eq!(applied, 1, "{what}: exactly one UpdateService took effect");
}

macro_rules! transient_fault_cases {
    ($($name:ident: $op:literal, $status:literal, $code:literal;)*) => {$(
        #[tokio::test(flavor = "multi_thread")]
        async fn $name() {
            let fault = json!({"operation": $op, "status": $status, "code": $code, "count": 2});
            let (w, revs, r) = failed_with_fault(fault).await;
            assert_rolled_back_once(&w, &revs, &r, concat!($op, " ", $code)).await;
            let hits = w.stand.requests(Some($op)).iter().filter(|q| q["injected"] == true).count();
            assert_eq!(hits, 2, "both faults were hit");
        }
    )*};
}

transient_fault_cases! {
    throttled_describe_services_is_retried: "DescribeServices", 400, "ThrottlingException";
    throttled_list_service_deployments_is_retried: "ListServiceDeployments", 400, "ThrottlingException";
    throttled_describe_service_revisions_is_retried: "DescribeServiceRevisions", 400, "ThrottlingException";
    throttled_describe_task_definition_is_retried: "DescribeTaskDefinition", 400, "ThrottlingException";
    throttled_update_service_is_retried_after_reading_again: "UpdateService", 400, "ThrottlingException";
    throttled_tag_resource_is_retried: "TagResource", 400, "ThrottlingException";
    server_error_describe_services_is_retried: "DescribeServices", 500, "ServerException";
    server_error_update_service_is_retried_after_reading_again: "UpdateService", 500, "ServerException";
    server_error_sns_publish_is_retried: "Publish", 500, "InternalError";
}

#[tokio::test(flavor = "multi_thread")]
async fn lost_update_service_response_is_not_repeated() {
    let fault = json!({"operation": "UpdateService", "status": 500, "code": "ServerException", "after": true});
    let (w, revs, r) = failed_with_fault(fault).await;
    assert_rolled_back_once(&w, &revs, &r, "lost response").await;
    assert_eq!(
        w.stand.count("UpdateService"),
        1,
        "the write was not sent again"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn connection_reset_on_update_service_is_survived() {
    let fault = json!({"operation": "UpdateService", "reset": true});
    let (w, revs, r) = failed_with_fault(fault).await;
    assert_rolled_back_once(&w, &revs, &r, "connection reset").await;
}

#[tokio::test(flavor = "multi_thread")]
async fn slow_response_past_the_client_timeout_is_retried() {
    // The SDK's attempt timeout is 10 s: one DescribeServices answer 12 s late times out.
    let fault = json!({"operation": "DescribeServices", "delay": 12});
    let (w, revs, r) = failed_with_fault(fault).await;
    assert_rolled_back_once(&w, &revs, &r, "slow response").await;
}

#[tokio::test(flavor = "multi_thread")]
async fn exhausted_retries_on_a_read_are_a_retryable_error_with_no_write() {
    let fault = json!({"operation": "DescribeServices", "status": 400, "code": "ThrottlingException", "count": -1});
    let (w, revs, r) = failed_with_fault(fault).await;
    assert_eq!(
        r.function_error.as_deref(),
        Some("Unhandled"),
        "{:?}",
        r.body
    );
    assert_eq!(r.body["errorType"], "AwsError.Retryable");
    assert!(
        r.body["errorMessage"]
            .as_str()
            .unwrap()
            .contains("ThrottlingException"),
        "{:?}",
        r.body
    );
    assert_eq!(w.rollback_writes(), 0);
    assert_eq!(w.service_td("hello-world").await, revs[2], "untouched");
    let notes = w.notifications(1).await;
    assert!(
        notes.iter().any(|n| n.contains("ThrottlingException")),
        "the failure is notified: {notes:?}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn exhausted_retries_on_the_write_are_a_retryable_error_and_never_a_wrong_target() {
    let fault = json!({"operation": "UpdateService", "status": 500, "code": "ServerException", "count": -1});
    let (w, revs, r) = failed_with_fault(fault).await;
    assert_eq!(
        r.function_error.as_deref(),
        Some("Unhandled"),
        "{:?}",
        r.body
    );
    assert_eq!(
        w.service_td("hello-world").await,
        revs[2],
        "no rollback happened, and none to a wrong revision"
    );
    // The loop guard is written before the write and removed again when the write fails:
    // nothing recorded remains, and no revision is marked bad.
    assert_eq!(
        w.service_tag("hello-world", "ecs-rollback:last-rollback-at")
            .await,
        None,
        "nothing recorded"
    );
    assert_ne!(
        w.ledger(&revs[2]).await.as_deref(),
        Some("bad"),
        "nothing recorded"
    );
    assert!(w.stand.count("UpdateService") <= 3, "bounded attempts");
}

#[tokio::test(flavor = "multi_thread")]
async fn history_api_down_falls_back_and_still_rolls_back() {
    let fault = json!({"operation": "ListServiceDeployments", "status": 500, "code": "ServerException", "count": -1});
    let (w, revs, r) = failed_with_fault(fault).await;
    assert_rolled_back_once(&w, &revs, &r, "history down").await;
    assert!(
        w.stand.lambda_log().contains("falling back"),
        "the fallback is said in the log"
    );
}

// ---------------------------------------------------------------------------------------------
// Races and ordering

#[tokio::test(flavor = "multi_thread")]
async fn an_alarm_and_a_failed_event_for_the_same_deployment_act_once() {
    let w = world(&[]).await;
    let [_, good, _] = w.good_then_bad("hello-world", true, false).await;
    let alarm = w.alarm("hello-world-5xx", "hello-world").await;
    let failed = w.stand.deployment_state("hello-world", "FAILED", json!({}));
    let alarm = w.ring(&alarm).await;
    w.stand.clear_requests();
    let (ra, rb) = std::thread::scope(|s| {
        let a = s.spawn(|| w.stand.invoke(&alarm));
        let b = s.spawn(|| w.stand.invoke(&failed));
        (a.join().unwrap(), b.join().unwrap())
    });
    let mut actions = vec![action(&ra).to_string(), action(&rb).to_string()];
    actions.sort();
    assert_eq!(
        actions,
        ["rolled_back", "skipped"],
        "{:?} / {:?}",
        ra.body,
        rb.body
    );
    assert_eq!(w.rollback_writes(), 1);
    assert_eq!(w.service_td("hello-world").await, good);
}

#[tokio::test(flavor = "multi_thread")]
async fn completed_of_an_old_deployment_after_failed_of_a_newer_one_records_nothing() {
    let w = world(&[]).await;
    let r1 = w.register(&format!("{REGISTRY}:a1b2c3d"), false).await;
    let r2 = w.register(&format!("{REGISTRY}:b2c3d4e"), false).await;
    w.create_service("hello-world", &r1, true, false).await;
    let completed_r1 = w
        .stand
        .deployment_state("hello-world", "SUCCESSFUL", json!({}));
    w.deploy("hello-world", &r2).await;
    let failed_r2 = w.stand.deployment_state("hello-world", "FAILED", json!({}));
    assert_eq!(action(&w.stand.invoke(&failed_r2)), "rolled_back");
    w.stand.clear_requests();
    // EventBridge delivers the old COMPLETED late.
    let r = w.stand.invoke(&completed_r1);
    assert_eq!(action(&r), "skipped", "{:?}", r.body);
    assert!(
        r.body["reason"].as_str().unwrap().contains("Stale"),
        "{:?}",
        r.body
    );
    assert_eq!(w.stand.count("TagResource"), 0);
    assert_eq!(
        w.ledger(&r2).await.as_deref(),
        Some("bad"),
        "the late COMPLETED did not bless the bad revision"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn events_for_a_deployment_the_service_has_left_are_stale() {
    let w = world(&[]).await;
    let [_, _, bad] = w.good_then_bad("hello-world", true, false).await;
    let failed = w.stand.deployment_state("hello-world", "FAILED", json!({}));
    // A human fixes forward before the event is handled.
    let fixed = w.register(&format!("{REGISTRY}:e5f6a7b"), false).await;
    w.deploy("hello-world", &fixed).await;
    w.stand.clear_requests();
    let r = w.stand.invoke(&failed);
    assert_eq!(action(&r), "skipped", "{:?}", r.body);
    assert!(
        r.body["reason"].as_str().unwrap().contains("Stale"),
        "{:?}",
        r.body
    );
    assert_eq!(w.rollback_writes(), 0);
    assert_eq!(w.service_td("hello-world").await, fixed);
    assert_eq!(w.ledger(&bad).await, None);
}

#[tokio::test(flavor = "multi_thread")]
async fn connection_reset_on_a_read_is_retried() {
    let fault = json!({"operation": "DescribeServices", "reset": true, "count": 2});
    let (w, revs, r) = failed_with_fault(fault).await;
    assert_rolled_back_once(&w, &revs, &r, "reset on DescribeServices").await;
}

#[tokio::test(flavor = "multi_thread")]
async fn server_error_on_stop_service_deployment_is_retried_after_reading_again() {
    let w = world(&[]).await;
    let [_, good, _] = w.good_then_bad("hello-world", true, false).await;
    let alarm = w.alarm("hello-world-5xx", "hello-world").await;
    w.stand.clear_requests();
    w.stand.control(
        "POST",
        "/faults",
        json!({"operation": "StopServiceDeployment", "status": 500, "code": "ServerException", "count": 1}),
    );
    let r = w.raise(&alarm).await;
    w.stand.control("DELETE", "/faults", Value::Null);
    assert_eq!(action(&r), "rolled_back", "{:?}", r.body);
    let stops = w.stand.requests(Some("StopServiceDeployment"));
    assert_eq!(
        stops.len(),
        2,
        "one failed attempt, one after reading again: {stops:?}"
    );
    assert_eq!(stops.iter().filter(|q| q["status"] == 200).count(), 1);
    assert_eq!(w.service_td("hello-world").await, good);
}

#[tokio::test(flavor = "multi_thread")]
async fn throttled_register_task_definition_still_deploys_one_pinned_copy() {
    let w = world(&[]).await;
    let latest = format!("{REGISTRY}:latest");
    w.stand.control(
        "POST",
        "/ecs/image-digest",
        json!({"image": latest, "digest": format!("sha256:{}", "cd".repeat(32))}),
    );
    let good = w.register(&latest, false).await;
    let bad = w.register(&format!("{REGISTRY}:c3d4e5f"), false).await;
    w.create_service("hello-world", &good, true, false).await;
    w.stand
        .deployment_state("hello-world", "SUCCESSFUL", json!({}));
    w.deploy("hello-world", &bad).await;
    let failed = w.stand.deployment_state("hello-world", "FAILED", json!({}));
    w.stand.clear_requests();
    w.stand.control(
        "POST",
        "/faults",
        json!({"operation": "RegisterTaskDefinition", "status": 400, "code": "ThrottlingException", "count": 2}),
    );
    let r = w.stand.invoke(&failed);
    w.stand.control("DELETE", "/faults", Value::Null);
    assert_eq!(action(&r), "rolled_back", "{:?}", r.body);
    let registered = w.stand.requests(Some("RegisterTaskDefinition"));
    assert_eq!(
        registered.iter().filter(|q| q["status"] == 200).count(),
        1,
        "{registered:?}"
    );
    assert_eq!(w.stand.count("UpdateService"), 1);
    let running = w.service_td("hello-world").await;
    assert!(
        w.td_pinned_from(&running).await.as_deref() == Some(good.as_str()),
        "{running}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn throttled_cloudwatch_reads_are_retried_for_a_composite_alarm() {
    let w = world(&[]).await;
    let [_, good, _] = w.good_then_bad("hello-world", true, false).await;
    w.stand
        .deployment_state("hello-world", "SUCCESSFUL", json!({}));
    w.composite_alarm().await;
    w.stand.clear_requests();
    for op in ["ListTagsForResource", "DescribeAlarms"] {
        w.stand.control(
            "POST",
            "/faults",
            json!({"service": "cloudwatch", "operation": op, "status": 400, "code": "Throttling", "count": 1}),
        );
    }
    let r = w.raise(&fixture("cloudwatch-alarm-composite.json")).await;
    w.stand.control("DELETE", "/faults", Value::Null);
    assert_eq!(action(&r), "rolled_back", "{:?}", r.body);
    let injected = w
        .stand
        .requests(None)
        .iter()
        .filter(|q| q["injected"] == true)
        .count();
    assert_eq!(injected, 2, "both CloudWatch faults were hit and survived");
    assert_eq!(w.service_td("hello-world").await, good);
}

// ---------------------------------------------------------------------------------------------
// Trigger trust (rules 3, 4, 8, 10) and every real payload shape.

impl World {
    /// List `alarms` among the service's ECS deployment alarms (a deploymentConfiguration
    /// change: no new deployment).
    async fn list_deployment_alarms(
        &self,
        service: &str,
        alarms: &[&str],
        rollback: bool,
        breaker_rollback: bool,
    ) {
        use aws_sdk_ecs::types::{
            DeploymentAlarms, DeploymentCircuitBreaker, DeploymentConfiguration,
        };
        self.ecs
            .update_service()
            .cluster("demo")
            .service(service)
            .deployment_configuration(
                DeploymentConfiguration::builder()
                    .deployment_circuit_breaker(
                        DeploymentCircuitBreaker::builder()
                            .enable(true)
                            .rollback(breaker_rollback)
                            .build(),
                    )
                    .alarms(
                        DeploymentAlarms::builder()
                            .set_alarm_names(Some(alarms.iter().map(|a| a.to_string()).collect()))
                            .enable(true)
                            .rollback(rollback)
                            .build()
                            .unwrap(),
                    )
                    .build(),
            )
            .send()
            .await
            .unwrap();
    }

    /// Application Auto Scaling's target-tracking AlarmLow: ECS dimensions, a scaling-policy
    /// action, the `TargetTracking-` name.
    async fn target_tracking_alarm_low(&self, service: &str) -> Value {
        let name = format!(
            "TargetTracking-service/demo/{service}-AlarmLow-5f3c8e1a-2b4d-4e6f-8a9b-0c1d2e3f4a5b"
        );
        let dim = |n: &str, v: &str| {
            aws_sdk_cloudwatch::types::Dimension::builder()
                .name(n)
                .value(v)
                .build()
        };
        self.cloudwatch
            .put_metric_alarm()
            .alarm_name(&name)
            .namespace("AWS/ECS")
            .metric_name("CPUUtilization")
            .dimensions(dim("ClusterName", "demo"))
            .dimensions(dim("ServiceName", service))
            .statistic(aws_sdk_cloudwatch::types::Statistic::Average)
            .period(60)
            .evaluation_periods(15)
            .threshold(40.5)
            .comparison_operator(aws_sdk_cloudwatch::types::ComparisonOperator::LessThanThreshold)
            .alarm_actions(format!(
                "arn:aws:autoscaling:{REGION}:{ACCOUNT}:scalingPolicy:8d5c2f1e-3a4b-4c5d-9e6f-7a8b9c0d1e2f:resource/ecs/service/demo/{service}:policyName/cpu-target-tracking"
            ))
            .send()
            .await
            .unwrap();
        let mut e = fixture("cloudwatch-alarm-target-tracking-low.json");
        e["resources"][0] = json!(format!(
            "arn:aws:cloudwatch:{REGION}:{ACCOUNT}:alarm:{name}"
        ));
        e["detail"]["alarmName"] = json!(name);
        e["time"] = json!(chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true));
        e
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn target_tracking_alarm_low_never_rolls_back() {
    let w = world(&[]).await;
    let [_, _, bad] = w.good_then_bad("hello-world", true, false).await;
    w.stand
        .deployment_state("hello-world", "SUCCESSFUL", json!({}));
    let event = w.target_tracking_alarm_low("hello-world").await;
    w.stand.clear_requests();
    let r = w.raise(&event).await;
    assert_eq!(action(&r), "skipped", "{:?}", r.body);
    assert!(
        r.body["reason"]
            .as_str()
            .unwrap()
            .contains("Application Auto Scaling"),
        "{:?}",
        r.body
    );
    assert_eq!(w.rollback_writes() + w.stand.count("TagResource"), 0);
    assert_eq!(
        w.service_td("hello-world").await,
        bad,
        "a healthy service is left alone"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn untagged_dimension_alarm_guards_only_when_the_service_lists_it() {
    let w = world(&[]).await;
    let [_, good, bad] = w.good_then_bad("hello-world", true, false).await;
    w.stand
        .deployment_state("hello-world", "SUCCESSFUL", json!({}));
    let event = w.dimension_alarm("hello-world-5xx", "hello-world").await;
    w.stand.clear_requests();
    let r = w.raise(&event).await;
    assert_eq!(action(&r), "skipped", "{:?}", r.body);
    assert!(
        r.body["reason"]
            .as_str()
            .unwrap()
            .contains("deployment alarms"),
        "{:?}",
        r.body
    );
    assert_eq!(w.rollback_writes(), 0);
    assert_eq!(w.service_td("hello-world").await, bad);

    // The team lists it among the service's deployment alarms: the alarms given to ECS keep
    // guarding after the deployment completed.
    w.list_deployment_alarms("hello-world", &["hello-world-5xx"], false, false)
        .await;
    let r = w.raise(&event).await;
    assert_eq!(action(&r), "rolled_back", "{:?}", r.body);
    assert_eq!(w.service_td("hello-world").await, good);
}

#[tokio::test(flavor = "multi_thread")]
async fn deployment_alarm_with_ecs_rollback_during_the_deployment_is_left_to_ecs() {
    let w = world(&[]).await;
    let [_, _, bad] = w.good_then_bad("hello-world", true, false).await;
    w.list_deployment_alarms("hello-world", &["hello-world-5xx"], true, false)
        .await;
    let event = w.dimension_alarm("hello-world-5xx", "hello-world").await;
    w.stand.clear_requests();
    let r = w.raise(&event).await;
    assert_eq!(action(&r), "skipped", "{:?}", r.body);
    assert!(
        r.body["reason"]
            .as_str()
            .unwrap()
            .contains("ECS rolls it back itself"),
        "{:?}",
        r.body
    );
    assert_eq!(w.rollback_writes(), 0);
    assert_eq!(w.service_td("hello-world").await, bad);
}

#[tokio::test(flavor = "multi_thread")]
async fn circuit_breaker_failure_is_ours_when_only_the_deployment_alarms_roll_back() {
    let w = world(&[]).await;
    let [_, good, _] = w.good_then_bad("hello-world", true, false).await;
    w.list_deployment_alarms("hello-world", &["hello-world-5xx"], true, false)
        .await;
    let failed =
        w.stand
            .deployment_state("hello-world", "FAILED", json!({"cause": "circuitBreaker"}));
    let r = w.stand.invoke(&failed);
    assert_eq!(action(&r), "rolled_back", "{:?}", r.body);
    assert_eq!(w.service_td("hello-world").await, good);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_requested_target_of_another_family_is_refused() {
    let w = world(&[]).await;
    let [_, _, bad] = w.good_then_bad("hello-world", true, false).await;
    let admin = w
        .ecs
        .register_task_definition()
        .family("admin-tools")
        .container_definitions(
            aws_sdk_ecs::types::ContainerDefinition::builder()
                .name("admin")
                .image("admin:1")
                .memory(256)
                .build(),
        )
        .send()
        .await
        .unwrap()
        .task_definition()
        .unwrap()
        .task_definition_arn()
        .unwrap()
        .to_string();
    w.stand.clear_requests();
    let r = w.stand.invoke(
        &json!({"cluster": "demo", "service": "hello-world", "toTaskDefinition": short(&admin)}),
    );
    assert_eq!(action(&r), "skipped", "{:?}", r.body);
    let reason = r.body["reason"].as_str().unwrap();
    assert!(
        reason.contains("admin-tools") && reason.contains("hello-world"),
        "{reason}"
    );
    assert_eq!(w.rollback_writes() + w.stand.count("TagResource"), 0);
    assert_eq!(w.service_td("hello-world").await, bad);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_failed_bookkeeping_write_never_causes_a_second_rollback() {
    let w = world(&[]).await;
    let [_, good, _] = w.good_then_bad("hello-world", true, false).await;
    // Every TagResource fails (the 50-tag limit, say): neither the loop guard nor the ledger
    // can be written.
    w.stand.control(
        "POST",
        "/faults",
        json!({"service": "ecs", "operation": "TagResource", "status": 400, "code": "InvalidParameterException", "message": "Too many tags", "count": -1}),
    );
    let failed = w.stand.deployment_state("hello-world", "FAILED", json!({}));
    let r = w.stand.invoke(&failed);
    assert_eq!(action(&r), "rolled_back", "{:?}", r.body);
    assert!(
        r.body["reason"]
            .as_str()
            .unwrap()
            .contains("could not be written"),
        "{:?}",
        r.body
    );
    assert_eq!(w.service_td("hello-world").await, good);
    w.stand
        .deployment_state("hello-world", "SUCCESSFUL", json!({}));
    // The alarm keeps ringing on the restored revision: no walk further back.
    // (CloudWatch's TagResource is not failing: the alarm itself can be tagged.)
    let alarm = w.alarm("hello-world-5xx", "hello-world").await;
    w.stand.clear_requests();
    let r = w.raise(&alarm).await;
    assert_eq!(action(&r), "skipped", "{:?}", r.body);
    assert!(
        r.body["reason"]
            .as_str()
            .unwrap()
            .contains("deployment history"),
        "{:?}",
        r.body
    );
    assert_eq!(w.rollback_writes(), 0);
    assert_eq!(w.service_td("hello-world").await, good);
}

#[tokio::test(flavor = "multi_thread")]
async fn an_alarm_within_the_cooldown_after_an_ecs_circuit_breaker_rollback_does_nothing() {
    let w = world(&[("ROLLBACK_ALARM_WINDOW_MINUTES", "0")]).await;
    let [_, good, _] = w.good_then_bad("hello-world", true, true).await;
    // ECS's circuit breaker rolls 3 back to 2 and finishes.
    w.stand.deployment_state("hello-world", "FAILED", json!({}));
    w.stand
        .deployment_state("hello-world", "SUCCESSFUL", json!({}));
    assert_eq!(w.service_td("hello-world").await, good);
    let alarm = w.alarm("hello-world-5xx", "hello-world").await;
    w.stand.clear_requests();
    let r = w.raise(&alarm).await;
    assert_eq!(action(&r), "skipped", "{:?}", r.body);
    assert!(
        r.body["reason"]
            .as_str()
            .unwrap()
            .contains("ECS itself rolled the service back"),
        "{:?}",
        r.body
    );
    assert_eq!(w.rollback_writes(), 0);
    assert_eq!(
        w.service_td("hello-world").await,
        good,
        "not one revision further back"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_multi_service_alarm_with_an_unknown_service_still_handles_the_known_one() {
    let w = world(&[]).await;
    let [_, good, _] = w.good_then_bad("hello-world", true, false).await;
    w.stand
        .deployment_state("hello-world", "SUCCESSFUL", json!({}));
    w.alarm("demo-cluster-errors", "hello-world").await;
    let tag = |k: &str, v: &str| {
        aws_sdk_cloudwatch::types::Tag::builder()
            .key(k)
            .value(v)
            .build()
    };
    w.cloudwatch
        .tag_resource()
        .resource_arn(format!(
            "arn:aws:cloudwatch:{REGION}:{ACCOUNT}:alarm:demo-cluster-errors"
        ))
        .tags(tag("ecs-rollback:service", "hello-world checkout"))
        .send()
        .await
        .unwrap();
    let mut event = fixture("cloudwatch-alarm-two-services.json");
    event["time"] = json!(chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true));
    let r = w.raise(&event).await;
    assert!(r.function_error.is_none(), "{:?}", r.body);
    let responses = r.body.as_array().expect("one response per service").clone();
    assert_eq!(responses.len(), 2, "{responses:?}");
    assert_eq!(responses[0]["action"], "rolled_back");
    assert_eq!(responses[1]["service"], "checkout");
    assert_eq!(responses[1]["action"], "skipped");
    assert_eq!(w.service_td("hello-world").await, good);
}

#[tokio::test(flavor = "multi_thread")]
async fn an_alarm_action_invoking_the_function_directly_rolls_back() {
    let w = world(&[]).await;
    let [_, good, _] = w.good_then_bad("hello-world", true, false).await;
    w.stand
        .deployment_state("hello-world", "SUCCESSFUL", json!({}));
    w.alarm("hello-world-5xx", "hello-world").await;
    let mut event = fixture("cloudwatch-alarm-action-lambda.json");
    event["time"] = json!(chrono::Utc::now()
        .format("%Y-%m-%dT%H:%M:%S%.3f+0000")
        .to_string());
    let r = w.raise(&event).await;
    assert_eq!(action(&r), "rolled_back", "{:?}", r.body);
    assert_eq!(w.service_td("hello-world").await, good);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_suppressed_composite_alarm_does_nothing() {
    let w = world(&[]).await;
    let [_, _, bad] = w.good_then_bad("hello-world", true, false).await;
    w.stand
        .deployment_state("hello-world", "SUCCESSFUL", json!({}));
    w.composite_alarm().await;
    w.stand.clear_requests();
    let r = w
        .raise(&fixture("cloudwatch-alarm-composite-suppressed.json"))
        .await;
    assert_eq!(action(&r), "skipped", "{:?}", r.body);
    assert!(
        r.body["reason"]
            .as_str()
            .unwrap()
            .contains("hello-world-maintenance-window"),
        "{:?}",
        r.body
    );
    assert_eq!(w.rollback_writes() + w.stand.count("TagResource"), 0);
    assert_eq!(w.service_td("hello-world").await, bad);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_new_deployment_after_a_rollback_is_a_new_incident() {
    let w = world(&[]).await;
    let [_, good, _] = w.good_then_bad("hello-world", true, false).await;
    let failed = w.stand.deployment_state("hello-world", "FAILED", json!({}));
    assert_eq!(action(&w.stand.invoke(&failed)), "rolled_back");
    w.stand
        .deployment_state("hello-world", "SUCCESSFUL", json!({}));
    // Minutes later the team deploys a fix that is broken too: a new incident, not a loop.
    let worse = w.register(&format!("{REGISTRY}:d4e5f6a"), false).await;
    w.deploy("hello-world", &worse).await;
    let failed = w.stand.deployment_state("hello-world", "FAILED", json!({}));
    let r = w.stand.invoke(&failed);
    assert_eq!(action(&r), "rolled_back", "{:?}", r.body);
    assert_eq!(w.service_td("hello-world").await, good);
}

// ---------------------------------------------------------------------------------------------
// Service-revision rollback (rules 5–7) and the deployment strategies.

impl World {
    async fn force_deploy(&self, service: &str) {
        self.ecs
            .update_service()
            .cluster("demo")
            .service(service)
            .force_new_deployment(true)
            .send()
            .await
            .unwrap();
    }

    fn set_digest(&self, image: &str, digest: &str) {
        self.stand.control(
            "POST",
            "/ecs/image-digest",
            json!({"image": image, "digest": digest}),
        );
    }

    /// A service with a traffic-shifting strategy (`BLUE_GREEN`, `LINEAR`, `CANARY`), 10 min
    /// bake time, opted in.
    async fn create_shifting_service(&self, name: &str, td: &str, strategy: &str) {
        use aws_sdk_ecs::types::{
            CanaryConfiguration, DeploymentConfiguration, DeploymentStrategy, LinearConfiguration,
        };
        let mut cfg = DeploymentConfiguration::builder()
            .strategy(DeploymentStrategy::from(strategy))
            .bake_time_in_minutes(10);
        cfg = match strategy {
            "LINEAR" => cfg.linear_configuration(
                LinearConfiguration::builder()
                    .step_percent(25.0)
                    .step_bake_time_in_minutes(1)
                    .build(),
            ),
            "CANARY" => cfg.canary_configuration(
                CanaryConfiguration::builder()
                    .canary_percent(10.0)
                    .canary_bake_time_in_minutes(5)
                    .build(),
            ),
            _ => cfg,
        };
        self.ecs
            .create_service()
            .cluster("demo")
            .service_name(name)
            .task_definition(td)
            .desired_count(2)
            .deployment_configuration(cfg.build())
            .tags(
                Tag::builder()
                    .key("ecs-rollback:enabled")
                    .value("true")
                    .build(),
            )
            .send()
            .await
            .unwrap();
    }

    fn advance(&self, service: &str, until: &str) -> Value {
        self.stand.advance(service, Some(until))
    }

    async fn service_json(&self, service: &str) -> Value {
        self.stand.control(
            "GET",
            &format!("/ecs/state?cluster=demo&service={service}"),
            Value::Null,
        )
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_re_pushed_latest_is_restored_to_the_digest_that_ran() {
    // The seed article's pain: the pipeline re-pushes app:latest and force-deploys the same
    // revision. It ran fine twice with digest A; the third deployment pulled digest B and failed.
    let w = world(&[]).await;
    let latest = format!("{REGISTRY}:latest");
    let a = format!("sha256:{}", "a1".repeat(32));
    let b = format!("sha256:{}", "b2".repeat(32));
    w.set_digest(&latest, &a);
    let web = w.register(&latest, false).await;
    w.create_service("hello-world", &web, true, false).await;
    let completed = w
        .stand
        .deployment_state("hello-world", "SUCCESSFUL", json!({}));
    assert_eq!(action(&w.stand.invoke(&completed)), "recorded");
    w.force_deploy("hello-world").await;
    let completed = w
        .stand
        .deployment_state("hello-world", "SUCCESSFUL", json!({}));
    w.stand.invoke(&completed);
    w.set_digest(&latest, &b);
    w.force_deploy("hello-world").await;
    let failed = w.stand.deployment_state("hello-world", "FAILED", json!({}));
    let r = w.stand.invoke(&failed);
    assert_eq!(action(&r), "rolled_back", "{:?}", r.body);
    assert!(
        r.body["reason"]
            .as_str()
            .unwrap()
            .contains("same task definition"),
        "{:?}",
        r.body
    );
    let running = w.service_td("hello-world").await;
    assert_ne!(running, web, "a registered copy, pinned");
    assert_eq!(
        w.td_pinned_from(&running).await.as_deref(),
        Some(web.as_str())
    );
    let td = w
        .ecs
        .describe_task_definition()
        .task_definition(&running)
        .send()
        .await
        .unwrap();
    assert_eq!(
        td.task_definition().unwrap().container_definitions()[0].image(),
        Some(format!("{REGISTRY}@{a}").as_str()),
        "digest A, the one that ran"
    );
    assert_eq!(
        w.ledger(&web).await.as_deref(),
        Some("stable"),
        "the task definition ran fine with digest A: not marked bad"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_network_only_change_that_fails_is_undone() {
    use aws_sdk_ecs::types::{AwsVpcConfiguration, NetworkConfiguration};
    let net = |subnet: &str| {
        NetworkConfiguration::builder()
            .awsvpc_configuration(
                AwsVpcConfiguration::builder()
                    .subnets(subnet)
                    .security_groups("sg-0a1b2c3d")
                    .build()
                    .unwrap(),
            )
            .build()
    };
    let w = world(&[]).await;
    let td = w.register(&format!("{REGISTRY}:a1b2c3d"), false).await;
    w.create_service("hello-world", &td, true, false).await;
    w.ecs
        .update_service()
        .cluster("demo")
        .service("hello-world")
        .network_configuration(net("subnet-good"))
        .send()
        .await
        .unwrap();
    w.stand
        .deployment_state("hello-world", "SUCCESSFUL", json!({}));
    // Only the subnets change: same task definition, a new service revision.
    w.ecs
        .update_service()
        .cluster("demo")
        .service("hello-world")
        .network_configuration(net("subnet-broken"))
        .send()
        .await
        .unwrap();
    let failed = w.stand.deployment_state("hello-world", "FAILED", json!({}));
    let r = w.stand.invoke(&failed);
    assert_eq!(action(&r), "rolled_back", "{:?}", r.body);
    assert!(
        r.body["reason"]
            .as_str()
            .unwrap()
            .contains("restoring networkConfiguration"),
        "{:?}",
        r.body
    );
    let svc = w
        .ecs
        .describe_services()
        .cluster("demo")
        .services("hello-world")
        .send()
        .await
        .unwrap();
    let subnets = svc.services()[0]
        .network_configuration()
        .and_then(|n| n.awsvpc_configuration())
        .map(|a| a.subnets().to_vec())
        .unwrap_or_default();
    assert_eq!(
        subnets,
        vec!["subnet-good".to_string()],
        "the configuration that ran is back"
    );
    assert_eq!(w.service_td("hello-world").await, td);
    assert_ne!(
        w.ledger(&td).await.as_deref(),
        Some("bad"),
        "a good task definition is not blamed"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_refused_pinned_copy_falls_back_to_an_unpinned_rollback_and_says_so() {
    let w = world(&[]).await;
    let latest = format!("{REGISTRY}:latest");
    w.set_digest(&latest, &format!("sha256:{}", "ab".repeat(32)));
    let good = w.register(&latest, false).await;
    let bad = w.register(&format!("{REGISTRY}:c3d4e5f"), false).await;
    w.create_service("hello-world", &good, true, false).await;
    w.stand
        .deployment_state("hello-world", "SUCCESSFUL", json!({}));
    w.deploy("hello-world", &bad).await;
    // iam:PassRole denied for the copy's roles.
    w.stand.control(
        "POST",
        "/faults",
        json!({"service": "ecs", "operation": "RegisterTaskDefinition", "status": 400, "code": "AccessDeniedException", "message": "User is not authorized to perform: iam:PassRole", "count": -1}),
    );
    let failed = w.stand.deployment_state("hello-world", "FAILED", json!({}));
    let r = w.stand.invoke(&failed);
    assert_eq!(action(&r), "rolled_back", "{:?}", r.body);
    let reason = r.body["reason"].as_str().unwrap();
    assert!(
        reason.contains("Registering the pinned copy failed") && reason.contains("unpinned"),
        "{reason}"
    );
    assert_eq!(
        w.service_td("hello-world").await,
        good,
        "the revision itself, unpinned"
    );
    let notes = w.notifications(1).await;
    assert!(notes.iter().any(|n| n.contains("unpinned")), "{notes:?}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_traffic_shifting_deployment_failing_in_bake_time_is_stopped_and_traffic_returns() {
    for strategy in ["BLUE_GREEN", "LINEAR", "CANARY"] {
        let w = world(&[]).await;
        let good = w.register(&format!("{REGISTRY}:a1b2c3d"), false).await;
        let bad = w.register(&format!("{REGISTRY}:c3d4e5f"), false).await;
        w.create_shifting_service("hello-world", &good, strategy)
            .await;
        w.advance("hello-world", "COMPLETE");
        w.deploy("hello-world", &bad).await;
        let out = w.advance("hello-world", "BAKE_TIME");
        assert_eq!(out["lifecycleStage"], "BAKE_TIME", "{strategy}: {out}");
        let alarm = w.alarm("hello-world-5xx", "hello-world").await;
        w.stand.clear_requests();
        let r = w.raise(&alarm).await;
        assert_eq!(action(&r), "rolled_back", "{strategy}: {:?}", r.body);
        let reason = r.body["reason"].as_str().unwrap();
        assert!(
            reason.contains("shifts production traffic back") && reason.contains(strategy),
            "{strategy}: {reason}"
        );
        assert_eq!(w.stand.count("StopServiceDeployment"), 1, "{strategy}");
        assert_eq!(w.stand.count("UpdateService"), 0, "{strategy}");
        assert_eq!(
            w.stand.count("RegisterTaskDefinition"),
            0,
            "{strategy}: no new revision"
        );
        let state = w.service_json("hello-world").await.to_string();
        assert!(state.contains("ROLLBACK_"), "{strategy}: {state}");
        assert_eq!(
            w.service_td("hello-world").await,
            good,
            "{strategy}: the old revision serves"
        );
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn an_alarm_after_a_completed_traffic_shifting_deployment_redeploys_the_old_revision() {
    for strategy in ["BLUE_GREEN", "LINEAR", "CANARY"] {
        let w = world(&[]).await;
        let good = w.register(&format!("{REGISTRY}:a1b2c3d"), false).await;
        let bad = w.register(&format!("{REGISTRY}:c3d4e5f"), false).await;
        w.create_shifting_service("hello-world", &good, strategy)
            .await;
        w.advance("hello-world", "COMPLETE");
        w.deploy("hello-world", &bad).await;
        w.advance("hello-world", "COMPLETE");
        let alarm = w.alarm("hello-world-5xx", "hello-world").await;
        w.stand.clear_requests();
        let r = w.raise(&alarm).await;
        assert_eq!(action(&r), "rolled_back", "{strategy}: {:?}", r.body);
        let reason = r.body["reason"].as_str().unwrap();
        assert!(
            reason.contains(&format!("full {strategy} deployment"))
                && reason.contains("10 min bake time"),
            "{strategy}: {reason}"
        );
        assert_eq!(w.stand.count("UpdateService"), 1, "{strategy}");
        assert_eq!(w.service_td("hello-world").await, good, "{strategy}");
    }
}

// ---------------------------------------------------------------------------------------------
// Incidents over time: sequences of events that single-event rules got wrong, with the release
// binary on a stand whose UpdateService starts a new PRIMARY deployment as ECS does.

#[tokio::test(flavor = "multi_thread")]
async fn a_flapping_alarm_after_our_rollback_is_reported_never_a_second_step_back() {
    // No cooldown at all: only the incident rules stand between a flapping alarm and a walk
    // back through older revisions.
    let w = world(&[("ROLLBACK_COOLDOWN_MINUTES", "0")]).await;
    let [_, good, bad] = w.good_then_bad("hello-world", true, false).await;
    w.stand
        .deployment_state("hello-world", "SUCCESSFUL", json!({}));
    let alarm = w.alarm("hello-world-5xx", "hello-world").await;
    let r = w.raise(&alarm).await;
    assert_eq!(action(&r), "rolled_back", "{:?}", r.body);
    assert_eq!(w.service_td("hello-world").await, good);
    // Our UpdateService started a new deployment of the proven revision; it completes.
    w.stand
        .deployment_state("hello-world", "SUCCESSFUL", json!({}));
    w.stand.clear_requests();
    // The alarm's cause was downstream: it flaps OK → ALARM twice more.
    for _ in 0..2 {
        w.cloudwatch
            .set_alarm_state()
            .alarm_name("hello-world-5xx")
            .state_value(aws_sdk_cloudwatch::types::StateValue::Ok)
            .state_reason("recovered")
            .send()
            .await
            .unwrap();
        let r = w.raise(&alarm).await;
        assert_eq!(action(&r), "skipped", "{:?}", r.body);
        let reason = r.body["reason"].as_str().unwrap();
        assert!(
            reason.contains("did not clear the alarm") && reason.contains("a person decides"),
            "{reason}"
        );
    }
    assert_eq!(w.rollback_writes(), 0, "never a step further back");
    assert_eq!(w.service_td("hello-world").await, good);
    assert_ne!(
        w.ledger(&good).await.as_deref(),
        Some("bad"),
        "the proven revision is never marked bad"
    );
    assert_eq!(w.ledger(&bad).await.as_deref(), Some("bad"));
    let told = w.notifications(3).await;
    assert!(
        told.iter().any(|m| m.contains("did not clear the alarm")),
        "{told:?}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_late_alarm_never_undoes_a_persons_fix() {
    let w = world(&[]).await;
    let [_, _, bad] = w.good_then_bad("hello-world", true, false).await;
    w.stand
        .deployment_state("hello-world", "SUCCESSFUL", json!({}));
    // The alarm rings for the bad revision; its event is throttled and queued.
    let alarm = w.alarm("hello-world-5xx", "hello-world").await;
    let alarm = w.ring(&alarm).await;
    // The on-call engineer ships a fix two minutes after the alarm rang (the stand moves the
    // fix's start instead of waiting two minutes).
    let fix = w.register(&format!("{REGISTRY}:d4e5f60"), false).await;
    w.deploy("hello-world", &fix).await;
    w.stand.control(
        "POST",
        "/ecs/created-at",
        json!({"cluster": "demo", "service": "hello-world", "secondsAgo": -120}),
    );
    w.stand.clear_requests();
    // The queued alarm event arrives now, while the fix rolls out.
    let r = w.stand.invoke(&alarm);
    assert_eq!(action(&r), "skipped", "{:?}", r.body);
    assert!(
        r.body["reason"]
            .as_str()
            .unwrap()
            .starts_with("Stale alarm"),
        "{:?}",
        r.body
    );
    assert_eq!(w.rollback_writes(), 0, "the fix keeps rolling out");
    assert_eq!(w.service_td("hello-world").await, fix);
    assert_eq!(w.ledger(&fix).await, None, "the fix is never tagged bad");
    assert_ne!(w.service_td("hello-world").await, bad);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_loop_guard_left_by_a_failed_invocation_is_not_a_rollback() {
    // The first invocation writes the loop guard, then its UpdateService fails and so does the
    // removal of the guard (as when Lambda stops an invocation between two writes): the
    // service keeps tags of a rollback that never happened. Lambda retries the event.
    let w = world(&[]).await;
    let [_, good, bad] = w.good_then_bad("hello-world", true, false).await;
    let failed = w.stand.deployment_state("hello-world", "FAILED", json!({}));
    for op in ["UpdateService", "UntagResource"] {
        w.stand.control(
            "POST",
            "/faults",
            json!({"service": "ecs", "operation": op, "status": 400, "code": "AccessDeniedException", "message": "denied", "count": 1}),
        );
    }
    let first = w.stand.invoke(&failed);
    w.stand.control("DELETE", "/faults", Value::Null);
    assert!(first.function_error.is_some(), "{:?}", first.body);
    assert_eq!(
        w.service_tag("hello-world", "ecs-rollback:last-rollback-to")
            .await
            .as_deref(),
        Some(good.as_str()),
        "the guard of the rollback that never happened is still there"
    );
    assert_eq!(w.service_td("hello-world").await, bad);
    // Lambda's retry: the memory has no evidence (no deployment of the target started since),
    // so it is said and ignored, and the failed revision is rolled back now.
    let retry = w.stand.invoke(&failed);
    assert_eq!(action(&retry), "rolled_back", "{:?}", retry.body);
    let reason = retry.body["reason"].as_str().unwrap();
    assert!(reason.contains("never took effect"), "{reason}");
    assert_eq!(w.service_td("hello-world").await, good);
}

/// The alarm-action form of [`alarm_event`] (CloudWatch invoking the function directly).
fn alarm_action_event(name: &str) -> Value {
    let mut e = fixture("cloudwatch-alarm-action-lambda.json");
    e["alarmArn"] = json!(format!(
        "arn:aws:cloudwatch:{REGION}:{ACCOUNT}:alarm:{name}"
    ));
    e["accountId"] = json!(ACCOUNT);
    e["region"] = json!(REGION);
    e["alarmData"]["alarmName"] = json!(name);
    e["alarmData"]["state"]["timestamp"] = json!(chrono::Utc::now()
        .format("%Y-%m-%dT%H:%M:%S%.3f+0000")
        .to_string());
    e
}

#[tokio::test(flavor = "multi_thread")]
async fn a_forged_alarm_claim_writes_nothing_in_either_payload_form() {
    // The alarm guards the service and the new revision is bad, but the alarm is OK in
    // CloudWatch: a payload saying ALARM is a claim CloudWatch refutes.
    let w = world(&[]).await;
    let [_, _, bad] = w.good_then_bad("hello-world", true, false).await;
    let eventbridge = w.alarm("hello-world-5xx", "hello-world").await;
    let mut eventbridge = eventbridge.clone();
    eventbridge["detail"]["state"]["timestamp"] = json!(chrono::Utc::now()
        .format("%Y-%m-%dT%H:%M:%S%.3f+0000")
        .to_string());
    w.stand.clear_requests();
    for (form, event) in [
        ("EventBridge", eventbridge),
        ("alarm action", alarm_action_event("hello-world-5xx")),
    ] {
        let r = w.stand.invoke(&event);
        assert_eq!(r.function_error, None, "{form}: {:?}", r.body);
        assert_eq!(action(&r), "skipped", "{form}: {:?}", r.body);
        assert!(
            r.body["reason"]
                .as_str()
                .unwrap()
                .contains("in CloudWatch now"),
            "{form}: {:?}",
            r.body
        );
    }
    assert_eq!(w.rollback_writes(), 0);
    assert_eq!(w.stand.count("TagResource"), 0);
    assert_eq!(w.service_td("hello-world").await, bad);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_forged_failed_event_for_a_completed_deployment_writes_nothing() {
    let w = world(&[]).await;
    let [_, _, newest] = w.good_then_bad("hello-world", true, false).await;
    let completed = w
        .stand
        .deployment_state("hello-world", "SUCCESSFUL", json!({}));
    assert_eq!(action(&w.stand.invoke(&completed)), "recorded");
    let mut forged = completed.clone();
    forged["detail"]["eventName"] = json!("SERVICE_DEPLOYMENT_FAILED");
    forged["detail"]["eventType"] = json!("ERROR");
    forged["detail"]["reason"] = json!("ECS deployment circuit breaker: tasks failed to start.");
    w.stand.clear_requests();
    let r = w.stand.invoke(&forged);
    assert_eq!(r.function_error, None, "{:?}", r.body);
    assert_eq!(action(&r), "skipped", "{:?}", r.body);
    assert!(
        r.body["reason"]
            .as_str()
            .unwrap()
            .contains("ECS reports it COMPLETED"),
        "{:?}",
        r.body
    );
    assert_eq!(w.rollback_writes(), 0);
    assert_eq!(w.stand.count("TagResource"), 0);
    assert_eq!(w.service_td("hello-world").await, newest);
}

#[tokio::test(flavor = "multi_thread")]
async fn with_cloudwatch_answering_after_40_s_the_responder_answers_before_its_timeout() {
    // A 15 s function timeout and a CloudWatch 40 s slow: left to the SDK, the alarm read would
    // outlive the invocation. Bounded by the deadline, the function answers in time with a
    // retryable error (Lambda retries the event), having written nothing.
    let w = world_with(&["--function-timeout", "15"], &[]).await;
    let [_, _, bad] = w.good_then_bad("hello-world", true, false).await;
    let alarm = w.alarm("hello-world-5xx", "hello-world").await;
    let alarm = w.ring(&alarm).await;
    w.stand.add_latency_to("cloudwatch", 40_000, None);
    w.stand.clear_requests();
    let r = w.stand.invoke(&alarm);
    assert!(r.function_error.is_some(), "{:?}", r.body);
    let body = r.body.to_string();
    assert!(
        body.contains("deadline") && !body.contains("Task timed out"),
        "{body}"
    );
    assert_eq!(w.rollback_writes(), 0);
    assert_eq!(w.service_td("hello-world").await, bad);
    // CloudWatch recovers; Lambda's retry of the same event rolls back.
    w.stand.control("DELETE", "/latency", Value::Null);
    let r = w.stand.invoke(&alarm);
    assert_eq!(action(&r), "rolled_back", "{:?}", r.body);
}

#[tokio::test(flavor = "multi_thread")]
async fn an_alarm_muted_by_an_alarm_mute_rule_does_nothing_until_the_mute_ends() {
    let w = world(&[]).await;
    let [_, good, bad] = w.good_then_bad("hello-world", true, false).await;
    let alarm = w.alarm("hello-world-5xx", "hello-world").await;
    // A maintenance window that began a minute ago and lasts an hour.
    let began = (chrono::Utc::now() - chrono::Duration::minutes(1))
        .format("%Y-%m-%dT%H:%M:%S")
        .to_string();
    w.cloudwatch
        .put_alarm_mute_rule()
        .name("maintenance")
        .rule(
            aws_sdk_cloudwatch::types::Rule::builder()
                .schedule(
                    aws_sdk_cloudwatch::types::Schedule::builder()
                        .expression(format!("at({began})"))
                        .duration("PT1H")
                        .build(),
                )
                .build(),
        )
        .mute_targets(
            aws_sdk_cloudwatch::types::MuteTargets::builder()
                .alarm_names("hello-world-5xx")
                .build(),
        )
        .send()
        .await
        .unwrap();
    let alarm = w.ring(&alarm).await;
    w.stand.clear_requests();
    let r = w.stand.invoke(&alarm);
    assert_eq!(action(&r), "skipped", "{:?}", r.body);
    assert!(
        r.body["reason"]
            .as_str()
            .unwrap()
            .contains("muted by the alarm mute rule maintenance"),
        "{:?}",
        r.body
    );
    assert_eq!(w.rollback_writes(), 0);
    assert_eq!(w.service_td("hello-world").await, bad);
    // The mute ends: the same alarm acts.
    w.cloudwatch
        .delete_alarm_mute_rule()
        .alarm_mute_rule_name("maintenance")
        .send()
        .await
        .unwrap();
    let r = w.stand.invoke(&alarm);
    assert_eq!(action(&r), "rolled_back", "{:?}", r.body);
    assert_eq!(w.service_td("hello-world").await, good);
}

// ---- Rollbacks that respect the database schema ----

impl World {
    async fn tag(&self, arn: &str, key: &str, value: &str) {
        self.ecs
            .tag_resource()
            .resource_arn(arn)
            .tags(Tag::builder().key(key).value(value).build())
            .send()
            .await
            .unwrap();
    }

    /// The three revisions declare schemas 4, 5 and 6: the bad one migrated the database to 6.
    async fn migrated_forward(&self, service: &str, down_migration: bool) -> [String; 3] {
        let revs = self.good_then_bad(service, true, false).await;
        for (rev, schema) in revs.iter().zip(["4", "5", "6"]) {
            self.tag(rev, "ecs-rollback:schema", schema).await;
        }
        if down_migration {
            let migrate = aws_sdk_ecs::types::ContainerDefinition::builder()
                .name("migrate")
                .image(format!("{REGISTRY}-migrate:c3d4e5f"))
                .essential(true)
                .memory(256)
                .build();
            self.ecs
                .register_task_definition()
                .family("hello-migrate")
                .container_definitions(migrate)
                .send()
                .await
                .unwrap();
            let service_arn = format!("arn:aws:ecs:{}:{}:service/demo/{service}", REGION, ACCOUNT);
            self.tag(&service_arn, "ecs-rollback:migration", "hello-migrate")
                .await;
        }
        // Writes are counted from here: the prologue's own deployments are not rollbacks.
        self.stand.clear_requests();
        revs
    }

    /// The down-migration task the responder started for `service` (by the recorded ID).
    async fn migration_task(&self, service: &str) -> Value {
        let id = self
            .service_tag(service, "ecs-rollback:migration-id")
            .await
            .expect("the migration is recorded on the service");
        let tasks = self.stand.control(
            "POST",
            "/ecs/tasks",
            json!({"startedBy": format!("ecs-rollback/{id}")}),
        )["tasks"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        assert_eq!(tasks.len(), 1, "one migration task: {tasks:?}");
        tasks[0].clone()
    }

    /// The migration task ends with `exit_code`; returns ECS's Task State Change event.
    fn migration_ends(&self, task: &Value, exit_code: Value) -> Value {
        self.stand.control(
            "POST",
            "/ecs/task-exit",
            json!({"taskArn": task["taskArn"], "exitCode": exit_code}),
        )["event"]
            .clone()
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_revision_that_migrated_forward_is_not_rolled_back_onto_code_for_the_old_schema() {
    let w = world(&[]).await;
    let [_, good, bad] = w.migrated_forward("hello-world", false).await;
    let failed = w.stand.deployment_state("hello-world", "FAILED", json!({}));
    let r = w.stand.invoke(&failed);
    assert_eq!(action(&r), "skipped", "{:?}", r.body);
    let reason = r.body["reason"].as_str().unwrap();
    assert!(
        reason.contains("schema in force is 6 (declared by hello-world:3)")
            && reason.contains("hello-world:2 runs against schema 5"),
        "{reason}"
    );
    assert_eq!(
        w.service_td("hello-world").await,
        bad,
        "nothing was rolled back"
    );
    assert_eq!(w.rollback_writes(), 0);
    assert_eq!(w.stand.count("RunTask"), 0);
    let notes = w.notifications(1).await;
    assert!(
        notes.iter().any(|n| n.contains("schema in force is 6")
            && n.contains("--to hello-world:2 --force")),
        "the notification names both versions and the next step: {notes:?}"
    );
    // The target declares nothing of schema 6, and stays unmarked: it is not the target's fault.
    assert_eq!(w.ledger(&good).await.as_deref(), Some("stable"));
}

#[tokio::test(flavor = "multi_thread")]
async fn a_down_migration_runs_first_and_the_rollback_follows_when_it_exits_0() {
    let w = world(&[]).await;
    let [_, good, bad] = w.migrated_forward("hello-world", true).await;
    let failed = w.stand.deployment_state("hello-world", "FAILED", json!({}));
    let r = w.stand.invoke(&failed);
    assert_eq!(action(&r), "migrating", "{:?}", r.body);
    assert_eq!(
        w.service_td("hello-world").await,
        bad,
        "no rollback before the migration"
    );
    let task = w.migration_task("hello-world").await;
    let env = &task["overrides"]["containerOverrides"][0]["environment"];
    assert_eq!(
        env,
        &json!([
            {"name": "ECS_ROLLBACK_SCHEMA_FROM", "value": "6"},
            {"name": "ECS_ROLLBACK_SCHEMA_TO", "value": "5"}
        ]),
        "{task}"
    );
    assert_eq!(task["group"], json!("ecs-rollback:hello-world"));

    // Duplicates and retries while it runs start nothing more.
    let again = w.stand.invoke(&failed);
    assert_eq!(
        again.body["reason"]
            .as_str()
            .map(|r| r.contains("A down migration")),
        Some(true),
        "{:?}",
        again.body
    );
    assert_eq!(w.stand.count("RunTask"), 1);

    let stopped = w.migration_ends(&task, json!(0));
    let r = w.stand.invoke(&stopped);
    assert_eq!(action(&r), "rolled_back", "{:?}", r.body);
    assert_eq!(r.body["to"], json!(good));
    assert_eq!(w.service_td("hello-world").await, good);
    assert_eq!(
        w.service_tag("hello-world", "ecs-rollback:migration-result")
            .await
            .as_deref(),
        Some("succeeded")
    );
    // The same stopped event again is a duplicate: no second rollback.
    let dup = w.stand.invoke(&stopped);
    assert_eq!(action(&dup), "skipped", "{:?}", dup.body);
    assert_eq!(w.rollback_writes(), 1);
    let notes = w.notifications(2).await;
    assert!(
        notes
            .iter()
            .any(|n| n.contains("migrating the database down")),
        "{notes:?}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_failed_down_migration_is_reported_and_nothing_is_rolled_back() {
    let w = world(&[]).await;
    let [_, _, bad] = w.migrated_forward("hello-world", true).await;
    let failed = w.stand.deployment_state("hello-world", "FAILED", json!({}));
    assert_eq!(action(&w.stand.invoke(&failed)), "migrating");
    let task = w.migration_task("hello-world").await;
    let stopped = w.migration_ends(&task, json!(3));
    let r = w.stand.invoke(&stopped);
    assert_eq!(action(&r), "skipped", "{:?}", r.body);
    let reason = r.body["reason"].as_str().unwrap();
    assert!(reason.contains("failed (migrate exited 3"), "{reason}");
    assert_eq!(w.service_td("hello-world").await, bad);
    assert_eq!(w.rollback_writes(), 0);
    assert_eq!(
        w.service_tag("hello-world", "ecs-rollback:migration-result")
            .await
            .as_deref(),
        Some("failed: migrate exited 3")
    );
    // The failure's own events now leave it to a person.
    let again = w.stand.invoke(&failed);
    assert_eq!(action(&again), "skipped");
    assert!(
        again.body["reason"]
            .as_str()
            .unwrap()
            .contains("a person must decide"),
        "{:?}",
        again.body
    );
    assert_eq!(w.stand.count("RunTask"), 1);
    let notes = w.notifications(2).await;
    assert!(
        notes.iter().any(|n| n.contains("migrate exited 3")),
        "{notes:?}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_stuck_down_migration_is_stopped_past_its_time_and_nothing_is_rolled_back() {
    let w = world(&[("ROLLBACK_MIGRATION_TIMEOUT_MINUTES", "0")]).await;
    let [_, _, bad] = w.migrated_forward("hello-world", true).await;
    let failed = w.stand.deployment_state("hello-world", "FAILED", json!({}));
    assert_eq!(action(&w.stand.invoke(&failed)), "migrating");
    let task = w.migration_task("hello-world").await;
    // The next event for the service finds the migration past its time (0 min here).
    let later = harness::wait_for(
        "the migration to be overdue",
        Duration::from_secs(30),
        || {
            let r = w.stand.invoke(&failed);
            (r.body["reason"]
                .as_str()
                .unwrap_or("")
                .contains("has not finished within"))
            .then_some(r)
        },
    );
    assert_eq!(action(&later), "skipped");
    assert_eq!(w.service_td("hello-world").await, bad);
    assert_eq!(w.stand.count("StopTask"), 1, "the overdue task is stopped");
    assert_eq!(
        w.service_tag("hello-world", "ecs-rollback:migration-result")
            .await
            .as_deref(),
        Some("timed out")
    );
    // Its stop event then changes nothing.
    let stopped = w.stand.control(
        "POST",
        "/ecs/tasks",
        json!({"startedBy": task["startedBy"]}),
    )["tasks"][0]
        .clone();
    assert_eq!(stopped["lastStatus"], json!("STOPPED"), "{stopped}");
    assert_eq!(w.rollback_writes(), 0);
}

// ---- ECS as it is now: pause hooks, the configurable circuit breaker, Express Mode ----

impl World {
    /// A rolling service (revision `r1`, then a deployment of `r2`) held at POST_SCALE_UP by a
    /// pause hook, asking ecs-rollback to answer it; returns the ECS Hook State Change event.
    async fn paused_rolling(&self, service: &str, r1: &str, r2: &str) -> Value {
        use aws_sdk_ecs::types::{
            DeploymentConfiguration, DeploymentLifecycleHook, DeploymentLifecycleHookStage,
            DeploymentLifecycleHookTargetType,
        };
        self.create_service(service, r1, true, false).await;
        let service_arn = format!("arn:aws:ecs:{REGION}:{ACCOUNT}:service/demo/{service}");
        self.tag(&service_arn, "ecs-rollback:pause-hooks", "true")
            .await;
        self.ecs
            .update_service()
            .cluster("demo")
            .service(service)
            .task_definition(r2)
            .deployment_configuration(
                DeploymentConfiguration::builder()
                    .lifecycle_hooks(
                        DeploymentLifecycleHook::builder()
                            .target_type(DeploymentLifecycleHookTargetType::Pause)
                            .lifecycle_stages(DeploymentLifecycleHookStage::PostScaleUp)
                            .build(),
                    )
                    .build(),
            )
            .send()
            .await
            .unwrap();
        let held = self.stand.advance(service, None);
        assert!(
            !held["awaitingAction"].is_null(),
            "held at the pause: {held}"
        );
        held["awaitingAction"]["event"].clone()
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_rolling_deployment_held_by_a_pause_hook_is_continued_when_healthy() {
    let w = world(&[]).await;
    let r1 = w.register(&format!("{REGISTRY}:a1b2c3d"), false).await;
    let r2 = w.register(&format!("{REGISTRY}:b2c3d4e"), false).await;
    let paused = w.paused_rolling("hello-world", &r1, &r2).await;
    assert_eq!(paused["detail"]["eventName"], json!("HOOK_AWAITING_ACTION"));
    let r = w.stand.invoke(&paused);
    assert_eq!(action(&r), "continued", "{:?}", r.body);
    assert_eq!(w.stand.count("ContinueServiceDeployment"), 1);
    let request = &w.stand.requests(Some("ContinueServiceDeployment"))[0];
    assert!(request.to_string().contains("CONTINUE"), "{request}");
    // The deployment goes on and completes; the same event again finds no pause.
    let done = w.stand.advance("hello-world", None);
    assert_eq!(
        done["serviceDeployment"]["status"],
        json!("SUCCESSFUL"),
        "{done}"
    );
    let again = w.stand.invoke(&paused);
    assert_eq!(action(&again), "skipped", "{:?}", again.body);
    assert_eq!(w.stand.count("ContinueServiceDeployment"), 1);
    assert_eq!(w.rollback_writes(), 1, "only the person's deployment");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_rolling_deployment_held_by_a_pause_hook_is_rolled_back_when_its_guard_fires() {
    let w = world(&[]).await;
    let r1 = w.register(&format!("{REGISTRY}:a1b2c3d"), false).await;
    let r2 = w.register(&format!("{REGISTRY}:b2c3d4e"), false).await;
    let alarm = w.alarm("hello-world-5xx", "hello-world").await;
    let paused = w.paused_rolling("hello-world", &r1, &r2).await;
    // The guard rings after the deployment started.
    w.ring(&alarm).await;
    let r = w.stand.invoke(&paused);
    assert_eq!(action(&r), "rolled_back", "{:?}", r.body);
    assert_eq!(r.body["to"], json!(r1), "{:?}", r.body);
    let reason = r.body["reason"].as_str().unwrap();
    assert!(
        reason.contains("hello-world-5xx") && reason.contains("ROLLBACK"),
        "{reason}"
    );
    let request = &w.stand.requests(Some("ContinueServiceDeployment"))[0];
    assert!(request.to_string().contains("ROLLBACK"), "{request}");
    let notes = w.notifications(1).await;
    assert!(!notes.is_empty());
}

#[tokio::test(flavor = "multi_thread")]
async fn a_count_2_cumulative_breaker_rolls_back_itself_and_early_detection_stands_back() {
    use aws_sdk_ecs::types::{
        DeploymentCircuitBreaker, DeploymentConfiguration, ThresholdConfiguration, ThresholdType,
    };
    let w = world(&[]).await;
    let r1 = w.register(&format!("{REGISTRY}:a1b2c3d"), false).await;
    let r2 = w.register(&format!("{REGISTRY}:b2c3d4e"), false).await;
    w.create_service("hello-world", &r1, true, true).await;
    w.stand
        .deployment_state("hello-world", "SUCCESSFUL", json!({}));
    w.ecs
        .update_service()
        .cluster("demo")
        .service("hello-world")
        .task_definition(&r2)
        .deployment_configuration(
            DeploymentConfiguration::builder()
                .deployment_circuit_breaker(
                    DeploymentCircuitBreaker::builder()
                        .enable(true)
                        .rollback(true)
                        .threshold_configuration(
                            ThresholdConfiguration::builder()
                                .r#type(ThresholdType::Count)
                                .value(2)
                                .build()
                                .unwrap(),
                        )
                        .reset_on_healthy_task(false)
                        .build(),
                )
                .build(),
        )
        .send()
        .await
        .unwrap();
    w.stand.clear_requests();
    // The first crash: ECS's breaker (COUNT 2, cumulative) acts no later than early detection.
    let first = w
        .stand
        .task_stopped("hello-world", "EssentialContainerExited", json!({}));
    let r = w.stand.invoke(&first);
    assert_eq!(action(&r), "skipped", "{:?}", r.body);
    let reason = r.body["reason"].as_str().unwrap();
    assert!(
        reason.contains("ECS's circuit breaker") && reason.contains("ECS acts"),
        "{reason}"
    );
    // The second crash trips ECS's breaker: ECS rolls back; the responder stands back.
    let second = w
        .stand
        .task_stopped("hello-world", "EssentialContainerExited", json!({}));
    let r = w.stand.invoke(&second);
    assert_eq!(action(&r), "skipped", "{:?}", r.body);
    assert_eq!(w.rollback_writes(), 0, "ECS rolls back, not the responder");
    let status = w.stand.control(
        "POST",
        "/ecs/state",
        json!({"cluster": "demo", "service": "hello-world"}),
    );
    assert!(
        status.to_string().contains("ROLLBACK"),
        "ECS rolled back: {status}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn an_express_services_canary_is_ecss_and_a_4xx_burst_after_completion_rolls_nothing_back() {
    let w = world(&[]).await;
    let made = w.stand.control(
        "POST",
        "/ecs/express-service",
        json!({"serviceName": "shop", "cluster": "demo", "tags": [{"key": "ecs-rollback:enabled", "value": "true"}]}),
    );
    let alarm = made["alarmName"]
        .as_str()
        .expect("the built-in alarm")
        .to_string();
    let service = made["service"]["serviceName"].as_str().unwrap().to_string();
    let td = made["service"]["taskDefinition"]
        .as_str()
        .unwrap()
        .to_string();
    // An update: ECS runs a canary guarded by its built-in alarm.
    w.ecs
        .update_service()
        .cluster("demo")
        .service(&service)
        .task_definition(&td)
        .force_new_deployment(true)
        .send()
        .await
        .unwrap();
    w.stand.deployment_state(&service, "IN_PROGRESS", json!({}));
    let canary = w.raise(&alarm_event(&alarm, &service)).await;
    assert_eq!(action(&canary), "skipped", "{:?}", canary.body);
    assert!(
        canary.body["reason"]
            .as_str()
            .unwrap()
            .contains("ECS rolls it back itself"),
        "during the canary the alarm is ECS's: {:?}",
        canary.body
    );
    // Completed; then a scanner's burst of 4xx rings the same alarm: nothing is rolled back.
    w.cloudwatch
        .set_alarm_state()
        .alarm_name(&alarm)
        .state_value(aws_sdk_cloudwatch::types::StateValue::Ok)
        .state_reason("recovered")
        .send()
        .await
        .unwrap();
    w.stand.advance(&service, None);
    w.stand.clear_requests();
    let burst = w.raise(&alarm_event(&alarm, &service)).await;
    assert_eq!(action(&burst), "skipped", "{:?}", burst.body);
    assert!(
        burst.body["reason"]
            .as_str()
            .unwrap()
            .contains("Express service's own deployment alarm"),
        "{:?}",
        burst.body
    );
    assert_eq!(w.rollback_writes(), 0);
}
