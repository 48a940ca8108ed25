//! What people want to see of a service's revisions: images, digests, ledger, what runs, when it
//! was deployed and how that went, and the git commit behind an image tag. Read-only and bounded;
//! display only — choosing a rollback target is the decision core's job, never this module's.

use std::collections::BTreeMap;

use serde::Serialize;

use super::args::RevisionArg;
use super::error::CliError;
use super::git::{Commit, Git};
use crate::aws::ecs::Ecs;
use crate::aws::{aws_error, to_time};
use crate::error::{Error, InputError};
use crate::model::*;

/// Pages of `ListServiceDeployments` read (100 per page).
const DEPLOYMENT_PAGES: usize = 2;
/// Service deployments whose revisions are resolved, newest first.
const RESOLVED_DEPLOYMENTS: usize = 60;

/// One ECS service deployment, as the history shows it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Deployed {
    pub arn: String,
    pub status: String,
    pub reason: Option<String>,
    pub created_at: Option<Time>,
    pub started_at: Option<Time>,
    pub finished_at: Option<Time>,
    pub task_definition: Option<String>,
    /// `lifecycleStage` of a deployment in flight (DescribeServiceDeployments).
    pub lifecycle_stage: Option<String>,
    /// The last lifecycle hook's status (`lifecycleHookDetails`): the deployment gate's verdict
    /// (`IN_PROGRESS`, `SUCCEEDED`, `FAILED`, …) when the gate is a hook of the service.
    pub gate: Option<String>,
    /// The circuit breaker's count while in flight: `(failureCount, threshold)`.
    pub circuit_breaker: Option<(i32, i32)>,
    /// Pause hooks holding it now (`AWAITING_ACTION`), by hook ID.
    pub paused_by: Vec<String>,
    #[serde(skip)]
    pub images: Vec<RecordedImage>,
}

impl Deployed {
    fn when(&self) -> Option<Time> {
        self.started_at.or(self.created_at)
    }
}

/// The service-deployment history, newest first, with target revisions resolved.
pub async fn deployments(ecs: &Ecs, service: &ServiceState) -> Result<Vec<Deployed>, Error> {
    let briefs = ecs
        .list_service_deployments(service, DEPLOYMENT_PAGES)
        .await?;
    let mut list: Vec<(Deployed, Option<String>)> = briefs
        .iter()
        .filter_map(|b| {
            Some((
                Deployed {
                    arn: b.service_deployment_arn()?.to_string(),
                    status: b
                        .status()
                        .map(|s| s.as_str().to_string())
                        .unwrap_or_default(),
                    reason: b.status_reason().map(str::to_string),
                    created_at: b.created_at().and_then(to_time),
                    started_at: b.started_at().and_then(to_time),
                    finished_at: b.finished_at().and_then(to_time),
                    task_definition: None,
                    lifecycle_stage: None,
                    gate: None,
                    circuit_breaker: None,
                    paused_by: Vec::new(),
                    images: Vec::new(),
                },
                b.target_service_revision_arn().map(str::to_string),
            ))
        })
        .collect();
    // The API promises no order: newest first by the deployments' own timestamps.
    list.sort_by_key(|(d, _)| std::cmp::Reverse(d.created_at.or(d.started_at)));
    list.truncate(RESOLVED_DEPLOYMENTS);

    // Deployments in flight: their lifecycle stage (one DescribeServiceDeployments for all).
    let in_flight: Vec<String> = list
        .iter()
        .filter(|(d, _)| {
            matches!(d.status.as_str(), "PENDING" | "IN_PROGRESS")
                || d.status.starts_with("ROLLBACK_") && d.finished_at.is_none()
        })
        .map(|(d, _)| d.arn.clone())
        .take(20)
        .collect();
    let mut stages: BTreeMap<String, String> = BTreeMap::new();
    let mut gates: BTreeMap<String, String> = BTreeMap::new();
    let mut breakers: BTreeMap<String, (i32, i32)> = BTreeMap::new();
    let mut paused: BTreeMap<String, Vec<String>> = BTreeMap::new();
    if !in_flight.is_empty() {
        match ecs
            .client
            .describe_service_deployments()
            .set_service_deployment_arns(Some(in_flight))
            .send()
            .await
        {
            Ok(out) => {
                for d in out.service_deployments() {
                    if let (Some(arn), Some(stage)) =
                        (d.service_deployment_arn(), d.lifecycle_stage())
                    {
                        stages.insert(arn.to_string(), stage.as_str().to_string());
                    }
                    let last_hook = d
                        .lifecycle_hook_details()
                        .iter()
                        .rev()
                        .find_map(|h| h.status().map(|s| s.as_str().to_string()));
                    if let (Some(arn), Some(status)) = (d.service_deployment_arn(), last_hook) {
                        gates.insert(arn.to_string(), status);
                    }
                    let Some(arn) = d.service_deployment_arn() else {
                        continue;
                    };
                    if let Some(b) = d
                        .deployment_circuit_breaker()
                        .filter(|b| b.status().is_some_and(|s| s.as_str() != "DISABLED"))
                    {
                        breakers.insert(arn.to_string(), (b.failure_count(), b.threshold()));
                    }
                    let holding: Vec<String> = d
                        .lifecycle_hook_details()
                        .iter()
                        .filter(|h| h.status().is_some_and(|s| s.as_str() == "AWAITING_ACTION"))
                        .filter_map(|h| h.hook_id().map(str::to_string))
                        .collect();
                    if !holding.is_empty() {
                        paused.insert(arn.to_string(), holding);
                    }
                }
            }
            Err(e) => {
                tracing::warn!(error = %aws_error("DescribeServiceDeployments", e), "lifecycle stages unavailable")
            }
        }
    }
    for (d, _) in &mut list {
        d.lifecycle_stage = stages.get(&d.arn).cloned();
        d.gate = gates.get(&d.arn).cloned();
        d.circuit_breaker = breakers.get(&d.arn).copied();
        d.paused_by = paused.get(&d.arn).cloned().unwrap_or_default();
    }
    let mut wanted: Vec<String> = list.iter().filter_map(|(_, r)| r.clone()).collect();
    wanted.sort();
    wanted.dedup();
    let revisions = ecs.describe_service_revisions(&wanted).await?;
    Ok(list
        .into_iter()
        .map(|(mut d, rev)| {
            if let Some((td, images)) = rev.and_then(|r| revisions.get(&r)) {
                d.task_definition = Some(td.clone());
                d.images = images.clone();
            }
            d
        })
        .collect())
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ImageInfo {
    pub container: String,
    pub image: String,
    pub tag: Option<String>,
    /// From the image reference itself, or recorded by a service deployment.
    pub digest: Option<String>,
    /// The git commit when the tag is a SHA of the current repository.
    pub commit: Option<Commit>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct RevisionInfo {
    pub task_definition: String,
    pub name: String,
    pub status: &'static str,
    /// The ledger (tag `ecs-rollback:status`) as it applies to this service, as the decision
    /// core reads it: `stable`, `bad` (for this service, or for every service), or
    /// `bad elsewhere` (`ecs-rollback:bad-for` names other services only: a warning here, not a
    /// ban).
    pub ledger: Option<&'static str>,
    /// `ecs-rollback:bad-for`: the services a `bad` holds for (empty: every service).
    pub bad_for: Vec<String>,
    /// `ecs-rollback:schema`: the database schema versions it declares it runs against.
    pub schema: Option<String>,
    pub images: Vec<ImageInfo>,
    /// `PRIMARY` or `ACTIVE` when the service runs it (DescribeServices deployments).
    pub running: Option<String>,
    /// When its newest deployment started.
    pub deployed_at: Option<Time>,
    /// How its newest deployment went: the service-deployment status (`SUCCESSFUL`, `STOPPED`,
    /// `ROLLBACK_SUCCESSFUL`, `IN_PROGRESS`, …), else the rollout state ECS reports.
    pub outcome: Option<String>,
    pub outcome_reason: Option<String>,
    /// How many of the listed service deployments targeted it.
    pub deployments: usize,
}

/// A service and its recent revisions.
#[derive(Clone, Debug)]
pub struct Overview {
    pub service: ServiceState,
    pub revisions: Vec<RevisionInfo>,
    /// The service-deployment history, newest first (empty when unavailable).
    pub history: Vec<Deployed>,
    /// Why the service-deployment history could not be read (the table then shows less).
    pub history_error: Option<String>,
}

fn key(td: &str) -> Option<(String, i32)> {
    split_task_definition(td).map(|(f, r)| (f.to_string(), r))
}

/// Read the newest `limit` revisions of the service's family (plus whatever it runs).
pub async fn overview(
    ecs: &Ecs,
    git: &Git,
    service: ServiceState,
    limit: usize,
) -> Result<Overview, Error> {
    overview_with(ecs, git, service, limit, &BTreeMap::new()).await
}

/// [`overview`], reusing revisions already described (e.g. by the decision) and describing the
/// others concurrently (DescribeTaskDefinition takes one revision per call: no batch exists).
pub async fn overview_with(
    ecs: &Ecs,
    git: &Git,
    service: ServiceState,
    limit: usize,
    known: &BTreeMap<String, Revision>,
) -> Result<Overview, Error> {
    let (history, history_error) = match deployments(ecs, &service).await {
        Ok(h) => (h, None),
        Err(e) => {
            tracing::warn!(error = %e, "service-deployment history unavailable");
            (Vec::new(), Some(e.to_string()))
        }
    };
    let current_family = key(&service.task_definition).map(|(f, _)| f);

    // Candidates: the family's ACTIVE revisions, what history deployed, what the service runs.
    let mut candidates: BTreeMap<(String, i32), String> = BTreeMap::new();
    if let Some(family) = &current_family {
        for arn in ecs.family(family).await? {
            if let Some(k) = key(&arn) {
                candidates.entry(k).or_insert(arn);
            }
        }
    }
    for td in history.iter().filter_map(|d| d.task_definition.as_ref()) {
        if let Some(k) = key(td) {
            candidates.entry(k).or_insert_with(|| td.clone());
        }
    }
    let running: Vec<&Deployment> = service.deployments.iter().collect();
    for d in &running {
        if let Some(k) = key(&d.task_definition) {
            candidates
                .entry(k)
                .or_insert_with(|| d.task_definition.clone());
        }
    }
    if let Some(k) = key(&service.task_definition) {
        candidates
            .entry(k)
            .or_insert_with(|| service.task_definition.clone());
    }
    let mut ordered: Vec<((String, i32), String)> = candidates.into_iter().collect();
    ordered.sort_by(|((fa, ra), _), ((fb, rb), _)| {
        let ca = Some(fa) == current_family.as_ref();
        let cb = Some(fb) == current_family.as_ref();
        cb.cmp(&ca).then(fa.cmp(fb)).then(rb.cmp(ra))
    });
    let is_running = |arn: &str| {
        same_task_definition_str(arn, &service.task_definition)
            || running
                .iter()
                .any(|d| same_task_definition_str(arn, &d.task_definition))
    };
    let mut chosen: Vec<String> = Vec::new();
    for (i, (_, arn)) in ordered.iter().enumerate() {
        if i < limit || is_running(arn) {
            chosen.push(arn.clone());
        }
    }

    let described = describe_all(ecs, &chosen, known).await?;
    let revisions = described
        .iter()
        .map(|revision| describe(revision, &service, &history, git))
        .collect();
    Ok(Overview {
        service,
        revisions,
        history,
        history_error,
    })
}

/// At most this many DescribeTaskDefinition calls at once (its rate limit is shared per account).
const CONCURRENT_READS: usize = 4;

/// Describe `arns` (in order; gone ones left out), reusing `known`, a few at a time.
pub async fn describe_all(
    ecs: &Ecs,
    arns: &[String],
    known: &BTreeMap<String, Revision>,
) -> Result<Vec<Revision>, Error> {
    let find = |arn: &str| {
        known
            .get(arn)
            .or_else(|| {
                known
                    .values()
                    .find(|r| same_task_definition_str(&r.arn, arn))
            })
            .cloned()
    };
    let mut out: Vec<Option<Revision>> = arns.iter().map(|a| find(a)).collect();
    let missing: Vec<usize> = (0..arns.len()).filter(|i| out[*i].is_none()).collect();
    for chunk in missing.chunks(CONCURRENT_READS) {
        let mut set = tokio::task::JoinSet::new();
        for &i in chunk {
            let ecs = ecs.clone();
            let arn = arns[i].clone();
            set.spawn(async move { (i, ecs.describe_revision(&arn).await) });
        }
        while let Some(joined) = set.join_next().await {
            let (i, result) =
                joined.map_err(|e| Error::Internal(format!("a read task failed: {e}")))?;
            match result {
                Ok(r) => out[i] = Some(r),
                Err(Error::Input(InputError::UnknownTaskDefinition(_))) => {}
                Err(e) => return Err(e),
            }
        }
    }
    Ok(out.into_iter().flatten().collect())
}

/// A revision named on the command line, as the API takes it: a bare number takes the family
/// of the service's current task definition.
pub fn resolve_name(arg: &RevisionArg, current: Option<&str>) -> Result<String, CliError> {
    match (arg, current) {
        (RevisionArg::Name(n), _) => Ok(n.clone()),
        (RevisionArg::Number(n), Some(current)) => arg.resolve(current).ok_or_else(|| {
            CliError::usage(format!(
                "the service runs {current:?}, whose family cannot be told; give the revision as family:{n}"
            ))
        }),
        (RevisionArg::Number(n), None) => Err(CliError::usage(format!(
            "revision {n} needs a family: give it as family:{n}, or name the service (--cluster and --service)"
        ))),
    }
}

fn same_task_definition_str(a: &str, b: &str) -> bool {
    crate::decision::same_task_definition(a, b)
}

/// The ledger as it applies to the service `ledger_key` (`cluster/service`): the core's own
/// reading ([`Revision::is_bad_for`], [`Revision::bad_elsewhere`]).
pub fn ledger_for(revision: &Revision, ledger_key: &str) -> Option<&'static str> {
    match revision.ledger {
        Some(Ledger::Stable) => Some("stable"),
        Some(Ledger::Bad) if revision.is_bad_for(ledger_key) => Some("bad"),
        Some(Ledger::Bad) if revision.bad_elsewhere(ledger_key) => Some("bad elsewhere"),
        _ => None,
    }
}

fn describe(
    revision: &Revision,
    service: &ServiceState,
    history: &[Deployed],
    git: &Git,
) -> RevisionInfo {
    let mine: Vec<&Deployed> = history
        .iter()
        .filter(|d| {
            d.task_definition
                .as_deref()
                .is_some_and(|td| same_task_definition_str(td, &revision.arn))
        })
        .collect();
    let newest = mine.iter().max_by_key(|d| d.when());
    let recorded: Vec<&RecordedImage> = mine
        .iter()
        .find(|d| d.images.iter().any(|i| i.digest.is_some()))
        .map(|d| d.images.iter().collect())
        .unwrap_or_default();
    let in_service = service
        .deployments
        .iter()
        .filter(|d| same_task_definition_str(&d.task_definition, &revision.arn))
        .max_by_key(|d| d.is_primary());
    let images = revision
        .images
        .iter()
        .map(|c| {
            let tag = image_tag(&c.image).map(str::to_string);
            let digest = c
                .image
                .split_once('@')
                .map(|(_, d)| d.to_string())
                .or_else(|| {
                    recorded
                        .iter()
                        .find(|r| r.container == c.container)
                        .and_then(|r| r.digest.clone())
                });
            let commit = tag.as_deref().and_then(|t| git.commit(t));
            ImageInfo {
                container: c.container.clone(),
                image: c.image.clone(),
                tag,
                digest,
                commit,
            }
        })
        .collect();
    let (deployed_at, outcome, outcome_reason) = match (newest, in_service) {
        // A rollout ECS reports FAILED (circuit breaker, alarms) while its service deployment
        // reads STOP_REQUESTED or STOPPED: what ECS says of the rollout, with its reason.
        (Some(d), Some(live)) if live.rollout == Rollout::Failed => (
            d.when(),
            Some("FAILED".to_string()),
            live.rollout_reason.clone().or_else(|| d.reason.clone()),
        ),
        (Some(d), _) => (d.when(), Some(d.status.clone()), d.reason.clone()),
        (None, Some(d)) => (
            d.created_at,
            Some(
                match d.rollout {
                    Rollout::InProgress => "IN_PROGRESS",
                    Rollout::Completed => "COMPLETED",
                    Rollout::Failed => "FAILED",
                    Rollout::Unknown => "UNKNOWN",
                }
                .to_string(),
            ),
            d.rollout_reason.clone(),
        ),
        (None, None) => (None, None, None),
    };
    RevisionInfo {
        task_definition: revision.arn.clone(),
        name: short_task_definition(&revision.arn),
        status: match revision.status {
            RevisionStatus::Active => "ACTIVE",
            RevisionStatus::Inactive => "INACTIVE",
            RevisionStatus::DeleteInProgress => "DELETE_IN_PROGRESS",
        },
        ledger: ledger_for(revision, &service.ledger_key()),
        bad_for: revision.bad_for.clone(),
        schema: revision.schema.as_ref().map(|s| match s {
            Ok(range) => range.to_string(),
            Err(why) => format!("unreadable ({why})"),
        }),
        images,
        running: in_service.map(|d| d.status.clone()),
        deployed_at,
        outcome,
        outcome_reason,
        deployments: mine.len(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn service(deployments: Vec<Deployment>) -> ServiceState {
        ServiceState {
            cluster_arn: "arn:aws:ecs:eu-west-1:123456789012:cluster/demo".into(),
            service_arn: "arn:aws:ecs:eu-west-1:123456789012:service/demo/web".into(),
            service_name: "web".into(),
            status: "ACTIVE".into(),
            controller: Controller::Ecs,
            task_definition: deployments
                .first()
                .map(|d| d.task_definition.clone())
                .unwrap_or_default(),
            tags: BTreeMap::new(),
            deployments,
            desired_count: 1,
            circuit_breaker: None,
            deployment_alarms: None,
            strategy: Strategy::Rolling,
            bake_time_minutes: None,
            express: false,
        }
    }

    fn td(rev: i32) -> String {
        format!("arn:aws:ecs:eu-west-1:123456789012:task-definition/web:{rev}")
    }

    #[test]
    fn a_revision_shows_its_newest_deployment_its_digest_and_what_runs() {
        let t = |s: i64| chrono::DateTime::from_timestamp(1_750_000_000 + s, 0);
        let history = vec![
            Deployed {
                arn: "d2".into(),
                status: "STOPPED".into(),
                reason: Some("circuit breaker".into()),
                created_at: t(100),
                started_at: t(100),
                finished_at: t(200),
                task_definition: Some(td(2)),
                lifecycle_stage: None,
                gate: None,
                circuit_breaker: None,
                paused_by: Vec::new(),
                images: vec![RecordedImage {
                    container: "app".into(),
                    image: Some("repo/web:latest".into()),
                    digest: Some("sha256:feed".into()),
                }],
            },
            Deployed {
                arn: "d1".into(),
                status: "SUCCESSFUL".into(),
                reason: None,
                created_at: t(0),
                started_at: t(0),
                finished_at: t(50),
                task_definition: Some(td(2)),
                lifecycle_stage: None,
                gate: None,
                circuit_breaker: None,
                paused_by: Vec::new(),
                images: Vec::new(),
            },
        ];
        let svc = service(vec![Deployment {
            id: "ecs-svc/1".into(),
            status: "PRIMARY".into(),
            task_definition: td(2),
            rollout: Rollout::Failed,
            rollout_reason: None,
            created_at: t(100),
            failed_tasks: 3,
        }]);
        let revision = Revision {
            arn: td(2),
            family: "web".into(),
            revision: 2,
            status: RevisionStatus::Active,
            ledger: Some(Ledger::Bad),
            bad_for: Vec::new(),
            images: vec![ContainerImage {
                container: "app".into(),
                image: "repo/web:latest".into(),
            }],
            pinned_from: None,
            schema: None,
        };
        let git = Git::new(Some(std::env::temp_dir().join("not-a-repo-ecs-rollback")));
        let info = describe(&revision, &svc, &history, &git);
        assert_eq!(info.name, "web:2");
        // The service deployment reads STOPPED; ECS reports the rollout FAILED: that is shown,
        // with the reason ECS gives.
        assert_eq!(info.outcome.as_deref(), Some("FAILED"));
        assert_eq!(info.outcome_reason.as_deref(), Some("circuit breaker"));
        assert_eq!(info.deployed_at, t(100));
        assert_eq!(info.images[0].digest.as_deref(), Some("sha256:feed"));
        assert_eq!(info.images[0].tag.as_deref(), Some("latest"));
        assert_eq!(info.running.as_deref(), Some("PRIMARY"));
        assert_eq!(info.ledger, Some("bad"));
        assert_eq!(info.deployments, 2);
        // Banned for another service only: not a plain "bad" here.
        let elsewhere = Revision {
            bad_for: vec!["demo/api".into()],
            ..revision.clone()
        };
        assert_eq!(ledger_for(&elsewhere, "demo/web"), Some("bad elsewhere"));
        assert_eq!(ledger_for(&elsewhere, "demo/api"), Some("bad"));
        let info = describe(&elsewhere, &svc, &history, &git);
        assert_eq!(info.ledger, Some("bad elsewhere"));
        assert_eq!(info.bad_for, vec!["demo/api".to_string()]);
    }
}
