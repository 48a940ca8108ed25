//! `status` (alias `history`): a service, its recent revisions, and what `rollback` would do now.

use serde_json::{json, Value};

use super::args::{Format, StatusArgs};
use super::context::{manual_deps, Ctx};
use super::error::{CliError, Code};
use super::output::{print, print_json, short_digest, short_image, table, time};
use super::plan::{source_text, PlanView};
use super::revisions::{overview, Overview, RevisionInfo};
use crate::decision::{Decision, Outcome, Snapshot};
use crate::handler;
use crate::model::*;

pub async fn run(ctx: &Ctx, args: &StatusArgs) -> Result<Code, CliError> {
    let deps = manual_deps(&ctx.sdk, true, false)?;
    let target = ServiceRef {
        cluster: args.target.cluster.clone(),
        service: args.target.service.clone(),
    };
    let service = deps.ecs.describe_service(&target).await?;
    // What `rollback` would do now: the decision core, dry run.
    let trigger = Trigger {
        target,
        cause: Cause::Manual {
            allow_other_family: false,
            by: None,
            reason: "ecs-rollback status".into(),
            to: None,
            dry_run: true,
        },
    };
    let mut snap = Snapshot::new(service.clone());
    let decision = handler::decide_loaded(&deps, &trigger, &mut snap, chrono::Utc::now()).await?;
    let view = overview(&deps.ecs, &ctx.git, service, args.limit as usize).await?;
    let plan = PlanView {
        cluster: view.service.cluster_name(),
        service: &view.service.service_name,
        decision: &decision,
        cause: &trigger.cause,
        snap: &snap,
    };
    match ctx.format {
        Format::Json => print_json(&status_json(&view, &plan)),
        Format::Text => print(&status_text(&view, &decision)),
    }
    Ok(Code::Ok)
}

fn rollout(r: Rollout) -> &'static str {
    match r {
        Rollout::InProgress => "IN_PROGRESS",
        Rollout::Completed => "COMPLETED",
        Rollout::Failed => "FAILED",
        Rollout::Unknown => "UNKNOWN",
    }
}

pub fn status_json(view: &Overview, plan: &PlanView) -> Value {
    let s = &view.service;
    let deployments: Vec<Value> = s
        .deployments
        .iter()
        .map(|d| {
            json!({
                "id": d.id,
                "status": d.status,
                "task_definition": d.task_definition,
                "rollout_state": rollout(d.rollout),
                "rollout_state_reason": d.rollout_reason,
                "created_at": d.created_at,
                "failed_tasks": d.failed_tasks,
            })
        })
        .collect();
    let tags: serde_json::Map<String, Value> = s
        .tags
        .iter()
        .filter(|(k, _)| k.starts_with("ecs-rollback:"))
        .map(|(k, v)| (k.clone(), Value::String(v.clone())))
        .collect();
    json!({
        "cluster": s.cluster_name(),
        "service": s.service_name,
        "service_arn": s.service_arn,
        "status": s.status,
        "task_definition": s.task_definition,
        "deployments": deployments,
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

pub fn revisions_table(revisions: &[RevisionInfo]) -> String {
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
                r.outcome.clone().unwrap_or_else(|| "-".into()),
                commit_cell(r),
            ]
        })
        .collect();
    table(
        &[
            "REVISION",
            "IMAGE",
            "DIGEST",
            "LEDGER",
            "RUNNING",
            "DEPLOYED (UTC)",
            "OUTCOME",
            "COMMIT",
        ],
        &rows,
    )
}

pub fn status_text(view: &Overview, decision: &Decision) -> String {
    let s = &view.service;
    let mut out = String::new();
    let mut line = |label: &str, value: &str| out.push_str(&format!("{label:<13} {value}\n"));
    line(
        "Service",
        &format!("{}/{} ({})", s.cluster_name(), s.service_name, s.status),
    );
    for (i, d) in s.deployments.iter().enumerate() {
        let since = d
            .created_at
            .as_ref()
            .map(|t| format!(" since {}", time(t)))
            .unwrap_or_default();
        line(
            if i == 0 { "Running" } else { "" },
            &format!(
                "{} ({} {}{since})",
                short_task_definition(&d.task_definition),
                d.status,
                rollout(d.rollout)
            ),
        );
    }
    if s.deployments.is_empty() {
        line("Running", &short_task_definition(&s.task_definition));
    }
    let opt_in = match s.tags.get(TAG_ENABLED) {
        Some(v) => format!("{TAG_ENABLED}={v}"),
        None => {
            format!("no {TAG_ENABLED} tag (the Lambda leaves it alone; the CLI does not need it)")
        }
    };
    line("Opt-in", &opt_in);
    if let (Some(at), Some(to)) = (
        s.tags.get(TAG_LAST_ROLLBACK_AT),
        s.tags.get(TAG_LAST_ROLLBACK_TO),
    ) {
        let from = s
            .tags
            .get(TAG_LAST_ROLLBACK_FROM)
            .map(|f| short_task_definition(f))
            .unwrap_or_else(|| "?".into());
        line(
            "Last rollback",
            &format!("{at}: {from} → {}", short_task_definition(to)),
        );
    }
    let rollback = match &decision.outcome {
        Outcome::Rollback(plan) => format!(
            "would go to {}: {}",
            short_task_definition(&plan.to),
            source_text(plan.source)
        ),
        Outcome::Skip(skip) => format!("nothing to do: {skip}"),
        Outcome::Record { .. } => "nothing to do".into(),
    };
    line("Rollback", &rollback);
    if let Some(why) = &view.history_error {
        line(
            "History",
            &format!("unavailable ({why}); outcomes come from DescribeServices only"),
        );
    }
    out.push('\n');
    out.push_str(&revisions_table(&view.revisions));
    out
}
