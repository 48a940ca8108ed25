//! Incidents over time, generated and shrunk with proptest and played against the production
//! handler through the simulated account of `tests/sim` (ECS, CloudWatch and SNS answered by
//! aws-smithy-mocks from one modelled world, on a paused tokio clock).
//!
//! `INCIDENTS=n` sets the number of generated incidents (default 10000, split over two tests
//! that run in parallel); the seed is fixed unless `INCIDENTS_SEED=n` replays another run or
//! `INCIDENTS_SEED=random` explores; `INCIDENTS_INVARIANTS=1,3` checks
//! only those invariants (to shrink one class of violation at a time). A failing case is saved
//! under `target/proptest-regressions/` and replayed first on the next run.

mod sim;

use proptest::test_runner::{
    Config as ProptestConfig, FileFailurePersistence, RngAlgorithm, TestCaseError, TestError,
    TestRng, TestRunner,
};
use sim::world::{Kind, Strategy};
use sim::*;

fn env_u64(name: &str) -> Option<u64> {
    std::env::var(name).ok().and_then(|v| v.trim().parse().ok())
}

fn checked_invariants() -> Vec<u8> {
    std::env::var("INCIDENTS_INVARIANTS")
        .ok()
        .map(|v| v.split(',').filter_map(|n| n.trim().parse().ok()).collect())
        .unwrap_or_else(|| (1..=7).collect())
}

fn report(sim: &Sim) -> String {
    let mut out = String::new();
    for v in &sim.violations {
        out.push_str(&format!("  invariant {}: {}\n", v.invariant, v.what));
    }
    out
}

/// The seed of the default run.
const DEFAULT_SEED: u64 = 20_261_205;

/// One half of the generated incidents (the two halves run on two test threads).
fn generated(part: u64) {
    let cases = (env_u64("INCIDENTS").unwrap_or(10_000) as u32).div_ceil(2);
    // Seeded: the same incidents on every run by default, so that a run is reproducible and CI
    // judges the code, not the draw; `INCIDENTS_SEED=random` (or a number) explores others.
    let seed = match std::env::var("INCIDENTS_SEED")
        .ok()
        .as_deref()
        .map(str::trim)
    {
        Some("random") => std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos() as u64)
            .unwrap_or(1),
        Some(n) => n.parse().unwrap_or(DEFAULT_SEED),
        None => DEFAULT_SEED,
    };
    let path: &'static str = Box::leak(
        format!(
            "{}/target/proptest-regressions/incidents-{part}.txt",
            env!("CARGO_MANIFEST_DIR")
        )
        .into_boxed_str(),
    );
    let config = ProptestConfig {
        cases,
        failure_persistence: Some(Box::new(FileFailurePersistence::Direct(path))),
        max_shrink_iters: 4096,
        ..ProptestConfig::default()
    };
    let mut bytes = [0u8; 32];
    bytes[..8].copy_from_slice(&seed.to_le_bytes());
    bytes[8..16].copy_from_slice(&part.to_le_bytes());
    let rng = TestRng::from_seed(RngAlgorithm::ChaCha, &bytes);
    let mut runner = TestRunner::new_with_rng(config, rng);
    let wanted = checked_invariants();
    let started = std::time::Instant::now();
    let result = runner.run(&gen::scenario(), |scenario| {
        let mut sim = Sim::run(&scenario);
        sim.violations.retain(|v| wanted.contains(&v.invariant));
        if sim.violations.is_empty() {
            Ok(())
        } else {
            Err(TestCaseError::fail(report(&sim)))
        }
    });
    match result {
        Ok(()) => println!(
            "part {part}: {cases} incidents in {:.1}s, no violation",
            started.elapsed().as_secs_f64()
        ),
        Err(TestError::Fail(why, scenario)) => {
            let mut sim = Sim::run(&scenario);
            sim.violations.retain(|v| wanted.contains(&v.invariant));
            panic!(
                "invariant violated (INCIDENTS_SEED={seed}, part {part}; the case is saved in {path}).\nShrunk incident:\n{scenario}Violations:\n{why}Transcript:\n{}",
                sim.transcript()
            );
        }
        Err(TestError::Abort(why)) => panic!("aborted: {why} (INCIDENTS_SEED={seed})"),
    }
}

#[test]
fn generated_incidents_keep_the_invariants_part_1() {
    generated(1);
}

#[test]
fn generated_incidents_keep_the_invariants_part_2() {
    generated(2);
}

// ---------------------------------------------------------------------------------------------
// Known incidents, written by hand. Each names the defect it pins.

fn one(setup: SvcSetup) -> Vec<SvcSetup> {
    vec![setup]
}

fn assert_clean(sim: &Sim, what: &str) {
    if std::env::var("INCIDENTS_VERBOSE").is_ok() {
        println!("{what}:\n{}{}", sim.transcript(), report(sim));
    }
    assert!(
        sim.violations.is_empty(),
        "{what}\nViolations:\n{}Transcript:\n{}",
        report(sim),
        sim.transcript()
    );
}

/// Rollback writes (UpdateService / StopServiceDeployment) the handler made.
fn rollbacks(sim: &Sim) -> Vec<sim::world::WriteRec> {
    let w = sim.world.lock().unwrap();
    w.writes
        .iter()
        .filter(|r| matches!(r.op, "UpdateService" | "StopServiceDeployment"))
        .cloned()
        .collect()
}

/// Advance minute by minute until `cond` holds (at most `max` minutes).
fn advance_until(sim: &mut Sim, max: i64, cond: impl Fn(&sim::world::World) -> bool) {
    for _ in 0..max {
        if cond(&sim.world.lock().unwrap()) {
            return;
        }
        sim.advance(1);
    }
}

fn alarm_ringing(w: &sim::world::World) -> bool {
    w.alarms[0].state == sim::world::AlarmState::Alarm
}

/// (1) Our own UpdateService rollback must not reopen the alarm window: an alarm that flaps
/// 35 minutes after it must not walk the service one revision further back.
#[test]
fn regression_1_our_rollback_opens_no_alarm_window() {
    // The ALARM of the bad revision arrives 2 minutes late (a Lambda retry), after the rollout
    // completed: the rollback is an UpdateService, which starts a new deployment.
    let mut sim = Sim::new(&one(SvcSetup::default()), vec![Delivery::Late(2)]);
    sim.apply(&Op::Deploy {
        svc: 0,
        change: Change::Image,
        kind: Kind::AlarmOnly,
    });
    sim.advance(15);
    let first = rollbacks(&sim);
    assert_eq!(
        first.len(),
        1,
        "one rollback expected:\n{}",
        sim.transcript()
    );
    assert_eq!(first[0].op, "UpdateService", "{}", sim.transcript());
    // 35 minutes after our rollback a downstream outage rings the alarm.
    let at = first[0].at;
    let wait = (at + chrono::Duration::minutes(35) - sim.now()).num_minutes();
    sim.advance(wait);
    sim.apply(&Op::Flap {
        svc: 0,
        on: 10,
        off: 30,
        cycles: 1,
    });
    sim.advance(20);
    sim.settle();
    assert_eq!(
        rollbacks(&sim).len(),
        1,
        "a second rollback:\n{}",
        sim.transcript()
    );
    assert_clean(
        &sim,
        "a flapping alarm after our rollback walked the service further back",
    );
}

/// (2) A stale alarm (it rang at 10:20, delivered 10:23) must not undo the fix a person
/// deployed at 10:22.
#[test]
fn regression_2_stale_alarm_does_not_undo_a_fix() {
    // Events: COMPLETED of the 10:00 deployment (on time), then the alarm's ALARM (3 min late).
    let mut sim = Sim::new(
        &one(SvcSetup::default()),
        vec![Delivery::OnTime, Delivery::Late(3)],
    );
    sim.apply(&Op::Deploy {
        svc: 0,
        change: Change::Image,
        kind: Kind::Healthy,
    });
    sim.advance(17);
    sim.apply(&Op::Flap {
        svc: 0,
        on: 10,
        off: 1,
        cycles: 1,
    });
    advance_until(&mut sim, 10, alarm_ringing);
    sim.advance(1);
    let fix_at = sim.now();
    sim.apply(&Op::Fix { svc: 0 });
    sim.advance(10);
    sim.settle();
    let after_fix: Vec<_> = rollbacks(&sim)
        .into_iter()
        .filter(|r| r.at >= fix_at)
        .collect();
    assert!(
        after_fix.is_empty(),
        "the stale alarm rolled back the fix:\n{}",
        sim.transcript()
    );
    assert_clean(&sim, "stale alarm");
}

/// (3) An invocation killed after the loop-guard write and before UpdateService: the memory
/// has no evidence, so the next event must still roll back.
#[test]
fn regression_3_killed_after_loop_guard_is_not_a_rollback() {
    let mut sim = Sim::new(&one(SvcSetup::default()), vec![]);
    sim.apply(&Op::Kill(1));
    sim.apply(&Op::Deploy {
        svc: 0,
        change: Change::Image,
        kind: Kind::CrashAtStart,
    });
    sim.advance(30);
    sim.settle();
    let w = sim.world.lock().unwrap().clone();
    let p = w.svcs[0].primary().unwrap();
    assert!(
        !w.kind(&p.content).is_bad(),
        "the failed revision {} stays PRIMARY:\n{}",
        p.td,
        sim.transcript()
    );
    assert_clean(&sim, "killed between the loop guard and the rollback");
}

/// (6) Two health-check kills in a healthy 100-task rollout are noise, not a failure.
#[test]
fn regression_6_health_check_noise_on_a_large_service() {
    let setup = SvcSetup {
        desired: 100,
        ..SvcSetup::default()
    };
    let mut sim = Sim::new(&one(setup), vec![]);
    sim.apply(&Op::Deploy {
        svc: 0,
        change: Change::Image,
        kind: Kind::Healthy,
    });
    sim.advance(20);
    sim.settle();
    assert!(
        rollbacks(&sim).is_empty(),
        "a healthy 100-task service was rolled back:\n{}",
        sim.transcript()
    );
    assert_clean(&sim, "health-check noise");
}

/// (7) A same-task-definition redeploy (a re-pushed mutable tag) that ListServiceDeployments
/// does not list yet: the rollback must still restore the old image, not redeploy the tag.
#[test]
fn regression_7_same_task_definition_redeploy_not_yet_in_history() {
    let setup = SvcSetup {
        mutable_tag: true,
        ..SvcSetup::default()
    };
    let mut sim = Sim::new(&one(setup), vec![]);
    sim.world.lock().unwrap().history_lag = chrono::Duration::minutes(3);
    sim.apply(&Op::Deploy {
        svc: 0,
        change: Change::RePush,
        kind: Kind::CrashAtStart,
    });
    sim.advance(30);
    sim.settle();
    let w = sim.world.lock().unwrap().clone();
    let p = w.svcs[0].primary().unwrap();
    // The revision the failing deployment replaced: the same task definition, the old digest.
    let previous = w.registry["repo/app:v2"].clone();
    assert_eq!(
        p.content.digest,
        previous,
        "the service runs {} instead of the image the re-push replaced:\n{}",
        p.td,
        sim.transcript()
    );
    assert_clean(&sim, "same-task-definition redeploy");
}

// ---------------------------------------------------------------------------------------------
// Time to safety: `cargo test --test incidents time_to_safety -- --ignored --nocapture`.

struct Mode {
    name: &'static str,
    breaker: Option<(bool, bool)>,
    breaker_count: Option<i32>,
    deployment_alarms: Option<(bool, bool)>,
    responder: bool,
}

const MODES: [Mode; 4] = [
    Mode {
        name: "ecs-rollback",
        breaker: Some((true, false)),
        breaker_count: None,
        deployment_alarms: None,
        responder: true,
    },
    Mode {
        name: "ECS alone (breaker default + alarms)",
        breaker: Some((true, true)),
        breaker_count: None,
        deployment_alarms: Some((true, true)),
        responder: false,
    },
    Mode {
        name: "ECS alone (breaker COUNT 2 + alarms)",
        breaker: Some((true, true)),
        breaker_count: Some(2),
        deployment_alarms: Some((true, true)),
        responder: false,
    },
    Mode {
        name: "both",
        breaker: Some((true, true)),
        breaker_count: None,
        deployment_alarms: Some((true, true)),
        responder: true,
    },
];

/// One deployment of `kind`: minutes from its first failing task or alarm datapoint until the
/// service is back on a proven revision (`None`: not within 3 hours), and the rollbacks made.
fn safety_run(
    mode: &Mode,
    strategy: Strategy,
    desired: i32,
    kind: Kind,
    deliveries: Vec<Delivery>,
    flap: bool,
) -> (Option<i64>, u32) {
    let setup = SvcSetup {
        desired,
        strategy,
        breaker: mode.breaker,
        breaker_count: mode.breaker_count,
        deployment_alarms: mode.deployment_alarms,
        ..SvcSetup::default()
    };
    let mut sim = Sim::new(&[setup], deliveries);
    sim.responder = mode.responder;
    sim.apply(&Op::Deploy {
        svc: 0,
        change: Change::Image,
        kind,
    });
    if flap {
        sim.apply(&Op::Flap {
            svc: 0,
            on: 6,
            off: 30,
            cycles: 1,
        });
    }
    let failing = sim.world.lock().unwrap().svcs[0].primary().unwrap().clone();
    let mut first: Option<sim::world::Time> = None;
    let mut safe = None;
    for _ in 0..180 {
        sim.advance(1);
        let w = sim.world.lock().unwrap();
        let now = w.now;
        // The first failing datapoint: a task of the revision stops, or it takes traffic with
        // an error rate (the alarm's first breaching minute).
        let stopped = w
            .tasks
            .iter()
            .filter(|t| t.started_by == failing.id)
            .map(|t| t.stopped_at)
            .min();
        let traffic = w.traffic("web");
        if first.is_none() {
            first = match kind {
                Kind::AlarmOnly => traffic
                    .as_ref()
                    .filter(|(c, _)| *c == failing.content)
                    .map(|_| now),
                _ => stopped,
            };
        }
        // Safe: the service's PRIMARY is a proven revision again (its traffic is there; ECS
        // launches no more tasks of the failing one).
        let primary = w.svcs[0].primary().map(|p| p.content.clone());
        if let (Some(f), Some(c)) = (first, &primary) {
            if *c != failing.content && w.proven.contains(&("web".to_string(), c.clone())) {
                safe = Some((now - f).num_minutes());
                break;
            }
        }
    }
    let w = sim.world.lock().unwrap();
    let ours = w
        .writes
        .iter()
        .filter(|r| matches!(r.op, "UpdateService" | "StopServiceDeployment"))
        .count() as u32;
    (safe, ours + w.ecs_restores)
}

fn percentile(sorted: &[i64], p: f64) -> String {
    if sorted.is_empty() {
        return "-".into();
    }
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i].to_string()
}

#[test]
#[ignore]
fn time_to_safety() {
    let deliveries: Vec<Vec<Delivery>> = vec![
        vec![],
        vec![Delivery::Duplicate; 4],
        vec![Delivery::Late(1); 8],
        vec![Delivery::Late(2); 8],
        vec![Delivery::Lost, Delivery::OnTime, Delivery::Lost],
    ];
    let classes = [
        ("fails to start", Kind::CrashAtStart),
        ("starts then crashes", Kind::StartThenCrash),
        ("health checks fail", Kind::HealthCheckFail),
        ("error-rate alarm only", Kind::AlarmOnly),
    ];
    println!(
        "{:<24} {:<10} {:<38} {:>7} {:>5} {:>6}",
        "class", "strategy", "responder", "median", "p95", "never"
    );
    for (label, kind) in classes {
        for strategy in [Strategy::Rolling, Strategy::BlueGreen] {
            for mode in &MODES {
                let mut minutes = Vec::new();
                let mut never = 0;
                for desired in [2, 4, 10, 100] {
                    for d in &deliveries {
                        match safety_run(mode, strategy, desired, kind, d.clone(), false).0 {
                            Some(m) => minutes.push(m),
                            None => never += 1,
                        }
                    }
                }
                minutes.sort();
                println!(
                    "{label:<24} {:<10} {:<38} {:>7} {:>5} {:>6}",
                    format!("{strategy:?}"),
                    mode.name,
                    percentile(&minutes, 0.5),
                    percentile(&minutes, 0.95),
                    never
                );
            }
        }
    }
    println!("\nFalse rollbacks of healthy revisions (a 100-task rollout's health-check noise; a downstream outage during the rollout):");
    for mode in &MODES {
        let mut runs = 0;
        let mut false_rollbacks = 0;
        for strategy in [Strategy::Rolling, Strategy::BlueGreen] {
            for desired in [4, 100] {
                for flap in [false, true] {
                    runs += 1;
                    false_rollbacks +=
                        safety_run(mode, strategy, desired, Kind::Healthy, vec![], flap).1;
                }
            }
        }
        println!(
            "  {:<38} {false_rollbacks} rollbacks in {runs} healthy rollouts",
            mode.name
        );
    }
}

// ---------------------------------------------------------------------------------------------
// Counter-examples the generator found, each with its shrunk sequence: they must stay clean.

fn web() -> SvcSetup {
    SvcSetup::default()
}

fn deploy(svc: usize, change: Change, kind: Kind) -> Op {
    Op::Deploy { svc, change, kind }
}

fn counter_example(name: &str, services: Vec<SvcSetup>, ops: Vec<Op>, deliveries: Vec<Delivery>) {
    let scenario = Scenario {
        services,
        ops,
        deliveries,
    };
    let sim = Sim::run(&scenario);
    assert!(
        sim.violations.is_empty(),
        "{name}\n{scenario}Violations:\n{}Transcript:\n{}",
        report(&sim),
        sim.transcript()
    );
}

/// A configuration change right after a person's CLI rollback crashes: a new incident, not "the
/// target of an earlier rollback failing" (the rollback's own deployment is known by its id).
#[test]
fn counter_example_config_change_after_a_cli_rollback_is_a_new_incident() {
    let setup = SvcSetup {
        strategy: Strategy::BlueGreen,
        ..web()
    };
    counter_example(
        "config change after a CLI rollback",
        vec![setup],
        vec![
            deploy(0, Change::Image, Kind::Healthy),
            Op::CliRollback { svc: 0 },
            deploy(0, Change::Config, Kind::CrashAtStart),
        ],
        vec![],
    );
}

/// A re-pushed tag right after a person's CLI rollback crashes: the memory of the CLI rollback
/// is not this later deployment's.
#[test]
fn counter_example_repush_after_a_cli_rollback_is_a_new_incident() {
    let setup = SvcSetup {
        mutable_tag: true,
        ..web()
    };
    counter_example(
        "re-push after a CLI rollback",
        vec![setup],
        vec![
            deploy(0, Change::Image, Kind::Healthy),
            Op::CliRollback { svc: 0 },
            deploy(0, Change::RePush, Kind::CrashAtStart),
        ],
        vec![],
    );
}

/// ECS's rollback (our stop) superseded by a person's new revision: the "rolling back" reason
/// left on the older deployment does not hold the new revision's failure back.
#[test]
fn counter_example_a_superseded_rollback_does_not_hold_back_the_next_revision() {
    counter_example(
        "superseded rollback",
        vec![web(), web()],
        vec![
            deploy(1, Change::Image, Kind::CrashAtStart),
            Op::Advance(1),
            deploy(1, Change::Image, Kind::AlarmOnly),
        ],
        vec![],
    );
    let setup = SvcSetup {
        strategy: Strategy::BlueGreen,
        ..web()
    };
    counter_example(
        "superseded traffic shift back",
        vec![setup],
        vec![
            deploy(0, Change::Image, Kind::Healthy),
            Op::Flap {
                svc: 0,
                on: 3,
                off: 1,
                cycles: 1,
            },
            Op::Advance(3),
            deploy(0, Change::Config, Kind::CrashAtStart),
        ],
        vec![Delivery::OnTime],
    );
}

/// Our stop of a crash-looping deployment (ECS rolls back) is followed by a new revision that
/// only its alarm catches, the alarm's invocation killed once: the stop's "rolling back" reason
/// belongs to the older deployment and never holds the new revision's failure back.
#[test]
fn counter_example_a_new_revision_after_our_stop_is_answered() {
    let setup = SvcSetup {
        deployment_alarms: Some((true, true)),
        ..web()
    };
    counter_example(
        "a new revision after our stop",
        vec![setup],
        vec![
            deploy(0, Change::Image, Kind::HealthCheckFail),
            Op::Advance(3),
            deploy(0, Change::Image, Kind::AlarmOnly),
            Op::Kill(1),
        ],
        vec![Delivery::OnTime, Delivery::OnTime, Delivery::OnTime],
    );
}

/// A person deploys right after our rollback (pinned copy): the earliest deployment of the
/// target after the record is ours, the person's is a new incident.
#[test]
fn counter_example_a_persons_deployment_right_after_our_rollback_is_theirs() {
    let setup = SvcSetup {
        deployment_alarms: Some((true, false)),
        ..web()
    };
    counter_example(
        "a person's deployment right after our rollback",
        vec![setup],
        vec![
            deploy(0, Change::Image, Kind::AlarmOnly),
            Op::Advance(3),
            deploy(0, Change::Config, Kind::CrashAtStart),
        ],
        vec![],
    );
}

/// After a StopServiceDeployment rollback (which starts no deployment), a person's deployment
/// of the same task definition is never taken for the rollback's own.
#[test]
fn counter_example_after_a_stop_no_later_deployment_is_the_rollbacks() {
    counter_example(
        "a person's deployment after our stop",
        vec![web()],
        vec![
            deploy(0, Change::Image, Kind::CrashAtStart),
            Op::Advance(1),
            deploy(0, Change::Config, Kind::CrashAtStart),
            Op::Advance(1),
        ],
        vec![],
    );
    let setup = SvcSetup {
        deregister_previous: true,
        ..web()
    };
    counter_example(
        "after the restore completed",
        vec![setup],
        vec![
            deploy(0, Change::Image, Kind::Healthy),
            Op::Advance(5),
            deploy(0, Change::Image, Kind::StartThenCrash),
            Op::Advance(2),
            deploy(0, Change::Config, Kind::CrashAtStart),
        ],
        vec![],
    );
}

/// A configuration change on a proven task definition (or on our pinned copy of one) fails:
/// the rollback is right, the task definition is never marked bad.
#[test]
fn counter_example_a_proven_task_definition_is_never_marked_bad() {
    counter_example(
        "config change on a proven task definition",
        vec![web()],
        vec![
            deploy(0, Change::Image, Kind::Healthy),
            deploy(0, Change::Image, Kind::Healthy),
            Op::Advance(5),
            Op::CliRollback { svc: 0 },
            deploy(0, Change::Config, Kind::CrashAtStart),
        ],
        vec![],
    );
    let setup = SvcSetup {
        deployment_alarms: Some((true, false)),
        ..web()
    };
    counter_example(
        "config change on our pinned copy",
        vec![setup],
        vec![
            deploy(0, Change::Image, Kind::AlarmOnly),
            Op::Advance(3),
            deploy(0, Change::Config, Kind::Healthy),
        ],
        vec![Delivery::Late(1), Delivery::OnTime],
    );
    let setup = SvcSetup {
        mutable_tag: true,
        ..web()
    };
    counter_example(
        "re-pushed tag on a proven task definition",
        vec![setup],
        vec![
            deploy(0, Change::Image, Kind::Healthy),
            Op::Advance(5),
            Op::CliRollback { svc: 0 },
            deploy(0, Change::RePush, Kind::CrashAtStart),
        ],
        vec![],
    );
}

/// ECS is configured to roll back but has no completed deployment to return to: the failure is
/// ours to answer.
#[test]
fn counter_example_ecs_with_nothing_to_restore_leaves_the_failure_to_us() {
    let setup = SvcSetup {
        strategy: Strategy::BlueGreen,
        bake_minutes: 30,
        deployment_alarms: Some((true, true)),
        ..web()
    };
    counter_example(
        "nothing to restore",
        vec![setup],
        vec![
            deploy(0, Change::Image, Kind::Healthy),
            deploy(0, Change::Image, Kind::AlarmOnly),
            Op::Advance(5),
        ],
        vec![Delivery::Late(1), Delivery::OnTime],
    );
}

/// ECS's deployment alarms failed a 100-task deployment that has only a few stopped tasks:
/// ECS's FAILED is the proof, whatever early detection's threshold.
#[test]
fn counter_example_a_deployment_ecs_failed_is_a_failure_whatever_the_count() {
    let api = SvcSetup {
        desired: 100,
        deployment_alarms: Some((true, false)),
        ..web()
    };
    let web10 = SvcSetup {
        desired: 10,
        ..web()
    };
    counter_example(
        "ECS failed it",
        vec![web10, api],
        vec![
            deploy(0, Change::Image, Kind::Healthy),
            deploy(1, Change::Image, Kind::StartThenCrash),
            Op::Flap {
                svc: 1,
                on: 3,
                off: 1,
                cycles: 1,
            },
            deploy(0, Change::Image, Kind::CrashAtStart),
            Op::Advance(2),
        ],
        vec![
            Delivery::OnTime,
            Delivery::OnTime,
            Delivery::OnTime,
            Delivery::Late(1),
        ],
    );
}

/// An alarm event of 10:03 redelivered at 10:36, when the flapping alarm happens to ring again:
/// it predates the fix deployed at 10:11 and never acts on it.
#[test]
fn counter_example_a_redelivered_alarm_older_than_the_fix_never_acts() {
    let setup = SvcSetup {
        deployment_alarms: Some((true, true)),
        ..web()
    };
    counter_example(
        "redelivered alarm",
        vec![setup],
        vec![
            deploy(0, Change::Image, Kind::AlarmOnly),
            Op::Advance(5),
            Op::Flap {
                svc: 0,
                on: 10,
                off: 17,
                cycles: 2,
            },
            Op::Fix { svc: 0 },
            Op::Advance(5),
            Op::Fix { svc: 0 },
            Op::Advance(3),
            Op::Advance(21),
        ],
        vec![Delivery::Hours(1)],
    );
}

/// ECS's deployment alarms (`rollback: true`) fail a new revision while the service's earlier
/// deployment is itself being restored: that restore is no completed deployment for ECS to return
/// to, so the FAILED event is ours to answer, not one event later.
#[test]
fn counter_example_deployment_alarms_fail_during_a_restore() {
    let api = SvcSetup {
        deployment_alarms: Some((true, true)),
        ..web()
    };
    counter_example(
        "deployment alarms fail a revision during a restore",
        vec![web(), api],
        vec![
            deploy(1, Change::Image, Kind::CrashAtStart),
            Op::Flap {
                svc: 0,
                on: 4,
                off: 1,
                cycles: 1,
            },
            Op::Advance(1),
            deploy(1, Change::Image, Kind::AlarmOnly),
            Op::Advance(3),
        ],
        vec![
            Delivery::OnTime,
            Delivery::OnTime,
            Delivery::OnTime,
            Delivery::OnTime,
            Delivery::Late(1),
        ],
    );
}

/// A person's CLI rollback, then ECS's own deployment-alarm rollback of it, then a crashing
/// configuration change: the CLI rollback's own deployment is gone from the service but not from
/// the history, so the configuration change is a new incident, not "the rollback's target
/// failing too".
#[test]
fn counter_example_config_change_after_a_cli_and_an_ecs_rollback() {
    let setup = SvcSetup {
        deployment_alarms: Some((true, true)),
        ..web()
    };
    counter_example(
        "config change after a CLI and an ECS rollback",
        vec![setup],
        vec![
            deploy(0, Change::Image, Kind::Healthy),
            Op::CliRollback { svc: 0 },
            Op::Flap {
                svc: 0,
                on: 3,
                off: 1,
                cycles: 1,
            },
            Op::Advance(5),
            deploy(0, Change::Config, Kind::CrashAtStart),
            Op::Advance(1),
        ],
        vec![],
    );
}

/// Found by the seeded run once deployments could migrate (the generator's draws moved): an
/// invocation killed after its first two writes, then a crash-looping revision and an
/// unguarded alarm-only one.
#[test]
fn counter_example_killed_between_the_copy_and_the_guard_then_two_deployments() {
    let setup = SvcSetup {
        desired: 10,
        alarm_tagged: false,
        deregister_previous: true,
        ..web()
    };
    counter_example(
        "killed between the copy and the guard, then two deployments",
        vec![setup],
        vec![
            deploy(0, Change::Image, Kind::Healthy),
            Op::Kill(2),
            deploy(0, Change::Image, Kind::CrashAtStart),
            Op::Advance(1),
            deploy(0, Change::Image, Kind::AlarmOnly),
        ],
        vec![Delivery::OnTime, Delivery::Late(1), Delivery::Late(1)],
    );
}

/// Found by the seeded run once deployments could migrate: a configuration change that crashes,
/// after a rollback restored an INACTIVE revision by copy.
#[test]
fn counter_example_config_change_on_a_restored_copy() {
    let web_setup = SvcSetup {
        deployment_alarms: Some((true, false)),
        deregister_previous: true,
        ..web()
    };
    counter_example(
        "a configuration change on a restored copy",
        vec![web_setup, web()],
        vec![
            deploy(0, Change::Image, Kind::Healthy),
            deploy(0, Change::Image, Kind::CrashAtStart),
            Op::Advance(6),
            deploy(0, Change::Image, Kind::AlarmOnly),
            Op::Advance(3),
            deploy(0, Change::Config, Kind::CrashAtStart),
        ],
        vec![Delivery::OnTime; 4],
    );
}

/// A person's rollback after a migration: the mutable tag re-pushed with a crashing image, a
/// revision that migrates the database forward, then the CLI rolls back twice to the revision the
/// tag names (now the crashing image). The responder's rollback of that failing revision onto a
/// copy pinned to its earlier digest is held to the schema the restored revision declares, not
/// to the schema of the migration the person rolled back.
#[test]
fn counter_example_a_cli_rollback_after_a_migration_sets_the_schema_in_force() {
    let api = SvcSetup {
        mutable_tag: true,
        ..web()
    };
    counter_example(
        "a CLI rollback after a migration",
        vec![web(), api],
        vec![
            deploy(0, Change::Image, Kind::Healthy),
            deploy(1, Change::RePush, Kind::CrashAtStart),
            deploy(1, Change::Migration, Kind::Healthy),
            Op::CliRollback { svc: 1 },
            Op::CliRollback { svc: 1 },
        ],
        vec![],
    );
}
