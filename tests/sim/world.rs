//! The simulated account: one ECS cluster with its services, task definitions, service
//! deployments and revisions, stopped tasks, CloudWatch alarms and the SNS topic. Every SDK
//! answer the handler gets is computed from this one state (see `mocks.rs`); the clock only moves
//! when the driver advances it.

use std::collections::{BTreeMap, BTreeSet};

use chrono::{DateTime, Duration, TimeZone, Utc};
use serde_json::Value;

pub type Time = DateTime<Utc>;

pub const ACCOUNT: &str = "123456789012";
pub const REGION: &str = "eu-west-1";
pub const CLUSTER: &str = "demo";
pub const CLUSTER_ARN: &str = "arn:aws:ecs:eu-west-1:123456789012:cluster/demo";
pub const FAMILY: &str = "app";
pub const LAMBDA_ARN: &str = "arn:aws:lambda:eu-west-1:123456789012:function:ecs-rollback";
pub const TOPIC: &str = "arn:aws:sns:eu-west-1:123456789012:ecs-rollback";
pub const PERSON: &str = "arn:aws:iam::123456789012:user/alice";

pub fn td_arn(rev: u32) -> String {
    format!("arn:aws:ecs:{REGION}:{ACCOUNT}:task-definition/{FAMILY}:{rev}")
}
pub fn service_arn(name: &str) -> String {
    format!("arn:aws:ecs:{REGION}:{ACCOUNT}:service/{CLUSTER}/{name}")
}
pub fn alarm_arn(name: &str) -> String {
    format!("arn:aws:cloudwatch:{REGION}:{ACCOUNT}:alarm:{name}")
}
pub fn t0() -> Time {
    Utc.with_ymd_and_hms(2026, 11, 26, 10, 0, 0).unwrap()
}
pub fn short(arn: &str) -> &str {
    arn.rsplit('/').next().unwrap_or(arn)
}
/// The revision number of a task-definition ARN or `family:rev`.
pub fn rev_of(name: &str) -> Option<u32> {
    name.rsplit(':').next()?.parse().ok()
}

/// Ground truth of a (image digest, service configuration): how its tasks behave.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Kind {
    Healthy,
    CrashAtStart,
    StartThenCrash,
    HealthCheckFail,
    AlarmOnly,
}

impl Kind {
    pub fn is_bad(self) -> bool {
        self != Kind::Healthy
    }
    /// Whether its tasks fail (ECS can see it); `AlarmOnly` tasks run fine.
    pub fn tasks_fail(self) -> bool {
        matches!(
            self,
            Kind::CrashAtStart | Kind::StartThenCrash | Kind::HealthCheckFail
        )
    }
}

/// What a deployment runs: the image digest ECS resolved and the service configuration.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Content {
    pub digest: String,
    pub config: u32,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Strategy {
    Rolling,
    BlueGreen,
}

#[derive(Clone, Debug)]
pub struct TaskDef {
    pub rev: u32,
    pub image: String,
    pub active: bool,
    pub tags: BTreeMap<String, String>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Rollout {
    InProgress,
    Completed,
    Failed,
}

/// One entry of `DescribeServices` `deployments[]`.
#[derive(Clone, Debug)]
pub struct Dep {
    pub id: String,
    pub primary: bool,
    pub td: String,
    pub rollout: Rollout,
    pub reason: Option<String>,
    pub created_at: Time,
    /// When its current rollout (or ECS's restore of it) began.
    pub since: Time,
    pub failed_tasks: i32,
    pub content: Content,
    /// Index into `World::sds` of the service deployment that introduced it.
    pub sd: usize,
    /// Health-check kills a healthy rollout of a large service still sees (noise).
    pub noise: u32,
    pub stops: u32,
    /// Set while ECS restores this deployment: the index of the service deployment rolled back.
    pub restoring_for: Option<usize>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SdStatus {
    InProgress,
    Successful,
    Stopped,
    Failed,
    RollbackInProgress,
    RollbackSuccessful,
}

impl SdStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            SdStatus::InProgress => "IN_PROGRESS",
            SdStatus::Successful => "SUCCESSFUL",
            SdStatus::Stopped => "STOPPED",
            SdStatus::Failed => "ROLLBACK_FAILED",
            SdStatus::RollbackInProgress => "ROLLBACK_IN_PROGRESS",
            SdStatus::RollbackSuccessful => "ROLLBACK_SUCCESSFUL",
        }
    }
}

/// A service deployment (`ListServiceDeployments` / `DescribeServiceDeployments`).
#[derive(Clone, Debug)]
pub struct Sd {
    pub arn: String,
    pub service: String,
    pub status: SdStatus,
    pub target_rev: String,
    pub sources: Vec<String>,
    pub created: Time,
    pub finished: Option<Time>,
    pub rollback_to: Option<String>,
    pub dep_id: String,
    pub strategy: Strategy,
}

/// A service revision (`DescribeServiceRevisions`).
#[derive(Clone, Debug)]
pub struct Rev {
    pub arn: String,
    pub td: String,
    pub image: String,
    pub digest: String,
    pub config: u32,
}

#[derive(Clone, Debug)]
pub struct StoppedTask {
    pub arn: String,
    pub started_by: String,
    pub td: String,
    pub stop_code: &'static str,
    pub reason: String,
    pub container_reason: Option<String>,
    pub exit_code: Option<i32>,
    pub stopped_at: Time,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AlarmState {
    Ok,
    Alarm,
}

#[derive(Clone, Debug)]
pub struct Alarm {
    pub name: String,
    pub service: String,
    /// Guards its service by tags; else by dimensions + the service's deployment alarms.
    pub tagged: bool,
    pub state: AlarmState,
    pub transitioned: Time,
    pub clean_since: Option<Time>,
    pub breach_since: Option<Time>,
    /// Downstream outages unrelated to any revision: [start, end).
    pub flaps: Vec<(Time, Time)>,
}

#[derive(Clone, Debug)]
pub struct Svc {
    pub name: String,
    pub desired: i32,
    pub strategy: Strategy,
    pub bake_minutes: i64,
    /// deploymentCircuitBreaker {enable, rollback}.
    pub breaker: Option<(bool, bool)>,
    /// deploymentConfiguration.alarms {enable, rollback} listing the service's alarm.
    pub deployment_alarms: Option<(bool, bool)>,
    /// Circuit-breaker thresholdConfiguration {type: COUNT, value}.
    pub breaker_count: Option<i32>,
    pub tags: BTreeMap<String, String>,
    pub td: String,
    pub config: u32,
    /// Newest first.
    pub deps: Vec<Dep>,
    pub next_rev: u32,
    /// Its database's schema version (moved forward by a migrating deployment).
    pub schema: u32,
}

impl Svc {
    pub fn primary(&self) -> Option<&Dep> {
        self.deps.iter().find(|d| d.primary)
    }
    pub fn primary_mut(&mut self) -> Option<&mut Dep> {
        self.deps.iter_mut().find(|d| d.primary)
    }
    /// ECS developer guide, "deployment circuit breaker": the failure threshold is half the
    /// desired count, at least 3 and at most 200.
    pub fn breaker_threshold(&self) -> i32 {
        // (2026-07) thresholdConfiguration COUNT overrides the default percentage.
        self.breaker_count
            .unwrap_or_else(|| ((self.desired + 1) / 2).clamp(3, 200))
    }
}

/// What an emitted event is about, for the invariants.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum About {
    DeploymentFailed { dep: String },
    DeploymentCompleted { dep: String },
    DeploymentInProgress { dep: String },
    Alarm { state: AlarmState },
    TaskStopped { dep: String },
}

#[derive(Clone, Debug)]
pub struct Emitted {
    pub id: usize,
    pub service: String,
    pub about: About,
    /// The transition or occurrence time the event states.
    pub at: Time,
    pub payload: Value,
}

/// One write a handler invocation made (after it took effect).
#[derive(Clone, Debug)]
pub struct WriteRec {
    pub at: Time,
    pub invocation: usize,
    pub op: &'static str,
    pub resource: String,
    pub detail: String,
    /// For a rollback write: the target task definition and its tags at the time of the write.
    pub target: Option<(String, BTreeMap<String, String>)>,
    /// For a rollback write: the content the service will run, and the deployment it changed.
    pub content: Option<Content>,
    pub changed: Option<(String, Time)>,
}

#[derive(Clone, Debug, Default)]
pub struct World {
    pub now: Time,
    /// The schema the revisions registered before any deployment declare.
    pub schema: u32,
    pub svcs: Vec<Svc>,
    pub tds: Vec<TaskDef>,
    pub registry: BTreeMap<String, String>,
    pub digest_kind: BTreeMap<String, Kind>,
    pub config_kind: BTreeMap<u32, Kind>,
    pub sds: Vec<Sd>,
    pub revs: Vec<Rev>,
    pub tasks: Vec<StoppedTask>,
    pub alarms: Vec<Alarm>,
    pub published: Vec<String>,
    pub outbox: Vec<Emitted>,
    pub emitted: usize,
    pub next_dep: u64,
    pub next_config: u32,
    pub next_digest: u32,
    /// Contents that completed a deployment, per service.
    pub proven: BTreeSet<(String, Content)>,
    /// Contents seen failing (a deployment FAILED, rolled back, or marked bad): the handler can
    /// know they are bad.
    pub evidently_bad: BTreeSet<Content>,
    // Faults and the current invocation.
    pub throttles: BTreeMap<&'static str, u32>,
    pub kill_after: Option<u32>,
    pub inv_writes: u32,
    pub killed: bool,
    pub invocation: usize,
    pub writes: Vec<WriteRec>,
    /// Calls per operation (all invocations).
    pub calls: BTreeMap<&'static str, u64>,
    /// ListServiceDeployments is eventually consistent: deployments younger than this are not
    /// listed yet.
    pub history_lag: Duration,
    /// ECS rollbacks (circuit breaker, deployment alarms) that ECS started on its own.
    pub ecs_restores: u32,
}

/// Documented timings the world runs on (minutes).
pub mod timing {
    /// A healthy task is launched, passes its health-check grace period and the target group's
    /// healthy threshold (ELB guide: HealthCheckIntervalSeconds 30 × HealthyThresholdCount 5 =
    /// 2.5 min) and ECS drains the old tasks (deregistration delay): a rolling deployment
    /// completes in about 5 minutes.
    pub const ROLLING_COMPLETE: i64 = 5;
    /// Blue/green: green healthy and test traffic shifted after about 3 minutes (ECS developer
    /// guide, "blue/green deployments"), then the bake time.
    pub const BG_SHIFT: i64 = 3;
    /// A task that cannot start fails within about a minute (ECS developer guide, "stopped tasks
    /// error codes": TaskFailedToStart after the image pull / container create).
    pub const CRASH_AT_START_PERIOD: i64 = 1;
    /// A task that starts then exits: running ~2 minutes.
    pub const START_THEN_CRASH_PERIOD: i64 = 2;
    /// Health-check kill: grace period 60 s + interval 30 s × unhealthy threshold 2 (ELB guide,
    /// "target group health checks") ≈ 3 minutes.
    pub const HEALTH_CHECK_PERIOD: i64 = 3;
    /// CloudWatch alarm with period 60 s × 3 evaluation periods (CloudWatch user guide,
    /// "evaluating an alarm").
    pub const ALARM_AFTER: i64 = 3;
    /// ALARM → OK after 2 clean datapoints.
    pub const ALARM_CLEAR: i64 = 2;
    /// An ECS rollback (circuit breaker, deployment alarms, StopServiceDeployment) completes in
    /// about 2 minutes: the old tasks still run.
    pub const RESTORE_COMPLETE: i64 = 2;
    /// ECS developer guide, "service throttle logic": a service whose tasks keep failing is
    /// throttled; the simulator stops its failures after this long.
    pub const FAILING_FOR: i64 = 40;
    /// Stopped-task events emitted per deployment at most (the rest only count).
    pub const MAX_STOP_EVENTS: u32 = 4;
}

impl World {
    pub fn new() -> World {
        World {
            now: t0(),
            next_dep: 1_000_000_000_000_000_000,
            next_config: 1,
            next_digest: 1,
            ..World::default()
        }
    }

    pub fn svc(&self, name: &str) -> &Svc {
        self.svcs.iter().find(|s| s.name == name).expect("service")
    }
    pub fn svc_mut(&mut self, name: &str) -> &mut Svc {
        self.svcs
            .iter_mut()
            .find(|s| s.name == name)
            .expect("service")
    }
    pub fn td(&self, name: &str) -> Option<&TaskDef> {
        let rev = rev_of(name)?;
        self.tds.get(rev.checked_sub(1)? as usize)
    }
    pub fn td_mut(&mut self, name: &str) -> Option<&mut TaskDef> {
        let rev = rev_of(name)?;
        self.tds.get_mut(rev.checked_sub(1)? as usize)
    }

    pub fn new_digest(&mut self, kind: Kind) -> String {
        let n = self.next_digest;
        self.next_digest += 1;
        let d = format!("sha256:{n:0>64}");
        self.digest_kind.insert(d.clone(), kind);
        d
    }
    pub fn new_config(&mut self, kind: Kind) -> u32 {
        let n = self.next_config;
        self.next_config += 1;
        self.config_kind.insert(n, kind);
        n
    }
    /// The ground truth of a content: a bad image is bad whatever the configuration.
    pub fn kind(&self, c: &Content) -> Kind {
        match self.digest_kind.get(&c.digest).copied() {
            Some(k) if k.is_bad() => k,
            _ => self
                .config_kind
                .get(&c.config)
                .copied()
                .unwrap_or(Kind::Healthy),
        }
    }
    /// The digest an image reference resolves to now (a digest reference is itself; a tag is
    /// what the registry points it at).
    pub fn resolve(&self, image: &str) -> String {
        match image.split_once('@') {
            Some((_, d)) => d.to_string(),
            None => self.registry.get(image).cloned().unwrap_or_default(),
        }
    }

    pub fn register(&mut self, image: &str, tags: BTreeMap<String, String>) -> String {
        let rev = self.tds.len() as u32 + 1;
        // Every revision declares a schema (the service's, or the initial one).
        let mut tags = tags;
        tags.entry("ecs-rollback:schema".to_string())
            .or_insert_with(|| self.schema.to_string());
        self.tds.push(TaskDef {
            rev,
            image: image.to_string(),
            active: true,
            tags,
        });
        td_arn(rev)
    }

    fn emit(&mut self, service: &str, about: About, at: Time, payload: Value) {
        let id = self.emitted;
        self.emitted += 1;
        self.outbox.push(Emitted {
            id,
            service: service.to_string(),
            about,
            at,
            payload,
        });
    }

    pub fn new_dep_id(&mut self) -> String {
        self.next_dep += 7_919;
        format!("ecs-svc/{}", self.next_dep)
    }

    /// ECS API reference, UpdateService: a new task definition, network configuration or
    /// `forceNewDeployment` starts a new PRIMARY deployment at once; the old primary becomes
    /// ACTIVE, and an older service deployment still in flight is stopped. Answers the new
    /// deployment id, or `None` when nothing started.
    pub fn start_deployment(
        &mut self,
        svc: &str,
        td: &str,
        config: Option<u32>,
        force: bool,
    ) -> Option<String> {
        let now = self.now;
        let image = self.td(td).map(|t| t.image.clone()).unwrap_or_default();
        let digest = self.resolve(&image);
        let s = self.svc(svc).clone();
        let config = config.unwrap_or(s.config);
        if !force && s.td == td && s.config == config {
            return None;
        }
        let content = Content { digest, config };
        let id = self.new_dep_id();
        let rev_n = self.revs.len() + 1;
        let rev =
            format!("arn:aws:ecs:{REGION}:{ACCOUNT}:service-revision/{CLUSTER}/{svc}/{rev_n}");
        self.revs.push(Rev {
            arn: rev.clone(),
            td: td.to_string(),
            image,
            digest: content.digest.clone(),
            config,
        });
        // ECS API reference, ServiceDeployment.sourceServiceRevisions: the revisions running.
        let sources: Vec<String> = s
            .deps
            .iter()
            .map(|d| self.sds[d.sd].target_rev.clone())
            .collect();
        // ECS developer guide, "view service history": a newer deployment stops the one in flight.
        for d in &s.deps {
            let sd = &mut self.sds[d.sd];
            // A rollback ECS had in flight ends too (modelled as STOPPED; undocumented).
            if matches!(
                sd.status,
                SdStatus::InProgress | SdStatus::RollbackInProgress
            ) {
                sd.status = SdStatus::Stopped;
                sd.finished = Some(now);
            }
        }
        let sd_n = self.sds.len() + 1;
        self.sds.push(Sd {
            arn: format!(
                "arn:aws:ecs:{REGION}:{ACCOUNT}:service-deployment/{CLUSTER}/{svc}/{sd_n}"
            ),
            service: svc.to_string(),
            status: SdStatus::InProgress,
            target_rev: rev,
            sources,
            created: now,
            finished: None,
            rollback_to: None,
            dep_id: id.clone(),
            strategy: s.strategy,
        });
        let noise = if self.kind(&content) == Kind::Healthy && s.desired >= 40 {
            (s.desired / 40) as u32
        } else {
            0
        };
        let sd = self.sds.len() - 1;
        let s = self.svc_mut(svc);
        for d in &mut s.deps {
            d.primary = false;
            d.restoring_for = None;
        }
        s.deps.insert(
            0,
            Dep {
                id: id.clone(),
                primary: true,
                td: td.to_string(),
                rollout: Rollout::InProgress,
                reason: None,
                created_at: now,
                since: now,
                failed_tasks: 0,
                content,
                sd,
                noise,
                stops: 0,
                restoring_for: None,
            },
        );
        s.td = td.to_string();
        s.config = config;
        Some(id)
    }

    /// ECS rolls a failing deployment back to the last completed one (developer guide,
    /// "deployment circuit breaker": the last COMPLETED deployment goes back to IN_PROGRESS,
    /// keeping its id and createdAt; no new deployment). `why` is ECS's reason prefix.
    pub fn ecs_restore(&mut self, svc: &str, why: &str, by_stop: bool) -> bool {
        let now = self.now;
        let s = self.svc(svc).clone();
        let Some(fi) = s.deps.iter().position(|d| d.primary) else {
            return false;
        };
        let failed_sd = s.deps[fi].sd;
        let Some(ri) = s
            .deps
            .iter()
            .position(|d| !d.primary && d.rollout == Rollout::Completed)
        else {
            return false;
        };
        let restored_rev = self.sds[s.deps[ri].sd].target_rev.clone();
        let restored_id = s.deps[ri].id.clone();
        let sd = &mut self.sds[failed_sd];
        sd.status = SdStatus::RollbackInProgress;
        sd.rollback_to = Some(restored_rev);
        self.evidently_bad.insert(s.deps[fi].content.clone());
        let failed_id = s.deps[fi].id.clone();
        let s = self.svc_mut(svc);
        {
            let f = &mut s.deps[fi];
            f.primary = false;
            f.rollout = Rollout::Failed;
            if !by_stop {
                f.reason = Some(format!("{why}: tasks failed to start."));
            } else {
                f.reason = Some("Service deployment stopped: rolling back.".into());
            }
        }
        let r = &mut s.deps[ri];
        r.primary = true;
        r.rollout = Rollout::InProgress;
        r.since = now;
        r.restoring_for = Some(failed_sd);
        r.reason = Some(format!(
            "{why}: rolling back to deploymentId {restored_id}."
        ));
        let (td, config) = (r.td.clone(), r.content.config);
        s.td = td;
        s.config = config;
        let _ = failed_id;
        let payload = super::events::deployment_event(
            svc,
            "SERVICE_DEPLOYMENT_IN_PROGRESS",
            &restored_id,
            now,
            &format!("{why}: rolling back to deploymentId {restored_id}."),
        );
        self.emit(
            svc,
            About::DeploymentInProgress { dep: restored_id },
            now,
            payload,
        );
        true
    }

    fn fail_deployment(&mut self, svc: &str, reason: &str, rollback: bool) {
        let now = self.now;
        let s = self.svc(svc).clone();
        let Some(p) = s.primary().cloned() else {
            return;
        };
        self.evidently_bad.insert(p.content.clone());
        let payload =
            super::events::deployment_event(svc, "SERVICE_DEPLOYMENT_FAILED", &p.id, now, reason);
        self.emit(
            svc,
            About::DeploymentFailed { dep: p.id.clone() },
            now,
            payload,
        );
        let prefix = reason.split(':').next().unwrap_or(reason).to_string();
        if rollback && self.ecs_restore(svc, &prefix, false) {
            self.ecs_restores += 1;
            return;
        }
        let sd = p.sd;
        let s = self.svc_mut(svc);
        if let Some(d) = s.primary_mut() {
            d.rollout = Rollout::Failed;
            d.reason = Some(reason.to_string());
        }
        self.sds[sd].status = SdStatus::Failed;
        self.sds[sd].finished = Some(now);
    }

    fn complete(&mut self, svc: &str) {
        let now = self.now;
        let s = self.svc(svc).clone();
        let Some(p) = s.primary().cloned() else {
            return;
        };
        let s = self.svc_mut(svc);
        s.deps.retain(|d| d.primary);
        let d = &mut s.deps[0];
        d.rollout = Rollout::Completed;
        d.reason = None;
        d.restoring_for = None;
        match p.restoring_for {
            Some(failed) => {
                self.sds[failed].status = SdStatus::RollbackSuccessful;
                self.sds[failed].finished = Some(now);
            }
            None => {
                let sd = &mut self.sds[p.sd];
                if sd.status == SdStatus::InProgress {
                    sd.status = SdStatus::Successful;
                    sd.finished = Some(now);
                }
            }
        }
        self.proven.insert((svc.to_string(), p.content.clone()));
        let payload = super::events::deployment_event(
            svc,
            "SERVICE_DEPLOYMENT_COMPLETED",
            &p.id,
            now,
            &format!("ECS deployment {} completed.", p.id),
        );
        self.emit(svc, About::DeploymentCompleted { dep: p.id }, now, payload);
    }

    fn stop_task(&mut self, svc: &str, kind: Kind) {
        let now = self.now;
        let s = self.svc(svc).clone();
        let Some(p) = s.primary().cloned() else {
            return;
        };
        let n = self.tasks.len();
        let arn = format!("arn:aws:ecs:{REGION}:{ACCOUNT}:task/{CLUSTER}/{n:0>32x}");
        // ECS developer guide, "stopped tasks error codes".
        let (code, reason, container, exit) = match kind {
            Kind::CrashAtStart => (
                "TaskFailedToStart",
                "CannotStartContainerError: failed to create task: exec: \"/app/server\": stat /app/server: no such file or directory".to_string(),
                Some("CannotStartContainerError: exec: \"/app/server\": no such file or directory".to_string()),
                None,
            ),
            Kind::StartThenCrash => (
                "EssentialContainerExited",
                "Essential container in task exited".to_string(),
                None,
                Some(1),
            ),
            _ => (
                "ServiceSchedulerInitiated",
                format!("Task failed ELB health checks in (target-group arn:aws:elasticloadbalancing:{REGION}:{ACCOUNT}:targetgroup/{svc}/6d0ecf831eec9f09)"),
                None,
                Some(143),
            ),
        };
        let task = StoppedTask {
            arn,
            started_by: p.id.clone(),
            td: p.td.clone(),
            stop_code: code,
            reason,
            container_reason: container,
            exit_code: exit,
            stopped_at: now,
        };
        let emit = p.stops < timing::MAX_STOP_EVENTS;
        if let Some(d) = self.svc_mut(svc).primary_mut() {
            d.failed_tasks += 1;
            d.stops += 1;
        }
        if emit {
            let image = self.td(&p.td).map(|t| t.image.clone()).unwrap_or_default();
            let payload = super::events::task_stopped(svc, &task, &image, &p.content.digest);
            self.emit(svc, About::TaskStopped { dep: p.id.clone() }, now, payload);
        }
        self.tasks.push(task);
    }

    /// Which content takes the service's traffic, and since when.
    pub fn traffic(&self, svc: &str) -> Option<(Content, Time)> {
        let s = self.svc(svc);
        let p = s.primary()?;
        let k = self.kind(&p.content);
        if p.rollout == Rollout::Completed || p.restoring_for.is_some() {
            return Some((p.content.clone(), p.since));
        }
        let shift = match s.strategy {
            Strategy::Rolling => 1,
            Strategy::BlueGreen => timing::BG_SHIFT,
        };
        let takes = !k.tasks_fail() && self.now - p.since >= Duration::minutes(shift);
        if takes {
            return Some((p.content.clone(), p.since + Duration::minutes(shift)));
        }
        // The previous, still-running deployment serves.
        s.deps
            .iter()
            .find(|d| !d.primary && d.rollout == Rollout::Completed)
            .map(|d| (d.content.clone(), d.since))
    }

    /// One minute passes: rollouts progress, tasks fail, alarms evaluate, ECS acts.
    pub fn tick(&mut self) {
        self.now += Duration::minutes(1);
        let now = self.now;
        let names: Vec<String> = self.svcs.iter().map(|s| s.name.clone()).collect();
        for name in &names {
            self.progress(name, now);
        }
        self.evaluate_alarms(now);
        for name in &names {
            self.deployment_alarms(name);
        }
    }

    fn progress(&mut self, name: &str, now: Time) {
        let s = self.svc(name).clone();
        let Some(p) = s.primary().cloned() else {
            return;
        };
        if p.rollout != Rollout::InProgress {
            return;
        }
        let age = (now - p.since).num_minutes();
        if p.restoring_for.is_some() {
            if age >= timing::RESTORE_COMPLETE {
                self.complete(name);
            }
            return;
        }
        let kind = self.kind(&p.content);
        let batch = (s.desired.min(6) / 2).max(1);
        let period = match kind {
            Kind::CrashAtStart => timing::CRASH_AT_START_PERIOD,
            Kind::StartThenCrash => timing::START_THEN_CRASH_PERIOD,
            Kind::HealthCheckFail => timing::HEALTH_CHECK_PERIOD,
            Kind::Healthy | Kind::AlarmOnly => 0,
        };
        if period > 0 {
            if age > timing::FAILING_FOR {
                return;
            }
            if age > 0 && age % period == 0 {
                for _ in 0..batch {
                    self.stop_task(name, kind);
                }
            }
            self.circuit_breaker(name);
            return;
        }
        // Healthy tasks: a large service still sees a few health-check kills in a rollout.
        if p.stops < p.noise && age >= 2 {
            self.stop_task(name, Kind::HealthCheckFail);
        }
        let done = match s.strategy {
            Strategy::Rolling => timing::ROLLING_COMPLETE,
            Strategy::BlueGreen => timing::BG_SHIFT + s.bake_minutes,
        };
        if age >= done {
            self.complete(name);
        }
    }

    fn circuit_breaker(&mut self, name: &str) {
        let s = self.svc(name).clone();
        // The circuit breaker applies to rolling deployments only (ECS developer guide).
        let (Some((true, rollback)), Strategy::Rolling) = (s.breaker, s.strategy) else {
            return;
        };
        let Some(p) = s.primary() else { return };
        if p.rollout == Rollout::InProgress
            && p.restoring_for.is_none()
            && p.failed_tasks >= s.breaker_threshold()
        {
            self.fail_deployment(
                name,
                "ECS deployment circuit breaker: tasks failed to start.",
                rollback,
            );
        }
    }

    /// ECS developer guide, "deployment alarms": an alarm in ALARM during the deployment or its
    /// bake time fails it (and rolls back when `rollback` is set).
    fn deployment_alarms(&mut self, name: &str) {
        let s = self.svc(name).clone();
        let Some((true, rollback)) = s.deployment_alarms else {
            return;
        };
        let Some(p) = s.primary() else { return };
        if p.rollout != Rollout::InProgress || p.restoring_for.is_some() {
            return;
        }
        let ringing = self.alarms.iter().any(|a| {
            a.service == name && a.state == AlarmState::Alarm && a.transitioned >= p.since
        });
        if ringing {
            let alarm = format!("{name}-5xx");
            self.fail_deployment(
                name,
                &format!("ECS deployment alarms: alarm(s) {alarm} in ALARM state"),
                rollback,
            );
        }
    }

    /// CloudWatch user guide, "evaluating an alarm": ALARM after `ALARM_AFTER` breaching
    /// datapoints in a row, OK after `ALARM_CLEAR` clean ones.
    fn evaluate_alarms(&mut self, now: Time) {
        for i in 0..self.alarms.len() {
            let svc = self.alarms[i].service.clone();
            let bad_traffic = self
                .traffic(&svc)
                .is_some_and(|(c, _)| self.kind(&c) == Kind::AlarmOnly);
            let a = &mut self.alarms[i];
            let flapping = a.flaps.iter().any(|(s, e)| *s <= now && now < *e);
            let next = if bad_traffic || flapping {
                a.clean_since = None;
                let since = *a.breach_since.get_or_insert(now);
                if now - since >= Duration::minutes(timing::ALARM_AFTER - 1) {
                    AlarmState::Alarm
                } else {
                    a.state
                }
            } else {
                a.breach_since = None;
                let since = *a.clean_since.get_or_insert(now);
                if now - since >= Duration::minutes(timing::ALARM_CLEAR - 1) {
                    AlarmState::Ok
                } else {
                    a.state
                }
            };
            if next != a.state {
                a.state = next;
                a.transitioned = now;
                let a = a.clone();
                let as_action = next == AlarmState::Alarm && (i + self.emitted).is_multiple_of(3);
                let payload = super::events::alarm_event(&a, now, as_action);
                self.emit(&svc, About::Alarm { state: next }, now, payload);
            }
        }
    }

    /// Drain the events the world emitted since the last call.
    pub fn take_outbox(&mut self) -> Vec<Emitted> {
        std::mem::take(&mut self.outbox)
    }
}
