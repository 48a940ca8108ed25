//! The deployment gate's and the pause hooks' orchestration: read what the gate's verdict rules
//! need (the service, the service deployment, the new revision's stopped tasks, the guarding
//! alarms), judge with [`gate::judge`], and answer — ECS's lifecycle hook, or a pause hook through
//! `ContinueServiceDeployment`.

use super::*;

/// Answer an ECS lifecycle hook (the deployment gate): read what the verdict rules need (the
/// service, the service deployment, the new revision's stopped tasks, the guarding alarms), judge
/// with [`gate::judge`], log the decision, and on FAILED notify and mark the revision bad. AWS
/// errors while reading never become a function error (which ECS would count as FAILED): they
/// answer IN_PROGRESS until the stage's time is up, then the documented default.
pub(super) async fn respond_hook(
    deps: &Deps,
    hook: &gate::HookInvocation,
    now: Time,
) -> Result<Value, Error> {
    let started = Instant::now();
    let policy = &deps.config.policy;
    let mut warnings = Vec::new();
    let mut state = gate::gate_state(hook, now, &mut warnings);
    let service = match deps.ecs.describe_service(&hook.target).await {
        Ok(s) => s,
        // Unknown cluster or service: bad input, a function error (FAILED for ECS).
        Err(e @ Error::Input(_)) => return Err(e),
        Err(e) => {
            let (settings, _) = gate::gate_settings(&Default::default(), &hook.hook_details);
            let verdict = gate::gate_rule_unreadable(
                &format!("the service could not be read ({e})"),
                &settings,
                &state,
                now,
            );
            return Ok(finish_hook(deps, hook, &state, &verdict, started).await);
        }
    };
    let (settings, more) = gate::gate_settings(&service.tags, &hook.hook_details);
    warnings.extend(more);
    for w in &warnings {
        tracing::warn!(cluster = %hook.target.cluster, service = %hook.target.service, "{w}");
    }
    if let Some(verdict) = gate::judge_early(hook, &service, &settings, policy) {
        return Ok(finish_hook(deps, hook, &state, &verdict, started).await);
    }
    let deployment = match deps.ecs.service_deployment(&hook.deployment_arn).await {
        Ok(Some(d)) => d,
        Ok(None) => {
            return Err(InputError::Hook(Box::new(InputError::Invalid {
                field: "resourceArn".into(),
                why: format!(
                    "{:?} is not a service deployment ECS knows",
                    hook.deployment_arn
                ),
            }))
            .into())
        }
        Err(e) => {
            let verdict = gate::gate_rule_unreadable(
                &format!("the service deployment could not be read ({e})"),
                &settings,
                &state,
                now,
            );
            return Ok(finish_hook(deps, hook, &state, &verdict, started).await);
        }
    };
    // The gate never judges a restore: our rollback's (or ECS's, or a person's) own deployment
    // passes at once, whatever the alarm that caused it still says.
    if deployment.status.is_in_flight() {
        if let Some(how) = restore_of(deps, &service, &hook.deployment_arn).await {
            let verdict = match gate::gate_rule_restore(Some(&how)) {
                Err(verdict) => verdict,
                Ok(()) => unreachable!("a restore always has a verdict"),
            };
            return Ok(finish_hook(deps, hook, &state, &verdict, started).await);
        }
    }
    let verdict = judge_in_aws(deps, hook, service, &settings, &mut state, &deployment, now).await;
    Ok(finish_hook(deps, hook, &state, &verdict, started).await)
}

/// The gate's verdict on the new revision of `deployment`, from what AWS says now: its tasks,
/// its guarding alarms, the rules of `gate::judge` (and rule 14's note on a FAILED verdict).
async fn judge_in_aws(
    deps: &Deps,
    hook: &gate::HookInvocation,
    service: ServiceState,
    settings: &gate::GateSettings,
    state: &mut gate::GateState,
    deployment: &crate::model::ServiceDeploymentInfo,
    now: Time,
) -> gate::GateVerdict {
    let policy = &deps.config.policy;
    // The new revision's tasks: started by the ECS deployment the revision is numbered after.
    let ecs_deployment = hook
        .ecs_deployment_id()
        .filter(|id| service.deployments.iter().any(|d| &d.id == id))
        .or_else(|| service.primary().map(|p| p.id.clone()));
    let failed_tasks = ecs_deployment
        .as_ref()
        .and_then(|id| service.deployments.iter().find(|d| &d.id == id))
        .map(|d| d.failed_tasks)
        .unwrap_or(0);
    let stopped_tasks = match &ecs_deployment {
        Some(id) => deps
            .ecs
            .stopped_tasks(&service, id)
            .await
            .map_err(|e| e.to_string()),
        None => Ok(Vec::new()),
    };
    if let Err(e) = &stopped_tasks {
        tracing::warn!(error = %e, "stopped tasks could not be read; counting ECS's failedTasks only");
    }
    let alarms = gate_alarm_states(deps, &service, settings, state).await;
    let canary = canary_read(deps, hook, settings, deployment, now).await;
    let facts = gate::GateFacts {
        service,
        deployment_status: deployment.status,
        deployment_started: deployment.started_at.or(deployment.created_at),
        alarms,
        stopped_tasks,
        failed_tasks,
        canary,
    };
    let mut verdict = gate::judge(hook, &facts, settings, state, policy, now);
    if verdict.status == gate::HookStatus::Failed {
        if let Some(note) = gate_schema_note(deps, deployment).await {
            verdict.reason = format!("{} {note}", verdict.reason);
        }
    }
    verdict
}

/// The canary analysis's read, where it applies: not when it is off, not at a stage no traffic
/// reaches, not for a rolling deployment (one target group for both revisions).
async fn canary_read(
    deps: &Deps,
    hook: &gate::HookInvocation,
    settings: &gate::GateSettings,
    deployment: &crate::model::ServiceDeploymentInfo,
    now: Time,
) -> gate::CanaryRead {
    use gate::CanaryRead::*;
    if settings.canary == gate::CanaryMode::Off {
        return NotApplicable(format!("{}=off", gate::TAG_GATE_CANARY));
    }
    if !gate::CANARY_STAGES.contains(&hook.stage.as_str()) {
        return NotApplicable(format!(
            "no traffic reaches the new revision at {}",
            hook.stage
        ));
    }
    crate::aws::canary::read(
        &deps.ecs,
        &deps.cloudwatch,
        &hook.target_revision_arn,
        deployment,
        now,
    )
    .await
}

/// A pause lifecycle hook holds a deployment (`HOOK_AWAITING_ACTION`): for a service that asks
/// for it (`ecs-rollback:pause-hooks=true`), the deployment gate's verdict, from what AWS says
/// now, answers it — `CONTINUE` when the new revision is healthy after the observation time
/// (counted from the deployment's start), `ROLLBACK` when a guard fires or its tasks crash-loop.
/// When it cannot judge, the deployment stays paused and a person is told what was seen and the
/// commands that continue or roll it back.
pub(super) async fn respond_pause(
    deps: &Deps,
    target: &ServiceRef,
    deployment_arn: &str,
    hook_id: &str,
    stage: &str,
    now: Time,
) -> Result<Response, Error> {
    let started = Instant::now();
    let service = deps.ecs.describe_service(target).await?;
    let (cluster, name) = (
        service.cluster_name().to_string(),
        service.service_name.clone(),
    );
    let answer = |action: &str, reason: String| Response {
        action: action.to_string(),
        cluster: Some(cluster.clone()),
        service: Some(name.clone()),
        from: None,
        to: None,
        reason,
    };
    let done = |response: Response, code: &str, failed: bool| {
        log_decision(&response, "pause_hook", code, failed);
        metrics::emit(
            &response.action,
            Some(code),
            Some(started.elapsed().as_secs_f64() * 1000.0),
        );
        Ok(response)
    };
    if let Err(step) = decision::rule1_eligibility(&service, &deps.config.policy) {
        let reason = match *step {
            Step::Done(d) => d.reason(&Cause::DeploymentInProgress {
                deployment_id: deployment_arn.to_string(),
            }),
            Step::Need(_) => "not eligible".into(),
        };
        return done(answer("skipped", reason), "not_eligible", false);
    }
    let asked = service
        .tags
        .get(TAG_PAUSE_HOOKS)
        .is_some_and(|v| v.trim().eq_ignore_ascii_case("true"));
    if !asked {
        return done(
            answer(
                "skipped",
                format!("The service does not ask ecs-rollback to answer its pause hooks (tag {TAG_PAUSE_HOOKS}=true): the deployment stays paused for a person (or the hook's timeout)."),
            ),
            "pause_not_asked",
            false,
        );
    }
    // The event is a claim: ECS must report this hook holding this deployment now.
    let deployment = deps.ecs.service_deployment(deployment_arn).await?;
    let Some(deployment) =
        deployment.filter(|d| d.status.is_in_flight() && d.awaiting.iter().any(|h| h == hook_id))
    else {
        return done(
            answer(
                "skipped",
                format!("ECS does not report pause hook {hook_id} holding deployment {deployment_arn} now: the event's claim is not verified, nothing to do."),
            ),
            "pause_unverified",
            false,
        );
    };
    let hook = gate::HookInvocation {
        execution_id: hook_id.to_string(),
        stage: stage.to_string(),
        deployment_arn: deployment_arn.to_string(),
        target: target.clone(),
        service_arn: service.service_arn.clone(),
        account: String::new(),
        region: String::new(),
        target_revision_arn: deployment.target_revision.clone().unwrap_or_default(),
        hook_details: Default::default(),
    };
    let (mut settings, _) = gate::gate_settings(&service.tags, &Default::default());
    // The pause hook's own stage is the one to judge.
    settings.stages = vec![stage.to_string()];
    let mut state = gate::GateState {
        execution_id: hook_id.to_string(),
        stage: stage.to_string(),
        first_seen: deployment
            .started_at
            .or(deployment.created_at)
            .unwrap_or(now),
        alarms: None,
        calls: 0,
    };
    let restore = if deployment.status.is_in_flight() {
        restore_of(deps, &service, deployment_arn).await
    } else {
        None
    };
    let verdict = match restore {
        Some(how) => match gate::gate_rule_restore(Some(&how)) {
            Err(verdict) => verdict,
            Ok(()) => unreachable!("a restore always has a verdict"),
        },
        None => {
            judge_in_aws(
                deps,
                &hook,
                service.clone(),
                &settings,
                &mut state,
                &deployment,
                now,
            )
            .await
        }
    };
    // From and to, for people: the new revision and the one ECS returns to.
    let revisions = match (
        &deployment.target_revision,
        deployment.source_revisions.first(),
    ) {
        (Some(t), Some(s)) => deps
            .ecs
            .service_revisions(&[t.clone(), s.clone()])
            .await
            .unwrap_or_default(),
        _ => Default::default(),
    };
    let td = |arn: Option<&String>| {
        arn.and_then(|a| revisions.get(a))
            .map(|r| r.task_definition.clone())
    };
    let (new, old) = (
        td(deployment.target_revision.as_ref()),
        td(deployment.source_revisions.first()),
    );
    let dry_run = deps.config.policy.dry_run;
    let commands = format!(
        "`ecs-rollback continue -c {cluster} -s {name}` continues it, `ecs-rollback continue -c {cluster} -s {name} --rollback` rolls it back"
    );
    let trigger = Trigger {
        target: target.clone(),
        cause: Cause::DeploymentInProgress {
            deployment_id: deployment_arn
                .rsplit('/')
                .next()
                .unwrap_or(deployment_arn)
                .to_string(),
        },
    };
    let snap = Snapshot::new(service.clone());
    let (response, code, failed) = match verdict.status {
        gate::HookStatus::InProgress => {
            let mut r = answer(
                "skipped",
                format!(
                    "The deployment stays paused at {stage} (pause hook {hook_id}): the new revision cannot be judged yet — {} A person decides: {commands}.",
                    verdict.reason
                ),
            );
            r.from = new.clone();
            notify(deps, &trigger, &snap, &r).await;
            (r, "pause_held", false)
        }
        status => {
            let rollback = status == gate::HookStatus::Failed;
            if !dry_run {
                deps.ecs
                    .continue_deployment(deployment_arn, hook_id, rollback)
                    .await?;
            }
            let (action, verb) = match (dry_run, rollback) {
                (true, _) => (
                    "dry_run",
                    if rollback {
                        "Would answer ROLLBACK"
                    } else {
                        "Would answer CONTINUE"
                    },
                ),
                (false, true) => ("rolled_back", "Answered ROLLBACK"),
                (false, false) => ("continued", "Answered CONTINUE"),
            };
            let next = if rollback {
                format!(
                    "ECS rolls the deployment back to {}",
                    old.as_deref()
                        .map(short_task_definition)
                        .unwrap_or_else(|| "the revision it replaced".into())
                )
            } else {
                "ECS moves the deployment on to its next stage".to_string()
            };
            let mut r = answer(
                action,
                format!(
                    "{verb} to pause hook {hook_id} at {stage} (ContinueServiceDeployment): {} Next: {next}.",
                    verdict.reason
                ),
            );
            r.from = new.clone();
            r.to = if rollback { old.clone() } else { new.clone() };
            if rollback {
                notify(deps, &trigger, &snap, &r).await;
            }
            (r, verdict.code, rollback)
        }
    };
    done(response, code, failed)
}

/// Rule 14 at the gate: what the people told of a FAILED verdict must know when the revision ECS
/// returns to does not declare the schema the new one brought. Best effort: unreadable → none.
async fn gate_schema_note(
    deps: &Deps,
    deployment: &crate::model::ServiceDeploymentInfo,
) -> Option<String> {
    let target = deployment.target_revision.clone()?;
    let [source] = deployment.source_revisions.as_slice() else {
        return None;
    };
    let revisions = deps
        .ecs
        .service_revisions(&[target.clone(), source.clone()])
        .await
        .ok()?;
    let (to, back) = (revisions.get(&target)?, revisions.get(source)?);
    let to = deps.ecs.describe_revision(&to.task_definition).await.ok()?;
    let back = deps
        .ecs
        .describe_revision(&back.task_definition)
        .await
        .ok()?;
    decision::rule14_gate_note(&to, &back)
}

/// What proves that the service deployment `arn` restores a proven revision, if it does
/// ([`decision::restore_of`]). Unreadable → `None`: the gate judges it.
async fn restore_of(deps: &Deps, service: &ServiceState, arn: &str) -> Option<String> {
    let mut snap = Snapshot::new(service.clone());
    ask(deps, &mut snap, |s| decision::restore_of(s, arn))
        .await
        .flatten()
}

/// Answer a question of the core that asks for the history and revisions as [`decide_loaded`]
/// does, loading each; `None` when it does not settle in a few rounds.
pub async fn ask<T>(
    deps: &Deps,
    snap: &mut Snapshot,
    question: impl Fn(&Snapshot) -> Result<T, Need>,
) -> Option<T> {
    for _ in 0..4 {
        match question(snap) {
            Ok(answer) => return Some(answer),
            Err(Need::History) => snap.history = Some(deps.ecs.history(&snap.service).await),
            Err(Need::Revisions(names)) => {
                for name in names {
                    let revision = deps
                        .ecs
                        .describe_revision(&name)
                        .await
                        .unwrap_or_else(|_| gone(&name));
                    snap.revisions.insert(name.clone(), revision.clone());
                    snap.revisions.insert(revision.arn.clone(), revision);
                }
            }
            Err(_) => return None,
        }
        // An answer from reads cut off by the deadline is no answer.
        if crate::deadline::spent() {
            return None;
        }
    }
    None
}

/// The guarding alarms and their states. The tag scan runs on the first call of an execution
/// only; the names found ride in `hookDetails` (the state) for the calls after it.
async fn gate_alarm_states(
    deps: &Deps,
    service: &ServiceState,
    settings: &gate::GateSettings,
    state: &mut gate::GateState,
) -> Result<Vec<gate::GateAlarm>, String> {
    let mut listed: Vec<String> = service
        .deployment_alarms
        .as_ref()
        .map(|a| a.names.clone())
        .unwrap_or_default();
    for name in &settings.extra_alarms {
        if !listed.contains(name) {
            listed.push(name.clone());
        }
    }
    let target = ServiceRef {
        cluster: service.cluster_name().to_string(),
        service: service.service_name.clone(),
    };
    let mut reads: Vec<(crate::aws::cloudwatch::GateAlarmRead, bool)> = Vec::new();
    let mut names = match &state.alarms {
        Some(names) => names.clone(),
        None => {
            let candidates = deps
                .cloudwatch
                .gate_tagged_candidates(&target)
                .await
                .map_err(|e| e.to_string())?;
            let tagged: Vec<String> = candidates
                .iter()
                .filter(|(_, tagged)| *tagged)
                .map(|(r, _)| r.info.name.clone())
                .collect();
            reads = candidates;
            tagged
        }
    };
    for name in &listed {
        if !names.contains(name) {
            names.push(name.clone());
        }
    }
    // States of every named alarm not read by the scan in this call.
    let missing: Vec<String> = names
        .iter()
        .filter(|n| !reads.iter().any(|(r, _)| &r.info.name == *n))
        .cloned()
        .collect();
    if !missing.is_empty() {
        let more = deps
            .cloudwatch
            .gate_alarms(&missing)
            .await
            .map_err(|e| e.to_string())?;
        reads.extend(more.into_iter().map(|r| (r, false)));
    }
    let candidates: Vec<gate::AlarmCandidate> = reads
        .iter()
        .filter(|(r, _)| names.contains(&r.info.name))
        .map(|(r, tagged)| gate::AlarmCandidate {
            facts: AlarmFacts {
                name: r.info.name.clone(),
                actions: r.info.actions.clone(),
                actions_enabled: r.info.actions_enabled,
                suppressed: None,
            },
            listed: listed.contains(&r.info.name),
            // Names carried from the first call's scan were tagged then.
            tagged: *tagged
                || state
                    .alarms
                    .as_ref()
                    .is_some_and(|a| a.contains(&r.info.name)),
        })
        .collect();
    let (guards, notes) = gate::gate_rule_guarding_alarms(&candidates);
    for note in notes {
        tracing::info!(service = %service.service_name, "{note}");
    }
    for name in &listed {
        if !reads.iter().any(|(r, _)| &r.info.name == name) {
            tracing::warn!(service = %service.service_name, alarm = %name, "a listed alarm does not exist");
        }
    }
    state.alarms = Some(
        names
            .iter()
            .filter(|n| !listed.contains(n) && guards.contains(n))
            .cloned()
            .collect(),
    );
    Ok(reads
        .into_iter()
        .filter(|(r, _)| guards.contains(&r.info.name))
        .map(|(r, _)| r.alarm)
        .collect())
}

/// Log, count, notify and record a verdict, and build ECS's answer.
async fn finish_hook(
    deps: &Deps,
    hook: &gate::HookInvocation,
    state: &gate::GateState,
    verdict: &gate::GateVerdict,
    started: Instant,
) -> Value {
    let dry_run = deps.config.policy.dry_run;
    let status = verdict.status.as_str();
    let action = format!("hook_{}", status.to_ascii_lowercase());
    let line = |level: tracing::Level| {
        let answered = if dry_run { "SUCCEEDED" } else { status };
        if level == tracing::Level::ERROR {
            tracing::error!(action = %action, cluster = %hook.target.cluster, service = %hook.target.service, stage = %hook.stage, deployment = %hook.deployment_arn, revision = %hook.target_revision_arn, verdict = status, answered, dry_run, reason = %verdict.reason, canary = verdict.evidence.as_deref(), canary_data = verdict.evidence_data.as_deref(), trigger = "lifecycle_hook", skip = verdict.code, "decision");
        } else {
            tracing::info!(action = %action, cluster = %hook.target.cluster, service = %hook.target.service, stage = %hook.stage, deployment = %hook.deployment_arn, revision = %hook.target_revision_arn, verdict = status, answered, dry_run, reason = %verdict.reason, canary = verdict.evidence.as_deref(), canary_data = verdict.evidence_data.as_deref(), trigger = "lifecycle_hook", skip = verdict.code, "decision");
        }
    };
    line(if verdict.status == gate::HookStatus::Failed {
        tracing::Level::ERROR
    } else {
        tracing::Level::INFO
    });
    metrics::emit(
        &action,
        Some(verdict.code),
        Some(started.elapsed().as_secs_f64() * 1000.0),
    );
    if verdict.status == gate::HookStatus::Failed {
        // The gate writes nothing (its role can only read): ECS rolls the deployment back, and
        // its service-deployment history keeps the revision from ever counting as proven.
        let revision = target_task_definition(deps, hook).await;
        if let Some(sns) = &deps.sns {
            let mut message =
                gate::failure_message(hook, verdict, revision.as_ref().map(|(td, _)| td.as_str()));
            if let Some(evidence) = &verdict.evidence {
                message = format!("{message}\n{evidence}");
            }
            if dry_run {
                message = format!("Dry run: the gate answered SUCCEEDED; it would have answered FAILED.\n{message}");
            }
            let subject = format!(
                "ecs-rollback {}: {}/{}",
                if dry_run { "dry_run" } else { "gate_failed" },
                hook.target.cluster,
                hook.target.service
            );
            if let Err(e) = sns.publish(&subject, &message).await {
                tracing::error!(error = %e, "notification not sent");
            }
        }
    }
    gate::answer(verdict, state, dry_run)
}

/// The task definition of the hook's target revision, and whether a source revision runs the
/// same one (then the failure is the digests' or the configuration's, not the task definition's).
async fn target_task_definition(
    deps: &Deps,
    hook: &gate::HookInvocation,
) -> Option<(String, bool)> {
    let mut arns = vec![hook.target_revision_arn.clone()];
    if let Ok(Some(d)) = deps.ecs.service_deployment(&hook.deployment_arn).await {
        arns.extend(d.source_revisions);
    }
    let revisions = match deps.ecs.service_revisions(&arns).await {
        Ok(r) => r,
        Err(e) => {
            tracing::error!(error = %e, "the failing revision could not be resolved to its task definition");
            return None;
        }
    };
    let target = revisions
        .get(&hook.target_revision_arn)?
        .task_definition
        .clone();
    let same = arns[1..].iter().any(|a| {
        revisions
            .get(a)
            .is_some_and(|r| decision::same_task_definition(&r.task_definition, &target))
    });
    Some((target, same))
}
