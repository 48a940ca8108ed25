//! `dialog`: the article's rollback_dialog in the terminal. Cluster → services (multi-select) →
//! a revision per service from the last n (with image, ledger, outcome and git commit; the
//! decision core's choice preselected) → the plans → confirm → `handler::respond` per service.
//! Without a terminal it fails at once instead of waiting for input that never comes.

use std::io::IsTerminal;

use dialoguer::console::{style, Term};
use dialoguer::theme::ColorfulTheme;
use dialoguer::{Confirm, MultiSelect, Select};
use serde_json::{json, Value};

use super::args::{DialogArgs, Format};
use super::context::{manual_deps, region, Ctx};
use super::error::{CliError, Code};
use super::follow::follow;
use super::output::{note, print, print_json, short_image, table, time};
use super::plan::PlanView;
use super::revisions::{overview, RevisionInfo};
use super::rollback::{
    code_of, default_reason, describe_for_display, response_json, response_text,
};
use crate::aws::ecs::Ecs;
use crate::aws::{aws_error, paginate};
use crate::decision::{same_task_definition, Outcome, Snapshot};
use crate::error::Error;
use crate::handler::{self, Deps};
use crate::model::*;

/// Pages of ListClusters / ListServices read (100 per page).
const MAX_PAGES: usize = 5;

fn prompt_error(e: dialoguer::Error) -> CliError {
    CliError::usage(format!("the terminal prompt failed: {e}"))
}

fn cancelled() -> CliError {
    CliError::nothing("cancelled: nothing was changed")
}

async fn list_clusters(ecs: &Ecs) -> Result<Vec<String>, Error> {
    let arns = paginate(MAX_PAGES, |token| async move {
        let out = ecs
            .client
            .list_clusters()
            .max_results(100)
            .set_next_token(token)
            .send()
            .await
            .map_err(|e| aws_error("ListClusters", e))?;
        Ok((
            out.cluster_arns().to_vec(),
            out.next_token().map(str::to_string),
        ))
    })
    .await?;
    let mut names: Vec<String> = arns.iter().map(|a| last_segment(a)).collect();
    names.sort();
    Ok(names)
}

async fn list_services(ecs: &Ecs, cluster: &str) -> Result<Vec<String>, Error> {
    let arns = paginate(MAX_PAGES, |token| async move {
        let out = ecs
            .client
            .list_services()
            .cluster(cluster)
            .max_results(100)
            .set_next_token(token)
            .send()
            .await
            .map_err(|e| {
                if e.as_service_error()
                    .is_some_and(|se| se.is_cluster_not_found_exception())
                {
                    Error::Input(crate::error::InputError::UnknownCluster(
                        cluster.to_string(),
                    ))
                } else {
                    aws_error("ListServices", e).into()
                }
            })?;
        Ok((
            out.service_arns().to_vec(),
            out.next_token().map(str::to_string),
        ))
    })
    .await?;
    let mut names: Vec<String> = arns.iter().map(|a| last_segment(a)).collect();
    names.sort();
    Ok(names)
}

fn last_segment(arn: &str) -> String {
    arn.rsplit('/').next().unwrap_or(arn).to_string()
}

/// One line per revision for the picker: name, images, ledger, outcome, when, markers, commit
/// (last, as it is the part cut on a narrow terminal).
pub fn revision_items(revisions: &[RevisionInfo], recommended: Option<&str>) -> Vec<String> {
    let rows: Vec<Vec<String>> = revisions
        .iter()
        .map(|r| {
            let images = r
                .images
                .iter()
                .map(|i| short_image(&i.image))
                .collect::<Vec<_>>()
                .join(", ");
            let commit = r
                .images
                .iter()
                .find_map(|i| i.commit.as_ref())
                .map(|c| {
                    let subject: String = c.subject.chars().take(50).collect();
                    format!("{} {subject}", c.sha)
                })
                .unwrap_or_default();
            let mut marks = Vec::new();
            if r.running.as_deref() == Some("PRIMARY") {
                marks.push("running".to_string());
            } else if r.running.is_some() {
                marks.push("still running".to_string());
            }
            if recommended.is_some_and(|t| same_task_definition(t, &r.task_definition)) {
                marks.push("last stable".to_string());
            }
            vec![
                r.name.clone(),
                images,
                r.ledger.unwrap_or("-").to_string(),
                r.outcome.clone().unwrap_or_else(|| "-".into()),
                r.deployed_at.as_ref().map(time).unwrap_or_default(),
                if marks.is_empty() {
                    String::new()
                } else {
                    format!("[{}]", marks.join(", "))
                },
                commit,
            ]
        })
        .collect();
    // The aligned table without its header line.
    table(&["", "", "", "", "", "", ""], &rows)
        .lines()
        .skip(1)
        .map(str::to_string)
        .collect()
}

/// Cut a line to `width` characters, with an ellipsis.
pub fn fit(line: &str, width: usize) -> String {
    if line.chars().count() <= width || width < 2 {
        return line.to_string();
    }
    let cut: String = line.chars().take(width - 1).collect();
    format!("{}…", cut.trim_end())
}

struct Pick {
    service: ServiceRef,
    to: String,
}

/// The dialog needs a terminal: fail before any AWS call instead of waiting for input.
pub fn check_terminal() -> Result<(), CliError> {
    if std::io::stdin().is_terminal() && std::io::stderr().is_terminal() {
        return Ok(());
    }
    Err(CliError::usage(
        "dialog needs an interactive terminal (stdin and stderr must be a TTY)",
    )
    .hint("in scripts use `ecs-rollback rollback --cluster C --service S [--to REVISION]`; `ecs-rollback status` lists the revisions"))
}

pub async fn run(ctx: &Ctx, args: &DialogArgs) -> Result<Code, CliError> {
    check_terminal()?;
    let theme = ColorfulTheme::default();
    let deps = manual_deps(&ctx.sdk, false, true)?;
    let reason = args
        .reason
        .clone()
        .filter(|r| !r.trim().is_empty())
        .unwrap_or_else(|| default_reason("dialog"));

    // 1. Cluster.
    let cluster = match &args.cluster {
        Some(c) => c.clone(),
        None => {
            let clusters = list_clusters(&deps.ecs).await?;
            if clusters.is_empty() {
                return Err(
                    CliError::nothing(format!("no ECS clusters in {}", region(&ctx.sdk)))
                        .hint("check --region and --profile"),
                );
            }
            let i = Select::with_theme(&theme)
                .with_prompt("Cluster")
                .items(&clusters)
                .default(0)
                .interact_opt()
                .map_err(prompt_error)?
                .ok_or_else(cancelled)?;
            clusters[i].clone()
        }
    };

    // 2. Services.
    let services = list_services(&deps.ecs, &cluster).await?;
    if services.is_empty() {
        return Err(CliError::nothing(format!(
            "cluster {cluster} has no services"
        )));
    }
    let chosen = MultiSelect::with_theme(&theme)
        .with_prompt("Services to roll back (space selects, enter confirms)")
        .items(&services)
        .interact_opt()
        .map_err(prompt_error)?
        .ok_or_else(cancelled)?;
    if chosen.is_empty() {
        return Err(CliError::nothing(
            "no service selected: nothing was changed",
        ));
    }

    // 3. A revision per service.
    let now = chrono::Utc::now();
    let mut picks: Vec<Pick> = Vec::new();
    for i in chosen {
        let service_ref = ServiceRef {
            cluster: cluster.clone(),
            service: services[i].clone(),
        };
        let state = deps.ecs.describe_service(&service_ref).await?;
        let recommended = recommended_target(&deps, &service_ref, &state, now).await?;
        let view = overview(&deps.ecs, &ctx.git, state, args.limit as usize).await?;
        // Lines that wrap confuse the redraw: cut them to the terminal's width.
        let width = Term::stderr()
            .size_checked()
            .map(|(_, cols)| cols as usize)
            .unwrap_or(120);
        let mut items: Vec<String> = revision_items(&view.revisions, recommended.as_deref())
            .into_iter()
            .map(|item| fit(&item, width.saturating_sub(3)))
            .collect();
        items.push("(leave this service alone)".into());
        let default = recommended
            .as_deref()
            .and_then(|t| {
                view.revisions
                    .iter()
                    .position(|r| same_task_definition(t, &r.task_definition))
            })
            .unwrap_or(items.len() - 1);
        let prompt = format!(
            "Revision for {} (running {})",
            service_ref.service,
            short_task_definition(&view.service.task_definition)
        );
        let i = Select::with_theme(&theme)
            .with_prompt(&prompt)
            .items(&items)
            .default(default)
            .report(false)
            .interact_opt()
            .map_err(prompt_error)?
            .ok_or_else(cancelled)?;
        let chosen = view
            .revisions
            .get(i)
            .map(|r| r.name.clone())
            .unwrap_or_else(|| "left alone".into());
        note(&format!(
            "{} {} {} {}",
            style("✔").green(),
            style(&prompt).bold(),
            style("·").dim(),
            style(chosen).green()
        ));
        if let Some(r) = view.revisions.get(i) {
            picks.push(Pick {
                service: service_ref,
                to: r.task_definition.clone(),
            });
        }
    }
    if picks.is_empty() {
        return Err(CliError::nothing("no revision chosen: nothing was changed"));
    }

    // 4. The plans, from the decision core (dry run), then confirm.
    let mut go: Vec<Pick> = Vec::new();
    let mut code = Code::Ok;
    for pick in picks {
        let dry = handler_dry_run(&deps, &pick, &reason, now).await?;
        note(&dry.0);
        if dry.1 {
            go.push(pick);
        } else {
            code = code.worst(Code::Nothing);
        }
    }
    if go.is_empty() {
        return Err(CliError::nothing("nothing to do: nothing was changed"));
    }
    if args.dry_run {
        note("Dry run: nothing was changed.");
        return Ok(code);
    }
    let confirmed = Confirm::with_theme(&theme)
        .with_prompt(format!("Roll back {} service(s) as shown?", go.len()))
        .default(false)
        .interact_opt()
        .map_err(prompt_error)?;
    if confirmed != Some(true) {
        return Err(cancelled());
    }

    // 5. Act, through the responder's handler.
    let mut results: Vec<Value> = Vec::new();
    for pick in go {
        let trigger = Trigger {
            target: pick.service.clone(),
            cause: Cause::Manual {
                allow_other_family: false,
                by: None,
                reason: reason.clone(),
                to: Some(pick.to.clone()),
                dry_run: false,
            },
        };
        let response = handler::respond(&deps, &trigger, chrono::Utc::now()).await?;
        code = code.worst(code_of(&response));
        if ctx.format == Format::Text {
            print(&response_text(&response));
        }
        let mut followed = None;
        if args.wait.wait && response.action == "rolled_back" {
            if let Some(to) = &response.to {
                let f = follow(
                    &deps.ecs,
                    &pick.service.cluster,
                    &pick.service.service,
                    to,
                    &args.wait,
                )
                .await?;
                if ctx.format == Format::Text {
                    print(&f.text(&pick.service.cluster, &pick.service.service));
                }
                code = code.worst(f.code());
                followed = Some(f);
            }
        }
        results.push(response_json(&response, followed.as_ref()));
    }
    if ctx.format == Format::Json {
        print_json(&json!(results));
    }
    Ok(code)
}

/// The revision the decision core would choose now (`None` when it would do nothing).
async fn recommended_target(
    deps: &Deps,
    target: &ServiceRef,
    state: &ServiceState,
    now: Time,
) -> Result<Option<String>, CliError> {
    let trigger = Trigger {
        target: target.clone(),
        cause: Cause::Manual {
            allow_other_family: false,
            by: None,
            reason: "ecs-rollback dialog".into(),
            to: None,
            dry_run: true,
        },
    };
    let mut snap = Snapshot::new(state.clone());
    let decision = handler::decide_loaded(deps, &trigger, &mut snap, now).await?;
    Ok(match decision.outcome {
        Outcome::Rollback(plan) => Some(plan.to),
        _ => None,
    })
}

/// The plan for one pick (text) and whether it would act.
async fn handler_dry_run(
    deps: &Deps,
    pick: &Pick,
    reason: &str,
    now: Time,
) -> Result<(String, bool), CliError> {
    let state = deps.ecs.describe_service(&pick.service).await?;
    let trigger = Trigger {
        target: pick.service.clone(),
        cause: Cause::Manual {
            allow_other_family: false,
            by: None,
            reason: reason.to_string(),
            to: Some(pick.to.clone()),
            dry_run: true,
        },
    };
    let mut snap = Snapshot::new(state);
    let decision = handler::decide_loaded(deps, &trigger, &mut snap, now).await?;
    describe_for_display(&deps.ecs, &mut snap, decision.from()).await;
    let view = PlanView {
        cluster: &pick.service.cluster,
        service: &pick.service.service,
        decision: &decision,
        cause: &trigger.cause,
        snap: &snap,
    };
    Ok((view.text().trim_end().to_string(), view.plan().is_some()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cli::git::Commit;
    use crate::cli::revisions::ImageInfo;

    #[test]
    fn long_lines_are_cut_to_the_terminal() {
        assert_eq!(fit("hello-world:4  abc", 100), "hello-world:4  abc");
        assert_eq!(fit("hello-world:4  abc", 15), "hello-world:4…");
        assert_eq!(fit("ééééé", 3), "éé…");
    }

    #[test]
    fn revision_items_align_and_mark_running_and_last_stable() {
        let r = |rev: i32, ledger, running: Option<&str>, commit: Option<&str>| RevisionInfo {
            task_definition: format!(
                "arn:aws:ecs:eu-west-1:123456789012:task-definition/web:{rev}"
            ),
            name: format!("web:{rev}"),
            status: "ACTIVE",
            ledger,
            images: vec![ImageInfo {
                container: "app".into(),
                image: format!("repo/web:abc{rev}def"),
                tag: Some(format!("abc{rev}def")),
                digest: None,
                commit: commit.map(|s| Commit {
                    sha: format!("abc{rev}def"),
                    subject: s.into(),
                }),
            }],
            running: running.map(str::to_string),
            deployed_at: None,
            outcome: Some("SUCCESSFUL".into()),
            outcome_reason: None,
            deployments: 1,
        };
        let revs = vec![
            r(12, None, Some("PRIMARY"), Some("Break it")),
            r(11, Some("stable"), None, Some("Fix it")),
        ];
        let items = revision_items(
            &revs,
            Some("arn:aws:ecs:eu-west-1:123456789012:task-definition/web:11"),
        );
        assert_eq!(
            items,
            vec![
                "web:12  web:abc12def  -       SUCCESSFUL  [running]      abc12def Break it",
                "web:11  web:abc11def  stable  SUCCESSFUL  [last stable]  abc11def Fix it",
            ]
        );
    }
}
