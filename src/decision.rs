//! The pure decision core: `(Trigger, Snapshot, Policy, now) -> Step`.
//!
//! No I/O, no async, no SDK types. Every decision rule (docs/src/decision-rules.md) is a named function here
//! (`rule1_eligibility`, `rule2_…`, …) and [`decide`] composes them in order; the table tests in
//! `decision_tests.rs` mirror them one to one. The core reads only what it has been given; when
//! it needs more (the deployment history, the task-definition family, details of a revision, the
//! stopped tasks of a deployment) it answers [`Step::Need`] and the caller loads exactly that and
//! asks again. A duplicate event costs one `DescribeServices`.

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::fmt;

use chrono::Duration;
use serde::Serialize;

use crate::model::*;

/// How many of a family's newest revisions the fallback search reads (rule 5 (b)/(c)).
pub const FAMILY_SCAN_LIMIT: usize = 10;
/// How far apart a deployment and its service deployment's creation times may be read.
const FAILING_ENTRY_TOLERANCE_SECONDS: i64 = 180;
/// A `last-rollback-at` further in the future than this is clock skew or tampering (rule 8).
pub const MAX_CLOCK_SKEW_MINUTES: i64 = 5;

/// The policy knobs (the Lambda's environment), already validated.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Policy {
    pub dry_run: bool,
    /// `None` = alarms roll back however old the current deployment is.
    pub alarm_window: Option<Duration>,
    pub cooldown: Duration,
    pub require_opt_in: bool,
    /// Early detection: failed tasks of the newest deployment that trigger a rollback; 0 = off.
    pub early_failed_tasks: u32,
    /// How long a down migration may run before it counts as timed out (rule 14).
    pub migration_timeout: Duration,
}

impl Default for Policy {
    fn default() -> Self {
        Policy {
            dry_run: false,
            alarm_window: Some(Duration::minutes(60)),
            cooldown: Duration::minutes(30),
            require_opt_in: true,
            early_failed_tasks: 2,
            migration_timeout: Duration::minutes(30),
        }
    }
}

/// Everything known about one service when deciding. `None` = not loaded yet.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Snapshot {
    pub service: ServiceState,
    pub history: Option<HistoryRead>,
    /// ARNs of the ACTIVE revisions of the failing revision's family, in any order.
    pub family: Option<Vec<String>>,
    /// Revisions described so far, by ARN (and by the name they were asked for).
    pub revisions: BTreeMap<String, Revision>,
    /// Stopped tasks of the newest deployment (early detection); `Err` = could not be read.
    pub stopped_tasks: Option<Result<Vec<TaskStop>, String>>,
    /// Targets that cannot be deployed in this invocation, and why (registering their copy was
    /// refused: `iam:PassRole`, the tag limit): the next candidate is chosen instead.
    pub unusable: BTreeMap<String, String>,
    /// Revisions read ahead for the adapters' own bookkeeping (the failing revision's ledger,
    /// read while the target is): the core never reads them.
    pub prefetched: BTreeMap<String, Revision>,
}

impl Snapshot {
    pub fn new(service: ServiceState) -> Self {
        Snapshot {
            service,
            history: None,
            family: None,
            revisions: BTreeMap::new(),
            stopped_tasks: None,
            unusable: BTreeMap::new(),
            prefetched: BTreeMap::new(),
        }
    }
}

/// What the core needs loaded before it can decide.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Need {
    /// The service-deployment history (`ListServiceDeployments` …).
    History,
    /// The ACTIVE revisions of this family (`ListTaskDefinitions`).
    Family(String),
    /// Details and ledger tags of these task definitions (`DescribeTaskDefinition`).
    Revisions(Vec<String>),
    /// The stopped tasks of this ECS deployment (`ListTasks startedBy` + `DescribeTasks`).
    StoppedTasks(String),
}

/// One answer of the core. `Done` is the larger variant by design: a `Step` is returned once per
/// load round and never stored in bulk, so boxing the decision would only add an allocation.
#[allow(clippy::large_enum_variant)]
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Step {
    Done(Decision),
    Need(Need),
}

/// Where the chosen revision came from (rule 5, in order of trust).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Source {
    /// A successful ECS service deployment (or the revision an ECS rollback restored).
    History,
    /// The revision the failing deployment replaces, which ECS can restore (rule 6).
    DeploymentSource,
    /// Tagged `ecs-rollback:status=stable`.
    Ledger,
    /// The newest older revision of the family.
    Family,
    /// Named by the operator.
    Requested,
}

/// How the rollback is carried out (rule 6).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Method {
    /// `UpdateService(taskDefinition = to, + the configuration fields in `restore`)`.
    UpdateService,
    /// `StopServiceDeployment(stopType = ROLLBACK)`: ECS returns to the deployment's source revision.
    StopDeployment { service_deployment_arn: String },
}

/// One container pinned to the digest its history recorded (rule 7).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Pin {
    pub container: String,
    pub image: String,
    pub pinned: String,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct RollbackPlan {
    pub from: String,
    pub to: String,
    pub source: Source,
    pub method: Method,
    /// Non-empty: register a copy of `to` with these images and deploy the copy.
    pub pins: Vec<Pin>,
    /// `to` is INACTIVE (CloudFormation, CDK and Copilot deregister on every update): register a
    /// copy of it (pinned where `pins` says) and deploy the copy.
    pub copy_inactive: bool,
    /// Service-configuration fields (`networkConfiguration`, `loadBalancers`, …) that differ from
    /// the target revision and are restored with `UpdateService`.
    pub restore: Vec<String>,
    /// The service revision whose configuration is restored (`DescribeServiceRevisions`).
    pub restore_from: Option<String>,
    /// Tag this task definition `ecs-rollback:status=bad` (+ `bad-for` this service): only when
    /// the failure is the task definition's, never for a same-task-definition digest or
    /// configuration failure.
    pub mark_bad: Option<String>,
    /// The service's deployment strategy: what ECS does next.
    pub strategy: Strategy,
    pub bake_time_minutes: Option<i32>,
    pub dry_run: bool,
    /// Set when the history API was unavailable and the search fell back (said in the log).
    pub degraded: Option<String>,
    /// Rule 14: the target cannot run against the schema in force; this down migration runs
    /// first, and the rollback follows only when it succeeded.
    pub migration: Option<Migration>,
}

/// A down migration before a rollback (rule 14).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Migration {
    /// The migration task definition, as the service's `ecs-rollback:migration` tag names it.
    pub task_definition: String,
    /// The schema version in force, and the version the target runs against (migrated to).
    pub from_schema: String,
    pub to_schema: String,
}

impl RollbackPlan {
    /// A copy of `to` must be registered before deploying it.
    pub fn needs_copy(&self) -> bool {
        !self.pins.is_empty() || self.copy_inactive
    }

    /// What ECS does next, for the reason and the notification.
    pub fn next(&self) -> String {
        let to = short_task_definition(&self.to);
        let bake = self
            .bake_time_minutes
            .filter(|m| *m > 0)
            .map(|m| format!(", with its {m} min bake time"))
            .unwrap_or_default();
        match (&self.method, self.strategy) {
            (Method::StopDeployment { .. }, s) if s.shifts_traffic() => format!(
                "ECS shifts production traffic back to {to}, which is still running ({} deployment stopped in flight)",
                s.as_str()
            ),
            (Method::StopDeployment { .. }, _) => {
                format!("ECS rolls the deployment back and replaces its tasks with {to}")
            }
            (Method::UpdateService, Strategy::Rolling) => {
                format!("ECS replaces the tasks with {to} in a rolling deployment")
            }
            (Method::UpdateService, s) => format!(
                "ECS runs a full {} deployment of {to}{bake} and its lifecycle hooks",
                s.as_str()
            ),
        }
    }
}

/// Why nothing is done. Each has a stable code (metrics) and a sentence (response, log).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Skip {
    AlarmNotInAlarm(AlarmState),
    DeploymentInProgress,
    NotOptedIn,
    OptedOut,
    Controller(Controller),
    ServiceNotActive(String),
    UnknownDeployment(String),
    Superseded {
        deployment: String,
        by: String,
    },
    AlreadyRolledBack {
        to: String,
    },
    RollbackFailed {
        to: String,
    },
    EcsRollingBack(String),
    /// Rule 3: ECS rolled the service back itself within the cooldown.
    EcsRolledBack {
        /// Why, as ECS reports it (the alarms it names, the circuit breaker's count).
        why: Option<String>,
        deployment: String,
        at: String,
    },
    /// Rule 4: the alarm only shares the service's dimensions; the service does not list it.
    NotAGuard {
        alarm: String,
    },
    /// Rule 3: a deployment alarm with `rollback: true` while the deployment (or bake) runs.
    EcsDeploymentAlarm {
        alarm: String,
    },
    /// Rule 4: an Express service's own deployment alarm after the deployment completed.
    ExpressAlarm {
        alarm: String,
    },
    OutsideWindow {
        minutes: i64,
        window: i64,
    },
    DeploymentStartUnknown,
    Cooldown {
        at: String,
        minutes_left: i64,
        /// `automatically` / `manually by …` / `(seen in the deployment history)`.
        how: String,
    },
    /// Rule 8: the loop guard cannot be read (tag invalid and history unavailable).
    LoopGuardUnknown(String),
    AlreadyOnTarget(String),
    TargetRejected {
        target: String,
        why: String,
    },
    NoCandidate(String),
    NotStableable {
        task_definition: String,
    },
    AlreadyStable {
        task_definition: String,
    },
    EarlyDetectionOff,
    OlderDeploymentTask {
        deployment: String,
        newest: String,
    },
    BelowThreshold {
        failed: i32,
        threshold: u32,
    },
    /// Rule 13: ECS's circuit breaker rolls this deployment back no later than early detection.
    EcsBreakerFirst {
        ecs: u32,
        failed: i32,
        backstop: Option<u32>,
    },
    NoDeployment,
    /// Rule 11: the alarm entered ALARM before the deployment it would act on started.
    StaleAlarm {
        alarm: String,
        since: String,
        deployment: String,
        started: String,
    },
    /// Rule 11: the event says the deployment FAILED; ECS does not.
    DeploymentNotFailed {
        deployment: String,
        /// What ECS reports instead (`COMPLETED`, `IN_PROGRESS`, `SUCCESSFUL`, `unknown`…).
        state: String,
    },
    /// Rule 11: the event says the deployment COMPLETED; ECS does not.
    DeploymentNotCompleted {
        deployment: String,
        state: String,
    },
    /// Rule 11: the alarm's transition time is unknown, so it cannot be held to the deployment.
    AlarmTimeUnknown {
        alarm: String,
    },
    /// Rule 14: no proven revision runs against the schema in force, and no down migration is named.
    SchemaIncompatible {
        in_force: String,
        /// Who brought the schema in force (a task definition, or a down migration).
        declared_by: String,
        /// The targets passed over, each with why.
        passed: Vec<(String, String)>,
        /// The service's `cluster/service`, for the commands in the sentence.
        service: String,
    },
    /// Rule 14: the failing revision's `ecs-rollback:schema` cannot be read.
    SchemaUnreadable {
        task_definition: String,
        why: String,
    },
    /// Rule 14: a down migration the responder started is still running.
    MigrationRunning {
        task: String,
        since: String,
        to: String,
    },
    /// Rule 14: a down migration ran past its time; it is stopped and the rollback not attempted.
    MigrationTimedOut {
        task: String,
        since: String,
        minutes: i64,
    },
    /// Rule 14: the down migration for this failure ended without success (already reported).
    MigrationFailed {
        task: String,
        result: String,
    },
    /// An incident starts with a new revision: the running one restores a proven revision.
    NotNewRevision {
        revision: String,
        how: String,
        /// The alarm still firing after a rollback (for the sentence).
        alarm: Option<String>,
    },
}

impl Skip {
    pub fn code(&self) -> &'static str {
        match self {
            Skip::AlarmNotInAlarm(_) => "alarm_not_in_alarm",
            Skip::DeploymentInProgress => "deployment_in_progress",
            Skip::NotOptedIn => "not_opted_in",
            Skip::OptedOut => "opted_out",
            Skip::Controller(_) => "unsupported_controller",
            Skip::ServiceNotActive(_) => "service_not_active",
            Skip::UnknownDeployment(_) => "stale_event",
            Skip::Superseded { .. } => "stale_event",
            Skip::AlreadyRolledBack { .. } => "duplicate_event",
            Skip::RollbackFailed { .. } => "rollback_failed",
            Skip::EcsRollingBack(_) => "ecs_rolling_back",
            Skip::EcsRolledBack { .. } => "ecs_rolled_back",
            Skip::NotAGuard { .. } => "not_a_guard",
            Skip::EcsDeploymentAlarm { .. } => "ecs_deployment_alarm",
            Skip::ExpressAlarm { .. } => "express_alarm",
            Skip::OutsideWindow { .. } => "outside_alarm_window",
            Skip::DeploymentStartUnknown => "outside_alarm_window",
            Skip::Cooldown { .. } => "cooldown",
            Skip::LoopGuardUnknown(_) => "loop_guard_unknown",
            Skip::AlreadyOnTarget(_) => "already_on_target",
            Skip::TargetRejected { .. } => "target_rejected",
            Skip::NoCandidate(_) => "no_stable_candidate",
            Skip::NotStableable { .. } => "marked_bad",
            Skip::AlreadyStable { .. } => "already_recorded",
            Skip::EarlyDetectionOff => "early_detection_off",
            Skip::OlderDeploymentTask { .. } => "older_deployment_task",
            Skip::BelowThreshold { .. } => "below_failed_task_threshold",
            Skip::EcsBreakerFirst { .. } => "ecs_breaker_first",
            Skip::NoDeployment => "no_deployment",
            Skip::StaleAlarm { .. } => "stale_alarm",
            Skip::AlarmTimeUnknown { .. } => "alarm_unverified",
            Skip::DeploymentNotFailed { .. } => "deployment_not_failed",
            Skip::DeploymentNotCompleted { .. } => "deployment_not_completed",
            Skip::NotNewRevision { .. } => "not_a_new_revision",
            Skip::SchemaIncompatible { .. } => "schema_incompatible",
            Skip::SchemaUnreadable { .. } => "schema_unreadable",
            Skip::MigrationRunning { .. } => "migration_running",
            Skip::MigrationTimedOut { .. } => "migration_timed_out",
            Skip::MigrationFailed { .. } => "migration_failed",
        }
    }

    /// Worth telling people about (SNS), beyond the log line.
    pub fn notify(&self) -> bool {
        matches!(
            self,
            Skip::RollbackFailed { .. }
                | Skip::EcsRollingBack(_)
                | Skip::EcsRolledBack { .. }
                | Skip::EcsDeploymentAlarm { .. }
                | Skip::NoCandidate(_)
                | Skip::TargetRejected { .. }
                | Skip::Cooldown { .. }
                | Skip::LoopGuardUnknown(_)
                | Skip::NotNewRevision { .. }
                | Skip::SchemaIncompatible { .. }
                | Skip::SchemaUnreadable { .. }
                | Skip::MigrationTimedOut { .. }
        )
    }

    /// Logged at error level: a rollback was wanted and could not be made.
    pub fn is_error(&self) -> bool {
        matches!(
            self,
            Skip::NoCandidate(_)
                | Skip::RollbackFailed { .. }
                | Skip::TargetRejected { .. }
                | Skip::LoopGuardUnknown(_)
                | Skip::SchemaIncompatible { .. }
                | Skip::SchemaUnreadable { .. }
                | Skip::MigrationTimedOut { .. }
                | Skip::MigrationFailed { .. }
        )
    }
}

impl fmt::Display for Skip {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Skip::AlarmNotInAlarm(state) => write!(f, "The alarm is {state}, not ALARM: nothing to do."),
            Skip::DeploymentInProgress => f.write_str("A deployment in progress is not a failure: nothing to do."),
            Skip::NotOptedIn => write!(f, "The service is not opted in (tag {TAG_ENABLED}=true is required)."),
            Skip::OptedOut => write!(f, "The service is opted out ({TAG_ENABLED}=false)."),
            Skip::Controller(c) => write!(f, "The service uses the {c:?} deployment controller, which ecs-rollback does not drive."),
            Skip::ServiceNotActive(status) => write!(f, "The service is {status}, not ACTIVE."),
            Skip::UnknownDeployment(id) => write!(f, "Stale event: deployment {id} is no longer one of the service's deployments."),
            Skip::Superseded { deployment, by } => write!(f, "Stale event: deployment {deployment} has been superseded by {by}."),
            Skip::AlreadyRolledBack { to } => write!(f, "Duplicate event: the service was already rolled back to {}.", short_task_definition(to)),
            Skip::RollbackFailed { to } => write!(f, "The service runs {}, the target of an earlier rollback, and it is failing too: not rolling back again, a human must decide.", short_task_definition(to)),
            Skip::EcsRollingBack(why) => write!(f, "ECS is already rolling this deployment back ({why}): not issuing a second rollback."),
            Skip::EcsRolledBack { deployment, at, why } => write!(f, "ECS itself rolled the service back at {at} (service deployment {deployment}{}); within the cooldown the responder does not walk further back.", why.as_deref().map(|w| format!(": {w}")).unwrap_or_default()),
            Skip::NotAGuard { alarm } => write!(f, "The alarm {alarm} only shares the service's ClusterName/ServiceName dimensions; it guards the service only when tagged {TAG_ALARM_CLUSTER} + {TAG_ALARM_SERVICE} or listed in the service's deployment alarms."),
            Skip::EcsDeploymentAlarm { alarm } => write!(f, "The alarm {alarm} is one of the service's deployment alarms with rollback enabled and the deployment (or its bake time) is still running: ECS rolls it back itself."),
            Skip::ExpressAlarm { alarm } => write!(f, "The alarm {alarm} is the Express service's own deployment alarm (it counts 4xx and 5xx responses) and the deployment has completed: after completion it guards nothing (ECS acts on it during the canary and bake time); tag an alarm {TAG_ALARM_CLUSTER} + {TAG_ALARM_SERVICE} to guard the service after deployments."),
            Skip::OutsideWindow { minutes, window } => write!(f, "The current deployment started {minutes} min ago, outside the {window} min alarm window: probably not the deployment's fault."),
            Skip::DeploymentStartUnknown => f.write_str("The current deployment's start time is unknown, so the alarm window cannot be checked."),
            Skip::Cooldown { at, minutes_left, how } => write!(f, "Cooldown: the service was rolled back {how} at {at}; no automatic rollback for another {minutes_left} min."),
            Skip::LoopGuardUnknown(why) => write!(f, "The loop guard cannot be checked ({why}): not rolling back automatically; a human must decide."),
            Skip::AlreadyOnTarget(td) => write!(f, "The service already runs {}.", short_task_definition(td)),
            Skip::TargetRejected { target, why } => write!(f, "Refusing to roll back to {}: {why}.", short_task_definition(target)),
            Skip::NoCandidate(why) => write!(f, "No stable revision to roll back to: {why}."),
            Skip::NotStableable { task_definition } => write!(f, "{} is marked bad; a completed deployment does not clear that (a human may).", short_task_definition(task_definition)),
            Skip::AlreadyStable { task_definition } => write!(f, "{} is already recorded as stable.", short_task_definition(task_definition)),
            Skip::EarlyDetectionOff => f.write_str("Early detection is off (ROLLBACK_EARLY_FAILED_TASKS=0)."),
            Skip::OlderDeploymentTask { deployment, newest } => write!(f, "The failed task belongs to {deployment}, not to the newest deployment {newest}: it does not count against the new revision."),
            Skip::BelowThreshold { failed, threshold } => write!(f, "The newest deployment has {failed} failed task(s), below the early-detection threshold of {threshold}."),
            Skip::EcsBreakerFirst { ecs, failed, backstop: None } => write!(f, "ECS's circuit breaker (rollback on, cumulative count) fails and rolls this deployment back at {ecs} failed task(s), no later than early detection would: ECS acts, early detection stands back ({failed} so far)."),
            Skip::EcsBreakerFirst { ecs, failed, backstop: Some(b) } => write!(f, "ECS's circuit breaker (rollback on) fails and rolls this deployment back at {ecs} failed task(s), no later than early detection would: ECS acts ({failed} so far); as ECS resets its count when a task turns healthy, early detection acts at {b} if ECS has not."),
            Skip::NoDeployment => f.write_str("The service has no PRIMARY deployment."),
            Skip::StaleAlarm { alarm, since, deployment, started } => write!(f, "Stale alarm: {alarm} entered ALARM at {since}, before deployment {deployment} started at {started}; it is about an older deployment (a late, retried or redriven event) and never acts on this one."),
            Skip::DeploymentNotFailed { deployment, state } => write!(f, "The event says deployment {deployment} FAILED, but ECS reports it {state} now: the claim is not verified, so nothing is rolled back."),
            Skip::DeploymentNotCompleted { deployment, state } => write!(f, "The event says deployment {deployment} COMPLETED, but ECS reports it {state} now: the claim is not verified, so nothing is recorded as stable."),
            Skip::AlarmTimeUnknown { alarm } => write!(f, "The alarm {alarm}'s transition time is unknown, so it cannot be held to the deployment it would act on: not acting on it."),
            Skip::NotNewRevision { revision, how, alarm: Some(alarm) } => write!(f, "The rollback did not clear the alarm {alarm}: the service runs {}, a proven revision ({how}), and only a new revision is rolled back automatically; a person decides.", short_task_definition(revision)),
            Skip::SchemaIncompatible { in_force, declared_by, passed, service } => {
                let (cluster, name) = service.split_once('/').unwrap_or(("CLUSTER", service));
                let each: Vec<String> = passed.iter().map(|(td, why)| format!("{} {why}", short_task_definition(td))).collect();
                let first = passed.first().map(|(td, _)| short_task_definition(td)).unwrap_or_else(|| "FAMILY:REVISION".into());
                write!(f, "No automatic rollback: the database schema in force is {in_force} (declared by {declared_by}), and no proven revision runs against it: {}. Next: migrate the database down and roll back by hand (ecs-rollback rollback -c {cluster} -s {name} --to {first} --force), name a down-migration task definition with the service tag {TAG_MIGRATION}=<family>, or fix forward.", each.join("; "))
            }
            Skip::SchemaUnreadable { task_definition, why } => write!(f, "No automatic rollback: {}'s {TAG_SCHEMA} tag cannot be read ({why}), so the schema in force is unknown; fix the tag or decide by hand.", short_task_definition(task_definition)),
            Skip::MigrationRunning { task, since, to } => write!(f, "A down migration (task {task}, started {since}) runs before the rollback to {}: the rollback follows when it succeeds.", short_task_definition(to)),
            Skip::MigrationTimedOut { task, since, minutes } => write!(f, "The down migration task {task}, started {since}, has not finished within {minutes} min: it is stopped and the rollback is not attempted; the schema may be part-migrated, a person must decide."),
            Skip::MigrationFailed { task, result } => write!(f, "The down migration task {task} for this failure ended without success ({result}): no automatic rollback; a person must decide."),
            Skip::NotNewRevision { revision, how, alarm: None } => write!(f, "{} is not a new revision ({how}): only a new revision is rolled back automatically; a person decides.", short_task_definition(revision)),
        }
    }
}

/// Why an alarm is no trigger at all, before any service is looked at (rule 4).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum AlarmSkip {
    /// Application Auto Scaling's alarm (target tracking / step scaling).
    AutoScaling { why: String },
    /// A composite alarm whose actions are suppressed.
    Suppressed { by: String },
    /// `ActionsEnabled: false`.
    ActionsDisabled,
}

impl AlarmSkip {
    pub fn code(&self) -> &'static str {
        match self {
            AlarmSkip::AutoScaling { .. } => "auto_scaling_alarm",
            AlarmSkip::Suppressed { .. } => "alarm_suppressed",
            AlarmSkip::ActionsDisabled => "alarm_actions_disabled",
        }
    }

    pub fn sentence(&self, alarm: &str) -> String {
        match self {
            AlarmSkip::AutoScaling { why } => format!("The alarm {alarm} belongs to Application Auto Scaling ({why}): a scaling signal, never a health signal."),
            AlarmSkip::Suppressed { by } => format!("The alarm {alarm}'s actions are suppressed ({by}): no action while it is muted."),
            AlarmSkip::ActionsDisabled => format!("The alarm {alarm} has its actions disabled (ActionsEnabled: false): no action while they are off."),
        }
    }
}

/// What is known of an alarm (or a composite's child) for [`rule4_alarm_is_trigger`].
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct AlarmFacts {
    pub name: String,
    /// `AlarmActions` (DescribeAlarms); empty when not read.
    pub actions: Vec<String>,
    /// `ActionsEnabled` (DescribeAlarms); `None` when not read.
    pub actions_enabled: Option<bool>,
    /// `state.actionsSuppressedBy` (+ suppressor), from the event.
    pub suppressed: Option<String>,
}

/// Rule 4 (first half): an alarm that is never a trigger, whatever it names. Application Auto
/// Scaling alarms (their actions are scaling policies; target tracking names them
/// `TargetTracking-…`), suppressed alarms and alarms with actions disabled.
pub fn rule4_alarm_is_trigger(alarm: &AlarmFacts) -> Result<(), AlarmSkip> {
    if let Some(policy) = alarm.actions.iter().find(|a| {
        a.starts_with("arn:aws") && a.contains(":autoscaling:") && a.contains(":scalingPolicy:")
    }) {
        return Err(AlarmSkip::AutoScaling {
            why: format!("its action is the scaling policy {policy}"),
        });
    }
    if alarm.name.starts_with("TargetTracking-") {
        return Err(AlarmSkip::AutoScaling {
            why: "target tracking names its alarms TargetTracking-…".into(),
        });
    }
    if let Some(by) = &alarm.suppressed {
        return Err(AlarmSkip::Suppressed { by: by.clone() });
    }
    if alarm.actions_enabled == Some(false) {
        return Err(AlarmSkip::ActionsDisabled);
    }
    Ok(())
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Outcome {
    Skip(Skip),
    /// Tag `task_definition` as `ecs-rollback:status=stable`.
    Record {
        task_definition: String,
    },
    Rollback(RollbackPlan),
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Decision {
    pub outcome: Outcome,
    /// The service's current (or failing) task definition, when known.
    pub current: Option<String>,
    /// Things people must know besides the outcome (a clock-skewed tag, a revision bad for
    /// another service): appended to the reason, logged, notified.
    pub notes: Vec<String>,
}

impl Decision {
    fn skip(skip: Skip, current: Option<&str>) -> Step {
        Step::Done(Decision {
            outcome: Outcome::Skip(skip),
            current: current.map(str::to_string),
            notes: Vec::new(),
        })
    }

    /// The response `action`: `rolled_back`, `migrating`, `dry_run`, `recorded` or `skipped`.
    pub fn action(&self) -> &'static str {
        match &self.outcome {
            Outcome::Skip(_) => "skipped",
            Outcome::Record { .. } => "recorded",
            Outcome::Rollback(plan) if plan.dry_run => "dry_run",
            Outcome::Rollback(plan) if plan.migration.is_some() => "migrating",
            Outcome::Rollback(_) => "rolled_back",
        }
    }

    pub fn from(&self) -> Option<&str> {
        match &self.outcome {
            Outcome::Rollback(plan) => Some(&plan.from),
            _ => self.current.as_deref(),
        }
    }

    pub fn to(&self) -> Option<&str> {
        match &self.outcome {
            Outcome::Rollback(plan) => Some(&plan.to),
            Outcome::Record { task_definition } => Some(task_definition),
            Outcome::Skip(_) => None,
        }
    }

    /// One human sentence (plus the notes, each its own sentence).
    pub fn reason(&self, cause: &Cause) -> String {
        let mut text = match &self.outcome {
            Outcome::Skip(skip) => skip.to_string(),
            Outcome::Record { task_definition } => format!(
                "Recorded {} as stable: {}.",
                short_task_definition(task_definition),
                cause.describe()
            ),
            Outcome::Rollback(plan) => {
                let verb = if plan.dry_run {
                    "Would roll back"
                } else {
                    "Rolled back"
                };
                let same_td = same_task_definition(&plan.from, &plan.to);
                let how = match (&plan.method, plan.pins.is_empty(), plan.copy_inactive) {
                    (Method::StopDeployment { .. }, _, _) => {
                        " by stopping the deployment in flight (StopServiceDeployment ROLLBACK)"
                            .to_string()
                    }
                    (Method::UpdateService, false, _) => {
                        " as a copy pinned to the image digests it ran".to_string()
                    }
                    (Method::UpdateService, true, true) => {
                        " as a copy of the INACTIVE revision".to_string()
                    }
                    (Method::UpdateService, true, false) => String::new(),
                };
                let restored = if plan.restore.is_empty() {
                    String::new()
                } else {
                    format!(", restoring {}", plan.restore.join(", "))
                };
                let source = match plan.source {
                    Source::History if same_td => "its last successful service revision (same task definition, other images or configuration)",
                    Source::History => "its last successful deployment",
                    Source::DeploymentSource => "the revision the failing deployment was replacing",
                    Source::Ledger => "the revision last marked stable",
                    Source::Family => "the newest older revision not marked bad (no deployment history or ledger entry was available)",
                    Source::Requested => "the revision requested",
                };
                match &plan.migration {
                    None => format!(
                        "{verb} from {} to {} ({source}){how}{restored} because {}. Next: {}.",
                        short_task_definition(&plan.from),
                        short_task_definition(&plan.to),
                        cause.describe(),
                        plan.next()
                    ),
                    Some(m) => {
                        let verb = if plan.dry_run { "Would run" } else { "Running" };
                        format!(
                            "{verb} the down migration {} (database schema {} to {}) because {}, as {} cannot run against schema {}; when it succeeds, the rollback from {} to {} ({source}){how}{restored} follows, and ECS then {}. If it fails, nothing is rolled back.",
                            m.task_definition,
                            m.from_schema,
                            m.to_schema,
                            cause.describe(),
                            short_task_definition(&plan.to),
                            m.from_schema,
                            short_task_definition(&plan.from),
                            short_task_definition(&plan.to),
                            plan.next().replacen("ECS ", "", 1)
                        )
                    }
                }
            }
        };
        for note in &self.notes {
            text.push(' ');
            text.push_str(note);
        }
        text
    }
}

/// Early return from a rule: a finished decision or a [`Need`] (boxed: the happy path stays small).
type Flow<T> = Result<T, Box<Step>>;

fn skip<T>(skip: Skip, current: &str) -> Flow<T> {
    Err(Box::new(Decision::skip(skip, Some(current))))
}

fn need<T>(need: Need) -> Flow<T> {
    Err(Box::new(Step::Need(need)))
}

/// The whole decision. Call repeatedly, loading each [`Need`], until it is [`Step::Done`].
pub fn decide(trigger: &Trigger, snap: &Snapshot, policy: &Policy, now: Time) -> Step {
    match decide_flow(trigger, snap, policy, now) {
        Ok(step) => step,
        Err(step) => *step,
    }
}

fn decide_flow(trigger: &Trigger, snap: &Snapshot, policy: &Policy, now: Time) -> Flow<Step> {
    let service = &snap.service;
    let current = service.task_definition.as_str();
    let mut notes = Vec::new();

    inert_trigger(&trigger.cause, current)?;
    rule1_eligibility(service, policy)?;
    rule14_migration_record(&trigger.cause, service, policy, now)?;
    rule3_ecs_rolling_back_now(service)?;
    rule4_alarm_guards_service(&trigger.cause, service)?;
    let failing = rule2_failing_deployment(trigger, snap, policy)?;
    rule11_alarm_not_older_than_deployment(&trigger.cause, &failing)?;
    let memory = rule8_loop_guard_tags(trigger, snap, &failing, policy, now, &mut notes)?;
    rule4_alarm_window(&trigger.cause, service, policy, now, failing.td)?;

    // Rules 3, 5, 6 and 8 read the service-deployment history.
    let Some(history) = &snap.history else {
        return need(Need::History);
    };
    let entries: &[HistoryEntry] = history.as_deref().unwrap_or(&[]);
    let failing_entry = history
        .as_ref()
        .ok()
        .and_then(|h| failing_history_entry(h, failing.deployment, failing.td));
    rule3_ecs_rolled_back(
        trigger,
        service,
        entries,
        failing.deployment,
        policy,
        now,
        failing.td,
    )?;
    rule8_loop_guard_history(
        trigger,
        history,
        failing_entry,
        &memory,
        policy,
        now,
        failing.td,
    )?;
    incident_rule_new_revision(trigger, snap, failing_entry, &failing)?;

    let dry_run = policy.dry_run || matches!(trigger.cause, Cause::Manual { dry_run: true, .. });
    let failing_rev = failing_entry.and_then(|e| e.resolved_target());
    let failing_rev = failing_rev.as_ref();
    let in_flight = failing_entry.filter(|e| e.status.is_in_flight());

    // Rule 6 first: a deployment in flight whose source ECS can restore is stopped with
    // ROLLBACK — for blue/green, linear and canary a traffic shift back to the running revision.
    let schema = SchemaRule::new(&trigger.cause, failing.td);
    let stop = match (&trigger.cause, in_flight) {
        (Cause::Manual { to: Some(_), .. }, _) | (_, None) => None,
        (_, Some(entry)) => rule6_restorable_source(snap, entries, entry, &schema)?,
    };
    let chosen = match (&trigger.cause, stop) {
        (_, Some(chosen)) => chosen,
        (
            Cause::Manual {
                to: Some(to),
                allow_other_family,
                ..
            },
            _,
        ) => rule10_requested_target(snap, entries, to, failing.td, *allow_other_family, &schema)?,
        _ => rule5_last_stable(snap, history, failing.td, failing_rev, &schema)?,
    };
    rule2_already_on_target(snap, &chosen, current, failing.td, failing_rev)?;
    if let Some(note) = &chosen.warning {
        notes.push(note.clone());
    }

    let method = match (&chosen.source, in_flight) {
        (Source::DeploymentSource, Some(entry)) => Method::StopDeployment {
            service_deployment_arn: entry.arn.clone(),
        },
        _ => Method::UpdateService,
    };
    let target = lookup(snap, &chosen.arn);
    let (pins, copy_inactive, restore, restore_from) = match &method {
        // ECS's own rollback restores the source revision exactly: nothing to copy or restore.
        Method::StopDeployment { .. } => (Vec::new(), false, Vec::new(), None),
        Method::UpdateService => {
            // Same task definition: a digest that differs from the failing revision's is the
            // only way back to the image that ran.
            let differing: Vec<&str> =
                match (same_task_definition(&chosen.arn, failing.td), failing_rev) {
                    (true, Some(f)) => {
                        let bad = f.digests();
                        chosen
                            .recorded()
                            .iter()
                            .filter(|r| {
                                r.digest.as_deref() != bad.get(r.container.as_str()).copied()
                            })
                            .map(|r| r.container.as_str())
                            .collect()
                    }
                    _ => Vec::new(),
                };
            let pins = rule7_exact_image(target, chosen.recorded(), &differing);
            let inactive = target.is_some_and(|r| r.status == RevisionStatus::Inactive);
            let (restore, from) = match (&chosen.revision, failing_rev) {
                (Some(to), Some(from)) => {
                    let fields = restorable_fields(to.config_differences(from));
                    let source = (!fields.is_empty()).then(|| to.arn.clone());
                    (fields, source)
                }
                _ => (Vec::new(), None),
            };
            (pins, inactive, restore, from)
        }
    };
    // The task definition is proven bad only when it is what changed: a failure with the same
    // task definition (a re-pushed tag, a configuration change) says nothing against it.
    // Nor is a task definition that another deployment ran successfully with the same images:
    // then the configuration is what failed (never a proven revision marked bad).
    let mark_bad = if same_task_definition(&chosen.arn, failing.td) {
        None
    } else {
        // A copy is its source: when a proven revision of another task definition ran the same
        // images, whether the failing task definition is its copy needs it described.
        let may_be_copy = failing_rev.is_some_and(|f| {
            entries.iter().any(|e| {
                e.status == DeploymentStatus::Successful
                    && e.resolved_target().is_some_and(|t| {
                        !same_task_definition(&t.task_definition, failing.td)
                            && !f.digests().is_empty()
                            && t.digests() == f.digests()
                    })
            })
        });
        if may_be_copy && lookup(snap, failing.td).is_none() {
            return need(Need::Revisions(vec![failing.td.to_string()]));
        }
        (!task_definition_proven(snap, entries, failing_entry, failing.td))
            .then(|| failing.td.to_string())
    };
    let degraded = history.as_ref().err().map(|why| {
        format!("service-deployment history unavailable ({why}); chose from the ledger and the task-definition family")
    });
    Ok(Step::Done(Decision {
        outcome: Outcome::Rollback(RollbackPlan {
            from: failing.td.to_string(),
            to: chosen.arn,
            source: chosen.source,
            method,
            pins,
            copy_inactive,
            restore,
            restore_from,
            mark_bad,
            strategy: service.strategy,
            bake_time_minutes: service.bake_time_minutes,
            dry_run,
            degraded,
            migration: chosen.migration,
        }),
        current: Some(failing.td.to_string()),
        notes,
    }))
}

/// Triggers that never act, whatever the service looks like.
fn inert_trigger(cause: &Cause, current: &str) -> Flow<()> {
    match cause {
        Cause::Alarm { state, .. } if *state != AlarmState::Alarm => {
            skip(Skip::AlarmNotInAlarm(*state), current)
        }
        Cause::DeploymentInProgress { .. } => skip(Skip::DeploymentInProgress, current),
        _ => Ok(()),
    }
}

/// Rule 1: opt-in, deployment controller, service status.
pub fn rule1_eligibility(service: &ServiceState, policy: &Policy) -> Flow<()> {
    let current = service.task_definition.as_str();
    match service
        .tags
        .get(TAG_ENABLED)
        .map(|v| v.trim().to_ascii_lowercase())
    {
        Some(v) if v == "false" => return skip(Skip::OptedOut, current),
        Some(v) if v == "true" => {}
        _ if policy.require_opt_in => return skip(Skip::NotOptedIn, current),
        _ => {}
    }
    if service.controller != Controller::Ecs {
        return skip(Skip::Controller(service.controller), current);
    }
    if service.status != "ACTIVE" {
        return skip(Skip::ServiceNotActive(service.status.clone()), current);
    }
    Ok(())
}

/// Rule 3, as `DescribeServices` shows it: a deployment's rollout reason says ECS is rolling back.
pub fn rule3_ecs_rolling_back_now(service: &ServiceState) -> Flow<()> {
    let Some(primary) = service.primary() else {
        return Ok(());
    };
    if primary.rollout != Rollout::InProgress {
        return Ok(());
    }
    // A rollback is over once a person deploys after it: a "rolling back" reason left on an
    // older deployment does not hold back the new PRIMARY, or its failure would never be
    // answered while that deployment is listed.
    // ECS's rollback makes an earlier deployment PRIMARY again: a PRIMARY newer than every
    // other listed deployment was started after the rollback began.
    let newest = service.deployments.iter().all(|o| {
        o.is_primary() || matches!((o.created_at, primary.created_at), (Some(c), Some(p)) if c < p)
    });
    let superseded = |d: &Deployment| newest && !d.is_primary();
    let why = service
        .deployments
        .iter()
        .filter(|d| !superseded(d))
        .find_map(|d| {
            d.rollout_reason
                .as_deref()
                .filter(|r| is_ecs_rollback_reason(r))
                .map(str::to_string)
        });
    match why {
        Some(why) => skip(Skip::EcsRollingBack(why), &service.task_definition),
        None => Ok(()),
    }
}

/// Rule 4 (second half): an alarm mapped by its dimensions guards the service only if the service
/// lists it among its ECS deployment alarms. Rule 3 for alarms: a deployment alarm with
/// `rollback: true` is ECS's to act on while the deployment or its bake time runs.
pub fn rule4_alarm_guards_service(cause: &Cause, service: &ServiceState) -> Flow<()> {
    let Cause::Alarm { name, guard, .. } = cause else {
        return Ok(());
    };
    let current = service.task_definition.as_str();
    let mut names: Vec<&str> = vec![name.as_str()];
    if let AlarmGuard::Dimensions { alarm_names } = guard {
        names.extend(alarm_names.iter().map(String::as_str));
        if !names.iter().any(|n| service.lists_deployment_alarm(n)) {
            let alarm = alarm_names.first().cloned().unwrap_or_else(|| name.clone());
            return skip(Skip::NotAGuard { alarm }, current);
        }
    }
    let ecs_acts = service
        .deployment_alarms
        .as_ref()
        .is_some_and(|a| a.enable && a.rollback);
    let in_flight = service
        .primary()
        .is_some_and(|p| p.rollout == Rollout::InProgress);
    if ecs_acts && in_flight {
        if let Some(alarm) = names.iter().find(|n| service.lists_deployment_alarm(n)) {
            return skip(
                Skip::EcsDeploymentAlarm {
                    alarm: alarm.to_string(),
                },
                current,
            );
        }
    }
    rule4_express_alarm(guard, service, in_flight, &names)
}

/// Rule 4 for Express Mode services: their deployment alarm is ECS's built-in one, counting 4xx
/// as well as 5xx responses. It is ECS's to act on during the canary and its bake time; once the
/// deployment completed it guards nothing here — a scanner's or a client's burst of 4xx is no
/// reason to roll a healthy service back. An alarm tagged for the service guards it as usual.
pub fn rule4_express_alarm(
    guard: &AlarmGuard,
    service: &ServiceState,
    in_flight: bool,
    names: &[&str],
) -> Flow<()> {
    if !service.express || in_flight || !matches!(guard, AlarmGuard::Dimensions { .. }) {
        return Ok(());
    }
    let alarm = names
        .iter()
        .find(|n| service.lists_deployment_alarm(n))
        .unwrap_or(&names[0]);
    skip(
        Skip::ExpressAlarm {
            alarm: alarm.to_string(),
        },
        &service.task_definition,
    )
}

/// The failing deployment (as `DescribeServices` shows it) and its task definition.
struct Failing<'a> {
    td: &'a str,
    deployment: Option<&'a Deployment>,
}

/// Rule 2: which revision is failing, and is the event still about the service's present?
/// A completed deployment is recorded; a FAILED event ECS handles itself is skipped (rule 3);
/// task failures count only for the newest deployment and above the threshold.
fn rule2_failing_deployment<'a>(
    trigger: &Trigger,
    snap: &'a Snapshot,
    policy: &Policy,
) -> Flow<Failing<'a>> {
    let service = &snap.service;
    let current = service.task_definition.as_str();
    match &trigger.cause {
        Cause::DeploymentCompleted { deployment_id } => {
            Err(Box::new(record_completed(snap, deployment_id)))
        }
        Cause::DeploymentFailed {
            deployment_id,
            reason,
        } => {
            rule3_ecs_handles_failure(reason, service, Some(deployment_id))?;
            let Some(deployment) = service.deployments.iter().find(|d| &d.id == deployment_id)
            else {
                return Err(Box::new(stale_or_duplicate(
                    service,
                    Skip::UnknownDeployment(deployment_id.clone()),
                )));
            };
            if !deployment.is_primary() {
                let by = service
                    .primary()
                    .map(|p| p.id.clone())
                    .unwrap_or_else(|| "another deployment".into());
                return Err(Box::new(stale_or_duplicate(
                    service,
                    Skip::Superseded {
                        deployment: deployment_id.clone(),
                        by,
                    },
                )));
            }
            rule11_deployment_reads_failed(snap, deployment)?;
            Ok(Failing {
                td: &deployment.task_definition,
                deployment: Some(deployment),
            })
        }
        Cause::TaskFailures {
            deployment_id,
            task_definition,
            ..
        } => {
            if policy.early_failed_tasks == 0 {
                return skip(Skip::EarlyDetectionOff, current);
            }
            let Some(primary) = service.primary() else {
                return skip(Skip::NoDeployment, current);
            };
            let other_deployment = deployment_id.as_deref().filter(|id| *id != primary.id);
            let other_revision = task_definition
                .as_deref()
                .filter(|td| !same_task_definition(td, &primary.task_definition));
            if let Some(older) = other_deployment.or(other_revision) {
                return skip(
                    Skip::OlderDeploymentTask {
                        deployment: older.to_string(),
                        newest: primary.id.clone(),
                    },
                    current,
                );
            }
            rule4_early_detection_threshold(snap, primary, policy)?;
            Ok(Failing {
                td: &primary.task_definition,
                deployment: Some(primary),
            })
        }
        Cause::Alarm { .. } | Cause::Manual { .. } => Ok(Failing {
            td: current,
            deployment: service.primary(),
        }),
        Cause::DeploymentInProgress { .. } => skip(Skip::DeploymentInProgress, current),
    }
}

/// What ECS reports of a deployment now, with its state as words for the reason.
enum Reported {
    Failed(String),
    Completed(String),
    Other(String),
}

/// Rule 11: a deployment's state as ECS reports it now — its `rolloutState` (DescribeServices),
/// or, where ECS returns none (a service behind a Classic Load Balancer), its service deployment
/// (ListServiceDeployments): stopped or rolling back = failed, SUCCESSFUL = completed.
fn reported_state(snap: &Snapshot, deployment: &Deployment) -> Result<Reported, Need> {
    Ok(match deployment.rollout {
        Rollout::Failed => Reported::Failed("FAILED".into()),
        Rollout::Completed => Reported::Completed("COMPLETED".into()),
        Rollout::InProgress => Reported::Other("IN_PROGRESS".into()),
        Rollout::Unknown => {
            let Some(history) = &snap.history else {
                return Err(Need::History);
            };
            let entry = history.as_ref().ok().and_then(|h| {
                failing_history_entry(h, Some(deployment), &deployment.task_definition)
            });
            match entry.map(|e| e.status) {
                Some(status) => {
                    let words = format!("{} in its service deployment", status.as_str());
                    if status.is_unsuccessful() {
                        Reported::Failed(words)
                    } else if status == DeploymentStatus::Successful {
                        Reported::Completed(words)
                    } else {
                        Reported::Other(words)
                    }
                }
                None => Reported::Other("without a rollout state or a service deployment".into()),
            }
        }
    })
}

/// Rule 11: a FAILED event is a claim. ECS must report the deployment failed now
/// ([`reported_state`]): a FAILED event for a deployment ECS reports COMPLETED never rolls a
/// healthy service back.
fn rule11_deployment_reads_failed(snap: &Snapshot, deployment: &Deployment) -> Flow<()> {
    let state = match reported_state(snap, deployment) {
        Err(n) => return need(n),
        Ok(Reported::Failed(_)) => return Ok(()),
        Ok(Reported::Completed(state) | Reported::Other(state)) => state,
    };
    skip(
        Skip::DeploymentNotFailed {
            deployment: deployment.id.clone(),
            state,
        },
        &deployment.task_definition,
    )
}

/// Rule 11: an alarm acts only on a deployment that started before it entered ALARM (a minute of
/// skew allowed). An older alarm is about an older deployment: a late, retried or redriven event
/// arriving after a person's fix must never undo the fix.
fn rule11_alarm_not_older_than_deployment(cause: &Cause, failing: &Failing) -> Flow<()> {
    let Cause::Alarm { name, since, .. } = cause else {
        return Ok(());
    };
    let Some(since) = since else {
        return skip(
            Skip::AlarmTimeUnknown {
                alarm: name.clone(),
            },
            failing.td,
        );
    };
    let Some((deployment, started)) = failing.deployment.and_then(|d| Some((d, d.created_at?)))
    else {
        return Ok(());
    };
    if crate::incident::alarm_predates(*since, started) {
        let fmt = |t: Time| t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
        return skip(
            Skip::StaleAlarm {
                alarm: name.clone(),
                since: fmt(*since),
                deployment: deployment.id.clone(),
                started: fmt(started),
            },
            failing.td,
        );
    }
    Ok(())
}

/// An incident starts with a new revision, and only a new revision is rolled back automatically:
/// a deployment that restores a proven revision (ours, ECS's, a person's) opens no window. After
/// a rollback, a guarding alarm that still fires is reported, never answered with another step
/// back. Without the history, a revision recorded `stable` counts as proven.
fn incident_rule_new_revision(
    trigger: &Trigger,
    snap: &Snapshot,
    failing_entry: Option<&HistoryEntry>,
    failing: &Failing,
) -> Flow<()> {
    if !trigger.cause.is_automatic() {
        return Ok(());
    }
    let origin = match revision_origin(snap, failing_entry, failing.td, failing.deployment) {
        Ok(origin) => origin,
        Err(n) => return need(n),
    };
    match origin {
        crate::incident::Origin::New => Ok(()),
        crate::incident::Origin::Restore { how } => {
            let alarm = match &trigger.cause {
                Cause::Alarm { name, .. } => Some(name.clone()),
                _ => None,
            };
            skip(
                Skip::NotNewRevision {
                    revision: failing.td.to_string(),
                    how,
                    alarm,
                },
                failing.td,
            )
        }
    }
}

/// Is this the same incident? Whether the revision a deployment introduced (`entry` in the
/// history, of task definition `td`, created at `created`) is new — an incident may be about it —
/// or restores a proven revision, and what proves it. One function for the responder, the
/// deployment gate and the CLI. In order: our loop-guard memory records a rollback to `td` that
/// this deployment carried out; another deployment of the same revision completed before it, or
/// ECS restored it (a copy is its source); without the history, the ledger's `stable`.
pub fn revision_origin(
    snap: &Snapshot,
    entry: Option<&HistoryEntry>,
    td: &str,
    deployment: Option<&Deployment>,
) -> Result<crate::incident::Origin, Need> {
    use crate::incident::{evidence, Evidence, Origin, Recorded};
    let Some(history) = &snap.history else {
        return Err(Need::History);
    };
    let tags = &snap.service.tags;
    let memory = tags
        .get(TAG_LAST_ROLLBACK_AT)
        .and_then(|t| chrono::DateTime::parse_from_rfc3339(t.trim()).ok())
        .zip(tags.get(TAG_LAST_ROLLBACK_TO))
        .filter(|(_, to)| same_task_definition(td, to));
    if let Some((at, to)) = memory {
        let at = at.with_timezone(&chrono::Utc);
        let rec = Recorded {
            at,
            to,
            from: tags.get(TAG_LAST_ROLLBACK_FROM).map(String::as_str),
        };
        // This very deployment is the one the recorded rollback started (the earliest of its
        // target after the record, and no stop): a later deployment of it is not.
        let deployment =
            deployment.or_else(|| entry.and_then(|e| deployment_of_entry(&snap.service, e)));
        let entries = history.as_deref().ok();
        let own = match evidence(&snap.service, entries, &rec) {
            Some(Evidence::Deployment { id, .. }) => {
                deployment.is_some_and(|d| d.id == id) || entry.is_some_and(|e| e.arn == id)
            }
            // A stop restores the earlier deployment of the target: that is this one when it
            // was created before the record.
            Some(Evidence::Stopped(_)) => deployment
                .and_then(|d| d.created_at)
                .or(entry.and_then(|e| e.created_at))
                .is_some_and(|c| c < at),
            None => false,
        };
        if own {
            let who = match tags.get(TAG_LAST_ROLLBACK_KIND).map(String::as_str) {
                Some("manual") => "a manual rollback",
                _ => "the rollback",
            };
            return Ok(Origin::Restore {
                how: format!(
                    "{who} to {} at {}",
                    short_task_definition(to),
                    at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
                ),
            });
        }
    }
    match (history, entry) {
        (Ok(entries), Some(entry)) => {
            if let Err(step) = describe_identities(snap, entries, entry) {
                if let Step::Need(n) = *step {
                    return Err(n);
                }
            }
            Ok(crate::incident::origin_in_history(
                entries,
                entry,
                &|a, b| same_revision(snap, a, b),
            ))
        }
        // Not in the history yet: a deployment that has just started.
        (Ok(_), None) => Ok(Origin::New),
        (Err(_), _) => {
            let Some(revision) = lookup(snap, td) else {
                return Err(Need::Revisions(vec![td.to_string()]));
            };
            Ok(match revision.ledger {
                Some(Ledger::Stable) => Origin::Restore {
                    how: format!("it is recorded {TAG_STATUS}=stable, and without the deployment history that is the only evidence"),
                },
                _ => Origin::New,
            })
        }
    }
}

/// The ECS deployment (`ecs-svc/N`) a history entry is about: its target service revision is
/// numbered after it.
fn deployment_of_entry<'a>(
    service: &'a ServiceState,
    entry: &HistoryEntry,
) -> Option<&'a Deployment> {
    service
        .deployments
        .iter()
        .find(|d| entry.is_deployment(&d.id) == Some(true))
}

/// Whether the service deployment `arn` restores a proven revision, and what proves it: the gate
/// never judges a restore ([`revision_origin`]).
pub fn restore_of(snap: &Snapshot, arn: &str) -> Result<Option<String>, Need> {
    let Some(history) = &snap.history else {
        return Err(Need::History);
    };
    let Ok(entries) = history else {
        return Ok(None);
    };
    let Some(entry) = entries.iter().find(|e| e.arn == arn) else {
        return Ok(None);
    };
    let Some(td) = entry.target_task_definition.as_deref() else {
        return Ok(None);
    };
    match revision_origin(snap, Some(entry), td, None)? {
        crate::incident::Origin::Restore { how } => Ok(Some(how)),
        crate::incident::Origin::New => Ok(None),
    }
}

/// Whether the service's running revision (its PRIMARY deployment) is new or a restore
/// ([`revision_origin`]): the CLI asks this before a further step back.
pub fn running_origin(snap: &Snapshot) -> Result<crate::incident::Origin, Need> {
    let service = &snap.service;
    let primary = service.primary();
    let td = primary
        .map(|p| p.task_definition.as_str())
        .unwrap_or(&service.task_definition);
    let entry = match &snap.history {
        Some(Ok(entries)) => failing_history_entry(entries, primary, td),
        _ => None,
    };
    revision_origin(snap, entry, td, primary)
}

/// Whether another deployment ran task definition `td` successfully (or ECS restored it): then a
/// failure of `td` is its images' (a re-pushed tag) or its configuration's, never its own.
fn task_definition_proven(
    snap: &Snapshot,
    entries: &[HistoryEntry],
    failing_entry: Option<&HistoryEntry>,
    td: &str,
) -> bool {
    // A copy is its source, and a copy of a copy is its source's source: the whole chain of
    // `pinned-from` the described revisions show.
    let chain = |x: &str| {
        let mut names = vec![x.to_string()];
        let mut current = x.to_string();
        while names.len() < 8 {
            let Some(next) = lookup(snap, &current)
                .and_then(|r| r.pinned_from.clone())
                .filter(|n| !names.iter().any(|m| same_task_definition(m, n)))
            else {
                break;
            };
            names.push(next.clone());
            current = next;
        }
        names
    };
    let td = chain(td);
    entries
        .iter()
        .filter(|e| failing_entry.is_none_or(|f| f.arn != e.arn))
        .filter_map(|e| match e.status {
            DeploymentStatus::Successful => e.resolved_target(),
            DeploymentStatus::RollbackSuccessful => e.rolled_back_to.clone(),
            _ => None,
        })
        .any(|r| {
            chain(&r.task_definition)
                .iter()
                .any(|a| td.iter().any(|b| same_task_definition(a, b)))
        })
}

/// Describe, in one round, the task definitions whose identity decides whether two history
/// revisions are the same (a copy is its source): those of proven entries that differ from the
/// entry's task definition but match its digests and configuration.
fn describe_identities(
    snap: &Snapshot,
    entries: &[HistoryEntry],
    entry: &HistoryEntry,
) -> Flow<()> {
    let Some(target) = entry.resolved_target() else {
        return Ok(());
    };
    let mut missing: Vec<String> = Vec::new();
    let proven = entries
        .iter()
        .filter(|e| e.arn != entry.arn)
        .filter_map(|e| match e.status {
            DeploymentStatus::Successful => e.resolved_target(),
            _ => e.rolled_back_to.clone(),
        });
    for candidate in proven {
        if !copy_candidates(&candidate, &target) {
            continue;
        }
        for td in [&candidate.task_definition, &target.task_definition] {
            if lookup(snap, td).is_none() && !missing.contains(td) {
                missing.push(td.clone());
            }
        }
    }
    if missing.is_empty() {
        Ok(())
    } else {
        need(Need::Revisions(missing))
    }
}

/// Two revisions of different task definitions that one copy could make of the other: the same
/// digests and configuration.
fn copy_candidates(a: &ServiceRevision, b: &ServiceRevision) -> bool {
    !same_task_definition(&a.task_definition, &b.task_definition)
        && a.digests() == b.digests()
        && a.config == b.config
}

/// The same revision for identity: in substance (task definition, digests, configuration), or one
/// is our copy of the other (`ecs-rollback:pinned-from`) with the same digests and configuration.
/// Task definitions not described count as different.
fn same_revision(snap: &Snapshot, a: &ServiceRevision, b: &ServiceRevision) -> bool {
    if a.same_as(b) {
        return true;
    }
    if !copy_candidates(a, b) {
        return false;
    }
    match (
        lookup(snap, &a.task_definition),
        lookup(snap, &b.task_definition),
    ) {
        (Some(x), Some(y)) => same_task_definition(x.identity(), y.identity()),
        _ => false,
    }
}

/// Rule 3 for a FAILED event: ECS rolls the deployment back itself when the mechanism that failed
/// it has `rollback: true`. The circuit breaker and the deployment alarms are told apart by
/// ECS's reason; when the reason names neither, either with rollback on is assumed to act (the
/// history check then still sees a ROLLBACK_* deployment).
pub fn rule3_ecs_handles_failure(
    reason: &str,
    service: &ServiceState,
    failed: Option<&str>,
) -> Flow<()> {
    let current = service.task_definition.as_str();
    if is_ecs_rollback_reason(reason) {
        return skip(Skip::EcsRollingBack(reason.to_string()), current);
    }
    // ECS rolls back to the last completed deployment, still listed beside the failed one (ECS
    // developer guide, "deployment circuit breaker"), which then becomes PRIMARY again; with
    // neither listed it has nothing to restore and the failure is ours to answer, whatever
    // `rollback` says. A restore still in progress for an earlier failure (not PRIMARY: the
    // failed deployment replaced it) is not a completed deployment.
    let restorable = service.deployments.iter().any(|d| {
        failed != Some(d.id.as_str()) && (d.rollout == Rollout::Completed || d.is_primary())
    });
    if failed.is_some() && !restorable {
        return Ok(());
    }
    let breaker = service
        .circuit_breaker
        .is_some_and(|b| b.enable && b.rollback);
    let alarms = service
        .deployment_alarms
        .as_ref()
        .is_some_and(|a| a.enable && a.rollback);
    let r = reason.to_ascii_lowercase();
    let by_breaker = r.contains("circuit breaker");
    let by_alarm = r.contains("alarm");
    let ecs = match (by_breaker, by_alarm) {
        (true, false) => breaker.then_some("deployment circuit breaker"),
        (false, true) => alarms.then_some("deployment alarms"),
        _ => match (breaker, alarms) {
            (true, true) => Some("deployment circuit breaker and deployment alarms"),
            (true, false) => Some("deployment circuit breaker"),
            (false, true) => Some("deployment alarms"),
            (false, false) => None,
        },
    };
    match ecs {
        Some(how) => skip(
            Skip::EcsRollingBack(format!("the service's {how} is set to roll back")),
            current,
        ),
        None => Ok(()),
    }
}

/// Early detection's threshold: ECS's `failedTasks` of the newest deployment, or — since ECS
/// resets that count once a task reaches RUNNING (API reference, `Deployment.failedTasks`) — the
/// deployment's stopped tasks that are the revision's fault, counted from ECS, never in memory.
/// Who answers a crash-looping revision (rule 13): early detection or ECS's circuit breaker.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Detector {
    /// Early detection acts at this many failed tasks: ECS's breaker does not roll back, or
    /// would only act later.
    Ours(u32),
    /// ECS's circuit breaker fails and rolls the deployment back at `ecs` failed tasks, no later
    /// than early detection would: ECS acts, early detection stands back. When ECS resets its
    /// count on a healthy task (`resetOnHealthyTask`, the default) a revision that starts and
    /// then crashes may never reach it: early detection is then the backstop at `backstop`.
    Ecs { ecs: u32, backstop: Option<u32> },
}

impl Detector {
    /// The failed-task count at which early detection acts (`u32::MAX`: never).
    pub fn threshold(self) -> u32 {
        match self {
            Detector::Ours(n) => n,
            Detector::Ecs { backstop, .. } => backstop.unwrap_or(u32::MAX),
        }
    }
}

/// Rule 13: early detection compared with ECS's own circuit breaker for the same service. Early
/// detection acts below the breaker's threshold (`thresholdConfiguration`, recomputed from the
/// current desired count) where it can; where ECS's breaker rolls back at or before early
/// detection's least threshold (2; `COUNT 1` or `COUNT 2`), ECS acts and early detection stands
/// back — entirely with cumulative counting (`resetOnHealthyTask: false`), else up to one
/// failure past ECS's threshold.
pub fn rule13_breaker_or_early_detection(service: &ServiceState, configured: u32) -> Detector {
    let ours = crate::incident::early_detection_threshold(service, configured);
    let Some(breaker) = crate::incident::breaker_of(service).filter(|b| b.rollback) else {
        return Detector::Ours(ours);
    };
    let ecs = breaker.threshold_for(service.desired_count.max(1)).max(1) as u32;
    if ours < ecs {
        return Detector::Ours(ours);
    }
    let cumulative = breaker.reset_on_healthy_task == Some(false);
    Detector::Ecs {
        ecs,
        backstop: (!cumulative).then_some(ours.max(ecs) + 1),
    }
}

fn rule4_early_detection_threshold(
    snap: &Snapshot,
    primary: &Deployment,
    policy: &Policy,
) -> Flow<()> {
    // ECS itself has failed the deployment (its rolloutState, read now): the failure is proven
    // whatever the count — unless the mechanism that failed it rolls back itself (rule 3).
    if primary.rollout == Rollout::Failed {
        let reason = primary.rollout_reason.as_deref().unwrap_or_default();
        rule3_ecs_handles_failure(reason, &snap.service, Some(&primary.id))?;
        return Ok(());
    }
    let detector = rule13_breaker_or_early_detection(&snap.service, policy.early_failed_tasks);
    let threshold_n = detector.threshold();
    let threshold = threshold_n.min(i32::MAX as u32) as i32;
    if primary.failed_tasks >= threshold {
        return Ok(());
    }
    let Some(stopped) = &snap.stopped_tasks else {
        return need(Need::StoppedTasks(primary.id.clone()));
    };
    let faults = stopped
        .as_ref()
        .map(|tasks| {
            tasks
                .iter()
                .filter(|t| {
                    let reasons: Vec<&str> =
                        t.container_reasons.iter().map(String::as_str).collect();
                    matches!(
                        crate::faults::classify(&t.stop_code, &t.stopped_reason, &reasons),
                        crate::faults::Verdict::Fault(_)
                    )
                })
                .count() as i32
        })
        .unwrap_or(0);
    if faults >= threshold {
        return Ok(());
    }
    let failed = primary.failed_tasks.max(faults);
    match detector {
        Detector::Ecs { ecs, backstop } => skip(
            Skip::EcsBreakerFirst {
                ecs,
                failed,
                backstop,
            },
            &snap.service.task_definition,
        ),
        Detector::Ours(_) => skip(
            Skip::BelowThreshold {
                failed,
                threshold: threshold_n,
            },
            &snap.service.task_definition,
        ),
    }
}

/// The service's memory of its last rollback (service tags), as far as it can be trusted.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Memory {
    /// No rollback recorded.
    None,
    /// Recorded and consistent.
    At { at: Time },
    /// Recorded with a timestamp that cannot be trusted: the history decides instead.
    Untrusted,
}

/// Rule 8 from the service's tags: never chase a failing rollback, the cooldown — which guards
/// against loops, not against a new deployment's failure — and timestamps that cannot be trusted.
/// A memory counts only with evidence that its rollback took effect (a deployment of its target
/// started at or after it, or the deployment it stopped in a `ROLLBACK_*` state): one without is
/// an intent whose invocation was stopped before the write, ignored and decided afresh.
fn rule8_loop_guard_tags(
    trigger: &Trigger,
    snap: &Snapshot,
    failing: &Failing,
    policy: &Policy,
    now: Time,
    notes: &mut Vec<String>,
) -> Flow<Memory> {
    use crate::incident::{evidence_in_service, Recorded};
    let service = &snap.service;
    if !trigger.cause.is_automatic() {
        return Ok(Memory::None);
    }
    let Some(raw_at) = service.tags.get(TAG_LAST_ROLLBACK_AT) else {
        return Ok(Memory::None);
    };
    let at = match chrono::DateTime::parse_from_rfc3339(raw_at.trim()) {
        Ok(t) => t.with_timezone(&chrono::Utc),
        Err(_) => {
            notes.push(format!("The service's {TAG_LAST_ROLLBACK_AT} tag {raw_at:?} is not an RFC 3339 time: it was ignored and the loop guard was checked from the deployment history instead."));
            return Ok(Memory::Untrusted);
        }
    };
    if at - now > Duration::minutes(MAX_CLOCK_SKEW_MINUTES) {
        notes.push(format!("The service's {TAG_LAST_ROLLBACK_AT} tag ({raw_at}) is in the future (clock skew or a hand-set tag): it was ignored and the loop guard was checked from the deployment history instead."));
        return Ok(Memory::Untrusted);
    }
    let Some(to) = service.tags.get(TAG_LAST_ROLLBACK_TO).map(String::as_str) else {
        return Ok(Memory::None);
    };
    let rec = Recorded {
        at,
        to,
        from: service.tags.get(TAG_LAST_ROLLBACK_FROM).map(String::as_str),
    };
    // The service's deployments answer most duplicates without the history. The history is read
    // when they show nothing, and before a deployment of the target is taken for the rollback's
    // own: a StopServiceDeployment rollback starts none, so a later deployment is a person's.
    let in_service = evidence_in_service(service, &rec);
    let confirm = match (&in_service, failing.deployment) {
        (None, _) => true,
        (Some(crate::incident::Evidence::Deployment { id, .. }), Some(d)) => &d.id == id,
        _ => false,
    };
    let evidence = match (&snap.history, confirm) {
        (_, false) => in_service,
        (None, true) => return need(Need::History),
        (Some(Ok(entries)), true) => crate::incident::evidence(service, Some(entries), &rec),
        (Some(Err(_)), true) if in_service.is_some() => in_service,
        (Some(Err(why)), true) => {
            notes.push(format!("The rollback the loop-guard tags record ({raw_at}) cannot be checked against the deployment history ({why})."));
            return Ok(Memory::Untrusted);
        }
    };
    if evidence.is_none() {
        notes.push(format!(
            "The loop-guard tags record a rollback to {} at {raw_at} that never took effect (no deployment of it started since, no deployment was stopped): the invocation that wrote them was stopped before its rollback write, so they were ignored and this decision was made afresh.",
            short_task_definition(to)
        ));
        return Ok(Memory::None);
    }
    // Is the failing deployment the one the rollback started (or, after StopServiceDeployment,
    // the earlier deployment ECS restored)? Judged by the deployment, never by its task
    // definition alone: a later deployment of the same task definition (a configuration change,
    // a person's redeploy) is another deployment.
    let rollbacks_own = match (failing.deployment, &evidence) {
        (Some(d), Some(crate::incident::Evidence::Deployment { id, .. })) => &d.id == id,
        (Some(d), Some(crate::incident::Evidence::Stopped(_))) => {
            same_task_definition(&d.task_definition, to) && d.created_at.is_none_or(|c| c <= at)
        }
        (None, _) => same_task_definition(failing.td, to),
        (Some(_), None) => false,
    };
    // A deployment started after the rollback that is not its own is a new incident (the tag
    // records whole seconds: a deployment created within the same second is not "after").
    let ours_created = match &evidence {
        Some(crate::incident::Evidence::Deployment { created, .. }) => *created,
        _ => None,
    };
    let new_incident = !rollbacks_own
        && failing
            .deployment
            .and_then(|d| d.created_at)
            .is_some_and(|created| {
                created >= at + Duration::seconds(1) || ours_created.is_some_and(|o| created >= o)
            });
    if new_incident {
        return Ok(Memory::At { at });
    }
    let within = now - at < policy.cooldown;
    if rollbacks_own {
        let completed = failing
            .deployment
            .is_some_and(|d| d.rollout == Rollout::Completed);
        match (&trigger.cause, within, completed) {
            // An alarm still ringing just after our rollback is the same incident.
            (Cause::Alarm { .. }, true, _) => {
                return skip(Skip::AlreadyRolledBack { to: to.to_string() }, failing.td)
            }
            // The rollback's own deployment fails: reported, never chased.
            (_, _, false) => return skip(Skip::RollbackFailed { to: to.to_string() }, failing.td),
            _ => {}
        }
    }
    if within {
        let left = (policy.cooldown - (now - at)).num_minutes().max(1);
        let how = match service.tags.get(TAG_LAST_ROLLBACK_KIND).map(String::as_str) {
            Some("manual") => match service.tags.get(TAG_LAST_ROLLBACK_BY) {
                Some(by) if !by.is_empty() => format!("manually by {by}"),
                _ => "manually".to_string(),
            },
            _ => "automatically".to_string(),
        };
        return skip(
            Skip::Cooldown {
                at: at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
                minutes_left: left,
                how,
            },
            failing.td,
        );
    }
    Ok(Memory::At { at })
}

/// Rule 4: the alarm window (early detection too: a completed deployment counts only within it).
fn rule4_alarm_window(
    cause: &Cause,
    service: &ServiceState,
    policy: &Policy,
    now: Time,
    failing: &str,
) -> Flow<()> {
    if !matches!(cause, Cause::Alarm { .. } | Cause::TaskFailures { .. }) {
        return Ok(());
    }
    let primary = service.primary();
    let in_progress = primary.is_some_and(|p| p.rollout == Rollout::InProgress);
    let (Some(window), false) = (policy.alarm_window, in_progress) else {
        return Ok(());
    };
    match primary.and_then(|p| p.created_at) {
        None => skip(Skip::DeploymentStartUnknown, failing),
        Some(started) if now - started > window => skip(
            Skip::OutsideWindow {
                minutes: (now - started).num_minutes(),
                window: window.num_minutes(),
            },
            failing,
        ),
        Some(_) => Ok(()),
    }
}

/// Rule 3 from the history: ECS is rolling back (a `ROLLBACK_*` deployment in flight — circuit
/// breaker, deployment alarms, a lifecycle hook or a user's StopServiceDeployment), or rolled
/// back within the cooldown and the service still runs what it restored.
fn rule3_ecs_rolled_back(
    trigger: &Trigger,
    service: &ServiceState,
    entries: &[HistoryEntry],
    failing: Option<&Deployment>,
    policy: &Policy,
    now: Time,
    failing_td: &str,
) -> Flow<()> {
    if let Some(entry) = entries.iter().find(|e| e.status.is_rolling_back()) {
        let why = format!(
            "service deployment {} is {}",
            entry.arn,
            entry.status.as_str()
        );
        return skip(Skip::EcsRollingBack(why), &service.task_definition);
    }
    if !trigger.cause.is_automatic() {
        return Ok(());
    }
    let rolled_back = entries
        .iter()
        .filter(|e| e.status == DeploymentStatus::RollbackSuccessful)
        .filter_map(|e| Some((e, e.finished_at.or(e.started_at)?)))
        .filter(|(_, at)| now - *at < policy.cooldown)
        .max_by_key(|(_, at)| *at);
    let Some((entry, at)) = rolled_back else {
        return Ok(());
    };
    // A deployment started after ECS's rollback is a new incident.
    let newer = failing
        .and_then(|d| d.created_at)
        .is_some_and(|created| created > at);
    if newer {
        return Ok(());
    }
    skip(
        Skip::EcsRolledBack {
            why: entry.ecs_why.clone(),
            deployment: entry.arn.clone(),
            at: at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        },
        failing_td,
    )
}

/// Rule 8 from the history, when the tags carry no trustworthy memory (their write failed, or the
/// timestamp is skewed): the failing deployment itself restored an earlier revision (a rollback —
/// ours or anyone's) within the cooldown → no further automatic rollback.
fn rule8_loop_guard_history(
    trigger: &Trigger,
    history: &HistoryRead,
    failing_entry: Option<&HistoryEntry>,
    memory: &Memory,
    policy: &Policy,
    now: Time,
    failing_td: &str,
) -> Flow<()> {
    if !trigger.cause.is_automatic() || matches!(memory, Memory::At { .. }) {
        return Ok(());
    }
    let entries = match history {
        Ok(entries) => entries,
        Err(why) if *memory == Memory::Untrusted => {
            return skip(
                Skip::LoopGuardUnknown(format!(
                    "the {TAG_LAST_ROLLBACK_AT} tag cannot be trusted and the deployment history is unavailable: {why}"
                )),
                failing_td,
            )
        }
        Err(_) => return Ok(()),
    };
    let Some(entry) = failing_entry else {
        return Ok(());
    };
    let Some(created) = entry.created_at.or(entry.started_at) else {
        return Ok(());
    };
    if now - created >= policy.cooldown {
        return Ok(());
    }
    if !is_rollback_shaped(entries, entry) {
        return Ok(());
    }
    let left = (policy.cooldown - (now - created)).num_minutes().max(1);
    skip(
        Skip::Cooldown {
            at: created.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
            minutes_left: left,
            how: format!(
                "(seen in the deployment history: {} restored an earlier revision)",
                entry.arn
            ),
        },
        failing_td,
    )
}

/// A deployment that went back to a revision that had succeeded before the one it replaced.
fn is_rollback_shaped(entries: &[HistoryEntry], entry: &HistoryEntry) -> bool {
    let Some(target) = entry.resolved_target() else {
        return false;
    };
    let Some(created) = entry.created_at.or(entry.started_at) else {
        return false;
    };
    let mut older: Vec<&HistoryEntry> = entries
        .iter()
        .filter(|e| e.arn != entry.arn)
        .filter(|e| e.created_at.or(e.started_at).is_some_and(|t| t < created))
        .collect();
    older.sort_by_key(|e| std::cmp::Reverse(e.created_at.or(e.started_at)));
    let Some(previous) = older.first() else {
        return false;
    };
    let differs_from_previous = previous
        .resolved_target()
        .is_none_or(|p| !p.same_as(&target));
    let succeeded_before = older.iter().skip(1).any(|e| {
        e.status == DeploymentStatus::Successful
            && e.resolved_target().is_some_and(|t| t.same_as(&target))
    });
    differs_from_previous && succeeded_before
}

/// The history entry of the failing deployment: the service revision whose id is the deployment's
/// (`ecs-svc/N` ↔ `…:service-revision/C/S/N`), else the one of the same task definition created
/// closest to it.
fn failing_history_entry<'a>(
    entries: &'a [HistoryEntry],
    deployment: Option<&Deployment>,
    td: &str,
) -> Option<&'a HistoryEntry> {
    if let Some(d) = deployment {
        if let Some(e) = entries
            .iter()
            .find(|e| e.is_deployment(&d.id) == Some(true))
        {
            return Some(e);
        }
    }
    let created = deployment.and_then(|d| d.created_at);
    entries
        .iter()
        .filter(|e| {
            e.target_task_definition
                .as_deref()
                .is_some_and(|t| same_task_definition(t, td))
        })
        // A deployment and its service deployment are created together: an entry created long
        // before it is an older deployment of the same task definition (this one is not in the
        // history yet), never this one.
        .filter(|e| match (created, e.created_at.or(e.started_at)) {
            (Some(c), Some(t)) => (c - t).num_seconds().abs() <= FAILING_ENTRY_TOLERANCE_SECONDS,
            _ => true,
        })
        .min_by_key(|e| match (created, e.created_at.or(e.started_at)) {
            (Some(c), Some(t)) => (c - t).num_seconds().abs(),
            // Without the deployment's time, the newest entry of that task definition.
            (None, Some(t)) => -t.timestamp(),
            _ => i64::MAX,
        })
}

/// Rule 14 (the record): a down migration the responder started holds the service until it
/// ends — nothing else acts while it runs, one past its time is stopped and reported, and a failed
/// one leaves the failure to a person (the CLI's `--force` overrides both: the person decides). A record about another revision than
/// the one failing now belongs to an earlier incident.
pub fn rule14_migration_record(
    cause: &Cause,
    service: &ServiceState,
    policy: &Policy,
    now: Time,
) -> Flow<()> {
    let Some(rec) = MigrationRecord::from_tags(&service.tags) else {
        return Ok(());
    };
    let current = service.task_definition.as_str();
    let failing_now = same_task_definition(&rec.from, current)
        || service
            .primary()
            .is_some_and(|p| same_task_definition(&rec.from, &p.task_definition));
    if !failing_now {
        return Ok(());
    }
    let since = rec
        .at
        .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true))
        .unwrap_or_else(|| "at an unknown time".into());
    let forced = matches!(cause, Cause::Manual { force: true, .. });
    if rec.running() && !forced {
        let overdue = rec.at.is_none_or(|at| now - at > policy.migration_timeout);
        if overdue {
            return skip(
                Skip::MigrationTimedOut {
                    task: rec.id,
                    since,
                    minutes: policy.migration_timeout.num_minutes(),
                },
                current,
            );
        }
        return skip(
            Skip::MigrationRunning {
                task: rec.id,
                since,
                to: rec.to,
            },
            current,
        );
    }
    if rec.running() || rec.succeeded() || forced {
        return Ok(());
    }
    skip(
        Skip::MigrationFailed {
            task: rec.id,
            result: rec.result.unwrap_or_default(),
        },
        current,
    )
}

/// What a stopped down-migration task means for the rollback it precedes (rule 14).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum MigrationVerdict {
    /// Not the service's migration, not stopped, or already handled: nothing to do (why).
    Ignore(String),
    /// Exit 0 in time: the rollback to `to` follows, against schema `schema`.
    Succeeded { to: String, schema: String },
    /// Failed, timed out or overtaken: `result` is recorded, `sentence` reported; no rollback.
    Ended { result: String, sentence: String },
}

/// Rule 14, the second step: a down-migration task stopped. It continues the rollback only when
/// it is the migration the service records, every container exited 0, it ended within the
/// migration timeout, and the service still runs the revision the rollback leaves.
pub fn rule14_migration_ended(
    record: Option<&MigrationRecord>,
    task: &MigrationTask,
    service: &ServiceState,
    policy: &Policy,
    now: Time,
) -> MigrationVerdict {
    let id = task.migration_id().unwrap_or("");
    let Some(rec) = record.filter(|r| !id.is_empty() && r.id == id) else {
        return MigrationVerdict::Ignore(format!(
            "The service records no down migration started as {}{id}: nothing to do.",
            MIGRATION_STARTED_BY
        ));
    };
    if task.last_status != "STOPPED" {
        return MigrationVerdict::Ignore(format!(
            "The down migration task is {}, not STOPPED, in ECS: nothing to do yet.",
            task.last_status
        ));
    }
    let current = &service.task_definition;
    let still_failing = same_task_definition(&rec.from, current);
    match &rec.result {
        Some(_) if rec.succeeded() && still_failing => {
            return MigrationVerdict::Succeeded {
                to: rec.to.clone(),
                schema: rec.schema.clone(),
            }
        }
        Some(result) => {
            return MigrationVerdict::Ignore(format!(
                "The down migration {} was already handled ({result}): nothing to do.",
                rec.id
            ))
        }
        None => {}
    }
    let task_id = task.task_arn.rsplit('/').next().unwrap_or(&task.task_arn);
    if !still_failing {
        return MigrationVerdict::Ended {
            result: format!("not continued: the service runs {}", short_task_definition(current)),
            sentence: format!(
                "The down migration task {task_id} ended, but the service now runs {} instead of {}: someone deployed meanwhile, so the rollback to {} is not made. The database schema may not match the running revision: a person must check.",
                short_task_definition(current),
                rec.from,
                rec.to
            ),
        };
    }
    let failed: Vec<String> = task
        .exit_codes
        .iter()
        .filter(|(_, code)| *code != Some(0))
        .map(|(name, code)| match code {
            Some(c) => format!("{name} exited {c}"),
            None => format!("{name} did not run to an exit"),
        })
        .collect();
    if task.exit_codes.is_empty() || !failed.is_empty() {
        let why = if failed.is_empty() {
            "no container ran".to_string()
        } else {
            failed.join(", ")
        };
        let stop = [task.stop_code.as_deref(), task.stopped_reason.as_deref()]
            .into_iter()
            .flatten()
            .collect::<Vec<_>>()
            .join(": ");
        return MigrationVerdict::Ended {
            result: format!("failed: {why}"),
            sentence: format!(
                "The down migration task {task_id} failed ({why}{}): the rollback from {} to {} is not made, and the database schema may be part-migrated. A person must decide; the service keeps running {}.",
                if stop.is_empty() { String::new() } else { format!("; {stop}") },
                rec.from,
                rec.to,
                rec.from
            ),
        };
    }
    let ended = task.stopped_at.unwrap_or(now);
    if rec
        .at
        .is_none_or(|at| ended - at > policy.migration_timeout)
    {
        return MigrationVerdict::Ended {
            result: "timed out".into(),
            sentence: format!(
                "The down migration task {task_id} exited 0, but only after the migration timeout of {} min: the rollback from {} to {} is not made now. The database is at schema {} while the service runs {}: a person must decide.",
                policy.migration_timeout.num_minutes(),
                rec.from,
                rec.to,
                rec.schema,
                rec.from
            ),
        };
    }
    MigrationVerdict::Succeeded {
        to: rec.to.clone(),
        schema: rec.schema.clone(),
    }
}

/// Rule 14: whether `target` runs against the schema version in force — it must declare it
/// (`ecs-rollback:schema`, a version or a range). `Err` says why not.
pub fn rule14_schema_compatible(target: &Revision, in_force: &SchemaVersion) -> Result<(), String> {
    match &target.schema {
        None => Err(format!("declares no schema ({TAG_SCHEMA})")),
        Some(Err(why)) => Err(format!("has an unreadable {TAG_SCHEMA} ({why})")),
        Some(Ok(range)) if range.accepts(in_force) => Ok(()),
        Some(Ok(range)) => Err(format!("runs against schema {range}")),
    }
}

/// Rule 14 at the deployment gate: its FAILED verdict hands the rollback to ECS, which returns
/// traffic to the source revision. That revision has served production against the schema the
/// new one brought since the deployment began, so the verdict stands; a source that does not
/// declare that schema is said, with what to check.
pub fn rule14_gate_note(new: &Revision, source: &Revision) -> Option<String> {
    let Some(Ok(range)) = &new.schema else {
        return None;
    };
    let why = rule14_schema_compatible(source, &range.max).err()?;
    Some(format!(
        "Schema: ECS returns to {}, which {why}, while {} brought schema {}; it served production against that schema during this deployment, but if the database was migrated for {} alone, migrate it down (the service's {TAG_MIGRATION} task) or fix forward.",
        short_task_definition(&source.arn),
        short_task_definition(&new.arn),
        range.max,
        short_task_definition(&new.arn),
    ))
}

/// The schema in force and what says so.
#[derive(Clone, Debug)]
struct InForce {
    version: SchemaVersion,
    declared_by: String,
}

/// A target passed over by rule 14, kept to say why and to migrate towards.
#[derive(Clone, Debug)]
struct Passed {
    chosen_arn: String,
    source: Source,
    revision: Option<ServiceRevision>,
    why: String,
    /// The version the target runs against (the top of its range), when it declares one.
    runs_on: Option<String>,
}

/// Rule 14 for one decision: the schema in force — the one the failing revision declares (its
/// deployment brought the database there), or the version a down migration for this failure
/// left — read once the failing revision is described, and the targets passed over.
struct SchemaRule<'a> {
    cause: &'a Cause,
    failing: &'a str,
    passed: RefCell<Vec<Passed>>,
}

impl<'a> SchemaRule<'a> {
    fn new(cause: &'a Cause, failing: &'a str) -> Self {
        SchemaRule {
            cause,
            failing,
            passed: RefCell::new(Vec::new()),
        }
    }

    fn described<'s>(&self, snap: &'s Snapshot) -> Option<&'s Revision> {
        lookup(snap, self.failing).or_else(|| snap.prefetched.get(self.failing))
    }

    /// `names`, with the failing revision when it is not described yet (read in the same round).
    fn with_failing(&self, snap: &Snapshot, mut names: Vec<String>) -> Vec<String> {
        if self.described(snap).is_none() && !names.iter().any(|n| n == self.failing) {
            names.push(self.failing.to_string());
        }
        names
    }

    fn in_force(&self, snap: &Snapshot) -> Flow<Option<InForce>> {
        if let Some(rec) = MigrationRecord::from_tags(&snap.service.tags)
            .filter(|r| r.succeeded() && same_task_definition(&r.from, self.failing))
        {
            return match SchemaVersion::parse(&rec.schema) {
                Ok(version) => Ok(Some(InForce {
                    version,
                    declared_by: format!("the down migration task {}", rec.id),
                })),
                Err(why) => skip(
                    Skip::SchemaUnreadable {
                        task_definition: self.failing.to_string(),
                        why: format!("{TAG_MIGRATION_SCHEMA}: {why}"),
                    },
                    self.failing,
                ),
            };
        }
        let Some(failing) = self.described(snap) else {
            return need(Need::Revisions(vec![self.failing.to_string()]));
        };
        match &failing.schema {
            None => Ok(None),
            Some(Err(why)) => skip(
                Skip::SchemaUnreadable {
                    task_definition: failing.arn.clone(),
                    why: why.clone(),
                },
                self.failing,
            ),
            Some(Ok(range)) => Ok(Some(InForce {
                version: range.max.clone(),
                declared_by: short_task_definition(&failing.arn),
            })),
        }
    }

    /// Whether `revision` may be the target; a target that may not is remembered with why.
    fn accepts(
        &self,
        snap: &Snapshot,
        revision: &Revision,
        source: Source,
        history: Option<&ServiceRevision>,
    ) -> Flow<bool> {
        let Some(in_force) = self.in_force(snap)? else {
            return Ok(true);
        };
        let Err(why) = rule14_schema_compatible(revision, &in_force.version) else {
            return Ok(true);
        };
        let mut passed = self.passed.borrow_mut();
        if !passed
            .iter()
            .any(|p| same_task_definition(&p.chosen_arn, &revision.arn))
        {
            passed.push(Passed {
                chosen_arn: revision.arn.clone(),
                source,
                revision: history.cloned(),
                why,
                runs_on: match &revision.schema {
                    Some(Ok(range)) => Some(range.max.to_string()),
                    _ => None,
                },
            });
        }
        Ok(false)
    }

    fn passed_any(&self) -> bool {
        !self.passed.borrow().is_empty()
    }

    /// No target runs against the schema in force: the first one passed over, after the down
    /// migration the service names; else no automatic rollback (`None`: nothing was passed over).
    fn no_target(&self, snap: &Snapshot) -> Flow<Option<Chosen>> {
        let passed = self.passed.borrow();
        let Some(first) = passed.first() else {
            return Ok(None);
        };
        let Some(in_force) = self.in_force(snap)? else {
            return Ok(None);
        };
        let migration = snap
            .service
            .tags
            .get(TAG_MIGRATION)
            .map(|v| v.trim())
            .filter(|v| !v.is_empty());
        if let (Some(task_definition), Some(to_schema)) = (migration, &first.runs_on) {
            return Ok(Some(Chosen {
                arn: first.chosen_arn.clone(),
                source: first.source,
                revision: first.revision.clone(),
                warning: None,
                migration: Some(Migration {
                    task_definition: task_definition.to_string(),
                    from_schema: in_force.version.to_string(),
                    to_schema: to_schema.clone(),
                }),
            }));
        }
        skip(
            Skip::SchemaIncompatible {
                in_force: in_force.version.to_string(),
                declared_by: in_force.declared_by,
                passed: passed
                    .iter()
                    .map(|p| (p.chosen_arn.clone(), p.why.clone()))
                    .collect(),
                service: snap.service.ledger_key(),
            },
            self.failing,
        )
    }
}

/// A candidate target revision.
struct Chosen {
    arn: String,
    source: Source,
    /// The service revision it comes from (history), with digests and configuration.
    revision: Option<ServiceRevision>,
    /// A warning to pass on (bad for another service).
    warning: Option<String>,
    /// Rule 14: the down migration that must run first.
    migration: Option<Migration>,
}

impl Chosen {
    fn recorded(&self) -> &[RecordedImage] {
        self.revision
            .as_ref()
            .map(|r| r.images.as_slice())
            .unwrap_or(&[])
    }
}

/// Why a revision cannot be a rollback target for this service, if it cannot. INACTIVE is no
/// reason (a copy is registered); bad for another service only is a warning.
fn reject(revision: &Revision, ledger_key: &str) -> Option<String> {
    if revision.is_bad_for(ledger_key) {
        return Some(format!("it is marked {TAG_STATUS}=bad"));
    }
    match revision.status {
        RevisionStatus::DeleteInProgress => Some("it is DELETE_IN_PROGRESS or deleted".into()),
        _ => None,
    }
}

/// [`reject`], and the targets this invocation could not deploy ([`Snapshot::unusable`]).
fn reject_in(snap: &Snapshot, revision: &Revision, ledger_key: &str) -> Option<String> {
    snap.unusable
        .iter()
        .find(|(arn, _)| same_task_definition(arn, &revision.arn))
        .map(|(_, why)| why.clone())
        .or_else(|| reject(revision, ledger_key))
}

fn warning_for(revision: &Revision, ledger_key: &str) -> Option<String> {
    revision.bad_elsewhere(ledger_key).then(|| {
        format!(
            "Warning: {} is marked bad for {} (not for this service).",
            short_task_definition(&revision.arn),
            revision.bad_for.join(", ")
        )
    })
}

/// Rule 6: the in-flight deployment's single source revision, when ECS can restore it and it is
/// proven stable — it succeeded, ECS restored it, or it ran before the visible history began —
/// and not banned. `None` = use `UpdateService`.
fn rule6_restorable_source(
    snap: &Snapshot,
    entries: &[HistoryEntry],
    entry: &HistoryEntry,
    schema: &SchemaRule,
) -> Flow<Option<Chosen>> {
    let [source] = entry.sources.as_slice() else {
        return Ok(None);
    };
    let as_target: Vec<&HistoryEntry> = entries
        .iter()
        .filter(|e| e.arn != entry.arn)
        .filter(|e| e.resolved_target().is_some_and(|t| t.same_as(source)))
        .collect();
    let restored = entries
        .iter()
        .any(|e| e.rolled_back_to.as_ref().is_some_and(|r| r.same_as(source)));
    let proven = restored
        || as_target.is_empty()
        || as_target
            .iter()
            .any(|e| e.status == DeploymentStatus::Successful);
    if !proven {
        return Ok(None);
    }
    let Some(revision) = lookup(snap, &source.task_definition) else {
        return need(Need::Revisions(
            schema.with_failing(snap, vec![source.task_definition.clone()]),
        ));
    };
    let key = snap.service.ledger_key();
    if reject_in(snap, revision, &key).is_some() {
        return Ok(None);
    }
    if !schema.accepts(snap, revision, Source::History, Some(source))? {
        return Ok(None);
    }
    Ok(Some(Chosen {
        arn: revision.arn.clone(),
        source: Source::DeploymentSource,
        revision: Some(source.clone()),
        warning: warning_for(revision, &key),
        migration: None,
    }))
}

/// Rule 10: a requested target must be of the service's own family or in its history (a direct
/// invocation can never move a service onto an unrelated task definition and its task role);
/// the CLI may allow another family explicitly.
fn rule10_requested_target(
    snap: &Snapshot,
    entries: &[HistoryEntry],
    to: &str,
    failing: &str,
    allow_other_family: bool,
    schema: &SchemaRule,
) -> Flow<Chosen> {
    let family = split_task_definition(&snap.service.task_definition).map(|(f, _)| f);
    let in_history = entries.iter().any(|e| {
        e.target_task_definition
            .as_deref()
            .is_some_and(|t| same_task_definition(t, to))
    });
    let requested_family = split_task_definition(to).map(|(f, _)| f);
    if !allow_other_family && !in_history && requested_family != family {
        return skip(
            Skip::TargetRejected {
                target: to.to_string(),
                why: format!(
                    "it is of family {} and the service runs family {} (a requested target must be of the service's own family or in its deployment history)",
                    requested_family.unwrap_or("?"),
                    family.unwrap_or("?")
                ),
            },
            failing,
        );
    }
    let Some(revision) = lookup(snap, to) else {
        return need(Need::Revisions(
            schema.with_failing(snap, vec![to.to_string()]),
        ));
    };
    if same_task_definition(&revision.arn, failing) {
        return skip(Skip::AlreadyOnTarget(revision.arn.clone()), failing);
    }
    let key = snap.service.ledger_key();
    let inactive_unproven = (revision.status == RevisionStatus::Inactive && !in_history)
        .then(|| "it is INACTIVE and never ran in this service's deployment history".to_string());
    if let Some(why) = reject_in(snap, revision, &key).or(inactive_unproven) {
        return skip(
            Skip::TargetRejected {
                target: revision.arn.clone(),
                why,
            },
            failing,
        );
    }
    // A revision whose deployments of this service all ended without success is no proven
    // target: allowed (the operator asked for it), said.
    let never_ran = failed_deployment_of(entries, &revision.arn)
        .filter(|_| !completed_a_deployment(entries, &revision.arn))
        .map(|e| {
            format!(
                "Warning: {} never completed a deployment of this service: its deployment {} ended {}.",
                short_task_definition(&revision.arn),
                e.arn.rsplit('/').next().unwrap_or(&e.arn),
                e.status.as_str()
            )
        });
    let forced = matches!(schema.cause, Cause::Manual { force: true, .. });
    let mut schema_warning = None;
    if !schema.accepts(snap, revision, Source::Requested, None)? {
        // --force: the person decides, with no migration; else the named down migration first.
        if let Some(migrated) = (!forced)
            .then(|| schema.no_target(snap).ok().flatten())
            .flatten()
        {
            return Ok(migrated);
        }
        let in_force = schema.in_force(snap)?;
        let why = schema
            .passed
            .borrow()
            .last()
            .map(|p| p.why.clone())
            .unwrap_or_default();
        let (version, by) = in_force
            .map(|f| (f.version.to_string(), f.declared_by))
            .unwrap_or_default();
        if !forced {
            return skip(
                Skip::TargetRejected {
                    target: revision.arn.clone(),
                    why: format!(
                        "it {why}, and the database schema in force is {version} (declared by {by}): migrate the database down first, or name a down-migration task definition with the service tag {TAG_MIGRATION}; --force rolls back anyway"
                    ),
                },
                failing,
            );
        }
        schema_warning = Some(format!(
            "Warning: {} {why}, and the schema in force is {version} (declared by {by}): rolled back by --force.",
            short_task_definition(&revision.arn)
        ));
    }
    let warnings: Vec<String> = never_ran
        .into_iter()
        .chain(warning_for(revision, &key))
        .chain(schema_warning)
        .collect();
    Ok(Chosen {
        arn: revision.arn.clone(),
        source: Source::Requested,
        revision: None,
        warning: (!warnings.is_empty()).then(|| warnings.join(" ")),
        migration: None,
    })
}

/// Whether a deployment of `td` to this service completed (SUCCESSFUL), or ECS restored it.
pub fn completed_a_deployment(entries: &[HistoryEntry], td: &str) -> bool {
    entries.iter().any(|e| {
        (e.status == DeploymentStatus::Successful
            && e.target_task_definition
                .as_deref()
                .is_some_and(|t| same_task_definition(t, td)))
            || e.rolled_back_to
                .as_ref()
                .is_some_and(|r| same_task_definition(&r.task_definition, td))
    })
}

/// The newest deployment of `td` to this service that ended without success (stopped, or
/// rolled back by ECS), if any.
pub fn failed_deployment_of<'a>(entries: &'a [HistoryEntry], td: &str) -> Option<&'a HistoryEntry> {
    entries
        .iter()
        .filter(|e| {
            e.status.is_unsuccessful()
                && e.target_task_definition
                    .as_deref()
                    .is_some_and(|t| same_task_definition(t, td))
        })
        .max_by_key(|e| e.ordering_time())
}

/// Whether deploying `candidate` can restore anything the failing revision lacks: another task
/// definition, other configuration, or other image digests that can be pinned.
fn restores_something(candidate: &ServiceRevision, failing: &ServiceRevision) -> bool {
    if !same_task_definition(&candidate.task_definition, &failing.task_definition) {
        return true;
    }
    if !restorable_fields(candidate.config_differences(failing)).is_empty() {
        return true;
    }
    let digests = candidate.digests();
    !digests.is_empty() && digests != failing.digests()
}

/// Rule 5: the last stable revision — (a) the newest successful service deployment (or a
/// revision an ECS rollback restored) that is not the failing revision, (b) the ledger, (c) the
/// family — never a revision marked bad for this service.
fn rule5_last_stable(
    snap: &Snapshot,
    history: &HistoryRead,
    failing: &str,
    failing_rev: Option<&ServiceRevision>,
    schema: &SchemaRule,
) -> Flow<Chosen> {
    let current = snap.service.task_definition.as_str();
    let key = snap.service.ledger_key();

    // (a) successful service deployments and ECS-restored revisions, newest first by their own
    // timestamps (the API documents no order).
    if let Ok(entries) = history {
        let mut proven: Vec<(Option<Time>, ServiceRevision)> = entries
            .iter()
            .filter_map(|e| match e.status {
                DeploymentStatus::Successful => Some((e.ordering_time(), e.resolved_target()?)),
                DeploymentStatus::RollbackSuccessful => {
                    Some((e.ordering_time(), e.rolled_back_to.clone()?))
                }
                _ => None,
            })
            .collect();
        proven.sort_by_key(|(t, _)| std::cmp::Reverse(*t));
        let mut seen: Vec<&ServiceRevision> = Vec::new();
        for (_, candidate) in &proven {
            if seen.iter().any(|s| s.same_as(candidate)) {
                continue;
            }
            seen.push(candidate);
            // A redeploy of the failing task definition is judged on its images: described.
            if failing_rev.is_none()
                && same_task_definition(&candidate.task_definition, failing)
                && lookup(snap, failing).is_none()
            {
                return need(Need::Revisions(vec![failing.to_string()]));
            }
            // A copy is its source: identity needs both task definitions described.
            if let Some(f) = failing_rev.filter(|f| copy_candidates(candidate, f)) {
                let missing: Vec<String> = [&candidate.task_definition, &f.task_definition]
                    .into_iter()
                    .filter(|td| lookup(snap, td).is_none())
                    .cloned()
                    .collect();
                if !missing.is_empty() {
                    return need(Need::Revisions(missing));
                }
            }
            let usable = match failing_rev {
                Some(f) => !same_revision(snap, candidate, f) && restores_something(candidate, f),
                // The failing deployment is not in the history yet (a same-task-definition
                // redeploy: a re-pushed mutable tag): the proven digests of its own task
                // definition are the way back, pinned.
                None if redeploy_of(snap, candidate, failing) => true,
                None => {
                    !same_task_definition(&candidate.task_definition, failing)
                        && !same_task_definition(&candidate.task_definition, current)
                }
            };
            if !usable {
                continue;
            }
            let Some(revision) = lookup(snap, &candidate.task_definition) else {
                return need(Need::Revisions(
                    schema.with_failing(snap, vec![candidate.task_definition.clone()]),
                ));
            };
            if reject_in(snap, revision, &key).is_none()
                && schema.accepts(snap, revision, Source::History, Some(candidate))?
            {
                return Ok(Chosen {
                    arn: revision.arn.clone(),
                    source: Source::History,
                    revision: Some(candidate.clone()),
                    warning: warning_for(revision, &key),
                    migration: None,
                });
            }
        }
    }

    // (b) and (c) read the failing revision's family (ACTIVE revisions only).
    let excluded =
        |arn: &str| same_task_definition(arn, failing) || same_task_definition(arn, current);
    let Some((family, failing_rev_no)) = split_task_definition(failing) else {
        return skip(
            Skip::NoCandidate(format!("{failing} is not a task-definition revision")),
            failing,
        );
    };
    let Some(arns) = &snap.family else {
        return need(Need::Family(family.to_string()));
    };
    let mut older: Vec<(i32, &str)> = arns
        .iter()
        .filter_map(|arn| {
            let (f, rev) = split_task_definition(arn)?;
            (f == family && rev < failing_rev_no && !excluded(arn)).then_some((rev, arn.as_str()))
        })
        .collect();
    older.sort_by_key(|(rev, _)| std::cmp::Reverse(*rev));
    older.dedup_by_key(|(rev, _)| *rev);
    older.truncate(FAMILY_SCAN_LIMIT);
    let missing: Vec<String> = older
        .iter()
        .filter(|(_, arn)| lookup(snap, arn).is_none())
        .map(|(_, arn)| arn.to_string())
        .collect();
    if !missing.is_empty() {
        return need(Need::Revisions(schema.with_failing(snap, missing)));
    }
    let described: Vec<&Revision> = older
        .iter()
        .filter_map(|(_, arn)| lookup(snap, arn))
        .collect();
    // Rule 14: a revision the schema in force rules out is passed over (and remembered); when a
    // proven one was, an unproven family revision is no way out.
    let mut fits_schema = BTreeMap::new();
    for r in &described {
        let source = if r.ledger == Some(Ledger::Stable) {
            Source::Ledger
        } else {
            Source::Family
        };
        let usable = reject_in(snap, r, &key).is_none() && r.status == RevisionStatus::Active;
        if usable && (source == Source::Ledger || !schema.passed_any()) {
            fits_schema.insert(r.arn.clone(), schema.accepts(snap, r, source, None)?);
        }
    }
    let usable = |r: &Revision| {
        reject_in(snap, r, &key).is_none()
            && r.status == RevisionStatus::Active
            && fits_schema.get(&r.arn).copied().unwrap_or(false)
    };
    // An unproven guess: a revision proven bad for another service sharing the family is the
    // last resort, after every older revision marked bad nowhere.
    let pick = |source: Source, want_stable: bool| {
        let fits = |r: &&&Revision| usable(r) && (!want_stable || r.ledger == Some(Ledger::Stable));
        described
            .iter()
            .filter(fits)
            .find(|r| !r.bad_elsewhere(&key))
            .or_else(|| described.iter().find(fits))
            .map(|r| Chosen {
                arn: r.arn.clone(),
                source,
                revision: None,
                warning: warning_for(r, &key),
                migration: None,
            })
    };
    if let Some(chosen) = pick(Source::Ledger, true).or_else(|| pick(Source::Family, false)) {
        return Ok(chosen);
    }
    if let Some(chosen) = schema.no_target(snap)? {
        return Ok(chosen);
    }
    let why = if older.is_empty() {
        format!("{family} has no ACTIVE revision older than {failing_rev_no}")
    } else {
        format!(
            "the {} newest older revisions of {family} are all marked bad or inactive",
            older.len()
        )
    };
    skip(Skip::NoCandidate(why), failing)
}

/// The failing deployment (not in the history yet) redeploys the task definition of `candidate`,
/// a proven revision with recorded digests that can be pinned.
fn redeploy_of(snap: &Snapshot, candidate: &ServiceRevision, failing: &str) -> bool {
    same_task_definition(&candidate.task_definition, failing)
        && !candidate.digests().is_empty()
        && snap
            .service
            .primary()
            .is_some_and(|p| same_task_definition(&p.task_definition, failing))
        // Only a mutable tag can have moved: pinning it is then what restores the image.
        && !rule7_exact_image(
            lookup(snap, &candidate.task_definition),
            &candidate.images,
            &[],
        )
        .is_empty()
}

/// Rule 2: the service already runs the chosen revision (same task definition and nothing else
/// to restore).
fn rule2_already_on_target(
    snap: &Snapshot,
    chosen: &Chosen,
    current: &str,
    failing: &str,
    failing_rev: Option<&ServiceRevision>,
) -> Flow<()> {
    let same_td = same_task_definition(&chosen.arn, current);
    let (differs, same_rev) = match (&chosen.revision, failing_rev) {
        (Some(to), Some(from)) => (restores_something(to, from), same_revision(snap, to, from)),
        (Some(to), None) => (redeploy_of(snap, to, failing), false),
        _ => (false, false),
    };
    // A copy is its source: an identical copy already running is the target.
    if (same_td && !differs) || same_rev {
        return skip(Skip::AlreadyOnTarget(chosen.arn.clone()), failing);
    }
    Ok(())
}

/// Rule 7: pin each image of the target that uses a mutable tag to the digest its history
/// recorded — and, when the target's task definition is the failing one's, every container in
/// `force` (those whose recorded digest differs from the failing revision's: the digest is then
/// the only difference).
pub fn rule7_exact_image(
    target: Option<&Revision>,
    recorded: &[RecordedImage],
    force: &[&str],
) -> Vec<Pin> {
    let Some(target) = target else {
        return Vec::new();
    };
    target
        .images
        .iter()
        .filter(|c| {
            !c.image.contains('@')
                && (force.contains(&c.container.as_str()) || is_mutable_image(&c.image))
        })
        .filter_map(|c| {
            let rec = recorded.iter().find(|r| r.container == c.container)?;
            let digest = rec.digest.as_deref().filter(|d| d.starts_with("sha256:"))?;
            Some(Pin {
                container: c.container.clone(),
                image: c.image.clone(),
                pinned: format!("{}@{digest}", image_repository(&c.image)),
            })
        })
        .collect()
}

/// Service-configuration fields that `UpdateService` can set (rule 6: restore the configuration that differs). A change
/// between a launch type and a capacity-provider strategy is restored as the strategy only.
pub const RESTORABLE_FIELDS: &[&str] = &[
    "networkConfiguration",
    "loadBalancers",
    "serviceRegistries",
    "capacityProviderStrategy",
    "platformVersion",
    "serviceConnectConfiguration",
    "volumeConfigurations",
    "vpcLatticeConfigurations",
];

fn restorable_fields(fields: Vec<String>) -> Vec<String> {
    fields
        .into_iter()
        .filter(|f| RESTORABLE_FIELDS.contains(&f.as_str()))
        .collect()
}

/// Whether `reason` (an event's or a deployment's) says ECS itself is rolling back.
pub fn is_ecs_rollback_reason(reason: &str) -> bool {
    let r = reason.to_ascii_lowercase();
    r.contains("rolling back") || r.contains("rollback in progress")
}

/// A FAILED event whose deployment is gone: a duplicate when our rollback replaced it.
fn stale_or_duplicate(service: &ServiceState, stale: Skip) -> Step {
    let current = service.task_definition.as_str();
    match service.tags.get(TAG_LAST_ROLLBACK_TO) {
        Some(to) if same_task_definition(to, current) => {
            Decision::skip(Skip::AlreadyRolledBack { to: to.clone() }, Some(current))
        }
        _ => Decision::skip(stale, Some(current)),
    }
}

fn record_completed(snap: &Snapshot, deployment_id: &str) -> Step {
    let service = &snap.service;
    let current = service.task_definition.as_str();
    let Some(deployment) = service.deployments.iter().find(|d| d.id == deployment_id) else {
        return Decision::skip(Skip::UnknownDeployment(deployment_id.into()), Some(current));
    };
    if !deployment.is_primary() {
        let by = service.primary().map(|p| p.id.clone()).unwrap_or_default();
        return Decision::skip(
            Skip::Superseded {
                deployment: deployment_id.into(),
                by,
            },
            Some(current),
        );
    }
    // Rule 11: only a deployment ECS reports completed makes a revision stable.
    let state = match reported_state(snap, deployment) {
        Err(n) => return Step::Need(n),
        Ok(Reported::Completed(_)) => None,
        Ok(Reported::Failed(state)) => Some(state),
        Ok(Reported::Other(state)) => Some(state),
    };
    if let Some(state) = state {
        return Decision::skip(
            Skip::DeploymentNotCompleted {
                deployment: deployment_id.into(),
                state,
            },
            Some(current),
        );
    }
    let td = deployment.task_definition.clone();
    let Some(revision) = snap.revisions.get(&td) else {
        return Step::Need(Need::Revisions(vec![td]));
    };
    let skip = match revision.ledger {
        Some(Ledger::Bad) => Some(Skip::NotStableable {
            task_definition: td.clone(),
        }),
        Some(Ledger::Stable) => Some(Skip::AlreadyStable {
            task_definition: td.clone(),
        }),
        None => None,
    };
    match skip {
        Some(skip) => Decision::skip(skip, Some(&td)),
        None => Step::Done(Decision {
            outcome: Outcome::Record {
                task_definition: td.clone(),
            },
            current: Some(td),
            notes: Vec::new(),
        }),
    }
}

/// Two task-definition references name the same revision (defined with the model, which needs
/// it for a revision's identity; the core's rules use it through here).
pub use crate::model::same_task_definition;

fn lookup<'a>(snap: &'a Snapshot, name: &str) -> Option<&'a Revision> {
    snap.revisions.get(name).or_else(|| {
        snap.revisions
            .values()
            .find(|r| same_task_definition(&r.arn, name))
    })
}

#[cfg(test)]
#[path = "decision_tests.rs"]
mod tests;
