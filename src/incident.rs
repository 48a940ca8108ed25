//! Incidents over time: the pure rules that make one event's decision hold across a whole
//! incident — duplicates, retries hours later, redrives, flapping alarms, a person's fix, ECS's
//! own rollback, an invocation killed between two writes.
//!
//! - An incident starts with a **new revision**: one that has not completed a deployment before
//!   the deployment that introduced it. Only a new revision is rolled back automatically; a
//!   deployment that restores a proven revision (ours, ECS's, a person's) opens no window.
//! - A **memory needs evidence**: the loop-guard tags count only when the rollback they record
//!   took effect (a deployment of its target started at or after it, or the stopped deployment
//!   in a `ROLLBACK_*` state).
//! - A **copy is its source**: a task definition we registered (tagged `ecs-rollback:pinned-from`)
//!   is the same revision as the one it copies.
//!
//! No I/O: every function judges what it is given. The responder, the deployment gate and the
//! CLI ask these same functions "is this the same incident?".

use chrono::Duration;

use crate::decision::same_task_definition;
use crate::model::*;

/// Clock skew allowed between CloudWatch, ECS and the function when their times are compared.
pub const SKEW_SECONDS: i64 = 60;
/// A Lambda invocation lasts at most 15 minutes (Lambda quotas): a rollback write follows the
/// loop-guard write that announced it within that time, or never.
pub const MAX_INVOCATION_MINUTES: i64 = 15;

fn skew() -> Duration {
    Duration::seconds(SKEW_SECONDS)
}

/// The loop-guard memory as the service's tags record it (already parsed and trusted).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Recorded<'a> {
    pub at: Time,
    /// The task definition the rollback deployed.
    pub to: &'a str,
    /// The task definition it rolled back from.
    pub from: Option<&'a str>,
}

/// What shows that a recorded rollback took effect.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Evidence {
    /// A deployment of the target started at or after the record (`UpdateService`): the
    /// earliest such, since a person may deploy the same task definition right after.
    Deployment { id: String, created: Option<Time> },
    /// The deployment it stopped is in a `ROLLBACK_*` state (`StopServiceDeployment`).
    Stopped(String),
}

/// Whether `d` is the deployment a recorded rollback started: of its target, created at or after
/// the record (less the skew) and within one invocation's lifetime of it.
pub fn is_deployment_of(d: &Deployment, rec: &Recorded) -> bool {
    same_task_definition(&d.task_definition, rec.to)
        && d.created_at.is_some_and(|c| {
            c >= rec.at - skew() && c <= rec.at + Duration::minutes(MAX_INVOCATION_MINUTES)
        })
}

/// Evidence from `DescribeServices` alone: a deployment of the target started by the rollback —
/// and so newer than the deployment it rolled back from, when that one is still listed (the
/// previous deployment of the target, still ACTIVE, is no evidence however recent).
pub fn evidence_in_service(service: &ServiceState, rec: &Recorded) -> Option<Evidence> {
    // A StopServiceDeployment rollback starts no deployment: ECS makes the target's earlier
    // deployment primary again with a "rolling back" reason. When that shows, no deployment
    // created after the record is the rollback's (a person's deployment right after is not).
    let restored = service.deployments.iter().find(|d| {
        same_task_definition(&d.task_definition, rec.to)
            && d.created_at.is_some_and(|c| c < rec.at - skew())
            && d.rollout_reason
                .as_deref()
                .is_some_and(crate::decision::is_ecs_rollback_reason)
    });
    if let Some(d) = restored {
        return Some(Evidence::Stopped(d.id.clone()));
    }
    let from_started = rec.from.and_then(|from| {
        service
            .deployments
            .iter()
            .filter(|d| same_task_definition(&d.task_definition, from))
            .filter_map(|d| d.created_at)
            .max()
    });
    service
        .deployments
        .iter()
        .filter(|d| is_deployment_of(d, rec))
        .filter(|d| match (from_started, d.created_at) {
            (Some(from), Some(created)) => created > from,
            _ => true,
        })
        .min_by_key(|d| d.created_at)
        .map(|d| Evidence::Deployment {
            id: d.id.clone(),
            created: d.created_at,
        })
}

/// Evidence from the service-deployment history: a deployment of the target created by the
/// rollback, or the deployment it stopped (of the revision it rolled back from) in a
/// `ROLLBACK_*` state that began at or after the record.
/// Evidence with everything known: a `StopServiceDeployment` rollback (the deployment it stopped
/// in a `ROLLBACK_*` state, in the history) wins, since it starts no deployment of its own — a
/// later deployment of the target is then someone else's; else the service's deployments; else
/// the history's.
pub fn evidence(
    service: &ServiceState,
    history: Option<&[HistoryEntry]>,
    rec: &Recorded,
) -> Option<Evidence> {
    let Some(entries) = history else {
        return evidence_in_service(service, rec);
    };
    if let Some(stopped) = stopped_in_history(entries, rec) {
        return Some(stopped);
    }
    match evidence_in_service(service, rec) {
        // The rollback's own deployment is the earliest of its target after the record. ECS may
        // no longer list it (its own rollback replaced it, or it completed and a later one
        // followed) while it lists a later deployment of the same task definition, a person's:
        // the history then knows the earlier one.
        Some(Evidence::Deployment {
            id,
            created: Some(created),
        }) => match started_in_history(entries, rec) {
            Some(e)
                if e.created_at.or(e.started_at).is_some_and(|c| c < created)
                    && !same_deployment(e, &id, created) =>
            {
                Some(Evidence::Deployment {
                    id: e.arn.clone(),
                    created: e.created_at.or(e.started_at),
                })
            }
            _ => Some(Evidence::Deployment {
                id,
                created: Some(created),
            }),
        },
        Some(other) => Some(other),
        None => evidence_in_history(entries, rec),
    }
}

/// Whether a history entry is the ECS deployment `id` created at `created`: by its target
/// revision's number, or, with the target unknown, by its creation time (the two are created
/// together).
fn same_deployment(e: &HistoryEntry, id: &str, created: Time) -> bool {
    e.is_deployment(id).unwrap_or_else(|| {
        e.created_at
            .or(e.started_at)
            .is_some_and(|c| (c - created).num_seconds().abs() <= 5)
    })
}

/// The deployment the rollback stopped, in a `ROLLBACK_*` state that began at or after the record.
fn stopped_in_history(entries: &[HistoryEntry], rec: &Recorded) -> Option<Evidence> {
    let from = rec.from?;
    entries
        .iter()
        .filter(|e| {
            matches!(
                e.status,
                DeploymentStatus::RollbackRequested
                    | DeploymentStatus::RollbackInProgress
                    | DeploymentStatus::RollbackSuccessful
            )
        })
        .filter(|e| e.finished_at.is_none_or(|t| t >= rec.at - skew()))
        .find(|e| {
            e.target_task_definition
                .as_deref()
                .is_some_and(|t| same_task_definition(t, from))
        })
        .map(|e| Evidence::Stopped(e.arn.clone()))
}

pub fn evidence_in_history(entries: &[HistoryEntry], rec: &Recorded) -> Option<Evidence> {
    if let Some(e) = started_in_history(entries, rec) {
        return Some(Evidence::Deployment {
            id: e.arn.clone(),
            created: e.created_at.or(e.started_at),
        });
    }
    stopped_in_history(entries, rec)
}

/// The earliest deployment of the target in the history created by the rollback: at or after
/// the record, within one invocation's lifetime of it, and newer than the deployment it rolled
/// back from.
fn started_in_history<'a>(entries: &'a [HistoryEntry], rec: &Recorded) -> Option<&'a HistoryEntry> {
    let of = |e: &HistoryEntry, td: &str| {
        e.target_task_definition
            .as_deref()
            .is_some_and(|t| same_task_definition(t, td))
    };
    // Newer than the deployment it rolled back from, as in `evidence_in_service`.
    let from_started = rec.from.and_then(|from| {
        entries
            .iter()
            .filter(|e| of(e, from))
            .filter_map(|e| e.created_at.or(e.started_at))
            .max()
    });
    let started = entries.iter().filter(|e| {
        of(e, rec.to)
            && e.created_at.or(e.started_at).is_some_and(|c| {
                c >= rec.at - skew()
                    && c <= rec.at + Duration::minutes(MAX_INVOCATION_MINUTES)
                    && from_started.is_none_or(|f| c > f)
            })
    });
    started.min_by_key(|e| e.created_at.or(e.started_at))
}

/// How the running revision came to run.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Origin {
    /// It has not completed a deployment before: an incident may be about it.
    New,
    /// It restores a proven revision; `how` says what proves it (for people).
    Restore { how: String },
}

/// Whether the revision of `entry` (the deployment that introduced the running revision) is new
/// or restores a proven revision: another deployment of the same revision completed before it,
/// or ECS restored that revision in a rollback. `same` compares two service revisions for
/// identity (a copy is its source).
pub fn origin_in_history(
    entries: &[HistoryEntry],
    entry: &HistoryEntry,
    same: &dyn Fn(&ServiceRevision, &ServiceRevision) -> bool,
) -> Origin {
    let Some(target) = entry.resolved_target() else {
        return Origin::New;
    };
    let introduced = entry.created_at.or(entry.started_at);
    for e in entries.iter().filter(|e| e.arn != entry.arn) {
        let before = match (e.created_at.or(e.started_at), introduced) {
            (Some(t), Some(i)) => t < i,
            _ => false,
        };
        match e.status {
            DeploymentStatus::Successful
                if before && e.resolved_target().is_some_and(|t| same(&t, &target)) =>
            {
                return Origin::Restore {
                    how: format!("it completed service deployment {} before", e.arn),
                };
            }
            DeploymentStatus::RollbackSuccessful
            | DeploymentStatus::RollbackInProgress
            | DeploymentStatus::RollbackRequested
                if e.rolled_back_to.as_ref().is_some_and(|r| same(r, &target)) =>
            {
                return Origin::Restore {
                    how: format!("ECS restored it in the rollback {}", e.arn),
                };
            }
            _ => {}
        }
    }
    Origin::New
}

/// The start of the deployment an alarm would act on, and whether the alarm's transition is
/// older than it (beyond the skew): such an alarm is about an older deployment — stale,
/// retried or redriven — and never acts on this one.
pub fn alarm_predates(since: Time, deployment_started: Time) -> bool {
    since < deployment_started - skew()
}

/// Early detection's threshold of the revision's own faults for a service (rule 13): the
/// configured minimum, at least 10 % of the desired count (a 100-task service sees a few
/// health-check kills in any rollout), never below 2, and below ECS's own circuit breaker for
/// the same service when it is on (ECS acts at its threshold; early detection must come first).
pub fn early_detection_threshold(service: &ServiceState, configured: u32) -> u32 {
    let desired = service.desired_count.max(1) as u32;
    let scaled = configured.max(desired.div_ceil(10));
    let below_ecs = breaker_of(service)
        .map(|b| (b.threshold_for(desired as i32).max(1) as u32).saturating_sub(1));
    let threshold = match below_ecs {
        Some(cap) => scaled.min(cap),
        None => scaled,
    };
    threshold.max(2)
}

/// The circuit breaker that watches this service's deployments: enabled, and the service's
/// deployments are rolling ones (ECS API reference, DeploymentCircuitBreaker: "can only be used
/// for services using the rolling update (ECS) deployment type").
pub fn breaker_of(service: &ServiceState) -> Option<AutoRollback> {
    service
        .circuit_breaker
        .filter(|b| b.enable && service.strategy == Strategy::Rolling)
}

/// Whether two references name the same revision for identity, given each one's identity (the
/// source of a copy): used for "already on the target" and the loop guard.
pub fn same_identity(a: &str, b: &str) -> bool {
    same_task_definition(a, b)
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn t(h: u32, m: u32) -> Time {
        chrono::Utc.with_ymd_and_hms(2026, 12, 5, h, m, 0).unwrap()
    }

    fn service(desired: i32, breaker: Option<AutoRollback>) -> ServiceState {
        ServiceState {
            cluster_arn: "arn:aws:ecs:eu-west-1:1:cluster/demo".into(),
            service_arn: "arn:aws:ecs:eu-west-1:1:service/demo/app".into(),
            service_name: "app".into(),
            status: "ACTIVE".into(),
            controller: Controller::Ecs,
            task_definition: "app:2".into(),
            tags: Default::default(),
            deployments: Vec::new(),
            desired_count: desired,
            circuit_breaker: breaker,
            deployment_alarms: None,
            strategy: Strategy::Rolling,
            bake_time_minutes: None,
            express: false,
        }
    }

    #[test]
    fn early_detection_threshold_scales_and_stays_below_the_breaker() {
        let on = |threshold| {
            Some(AutoRollback {
                reset_on_healthy_task: None,
                enable: true,
                rollback: false,
                threshold,
            })
        };
        // (desired, breaker, configured) → threshold
        let cases: &[(i32, Option<AutoRollback>, u32, u32)] = &[
            (1, None, 2, 2),
            (1, on(None), 2, 2),
            (4, on(None), 2, 2),
            (10, on(None), 2, 2),
            (30, on(None), 2, 3),
            (100, on(None), 2, 10),
            (100, None, 2, 10),
            (1000, on(None), 2, 100),
            (1000, on(Some(BreakerThreshold::Count(2))), 2, 2),
            (100, on(Some(BreakerThreshold::Count(5))), 2, 4),
            (100, on(Some(BreakerThreshold::BoundedPercent(10))), 2, 9),
            (20, on(None), 5, 5),
        ];
        for (desired, breaker, configured, want) in cases {
            let s = service(*desired, *breaker);
            assert_eq!(
                early_detection_threshold(&s, *configured),
                *want,
                "desired {desired}, breaker {breaker:?}, configured {configured}"
            );
        }
    }

    #[test]
    fn an_alarm_older_than_the_deployment_predates_it() {
        assert!(alarm_predates(t(10, 20), t(10, 22)));
        assert!(!alarm_predates(t(10, 21), t(10, 22)), "within the skew");
        assert!(!alarm_predates(t(10, 25), t(10, 22)));
    }

    #[test]
    fn a_memory_counts_only_with_a_deployment_it_started() {
        let rec = Recorded {
            at: t(10, 0),
            to: "arn:aws:ecs:eu-west-1:1:task-definition/app:3",
            from: Some("arn:aws:ecs:eu-west-1:1:task-definition/app:4"),
        };
        let dep = |td: &str, at| Deployment {
            id: "ecs-svc/1".into(),
            status: "ACTIVE".into(),
            task_definition: td.into(),
            rollout: Rollout::Completed,
            rollout_reason: None,
            created_at: Some(at),
            failed_tasks: 0,
        };
        // The old ACTIVE deployment of the target (a rollback-off breaker leaves it running).
        assert!(!is_deployment_of(&dep("app:3", t(9, 0)), &rec));
        assert!(is_deployment_of(&dep("app:3", t(10, 0)), &rec));
        assert!(!is_deployment_of(&dep("app:5", t(10, 0)), &rec));
        // A redeploy of the same revision hours later is not this rollback's deployment.
        assert!(!is_deployment_of(&dep("app:3", t(12, 0)), &rec));
    }
}
