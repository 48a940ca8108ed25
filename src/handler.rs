//! Orchestration for one invocation: parse → load → decide → act → record, notify, log, metrics.

use std::sync::Arc;
use std::time::Instant;

use serde::Serialize;
use serde_json::Value;
use tracing::Instrument;

use crate::aws::clients::{self, ClientPool, Place};
use crate::aws::cloudwatch::{AlarmInfo, CloudWatch};
use crate::aws::ecs::Ecs;
use crate::aws::lease::Lease;
use crate::aws::sns::Sns;
use crate::config::Config;
use crate::decision::{
    self, AlarmFacts, Decision, Method, Migration, Need, Outcome, RollbackPlan, Skip, Snapshot,
    Step,
};
use crate::error::{Error, InputError};
use crate::event::{self, AlarmEvent, Event, Origin};
use crate::gate;
use crate::metrics;
use crate::model::*;

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
    /// Organization mode: clients of member accounts (`None` = single account).
    pub pool: Option<Arc<ClientPool>>,
    /// Per-service lease around read-decide-write (`None` = serialized by concurrency 1).
    pub lease: Option<Lease>,
}

impl Deps {
    /// Where an event acts: its own account and region, else the function's.
    fn place_of(origin: Option<&Origin>, inv: &Invocation) -> Place {
        let (own_account, own_region) = inv.own();
        let pick = |event: Option<&String>, own: Option<&str>| {
            event
                .map(String::as_str)
                .or(own)
                .unwrap_or_default()
                .to_string()
        };
        Place {
            account: pick(origin.and_then(|o| o.account.as_ref()), own_account),
            region: pick(origin.and_then(|o| o.region.as_ref()), own_region),
        }
    }

    /// The clients and lease for one place: a member account's clients from the pool (built
    /// on first use, no call), the function's own for its own account; leases keyed by place.
    async fn for_place(&self, place: &Place, inv: &Invocation) -> Deps {
        let mut deps = self.clone();
        if let Some(lease) = &self.lease {
            deps.lease = Some(lease.scoped(&place.account, &place.region));
        }
        let (own_account, _) = inv.own();
        if let Some(pool) = &self.pool {
            if !place.account.is_empty() && Some(place.account.as_str()) != own_account {
                let partition = inv.partition().unwrap_or("aws");
                let member = pool.clients(partition, place).await;
                deps.ecs = member.ecs;
                deps.cloudwatch = member.cloudwatch;
            }
        }
        deps
    }
}

/// What the runtime says about this invocation.
#[derive(Clone, Debug, Default)]
pub struct Invocation {
    /// `arn:aws:lambda:REGION:ACCOUNT:function:NAME`: tells the function's own account and region.
    pub function_arn: Option<String>,
    /// When Lambda stops the invocation (`Lambda-Runtime-Deadline-Ms`): every AWS call is
    /// bounded by it (`None` = only the SDK's own timeouts).
    pub deadline: Option<Instant>,
}

impl Invocation {
    /// The deadline of a runtime's `deadline` (milliseconds since the epoch), as an [`Instant`].
    pub fn deadline_from_epoch_ms(deadline_ms: u64) -> Option<Instant> {
        let now_ms = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .ok()?
            .as_millis() as u64;
        (deadline_ms > 0).then(|| {
            Instant::now() + std::time::Duration::from_millis(deadline_ms.saturating_sub(now_ms))
        })
    }
}

impl Invocation {
    /// The function's partition (`aws`, `aws-cn`, …), from its ARN.
    fn partition(&self) -> Option<&str> {
        self.function_arn
            .as_deref()
            .and_then(|arn| arn.split(':').nth(1))
            .filter(|p| !p.is_empty())
    }

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

/// The response for one service: action, cluster, service, from, to, reason.
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
    // Boxed: the nested futures of routing, lease and decision are deeper than rustc's layout limit.
    let work = Box::pin(handle_within(deps, payload, inv, now));
    crate::deadline::within(inv.deadline, work).await
}

async fn handle_within(
    deps: &Deps,
    payload: Value,
    inv: &Invocation,
    now: Time,
) -> Result<Value, Error> {
    let event = event::parse(payload)?;
    // The deployment gate answers lifecycle hooks and nothing else: its role can only read,
    // and an event meant for the responder must not be silently swallowed by it.
    if deps.config.gate_only && !matches!(event, Event::Hook { .. }) {
        return Err(InputError::Invalid {
            field: "event".into(),
            why: "is not an ECS lifecycle-hook invocation, and this function is the deployment gate (ROLLBACK_MODE=gate): it answers lifecycle hooks only; send events to the responder".into(),
        }
        .into());
    }
    // A lifecycle hook is answered in ECS's format, not with the responder's own response (in the
    // function's own account: ECS invokes the hook with a role of the service's account).
    if let Event::Hook { hook } = event {
        return respond_hook(deps, &hook, now).await;
    }
    let origin = match &event {
        Event::Direct { .. } | Event::Hook { .. } => None,
        Event::Service { origin, .. }
        | Event::Migration { origin, .. }
        | Event::Paused { origin, .. }
        | Event::Alarm { origin, .. }
        | Event::Ignored { origin, .. } => Some(origin.clone()),
    };
    let place = Deps::place_of(origin.as_ref(), inv);
    // Refused before any client exists for the place: no call in any account.
    let refused = origin.as_ref().and_then(|o| foreign(deps, o, inv));
    let local;
    let deps = match refused {
        None => {
            local = deps.for_place(&place, inv).await;
            &local
        }
        Some(_) => deps,
    };
    let span = tracing::info_span!("event", account = %place.account, region = %place.region);
    let routed = async {
        Ok::<_, Error>(match event {
            Event::Direct { trigger } => vec![respond(deps, &trigger, now).await?],
            Event::Service { trigger, .. } => match refused {
                Some(reason) => vec![ignored(Some(&trigger.target), &trigger.cause, reason)],
                None => match resolve_cluster(deps, trigger).await? {
                    Ok(trigger) => vec![respond(deps, &trigger, now).await?],
                    Err(response) => vec![response],
                },
            },
            Event::Paused {
                target,
                deployment_arn,
                hook_id,
                stage,
                ..
            } => match refused {
                Some(reason) => vec![Response::skipped(Some(&target), reason)],
                None => vec![
                    Box::pin(respond_pause(
                        deps,
                        &target,
                        &deployment_arn,
                        &hook_id,
                        &stage,
                        now,
                    ))
                    .await?,
                ],
            },
            Event::Migration {
                target, task_arn, ..
            } => match refused {
                Some(reason) => vec![Response::skipped(Some(&target), reason)],
                None => Box::pin(respond_migration(deps, &target, &task_arn, now)).await?,
            },
            Event::Ignored {
                target,
                kind,
                reason,
                ..
            } => {
                let response = match refused {
                    Some(foreign_reason) => Response::skipped(target.as_ref(), foreign_reason),
                    None => Response::skipped(target.as_ref(), reason),
                };
                log_response(&response, kind, "not_a_fault");
                metrics::emit("skipped", Some("not_a_fault"), None);
                vec![response]
            }
            Event::Alarm { alarm, .. } => match refused {
                Some(reason) => vec![ignored(None, &alarm.cause(AlarmGuard::Tagged), reason)],
                None => respond_alarm(deps, &alarm, now).await?,
            },
            Event::Hook { .. } => unreachable!("answered above"),
        })
    };
    // Boxed: the nested futures of routing, lease and decision are deeper than rustc's layout limit.
    let responses = clients::within(place.clone(), Box::pin(routed.instrument(span))).await?;
    // Every response names the account and region it is about (more keys may follow the documented ones).
    let mut values = Vec::with_capacity(responses.len());
    for response in &responses {
        let mut value = serde_json::to_value(response)
            .map_err(|e| Error::Internal(format!("response could not be serialized: {e}")))?;
        if let Some(object) = value.as_object_mut() {
            for (key, v) in [("account", &place.account), ("region", &place.region)] {
                if !v.is_empty() {
                    object.insert(key.into(), Value::String(v.clone()));
                }
            }
        }
        values.push(value);
    }
    Ok(if values.len() == 1 {
        values.remove(0)
    } else {
        Value::Array(values)
    })
}

/// An event about a service ECS names with an old-format ARN (no cluster): its cluster is
/// found in ECS, else the event is `skipped` with the reason (and notified: a failure nobody
/// answered).
async fn resolve_cluster(
    deps: &Deps,
    trigger: Trigger,
) -> Result<Result<Trigger, Response>, Error> {
    if trigger.target.cluster != event::CLUSTER_UNKNOWN {
        return Ok(Ok(trigger));
    }
    if let Some(cluster) = deps
        .ecs
        .cluster_of_old_arn_service(&trigger.target.service)
        .await?
    {
        tracing::info!(service = %trigger.target.service, cluster = %cluster, "old-format service ARN resolved to its cluster");
        let mut trigger = trigger;
        trigger.target.cluster = cluster;
        return Ok(Ok(trigger));
    }
    let response = Response::skipped(
        None,
        format!(
            "The event names the service {} by an old-format ARN (without its cluster), and no cluster of this account and region has that service: nothing to do. Services created with the long ARN format (account setting serviceLongArnFormat) name their cluster.",
            trigger.target.service
        ),
    );
    let response = Response {
        service: Some(trigger.target.service.clone()),
        ..response
    };
    decision_line!(warn, response, trigger.cause.kind(), "old_arn_unresolved");
    metrics::emit("skipped", Some("old_arn_unresolved"), None);
    if let Some(sns) = &deps.sns {
        let subject = format!("ecs-rollback skipped: {}", trigger.target.service);
        if let Err(e) = sns.publish(&subject, &response.reason).await {
            tracing::error!(error = %e, "notification not sent");
        }
    }
    Ok(Err(response))
}

/// Whether an event is refused, and why. Single account: only the function's own account and
/// region. Organization mode: the function's own account in its own region, and the accounts
/// of `ROLLBACK_ALLOWED_ACCOUNTS` in the regions of `ROLLBACK_ALLOWED_REGIONS` (default: its own),
/// acted on there through the member role.
fn foreign(deps: &Deps, origin: &Origin, inv: &Invocation) -> Option<String> {
    let (own_account, own_region) = inv.own();
    let account = origin.account.as_deref();
    let region = origin.region.as_deref();
    let at_home = match (account, own_account) {
        (Some(a), Some(own)) => a == own,
        _ => true,
    };
    // A payload about another partition (`aws-cn`, `aws-us-gov`, …) than the function's is
    // forged or misrouted: no call is made anywhere.
    if let (Some(named), Some(own)) = (origin.partition.as_deref(), inv.partition()) {
        if named != own {
            return Some(format!(
                "Refused: the event names partition {named}, and this function runs in {own}; nothing was called in any account."
            ));
        }
    }
    // An alarm action comes only from the function's own account (CloudWatch invokes a function
    // of the alarm's account; the template's permission is scoped to it): a payload of that form
    // naming another account is forged, whatever organization mode admits.
    if origin.alarm_action && !at_home {
        return Some(format!(
            "Refused: an alarm action comes only from this function's own account {}, and this one names account {}; nothing was called in any account.",
            own_account.unwrap_or_default(),
            account.unwrap_or_default()
        ));
    }
    let Some(org) = &deps.config.organization else {
        if let (Some(account), Some(own), false) = (account, own_account, at_home) {
            return Some(format!(
                "Ignored: the event comes from account {account}, not this function's account {own}; organization mode (ROLLBACK_MEMBER_ROLE_NAME) is off, so no other account is acted on."
            ));
        }
        return match (region, own_region) {
            (Some(region), Some(own)) if region != own => Some(format!(
                "Ignored: the event comes from region {region}; this function acts in {own} only."
            )),
            _ => None,
        };
    };
    if at_home {
        return match (region, own_region) {
            (Some(region), Some(own)) if region != own => Some(format!(
                "Ignored: the event comes from region {region} of this function's own account; it acts in its own account in {own} only."
            )),
            _ => None,
        };
    }
    let account = account.unwrap_or_default();
    if !org.accounts.admits(account) {
        return Some(format!(
            "Refused: account {account} is not one this function acts for (ROLLBACK_ALLOWED_ACCOUNTS); nothing was called in any account."
        ));
    }
    let allowed: Vec<&str> = if org.regions.is_empty() {
        own_region.into_iter().collect()
    } else {
        org.regions.iter().map(String::as_str).collect()
    };
    match region {
        Some(region) if !allowed.contains(&region) => Some(format!(
            "Refused: region {region} of account {account} is not one this function acts in ({}; ROLLBACK_ALLOWED_REGIONS).",
            allowed.join(", ")
        )),
        _ => None,
    }
}

fn ignored(target: Option<&ServiceRef>, cause: &Cause, reason: String) -> Response {
    let response = Response::skipped(target, reason);
    log_response(&response, cause.kind(), "foreign_event");
    metrics::emit(&response.action, Some("foreign_event"), None);
    response
}

async fn respond_alarm(deps: &Deps, alarm: &AlarmEvent, now: Time) -> Result<Vec<Response>, Error> {
    let cause = alarm.cause(AlarmGuard::Tagged);
    let skip_alarm = |reason: String, code: &str| {
        let targets = &alarm.dimension_targets;
        let response = Response::skipped((targets.len() == 1).then(|| &targets[0]), reason);
        log_response(&response, cause.kind(), code);
        metrics::emit("skipped", Some(code), None);
        Ok(vec![response])
    };
    if alarm.state != AlarmState::Alarm {
        // No AWS call: an alarm that is not in ALARM never acts, whichever service it guards.
        return skip_alarm(
            format!(
                "The alarm {} is {}, not ALARM: nothing to do.",
                alarm.name, alarm.state
            ),
            "alarm_not_in_alarm",
        );
    }
    // Rule 4: is this alarm a health signal at all? Its actions and ActionsEnabled come from
    // DescribeAlarms (the event does not carry them), suppression from the event.
    let described = deps
        .cloudwatch
        .describe(std::slice::from_ref(&alarm.name))
        .await?;
    let me = described.into_iter().find(|a| a.name == alarm.name);
    // Rule 11: the payload is a claim. The alarm must be in ALARM in CloudWatch now, and its
    // transition time is CloudWatch's (the core holds it to the deployment it would act on).
    let Some(found) = me.as_ref() else {
        return skip_alarm(
            format!(
                "The alarm {} is not known to CloudWatch in this account and region, so the event's claim cannot be verified: nothing to do.",
                alarm.name
            ),
            "alarm_unverified",
        );
    };
    if let Some(state) = found.state.filter(|s| *s != AlarmState::Alarm) {
        return skip_alarm(
            format!(
                "The alarm {} is {state} in CloudWatch now (the event said ALARM): nothing to do.",
                alarm.name
            ),
            "alarm_not_in_alarm",
        );
    }
    // Both the event's own transition and CloudWatch's must not predate the deployment: the
    // older of the two is held to it (a redelivered event of an earlier ALARM never acts on a
    // later deployment, even when the alarm rings again now — that ringing sends its own event).
    let since = match (found.since, alarm.since) {
        (Some(cw), Some(event)) => Some(cw.min(event)),
        (cw, event) => cw.or(event),
    };
    let verified = AlarmEvent {
        since,
        ..alarm.clone()
    };
    let alarm = &verified;
    let facts = AlarmFacts {
        name: alarm.name.clone(),
        actions: me.as_ref().map(|m| m.actions.clone()).unwrap_or_default(),
        actions_enabled: me.as_ref().and_then(|m| m.actions_enabled),
        suppressed: alarm.suppressed.clone(),
    };
    if let Err(skip) = decision::rule4_alarm_is_trigger(&facts) {
        return skip_alarm(skip.sentence(&alarm.name), skip.code());
    }
    // An alarm mute rule mutes the alarm's actions, not its events: honoured here. Unreadable
    // (an older region, a role without the permission) is said in the log and does not block.
    match deps.cloudwatch.active_mute_rules(&alarm.name).await {
        Ok(rules) if !rules.is_empty() => {
            return skip_alarm(
                format!(
                    "The alarm {}'s actions are muted by the alarm mute rule {} now: nothing to do while it is muted.",
                    alarm.name,
                    rules.join(", ")
                ),
                "alarm_muted",
            );
        }
        Ok(_) => {}
        Err(e) if crate::deadline::spent() => return Err(e),
        Err(e) => {
            tracing::warn!(alarm = %alarm.name, error = %e, "alarm mute rules could not be read; acting as if none mutes the alarm")
        }
    }
    let targets = alarm_targets(deps, alarm, me.as_ref()).await?;
    if targets.is_empty() {
        return skip_alarm(
            format!(
                "The alarm {} guards no ECS service: tag it {TAG_ALARM_CLUSTER} and {TAG_ALARM_SERVICE}, or list it in the service's deployment alarms (deploymentConfiguration.alarms).",
                alarm.name
            ),
            "no_service",
        );
    }
    let several = targets.len() > 1;
    let mut responses = Vec::new();
    let mut retryable = None;
    for (target, guard) in targets {
        let trigger = Trigger {
            target,
            cause: alarm.cause(guard),
        };
        match respond(deps, &trigger, now).await {
            Ok(r) => responses.push(r),
            // Lambda retries the event; services already handled then answer as duplicates.
            Err(e) if e.is_retryable() => {
                tracing::error!(cluster = %trigger.target.cluster, service = %trigger.target.service, error = %e, "alarm target failed; the invocation fails so that Lambda retries");
                retryable.get_or_insert(e);
            }
            // One unknown or failing service of several does not fail the others.
            Err(e) if several => {
                let response = Response::skipped(
                    Some(&trigger.target),
                    format!(
                        "The alarm {} names {}/{}, which could not be handled: {e}.",
                        alarm.name, trigger.target.cluster, trigger.target.service
                    ),
                );
                decision_line!(error, response, trigger.cause.kind(), "target_error");
                metrics::emit("skipped", Some("target_error"), None);
                responses.push(response);
            }
            Err(e) => return Err(e),
        }
    }
    match retryable {
        Some(e) => Err(e),
        None => Ok(responses),
    }
}

/// Which services an alarm guards and how it was mapped (rule 4): its tags, else its dimensions
/// (which count only if the service lists the alarm among its deployment alarms), else its
/// composite children's, each held to the same rules.
async fn alarm_targets(
    deps: &Deps,
    alarm: &AlarmEvent,
    me: Option<&AlarmInfo>,
) -> Result<Vec<(ServiceRef, AlarmGuard)>, Error> {
    let mut found: Vec<(ServiceRef, AlarmGuard)> = Vec::new();
    let arn = alarm.arn.clone().or_else(|| me.and_then(|m| m.arn.clone()));
    if let Some(arn) = &arn {
        let tags = deps.cloudwatch.tags(arn).await?;
        for t in event::targets_from_tags(tags.iter().map(|(k, v)| (k.as_str(), v.as_str()))) {
            add_target(&mut found, t, AlarmGuard::Tagged);
        }
        if !found.is_empty() {
            return Ok(found);
        }
    }
    let dims = if alarm.dimension_targets.is_empty() {
        me.map(|m| m.dimension_targets.clone()).unwrap_or_default()
    } else {
        alarm.dimension_targets.clone()
    };
    for t in dims {
        add_target(&mut found, t, dimension_guard(&alarm.name));
    }
    if !found.is_empty() {
        return Ok(found);
    }
    let Some(rule) = alarm
        .alarm_rule
        .clone()
        .or_else(|| me.and_then(|m| m.alarm_rule.clone()))
    else {
        return Ok(found);
    };
    // A composite alarm: follow the children that triggered it (else every child of its rule).
    let mut names: Vec<String> = alarm
        .triggering
        .iter()
        .map(|arn| arn.rsplit(":alarm:").next().unwrap_or(arn).to_string())
        .collect();
    if names.is_empty() {
        names = event::alarm_rule_children(&rule);
    }
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
            // Rule 11 for children: a child maps its services only while CloudWatch reads it in
            // ALARM now (the event's list of triggering children is a claim too).
            if let Some(state) = child.state.filter(|s| *s != AlarmState::Alarm) {
                tracing::info!(alarm = %alarm.name, child = %child.name, state = %state, "composite child is not in ALARM in CloudWatch now");
                continue;
            }
            let facts = AlarmFacts {
                name: child.name.clone(),
                actions: child.actions.clone(),
                actions_enabled: None,
                suppressed: None,
            };
            if let Err(skip) = decision::rule4_alarm_is_trigger(&facts) {
                tracing::info!(alarm = %alarm.name, child = %child.name, reason = %skip.sentence(&child.name), "composite child is no health signal");
                continue;
            }
            let mut tagged = Vec::new();
            if let Some(arn) = &child.arn {
                let tags = deps.cloudwatch.tags(arn).await?;
                tagged =
                    event::targets_from_tags(tags.iter().map(|(k, v)| (k.as_str(), v.as_str())));
            }
            if tagged.is_empty() {
                for t in child.dimension_targets.clone() {
                    add_target(&mut found, t, dimension_guard(&child.name));
                }
            }
            for t in tagged {
                add_target(&mut found, t, AlarmGuard::Tagged);
            }
            if let Some(rule) = &child.alarm_rule {
                names.extend(event::alarm_rule_children(rule));
            }
        }
    }
    Ok(found)
}

fn dimension_guard(alarm: &str) -> AlarmGuard {
    AlarmGuard::Dimensions {
        alarm_names: vec![alarm.to_string()],
    }
}

/// One entry per service: an explicit tag wins over dimensions; dimension alarms add up.
fn add_target(found: &mut Vec<(ServiceRef, AlarmGuard)>, target: ServiceRef, guard: AlarmGuard) {
    match found.iter_mut().find(|(t, _)| *t == target) {
        None => found.push((target, guard)),
        Some((_, existing)) => match (existing, guard) {
            (AlarmGuard::Tagged, _) => {}
            (existing, AlarmGuard::Tagged) => *existing = AlarmGuard::Tagged,
            (
                AlarmGuard::Dimensions { alarm_names },
                AlarmGuard::Dimensions { alarm_names: more },
            ) => {
                for name in more {
                    if !alarm_names.contains(&name) {
                        alarm_names.push(name);
                    }
                }
            }
        },
    }
}

/// Decide and act for one service. An AWS failure (after retries) is notified, where SNS itself
/// works, and returned as a function error so that Lambda retries and then keeps the event.
pub async fn respond(deps: &Deps, trigger: &Trigger, now: Time) -> Result<Response, Error> {
    // One service at a time across every sandbox when a lease table is configured.
    let result = match &deps.lease {
        Some(lease) => decide_and_act_leased(deps, lease, trigger, now).await,
        None => decide_and_act(deps, trigger, now).await,
    };
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

/// Whether carrying out `decision` writes to AWS: only such a decision needs the service's lease.
fn writes(decision: &Decision, dry_run: bool) -> bool {
    match &decision.outcome {
        Outcome::Rollback(plan) => !plan.dry_run,
        Outcome::Record { .. } => !dry_run,
        Outcome::Skip(_) => false,
    }
}

/// Decide first without the lease; take it only for a decision that writes, and then read and
/// decide again inside it, so that read-decide-write stays atomic per service. In an incident
/// most events only read (the other alarms of a service already rolled back find the cooldown):
/// they cost no lease calls and never wait behind a holder. A skip decided on reads made while
/// another invocation holds the lease is one that invocation's own outcome makes true (it rolls
/// back, or it fails and Lambda retries its event), so it needs no lock.
async fn decide_and_act_leased(
    deps: &Deps,
    lease: &Lease,
    trigger: &Trigger,
    now: Time,
) -> Result<Response, Error> {
    let started = Instant::now();
    let service = deps.ecs.describe_service(&trigger.target).await?;
    let mut snap = Snapshot::new(service);
    let decision = decide_loaded(deps, trigger, &mut snap, now).await?;
    if writes(&decision, deps.config.policy.dry_run) {
        return lease
            .hold(&trigger.target, decide_and_act(deps, trigger, now))
            .await;
    }
    let latency_ms = started.elapsed().as_secs_f64() * 1000.0;
    act(deps, trigger, &snap, decision, now, latency_ms).await
}

async fn decide_and_act(deps: &Deps, trigger: &Trigger, now: Time) -> Result<Response, Error> {
    let started = Instant::now();
    let service = deps.ecs.describe_service(&trigger.target).await?;
    let mut snap = Snapshot::new(service);
    let decision = decide_loaded(deps, trigger, &mut snap, now).await?;
    let (decision, copy, notes) = prepare_copy(deps, trigger, &mut snap, decision, now).await?;
    let latency_ms = started.elapsed().as_secs_f64() * 1000.0;
    act_with(
        deps,
        trigger,
        &snap,
        decision,
        (copy, notes),
        now,
        latency_ms,
    )
    .await
}

/// The copy a rollback deploys (pinned to digests, or restoring an INACTIVE revision).
pub enum PreparedCopy {
    /// Not needed, or not registered yet.
    Pending,
    /// Registered before the plan is carried out.
    Registered(String),
    /// Registration failed with this error: the target is deployed as it is (unpinned, said
    /// so), or, when only a copy can restore it (INACTIVE), the invocation fails.
    Failed(Error),
}

/// How many targets are tried when registering their copies is refused.
const COPY_ATTEMPTS: usize = 3;

/// Register the plan's copy before anything is written. A registration AWS refuses for good
/// (`iam:PassRole`, the 50-tag limit) makes that target unusable for this invocation and the
/// core chooses the next candidate, which the response says; with no other candidate the first
/// choice is deployed as it is (an INACTIVE one cannot be: then nothing is done). A transient
/// failure leaves the choice as it is; a deadline ends the invocation before any write.
async fn prepare_copy(
    deps: &Deps,
    trigger: &Trigger,
    snap: &mut Snapshot,
    decision: Decision,
    now: Time,
) -> Result<(Decision, PreparedCopy, Vec<String>), Error> {
    let mut decision = decision;
    let mut notes = Vec::new();
    let mut first: Option<(Decision, Error)> = None;
    for _ in 0..COPY_ATTEMPTS {
        let plan = match &decision.outcome {
            Outcome::Rollback(plan)
                if !plan.dry_run && plan.needs_copy() && plan.migration.is_none() =>
            {
                plan.clone()
            }
            _ => return Ok((decision, PreparedCopy::Pending, notes)),
        };
        if crate::deadline::spent() {
            return Err(crate::deadline::out_of_time("before its first write"));
        }
        let error = match deps.ecs.register_pinned_copy(&plan.to, &plan.pins).await {
            Ok(copy) => return Ok((decision, PreparedCopy::Registered(copy), notes)),
            Err(e) if crate::deadline::spent() => return Err(e),
            Err(e) if e.is_retryable() => return Ok((decision, PreparedCopy::Failed(e), notes)),
            Err(e) => e,
        };
        tracing::error!(task_definition = %plan.to, error = %error, "registering the copy was refused; choosing the next candidate");
        notes.push(format!(
            "Registering a copy of {} was refused ({error}), so it was passed over.",
            short_task_definition(&plan.to)
        ));
        snap.unusable.insert(
            plan.to.clone(),
            format!("registering its copy was refused ({error})"),
        );
        let next = decide_loaded(deps, trigger, snap, now).await?;
        let previous = std::mem::replace(&mut decision, next);
        let (first_decision, first_error) = first.take().unwrap_or((previous, error));
        if !matches!(decision.outcome, Outcome::Rollback(_)) {
            // No other candidate: the first choice as it is, unless only a copy restores it.
            let inactive =
                matches!(&first_decision.outcome, Outcome::Rollback(p) if p.copy_inactive);
            if inactive {
                return Ok((decision, PreparedCopy::Pending, notes));
            }
            return Ok((
                first_decision,
                PreparedCopy::Failed(first_error),
                Vec::new(),
            ));
        }
        first = Some((first_decision, first_error));
    }
    Ok((decision, PreparedCopy::Pending, notes))
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
            Need::StoppedTasks(deployment) => {
                let tasks = deps.ecs.stopped_tasks(&snap.service, deployment).await;
                if let Err(e) = &tasks {
                    tracing::warn!(error = %e, "stopped tasks could not be read; counting ECS's failedTasks only");
                }
                snap.stopped_tasks = Some(tasks.map_err(|e| e.to_string()));
            }
            Need::Revisions(names) => {
                // The revisions asked for, and — read at the same time, for the ledger mark a
                // rollback writes afterwards — the failing revision, once.
                let failing = snap
                    .service
                    .primary()
                    .map(|p| p.task_definition.clone())
                    .unwrap_or_else(|| snap.service.task_definition.clone());
                let ahead = (!snap.revisions.contains_key(&failing)
                    && !snap.prefetched.contains_key(&failing)
                    && !names.contains(&failing)
                    && !matches!(trigger.cause, Cause::DeploymentCompleted { .. }))
                .then_some(failing);
                let reads = names
                    .iter()
                    .chain(ahead.iter())
                    .map(|name| deps.ecs.describe_revision(name));
                let mut read = futures_util::future::join_all(reads).await;
                if let Some(name) = &ahead {
                    if let Some(Ok(revision)) = read.pop() {
                        snap.prefetched.insert(name.clone(), revision);
                    }
                }
                for (name, revision) in names.iter().zip(read) {
                    let revision = match revision {
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
        // What was read after the deadline is a degraded view (a history cut off, a fallback
        // it would not need): never decide on it.
        if crate::deadline::spent() {
            return Err(crate::deadline::out_of_time(
                "while reading what the decision needs",
            ));
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
        // Gone (deleted): never a target, not even by copy.
        status: RevisionStatus::DeleteInProgress,
        ledger: None,
        bad_for: Vec::new(),
        images: Vec::new(),
        pinned_from: None,
        schema: None,
    }
}

/// Carry out a decision, then record, notify, log and emit metrics. Public for the CLI's dialog,
/// which decides every chosen service first and then acts on those decisions together.
pub async fn act(
    deps: &Deps,
    trigger: &Trigger,
    snap: &Snapshot,
    decision: Decision,
    now: Time,
    latency_ms: f64,
) -> Result<Response, Error> {
    act_with(
        deps,
        trigger,
        snap,
        decision,
        (PreparedCopy::Pending, Vec::new()),
        now,
        latency_ms,
    )
    .await
}

/// [`act`] with the copy [`prepare_copy`] registered (or could not), and what it passed over.
async fn act_with(
    deps: &Deps,
    trigger: &Trigger,
    snap: &Snapshot,
    decision: Decision,
    (copy, passed_over): (PreparedCopy, Vec<String>),
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
        Outcome::Skip(skip @ Skip::MigrationTimedOut { task, .. }) => {
            code = Some(skip.code());
            end_overdue_migration(deps, service, task).await;
        }
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
            let mut done = execute(deps, trigger, snap, plan, copy, now).await?;
            done.notes.splice(0..0, passed_over);
            if done.deployed != plan.to {
                response.to = Some(done.deployed.clone());
                response.reason = format!(
                    "{} The copy is {}.",
                    response.reason,
                    short_task_definition(&done.deployed)
                );
            }
            for note in &done.notes {
                response.reason = format!("{} {note}", response.reason);
            }
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
    // After a rollback the ledger mark and the notification are independent: both at once.
    let ledger = async {
        if let Outcome::Rollback(plan) = &decision.outcome {
            if !plan.dry_run && plan.migration.is_none() {
                mark_bad(deps, snap, plan).await;
            }
        }
    };
    let told = async {
        if should_notify {
            notify(deps, trigger, snap, &response).await;
        }
    };
    tokio::join!(ledger, told);
    let failed = matches!(&decision.outcome, Outcome::Skip(skip) if skip.is_error());
    log_decision(&response, trigger.cause.kind(), code.unwrap_or(""), failed);
    metrics::emit(&response.action, code, Some(latency_ms));
    Ok(response)
}

/// Attempts of the rollback write. The SDK does not retry it (see `aws::ecs`): after a transient
/// failure the service is read again, and the write is repeated only if it did not happen.
const WRITE_ATTEMPTS: u32 = 3;

/// What a rollback did: the task definition deployed, and what people must know about it.
struct Executed {
    deployed: String,
    notes: Vec<String>,
}

/// Issue the rollback: register the copy (pinned, or of an INACTIVE revision), write the loop
/// guard, then the rollback write (rule 8: the memory is written first, so that a failed
/// bookkeeping write can never cause a second rollback).
async fn execute(
    deps: &Deps,
    trigger: &Trigger,
    snap: &Snapshot,
    plan: &RollbackPlan,
    copy: PreparedCopy,
    now: Time,
) -> Result<Executed, Error> {
    let service = &snap.service;
    let mut notes = Vec::new();
    let mut target = plan.to.clone();
    // No write sequence starts without time for it: the event is left to Lambda's retries.
    if crate::deadline::spent() {
        return Err(crate::deadline::out_of_time("before its first write"));
    }
    if let Some(migration) = &plan.migration {
        return Box::pin(start_migration(deps, service, plan, migration, now)).await;
    }
    if plan.needs_copy() {
        let registered = match copy {
            PreparedCopy::Registered(arn) => Ok(arn),
            PreparedCopy::Failed(e) => Err(e),
            PreparedCopy::Pending => deps.ecs.register_pinned_copy(&plan.to, &plan.pins).await,
        };
        match registered {
            Ok(copy) => target = copy,
            // An INACTIVE revision can only be restored by a copy; and a copy cut off by the
            // deadline is no reason to deploy unpinned.
            Err(e) if plan.copy_inactive || crate::deadline::spent() => return Err(e),
            Err(e) => {
                tracing::error!(task_definition = %plan.to, error = %e, "registering the pinned copy failed; deploying the revision unpinned");
                notes.push(format!(
                    "Registering the pinned copy failed ({e}), so {} was deployed unpinned: its mutable image tags may now resolve to other images than the ones it ran.",
                    short_task_definition(&plan.to)
                ));
            }
        }
    }
    let guard = write_loop_guard(deps, trigger, service, plan, &target, now).await;
    if let Err(e) = &guard {
        tracing::error!(service = %service.service_arn, error = %e, "the loop guard could not be written before the rollback");
        notes.push(format!(
            "The loop-guard tags could not be written before the rollback ({e}); the next automatic trigger is guarded by the deployment history instead."
        ));
    }
    let restore_from = match (&plan.method, &plan.restore_from) {
        (Method::UpdateService, Some(arn)) if !plan.restore.is_empty() => deps
            .ecs
            .raw_service_revisions(std::slice::from_ref(arn))
            .await?
            .into_iter()
            .next(),
        _ => None,
    };
    match write_rollback(deps, service, plan, &target, restore_from.as_ref()).await {
        Ok(unrestored) => {
            if !unrestored.is_empty() {
                notes.push(format!(
                    "Not restorable with UpdateService: {} (the service keeps the failing revision's value).",
                    unrestored.join(", ")
                ));
            }
            Ok(Executed {
                deployed: target,
                notes,
            })
        }
        Err(e) => {
            if let Ok(previous) = guard {
                revert_loop_guard(deps, service, &previous).await;
            }
            Err(e)
        }
    }
}

/// The ID of a down migration: the same for every retry of one incident (the failing
/// deployment and the target), so that RunTask's client token never starts a second task.
fn migration_id(service: &ServiceState, plan: &RollbackPlan) -> String {
    use sha2::{Digest, Sha256};
    let deployment = service.primary().map(|p| p.id.as_str()).unwrap_or("");
    let digest = Sha256::digest(
        format!(
            "{}\n{deployment}\n{}\n{}",
            service.service_arn, plan.from, plan.to
        )
        .as_bytes(),
    );
    digest[..8].iter().map(|b| format!("{b:02x}")).collect()
}

/// Rule 14's first step: record the migration on the service, then start its task. The record
/// comes first, so that a retry, a duplicate or another alarm finds it and starts nothing; the
/// rollback itself follows when the task's own `ECS Task State Change` arrives.
async fn start_migration(
    deps: &Deps,
    service: &ServiceState,
    plan: &RollbackPlan,
    migration: &Migration,
    now: Time,
) -> Result<Executed, Error> {
    let id = migration_id(service, plan);
    let at = now.to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    let (from, to) = (
        short_task_definition(&plan.from),
        short_task_definition(&plan.to),
    );
    if service.tags.contains_key(TAG_MIGRATION_RESULT) {
        deps.ecs
            .untag(&service.service_arn, &[TAG_MIGRATION_RESULT])
            .await?;
    }
    deps.ecs
        .tag(
            &service.service_arn,
            &[
                (TAG_MIGRATION_ID, id.as_str()),
                (TAG_MIGRATION_AT, at.as_str()),
                (TAG_MIGRATION_FROM, from.as_str()),
                (TAG_MIGRATION_TO, to.as_str()),
                (TAG_MIGRATION_SCHEMA, migration.to_schema.as_str()),
            ],
        )
        .await?;
    match deps
        .ecs
        .run_migration(service, &migration.task_definition, &id, migration)
        .await
    {
        Ok(task) => {
            tracing::info!(service = %service.service_arn, task = %task, migration = %id, "down migration started");
            Ok(Executed {
                deployed: plan.to.clone(),
                notes: vec![format!(
                    "The migration task is {} (started by {MIGRATION_STARTED_BY}{id}).",
                    task.rsplit('/').next().unwrap_or(&task)
                )],
            })
        }
        // Lambda delivers the event again: the record is taken back so that the retry starts
        // over, with the same client token (a task the lost answer did start is not doubled).
        Err(e) if e.is_retryable() => {
            if let Err(untag) = deps
                .ecs
                .untag(
                    &service.service_arn,
                    &[
                        TAG_MIGRATION_ID,
                        TAG_MIGRATION_AT,
                        TAG_MIGRATION_FROM,
                        TAG_MIGRATION_TO,
                        TAG_MIGRATION_SCHEMA,
                    ],
                )
                .await
            {
                tracing::error!(error = %untag, "the migration record could not be taken back; it times out");
            }
            Err(e)
        }
        Err(e) => {
            let result = format!("failed: the task could not be started ({e})");
            let result = tag_safe(&result);
            if let Err(tag) = deps
                .ecs
                .tag(
                    &service.service_arn,
                    &[(TAG_MIGRATION_RESULT, result.as_str())],
                )
                .await
            {
                tracing::error!(error = %tag, "the migration result could not be recorded");
            }
            Err(e)
        }
    }
}

/// A down migration past its time: its task is stopped and the record says so (rule 14).
async fn end_overdue_migration(deps: &Deps, service: &ServiceState, id: &str) {
    let stopped = deps
        .ecs
        .stop_migration(
            service,
            id,
            "ecs-rollback: the down migration ran past its time",
        )
        .await;
    if let Err(e) = &stopped {
        tracing::error!(migration = %id, error = %e, "the overdue migration task could not be stopped");
    }
    if let Err(e) = deps
        .ecs
        .tag(&service.service_arn, &[(TAG_MIGRATION_RESULT, "timed out")])
        .await
    {
        tracing::error!(migration = %id, error = %e, "the migration result could not be recorded");
    }
}

/// A down-migration task stopped (its `ECS Task State Change`): verified in ECS and judged by the
/// core; on success the rollback it precedes is made, through the same decision as any other.
async fn respond_migration(
    deps: &Deps,
    target: &ServiceRef,
    task_arn: &str,
    now: Time,
) -> Result<Vec<Response>, Error> {
    let service = deps.ecs.describe_service(target).await?;
    let record = MigrationRecord::from_tags(&service.tags);
    let task_id = task_arn.rsplit('/').next().unwrap_or(task_arn).to_string();
    let trigger = Trigger {
        target: target.clone(),
        cause: Cause::TaskFailures {
            deployment_id: None,
            task_definition: None,
            signal: format!("the down-migration task {task_id} stopped"),
        },
    };
    let verdict = match deps
        .ecs
        .migration_task(&service.cluster_arn, task_arn)
        .await?
    {
        None => decision::MigrationVerdict::Ignore(format!(
            "ECS does not know the task {task_id}: the event's claim cannot be verified, nothing to do."
        )),
        Some(task) => decision::rule14_migration_ended(
            record.as_ref(),
            &task,
            &service,
            &deps.config.policy,
            now,
        ),
    };
    let snap = Snapshot::new(service.clone());
    let answer = |reason: String| Response {
        action: "skipped".into(),
        cluster: Some(service.cluster_name().to_string()),
        service: Some(service.service_name.clone()),
        from: record.as_ref().map(|r| r.from.clone()),
        to: None,
        reason,
    };
    match verdict {
        decision::MigrationVerdict::Ignore(why) => {
            let response = answer(why);
            log_decision(&response, "migration_task", "migration_ignored", false);
            metrics::emit("skipped", Some("migration_ignored"), None);
            Ok(vec![response])
        }
        decision::MigrationVerdict::Ended { result, sentence } => {
            let result = tag_safe(&result);
            deps.ecs
                .tag(
                    &service.service_arn,
                    &[(TAG_MIGRATION_RESULT, result.as_str())],
                )
                .await?;
            let response = answer(sentence);
            notify(deps, &trigger, &snap, &response).await;
            log_decision(&response, "migration_task", "migration_failed", true);
            metrics::emit("skipped", Some("migration_failed"), None);
            Ok(vec![response])
        }
        decision::MigrationVerdict::Succeeded { to, schema } => {
            if !record.as_ref().is_some_and(|r| r.succeeded()) {
                deps.ecs
                    .tag(&service.service_arn, &[(TAG_MIGRATION_RESULT, "succeeded")])
                    .await?;
            }
            let id = record.map(|r| r.id).unwrap_or_default();
            let rollback = Trigger {
                target: target.clone(),
                cause: Cause::Manual {
                    reason: format!(
                        "its down migration {id} (task {task_id}) brought the database schema to {schema}"
                    ),
                    to: Some(to),
                    dry_run: false,
                    allow_other_family: false,
                    by: Some("ecs-rollback".into()),
                    force: false,
                },
            };
            Ok(vec![Box::pin(respond(deps, &rollback, now)).await?])
        }
    }
}

/// The rollback write with its re-read-before-retry loop. Answers the configuration fields that
/// could not be restored.
async fn write_rollback(
    deps: &Deps,
    service: &ServiceState,
    plan: &RollbackPlan,
    target: &str,
    restore_from: Option<&aws_sdk_ecs::types::ServiceRevision>,
) -> Result<Vec<String>, Error> {
    let target_ref = ServiceRef {
        cluster: service.cluster_arn.clone(),
        service: service.service_arn.clone(),
    };
    let mut attempt = 1;
    loop {
        let written = match &plan.method {
            Method::StopDeployment {
                service_deployment_arn,
            } => deps
                .ecs
                .stop_deployment(service_deployment_arn)
                .await
                .map(|_| Vec::new()),
            Method::UpdateService => {
                deps.ecs
                    .update_service_restoring(service, target, restore_from, &plan.restore)
                    .await
            }
        };
        let error = match written {
            Ok(unrestored) => return Ok(unrestored),
            Err(e) if e.is_retryable() && attempt < WRITE_ATTEMPTS => e,
            Err(e) => return Err(e),
        };
        // The response was lost or refused: did the write happen? Read, then decide again.
        tracing::warn!(attempt, error = %error, "rollback write failed; reading the service again before any retry");
        tokio::time::sleep(std::time::Duration::from_millis(200 * 2u64.pow(attempt))).await;
        let now = deps.ecs.describe_service(&target_ref).await?;
        if write_took_effect(&now, service, target) {
            tracing::info!(
                attempt,
                "the rollback write had taken effect; not repeating it"
            );
            return Ok(Vec::new());
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

/// The service tags of the loop guard (rule 8).
const GUARD_TAGS: [&str; 5] = [
    TAG_LAST_ROLLBACK_AT,
    TAG_LAST_ROLLBACK_TO,
    TAG_LAST_ROLLBACK_FROM,
    TAG_LAST_ROLLBACK_KIND,
    TAG_LAST_ROLLBACK_BY,
];

/// Write the loop guard before the rollback write. Answers the previous values, to put back if
/// the rollback write then fails (a guard for a rollback that never happened would block the
/// next real one).
async fn write_loop_guard(
    deps: &Deps,
    trigger: &Trigger,
    service: &ServiceState,
    plan: &RollbackPlan,
    target: &str,
    now: Time,
) -> Result<Vec<(String, Option<String>)>, Error> {
    let previous: Vec<(String, Option<String>)> = GUARD_TAGS
        .iter()
        .map(|k| (k.to_string(), service.tags.get(*k).cloned()))
        .collect();
    let at = now.to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    let (kind, by) = match &trigger.cause {
        Cause::Manual { by, .. } => (
            "manual",
            by.clone().unwrap_or_else(|| "direct invocation".into()),
        ),
        _ => ("automatic", "ecs-rollback".to_string()),
    };
    let tags = [
        (TAG_LAST_ROLLBACK_AT, at.as_str()),
        (TAG_LAST_ROLLBACK_TO, target),
        (TAG_LAST_ROLLBACK_FROM, plan.from.as_str()),
        (TAG_LAST_ROLLBACK_KIND, kind),
        (TAG_LAST_ROLLBACK_BY, by.as_str()),
    ];
    deps.ecs.tag(&service.service_arn, &tags).await?;
    Ok(previous)
}

async fn revert_loop_guard(
    deps: &Deps,
    service: &ServiceState,
    previous: &[(String, Option<String>)],
) {
    let restore: Vec<(&str, &str)> = previous
        .iter()
        .filter_map(|(k, v)| Some((k.as_str(), v.as_deref()?)))
        .collect();
    let remove: Vec<&str> = previous
        .iter()
        .filter(|(_, v)| v.is_none())
        .map(|(k, _)| k.as_str())
        .collect();
    let mut result = Ok(());
    if !restore.is_empty() {
        result = deps.ecs.tag(&service.service_arn, &restore).await;
    }
    if result.is_ok() && !remove.is_empty() {
        result = deps.ecs.untag(&service.service_arn, &remove).await;
    }
    if let Err(e) = result {
        tracing::error!(service = %service.service_arn, error = %e, "the rollback failed and its loop-guard tags could not be removed: remove ecs-rollback:last-rollback-* by hand, or the cooldown blocks the next rollback");
    }
}

/// The ledger after a rollback whose failure is the task definition's: `status=bad` with the
/// service it was proven on (`bad-for`, merged with the services already there). A `bad` set by
/// hand (no `bad-for`) stays a ban everywhere. Best effort: the rollback already happened.
async fn mark_bad(deps: &Deps, snap: &Snapshot, plan: &RollbackPlan) {
    let Some(td) = &plan.mark_bad else {
        return;
    };
    let known = snap.revisions.get(td).cloned().or_else(|| {
        snap.revisions
            .values()
            .chain(snap.prefetched.values())
            .find(|r| decision::same_task_definition(&r.arn, td))
            .cloned()
    });
    mark_revision_bad(deps, &snap.service, known, td).await;
}

/// `status=bad` + `bad-for` on `td` for this service (merged with the services already named);
/// `known` is the revision if already described. Best effort: logged when it fails.
async fn mark_revision_bad(deps: &Deps, service: &ServiceState, known: Option<Revision>, td: &str) {
    let key = service.ledger_key();
    let known = match known {
        Some(r) => Some(r),
        None => deps.ecs.describe_revision(td).await.ok(),
    };
    let result = match known {
        Some(r) if r.ledger == Some(Ledger::Bad) && r.bad_for.is_empty() => Ok(()),
        other => {
            let mut services: Vec<String> = other
                .filter(|r| r.ledger == Some(Ledger::Bad))
                .map(|r| r.bad_for)
                .unwrap_or_default();
            if !services.contains(&key) {
                services.push(key);
            }
            let bad_for = services.join(" ");
            deps.ecs
                .tag(td, &[(TAG_STATUS, "bad"), (TAG_BAD_FOR, bad_for.as_str())])
                .await
        }
    };
    if let Err(e) = result {
        tracing::error!(task_definition = %td, error = %e, "could not mark the failed revision bad");
    }
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
        strategy: Some(service.strategy.as_str().to_string()),
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

// The deployment gate's and the pause hooks' orchestration.
mod hook;
pub use hook::ask;
use hook::{respond_hook, respond_pause};
