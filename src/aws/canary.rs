//! The canary analysis's reads: the two revisions' target groups and their metrics.

use chrono::Duration;

use super::cloudwatch::CloudWatch;
use super::ecs::Ecs;
use crate::gate::CanaryRead;
use crate::model::{ServiceDeploymentInfo, Strategy, Time};

/// How far before the deployment the old revision's minutes are read: its baseline when it no
/// longer serves beside the new revision (after a whole traffic shift).
pub const CANARY_LOOKBACK_MINUTES: i64 = 15;
/// The longest window read (a stage held for hours compares its last three).
pub const CANARY_MAX_WINDOW_MINUTES: i64 = 180;

/// What the canary analysis compares for a service deployment: which target group serves which
/// revision (each service revision's `resolvedConfiguration.loadBalancers`, since the two target
/// groups swap roles from one deployment to the next), then both target groups' per-minute
/// metrics from CloudWatch. Used by the gate and by the CLI's `status`.
pub async fn read(
    ecs: &Ecs,
    cloudwatch: &CloudWatch,
    target_revision: &str,
    deployment: &ServiceDeploymentInfo,
    now: Time,
) -> CanaryRead {
    use CanaryRead::*;
    if deployment.strategy == Strategy::Rolling {
        return NotApplicable(
            "a rolling deployment has one target group for both revisions".into(),
        );
    }
    let mut arns = vec![target_revision.to_string()];
    arns.extend(deployment.source_revisions.iter().cloned());
    let revisions = match ecs.resolved_target_groups(&arns).await {
        Ok(r) => r,
        Err(e) => return Unreadable(format!("the service revisions could not be read ({e})")),
    };
    let Some((green_tg, green_rule)) = revisions.get(target_revision).cloned() else {
        return NotApplicable("the new revision resolves to no target group".into());
    };
    let Some((blue_tg, blue_rule)) = deployment
        .source_revisions
        .iter()
        .filter_map(|a| revisions.get(a))
        .find(|(tg, _)| *tg != green_tg)
        .cloned()
    else {
        return NotApplicable("the old revision has no target group of its own".into());
    };
    let Some(load_balancer) = green_rule
        .as_deref()
        .or(blue_rule.as_deref())
        .and_then(super::cloudwatch::load_balancer_dimension)
    else {
        return NotApplicable("no production listener rule names the load balancer".into());
    };
    let started = deployment
        .started_at
        .or(deployment.created_at)
        .unwrap_or(now);
    let start = (started - Duration::minutes(CANARY_LOOKBACK_MINUTES))
        .max(now - Duration::minutes(CANARY_MAX_WINDOW_MINUTES));
    match cloudwatch
        .alb_minutes(
            &load_balancer,
            &[green_tg.clone(), blue_tg.clone()],
            start,
            now,
        )
        .await
    {
        Ok(mut series) => {
            let blue = series.pop().unwrap_or_default();
            let green: Vec<_> = series
                .pop()
                .unwrap_or_default()
                .into_iter()
                .filter(|m| m.at >= started - Duration::minutes(1))
                .collect();
            Read {
                green_target_group: green_tg,
                blue_target_group: blue_tg,
                green,
                blue,
            }
        }
        Err(e) => Unreadable(format!("GetMetricData failed ({e})")),
    }
}
