//! ECS adapter: reads the service snapshot, carries out rollbacks, keeps the ledger.

use std::collections::BTreeMap;

use aws_sdk_ecs::types::{
    DeploymentControllerType, DeploymentRolloutState, ServiceDeploymentBrief, ServiceField,
    SortOrder, StopServiceDeploymentStopType, Tag, TaskDefinitionField, TaskDefinitionStatus,
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

fn tags_map(tags: &[Tag]) -> BTreeMap<String, String> {
    tags.iter()
        .filter_map(|t| Some((t.key()?.to_string(), t.value().unwrap_or("").to_string())))
        .collect()
}

impl Ecs {
    pub fn new(client: Client) -> Self {
        Ecs { client }
    }

    /// `DescribeServices` with tags. Unknown cluster or service → [`InputError`].
    pub async fn describe_service(&self, target: &ServiceRef) -> Result<ServiceState, Error> {
        let out = self
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
        let breaker = config
            .and_then(|c| c.deployment_circuit_breaker())
            .is_some_and(|b| b.enable() && b.rollback());
        let alarms = config
            .and_then(|c| c.alarms())
            .is_some_and(|a| a.enable() && a.rollback());
        let ecs_rollback = match (breaker, alarms) {
            (true, true) => Some("deployment circuit breaker and deployment alarms".to_string()),
            (true, false) => Some("deployment circuit breaker".to_string()),
            (false, true) => Some("deployment alarms".to_string()),
            (false, false) => None,
        };
        let deployments = svc
            .deployments()
            .iter()
            .map(|d| Deployment {
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
            })
            .collect();
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
            ecs_rollback,
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
                Some(HistoryEntry {
                    arn: b.service_deployment_arn()?.to_string(),
                    status: DeploymentStatus::parse(b.status().map(|s| s.as_str()).unwrap_or("")),
                    target_task_definition: None,
                    target_images: Vec::new(),
                    source_task_definitions: Vec::new(),
                    created_at: b.created_at().and_then(to_time),
                    started_at: b.started_at().and_then(to_time),
                    finished_at: b.finished_at().and_then(to_time),
                })
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

        // Deployments in flight: their source revisions decide whether StopServiceDeployment applies.
        let in_flight: Vec<String> = entries
            .iter()
            .filter(|e| e.status.is_in_flight())
            .map(|e| e.arn.clone())
            .collect();
        let mut sources: BTreeMap<String, Vec<String>> = BTreeMap::new();
        if !in_flight.is_empty() {
            let out = self
                .client
                .describe_service_deployments()
                .set_service_deployment_arns(Some(in_flight))
                .send()
                .await
                .map_err(|e| aws_error("DescribeServiceDeployments", e))?;
            for d in out.service_deployments() {
                if let Some(arn) = d.service_deployment_arn() {
                    let revs = d
                        .source_service_revisions()
                        .iter()
                        .filter_map(|r| r.arn().map(str::to_string))
                        .collect();
                    sources.insert(arn.to_string(), revs);
                }
            }
        }

        // Resolve the revisions we care about to task definitions and image digests.
        let mut wanted: Vec<String> = Vec::new();
        let mut successful = 0;
        for e in &entries {
            let relevant = if e.status == DeploymentStatus::Successful {
                successful += 1;
                successful <= HISTORY_DEPTH
            } else {
                e.status.is_in_flight()
            };
            if !relevant {
                continue;
            }
            if let Some(rev) = target_of.get(&e.arn) {
                wanted.push(rev.clone());
            }
            wanted.extend(sources.get(&e.arn).cloned().unwrap_or_default());
        }
        wanted.sort();
        wanted.dedup();
        let revisions = self.describe_service_revisions(&wanted).await?;
        for e in &mut entries {
            if let Some((td, images)) = target_of.get(&e.arn).and_then(|r| revisions.get(r)) {
                e.target_task_definition = Some(td.clone());
                e.target_images = images.clone();
            }
            e.source_task_definitions = sources
                .get(&e.arn)
                .map(|revs| {
                    revs.iter()
                        .filter_map(|r| revisions.get(r).map(|(td, _)| td.clone()))
                        .collect()
                })
                .unwrap_or_default();
        }
        Ok(entries)
    }

    /// Service revisions by ARN → (task definition, recorded container images), 20 per call.
    pub async fn describe_service_revisions(
        &self,
        arns: &[String],
    ) -> Result<BTreeMap<String, (String, Vec<RecordedImage>)>, Error> {
        let mut revisions = BTreeMap::new();
        for chunk in arns.chunks(REVISIONS_PER_CALL) {
            let out = self
                .client
                .describe_service_revisions()
                .set_service_revision_arns(Some(chunk.to_vec()))
                .send()
                .await
                .map_err(|e| aws_error("DescribeServiceRevisions", e))?;
            for r in out.service_revisions() {
                let (Some(arn), Some(td)) = (r.service_revision_arn(), r.task_definition()) else {
                    continue;
                };
                let images = r
                    .container_images()
                    .iter()
                    .map(|c| RecordedImage {
                        container: c.container_name().unwrap_or_default().to_string(),
                        image: c.image().map(str::to_string),
                        digest: c.image_digest().map(str::to_string),
                    })
                    .collect();
                revisions.insert(arn.to_string(), (td.to_string(), images));
            }
        }
        Ok(revisions)
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
                .await
                .map_err(|e| aws_error("ListTaskDefinitions", e))?;
            Ok((
                out.task_definition_arns().to_vec(),
                out.next_token().map(str::to_string),
            ))
        })
        .await
    }

    /// `DescribeTaskDefinition` with tags; only name, status, ledger and images are kept.
    pub async fn describe_revision(&self, name: &str) -> Result<Revision, Error> {
        let out = self
            .client
            .describe_task_definition()
            .task_definition(name)
            .include(TaskDefinitionField::Tags)
            .send()
            .await
            .map_err(|e| {
                // DescribeTaskDefinition answers ClientException for a revision that does not exist.
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
            .ok_or_else(|| Error::Input(InputError::UnknownTaskDefinition(name.to_string())))?;
        let tags = tags_map(out.tags());
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
            images: td
                .container_definitions()
                .iter()
                .map(|c| ContainerImage {
                    container: c.name().unwrap_or_default().to_string(),
                    image: c.image().unwrap_or_default().to_string(),
                })
                .collect(),
        })
    }

    pub async fn update_service(
        &self,
        service: &ServiceState,
        task_definition: &str,
    ) -> Result<(), Error> {
        self.client
            .update_service()
            .cluster(&service.cluster_arn)
            .service(&service.service_arn)
            .task_definition(task_definition)
            .customize()
            .config_override(no_retries())
            .send()
            .await
            .map_err(|e| aws_error("UpdateService", e))?;
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
            .await
            .map_err(|e| aws_error("StopServiceDeployment", e))?;
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
            .await
            .map_err(|e| aws_error("TagResource", e))?;
        Ok(())
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
            .await
            .map_err(|e| aws_error("RegisterTaskDefinition", e))?;
        registered
            .task_definition()
            .and_then(|t| t.task_definition_arn())
            .map(str::to_string)
            .ok_or_else(|| Error::Internal("RegisterTaskDefinition returned no ARN".into()))
    }
}

/// One container's new image in [`Ecs::register_copy`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ImageOverride {
    pub container: String,
    pub image: String,
}
