//! `status` (alias `history`): a service now — its deployments with task counts, the strategy
//! and lifecycle stage, the last service events — its recent revisions, and what `rollback`
//! would do. `--wait` then follows the primary deployment, printing service events as they come.
//!
//! What a run costs (docs/src/cli.md): 2 DescribeServices (the decision's snapshot, and the live
//! view with counts and events), the decision's reads (ListServiceDeployments,
//! DescribeServiceRevisions, DescribeServiceDeployments when a deployment is in flight), one
//! more ListServiceDeployments + DescribeServiceRevisions (20 per call) for the table, one
//! ListTaskDefinitions, and one DescribeTaskDefinition per shown revision the decision did not
//! already read (the API has no batch read; at most 4 at once).

use serde::Serialize;
use serde_json::{json, Value};

use super::args::{Format, StatusArgs};
use super::context::{manual_deps, Ctx};
use super::error::{CliError, Code};
use super::follow::follow;
use super::guard::LastRollback;
use super::output::{print, print_json, short_digest, short_image, table_fit, time, wrap, Fit};
use super::plan::{api_words, manual, source_text, PlanView};
use super::revisions::{overview_with, Deployed, Overview, RevisionInfo};
use super::rollback::describe_for_display;
use crate::aws::aws_error;
use crate::aws::ecs::Ecs;
use crate::decision::{Decision, Outcome, Snapshot};
use crate::error::Error;
use crate::handler;
use crate::model::*;

/// One entry of DescribeServices → deployments[], with its task counts.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct LiveDeployment {
    pub id: String,
    pub status: String,
    pub task_definition: String,
    pub rollout_state: String,
    pub rollout_state_reason: Option<String>,
    pub desired_count: i32,
    pub pending_count: i32,
    pub running_count: i32,
    pub failed_tasks: i32,
    pub created_at: Option<Time>,
}

/// A service event (DescribeServices → events[], newest first).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct LiveEvent {
    pub created_at: Option<Time>,
    pub message: String,
}

/// What DescribeServices says now, beyond the decision's snapshot.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Live {
    /// `deploymentConfiguration.strategy`; ECS's default is ROLLING.
    pub strategy: String,
    pub bake_time_minutes: Option<i32>,
    pub circuit_breaker: Option<String>,
    pub deployments: Vec<LiveDeployment>,
    pub events: Vec<LiveEvent>,
}

pub async fn live(ecs: &Ecs, service: &ServiceState) -> Result<Live, Error> {
    let out = ecs
        .client
        .describe_services()
        .cluster(&service.cluster_arn)
        .services(&service.service_arn)
        .send()
        .await
        .map_err(|e| aws_error("DescribeServices", e))?;
    let Some(svc) = out.services().first() else {
        return Err(Error::Input(crate::error::InputError::UnknownService {
            cluster: service.cluster_name().to_string(),
            service: service.service_name.clone(),
        }));
    };
    let config = svc.deployment_configuration();
    let time = |t: Option<&aws_sdk_ecs::primitives::DateTime>| t.and_then(crate::aws::to_time);
    Ok(Live {
        strategy: config
            .and_then(|c| c.strategy())
            .map(|s| s.as_str().to_string())
            .unwrap_or_else(|| "ROLLING".into()),
        bake_time_minutes: config.and_then(|c| c.bake_time_in_minutes()),
        circuit_breaker: config
            .and_then(|c| c.deployment_circuit_breaker())
            .map(|b| {
                let how = match (b.enable(), b.rollback()) {
                    (true, true) => "on, ECS rolls back",
                    (true, false) => "on, rollback left to ecs-rollback",
                    _ => return "off".to_string(),
                };
                let threshold = b
                    .threshold_configuration()
                    .map(|t| format!(", threshold {} {}", t.r#type().as_str(), t.value()))
                    .unwrap_or_default();
                let counting = match b.reset_on_healthy_task() {
                    Some(false) => ", cumulative count",
                    _ => "",
                };
                format!("{how}{threshold}{counting}")
            }),
        deployments: svc
            .deployments()
            .iter()
            .map(|d| LiveDeployment {
                id: d.id().unwrap_or_default().to_string(),
                status: d.status().unwrap_or_default().to_string(),
                task_definition: d.task_definition().unwrap_or_default().to_string(),
                rollout_state: d
                    .rollout_state()
                    .map(|s| s.as_str().to_string())
                    .unwrap_or_else(|| "-".into()),
                rollout_state_reason: d.rollout_state_reason().map(str::to_string),
                desired_count: d.desired_count(),
                pending_count: d.pending_count(),
                running_count: d.running_count(),
                failed_tasks: d.failed_tasks(),
                created_at: time(d.created_at()),
            })
            .collect(),
        events: svc
            .events()
            .iter()
            .map(|e| LiveEvent {
                created_at: time(e.created_at()),
                message: e.message().unwrap_or_default().to_string(),
            })
            .collect(),
    })
}

pub async fn run(ctx: &Ctx, args: &StatusArgs) -> Result<Code, CliError> {
    let (cluster, service) = (&args.target.cluster, &args.target.service);
    run_inner(ctx, args)
        .await
        .map_err(|e| e.for_service(cluster, service))
}

async fn run_inner(ctx: &Ctx, args: &StatusArgs) -> Result<Code, CliError> {
    let deps = manual_deps(&ctx.sdk, true, false)?;
    let target = ServiceRef {
        cluster: args.target.cluster.clone(),
        service: args.target.service.clone(),
    };
    let service = deps.ecs.describe_service(&target).await?;
    let now_live = live(&deps.ecs, &service).await?;
    // What `rollback` would do now: the decision core, dry run.
    let trigger = Trigger {
        target,
        cause: manual("ecs-rollback status", None, true, false, None),
    };
    let mut snap = Snapshot::new(service.clone());
    let decision = handler::decide_loaded(&deps, &trigger, &mut snap, chrono::Utc::now()).await?;
    describe_for_display(&deps.ecs, &mut snap, decision.from()).await;
    let view = overview_with(
        &deps.ecs,
        &ctx.git,
        service,
        args.limit as usize,
        &snap.revisions,
    )
    .await?;
    let plan = PlanView {
        cluster: view.service.cluster_name(),
        service: &view.service.service_name,
        decision: &decision,
        cause: &trigger.cause,
        snap: &snap,
        diff: None,
    };
    let events = args.events as usize;
    let canary = canary_of_in_flight(&deps, &view).await;
    match ctx.format {
        Format::Json => {
            let mut out = status_json(&view, &now_live, &plan, events);
            out["canary_analysis"] = json!(canary
                .iter()
                .map(|c| json!({
                    "service_deployment_arn": c.deployment,
                    "new_target_group": c.green_target_group,
                    "old_target_group": c.blue_target_group,
                    "analysis": c.analysis,
                    "new_minutes": c.green,
                    "old_minutes": c.blue,
                }))
                .collect::<Vec<_>>());
            print_json(&out)
        }
        Format::Text => {
            let mut text = status_text(&view, &now_live, &decision, events, super::output::width());
            for c in &canary {
                text.push_str(&c.text());
            }
            print(&text)
        }
    }
    if !args.wait {
        return Ok(Code::Ok);
    }
    let f = follow(
        &deps.ecs,
        &args.target.cluster,
        &args.target.service,
        None,
        &args.timing,
    )
    .await?;
    match ctx.format {
        Format::Json => print_json(&json!({ "wait": f })),
        Format::Text => print(&f.text(&args.target.cluster, &args.target.service)),
    }
    Ok(f.code())
}

/// The canary analysis of a deployment in flight, as the gate would judge it now.
pub struct CanaryView {
    pub deployment: String,
    pub green_target_group: String,
    pub blue_target_group: String,
    pub green: Vec<crate::canary::Minute>,
    pub blue: Vec<crate::canary::Minute>,
    pub analysis: crate::canary::Analysis,
}

impl CanaryView {
    pub fn text(&self) -> String {
        format!(
            "\nCanary analysis of {}\n  {}\n  new revision: {}\n  old revision: {}\n{}",
            self.deployment,
            self.analysis.sentence(),
            self.green_target_group,
            self.blue_target_group,
            crate::canary::plot(&self.green, &self.blue)
                .lines()
                .map(|l| format!("  {l}\n"))
                .collect::<String>()
        )
    }
}

/// The canary analysis of each service deployment in flight that has two target groups to
/// compare (the same read and the same method as the gate's); none when the service turned it
/// off or nothing could be read.
async fn canary_of_in_flight(deps: &handler::Deps, view: &Overview) -> Vec<CanaryView> {
    let (settings, _) = crate::gate::gate_settings(&view.service.tags, &Default::default());
    if settings.canary == crate::gate::CanaryMode::Off {
        return Vec::new();
    }
    let now = chrono::Utc::now();
    let mut out = Vec::new();
    for d in view
        .history
        .iter()
        .filter(|d| d.finished_at.is_none() && d.status != "SUCCESSFUL")
    {
        let Ok(Some(info)) = deps.ecs.service_deployment(&d.arn).await else {
            continue;
        };
        let Some(target) = info.target_revision.clone() else {
            continue;
        };
        let read = crate::aws::canary::read(&deps.ecs, &deps.cloudwatch, &target, &info, now).await;
        if let crate::gate::CanaryRead::Read {
            green_target_group,
            blue_target_group,
            green,
            blue,
        } = read
        {
            let analysis = crate::canary::analyse(&green, &blue, &crate::canary::Params::default());
            out.push(CanaryView {
                deployment: d.arn.clone(),
                green_target_group,
                blue_target_group,
                green,
                blue,
                analysis,
            });
        }
    }
    out
}

pub fn status_json(view: &Overview, live: &Live, plan: &PlanView, events: usize) -> Value {
    let s = &view.service;
    let tags: serde_json::Map<String, Value> = s
        .tags
        .iter()
        .filter(|(k, _)| k.starts_with("ecs-rollback:"))
        .map(|(k, v)| (k.clone(), Value::String(v.clone())))
        .collect();
    let in_flight: Vec<&Deployed> = view
        .history
        .iter()
        .filter(|d| d.finished_at.is_none() && d.status != "SUCCESSFUL")
        .collect();
    json!({
        "cluster": s.cluster_name(),
        "service": s.service_name,
        "service_arn": s.service_arn,
        "status": s.status,
        "task_definition": s.task_definition,
        "strategy": live.strategy,
        "bake_time_minutes": live.bake_time_minutes,
        "circuit_breaker": live.circuit_breaker,
        "deployments": live.deployments,
        "service_deployments_in_flight": in_flight,
        "events": live.events.iter().take(events).collect::<Vec<_>>(),
        "tags": tags,
        "rollback": plan.json(),
        "history_error": view.history_error,
        "revisions": view.revisions,
    })
}

fn images_cell(r: &RevisionInfo) -> String {
    match r.images.as_slice() {
        [one] => short_image(&one.image),
        many => many
            .iter()
            .map(|i| format!("{}={}", i.container, short_image(&i.image)))
            .collect::<Vec<_>>()
            .join(", "),
    }
}

fn digest_cell(r: &RevisionInfo) -> String {
    let digests: Vec<String> = r
        .images
        .iter()
        .filter(|i| !i.image.contains('@'))
        .filter_map(|i| i.digest.as_deref().map(short_digest))
        .collect();
    if digests.is_empty() {
        "-".into()
    } else {
        digests.join(", ")
    }
}

fn commit_cell(r: &RevisionInfo) -> String {
    let mut seen: Vec<String> = Vec::new();
    for c in r.images.iter().filter_map(|i| i.commit.as_ref()) {
        let mut subject = c.subject.clone();
        if subject.chars().count() > 60 {
            subject = subject.chars().take(59).collect::<String>() + "…";
        }
        let cell = format!("{} {subject}", c.sha);
        if !seen.contains(&cell) {
            seen.push(cell);
        }
    }
    seen.join("; ")
}

/// The OUTCOME cell: what ECS says of the revision's newest deployment.
fn outcome_cell(r: &RevisionInfo) -> String {
    r.outcome.clone().unwrap_or_else(|| "-".into())
}

/// Whether an outcome's reason is worth a line under the table: every ending but success.
fn explains(r: &RevisionInfo) -> Option<String> {
    let outcome = r.outcome.as_deref()?;
    let reason = r
        .outcome_reason
        .as_deref()
        .filter(|t| !t.trim().is_empty())?;
    (!matches!(
        outcome,
        "SUCCESSFUL" | "COMPLETED" | "IN_PROGRESS" | "PENDING"
    ))
    .then(|| format!("{}  {outcome}: {}", r.name, reason.trim()))
}

const HEADERS: [&str; 9] = [
    "REVISION",
    "IMAGE",
    "DIGEST",
    "LEDGER",
    "RUNNING",
    "DEPLOYED (UTC)",
    "OUTCOME",
    "COMMIT",
    "SCHEMA",
];

/// The revisions, one row each; with a `width`, columns are dropped or cut to fit (digest first,
/// then the commit, the deploy time, long images and names), never the ledger or what runs.
pub fn revisions_table(revisions: &[RevisionInfo], width: Option<usize>) -> String {
    // The SCHEMA column only for services whose revisions declare one.
    let schema = revisions.iter().any(|r| r.schema.is_some());
    let rows: Vec<Vec<String>> = revisions
        .iter()
        .map(|r| {
            let mut name = r.name.clone();
            if r.status != "ACTIVE" {
                name.push_str(&format!(" ({})", r.status));
            }
            vec![
                name,
                images_cell(r),
                digest_cell(r),
                r.ledger.unwrap_or("-").to_string(),
                r.running.clone().unwrap_or_else(|| "-".into()),
                r.deployed_at
                    .as_ref()
                    .map(time)
                    .unwrap_or_else(|| "-".into()),
                outcome_cell(r),
                commit_cell(r),
            ]
            .into_iter()
            .chain(schema.then(|| r.schema.clone().unwrap_or_else(|| "-".into())))
            .collect()
        })
        .collect();
    let headers: &[&str] = if schema { &HEADERS } else { &HEADERS[..8] };
    let mut out = table_fit(
        headers,
        &rows,
        width,
        &[
            Fit::Drop(2),
            Fit::Shrink(7, 24),
            Fit::Drop(5),
            Fit::Drop(7),
            // An image keeps its tag: "…:4f2a9c1".
            Fit::ShrinkLeft(1, 10),
            Fit::Shrink(6, 8),
            Fit::Drop(1),
            Fit::ShrinkLeft(0, 10),
        ],
    );
    // Why deployments did not succeed, as ECS says it (rollout or service-deployment reason).
    let why: Vec<String> = revisions.iter().filter_map(explains).collect();
    if !why.is_empty() {
        out.push_str("\nOutcome reasons (ECS):\n");
        for line in why {
            match width {
                Some(w) => {
                    for l in wrap(&line, w.saturating_sub(2), "  ") {
                        out.push_str(&format!("  {l}\n"));
                    }
                }
                None => out.push_str(&format!("  {line}\n")),
            }
        }
    }
    out
}

pub fn status_text(
    view: &Overview,
    live: &Live,
    decision: &Decision,
    events: usize,
    width: Option<usize>,
) -> String {
    let s = &view.service;
    let mut out = String::new();
    // With a width, long values wrap under themselves instead of the terminal wrapping them.
    let mut line = |label: &str, value: &str| match width {
        Some(w) => {
            for (i, l) in wrap(value, w.saturating_sub(14), "").iter().enumerate() {
                let label = if i == 0 { label } else { "" };
                out.push_str(format!("{label:<13} {l}").trim_end());
                out.push('\n');
            }
        }
        None => out.push_str(&format!("{label:<13} {value}\n")),
    };
    line(
        "Service",
        &format!("{}/{} ({})", s.cluster_name(), s.service_name, s.status),
    );
    let mut strategy = live.strategy.clone();
    if let Some(bake) = live.bake_time_minutes {
        strategy.push_str(&format!(", bake time {bake} min"));
    }
    if let Some(cb) = &live.circuit_breaker {
        strategy.push_str(&format!("; circuit breaker {cb}"));
    }
    line("Strategy", &strategy);
    for (i, d) in live.deployments.iter().enumerate() {
        let since = d
            .created_at
            .as_ref()
            .map(|t| format!(", since {}", time(t)))
            .unwrap_or_default();
        line(
            if i == 0 { "Deployments" } else { "" },
            &format!(
                "{} {} {}: desired {}, pending {}, running {}, failed {}{since}",
                d.status,
                short_task_definition(&d.task_definition),
                d.rollout_state,
                d.desired_count,
                d.pending_count,
                d.running_count,
                d.failed_tasks,
            ),
        );
    }
    if live.deployments.is_empty() {
        line("Deployments", &short_task_definition(&s.task_definition));
    }
    for d in view
        .history
        .iter()
        .filter(|d| d.finished_at.is_none() && d.status != "SUCCESSFUL")
        .take(3)
    {
        let id = d.arn.rsplit('/').next().unwrap_or(&d.arn);
        let mut stage = d
            .lifecycle_stage
            .as_deref()
            .map(|st| format!(", lifecycle stage {st}"))
            .unwrap_or_default();
        if let Some(gate) = &d.gate {
            stage.push_str(&format!(", lifecycle hook (gate) {gate}"));
        }
        if let Some((failed, threshold)) = d.circuit_breaker {
            stage.push_str(&format!(
                ", circuit breaker {failed} of {threshold} failed task(s)"
            ));
        }
        for hook in &d.paused_by {
            stage.push_str(&format!(
                ", paused by pause hook {hook} (`ecs-rollback continue -c {} -s {}` continues it, `--rollback` rolls it back)",
                s.cluster_name(),
                s.service_name
            ));
        }
        let td = d
            .task_definition
            .as_deref()
            .map(|t| format!(" of {}", short_task_definition(t)))
            .unwrap_or_default();
        line(
            "In flight",
            &format!("service deployment {id}{td}: {}{stage}", d.status),
        );
    }
    let opt_in = match s.tags.get(TAG_ENABLED) {
        Some(v) => format!("{TAG_ENABLED}={v}"),
        None => {
            format!("no {TAG_ENABLED} tag (the Lambda leaves it alone; the CLI does not need it)")
        }
    };
    line("Opt-in", &opt_in);
    if let Some(last) = LastRollback::of(&s.tags) {
        line(
            "Last rollback",
            &format!(
                "{} by {}: {}",
                last.when(chrono::Utc::now()),
                last.who(),
                last.moves()
            ),
        );
    }
    if let Some(m) = s.tags.get(TAG_MIGRATION) {
        line(
            "Migration",
            &format!("down migrations run {m} ({TAG_MIGRATION})"),
        );
    }
    if let Some(rec) = MigrationRecord::from_tags(&s.tags) {
        let since = rec
            .at
            .map(|t| t.format("%Y-%m-%d %H:%M UTC").to_string())
            .unwrap_or_else(|| "at an unknown time".into());
        line(
            "Down migration",
            &format!(
                "{} (started {since}, schema to {}, before the rollback {} → {}): {}",
                rec.id,
                rec.schema,
                rec.from,
                rec.to,
                rec.result.as_deref().unwrap_or("running")
            ),
        );
    }
    let rollback = match &decision.outcome {
        Outcome::Rollback(plan) if plan.migration.is_some() => format!(
            "would run the down migration first, then go to {}: {}",
            short_task_definition(&plan.to),
            source_text(plan.source)
        ),
        Outcome::Rollback(plan) => format!(
            "would go to {}: {}",
            short_task_definition(&plan.to),
            source_text(plan.source)
        ),
        Outcome::Skip(skip) => format!("nothing to do: {}", api_words(&skip.to_string())),
        Outcome::Record { .. } => "nothing to do".into(),
    };
    line("Rollback", &rollback);
    if let Some(why) = &view.history_error {
        line(
            "History",
            &format!("unavailable ({why}); outcomes come from DescribeServices only"),
        );
    }
    let shown: Vec<&LiveEvent> = live.events.iter().take(events).collect();
    for (i, e) in shown.iter().enumerate() {
        let at = e.created_at.as_ref().map(time).unwrap_or_default();
        line(
            if i == 0 { "Events" } else { "" },
            &format!("{at}  {}", e.message),
        );
    }
    out.push('\n');
    out.push_str(&revisions_table(&view.revisions, width));
    out
}
