//! `rollback`: the responder's decision for a manual trigger. `--dry-run` prints the plan
//! (`handler::decide_loaded`); otherwise `handler::respond` decides and acts exactly as the Lambda
//! does for a direct invocation, and `--wait` follows the deployment.

use serde_json::{json, Value};

use super::args::{Format, RevisionArg, RollbackArgs};
use super::context::{manual_deps, Ctx};
use super::error::{CliError, Code};
use super::follow::{follow, Followed};
use super::output::{print, print_json};
use super::plan::PlanView;
use crate::aws::ecs::Ecs;
use crate::decision::{Outcome, Snapshot};
use crate::handler::{self, Response};
use crate::model::*;

/// The reason recorded when none is given.
pub fn default_reason(command: &str) -> String {
    let user = std::env::var("USER")
        .or_else(|_| std::env::var("USERNAME"))
        .unwrap_or_else(|_| "an unknown user".into());
    format!("ecs-rollback {command} run by {user}")
}

/// `--to` as the decision core wants it (a bare number takes the service's family).
pub async fn resolve_to(
    ecs: &Ecs,
    target: &ServiceRef,
    to: Option<&RevisionArg>,
    current: Option<&str>,
) -> Result<Option<String>, CliError> {
    let Some(to) = to else {
        return Ok(None);
    };
    if let RevisionArg::Name(name) = to {
        return Ok(Some(name.clone()));
    }
    let current = match current {
        Some(c) => c.to_string(),
        None => ecs.describe_service(target).await?.task_definition,
    };
    to.resolve(&current).map(Some).ok_or_else(|| {
        CliError::usage(format!(
            "the service runs {current:?}, whose family cannot be told; give --to as family:revision"
        ))
    })
}

pub async fn run(ctx: &Ctx, args: &RollbackArgs) -> Result<Code, CliError> {
    let target = ServiceRef {
        cluster: args.target.cluster.clone(),
        service: args.target.service.clone(),
    };
    let reason = args
        .reason
        .clone()
        .filter(|r| !r.trim().is_empty())
        .unwrap_or_else(|| default_reason("rollback"));
    let now = chrono::Utc::now();

    if args.dry_run {
        let deps = manual_deps(&ctx.sdk, true, false)?;
        let service = deps.ecs.describe_service(&target).await?;
        let to = resolve_to(
            &deps.ecs,
            &target,
            args.to.as_ref(),
            Some(&service.task_definition),
        )
        .await?;
        let trigger = Trigger {
            target,
            cause: Cause::Manual {
                allow_other_family: false,
                by: None,
                reason,
                to,
                dry_run: true,
            },
        };
        let mut snap = Snapshot::new(service);
        let decision = handler::decide_loaded(&deps, &trigger, &mut snap, now).await?;
        describe_for_display(&deps.ecs, &mut snap, decision.from()).await;
        let view = PlanView {
            cluster: snap.service.cluster_name(),
            service: &snap.service.service_name,
            decision: &decision,
            cause: &trigger.cause,
            snap: &snap,
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

    let deps = manual_deps(&ctx.sdk, false, true)?;
    let to = resolve_to(&deps.ecs, &target, args.to.as_ref(), None).await?;
    let trigger = Trigger {
        target,
        cause: Cause::Manual {
            allow_other_family: false,
            by: None,
            reason,
            to,
            dry_run: false,
        },
    };
    let response = handler::respond(&deps, &trigger, now).await?;
    let mut code = code_of(&response);
    if ctx.format == Format::Text {
        print(&response_text(&response));
    }
    let mut followed: Option<Followed> = None;
    if args.wait.wait && response.action == "rolled_back" {
        if let Some(to) = &response.to {
            let f = follow(
                &deps.ecs,
                &trigger.target.cluster,
                &trigger.target.service,
                to,
                &args.wait,
            )
            .await?;
            if ctx.format == Format::Text {
                print(&f.text(&trigger.target.cluster, &trigger.target.service));
            }
            code = code.worst(f.code());
            followed = Some(f);
        }
    }
    if ctx.format == Format::Json {
        print_json(&response_json(&response, followed.as_ref()));
    }
    Ok(code)
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

/// The handler's response for people.
pub fn response_text(r: &Response) -> String {
    let name = format!(
        "{}/{}",
        r.cluster.as_deref().unwrap_or("?"),
        r.service.as_deref().unwrap_or("?")
    );
    let short = |arn: &Option<String>| arn.as_deref().map(short_task_definition);
    match r.action.as_str() {
        "skipped" => format!("{name}: nothing to do. {}\n", r.reason),
        action => {
            let verb = match action {
                "rolled_back" => "rolled back",
                "dry_run" => "dry run",
                "recorded" => "recorded",
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
            response_text(&r),
            "demo/hello-world: rolled back hello-world:3 → hello-world:2\n  reason  Rolled back from hello-world:3 to hello-world:2 (its last successful deployment) because manual request: test.\n"
        );
        assert_eq!(code_of(&r), Code::Ok);
        let mut s = response("skipped");
        s.reason = "The service already runs hello-world:2.".into();
        s.to = None;
        assert_eq!(
            response_text(&s),
            "demo/hello-world: nothing to do. The service already runs hello-world:2.\n"
        );
        assert_eq!(code_of(&s), Code::Nothing);
        let v = response_json(&r, None);
        assert_eq!(v["action"], "rolled_back");
        assert_eq!(v["wait"], Value::Null);
    }
}
