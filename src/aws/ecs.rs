//! ECS adapter: reads the service snapshot, carries out rollbacks, keeps the ledger.

use crate::deadline::Bounded;
use std::collections::BTreeMap;

use aws_sdk_ecs::types::{
    DeploymentControllerType, DeploymentRolloutState, DesiredStatus, ServiceDeploymentBrief,
    ServiceField, SortOrder, StopServiceDeploymentStopType, Tag, TaskDefinition,
    TaskDefinitionField, TaskDefinitionStatus,
};
use aws_sdk_ecs::Client;

use super::{aws_error, paginate, to_time};
use crate::decision::Pin;
use crate::error::{Error, InputError};
use crate::model::*;

/// Pages of `ListTaskDefinitions` / `ListServiceDeployments` read at most (bounded work).
const MAX_PAGES: usize = 5;
/// `DescribeServiceRevisions` takes at most 20 ARNs.
const REVISIONS_PER_CALL: usize = 20;
/// Successful deployments whose revisions are resolved (newest first).
const HISTORY_DEPTH: usize = 10;
/// `DescribeServiceDeployments` takes at most 20 ARNs.
const DETAILS_PER_CALL: usize = 20;
/// Revisions resolved at most for one history read (bounded work: 3 calls).
const MAX_REVISIONS: usize = 60;
/// Deployments of any status whose target revision is resolved, newest first (the failing one).
const NEWEST_ANY: usize = 5;

/// The rollback writes are never retried blindly by the SDK: a write whose response was lost
/// may have happened. The handler re-reads the service and decides again instead.
fn no_retries() -> aws_sdk_ecs::config::Builder {
    aws_sdk_ecs::config::Builder::default()
        .retry_config(aws_sdk_ecs::config::retry::RetryConfig::disabled())
}

#[derive(Clone, Debug)]
pub struct Ecs {
    pub client: Client,
}

/// ECS tags as a map (a tag without a value reads as "").
pub fn tags_map(tags: &[Tag]) -> BTreeMap<String, String> {
    tags.iter()
        .filter_map(|t| Some((t.key()?.to_string(), t.value().unwrap_or("").to_string())))
        .collect()
}

/// A deployment as `DescribeServices` lists it, in the core's terms.
pub fn to_deployment(d: &aws_sdk_ecs::types::Deployment) -> Deployment {
    Deployment {
        id: d.id().unwrap_or_default().to_string(),
        status: d.status().unwrap_or_default().to_string(),
        task_definition: d.task_definition().unwrap_or_default().to_string(),
        rollout: match d.rollout_state() {
            Some(DeploymentRolloutState::InProgress) => Rollout::InProgress,
            Some(DeploymentRolloutState::Completed) => Rollout::Completed,
            Some(DeploymentRolloutState::Failed) => Rollout::Failed,
            _ => Rollout::Unknown,
        },
        rollout_reason: d.rollout_state_reason().map(str::to_string),
        created_at: d.created_at().and_then(to_time),
        failed_tasks: d.failed_tasks(),
    }
}

impl Ecs {
    pub fn new(client: Client) -> Self {
        Ecs { client }
    }

    /// `DescribeServices` with tags. Unknown cluster or service → [`InputError`].
    /// The cluster of a service ECS names with an old-format ARN (`…:service/NAME`, no cluster):
    /// `ListClusters`, then `DescribeServices` of the name in each cluster until the service
    /// whose ARN is that old-format one. `None` = no cluster has it.
    pub async fn cluster_of_old_arn_service(&self, service: &str) -> Result<Option<String>, Error> {
        let clusters = paginate(MAX_PAGES, |token| async move {
            let out = self
                .client
                .list_clusters()
                .max_results(100)
                .set_next_token(token)
                .send()
                .bounded()
                .await
                .map_err(|e| aws_error("ListClusters", e))?;
            Ok((
                out.cluster_arns().to_vec(),
                out.next_token().map(str::to_string),
            ))
        })
        .await?;
        let suffix = format!(":service/{service}");
        for cluster in clusters {
            let out = self
                .client
                .describe_services()
                .cluster(&cluster)
                .services(service)
                .send()
                .bounded()
                .await
                .map_err(|e| aws_error("DescribeServices", e))?;
            let found = out.services().iter().any(|s| {
                s.service_arn().is_some_and(|a| a.ends_with(&suffix))
                    && s.status() != Some("INACTIVE")
            });
            if found {
                let name = cluster.rsplit('/').next().unwrap_or(&cluster).to_string();
                return Ok(Some(name));
            }
        }
        Ok(None)
    }

    pub async fn describe_service(&self, target: &ServiceRef) -> Result<ServiceState, Error> {
        let out = self
            .client
            .describe_services()
            .cluster(&target.cluster)
            .services(&target.service)
            .include(ServiceField::Tags)
            .send()
            .bounded()
            .await
            .map_err(|e| {
                if e.as_service_error()
                    .is_some_and(|se| se.is_cluster_not_found_exception())
                {
                    Error::Input(InputError::UnknownCluster(target.cluster.clone()))
                } else {
                    aws_error("DescribeServices", e).into()
                }
            })?;
        let unknown = || {
            Error::Input(InputError::UnknownService {
                cluster: target.cluster.clone(),
                service: target.service.clone(),
            })
        };
        let Some(svc) = out.services().first() else {
            return Err(unknown());
        };
        let controller = match svc.deployment_controller().map(|c| c.r#type()) {
            Some(DeploymentControllerType::CodeDeploy) => Controller::CodeDeploy,
            Some(DeploymentControllerType::External) => Controller::External,
            _ => Controller::Ecs,
        };
        let config = svc.deployment_configuration();
        let circuit_breaker = config
            .and_then(|c| c.deployment_circuit_breaker())
            .map(|b| AutoRollback {
                enable: b.enable(),
                rollback: b.rollback(),
                reset_on_healthy_task: b.reset_on_healthy_task(),
                threshold: b.threshold_configuration().and_then(|t| {
                    use aws_sdk_ecs::types::ThresholdType;
                    match t.r#type() {
                        ThresholdType::Count => Some(BreakerThreshold::Count(t.value())),
                        ThresholdType::BoundedPercent => {
                            Some(BreakerThreshold::BoundedPercent(t.value()))
                        }
                        ThresholdType::UnboundedPercent => {
                            Some(BreakerThreshold::UnboundedPercent(t.value()))
                        }
                        _ => None,
                    }
                }),
            });
        let deployment_alarms = config.and_then(|c| c.alarms()).map(|a| DeploymentAlarms {
            names: a.alarm_names().to_vec(),
            enable: a.enable(),
            rollback: a.rollback(),
        });
        let strategy = config
            .and_then(|c| c.strategy())
            .map(|s| Strategy::parse(s.as_str()))
            .unwrap_or_default();
        let bake_time_minutes = config.and_then(|c| c.bake_time_in_minutes());
        let deployments = svc.deployments().iter().map(to_deployment).collect();
        let service_arn = svc.service_arn().ok_or_else(unknown)?.to_string();
        Ok(ServiceState {
            cluster_arn: svc.cluster_arn().unwrap_or(&target.cluster).to_string(),
            service_name: svc.service_name().unwrap_or(&target.service).to_string(),
            service_arn,
            status: svc.status().unwrap_or("ACTIVE").to_string(),
            controller,
            task_definition: svc.task_definition().unwrap_or_default().to_string(),
            tags: tags_map(svc.tags()),
            deployments,
            desired_count: svc.desired_count(),
            circuit_breaker,
            deployment_alarms,
            strategy,
            bake_time_minutes,
            // ECS API reference, Service.resourceManagementType: `ECS` = an Express service.
            express: svc
                .resource_management_type()
                .is_some_and(|t| t.as_str() == "ECS"),
        })
    }

    /// The service-deployment history, revisions resolved. Never fails: an error (after the SDK's
    /// retries) is returned as `Err(why)` so that the search can fall back (rule 5).
    pub async fn history(&self, service: &ServiceState) -> HistoryRead {
        self.try_history(service).await.map_err(|e| e.to_string())
    }

    /// `ListServiceDeployments` (every status), at most `pages` pages of 100, in the API's order.
    pub async fn list_service_deployments(
        &self,
        service: &ServiceState,
        pages: usize,
    ) -> Result<Vec<ServiceDeploymentBrief>, Error> {
        paginate(pages, |token| async move {
            let out = self
                .client
                .list_service_deployments()
                .cluster(&service.cluster_arn)
                .service(&service.service_arn)
                .max_results(100)
                .set_next_token(token)
                .send()
                .bounded()
                .await
                .map_err(|e| aws_error("ListServiceDeployments", e))?;
            Ok((
                out.service_deployments().to_vec(),
                out.next_token().map(str::to_string),
            ))
        })
        .await
    }

    async fn try_history(&self, service: &ServiceState) -> Result<Vec<HistoryEntry>, Error> {
        let briefs = self.list_service_deployments(service, MAX_PAGES).await?;
        let mut entries: Vec<HistoryEntry> = briefs
            .iter()
            .filter_map(|b| {
                let mut e = HistoryEntry::new(
                    b.service_deployment_arn()?,
                    DeploymentStatus::parse(b.status().map(|s| s.as_str()).unwrap_or("")),
                );
                e.created_at = b.created_at().and_then(to_time);
                e.started_at = b.started_at().and_then(to_time);
                e.finished_at = b.finished_at().and_then(to_time);
                Some(e)
            })
            .collect();
        // Newest first by the deployments' own timestamps: the API does not document its order.
        entries.sort_by_key(|e| std::cmp::Reverse(e.ordering_time()));
        let target_of: BTreeMap<String, String> = briefs
            .iter()
            .filter_map(|b| {
                Some((
                    b.service_deployment_arn()?.to_string(),
                    b.target_service_revision_arn()?.to_string(),
                ))
            })
            .collect();

        // Details of the deployments in flight (their source revisions decide whether
        // StopServiceDeployment applies; their lifecycle stage is shown) and of the rollbacks
        // (the revision ECS restored is only in `rollback.serviceRevisionArn`).
        let detailed: Vec<String> = entries
            .iter()
            .filter(|e| {
                e.status.is_in_flight()
                    || matches!(
                        e.status,
                        DeploymentStatus::RollbackSuccessful
                            | DeploymentStatus::RollbackRequested
                            | DeploymentStatus::RollbackInProgress
                    )
            })
            .take(DETAILS_PER_CALL)
            .map(|e| e.arn.clone())
            .collect();
        let mut sources: BTreeMap<String, Vec<String>> = BTreeMap::new();
        let mut restored: BTreeMap<String, String> = BTreeMap::new();
        let mut stages: BTreeMap<String, String> = BTreeMap::new();
        let mut whys: BTreeMap<String, String> = BTreeMap::new();
        if !detailed.is_empty() {
            let out = self
                .client
                .describe_service_deployments()
                .set_service_deployment_arns(Some(detailed))
                .send()
                .bounded()
                .await
                .map_err(|e| aws_error("DescribeServiceDeployments", e))?;
            for d in out.service_deployments() {
                let Some(arn) = d.service_deployment_arn() else {
                    continue;
                };
                let revs = d
                    .source_service_revisions()
                    .iter()
                    .filter_map(|r| r.arn().map(str::to_string))
                    .collect();
                sources.insert(arn.to_string(), revs);
                if let Some(r) = d.rollback().and_then(|r| r.service_revision_arn()) {
                    restored.insert(arn.to_string(), r.to_string());
                }
                if let Some(stage) = d.lifecycle_stage() {
                    stages.insert(arn.to_string(), stage.as_str().to_string());
                }
                if let Some(why) = ecs_why(d) {
                    whys.insert(arn.to_string(), why);
                }
            }
        }

        // Resolve the revisions we care about to task definitions, digests and configuration.
        let mut wanted: Vec<String> = Vec::new();
        let mut successful = 0;
        for (i, e) in entries.iter().enumerate() {
            let relevant = if e.status == DeploymentStatus::Successful {
                successful += 1;
                successful <= HISTORY_DEPTH
            } else {
                // In flight, rollbacks, and the newest few of any status (the failing one).
                i < NEWEST_ANY || sources.contains_key(&e.arn) || restored.contains_key(&e.arn)
            };
            if !relevant {
                continue;
            }
            if let Some(rev) = target_of.get(&e.arn) {
                wanted.push(rev.clone());
            }
            wanted.extend(sources.get(&e.arn).cloned().unwrap_or_default());
            wanted.extend(restored.get(&e.arn).cloned());
        }
        // Newest first, each once; bounded.
        let mut seen = std::collections::BTreeSet::new();
        wanted.retain(|arn| seen.insert(arn.clone()));
        wanted.truncate(MAX_REVISIONS);
        let revisions = self.service_revisions(&wanted).await?;
        for e in &mut entries {
            if let Some(rev) = target_of.get(&e.arn).and_then(|r| revisions.get(r)) {
                e.target_task_definition = Some(rev.task_definition.clone());
                e.target_images = rev.images.clone();
                e.target = Some(rev.clone());
            }
            e.sources = sources
                .get(&e.arn)
                .map(|revs| {
                    revs.iter()
                        .filter_map(|r| revisions.get(r).cloned())
                        .collect()
                })
                .unwrap_or_default();
            e.source_task_definitions = e
                .sources
                .iter()
                .map(|r| r.task_definition.clone())
                .collect();
            e.rolled_back_to = restored.get(&e.arn).and_then(|r| revisions.get(r)).cloned();
            e.lifecycle_stage = stages.get(&e.arn).cloned();
            e.ecs_why = whys.get(&e.arn).cloned();
        }
        Ok(entries)
    }

    /// One service deployment (`DescribeServiceDeployments`); `None` when ECS does not know it
    /// (`failures[]` with `MISSING`).
    pub async fn service_deployment(
        &self,
        arn: &str,
    ) -> Result<Option<ServiceDeploymentInfo>, Error> {
        Ok(self
            .service_deployments(&[arn.to_string()])
            .await?
            .into_iter()
            .next())
    }

    /// Service deployments by ARN, 20 per call.
    pub async fn service_deployments(
        &self,
        arns: &[String],
    ) -> Result<Vec<ServiceDeploymentInfo>, Error> {
        let mut all = Vec::new();
        for chunk in arns.chunks(DETAILS_PER_CALL) {
            let out = self
                .client
                .describe_service_deployments()
                .set_service_deployment_arns(Some(chunk.to_vec()))
                .send()
                .bounded()
                .await
                .map_err(|e| aws_error("DescribeServiceDeployments", e))?;
            for d in out.service_deployments() {
                let Some(arn) = d.service_deployment_arn() else {
                    continue;
                };
                all.push(ServiceDeploymentInfo {
                    arn: arn.to_string(),
                    status: DeploymentStatus::parse(d.status().map(|s| s.as_str()).unwrap_or("")),
                    created_at: d.created_at().and_then(to_time),
                    started_at: d.started_at().and_then(to_time),
                    lifecycle_stage: d.lifecycle_stage().map(|s| s.as_str().to_string()),
                    strategy: d
                        .deployment_configuration()
                        .and_then(|c| c.strategy())
                        .map(|s| Strategy::parse(s.as_str()))
                        .unwrap_or_default(),
                    target_revision: d
                        .target_service_revision()
                        .and_then(|r| r.arn())
                        .map(str::to_string),
                    source_revisions: d
                        .source_service_revisions()
                        .iter()
                        .filter_map(|r| r.arn().map(str::to_string))
                        .collect(),
                    hooks: d
                        .lifecycle_hook_details()
                        .iter()
                        .map(|h| {
                            (
                                h.target_arn().unwrap_or("PAUSE").to_string(),
                                h.status().map(|s| s.as_str()).unwrap_or("").to_string(),
                            )
                        })
                        .collect(),
                    awaiting: d
                        .lifecycle_hook_details()
                        .iter()
                        .filter(|h| h.status().is_some_and(|s| s.as_str() == "AWAITING_ACTION"))
                        .filter_map(|h| h.hook_id().map(str::to_string))
                        .collect(),
                    breaker: d
                        .deployment_circuit_breaker()
                        .filter(|b| b.status().is_some_and(|s| s.as_str() != "DISABLED"))
                        .map(|b| (b.failure_count(), b.threshold())),
                    triggered_alarms: d
                        .alarms()
                        .map(|a| a.triggered_alarm_names().to_vec())
                        .unwrap_or_default(),
                });
            }
        }
        Ok(all)
    }

    /// The service's deployments in flight (`PENDING`, `IN_PROGRESS`) with their strategy,
    /// lifecycle stage and the hooks' last verdicts: what the CLI's `status` shows.
    pub async fn in_flight(
        &self,
        service: &ServiceState,
    ) -> Result<Vec<crate::gate::InFlight>, Error> {
        let briefs = self.list_service_deployments(service, 1).await?;
        let arns: Vec<String> = briefs
            .iter()
            .filter(|b| {
                DeploymentStatus::parse(b.status().map(|s| s.as_str()).unwrap_or("")).is_in_flight()
            })
            .filter_map(|b| b.service_deployment_arn().map(str::to_string))
            .collect();
        if arns.is_empty() {
            return Ok(Vec::new());
        }
        Ok(self
            .service_deployments(&arns)
            .await?
            .into_iter()
            .filter(|d| d.status.is_in_flight())
            .map(|d| crate::gate::InFlight {
                service_deployment_arn: d.arn,
                strategy: d.strategy,
                lifecycle_stage: d.lifecycle_stage,
                hooks: d.hooks,
                awaiting: d.awaiting,
            })
            .collect())
    }

    /// Service revisions by ARN, 20 per call, as domain revisions (task definition, digests,
    /// configuration fingerprint).
    pub async fn service_revisions(
        &self,
        arns: &[String],
    ) -> Result<BTreeMap<String, ServiceRevision>, Error> {
        let mut revisions = BTreeMap::new();
        for r in self.raw_service_revisions(arns).await? {
            let Some(rev) = to_service_revision(&r) else {
                continue;
            };
            revisions.insert(rev.arn.clone(), rev);
        }
        Ok(revisions)
    }

    /// `DescribeServiceRevisions`, 20 ARNs per call, as the SDK returns them.
    pub async fn raw_service_revisions(
        &self,
        arns: &[String],
    ) -> Result<Vec<aws_sdk_ecs::types::ServiceRevision>, Error> {
        let mut all = Vec::new();
        for chunk in arns.chunks(REVISIONS_PER_CALL) {
            let out = self
                .client
                .describe_service_revisions()
                .set_service_revision_arns(Some(chunk.to_vec()))
                .send()
                .bounded()
                .await
                .map_err(|e| aws_error("DescribeServiceRevisions", e))?;
            all.extend(out.service_revisions().iter().cloned());
        }
        Ok(all)
    }

    /// The stopped tasks of an ECS deployment (`ListTasks startedBy` + `DescribeTasks`): what early
    /// detection counts once ECS's own `failedTasks` has reset. ECS keeps stopped tasks visible
    /// for at least an hour (API reference, `ListTasks`).
    pub async fn stopped_tasks(
        &self,
        service: &ServiceState,
        deployment_id: &str,
    ) -> Result<Vec<TaskStop>, Error> {
        let out = self
            .client
            .list_tasks()
            .cluster(&service.cluster_arn)
            .started_by(deployment_id)
            .desired_status(DesiredStatus::Stopped)
            .max_results(100)
            .send()
            .bounded()
            .await
            .map_err(|e| aws_error("ListTasks", e))?;
        let arns = out.task_arns().to_vec();
        if arns.is_empty() {
            return Ok(Vec::new());
        }
        let out = self
            .client
            .describe_tasks()
            .cluster(&service.cluster_arn)
            .set_tasks(Some(arns))
            .send()
            .bounded()
            .await
            .map_err(|e| aws_error("DescribeTasks", e))?;
        Ok(out
            .tasks()
            .iter()
            .map(|t| TaskStop {
                task_arn: t.task_arn().unwrap_or_default().to_string(),
                stop_code: t
                    .stop_code()
                    .map(|c| c.as_str().to_string())
                    .unwrap_or_default(),
                stopped_reason: t.stopped_reason().unwrap_or_default().to_string(),
                container_reasons: t
                    .containers()
                    .iter()
                    .filter_map(|c| c.reason().map(str::to_string))
                    .collect(),
            })
            .collect())
    }

    /// The target group each service revision serves (`resolvedConfiguration.loadBalancers`,
    /// the first with a target group) and the production listener rule that routes to it:
    /// revision ARN → (target group ARN, listener rule ARN). A revision without a resolved
    /// target group is left out.
    pub async fn resolved_target_groups(
        &self,
        arns: &[String],
    ) -> Result<BTreeMap<String, (String, Option<String>)>, Error> {
        Ok(self
            .raw_service_revisions(arns)
            .await?
            .iter()
            .filter_map(|r| {
                let arn = r.service_revision_arn()?.to_string();
                let lb = r
                    .resolved_configuration()?
                    .load_balancers()
                    .iter()
                    .find(|lb| lb.target_group_arn().is_some())?;
                Some((
                    arn,
                    (
                        lb.target_group_arn()?.to_string(),
                        lb.production_listener_rule().map(str::to_string),
                    ),
                ))
            })
            .collect())
    }

    /// Service revisions by ARN → (task definition, recorded container images).
    pub async fn describe_service_revisions(
        &self,
        arns: &[String],
    ) -> Result<BTreeMap<String, (String, Vec<RecordedImage>)>, Error> {
        Ok(self
            .service_revisions(arns)
            .await?
            .into_iter()
            .map(|(arn, r)| (arn, (r.task_definition, r.images)))
            .collect())
    }

    /// ARNs of the family's ACTIVE revisions, newest first as far as the API sorts (the core
    /// sorts again by revision number).
    pub async fn family(&self, family: &str) -> Result<Vec<String>, Error> {
        paginate(MAX_PAGES, |token| async move {
            let out = self
                .client
                .list_task_definitions()
                .family_prefix(family)
                .status(TaskDefinitionStatus::Active)
                .sort(SortOrder::Desc)
                .max_results(100)
                .set_next_token(token)
                .send()
                .bounded()
                .await
                .map_err(|e| aws_error("ListTaskDefinitions", e))?;
            Ok((
                out.task_definition_arns().to_vec(),
                out.next_token().map(str::to_string),
            ))
        })
        .await
    }

    /// `DescribeTaskDefinition` with its tags. A revision that does not exist (ECS answers
    /// `ClientException`) is an input error naming it.
    pub async fn task_definition_with_tags(
        &self,
        name: &str,
    ) -> Result<(TaskDefinition, BTreeMap<String, String>), Error> {
        let out = self
            .client
            .describe_task_definition()
            .task_definition(name)
            .include(TaskDefinitionField::Tags)
            .send()
            .bounded()
            .await
            .map_err(|e| {
                if e.as_service_error()
                    .is_some_and(|se| se.is_client_exception())
                {
                    Error::Input(InputError::UnknownTaskDefinition(name.to_string()))
                } else {
                    aws_error("DescribeTaskDefinition", e).into()
                }
            })?;
        let td = out
            .task_definition()
            .cloned()
            .ok_or_else(|| Error::Input(InputError::UnknownTaskDefinition(name.to_string())))?;
        Ok((td, tags_map(out.tags())))
    }

    /// `DescribeTaskDefinition` with tags; only name, status, ledger and images are kept.
    pub async fn describe_revision(&self, name: &str) -> Result<Revision, Error> {
        let (td, tags) = self.task_definition_with_tags(name).await?;
        Ok(Revision {
            arn: td.task_definition_arn().unwrap_or(name).to_string(),
            family: td.family().unwrap_or_default().to_string(),
            revision: td.revision(),
            status: match td.status() {
                Some(TaskDefinitionStatus::Inactive) => RevisionStatus::Inactive,
                Some(TaskDefinitionStatus::DeleteInProgress) => RevisionStatus::DeleteInProgress,
                _ => RevisionStatus::Active,
            },
            ledger: match tags.get(TAG_STATUS).map(|v| v.trim().to_ascii_lowercase()) {
                Some(v) if v == "stable" => Some(Ledger::Stable),
                Some(v) if v == "bad" => Some(Ledger::Bad),
                _ => None,
            },
            bad_for: tags
                .get(TAG_BAD_FOR)
                .map(|v| v.split_whitespace().map(str::to_string).collect())
                .unwrap_or_default(),
            images: td
                .container_definitions()
                .iter()
                .map(|c| ContainerImage {
                    container: c.name().unwrap_or_default().to_string(),
                    image: c.image().unwrap_or_default().to_string(),
                })
                .collect(),
            pinned_from: tags
                .get(TAG_PINNED_FROM)
                .map(|v| v.trim().to_string())
                .filter(|v| !v.is_empty()),
            schema: tags.get(TAG_SCHEMA).map(|v| SchemaRange::parse(v)),
        })
    }

    /// `UpdateService` to `task_definition` (the CLI's deploy): answers the deployment it started
    /// as the response names it (`currentServiceDeployment`, the PRIMARY deployment's id).
    pub async fn update_service(
        &self,
        service: &ServiceState,
        task_definition: &str,
    ) -> Result<Started, Error> {
        let out = self
            .client
            .update_service()
            .cluster(&service.cluster_arn)
            .service(&service.service_arn)
            .task_definition(task_definition)
            .customize()
            .config_override(no_retries())
            .send()
            .bounded()
            .await
            .map_err(|e| aws_error("UpdateService", e))?;
        let svc = out.service();
        Ok(Started {
            service_deployment_arn: svc
                .and_then(|s| s.current_service_deployment())
                .map(str::to_string),
            deployment_id: svc
                .and_then(|s| {
                    s.deployments()
                        .iter()
                        .find(|d| d.status() == Some("PRIMARY"))
                })
                .and_then(|d| d.id())
                .map(str::to_string),
        })
    }

    /// `UpdateService` to `task_definition`, also setting the configuration `fields` to the values
    /// the service revision `from` ran with (rule 6). Answers the fields that could not be
    /// restored this way (said in the reason).
    pub async fn update_service_restoring(
        &self,
        service: &ServiceState,
        task_definition: &str,
        from: Option<&aws_sdk_ecs::types::ServiceRevision>,
        fields: &[String],
    ) -> Result<Vec<String>, Error> {
        let mut req = self
            .client
            .update_service()
            .cluster(&service.cluster_arn)
            .service(&service.service_arn)
            .task_definition(task_definition);
        let mut unrestorable = Vec::new();
        if let Some(r) = from {
            for field in fields {
                req = match field.as_str() {
                    // An empty list removes what the failing revision added.
                    "loadBalancers" => req.set_load_balancers(Some(r.load_balancers().to_vec())),
                    "serviceRegistries" => {
                        req.set_service_registries(Some(r.service_registries().to_vec()))
                    }
                    "capacityProviderStrategy" if !r.capacity_provider_strategy().is_empty() => req
                        .set_capacity_provider_strategy(Some(
                            r.capacity_provider_strategy().to_vec(),
                        )),
                    "volumeConfigurations" => {
                        req.set_volume_configurations(Some(r.volume_configurations().to_vec()))
                    }
                    "vpcLatticeConfigurations" => req.set_vpc_lattice_configurations(Some(
                        r.vpc_lattice_configurations().to_vec(),
                    )),
                    "networkConfiguration" if r.network_configuration().is_some() => {
                        req.set_network_configuration(r.network_configuration().cloned())
                    }
                    "platformVersion" if r.platform_version().is_some() => {
                        req.set_platform_version(r.platform_version().map(str::to_string))
                    }
                    "serviceConnectConfiguration"
                        if r.service_connect_configuration().is_some() =>
                    {
                        req.set_service_connect_configuration(
                            r.service_connect_configuration().cloned(),
                        )
                    }
                    _ => {
                        unrestorable.push(field.clone());
                        req
                    }
                };
            }
        }
        req.customize()
            .config_override(no_retries())
            .send()
            .bounded()
            .await
            .map_err(|e| aws_error("UpdateService", e))?;
        Ok(unrestorable)
    }

    /// Remove tags (`UntagResource`).
    pub async fn untag(&self, arn: &str, keys: &[&str]) -> Result<(), Error> {
        self.client
            .untag_resource()
            .resource_arn(arn)
            .set_tag_keys(Some(keys.iter().map(|k| k.to_string()).collect()))
            .send()
            .bounded()
            .await
            .map_err(|e| aws_error("UntagResource", e))?;
        Ok(())
    }

    pub async fn stop_deployment(&self, service_deployment_arn: &str) -> Result<(), Error> {
        self.client
            .stop_service_deployment()
            .service_deployment_arn(service_deployment_arn)
            .stop_type(StopServiceDeploymentStopType::Rollback)
            .customize()
            .config_override(no_retries())
            .send()
            .bounded()
            .await
            .map_err(|e| aws_error("StopServiceDeployment", e))?;
        Ok(())
    }

    /// Answer a pause lifecycle hook: `ContinueServiceDeployment` with `CONTINUE` or `ROLLBACK`.
    pub async fn continue_deployment(
        &self,
        service_deployment_arn: &str,
        hook_id: &str,
        rollback: bool,
    ) -> Result<(), Error> {
        use aws_sdk_ecs::types::DeploymentLifecycleHookAction as Action;
        self.client
            .continue_service_deployment()
            .service_deployment_arn(service_deployment_arn)
            .hook_id(hook_id)
            .action(if rollback {
                Action::Rollback
            } else {
                Action::Continue
            })
            .customize()
            .config_override(no_retries())
            .send()
            .bounded()
            .await
            .map_err(|e| aws_error("ContinueServiceDeployment", e))?;
        Ok(())
    }

    pub async fn tag(&self, arn: &str, tags: &[(&str, &str)]) -> Result<(), Error> {
        let tags = tags
            .iter()
            .map(|(k, v)| Tag::builder().key(*k).value(*v).build())
            .collect();
        self.client
            .tag_resource()
            .resource_arn(arn)
            .set_tags(Some(tags))
            .send()
            .bounded()
            .await
            .map_err(|e| aws_error("TagResource", e))?;
        Ok(())
    }

    /// Start the down migration (rule 14): one task of `task_definition` in the service's
    /// cluster, with the service's network configuration and capacity, started by
    /// `ecs-rollback/<id>` in the group `ecs-rollback:<service>`, every container told the
    /// versions (`ECS_ROLLBACK_SCHEMA_FROM`, `ECS_ROLLBACK_SCHEMA_TO`). `id` is also the client
    /// token: a repeated call starts no second task. Answers the task's ARN.
    pub async fn run_migration(
        &self,
        service: &ServiceState,
        task_definition: &str,
        id: &str,
        migration: &crate::decision::Migration,
    ) -> Result<String, Error> {
        use aws_sdk_ecs::types::{ContainerOverride, KeyValuePair, TaskOverride};
        let out = self
            .client
            .describe_services()
            .cluster(&service.cluster_arn)
            .services(&service.service_arn)
            .send()
            .bounded()
            .await
            .map_err(|e| aws_error("DescribeServices", e))?;
        let svc = out.services().first();
        let (td, _) = self.task_definition_with_tags(task_definition).await?;
        let env = [
            ("ECS_ROLLBACK_SCHEMA_FROM", migration.from_schema.as_str()),
            ("ECS_ROLLBACK_SCHEMA_TO", migration.to_schema.as_str()),
        ];
        let overrides = td
            .container_definitions()
            .iter()
            .filter_map(|c| c.name())
            .map(|name| {
                ContainerOverride::builder()
                    .name(name)
                    .set_environment(Some(
                        env.iter()
                            .map(|(k, v)| KeyValuePair::builder().name(*k).value(*v).build())
                            .collect(),
                    ))
                    .build()
            })
            .collect();
        let run = self
            .client
            .run_task()
            .cluster(&service.cluster_arn)
            .task_definition(td.task_definition_arn().unwrap_or(task_definition))
            .count(1)
            .started_by(format!("{MIGRATION_STARTED_BY}{id}"))
            .group(format!("{MIGRATION_GROUP}{}", service.service_name))
            .client_token(id)
            .overrides(
                TaskOverride::builder()
                    .set_container_overrides(Some(overrides))
                    .build(),
            )
            .set_network_configuration(svc.and_then(|s| s.network_configuration().cloned()))
            .set_platform_version(svc.and_then(|s| s.platform_version().map(str::to_string)));
        let run = match svc {
            Some(s) if !s.capacity_provider_strategy().is_empty() => {
                run.set_capacity_provider_strategy(Some(s.capacity_provider_strategy().to_vec()))
            }
            Some(s) => run.set_launch_type(s.launch_type().cloned()),
            None => run,
        };
        let out = run
            .customize()
            .config_override(no_retries())
            .send()
            .bounded()
            .await
            .map_err(|e| aws_error("RunTask", e))?;
        if let Some(task) = out.tasks().first().and_then(|t| t.task_arn()) {
            return Ok(task.to_string());
        }
        let why = out
            .failures()
            .iter()
            .map(|f| {
                format!(
                    "{}: {}",
                    f.reason().unwrap_or("?"),
                    f.detail().unwrap_or_default()
                )
            })
            .collect::<Vec<_>>()
            .join("; ");
        Err(Error::Internal(format!(
            "RunTask started no migration task ({})",
            if why.is_empty() {
                "no reason given"
            } else {
                &why
            }
        )))
    }

    /// A down-migration task as ECS reports it now.
    pub async fn migration_task(
        &self,
        cluster: &str,
        task_arn: &str,
    ) -> Result<Option<MigrationTask>, Error> {
        let out = self
            .client
            .describe_tasks()
            .cluster(cluster)
            .tasks(task_arn)
            .send()
            .bounded()
            .await
            .map_err(|e| aws_error("DescribeTasks", e))?;
        Ok(out.tasks().first().map(|t| MigrationTask {
            task_arn: t.task_arn().unwrap_or(task_arn).to_string(),
            last_status: t.last_status().unwrap_or_default().to_string(),
            started_by: t.started_by().map(str::to_string),
            stop_code: t.stop_code().map(|c| c.as_str().to_string()),
            stopped_reason: t.stopped_reason().map(str::to_string),
            exit_codes: t
                .containers()
                .iter()
                .map(|c| (c.name().unwrap_or("?").to_string(), c.exit_code()))
                .collect(),
            stopped_at: t.stopped_at().and_then(to_time),
        }))
    }

    /// Stop the down-migration tasks started as `ecs-rollback/<id>` that still run (its time is up).
    pub async fn stop_migration(
        &self,
        service: &ServiceState,
        id: &str,
        reason: &str,
    ) -> Result<usize, Error> {
        let out = self
            .client
            .list_tasks()
            .cluster(&service.cluster_arn)
            // `startedBy` must be ListTasks's only filter; RUNNING is its default.
            .started_by(format!("{MIGRATION_STARTED_BY}{id}"))
            .send()
            .bounded()
            .await
            .map_err(|e| aws_error("ListTasks", e))?;
        for arn in out.task_arns() {
            self.client
                .stop_task()
                .cluster(&service.cluster_arn)
                .task(arn)
                .reason(reason)
                .send()
                .bounded()
                .await
                .map_err(|e| aws_error("StopTask", e))?;
        }
        Ok(out.task_arns().len())
    }

    /// Register a copy of `source` whose tagged images are replaced by their pinned digests,
    /// tagged `ecs-rollback:status=stable` and `ecs-rollback:pinned-from=<source>` (rule 7).
    pub async fn register_pinned_copy(&self, source: &str, pins: &[Pin]) -> Result<String, Error> {
        let images: Vec<ImageOverride> = pins
            .iter()
            .map(|p| ImageOverride {
                container: p.container.clone(),
                image: p.pinned.clone(),
            })
            .collect();
        self.register_copy(
            source,
            &images,
            &[TAG_STATUS, TAG_PINNED_FROM],
            &[(TAG_STATUS, "stable"), (TAG_PINNED_FROM, source)],
        )
        .await
    }

    /// Register a new revision of `source`'s family that copies `source` with `images` replaced.
    ///
    /// Every field RegisterTaskDefinition accepts is copied (inference accelerators excepted: the
    /// API no longer accepts them); only the images named in `images` change. The copy carries
    /// `source`'s tags except the keys in `drop_tags`, then `add_tags`. A container named in
    /// `images` that `source` does not have is an [`InputError`] and registers nothing.
    pub async fn register_copy(
        &self,
        source: &str,
        images: &[ImageOverride],
        drop_tags: &[&str],
        add_tags: &[(&str, &str)],
    ) -> Result<String, Error> {
        let out = self
            .client
            .describe_task_definition()
            .task_definition(source)
            .include(TaskDefinitionField::Tags)
            .send()
            .bounded()
            .await
            .map_err(|e| aws_error("DescribeTaskDefinition", e))?;
        let td = out
            .task_definition()
            .ok_or_else(|| Error::Input(InputError::UnknownTaskDefinition(source.to_string())))?;
        if let Some(missing) = images.iter().find(|o| {
            !td.container_definitions()
                .iter()
                .any(|c| c.name() == Some(o.container.as_str()))
        }) {
            return Err(Error::Input(InputError::Invalid {
                field: "container".into(),
                why: format!(
                    "{} has no container named {:?}",
                    short_task_definition(source),
                    missing.container
                ),
            }));
        }
        let containers = td
            .container_definitions()
            .iter()
            .map(|c| {
                let mut c = c.clone();
                if let Some(o) = images
                    .iter()
                    .find(|o| Some(o.container.as_str()) == c.name())
                {
                    c.image = Some(o.image.clone());
                }
                c
            })
            .collect();
        let mut tags: Vec<Tag> = out
            .tags()
            .iter()
            .filter(|t| !t.key().is_some_and(|k| drop_tags.contains(&k)))
            .cloned()
            .collect();
        tags.extend(
            add_tags
                .iter()
                .map(|(k, v)| Tag::builder().key(*k).value(*v).build()),
        );
        let registered = self
            .client
            .register_task_definition()
            .set_family(td.family().map(str::to_string))
            .set_task_role_arn(td.task_role_arn().map(str::to_string))
            .set_execution_role_arn(td.execution_role_arn().map(str::to_string))
            .set_network_mode(td.network_mode().cloned())
            .set_container_definitions(Some(containers))
            .set_volumes(Some(td.volumes().to_vec()).filter(|v| !v.is_empty()))
            .set_placement_constraints(
                Some(td.placement_constraints().to_vec()).filter(|v| !v.is_empty()),
            )
            .set_requires_compatibilities(
                Some(td.requires_compatibilities().to_vec()).filter(|v| !v.is_empty()),
            )
            .set_cpu(td.cpu().map(str::to_string))
            .set_memory(td.memory().map(str::to_string))
            .set_tags(Some(tags))
            .set_pid_mode(td.pid_mode().cloned())
            .set_ipc_mode(td.ipc_mode().cloned())
            .set_proxy_configuration(td.proxy_configuration().cloned())
            .set_ephemeral_storage(td.ephemeral_storage().cloned())
            .set_runtime_platform(td.runtime_platform().cloned())
            .set_enable_fault_injection(td.enable_fault_injection())
            .send()
            .bounded()
            .await
            .map_err(|e| aws_error("RegisterTaskDefinition", e))?;
        registered
            .task_definition()
            .and_then(|t| t.task_definition_arn())
            .map(str::to_string)
            .ok_or_else(|| Error::Internal("RegisterTaskDefinition returned no ARN".into()))
    }
}

/// The deployment an `UpdateService` started, as its response names it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Started {
    pub service_deployment_arn: Option<String>,
    /// `ecs-svc/N`.
    pub deployment_id: Option<String>,
}

/// One container's new image in [`Ecs::register_copy`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ImageOverride {
    pub container: String,
    pub image: String,
}

/// SDK service revision → domain revision. The configuration is kept as a canonical rendering
/// per field, only for comparison (subnets and security groups sorted: their order means nothing).
/// Why ECS rolled a service deployment back, as it reports it: the deployment alarms it names
/// (`alarms.triggeredAlarmNames`), or its circuit breaker's count (`failureCount` of `threshold`).
pub fn ecs_why(d: &aws_sdk_ecs::types::ServiceDeployment) -> Option<String> {
    let alarms = d
        .alarms()
        .map(|a| a.triggered_alarm_names().to_vec())
        .unwrap_or_default();
    if !alarms.is_empty() {
        return Some(format!("deployment alarms {} in ALARM", alarms.join(", ")));
    }
    d.deployment_circuit_breaker()
        .filter(|b| b.status().is_some_and(|s| s.as_str() == "TRIGGERED"))
        .map(|b| {
            format!(
                "circuit breaker: {} failed task(s), threshold {}",
                b.failure_count(),
                b.threshold()
            )
        })
}

pub fn to_service_revision(r: &aws_sdk_ecs::types::ServiceRevision) -> Option<ServiceRevision> {
    let arn = r.service_revision_arn()?.to_string();
    let task_definition = r.task_definition()?.to_string();
    let images = r
        .container_images()
        .iter()
        .map(|c| RecordedImage {
            container: c.container_name().unwrap_or_default().to_string(),
            image: c.image().map(str::to_string),
            digest: c.image_digest().map(str::to_string),
        })
        .collect();
    let mut config = BTreeMap::new();
    let mut put = |field: &str, value: Option<String>| {
        if let Some(v) = value {
            config.insert(field.to_string(), v);
        }
    };
    let list = |v: String| Some(v).filter(|v| v != "[]");
    put(
        "capacityProviderStrategy",
        list(format!("{:?}", r.capacity_provider_strategy())),
    );
    put(
        "launchType",
        r.launch_type().map(|l| l.as_str().to_string()),
    );
    put("platformVersion", r.platform_version().map(str::to_string));
    put("platformFamily", r.platform_family().map(str::to_string));
    put("loadBalancers", list(format!("{:?}", r.load_balancers())));
    put(
        "serviceRegistries",
        list(format!("{:?}", r.service_registries())),
    );
    put(
        "networkConfiguration",
        r.network_configuration()
            .and_then(|n| n.awsvpc_configuration())
            .map(|a| {
                let mut subnets = a.subnets().to_vec();
                subnets.sort();
                let mut groups = a.security_groups().to_vec();
                groups.sort();
                format!(
                    "subnets={subnets:?} securityGroups={groups:?} assignPublicIp={:?}",
                    a.assign_public_ip().map(|p| p.as_str())
                )
            }),
    );
    put(
        "serviceConnectConfiguration",
        r.service_connect_configuration().map(|c| format!("{c:?}")),
    );
    put(
        "volumeConfigurations",
        list(format!("{:?}", r.volume_configurations())),
    );
    put(
        "vpcLatticeConfigurations",
        list(format!("{:?}", r.vpc_lattice_configurations())),
    );
    put(
        "fargateEphemeralStorage",
        r.fargate_ephemeral_storage().map(|e| format!("{e:?}")),
    );
    Some(ServiceRevision {
        arn,
        task_definition,
        images,
        config,
    })
}
