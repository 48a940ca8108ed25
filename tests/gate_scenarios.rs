//! The deployment gate end to end: the stand walks BLUE_GREEN / CANARY deployments through their
//! lifecycle stages and invokes the release Lambda as the hook (through the stand's Lambda
//! emulator), exactly as ECS would. Observation times are seconds (service tags), callback delays
//! are scaled down with the stand's `hookDelayScale`; every wait is on a condition.

#[path = "stand/harness.rs"]
mod harness;

use std::time::Duration;

use aws_sdk_cloudwatch::types::{ComparisonOperator, StateValue, Statistic};
use aws_sdk_ecs::types::{
    AdvancedConfiguration, CanaryConfiguration, DeploymentConfiguration, DeploymentLifecycleHook,
    DeploymentLifecycleHookStage, DeploymentStrategy, LoadBalancer, PortMapping, Tag,
};
use harness::{wait_for, World, ACCOUNT};
use serde_json::{json, Value};

const REGISTRY: &str = "123456789012.dkr.ecr.eu-west-1.amazonaws.com/hello-world";
const SERVICE: &str = "hello-world";

/// The stand suites' shared world, with hook callbacks scaled to a tenth of a second per ECS
/// second.
async fn world(env: &[(&str, &str)]) -> World {
    world_with(&[], env).await
}

/// [`world`] on a stand started with `stand_args` (`--function-timeout 30`, …).
async fn world_with(stand_args: &[&str], env: &[(&str, &str)]) -> World {
    World::start(stand_args, env, |stand| {
        stand.control("POST", "/ecs/config", json!({"hookDelayScale": 0.1}));
    })
    .await
}

impl World {
    async fn register(&self, tag: &str) -> String {
        harness::ecs::register(&self.ecs, &format!("{REGISTRY}:{tag}"), |c| c).await
    }

    /// The function as the hook of every stage the gate checks by default.
    fn hook(&self) -> DeploymentLifecycleHook {
        let mut hook = DeploymentLifecycleHook::builder()
            .hook_target_arn(self.stand.doc["function_arn"].as_str().unwrap())
            .role_arn(format!("arn:aws:iam::{ACCOUNT}:role/ecs-rollback-hook"));
        for stage in [
            DeploymentLifecycleHookStage::PostScaleUp,
            DeploymentLifecycleHookStage::PostTestTrafficShift,
            DeploymentLifecycleHookStage::ProductionTrafficShift,
            DeploymentLifecycleHookStage::PostProductionTrafficShift,
        ] {
            hook = hook.lifecycle_stages(stage);
        }
        hook.build()
    }

    fn config(&self, strategy: &str, hooks: bool) -> DeploymentConfiguration {
        let mut cfg = DeploymentConfiguration::builder()
            .strategy(DeploymentStrategy::from(strategy))
            .bake_time_in_minutes(1);
        if strategy == "CANARY" {
            cfg = cfg.canary_configuration(
                CanaryConfiguration::builder()
                    .canary_percent(10.0)
                    .canary_bake_time_in_minutes(1)
                    .build(),
            );
        }
        if hooks {
            cfg = cfg.lifecycle_hooks(self.hook());
        }
        cfg.build()
    }

    /// An opted-in service with `strategy`, its first deployment completed (without hooks),
    /// then a deployment of `next` with the gate as its hook. Answers the new task definition.
    async fn gated_deployment(&self, strategy: &str, tags: &[(&str, &str)]) -> String {
        let v1 = self.register("v1").await;
        let mut req = self
            .ecs
            .create_service()
            .cluster("demo")
            .service_name(SERVICE)
            .task_definition(&v1)
            .desired_count(2)
            .deployment_configuration(self.config(strategy, false))
            .tags(
                Tag::builder()
                    .key("ecs-rollback:enabled")
                    .value("true")
                    .build(),
            );
        for (k, v) in tags {
            req = req.tags(Tag::builder().key(*k).value(*v).build());
        }
        req.send().await.unwrap();
        let first = self.stand.advance(SERVICE, None);
        assert_eq!(
            first["serviceDeployment"]["status"], "SUCCESSFUL",
            "{first}"
        );
        let v2 = self.register("v2").await;
        self.ecs
            .update_service()
            .cluster("demo")
            .service(SERVICE)
            .task_definition(&v2)
            .deployment_configuration(self.config(strategy, true))
            .send()
            .await
            .unwrap();
        v2
    }

    /// A metric alarm guarding the service by its tags (no dimensions), in `state`.
    async fn tagged_alarm(&self, name: &str, period: i32, state: StateValue) {
        self.cloudwatch
            .put_metric_alarm()
            .alarm_name(name)
            .namespace("AWS/ApplicationELB")
            .metric_name("HTTPCode_Target_5XX_Count")
            .statistic(Statistic::Sum)
            .period(period)
            .evaluation_periods(1)
            .threshold(5.0)
            .comparison_operator(ComparisonOperator::GreaterThanThreshold)
            .tags(
                aws_sdk_cloudwatch::types::Tag::builder()
                    .key("ecs-rollback:cluster")
                    .value("demo")
                    .build(),
            )
            .tags(
                aws_sdk_cloudwatch::types::Tag::builder()
                    .key("ecs-rollback:service")
                    .value(SERVICE)
                    .build(),
            )
            .send()
            .await
            .unwrap();
        self.set_alarm(name, state, "set up").await;
    }

    async fn set_alarm(&self, name: &str, state: StateValue, reason: &str) {
        self.cloudwatch
            .set_alarm_state()
            .alarm_name(name)
            .state_value(state)
            .state_reason(reason)
            .send()
            .await
            .unwrap();
    }

    /// Wait for a notification containing `text`.
    async fn notified(&self, text: &str) -> String {
        let start = std::time::Instant::now();
        let mut seen = Vec::new();
        loop {
            seen.extend(self.notifications(0).await);
            if let Some(m) = seen.iter().find(|m| m.contains(text)) {
                return m.clone();
            }
            assert!(
                start.elapsed() < Duration::from_secs(60),
                "no notification with {text:?}: {seen:?}"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// The gate's answers (not the rollback re-invocations), in order.
    fn answers(&self) -> Vec<Value> {
        self.stand
            .hook_invocations()
            .into_iter()
            .filter(|h| h["rollback"] != true)
            .collect()
    }
}

fn stage_outcomes(answers: &[Value]) -> Vec<(String, String)> {
    answers
        .iter()
        .map(|h| {
            (
                h["lifecycleStage"].as_str().unwrap_or("").to_string(),
                h["outcome"].as_str().unwrap_or("").to_string(),
            )
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_canary_that_raises_a_guarding_alarm_is_stopped_at_its_first_production_step() {
    let w = world(&[]).await;
    w.tagged_alarm("hello-world-5xx", 60, StateValue::Ok).await;
    let v2 = w
        .gated_deployment(
            "CANARY",
            &[
                ("ecs-rollback:gate-observe-minutes", "0.02"),
                ("ecs-rollback:gate-callback-seconds", "1"),
                (
                    "ecs-rollback:gate-stages",
                    "POST_SCALE_UP PRODUCTION_TRAFFIC_SHIFT",
                ),
            ],
        )
        .await;
    // Up to test traffic: the alarm stays OK; its 60 s window is longer than the stage's
    // observation, so the gate observes (IN_PROGRESS) and then lets the stage pass.
    let r = w.stand.advance(SERVICE, Some("POST_TEST_TRAFFIC_SHIFT"));
    assert_eq!(r["serviceDeployment"]["status"], "IN_PROGRESS", "{r}");
    // The canary takes 10 % of production and the 5xx alarm fires.
    w.set_alarm(
        "hello-world-5xx",
        StateValue::Alarm,
        "Threshold Crossed: 1 datapoint [42.0] was greater than the threshold (5.0).",
    )
    .await;
    let r = w.stand.advance(SERVICE, None);
    let sd = &r["serviceDeployment"];
    assert_eq!(sd["status"], "ROLLBACK_IN_PROGRESS", "{r}");
    let answers = w.answers();
    let outcomes = stage_outcomes(&answers);
    assert_eq!(
        outcomes.last().unwrap(),
        &("PRODUCTION_TRAFFIC_SHIFT".to_string(), "FAILED".to_string()),
        "{outcomes:?}"
    );
    assert!(
        outcomes.contains(&("POST_SCALE_UP".into(), "IN_PROGRESS".into()))
            && outcomes.contains(&("POST_SCALE_UP".into(), "SUCCEEDED".into())),
        "{outcomes:?}"
    );
    let failed = answers.last().unwrap();
    // At its first step: the canary's 10 %, never 100 %.
    let weights = &failed["payload"]["executionDetails"]["productionTrafficWeights"];
    let green = failed["payload"]["executionDetails"]["targetServiceRevisionArn"]
        .as_str()
        .unwrap();
    assert_eq!(weights[green].as_f64(), Some(10.0), "{weights}");
    assert!(
        failed["response"]["hookDetails"]["ecsRollbackGate"]["reason"]
            .as_str()
            .unwrap()
            .contains("hello-world-5xx"),
        "{failed}"
    );
    // Traffic is back on the old revision.
    assert_eq!(
        sd["traffic"]["production"][green].as_f64(),
        Some(0.0),
        "{sd}"
    );
    // The gate writes nothing (ECS rolled back; its history keeps the revision unproven), and
    // people are told why.
    let tags = harness::ecs::td_tags(&w.ecs, &v2).await;
    assert!(
        !tags.iter().any(|(k, _)| k.starts_with("ecs-rollback:")),
        "{tags:?}"
    );
    let message = w.notified("ECS is rolling back deployment").await;
    assert!(
        message.contains(sd["serviceDeploymentArn"].as_str().unwrap())
            && message.contains("hello-world-5xx")
            && message.contains("hello-world:2"),
        "{message}"
    );
    // The responder gets ECS's FAILED event for the same deployment and stands back (rule 3):
    // ECS is already rolling back.
    let failed_event = r["events"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["detail"]["eventName"] == "SERVICE_DEPLOYMENT_FAILED")
        .cloned()
        .expect("ECS reports the hook's failure");
    let answer = w.stand.invoke(&failed_event);
    assert_eq!(answer.body["action"], "skipped", "{:?}", answer.body);
    // The gate wrote nothing but the ledger: no rollback of its own.
    assert_eq!(w.stand.count("UpdateService"), 1);
    assert_eq!(w.stand.count("StopServiceDeployment"), 0);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_healthy_blue_green_deployment_passes_after_the_observation_time() {
    let w = world(&[]).await;
    w.tagged_alarm("hello-world-5xx", 60, StateValue::Ok).await;
    let v2 = w
        .gated_deployment(
            "BLUE_GREEN",
            &[
                ("ecs-rollback:gate-observe-minutes", "0.03"),
                ("ecs-rollback:gate-callback-seconds", "1"),
            ],
        )
        .await;
    let r = w.stand.advance(SERVICE, None);
    assert_eq!(r["serviceDeployment"]["status"], "SUCCESSFUL", "{r}");
    let answers = w.answers();
    for stage in [
        "POST_SCALE_UP",
        "POST_TEST_TRAFFIC_SHIFT",
        "PRODUCTION_TRAFFIC_SHIFT",
        "POST_PRODUCTION_TRAFFIC_SHIFT",
    ] {
        let mine: Vec<&Value> = answers
            .iter()
            .filter(|h| h["lifecycleStage"] == stage)
            .collect();
        let outcomes: Vec<&str> = mine
            .iter()
            .map(|h| h["outcome"].as_str().unwrap())
            .collect();
        assert!(outcomes.len() >= 2, "{stage}: {outcomes:?}");
        assert_eq!(outcomes.last(), Some(&"SUCCEEDED"), "{stage}: {outcomes:?}");
        assert!(
            outcomes[..outcomes.len() - 1]
                .iter()
                .all(|o| *o == "IN_PROGRESS"),
            "{stage}: {outcomes:?}"
        );
        // The callback delay never exceeds what is left of the stage's 1.8 s.
        for h in &mine[..mine.len() - 1] {
            assert_eq!(h["response"]["callBackDelay"], 1, "{h}");
        }
        // It passed only once its observation time was over (state carried in hookDetails).
        let last = &mine.last().unwrap()["response"]["hookDetails"]["ecsRollbackGate"];
        assert!(last["calls"].as_u64().unwrap() >= 2, "{last}");
        let elapsed =
            mine.last().unwrap()["time"].as_f64().unwrap() - mine[0]["time"].as_f64().unwrap();
        assert!(elapsed >= 1.0, "{stage}: passed after {elapsed} s");
    }
    assert_eq!(harness::ecs::ledger(&w.ecs, &v2).await, None);
    assert!(w.notifications(0).await.is_empty());
}

#[tokio::test(flavor = "multi_thread")]
async fn a_crash_looping_revision_fails_at_post_scale_up_before_any_traffic() {
    let w = world(&[]).await;
    let v2 = w
        .gated_deployment("BLUE_GREEN", &[("ecs-rollback:gate-callback-seconds", "1")])
        .await;
    let r = w.stand.advance(SERVICE, Some("SCALE_UP"));
    assert_eq!(r["serviceDeployment"]["lifecycleStage"], "SCALE_UP", "{r}");
    for _ in 0..2 {
        w.stand
            .task_stopped(SERVICE, "EssentialContainerExited", json!({}));
    }
    let r = w.stand.advance(SERVICE, None);
    assert_eq!(
        r["serviceDeployment"]["status"], "ROLLBACK_IN_PROGRESS",
        "{r}"
    );
    let outcomes = stage_outcomes(&w.answers());
    assert_eq!(
        outcomes,
        vec![("POST_SCALE_UP".to_string(), "FAILED".to_string())],
        "one call, before any traffic stage"
    );
    let answer = &w.answers()[0]["response"];
    let reason = answer["hookDetails"]["ecsRollbackGate"]["reason"]
        .as_str()
        .unwrap();
    assert!(
        reason.contains("2 task(s)") && reason.contains("EssentialContainerExited"),
        "{reason}"
    );
    let green = r["serviceDeployment"]["targetServiceRevision"]["arn"]
        .as_str()
        .unwrap();
    let traffic = &r["serviceDeployment"]["traffic"];
    assert_ne!(traffic["test"][green].as_f64(), Some(100.0), "{traffic}");
    assert_ne!(
        traffic["production"][green].as_f64(),
        Some(100.0),
        "{traffic}"
    );
    assert_eq!(
        harness::ecs::ledger(&w.ecs, &v2).await.as_deref(),
        None,
        "the gate writes nothing"
    );
    w.notified("ECS is rolling back deployment").await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_throttled_alarm_read_waits_and_then_gives_the_right_verdict() {
    let w = world(&[]).await;
    w.tagged_alarm("hello-world-5xx", 60, StateValue::Ok).await;
    let v2 = w
        .gated_deployment(
            "BLUE_GREEN",
            &[
                ("ecs-rollback:gate-observe-minutes", "1"),
                ("ecs-rollback:gate-callback-seconds", "1"),
                ("ecs-rollback:gate-stages", "POST_SCALE_UP"),
            ],
        )
        .await;
    // The deployment starts (ECS: PENDING, then IN_PROGRESS within seconds); then the alarm rings.
    w.stand.deployment_state(SERVICE, "IN_PROGRESS", json!({}));
    w.set_alarm(
        "hello-world-5xx",
        StateValue::Alarm,
        "Threshold Crossed: 1 datapoint [9.0] was greater than the threshold (5.0).",
    )
    .await;
    w.stand.control(
        "POST",
        "/faults",
        json!({"service": "cloudwatch", "operation": "DescribeAlarms", "status": 400,
               "code": "Throttling", "message": "Rate exceeded", "count": -1}),
    );
    std::thread::scope(|scope| {
        let walk = scope.spawn(|| w.stand.advance(SERVICE, None));
        // While CloudWatch throttles, the gate neither fails nor passes: it asks to be called again.
        let waiting = wait_for(
            "an IN_PROGRESS answer while throttled",
            Duration::from_secs(90),
            || {
                w.answers()
                    .into_iter()
                    .find(|h| h["outcome"] == "IN_PROGRESS")
            },
        );
        let reason = waiting["response"]["hookDetails"]["ecsRollbackGate"]["reason"]
            .as_str()
            .unwrap()
            .to_string();
        assert!(
            reason.contains("could not be read") && reason.contains("Throttling"),
            "{reason}"
        );
        w.stand.control("DELETE", "/faults", Value::Null);
        let r = walk.join().unwrap();
        assert_eq!(
            r["serviceDeployment"]["status"], "ROLLBACK_IN_PROGRESS",
            "{r}"
        );
    });
    let outcomes = stage_outcomes(&w.answers());
    assert_eq!(outcomes.first().unwrap().1, "IN_PROGRESS", "{outcomes:?}");
    assert_eq!(
        outcomes.last().unwrap(),
        &("POST_SCALE_UP".to_string(), "FAILED".to_string()),
        "{outcomes:?}"
    );
    let last = w.answers().last().unwrap()["response"].clone();
    assert!(
        last["hookDetails"]["ecsRollbackGate"]["reason"]
            .as_str()
            .unwrap()
            .contains("the guarding alarm hello-world-5xx (Threshold Crossed"),
        "{last}"
    );
    assert_eq!(
        harness::ecs::ledger(&w.ecs, &v2).await.as_deref(),
        None,
        "the gate writes nothing"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_dry_run_gate_logs_its_verdict_and_answers_succeeded() {
    let w = world(&[("ROLLBACK_DRY_RUN", "true")]).await;
    let v2 = w
        .gated_deployment("CANARY", &[("ecs-rollback:gate-stages", "POST_SCALE_UP")])
        .await;
    w.stand.advance(SERVICE, Some("SCALE_UP"));
    for _ in 0..2 {
        w.stand
            .task_stopped(SERVICE, "EssentialContainerExited", json!({}));
    }
    let r = w.stand.advance(SERVICE, None);
    assert_eq!(r["serviceDeployment"]["status"], "SUCCESSFUL", "{r}");
    let answers = w.answers();
    assert!(
        answers.iter().all(|h| h["outcome"] == "SUCCEEDED"),
        "{answers:?}"
    );
    let checked: Vec<&Value> = answers
        .iter()
        .filter(|h| h["lifecycleStage"] == "POST_SCALE_UP")
        .collect();
    assert_eq!(checked.len(), 1, "one call: a dry run never waits");
    let gate = &checked[0]["response"]["hookDetails"]["ecsRollbackGate"];
    assert_eq!(
        (gate["verdict"].as_str(), gate["dryRun"].as_bool()),
        (Some("FAILED"), Some(true))
    );
    let log = wait_for("the dry-run decision line", Duration::from_secs(30), || {
        let log = w.stand.lambda_log();
        log.lines()
            .find(|l| {
                l.contains("\"verdict\":\"FAILED\"") && l.contains("\"answered\":\"SUCCEEDED\"")
            })
            .map(str::to_string)
    });
    assert!(
        log.contains("\"dry_run\":true") && log.contains("tasks_failing"),
        "{log}"
    );
    // Nothing changed: no ledger write; people are told what would have happened.
    assert_eq!(harness::ecs::ledger(&w.ecs, &v2).await, None);
    let message = w.notified("ECS is rolling back deployment").await;
    assert!(message.starts_with("Dry run"), "{message}");
}

/// The CLI (`ecs-rollback status`) with the stand's endpoint and credentials.
fn cli_status(stand: &harness::Stand, args: &[&str]) -> std::process::Output {
    let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_ecs-rollback"));
    cmd.env_clear();
    if let Ok(path) = std::env::var("PATH") {
        cmd.env("PATH", path);
    }
    for (k, v) in stand.doc["lambda_env"].as_object().unwrap() {
        if k.starts_with("AWS_") && !k.starts_with("AWS_LAMBDA_") {
            cmd.env(k, v.as_str().unwrap());
        }
    }
    let home = std::env::temp_dir();
    cmd.env("HOME", &home)
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .env("AWS_ENDPOINT_URL_STS", stand.endpoint())
        .current_dir(&home)
        .arg("status")
        .args(["-c", "demo", "-s", SERVICE])
        .args(args)
        .stdin(std::process::Stdio::null())
        .output()
        .expect("the CLI runs")
}

// The CLI's `status` shows, for a deployment in flight, its strategy, lifecycle stage and the
// hook's last verdict, read from DescribeServiceDeployments' lifecycleHookDetails,
// which the stand fills as ECS does (one entry per hook execution).
#[tokio::test(flavor = "multi_thread")]
async fn cli_status_shows_the_strategy_stage_and_the_gate_s_last_verdict_of_a_deployment_in_flight()
{
    let w = world(&[]).await;
    w.tagged_alarm("hello-world-5xx", 60, StateValue::Ok).await;
    w.gated_deployment(
        "BLUE_GREEN",
        &[
            ("ecs-rollback:gate-observe-minutes", "0.01"),
            ("ecs-rollback:gate-callback-seconds", "1"),
        ],
    )
    .await;
    let r = w.stand.advance(SERVICE, Some("POST_TEST_TRAFFIC_SHIFT"));
    assert_eq!(
        (
            r["serviceDeployment"]["status"].as_str(),
            r["serviceDeployment"]["lifecycleStage"].as_str()
        ),
        (Some("IN_PROGRESS"), Some("POST_TEST_TRAFFIC_SHIFT")),
        "{r}"
    );
    let out = cli_status(&w.stand, &[]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{out:?}");
    for want in [
        "Strategy      BLUE_GREEN",
        ": IN_PROGRESS, lifecycle stage POST_TEST_TRAFFIC_SHIFT, lifecycle hook (gate) SUCCEEDED\n",
    ] {
        assert!(stdout.contains(want), "{want:?} in:\n{stdout}");
    }
    let out = cli_status(&w.stand, &["-o", "json"]);
    assert!(out.status.success(), "{out:?}");
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    let d = &v["service_deployments_in_flight"][0];
    assert_eq!(
        (d["lifecycle_stage"].as_str(), d["gate"].as_str()),
        (Some("POST_TEST_TRAFFIC_SHIFT"), Some("SUCCEEDED")),
        "{v:#}"
    );
    assert_eq!(v["strategy"], "BLUE_GREEN");
    let r = w.stand.advance(SERVICE, None);
    assert_eq!(r["serviceDeployment"]["status"], "SUCCESSFUL", "{r}");
}

#[tokio::test(flavor = "multi_thread")]
async fn our_blue_green_rollback_passes_the_gate_at_once() {
    // A blue/green revision passes the gate and completes, then serves errors: its guarding
    // alarm rings and the responder rolls back with UpdateService — a full blue/green
    // deployment of the proven revision, which runs the service's lifecycle hooks. The alarm
    // that caused it is still in ALARM: the gate must let the way back through at once, never
    // hold production on the bad revision for its observation time, never fail it.
    let w = world(&[]).await;
    w.tagged_alarm("hello-world-5xx", 60, StateValue::Ok).await;
    let v2 = w
        .gated_deployment(
            "BLUE_GREEN",
            &[
                ("ecs-rollback:gate-observe-minutes", "0.03"),
                ("ecs-rollback:gate-callback-seconds", "1"),
            ],
        )
        .await;
    let r = w.stand.advance(SERVICE, None);
    assert_eq!(r["serviceDeployment"]["status"], "SUCCESSFUL", "{r}");
    w.set_alarm(
        "hello-world-5xx",
        StateValue::Alarm,
        "Threshold Crossed: 1 datapoint [42.0] was greater than the threshold (5.0).",
    )
    .await;
    let mut alarm: Value =
        serde_json::from_str(include_str!("../events/cloudwatch-alarm-metric.json")).unwrap();
    alarm["resources"][0] = json!(format!(
        "arn:aws:cloudwatch:eu-west-1:{ACCOUNT}:alarm:hello-world-5xx"
    ));
    alarm["detail"]["alarmName"] = json!("hello-world-5xx");
    alarm["detail"]["state"]["timestamp"] = json!(chrono::Utc::now()
        .format("%Y-%m-%dT%H:%M:%S%.3f+0000")
        .to_string());
    let r = w.stand.invoke(&alarm);
    assert_eq!(r.body["action"], "rolled_back", "{:?}", r.body);
    assert!(
        r.body["reason"].as_str().unwrap().contains("BLUE_GREEN"),
        "{:?}",
        r.body
    );
    let before = w.answers().len();
    let r = w.stand.advance(SERVICE, None);
    assert_eq!(r["serviceDeployment"]["status"], "SUCCESSFUL", "{r}");
    let answers: Vec<Value> = w.answers().into_iter().skip(before).collect();
    let outcomes = stage_outcomes(&answers);
    assert!(!outcomes.is_empty(), "the rollback ran the hooks: {r}");
    assert!(
        outcomes.iter().all(|(_, o)| o == "SUCCEEDED"),
        "every stage of the restore passes at once: {outcomes:?}"
    );
    for a in &answers {
        let reason = a["response"]["hookDetails"]["ecsRollbackGate"]["reason"]
            .as_str()
            .unwrap_or_default();
        assert!(reason.contains("never judges a restore"), "{reason}");
    }
    assert_ne!(
        harness::ecs::service_td(&w.ecs, SERVICE).await,
        v2,
        "production is back on the proven revision"
    );
    assert_eq!(
        harness::ecs::ledger(&w.ecs, &v2).await.as_deref(),
        Some("bad")
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn with_cloudwatch_answering_after_40_s_the_gate_answers_in_progress_before_its_timeout() {
    // The template's gate: a 30 s timeout, lifecycle hooks only. CloudWatch answers every read
    // 40 s late: a call left to the SDK would outlive the invocation, and a timeout is a
    // function error, which ECS counts as FAILED (a healthy deployment rolled back).
    let w = world_with(&["--function-timeout", "30"], &[("ROLLBACK_MODE", "gate")]).await;
    w.tagged_alarm("hello-world-5xx", 60, StateValue::Ok).await;
    w.gated_deployment(
        "BLUE_GREEN",
        &[
            ("ecs-rollback:gate-observe-minutes", "0.03"),
            ("ecs-rollback:gate-callback-seconds", "1"),
            ("ecs-rollback:gate-stages", "POST_SCALE_UP"),
        ],
    )
    .await;
    w.stand.add_latency_to("cloudwatch", 40_000, None);
    std::thread::scope(|scope| {
        let walk = scope.spawn(|| w.stand.advance(SERVICE, None));
        let first = wait_for("the first hook answer", Duration::from_secs(120), || {
            w.answers().into_iter().next()
        });
        assert_eq!(first["outcome"], "IN_PROGRESS", "{first}");
        assert_eq!(first["functionError"], Value::Null, "{first}");
        assert_eq!(first["timedOut"], Value::Null, "{first}");
        let reason = first["response"]["hookDetails"]["ecsRollbackGate"]["reason"]
            .as_str()
            .unwrap()
            .to_string();
        // Cut off by the SDK's own timeout (25 s, below the function's) or by the deadline.
        assert!(reason.contains("could not be read"), "{reason}");
        // CloudWatch recovers: the next calls judge, and the healthy revision passes.
        w.stand.control("DELETE", "/latency", Value::Null);
        let r = walk.join().unwrap();
        assert_eq!(r["serviceDeployment"]["status"], "SUCCESSFUL", "{r}");
    });
    let log = w.stand.lambda_log();
    assert!(!log.contains("Task timed out"), "{log}");
}

// ---- canary analysis: the two revisions' target groups compared -----------------------------

const TG_A: &str =
    "arn:aws:elasticloadbalancing:eu-west-1:123456789012:targetgroup/hello-a/0123456789abcdef";
const TG_B: &str =
    "arn:aws:elasticloadbalancing:eu-west-1:123456789012:targetgroup/hello-b/fedcba9876543210";
const LISTENER_RULE: &str = "arn:aws:elasticloadbalancing:eu-west-1:123456789012:listener-rule/app/hello-alb/50dc6c495c0c9188/f2f7dc8efc522ab2/9683b2d02a6cabee";

/// How far behind real time the stand's clock starts: the deployment starts in the real past,
/// and CloudWatch (real time) holds the minutes since.
const BEHIND_SECONDS: i64 = 1200;

/// One target group's minutes, the most recent last: `(minutes ago, requests, 5xx, seconds)`.
fn alb_minutes(w: &World, target_group: &str, minutes: &[(i64, u64, u64, f64)]) {
    let minutes: Vec<Value> = minutes
        .iter()
        .map(|(ago, requests, errors, latency)| {
            json!({"minutesAgo": ago, "requests": requests, "target5xx": errors,
                   "targetResponseTime": latency})
        })
        .collect();
    w.stand.control(
        "POST",
        "/cloudwatch/alb-metrics",
        json!({"targetGroup": target_group, "loadBalancer": LISTENER_RULE, "minutes": minutes}),
    );
}

/// A CANARY service behind an Application Load Balancer (two target groups and a production
/// listener rule), its first deployment completed, then a deployment with the gate at
/// PRODUCTION_TRAFFIC_SHIFT. Answers the new revision's target group and the old one's, as ECS
/// resolved them.
async fn canary_behind_a_load_balancer(w: &World, tags: &[(&str, &str)]) -> (String, String) {
    let port = |c: aws_sdk_ecs::types::builders::ContainerDefinitionBuilder| {
        c.port_mappings(PortMapping::builder().container_port(80).build())
    };
    let v1 = harness::ecs::register(&w.ecs, &format!("{REGISTRY}:v1"), port).await;
    let lb = LoadBalancer::builder()
        .target_group_arn(TG_A)
        .container_name("app")
        .container_port(80)
        .advanced_configuration(
            AdvancedConfiguration::builder()
                .alternate_target_group_arn(TG_B)
                .production_listener_rule(LISTENER_RULE)
                .role_arn(format!("arn:aws:iam::{ACCOUNT}:role/ecs-alb"))
                .build(),
        )
        .build();
    let mut req = w
        .ecs
        .create_service()
        .cluster("demo")
        .service_name(SERVICE)
        .task_definition(&v1)
        .desired_count(2)
        .load_balancers(lb)
        .deployment_configuration(w.config("CANARY", false))
        .tags(
            Tag::builder()
                .key("ecs-rollback:enabled")
                .value("true")
                .build(),
        );
    for (k, v) in tags {
        req = req.tags(Tag::builder().key(*k).value(*v).build());
    }
    req.send().await.unwrap();
    let first = w.stand.advance(SERVICE, None);
    assert_eq!(
        first["serviceDeployment"]["status"], "SUCCESSFUL",
        "{first}"
    );
    let v2 = harness::ecs::register(&w.ecs, &format!("{REGISTRY}:v2"), port).await;
    let cfg = DeploymentConfiguration::builder()
        .strategy(DeploymentStrategy::Canary)
        .bake_time_in_minutes(1)
        .canary_configuration(
            CanaryConfiguration::builder()
                .canary_percent(10.0)
                .canary_bake_time_in_minutes(1)
                .build(),
        )
        .lifecycle_hooks(
            DeploymentLifecycleHook::builder()
                .hook_target_arn(w.stand.doc["function_arn"].as_str().unwrap())
                .role_arn(format!("arn:aws:iam::{ACCOUNT}:role/ecs-rollback-hook"))
                .lifecycle_stages(DeploymentLifecycleHookStage::ProductionTrafficShift)
                .build(),
        );
    w.ecs
        .update_service()
        .cluster("demo")
        .service(SERVICE)
        .task_definition(&v2)
        .deployment_configuration(cfg.build())
        .send()
        .await
        .unwrap();
    // Which target group the new revision serves, as the function will read it.
    let sds = w
        .ecs
        .list_service_deployments()
        .cluster("demo")
        .service(SERVICE)
        .send()
        .await
        .unwrap();
    let arns: Vec<String> = sds
        .service_deployments()
        .iter()
        .filter_map(|d| d.target_service_revision_arn().map(str::to_string))
        .collect();
    let revisions = w
        .ecs
        .describe_service_revisions()
        .set_service_revision_arns(Some(arns))
        .send()
        .await
        .unwrap();
    let tg_of = |td: &str| {
        revisions
            .service_revisions()
            .iter()
            .find(|r| r.task_definition() == Some(td))
            .and_then(|r| r.resolved_configuration())
            .and_then(|c| c.load_balancers().first())
            .and_then(|l| l.target_group_arn())
            .unwrap()
            .to_string()
    };
    let (green, blue) = (tg_of(&v2), tg_of(&v1));
    assert_ne!(
        green, blue,
        "the two revisions serve different target groups"
    );
    (green, blue)
}

async fn canary_world() -> World {
    World::start(&[], &[], |stand| {
        stand.control("POST", "/ecs/config", json!({"hookDelayScale": 0.1}));
        stand.control(
            "POST",
            "/ecs/clock",
            json!({"startBehindSeconds": BEHIND_SECONDS}),
        );
    })
    .await
}

/// The old revision's minutes: the 25 before now at 9,000 requests a minute, 1 % 5xx, 120 ms.
fn old_revision_minutes(w: &World, blue: &str) {
    let minutes: Vec<_> = (1..=25).rev().map(|ago| (ago, 9000, 90, 0.120)).collect();
    alb_minutes(w, blue, &minutes);
}

#[tokio::test(flavor = "multi_thread")]
async fn the_canary_analysis_fails_a_canary_whose_5xx_ratio_is_five_times_the_old_revision_s() {
    let w = canary_world().await;
    let (green, blue) =
        canary_behind_a_load_balancer(&w, &[("ecs-rollback:gate-callback-seconds", "1")]).await;
    old_revision_minutes(&w, &blue);
    // Ten minutes of the canary's share: 1,000 requests a minute, 5 % of them 5xx.
    let minutes: Vec<_> = (1..=10).rev().map(|ago| (ago, 1000, 50, 0.125)).collect();
    alb_minutes(&w, &green, &minutes);
    let r = w.stand.advance(SERVICE, None);
    let sd = &r["serviceDeployment"];
    assert_eq!(sd["status"], "ROLLBACK_IN_PROGRESS", "{r}");
    let answers = w.answers();
    let failed = answers.last().unwrap();
    assert_eq!(
        failed["lifecycleStage"], "PRODUCTION_TRAFFIC_SHIFT",
        "{failed}"
    );
    assert_eq!(failed["outcome"], "FAILED", "{failed}");
    let reason = failed["response"]["hookDetails"]["ecsRollbackGate"]["reason"]
        .as_str()
        .unwrap();
    assert!(
        reason.contains("canary analysis found the new revision worse")
            && reason.contains("5xx 5.00% on the new revision vs 1.00% on the old (margin 1.25%"),
        "{reason}"
    );
    // People get the evidence: both target groups, the test and the plot.
    let message = w.notified("ECS is rolling back deployment").await;
    assert!(
        message.contains("Canary analysis (on)")
            && message.contains(&green)
            && message.contains(&blue)
            && message.contains("held for 2 consecutive minute(s)")
            && message.contains("  new ")
            && message.contains("  old "),
        "{message}"
    );
    // The decision line carries the evidence too.
    let log = w.stand.lambda_log();
    assert!(
        log.lines().any(|l| {
            l.contains("\"skip\":\"canary_worse\"")
                && l.contains("\"canary\":")
                && l.contains("\"canary_data\":")
        }),
        "{log}"
    );
    // Metrics read once per call: three per target group, one GetMetricData.
    assert!(w.stand.count("GetMetricData") >= 1);
    // `status` shows the same analysis for the deployment still rolling back.
    let out = cli_status(&w.stand, &[]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("Canary analysis of")
            && text.contains("5xx 5.00% on the new revision vs 1.00% on the old")
            && text.contains("  new "),
        "{text}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out = cli_status(&w.stand, &["-o", "json"]);
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    let canary = &v["canary_analysis"][0];
    assert_eq!(canary["analysis"]["outcome"], "worse", "{v}");
    assert_eq!(canary["new_target_group"], green.as_str(), "{canary}");
    assert_eq!(
        canary["new_minutes"].as_array().map(Vec::len),
        Some(10),
        "{canary}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn the_canary_analysis_passes_a_canary_as_good_as_the_old_revision() {
    let w = canary_world().await;
    let (green, blue) =
        canary_behind_a_load_balancer(&w, &[("ecs-rollback:gate-callback-seconds", "1")]).await;
    old_revision_minutes(&w, &blue);
    let minutes: Vec<_> = (1..=10).rev().map(|ago| (ago, 1000, 10, 0.121)).collect();
    alb_minutes(&w, &green, &minutes);
    let r = w.stand.advance(SERVICE, None);
    assert_eq!(r["serviceDeployment"]["status"], "SUCCESSFUL", "{r}");
    let answers = w.answers();
    let passed = answers
        .iter()
        .find(|a| a["lifecycleStage"] == "PRODUCTION_TRAFFIC_SHIFT" && a["outcome"] == "SUCCEEDED")
        .expect("the stage passed");
    let reason = passed["response"]["hookDetails"]["ecsRollbackGate"]["reason"]
        .as_str()
        .unwrap();
    assert!(
        reason.contains("Canary analysis: 5xx 1.00% on the new revision vs 1.00% on the old")
            && reason.contains("not worse"),
        "{reason}"
    );
    // No IN_PROGRESS: the evidence was enough at the first call.
    assert!(
        !answers
            .iter()
            .any(|a| a["lifecycleStage"] == "PRODUCTION_TRAFFIC_SHIFT"
                && a["outcome"] == "IN_PROGRESS"),
        "{answers:?}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_canary_on_low_traffic_is_held_then_let_through_as_inconclusive_never_failed() {
    let w = canary_world().await;
    let (green, blue) = canary_behind_a_load_balancer(
        &w,
        &[
            ("ecs-rollback:gate-callback-seconds", "1"),
            ("ecs-rollback:gate-observe-minutes", "0.05"),
        ],
    )
    .await;
    old_revision_minutes(&w, &blue);
    // Three requests a minute, every one failing: too few to judge.
    let minutes: Vec<_> = (1..=10).rev().map(|ago| (ago, 3, 3, 0.5)).collect();
    alb_minutes(&w, &green, &minutes);
    let r = w.stand.advance(SERVICE, None);
    assert_eq!(r["serviceDeployment"]["status"], "SUCCESSFUL", "{r}");
    let outcomes = stage_outcomes(&w.answers());
    assert!(
        outcomes.contains(&("PRODUCTION_TRAFFIC_SHIFT".into(), "IN_PROGRESS".into())),
        "{outcomes:?}"
    );
    let last = w.answers().into_iter().last().unwrap();
    let reason = last["response"]["hookDetails"]["ecsRollbackGate"]["reason"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(
        reason.contains("the canary analysis is inconclusive") && reason.contains("low traffic"),
        "{reason}"
    );
}
