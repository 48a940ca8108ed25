//! `wait` (and `deploy --wait`): follow ONE service deployment — named by its ARN or its ECS
//! deployment id (`ecs-svc/N`), or the one `deploy` just started — until it ends, and say how.
//! What a state means is [`super::verdict::judge`] (pure); this module reads (thin: per poll
//! one `DescribeServices` with tags and one `DescribeServiceDeployments`, plus
//! `DescribeServiceRevisions` once per revision), waits, and reports: one line or one JSON object
//! on stdout, progress on stderr, GitHub Actions annotations and step summary when run there.

use std::collections::{BTreeMap, HashSet};
use std::io::Write;
use std::time::{Duration, Instant};

use aws_sdk_ecs::types::ServiceField;
use serde_json::{json, Value};

use super::args::{Format, WaitCmdArgs};
use super::context::{ecs_client, Ctx};
use super::error::{one_line, CliError, Code};
use super::follow::{fresh_events, Spinner};
use super::output::{note, print, print_json};
use super::verdict::{
    judge, EcsCause, Ending, Newer, Outcome, Seen, SeenDeployment, SeenRollback, Verdict,
};
use crate::aws::ecs::Ecs;
use crate::aws::{aws_error, to_time};
use crate::error::{Error, InputError};
use crate::model::{short_task_definition, DeploymentStatus};

/// A deployment as named on the command line.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum DeploymentRef {
    /// `arn:PARTITION:ecs:REGION:ACCOUNT:service-deployment/CLUSTER/SERVICE/ID`.
    Arn {
        arn: String,
        cluster: String,
        service: String,
    },
    /// `ecs-svc/N`.
    EcsId(String),
}

const ARN_SHAPE: &str = "arn:aws:ecs:REGION:ACCOUNT:service-deployment/CLUSTER/SERVICE/ID";

/// Parse DEPLOYMENT: a service-deployment ARN or `ecs-svc/N`.
pub fn parse_deployment(s: &str) -> Result<DeploymentRef, CliError> {
    let s = s.trim();
    let bad = |why: &str| {
        CliError::usage(format!("DEPLOYMENT {s:?} {why}")).hint(format!(
            "give a service-deployment ARN ({ARN_SHAPE}) or an ECS deployment id (ecs-svc/N) with --cluster and --service; `ecs-rollback status -c C -s S` lists the deployments in flight"
        ))
    };
    if let Some(n) = s.strip_prefix("ecs-svc/") {
        return if !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()) {
            Ok(DeploymentRef::EcsId(s.to_string()))
        } else {
            Err(bad("is not an ECS deployment id (ecs-svc/ and digits)"))
        };
    }
    if !s.starts_with("arn:") {
        return Err(bad(
            "is neither a service-deployment ARN nor an ECS deployment id",
        ));
    }
    let parts: Vec<&str> = s.splitn(6, ':').collect();
    let [_, partition, service_ns, region, account, resource] = parts.as_slice() else {
        return Err(bad("is not a service-deployment ARN"));
    };
    if partition.is_empty() || *service_ns != "ecs" || region.is_empty() {
        return Err(bad(&format!("is not an ECS ARN of a Region ({ARN_SHAPE})")));
    }
    if account.len() != 12 || !account.bytes().all(|b| b.is_ascii_digit()) {
        return Err(bad("has no 12-digit account"));
    }
    let Some(path) = resource.strip_prefix("service-deployment/") else {
        return Err(bad(&format!(
            "is not a service-deployment ARN (its resource is not service-deployment/…: {ARN_SHAPE})"
        )));
    };
    let segments: Vec<&str> = path.split('/').collect();
    match segments.as_slice() {
        [cluster, service, id] if !cluster.is_empty() && !service.is_empty() && !id.is_empty() => {
            Ok(DeploymentRef::Arn {
                arn: s.to_string(),
                cluster: cluster.to_string(),
                service: service.to_string(),
            })
        }
        _ => Err(bad(&format!(
            "does not name CLUSTER/SERVICE/ID after service-deployment/ ({ARN_SHAPE})"
        ))),
    }
}

/// The name of a cluster or service given as a name or an ARN.
fn last_segment(s: &str) -> &str {
    s.rsplit('/').next().unwrap_or(s)
}

/// The followed deployment: its ARN and its service.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Target {
    pub arn: String,
    pub cluster: String,
    pub service: String,
}

impl Target {
    /// Service deployment `arn` of the service `svc`.
    fn of(svc: &crate::model::ServiceState, arn: String) -> Target {
        Target {
            arn,
            cluster: svc.cluster_name().to_string(),
            service: svc.service_name.clone(),
        }
    }

    /// The command that follows it again.
    pub fn again(&self) -> String {
        format!("ecs-rollback wait {}", self.arn)
    }
}

/// The service deployment of a named deployment. An ARN names its service; `--cluster` and
/// `--service`, when given too, must agree with it. `ecs-svc/N` needs them, and is looked up in
/// the service's deployment history (`ListServiceDeployments`: the one whose target service
/// revision is numbered N).
pub async fn resolve(
    ecs: &Ecs,
    reference: &DeploymentRef,
    cluster: Option<&str>,
    service: Option<&str>,
) -> Result<Target, CliError> {
    match reference {
        DeploymentRef::Arn {
            arn,
            cluster: c,
            service: s,
        } => {
            for (flag, given, named) in [("--cluster", cluster, c), ("--service", service, s)] {
                if let Some(given) = given {
                    if last_segment(given) != named {
                        return Err(CliError::usage(format!(
                            "{flag} {given:?} is not the {} of DEPLOYMENT, {named:?}",
                            &flag[2..]
                        ))
                        .hint("drop it (the ARN names the service), or check ECS_ROLLBACK_CLUSTER / ECS_ROLLBACK_SERVICE"));
                    }
                }
            }
            Ok(Target {
                arn: arn.clone(),
                cluster: c.clone(),
                service: s.clone(),
            })
        }
        DeploymentRef::EcsId(id) => {
            let (Some(cluster), Some(service)) = (cluster, service) else {
                return Err(CliError::usage(format!(
                    "DEPLOYMENT {id} is an ECS deployment id: --cluster and --service are needed to find it"
                ))
                .hint("pass -c CLUSTER -s SERVICE (or set ECS_ROLLBACK_CLUSTER and ECS_ROLLBACK_SERVICE), or give the service-deployment ARN"));
            };
            let svc = ecs
                .describe_service(&crate::model::ServiceRef {
                    cluster: cluster.to_string(),
                    service: service.to_string(),
                })
                .await?;
            let Some(arn) = find_by_id(ecs, &svc, id).await? else {
                return Err(CliError::usage(format!(
                    "no service deployment of {}/{} is ECS deployment {id}",
                    svc.cluster_name(),
                    svc.service_name
                ))
                .hint(format!(
                    "ECS keeps 90 days of service deployments; `ecs-rollback status -c {} -s {}` shows the service's deployments",
                    svc.cluster_name(),
                    svc.service_name
                )));
            };
            Ok(Target::of(&svc, arn))
        }
    }
}

/// The service deployment whose target service revision is numbered after `ecs-svc/N`.
async fn find_by_id(
    ecs: &Ecs,
    svc: &crate::model::ServiceState,
    id: &str,
) -> Result<Option<String>, Error> {
    let suffix = format!("/{}", id.trim_start_matches("ecs-svc/"));
    Ok(ecs
        .list_service_deployments(svc, 5)
        .await?
        .iter()
        .find(|b| {
            b.target_service_revision_arn()
                .is_some_and(|r| r.ends_with(&suffix))
        })
        .and_then(|b| b.service_deployment_arn().map(str::to_string)))
}

/// The deployment `deploy` just started: the ARN UpdateService answered, else the service
/// deployment of the PRIMARY deployment id it answered.
pub async fn started(
    ecs: &Ecs,
    svc: &crate::model::ServiceState,
    started: &crate::aws::ecs::Started,
) -> Result<Target, CliError> {
    let arn = match (&started.service_deployment_arn, &started.deployment_id) {
        (Some(arn), _) => Some(arn.clone()),
        (None, Some(id)) => find_by_id(ecs, svc, id).await?,
        (None, None) => None,
    };
    let Some(arn) = arn else {
        return Err(CliError::new(
            Code::Aws,
            "UpdateService answered neither the service deployment it started nor its deployment id",
        )
        .hint(format!(
            "the deployment goes on in ECS: `ecs-rollback status -c {} -s {}` shows it",
            svc.cluster_name(),
            svc.service_name
        )));
    };
    Ok(Target::of(svc, arn))
}

/// `ecs-svc/N` of a service revision ARN (`…:service-revision/C/S/N`).
fn deployment_id_of(revision_arn: &str) -> Option<String> {
    let n = revision_arn.rsplit('/').next()?;
    (!n.is_empty() && n.bytes().all(|b| b.is_ascii_digit())).then(|| format!("ecs-svc/{n}"))
}

/// What the reads remember between polls.
#[derive(Default)]
struct Reader {
    /// Service revision ARN → task definition.
    revisions: BTreeMap<String, String>,
    events: Option<HashSet<String>>,
}

/// One poll: the service (with tags and events), the followed service deployment and the
/// service's current one if it is another.
async fn read(
    ecs: &Ecs,
    target: &Target,
    reader: &mut Reader,
) -> Result<(Seen, Vec<String>), CliError> {
    let out = ecs
        .client
        .describe_services()
        .cluster(&target.cluster)
        .services(&target.service)
        .include(ServiceField::Tags)
        .send()
        .await
        .map_err(|e| {
            if e.as_service_error()
                .is_some_and(|se| se.is_cluster_not_found_exception())
            {
                CliError::from(Error::Input(InputError::UnknownCluster(
                    target.cluster.clone(),
                )))
            } else {
                CliError::from(Error::from(aws_error("DescribeServices", e)))
            }
        })?;
    let Some(svc) = out.services().first() else {
        return Err(CliError::from(Error::Input(InputError::UnknownService {
            cluster: target.cluster.clone(),
            service: target.service.clone(),
        })));
    };
    let events = fresh_events(&mut reader.events, svc.events());
    let current = svc
        .current_service_deployment()
        .filter(|c| *c != target.arn)
        .map(str::to_string);
    let mut arns = vec![target.arn.clone()];
    arns.extend(current.clone());
    let sds = ecs
        .client
        .describe_service_deployments()
        .set_service_deployment_arns(Some(arns))
        .send()
        .await
        .map_err(|e| CliError::from(Error::from(aws_error("DescribeServiceDeployments", e))))?;
    let Some(ours) = sds
        .service_deployments()
        .iter()
        .find(|d| d.service_deployment_arn() == Some(target.arn.as_str()))
    else {
        return Err(CliError::usage(format!(
            "ECS knows no service deployment {} (DescribeServiceDeployments: {})",
            target.arn,
            sds.failures()
                .iter()
                .filter_map(|f| f.reason())
                .next()
                .unwrap_or("not found")
        ))
        .hint(format!(
            "check the ARN, --region and --profile; ECS keeps 90 days of service deployments; `ecs-rollback status -c {} -s {}` shows the service",
            target.cluster, target.service
        )));
    };
    let newer = current.as_deref().and_then(|c| {
        sds.service_deployments()
            .iter()
            .find(|d| d.service_deployment_arn() == Some(c))
            .filter(|n| match (n.created_at(), ours.created_at()) {
                (Some(n), Some(o)) => n.as_secs_f64() > o.as_secs_f64(),
                _ => true,
            })
    });
    // The revisions to resolve to task definitions (each once).
    let target_rev = ours
        .target_service_revision()
        .and_then(|r| r.arn())
        .map(str::to_string);
    let source_rev = ours
        .source_service_revisions()
        .first()
        .and_then(|r| r.arn())
        .map(str::to_string);
    let rollback_rev = ours
        .rollback()
        .and_then(|r| r.service_revision_arn())
        .map(str::to_string);
    let newer_rev = newer
        .and_then(|n| n.target_service_revision())
        .and_then(|r| r.arn())
        .map(str::to_string);
    let wanted: Vec<String> = [&target_rev, &source_rev, &rollback_rev, &newer_rev]
        .into_iter()
        .flatten()
        .filter(|a| !reader.revisions.contains_key(*a))
        .cloned()
        .collect::<std::collections::BTreeSet<_>>()
        .into_iter()
        .collect();
    if !wanted.is_empty() {
        for (arn, (td, _)) in ecs.describe_service_revisions(&wanted).await? {
            reader.revisions.insert(arn, td);
        }
    }
    let td_of = |rev: &Option<String>| rev.as_ref().and_then(|r| reader.revisions.get(r)).cloned();
    let status = |s: Option<&aws_sdk_ecs::types::ServiceDeploymentStatus>| {
        s.map(|s| DeploymentStatus::parse(s.as_str()))
    };
    let triggered = |s: Option<&aws_sdk_ecs::types::ServiceDeploymentRollbackMonitorsStatus>| {
        s.is_some_and(|s| s.as_str() == "TRIGGERED")
    };
    let deployment = SeenDeployment {
        arn: target.arn.clone(),
        status: status(ours.status()),
        status_reason: ours.status_reason().map(str::to_string),
        created_at: ours.created_at().and_then(to_time),
        id: target_rev.as_deref().and_then(deployment_id_of),
        task_definition: td_of(&target_rev),
        from_task_definition: td_of(&source_rev),
        lifecycle_stage: ours.lifecycle_stage().map(|s| s.as_str().to_string()),
        rollback: ours.rollback().map(|r| SeenRollback {
            reason: r.reason().map(str::to_string),
            started_at: r.started_at().and_then(to_time),
            to_task_definition: td_of(&rollback_rev),
        }),
        circuit_breaker_triggered: triggered(
            ours.deployment_circuit_breaker().and_then(|b| b.status()),
        ),
        circuit_breaker: ours
            .deployment_circuit_breaker()
            .filter(|b| b.status().is_some_and(|s| s.as_str() != "DISABLED"))
            .map(|b| (b.failure_count(), b.threshold())),
        alarms_triggered: triggered(ours.alarms().and_then(|a| a.status())),
        triggered_alarms: ours
            .alarms()
            .map(|a| a.triggered_alarm_names().to_vec())
            .unwrap_or_default(),
        hook_failed: ours
            .lifecycle_hook_details()
            .iter()
            .any(|h| h.status().is_some_and(|s| s.as_str() == "FAILED")),
        tasks: ours.target_service_revision().map(|r| {
            (
                r.requested_task_count(),
                r.running_task_count(),
                r.pending_task_count(),
            )
        }),
    };
    let deployments = svc
        .deployments()
        .iter()
        .map(crate::aws::ecs::to_deployment)
        .collect();
    let tags = crate::aws::ecs::tags_map(svc.tags());
    let newer = newer.and_then(|n| {
        Some(Newer {
            arn: n.service_deployment_arn()?.to_string(),
            id: newer_rev.as_deref().and_then(deployment_id_of),
            task_definition: td_of(&newer_rev),
        })
    });
    Ok((
        Seen {
            deployment,
            deployments,
            tags,
            newer,
        },
        events,
    ))
}

/// How a wait ended.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Report {
    pub target: Target,
    pub outcome: Outcome,
    /// How it ended (`None`: timed out or interrupted).
    pub ending: Option<Ending>,
    /// The deployment as last seen.
    pub deployment: SeenDeployment,
    /// What it was waiting for when it stopped waiting.
    pub waiting: Option<String>,
    pub seconds: u64,
}

/// Follow `target` until it ends, `timeout` passes, or Ctrl-C. Progress on stderr: a spinner on
/// a terminal (when `spinner`), else a line per change; new service events as they arrive.
pub async fn follow(
    ecs: &Ecs,
    target: &Target,
    timeout: Duration,
    poll_interval: Duration,
    spinner: bool,
) -> Result<Report, CliError> {
    let spinner = Spinner::new(spinner);
    let started = Instant::now();
    // The last state seen, for a report when the wait stops before the deployment ends.
    let last: std::sync::Mutex<Option<(SeenDeployment, String)>> = std::sync::Mutex::new(None);
    let polled = async {
        let mut reader = Reader::default();
        let mut said = String::new();
        loop {
            let (seen, events) = read(ecs, target, &mut reader).await?;
            for line in events {
                spinner.line(&line);
            }
            let waiting = match judge(&seen) {
                Verdict::Ended(ending) => {
                    return Ok(Report {
                        target: target.clone(),
                        outcome: ending.outcome(),
                        ending: Some(ending),
                        deployment: seen.deployment,
                        waiting: None,
                        seconds: started.elapsed().as_secs(),
                    })
                }
                Verdict::Waiting(what) => what,
            };
            let name = deployment_name(&seen.deployment);
            let elapsed = started.elapsed();
            if !spinner.status(format!("{name}: {waiting} ({} s)", elapsed.as_secs()))
                && waiting != said
            {
                note(&format!(
                    "  waiting: {}/{} {name}: {waiting}",
                    target.cluster, target.service
                ));
            }
            said = waiting.clone();
            if let Ok(mut l) = last.lock() {
                *l = Some((seen.deployment, waiting));
            }
            if elapsed >= timeout {
                return Ok(unended(target, Outcome::TimedOut, &last, elapsed));
            }
            tokio::time::sleep(poll_interval.min(timeout - elapsed)).await;
        }
    };
    let result: Result<Report, CliError> = tokio::select! {
        r = polled => r,
        _ = super::interrupt::interrupted() => Ok(unended(target, Outcome::Interrupted, &last, started.elapsed())),
    };
    drop(spinner);
    result.map_err(|e: CliError| {
        let hint = match &e.hint {
            Some(h) => format!("{h}; `{}` follows it again", target.again()),
            None => format!("`{}` follows it again", target.again()),
        };
        CliError {
            hint: Some(one_line(&hint)),
            ..e
        }
    })
}

fn unended(
    target: &Target,
    outcome: Outcome,
    last: &std::sync::Mutex<Option<(SeenDeployment, String)>>,
    elapsed: Duration,
) -> Report {
    let last = last.lock().map(|l| l.clone()).unwrap_or_default();
    Report {
        target: target.clone(),
        outcome,
        ending: None,
        deployment: last
            .as_ref()
            .map(|(d, _)| d.clone())
            .unwrap_or_else(|| SeenDeployment {
                arn: target.arn.clone(),
                ..Default::default()
            }),
        waiting: last.as_ref().map(|(_, w)| w.clone()),
        seconds: elapsed.as_secs(),
    }
}

/// `deployment ecs-svc/N`, else the service deployment's own id.
fn deployment_name(d: &SeenDeployment) -> String {
    match &d.id {
        Some(id) => format!("deployment {id}"),
        None => format!("deployment {}", last_segment(&d.arn)),
    }
}

fn short(td: &Option<String>) -> Option<String> {
    td.as_deref().map(short_task_definition)
}

/// A reason without its final period (the sentence goes on).
fn clause(text: &str) -> String {
    one_line(text).trim_end_matches('.').to_string()
}

impl Report {
    fn name(&self) -> String {
        format!("{}/{}", self.target.cluster, self.target.service)
    }

    fn status_command(&self) -> String {
        format!(
            "ecs-rollback status -c {} -s {}",
            self.target.cluster, self.target.service
        )
    }

    /// The revision it deploys, short (`hello-world:4`), or "its revision".
    fn revision(&self) -> String {
        short(&self.deployment.task_definition).unwrap_or_else(|| "its revision".into())
    }

    /// What to do next, by default.
    pub fn next(&self) -> String {
        let revision = self.revision();
        match &self.ending {
            Some(Ending::Completed) => "nothing to do".into(),
            Some(Ending::Failed { .. }) => format!(
                "roll back to the last proven revision with `ecs-rollback rollback -c {} -s {}`, or fix {revision} and deploy again",
                self.target.cluster, self.target.service
            ),
            Some(Ending::RolledBackByEcs { settled: true, .. })
            | Some(Ending::RolledBackByEcsRollback { .. }) => format!(
                "fix {revision} and deploy again; `{}` shows the service and its events",
                self.status_command()
            ),
            Some(Ending::RolledBackByEcs { settled: false, .. }) => format!(
                "ECS is still restoring the service: `{} --wait` follows it; then fix {revision} and deploy again",
                self.status_command()
            ),
            Some(Ending::Superseded { by: Some(n), .. }) if !n.arn.is_empty() => {
                format!("follow the newer deployment: `ecs-rollback wait {}`", n.arn)
            }
            Some(Ending::Superseded { .. }) => {
                format!("`{}` shows what the service runs", self.status_command())
            }
            None => format!("`{}` follows it again", self.target.again()),
        }
    }

    /// The reason, as one clause.
    pub fn reason(&self) -> String {
        match &self.ending {
            Some(Ending::Completed) => format!("{} still runs", self.revision()),
            Some(Ending::Failed { reason, .. }) => clause(reason),
            Some(Ending::RolledBackByEcs { reason, .. }) => clause(reason),
            Some(Ending::RolledBackByEcsRollback { kind, by, at, .. }) => {
                let who = match (kind.as_deref(), by.as_deref()) {
                    (Some("automatic"), _) | (None, Some("ecs-rollback")) => {
                        "automatically, by the responder (ecs-rollback Lambda)".to_string()
                    }
                    (Some("manual"), Some(by)) => format!("by hand, by {by}"),
                    (Some(kind), Some(by)) => format!("{kind}, by {by}"),
                    (_, Some(by)) => format!("by {by}"),
                    (_, None) => "by someone (not recorded)".to_string(),
                };
                format!("{who}, at {at}")
            }
            Some(Ending::Superseded { reason, .. }) => clause(reason),
            None => self
                .waiting
                .clone()
                .unwrap_or_else(|| "no state read yet".into()),
        }
    }

    pub fn alarms(&self) -> Vec<String> {
        match &self.ending {
            Some(Ending::Failed { alarms, .. }) | Some(Ending::RolledBackByEcs { alarms, .. }) => {
                alarms.clone()
            }
            _ => Vec::new(),
        }
    }

    /// The one line on stdout: outcome, revisions, reason, next step.
    pub fn summary(&self, next: &str) -> String {
        let d = &self.deployment;
        let moves = match (short(&d.from_task_definition), short(&d.task_definition)) {
            (Some(from), Some(to)) if from != to => format!(" ({from} → {to})"),
            (_, Some(to)) => format!(" ({to})"),
            _ => String::new(),
        };
        let s = self.seconds;
        let reason = self.reason();
        let body = match &self.ending {
            Some(Ending::Completed) => format!("completed after {s} s: {reason}"),
            Some(Ending::Failed { alarms, .. }) => {
                let alarms = if alarms.is_empty() {
                    String::new()
                } else {
                    format!(" (alarms in ALARM: {})", alarms.join(", "))
                };
                format!("FAILED after {s} s{alarms}: {reason}")
            }
            Some(Ending::RolledBackByEcs {
                cause,
                alarms,
                to,
                settled,
                breaker,
                ..
            }) => {
                let why = match cause {
                    EcsCause::Alarms if !alarms.is_empty() => {
                        format!("deployment alarms: {}", alarms.join(", "))
                    }
                    EcsCause::Alarms => "deployment alarms".into(),
                    EcsCause::CircuitBreaker => match breaker {
                        Some((failed, threshold)) => format!(
                            "deployment circuit breaker: {failed} failed task(s), threshold {threshold}"
                        ),
                        None => "deployment circuit breaker".into(),
                    },
                    EcsCause::LifecycleHook => "a lifecycle hook failed".into(),
                    EcsCause::StopRequest => {
                        "a StopServiceDeployment request ecs-rollback did not record".into()
                    }
                    EcsCause::Unknown => "its own rollback".into(),
                };
                let to = match (short(to), settled) {
                    (Some(to), true) => format!(", back to {to}"),
                    (Some(to), false) => format!(", rolling back to {to}"),
                    (None, _) => String::new(),
                };
                format!("was rolled back by ECS ({why}) after {s} s{to}: {reason}")
            }
            Some(Ending::RolledBackByEcsRollback { to, .. }) => format!(
                "was rolled back by ecs-rollback after {s} s, to {}: {reason}",
                short_task_definition(to)
            ),
            Some(Ending::Superseded { by, .. }) => {
                let newer = match by {
                    Some(n) => {
                        let name = n
                            .id
                            .clone()
                            .or_else(|| (!n.arn.is_empty()).then(|| last_segment(&n.arn).into()))
                            .map(|i| format!("deployment {i}"))
                            .unwrap_or_else(|| "another deployment".into());
                        match short(&n.task_definition) {
                            Some(td) => format!("{name} ({td})"),
                            None => name,
                        }
                    }
                    None => "another deployment".into(),
                };
                format!("was superseded by {newer} after {s} s: {reason}")
            }
            None if self.outcome == Outcome::Interrupted => format!(
                "interrupted after {s} s: only the waiting stopped, the deployment goes on in ECS ({reason})"
            ),
            None => format!(
                "had not ended after {s} s (--timeout): {reason}; it goes on in ECS"
            ),
        };
        one_line(&format!(
            "{}: {}{moves} {body}. Next: {next}.",
            self.name(),
            deployment_name(d),
        )) + "\n"
    }

    /// The one JSON object.
    pub fn json(&self, next: &str) -> Value {
        let (rolled_back_to, rolled_back_by, superseded_by, cause) = match &self.ending {
            Some(Ending::RolledBackByEcs { to, cause, .. }) => {
                (to.clone(), Value::Null, Value::Null, json!(cause))
            }
            Some(Ending::RolledBackByEcsRollback { kind, by, at, to }) => (
                Some(to.clone()),
                json!({"kind": kind, "by": by, "at": at}),
                Value::Null,
                Value::Null,
            ),
            Some(Ending::Superseded { by, .. }) => (None, Value::Null, json!(by), Value::Null),
            _ => (None, Value::Null, Value::Null, Value::Null),
        };
        json!({
            "outcome": self.outcome,
            "exit_code": self.outcome.code() as i32,
            "cluster": self.target.cluster,
            "service": self.target.service,
            "deployment": self.target.arn,
            "deployment_id": self.deployment.id,
            "task_definition": self.deployment.task_definition,
            "from_task_definition": self.deployment.from_task_definition,
            "status": self.deployment.status.map(|s| s.as_str()),
            "lifecycle_stage": self.deployment.lifecycle_stage,
            "reason": self.reason(),
            "cause": cause,
            "alarms": self.alarms(),
            "rolled_back_to": rolled_back_to,
            "rolled_back_by": rolled_back_by,
            "superseded_by": superseded_by,
            "seconds": self.seconds,
            "next": next,
            "summary": self.summary(next).trim_end(),
        })
    }

    /// The GitHub Actions annotation: `::notice …::` when it completed, else `::error …::`.
    pub fn annotation(&self, next: &str) -> String {
        let kind = if self.outcome == Outcome::Completed {
            "notice"
        } else {
            "error"
        };
        let title = format!(
            "ECS deployment {}: {}",
            self.name(),
            self.outcome.name().replace('_', " ")
        );
        format!(
            "::{kind} title={}::{}",
            escape_property(&title),
            escape_data(self.summary(next).trim_end())
        )
    }

    /// The Markdown appended to `$GITHUB_STEP_SUMMARY`.
    pub fn step_summary(&self, next: &str) -> String {
        let icon = if self.outcome == Outcome::Completed {
            "✅"
        } else {
            "❌"
        };
        let d = &self.deployment;
        let revisions = match (short(&d.from_task_definition), short(&d.task_definition)) {
            (Some(from), Some(to)) => format!("{from} → {to}"),
            (None, Some(to)) => to,
            _ => "?".into(),
        };
        let mut rows = vec![
            ("service", self.name()),
            ("deployment", format!("`{}`", self.target.arn)),
            ("revisions", revisions),
            (
                "outcome",
                format!(
                    "`{}` (exit {})",
                    self.outcome.name(),
                    self.outcome.code() as i32
                ),
            ),
            ("reason", self.reason()),
        ];
        let alarms = self.alarms();
        if !alarms.is_empty() {
            rows.push(("alarms", alarms.join(", ")));
        }
        rows.push(("waited", format!("{} s", self.seconds)));
        rows.push(("next", next.to_string()));
        let mut md = format!(
            "### {icon} ECS deployment {}: {}\n\n| | |\n|---|---|\n",
            self.name(),
            self.outcome.name().replace('_', " ")
        );
        for (k, v) in rows {
            md.push_str(&format!(
                "| {k} | {} |\n",
                v.replace('|', "\\|").replace('\n', " ")
            ));
        }
        md.push('\n');
        md
    }
}

/// Workflow command data: `%`, CR and LF escaped.
fn escape_data(s: &str) -> String {
    s.replace('%', "%25")
        .replace('\r', "%0D")
        .replace('\n', "%0A")
}

/// Workflow command property values: also `:` and `,`.
fn escape_property(s: &str) -> String {
    escape_data(s).replace(':', "%3A").replace(',', "%2C")
}

/// Whether this runs as a GitHub Actions step.
pub fn under_github_actions() -> bool {
    std::env::var("GITHUB_ACTIONS").is_ok_and(|v| v == "true")
}

/// Under GitHub Actions: the annotation on stderr (the runner reads workflow commands there too,
/// and stdout stays one line or one JSON object) and the step summary appended to
/// `$GITHUB_STEP_SUMMARY`. A summary file that cannot be written is said, not fatal.
pub fn tell_github(report: &Report, next: &str) {
    if !under_github_actions() {
        return;
    }
    note(&report.annotation(next));
    let Some(path) = std::env::var_os("GITHUB_STEP_SUMMARY").filter(|p| !p.is_empty()) else {
        return;
    };
    let written = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&path)
        .and_then(|mut f| f.write_all(report.step_summary(next).as_bytes()));
    if let Err(e) = written {
        note(&format!(
            "warning: could not append to GITHUB_STEP_SUMMARY ({}): {e}",
            std::path::Path::new(&path).display()
        ));
    }
}

/// An error under GitHub Actions: an `::error::` annotation too.
pub fn tell_github_error(e: &CliError) {
    if under_github_actions() {
        note(&format!(
            "::error title=ecs-rollback wait::{}",
            escape_data(&e.message)
        ));
    }
}

/// Print the report: the summary line (text) or the JSON object, and tell GitHub when there.
pub fn emit(format: Format, report: &Report, next: &str) {
    match format {
        Format::Json => print_json(&report.json(next)),
        Format::Text => print(&report.summary(next)),
    }
    tell_github(report, next);
}

pub async fn run(ctx: &Ctx, args: &WaitCmdArgs) -> Result<Code, CliError> {
    let result = run_inner(ctx, args).await;
    if let Err(e) = &result {
        tell_github_error(e);
    }
    result
}

async fn run_inner(ctx: &Ctx, args: &WaitCmdArgs) -> Result<Code, CliError> {
    let reference = parse_deployment(&args.deployment)?;
    let ecs = Ecs::new(ecs_client(&ctx.sdk));
    let target = resolve(
        &ecs,
        &reference,
        args.target.cluster.as_deref(),
        args.target.service.as_deref(),
    )
    .await?;
    let report = follow(&ecs, &target, args.timeout, args.poll_interval, true).await?;
    let next = report.next();
    emit(ctx.format, &report, &next);
    Ok(report.outcome.code())
}

#[cfg(test)]
mod tests {
    use super::*;

    const ARN: &str = "arn:aws:ecs:eu-west-1:123456789012:service-deployment/demo/web/Abc_12-x";

    #[test]
    fn deployments_are_named_by_arn_or_ecs_id() {
        assert_eq!(
            parse_deployment(ARN).unwrap(),
            DeploymentRef::Arn {
                arn: ARN.into(),
                cluster: "demo".into(),
                service: "web".into()
            }
        );
        assert_eq!(
            parse_deployment(" ecs-svc/6432199815271852342 ").unwrap(),
            DeploymentRef::EcsId("ecs-svc/6432199815271852342".into())
        );
        assert!(parse_deployment(
            "arn:aws-cn:ecs:cn-north-1:123456789012:service-deployment/c/s/i"
        )
        .is_ok());
        let bad: &[(&str, &str)] = &[
            ("", "neither"),
            ("PRIMARY", "neither"),
            ("ecs-svc/", "not an ECS deployment id"),
            ("ecs-svc/12a", "not an ECS deployment id"),
            (
                "arn:aws:ecs:eu-west-1:123456789012:service/demo/web",
                "resource is not service-deployment",
            ),
            (
                "arn:aws:ecs:eu-west-1:123456789012:service-revision/demo/web/1",
                "resource is not service-deployment",
            ),
            (
                "arn:aws:ecs:eu-west-1:123456789012:service-deployment/demo/web",
                "CLUSTER/SERVICE/ID",
            ),
            (
                "arn:aws:ecs:eu-west-1:123456789012:service-deployment/demo//x",
                "CLUSTER/SERVICE/ID",
            ),
            (
                "arn:aws:ecs:eu-west-1:1234:service-deployment/demo/web/x",
                "12-digit account",
            ),
            (
                "arn:aws:lambda:eu-west-1:123456789012:service-deployment/a/b/c",
                "not an ECS ARN",
            ),
            ("arn:aws:ecs", "not a service-deployment ARN"),
        ];
        for (input, says) in bad {
            let e = parse_deployment(input).unwrap_err();
            assert_eq!(e.code, Code::Usage, "{input}");
            assert!(
                e.message.starts_with("DEPLOYMENT ") && e.message.contains(says),
                "{input}: {e:?}"
            );
            assert!(e.hint.unwrap().contains("ecs-svc/N"));
        }
    }

    #[test]
    fn deployment_ids_come_from_the_target_revision() {
        assert_eq!(
            deployment_id_of("arn:aws:ecs:eu-west-1:123456789012:service-revision/demo/web/42"),
            Some("ecs-svc/42".into())
        );
        assert_eq!(deployment_id_of("arn:…/web/x1"), None);
    }

    fn report(outcome: Outcome, ending: Option<Ending>) -> Report {
        Report {
            target: Target {
                arn: ARN.into(),
                cluster: "demo".into(),
                service: "web".into(),
            },
            outcome,
            ending,
            deployment: SeenDeployment {
                arn: ARN.into(),
                status: Some(DeploymentStatus::RollbackInProgress),
                id: Some("ecs-svc/4".into()),
                task_definition: Some(
                    "arn:aws:ecs:eu-west-1:123456789012:task-definition/web:4".into(),
                ),
                from_task_definition: Some(
                    "arn:aws:ecs:eu-west-1:123456789012:task-definition/web:3".into(),
                ),
                ..Default::default()
            },
            waiting: Some("IN_PROGRESS (BAKE_TIME)".into()),
            seconds: 42,
        }
    }

    #[test]
    fn each_outcome_is_one_line_with_revisions_reason_and_next_step() {
        let web3 = "arn:aws:ecs:eu-west-1:123456789012:task-definition/web:3";
        let cases = vec![
            (
                report(Outcome::Completed, Some(Ending::Completed)),
                "demo/web: deployment ecs-svc/4 (web:3 → web:4) completed after 42 s: web:4 still runs. Next: nothing to do.\n",
            ),
            (
                report(
                    Outcome::RolledBackByEcs,
                    Some(Ending::RolledBackByEcs {
                        cause: EcsCause::Alarms,
                        reason: "ECS deployment failed: alarm(s) latency in ALARM state.".into(),
                        alarms: vec!["latency".into()],
                        to: Some(web3.into()),
                        settled: false,
                        breaker: None,
                    }),
                ),
                "demo/web: deployment ecs-svc/4 (web:3 → web:4) was rolled back by ECS (deployment alarms: latency) after 42 s, rolling back to web:3: ECS deployment failed: alarm(s) latency in ALARM state. Next: ECS is still restoring the service: `ecs-rollback status -c demo -s web --wait` follows it; then fix web:4 and deploy again.\n",
            ),
            (
                report(
                    Outcome::RolledBackByEcs,
                    Some(Ending::RolledBackByEcs {
                        cause: EcsCause::CircuitBreaker,
                        reason: "ECS deployment circuit breaker: tasks failed to start.".into(),
                        alarms: vec![],
                        to: Some(web3.into()),
                        settled: true,
                        breaker: Some((2, 2)),
                    }),
                ),
                "demo/web: deployment ecs-svc/4 (web:3 → web:4) was rolled back by ECS (deployment circuit breaker: 2 failed task(s), threshold 2) after 42 s, back to web:3: ECS deployment circuit breaker: tasks failed to start. Next: fix web:4 and deploy again; `ecs-rollback status -c demo -s web` shows the service and its events.\n",
            ),
            (
                report(
                    Outcome::RolledBackByEcsRollback,
                    Some(Ending::RolledBackByEcsRollback {
                        kind: Some("automatic".into()),
                        by: Some("ecs-rollback".into()),
                        at: "2026-12-01T10:02:00Z".into(),
                        to: web3.into(),
                    }),
                ),
                "demo/web: deployment ecs-svc/4 (web:3 → web:4) was rolled back by ecs-rollback after 42 s, to web:3: automatically, by the responder (ecs-rollback Lambda), at 2026-12-01T10:02:00Z. Next: fix web:4 and deploy again; `ecs-rollback status -c demo -s web` shows the service and its events.\n",
            ),
            (
                report(
                    Outcome::Superseded,
                    Some(Ending::Superseded {
                        by: Some(Newer {
                            arn: "arn:aws:ecs:eu-west-1:123456789012:service-deployment/demo/web/Z".into(),
                            id: Some("ecs-svc/5".into()),
                            task_definition: Some("arn:aws:ecs:eu-west-1:123456789012:task-definition/web:5".into()),
                        }),
                        reason: "Service deployment stopped because a newer service deployment started.".into(),
                    }),
                ),
                "demo/web: deployment ecs-svc/4 (web:3 → web:4) was superseded by deployment ecs-svc/5 (web:5) after 42 s: Service deployment stopped because a newer service deployment started. Next: follow the newer deployment: `ecs-rollback wait arn:aws:ecs:eu-west-1:123456789012:service-deployment/demo/web/Z`.\n",
            ),
            (
                report(Outcome::TimedOut, None),
                "demo/web: deployment ecs-svc/4 (web:3 → web:4) had not ended after 42 s (--timeout): IN_PROGRESS (BAKE_TIME); it goes on in ECS. Next: `ecs-rollback wait arn:aws:ecs:eu-west-1:123456789012:service-deployment/demo/web/Abc_12-x` follows it again.\n",
            ),
        ];
        for (r, want) in cases {
            assert_eq!(r.summary(&r.next()), want);
            let v = r.json(&r.next());
            assert_eq!(v["outcome"], r.outcome.name());
            assert_eq!(v["exit_code"], r.outcome.code() as i32);
            assert_eq!(v["deployment"], ARN);
            assert_eq!(v["seconds"], 42);
            assert_eq!(v["summary"], want.trim_end());
        }
        let r = report(Outcome::Interrupted, None);
        assert!(r.summary(&r.next()).contains(
            "interrupted after 42 s: only the waiting stopped, the deployment goes on in ECS"
        ));
    }

    #[test]
    fn github_sees_an_annotation_and_a_markdown_summary() {
        let r = report(
            Outcome::Failed,
            Some(Ending::Failed {
                reason: "100% of tasks failed | see logs\nnow".into(),
                alarms: vec!["5xx".into()],
            }),
        );
        let a = r.annotation(&r.next());
        assert!(
            a.starts_with(
                "::error title=ECS deployment demo/web%3A failed::demo/web: deployment ecs-svc/4"
            ),
            "{a}"
        );
        assert!(a.contains("100%25 of tasks") && !a.contains('\n'), "{a}");
        let ok = report(Outcome::Completed, Some(Ending::Completed));
        assert!(ok.annotation("nothing to do").starts_with("::notice "));
        let md = r.step_summary(&r.next());
        assert!(
            md.starts_with("### ❌ ECS deployment demo/web: failed\n"),
            "{md}"
        );
        assert!(md.contains("| revisions | web:3 → web:4 |"), "{md}");
        assert!(md.contains("| alarms | 5xx |"), "{md}");
        assert!(md.contains("failed \\| see logs now"), "{md}");
        assert!(md.contains("| outcome | `failed` (exit 4) |"), "{md}");
    }
}
