//! CPU per event: parse + decide, no I/O (criterion). Target: < 1 ms.
//! `cargo bench --bench decide`

use std::collections::BTreeMap;
use std::hint::black_box;

use chrono::{Duration, TimeZone, Utc};
use criterion::{criterion_group, criterion_main, Criterion};
use ecs_rollback::decision::{decide, Policy, Snapshot, Step};
use ecs_rollback::event::{self, Event};
use ecs_rollback::model::*;

fn td(rev: i32) -> String {
    format!("arn:aws:ecs:eu-west-1:123456789012:task-definition/hello-world:{rev}")
}

/// A service whose revision 4 failed, with ten successful deployments in its history and every
/// revision described: the snapshot the core sees on its last step before a rollback.
fn snapshot() -> Snapshot {
    let t = |h: u32, m: u32| Utc.with_ymd_and_hms(2026, 11, 26, h, m, 0).unwrap();
    let mut tags = BTreeMap::new();
    tags.insert(TAG_ENABLED.to_string(), "true".to_string());
    let deployment = |id: &str, status: &str, rev: i32, rollout: Rollout| Deployment {
        id: id.into(),
        status: status.into(),
        task_definition: td(rev),
        rollout,
        rollout_reason: None,
        created_at: Some(t(10, 0)),
        failed_tasks: 0,
    };
    let mut snap = Snapshot::new(ServiceState {
        cluster_arn: "arn:aws:ecs:eu-west-1:123456789012:cluster/demo".into(),
        service_arn: "arn:aws:ecs:eu-west-1:123456789012:service/demo/hello-world".into(),
        service_name: "hello-world".into(),
        status: "ACTIVE".into(),
        controller: Controller::Ecs,
        task_definition: td(4),
        tags,
        deployments: vec![
            deployment("ecs-svc/4444444444444444444", "PRIMARY", 4, Rollout::Failed),
            deployment(
                "ecs-svc/3333333333333333333",
                "ACTIVE",
                3,
                Rollout::Completed,
            ),
        ],
        desired_count: 2,
        circuit_breaker: None,
        deployment_alarms: None,
        strategy: Strategy::Rolling,
        bake_time_minutes: None,
        express: false,
    });
    let history: Vec<HistoryEntry> = (1..=10)
        .map(|n| HistoryEntry {
            arn: format!(
                "arn:aws:ecs:eu-west-1:123456789012:service-deployment/demo/hello-world/d{n}"
            ),
            status: DeploymentStatus::Successful,
            target_task_definition: Some(td(n.min(3))),
            target_images: vec![RecordedImage {
                container: "app".into(),
                image: Some("repo/app:latest".into()),
                digest: Some(format!("sha256:{n:0>64}")),
            }],
            source_task_definitions: Vec::new(),
            created_at: Some(t(9, n as u32)),
            started_at: Some(t(9, n as u32)),
            finished_at: Some(t(9, n as u32 + 1)),
            target: None,
            sources: Vec::new(),
            rolled_back_to: None,
            lifecycle_stage: None,
            ecs_why: None,
        })
        .collect();
    snap.history = Some(Ok(history));
    for rev in 1..=4 {
        snap.revisions.insert(
            td(rev),
            Revision {
                arn: td(rev),
                family: "hello-world".into(),
                revision: rev,
                status: RevisionStatus::Active,
                ledger: None,
                bad_for: Vec::new(),
                images: vec![ContainerImage {
                    container: "app".into(),
                    image: "repo/app:latest".into(),
                }],
                pinned_from: None,
                schema: None,
            },
        );
    }
    let _ = Duration::zero();
    snap
}

fn bench(c: &mut Criterion) {
    let bytes = std::fs::read(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/events/ecs-deployment-failed.json"
    ))
    .unwrap();
    let alarm = std::fs::read(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/events/cloudwatch-alarm-metric-math.json"
    ))
    .unwrap();
    let snap = snapshot();
    let policy = Policy::default();
    let now = Utc.with_ymd_and_hms(2026, 11, 26, 10, 20, 0).unwrap();

    c.bench_function("parse FAILED event", |b| {
        b.iter(|| event::parse_bytes(black_box(&bytes)).unwrap())
    });
    c.bench_function("parse metric-math alarm event", |b| {
        b.iter(|| event::parse_bytes(black_box(&alarm)).unwrap())
    });
    c.bench_function("parse + decide (rollback, digest-pinned)", |b| {
        b.iter(|| {
            let Event::Service { trigger, .. } = event::parse_bytes(black_box(&bytes)).unwrap()
            else {
                unreachable!()
            };
            let step = decide(&trigger, black_box(&snap), &policy, now);
            assert!(matches!(step, Step::Done(_)));
            step
        })
    });
}

criterion_group!(benches, bench);
criterion_main!(benches);
