//! `rollback`: the responder's decision for a manual trigger. `--dry-run` prints the plan
//! (`handler::decide_loaded`); otherwise `handler::respond` decides and acts exactly as the Lambda
//! does for a direct invocation, and `--wait` follows the deployment.

use serde_json::{json, Value};

use std::time::Instant;

use super::args::{Format, RevisionArg, RollbackArgs};
use super::context::{caller, manual_deps, Ctx};
use super::diff;
use super::error::{CliError, Code};
use super::follow::{follow, Followed, Settled};
use super::guard::{self, Guarded};
use super::interrupt::{self, OnInterrupt};
use super::output::{note, print, print_json};
use super::plan::{api_words, manual, PlanView};
use super::revisions::resolve_name;
use crate::aws::ecs::Ecs;
use crate::decision::{Outcome, Snapshot};
use crate::handler::{self, Response};
use crate::incident::Origin;
use crate::model::*;

/// The reason recorded when none is given.
pub fn default_reason(command: &str, by: &str) -> String {
    format!("ecs-rollback {command} run by {by}")
}

pub use crate::model::tag_safe;

/// Whether the service runs a new revision or a restored proven one: the core's answer to "is
/// this the same incident?", the responder's own. Unreadable, or ECS rolling back right now →
/// new: the decision core then judges the rollback itself (and says that ECS is rolling back).
pub async fn running_origin(deps: &handler::Deps, service: &ServiceState) -> Origin {
    match running_state(deps, service).await {
        (Some(origin), false) => origin,
        _ => Origin::New,
    }
}

/// The core's answer on the running revision (`None` = unreadable), and whether ECS is rolling
/// the service back right now (from the same history read).
pub async fn running_state(deps: &handler::Deps, service: &ServiceState) -> (Option<Origin>, bool) {
    let mut snap = Snapshot::new(service.clone());
    let origin = handler::ask(deps, &mut snap, crate::decision::running_origin).await;
    let ecs_rolling_back = matches!(&snap.history, Some(Ok(entries))
        if entries.iter().any(|e| e.status.is_rolling_back()));
    (origin, ecs_rolling_back)
}

/// `--to` as the decision core wants it (a bare number takes the service's family).
pub fn resolve_to(to: Option<&RevisionArg>, current: &str) -> Result<Option<String>, CliError> {
    to.map(|t| resolve_name(t, Some(current))).transpose()
}

pub async fn run(ctx: &Ctx, args: &RollbackArgs) -> Result<Code, CliError> {
    let (cluster, service_name) = (&args.target.cluster, &args.target.service);
    run_inner(ctx, args)
        .await
        .map_err(|e| e.for_service(cluster, service_name))
}

async fn run_inner(ctx: &Ctx, args: &RollbackArgs) -> Result<Code, CliError> {
    let target = ServiceRef {
        cluster: args.target.cluster.clone(),
        service: args.target.service.clone(),
    };
    // Until the writes begin, Ctrl-C ends the command at once, saying that nothing changed.
    interrupt::arm(OnInterrupt::Exit(NOTHING_CHANGED.into()));
    let now = chrono::Utc::now();
    let deps = manual_deps(&ctx.sdk, args.dry_run, !args.dry_run)?;
    let service = deps.ecs.describe_service(&target).await?;
    let to = resolve_to(args.to.as_ref(), &service.task_definition)?;
    // Checked here, before anything else is read: the CLI's own rules (guard.rs).
    if let Some(to) = &to {
        guard::family(&Guarded::of(&service), to, args.allow_other_family)?;
    } else if !args.force {
        let origin = running_origin(&deps, &service).await;
        guard::repeat(&Guarded::of(&service), &origin, now)?;
    }
    let by = tag_safe(&caller(&ctx.sdk).await);
    let reason = args
        .reason
        .clone()
        .filter(|r| !r.trim().is_empty())
        .unwrap_or_else(|| default_reason("rollback", &by));
    let mut cause = manual(
        &reason,
        to,
        args.dry_run,
        args.allow_other_family,
        Some(&by),
    );
    // --force also rolls back onto a revision that does not declare the schema in force.
    if let Cause::Manual { force, .. } = &mut cause {
        *force = args.force;
    }
    let trigger = Trigger { target, cause };
    let started = Instant::now();
    let mut snap = Snapshot::new(service);
    let decision = handler::decide_loaded(&deps, &trigger, &mut snap, now).await?;
    let diff = match &decision.outcome {
        Outcome::Rollback(plan) => {
            match diff::diff(&deps.ecs, Some(&snap.service), &plan.from, &plan.to).await {
                Ok(d) => Some(diff::short_images(d)),
                Err(e) => {
                    tracing::warn!(error = %e, "the difference could not be read");
                    None
                }
            }
        }
        _ => None,
    };

    if args.dry_run {
        describe_for_display(&deps.ecs, &mut snap, decision.from()).await;
        let view = PlanView {
            cluster: snap.service.cluster_name(),
            service: &snap.service.service_name,
            decision: &decision,
            cause: &trigger.cause,
            snap: &snap,
            diff: diff.as_ref(),
        };
        match ctx.format {
            Format::Json => print_json(&view.json()),
            Format::Text => {
                let mut text = view.text();
                if view.plan().is_some() {
                    text.push_str("Dry run: nothing was changed.\n");
                }
                print(&text);
            }
        }
        return Ok(match decision.outcome {
            Outcome::Rollback(_) => Code::Ok,
            _ => Code::Nothing,
        });
    }

    let latency_ms = started.elapsed().as_secs_f64() * 1000.0;
    let (c, s) = (&trigger.target.cluster, &trigger.target.service);
    if let Outcome::Rollback(plan) = &decision.outcome {
        // From here on a Ctrl-C lets the writes finish, then the command says what they did.
        interrupt::set(OnInterrupt::Defer(Some(format!(
            "interrupt: the rollback of {c}/{s} is being issued; finishing its writes, then stopping"
        ))));
        note(&format!(
            "issuing the rollback of {c}/{s} from {} to {}…",
            short_task_definition(&plan.from),
            short_task_definition(&plan.to)
        ));
    }
    let response = handler::act(&deps, &trigger, &snap, decision, now, latency_ms).await?;
    // The writes are done: a Ctrl-C from here on stops only the waiting, which says so.
    interrupt::set(OnInterrupt::Defer(None));
    let mut code = code_of(&response);
    let interrupted_now = interrupt::requested() && response.action == "rolled_back";
    let waits = args.wait.waits() && response.action == "rolled_back";
    if ctx.format == Format::Text {
        let mut text = response_text(&response, true);
        if let (Some(d), "rolled_back") = (&diff, response.action.as_str()) {
            text.push_str("  changes (what the rollback reverts):\n");
            text.push_str(&d.lines("    "));
        }
        print(&text);
        if interrupted_now {
            print(&interrupted_text(&response, c, s));
        } else if response.action == "rolled_back" && !waits {
            note(&format!(
                "Not waiting (--no-wait): `ecs-rollback status -c {} -s {} --wait` follows the rollback.",
                trigger.target.cluster, trigger.target.service
            ));
        }
    }
    let mut followed: Option<Followed> = None;
    if interrupted_now {
        if ctx.format == Format::Json {
            let mut v = response_json(&response, None);
            v["interrupted"] = json!(true);
            v["diff"] = diff.map(|d| d.json()).unwrap_or(Value::Null);
            print_json(&v);
        }
        return Ok(Code::Interrupted);
    }
    if waits {
        if let Some(to) = &response.to {
            // The rollback is issued: an error while following it must say so.
            let (c, s) = (&trigger.target.cluster, &trigger.target.service);
            let f = follow(&deps.ecs, c, s, Some(to), &args.wait.timing)
                .await
                .map_err(|e| CliError {
                    message: crate::cli::error::one_line(&format!(
                        "the rollback to {} was issued (ECS accepted it), but following it failed: {}",
                        short_task_definition(to),
                        e.message
                    )),
                    hint: Some(format!(
                        "`ecs-rollback status -c {c} -s {s} --wait` follows it again"
                    )),
                    code: e.code,
                })?;
            if ctx.format == Format::Text {
                let mut text = f.text(&trigger.target.cluster, &trigger.target.service);
                if f.settled == Settled::Steady {
                    text = text.replacen(".\n", ": rolled back.\n", 1);
                }
                if f.settled == Settled::Interrupted {
                    text = format!(
                        "The rollback to {} was issued (ECS accepted it). {text}",
                        short_task_definition(to)
                    );
                }
                if matches!(f.settled, Settled::Failed { .. }) {
                    let (c, s) = (&trigger.target.cluster, &trigger.target.service);
                    text.push_str(&format!(
                        "The rollback was issued, and its own deployment failed: {} did not run either. Nothing further is done automatically.\nNext: `ecs-rollback status -c {c} -s {s}` shows the history; choose an older proven revision with `ecs-rollback rollback -c {c} -s {s} --to REVISION`, or fix forward.\n",
                        short_task_definition(to)
                    ));
                }
                print(&text);
            }
            code = code.worst(f.code());
            followed = Some(f);
        }
    }
    if ctx.format == Format::Json {
        let mut v = response_json(&response, followed.as_ref());
        v["diff"] = diff.map(|d| d.json()).unwrap_or(Value::Null);
        print_json(&v);
    }
    Ok(code)
}

/// Said when Ctrl-C ends a command before anything was changed.
pub const NOTHING_CHANGED: &str = "interrupted: nothing was changed";

/// Ctrl-C while the rollback was being issued: what was done, and the command that follows it.
pub fn interrupted_text(r: &Response, cluster: &str, service: &str) -> String {
    let to =
        r.to.as_deref()
            .map(short_task_definition)
            .unwrap_or_default();
    format!(
        "Interrupted: the rollback to {to} was issued before stopping (ECS accepted it); only the waiting was skipped, the deployment goes on in ECS.\nNext: `ecs-rollback status -c {cluster} -s {service} --wait` follows it.\n"
    )
}

/// Describe a revision the decision did not need, so that the plan can show its images.
/// Display only: a failure leaves the plan without them.
pub async fn describe_for_display(ecs: &Ecs, snap: &mut Snapshot, arn: Option<&str>) {
    let Some(arn) = arn else {
        return;
    };
    if !super::plan::images_of(snap, arn).is_empty() {
        return;
    }
    if let Ok(revision) = ecs.describe_revision(arn).await {
        snap.revisions.insert(arn.to_string(), revision);
    }
}

/// `rolled_back` / `dry_run` / `recorded` → 0, `skipped` → 3.
pub fn code_of(response: &Response) -> Code {
    if response.action == "skipped" {
        Code::Nothing
    } else {
        Code::Ok
    }
}

/// The handler's response for people; `started`: a rollback just issued (not yet steady).
pub fn response_text(r: &Response, started: bool) -> String {
    let name = format!(
        "{}/{}",
        r.cluster.as_deref().unwrap_or("?"),
        r.service.as_deref().unwrap_or("?")
    );
    let short = |arn: &Option<String>| arn.as_deref().map(short_task_definition);
    match r.action.as_str() {
        "skipped" => format!("{name}: nothing to do. {}\n", api_words(&r.reason)),
        action => {
            let verb = match action {
                "rolled_back" if started => "rollback started",
                "rolled_back" => "rolled back",
                "dry_run" => "dry run",
                "recorded" => "recorded",
                "migrating" => "down migration started, then the rollback",
                other => other,
            };
            let mut text = match (short(&r.from), short(&r.to)) {
                (Some(from), Some(to)) if from != to => {
                    let verb = if action == "dry_run" {
                        "would roll back"
                    } else {
                        verb
                    };
                    format!("{name}: {verb} {from} → {to}\n")
                }
                (_, Some(to)) => format!("{name}: {verb} {to}\n"),
                _ => format!("{name}: {verb}\n"),
            };
            text.push_str(&format!("  reason  {}\n", r.reason));
            if action == "migrating" {
                let (c, s) = (
                    r.cluster.as_deref().unwrap_or("?"),
                    r.service.as_deref().unwrap_or("?"),
                );
                text.push_str(&format!(
                    "  next    the responder rolls back when the migration task exits 0 (`ecs-rollback status -c {c} -s {s}` shows the service); without the responder deployed, once it has: `ecs-rollback rollback -c {c} -s {s} --to {} --force`\n",
                    short(&r.to).unwrap_or_default()
                ));
            }
            text
        }
    }
}

/// The handler's response plus, with `--wait`, how the deployment went.
pub fn response_json(r: &Response, followed: Option<&Followed>) -> Value {
    let mut v = serde_json::to_value(r).unwrap_or(Value::Null);
    if let Value::Object(map) = &mut v {
        map.insert("wait".into(), json!(followed));
    }
    v
}

#[cfg(test)]
mod tests {
    use super::*;

    fn response(action: &str) -> Response {
        Response {
            action: action.into(),
            cluster: Some("demo".into()),
            service: Some("hello-world".into()),
            from: Some("arn:aws:ecs:eu-west-1:123456789012:task-definition/hello-world:3".into()),
            to: Some("arn:aws:ecs:eu-west-1:123456789012:task-definition/hello-world:2".into()),
            reason: "Rolled back from hello-world:3 to hello-world:2 (its last successful deployment) because manual request: test.".into(),
        }
    }

    #[test]
    fn responses_read_as_text_and_map_to_exit_codes() {
        let r = response("rolled_back");
        assert_eq!(
            response_text(&r, false),
            "demo/hello-world: rolled back hello-world:3 → hello-world:2\n  reason  Rolled back from hello-world:3 to hello-world:2 (its last successful deployment) because manual request: test.\n"
        );
        assert_eq!(code_of(&r), Code::Ok);
        let mut s = response("skipped");
        s.reason = "The service already runs hello-world:2.".into();
        s.to = None;
        assert_eq!(
            response_text(&s, false),
            "demo/hello-world: nothing to do. The service already runs hello-world:2.\n"
        );
        assert_eq!(code_of(&s), Code::Nothing);
        let v = response_json(&r, None);
        assert_eq!(v["action"], "rolled_back");
        assert_eq!(v["wait"], Value::Null);
    }
}
