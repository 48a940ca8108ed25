//! Rendering a decision of the core (the plan) for people (text) and programs (JSON).

use serde_json::{json, Value};

use super::diff::Diff;
use super::output::short_image;
use crate::decision::{Decision, Method, Outcome, RollbackPlan, Snapshot, Source};
use crate::model::*;

/// A decision about one service, with what is known to describe it.
pub struct PlanView<'a> {
    pub cluster: &'a str,
    pub service: &'a str,
    pub decision: &'a Decision,
    pub cause: &'a Cause,
    pub snap: &'a Snapshot,
    /// What the rollback changes (from → to), when it was read.
    pub diff: Option<&'a Diff>,
}

/// The one place the CLI builds its trigger's cause. `by` is who runs the command (the STS caller
/// ARN, recorded in `ecs-rollback:last-rollback-by`), `allow_other_family` the
/// `--allow-other-family` flag (rule 10; the CLI also checks the family itself, `guard::family`,
/// before anything is read).
pub fn manual(
    reason: &str,
    to: Option<String>,
    dry_run: bool,
    allow_other_family: bool,
    by: Option<&str>,
) -> Cause {
    Cause::Manual {
        reason: reason.to_string(),
        to,
        dry_run,
        allow_other_family,
        by: by.map(str::to_string),
        force: false,
    }
}

/// The ECS API's names for service-deployment statuses where the core's sentence carries Rust
/// variant names (`RollbackRequested` → `ROLLBACK_REQUESTED`). Display only.
pub fn api_words(text: &str) -> String {
    const NAMES: &[(&str, &str)] = &[
        ("RollbackRequested", "ROLLBACK_REQUESTED"),
        ("RollbackInProgress", "ROLLBACK_IN_PROGRESS"),
        ("RollbackSuccessful", "ROLLBACK_SUCCESSFUL"),
        ("RollbackFailed", "ROLLBACK_FAILED"),
        ("StopRequested", "STOP_REQUESTED"),
        ("InProgress", "IN_PROGRESS"),
    ];
    let mut out = text.to_string();
    for (debug, api) in NAMES {
        out = out.replace(debug, api);
    }
    out
}

/// The images of a revision, when the snapshot knows them (described, or recorded by history).
pub fn images_of(snap: &Snapshot, arn: &str) -> Vec<(String, String)> {
    if let Some(r) = snap.revisions.get(arn).or_else(|| {
        snap.revisions
            .values()
            .find(|r| crate::decision::same_task_definition(&r.arn, arn))
    }) {
        return r
            .images
            .iter()
            .map(|c| (c.container.clone(), c.image.clone()))
            .collect();
    }
    let Some(Ok(entries)) = &snap.history else {
        return Vec::new();
    };
    entries
        .iter()
        .find(|e| {
            e.target_task_definition
                .as_deref()
                .is_some_and(|td| crate::decision::same_task_definition(td, arn))
        })
        .map(|e| {
            e.target_images
                .iter()
                .filter_map(|i| Some((i.container.clone(), i.image.clone()?)))
                .collect()
        })
        .unwrap_or_default()
}

fn images_text(images: &[(String, String)]) -> String {
    match images {
        [] => String::new(),
        [(_, image)] => short_image(image),
        many => many
            .iter()
            .map(|(c, i)| format!("{c}={}", short_image(i)))
            .collect::<Vec<_>>()
            .join(", "),
    }
}

pub fn source_text(source: Source) -> &'static str {
    match source {
        Source::History => "its last successful deployment (ECS service-deployment history)",
        Source::Ledger => {
            "the newest older revision tagged ecs-rollback:status=stable (the ledger)"
        }
        Source::Family => {
            "the newest older revision not marked bad (no deployment history or ledger entry)"
        }
        Source::Requested => "the revision you asked for",
        Source::DeploymentSource => {
            "the revision the deployment in flight replaces (ECS restores it with StopServiceDeployment)"
        }
    }
}

impl PlanView<'_> {
    pub fn skip_code(&self) -> Option<&'static str> {
        match &self.decision.outcome {
            Outcome::Skip(s) => Some(s.code()),
            _ => None,
        }
    }

    pub fn plan(&self) -> Option<&RollbackPlan> {
        match &self.decision.outcome {
            Outcome::Rollback(plan) => Some(plan),
            _ => None,
        }
    }

    /// The decision as JSON: the Lambda's response fields plus the plan itself.
    pub fn json(&self) -> Value {
        let d = self.decision;
        let images = |arn: Option<&str>| -> Value {
            arn.map(|a| {
                images_of(self.snap, a)
                    .into_iter()
                    .map(|(container, image)| json!({"container": container, "image": image}))
                    .collect::<Vec<_>>()
            })
            .into()
        };
        json!({
            "action": d.action(),
            "cluster": self.cluster,
            "service": self.service,
            "from": d.from(),
            "to": d.to(),
            "reason": api_words(&d.reason(self.cause)),
            "skip": self.skip_code(),
            "plan": self.plan(),
            "images": {"from": images(d.from()), "to": images(d.to())},
            "diff": self.diff.map(|d| d.json()),
        })
    }

    /// The decision for people: a headline, then one labelled line per fact.
    pub fn text(&self) -> String {
        let d = self.decision;
        let name = format!("{}/{}", self.cluster, self.service);
        let mut out = String::new();
        let mut line = |label: &str, value: &str| {
            out.push_str(&format!("  {label:<7} {value}\n"));
        };
        match &d.outcome {
            Outcome::Skip(skip) => {
                format!("{name}: nothing to do. {}\n", api_words(&skip.to_string()))
            }
            Outcome::Record { task_definition } => {
                format!(
                    "{name}: would record {} as stable.\n",
                    short_task_definition(task_definition)
                )
            }
            Outcome::Rollback(plan) => {
                let head = format!(
                    "{name}: {} {} → {}\n",
                    if plan.dry_run {
                        "would roll back"
                    } else {
                        "roll back"
                    },
                    short_task_definition(&plan.from),
                    short_task_definition(&plan.to)
                );
                let with_images = |arn: &str| {
                    let images = images_text(&images_of(self.snap, arn));
                    if images.is_empty() {
                        short_task_definition(arn)
                    } else {
                        format!("{}  {images}", short_task_definition(arn))
                    }
                };
                line("from", &with_images(&plan.from));
                line("to", &with_images(&plan.to));
                line("chosen", source_text(plan.source));
                let to = short_task_definition(&plan.to);
                let how = match &plan.method {
                    Method::UpdateService if plan.pins.is_empty() => {
                        format!("UpdateService(taskDefinition={to})")
                    }
                    Method::UpdateService => format!(
                        "RegisterTaskDefinition (a copy of {to} pinned to the digests it ran), then UpdateService to the copy"
                    ),
                    Method::StopDeployment {
                        service_deployment_arn,
                    } => format!(
                        "StopServiceDeployment(stopType=ROLLBACK) of {} (ECS returns to {to})",
                        service_deployment_arn
                            .rsplit('/')
                            .next()
                            .unwrap_or(service_deployment_arn)
                    ),
                };
                line("how", &how);
                for pin in &plan.pins {
                    line(
                        "pin",
                        &format!(
                            "{}: {} → {}",
                            pin.container,
                            short_image(&pin.image),
                            short_image(&pin.pinned)
                        ),
                    );
                }
                if !plan.restore.is_empty() {
                    line("restore", &plan.restore.join(", "));
                }
                let after = match &plan.mark_bad {
                    Some(bad) => format!(
                        "tag {} {TAG_STATUS}=bad for this service; the service's {TAG_LAST_ROLLBACK_AT}, -to, -from, -kind, -by are written first",
                        short_task_definition(bad)
                    ),
                    None => format!(
                        "no task definition is marked bad (the failure is not the task definition's); the service's {TAG_LAST_ROLLBACK_AT}, -to, -from, -kind, -by are written first"
                    ),
                };
                line("after", &after);
                if let Some(why) = &plan.degraded {
                    line("note", why);
                }
                line("reason", &api_words(&d.reason(self.cause)));
                let mut text = head;
                text.push_str(&out);
                if let Some(diff) = self.diff {
                    text.push_str("  changes (what the rollback reverts):\n");
                    text.push_str(&diff.lines("    "));
                    if let Some(note) = &diff.service_config {
                        text.push_str(&format!("    ({note})\n"));
                    }
                }
                text
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::decision::{Pin, Skip};

    const FROM: &str = "arn:aws:ecs:eu-west-1:123456789012:task-definition/hello-world:3";
    const TO: &str = "arn:aws:ecs:eu-west-1:123456789012:task-definition/hello-world:2";
    const REPO: &str = "123456789012.dkr.ecr.eu-west-1.amazonaws.com/hello-world";

    fn snapshot() -> Snapshot {
        let mut snap = Snapshot::new(ServiceState {
            cluster_arn: "arn:aws:ecs:eu-west-1:123456789012:cluster/demo".into(),
            service_arn: "arn:aws:ecs:eu-west-1:123456789012:service/demo/hello-world".into(),
            service_name: "hello-world".into(),
            status: "ACTIVE".into(),
            controller: Controller::Ecs,
            task_definition: FROM.into(),
            tags: Default::default(),
            deployments: Vec::new(),
            desired_count: 1,
            circuit_breaker: None,
            deployment_alarms: None,
            strategy: Strategy::Rolling,
            bake_time_minutes: None,
            express: false,
        });
        snap.revisions.insert(
            TO.into(),
            Revision {
                arn: TO.into(),
                family: "hello-world".into(),
                revision: 2,
                status: RevisionStatus::Active,
                ledger: Some(Ledger::Stable),
                bad_for: Vec::new(),
                images: vec![ContainerImage {
                    container: "app".into(),
                    image: format!("{REPO}:latest"),
                }],
                pinned_from: None,
                schema: None,
            },
        );
        snap
    }

    fn cause() -> Cause {
        manual("bad login page", None, true, false, None)
    }

    fn pinned_plan() -> Decision {
        Decision {
            outcome: Outcome::Rollback(RollbackPlan {
                from: FROM.into(),
                to: TO.into(),
                source: Source::History,
                method: Method::UpdateService,
                pins: vec![Pin {
                    container: "app".into(),
                    image: format!("{REPO}:latest"),
                    pinned: format!("{REPO}@sha256:{}", "ab".repeat(32)),
                }],
                mark_bad: Some(FROM.into()),
                copy_inactive: false,
                restore: Vec::new(),
                restore_from: None,
                strategy: Strategy::Rolling,
                bake_time_minutes: None,
                dry_run: true,
                degraded: None,
                migration: None,
            }),
            current: Some(FROM.into()),
            notes: Vec::new(),
        }
    }

    #[test]
    fn a_pinned_rollback_plan_reads_as_text() {
        let (decision, snap, cause) = (pinned_plan(), snapshot(), cause());
        let view = PlanView {
            cluster: "demo",
            service: "hello-world",
            decision: &decision,
            cause: &cause,
            snap: &snap,
            diff: None,
        };
        let want = "\
demo/hello-world: would roll back hello-world:3 → hello-world:2
  from    hello-world:3
  to      hello-world:2  hello-world:latest
  chosen  its last successful deployment (ECS service-deployment history)
  how     RegisterTaskDefinition (a copy of hello-world:2 pinned to the digests it ran), then UpdateService to the copy
  pin     app: hello-world:latest → hello-world@sha256:abababababab
  after   tag hello-world:3 ecs-rollback:status=bad for this service; the service's ecs-rollback:last-rollback-at, -to, -from, -kind, -by are written first
  reason  Would roll back from hello-world:3 to hello-world:2 (its last successful deployment) as a copy pinned to the image digests it ran because manual request: bad login page. Next: ECS replaces the tasks with hello-world:2 in a rolling deployment.
";
        assert_eq!(view.text(), want);
    }

    #[test]
    fn a_plan_serializes_with_the_response_fields_and_the_plan() {
        let (decision, snap, cause) = (pinned_plan(), snapshot(), cause());
        let view = PlanView {
            cluster: "demo",
            service: "hello-world",
            decision: &decision,
            cause: &cause,
            snap: &snap,
            diff: None,
        };
        let v = view.json();
        assert_eq!(v["action"], "dry_run");
        assert_eq!(v["from"], FROM);
        assert_eq!(v["to"], TO);
        assert_eq!(v["skip"], Value::Null);
        assert_eq!(v["plan"]["source"], "history");
        assert_eq!(v["plan"]["method"]["kind"], "update_service");
        assert_eq!(v["plan"]["pins"][0]["container"], "app");
        assert_eq!(v["plan"]["mark_bad"], FROM);
        assert_eq!(v["images"]["to"][0]["image"], format!("{REPO}:latest"));
        assert_eq!(v["images"]["from"], json!([]));
    }

    #[test]
    fn stop_deployment_and_skips_read_as_text() {
        let snap = snapshot();
        let cause = cause();
        let decision = Decision {
            outcome: Outcome::Rollback(RollbackPlan {
                from: FROM.into(),
                to: TO.into(),
                source: Source::Requested,
                method: Method::StopDeployment {
                    service_deployment_arn:
                        "arn:aws:ecs:eu-west-1:123456789012:service-deployment/demo/hello-world/AbC123"
                            .into(),
                },
                pins: Vec::new(),
                mark_bad: Some(FROM.into()),
                copy_inactive: false,
                restore: Vec::new(),
                restore_from: None,
                strategy: Strategy::Rolling,
                bake_time_minutes: None,
                dry_run: false,
                degraded: Some("service-deployment history unavailable (boom)".into()),
                migration: None,
            }),
            current: Some(FROM.into()),
            notes: Vec::new(),
        };
        let view = PlanView {
            cluster: "demo",
            service: "hello-world",
            decision: &decision,
            cause: &cause,
            snap: &snap,
            diff: None,
        };
        let text = view.text();
        assert!(
            text.starts_with("demo/hello-world: roll back hello-world:3 → hello-world:2\n"),
            "{text}"
        );
        assert!(text.contains("  how     StopServiceDeployment(stopType=ROLLBACK) of AbC123 (ECS returns to hello-world:2)\n"), "{text}");
        assert!(
            text.contains("  chosen  the revision you asked for\n"),
            "{text}"
        );
        assert!(
            text.contains("  note    service-deployment history unavailable (boom)\n"),
            "{text}"
        );

        let skip = Decision {
            outcome: Outcome::Skip(Skip::AlreadyOnTarget(TO.into())),
            current: Some(TO.into()),
            notes: Vec::new(),
        };
        let view = PlanView {
            cluster: "demo",
            service: "hello-world",
            decision: &skip,
            cause: &cause,
            snap: &snap,
            diff: None,
        };
        assert_eq!(
            view.text(),
            "demo/hello-world: nothing to do. The service already runs hello-world:2.\n"
        );
        assert_eq!(view.json()["skip"], "already_on_target");
        assert_eq!(view.json()["action"], "skipped");
    }
}
