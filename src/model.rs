//! Domain types shared by the pure decision core, the event parser and the AWS adapters.
//! Nothing here knows about the AWS SDK: adapters convert SDK responses into these types.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};

/// Every timestamp in the domain is UTC.
pub type Time = DateTime<Utc>;

/// Service tag: opt in (`true`) or out (`false`).
pub const TAG_ENABLED: &str = "ecs-rollback:enabled";
/// Task-definition tag: the ledger, `stable` or `bad`.
pub const TAG_STATUS: &str = "ecs-rollback:status";
/// Task-definition tag on a digest-pinned copy: the ARN of the revision it copies.
pub const TAG_PINNED_FROM: &str = "ecs-rollback:pinned-from";
/// Service tag: when the responder last rolled the service back (RFC 3339, UTC).
pub const TAG_LAST_ROLLBACK_AT: &str = "ecs-rollback:last-rollback-at";
/// Service tag: the task definition the last rollback moved the service to.
pub const TAG_LAST_ROLLBACK_TO: &str = "ecs-rollback:last-rollback-to";
/// Service tag: the task definition the last rollback moved the service away from.
pub const TAG_LAST_ROLLBACK_FROM: &str = "ecs-rollback:last-rollback-from";
/// Service tag: `automatic` (the responder) or `manual` (the CLI, a direct invocation).
pub const TAG_LAST_ROLLBACK_KIND: &str = "ecs-rollback:last-rollback-kind";
/// Service tag: who asked for the last rollback (a caller ARN, or `ecs-rollback`).
pub const TAG_LAST_ROLLBACK_BY: &str = "ecs-rollback:last-rollback-by";
/// Task-definition tag beside `status=bad`: the services (`cluster/service`, space-separated) the
/// failure was proven on. `bad` without it (set by hand) bans the revision everywhere.
pub const TAG_BAD_FOR: &str = "ecs-rollback:bad-for";
/// Task-definition tag: the database schema versions the revision runs against, `V` or
/// `MIN..MAX`; the highest is the version deploying it brings the database to.
pub const TAG_SCHEMA: &str = "ecs-rollback:schema";
/// Service tag: the task definition (`family` or `family:revision`) that migrates the database
/// down, run before a rollback to a revision that cannot run against the schema in force.
pub const TAG_MIGRATION: &str = "ecs-rollback:migration";
/// Service tags: the down migration the responder started (its ID — the task is started by
/// `ecs-rollback/<ID>` — when, the rollback it precedes, the version it migrates to) and its
/// result (`succeeded`, `failed: …`, `timed out`, `not continued: …`).
pub const TAG_MIGRATION_ID: &str = "ecs-rollback:migration-id";
pub const TAG_MIGRATION_AT: &str = "ecs-rollback:migration-at";
pub const TAG_MIGRATION_FROM: &str = "ecs-rollback:migration-from";
pub const TAG_MIGRATION_TO: &str = "ecs-rollback:migration-to";
pub const TAG_MIGRATION_SCHEMA: &str = "ecs-rollback:migration-schema";
pub const TAG_MIGRATION_RESULT: &str = "ecs-rollback:migration-result";
/// Service tag: `true` = the responder answers the service's pause lifecycle hooks
/// (`ContinueServiceDeployment`) with the deployment gate's verdict.
pub const TAG_PAUSE_HOOKS: &str = "ecs-rollback:pause-hooks";
/// Alarm tags naming the guarded service(s).
pub const TAG_ALARM_CLUSTER: &str = "ecs-rollback:cluster";
pub const TAG_ALARM_SERVICE: &str = "ecs-rollback:service";

/// A service named by cluster and service (names or ARNs, as ECS accepts both).
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct ServiceRef {
    pub cluster: String,
    pub service: String,
}

/// Why the responder was invoked, for one service.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Cause {
    /// `SERVICE_DEPLOYMENT_FAILED` for the ECS deployment `deployment_id` (`ecs-svc/…`).
    DeploymentFailed {
        deployment_id: String,
        reason: String,
    },
    /// `SERVICE_DEPLOYMENT_COMPLETED`.
    DeploymentCompleted { deployment_id: String },
    /// `SERVICE_DEPLOYMENT_IN_PROGRESS`: nothing to do, accepted so that a wide rule does not error.
    DeploymentInProgress { deployment_id: String },
    /// A CloudWatch alarm changed state.
    Alarm {
        name: String,
        state: AlarmState,
        reason: String,
        /// Why the alarm is thought to guard this service (rule 4 checks it against the service).
        guard: AlarmGuard,
        /// When the alarm entered its state, as CloudWatch reports it (else as the event says):
        /// an alarm older than the deployment it would act on is about an older deployment.
        since: Option<Time>,
    },
    /// Early detection: tasks of the service stopped for the revision's fault (`ECS Task State
    /// Change`), or ECS reports it cannot start them (`ECS Service Action`).
    TaskFailures {
        /// The ECS deployment the task belonged to (`startedBy: ecs-svc/…`); `None` for service actions.
        deployment_id: Option<String>,
        /// The task's task definition, when the event names it.
        task_definition: Option<String>,
        /// What happened, for people: `EssentialContainerExited (exit code 1)`, `SERVICE_TASK_START_IMPAIRED`.
        signal: String,
    },
    /// A direct invocation: an operator (or their tooling) asked for a rollback.
    Manual {
        reason: String,
        /// An explicit target (`family:revision` or ARN); `None` = the last stable revision.
        to: Option<String>,
        dry_run: bool,
        /// Rule 10: a target of another family is refused unless this is set (the CLI's
        /// `--allow-other-family`; a direct invocation can never set it).
        allow_other_family: bool,
        /// Who asked (recorded on the service): a caller ARN, or `None` for a direct invocation.
        by: Option<String>,
        /// Rule 14: the CLI's `--force` rolls back onto a revision that does not declare the schema
        /// in force (a direct invocation can never set it).
        force: bool,
    },
}

/// How an alarm was mapped to a service (rule 4: only an explicit guard triggers).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum AlarmGuard {
    /// The alarm (or a composite's child) carries `ecs-rollback:cluster` + `ecs-rollback:service`.
    Tagged,
    /// Only its `ClusterName`/`ServiceName` dimensions name the service: it guards the service only
    /// if the service lists one of these alarm names among its ECS deployment alarms.
    Dimensions { alarm_names: Vec<String> },
}

impl Cause {
    /// Automatic triggers are subject to the cooldown; a direct invocation is a deliberate request.
    pub fn is_automatic(&self) -> bool {
        !matches!(self, Cause::Manual { .. })
    }

    /// A short name of the trigger for logs, metrics and notifications.
    pub fn kind(&self) -> &'static str {
        match self {
            Cause::DeploymentFailed { .. } => "deployment_failed",
            Cause::DeploymentCompleted { .. } => "deployment_completed",
            Cause::DeploymentInProgress { .. } => "deployment_in_progress",
            Cause::Alarm { .. } => "alarm",
            Cause::TaskFailures { .. } => "task_failures",
            Cause::Manual { .. } => "manual",
        }
    }

    /// One human sentence describing the trigger.
    pub fn describe(&self) -> String {
        match self {
            Cause::DeploymentFailed {
                deployment_id,
                reason,
            } => format!("deployment {deployment_id} failed ({reason})"),
            Cause::DeploymentCompleted { deployment_id } => {
                format!("deployment {deployment_id} completed")
            }
            Cause::DeploymentInProgress { deployment_id } => {
                format!("deployment {deployment_id} is in progress")
            }
            Cause::Alarm {
                name,
                state,
                reason,
                ..
            } => {
                // CloudWatch's own reason usually ends with a period already.
                let reason = reason.trim().trim_end_matches('.');
                format!("alarm {name} is {state}: {reason}")
            }
            Cause::TaskFailures {
                deployment_id: Some(id),
                signal,
                ..
            } => format!("a task of deployment {id} stopped: {signal}"),
            Cause::TaskFailures { signal, .. } => format!("ECS reports {signal}"),
            Cause::Manual { reason, .. } => format!("manual request: {reason}"),
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AlarmState {
    Alarm,
    Ok,
    InsufficientData,
}

impl std::fmt::Display for AlarmState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            AlarmState::Alarm => "ALARM",
            AlarmState::Ok => "OK",
            AlarmState::InsufficientData => "INSUFFICIENT_DATA",
        })
    }
}

/// One service's trigger: the unit the decision core works on.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Trigger {
    pub target: ServiceRef,
    pub cause: Cause,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Controller {
    Ecs,
    CodeDeploy,
    External,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Rollout {
    InProgress,
    Completed,
    Failed,
    Unknown,
}

/// One entry of `DescribeServices` → `deployments[]`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Deployment {
    pub id: String,
    /// `PRIMARY`, `ACTIVE` or `INACTIVE`.
    pub status: String,
    pub task_definition: String,
    pub rollout: Rollout,
    pub rollout_reason: Option<String>,
    pub created_at: Option<Time>,
    pub failed_tasks: i32,
}

impl Deployment {
    pub fn is_primary(&self) -> bool {
        self.status == "PRIMARY"
    }
}

/// The service as `DescribeServices` (with tags) shows it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ServiceState {
    pub cluster_arn: String,
    pub service_arn: String,
    pub service_name: String,
    /// `ACTIVE`, `DRAINING` or `INACTIVE`.
    pub status: String,
    pub controller: Controller,
    pub task_definition: String,
    pub tags: BTreeMap<String, String>,
    pub deployments: Vec<Deployment>,
    /// `desiredCount` of the service.
    pub desired_count: i32,
    /// `deploymentConfiguration.deploymentCircuitBreaker`.
    pub circuit_breaker: Option<AutoRollback>,
    /// `deploymentConfiguration.alarms`.
    pub deployment_alarms: Option<DeploymentAlarms>,
    /// `deploymentConfiguration.strategy` (absent = `ROLLING`).
    pub strategy: Strategy,
    /// `deploymentConfiguration.bakeTimeInMinutes`.
    pub bake_time_minutes: Option<i32>,
    /// An Express Mode service (`resourceManagementType: ECS`): ECS manages it, and every update
    /// is a canary guarded by its built-in alarm.
    pub express: bool,
}

/// The circuit breaker's switches.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AutoRollback {
    pub enable: bool,
    pub rollback: bool,
    /// `thresholdConfiguration` when set: `COUNT n` or a percentage of the desired count.
    pub threshold: Option<BreakerThreshold>,
    /// `resetOnHealthyTask`: a task that reaches a healthy state resets ECS's failure count
    /// (ECS API reference, DeploymentCircuitBreaker: the default is `true`).
    pub reset_on_healthy_task: Option<bool>,
}

/// `deploymentCircuitBreaker.thresholdConfiguration` (ECS API reference, DeploymentCircuitBreaker).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BreakerThreshold {
    /// Fail after this many failed tasks.
    Count(i32),
    /// This percentage of the desired count, clamped to 3–200 (the default is 50 %).
    BoundedPercent(i32),
    /// This percentage of the desired count, unclamped.
    UnboundedPercent(i32),
}

impl AutoRollback {
    /// The failed-task count at which ECS's circuit breaker fails a deployment of `desired`
    /// tasks (ECS developer guide, "deployment circuit breaker": 50 % of the desired count,
    /// at least 3 and at most 200, unless a threshold configuration says otherwise).
    pub fn threshold_for(&self, desired: i32) -> i32 {
        let percent = |p: i32| (desired.max(0) as u64 * p.max(0) as u64).div_ceil(100) as i32;
        match self.threshold {
            Some(BreakerThreshold::Count(n)) => n.max(1),
            Some(BreakerThreshold::UnboundedPercent(p)) => percent(p).max(1),
            Some(BreakerThreshold::BoundedPercent(p)) => percent(p).clamp(3, 200),
            None => percent(50).clamp(3, 200),
        }
    }
}

/// The service's ECS deployment alarms (`deploymentConfiguration.alarms`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DeploymentAlarms {
    pub names: Vec<String>,
    pub enable: bool,
    pub rollback: bool,
}

/// `deploymentConfiguration.strategy`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default, serde::Serialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum Strategy {
    #[default]
    Rolling,
    BlueGreen,
    Linear,
    Canary,
}

impl Strategy {
    pub fn parse(s: &str) -> Self {
        match s {
            "BLUE_GREEN" => Strategy::BlueGreen,
            "LINEAR" => Strategy::Linear,
            "CANARY" => Strategy::Canary,
            _ => Strategy::Rolling,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Strategy::Rolling => "ROLLING",
            Strategy::BlueGreen => "BLUE_GREEN",
            Strategy::Linear => "LINEAR",
            Strategy::Canary => "CANARY",
        }
    }

    /// Blue/green, linear and canary keep the old revision running until the end of bake time.
    pub fn shifts_traffic(self) -> bool {
        !matches!(self, Strategy::Rolling)
    }
}

impl ServiceState {
    pub fn primary(&self) -> Option<&Deployment> {
        self.deployments.iter().find(|d| d.is_primary())
    }

    /// `cluster/service`, the key of the per-service ledger (`ecs-rollback:bad-for`).
    pub fn ledger_key(&self) -> String {
        format!("{}/{}", self.cluster_name(), self.service_name)
    }

    /// Whether `alarm` is one of the service's ECS deployment alarms.
    pub fn lists_deployment_alarm(&self, alarm: &str) -> bool {
        self.deployment_alarms
            .as_ref()
            .is_some_and(|a| a.names.iter().any(|n| n == alarm))
    }

    pub fn cluster_name(&self) -> &str {
        self.cluster_arn
            .rsplit_once('/')
            .map(|(_, name)| name)
            .unwrap_or(&self.cluster_arn)
    }
}

/// Status of an ECS service deployment (`ListServiceDeployments`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DeploymentStatus {
    Pending,
    InProgress,
    Successful,
    Stopped,
    StopRequested,
    RollbackRequested,
    RollbackInProgress,
    RollbackSuccessful,
    RollbackFailed,
    Other,
}

impl DeploymentStatus {
    pub fn parse(s: &str) -> Self {
        match s {
            "PENDING" => Self::Pending,
            "IN_PROGRESS" => Self::InProgress,
            "SUCCESSFUL" => Self::Successful,
            "STOPPED" => Self::Stopped,
            "STOP_REQUESTED" => Self::StopRequested,
            "ROLLBACK_REQUESTED" => Self::RollbackRequested,
            "ROLLBACK_IN_PROGRESS" => Self::RollbackInProgress,
            "ROLLBACK_SUCCESSFUL" => Self::RollbackSuccessful,
            "ROLLBACK_FAILED" => Self::RollbackFailed,
            _ => Self::Other,
        }
    }

    /// The ECS API's name of the status (`ROLLBACK_IN_PROGRESS`), for people.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "PENDING",
            Self::InProgress => "IN_PROGRESS",
            Self::Successful => "SUCCESSFUL",
            Self::Stopped => "STOPPED",
            Self::StopRequested => "STOP_REQUESTED",
            Self::RollbackRequested => "ROLLBACK_REQUESTED",
            Self::RollbackInProgress => "ROLLBACK_IN_PROGRESS",
            Self::RollbackSuccessful => "ROLLBACK_SUCCESSFUL",
            Self::RollbackFailed => "ROLLBACK_FAILED",
            Self::Other => "OTHER",
        }
    }

    pub fn is_rolling_back(self) -> bool {
        matches!(self, Self::RollbackRequested | Self::RollbackInProgress)
    }

    pub fn is_in_flight(self) -> bool {
        matches!(self, Self::Pending | Self::InProgress)
    }

    /// The deployment did not succeed: stopped, or rolled back (or rolling back) by ECS.
    pub fn is_unsuccessful(self) -> bool {
        matches!(
            self,
            Self::Stopped
                | Self::RollbackRequested
                | Self::RollbackInProgress
                | Self::RollbackSuccessful
                | Self::RollbackFailed
        )
    }
}

/// A container image as a service revision recorded it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RecordedImage {
    pub container: String,
    pub image: Option<String>,
    pub digest: Option<String>,
}

/// A service revision as ECS recorded it (`DescribeServiceRevisions`): the task definition, the
/// image digests ECS resolved, and the service configuration it ran with.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ServiceRevision {
    pub arn: String,
    pub task_definition: String,
    pub images: Vec<RecordedImage>,
    /// The configuration fields ECS recorded (`networkConfiguration`, `loadBalancers`, …): field
    /// name → a canonical rendering of its value, only ever compared (never shown: it may hold
    /// subnet and security-group IDs, not secrets, but people need only the field names).
    pub config: BTreeMap<String, String>,
}

impl ServiceRevision {
    /// The same revision in substance: task definition, digests and configuration.
    pub fn same_as(&self, other: &ServiceRevision) -> bool {
        if !self.arn.is_empty() && self.arn == other.arn {
            return true;
        }
        same_task_definition(&self.task_definition, &other.task_definition)
            && self.digests() == other.digests()
            && self.config == other.config
    }

    /// `container → digest` for the containers whose digest ECS recorded.
    pub fn digests(&self) -> BTreeMap<&str, &str> {
        self.images
            .iter()
            .filter_map(|i| Some((i.container.as_str(), i.digest.as_deref()?)))
            .collect()
    }

    /// Configuration fields whose value differs from `other`'s (either side may lack it).
    pub fn config_differences(&self, other: &ServiceRevision) -> Vec<String> {
        let mut keys: Vec<&String> = self.config.keys().chain(other.config.keys()).collect();
        keys.sort();
        keys.dedup();
        keys.into_iter()
            .filter(|k| self.config.get(*k) != other.config.get(*k))
            .cloned()
            .collect()
    }
}

/// One ECS service deployment with its revisions resolved to task definitions.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HistoryEntry {
    pub arn: String,
    pub status: DeploymentStatus,
    pub target_task_definition: Option<String>,
    pub target_images: Vec<RecordedImage>,
    pub source_task_definitions: Vec<String>,
    pub created_at: Option<Time>,
    pub started_at: Option<Time>,
    pub finished_at: Option<Time>,
    /// The target service revision, resolved (for successful and in-flight deployments).
    pub target: Option<ServiceRevision>,
    /// The source revisions of an in-flight deployment (what ECS restores on ROLLBACK).
    pub sources: Vec<ServiceRevision>,
    /// For a `ROLLBACK_*` deployment: the revision ECS rolled back to (`rollback.serviceRevisionArn`).
    pub rolled_back_to: Option<ServiceRevision>,
    /// `lifecycleStage` of a blue/green, linear or canary deployment in flight.
    pub lifecycle_stage: Option<String>,
    /// For a deployment ECS rolled back: why, as ECS reports it (`alarms.triggeredAlarmNames`,
    /// the circuit breaker's `failureCount` / `threshold`).
    pub ecs_why: Option<String>,
}

impl HistoryEntry {
    /// Whether this service deployment is the ECS deployment `id` (`ecs-svc/N`): its target
    /// service revision is numbered after it. `None` when the target revision is not known.
    pub fn is_deployment(&self, id: &str) -> Option<bool> {
        let target = self.target.as_ref()?;
        Some(
            id.strip_prefix("ecs-svc/")
                .is_some_and(|n| target.arn.ends_with(&format!("/{n}"))),
        )
    }

    /// The deployment's own timestamp used for ordering (newest first).
    pub fn ordering_time(&self) -> Option<Time> {
        self.finished_at.or(self.started_at).or(self.created_at)
    }

    /// The target revision: resolved, or as far as the task definition and images are known.
    pub fn resolved_target(&self) -> Option<ServiceRevision> {
        if let Some(t) = &self.target {
            return Some(t.clone());
        }
        Some(ServiceRevision {
            arn: String::new(),
            task_definition: self.target_task_definition.clone()?,
            images: self.target_images.clone(),
            config: BTreeMap::new(),
        })
    }

    /// A bare entry (tests and adapters fill the rest).
    pub fn new(arn: impl Into<String>, status: DeploymentStatus) -> Self {
        HistoryEntry {
            arn: arn.into(),
            status,
            target_task_definition: None,
            target_images: Vec::new(),
            source_task_definitions: Vec::new(),
            created_at: None,
            started_at: None,
            finished_at: None,
            target: None,
            sources: Vec::new(),
            rolled_back_to: None,
            lifecycle_stage: None,
            ecs_why: None,
        }
    }
}

/// A stopped task of a deployment, as `DescribeTasks` shows it (early detection counts these).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TaskStop {
    pub task_arn: String,
    pub stop_code: String,
    pub stopped_reason: String,
    pub container_reasons: Vec<String>,
}

/// The result of reading the service-deployment history. `Err` carries why it is unavailable:
/// the search then falls back to the ledger and the family (rule 5).
pub type HistoryRead = Result<Vec<HistoryEntry>, String>;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RevisionStatus {
    Active,
    Inactive,
    DeleteInProgress,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Ledger {
    Stable,
    Bad,
}

/// A container of a task definition: name and image only (never the environment or secrets).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ContainerImage {
    pub container: String,
    pub image: String,
}

/// What the core needs to know of one task-definition revision.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Revision {
    pub arn: String,
    pub family: String,
    pub revision: i32,
    pub status: RevisionStatus,
    pub ledger: Option<Ledger>,
    /// `ecs-rollback:bad-for`: where a `bad` was proven (`cluster/service`); empty = everywhere.
    pub bad_for: Vec<String>,
    pub images: Vec<ContainerImage>,
    /// `ecs-rollback:pinned-from`: this revision is our copy of that one (pinned to digests, or
    /// restoring an INACTIVE revision) and is the same revision for identity.
    pub pinned_from: Option<String>,
    /// `ecs-rollback:schema`: the schema versions it declares it runs against (`None` = none
    /// declared; `Some(Err)` = declared but unreadable, which runs against nothing).
    pub schema: Option<Result<SchemaRange, String>>,
}

impl Revision {
    /// The revision this one stands for: its source when it is our copy, else itself.
    pub fn identity(&self) -> &str {
        self.pinned_from.as_deref().unwrap_or(&self.arn)
    }

    /// Marked bad for this service (`ledger_key` = `cluster/service`): a `bad` without
    /// `bad-for` (set by hand) counts everywhere; one proven on other services only is a warning.
    pub fn is_bad_for(&self, ledger_key: &str) -> bool {
        self.ledger == Some(Ledger::Bad)
            && (self.bad_for.is_empty() || self.bad_for.iter().any(|k| k == ledger_key))
    }

    /// Marked bad, but for other services only.
    pub fn bad_elsewhere(&self, ledger_key: &str) -> bool {
        self.ledger == Some(Ledger::Bad) && !self.is_bad_for(ledger_key)
    }
}

/// `family` and `revision` of a task-definition ARN or `family:revision`.
pub fn split_task_definition(arn_or_name: &str) -> Option<(&str, i32)> {
    let tail = arn_or_name
        .rsplit_once(":task-definition/")
        .map(|(_, t)| t)
        .unwrap_or(arn_or_name);
    let (family, rev) = tail.rsplit_once(':')?;
    let rev: i32 = rev.parse().ok()?;
    if family.is_empty() || family.contains('/') || rev < 1 {
        return None;
    }
    Some((family, rev))
}

/// A text (who asked, a migration's result) as an ECS tag value can hold it: letters, digits,
/// spaces and `+ - = . _ : / @`, at most 256 characters (ECS TagResource); anything else
/// becomes `_`.
pub fn tag_safe(who: &str) -> String {
    who.chars()
        .map(|c| {
            if c.is_alphanumeric() || " +-=._:/@".contains(c) {
                c
            } else {
                '_'
            }
        })
        .take(256)
        .collect()
}

/// Two task-definition references name the same revision (ARN vs `family:rev`).
pub fn same_task_definition(a: &str, b: &str) -> bool {
    a == b
        || matches!(
            (split_task_definition(a), split_task_definition(b)),
            (Some(x), Some(y)) if x == y
        )
}

/// `family:revision` for display.
pub fn short_task_definition(arn: &str) -> String {
    match split_task_definition(arn) {
        Some((family, rev)) => format!("{family}:{rev}"),
        None => arn.to_string(),
    }
}

/// The tag part of an image reference (`repo:tag`), if it has one and is not pinned by digest.
pub fn image_tag(image: &str) -> Option<&str> {
    if image.contains('@') {
        return None;
    }
    let last = image.rsplit('/').next().unwrap_or(image);
    last.rsplit_once(':').map(|(_, tag)| tag)
}

/// Whether an image reference may point at different images over time: no tag (implicitly
/// `latest`) or a tag that is not unique-looking. Unique-looking: a git SHA (7–64 hex digits) or
/// a full semantic version (`1.4.2`, `v1.4.2-rc.1`). Digest references are never mutable.
pub fn is_mutable_image(image: &str) -> bool {
    if image.contains('@') {
        return false;
    }
    let Some(tag) = image_tag(image) else {
        return true;
    };
    let git_sha = (7..=64).contains(&tag.len()) && tag.bytes().all(|b| b.is_ascii_hexdigit());
    let core = tag.strip_prefix('v').unwrap_or(tag);
    let core = core.split(['-', '+']).next().unwrap_or(core);
    let parts: Vec<&str> = core.split('.').collect();
    let semver = parts.len() == 3
        && parts
            .iter()
            .all(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()));
    !(git_sha || semver)
}

/// `repo` of `repo:tag` or `repo@digest`.
pub fn image_repository(image: &str) -> &str {
    if let Some((repo, _)) = image.split_once('@') {
        return repo;
    }
    let slash = image.rfind('/').map(|i| i + 1).unwrap_or(0);
    match image[slash..].rfind(':') {
        Some(colon) => &image[..slash + colon],
        None => image,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn task_definition_names_split() {
        let cases: &[(&str, Option<(&str, i32)>)] = &[
            (
                "arn:aws:ecs:eu-west-1:123456789012:task-definition/hello-world:4",
                Some(("hello-world", 4)),
            ),
            ("hello-world:12", Some(("hello-world", 12))),
            ("hello-world", None),
            ("hello-world:x", None),
            ("hello-world:0", None),
            (":3", None),
        ];
        for (input, want) in cases {
            assert_eq!(split_task_definition(input), *want, "{input}");
        }
    }

    #[test]
    fn mutable_tags_are_recognised() {
        let cases: &[(&str, bool)] = &[
            ("repo/app:latest", true),
            ("repo/app", true),
            ("repo/app:main", true),
            ("repo/app:v1", true),
            ("repo/app:1.4", true),
            ("repo/app:4f2a9c1", false),
            ("repo/app:4f2a9c1e8d7b6a5f4e3d2c1b0a9f8e7d6c5b4a3f", false),
            ("repo/app:1.4.2", false),
            ("repo/app:v1.4.2-rc.1", false),
            ("repo/app@sha256:abc", false),
            ("localhost:5000/app", true),
        ];
        for (image, want) in cases {
            assert_eq!(is_mutable_image(image), *want, "{image}");
        }
    }

    #[test]
    fn image_references_split() {
        let cases: &[(&str, &str, Option<&str>)] = &[
            ("nginx", "nginx", None),
            ("nginx:latest", "nginx", Some("latest")),
            (
                "localhost:5000/team/app:4f2a9c1",
                "localhost:5000/team/app",
                Some("4f2a9c1"),
            ),
            ("localhost:5000/team/app", "localhost:5000/team/app", None),
            (
                "123456789012.dkr.ecr.eu-west-1.amazonaws.com/app@sha256:abc",
                "123456789012.dkr.ecr.eu-west-1.amazonaws.com/app",
                None,
            ),
        ];
        for (image, repo, tag) in cases {
            assert_eq!(image_repository(image), *repo, "{image}");
            assert_eq!(image_tag(image), *tag, "{image}");
        }
    }
}

/// One service deployment as `DescribeServiceDeployments` shows it, for the deployment gate and
/// the CLI's `status`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ServiceDeploymentInfo {
    pub arn: String,
    pub status: DeploymentStatus,
    pub created_at: Option<Time>,
    pub started_at: Option<Time>,
    /// `lifecycleStage` (traffic-shifting strategies).
    pub lifecycle_stage: Option<String>,
    /// `deploymentConfiguration.strategy` of this deployment.
    pub strategy: Strategy,
    pub target_revision: Option<String>,
    pub source_revisions: Vec<String>,
    /// `lifecycleHookDetails[]`: `(targetArn, status)` — the hooks' last verdicts as ECS keeps them.
    pub hooks: Vec<(String, String)>,
    /// The IDs of the pause hooks holding the deployment now (`AWAITING_ACTION`).
    pub awaiting: Vec<String>,
    /// `deploymentCircuitBreaker`: `(failureCount, threshold)` when ECS reports them.
    pub breaker: Option<(i32, i32)>,
    /// `alarms.triggeredAlarmNames`: the deployment alarms that made ECS roll it back.
    pub triggered_alarms: Vec<String>,
}

/// A database schema version as a migration tool names it. Versions made of numbers (`6`,
/// `20261201120000`, Flyway's `1.2.3` or `1_2_3`) are ordered number by number; any other
/// version (an Alembic revision ID) only equals itself.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SchemaVersion(String);

impl SchemaVersion {
    pub fn parse(text: &str) -> Result<Self, String> {
        let v = text.trim();
        if v.is_empty() {
            return Err("the version is empty".into());
        }
        if v.len() > 100 || v.chars().any(|c| c.is_whitespace() || c.is_control()) {
            return Err(format!("{v:?} is not a schema version"));
        }
        Ok(SchemaVersion(v.to_string()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    fn numbers(&self) -> Option<Vec<u128>> {
        let text = self.0.strip_prefix(['v', 'V']).unwrap_or(&self.0);
        text.split(['.', '_'])
            .map(|part| part.parse::<u128>().ok())
            .collect()
    }

    /// The order of two versions, when both are made of numbers (`1.2` = `1.2.0`).
    pub fn compare(&self, other: &SchemaVersion) -> Option<std::cmp::Ordering> {
        if self.0 == other.0 {
            return Some(std::cmp::Ordering::Equal);
        }
        let (mut a, mut b) = (self.numbers()?, other.numbers()?);
        let len = a.len().max(b.len());
        a.resize(len, 0);
        b.resize(len, 0);
        Some(a.cmp(&b))
    }
}

impl std::fmt::Display for SchemaVersion {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// What a revision declares with `ecs-rollback:schema`: `V` (exactly that version) or
/// `MIN..MAX` (every version from MIN to MAX; both must be numbers). `MAX` is the version its
/// deployment brings the database to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SchemaRange {
    pub min: SchemaVersion,
    pub max: SchemaVersion,
}

impl SchemaRange {
    pub fn parse(text: &str) -> Result<Self, String> {
        let Some((min, max)) = text.split_once("..") else {
            let v = SchemaVersion::parse(text)?;
            return Ok(SchemaRange {
                min: v.clone(),
                max: v,
            });
        };
        let (min, max) = (SchemaVersion::parse(min)?, SchemaVersion::parse(max)?);
        match min.compare(&max) {
            None => Err(format!(
                "{:?}: a range needs versions made of numbers (write a single version otherwise)",
                text.trim()
            )),
            Some(std::cmp::Ordering::Greater) => Err(format!(
                "{:?}: the range's first version is above its last",
                text.trim()
            )),
            Some(_) => Ok(SchemaRange { min, max }),
        }
    }

    /// Whether a revision declaring this range runs against the schema `version`.
    pub fn accepts(&self, version: &SchemaVersion) -> bool {
        use std::cmp::Ordering::*;
        if self.min == self.max {
            return self.min.compare(version) == Some(Equal);
        }
        matches!(self.min.compare(version), Some(Less | Equal))
            && matches!(self.max.compare(version), Some(Greater | Equal))
    }
}

impl std::fmt::Display for SchemaRange {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.min == self.max {
            write!(f, "{}", self.max)
        } else {
            write!(f, "{}..{}", self.min, self.max)
        }
    }
}

/// The down migration the responder started for a service (its service tags), if any.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MigrationRecord {
    /// Written before the task is started; the task's `startedBy` is `ecs-rollback/<id>`.
    pub id: String,
    pub at: Option<Time>,
    /// The failing task definition the rollback leaves (`family:revision`).
    pub from: String,
    /// The task definition the rollback restores once the migration succeeded.
    pub to: String,
    /// The schema version the migration brings the database to.
    pub schema: String,
    /// `None` while it runs; `succeeded`, `failed: …` or `timed out` once it ended.
    pub result: Option<String>,
}

impl MigrationRecord {
    /// The record in a service's tags (all of task, from, to and schema, or none).
    pub fn from_tags(tags: &BTreeMap<String, String>) -> Option<Self> {
        let get = |k: &str| {
            tags.get(k)
                .map(|v| v.trim().to_string())
                .filter(|v| !v.is_empty())
        };
        Some(MigrationRecord {
            id: get(TAG_MIGRATION_ID)?,
            at: get(TAG_MIGRATION_AT).and_then(|v| {
                DateTime::parse_from_rfc3339(&v)
                    .ok()
                    .map(|t| t.with_timezone(&Utc))
            }),
            from: get(TAG_MIGRATION_FROM)?,
            to: get(TAG_MIGRATION_TO)?,
            schema: get(TAG_MIGRATION_SCHEMA)?,
            result: get(TAG_MIGRATION_RESULT),
        })
    }

    pub fn running(&self) -> bool {
        self.result.is_none()
    }

    pub fn succeeded(&self) -> bool {
        self.result.as_deref() == Some("succeeded")
    }
}

#[cfg(test)]
mod schema_tests {
    use super::*;

    fn v(s: &str) -> SchemaVersion {
        SchemaVersion::parse(s).unwrap()
    }

    #[test]
    fn versions_of_numbers_are_ordered_and_others_only_equal_themselves() {
        use std::cmp::Ordering::*;
        let cases = [
            ("6", "5", Some(Greater)),
            ("10", "9", Some(Greater)),
            ("1.2.3", "1.10", Some(Less)),
            ("1.2", "1.2.0", Some(Equal)),
            ("1_2_3", "1.2.3", Some(Equal)),
            ("v7", "6", Some(Greater)),
            ("20261201120000", "20261130090000", Some(Greater)),
            ("ae1027a6acf", "ae1027a6acf", Some(Equal)),
            ("ae1027a6acf", "27c6a30d7c24", None),
            ("ae1027a6acf", "5", None),
        ];
        for (a, b, want) in cases {
            assert_eq!(v(a).compare(&v(b)), want, "{a} vs {b}");
        }
    }

    #[test]
    fn ranges_accept_what_they_declare() {
        let cases = [
            ("6", "6", true),
            ("6", "5", false),
            ("6", "7", false),
            ("5..7", "6", true),
            ("5..7", "5", true),
            ("5..7", "7", true),
            ("5..7", "8", false),
            ("5..7", "4", false),
            ("ae1027a6acf", "ae1027a6acf", true),
            ("ae1027a6acf", "5", false),
            ("1.2..1.4", "1.3.9", true),
        ];
        for (range, version, want) in cases {
            let r = SchemaRange::parse(range).unwrap();
            assert_eq!(r.accepts(&v(version)), want, "{range} accepts {version}");
        }
    }

    #[test]
    fn unreadable_declarations_name_the_problem() {
        for (text, says) in [
            ("", "empty"),
            ("7..5", "above its last"),
            ("abc..def", "made of numbers"),
            ("5 6", "not a schema version"),
        ] {
            let err = SchemaRange::parse(text).unwrap_err();
            assert!(err.contains(says), "{text:?}: {err}");
        }
        assert_eq!(SchemaRange::parse("5..7").unwrap().to_string(), "5..7");
        assert_eq!(SchemaRange::parse(" 6 ").unwrap().to_string(), "6");
    }
}

/// The `startedBy` of a down-migration task the responder starts: `ecs-rollback/<id>`.
pub const MIGRATION_STARTED_BY: &str = "ecs-rollback/";
/// The task group of a down-migration task: `ecs-rollback:<service name>`.
pub const MIGRATION_GROUP: &str = "ecs-rollback:";

/// A down-migration task as `DescribeTasks` shows it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MigrationTask {
    pub task_arn: String,
    pub last_status: String,
    pub started_by: Option<String>,
    pub stop_code: Option<String>,
    pub stopped_reason: Option<String>,
    /// Each container's name and exit code (`None`: it never ran to an exit).
    pub exit_codes: Vec<(String, Option<i32>)>,
    pub stopped_at: Option<Time>,
}

impl MigrationTask {
    /// The migration ID in `startedBy`, when the responder started it.
    pub fn migration_id(&self) -> Option<&str> {
        self.started_by
            .as_deref()?
            .strip_prefix(MIGRATION_STARTED_BY)
    }
}
