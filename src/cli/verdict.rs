//! What a followed service deployment's state means, for `wait` and `deploy --wait`: one pure
//! function ([`judge`]) from what one poll saw — the service deployment
//! (`DescribeServiceDeployments`: status, `statusReason`, `rollback`, `alarms`,
//! `deploymentCircuitBreaker`, `lifecycleStage`), the service (`DescribeServices`: its
//! deployments' `rolloutState` as a cross-check, the `ecs-rollback:last-rollback-*` tags) and the
//! newer service deployment, if any — to "still going" or how it ended. No I/O here.
//!
//! The order of the questions matters:
//! 1. **ecs-rollback's own record first.** The responder and `ecs-rollback rollback` stop a
//!    deployment in flight with `StopServiceDeployment(ROLLBACK)`, which ECS shows as
//!    `ROLLBACK_*` exactly like its own circuit-breaker rollback; only the service's tags tell
//!    them apart (`last-rollback-from` = this deployment's task definition, `last-rollback-at`
//!    at or after its creation). The tags are written before the rollback, so a record counts
//!    once the rollback shows: the deployment is no longer in flight, or no longer PRIMARY.
//! 2. **Then ECS's status**, with the service re-read: `SUCCESSFUL` is success only while the
//!    service's PRIMARY deployment is still this one (and not reported FAILED).

use std::collections::BTreeMap;

use serde::Serialize;

use super::error::Code;
use super::guard::LastRollback;
use crate::decision::same_task_definition;
use crate::model::{Deployment, DeploymentStatus, Rollout, Time};

/// The followed service deployment, as `DescribeServiceDeployments` shows it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SeenDeployment {
    pub arn: String,
    pub status: Option<DeploymentStatus>,
    pub status_reason: Option<String>,
    pub created_at: Option<Time>,
    /// The ECS deployment it is (`ecs-svc/N`, N = its target service revision's id).
    pub id: Option<String>,
    /// The task definition it deploys (its target service revision's).
    pub task_definition: Option<String>,
    /// The task definition it replaces (its first source service revision's).
    pub from_task_definition: Option<String>,
    pub lifecycle_stage: Option<String>,
    /// `rollback`: set once ECS rolls it back.
    pub rollback: Option<SeenRollback>,
    /// `deploymentCircuitBreaker.status` is `TRIGGERED`.
    pub circuit_breaker_triggered: bool,
    /// `deploymentCircuitBreaker`: `(failureCount, threshold)`.
    pub circuit_breaker: Option<(i32, i32)>,
    /// `alarms.status` is `TRIGGERED`.
    pub alarms_triggered: bool,
    /// `alarms.triggeredAlarmNames`.
    pub triggered_alarms: Vec<String>,
    /// A lifecycle hook answered `FAILED` (`lifecycleHookDetails`).
    pub hook_failed: bool,
    /// `targetServiceRevision`: requested, running and pending tasks.
    pub tasks: Option<(i32, i32, i32)>,
}

/// `rollback` of a service deployment.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SeenRollback {
    pub reason: Option<String>,
    pub started_at: Option<Time>,
    /// The task definition of `rollback.serviceRevisionArn`: the revision ECS restores.
    pub to_task_definition: Option<String>,
}

/// A service deployment newer than the followed one (the service's `currentServiceDeployment`).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Newer {
    #[serde(rename = "deployment")]
    pub arn: String,
    #[serde(rename = "deployment_id")]
    pub id: Option<String>,
    pub task_definition: Option<String>,
}

/// What one poll saw.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Seen {
    pub deployment: SeenDeployment,
    /// The service's `deployments[]` (`DescribeServices`).
    pub deployments: Vec<Deployment>,
    /// The service's tags.
    pub tags: BTreeMap<String, String>,
    pub newer: Option<Newer>,
}

/// Why ECS rolled a deployment back.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum EcsCause {
    Alarms,
    CircuitBreaker,
    LifecycleHook,
    /// A `StopServiceDeployment(ROLLBACK)` that ecs-rollback did not record (the console, the
    /// AWS CLI, another tool).
    StopRequest,
    Unknown,
}

/// How a followed deployment ended.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Ending {
    /// It completed and its revision still runs: the service's PRIMARY deployment is this one.
    Completed,
    /// ECS reports it failed and did not roll it back (or its rollback failed too).
    Failed { reason: String, alarms: Vec<String> },
    /// ECS rolled it back (or is rolling it back): circuit breaker, deployment alarms, a
    /// lifecycle hook, or a stop request nobody recorded.
    RolledBackByEcs {
        cause: EcsCause,
        reason: String,
        alarms: Vec<String>,
        /// The circuit breaker's `(failureCount, threshold)`, when ECS reports them.
        breaker: Option<(i32, i32)>,
        to: Option<String>,
        /// `ROLLBACK_SUCCESSFUL`; false while ECS is still rolling back.
        settled: bool,
    },
    /// ecs-rollback rolled it back: the responder (automatic) or a person (manual).
    RolledBackByEcsRollback {
        kind: Option<String>,
        by: Option<String>,
        at: String,
        to: String,
    },
    /// Another deployment replaced it.
    Superseded { by: Option<Newer>, reason: String },
}

/// Still going (with what to say about it), or ended.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Verdict {
    Waiting(String),
    Ended(Ending),
}

/// The outcome names of `-o json`, the action's `outcome` output and the exit codes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    Completed,
    Failed,
    RolledBackByEcs,
    RolledBackByEcsRollback,
    Superseded,
    TimedOut,
    Interrupted,
}

impl Outcome {
    pub fn code(self) -> Code {
        match self {
            Outcome::Completed => Code::Ok,
            Outcome::Failed => Code::DeploymentFailed,
            Outcome::RolledBackByEcs => Code::RolledBackByEcs,
            Outcome::RolledBackByEcsRollback => Code::RolledBackByEcsRollback,
            Outcome::Superseded => Code::Superseded,
            Outcome::TimedOut => Code::TimedOut,
            Outcome::Interrupted => Code::Interrupted,
        }
    }

    /// `rolled_back_by_ecs`.
    pub fn name(self) -> &'static str {
        match self {
            Outcome::Completed => "completed",
            Outcome::Failed => "failed",
            Outcome::RolledBackByEcs => "rolled_back_by_ecs",
            Outcome::RolledBackByEcsRollback => "rolled_back_by_ecs_rollback",
            Outcome::Superseded => "superseded",
            Outcome::TimedOut => "timed_out",
            Outcome::Interrupted => "interrupted",
        }
    }
}

impl Ending {
    pub fn outcome(&self) -> Outcome {
        match self {
            Ending::Completed => Outcome::Completed,
            Ending::Failed { .. } => Outcome::Failed,
            Ending::RolledBackByEcs { .. } => Outcome::RolledBackByEcs,
            Ending::RolledBackByEcsRollback { .. } => Outcome::RolledBackByEcsRollback,
            Ending::Superseded { .. } => Outcome::Superseded,
        }
    }
}

impl Seen {
    /// The service's deployment (`deployments[]`) that is the followed one: by its `ecs-svc/N`
    /// id, else (id unknown) by its task definition.
    fn is_ours(&self, d: &Deployment) -> bool {
        match (&self.deployment.id, &self.deployment.task_definition) {
            (Some(id), _) => d.id == *id,
            (None, Some(td)) => same_task_definition(&d.task_definition, td),
            (None, None) => false,
        }
    }

    fn ours(&self) -> Option<&Deployment> {
        self.deployments.iter().find(|d| self.is_ours(d))
    }

    fn primary(&self) -> Option<&Deployment> {
        self.deployments.iter().find(|d| d.is_primary())
    }

    fn primary_is_ours(&self) -> bool {
        self.primary().is_some_and(|p| self.is_ours(p))
    }

    /// Who replaced it: the newer service deployment, else the PRIMARY deployment.
    fn replacement(&self) -> Option<Newer> {
        if let Some(n) = &self.newer {
            return Some(n.clone());
        }
        self.primary().filter(|p| !self.is_ours(p)).map(|p| Newer {
            arn: String::new(),
            id: Some(p.id.clone()).filter(|i| !i.is_empty()),
            task_definition: Some(p.task_definition.clone()).filter(|t| !t.is_empty()),
        })
    }
}

/// The `ecs-rollback:last-rollback-*` record, when it rolled back this deployment: from its task
/// definition, at or after its creation (the tag has whole seconds).
fn our_record(seen: &Seen) -> Option<LastRollback> {
    let last = LastRollback::of(&seen.tags)?;
    let td = seen.deployment.task_definition.as_deref()?;
    let from = last.from.as_deref()?;
    if !same_task_definition(from, td) {
        return None;
    }
    let at = last.at?;
    let created = seen.deployment.created_at?;
    (at.timestamp() >= created.timestamp()).then_some(last)
}

fn some_text(s: &Option<String>) -> Option<String> {
    s.as_deref()
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_string)
}

/// What the followed deployment's state means.
pub fn judge(seen: &Seen) -> Verdict {
    let d = &seen.deployment;
    let status = d.status.unwrap_or(DeploymentStatus::Other);
    if let Some(last) = our_record(seen) {
        if !status.is_in_flight() || !seen.primary_is_ours() {
            return Verdict::Ended(Ending::RolledBackByEcsRollback {
                kind: last.kind.clone(),
                by: last.by.clone(),
                at: last.at_raw.clone(),
                to: last.to.clone(),
            });
        }
        return Verdict::Waiting(format!(
            "a rollback by ecs-rollback is recorded ({}); waiting for it to show",
            last.who()
        ));
    }
    let ours = seen.ours();
    let rollout_failed = ours.is_some_and(|o| o.rollout == Rollout::Failed);
    let rollout_reason = ours.and_then(|o| some_text(&o.rollout_reason));
    let alarms = d.triggered_alarms.clone();
    match status {
        DeploymentStatus::Pending | DeploymentStatus::InProgress => {
            Verdict::Waiting(progress(d, rollout_failed))
        }
        DeploymentStatus::Successful => match seen.primary() {
            Some(p) if seen.is_ours(p) => match p.rollout {
                Rollout::Completed | Rollout::Unknown => Verdict::Ended(Ending::Completed),
                Rollout::Failed => Verdict::Ended(Ending::Failed {
                    reason: rollout_reason.unwrap_or_else(|| {
                        "ECS reports the service deployment SUCCESSFUL but its rollout FAILED"
                            .into()
                    }),
                    alarms,
                }),
                Rollout::InProgress => Verdict::Waiting(
                    "SUCCESSFUL; waiting for DescribeServices to show the rollout COMPLETED".into(),
                ),
            },
            Some(_) => Verdict::Ended(Ending::Superseded {
                by: seen.replacement(),
                reason: "it completed, but the service no longer runs it".into(),
            }),
            None => Verdict::Waiting("SUCCESSFUL; the service shows no PRIMARY deployment".into()),
        },
        DeploymentStatus::StopRequested | DeploymentStatus::Stopped => {
            if d.circuit_breaker_triggered || d.alarms_triggered || rollout_failed {
                let reason = some_text(&d.status_reason)
                    .or(rollout_reason)
                    .unwrap_or_else(|| format!("ECS reports it {}", status.as_str()));
                return Verdict::Ended(Ending::Failed { reason, alarms });
            }
            match seen.replacement() {
                Some(by) => Verdict::Ended(Ending::Superseded {
                    by: Some(by),
                    reason: some_text(&d.status_reason)
                        .unwrap_or_else(|| format!("ECS reports it {}", status.as_str())),
                }),
                None => Verdict::Ended(Ending::Failed {
                    reason: some_text(&d.status_reason).unwrap_or_else(|| {
                        format!(
                            "ECS reports it {} (a StopServiceDeployment request?)",
                            status.as_str()
                        )
                    }),
                    alarms,
                }),
            }
        }
        DeploymentStatus::RollbackRequested
        | DeploymentStatus::RollbackInProgress
        | DeploymentStatus::RollbackSuccessful => {
            let rb = d.rollback.clone().unwrap_or_default();
            let reason = some_text(&rb.reason)
                .or_else(|| some_text(&d.status_reason))
                .unwrap_or_else(|| format!("ECS reports it {}", status.as_str()));
            let cause = if d.alarms_triggered || !alarms.is_empty() {
                EcsCause::Alarms
            } else if d.circuit_breaker_triggered {
                EcsCause::CircuitBreaker
            } else if reason.contains("StopServiceDeployment") {
                EcsCause::StopRequest
            } else if d.hook_failed || reason.to_ascii_lowercase().contains("hook") {
                EcsCause::LifecycleHook
            } else {
                EcsCause::Unknown
            };
            Verdict::Ended(Ending::RolledBackByEcs {
                cause,
                reason,
                alarms,
                breaker: d.circuit_breaker,
                to: rb.to_task_definition,
                settled: status == DeploymentStatus::RollbackSuccessful,
            })
        }
        DeploymentStatus::RollbackFailed => {
            let why = some_text(&d.rollback.as_ref().and_then(|r| r.reason.clone()))
                .or_else(|| some_text(&d.status_reason))
                .or(rollout_reason)
                .unwrap_or_else(|| "no reason given".into());
            Verdict::Ended(Ending::Failed {
                reason: format!(
                    "ECS rolled it back and the rollback failed too (ROLLBACK_FAILED): {why}"
                ),
                alarms,
            })
        }
        DeploymentStatus::Other => {
            Verdict::Waiting("in a status this version does not know".into())
        }
    }
}

/// `IN_PROGRESS (BAKE_TIME), running 1 of 2, pending 1`.
fn progress(d: &SeenDeployment, rollout_failed: bool) -> String {
    let mut s = d
        .status
        .map(|s| s.as_str().to_string())
        .unwrap_or_else(|| "?".into());
    if let Some(stage) = &d.lifecycle_stage {
        s.push_str(&format!(" ({stage})"));
    }
    if let Some((requested, running, pending)) = d.tasks {
        s.push_str(&format!(
            ", running {running} of {requested}, pending {pending}"
        ));
    }
    if rollout_failed {
        s.push_str(
            "; ECS reports the rollout FAILED, waiting for the service deployment to settle",
        );
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::TAG_LAST_ROLLBACK_AT;
    use chrono::TimeZone;

    const OURS: &str = "arn:aws:ecs:eu-west-1:123456789012:task-definition/web:4";
    const OLD: &str = "arn:aws:ecs:eu-west-1:123456789012:task-definition/web:3";
    const NEXT: &str = "arn:aws:ecs:eu-west-1:123456789012:task-definition/web:5";

    fn t(h: u32, m: u32, s: u32) -> Time {
        chrono::Utc.with_ymd_and_hms(2026, 12, 1, h, m, s).unwrap()
    }

    fn dep(id: &str, status: &str, td: &str, rollout: Rollout) -> Deployment {
        Deployment {
            id: id.into(),
            status: status.into(),
            task_definition: td.into(),
            rollout,
            rollout_reason: None,
            created_at: Some(t(10, 0, 0)),
            failed_tasks: 0,
        }
    }

    /// Ours (`ecs-svc/4`, web:3 → web:4, created 10:00:00.500) in `status`, the service with
    /// `deployments`.
    fn seen(status: DeploymentStatus, deployments: Vec<Deployment>) -> Seen {
        Seen {
            deployment: SeenDeployment {
                arn: "arn:aws:ecs:eu-west-1:123456789012:service-deployment/demo/web/abc".into(),
                status: Some(status),
                created_at: Some(t(10, 0, 0) + chrono::Duration::milliseconds(500)),
                id: Some("ecs-svc/4".into()),
                task_definition: Some(OURS.into()),
                from_task_definition: Some(OLD.into()),
                ..Default::default()
            },
            deployments,
            ..Default::default()
        }
    }

    fn tagged(mut s: Seen, from: &str, at: &str, kind: &str, by: &str) -> Seen {
        for (k, v) in [
            (TAG_LAST_ROLLBACK_AT, at),
            (crate::model::TAG_LAST_ROLLBACK_TO, OLD),
            (crate::model::TAG_LAST_ROLLBACK_FROM, from),
            (crate::model::TAG_LAST_ROLLBACK_KIND, kind),
            (crate::model::TAG_LAST_ROLLBACK_BY, by),
        ] {
            s.tags.insert(k.into(), v.into());
        }
        s
    }

    fn outcome(v: &Verdict) -> Option<Outcome> {
        match v {
            Verdict::Ended(e) => Some(e.outcome()),
            Verdict::Waiting(_) => None,
        }
    }

    #[test]
    fn what_a_service_deployment_state_means() {
        use DeploymentStatus::*;
        let primary = |r| dep("ecs-svc/4", "PRIMARY", OURS, r);
        let old_active = dep("ecs-svc/3", "ACTIVE", OLD, Rollout::Completed);
        let old_primary = |r| dep("ecs-svc/3", "PRIMARY", OLD, r);
        let ours_active = |r| dep("ecs-svc/4", "ACTIVE", OURS, r);
        let next_primary = dep("ecs-svc/5", "PRIMARY", NEXT, Rollout::InProgress);
        let mut cases: Vec<(&str, Seen, Option<Outcome>)> = vec![
            (
                "pending",
                seen(
                    Pending,
                    vec![primary(Rollout::InProgress), old_active.clone()],
                ),
                None,
            ),
            (
                "in progress",
                seen(
                    InProgress,
                    vec![primary(Rollout::InProgress), old_active.clone()],
                ),
                None,
            ),
            (
                "successful, PRIMARY and COMPLETED",
                seen(Successful, vec![primary(Rollout::Completed)]),
                Some(Outcome::Completed),
            ),
            (
                "successful, the service still shows the rollout in progress",
                seen(
                    Successful,
                    vec![primary(Rollout::InProgress), old_active.clone()],
                ),
                None,
            ),
            (
                "successful, but another deployment is PRIMARY now",
                seen(
                    Successful,
                    vec![next_primary.clone(), ours_active(Rollout::Completed)],
                ),
                Some(Outcome::Superseded),
            ),
            (
                "successful, but the service reports the rollout FAILED",
                seen(Successful, vec![primary(Rollout::Failed)]),
                Some(Outcome::Failed),
            ),
            (
                "stop requested: a newer deployment started",
                seen(
                    StopRequested,
                    vec![next_primary.clone(), ours_active(Rollout::InProgress)],
                ),
                Some(Outcome::Superseded),
            ),
            (
                "stopped: replaced",
                seen(Stopped, vec![next_primary.clone()]),
                Some(Outcome::Superseded),
            ),
            (
                "stopped with nobody after it",
                seen(Stopped, vec![primary(Rollout::InProgress)]),
                Some(Outcome::Failed),
            ),
            (
                "rollback requested",
                seen(
                    RollbackRequested,
                    vec![
                        old_primary(Rollout::InProgress),
                        ours_active(Rollout::Failed),
                    ],
                ),
                Some(Outcome::RolledBackByEcs),
            ),
            (
                "rollback in progress",
                seen(
                    RollbackInProgress,
                    vec![
                        old_primary(Rollout::InProgress),
                        ours_active(Rollout::Failed),
                    ],
                ),
                Some(Outcome::RolledBackByEcs),
            ),
            (
                "rollback successful",
                seen(RollbackSuccessful, vec![old_primary(Rollout::Completed)]),
                Some(Outcome::RolledBackByEcs),
            ),
            (
                "rollback failed",
                seen(RollbackFailed, vec![old_primary(Rollout::Failed)]),
                Some(Outcome::Failed),
            ),
            (
                "a status this version does not know",
                seen(Other, vec![primary(Rollout::InProgress)]),
                None,
            ),
        ];
        // The circuit breaker failed it without a rollback: STOP_REQUESTED, TRIGGERED.
        let mut s = seen(StopRequested, vec![primary(Rollout::Failed)]);
        s.deployment.circuit_breaker_triggered = true;
        cases.push(("circuit breaker without rollback", s, Some(Outcome::Failed)));
        // Deployment alarms without rollback, even with a newer deployment started since.
        let mut s = seen(
            StopRequested,
            vec![next_primary.clone(), ours_active(Rollout::Failed)],
        );
        s.deployment.alarms_triggered = true;
        cases.push((
            "alarms without rollback, then replaced",
            s,
            Some(Outcome::Failed),
        ));
        // ECS's own rollback that happens to follow an old, unrelated record of ours.
        let s = tagged(
            seen(RollbackInProgress, vec![old_primary(Rollout::InProgress)]),
            OURS,
            "2026-12-01T09:59:00Z",
            "automatic",
            "ecs-rollback",
        );
        cases.push((
            "a record older than the deployment",
            s,
            Some(Outcome::RolledBackByEcs),
        ));
        // A record about another task definition.
        let s = tagged(
            seen(RollbackInProgress, vec![old_primary(Rollout::InProgress)]),
            NEXT,
            "2026-12-01T10:01:00Z",
            "automatic",
            "ecs-rollback",
        );
        cases.push((
            "a record of another revision",
            s,
            Some(Outcome::RolledBackByEcs),
        ));
        // Ours, by StopServiceDeployment (ROLLBACK_REQUESTED), in the deployment's own second.
        let s = tagged(
            seen(
                RollbackRequested,
                vec![
                    old_primary(Rollout::InProgress),
                    ours_active(Rollout::InProgress),
                ],
            ),
            OURS,
            "2026-12-01T10:00:00Z",
            "automatic",
            "ecs-rollback",
        );
        cases.push((
            "the responder's StopServiceDeployment",
            s,
            Some(Outcome::RolledBackByEcsRollback),
        ));
        // Ours, by UpdateService after the deployment completed.
        let s = tagged(
            seen(
                Successful,
                vec![
                    old_primary(Rollout::InProgress),
                    ours_active(Rollout::Completed),
                ],
            ),
            OURS,
            "2026-12-01T10:20:00Z",
            "manual",
            "arn:aws:sts::123456789012:assumed-role/Ops/alice",
        );
        cases.push((
            "a person's rollback after it completed",
            s,
            Some(Outcome::RolledBackByEcsRollback),
        ));
        // Recorded, but the rollback has not shown yet (the tags are written first).
        let s = tagged(
            seen(
                InProgress,
                vec![primary(Rollout::InProgress), old_active.clone()],
            ),
            OURS,
            "2026-12-01T10:01:00Z",
            "manual",
            "alice",
        );
        cases.push(("recorded, not yet visible", s, None));
        for (name, s, want) in cases {
            assert_eq!(outcome(&judge(&s)), want, "{name}: {:?}", judge(&s));
        }
    }

    #[test]
    fn rollbacks_by_ecs_name_their_cause_and_target() {
        use DeploymentStatus::*;
        let base = || {
            let mut s = seen(
                RollbackInProgress,
                vec![dep("ecs-svc/3", "PRIMARY", OLD, Rollout::InProgress)],
            );
            s.deployment.rollback = Some(SeenRollback {
                reason: Some("ECS deployment failed: alarm(s) latency in ALARM state.".into()),
                started_at: Some(t(10, 5, 0)),
                to_task_definition: Some(OLD.into()),
            });
            s
        };
        let mut alarms = base();
        alarms.deployment.alarms_triggered = true;
        alarms.deployment.triggered_alarms = vec!["latency".into(), "5xx".into()];
        let mut breaker = base();
        breaker.deployment.circuit_breaker_triggered = true;
        let mut hook = base();
        hook.deployment.hook_failed = true;
        let mut stop = base();
        stop.deployment.rollback.as_mut().unwrap().reason = Some(
            "Service deployment rolled back because of a StopServiceDeployment request.".into(),
        );
        let mut unknown = base();
        unknown.deployment.rollback.as_mut().unwrap().reason = None;
        unknown.deployment.status_reason = Some("something else".into());
        for (s, cause, reason) in [
            (alarms, EcsCause::Alarms, "alarm(s) latency"),
            (breaker, EcsCause::CircuitBreaker, "alarm(s) latency"),
            (hook, EcsCause::LifecycleHook, "alarm(s) latency"),
            (stop, EcsCause::StopRequest, "StopServiceDeployment"),
            (unknown, EcsCause::Unknown, "something else"),
        ] {
            let Verdict::Ended(Ending::RolledBackByEcs {
                cause: c,
                reason: r,
                to,
                settled,
                alarms,
                ..
            }) = judge(&s)
            else {
                panic!("{s:?}")
            };
            assert_eq!(c, cause);
            assert!(r.contains(reason), "{r}");
            assert_eq!(to.as_deref(), Some(OLD));
            assert!(!settled);
            assert_eq!(alarms.is_empty(), cause != EcsCause::Alarms);
        }
    }

    #[test]
    fn endings_carry_who_and_what() {
        use DeploymentStatus::*;
        let s = tagged(
            seen(
                RollbackRequested,
                vec![dep("ecs-svc/3", "PRIMARY", OLD, Rollout::InProgress)],
            ),
            OURS,
            "2026-12-01T10:02:00Z",
            "manual",
            "arn:aws:sts::123456789012:user/moto",
        );
        assert_eq!(
            judge(&s),
            Verdict::Ended(Ending::RolledBackByEcsRollback {
                kind: Some("manual".into()),
                by: Some("arn:aws:sts::123456789012:user/moto".into()),
                at: "2026-12-01T10:02:00Z".into(),
                to: OLD.into(),
            })
        );
        let mut s = seen(
            StopRequested,
            vec![dep("ecs-svc/5", "PRIMARY", NEXT, Rollout::InProgress)],
        );
        s.newer = Some(Newer {
            arn: "arn:aws:ecs:eu-west-1:123456789012:service-deployment/demo/web/def".into(),
            id: Some("ecs-svc/5".into()),
            task_definition: Some(NEXT.into()),
        });
        s.deployment.status_reason =
            Some("Service deployment stopped because a newer service deployment started.".into());
        let Verdict::Ended(Ending::Superseded { by, reason }) = judge(&s) else {
            panic!()
        };
        assert_eq!(by.unwrap().id.as_deref(), Some("ecs-svc/5"));
        assert!(reason.contains("newer service deployment"), "{reason}");
        // Without a newer service deployment known, the PRIMARY deployment names it.
        s.newer = None;
        let Verdict::Ended(Ending::Superseded { by, .. }) = judge(&s) else {
            panic!()
        };
        assert_eq!(by.unwrap().task_definition.as_deref(), Some(NEXT));
        // A failure's reason: the status reason, else the rollout's.
        let mut s = seen(
            StopRequested,
            vec![Deployment {
                rollout_reason: Some("tasks failed to start".into()),
                ..dep("ecs-svc/4", "PRIMARY", OURS, Rollout::Failed)
            }],
        );
        s.deployment.circuit_breaker_triggered = true;
        assert_eq!(
            judge(&s),
            Verdict::Ended(Ending::Failed {
                reason: "tasks failed to start".into(),
                alarms: vec![]
            })
        );
        // The progress names the lifecycle stage and the tasks.
        let mut s = seen(
            InProgress,
            vec![dep("ecs-svc/4", "PRIMARY", OURS, Rollout::InProgress)],
        );
        s.deployment.lifecycle_stage = Some("BAKE_TIME".into());
        s.deployment.tasks = Some((2, 1, 1));
        assert_eq!(
            judge(&s),
            Verdict::Waiting("IN_PROGRESS (BAKE_TIME), running 1 of 2, pending 1".into())
        );
    }

    #[test]
    fn outcomes_have_names_and_distinct_exit_codes() {
        let all = [
            Outcome::Completed,
            Outcome::Failed,
            Outcome::RolledBackByEcs,
            Outcome::RolledBackByEcsRollback,
            Outcome::Superseded,
            Outcome::TimedOut,
            Outcome::Interrupted,
        ];
        let codes: std::collections::BTreeSet<i32> = all.iter().map(|o| o.code() as i32).collect();
        assert_eq!(codes.len(), all.len());
        assert_eq!(codes, [0, 4, 5, 6, 7, 8, 130].into_iter().collect());
        for o in all {
            assert_eq!(serde_json::to_value(o).unwrap(), o.name());
        }
    }
}
