//! `continue`: answer a pause lifecycle hook holding the service's deployment — `CONTINUE`, or
//! `ROLLBACK` with `--rollback` (`ContinueServiceDeployment`, the hook found with
//! `DescribeServiceDeployments` → `lifecycleHookDetails`).

use serde_json::json;

use super::args::{ContinueArgs, Format};
use super::context::{manual_deps, Ctx};
use super::error::{CliError, Code};
use super::output::{print, print_json};
use crate::model::ServiceRef;

pub async fn run(ctx: &Ctx, args: &ContinueArgs) -> Result<Code, CliError> {
    let (cluster, service) = (&args.target.cluster, &args.target.service);
    let deps = manual_deps(&ctx.sdk, false, false)?;
    let target = ServiceRef {
        cluster: cluster.clone(),
        service: service.clone(),
    };
    let svc = deps
        .ecs
        .describe_service(&target)
        .await
        .map_err(|e| CliError::from(e).for_service(cluster, service))?;
    let in_flight = deps
        .ecs
        .in_flight(&svc)
        .await
        .map_err(|e| CliError::from(e).for_service(cluster, service))?;
    let name = format!("{}/{}", svc.cluster_name(), svc.service_name);
    let Some((deployment, hook)) = in_flight
        .iter()
        .find_map(|d| d.awaiting.first().map(|h| (d, h.clone())))
    else {
        return Err(CliError::nothing(format!(
            "{name}: no deployment is paused by a pause hook now"
        )));
    };
    deps.ecs
        .continue_deployment(&deployment.service_deployment_arn, &hook, args.rollback)
        .await
        .map_err(|e| CliError::from(e).for_service(cluster, service))?;
    let id = deployment
        .service_deployment_arn
        .rsplit('/')
        .next()
        .unwrap_or(&deployment.service_deployment_arn);
    let stage = deployment.lifecycle_stage.as_deref().unwrap_or("its stage");
    let (action, next) = if args.rollback {
        ("ROLLBACK", "ECS rolls the deployment back")
    } else {
        ("CONTINUE", "the deployment moves on to its next stage")
    };
    match ctx.format {
        Format::Json => print_json(&json!({
            "cluster": svc.cluster_name(),
            "service": svc.service_name,
            "deployment": deployment.service_deployment_arn,
            "hook": hook,
            "stage": deployment.lifecycle_stage,
            "action": action,
        })),
        Format::Text => print(&format!(
            "{name}: answered {action} to pause hook {hook} of deployment {id} at {stage}: {next}.\n  follow  ecs-rollback status -c {} -s {} --wait\n",
            svc.cluster_name(),
            svc.service_name
        )),
    }
    Ok(Code::Ok)
}
