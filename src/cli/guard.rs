//! Safe repeats and safe targets for manual rollbacks, checked in the CLI before the decision
//! core is asked to act:
//! - once the service runs a restored proven revision (a rollback by anyone, ECS's own included:
//!   the core's [`crate::decision::running_origin`], the same answer the responder uses for "is
//!   this the same incident?") or a rollback is still in flight, no further step back without
//!   `--to` or `--force` (two operators pressing the button during one incident would otherwise
//!   walk the service back twice and tag the good revision bad);
//! - a `--to` of another task-definition family is refused (another image, another task role).

use std::collections::BTreeMap;

use chrono::Duration;

use super::error::CliError;
use super::output::time;
use crate::decision::same_task_definition;
use crate::incident::Origin;
use crate::model::*;
use crate::model::{TAG_LAST_ROLLBACK_BY, TAG_LAST_ROLLBACK_KIND};

/// The last rollback the service's tags record.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LastRollback {
    pub at: Option<Time>,
    pub at_raw: String,
    pub to: String,
    pub from: Option<String>,
    /// `manual` or `automatic` (absent on tags written before the kind was recorded).
    pub kind: Option<String>,
    /// The STS caller ARN of a manual rollback, `ecs-rollback` for the responder.
    pub by: Option<String>,
}

impl LastRollback {
    pub fn of(tags: &BTreeMap<String, String>) -> Option<LastRollback> {
        let at_raw = tags.get(TAG_LAST_ROLLBACK_AT)?.clone();
        let to = tags.get(TAG_LAST_ROLLBACK_TO)?.clone();
        Some(LastRollback {
            at: chrono::DateTime::parse_from_rfc3339(&at_raw)
                .ok()
                .map(|t| t.with_timezone(&chrono::Utc)),
            at_raw,
            to,
            from: tags.get(TAG_LAST_ROLLBACK_FROM).cloned(),
            kind: tags.get(TAG_LAST_ROLLBACK_KIND).cloned(),
            by: tags.get(TAG_LAST_ROLLBACK_BY).cloned(),
        })
    }

    /// `arn:… (manual)`, `the responder (ecs-rollback), automatic`, or `someone (…)`.
    pub fn who(&self) -> String {
        let by = match self.by.as_deref() {
            Some("ecs-rollback") => "the responder (ecs-rollback)".to_string(),
            Some(by) => by.to_string(),
            None => "someone (who is not recorded)".to_string(),
        };
        match self.kind.as_deref() {
            Some(kind) => format!("{by}, {kind}"),
            None => by,
        }
    }

    /// `2026-12-01 09:10:00 UTC (3 min ago)`.
    pub fn when(&self, now: Time) -> String {
        match self.at {
            Some(at) => format!("{} UTC ({} ago)", time(&at), ago(now - at)),
            None => format!("{:?} (unreadable time)", self.at_raw),
        }
    }

    /// `hello-world:3 → hello-world:2`.
    pub fn moves(&self) -> String {
        format!(
            "{} → {}",
            self.from
                .as_deref()
                .map(short_task_definition)
                .unwrap_or_else(|| "?".into()),
            short_task_definition(&self.to)
        )
    }

    /// Its deployment is still rolling out: the primary deployment runs the rollback's target
    /// and ECS has not reported it COMPLETED or FAILED.
    pub fn in_flight(&self, primary: Option<&Primary>) -> bool {
        primary.is_some_and(|p| {
            same_task_definition(&p.task_definition, &self.to) && p.rollout == Rollout::InProgress
        })
    }
}

/// What the guard needs of a service: names, tags, the primary deployment.
pub struct Guarded<'a> {
    pub cluster: &'a str,
    pub service: &'a str,
    pub tags: &'a BTreeMap<String, String>,
    pub primary: Option<Primary>,
    /// The task definition the service runs.
    pub task_definition: &'a str,
}

impl<'a> Guarded<'a> {
    pub fn of(s: &'a ServiceState) -> Guarded<'a> {
        Guarded {
            cluster: s.cluster_name(),
            service: &s.service_name,
            tags: &s.tags,
            primary: s.primary().map(|p| Primary {
                task_definition: p.task_definition.clone(),
                rollout: p.rollout,
            }),
            task_definition: &s.task_definition,
        }
    }
}

/// The primary deployment: what it deploys and how far it got.
pub struct Primary {
    pub task_definition: String,
    pub rollout: Rollout,
}

/// `42 s`, `3 min`, `2 h 5 min`.
pub fn ago(d: Duration) -> String {
    let s = d.num_seconds().max(0);
    match s {
        0..=119 => format!("{s} s"),
        120..=7199 => format!("{} min", s / 60),
        _ => format!("{} h {} min", s / 3600, (s % 3600) / 60),
    }
}

/// Refuse a further step back once the service runs a restored proven revision (`origin`, from
/// the core) or while a recorded rollback is still in flight, or when the recorded rollback's
/// time cannot be read.
pub fn repeat(service: &Guarded, origin: &Origin, now: Time) -> Result<(), CliError> {
    let last = LastRollback::of(service.tags);
    let in_flight = last
        .as_ref()
        .is_some_and(|l| l.in_flight(service.primary.as_ref()));
    let unreadable = last.as_ref().is_some_and(|l| l.at.is_none());
    let restored = match origin {
        Origin::Restore { how } => Some(how.as_str()),
        Origin::New => None,
    };
    if restored.is_none() && !in_flight && !unreadable {
        return Ok(());
    }
    let name = format!("{}/{}", service.cluster, service.service);
    // The rollback's own deployment failed: the revision it restored did not hold.
    let failed = service.primary.as_ref().is_some_and(|p| {
        p.rollout == Rollout::Failed
            && same_task_definition(&p.task_definition, service.task_definition)
    });
    if failed && (restored.is_some() || last.is_some()) {
        return Err(CliError::nothing(format!(
            "{name}: the rollback to {} did not hold: its deployment FAILED. Not stepping back further without an explicit choice.",
            short_task_definition(service.task_definition)
        ))
        .hint(format!(
            "`ecs-rollback status -c {c} -s {s}` shows the history; choose a revision with `ecs-rollback rollback -c {c} -s {s} --to REVISION` (or --force for the next older proven one), or fix forward",
            c = service.cluster,
            s = service.service
        )));
    }
    let state = if in_flight {
        " (its deployment is still in progress)"
    } else {
        ""
    };
    let mut message = match restored {
        Some(how) => format!(
            "{name} runs {}{state}, a proven revision ({}): this incident was already answered by a rollback.",
            short_task_definition(service.task_definition),
            short_arns(how)
        ),
        None => format!("{name} has a recorded rollback{state}."),
    };
    if let Some(last) = &last {
        message.push_str(&format!(
            " Last rollback: {} by {}: {}.",
            last.when(now),
            last.who(),
            last.moves()
        ));
    }
    message.push_str(" Not rolling back further without an explicit choice.");
    Err(CliError::nothing(message).hint(format!(
        "`ecs-rollback status -c {c} -s {s}` shows it; to step back further anyway: `ecs-rollback rollback -c {c} -s {s} --force` (or --to REVISION)",
        c = service.cluster,
        s = service.service
    )))
}

/// Refuse a `deploy` while a rollback is in flight: the new deployment would stop the rollback's
/// deployment and put an unproven revision back before the restored one has settled. A restore
/// in flight is ours, a person's (the responder's and the CLI's loop-guard tags, or what the core
/// says restored the running revision) or ECS's own rollback.
pub fn deploy_over_rollback(
    service: &Guarded,
    origin: &Origin,
    ecs_rolling_back: bool,
    allow: bool,
) -> Result<(), CliError> {
    let rollout_in_flight = service
        .primary
        .as_ref()
        .is_some_and(|p| p.rollout == Rollout::InProgress);
    let recorded =
        LastRollback::of(service.tags).is_some_and(|l| l.in_flight(service.primary.as_ref()));
    let restoring = rollout_in_flight && (recorded || matches!(origin, Origin::Restore { .. }));
    if allow || !(restoring || ecs_rolling_back) {
        return Ok(());
    }
    let name = format!("{}/{}", service.cluster, service.service);
    let what = if ecs_rolling_back {
        "ECS is rolling it back".to_string()
    } else {
        format!(
            "a rollback to {} is still rolling out",
            short_task_definition(service.task_definition)
        )
    };
    Err(CliError::nothing(format!(
        "{name}: {what}; a deploy now would stop that deployment and replace the restored revision before it settled."
    ))
    .hint(format!(
        "wait for it (`ecs-rollback status -c {c} -s {s}`), or deploy anyway with --interrupt-rollback",
        c = service.cluster,
        s = service.service
    )))
}

/// ARNs in a sentence as their last path segment (an error line has room for a few hundred
/// characters).
fn short_arns(text: &str) -> String {
    text.split(' ')
        .map(|w| match w.strip_prefix("arn:") {
            Some(rest) => rest.rsplit('/').next().unwrap_or(rest),
            None => w,
        })
        .collect::<Vec<_>>()
        .join(" ")
}

/// Refuse a target of another family than the one the service runs.
pub fn family(service: &Guarded, to: &str, allow: bool) -> Result<(), CliError> {
    let (Some((current, _)), Some((target, _))) = (
        split_task_definition(service.task_definition),
        split_task_definition(to),
    ) else {
        return Ok(());
    };
    if current == target || allow {
        return Ok(());
    }
    Err(CliError::usage(format!(
        "refusing --to {}: it is of family {target:?}, but {}/{} runs family {current:?} (another image and task role); pass --allow-other-family if that is meant",
        short_task_definition(to),
        service.cluster,
        service.service,
    )))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cli::error::Code;

    fn guarded<'a>(
        tags: &'a BTreeMap<String, String>,
        rollout: Rollout,
        td: &'a str,
    ) -> Guarded<'a> {
        Guarded {
            cluster: "demo",
            service: "web",
            tags,
            primary: Some(Primary {
                task_definition: td.to_string(),
                rollout,
            }),
            task_definition: td,
        }
    }

    fn tags(at: &str) -> BTreeMap<String, String> {
        [
            (TAG_LAST_ROLLBACK_AT, at),
            (TAG_LAST_ROLLBACK_TO, "web:2"),
            (TAG_LAST_ROLLBACK_FROM, "web:3"),
            (TAG_LAST_ROLLBACK_KIND, "manual"),
            (
                TAG_LAST_ROLLBACK_BY,
                "arn:aws:sts::123456789012:assumed-role/Ops/alice",
            ),
        ]
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
    }

    #[test]
    fn a_restored_or_in_flight_rollback_is_not_repeated() {
        let now = chrono::DateTime::parse_from_rfc3339("2026-12-01T10:00:00Z")
            .unwrap()
            .with_timezone(&chrono::Utc);
        let restored = Origin::Restore {
            how: "a manual rollback to web:2 at 2026-12-01T09:57:00Z".into(),
        };
        let recent = tags("2026-12-01T09:57:00Z");
        let e = repeat(
            &guarded(&recent, Rollout::Completed, "web:2"),
            &restored,
            now,
        )
        .unwrap_err();
        assert_eq!(e.code, Code::Nothing);
        assert!(
            e.message
                .contains("a proven revision (a manual rollback to web:2"),
            "{e:?}"
        );
        assert!(
            e.message.contains("2026-12-01 09:57:00 UTC (3 min ago)"),
            "{e:?}"
        );
        assert!(
            e.message.contains("assumed-role/Ops/alice, manual"),
            "{e:?}"
        );
        assert!(e.message.contains("web:3 → web:2"), "{e:?}");
        assert!(e
            .hint
            .unwrap()
            .contains("ecs-rollback rollback -c demo -s web --force"));
        // Eleven minutes later the service still runs the restored revision: still refused
        // (a time rule would have let the second rollback walk back into an older revision).
        let later = now + Duration::minutes(11);
        assert!(repeat(
            &guarded(&recent, Rollout::Completed, "web:2"),
            &restored,
            later
        )
        .is_err());
        // Old but still rolling out: refused too.
        let old = tags("2026-12-01T08:00:00Z");
        let e = repeat(
            &guarded(&old, Rollout::InProgress, "web:2"),
            &Origin::New,
            now,
        )
        .unwrap_err();
        assert!(e.message.contains("still in progress"), "{e:?}");
        // A new revision deployed since, settled: fine. No tags: fine.
        assert!(repeat(
            &guarded(&old, Rollout::Completed, "web:4"),
            &Origin::New,
            now
        )
        .is_ok());
        let none = BTreeMap::new();
        assert!(repeat(
            &guarded(&none, Rollout::InProgress, "web:2"),
            &Origin::New,
            now
        )
        .is_ok());
        // ECS's own rollback, no tags at all: the core's origin alone refuses.
        let ecs = Origin::Restore {
            how: "ECS restored it in the rollback sd-9".into(),
        };
        assert!(repeat(&guarded(&none, Rollout::Completed, "web:2"), &ecs, now).is_err());
    }

    #[test]
    fn another_family_is_refused_unless_allowed() {
        let none = BTreeMap::new();
        let svc = guarded(
            &none,
            Rollout::Completed,
            "arn:aws:ecs:eu-west-1:1:task-definition/web:3",
        );
        let e = family(&svc, "checkout:1", false).unwrap_err();
        assert_eq!(e.code, Code::Usage);
        assert!(
            e.message.contains("\"checkout\"") && e.message.contains("\"web\""),
            "{e:?}"
        );
        assert!(family(&svc, "checkout:1", true).is_ok());
        assert!(family(&svc, "web:1", false).is_ok());
    }
}
