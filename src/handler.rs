//! Orchestration for one invocation: parse → load → decide → act → record, notify, log, metrics.

use std::time::Instant;

use serde::Serialize;
use serde_json::Value;

use crate::aws::cloudwatch::CloudWatch;
use crate::aws::ecs::Ecs;
use crate::aws::sns::Sns;
use crate::config::Config;
use crate::decision::{self, Decision, Method, Need, Outcome, RollbackPlan, Snapshot, Step};
use crate::error::{Error, InputError};
use crate::event::{self, AlarmEvent, Event, Origin};
use crate::metrics;
use crate::model::*;

/// How many load-and-decide rounds one decision may take (history, family, a revision at a time).
const MAX_ROUNDS: usize = 32;
/// How deep composite alarms are followed to their children.
const MAX_ALARM_DEPTH: usize = 3;

/// The clients and settings a handler needs; built once per sandbox.
#[derive(Clone, Debug)]
pub struct Deps {
    pub ecs: Ecs,
    pub cloudwatch: CloudWatch,
    pub sns: Option<Sns>,
    pub config: Config,
}

/// What the runtime says about this invocation.
#[derive(Clone, Debug, Default)]
pub struct Invocation {
    /// `arn:aws:lambda:REGION:ACCOUNT:function:NAME`: tells the function's own account and region.
    pub function_arn: Option<String>,
}

impl Invocation {
    fn own(&self) -> (Option<&str>, Option<&str>) {
        let Some(arn) = self.function_arn.as_deref() else {
            return (None, None);
        };
        let parts: Vec<&str> = arn.split(':').collect();
        if parts.len() >= 5 && parts[0] == "arn" && parts[2] == "lambda" {
            (
                Some(parts[4]).filter(|s| !s.is_empty()),
                Some(parts[3]).filter(|s| !s.is_empty()),
            )
        } else {
            (None, None)
        }
    }
}

/// The response for one service (DESIGN §5).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, serde::Deserialize)]
pub struct Response {
    pub action: String,
    pub cluster: Option<String>,
    pub service: Option<String>,
    pub from: Option<String>,
    pub to: Option<String>,
    pub reason: String,
}

impl Response {
    fn skipped(target: Option<&ServiceRef>, reason: String) -> Response {
        Response {
            action: "skipped".into(),
            cluster: target.map(|t| t.cluster.clone()),
            service: target.map(|t| t.service.clone()),
            from: None,
            to: None,
            reason,
        }
    }
}

/// Handle one invocation payload. `now` is passed in so tests are deterministic.
pub async fn handle(
    deps: &Deps,
    payload: Value,
    inv: &Invocation,
    now: Time,
) -> Result<Value, Error> {
    let event = event::parse(payload)?;
    let responses = match event {
        Event::Direct { trigger } => vec![respond(deps, &trigger, now).await?],
        Event::Service { origin, trigger } => match foreign(deps, &origin, inv) {
            Some(reason) => vec![ignored(Some(&trigger.target), &trigger.cause, reason)],
            None => vec![respond(deps, &trigger, now).await?],
        },
        Event::Ignored {
            origin,
            target,
            kind,
            reason,
        } => {
            let response = match foreign(deps, &origin, inv) {
                Some(foreign_reason) => Response::skipped(target.as_ref(), foreign_reason),
                None => Response::skipped(target.as_ref(), reason),
            };
            log_response(&response, kind, "not_a_fault");
            metrics::emit("skipped", Some("not_a_fault"), None);
            vec![response]
        }
        Event::Alarm { origin, alarm } => match foreign(deps, &origin, inv) {
            Some(reason) => vec![ignored(None, &alarm.cause(), reason)],
            None => respond_alarm(deps, &alarm, now).await?,
        },
    };
    let value = if responses.len() == 1 {
        serde_json::to_value(&responses[0])
    } else {
        serde_json::to_value(&responses)
    };
    value.map_err(|e| Error::Internal(format!("response could not be serialized: {e}")))
}

/// Events from another account or region than the function's own are not acted on.
fn foreign(deps: &Deps, origin: &Origin, inv: &Invocation) -> Option<String> {
    let (own_account, own_region) = inv.own();
    if let (Some(account), Some(own)) = (origin.account.as_deref(), own_account) {
        if account != own && !deps.config.allowed_accounts.iter().any(|a| a == account) {
            return Some(format!(
                "Ignored: the event comes from account {account}, not this function's account {own} (see ROLLBACK_ALLOWED_ACCOUNTS)."
            ));
        }
    }
    if let (Some(region), Some(own)) = (origin.region.as_deref(), own_region) {
        if region != own {
            return Some(format!(
                "Ignored: the event comes from region {region}; this function acts in {own} only."
            ));
        }
    }
    None
}

fn ignored(target: Option<&ServiceRef>, cause: &Cause, reason: String) -> Response {
    let response = Response::skipped(target, reason);
    log_response(&response, cause.kind(), "foreign_event");
    metrics::emit(&response.action, Some("foreign_event"), None);
    response
}

async fn respond_alarm(deps: &Deps, alarm: &AlarmEvent, now: Time) -> Result<Vec<Response>, Error> {
    let cause = alarm.cause();
    if alarm.state != AlarmState::Alarm {
        // No AWS call: an alarm that is not in ALARM never acts, whichever service it guards.
        let targets = &alarm.dimension_targets;
        let response = Response::skipped(
            (targets.len() == 1).then(|| &targets[0]),
            format!(
                "The alarm {} is {}, not ALARM: nothing to do.",
                alarm.name, alarm.state
            ),
        );
        log_response(&response, cause.kind(), "alarm_not_in_alarm");
        metrics::emit("skipped", Some("alarm_not_in_alarm"), None);
        return Ok(vec![response]);
    }
    let targets = alarm_targets(deps, alarm).await?;
    if targets.is_empty() {
        let response = Response::skipped(
            None,
            format!(
                "The alarm {} guards no ECS service: tag it {TAG_ALARM_CLUSTER} and {TAG_ALARM_SERVICE}, or give its metrics ClusterName and ServiceName dimensions.",
                alarm.name
            ),
        );
        log_response(&response, cause.kind(), "no_service");
        metrics::emit("skipped", Some("no_service"), None);
        return Ok(vec![response]);
    }
    let mut responses = Vec::new();
    let mut first_error = None;
    for target in targets {
        let trigger = Trigger {
            target,
            cause: cause.clone(),
        };
        match respond(deps, &trigger, now).await {
            Ok(r) => responses.push(r),
            Err(e) => {
                tracing::error!(cluster = %trigger.target.cluster, service = %trigger.target.service, error = %e, "alarm target failed");
                first_error.get_or_insert(e);
            }
        }
    }
    match first_error {
        Some(e) => Err(e),
        None => Ok(responses),
    }
}

/// Which services an alarm guards: its tags, else its dimensions, else its composite children's.
async fn alarm_targets(deps: &Deps, alarm: &AlarmEvent) -> Result<Vec<ServiceRef>, Error> {
    if let Some(arn) = &alarm.arn {
        let tags = deps.cloudwatch.tags(arn).await?;
        let targets = event::targets_from_tags(tags.iter().map(|(k, v)| (k.as_str(), v.as_str())));
        if !targets.is_empty() {
            return Ok(targets);
        }
    }
    if !alarm.dimension_targets.is_empty() {
        return Ok(alarm.dimension_targets.clone());
    }
    let Some(rule) = &alarm.alarm_rule else {
        return Ok(Vec::new());
    };
    // A composite alarm: follow the children that triggered it (else every child of its rule).
    let mut names: Vec<String> = alarm
        .triggering
        .iter()
        .map(|arn| arn.rsplit(":alarm:").next().unwrap_or(arn).to_string())
        .collect();
    if names.is_empty() {
        names = event::alarm_rule_children(rule);
    }
    let mut targets: Vec<ServiceRef> = Vec::new();
    let mut seen: Vec<String> = vec![alarm.name.clone()];
    for _ in 0..MAX_ALARM_DEPTH {
        names.retain(|n| !seen.contains(n));
        if names.is_empty() {
            break;
        }
        seen.extend(names.iter().cloned());
        let children = deps.cloudwatch.describe(&names).await?;
        names = Vec::new();
        for child in children {
            let mut found = Vec::new();
            if let Some(arn) = &child.arn {
                let tags = deps.cloudwatch.tags(arn).await?;
                found =
                    event::targets_from_tags(tags.iter().map(|(k, v)| (k.as_str(), v.as_str())));
            }
            if found.is_empty() {
                found = child.dimension_targets.clone();
            }
            if let Some(rule) = &child.alarm_rule {
                names.extend(event::alarm_rule_children(rule));
            }
            for t in found {
                if !targets.contains(&t) {
                    targets.push(t);
                }
            }
        }
    }
    Ok(targets)
}

/// Decide and act for one service. An AWS failure (after retries) is notified, where SNS itself
/// works, and returned as a function error so that Lambda retries and then keeps the event.
pub async fn respond(deps: &Deps, trigger: &Trigger, now: Time) -> Result<Response, Error> {
    let result = decide_and_act(deps, trigger, now).await;
    if let (Err(error), Some(sns)) = (&result, &deps.sns) {
        if !matches!(error, Error::Input(_)) {
            let target = &trigger.target;
            let arn = [&target.service, &target.cluster]
                .into_iter()
                .find(|s| s.starts_with("arn:"));
            let (account, region) = arn
                .map(|a| crate::notify::arn_account_region(a))
                .unwrap_or_default();
            let notice = crate::notify::Notice {
                action: "error".into(),
                cluster: crate::notify::resource_name(&target.cluster).to_string(),
                service: crate::notify::resource_name(&target.service).to_string(),
                service_arn: Some(target.service.clone()).filter(|s| s.starts_with("arn:")),
                account,
                region,
                trigger: trigger.cause.describe(),
                trigger_kind: trigger.cause.kind().to_string(),
                from: None,
                to: None,
                reason: error.to_string(),
                method: None,
                strategy: None,
                runbook: None,
                stack: None,
            };
            if let Err(e) = sns
                .publish_notification(&crate::notify::render(&notice))
                .await
            {
                tracing::error!(error = %e, "error notification not sent");
            }
        }
    }
    result
}

async fn decide_and_act(deps: &Deps, trigger: &Trigger, now: Time) -> Result<Response, Error> {
    let started = Instant::now();
    let service = deps.ecs.describe_service(&trigger.target).await?;
    let mut snap = Snapshot::new(service);
    let decision = decide_loaded(deps, trigger, &mut snap, now).await?;
    let latency_ms = started.elapsed().as_secs_f64() * 1000.0;
    act(deps, trigger, &snap, decision, now, latency_ms).await
}

/// Drive the pure core, loading each thing it asks for.
pub async fn decide_loaded(
    deps: &Deps,
    trigger: &Trigger,
    snap: &mut Snapshot,
    now: Time,
) -> Result<Decision, Error> {
    let requested = match &trigger.cause {
        Cause::Manual { to: Some(to), .. } => Some(to.as_str()),
        _ => None,
    };
    let mut served: Vec<Need> = Vec::new();
    for _ in 0..MAX_ROUNDS {
        let need = match decision::decide(trigger, snap, &deps.config.policy, now) {
            Step::Done(decision) => return Ok(decision),
            Step::Need(need) => need,
        };
        if served.contains(&need) {
            return Err(Error::Internal(format!(
                "the decision asked twice for {need:?}"
            )));
        }
        match &need {
            Need::History => {
                let history = deps.ecs.history(&snap.service).await;
                if let Err(why) = &history {
                    tracing::warn!(
                        cluster = %snap.service.cluster_name(),
                        service = %snap.service.service_name,
                        error = %why,
                        "service-deployment history unavailable; falling back to the ledger and the task-definition family"
                    );
                }
                snap.history = Some(history);
            }
            Need::Family(family) => snap.family = Some(deps.ecs.family(family).await?),
            Need::Revisions(names) => {
                for name in names {
                    let revision = match deps.ecs.describe_revision(name).await {
                        Ok(r) => r,
                        // A revision named by history or the family that is gone cannot be a target.
                        Err(Error::Input(InputError::UnknownTaskDefinition(_)))
                            if requested != Some(name.as_str()) =>
                        {
                            gone(name)
                        }
                        Err(e) => return Err(e),
                    };
                    snap.revisions.insert(name.clone(), revision.clone());
                    snap.revisions.insert(revision.arn.clone(), revision);
                }
            }
        }
        served.push(need);
    }
    Err(Error::Internal("the decision did not settle".into()))
}

fn gone(name: &str) -> Revision {
    let (family, revision) = split_task_definition(name).unwrap_or(("", 0));
    Revision {
        arn: name.to_string(),
        family: family.to_string(),
        revision,
        status: RevisionStatus::Inactive,
        ledger: None,
        images: Vec::new(),
    }
}

/// Carry out a decision, then record, notify, log and emit metrics.
async fn act(
    deps: &Deps,
    trigger: &Trigger,
    snap: &Snapshot,
    decision: Decision,
    now: Time,
    latency_ms: f64,
) -> Result<Response, Error> {
    let service = &snap.service;
    let mut response = Response {
        action: decision.action().to_string(),
        cluster: Some(service.cluster_name().to_string()),
        service: Some(service.service_name.clone()),
        from: decision.from().map(str::to_string),
        to: decision.to().map(str::to_string),
        reason: decision.reason(&trigger.cause),
    };
    let mut code: Option<&str> = None;
    match &decision.outcome {
        Outcome::Skip(skip) => code = Some(skip.code()),
        Outcome::Record { task_definition } => {
            if deps.config.policy.dry_run {
                response.action = "dry_run".into();
                response.reason = format!(
                    "Dry run: would have recorded {} as stable.",
                    short_task_definition(task_definition)
                );
            } else {
                deps.ecs
                    .tag(task_definition, &[(TAG_STATUS, "stable")])
                    .await?;
            }
        }
        Outcome::Rollback(plan) if plan.dry_run => {
            response.reason = format!(
                "Dry run: {}",
                response
                    .reason
                    .replacen("Would roll back", "would roll back", 1)
            );
        }
        Outcome::Rollback(plan) => {
            let deployed = execute(deps, service, plan).await?;
            if deployed != plan.to {
                response.to = Some(deployed.clone());
                response.reason = format!(
                    "{} The copy is {}.",
                    response.reason,
                    short_task_definition(&deployed)
                );
            }
            record(deps, service, plan, &deployed, now).await;
        }
    }
    if let Outcome::Rollback(RollbackPlan {
        degraded: Some(why),
        ..
    }) = &decision.outcome
    {
        tracing::warn!(cluster = %service.cluster_name(), service = %service.service_name, "{why}");
    }
    let should_notify = match &decision.outcome {
        Outcome::Rollback(_) => true,
        Outcome::Skip(skip) => skip.notify(),
        Outcome::Record { .. } => false,
    };
    if should_notify {
        notify(deps, trigger, snap, &response).await;
    }
    let failed = matches!(&decision.outcome, Outcome::Skip(skip) if skip.is_error());
    log_decision(&response, trigger.cause.kind(), code.unwrap_or(""), failed);
    metrics::emit(&response.action, code, Some(latency_ms));
    Ok(response)
}

/// Attempts of the rollback write. The SDK does not retry it (see `aws::ecs`): after a transient
/// failure the service is read again, and the write is repeated only if it did not happen.
const WRITE_ATTEMPTS: u32 = 3;

/// Issue the rollback; returns the task definition the service is moved to.
async fn execute(
    deps: &Deps,
    service: &ServiceState,
    plan: &RollbackPlan,
) -> Result<String, Error> {
    let target = if plan.pins.is_empty() {
        plan.to.clone()
    } else {
        deps.ecs.register_pinned_copy(&plan.to, &plan.pins).await?
    };
    let target_ref = ServiceRef {
        cluster: service.cluster_arn.clone(),
        service: service.service_arn.clone(),
    };
    let mut attempt = 1;
    loop {
        let written = match &plan.method {
            Method::StopDeployment {
                service_deployment_arn,
            } => deps.ecs.stop_deployment(service_deployment_arn).await,
            Method::UpdateService => deps.ecs.update_service(service, &target).await,
        };
        let error = match written {
            Ok(()) => return Ok(target),
            Err(e) if e.is_retryable() && attempt < WRITE_ATTEMPTS => e,
            Err(e) => return Err(e),
        };
        // The response was lost or refused: did the write happen? Read, then decide again.
        tracing::warn!(attempt, error = %error, "rollback write failed; reading the service again before any retry");
        tokio::time::sleep(std::time::Duration::from_millis(200 * 2u64.pow(attempt))).await;
        let now = deps.ecs.describe_service(&target_ref).await?;
        if write_took_effect(&now, service, &target) {
            tracing::info!(
                attempt,
                "the rollback write had taken effect; not repeating it"
            );
            return Ok(target);
        }
        attempt += 1;
    }
}

/// Whether the service, read again, shows the rollback already under way: a new PRIMARY
/// deployment of the target (UpdateService, or ECS's own rollback after StopServiceDeployment).
fn write_took_effect(now: &ServiceState, before: &ServiceState, target: &str) -> bool {
    let primary_changed = now.primary().map(|p| &p.id) != before.primary().map(|p| &p.id);
    primary_changed
        && now
            .primary()
            .is_some_and(|p| decision::same_task_definition(&p.task_definition, target))
}

/// After the rollback: the ledger (failed revision is bad) and the service's memory of it
/// (cooldown, no loops). Best effort: the rollback already happened, a failed tag is logged.
async fn record(
    deps: &Deps,
    service: &ServiceState,
    plan: &RollbackPlan,
    deployed: &str,
    now: Time,
) {
    if let Err(e) = deps.ecs.tag(&plan.mark_bad, &[(TAG_STATUS, "bad")]).await {
        tracing::error!(task_definition = %plan.mark_bad, error = %e, "could not mark the failed revision bad");
    }
    let at = now.to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    let tags = [
        (TAG_LAST_ROLLBACK_AT, at.as_str()),
        (TAG_LAST_ROLLBACK_TO, deployed),
        (TAG_LAST_ROLLBACK_FROM, plan.from.as_str()),
    ];
    if let Err(e) = deps.ecs.tag(&service.service_arn, &tags).await {
        tracing::error!(service = %service.service_arn, error = %e, "could not record the rollback on the service; the cooldown will not apply");
    }
}

/// The one structured line per decision (at error level when a wanted rollback was impossible).
macro_rules! decision_line {
    ($level:ident, $response:expr, $trigger:expr, $skip:expr) => {
        tracing::$level!(
            action = %$response.action,
            cluster = $response.cluster.as_deref().unwrap_or(""),
            service = $response.service.as_deref().unwrap_or(""),
            from = $response.from.as_deref().unwrap_or(""),
            to = $response.to.as_deref().unwrap_or(""),
            reason = %$response.reason,
            trigger = $trigger,
            skip = $skip,
            "decision"
        )
    };
}

fn log_decision(response: &Response, trigger: &str, skip: &str, failed: bool) {
    if failed {
        decision_line!(error, response, trigger, skip);
    } else {
        decision_line!(info, response, trigger, skip);
    }
}

fn log_response(response: &Response, trigger: &str, skip: &str) {
    log_decision(response, trigger, skip, false);
}

/// Image list of a revision for people: `container=image` (tags only, never other fields).
fn images_of(snap: &Snapshot, arn: &str) -> Option<String> {
    if let Some(r) = snap.revisions.get(arn) {
        return Some(
            r.images
                .iter()
                .map(|c| format!("{}={}", c.container, c.image))
                .collect::<Vec<_>>()
                .join(", "),
        );
    }
    let entries = snap.history.as_ref()?.as_ref().ok()?;
    let entry = entries
        .iter()
        .find(|e| e.target_task_definition.as_deref() == Some(arn))?;
    Some(
        entry
            .target_images
            .iter()
            .map(|i| format!("{}={}", i.container, i.image.as_deref().unwrap_or("?")))
            .collect::<Vec<_>>()
            .join(", "),
    )
}

async fn notify(deps: &Deps, trigger: &Trigger, snap: &Snapshot, response: &Response) {
    use crate::notify::{self, Method, Notice, RevisionLine};
    let service = &snap.service;
    let line = |arn: &Option<String>| {
        arn.as_ref().map(|arn| RevisionLine {
            task_definition: short_task_definition(arn),
            images: images_of(snap, arn)
                .filter(|i| !i.is_empty())
                .into_iter()
                .collect(),
        })
    };
    let (account, region) = notify::arn_account_region(&service.service_arn);
    let rolls_back = matches!(response.action.as_str(), "rolled_back" | "dry_run");
    let notice = Notice {
        action: response.action.clone(),
        cluster: response.cluster.clone().unwrap_or_else(|| "-".into()),
        service: response.service.clone().unwrap_or_else(|| "-".into()),
        service_arn: Some(service.service_arn.clone()),
        account,
        region,
        trigger: trigger.cause.describe(),
        trigger_kind: trigger.cause.kind().to_string(),
        from: line(&response.from),
        to: line(&response.to),
        reason: response.reason.clone(),
        // The decision's method, as its reason sentence states it (rule 6).
        method: rolls_back.then(|| {
            if response.reason.contains("StopServiceDeployment") {
                Method::StopDeployment
            } else {
                Method::UpdateService
            }
        }),
        strategy: None,
        runbook: service.tags.get(notify::TAG_RUNBOOK).cloned(),
        stack: service.tags.get(notify::TAG_CFN_STACK).cloned(),
    };
    if let (true, Some(stack)) = (rolls_back, &notice.stack) {
        tracing::warn!(
            cluster = %notice.cluster,
            service = %notice.service,
            stack = %stack,
            "IaC drift: CloudFormation stack {stack} still names {}; its next update deploys it again",
            response.from.as_deref().map(short_task_definition).unwrap_or_default()
        );
    }
    let Some(sns) = &deps.sns else {
        return;
    };
    if let Err(e) = sns.publish_notification(&notify::render(&notice)).await {
        tracing::error!(error = %e, "notification not sent");
    }
}

/// The plain-text notification body (as e-mail subscribers read it) for a response.
pub fn notification_text(response: &Response, cause: &Cause, from: &str, to: &str) -> String {
    // `from` / `to` as `notify()` used to describe them: `family:rev (container=image, …)`.
    let line = |described: &str| {
        (described != "-").then(|| {
            let (td, images) = match described.split_once(" (") {
                Some((td, rest)) => (td, vec![rest.trim_end_matches(')').to_string()]),
                None => (described, Vec::new()),
            };
            crate::notify::RevisionLine {
                task_definition: td.to_string(),
                images,
            }
        })
    };
    let notice = crate::notify::Notice {
        action: response.action.clone(),
        cluster: response.cluster.clone().unwrap_or_else(|| "-".into()),
        service: response.service.clone().unwrap_or_else(|| "-".into()),
        service_arn: None,
        account: None,
        region: None,
        trigger: cause.describe(),
        trigger_kind: cause.kind().to_string(),
        from: line(from),
        to: line(to),
        reason: response.reason.clone(),
        method: None,
        strategy: None,
        runbook: None,
        stack: None,
    };
    crate::notify::render(&notice).text
}
