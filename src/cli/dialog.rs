//! `dialog`: an interactive rollback in the terminal. Cluster → services (multi-select) →
//! a revision per service from the last n (with image, ledger, outcome and git commit; the
//! decision core's choice preselected) → the plans → confirm → `handler::respond` per service.
//! Without a terminal it fails at once instead of waiting for input that never comes.

use std::io::IsTerminal;

use dialoguer::console::{style, Term};
use dialoguer::theme::ColorfulTheme;
use dialoguer::{Confirm, MultiSelect, Select};
use serde_json::{json, Value};

use std::collections::BTreeMap;

use aws_sdk_ecs::types::DeploymentRolloutState;

use super::args::{DialogArgs, Format, Timing};
use super::context::{caller, manual_deps, region, Ctx};
use super::diff;
use super::error::{CliError, Code};
use super::follow::{follow_with, Settled};
use super::guard::{self, Guarded};
use super::interrupt::{self, OnInterrupt};
use super::output::{note, print, print_json, short_image, table_fit, time, Fit};
use super::plan::{manual, PlanView};
use super::revisions::{overview, RevisionInfo};
use super::rollback::{
    code_of, default_reason, describe_for_display, response_json, response_text, tag_safe,
    NOTHING_CHANGED,
};
use crate::aws::ecs::Ecs;
use crate::aws::{aws_error, paginate};
use crate::decision::{same_task_definition, Decision, Outcome, Snapshot};
use crate::error::Error;
use crate::handler::{self, Deps};
use crate::model::*;

/// Pages of ListClusters / ListServices read (100 per page).
const MAX_PAGES: usize = 5;

fn prompt_error(e: dialoguer::Error) -> CliError {
    let dialoguer::Error::IO(io) = &e;
    if io.kind() == std::io::ErrorKind::Interrupted {
        // Ctrl-C at a prompt: the prompt leaves the cursor hidden; nothing was changed yet.
        interrupt::exit_now(NOTHING_CHANGED);
    }
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

/// One line per revision for the picker: name, images, ledger, outcome, when, markers, commit.
#[cfg(test)]
pub fn revision_items(revisions: &[RevisionInfo], recommended: Option<&str>) -> Vec<String> {
    revision_items_fit(revisions, recommended, None)
}

/// [`revision_items`] fitted to `width` characters: the commit goes first, then the time, the
/// images, the outcome; a long name is cut at its start ("…family:12"); the markers
/// (`[running, last stable]`) are never cut.
pub fn revision_items_fit(
    revisions: &[RevisionInfo],
    recommended: Option<&str>,
    width: Option<usize>,
) -> Vec<String> {
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
    let steps = [
        Fit::Shrink(6, 16),
        Fit::Drop(6),
        Fit::Drop(4),
        Fit::Shrink(1, 10),
        Fit::Drop(1),
        Fit::Shrink(3, 8),
        Fit::Drop(3),
        Fit::Shrink(2, 3),
        Fit::ShrinkLeft(0, 10),
    ];
    table_fit(&["", "", "", "", "", "", ""], &rows, width, &steps)
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

/// The prompts' width: `COLUMNS` when set, else the terminal's (stderr), else 120.
fn prompt_width() -> usize {
    std::env::var("COLUMNS")
        .ok()
        .and_then(|v| v.trim().parse::<usize>().ok())
        .filter(|c| *c > 0)
        .or_else(|| Term::stderr().size_checked().map(|(_, cols)| cols as usize))
        .unwrap_or(120)
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

/// What the operator chose for one service.
#[derive(Clone)]
struct Pick {
    service: ServiceRef,
    /// `None`: the decision core's own choice (the preselected "last stable" row), so the plan
    /// says where it comes from; `Some`: the row the operator moved to.
    to: Option<String>,
    /// The revision the plan shown goes to: acting on anything else is refused.
    expected: String,
}

/// A service's state for the service list: `FAILED`, `IN_PROGRESS`, `steady`, … and what it runs.
pub fn service_state_label(svc: &aws_sdk_ecs::types::Service) -> String {
    let primary = svc
        .deployments()
        .iter()
        .find(|d| d.status() == Some("PRIMARY"));
    let td = primary
        .and_then(|p| p.task_definition())
        .or(svc.task_definition())
        .map(short_task_definition)
        .unwrap_or_default();
    let rolling = svc.deployments().len() > 1;
    let state = match primary.and_then(|p| p.rollout_state()) {
        Some(DeploymentRolloutState::Failed) => "FAILED".to_string(),
        Some(DeploymentRolloutState::InProgress) => "IN_PROGRESS".to_string(),
        Some(DeploymentRolloutState::Completed) if !rolling => "steady".to_string(),
        Some(s) => s.as_str().to_string(),
        None if primary.is_some_and(|p| p.running_count() == p.desired_count()) && !rolling => {
            "steady".to_string()
        }
        None => "deploying".to_string(),
    };
    format!("{state:<11} {td}")
}

/// DescribeServices for the list, 10 services per call (the API's maximum).
async fn service_states(ecs: &Ecs, cluster: &str, names: &[String]) -> Vec<String> {
    let mut labels: BTreeMap<String, String> = BTreeMap::new();
    for chunk in names.chunks(10) {
        match ecs
            .client
            .describe_services()
            .cluster(cluster)
            .set_services(Some(chunk.to_vec()))
            .send()
            .await
        {
            Ok(out) => {
                for svc in out.services() {
                    if let Some(name) = svc.service_name() {
                        labels.insert(name.to_string(), service_state_label(svc));
                    }
                }
            }
            Err(e) => {
                tracing::warn!(error = %aws_error("DescribeServices", e), "service states unavailable")
            }
        }
    }
    let width = names.iter().map(|n| n.chars().count()).max().unwrap_or(0);
    names
        .iter()
        .map(|n| match labels.get(n) {
            Some(label) => format!("{n:<width$}  {label}"),
            None => n.clone(),
        })
        .collect()
}

pub async fn run(ctx: &Ctx, args: &DialogArgs) -> Result<Code, CliError> {
    check_terminal()?;
    // Ctrl-C at a prompt (raised as SIGINT by the prompt library) or while reading: the cursor
    // is shown again and the dialog says that nothing was changed.
    interrupt::arm(OnInterrupt::Exit(NOTHING_CHANGED.into()));
    let theme = ColorfulTheme::default();
    let deps = manual_deps(&ctx.sdk, false, !args.dry_run)?;

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

    // 2. Services, each with its state; an empty choice asks again.
    let services = list_services(&deps.ecs, &cluster).await?;
    if services.is_empty() {
        return Err(CliError::nothing(format!(
            "cluster {cluster} has no services"
        )));
    }
    let width = prompt_width();
    let labels: Vec<String> = service_states(&deps.ecs, &cluster, &services)
        .await
        .into_iter()
        .map(|l| fit(&l, width.saturating_sub(3)))
        .collect();
    let chosen = loop {
        let chosen = MultiSelect::with_theme(&theme)
            .with_prompt("Services to roll back (space selects, enter confirms, esc cancels)")
            .items(&labels)
            .interact_opt()
            .map_err(prompt_error)?
            .ok_or_else(cancelled)?;
        if !chosen.is_empty() {
            break chosen;
        }
        note(&format!(
            "{} no service selected: select one or more with space, then enter (esc cancels)",
            style("!").yellow()
        ));
    };

    let by = tag_safe(&caller(&ctx.sdk).await);
    let reason = args
        .reason
        .clone()
        .filter(|r| !r.trim().is_empty())
        .unwrap_or_else(|| default_reason("dialog", &by));

    // 3. A revision per service; `bad` rows are greyed and cannot be taken.
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
        // Lines that wrap confuse the redraw: fit them to the terminal's width.
        let width = prompt_width();
        // The prompt's own prefix ("❯ ") takes 2 columns; one more keeps off the last one.
        let mut items: Vec<String> = revision_items_fit(
            &view.revisions,
            recommended.as_deref(),
            Some(width.saturating_sub(3)),
        )
        .into_iter()
        .zip(&view.revisions)
        .map(|(item, r)| {
            if r.ledger == Some("bad") {
                style(item).dim().to_string()
            } else {
                item
            }
        })
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
        let i = loop {
            let i = Select::with_theme(&theme)
                .with_prompt(&prompt)
                .items(&items)
                .default(default)
                .report(false)
                .interact_opt()
                .map_err(prompt_error)?
                .ok_or_else(cancelled)?;
            match view.revisions.get(i) {
                Some(r) if r.ledger == Some("bad") => {
                    let scope = if r.bad_for.is_empty() {
                        String::new()
                    } else {
                        format!(" -c {} -s {}", service_ref.cluster, service_ref.service)
                    };
                    note(&format!(
                        "{} {} is marked {TAG_STATUS}=bad and cannot be a rollback target: pick another (`ecs-rollback mark {} clear{scope}` lifts the mark)",
                        style("!").yellow(),
                        r.name,
                        r.name
                    ))
                }
                _ => break i,
            }
        };
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
            let kept = recommended
                .as_deref()
                .is_some_and(|t| same_task_definition(t, &r.task_definition));
            picks.push(Pick {
                service: service_ref,
                to: (!kept).then(|| r.task_definition.clone()),
                expected: r.task_definition.clone(),
            });
        }
    }
    if picks.is_empty() {
        return Err(CliError::nothing("no revision chosen: nothing was changed"));
    }

    // 4. The plans, from the decision core (dry run), then confirm.
    let mut go: Vec<Pick> = Vec::new();
    let mut plans: Vec<Value> = Vec::new();
    let mut code = Code::Ok;
    for pick in picks {
        let (text, json, acts) = plan_for(&deps, &pick, &reason, &by, now).await?;
        note(&text);
        plans.push(json);
        if acts {
            go.push(pick);
        } else {
            code = code.worst(Code::Nothing);
        }
    }
    if args.dry_run {
        if ctx.format == Format::Json {
            print_json(&json!(plans));
        }
        note("Dry run: nothing was changed.");
        return Ok(if go.is_empty() { Code::Nothing } else { code });
    }
    if go.is_empty() {
        return Err(CliError::nothing("nothing to do: nothing was changed"));
    }
    let confirmed = Confirm::with_theme(&theme)
        .with_prompt(format!("Roll back {} service(s) as shown?", go.len()))
        .default(false)
        .interact_opt()
        .map_err(prompt_error)?;
    if confirmed != Some(true) {
        return Err(cancelled());
    }

    // 5. Decide every service again, right before acting, all before any acts: one service's
    //    rollback (its ledger tags) cannot change another's decision, whatever the order.
    let mut decided = tokio::task::JoinSet::new();
    for (i, pick) in go.iter().enumerate() {
        let (deps, pick, reason, by) = (deps.clone(), pick.clone(), reason.clone(), by.clone());
        decided.spawn(async move {
            let r = decide_fresh(&deps, &pick, &reason, &by).await;
            (i, r)
        });
    }
    let mut fresh: Vec<Option<Fresh>> = (0..go.len()).map(|_| None).collect();
    while let Some(joined) = decided.join_next().await {
        let (i, r) = joined.map_err(|e| CliError::new(Code::Aws, format!("a task failed: {e}")))?;
        match r {
            Ok(f) => fresh[i] = Some(f),
            Err(e) => {
                note(&format!(
                    "{}/{}: {}",
                    go[i].service.cluster,
                    go[i].service.service,
                    e.render().trim_end()
                ));
                code = code.worst(e.code);
            }
        }
    }

    // 6. Act on every service at once, each followed until steady (unless --no-wait). A Ctrl-C
    //    from here on lets the writes finish; each service then says what was done.
    interrupt::set(OnInterrupt::Defer(Some(
        "interrupt: rollbacks being issued finish their writes; then the waiting stops".into(),
    )));
    let many = fresh.iter().flatten().count() > 1;
    let mut acting = tokio::task::JoinSet::new();
    for (i, f) in fresh.into_iter().enumerate() {
        let Some(f) = f else { continue };
        let (deps, timing, waits) = (deps.clone(), args.wait.timing.clone(), args.wait.waits());
        let text = ctx.format == Format::Text;
        acting.spawn(async move {
            let r = act_and_follow(&deps, f, &timing, waits, !many, text).await;
            (i, r)
        });
    }
    let mut results: Vec<(usize, Value)> = Vec::new();
    while let Some(joined) = acting.join_next().await {
        let (i, r) = joined.map_err(|e| CliError::new(Code::Aws, format!("a task failed: {e}")))?;
        match r {
            Ok((c, value)) => {
                code = code.worst(c);
                results.push((i, value));
            }
            Err(e) => {
                note(&format!(
                    "{}/{}: {}",
                    go[i].service.cluster,
                    go[i].service.service,
                    e.render().trim_end()
                ));
                code = code.worst(e.code);
            }
        }
    }
    results.sort_by_key(|(i, _)| *i);
    if ctx.format == Format::Json {
        print_json(&json!(results.iter().map(|(_, v)| v).collect::<Vec<_>>()));
    }
    Ok(code)
}

/// A decision made right before acting.
struct Fresh {
    trigger: Trigger,
    snap: Snapshot,
    decision: Decision,
    at: Time,
}

async fn decide_fresh(deps: &Deps, pick: &Pick, reason: &str, by: &str) -> Result<Fresh, CliError> {
    let at = chrono::Utc::now();
    let service = deps.ecs.describe_service(&pick.service).await?;
    if let Some(to) = &pick.to {
        guard::family(&Guarded::of(&service), to, false)?;
    } else {
        let origin = super::rollback::running_origin(deps, &service).await;
        guard::repeat(&Guarded::of(&service), &origin, at)?;
    }
    let trigger = Trigger {
        target: pick.service.clone(),
        cause: manual(reason, pick.to.clone(), false, false, Some(by)),
    };
    let mut snap = Snapshot::new(service);
    let decision = handler::decide_loaded(deps, &trigger, &mut snap, at).await?;
    if let Outcome::Rollback(plan) = &decision.outcome {
        if !same_task_definition(&plan.to, &pick.expected) {
            return Err(CliError::nothing(format!(
                "the plan changed since it was shown (it would now go to {}, not {}): nothing was done for this service; run the dialog again",
                short_task_definition(&plan.to),
                short_task_definition(&pick.expected)
            )));
        }
    }
    Ok(Fresh {
        trigger,
        snap,
        decision,
        at,
    })
}

/// Act on a fresh decision, then (by default) follow it; each step printed as it happens when
/// `text`; the code and JSON of the outcome.
async fn act_and_follow(
    deps: &Deps,
    f: Fresh,
    timing: &Timing,
    waits: bool,
    spinner: bool,
    text: bool,
) -> Result<(Code, Value), CliError> {
    let Fresh {
        trigger,
        snap,
        decision,
        at,
    } = f;
    if let Outcome::Rollback(plan) = &decision.outcome {
        note(&format!(
            "issuing the rollback of {}/{} from {} to {}…",
            trigger.target.cluster,
            trigger.target.service,
            short_task_definition(&plan.from),
            short_task_definition(&plan.to)
        ));
    }
    let response = handler::act(deps, &trigger, &snap, decision, at, 0.0).await?;
    let mut code = code_of(&response);
    if text {
        print(&response_text(&response, true));
    }
    let mut followed = None;
    if waits && response.action == "rolled_back" {
        if let Some(to) = &response.to {
            let t = &trigger.target;
            let f =
                follow_with(&deps.ecs, &t.cluster, &t.service, Some(to), timing, spinner).await?;
            if text {
                let mut line = f.text(&t.cluster, &t.service);
                if f.settled == Settled::Steady {
                    line = line.replacen(".\n", ": rolled back.\n", 1);
                }
                if f.settled == Settled::Interrupted {
                    line = format!(
                        "The rollback to {} was issued (ECS accepted it). {line}",
                        short_task_definition(to)
                    );
                }
                print(&line);
            }
            code = code.worst(f.code());
            followed = Some(f);
        }
    }
    Ok((code, response_json(&response, followed.as_ref())))
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
        cause: manual("ecs-rollback dialog", None, true, false, None),
    };
    let mut snap = Snapshot::new(state.clone());
    let decision = handler::decide_loaded(deps, &trigger, &mut snap, now).await?;
    Ok(match decision.outcome {
        Outcome::Rollback(plan) => Some(plan.to),
        _ => None,
    })
}

/// The plan for one pick: text, JSON, and whether it would act.
async fn plan_for(
    deps: &Deps,
    pick: &Pick,
    reason: &str,
    by: &str,
    now: Time,
) -> Result<(String, Value, bool), CliError> {
    let state = deps.ecs.describe_service(&pick.service).await?;
    let name = format!("{}/{}", pick.service.cluster, pick.service.service);
    let refused = match &pick.to {
        Some(to) => guard::family(&Guarded::of(&state), to, false),
        None => {
            let origin = super::rollback::running_origin(deps, &state).await;
            guard::repeat(&Guarded::of(&state), &origin, now)
        }
    };
    if let Err(e) = refused {
        let text = format!("{name}: refused. {}", e.message);
        let value = json!({"action": "skipped", "cluster": pick.service.cluster, "service": pick.service.service, "reason": e.message});
        return Ok((text, value, false));
    }
    let trigger = Trigger {
        target: pick.service.clone(),
        cause: manual(reason, pick.to.clone(), true, false, Some(by)),
    };
    let mut snap = Snapshot::new(state);
    let decision = handler::decide_loaded(deps, &trigger, &mut snap, now).await?;
    describe_for_display(&deps.ecs, &mut snap, decision.from()).await;
    let d = match &decision.outcome {
        Outcome::Rollback(plan) => diff::diff(&deps.ecs, Some(&snap.service), &plan.from, &plan.to)
            .await
            .ok()
            .map(diff::short_images),
        _ => None,
    };
    let view = PlanView {
        cluster: &pick.service.cluster,
        service: &pick.service.service,
        decision: &decision,
        cause: &trigger.cause,
        snap: &snap,
        diff: d.as_ref(),
    };
    Ok((
        view.text().trim_end().to_string(),
        view.json(),
        view.plan().is_some(),
    ))
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
            schema: None,
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
            bad_for: Vec::new(),
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
