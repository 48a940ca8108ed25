// Compiled only in tests: src/decision.rs includes this file under #[cfg(test)].
//! Table-driven tests of the pure core: one or more cases per decision rule, by name.

use std::collections::BTreeMap;

use chrono::{Duration, TimeZone, Utc};

use super::*;

fn t(h: u32, m: u32) -> Time {
    Utc.with_ymd_and_hms(2026, 11, 26, h, m, 0).unwrap()
}
const NOW: (u32, u32) = (10, 20);

fn td(rev: i32) -> String {
    format!("arn:aws:ecs:eu-west-1:123456789012:task-definition/hello-world:{rev}")
}

fn deployment(id: &str, status: &str, rev: i32, rollout: Rollout, created: Time) -> Deployment {
    Deployment {
        id: id.into(),
        status: status.into(),
        task_definition: td(rev),
        rollout,
        rollout_reason: None,
        created_at: Some(created),
        failed_tasks: 0,
    }
}

fn entry(n: u32, status: DeploymentStatus, rev: i32, finished: Time) -> HistoryEntry {
    let mut e = HistoryEntry::new(
        format!("arn:aws:ecs:eu-west-1:123456789012:service-deployment/demo/hello-world/d{n}"),
        status,
    );
    let images = vec![RecordedImage {
        container: "app".into(),
        image: Some(format!("repo/app:v{rev}")),
        digest: Some(format!("sha256:{rev:0>64}")),
    }];
    e.target_task_definition = Some(td(rev));
    e.target_images = images.clone();
    e.target = Some(ServiceRevision {
        arn: format!("arn:aws:ecs:eu-west-1:123456789012:service-revision/demo/hello-world/{n}"),
        task_definition: td(rev),
        images,
        config: BTreeMap::new(),
    });
    e.created_at = Some(finished - Duration::minutes(10));
    e.started_at = Some(finished - Duration::minutes(9));
    e.finished_at = Some(finished);
    e
}

/// The service revision `n` (its id is deployment `ecs-svc/n`'s) of task definition `rev`.
fn srev(n: u32, rev: i32) -> ServiceRevision {
    entry(n, DeploymentStatus::Successful, rev, t(0, 0))
        .target
        .unwrap()
}

/// Make deployment `d4` (the failing one) in flight, replacing `sources`.
fn in_flight(w: &mut World, sources: Vec<ServiceRevision>) {
    w.service.deployments[0].rollout = Rollout::InProgress;
    if let Ok(h) = &mut w.history {
        let e = h.iter_mut().find(|e| e.arn.ends_with("/d4")).unwrap();
        e.status = DeploymentStatus::InProgress;
        e.finished_at = None;
        e.source_task_definitions = sources.iter().map(|s| s.task_definition.clone()).collect();
        e.sources = sources;
    }
}

fn revision(rev: i32) -> Revision {
    Revision {
        arn: td(rev),
        family: "hello-world".into(),
        revision: rev,
        status: RevisionStatus::Active,
        ledger: None,
        bad_for: Vec::new(),
        images: vec![ContainerImage {
            container: "app".into(),
            image: format!("repo/app@sha256:{rev:0>64}"),
        }],
        pinned_from: None,
        schema: None,
    }
}

/// Everything AWS would answer; the snapshot is filled from it only as the core asks.
struct World {
    service: ServiceState,
    history: HistoryRead,
    family: Vec<String>,
    revisions: BTreeMap<String, Revision>,
    /// Stopped tasks of the newest deployment (early detection).
    stopped: Vec<TaskStop>,
}

fn world() -> World {
    let mut tags = BTreeMap::new();
    tags.insert(TAG_ENABLED.to_string(), "true".to_string());
    World {
        service: ServiceState {
            cluster_arn: "arn:aws:ecs:eu-west-1:123456789012:cluster/demo".into(),
            service_arn: "arn:aws:ecs:eu-west-1:123456789012:service/demo/hello-world".into(),
            service_name: "hello-world".into(),
            status: "ACTIVE".into(),
            controller: Controller::Ecs,
            task_definition: td(4),
            tags,
            deployments: vec![
                deployment("ecs-svc/4", "PRIMARY", 4, Rollout::Failed, t(10, 0)),
                deployment("ecs-svc/3", "ACTIVE", 3, Rollout::Completed, t(9, 0)),
            ],
            desired_count: 2,
            circuit_breaker: None,
            deployment_alarms: None,
            strategy: Strategy::Rolling,
            bake_time_minutes: None,
            express: false,
        },
        // Deliberately not in time order: the API does not promise one.
        history: Ok(vec![
            entry(1, DeploymentStatus::Successful, 1, t(7, 0)),
            entry(3, DeploymentStatus::Successful, 3, t(9, 10)),
            entry(2, DeploymentStatus::Successful, 2, t(8, 0)),
            entry(4, DeploymentStatus::Stopped, 4, t(10, 10)),
        ]),
        family: (1..=5).map(td).collect(),
        revisions: (1..=5).map(|r| (td(r), revision(r))).collect(),
        stopped: Vec::new(),
    }
}

fn failed() -> Cause {
    Cause::DeploymentFailed {
        deployment_id: "ecs-svc/4".into(),
        reason: "ECS deployment circuit breaker: tasks failed to start.".into(),
    }
}

fn alarm() -> Cause {
    Cause::Alarm {
        name: "hello-world-5xx".into(),
        state: AlarmState::Alarm,
        reason: "Threshold Crossed".into(),
        since: Some(t(10, 15)),
        guard: AlarmGuard::Tagged,
    }
}

fn task_failed(deployment: Option<&str>, rev: i32) -> Cause {
    Cause::TaskFailures {
        deployment_id: deployment.map(str::to_string),
        task_definition: deployment.map(|_| td(rev)),
        signal: "EssentialContainerExited (exit codes app=1)".into(),
    }
}

/// Our rollback to revision 3 (deployment `ecs-svc/9`, created at `at`) completed; the
/// failed deployment 4 is gone from the service.
fn ours_completed(w: &mut World, at: &str) {
    let (h, m) = at.split_once(':').unwrap();
    let created = t(h.parse().unwrap(), m.parse().unwrap());
    w.service.deployments = vec![deployment(
        "ecs-svc/9",
        "PRIMARY",
        3,
        Rollout::Completed,
        created,
    )];
    w.service.task_definition = td(3);
    w.service
        .tags
        .insert(TAG_LAST_ROLLBACK_AT.into(), created.to_rfc3339());
    w.service.tags.insert(TAG_LAST_ROLLBACK_TO.into(), td(3));
}

/// The newest deployment rolling out with `failed` failed tasks.
fn crashing(w: &mut World, failed: i32) {
    w.service.deployments[0].rollout = Rollout::InProgress;
    w.service.deployments[0].failed_tasks = failed;
}

fn manual(to: Option<&str>, dry_run: bool) -> Cause {
    Cause::Manual {
        allow_other_family: false,
        force: false,
        by: None,
        reason: "operator".into(),
        to: to.map(str::to_string),
        dry_run,
    }
}

/// The CLI's `rollback --to hello-world:3 --force`.
fn forced_to_3() -> Cause {
    Cause::Manual {
        allow_other_family: false,
        force: true,
        by: None,
        reason: "operator".into(),
        to: Some("hello-world:3".into()),
        dry_run: false,
    }
}

/// Run the Need protocol against the world; returns the decision and the needs served.
fn run(world: &World, cause: Cause, policy: &Policy) -> (Decision, Vec<Need>) {
    let trigger = Trigger {
        target: ServiceRef {
            cluster: "demo".into(),
            service: "hello-world".into(),
        },
        cause,
    };
    let mut snap = Snapshot::new(world.service.clone());
    let mut needs = Vec::new();
    for _ in 0..40 {
        match decide(&trigger, &snap, policy, t(NOW.0, NOW.1)) {
            Step::Done(d) => return (d, needs),
            Step::Need(need) => {
                assert!(!needs.contains(&need), "asked twice for {need:?}");
                match &need {
                    Need::History => snap.history = Some(world.history.clone()),
                    Need::Family(f) => {
                        assert_eq!(f, "hello-world");
                        snap.family = Some(world.family.clone());
                    }
                    Need::StoppedTasks(id) => {
                        assert_eq!(id, &world.service.deployments[0].id);
                        snap.stopped_tasks = Some(Ok(world.stopped.clone()));
                    }
                    Need::Revisions(names) => {
                        for name in names {
                            let r = world
                                .revisions
                                .values()
                                .find(|r| same_task_definition(&r.arn, name))
                                .unwrap_or_else(|| panic!("unknown revision {name}"));
                            snap.revisions.insert(name.clone(), r.clone());
                        }
                    }
                }
                needs.push(need);
            }
        }
    }
    panic!("did not settle");
}

/// What a case expects: the action, the target revision, the skip code.
#[derive(Debug, PartialEq)]
struct Want {
    action: &'static str,
    to: Option<i32>,
    skip: Option<&'static str>,
}

fn rolled(to: i32) -> Want {
    Want {
        action: "rolled_back",
        to: Some(to),
        skip: None,
    }
}
fn skipped(code: &'static str) -> Want {
    Want {
        action: "skipped",
        to: None,
        skip: Some(code),
    }
}

fn got(d: &Decision) -> Want {
    let to = d
        .to()
        .and_then(|a| split_task_definition(a).map(|(_, r)| r));
    let skip = match &d.outcome {
        Outcome::Skip(s) => Some(s.code()),
        _ => None,
    };
    Want {
        action: d.action(),
        to,
        skip,
    }
}

type Setup = fn(&mut World, &mut Policy);

/// Run every named case on a fresh world and report all that differ from what they want.
fn check_table(cases: Vec<(&str, Cause, Setup, Want)>) {
    let mut failures = Vec::new();
    for (name, cause, setup, want) in cases {
        let mut w = world();
        let mut policy = Policy::default();
        setup(&mut w, &mut policy);
        let (d, _) = run(&w, cause, &policy);
        if got(&d) != want {
            failures.push(format!(
                "{name}: want {want:?}, got {:?} ({:?})",
                got(&d),
                d.outcome
            ));
        }
    }
    assert!(failures.is_empty(), "\n{}", failures.join("\n"));
}

#[test]
fn rules_table() {
    let cases: Vec<(&str, Cause, Setup, Want)> = vec![
        // Rule 1: eligibility.
        (
            "rule1_opted_in_failed_deployment_rolls_back",
            failed(),
            |_, _| {},
            rolled(3),
        ),
        (
            "rule1_not_opted_in_is_skipped",
            failed(),
            |w, _| {
                w.service.tags.clear();
            },
            skipped("not_opted_in"),
        ),
        (
            "rule1_opt_in_not_required_acts_untagged",
            failed(),
            |w, p| {
                w.service.tags.clear();
                p.require_opt_in = false;
            },
            rolled(3),
        ),
        (
            "rule1_explicit_opt_out_wins_over_config",
            failed(),
            |w, p| {
                w.service.tags.insert(TAG_ENABLED.into(), "false".into());
                p.require_opt_in = false;
            },
            skipped("opted_out"),
        ),
        (
            "rule1_code_deploy_controller_is_skipped",
            failed(),
            |w, _| {
                w.service.controller = Controller::CodeDeploy;
            },
            skipped("unsupported_controller"),
        ),
        (
            "rule1_external_controller_is_skipped",
            alarm(),
            |w, _| {
                w.service.controller = Controller::External;
            },
            skipped("unsupported_controller"),
        ),
        (
            "rule1_draining_service_is_skipped",
            failed(),
            |w, _| {
                w.service.status = "DRAINING".into();
            },
            skipped("service_not_active"),
        ),
        // Rule 2: stale and duplicate events.
        (
            "rule2_unknown_deployment_is_stale",
            failed(),
            |w, _| {
                w.service.deployments.remove(0);
                w.service.deployments[0].status = "PRIMARY".into();
                w.service.task_definition = td(3);
            },
            skipped("stale_event"),
        ),
        (
            "rule2_superseded_deployment_is_stale",
            failed(),
            |w, _| {
                w.service.deployments[0].status = "ACTIVE".into();
                w.service.deployments.insert(
                    0,
                    deployment("ecs-svc/5", "PRIMARY", 5, Rollout::InProgress, t(10, 15)),
                );
                w.service.task_definition = td(5);
            },
            skipped("stale_event"),
        ),
        (
            "rule2_after_our_rollback_is_duplicate",
            failed(),
            |w, _| {
                w.service.deployments[0].status = "ACTIVE".into();
                w.service.deployments.insert(
                    0,
                    deployment("ecs-svc/9", "PRIMARY", 3, Rollout::InProgress, t(10, 16)),
                );
                w.service.task_definition = td(3);
                w.service.tags.insert(TAG_LAST_ROLLBACK_TO.into(), td(3));
                w.service
                    .tags
                    .insert(TAG_LAST_ROLLBACK_AT.into(), "2026-11-26T10:16:00Z".into());
            },
            skipped("duplicate_event"),
        ),
        (
            "rule2_manual_to_current_revision_is_already_on_target",
            manual(Some("hello-world:4"), false),
            |_, _| {},
            skipped("already_on_target"),
        ),
        (
            "rule2_only_candidate_is_current_is_no_candidate",
            manual(None, false),
            |w, _| {
                w.history = Ok(vec![]);
                w.family = vec![td(4)];
            },
            skipped("no_stable_candidate"),
        ),
        // Rule 3: do not fight ECS.
        (
            "rule3_event_says_ecs_rolls_back",
            Cause::DeploymentFailed {
                deployment_id: "ecs-svc/4".into(),
                reason: "ECS deployment circuit breaker: rolling back to deploymentId ecs-svc/3."
                    .into(),
            },
            |_, _| {},
            skipped("ecs_rolling_back"),
        ),
        (
            "rule3_circuit_breaker_rollback_configured",
            failed(),
            |w, _| {
                w.service.circuit_breaker = Some(AutoRollback {
                    reset_on_healthy_task: None,
                    enable: true,
                    rollback: true,
                    threshold: None,
                });
            },
            skipped("ecs_rolling_back"),
        ),
        (
            // As ECS shows a breaker rollback: the last completed deployment is PRIMARY again
            // (same id, old createdAt), in progress, with the reason; the failed one ACTIVE.
            "rule3_rollback_deployment_in_describe_services",
            alarm(),
            |w, _| {
                w.service.deployments[0].status = "ACTIVE".into();
                w.service.deployments[1].status = "PRIMARY".into();
                w.service.deployments[1].rollout = Rollout::InProgress;
                w.service.deployments[1].rollout_reason = Some(
                    "ECS deployment circuit breaker: rolling back to deploymentId ecs-svc/3."
                        .into(),
                );
                w.service.task_definition = td(3);
            },
            skipped("ecs_rolling_back"),
        ),
        (
            "rule3_rollback_in_progress_in_history",
            alarm(),
            |w, _| {
                w.service.deployments[0].rollout = Rollout::InProgress;
                if let Ok(h) = &mut w.history {
                    h.push(entry(5, DeploymentStatus::RollbackInProgress, 4, t(10, 11)));
                }
            },
            skipped("ecs_rolling_back"),
        ),
        // Rule 4: alarm window.
        (
            "rule4_alarm_within_window_rolls_back",
            alarm(),
            |w, _| {
                w.service.deployments[0].rollout = Rollout::Completed;
            },
            rolled(3),
        ),
        (
            "rule4_alarm_outside_window_is_skipped",
            alarm(),
            |w, _| {
                w.service.deployments[0].rollout = Rollout::Completed;
                w.service.deployments[0].created_at = Some(t(8, 0));
            },
            skipped("outside_alarm_window"),
        ),
        (
            "rule4_window_zero_disables_the_window",
            alarm(),
            |w, p| {
                w.service.deployments[0].created_at = Some(t(1, 0));
                p.alarm_window = None;
            },
            rolled(3),
        ),
        (
            "rule4_window_does_not_apply_while_in_progress",
            alarm(),
            |w, _| {
                w.service.deployments[0].rollout = Rollout::InProgress;
                w.service.deployments[0].created_at = Some(t(1, 0));
            },
            rolled(3),
        ),
        (
            "rule4_alarm_ok_does_nothing",
            Cause::Alarm {
                name: "a".into(),
                state: AlarmState::Ok,
                reason: String::new(),
                since: Some(t(10, 15)),
                guard: AlarmGuard::Tagged,
            },
            |_, _| {},
            skipped("alarm_not_in_alarm"),
        ),
        (
            "rule4_alarm_insufficient_data_does_nothing",
            Cause::Alarm {
                name: "a".into(),
                state: AlarmState::InsufficientData,
                reason: String::new(),
                since: Some(t(10, 15)),
                guard: AlarmGuard::Tagged,
            },
            |_, _| {},
            skipped("alarm_not_in_alarm"),
        ),
        // Rule 5: the last stable revision.
        (
            "rule5_history_newest_successful_by_timestamp",
            failed(),
            |_, _| {},
            rolled(3),
        ),
        (
            "rule5_history_skips_revision_marked_bad",
            failed(),
            |w, _| {
                w.revisions.get_mut(&td(3)).unwrap().ledger = Some(Ledger::Bad);
            },
            rolled(2),
        ),
        (
            // CloudFormation/CDK/Copilot deregister the previous revision: restored by a copy.
            "rule5_history_inactive_revision_is_restored_by_copy",
            failed(),
            |w, _| {
                w.revisions.get_mut(&td(3)).unwrap().status = RevisionStatus::Inactive;
            },
            rolled(3),
        ),
        (
            "rule5_history_skips_delete_in_progress",
            failed(),
            |w, _| {
                w.revisions.get_mut(&td(3)).unwrap().status = RevisionStatus::DeleteInProgress;
            },
            rolled(2),
        ),
        (
            "rule5_history_error_falls_back_to_ledger",
            failed(),
            |w, _| {
                w.history = Err("ListServiceDeployments failed: ThrottlingException".into());
                w.revisions.get_mut(&td(2)).unwrap().ledger = Some(Ledger::Stable);
            },
            Want {
                action: "rolled_back",
                to: Some(2),
                skip: None,
            },
        ),
        (
            "rule5_no_history_no_ledger_newest_older_family_revision",
            failed(),
            |w, _| {
                w.history = Ok(vec![]);
            },
            rolled(3),
        ),
        (
            "rule5_family_never_moves_forward_to_newer_revision",
            failed(),
            |w, _| {
                w.history = Ok(vec![]);
                w.revisions.get_mut(&td(3)).unwrap().ledger = Some(Ledger::Bad);
            },
            rolled(2),
        ),
        (
            "rule5_family_all_bad_is_no_candidate",
            failed(),
            |w, _| {
                w.history = Ok(vec![]);
                for r in 1..=3 {
                    w.revisions.get_mut(&td(r)).unwrap().ledger = Some(Ledger::Bad);
                }
            },
            skipped("no_stable_candidate"),
        ),
        (
            "rule5_manual_explicit_target",
            manual(Some("hello-world:1"), false),
            |_, _| {},
            Want {
                action: "rolled_back",
                to: Some(1),
                skip: None,
            },
        ),
        (
            "rule5_manual_target_marked_bad_is_refused",
            manual(Some("hello-world:2"), false),
            |w, _| {
                w.revisions.get_mut(&td(2)).unwrap().ledger = Some(Ledger::Bad);
            },
            skipped("target_rejected"),
        ),
        (
            "rule5_manual_target_inactive_outside_history_is_refused",
            manual(Some("hello-world:5"), false),
            |w, _| {
                w.revisions.get_mut(&td(5)).unwrap().status = RevisionStatus::Inactive;
            },
            skipped("target_rejected"),
        ),
        (
            "rule5_manual_target_inactive_in_history_is_restored_by_copy",
            manual(Some("hello-world:2"), false),
            |w, _| {
                w.revisions.get_mut(&td(2)).unwrap().status = RevisionStatus::Inactive;
            },
            rolled(2),
        ),
        // Rule 8: no loops.
        (
            // Our rollback to 3 completed at 10:05; its tasks then fail: within the cooldown.
            "rule8_cooldown_blocks_automatic_rollback",
            task_failed(Some("ecs-svc/9"), 3),
            |w, _| {
                ours_completed(w, "10:05");
                w.service.deployments[0].failed_tasks = 3;
            },
            skipped("cooldown"),
        ),
        (
            "rule8_cooldown_over_allows_rollback",
            failed(),
            |w, _| {
                w.service
                    .tags
                    .insert(TAG_LAST_ROLLBACK_AT.into(), "2026-11-26T09:00:00Z".into());
                w.service.tags.insert(TAG_LAST_ROLLBACK_TO.into(), td(2));
            },
            rolled(3),
        ),
        (
            "rule8_manual_bypasses_cooldown",
            manual(None, false),
            |w, _| {
                w.service
                    .tags
                    .insert(TAG_LAST_ROLLBACK_AT.into(), "2026-11-26T10:05:00Z".into());
                w.service.tags.insert(TAG_LAST_ROLLBACK_TO.into(), td(2));
            },
            rolled(3),
        ),
        (
            "rule8_failed_rollback_is_not_chased",
            failed(),
            |w, _| {
                // Our rollback to 4 at 10:00 started deployment ecs-svc/4 (created 10:00).
                w.service
                    .tags
                    .insert(TAG_LAST_ROLLBACK_AT.into(), "2026-11-26T10:00:00Z".into());
                w.service.tags.insert(TAG_LAST_ROLLBACK_TO.into(), td(4));
            },
            skipped("rollback_failed"),
        ),
        (
            // The memory says 08:00, but no deployment of 4 started then: the deployment of 4
            // at 10:00 is not that rollback's. A memory without evidence is ignored.
            "incident_memory_without_evidence_is_ignored",
            failed(),
            |w, _| {
                w.service
                    .tags
                    .insert(TAG_LAST_ROLLBACK_AT.into(), "2026-11-26T08:00:00Z".into());
                w.service.tags.insert(TAG_LAST_ROLLBACK_TO.into(), td(4));
            },
            rolled(3),
        ),
        (
            "rule8_alarm_right_after_our_rollback_is_duplicate",
            alarm(),
            |w, _| {
                w.service.deployments[0].rollout = Rollout::InProgress;
                w.service.deployments[0].created_at = Some(t(10, 15));
                w.service
                    .tags
                    .insert(TAG_LAST_ROLLBACK_AT.into(), "2026-11-26T10:15:00Z".into());
                w.service.tags.insert(TAG_LAST_ROLLBACK_TO.into(), td(4));
            },
            skipped("duplicate_event"),
        ),
        // Rule 9: dry run.
        (
            "rule9_policy_dry_run",
            failed(),
            |_, p| {
                p.dry_run = true;
            },
            Want {
                action: "dry_run",
                to: Some(3),
                skip: None,
            },
        ),
        (
            "rule9_manual_dry_run",
            manual(None, true),
            |_, _| {},
            Want {
                action: "dry_run",
                to: Some(3),
                skip: None,
            },
        ),
        // Early detection: the same rules, counted by ECS.
        (
            "early_crash_loop_of_new_deployment_rolls_back",
            task_failed(Some("ecs-svc/4"), 4),
            |w, _| crashing(w, 2),
            rolled(3),
        ),
        (
            "early_below_threshold_waits",
            task_failed(Some("ecs-svc/4"), 4),
            |w, _| crashing(w, 1),
            skipped("below_failed_task_threshold"),
        ),
        (
            "early_threshold_is_configurable",
            task_failed(Some("ecs-svc/4"), 4),
            |w, p| {
                crashing(w, 3);
                p.early_failed_tasks = 3;
            },
            rolled(3),
        ),
        (
            "early_threshold_is_configurable_upwards_only",
            task_failed(Some("ecs-svc/4"), 4),
            |w, p| {
                crashing(w, 2);
                p.early_failed_tasks = 3;
            },
            skipped("below_failed_task_threshold"),
        ),
        (
            "early_threshold_is_never_below_two",
            task_failed(Some("ecs-svc/4"), 4),
            |w, p| {
                crashing(w, 1);
                p.early_failed_tasks = 1;
            },
            skipped("below_failed_task_threshold"),
        ),
        (
            // Two health-check kills are noise in a 100-task rollout (10 % of the desired count).
            "early_threshold_scales_with_the_desired_count",
            task_failed(Some("ecs-svc/4"), 4),
            |w, _| {
                crashing(w, 2);
                w.service.desired_count = 100;
            },
            skipped("below_failed_task_threshold"),
        ),
        (
            "early_threshold_at_ten_percent_of_the_desired_count",
            task_failed(Some("ecs-svc/4"), 4),
            |w, _| {
                crashing(w, 10);
                w.service.desired_count = 100;
            },
            rolled(3),
        ),
        (
            "early_zero_disables_early_detection",
            task_failed(Some("ecs-svc/4"), 4),
            |w, p| {
                crashing(w, 5);
                p.early_failed_tasks = 0;
            },
            skipped("early_detection_off"),
        ),
        (
            "early_old_deployment_task_does_not_count",
            task_failed(Some("ecs-svc/3"), 3),
            |w, _| crashing(w, 5),
            skipped("older_deployment_task"),
        ),
        (
            "early_task_of_other_revision_does_not_count",
            Cause::TaskFailures {
                deployment_id: None,
                task_definition: Some(td(3)),
                signal: "x".into(),
            },
            |w, _| crashing(w, 5),
            skipped("older_deployment_task"),
        ),
        (
            "early_service_action_counts_against_newest_deployment",
            task_failed(None, 4),
            |w, _| crashing(w, 3),
            rolled(3),
        ),
        (
            "early_completed_deployment_outside_window_is_skipped",
            task_failed(Some("ecs-svc/4"), 4),
            |w, _| {
                crashing(w, 3);
                w.service.deployments[0].rollout = Rollout::Completed;
                w.service.deployments[0].created_at = Some(t(7, 0));
            },
            skipped("outside_alarm_window"),
        ),
        (
            "early_respects_cooldown",
            task_failed(Some("ecs-svc/9"), 3),
            |w, _| {
                ours_completed(w, "10:10");
                w.service.deployments[0].failed_tasks = 3;
            },
            skipped("cooldown"),
        ),
        (
            "early_respects_opt_in",
            task_failed(Some("ecs-svc/4"), 4),
            |w, _| {
                crashing(w, 3);
                w.service.tags.clear();
            },
            skipped("not_opted_in"),
        ),
        (
            // As ECS shows a breaker rollback: the last completed deployment is PRIMARY again,
            // in progress, with the reason; the failing one is ACTIVE.
            "early_never_fights_ecs_rollback",
            task_failed(Some("ecs-svc/4"), 4),
            |w, _| {
                crashing(w, 3);
                w.service.deployments[0].status = "ACTIVE".into();
                w.service.deployments[1].status = "PRIMARY".into();
                w.service.deployments[1].rollout = Rollout::InProgress;
                w.service.deployments[1].rollout_reason = Some(
                    "ECS deployment circuit breaker: rolling back to deploymentId ecs-svc/3."
                        .into(),
                );
            },
            skipped("ecs_rolling_back"),
        ),
        (
            // A person deployed a new revision after ECS's rollback began: the reason left on
            // the older deployment no longer holds the new revision's failure back.
            "rule3_a_rollback_superseded_by_a_new_revision_is_over",
            task_failed(Some("ecs-svc/4"), 4),
            |w, _| {
                crashing(w, 3);
                w.service.deployments[1].created_at = Some(t(9, 50));
                w.service.deployments[1].rollout_reason =
                    Some("Service deployment stopped: rolling back.".into());
            },
            rolled(3),
        ),
        (
            "early_dry_run",
            task_failed(Some("ecs-svc/4"), 4),
            |w, p| {
                crashing(w, 2);
                p.dry_run = true;
            },
            Want {
                action: "dry_run",
                to: Some(3),
                skip: None,
            },
        ),
        // COMPLETED → ledger.
        (
            "ledger_completed_records_stable",
            Cause::DeploymentCompleted {
                deployment_id: "ecs-svc/4".into(),
            },
            |w, _| {
                w.service.deployments[0].rollout = Rollout::Completed;
            },
            Want {
                action: "recorded",
                to: Some(4),
                skip: None,
            },
        ),
        (
            "ledger_completed_never_clears_bad",
            Cause::DeploymentCompleted {
                deployment_id: "ecs-svc/4".into(),
            },
            |w, _| {
                w.service.deployments[0].rollout = Rollout::Completed;
                w.revisions.get_mut(&td(4)).unwrap().ledger = Some(Ledger::Bad);
            },
            skipped("marked_bad"),
        ),
        (
            "rule11_completed_event_for_a_failed_deployment_records_nothing",
            Cause::DeploymentCompleted {
                deployment_id: "ecs-svc/4".into(),
            },
            |_, _| {},
            skipped("deployment_not_completed"),
        ),
        (
            "rule11_completed_event_for_a_deployment_in_progress_records_nothing",
            Cause::DeploymentCompleted {
                deployment_id: "ecs-svc/4".into(),
            },
            |w, _| w.service.deployments[0].rollout = Rollout::InProgress,
            skipped("deployment_not_completed"),
        ),
        (
            "rule11_completed_without_rollout_state_reads_its_successful_service_deployment",
            Cause::DeploymentCompleted {
                deployment_id: "ecs-svc/4".into(),
            },
            |w, _| {
                w.service.deployments[0].rollout = Rollout::Unknown;
                if let Ok(h) = &mut w.history {
                    h.iter_mut()
                        .find(|e| e.arn.ends_with("/d4"))
                        .unwrap()
                        .status = DeploymentStatus::Successful;
                }
            },
            Want {
                action: "recorded",
                to: Some(4),
                skip: None,
            },
        ),
        (
            "ledger_completed_of_superseded_deployment_is_stale",
            Cause::DeploymentCompleted {
                deployment_id: "ecs-svc/3".into(),
            },
            |_, _| {},
            skipped("stale_event"),
        ),
        (
            "in_progress_event_does_nothing",
            Cause::DeploymentInProgress {
                deployment_id: "ecs-svc/4".into(),
            },
            |_, _| {},
            skipped("deployment_in_progress"),
        ),
    ];
    let mut failures = Vec::new();
    for (name, cause, setup, want) in cases {
        let mut w = world();
        let mut policy = Policy::default();
        setup(&mut w, &mut policy);
        let (decision, _) = run(&w, cause, &policy);
        let got = got(&decision);
        if got != want {
            failures.push(format!(
                "{name}: want {want:?}, got {got:?} ({:?})",
                decision.outcome
            ));
        }
    }
    assert!(failures.is_empty(), "\n{}", failures.join("\n"));
}

#[test]
fn rule5_history_fallback_is_said() {
    let mut w = world();
    w.history = Err("ListServiceDeployments failed: HTTP 500".into());
    let (d, needs) = run(&w, failed(), &Policy::default());
    let Outcome::Rollback(plan) = &d.outcome else {
        panic!("{d:?}")
    };
    assert_eq!(plan.source, Source::Family);
    assert!(plan.degraded.as_deref().unwrap().contains("HTTP 500"));
    assert!(needs.contains(&Need::Family("hello-world".into())));
}

#[test]
fn rule2_duplicate_costs_no_read_beyond_the_service() {
    let mut w = world();
    w.service.deployments[0].status = "ACTIVE".into();
    w.service.deployments.insert(
        0,
        deployment("ecs-svc/9", "PRIMARY", 3, Rollout::InProgress, t(10, 16)),
    );
    w.service.task_definition = td(3);
    w.service.tags.insert(TAG_LAST_ROLLBACK_TO.into(), td(3));
    let (d, needs) = run(&w, failed(), &Policy::default());
    assert_eq!(d.action(), "skipped");
    assert!(needs.is_empty(), "{needs:?}");
}

#[test]
fn rule5_history_stops_at_the_first_acceptable_revision() {
    let (d, needs) = run(&world(), failed(), &Policy::default());
    assert_eq!(got(&d), rolled(3));
    // The failing revision is read in the same round (its schema declaration, rule 14; the
    // adapters read it then anyway, for the ledger mark): still one round of revisions.
    assert_eq!(
        needs,
        vec![Need::History, Need::Revisions(vec![td(3), td(4)])]
    );
}

#[test]
fn rule6_in_flight_deployment_is_stopped_with_rollback() {
    let mut w = world();
    // ECS's own rollback restores the source revision with its recorded digests: no copy needed.
    in_flight(&mut w, vec![srev(3, 3)]);
    let (d, _) = run(&w, alarm(), &Policy::default());
    let Outcome::Rollback(plan) = &d.outcome else {
        panic!("{d:?}")
    };
    assert!(
        matches!(&plan.method, Method::StopDeployment { service_deployment_arn } if service_deployment_arn.ends_with("/d4")),
        "{plan:?}"
    );
    assert_eq!(plan.to, td(3));
    assert!(plan.pins.is_empty() && !plan.needs_copy());
}

#[test]
fn rule6_requested_target_uses_update_service() {
    // An explicit target is deployed as asked, even while a deployment is in flight.
    let mut w = world();
    in_flight(&mut w, vec![srev(3, 3)]);
    let (d, _) = run(&w, manual(Some("hello-world:5"), false), &Policy::default());
    let Outcome::Rollback(plan) = &d.outcome else {
        panic!("{d:?}")
    };
    assert_eq!(plan.to, td(5));
    assert_eq!(plan.method, Method::UpdateService);
}

#[test]
fn rule6_source_that_only_failed_uses_update_service() {
    // The source ran only in deployments that failed: not proven, ECS's rollback is not used.
    let mut w = world();
    in_flight(&mut w, vec![srev(7, 5)]);
    if let Ok(h) = &mut w.history {
        h.push(entry(7, DeploymentStatus::Stopped, 5, t(9, 30)));
    }
    let (d, _) = run(&w, alarm(), &Policy::default());
    let Outcome::Rollback(plan) = &d.outcome else {
        panic!("{d:?}")
    };
    assert_eq!(plan.to, td(3));
    assert_eq!(plan.method, Method::UpdateService);
}

#[test]
fn rule6_source_older_than_the_history_is_restored_by_ecs() {
    // The source ran before the visible history began (> 90 days, or before 2024-10-25): ECS
    // can still restore it, and it is proven by having run.
    let mut w = world();
    in_flight(&mut w, vec![srev(99, 1)]);
    if let Ok(h) = &mut w.history {
        h.retain(|e| !e.arn.ends_with("/d1"));
    }
    let (d, _) = run(&w, alarm(), &Policy::default());
    let Outcome::Rollback(plan) = &d.outcome else {
        panic!("{d:?}")
    };
    assert_eq!(plan.source, Source::DeploymentSource);
    assert_eq!(plan.to, td(1));
    assert!(matches!(plan.method, Method::StopDeployment { .. }));
}

#[test]
fn rule6_completed_deployment_uses_update_service() {
    let mut w = world();
    w.service.deployments[0].rollout = Rollout::Completed;
    let (d, _) = run(&w, alarm(), &Policy::default());
    let Outcome::Rollback(plan) = &d.outcome else {
        panic!("{d:?}")
    };
    assert_eq!(plan.method, Method::UpdateService);
}

#[test]
fn rule6_source_other_than_target_uses_update_service() {
    let mut w = world();
    w.revisions.get_mut(&td(3)).unwrap().ledger = Some(Ledger::Bad);
    in_flight(&mut w, vec![srev(3, 3)]);
    let (d, _) = run(&w, alarm(), &Policy::default());
    let Outcome::Rollback(plan) = &d.outcome else {
        panic!("{d:?}")
    };
    assert_eq!(plan.to, td(2));
    assert_eq!(plan.method, Method::UpdateService);
}

#[test]
fn rule7_mutable_tag_is_pinned_to_the_recorded_digest() {
    let mut w = world();
    w.revisions.get_mut(&td(3)).unwrap().images = vec![
        ContainerImage {
            container: "app".into(),
            image: "repo/app:latest".into(),
        },
        ContainerImage {
            container: "sidecar".into(),
            image: "envoy:v1".into(),
        },
        ContainerImage {
            container: "worker".into(),
            image: "repo/app:4f2a9c1".into(),
        },
    ];
    let (d, _) = run(&w, failed(), &Policy::default());
    let Outcome::Rollback(plan) = &d.outcome else {
        panic!("{d:?}")
    };
    assert_eq!(
        plan.pins,
        vec![Pin {
            container: "app".into(),
            image: "repo/app:latest".into(),
            pinned: format!("repo/app@sha256:{:0>64}", 3),
        }],
        "only mutable tags whose digest history recorded are pinned (sidecar: none recorded; worker: a git SHA)"
    );
    assert_eq!(plan.method, Method::UpdateService);
    assert!(d.reason(&failed()).contains("pinned"));
}

#[test]
fn rule7_no_digest_in_history_means_no_pin() {
    let mut w = world();
    w.revisions.get_mut(&td(3)).unwrap().images = vec![ContainerImage {
        container: "app".into(),
        image: "repo/app:latest".into(),
    }];
    if let Ok(h) = &mut w.history {
        for e in h.iter_mut() {
            e.target_images[0].digest = None;
            e.target.as_mut().unwrap().images[0].digest = None;
        }
    }
    let (d, _) = run(&w, failed(), &Policy::default());
    let Outcome::Rollback(plan) = &d.outcome else {
        panic!("{d:?}")
    };
    assert!(plan.pins.is_empty());
}

#[test]
fn rule9_dry_run_decides_exactly_like_a_real_run() {
    let dry = Policy {
        dry_run: true,
        ..Policy::default()
    };
    let (real, _) = run(&world(), failed(), &Policy::default());
    let (d, _) = run(&world(), failed(), &dry);
    let (Outcome::Rollback(a), Outcome::Rollback(b)) = (&real.outcome, &d.outcome) else {
        panic!()
    };
    assert!(b.dry_run && !a.dry_run);
    assert_eq!((&a.to, &a.method, &a.pins), (&b.to, &b.method, &b.pins));
}

#[test]
fn every_skip_reason_is_one_sentence() {
    let skips = vec![
        Skip::NotOptedIn,
        Skip::Cooldown {
            at: "2026-11-26T10:00:00Z".into(),
            minutes_left: 5,
            how: "automatically".into(),
        },
        Skip::NoCandidate("x".into()),
        Skip::EcsRollingBack("y".into()),
        Skip::OutsideWindow {
            minutes: 90,
            window: 60,
        },
        Skip::RollbackFailed { to: td(3) },
    ];
    for s in skips {
        let text = s.to_string();
        assert!(text.ends_with('.') && !text.contains('\n'), "{text}");
    }
}

// ---------------------------------------------------------------------------------------------
// Trigger trust (rules 3, 4, 8, 10), service revisions and strategies (rules 5–7).

fn dim_alarm(names: &[&str]) -> Cause {
    Cause::Alarm {
        name: "hello-world-5xx".into(),
        state: AlarmState::Alarm,
        reason: "Threshold Crossed".into(),
        since: Some(t(10, 15)),
        guard: AlarmGuard::Dimensions {
            alarm_names: names.iter().map(|n| n.to_string()).collect(),
        },
    }
}

fn listed(w: &mut World, rollback: bool) {
    w.service.deployment_alarms = Some(DeploymentAlarms {
        names: vec!["hello-world-5xx".into()],
        enable: true,
        rollback,
    });
}

fn plan_of(d: &Decision) -> &RollbackPlan {
    match &d.outcome {
        Outcome::Rollback(plan) => plan,
        other => panic!("not a rollback: {other:?}"),
    }
}

#[test]
fn trigger_trust_table() {
    let cases: Vec<(&str, Cause, Setup, Want)> = vec![
        (
            "rule11_failed_event_for_a_completed_deployment_is_not_believed",
            failed(),
            |w, _| w.service.deployments[0].rollout = Rollout::Completed,
            skipped("deployment_not_failed"),
        ),
        (
            "rule11_failed_event_for_a_deployment_still_in_progress_is_not_believed",
            failed(),
            |w, _| w.service.deployments[0].rollout = Rollout::InProgress,
            skipped("deployment_not_failed"),
        ),
        (
            "rule11_without_rollout_state_a_stopped_service_deployment_verifies_the_failure",
            failed(),
            |w, _| w.service.deployments[0].rollout = Rollout::Unknown,
            rolled(3),
        ),
        (
            "rule11_without_rollout_state_a_successful_service_deployment_refutes_the_failure",
            failed(),
            |w, _| {
                w.service.deployments[0].rollout = Rollout::Unknown;
                if let Ok(h) = &mut w.history {
                    h.iter_mut()
                        .find(|e| e.arn.ends_with("/d4"))
                        .unwrap()
                        .status = DeploymentStatus::Successful;
                }
            },
            skipped("deployment_not_failed"),
        ),
        (
            "rule11_without_rollout_state_or_history_the_failure_is_not_believed",
            failed(),
            |w, _| {
                w.service.deployments[0].rollout = Rollout::Unknown;
                w.history = Ok(Vec::new());
            },
            skipped("deployment_not_failed"),
        ),
        (
            "rule4_dimension_alarm_not_listed_is_not_a_guard",
            dim_alarm(&["hello-world-5xx"]),
            |_, _| {},
            skipped("not_a_guard"),
        ),
        (
            "rule4_dimension_alarm_listed_in_deployment_alarms_guards",
            dim_alarm(&["hello-world-5xx"]),
            |w, _| listed(w, false),
            rolled(3),
        ),
        (
            "rule4_composite_child_listed_guards",
            Cause::Alarm {
                name: "hello-world-health".into(),
                state: AlarmState::Alarm,
                reason: "child in ALARM".into(),
                since: Some(t(10, 15)),
                guard: AlarmGuard::Dimensions {
                    alarm_names: vec!["hello-world-5xx".into()],
                },
            },
            |w, _| listed(w, false),
            rolled(3),
        ),
        (
            "rule3_deployment_alarm_with_rollback_during_the_deployment_is_ecs_s",
            dim_alarm(&["hello-world-5xx"]),
            |w, _| {
                listed(w, true);
                w.service.deployments[0].rollout = Rollout::InProgress;
            },
            skipped("ecs_deployment_alarm"),
        ),
        (
            "rule3_tagged_alarm_that_is_a_deployment_alarm_with_rollback_is_ecs_s_in_flight",
            alarm(),
            |w, _| {
                listed(w, true);
                w.service.deployments[0].rollout = Rollout::InProgress;
            },
            skipped("ecs_deployment_alarm"),
        ),
        (
            "rule3_deployment_alarm_after_completion_is_ours",
            dim_alarm(&["hello-world-5xx"]),
            |w, _| {
                listed(w, true);
                w.service.deployments[0].rollout = Rollout::Completed;
            },
            rolled(3),
        ),
        (
            "rule3_circuit_breaker_failure_is_ours_when_only_alarms_roll_back",
            failed(),
            |w, _| {
                listed(w, true);
                w.service.circuit_breaker = Some(AutoRollback {
                    reset_on_healthy_task: None,
                    enable: true,
                    rollback: false,
                    threshold: None,
                });
            },
            rolled(3),
        ),
        (
            "rule3_alarm_failure_is_ecs_s_when_alarms_roll_back",
            Cause::DeploymentFailed {
                deployment_id: "ecs-svc/4".into(),
                reason: "One or more CloudWatch alarms are in ALARM state: hello-world-5xx.".into(),
            },
            |w, _| listed(w, true),
            skipped("ecs_rolling_back"),
        ),
        (
            "rule3_rollback_in_flight_in_the_history_is_ecs_s",
            failed(),
            |w, _| {
                if let Ok(h) = &mut w.history {
                    h[3].status = DeploymentStatus::RollbackInProgress;
                }
            },
            skipped("ecs_rolling_back"),
        ),
        (
            // The circuit breaker rolled 4 back to 3 at 10:10 (no new deployment: the earlier
            // one is PRIMARY again); an alarm at 10:20 must not walk further back.
            "rule3_ecs_rollback_within_the_cooldown_is_not_walked_further",
            alarm(),
            |w, p| {
                ecs_rolled_back(w);
                // The restored deployment is old: without a window the alarm reaches rule 3.
                p.alarm_window = None;
            },
            skipped("ecs_rolled_back"),
        ),
        (
            // ECS restored 3 long ago: 3 is a proven revision, not a new one; an alarm on it is
            // a person's to answer, never a further automatic step back.
            "incident_ecs_restored_revision_is_not_new_however_long_ago",
            alarm(),
            |w, p| {
                ecs_rolled_back(w);
                p.cooldown = Duration::minutes(5);
                p.alarm_window = None;
            },
            skipped("not_a_new_revision"),
        ),
        (
            "rule10_direct_target_of_another_family_is_refused",
            manual(Some("admin-tools:3"), false),
            |_, _| {},
            skipped("target_rejected"),
        ),
        (
            "rule10_cli_may_allow_another_family",
            Cause::Manual {
                reason: "operator".into(),
                to: Some("admin-tools:3".into()),
                dry_run: false,
                allow_other_family: true,
                force: false,
                by: Some("arn:aws:sts::123456789012:assumed-role/oncall/alice".into()),
            },
            |w, _| {
                let mut r = revision(3);
                r.arn = "arn:aws:ecs:eu-west-1:123456789012:task-definition/admin-tools:3".into();
                r.family = "admin-tools".into();
                w.revisions.insert(r.arn.clone(), r);
            },
            rolled(3),
        ),
        (
            "rule8_rollback_target_that_completed_is_ordinary_again",
            task_failed(Some("ecs-svc/9"), 3),
            |w, _| {
                ours_completed(w, "08:00");
                w.service.deployments[0].created_at = Some(t(10, 0));
                w.service.deployments[0].failed_tasks = 3;
            },
            rolled(2),
        ),
        (
            "rule8_rollback_target_still_failing_is_never_chased",
            task_failed(Some("ecs-svc/9"), 3),
            |w, _| {
                ours_completed(w, "10:00");
                w.service.deployments[0].rollout = Rollout::InProgress;
                w.service.deployments[0].failed_tasks = 3;
            },
            skipped("rollback_failed"),
        ),
        (
            // The tags were never written (throttled, the 50-tag limit): the history shows that
            // the current deployment restored an earlier revision 8 minutes ago.
            "rule8_failed_bookkeeping_is_covered_by_the_history",
            alarm(),
            |w, _| {
                our_rollback_in_history_only(w);
            },
            skipped("cooldown"),
        ),
        (
            "rule8_unparsable_tag_with_the_history_down_is_a_human_s_call",
            failed(),
            |w, _| {
                w.service
                    .tags
                    .insert(TAG_LAST_ROLLBACK_AT.into(), "yesterday".into());
                w.history = Err("ThrottlingException".into());
            },
            skipped("loop_guard_unknown"),
        ),
        (
            "rule8_new_deployment_after_a_manual_rollback_is_a_new_incident",
            failed(),
            |w, _| {
                w.service.deployments[1].task_definition = td(2);
                w.service
                    .tags
                    .insert(TAG_LAST_ROLLBACK_AT.into(), "2026-11-26T09:50:00Z".into());
                w.service.tags.insert(TAG_LAST_ROLLBACK_TO.into(), td(2));
                w.service
                    .tags
                    .insert(TAG_LAST_ROLLBACK_KIND.into(), "manual".into());
            },
            rolled(3),
        ),
        (
            "rule5_bad_for_this_service_bans",
            failed(),
            |w, _| {
                let r = w.revisions.get_mut(&td(3)).unwrap();
                r.ledger = Some(Ledger::Bad);
                r.bad_for = vec!["demo/hello-world".into()];
            },
            rolled(2),
        ),
        (
            "rule5_bad_for_another_service_is_a_warning_only",
            failed(),
            |w, _| {
                let r = w.revisions.get_mut(&td(3)).unwrap();
                r.ledger = Some(Ledger::Bad);
                r.bad_for = vec!["demo/checkout".into()];
            },
            rolled(3),
        ),
        (
            "rule5_hand_set_bad_without_bad_for_bans_everywhere",
            failed(),
            |w, _| {
                w.revisions.get_mut(&td(3)).unwrap().ledger = Some(Ledger::Bad);
            },
            rolled(2),
        ),
    ];
    check_table(cases);
}

/// ECS's circuit breaker rolled deployment 4 back to 3 at 10:10: the service runs the earlier
/// deployment again (no new one), the history holds a ROLLBACK_SUCCESSFUL entry whose restored
/// revision is 3.
fn ecs_rolled_back(w: &mut World) {
    w.service.deployments = vec![deployment(
        "ecs-svc/3",
        "PRIMARY",
        3,
        Rollout::Completed,
        t(9, 0),
    )];
    w.service.task_definition = td(3);
    if let Ok(h) = &mut w.history {
        let e = h.iter_mut().find(|e| e.arn.ends_with("/d4")).unwrap();
        e.status = DeploymentStatus::RollbackSuccessful;
        e.finished_at = Some(t(10, 10));
        e.rolled_back_to = Some(srev(3, 3));
    }
}

/// Our rollback 4 → 3 at 10:12 whose bookkeeping tags were never written: deployment 9 (a new
/// deployment of revision 3) is PRIMARY and completed.
fn our_rollback_in_history_only(w: &mut World) {
    w.service.deployments = vec![deployment(
        "ecs-svc/9",
        "PRIMARY",
        3,
        Rollout::Completed,
        t(10, 12),
    )];
    w.service.task_definition = td(3);
    if let Ok(h) = &mut w.history {
        let mut e = entry(9, DeploymentStatus::Successful, 3, t(10, 15));
        e.created_at = Some(t(10, 12));
        h.push(e);
    }
}

#[test]
fn rule8_a_clock_skewed_tag_is_reported_never_a_silent_cooldown() {
    let mut w = world();
    w.service
        .tags
        .insert(TAG_LAST_ROLLBACK_AT.into(), "2027-03-01T00:00:00Z".into());
    w.service.tags.insert(TAG_LAST_ROLLBACK_TO.into(), td(3));
    let (d, _) = run(&w, failed(), &Policy::default());
    assert_eq!(got(&d), rolled(3), "{d:?}");
    let reason = d.reason(&failed());
    assert!(
        reason.contains("in the future") && reason.contains("deployment history instead"),
        "{reason}"
    );
}

#[test]
fn rule5_a_re_pushed_latest_restores_the_same_task_definition_pinned() {
    // The pipeline re-pushes app:latest and force-deploys the same revision 3: history has 3
    // SUCCESSFUL with digest A twice, then 3 FAILED with digest B.
    let mut w = world();
    w.revisions.get_mut(&td(3)).unwrap().images = vec![ContainerImage {
        container: "app".into(),
        image: "repo/app:latest".into(),
    }];
    let digest = |c: char| format!("sha256:{}", c.to_string().repeat(64));
    let with_digest = |mut e: HistoryEntry, d: String| {
        e.target_images[0].digest = Some(d.clone());
        e.target.as_mut().unwrap().images[0].digest = Some(d);
        e
    };
    w.history = Ok(vec![
        with_digest(
            entry(1, DeploymentStatus::Successful, 3, t(7, 0)),
            digest('a'),
        ),
        with_digest(
            entry(2, DeploymentStatus::Successful, 3, t(8, 0)),
            digest('a'),
        ),
        with_digest(
            entry(4, DeploymentStatus::Stopped, 3, t(10, 10)),
            digest('b'),
        ),
    ]);
    w.service.task_definition = td(3);
    w.service.deployments = vec![deployment(
        "ecs-svc/4",
        "PRIMARY",
        3,
        Rollout::Failed,
        t(10, 0),
    )];
    let (d, _) = run(&w, failed(), &Policy::default());
    let plan = plan_of(&d);
    assert_eq!(plan.to, td(3), "same family, same task definition");
    assert_eq!(
        plan.pins,
        vec![Pin {
            container: "app".into(),
            image: "repo/app:latest".into(),
            pinned: format!("repo/app@{}", digest('a')),
        }]
    );
    assert_eq!(
        plan.mark_bad, None,
        "revision 3 ran fine with digest A: not bad"
    );
    assert!(plan.needs_copy());
    assert!(
        d.reason(&failed()).contains("same task definition"),
        "{}",
        d.reason(&failed())
    );
}

#[test]
fn rule6_a_configuration_only_failure_restores_the_configuration() {
    // Deployment 4 changed only the subnets of revision 3's service: the configuration goes back,
    // the good task definition is not marked bad.
    let mut w = world();
    let net = |subnet: &str| {
        format!("subnets=[\"{subnet}\"] securityGroups=[\"sg-1\"] assignPublicIp=None")
    };
    if let Ok(h) = &mut w.history {
        for e in h.iter_mut() {
            let n: u32 = e.arn.rsplit("/d").next().unwrap().parse().unwrap();
            let t = e.target.as_mut().unwrap();
            t.config.insert(
                "networkConfiguration".into(),
                net(if n == 4 { "subnet-b" } else { "subnet-a" }),
            );
            t.config.insert("launchType".into(), "FARGATE".into());
            if n == 4 {
                t.task_definition = td(3);
                t.images[0].digest = Some(format!("sha256:{:0>64}", 3));
                e.target_task_definition = Some(td(3));
            }
        }
    }
    w.service.task_definition = td(3);
    w.service.deployments[0].task_definition = td(3);
    let (d, _) = run(&w, failed(), &Policy::default());
    let plan = plan_of(&d);
    assert_eq!(plan.to, td(3));
    assert_eq!(plan.restore, vec!["networkConfiguration".to_string()]);
    assert!(
        plan.restore_from
            .as_deref()
            .is_some_and(|r| r.ends_with("/3")),
        "{plan:?}"
    );
    assert_eq!(plan.mark_bad, None);
    assert!(plan.pins.is_empty(), "digest references need no pin");
    assert!(
        d.reason(&failed())
            .contains("restoring networkConfiguration"),
        "{}",
        d.reason(&failed())
    );
}

#[test]
fn rule6_blue_green_in_bake_time_is_stopped_and_traffic_shifts_back() {
    for strategy in [Strategy::BlueGreen, Strategy::Linear, Strategy::Canary] {
        let mut w = world();
        w.service.strategy = strategy;
        w.service.bake_time_minutes = Some(10);
        in_flight(&mut w, vec![srev(3, 3)]);
        let (d, _) = run(&w, alarm(), &Policy::default());
        let plan = plan_of(&d);
        assert!(
            matches!(plan.method, Method::StopDeployment { .. }),
            "{strategy:?}"
        );
        let reason = d.reason(&alarm());
        assert!(
            reason.contains("shifts production traffic back to hello-world:3")
                && reason.contains(strategy.as_str()),
            "{reason}"
        );
    }
}

#[test]
fn rule6_after_a_completed_blue_green_deployment_ecs_runs_the_whole_strategy_again() {
    let mut w = world();
    w.service.strategy = Strategy::Canary;
    w.service.bake_time_minutes = Some(15);
    w.service.deployments[0].rollout = Rollout::Completed;
    let (d, _) = run(&w, alarm(), &Policy::default());
    let plan = plan_of(&d);
    assert_eq!(plan.method, Method::UpdateService);
    let reason = d.reason(&alarm());
    assert!(
        reason.contains("full CANARY deployment of hello-world:3, with its 15 min bake time"),
        "{reason}"
    );
}

#[test]
fn early_a_revision_that_runs_then_crash_loops_counts_its_stopped_tasks() {
    // failedTasks was reset to 0 once a task reached RUNNING; the stopped tasks still tell.
    let stop = |code: &str, reason: &str| TaskStop {
        task_arn: "t".into(),
        stop_code: code.into(),
        stopped_reason: reason.into(),
        container_reasons: Vec::new(),
    };
    let mut w = world();
    crashing(&mut w, 0);
    w.stopped = vec![
        stop(
            "EssentialContainerExited",
            "Essential container in task exited",
        ),
        stop(
            "ServiceSchedulerInitiated",
            "Task failed container health checks",
        ),
    ];
    let (d, needs) = run(&w, task_failed(Some("ecs-svc/4"), 4), &Policy::default());
    assert_eq!(got(&d), rolled(3), "{d:?}");
    assert!(needs.contains(&Need::StoppedTasks("ecs-svc/4".into())));

    w.stopped = vec![
        stop(
            "EssentialContainerExited",
            "Essential container in task exited",
        ),
        stop(
            "ServiceSchedulerInitiated",
            "Scaling activity initiated by (deployment ecs-svc/4)",
        ),
    ];
    let (d, _) = run(&w, task_failed(Some("ecs-svc/4"), 4), &Policy::default());
    assert_eq!(got(&d), skipped("below_failed_task_threshold"), "{d:?}");
}

#[test]
fn rule4_auto_scaling_suppressed_and_disabled_alarms_are_never_triggers() {
    let facts = |name: &str, actions: &[&str], enabled: Option<bool>, suppressed: Option<&str>| {
        AlarmFacts {
            name: name.into(),
            actions: actions.iter().map(|a| a.to_string()).collect(),
            actions_enabled: enabled,
            suppressed: suppressed.map(str::to_string),
        }
    };
    let policy = "arn:aws:autoscaling:eu-west-1:123456789012:scalingPolicy:8d5c:resource/ecs/service/demo/hello-world:policyName/cpu";
    let cases = [
        (facts("hello-world-5xx", &[], Some(true), None), None),
        (
            facts(
                "hello-world-5xx",
                &["arn:aws:sns:eu-west-1:123456789012:pager"],
                None,
                None,
            ),
            None,
        ),
        (
            facts("cpu-high", &[policy], Some(true), None),
            Some("auto_scaling_alarm"),
        ),
        (
            facts(
                "TargetTracking-service/demo/hello-world-AlarmLow-1",
                &[],
                None,
                None,
            ),
            Some("auto_scaling_alarm"),
        ),
        (
            facts("x", &[], Some(false), None),
            Some("alarm_actions_disabled"),
        ),
        (
            facts("x", &[], Some(true), Some("Alarm by maint")),
            Some("alarm_suppressed"),
        ),
    ];
    for (f, want) in cases {
        let got = rule4_alarm_is_trigger(&f).err().map(|s| s.code());
        assert_eq!(got, want, "{f:?}");
    }
}

#[test]
fn rule8_a_manual_rollback_is_named_as_manual_in_the_cooldown() {
    // Bug: a manual rollback's cooldown said "rolled back automatically".
    let mut w = world();
    ours_completed(&mut w, "10:05");
    w.service.deployments[0].failed_tasks = 3;
    w.service
        .tags
        .insert(TAG_LAST_ROLLBACK_KIND.into(), "manual".into());
    w.service.tags.insert(
        TAG_LAST_ROLLBACK_BY.into(),
        "arn:aws:sts::123456789012:assumed-role/oncall/alice".into(),
    );
    let cause = task_failed(Some("ecs-svc/9"), 3);
    let (d, _) = run(&w, cause.clone(), &Policy::default());
    assert_eq!(got(&d), skipped("cooldown"), "{d:?}");
    let reason = d.reason(&cause);
    assert!(
        reason.contains(
            "rolled back manually by arn:aws:sts::123456789012:assumed-role/oncall/alice"
        ),
        "{reason}"
    );
}

#[test]
fn rule3_ecs_s_rollback_is_named_as_the_api_names_it() {
    let mut w = world();
    if let Ok(h) = &mut w.history {
        h[3].status = DeploymentStatus::RollbackInProgress;
    }
    let (d, _) = run(&w, failed(), &Policy::default());
    let reason = d.reason(&failed());
    assert!(reason.contains("is ROLLBACK_IN_PROGRESS"), "{reason}");
}

// ---------------------------------------------------------------------------------------------
// Incidents over time: each case is one step of a sequence that single-event rules got wrong.

/// Our rollback (deployment `ecs-svc/9` of `to`, created at 10:00, recorded in the tags and in the
/// history as service deployment 9) completed; 3 completed before it (entry 3).
fn ours_in_history(w: &mut World, to: i32) {
    ours_completed(w, "10:00");
    w.service.deployments[0].task_definition = td(to);
    w.service.task_definition = td(to);
    w.service.tags.insert(TAG_LAST_ROLLBACK_TO.into(), td(to));
    if let Ok(h) = &mut w.history {
        let mut e = entry(9, DeploymentStatus::Successful, to, t(10, 5));
        e.created_at = Some(t(10, 0));
        if let Some(target) = &mut e.target {
            // A pinned copy runs its source's digests.
            target.images = srev(3, 3).images;
        }
        e.target_images = srev(3, 3).images;
        h.push(e);
    }
}

/// Task definition 6: our digest-pinned copy of 3.
fn with_copy_of_3(w: &mut World) {
    let mut copy = revision(6);
    copy.pinned_from = Some(td(3));
    copy.images = w.revisions[&td(3)].images.clone();
    w.revisions.insert(td(6), copy);
    w.family.push(td(6));
}

#[test]
fn incidents_table() {
    let cases: Vec<(&str, Cause, Setup, Want)> = vec![
        (
            // A guarding alarm that keeps flapping 20 min after our rollback (past a 10 min
            // cooldown, inside the 60 min window measured from our own deployment): the
            // rollback did not clear it; never a step further back to 2.
            "incident_our_rollback_opens_no_window",
            alarm(),
            |w, p| {
                ours_in_history(w, 3);
                p.cooldown = Duration::minutes(10);
            },
            skipped("not_a_new_revision"),
        ),
        (
            // The same with the cooldown still running: a duplicate, said quietly.
            "incident_alarm_within_the_cooldown_after_our_rollback_is_a_duplicate",
            alarm(),
            |w, _| ours_in_history(w, 3),
            skipped("duplicate_event"),
        ),
        (
            // The alarm entered ALARM at 10:15; a person's fix (deployment ecs-svc/4, here the
            // newest) started at 10:17. The late event is about the older deployment.
            "incident_stale_alarm_never_undoes_a_fix",
            alarm(),
            |w, _| {
                w.service.deployments[0].rollout = Rollout::InProgress;
                w.service.deployments[0].created_at = Some(t(10, 17));
            },
            skipped("stale_alarm"),
        ),
        (
            "incident_alarm_within_the_skew_of_the_deployment_acts",
            alarm(),
            |w, _| {
                w.service.deployments[0].rollout = Rollout::InProgress;
                w.service.deployments[0].created_at = Some(t(10, 16));
            },
            rolled(3),
        ),
        (
            // The loop guard was written at 10:10, then the invocation was killed before
            // UpdateService: the old ACTIVE deployment of 3 (created 9:00) is no evidence.
            "incident_memory_of_a_killed_invocation_is_decided_afresh",
            failed(),
            |w, _| {
                w.service
                    .tags
                    .insert(TAG_LAST_ROLLBACK_AT.into(), "2026-11-26T10:10:00Z".into());
                w.service.tags.insert(TAG_LAST_ROLLBACK_TO.into(), td(3));
                w.service.tags.insert(TAG_LAST_ROLLBACK_FROM.into(), td(4));
            },
            rolled(3),
        ),
        (
            // Our rollback deployed 6, a pinned copy of 3; the tags could not be written (the
            // 50-tag limit). The copy is 3: the running revision is not new.
            "incident_copy_is_its_source_for_the_loop_guard",
            alarm(),
            |w, p| {
                with_copy_of_3(w);
                ours_in_history(w, 6);
                w.service.tags.retain(|k, _| k == TAG_ENABLED);
                p.cooldown = Duration::minutes(10);
            },
            skipped("not_a_new_revision"),
        ),
        (
            // A person asks for the last stable revision while an identical copy of 3 runs:
            // never redeploy the copy's source; 2 is the step back.
            "incident_copy_is_its_source_for_the_target",
            manual(None, false),
            |w, _| {
                with_copy_of_3(w);
                ours_in_history(w, 6);
            },
            rolled(2),
        ),
        (
            // ECS's own breaker rollback restored 3: an alarm on 3 afterwards is not about a
            // new revision.
            "incident_ecs_restore_opens_no_window",
            alarm(),
            |w, p| {
                ecs_rolled_back(w);
                p.cooldown = Duration::minutes(5);
                p.alarm_window = Some(Duration::minutes(120));
            },
            skipped("not_a_new_revision"),
        ),
        (
            // A same-task-definition redeploy (ecs-svc/12, 10:12) not yet in the history must
            // not be matched to the entry of 4 from 10:00: it is new, and is rolled back.
            "incident_redeploy_not_yet_in_history_is_new",
            task_failed(Some("ecs-svc/12"), 4),
            |w, _| {
                w.service.deployments[0].id = "ecs-svc/12".into();
                w.service.deployments[0].created_at = Some(t(10, 12));
                crashing(w, 3);
                if let Ok(h) = &mut w.history {
                    let e = h.iter_mut().find(|e| e.arn.ends_with("/d4")).unwrap();
                    e.status = DeploymentStatus::Successful;
                }
            },
            rolled(3),
        ),
        (
            // The history is unreadable and the running revision is recorded stable: no
            // evidence that it is new, so no automatic rollback.
            "incident_history_down_and_recorded_stable_is_not_new",
            alarm(),
            |w, p| {
                w.history = Err("ListServiceDeployments: throttled".into());
                w.revisions.get_mut(&td(4)).unwrap().ledger = Some(Ledger::Stable);
                p.alarm_window = None;
            },
            skipped("not_a_new_revision"),
        ),
    ];
    check_table(cases);
}

/// Declare `schema` on revision `rev` (`ecs-rollback:schema`).
fn declare(w: &mut World, rev: i32, schema: &str) {
    w.revisions.get_mut(&td(rev)).unwrap().schema = Some(SchemaRange::parse(schema));
}

/// The schema contract of the revisions 1–4: 4 (failing) brought schema 6.
fn schemas(w: &mut World, of: [&str; 4]) {
    for (i, s) in of.iter().enumerate() {
        if !s.is_empty() {
            declare(w, i as i32 + 1, s);
        }
    }
}

fn record(w: &mut World, at: (u32, u32), result: Option<&str>) {
    let tags = &mut w.service.tags;
    tags.insert(TAG_MIGRATION_ID.into(), "m1".into());
    tags.insert(TAG_MIGRATION_AT.into(), t(at.0, at.1).to_rfc3339());
    tags.insert(TAG_MIGRATION_FROM.into(), "hello-world:4".into());
    tags.insert(TAG_MIGRATION_TO.into(), "hello-world:3".into());
    tags.insert(TAG_MIGRATION_SCHEMA.into(), "5".into());
    if let Some(r) = result {
        tags.insert(TAG_MIGRATION_RESULT.into(), r.into());
    }
}

fn migrating(to: i32) -> Want {
    Want {
        action: "migrating",
        to: Some(to),
        skip: None,
    }
}

#[test]
fn rule14_schema_table() {
    let cases: Vec<(&str, Cause, Setup, Want)> = vec![
        (
            "rule14_nothing_declared_behaves_as_before",
            failed(),
            |_, _| {},
            rolled(3),
        ),
        (
            "rule14_failing_revision_undeclared_checks_nothing",
            failed(),
            |w, _| schemas(w, ["1", "2", "3", ""]),
            rolled(3),
        ),
        (
            "rule14_target_declaring_the_schema_in_force_is_taken",
            failed(),
            |w, _| schemas(w, ["", "", "6", "6"]),
            rolled(3),
        ),
        (
            "rule14_a_range_covering_the_schema_in_force_is_taken",
            failed(),
            |w, _| schemas(w, ["", "", "5..6", "6"]),
            rolled(3),
        ),
        (
            "rule14_an_incompatible_target_is_passed_over_for_an_older_proven_one",
            failed(),
            |w, _| schemas(w, ["", "6", "5", "6"]),
            rolled(2),
        ),
        (
            "rule14_an_undeclared_target_is_passed_over",
            failed(),
            |w, _| schemas(w, ["4..6", "", "", "6"]),
            rolled(1),
        ),
        (
            "rule14_no_proven_target_runs_against_the_schema",
            failed(),
            |w, _| schemas(w, ["4", "5", "5", "6"]),
            skipped("schema_incompatible"),
        ),
        (
            "rule14_no_unproven_family_revision_replaces_a_proven_one",
            failed(),
            |w, _| {
                schemas(w, ["4", "5", "5", "6"]);
                declare(w, 5, "6");
                w.family.push(td(0));
            },
            skipped("schema_incompatible"),
        ),
        (
            "rule14_with_a_down_migration_named_the_last_stable_target_is_migrated_to",
            failed(),
            |w, _| {
                schemas(w, ["4", "5", "5", "6"]);
                w.service
                    .tags
                    .insert(TAG_MIGRATION.into(), "hello-migrate".into());
            },
            migrating(3),
        ),
        (
            "rule14_a_compatible_target_needs_no_migration",
            failed(),
            |w, _| {
                schemas(w, ["4", "6", "5", "6"]);
                w.service
                    .tags
                    .insert(TAG_MIGRATION.into(), "hello-migrate".into());
            },
            rolled(2),
        ),
        (
            "rule14_an_undeclared_target_cannot_be_migrated_to",
            failed(),
            |w, _| {
                schemas(w, ["", "", "", "6"]);
                w.service
                    .tags
                    .insert(TAG_MIGRATION.into(), "hello-migrate".into());
            },
            skipped("schema_incompatible"),
        ),
        (
            "rule14_an_unreadable_declaration_acts_on_nothing",
            failed(),
            |w, _| declare(w, 4, "7..5"),
            skipped("schema_unreadable"),
        ),
        (
            "rule14_alarm_after_deployment_same_rule",
            alarm(),
            |w, _| {
                schemas(w, ["4", "5", "5", "6"]);
                w.service.deployments[0].rollout = Rollout::Completed;
            },
            skipped("schema_incompatible"),
        ),
        (
            "rule14_requested_target_that_cannot_run_is_refused",
            manual(Some("hello-world:3"), false),
            |w, _| schemas(w, ["", "", "5", "6"]),
            skipped("target_rejected"),
        ),
        (
            "rule14_requested_target_with_force_is_rolled_back_to",
            forced_to_3(),
            |w, _| schemas(w, ["", "", "5", "6"]),
            rolled(3),
        ),
        (
            "rule14_requested_target_with_a_down_migration",
            manual(Some("hello-world:3"), false),
            |w, _| {
                schemas(w, ["", "", "5", "6"]);
                w.service
                    .tags
                    .insert(TAG_MIGRATION.into(), "hello-migrate".into());
            },
            migrating(3),
        ),
        (
            "rule14_a_running_migration_holds_every_trigger",
            alarm(),
            |w, _| record(w, (10, 12), None),
            skipped("migration_running"),
        ),
        (
            "rule14_a_running_migration_holds_a_person_too",
            manual(None, false),
            |w, _| record(w, (10, 12), None),
            skipped("migration_running"),
        ),
        (
            "rule14_a_migration_past_its_time_is_timed_out",
            failed(),
            |w, _| record(w, (9, 40), None),
            skipped("migration_timed_out"),
        ),
        (
            "rule14_a_failed_migration_leaves_the_failure_to_a_person",
            failed(),
            |w, _| {
                schemas(w, ["4", "5", "5", "6"]);
                record(w, (10, 12), Some("failed: migrate exited 1"));
            },
            skipped("migration_failed"),
        ),
        (
            "rule14_force_overrides_a_failed_migration",
            forced_to_3(),
            |w, _| record(w, (10, 12), Some("failed: migrate exited 1")),
            rolled(3),
        ),
        (
            "rule14_a_succeeded_migration_sets_the_schema_in_force",
            manual(Some("hello-world:3"), false),
            |w, _| {
                schemas(w, ["4", "5", "5", "6"]);
                w.service
                    .tags
                    .insert(TAG_MIGRATION.into(), "hello-migrate".into());
                record(w, (10, 12), Some("succeeded"));
            },
            rolled(3),
        ),
        (
            "rule14_a_record_of_another_revision_is_an_earlier_incident",
            failed(),
            |w, _| {
                record(w, (10, 12), None);
                w.service
                    .tags
                    .insert(TAG_MIGRATION_FROM.into(), "hello-world:2".into());
            },
            rolled(3),
        ),
    ];
    check_table(cases);
}

#[test]
fn rule14_the_migration_plan_and_its_reason() {
    let mut w = world();
    schemas(&mut w, ["4", "5", "5", "6"]);
    w.service
        .tags
        .insert(TAG_MIGRATION.into(), "hello-migrate".into());
    let (d, _) = run(&w, failed(), &Policy::default());
    let Outcome::Rollback(plan) = &d.outcome else {
        panic!("{:?}", d.outcome)
    };
    assert_eq!(
        plan.migration,
        Some(Migration {
            task_definition: "hello-migrate".into(),
            from_schema: "6".into(),
            to_schema: "5".into(),
        })
    );
    let reason = d.reason(&failed());
    assert!(
        reason.starts_with("Running the down migration hello-migrate (database schema 6 to 5)"),
        "{reason}"
    );
    assert!(
        reason.contains("If it fails, nothing is rolled back."),
        "{reason}"
    );

    let mut w = world();
    schemas(&mut w, ["4", "5", "", "6"]);
    let (d, _) = run(&w, failed(), &Policy::default());
    let reason = d.reason(&failed());
    assert!(
        reason.contains("the database schema in force is 6 (declared by hello-world:4)")
            && reason.contains("hello-world:3 declares no schema (ecs-rollback:schema)")
            && reason.contains("hello-world:2 runs against schema 5")
            && reason.contains(
                "ecs-rollback rollback -c demo -s hello-world --to hello-world:3 --force"
            ),
        "{reason}"
    );
}

#[test]
fn rule14_a_stopped_migration_task_is_judged() {
    let policy = Policy::default();
    let mut w = world();
    record(&mut w, (10, 12), None);
    let rec = MigrationRecord::from_tags(&w.service.tags);
    let task =
        |id: &str, status: &str, codes: Vec<Option<i32>>, stopped: (u32, u32)| MigrationTask {
            task_arn: "arn:aws:ecs:eu-west-1:123456789012:task/demo/abc123".into(),
            last_status: status.into(),
            started_by: Some(format!("{MIGRATION_STARTED_BY}{id}")),
            stop_code: Some("EssentialContainerExited".into()),
            stopped_reason: Some("Essential container in task exited".into()),
            exit_codes: codes
                .into_iter()
                .map(|c| ("migrate".to_string(), c))
                .collect(),
            stopped_at: Some(t(stopped.0, stopped.1)),
        };
    let now = t(NOW.0, NOW.1);
    let judge = |task: &MigrationTask, service: &ServiceState| {
        rule14_migration_ended(rec.as_ref(), task, service, &policy, now)
    };
    let ok = task("m1", "STOPPED", vec![Some(0)], (10, 18));
    assert_eq!(
        judge(&ok, &w.service),
        MigrationVerdict::Succeeded {
            to: "hello-world:3".into(),
            schema: "5".into()
        }
    );
    let cases = [
        (
            task("m2", "STOPPED", vec![Some(0)], (10, 18)),
            "Ignore",
            "no down migration",
        ),
        (
            task("m1", "RUNNING", vec![None], (10, 18)),
            "Ignore",
            "not STOPPED",
        ),
        (
            task("m1", "STOPPED", vec![Some(3)], (10, 18)),
            "failed: migrate exited 3",
            "",
        ),
        (
            task("m1", "STOPPED", vec![None], (10, 18)),
            "failed: migrate did not run to an exit",
            "",
        ),
        (
            task("m1", "STOPPED", vec![], (10, 18)),
            "failed: no container ran",
            "",
        ),
        (
            task("m1", "STOPPED", vec![Some(0)], (10, 50)),
            "timed out",
            "",
        ),
    ];
    for (task, want, says) in cases {
        match judge(&task, &w.service) {
            MigrationVerdict::Ignore(why) => {
                assert_eq!(want, "Ignore", "{task:?}: {why}");
                assert!(why.contains(says), "{why}");
            }
            MigrationVerdict::Ended { result, .. } => assert_eq!(result, want, "{task:?}"),
            other => panic!("{task:?}: {other:?}"),
        }
    }
    // A person deployed meanwhile: the rollback is not made over their deployment.
    let mut moved = w.service.clone();
    moved.task_definition = td(5);
    assert!(matches!(
        judge(&ok, &moved),
        MigrationVerdict::Ended { result, .. } if result.starts_with("not continued")
    ));
    // Succeeded but the rollback was not made yet (killed in between): it is made now; once
    // made, the same event is a duplicate.
    let mut done = w.clone_service_with_result("succeeded");
    let rec2 = MigrationRecord::from_tags(&done.tags);
    assert!(matches!(
        rule14_migration_ended(rec2.as_ref(), &ok, &done, &policy, now),
        MigrationVerdict::Succeeded { .. }
    ));
    done.task_definition = td(3);
    assert!(matches!(
        rule14_migration_ended(rec2.as_ref(), &ok, &done, &policy, now),
        MigrationVerdict::Ignore(_)
    ));
}

impl World {
    fn clone_service_with_result(&self, result: &str) -> ServiceState {
        let mut s = self.service.clone();
        s.tags.insert(TAG_MIGRATION_RESULT.into(), result.into());
        s
    }
}

#[test]
fn rule14_the_gate_says_when_ecs_returns_to_a_revision_for_another_schema() {
    let mut new = revision(4);
    let mut source = revision(3);
    assert_eq!(rule14_gate_note(&new, &source), None, "nothing declared");
    new.schema = Some(SchemaRange::parse("6"));
    source.schema = Some(SchemaRange::parse("5..6"));
    assert_eq!(
        rule14_gate_note(&new, &source),
        None,
        "the source runs against 6"
    );
    source.schema = Some(SchemaRange::parse("5"));
    let note = rule14_gate_note(&new, &source).unwrap();
    assert!(
        note.contains("ECS returns to hello-world:3, which runs against schema 5, while hello-world:4 brought schema 6"),
        "{note}"
    );
}

#[test]
fn rule14_force_rolls_back_without_the_migration() {
    let mut w = world();
    schemas(&mut w, ["", "", "5", "6"]);
    w.service
        .tags
        .insert(TAG_MIGRATION.into(), "hello-migrate".into());
    let (d, _) = run(&w, forced_to_3(), &Policy::default());
    assert_eq!(got(&d), rolled(3), "{:?}", d.outcome);
    assert!(d.reason(&failed()).contains("rolled back by --force"));
}

#[test]
fn rule14_a_person_with_force_is_not_held_by_a_running_migration() {
    let mut w = world();
    record(&mut w, (10, 12), None);
    let (d, _) = run(&w, forced_to_3(), &Policy::default());
    assert_eq!(got(&d), rolled(3), "{:?}", d.outcome);
}

fn dimension_alarm() -> Cause {
    Cause::Alarm {
        name: "hello-world-5xx".into(),
        state: AlarmState::Alarm,
        reason: "Threshold Crossed".into(),
        since: Some(t(10, 15)),
        guard: AlarmGuard::Dimensions {
            alarm_names: vec!["hello-world-5xx".into()],
        },
    }
}

/// An Express Mode service whose deployment (the canary) completed, its built-in alarm listed.
fn express(w: &mut World, _: &mut Policy) {
    w.service.express = true;
    w.service.strategy = Strategy::Canary;
    w.service.deployments[0].rollout = Rollout::Completed;
    w.service.deployment_alarms = Some(DeploymentAlarms {
        names: vec!["hello-world-5xx".into()],
        enable: true,
        rollback: true,
    });
}

#[test]
fn rule4_express_services_table() {
    let cases: Vec<(&str, Cause, Setup, Want)> = vec![
        (
            "rule4_express_builtin_alarm_after_completion_guards_nothing",
            dimension_alarm(),
            express,
            skipped("express_alarm"),
        ),
        (
            "rule4_express_tagged_alarm_after_completion_rolls_back",
            alarm(),
            express,
            rolled(3),
        ),
        (
            "rule4_express_canary_in_flight_is_ecss",
            dimension_alarm(),
            |w, p| {
                express(w, p);
                w.service.deployments[0].rollout = Rollout::InProgress;
            },
            skipped("ecs_deployment_alarm"),
        ),
        (
            "rule4_ordinary_service_listed_alarm_after_completion_rolls_back",
            dimension_alarm(),
            |w, p| {
                express(w, p);
                w.service.express = false;
            },
            rolled(3),
        ),
    ];
    check_table(cases);
}

fn breaker(w: &mut World, rollback: bool, count: Option<i32>, reset: Option<bool>) {
    w.service.circuit_breaker = Some(AutoRollback {
        enable: true,
        rollback,
        threshold: count.map(BreakerThreshold::Count),
        reset_on_healthy_task: reset,
    });
}

#[test]
fn rule13_breaker_or_early_detection_table() {
    let crash = || task_failed(Some("ecs-svc/4"), 4);
    let cases: Vec<(&str, Cause, Setup, Want)> = vec![
        (
            "rule13_count_2_cumulative_with_rollback_is_ecss",
            crash(),
            |w, _| {
                breaker(w, true, Some(2), Some(false));
                crashing(w, 2);
            },
            skipped("ecs_breaker_first"),
        ),
        (
            "rule13_count_2_cumulative_stands_back_however_many",
            crash(),
            |w, _| {
                breaker(w, true, Some(2), Some(false));
                crashing(w, 7);
            },
            skipped("ecs_breaker_first"),
        ),
        (
            "rule13_count_2_resetting_is_ecss_first",
            crash(),
            |w, _| {
                breaker(w, true, Some(2), None);
                crashing(w, 2);
            },
            skipped("ecs_breaker_first"),
        ),
        (
            "rule13_count_2_resetting_backstop_one_past_ecs",
            crash(),
            |w, _| {
                breaker(w, true, Some(2), None);
                crashing(w, 3);
            },
            rolled(3),
        ),
        (
            "rule13_count_2_without_rollback_is_ours",
            crash(),
            |w, _| {
                breaker(w, false, Some(2), Some(false));
                crashing(w, 2);
            },
            rolled(3),
        ),
        (
            "rule13_default_breaker_early_detection_acts_first",
            crash(),
            |w, _| {
                breaker(w, true, None, None);
                crashing(w, 2);
            },
            rolled(3),
        ),
        (
            "rule13_count_5_early_detection_below_it",
            crash(),
            |w, _| {
                breaker(w, true, Some(5), Some(false));
                crashing(w, 2);
            },
            rolled(3),
        ),
        (
            "rule13_blue_green_has_no_breaker",
            crash(),
            |w, _| {
                breaker(w, true, Some(1), Some(false));
                w.service.strategy = Strategy::BlueGreen;
                crashing(w, 2);
            },
            rolled(3),
        ),
    ];
    check_table(cases);
}

#[test]
fn rule13_the_threshold_follows_the_desired_count_now() {
    let mut w = world();
    breaker(&mut w, true, None, None);
    for (desired, want) in [
        (1, Detector::Ours(2)),
        (10, Detector::Ours(2)),
        (100, Detector::Ours(10)),
    ] {
        w.service.desired_count = desired;
        assert_eq!(
            rule13_breaker_or_early_detection(&w.service, 2),
            want,
            "desired {desired}"
        );
    }
    breaker(&mut w, true, Some(2), Some(false));
    assert_eq!(
        rule13_breaker_or_early_detection(&w.service, 2),
        Detector::Ecs {
            ecs: 2,
            backstop: None
        }
    );
}
