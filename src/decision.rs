//! The pure decision core: `(Trigger, Snapshot, Policy, now) -> Step`.
//!
//! No I/O, no async, no SDK types. Every rule of DESIGN §4 lives here. The core reads only what it
//! has been given; when it needs more (the deployment history, the task-definition family, details
//! of a revision) it answers [`Step::Need`] and the caller loads exactly that and asks again. This
//! keeps AWS calls to what a decision really needs: a duplicate event costs one `DescribeServices`.

use std::collections::BTreeMap;
use std::fmt;

use chrono::Duration;
use serde::Serialize;

use crate::model::*;

/// How many of a family's newest revisions the fallback search reads (rule 5 (b)/(c)).
pub const FAMILY_SCAN_LIMIT: usize = 10;

/// The policy knobs (DESIGN §5), already validated.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Policy {
    pub dry_run: bool,
    /// `None` = alarms roll back however old the current deployment is.
    pub alarm_window: Option<Duration>,
    pub cooldown: Duration,
    pub require_opt_in: bool,
    /// Early detection: failed tasks of the newest deployment that trigger a rollback; 0 = off.
    pub early_failed_tasks: u32,
}

impl Default for Policy {
    fn default() -> Self {
        Policy {
            dry_run: false,
            alarm_window: Some(Duration::minutes(60)),
            cooldown: Duration::minutes(30),
            require_opt_in: true,
            early_failed_tasks: 2,
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
}

impl Snapshot {
    pub fn new(service: ServiceState) -> Self {
        Snapshot {
            service,
            history: None,
            family: None,
            revisions: BTreeMap::new(),
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
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Step {
    Done(Decision),
    Need(Need),
}

/// Where the chosen revision came from (rule 5, in order of trust).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Source {
    /// A successful ECS service deployment.
    History,
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
    /// `UpdateService(taskDefinition = to)`.
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
    /// Tag `from` as `ecs-rollback:status=bad`.
    pub mark_bad: String,
    pub dry_run: bool,
    /// Set when the history API was unavailable and the search fell back (said in the log).
    pub degraded: Option<String>,
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
    Superseded { deployment: String, by: String },
    AlreadyRolledBack { to: String },
    RollbackFailed { to: String },
    EcsRollingBack(String),
    OutsideWindow { minutes: i64, window: i64 },
    DeploymentStartUnknown,
    Cooldown { at: String, minutes_left: i64 },
    AlreadyOnTarget(String),
    TargetRejected { target: String, why: String },
    NoCandidate(String),
    NotStableable { task_definition: String },
    AlreadyStable { task_definition: String },
    EarlyDetectionOff,
    OlderDeploymentTask { deployment: String, newest: String },
    BelowThreshold { failed: i32, threshold: u32 },
    NoDeployment,
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
            Skip::OutsideWindow { .. } => "outside_alarm_window",
            Skip::DeploymentStartUnknown => "outside_alarm_window",
            Skip::Cooldown { .. } => "cooldown",
            Skip::AlreadyOnTarget(_) => "already_on_target",
            Skip::TargetRejected { .. } => "target_rejected",
            Skip::NoCandidate(_) => "no_stable_candidate",
            Skip::NotStableable { .. } => "marked_bad",
            Skip::AlreadyStable { .. } => "already_recorded",
            Skip::EarlyDetectionOff => "early_detection_off",
            Skip::OlderDeploymentTask { .. } => "older_deployment_task",
            Skip::BelowThreshold { .. } => "below_failed_task_threshold",
            Skip::NoDeployment => "no_deployment",
        }
    }

    /// Worth telling people about (SNS), beyond the log line.
    pub fn notify(&self) -> bool {
        matches!(
            self,
            Skip::RollbackFailed { .. }
                | Skip::EcsRollingBack(_)
                | Skip::NoCandidate(_)
                | Skip::TargetRejected { .. }
                | Skip::Cooldown { .. }
        )
    }

    /// Logged at error level: a rollback was wanted and could not be made.
    pub fn is_error(&self) -> bool {
        matches!(
            self,
            Skip::NoCandidate(_) | Skip::RollbackFailed { .. } | Skip::TargetRejected { .. }
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
            Skip::RollbackFailed { to } => write!(f, "The service runs {}, the target of an earlier automatic rollback, and it is failing too: not rolling back again, a human must decide.", short_task_definition(to)),
            Skip::EcsRollingBack(why) => write!(f, "ECS is already rolling this deployment back ({why}): not issuing a second rollback."),
            Skip::OutsideWindow { minutes, window } => write!(f, "The current deployment started {minutes} min ago, outside the {window} min alarm window: probably not the deployment's fault."),
            Skip::DeploymentStartUnknown => f.write_str("The current deployment's start time is unknown, so the alarm window cannot be checked."),
            Skip::Cooldown { at, minutes_left } => write!(f, "Cooldown: the service was rolled back automatically at {at}; no automatic rollback for another {minutes_left} min."),
            Skip::AlreadyOnTarget(td) => write!(f, "The service already runs {}.", short_task_definition(td)),
            Skip::TargetRejected { target, why } => write!(f, "Refusing to roll back to {}: {why}.", short_task_definition(target)),
            Skip::NoCandidate(why) => write!(f, "No stable revision to roll back to: {why}."),
            Skip::NotStableable { task_definition } => write!(f, "{} is marked bad; a completed deployment does not clear that (a human may).", short_task_definition(task_definition)),
            Skip::AlreadyStable { task_definition } => write!(f, "{} is already recorded as stable.", short_task_definition(task_definition)),
            Skip::EarlyDetectionOff => f.write_str("Early detection is off (ROLLBACK_EARLY_FAILED_TASKS=0)."),
            Skip::OlderDeploymentTask { deployment, newest } => write!(f, "The failed task belongs to {deployment}, not to the newest deployment {newest}: it does not count against the new revision."),
            Skip::BelowThreshold { failed, threshold } => write!(f, "The newest deployment has {failed} failed task(s), below the early-detection threshold of {threshold}."),
            Skip::NoDeployment => f.write_str("The service has no PRIMARY deployment."),
        }
    }
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
}

impl Decision {
    fn skip(skip: Skip, current: Option<&str>) -> Step {
        Step::Done(Decision {
            outcome: Outcome::Skip(skip),
            current: current.map(str::to_string),
        })
    }

    /// The response `action` (DESIGN §5).
    pub fn action(&self) -> &'static str {
        match &self.outcome {
            Outcome::Skip(_) => "skipped",
            Outcome::Record { .. } => "recorded",
            Outcome::Rollback(plan) if plan.dry_run => "dry_run",
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

    /// One human sentence.
    pub fn reason(&self, cause: &Cause) -> String {
        match &self.outcome {
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
                let how = match (&plan.method, plan.pins.is_empty()) {
                    (Method::StopDeployment { .. }, _) => {
                        " by stopping the deployment in progress (StopServiceDeployment ROLLBACK)"
                    }
                    (Method::UpdateService, false) => {
                        " as a copy pinned to the image digests it ran"
                    }
                    (Method::UpdateService, true) => "",
                };
                let source = match plan.source {
                    Source::History => "its last successful deployment",
                    Source::Ledger => "the revision last marked stable",
                    Source::Family => "the newest older revision not marked bad (no deployment history or ledger entry was available)",
                    Source::Requested => "the revision requested",
                };
                format!(
                    "{verb} from {} to {} ({source}){how} because {}.",
                    short_task_definition(&plan.from),
                    short_task_definition(&plan.to),
                    cause.describe()
                )
            }
        }
    }
}

/// The whole decision. Call repeatedly, loading each [`Need`], until it is [`Step::Done`].
pub fn decide(trigger: &Trigger, snap: &Snapshot, policy: &Policy, now: Time) -> Step {
    let service = &snap.service;
    let current = service.task_definition.as_str();

    // Triggers that never act, whatever the service looks like.
    match &trigger.cause {
        Cause::Alarm { state, .. } if *state != AlarmState::Alarm => {
            return Decision::skip(Skip::AlarmNotInAlarm(*state), Some(current))
        }
        Cause::DeploymentInProgress { .. } => {
            return Decision::skip(Skip::DeploymentInProgress, Some(current))
        }
        _ => {}
    }

    // Rule 1: eligibility.
    match service
        .tags
        .get(TAG_ENABLED)
        .map(|v| v.trim().to_ascii_lowercase())
    {
        Some(v) if v == "false" => return Decision::skip(Skip::OptedOut, Some(current)),
        Some(v) if v == "true" => {}
        _ if policy.require_opt_in => return Decision::skip(Skip::NotOptedIn, Some(current)),
        _ => {}
    }
    if service.controller != Controller::Ecs {
        return Decision::skip(Skip::Controller(service.controller), Some(current));
    }
    if service.status != "ACTIVE" {
        return Decision::skip(
            Skip::ServiceNotActive(service.status.clone()),
            Some(current),
        );
    }

    // Rule 3: ECS rolling back on its own, as DescribeServices shows it.
    if let Some(why) = ecs_rolling_back_in_service(service) {
        return Decision::skip(Skip::EcsRollingBack(why), Some(current));
    }

    // Which revision is failing, and is the event still about the service's present (rule 2)?
    let failing = match &trigger.cause {
        Cause::DeploymentCompleted { deployment_id } => {
            return record_completed(snap, deployment_id);
        }
        Cause::DeploymentFailed {
            deployment_id,
            reason,
        } => {
            // Rule 3: the event itself may say ECS is rolling back.
            if is_ecs_rollback_reason(reason) {
                return Decision::skip(Skip::EcsRollingBack(reason.clone()), Some(current));
            }
            if let Some(how) = &service.ecs_rollback {
                return Decision::skip(
                    Skip::EcsRollingBack(format!("the service's {how} is set to roll back")),
                    Some(current),
                );
            }
            let Some(deployment) = service.deployments.iter().find(|d| &d.id == deployment_id)
            else {
                return stale_or_duplicate(service, Skip::UnknownDeployment(deployment_id.clone()));
            };
            if !deployment.is_primary() {
                let by = service
                    .primary()
                    .map(|p| p.id.clone())
                    .unwrap_or_else(|| "another deployment".into());
                return stale_or_duplicate(
                    service,
                    Skip::Superseded {
                        deployment: deployment_id.clone(),
                        by,
                    },
                );
            }
            deployment.task_definition.clone()
        }
        Cause::TaskFailures {
            deployment_id,
            task_definition,
            ..
        } => {
            if policy.early_failed_tasks == 0 {
                return Decision::skip(Skip::EarlyDetectionOff, Some(current));
            }
            let Some(primary) = service.primary() else {
                return Decision::skip(Skip::NoDeployment, Some(current));
            };
            let other_deployment = deployment_id.as_deref().filter(|id| *id != primary.id);
            let other_revision = task_definition
                .as_deref()
                .filter(|td| !same_task_definition(td, &primary.task_definition));
            if let Some(older) = other_deployment.or(other_revision) {
                return Decision::skip(
                    Skip::OlderDeploymentTask {
                        deployment: older.to_string(),
                        newest: primary.id.clone(),
                    },
                    Some(current),
                );
            }
            // Counted by ECS, not in process memory: Lambda sandboxes share nothing.
            if primary.failed_tasks < policy.early_failed_tasks as i32 {
                return Decision::skip(
                    Skip::BelowThreshold {
                        failed: primary.failed_tasks,
                        threshold: policy.early_failed_tasks,
                    },
                    Some(current),
                );
            }
            primary.task_definition.clone()
        }
        Cause::Alarm { .. } | Cause::Manual { .. } => current.to_string(),
        Cause::DeploymentInProgress { .. } => unreachable!("handled above"),
    };
    let failing = failing.as_str();

    // Rule 8: never chase our own rollback, and respect the cooldown for automatic triggers.
    let last_to = service.tags.get(TAG_LAST_ROLLBACK_TO).map(String::as_str);
    let last_at = service
        .tags
        .get(TAG_LAST_ROLLBACK_AT)
        .and_then(|t| chrono::DateTime::parse_from_rfc3339(t).ok())
        .map(|t| t.with_timezone(&chrono::Utc));
    if trigger.cause.is_automatic() {
        if let Some(to) = last_to {
            if same_task_definition(to, failing) {
                let skip = match (&trigger.cause, last_at) {
                    // An alarm still ringing just after our rollback is the same incident.
                    (Cause::Alarm { .. }, Some(at)) if now - at < policy.cooldown => {
                        Skip::AlreadyRolledBack { to: to.to_string() }
                    }
                    _ => Skip::RollbackFailed { to: to.to_string() },
                };
                return Decision::skip(skip, Some(failing));
            }
        }
        if let Some(at) = last_at {
            let elapsed = now - at;
            if elapsed < policy.cooldown {
                let left = (policy.cooldown - elapsed).num_minutes().max(1);
                return Decision::skip(
                    Skip::Cooldown {
                        at: at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
                        minutes_left: left,
                    },
                    Some(failing),
                );
            }
        }
    }

    // Rule 4: the alarm window (early detection too: a completed deployment counts only within it).
    if let Cause::Alarm { .. } | Cause::TaskFailures { .. } = &trigger.cause {
        let primary = service.primary();
        let in_progress = primary.is_some_and(|p| p.rollout == Rollout::InProgress);
        if let (Some(window), false) = (policy.alarm_window, in_progress) {
            match primary.and_then(|p| p.created_at) {
                None => return Decision::skip(Skip::DeploymentStartUnknown, Some(failing)),
                Some(started) if now - started > window => {
                    return Decision::skip(
                        Skip::OutsideWindow {
                            minutes: (now - started).num_minutes(),
                            window: window.num_minutes(),
                        },
                        Some(failing),
                    )
                }
                Some(_) => {}
            }
        }
    }

    // Rule 5 needs the history (it also tells whether ECS is rolling back, rule 3).
    let Some(history) = &snap.history else {
        return Step::Need(Need::History);
    };
    if let Ok(entries) = history {
        if let Some(entry) = entries.iter().find(|e| e.status.is_rolling_back()) {
            let why = format!("service deployment {} is {:?}", entry.arn, entry.status);
            return Decision::skip(Skip::EcsRollingBack(why), Some(failing));
        }
    }

    let dry_run = policy.dry_run || matches!(trigger.cause, Cause::Manual { dry_run: true, .. });
    let chosen = match &trigger.cause {
        Cause::Manual { to: Some(to), .. } => match requested_target(snap, to, failing) {
            Ok(c) => c,
            Err(step) => return *step,
        },
        _ => match search(snap, failing, history) {
            Ok(c) => c,
            Err(step) => return *step,
        },
    };

    // Rule 2: the service already runs the target.
    if same_task_definition(&chosen.arn, current) {
        return Decision::skip(Skip::AlreadyOnTarget(chosen.arn), Some(failing));
    }

    // Rule 6 first: ECS's own rollback of an in-flight deployment restores the source revision
    // with the digests it recorded, so it needs no pinned copy. Otherwise rule 7 pins.
    let method = stop_method(history, failing, &chosen.arn);
    let pins = match (&method, chosen.source) {
        (Method::UpdateService, Source::History) => {
            pins_for(lookup(snap, &chosen.arn), &chosen.recorded)
        }
        _ => Vec::new(),
    };
    let degraded = history.as_ref().err().map(|why| {
        format!("service-deployment history unavailable ({why}); chose from the ledger and the task-definition family")
    });
    Step::Done(Decision {
        outcome: Outcome::Rollback(RollbackPlan {
            from: failing.to_string(),
            to: chosen.arn,
            source: chosen.source,
            method,
            pins,
            mark_bad: failing.to_string(),
            dry_run,
            degraded,
        }),
        current: Some(failing.to_string()),
    })
}

/// Whether `reason` (an event's or a deployment's) says ECS itself is rolling back.
pub fn is_ecs_rollback_reason(reason: &str) -> bool {
    let r = reason.to_ascii_lowercase();
    r.contains("rolling back") || r.contains("rollback in progress")
}

fn ecs_rolling_back_in_service(service: &ServiceState) -> Option<String> {
    let primary = service.primary()?;
    if primary.rollout != Rollout::InProgress {
        return None;
    }
    service.deployments.iter().find_map(|d| {
        d.rollout_reason
            .as_deref()
            .filter(|r| is_ecs_rollback_reason(r))
            .map(str::to_string)
    })
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
        }),
    }
}

/// Two task-definition references name the same revision (ARN vs `family:rev`).
pub fn same_task_definition(a: &str, b: &str) -> bool {
    a == b
        || matches!(
            (split_task_definition(a), split_task_definition(b)),
            (Some(x), Some(y)) if x == y
        )
}

fn need(need: Need) -> Box<Step> {
    Box::new(Step::Need(need))
}

fn boxed_skip(skip: Skip, current: Option<&str>) -> Box<Step> {
    Box::new(Decision::skip(skip, current))
}

struct Chosen {
    arn: String,
    source: Source,
    recorded: Vec<RecordedImage>,
}

/// Why a revision cannot be a rollback target, if it cannot.
fn reject(revision: &Revision) -> Option<String> {
    match (revision.status, revision.ledger) {
        (_, Some(Ledger::Bad)) => Some(format!("it is marked {TAG_STATUS}=bad")),
        (RevisionStatus::Inactive, _) => Some("it is INACTIVE".into()),
        (RevisionStatus::DeleteInProgress, _) => Some("it is DELETE_IN_PROGRESS".into()),
        _ => None,
    }
}

fn requested_target(snap: &Snapshot, to: &str, failing: &str) -> Result<Chosen, Box<Step>> {
    let Some(revision) = lookup(snap, to) else {
        return Err(need(Need::Revisions(vec![to.to_string()])));
    };
    if same_task_definition(&revision.arn, failing) {
        return Err(boxed_skip(
            Skip::AlreadyOnTarget(revision.arn.clone()),
            Some(failing),
        ));
    }
    if let Some(why) = reject(revision) {
        return Err(boxed_skip(
            Skip::TargetRejected {
                target: revision.arn.clone(),
                why,
            },
            Some(failing),
        ));
    }
    Ok(Chosen {
        arn: revision.arn.clone(),
        source: Source::Requested,
        recorded: Vec::new(),
    })
}

fn lookup<'a>(snap: &'a Snapshot, name: &str) -> Option<&'a Revision> {
    snap.revisions.get(name).or_else(|| {
        snap.revisions
            .values()
            .find(|r| same_task_definition(&r.arn, name))
    })
}

/// Rule 5: history → ledger → family, skipping bad / INACTIVE / DELETE_IN_PROGRESS revisions.
fn search(snap: &Snapshot, failing: &str, history: &HistoryRead) -> Result<Chosen, Box<Step>> {
    let current = snap.service.task_definition.as_str();
    let excluded =
        |arn: &str| same_task_definition(arn, failing) || same_task_definition(arn, current);

    // (a) successful service deployments, newest first by their own timestamps.
    if let Ok(entries) = history {
        let mut successful: Vec<&HistoryEntry> = entries
            .iter()
            .filter(|e| e.status == DeploymentStatus::Successful)
            .filter(|e| {
                e.target_task_definition
                    .as_deref()
                    .is_some_and(|td| !excluded(td))
            })
            .collect();
        successful.sort_by_key(|e| std::cmp::Reverse(e.ordering_time()));
        let mut seen: Vec<&str> = Vec::new();
        for entry in successful {
            let Some(td) = entry.target_task_definition.as_deref() else {
                continue;
            };
            if seen.contains(&td) {
                continue;
            }
            seen.push(td);
            let Some(revision) = lookup(snap, td) else {
                return Err(need(Need::Revisions(vec![td.to_string()])));
            };
            if reject(revision).is_none() {
                return Ok(Chosen {
                    arn: revision.arn.clone(),
                    source: Source::History,
                    recorded: entry.target_images.clone(),
                });
            }
        }
    }

    // (b) and (c) read the failing revision's family.
    let Some((family, failing_rev)) = split_task_definition(failing) else {
        return Err(boxed_skip(
            Skip::NoCandidate(format!("{failing} is not a task-definition revision")),
            Some(failing),
        ));
    };
    let Some(arns) = &snap.family else {
        return Err(need(Need::Family(family.to_string())));
    };
    let mut older: Vec<(i32, &str)> = arns
        .iter()
        .filter_map(|arn| {
            let (f, rev) = split_task_definition(arn)?;
            (f == family && rev < failing_rev && !excluded(arn)).then_some((rev, arn.as_str()))
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
        return Err(need(Need::Revisions(missing)));
    }
    let described: Vec<&Revision> = older
        .iter()
        .filter_map(|(_, arn)| lookup(snap, arn))
        .collect();
    let pick = |source: Source, want_stable: bool| {
        described
            .iter()
            .find(|r| reject(r).is_none() && (!want_stable || r.ledger == Some(Ledger::Stable)))
            .map(|r| Chosen {
                arn: r.arn.clone(),
                source,
                recorded: Vec::new(),
            })
    };
    if let Some(chosen) = pick(Source::Ledger, true).or_else(|| pick(Source::Family, false)) {
        return Ok(chosen);
    }
    let why = if older.is_empty() {
        format!("{family} has no ACTIVE revision older than {failing_rev}")
    } else {
        format!(
            "the {} newest older revisions of {family} are all marked bad or inactive",
            older.len()
        )
    };
    Err(boxed_skip(Skip::NoCandidate(why), Some(failing)))
}

/// Rule 7: pin each image of the target that uses a mutable tag to the digest its history recorded.
fn pins_for(target: Option<&Revision>, recorded: &[RecordedImage]) -> Vec<Pin> {
    let Some(target) = target else {
        return Vec::new();
    };
    target
        .images
        .iter()
        .filter(|c| is_mutable_image(&c.image))
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

/// Rule 6: a deployment still in flight whose source is exactly the target is stopped with ROLLBACK.
fn stop_method(history: &HistoryRead, failing: &str, target: &str) -> Method {
    let Ok(entries) = history else {
        return Method::UpdateService;
    };
    // ECS rolls back to the source revision only if it once deployed successfully.
    let target_proven = entries.iter().any(|e| {
        e.status == DeploymentStatus::Successful
            && e.target_task_definition
                .as_deref()
                .is_some_and(|td| same_task_definition(td, target))
    });
    if !target_proven {
        return Method::UpdateService;
    }
    entries
        .iter()
        .find(|e| {
            e.status.is_in_flight()
                && e.target_task_definition
                    .as_deref()
                    .is_some_and(|td| same_task_definition(td, failing))
                && e.source_task_definitions.len() == 1
                && same_task_definition(&e.source_task_definitions[0], target)
        })
        .map(|e| Method::StopDeployment {
            service_deployment_arn: e.arn.clone(),
        })
        .unwrap_or(Method::UpdateService)
}

#[cfg(test)]
#[path = "decision_tests.rs"]
mod tests;
