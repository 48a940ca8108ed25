//! The deployment gate: the verdict of an ECS lifecycle hook, pure.
//!
//! ECS invokes the function at the stages of a `BLUE_GREEN`, `LINEAR` or `CANARY` deployment a
//! hook lists and waits for `hookStatus` `SUCCEEDED`, `FAILED` (ECS rolls back: a traffic shift
//! back to the old revision) or `IN_PROGRESS` (invoked again after `callBackDelay` seconds, with
//! the `hookDetails` answered merged into the next payload). Sources: ECS Developer Guide,
//! "Lifecycle hooks for Amazon ECS service deployments" (`deployment-lifecycle-hooks.html`) and
//! "Lambda hooks" (`lambda-lifecycle-hooks.html`); API reference `DeploymentLifecycleHook`.
//!
//! Every rule is a named function (`gate_rule_…`) and [`judge`] composes them in order; the table
//! tests below mirror them one to one. State between the calls of one hook execution lives only
//! in `hookDetails` under [`STATE_KEY`] (ECS hands it back), never in process memory.

use std::collections::BTreeMap;

use chrono::Duration;
use serde::Serialize;
use serde_json::{json, Map, Value};

use crate::decision::{rule4_alarm_is_trigger, AlarmFacts, Policy};
use crate::faults::{classify, Verdict as Fault};
use crate::model::*;

/// Service tag: how long a checked stage is observed at most (minutes, decimals allowed).
pub const TAG_GATE_OBSERVE_MINUTES: &str = "ecs-rollback:gate-observe-minutes";
/// Service tag: the lifecycle stages the gate checks (space- or comma-separated), or `none`.
pub const TAG_GATE_STAGES: &str = "ecs-rollback:gate-stages";
/// Service tag: seconds between the calls while the gate observes (`callBackDelay`).
pub const TAG_GATE_CALLBACK_SECONDS: &str = "ecs-rollback:gate-callback-seconds";
/// Service tag: what the gate answers when the alarms stayed unreadable for the whole stage:
/// `fail` (default) or `succeed`.
pub const TAG_GATE_ON_ERROR: &str = "ecs-rollback:gate-on-error";
/// Service tag: more alarm names that guard the service in the gate (space-separated).
pub const TAG_GATE_ALARMS: &str = "ecs-rollback:gate-alarms";

/// Service tag: the canary analysis — `on` (default), `report` (judge, log and notify, never
/// fail) or `off`.
pub const TAG_GATE_CANARY: &str = "ecs-rollback:canary";

/// The stages at which the new revision's target group can carry traffic (test, then
/// production): where the canary analysis compares the two revisions.
pub const CANARY_STAGES: &[&str] = &[
    "TEST_TRAFFIC_SHIFT",
    "POST_TEST_TRAFFIC_SHIFT",
    "PRE_PRODUCTION_TRAFFIC_SHIFT",
    "PRODUCTION_TRAFFIC_SHIFT",
    "POST_PRODUCTION_TRAFFIC_SHIFT",
];
/// The least observation time of a stage the canary analysis compares: long enough for its
/// minimum sample and for a worse result to hold.
pub const CANARY_MIN_OBSERVE_MINUTES: f64 = 10.0;

/// The key of the gate's own state in `hookDetails`.
pub const STATE_KEY: &str = "ecsRollbackGate";

/// Stages checked by default: the new revision's tasks are up, then each traffic step.
pub const DEFAULT_STAGES: &[&str] = &[
    "POST_SCALE_UP",
    "POST_TEST_TRAFFIC_SHIFT",
    "PRODUCTION_TRAFFIC_SHIFT",
    "POST_PRODUCTION_TRAFFIC_SHIFT",
];
/// Every stage a hook can list (API reference `DeploymentLifecycleHook.lifecycleStages`).
pub const HOOK_STAGES: &[&str] = &[
    "RECONCILE_SERVICE",
    "PRE_SCALE_UP",
    "POST_SCALE_UP",
    "TEST_TRAFFIC_SHIFT",
    "POST_TEST_TRAFFIC_SHIFT",
    "PRE_PRODUCTION_TRAFFIC_SHIFT",
    "PRODUCTION_TRAFFIC_SHIFT",
    "POST_PRODUCTION_TRAFFIC_SHIFT",
];
/// Default observation time per checked stage.
pub const DEFAULT_OBSERVE_MINUTES: f64 = 5.0;
/// Default `callBackDelay` (ECS's own default for a hook that omits it).
pub const DEFAULT_CALLBACK_SECONDS: i64 = 30;
/// Upper bound of the observation time (ECS's default hook timeout is 24 h).
pub const MAX_OBSERVE_MINUTES: f64 = 720.0;

/// A parsed lifecycle-hook invocation.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HookInvocation {
    pub execution_id: String,
    pub stage: String,
    /// `resourceArn`: the service-deployment ARN.
    pub deployment_arn: String,
    pub target: ServiceRef,
    pub service_arn: String,
    pub account: String,
    pub region: String,
    /// `executionDetails.targetServiceRevisionArn`: the new (green) revision.
    pub target_revision_arn: String,
    /// `hookDetails` as ECS passed it (the hook's configured details merged with earlier answers).
    pub hook_details: Map<String, Value>,
}

impl HookInvocation {
    /// The ECS deployment (`ecs-svc/<n>`) whose tasks run the target revision: a revision's id is
    /// the number of the deployment that created it (the identity terraform-provider-aws's
    /// `findPrimaryDeploymentARN` relies on).
    pub fn ecs_deployment_id(&self) -> Option<String> {
        let id = self.target_revision_arn.rsplit('/').next()?;
        (!id.is_empty() && id.bytes().all(|b| b.is_ascii_digit())).then(|| format!("ecs-svc/{id}"))
    }
}

/// What the gate does when the alarms stayed unreadable for the whole observation time.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum OnError {
    Fail,
    Succeed,
}

/// The gate's settings for one service and hook.
#[derive(Clone, Debug, PartialEq)]
pub struct GateSettings {
    pub stages: Vec<String>,
    pub observe: Duration,
    /// The observation time was set (tag or `hookDetails`), not the default: a stage the canary
    /// analysis compares keeps it rather than [`CANARY_MIN_OBSERVE_MINUTES`].
    pub observe_set: bool,
    pub callback_seconds: i64,
    pub on_error: OnError,
    /// Alarm names the service adds (`ecs-rollback:gate-alarms`, `hookDetails.alarms`).
    pub extra_alarms: Vec<String>,
    /// The canary analysis (`ecs-rollback:canary`, `hookDetails.canary`).
    pub canary: CanaryMode,
}

/// Whether the gate compares the new revision's traffic with the old one's.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum CanaryMode {
    On,
    Report,
    Off,
}

fn parse_canary(v: &str) -> Option<CanaryMode> {
    match v.trim().to_ascii_lowercase().as_str() {
        "on" | "true" => Some(CanaryMode::On),
        "report" => Some(CanaryMode::Report),
        "off" | "false" => Some(CanaryMode::Off),
        _ => None,
    }
}

impl Default for GateSettings {
    fn default() -> Self {
        GateSettings {
            stages: DEFAULT_STAGES.iter().map(|s| s.to_string()).collect(),
            observe: minutes(DEFAULT_OBSERVE_MINUTES),
            observe_set: false,
            callback_seconds: DEFAULT_CALLBACK_SECONDS,
            on_error: OnError::Fail,
            extra_alarms: Vec::new(),
            canary: CanaryMode::On,
        }
    }
}

fn minutes(m: f64) -> Duration {
    Duration::milliseconds((m * 60_000.0).round() as i64)
}

fn parse_minutes(v: &str) -> Option<f64> {
    let m: f64 = v.trim().parse().ok()?;
    (m.is_finite() && (0.0..=MAX_OBSERVE_MINUTES).contains(&m)).then_some(m)
}

fn parse_stages(v: &str) -> Option<Vec<String>> {
    let v = v.trim();
    if v.eq_ignore_ascii_case("none") {
        return Some(Vec::new());
    }
    let stages: Vec<String> = v
        .split([' ', ','])
        .filter(|s| !s.is_empty())
        .map(|s| s.to_ascii_uppercase())
        .collect();
    (!stages.is_empty() && stages.iter().all(|s| HOOK_STAGES.contains(&s.as_str())))
        .then_some(stages)
}

fn parse_callback(v: &str) -> Option<i64> {
    let s: i64 = v.trim().parse().ok()?;
    (1..=900).contains(&s).then_some(s)
}

fn parse_on_error(v: &str) -> Option<OnError> {
    match v.trim().to_ascii_lowercase().as_str() {
        "fail" => Some(OnError::Fail),
        "succeed" => Some(OnError::Succeed),
        _ => None,
    }
}

/// A `hookDetails` value as text: strings as they are, numbers printed, arrays joined by spaces.
fn detail_text(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Array(items) => Some(
            items
                .iter()
                .filter_map(Value::as_str)
                .collect::<Vec<_>>()
                .join(" "),
        ),
        _ => None,
    }
}

/// The gate's settings: `hookDetails` (the hook's own configuration) over service tags over the
/// defaults. A value that does not parse keeps the default and is reported (the payload is ECS's,
/// the tags are the service owner's: neither makes the hook fail).
pub fn gate_settings(
    tags: &BTreeMap<String, String>,
    details: &Map<String, Value>,
) -> (GateSettings, Vec<String>) {
    let mut s = GateSettings::default();
    let mut warnings = Vec::new();
    type Lookup<'a> = Box<dyn Fn(&str) -> Option<String> + 'a>;
    let layers: [(&str, Lookup, [&str; 6]); 2] = [
        (
            "service tag",
            Box::new(|k: &str| tags.get(k).cloned()),
            [
                TAG_GATE_STAGES,
                TAG_GATE_OBSERVE_MINUTES,
                TAG_GATE_CALLBACK_SECONDS,
                TAG_GATE_ON_ERROR,
                TAG_GATE_ALARMS,
                TAG_GATE_CANARY,
            ],
        ),
        (
            "hookDetails",
            Box::new(|k: &str| details.get(k).and_then(detail_text)),
            [
                "stages",
                "observeMinutes",
                "callBackDelaySeconds",
                "onAlarmReadError",
                "alarms",
                "canary",
            ],
        ),
    ];
    for (layer, get, [stages, observe, callback, on_error, alarms, canary]) in &layers {
        let mut bad = |key: &str, v: &str| {
            warnings.push(format!(
                "{layer} {key}={v:?} is not valid; the gate keeps the value below it"
            ))
        };
        if let Some(v) = get(stages) {
            match parse_stages(&v) {
                Some(list) => s.stages = list,
                None => bad(stages, &v),
            }
        }
        if let Some(v) = get(observe) {
            match parse_minutes(&v) {
                Some(m) => {
                    s.observe = minutes(m);
                    s.observe_set = true;
                }
                None => bad(observe, &v),
            }
        }
        if let Some(v) = get(callback) {
            match parse_callback(&v) {
                Some(c) => s.callback_seconds = c,
                None => bad(callback, &v),
            }
        }
        if let Some(v) = get(on_error) {
            match parse_on_error(&v) {
                Some(e) => s.on_error = e,
                None => bad(on_error, &v),
            }
        }
        if let Some(v) = get(canary) {
            match parse_canary(&v) {
                Some(c) => s.canary = c,
                None => bad(canary, &v),
            }
        }
        if let Some(v) = get(alarms) {
            for name in v.split_whitespace() {
                if !s.extra_alarms.iter().any(|n| n == name) {
                    s.extra_alarms.push(name.to_string());
                }
            }
        }
    }
    (s, warnings)
}

/// The gate's memory between the calls of one hook execution (in `hookDetails`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GateState {
    pub execution_id: String,
    pub stage: String,
    /// When the gate first saw this execution: the stage's observation starts here.
    pub first_seen: Time,
    /// Guarding alarms found on the first call (the tag scan runs once per execution).
    pub alarms: Option<Vec<String>>,
    /// Calls so far.
    pub calls: u32,
}

/// The state carried in `hookDetails`, or a fresh one for a new execution. A `firstSeen` that is
/// unreadable or in the future is reported and restarts the observation (never an extension of
/// an unbounded wait, never a silent skip of it).
pub fn gate_state(inv: &HookInvocation, now: Time, warnings: &mut Vec<String>) -> GateState {
    let fresh = GateState {
        execution_id: inv.execution_id.clone(),
        stage: inv.stage.clone(),
        first_seen: now,
        alarms: None,
        calls: 0,
    };
    let Some(state) = inv.hook_details.get(STATE_KEY).and_then(Value::as_object) else {
        return fresh;
    };
    let same = state.get("executionId").and_then(Value::as_str) == Some(&inv.execution_id)
        && state.get("stage").and_then(Value::as_str) == Some(&inv.stage);
    if !same {
        return fresh;
    }
    let first_seen = state
        .get("firstSeen")
        .and_then(Value::as_str)
        .and_then(|s| chrono::DateTime::parse_from_rfc3339(s).ok())
        .map(|t| t.with_timezone(&chrono::Utc));
    let first_seen = match first_seen {
        Some(t) if t <= now + Duration::minutes(crate::decision::MAX_CLOCK_SKEW_MINUTES) => t,
        Some(t) => {
            warnings.push(format!(
                "hookDetails.{STATE_KEY}.firstSeen {t} is in the future; the observation restarts now"
            ));
            now
        }
        None => {
            warnings.push(format!(
                "hookDetails.{STATE_KEY}.firstSeen is missing or unreadable; the observation restarts now"
            ));
            now
        }
    };
    let alarms = state.get("alarms").and_then(Value::as_array).map(|a| {
        a.iter()
            .filter_map(Value::as_str)
            .map(str::to_string)
            .collect()
    });
    GateState {
        first_seen,
        alarms,
        calls: state.get("calls").and_then(Value::as_u64).unwrap_or(0) as u32,
        ..fresh
    }
}

/// One guarding alarm as `DescribeAlarms` shows it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GateAlarm {
    pub name: String,
    pub state: AlarmState,
    pub state_updated: Option<Time>,
    /// `Period` × `DatapointsToAlarm` (else `EvaluationPeriods`): how long the alarm needs to be
    /// able to go into ALARM on data from after the stage began. Zero for composite alarms.
    pub window: Duration,
    pub reason: String,
}

/// A candidate alarm for the guard check (rule 4 in the service → alarms direction).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct AlarmCandidate {
    pub facts: AlarmFacts,
    /// Listed in the service's deployment alarms or in the gate's extra alarms.
    pub listed: bool,
    /// Its tags `ecs-rollback:cluster` + `ecs-rollback:service` name the service.
    pub tagged: bool,
}

/// Rule 4 for the gate: an alarm guards the service when the service lists it (deployment
/// alarms, `ecs-rollback:gate-alarms`) or its tags name the service — never an Application Auto
/// Scaling alarm, a suppressed one or one with actions disabled, tagged or not. Dimensions alone
/// never make a guard. Answers the guarding names and, for people, why the others are not.
pub fn gate_rule_guarding_alarms(candidates: &[AlarmCandidate]) -> (Vec<String>, Vec<String>) {
    let mut guards = Vec::new();
    let mut notes = Vec::new();
    for c in candidates {
        if !(c.listed || c.tagged) {
            continue;
        }
        match rule4_alarm_is_trigger(&c.facts) {
            Ok(()) => {
                if !guards.contains(&c.facts.name) {
                    guards.push(c.facts.name.clone());
                }
            }
            Err(skip) => notes.push(skip.sentence(&c.facts.name)),
        }
    }
    (guards, notes)
}

/// What the handler read for one call.
#[derive(Clone, Debug, PartialEq)]
pub struct GateFacts {
    pub service: ServiceState,
    /// Status of the service deployment the hook is for (`DescribeServiceDeployments`).
    pub deployment_status: DeploymentStatus,
    /// When the service deployment started (else was created).
    pub deployment_started: Option<Time>,
    /// The guarding alarms and their states; `Err` = could not be read.
    pub alarms: Result<Vec<GateAlarm>, String>,
    /// Stopped tasks of the new revision's ECS deployment; `Err` = could not be read.
    pub stopped_tasks: Result<Vec<TaskStop>, String>,
    /// ECS's `failedTasks` of that deployment (`DescribeServices`), 0 if unknown.
    pub failed_tasks: i32,
    /// The two revisions' target-group metrics for the canary analysis.
    pub canary: CanaryRead,
}

/// What the handler read for the canary analysis.
#[derive(Clone, Debug, PartialEq)]
pub enum CanaryRead {
    /// Nothing to compare at this call, and why (for the log): the analysis is off, the stage
    /// carries no traffic, a rolling deployment, no second target group.
    NotApplicable(String),
    /// The metrics could not be read.
    Unreadable(String),
    /// Per-minute series of both target groups (CloudWatch `AWS/ApplicationELB`).
    Read {
        green_target_group: String,
        blue_target_group: String,
        green: Vec<crate::canary::Minute>,
        blue: Vec<crate::canary::Minute>,
    },
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum HookStatus {
    Succeeded,
    Failed,
    InProgress,
}

impl HookStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            HookStatus::Succeeded => "SUCCEEDED",
            HookStatus::Failed => "FAILED",
            HookStatus::InProgress => "IN_PROGRESS",
        }
    }
}

/// The gate's verdict for one call.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GateVerdict {
    pub status: HookStatus,
    /// `callBackDelay` seconds (IN_PROGRESS only).
    pub callback_seconds: Option<i64>,
    /// A short machine-readable code for logs and metrics.
    pub code: &'static str,
    /// One human sentence.
    pub reason: String,
    /// The canary analysis's evidence for people (its sentence and the per-minute plot), when
    /// it compared the revisions.
    pub evidence: Option<String>,
    /// The same for machines: the analysis (outcome, values, margins, p-values, parameters) and
    /// both series, one `[minute, requests, 5xx, response time]` per minute, as compact JSON.
    pub evidence_data: Option<String>,
}

impl GateVerdict {
    fn pass(code: &'static str, reason: String) -> Self {
        GateVerdict {
            status: HookStatus::Succeeded,
            callback_seconds: None,
            code,
            reason,
            evidence: None,
            evidence_data: None,
        }
    }
    fn fail(code: &'static str, reason: String) -> Self {
        GateVerdict {
            status: HookStatus::Failed,
            callback_seconds: None,
            code,
            reason,
            evidence: None,
            evidence_data: None,
        }
    }
}

type Gate<T> = Result<T, GateVerdict>;

/// Rule 1 for the gate: a service that is not opted in (or opted out) is let through: the gate
/// stands aside exactly as the responder does.
pub fn gate_rule_opt_in(service: &ServiceState, policy: &Policy) -> Gate<()> {
    let v = service
        .tags
        .get(TAG_ENABLED)
        .map(|v| v.trim().to_ascii_lowercase());
    match v.as_deref() {
        Some("false") => Err(GateVerdict::pass(
            "opted_out",
            format!("The service is tagged {TAG_ENABLED}=false: the gate stands aside."),
        )),
        Some("true") => Ok(()),
        _ if policy.require_opt_in => Err(GateVerdict::pass(
            "not_opted_in",
            format!("The service is not tagged {TAG_ENABLED}=true: the gate stands aside."),
        )),
        _ => Ok(()),
    }
}

/// The gate never judges a restore: a deployment that restores a proven revision (our rollback,
/// ECS's, a person's) passes at once — the alarm that caused the rollback is still in ALARM and
/// must not hold or fail the way back. `restore` is what proves the revision (the core's answer).
pub fn gate_rule_restore(restore: Option<&str>) -> Gate<()> {
    match restore {
        None => Ok(()),
        Some(how) => Err(GateVerdict::pass(
            "restore",
            format!("The deployment restores a proven revision ({how}): the gate never judges a restore."),
        )),
    }
}

/// Stages the service does not have checked pass at once.
pub fn gate_rule_stage_checked(stage: &str, settings: &GateSettings) -> Gate<()> {
    if settings.stages.iter().any(|s| s == stage) {
        return Ok(());
    }
    Err(GateVerdict::pass(
        "stage_not_checked",
        format!(
            "{stage} is not a checked stage ({}): nothing to hold.",
            if settings.stages.is_empty() {
                "none are".to_string()
            } else {
                settings.stages.join(", ")
            }
        ),
    ))
}

/// A deployment that is no longer in flight (ECS is rolling it back, or it was stopped) is never
/// held up: during a rollback ECS invokes the traffic-shift hooks again with the weights going back.
pub fn gate_rule_deployment_in_flight(status: DeploymentStatus) -> Gate<()> {
    if status.is_in_flight() {
        return Ok(());
    }
    Err(GateVerdict::pass(
        "not_in_flight",
        format!(
            "The service deployment is {status:?}, not in flight: a rollback or stop is never held up."
        ),
    ))
}

/// Early detection for the gate: the new revision's tasks stopped for the revision's fault
/// (`faults::classify`) at least `early_failed_tasks` times (0 = off), or ECS's own count says so.
pub fn gate_rule_tasks_failing(facts: &GateFacts, policy: &Policy) -> Gate<()> {
    if policy.early_failed_tasks == 0 {
        return Ok(());
    }
    // The same threshold as early detection: it grows with the desired count.
    // The same threshold as early detection (rule 13): it grows with the desired count, and
    // stands back where ECS's own circuit breaker rolls back first.
    let threshold = crate::decision::rule13_breaker_or_early_detection(
        &facts.service,
        policy.early_failed_tasks,
    )
    .threshold();
    let faults: Vec<(&TaskStop, &'static str)> = facts
        .stopped_tasks
        .as_ref()
        .map(|tasks| {
            tasks
                .iter()
                .filter_map(|t| {
                    let reasons: Vec<&str> =
                        t.container_reasons.iter().map(String::as_str).collect();
                    match classify(&t.stop_code, &t.stopped_reason, &reasons) {
                        Fault::Fault(why) => Some((t, why)),
                        Fault::NotFault(_) => None,
                    }
                })
                .collect()
        })
        .unwrap_or_default();
    let count = (faults.len() as i64).max(facts.failed_tasks as i64);
    if count < threshold as i64 {
        return Ok(());
    }
    let example = faults
        .first()
        .map(|(t, why)| format!(" ({why}: {} {})", t.stop_code, t.stopped_reason.trim()))
        .unwrap_or_default();
    Err(GateVerdict::fail(
        "tasks_failing",
        format!("{count} task(s) of the new revision failed (threshold {threshold}){example}."),
    ))
}

/// A guarding alarm in ALARM since the deployment started fails the stage. One that was already
/// in ALARM before the deployment started is no evidence against the new revision (it may be the
/// fix): it is watched like missing data.
pub fn gate_rule_alarm_in_alarm(facts: &GateFacts) -> Gate<()> {
    let Ok(alarms) = &facts.alarms else {
        return Ok(());
    };
    let fired: Vec<&GateAlarm> = alarms
        .iter()
        .filter(|a| a.state == AlarmState::Alarm && !already_alarming(a, facts))
        .collect();
    if fired.is_empty() {
        return Ok(());
    }
    let names: Vec<String> = fired
        .iter()
        .map(|a| {
            let why = a.reason.trim().trim_end_matches('.');
            if why.is_empty() {
                a.name.clone()
            } else {
                format!("{} ({why})", a.name)
            }
        })
        .collect();
    Err(GateVerdict::fail(
        "alarm",
        format!("the guarding alarm {} is in ALARM", names.join(", ")),
    ))
}

fn already_alarming(a: &GateAlarm, facts: &GateFacts) -> bool {
    matches!((a.state_updated, facts.deployment_started), (Some(u), Some(s)) if u < s)
}

fn remaining(settings: &GateSettings, state: &GateState, now: Time) -> Duration {
    settings.observe - (now - state.first_seen)
}

fn wait(
    settings: &GateSettings,
    state: &GateState,
    now: Time,
    code: &'static str,
    why: String,
) -> GateVerdict {
    let left = remaining(settings, state, now).num_seconds().max(1);
    GateVerdict {
        status: HookStatus::InProgress,
        callback_seconds: Some(settings.callback_seconds.min(left).max(1)),
        code,
        reason: format!(
            "{why}; observing for {} more second(s).",
            remaining(settings, state, now).num_seconds().max(0)
        ),
        evidence: None,
        evidence_data: None,
    }
}

/// The alarms could not be read: IN_PROGRESS (retry later) while the stage's time lasts, then the
/// documented default (`ecs-rollback:gate-on-error`, `fail` unless set).
pub fn gate_rule_alarms_readable(
    facts: &GateFacts,
    settings: &GateSettings,
    state: &GateState,
    now: Time,
) -> Gate<()> {
    match &facts.alarms {
        Ok(_) => Ok(()),
        Err(why) => Err(gate_rule_unreadable(
            &format!("the guarding alarms could not be read ({why})"),
            settings,
            state,
            now,
        )),
    }
}

/// Something the verdict needs could not be read: IN_PROGRESS while the stage's time lasts, then
/// `ecs-rollback:gate-on-error` (`fail` unless set to `succeed`).
pub fn gate_rule_unreadable(
    what: &str,
    settings: &GateSettings,
    state: &GateState,
    now: Time,
) -> GateVerdict {
    if remaining(settings, state, now) > Duration::zero() {
        let mut sentence = what.to_string();
        if let Some(first) = sentence.get(0..1) {
            sentence = first.to_ascii_uppercase() + &sentence[1..];
        }
        return wait(settings, state, now, "unreadable", sentence);
    }
    match settings.on_error {
        OnError::Fail => GateVerdict::fail(
            "unreadable",
            format!(
                "{what} for the whole observation time, and {TAG_GATE_ON_ERROR} is fail"
            ),
        ),
        OnError::Succeed => GateVerdict::pass(
            "unreadable",
            format!(
                "{what} for the whole observation time; {TAG_GATE_ON_ERROR}=succeed lets the revision through."
            ),
        ),
    }
}

/// Not enough evidence yet: an alarm in INSUFFICIENT_DATA, one still in ALARM from before the
/// deployment, or one whose window (`Period` × datapoints) has not passed since the stage began →
/// IN_PROGRESS, up to the stage's observation time; then SUCCEEDED.
pub fn gate_rule_enough_evidence(
    facts: &GateFacts,
    settings: &GateSettings,
    state: &GateState,
    now: Time,
) -> Gate<()> {
    let Ok(alarms) = &facts.alarms else {
        return Ok(());
    };
    let since = now - state.first_seen;
    let pending: Vec<String> = alarms
        .iter()
        .filter_map(|a| match a.state {
            AlarmState::InsufficientData => Some(format!("{} has INSUFFICIENT_DATA", a.name)),
            AlarmState::Alarm if already_alarming(a, facts) => Some(format!(
                "{} is in ALARM since before the deployment",
                a.name
            )),
            _ if since < a.window => Some(format!(
                "{} has not evaluated {}s of data since the stage began",
                a.name,
                a.window.num_seconds()
            )),
            _ => None,
        })
        .collect();
    if pending.is_empty() {
        return Ok(());
    }
    if remaining(settings, state, now) > Duration::zero() {
        return Err(wait(
            settings,
            state,
            now,
            "observing",
            format!("Not enough evidence yet: {}", pending.join("; ")),
        ));
    }
    Err(GateVerdict::pass(
        "observed",
        format!(
            "Observed for {} second(s) without a failure ({}).",
            settings.observe.num_seconds(),
            pending.join("; ")
        ),
    ))
}

/// The canary analysis of this call: `None` when it does not compare (off, or nothing read).
pub fn canary_analysis(
    facts: &GateFacts,
    settings: &GateSettings,
) -> Option<crate::canary::Analysis> {
    if settings.canary == CanaryMode::Off {
        return None;
    }
    match &facts.canary {
        CanaryRead::Read { green, blue, .. } => Some(crate::canary::analyse(
            green,
            blue,
            &crate::canary::Params::default(),
        )),
        _ => None,
    }
}

/// A stage the canary analysis compares is observed at least [`CANARY_MIN_OBSERVE_MINUTES`],
/// unless the observation time was set for the service or the hook.
fn canary_settings(settings: &GateSettings) -> GateSettings {
    if settings.observe_set {
        return settings.clone();
    }
    GateSettings {
        observe: settings.observe.max(minutes(CANARY_MIN_OBSERVE_MINUTES)),
        ..settings.clone()
    }
}

/// The canary analysis found the new revision's traffic worse than the old one's — more 5xx
/// or slower, beyond the minimum effect, significantly, and (5xx) for consecutive minutes →
/// FAILED. With `ecs-rollback:canary=report` it is only told.
pub fn gate_rule_canary_worse(
    analysis: Option<&crate::canary::Analysis>,
    settings: &GateSettings,
) -> Gate<()> {
    match analysis {
        Some(a) if a.outcome == crate::canary::Outcome::Worse => match settings.canary {
            CanaryMode::On => Err(GateVerdict::fail(
                "canary_worse",
                format!(
                    "the canary analysis found the new revision worse than the old one: {}",
                    a.short()
                ),
            )),
            _ => Ok(()),
        },
        _ => Ok(()),
    }
}

/// Not enough traffic yet to compare the revisions, or their metrics could not be read →
/// IN_PROGRESS while the stage's observation lasts (at least [`CANARY_MIN_OBSERVE_MINUTES`]),
/// then SUCCEEDED: an inconclusive comparison never fails a revision by itself.
pub fn gate_rule_canary_enough_evidence(
    facts: &GateFacts,
    analysis: Option<&crate::canary::Analysis>,
    settings: &GateSettings,
    state: &GateState,
    now: Time,
) -> Gate<()> {
    if settings.canary == CanaryMode::Off {
        return Ok(());
    }
    let why = match (&facts.canary, analysis) {
        (CanaryRead::Unreadable(e), _) => {
            format!("the target groups' metrics could not be read ({e})")
        }
        (_, Some(a)) if a.outcome == crate::canary::Outcome::Inconclusive => {
            format!("the canary analysis is inconclusive: {}", a.sentence())
        }
        _ => return Ok(()),
    };
    let settings = canary_settings(settings);
    if remaining(&settings, state, now) > Duration::zero() {
        return Err(wait(&settings, state, now, "canary_observing", why));
    }
    Err(GateVerdict::pass(
        "canary_inconclusive",
        format!(
            "Observed for {} second(s) without a failure; {why}.",
            settings.observe.num_seconds()
        ),
    ))
}

/// The verdict of one call: the rules in order.
pub fn judge(
    inv: &HookInvocation,
    facts: &GateFacts,
    settings: &GateSettings,
    state: &GateState,
    policy: &Policy,
    now: Time,
) -> GateVerdict {
    let analysis = canary_analysis(facts, settings);
    let run = || -> Gate<GateVerdict> {
        gate_rule_opt_in(&facts.service, policy)?;
        gate_rule_stage_checked(&inv.stage, settings)?;
        gate_rule_deployment_in_flight(facts.deployment_status)?;
        gate_rule_tasks_failing(facts, policy)?;
        gate_rule_alarm_in_alarm(facts)?;
        gate_rule_canary_worse(analysis.as_ref(), settings)?;
        gate_rule_alarms_readable(facts, settings, state, now)?;
        gate_rule_enough_evidence(facts, settings, state, now)?;
        gate_rule_canary_enough_evidence(facts, analysis.as_ref(), settings, state, now)?;
        let n = facts.alarms.as_ref().map(Vec::len).unwrap_or(0);
        let canary = match &analysis {
            Some(a) if a.outcome != crate::canary::Outcome::NoTraffic => {
                format!(" Canary analysis: {}.", a.sentence())
            }
            _ => String::new(),
        };
        Ok(GateVerdict::pass(
            "healthy",
            canary_suffix(
                &canary,
                match n {
                    0 => format!(
                        "No guarding alarm and no failed task of the new revision at {}.",
                        inv.stage
                    ),
                    n => format!(
                        "{n} guarding alarm(s) OK and no failed task of the new revision at {}.",
                        inv.stage
                    ),
                },
            ),
        ))
    };
    let mut verdict = run().unwrap_or_else(|v| v);
    if let (
        Some(a),
        CanaryRead::Read {
            green_target_group,
            blue_target_group,
            green,
            blue,
        },
    ) = (&analysis, &facts.canary)
    {
        if a.outcome != crate::canary::Outcome::NoTraffic || verdict.status == HookStatus::Failed {
            verdict.evidence = Some(format!(
                "Canary analysis ({}): {}\nNew revision: {}\nOld revision: {}\n{}",
                match settings.canary {
                    CanaryMode::Report => "report only",
                    _ => "on",
                },
                a.sentence(),
                green_target_group,
                blue_target_group,
                crate::canary::plot(green, blue)
            ));
            let series = |ms: &[crate::canary::Minute]| -> Vec<Value> {
                ms.iter()
                    .map(|m| {
                        json!([
                            m.at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
                            m.requests,
                            m.errors,
                            m.latency
                        ])
                    })
                    .collect()
            };
            verdict.evidence_data = Some(
                json!({
                    "analysis": a,
                    "new_target_group": green_target_group,
                    "old_target_group": blue_target_group,
                    "new": series(green),
                    "old": series(blue),
                })
                .to_string(),
            );
        }
    }
    verdict
}

fn canary_suffix(canary: &str, reason: String) -> String {
    format!("{reason}{canary}")
}

/// The stage's facts before any read: the rules that need no AWS data beyond the service.
pub fn judge_early(
    inv: &HookInvocation,
    service: &ServiceState,
    settings: &GateSettings,
    policy: &Policy,
) -> Option<GateVerdict> {
    gate_rule_opt_in(service, policy)
        .and_then(|_| gate_rule_stage_checked(&inv.stage, settings))
        .err()
}

/// The answer ECS reads: `hookStatus`, `callBackDelay` (IN_PROGRESS), and `hookDetails` with the
/// gate's state. A dry run answers SUCCEEDED and keeps what it would have answered.
pub fn answer(verdict: &GateVerdict, state: &GateState, dry_run: bool) -> Value {
    let status = if dry_run {
        HookStatus::Succeeded
    } else {
        verdict.status
    };
    let mut memo = json!({
        "executionId": state.execution_id,
        "stage": state.stage,
        "firstSeen": state.first_seen.to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
        "calls": state.calls + 1,
        "verdict": verdict.status.as_str(),
        "reason": verdict.reason,
    });
    if let Some(alarms) = &state.alarms {
        memo["alarms"] = json!(alarms);
    }
    if dry_run {
        memo["dryRun"] = json!(true);
    }
    let mut out = json!({"hookStatus": status.as_str(), "hookDetails": {STATE_KEY: memo}});
    if let (HookStatus::InProgress, Some(delay)) = (status, verdict.callback_seconds) {
        out["callBackDelay"] = json!(delay);
    }
    out
}

/// The notification of a FAILED verdict, worded like a rollback's.
pub fn failure_message(
    inv: &HookInvocation,
    verdict: &GateVerdict,
    revision: Option<&str>,
) -> String {
    format!(
        "Action:  gate_failed\nCluster: {}\nService: {}\nStage:   {}\nRevision: {}\nReason:  ECS is rolling back deployment {} because {}.\n",
        inv.target.cluster,
        inv.target.service,
        inv.stage,
        revision.map(short_task_definition).unwrap_or_else(|| inv.target_revision_arn.clone()),
        inv.deployment_arn,
        verdict.reason.trim_end_matches('.'),
    )
}

/// What `status` shows for a deployment in flight: strategy, lifecycle stage, and the hook's
/// last verdict as ECS recorded it (`DescribeServiceDeployments` → `lifecycleHookDetails`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct InFlight {
    pub service_deployment_arn: String,
    pub strategy: Strategy,
    pub lifecycle_stage: Option<String>,
    /// `(hook target ARN, status)`, as ECS lists them.
    pub hooks: Vec<(String, String)>,
    /// The pause hooks holding it now (`AWAITING_ACTION`), by hook ID.
    pub awaiting: Vec<String>,
}

impl InFlight {
    /// The hook's last verdict: the status of the hook whose target is `function` (any hook
    /// when `function` is `None`), e.g. `IN_PROGRESS`.
    pub fn last_verdict(&self, function: Option<&str>) -> Option<&str> {
        self.hooks
            .iter()
            .rev()
            .find(|(target, _)| {
                function.is_none_or(|f| target == f || target.starts_with(&format!("{f}:")))
            })
            .map(|(_, status)| status.as_str())
    }

    /// One line for people: `CANARY at PRODUCTION_TRAFFIC_SHIFT, gate IN_PROGRESS`.
    pub fn line(&self, function: Option<&str>) -> String {
        format!(
            "{} at {}, gate {}",
            self.strategy.as_str(),
            self.lifecycle_stage.as_deref().unwrap_or("-"),
            self.last_verdict(function).unwrap_or("-")
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn t(s: i64) -> Time {
        chrono::Utc.timestamp_opt(1_800_000_000 + s, 0).unwrap()
    }

    fn service(tags: &[(&str, &str)]) -> ServiceState {
        ServiceState {
            cluster_arn: "arn:aws:ecs:eu-west-1:123456789012:cluster/demo".into(),
            service_arn: "arn:aws:ecs:eu-west-1:123456789012:service/demo/web".into(),
            service_name: "web".into(),
            status: "ACTIVE".into(),
            controller: Controller::Ecs,
            task_definition: "arn:aws:ecs:eu-west-1:123456789012:task-definition/web:2".into(),
            tags: tags
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            deployments: Vec::new(),
            desired_count: 1,
            circuit_breaker: None,
            deployment_alarms: None,
            strategy: Strategy::Canary,
            bake_time_minutes: None,
            express: false,
        }
    }

    fn inv(stage: &str, details: Value) -> HookInvocation {
        HookInvocation {
            execution_id: "ex-1".into(),
            stage: stage.into(),
            deployment_arn: "arn:aws:ecs:eu-west-1:123456789012:service-deployment/demo/web/abc"
                .into(),
            target: ServiceRef {
                cluster: "demo".into(),
                service: "web".into(),
            },
            service_arn: "arn:aws:ecs:eu-west-1:123456789012:service/demo/web".into(),
            account: "123456789012".into(),
            region: "eu-west-1".into(),
            target_revision_arn:
                "arn:aws:ecs:eu-west-1:123456789012:service-revision/demo/web/4444".into(),
            hook_details: details.as_object().cloned().unwrap_or_default(),
        }
    }

    fn alarm(name: &str, state: AlarmState, updated: i64, window: i64) -> GateAlarm {
        GateAlarm {
            name: name.into(),
            state,
            state_updated: Some(t(updated)),
            window: Duration::seconds(window),
            reason: "Threshold Crossed".into(),
        }
    }

    fn stop(code: &str, reason: &str) -> TaskStop {
        TaskStop {
            task_arn: "t".into(),
            stop_code: code.into(),
            stopped_reason: reason.into(),
            container_reasons: Vec::new(),
        }
    }

    fn facts(alarms: Result<Vec<GateAlarm>, String>, tasks: Vec<TaskStop>) -> GateFacts {
        GateFacts {
            service: service(&[(TAG_ENABLED, "true")]),
            deployment_status: DeploymentStatus::InProgress,
            deployment_started: Some(t(0)),
            alarms,
            stopped_tasks: Ok(tasks),
            failed_tasks: 0,
            canary: CanaryRead::NotApplicable("not compared".into()),
        }
    }

    fn state(first_seen: i64) -> GateState {
        GateState {
            execution_id: "ex-1".into(),
            stage: "PRODUCTION_TRAFFIC_SHIFT".into(),
            first_seen: t(first_seen),
            alarms: None,
            calls: 0,
        }
    }

    /// Every verdict rule, one row each: (what, facts, now, status, code).
    #[test]
    fn verdicts_follow_the_rules_in_order() {
        use AlarmState::{Alarm, InsufficientData};
        use HookStatus::*;
        let policy = Policy::default();
        let settings = GateSettings {
            observe: Duration::seconds(300),
            ..GateSettings::default()
        };
        let crash = || {
            stop(
                "EssentialContainerExited",
                "Essential container in task exited",
            )
        };
        let mut not_opted = facts(Ok(vec![]), vec![]);
        not_opted.service.tags.clear();
        let mut opted_out = facts(Ok(vec![]), vec![]);
        opted_out
            .service
            .tags
            .insert(TAG_ENABLED.into(), "false".into());
        let mut rolling_back = facts(Ok(vec![alarm("a", Alarm, 10, 60)]), vec![]);
        rolling_back.deployment_status = DeploymentStatus::RollbackInProgress;
        let mut ecs_count = facts(Ok(vec![]), vec![]);
        ecs_count.failed_tasks = 3;
        let rows: Vec<(&str, GateFacts, i64, HookStatus, &str)> = vec![
            (
                "not opted in: stands aside",
                not_opted,
                10,
                Succeeded,
                "not_opted_in",
            ),
            (
                "opted out: stands aside",
                opted_out,
                10,
                Succeeded,
                "opted_out",
            ),
            (
                "a rollback is never held up",
                rolling_back,
                10,
                Succeeded,
                "not_in_flight",
            ),
            (
                "two crashed tasks fail the stage",
                facts(Ok(vec![]), vec![crash(), crash()]),
                10,
                Failed,
                "tasks_failing",
            ),
            (
                "ECS's own failedTasks count",
                ecs_count,
                10,
                Failed,
                "tasks_failing",
            ),
            (
                "one crash is below the threshold",
                facts(Ok(vec![]), vec![crash()]),
                10,
                Succeeded,
                "healthy",
            ),
            (
                "stops that are not the revision's fault never count",
                facts(
                    Ok(vec![]),
                    vec![stop("SpotInterruption", "x"), stop("UserInitiated", "y")],
                ),
                10,
                Succeeded,
                "healthy",
            ),
            (
                "a guarding alarm in ALARM fails",
                facts(Ok(vec![alarm("web-5xx", Alarm, 20, 60)]), vec![]),
                30,
                Failed,
                "alarm",
            ),
            (
                "tasks are checked before alarms",
                facts(
                    Ok(vec![alarm("web-5xx", Alarm, 20, 60)]),
                    vec![crash(), crash()],
                ),
                30,
                Failed,
                "tasks_failing",
            ),
            (
                "in ALARM since before the deployment: watched",
                facts(Ok(vec![alarm("old", Alarm, -100, 60)]), vec![]),
                30,
                InProgress,
                "observing",
            ),
            (
                "…and let through at the end of the stage",
                facts(Ok(vec![alarm("old", Alarm, -100, 60)]), vec![]),
                400,
                Succeeded,
                "observed",
            ),
            (
                "INSUFFICIENT_DATA: keep observing",
                facts(Ok(vec![alarm("a", InsufficientData, 5, 60)]), vec![]),
                30,
                InProgress,
                "observing",
            ),
            (
                "INSUFFICIENT_DATA to the end: SUCCEEDED",
                facts(Ok(vec![alarm("a", InsufficientData, 5, 60)]), vec![]),
                300,
                Succeeded,
                "observed",
            ),
            (
                "OK but its window has not passed",
                facts(Ok(vec![alarm("a", AlarmState::Ok, 5, 120)]), vec![]),
                60,
                InProgress,
                "observing",
            ),
            (
                "OK and its window has passed",
                facts(Ok(vec![alarm("a", AlarmState::Ok, 5, 120)]), vec![]),
                121,
                Succeeded,
                "healthy",
            ),
            (
                "alarms unreadable: retry later",
                facts(Err("Throttling".into()), vec![]),
                30,
                InProgress,
                "unreadable",
            ),
            (
                "alarms unreadable for the whole stage: the default is FAILED",
                facts(Err("Throttling".into()), vec![]),
                300,
                Failed,
                "unreadable",
            ),
            (
                "crashes still fail while alarms are unreadable",
                facts(Err("Throttling".into()), vec![crash(), crash()]),
                30,
                Failed,
                "tasks_failing",
            ),
            (
                "no alarms, no failures",
                facts(Ok(vec![]), vec![]),
                0,
                Succeeded,
                "healthy",
            ),
        ];
        for (what, f, now, status, code) in rows {
            let v = judge(
                &inv("PRODUCTION_TRAFFIC_SHIFT", json!({})),
                &f,
                &settings,
                &state(0),
                &policy,
                t(now),
            );
            assert_eq!((v.status, v.code), (status, code), "{what}: {}", v.reason);
            assert_eq!(v.callback_seconds.is_some(), status == InProgress, "{what}");
        }
    }

    #[test]
    fn unchecked_stages_and_error_defaults() {
        let policy = Policy::default();
        let f = facts(Err("Throttling".into()), vec![]);
        let settings = GateSettings {
            observe: Duration::seconds(60),
            on_error: OnError::Succeed,
            ..GateSettings::default()
        };
        let v = judge(
            &inv("PRE_SCALE_UP", json!({})),
            &f,
            &settings,
            &state(0),
            &policy,
            t(1),
        );
        assert_eq!(
            (v.status, v.code),
            (HookStatus::Succeeded, "stage_not_checked")
        );
        let v = judge(
            &inv("POST_SCALE_UP", json!({})),
            &f,
            &settings,
            &state(0),
            &policy,
            t(61),
        );
        assert_eq!((v.status, v.code), (HookStatus::Succeeded, "unreadable"));
        let off = Policy {
            early_failed_tasks: 0,
            ..Policy::default()
        };
        let crash = stop("EssentialContainerExited", "exited");
        let f = facts(Ok(vec![]), vec![crash.clone(), crash.clone(), crash]);
        let v = judge(
            &inv("POST_SCALE_UP", json!({})),
            &f,
            &settings,
            &state(0),
            &off,
            t(1),
        );
        assert_eq!(v.code, "healthy", "early detection off: tasks do not count");
    }

    fn canary_read(green: (f64, f64, f64), blue: (f64, f64, f64), minutes: i64) -> CanaryRead {
        let series = |(requests, errors, latency): (f64, f64, f64)| -> Vec<crate::canary::Minute> {
            (0..minutes)
                .map(|i| crate::canary::Minute {
                    at: t(i * 60),
                    requests,
                    errors,
                    latency: Some(latency),
                })
                .collect()
        };
        CanaryRead::Read {
            green_target_group: "targetgroup/web-green/1".into(),
            blue_target_group: "targetgroup/web-blue/2".into(),
            green: series(green),
            blue: series(blue),
        }
    }

    /// The canary rules in the gate: worse fails (or is only told in report mode), not enough
    /// evidence holds the stage for at least ten minutes and then lets it through, an unreadable
    /// read is never a failure, and nothing is compared when it is off.
    #[test]
    fn canary_table() {
        let p = Policy::default();
        let i = inv("PRODUCTION_TRAFFIC_SHIFT", json!({}));
        let worse = canary_read((1000.0, 50.0, 0.1), (9000.0, 90.0, 0.1), 10);
        let same = canary_read((1000.0, 10.0, 0.1), (9000.0, 90.0, 0.1), 10);
        let low = canary_read((3.0, 1.0, 0.1), (9000.0, 90.0, 0.1), 10);
        let idle = canary_read((0.0, 0.0, 0.0), (9000.0, 90.0, 0.1), 10);
        let unreadable = CanaryRead::Unreadable("throttled".into());
        let with = |mode: CanaryMode| GateSettings {
            canary: mode,
            ..GateSettings::default()
        };
        let cases: Vec<(&str, CanaryRead, CanaryMode, i64, HookStatus, &str)> = vec![
            (
                "5x the 5xx fails",
                worse.clone(),
                CanaryMode::On,
                600,
                HookStatus::Failed,
                "canary_worse",
            ),
            (
                "report mode only tells",
                worse.clone(),
                CanaryMode::Report,
                600,
                HookStatus::Succeeded,
                "healthy",
            ),
            (
                "off compares nothing",
                worse,
                CanaryMode::Off,
                600,
                HookStatus::Succeeded,
                "healthy",
            ),
            (
                "not worse passes",
                same,
                CanaryMode::On,
                60,
                HookStatus::Succeeded,
                "healthy",
            ),
            (
                "low traffic holds the stage",
                low.clone(),
                CanaryMode::On,
                300,
                HookStatus::InProgress,
                "canary_observing",
            ),
            (
                "low traffic holds at least ten minutes",
                low.clone(),
                CanaryMode::On,
                590,
                HookStatus::InProgress,
                "canary_observing",
            ),
            (
                "then it lets the revision through",
                low,
                CanaryMode::On,
                600,
                HookStatus::Succeeded,
                "canary_inconclusive",
            ),
            (
                "no traffic at the stage holds nothing",
                idle,
                CanaryMode::On,
                10,
                HookStatus::Succeeded,
                "healthy",
            ),
            (
                "unreadable metrics hold",
                unreadable.clone(),
                CanaryMode::On,
                10,
                HookStatus::InProgress,
                "canary_observing",
            ),
            (
                "and are never a failure",
                unreadable,
                CanaryMode::On,
                600,
                HookStatus::Succeeded,
                "canary_inconclusive",
            ),
        ];
        for (name, read, mode, at, status, code) in cases {
            let f = GateFacts {
                canary: read,
                ..facts(Ok(vec![]), vec![])
            };
            let v = judge(&i, &f, &with(mode), &state(0), &p, t(at));
            assert_eq!((v.status, v.code), (status, code), "{name}: {}", v.reason);
            if code == "canary_worse" {
                let evidence = v.evidence.expect("the evidence of a failure");
                assert!(
                    evidence.contains("  new ") && evidence.contains("targetgroup/web-green/1"),
                    "{evidence}"
                );
            }
        }
        assert_eq!(
            gate_settings(
                &[(TAG_GATE_CANARY.to_string(), "report".to_string())].into(),
                &Map::new()
            )
            .0
            .canary,
            CanaryMode::Report
        );
        let (s, w) = gate_settings(
            &Default::default(),
            &json!({"canary": "maybe"}).as_object().unwrap().clone(),
        );
        assert_eq!((s.canary, w.len()), (CanaryMode::On, 1));
    }

    #[test]
    fn callback_delay_never_overshoots_the_stage() {
        let settings = GateSettings {
            observe: Duration::seconds(100),
            callback_seconds: 30,
            ..GateSettings::default()
        };
        let f = facts(
            Ok(vec![alarm("a", AlarmState::InsufficientData, 0, 60)]),
            vec![],
        );
        let p = Policy::default();
        let i = inv("POST_TEST_TRAFFIC_SHIFT", json!({}));
        assert_eq!(
            judge(&i, &f, &settings, &state(0), &p, t(10)).callback_seconds,
            Some(30)
        );
        assert_eq!(
            judge(&i, &f, &settings, &state(0), &p, t(90)).callback_seconds,
            Some(10)
        );
        assert_eq!(
            judge(&i, &f, &settings, &state(0), &p, t(99)).callback_seconds,
            Some(1)
        );
    }

    #[test]
    fn settings_from_tags_then_hook_details() {
        let tags: BTreeMap<String, String> = [
            (TAG_GATE_OBSERVE_MINUTES, "0.5"),
            (TAG_GATE_STAGES, "post_scale_up, PRODUCTION_TRAFFIC_SHIFT"),
            (TAG_GATE_CALLBACK_SECONDS, "10"),
            (TAG_GATE_ON_ERROR, "succeed"),
            (TAG_GATE_ALARMS, "a b"),
        ]
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
        let (s, w) = gate_settings(&tags, &Map::new());
        assert!(w.is_empty(), "{w:?}");
        assert_eq!(s.observe, Duration::seconds(30));
        assert_eq!(s.stages, vec!["POST_SCALE_UP", "PRODUCTION_TRAFFIC_SHIFT"]);
        assert_eq!((s.callback_seconds, s.on_error), (10, OnError::Succeed));
        assert_eq!(s.extra_alarms, vec!["a", "b"]);
        let details = json!({"observeMinutes": 2, "stages": ["POST_TEST_TRAFFIC_SHIFT"], "alarms": ["c"], "callBackDelaySeconds": 0});
        let (s, w) = gate_settings(&tags, details.as_object().unwrap());
        assert_eq!(s.observe, Duration::minutes(2));
        assert_eq!(s.stages, vec!["POST_TEST_TRAFFIC_SHIFT"]);
        assert_eq!(s.extra_alarms, vec!["a", "b", "c"]);
        assert_eq!(
            s.callback_seconds, 10,
            "an invalid value keeps the one below"
        );
        assert_eq!(w.len(), 1, "{w:?}");
        let bad: BTreeMap<String, String> = [
            (TAG_GATE_OBSERVE_MINUTES, "-1"),
            (TAG_GATE_STAGES, "SOMETIME"),
            (TAG_GATE_ON_ERROR, "maybe"),
        ]
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
        let (s, w) = gate_settings(&bad, &Map::new());
        assert_eq!(s, GateSettings::default());
        assert_eq!(w.len(), 3);
        let none: BTreeMap<String, String> =
            [(TAG_GATE_STAGES.to_string(), "none".to_string())].into();
        assert!(gate_settings(&none, &Map::new()).0.stages.is_empty());
    }

    #[test]
    fn state_lives_in_hook_details_only() {
        let mut w = Vec::new();
        let fresh = gate_state(&inv("POST_SCALE_UP", json!({})), t(50), &mut w);
        assert_eq!((fresh.first_seen, fresh.calls), (t(50), 0));
        let answered = answer(
            &GateVerdict {
                status: HookStatus::InProgress,
                callback_seconds: Some(30),
                code: "observing",
                reason: "r".into(),
                evidence: None,
                evidence_data: None,
            },
            &GateState {
                alarms: Some(vec!["x".into()]),
                ..fresh.clone()
            },
            false,
        );
        assert_eq!(answered["hookStatus"], "IN_PROGRESS");
        assert_eq!(answered["callBackDelay"], 30);
        // ECS merges the answered hookDetails into the next payload.
        let next = inv("POST_SCALE_UP", answered["hookDetails"].clone());
        let again = gate_state(&next, t(80), &mut w);
        assert_eq!((again.first_seen, again.calls), (t(50), 1));
        assert_eq!(again.alarms, Some(vec!["x".to_string()]));
        assert!(w.is_empty());
        // Another stage's (or execution's) state is not this one's.
        let other = inv("POST_TEST_TRAFFIC_SHIFT", answered["hookDetails"].clone());
        assert_eq!(gate_state(&other, t(80), &mut w).first_seen, t(80));
        // A future or unreadable firstSeen restarts the observation, and says so.
        let mut future = answered["hookDetails"].clone();
        future[STATE_KEY]["firstSeen"] = json!("2999-01-01T00:00:00Z");
        let s = gate_state(&inv("POST_SCALE_UP", future), t(80), &mut w);
        assert_eq!(s.first_seen, t(80));
        assert_eq!(w.len(), 1);
        // A dry run answers SUCCEEDED and keeps the verdict it would have given.
        let dry = answer(
            &GateVerdict {
                status: HookStatus::Failed,
                callback_seconds: None,
                code: "alarm",
                reason: "r".into(),
                evidence: None,
                evidence_data: None,
            },
            &fresh,
            true,
        );
        assert_eq!(dry["hookStatus"], "SUCCEEDED");
        assert_eq!(dry["hookDetails"][STATE_KEY]["verdict"], "FAILED");
        assert!(dry.get("callBackDelay").is_none());
    }

    #[test]
    fn guarding_alarms_follow_rule_4() {
        let c = |name: &str, listed: bool, tagged: bool, actions: &[&str]| AlarmCandidate {
            facts: AlarmFacts {
                name: name.into(),
                actions: actions.iter().map(|a| a.to_string()).collect(),
                actions_enabled: Some(true),
                suppressed: None,
            },
            listed,
            tagged,
        };
        let scaling = "arn:aws:autoscaling:eu-west-1:123456789012:scalingPolicy:x:resource/ecs/service/demo/web:policyName/p";
        let (guards, notes) = gate_rule_guarding_alarms(&[
            c("web-5xx", false, true, &[]),
            c("web-latency", true, false, &[]),
            c("cpu-dims-only", false, false, &[]),
            c(
                "TargetTracking-service/demo/web-AlarmHigh-1",
                true,
                true,
                &[],
            ),
            c("step-scaling", false, true, &[scaling]),
        ]);
        assert_eq!(guards, vec!["web-5xx", "web-latency"]);
        assert_eq!(notes.len(), 2, "{notes:?}");
    }

    #[test]
    fn revision_names_its_deployment_and_status_line() {
        let i = inv("POST_SCALE_UP", json!({}));
        assert_eq!(i.ecs_deployment_id().as_deref(), Some("ecs-svc/4444"));
        let f = InFlight {
            service_deployment_arn: "sd".into(),
            strategy: Strategy::Canary,
            lifecycle_stage: Some("PRODUCTION_TRAFFIC_SHIFT".into()),
            hooks: vec![
                (
                    "arn:aws:lambda:eu-west-1:1:function:other".into(),
                    "SUCCEEDED".into(),
                ),
                (
                    "arn:aws:lambda:eu-west-1:1:function:ecs-rollback".into(),
                    "IN_PROGRESS".into(),
                ),
            ],
            awaiting: Vec::new(),
        };
        assert_eq!(
            f.line(Some("arn:aws:lambda:eu-west-1:1:function:ecs-rollback")),
            "CANARY at PRODUCTION_TRAFFIC_SHIFT, gate IN_PROGRESS"
        );
        assert_eq!(
            f.last_verdict(Some("arn:aws:lambda:eu-west-1:1:function:nope")),
            None
        );
        let msg = failure_message(
            &i,
            &GateVerdict::fail("alarm", "the guarding alarm web-5xx is in ALARM".into()),
            Some("arn:aws:ecs:eu-west-1:123456789012:task-definition/web:3"),
        );
        assert!(msg.contains("ECS is rolling back deployment arn:aws:ecs:eu-west-1:123456789012:service-deployment/demo/web/abc because the guarding alarm web-5xx is in ALARM."), "{msg}");
        assert!(msg.contains("web:3"));
    }
}
