//! The SDK clients of the simulated account: aws-smithy-mocks rules whose every answer is
//! computed from the one shared [`World`], so that the production adapters (request building,
//! response parsing, retries) run unchanged.
//!
//! Faults: `World::throttles[op]` makes the next calls of a read answer `ThrottlingException`
//! once (the SDK retries and then gets the real answer); `World::kill_after` kills the
//! invocation after its k-th write: every later call fails without effect.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use aws_sdk_cloudwatch::types as cw;
use aws_sdk_ecs::types as ecs;
use aws_smithy_mocks::{mock, mock_client, MockResponse, Rule, RuleMode};
use aws_smithy_types::error::ErrorMetadata;

use ecs_rollback::aws::cloudwatch::CloudWatch;
use ecs_rollback::aws::ecs::Ecs;
use ecs_rollback::aws::sns::Sns;
use ecs_rollback::config::Config;
use ecs_rollback::handler::Deps;

use super::world::*;

pub type Shared = Arc<Mutex<World>>;

/// Throttle slots per read operation and client set (each answers one throttled attempt).
const SLOTS: usize = 3;

fn ts(t: Time) -> aws_smithy_types::DateTime {
    aws_smithy_types::DateTime::from_millis(t.timestamp_millis())
}

fn meta(code: &str, message: &str) -> ErrorMetadata {
    ErrorMetadata::builder().code(code).message(message).build()
}

fn killed() -> ErrorMetadata {
    meta(
        "AccessDeniedException",
        "the invocation was killed (function timeout): this call never happened",
    )
}

/// A read rule: the world answers; `SLOTS` throttle rules in front of it.
macro_rules! read_rule {
    ($rules:ident, $world:ident, $op:path, $name:literal, $err:ty, $f:expr) => {{
        for _ in 0..SLOTS {
            let w = $world.clone();
            let stash = Arc::new(Mutex::new(None));
            let put = stash.clone();
            $rules.push(
                mock!($op)
                    .match_requests(move |req| {
                        let mut w = w.lock().unwrap();
                        if w.killed || w.throttles.get($name).copied().unwrap_or(0) == 0 {
                            return false;
                        }
                        let answer: MockResponse<_, $err> = ($f)(&mut *w, req);
                        match answer {
                            MockResponse::Output(o) => {
                                *w.throttles.get_mut($name).unwrap() -= 1;
                                *w.calls.entry($name).or_default() += 1;
                                *put.lock().unwrap() = Some(o);
                                true
                            }
                            _ => false,
                        }
                    })
                    .sequence()
                    .error(|| <$err>::generic(meta("ThrottlingException", "Rate exceeded")))
                    .output(move || stash.lock().unwrap().take().expect("stashed answer"))
                    .build(),
            );
        }
        let w = $world.clone();
        $rules.push(mock!($op).then_compute_response(move |req| {
            let mut w = w.lock().unwrap();
            *w.calls.entry($name).or_default() += 1;
            if w.killed {
                return MockResponse::Error(<$err>::generic(killed()));
            }
            let answer: MockResponse<_, $err> = ($f)(&mut *w, req);
            answer
        }));
    }};
}

/// A write rule: nothing happens once the invocation is killed; the k-th write is applied and
/// then kills it.
macro_rules! write_rule {
    ($rules:ident, $world:ident, $op:path, $name:literal, $err:ty, $f:expr) => {{
        let w = $world.clone();
        $rules.push(mock!($op).then_compute_response(move |req| {
            let mut w = w.lock().unwrap();
            *w.calls.entry($name).or_default() += 1;
            if w.killed {
                return MockResponse::Error(<$err>::generic(killed()));
            }
            let answer: MockResponse<_, $err> = ($f)(&mut *w, req);
            if matches!(answer, MockResponse::Output(_)) {
                w.inv_writes += 1;
                if w.kill_after == Some(w.inv_writes) {
                    w.killed = true;
                }
            }
            answer
        }));
    }};
}

/// The clients for one simulated account, and the rules (kept alive with them).
pub struct Clients {
    pub deps: Deps,
    pub rules: Vec<Rule>,
}

pub fn clients(world: &Shared, config: Config) -> Clients {
    let mut e: Vec<Rule> = Vec::new();
    ecs_rules(&mut e, world);
    let mut c: Vec<Rule> = Vec::new();
    cw_rules(&mut c, world);
    let w = world.clone();
    let publish = mock!(aws_sdk_sns::Client::publish).then_compute_output(move |req| {
        let mut w = w.lock().unwrap();
        let text = format!(
            "{}\n{}",
            req.subject().unwrap_or_default(),
            req.message().unwrap_or_default()
        );
        w.published.push(text);
        aws_sdk_sns::operation::publish::PublishOutput::builder()
            .message_id("m-1")
            .build()
    });
    // Standard retries as in production; the backoff costs no wall time (paused tokio clock).
    let ecs_retry = |b: aws_sdk_ecs::config::Builder| {
        b.retry_config(
            aws_sdk_ecs::config::retry::RetryConfig::standard()
                .with_max_attempts(3)
                .with_initial_backoff(Duration::from_millis(500)),
        )
    };
    let cw_retry = |b: aws_sdk_cloudwatch::config::Builder| {
        b.retry_config(
            aws_sdk_cloudwatch::config::retry::RetryConfig::standard()
                .with_max_attempts(3)
                .with_initial_backoff(Duration::from_millis(500)),
        )
    };
    let e_refs: Vec<&Rule> = e.iter().collect();
    let c_refs: Vec<&Rule> = c.iter().collect();
    let ecs_client = mock_client!(aws_sdk_ecs, RuleMode::MatchAny, &e_refs, ecs_retry);
    let cw_client = mock_client!(aws_sdk_cloudwatch, RuleMode::MatchAny, &c_refs, cw_retry);
    let sns_client = mock_client!(aws_sdk_sns, RuleMode::MatchAny, &[&publish]);
    let sns = config.notify_topic_arn.clone().map(|topic_arn| Sns {
        client: sns_client,
        topic_arn,
    });
    let mut rules = e;
    rules.extend(c);
    rules.push(publish);
    Clients {
        deps: Deps {
            ecs: Ecs::new(ecs_client),
            cloudwatch: CloudWatch::new(cw_client),
            sns,
            config,
            pool: None,
            lease: None,
        },
        rules,
    }
}

fn tag_list(tags: &BTreeMap<String, String>) -> Vec<ecs::Tag> {
    tags.iter()
        .map(|(k, v)| ecs::Tag::builder().key(k).value(v).build())
        .collect()
}

fn network(config: u32) -> ecs::NetworkConfiguration {
    ecs::NetworkConfiguration::builder()
        .awsvpc_configuration(
            ecs::AwsVpcConfiguration::builder()
                .subnets(format!("subnet-{config:0>8}"))
                .security_groups("sg-0123456789abcdef0")
                .build()
                .unwrap(),
        )
        .build()
}

fn config_of(n: &ecs::NetworkConfiguration) -> Option<u32> {
    let subnet = n.awsvpc_configuration()?.subnets().first()?;
    subnet.strip_prefix("subnet-")?.parse().ok()
}

fn service_name(s: &str) -> &str {
    s.rsplit('/').next().unwrap_or(s)
}

fn describe_service(w: &World, s: &Svc) -> ecs::Service {
    let strategy = match s.strategy {
        Strategy::Rolling => ecs::DeploymentStrategy::Rolling,
        Strategy::BlueGreen => ecs::DeploymentStrategy::BlueGreen,
    };
    let config = ecs::DeploymentConfiguration::builder()
        .set_deployment_circuit_breaker(s.breaker.map(|(enable, rollback)| {
            ecs::DeploymentCircuitBreaker::builder()
                .enable(enable)
                .rollback(rollback)
                .build()
        }))
        .set_alarms(s.deployment_alarms.map(|(enable, rollback)| {
            ecs::DeploymentAlarms::builder()
                .alarm_names(format!("{}-5xx", s.name))
                .enable(enable)
                .rollback(rollback)
                .build()
                .unwrap()
        }))
        .strategy(strategy)
        .set_bake_time_in_minutes(
            (s.strategy == Strategy::BlueGreen).then_some(s.bake_minutes as i32),
        )
        .maximum_percent(200)
        .minimum_healthy_percent(100)
        .build();
    let mut b = ecs::Service::builder()
        .service_arn(service_arn(&s.name))
        .service_name(&s.name)
        .cluster_arn(CLUSTER_ARN)
        .status("ACTIVE")
        .desired_count(s.desired)
        .running_count(s.desired)
        .launch_type(ecs::LaunchType::Fargate)
        .task_definition(&s.td)
        .network_configuration(network(s.config))
        .deployment_controller(
            ecs::DeploymentController::builder()
                .r#type(ecs::DeploymentControllerType::Ecs)
                .build()
                .unwrap(),
        )
        .deployment_configuration(config)
        .set_tags(Some(tag_list(&s.tags)));
    for d in &s.deps {
        let rollout = match d.rollout {
            Rollout::InProgress => ecs::DeploymentRolloutState::InProgress,
            Rollout::Completed => ecs::DeploymentRolloutState::Completed,
            Rollout::Failed => ecs::DeploymentRolloutState::Failed,
        };
        b = b.deployments(
            ecs::Deployment::builder()
                .id(&d.id)
                .status(if d.primary { "PRIMARY" } else { "ACTIVE" })
                .task_definition(&d.td)
                .desired_count(if d.primary { s.desired } else { 0 })
                .failed_tasks(d.failed_tasks)
                .rollout_state(rollout)
                .set_rollout_state_reason(d.reason.clone())
                .created_at(ts(d.created_at))
                .updated_at(ts(w.now))
                .launch_type(ecs::LaunchType::Fargate)
                .network_configuration(network(d.content.config))
                .build(),
        );
    }
    b.build()
}

fn revision(r: &Rev, svc: &str) -> ecs::ServiceRevision {
    ecs::ServiceRevision::builder()
        .service_revision_arn(&r.arn)
        .service_arn(service_arn(svc))
        .cluster_arn(CLUSTER_ARN)
        .task_definition(&r.td)
        .launch_type(ecs::LaunchType::Fargate)
        .network_configuration(network(r.config))
        .container_images(
            ecs::ContainerImage::builder()
                .container_name("app")
                .image(&r.image)
                .image_digest(&r.digest)
                .build(),
        )
        .build()
}

fn ecs_rules(rules: &mut Vec<Rule>, world: &Shared) {
    use aws_sdk_ecs::operation::*;
    read_rule!(
        rules,
        world,
        aws_sdk_ecs::Client::describe_services,
        "DescribeServices",
        describe_services::DescribeServicesError,
        |w: &mut World, req: &describe_services::DescribeServicesInput| {
            let name = service_name(req.services().first().map(String::as_str).unwrap_or(""));
            let out = describe_services::DescribeServicesOutput::builder();
            MockResponse::Output(match w.svcs.iter().find(|s| s.name == name) {
                Some(s) => out.services(describe_service(w, s)).build(),
                None => out
                    .failures(
                        ecs::Failure::builder()
                            .arn(service_arn(name))
                            .reason("MISSING")
                            .build(),
                    )
                    .build(),
            })
        }
    );
    read_rule!(
        rules,
        world,
        aws_sdk_ecs::Client::list_service_deployments,
        "ListServiceDeployments",
        list_service_deployments::ListServiceDeploymentsError,
        |w: &mut World, req: &list_service_deployments::ListServiceDeploymentsInput| {
            let name = service_name(req.service().unwrap_or_default()).to_string();
            // The API documents no order: the simulator lists oldest first.
            let briefs = w
                .sds
                .iter()
                .filter(|d| d.service == name && w.now - d.created >= w.history_lag)
                .map(|d| {
                    ecs::ServiceDeploymentBrief::builder()
                        .service_deployment_arn(&d.arn)
                        .service_arn(service_arn(&name))
                        .cluster_arn(CLUSTER_ARN)
                        .status(ecs::ServiceDeploymentStatus::from(d.status.as_str()))
                        .target_service_revision_arn(&d.target_rev)
                        .created_at(ts(d.created))
                        .started_at(ts(d.created))
                        .set_finished_at(d.finished.map(ts))
                        .build()
                })
                .collect();
            MockResponse::Output(
                list_service_deployments::ListServiceDeploymentsOutput::builder()
                    .set_service_deployments(Some(briefs))
                    .build(),
            )
        }
    );
    read_rule!(
        rules,
        world,
        aws_sdk_ecs::Client::describe_service_deployments,
        "DescribeServiceDeployments",
        describe_service_deployments::DescribeServiceDeploymentsError,
        |w: &mut World, req: &describe_service_deployments::DescribeServiceDeploymentsInput| {
            let mut out = describe_service_deployments::DescribeServiceDeploymentsOutput::builder();
            for arn in req.service_deployment_arns() {
                let Some(d) = w.sds.iter().find(|d| &d.arn == arn) else {
                    out = out.failures(ecs::Failure::builder().arn(arn).reason("MISSING").build());
                    continue;
                };
                let strategy = match d.strategy {
                    Strategy::Rolling => ecs::DeploymentStrategy::Rolling,
                    Strategy::BlueGreen => ecs::DeploymentStrategy::BlueGreen,
                };
                let mut b = ecs::ServiceDeployment::builder()
                    .service_deployment_arn(&d.arn)
                    .service_arn(service_arn(&d.service))
                    .cluster_arn(CLUSTER_ARN)
                    .status(ecs::ServiceDeploymentStatus::from(d.status.as_str()))
                    .created_at(ts(d.created))
                    .started_at(ts(d.created))
                    .set_finished_at(d.finished.map(ts))
                    .target_service_revision(
                        ecs::ServiceRevisionSummary::builder()
                            .arn(&d.target_rev)
                            .build(),
                    )
                    .deployment_configuration(
                        ecs::DeploymentConfiguration::builder()
                            .strategy(strategy)
                            .build(),
                    );
                for s in &d.sources {
                    b = b.source_service_revisions(
                        ecs::ServiceRevisionSummary::builder().arn(s).build(),
                    );
                }
                // ECS API reference, ServiceDeployment.rollback: the revision ECS restored.
                if let Some(to) = &d.rollback_to {
                    b = b.rollback(
                        ecs::Rollback::builder()
                            .reason("rolled back")
                            .started_at(ts(d.finished.unwrap_or(d.created)))
                            .service_revision_arn(to)
                            .build(),
                    );
                }
                out = out.service_deployments(b.build());
            }
            MockResponse::Output(out.build())
        }
    );
    read_rule!(
        rules,
        world,
        aws_sdk_ecs::Client::describe_service_revisions,
        "DescribeServiceRevisions",
        describe_service_revisions::DescribeServiceRevisionsError,
        |w: &mut World, req: &describe_service_revisions::DescribeServiceRevisionsInput| {
            assert!(req.service_revision_arns().len() <= 20, "at most 20 ARNs");
            let mut out = describe_service_revisions::DescribeServiceRevisionsOutput::builder();
            for arn in req.service_revision_arns() {
                if let Some(r) = w.revs.iter().find(|r| &r.arn == arn) {
                    let svc = arn.rsplit('/').nth(1).unwrap_or_default();
                    out = out.service_revisions(revision(r, svc));
                }
            }
            MockResponse::Output(out.build())
        }
    );
    read_rule!(
        rules,
        world,
        aws_sdk_ecs::Client::describe_task_definition,
        "DescribeTaskDefinition",
        describe_task_definition::DescribeTaskDefinitionError,
        |w: &mut World, req: &describe_task_definition::DescribeTaskDefinitionInput| {
            let name = req.task_definition().unwrap_or_default();
            let found = match rev_of(name) {
                Some(_) => w.td(name).cloned(),
                // `family` alone: the latest ACTIVE revision (ECS API reference).
                None => w.tds.iter().rev().find(|t| t.active).cloned(),
            };
            let Some(t) = found else {
                return MockResponse::Error(
                    describe_task_definition::DescribeTaskDefinitionError::ClientException(
                        ecs::error::ClientException::builder()
                            .message("Unable to describe task definition.")
                            .build(),
                    ),
                );
            };
            let def = ecs::TaskDefinition::builder()
                .task_definition_arn(td_arn(t.rev))
                .family(FAMILY)
                .revision(t.rev as i32)
                .status(if t.active {
                    ecs::TaskDefinitionStatus::Active
                } else {
                    ecs::TaskDefinitionStatus::Inactive
                })
                .execution_role_arn("arn:aws:iam::123456789012:role/ecsTaskExecutionRole")
                .network_mode(ecs::NetworkMode::Awsvpc)
                .requires_compatibilities(ecs::Compatibility::Fargate)
                .cpu("256")
                .memory("512")
                .container_definitions(
                    ecs::ContainerDefinition::builder()
                        .name("app")
                        .image(&t.image)
                        .essential(true)
                        .build(),
                )
                .build();
            let include_tags = req.include().contains(&ecs::TaskDefinitionField::Tags);
            MockResponse::Output(
                describe_task_definition::DescribeTaskDefinitionOutput::builder()
                    .task_definition(def)
                    .set_tags(include_tags.then(|| tag_list(&t.tags)))
                    .build(),
            )
        }
    );
    read_rule!(
        rules,
        world,
        aws_sdk_ecs::Client::list_task_definitions,
        "ListTaskDefinitions",
        list_task_definitions::ListTaskDefinitionsError,
        |w: &mut World, req: &list_task_definitions::ListTaskDefinitionsInput| {
            let active = req.status() != Some(&ecs::TaskDefinitionStatus::Inactive);
            let mut arns: Vec<String> = w
                .tds
                .iter()
                .filter(|t| t.active == active)
                .map(|t| td_arn(t.rev))
                .collect();
            if req.sort() == Some(&ecs::SortOrder::Desc) {
                arns.reverse();
            }
            let max = req.max_results().unwrap_or(100).max(1) as usize;
            let start: usize = req.next_token().and_then(|t| t.parse().ok()).unwrap_or(0);
            let page: Vec<String> = arns.iter().skip(start).take(max).cloned().collect();
            let next = (start + max < arns.len()).then(|| (start + max).to_string());
            MockResponse::Output(
                list_task_definitions::ListTaskDefinitionsOutput::builder()
                    .set_task_definition_arns(Some(page))
                    .set_next_token(next)
                    .build(),
            )
        }
    );
    read_rule!(
        rules,
        world,
        aws_sdk_ecs::Client::list_tasks,
        "ListTasks",
        list_tasks::ListTasksError,
        |w: &mut World, req: &list_tasks::ListTasksInput| {
            let by = req.started_by().unwrap_or_default();
            // ECS API reference, ListTasks: stopped tasks stay listed for at least an hour.
            let now = w.now;
            let arns: Vec<String> = w
                .tasks
                .iter()
                .filter(|t| t.started_by == by && now - t.stopped_at < chrono::Duration::hours(1))
                .take(req.max_results().unwrap_or(100) as usize)
                .map(|t| t.arn.clone())
                .collect();
            MockResponse::Output(
                list_tasks::ListTasksOutput::builder()
                    .set_task_arns(Some(arns))
                    .build(),
            )
        }
    );
    read_rule!(
        rules,
        world,
        aws_sdk_ecs::Client::describe_tasks,
        "DescribeTasks",
        describe_tasks::DescribeTasksError,
        |w: &mut World, req: &describe_tasks::DescribeTasksInput| {
            let mut out = describe_tasks::DescribeTasksOutput::builder();
            for arn in req.tasks() {
                if let Some(t) = w.tasks.iter().find(|t| &t.arn == arn) {
                    let mut c = ecs::Container::builder().name("app").last_status("STOPPED");
                    if let Some(r) = &t.container_reason {
                        c = c.reason(r);
                    }
                    if let Some(code) = t.exit_code {
                        c = c.exit_code(code);
                    }
                    out = out.tasks(
                        ecs::Task::builder()
                            .task_arn(&t.arn)
                            .task_definition_arn(&t.td)
                            .started_by(&t.started_by)
                            .last_status("STOPPED")
                            .desired_status("STOPPED")
                            .stop_code(ecs::TaskStopCode::from(t.stop_code))
                            .stopped_reason(&t.reason)
                            .stopped_at(ts(t.stopped_at))
                            .containers(c.build())
                            .build(),
                    );
                }
            }
            MockResponse::Output(out.build())
        }
    );
    write_rule!(
        rules,
        world,
        aws_sdk_ecs::Client::update_service,
        "UpdateService",
        update_service::UpdateServiceError,
        |w: &mut World, req: &update_service::UpdateServiceInput| {
            let name = service_name(req.service().unwrap_or_default()).to_string();
            if !w.svcs.iter().any(|s| s.name == name) {
                return MockResponse::Error(
                    update_service::UpdateServiceError::ServiceNotFoundException(
                        ecs::error::ServiceNotFoundException::builder()
                            .message("Service not found.")
                            .build(),
                    ),
                );
            }
            let td = match req.task_definition() {
                Some(t) => match w.td(t) {
                    Some(d) => {
                        // ECS refuses UpdateService to an INACTIVE task definition.
                        if !d.active {
                            return MockResponse::Error(
                                update_service::UpdateServiceError::ClientException(
                                    ecs::error::ClientException::builder()
                                        .message(format!("TaskDefinition is inactive: {t}"))
                                        .build(),
                                ),
                            );
                        }
                        td_arn(d.rev)
                    }
                    None => {
                        return MockResponse::Error(
                            update_service::UpdateServiceError::ClientException(
                                ecs::error::ClientException::builder()
                                    .message("Unable to describe task definition.")
                                    .build(),
                            ),
                        )
                    }
                },
                None => w.svc(&name).td.clone(),
            };
            let config = req.network_configuration().and_then(config_of);
            let force = req.force_new_deployment() == Some(true);
            let before = w.svc(&name).primary().map(|p| (p.id.clone(), p.created_at));
            let target_tags = w.td(&td).map(|t| t.tags.clone()).unwrap_or_default();
            w.start_deployment(&name, &td, config, force);
            let content = w.svc(&name).primary().map(|p| p.content.clone());
            let inv = w.invocation;
            let at = w.now;
            w.writes.push(WriteRec {
                at,
                invocation: inv,
                op: "UpdateService",
                resource: name.clone(),
                detail: td.clone(),
                target: Some((td.clone(), target_tags)),
                content,
                changed: before,
            });
            let svc = describe_service(w, w.svc(&name));
            MockResponse::Output(
                update_service::UpdateServiceOutput::builder()
                    .service(svc)
                    .build(),
            )
        }
    );
    write_rule!(
        rules,
        world,
        aws_sdk_ecs::Client::stop_service_deployment,
        "StopServiceDeployment",
        stop_service_deployment::StopServiceDeploymentError,
        |w: &mut World, req: &stop_service_deployment::StopServiceDeploymentInput| {
            use stop_service_deployment::StopServiceDeploymentError as E;
            let arn = req.service_deployment_arn().unwrap_or_default().to_string();
            let Some(i) = w.sds.iter().position(|d| d.arn == arn) else {
                return MockResponse::Error(E::ServiceDeploymentNotFoundException(
                    ecs::error::ServiceDeploymentNotFoundException::builder()
                        .message("not found")
                        .build(),
                ));
            };
            let sd = w.sds[i].clone();
            let svc = w.svc(&sd.service).clone();
            let dep = svc.deps.iter().find(|d| d.id == sd.dep_id).cloned();
            // ECS API reference, StopServiceDeployment: only a deployment in flight can stop.
            let Some(dep) = dep.filter(|d| d.primary && sd.status == SdStatus::InProgress) else {
                return MockResponse::Error(E::ConflictException(
                    ecs::error::ConflictException::builder()
                        .message("The service deployment is not in progress.")
                        .build(),
                ));
            };
            let restored = svc
                .deps
                .iter()
                .find(|d| !d.primary && d.rollout == Rollout::Completed)
                .cloned();
            let target = restored.as_ref().map(|r| {
                (
                    r.td.clone(),
                    w.td(&r.td).map(|t| t.tags.clone()).unwrap_or_default(),
                )
            });
            if !w.ecs_restore(&sd.service, "Service deployment stopped", true) {
                return MockResponse::Error(E::ConflictException(
                    ecs::error::ConflictException::builder()
                        .message("No source revision to roll back to.")
                        .build(),
                ));
            }
            let inv = w.invocation;
            let at = w.now;
            w.writes.push(WriteRec {
                at,
                invocation: inv,
                op: "StopServiceDeployment",
                resource: sd.service.clone(),
                detail: arn.clone(),
                target,
                content: restored.map(|r| r.content),
                changed: Some((dep.id.clone(), dep.created_at)),
            });
            MockResponse::Output(
                stop_service_deployment::StopServiceDeploymentOutput::builder()
                    .service_deployment_arn(arn)
                    .build(),
            )
        }
    );
    write_rule!(
        rules,
        world,
        aws_sdk_ecs::Client::tag_resource,
        "TagResource",
        tag_resource::TagResourceError,
        |w: &mut World, req: &tag_resource::TagResourceInput| {
            use tag_resource::TagResourceError as E;
            let arn = req.resource_arn().unwrap_or_default().to_string();
            let new: Vec<(String, String)> = req
                .tags()
                .iter()
                .map(|t| {
                    (
                        t.key().unwrap_or_default().to_string(),
                        t.value().unwrap_or_default().to_string(),
                    )
                })
                .collect();
            let tags = if arn.contains(":service/") {
                let name = service_name(&arn).to_string();
                w.svcs
                    .iter_mut()
                    .find(|s| s.name == name)
                    .map(|s| &mut s.tags)
            } else {
                w.td_mut(&arn).map(|t| &mut t.tags)
            };
            let Some(tags) = tags else {
                return MockResponse::Error(E::ResourceNotFoundException(
                    ecs::error::ResourceNotFoundException::builder()
                        .message("The specified resource could not be found.")
                        .build(),
                ));
            };
            // ECS API reference, TagResource: at most 50 tags per resource.
            let mut after = tags.clone();
            after.extend(new.iter().cloned());
            if after.len() > 50 {
                return MockResponse::Error(E::InvalidParameterException(
                    ecs::error::InvalidParameterException::builder()
                        .message("Too many tags: a resource takes at most 50.")
                        .build(),
                ));
            }
            *tags = after;
            let detail = new
                .iter()
                .map(|(k, v)| format!("{k}={v}"))
                .collect::<Vec<_>>()
                .join(",");
            let (inv, at) = (w.invocation, w.now);
            w.writes.push(WriteRec {
                at,
                invocation: inv,
                op: "TagResource",
                resource: arn,
                detail,
                target: None,
                content: None,
                changed: None,
            });
            MockResponse::Output(tag_resource::TagResourceOutput::builder().build())
        }
    );
    write_rule!(
        rules,
        world,
        aws_sdk_ecs::Client::untag_resource,
        "UntagResource",
        untag_resource::UntagResourceError,
        |w: &mut World, req: &untag_resource::UntagResourceInput| {
            let arn = req.resource_arn().unwrap_or_default().to_string();
            let keys: Vec<String> = req.tag_keys().to_vec();
            let tags = if arn.contains(":service/") {
                let name = service_name(&arn).to_string();
                w.svcs
                    .iter_mut()
                    .find(|s| s.name == name)
                    .map(|s| &mut s.tags)
            } else {
                w.td_mut(&arn).map(|t| &mut t.tags)
            };
            if let Some(tags) = tags {
                for k in &keys {
                    tags.remove(k);
                }
            }
            let (inv, at) = (w.invocation, w.now);
            w.writes.push(WriteRec {
                at,
                invocation: inv,
                op: "UntagResource",
                resource: arn,
                detail: keys.join(","),
                target: None,
                content: None,
                changed: None,
            });
            MockResponse::Output(untag_resource::UntagResourceOutput::builder().build())
        }
    );
    write_rule!(
        rules,
        world,
        aws_sdk_ecs::Client::register_task_definition,
        "RegisterTaskDefinition",
        register_task_definition::RegisterTaskDefinitionError,
        |w: &mut World, req: &register_task_definition::RegisterTaskDefinitionInput| {
            let image = req
                .container_definitions()
                .first()
                .and_then(|c| c.image())
                .unwrap_or_default()
                .to_string();
            let tags: BTreeMap<String, String> = req
                .tags()
                .iter()
                .map(|t| {
                    (
                        t.key().unwrap_or_default().to_string(),
                        t.value().unwrap_or_default().to_string(),
                    )
                })
                .collect();
            let arn = w.register(&image, tags.clone());
            let (inv, at) = (w.invocation, w.now);
            w.writes.push(WriteRec {
                at,
                invocation: inv,
                op: "RegisterTaskDefinition",
                resource: arn.clone(),
                detail: image.clone(),
                target: None,
                content: None,
                changed: None,
            });
            let rev = rev_of(&arn).unwrap_or(0) as i32;
            MockResponse::Output(
                register_task_definition::RegisterTaskDefinitionOutput::builder()
                    .task_definition(
                        ecs::TaskDefinition::builder()
                            .task_definition_arn(arn)
                            .family(FAMILY)
                            .revision(rev)
                            .status(ecs::TaskDefinitionStatus::Active)
                            .container_definitions(
                                ecs::ContainerDefinition::builder()
                                    .name("app")
                                    .image(image)
                                    .build(),
                            )
                            .build(),
                    )
                    .set_tags(Some(tag_list(&tags)))
                    .build(),
            )
        }
    );
}

fn metric_alarm(w: &World, a: &Alarm) -> cw::MetricAlarm {
    let dim = |n: &str, v: &str| cw::Dimension::builder().name(n).value(v).build();
    cw::MetricAlarm::builder()
        .alarm_name(&a.name)
        .alarm_arn(alarm_arn(&a.name))
        .actions_enabled(true)
        .alarm_actions(LAMBDA_ARN)
        .namespace("Demo/Http")
        .metric_name("Http5xx")
        .statistic(cw::Statistic::Sum)
        .period(60)
        .evaluation_periods(3)
        .datapoints_to_alarm(3)
        .threshold(50.0)
        .comparison_operator(cw::ComparisonOperator::GreaterThanThreshold)
        .dimensions(dim("ClusterName", CLUSTER))
        .dimensions(dim("ServiceName", &a.service))
        .state_value(match a.state {
            AlarmState::Alarm => cw::StateValue::Alarm,
            AlarmState::Ok => cw::StateValue::Ok,
        })
        .state_reason("Threshold Crossed")
        // CloudWatch API reference, MetricAlarm: StateUpdatedTimestamp also moves on
        // evaluation updates; StateTransitionedTimestamp is the last state change.
        .state_updated_timestamp(ts(w.now.max(a.transitioned)))
        .state_transitioned_timestamp(ts(a.transitioned))
        .build()
}

fn cw_rules(rules: &mut Vec<Rule>, world: &Shared) {
    use aws_sdk_cloudwatch::operation::*;
    read_rule!(
        rules,
        world,
        aws_sdk_cloudwatch::Client::describe_alarms,
        "DescribeAlarms",
        describe_alarms::DescribeAlarmsError,
        |w: &mut World, req: &describe_alarms::DescribeAlarmsInput| {
            let names = req.alarm_names();
            let mut out = describe_alarms::DescribeAlarmsOutput::builder();
            for a in &w.alarms {
                if names.is_empty() || names.contains(&a.name) {
                    out = out.metric_alarms(metric_alarm(w, a));
                }
            }
            MockResponse::Output(out.build())
        }
    );
    read_rule!(
        rules,
        world,
        aws_sdk_cloudwatch::Client::list_tags_for_resource,
        "ListTagsForResource",
        list_tags_for_resource::ListTagsForResourceError,
        |w: &mut World, req: &list_tags_for_resource::ListTagsForResourceInput| {
            let arn = req.resource_arn().unwrap_or_default();
            let mut out = list_tags_for_resource::ListTagsForResourceOutput::builder();
            if let Some(a) = w.alarms.iter().find(|a| alarm_arn(&a.name) == arn) {
                if a.tagged {
                    for (k, v) in [
                        ("ecs-rollback:cluster", CLUSTER.to_string()),
                        ("ecs-rollback:service", a.service.clone()),
                    ] {
                        out = out.tags(cw::Tag::builder().key(k).value(v).build());
                    }
                }
            }
            MockResponse::Output(out.build())
        }
    );
    // No alarm mute rule in the simulated account.
    read_rule!(
        rules,
        world,
        aws_sdk_cloudwatch::Client::list_alarm_mute_rules,
        "ListAlarmMuteRules",
        list_alarm_mute_rules::ListAlarmMuteRulesError,
        |_w: &mut World, _req: &list_alarm_mute_rules::ListAlarmMuteRulesInput| {
            MockResponse::Output(list_alarm_mute_rules::ListAlarmMuteRulesOutput::builder().build())
        }
    );
}
