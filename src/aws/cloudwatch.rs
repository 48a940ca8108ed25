//! CloudWatch adapter: which services an alarm guards (tags, dimensions, composite children).

use aws_sdk_cloudwatch::types::AlarmType;
use aws_sdk_cloudwatch::Client;

use super::aws_error;
use crate::error::Error;
use crate::model::ServiceRef;

#[derive(Clone, Debug)]
pub struct CloudWatch {
    pub client: Client,
}

/// What the responder needs of one alarm.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AlarmInfo {
    pub name: String,
    pub arn: Option<String>,
    /// `ClusterName` + `ServiceName` dimensions of its metrics.
    pub dimension_targets: Vec<ServiceRef>,
    /// Set for a composite alarm.
    pub alarm_rule: Option<String>,
    /// `AlarmActions`: an Application Auto Scaling alarm's are scaling-policy ARNs.
    pub actions: Vec<String>,
    /// `ActionsEnabled`.
    pub actions_enabled: Option<bool>,
}

impl CloudWatch {
    pub fn new(client: Client) -> Self {
        CloudWatch { client }
    }

    /// The alarm's tags; an alarm deleted since its event has none (its dimensions still count).
    pub async fn tags(&self, arn: &str) -> Result<Vec<(String, String)>, Error> {
        let out = match self
            .client
            .list_tags_for_resource()
            .resource_arn(arn)
            .send()
            .await
        {
            Ok(out) => out,
            Err(e)
                if e.as_service_error()
                    .is_some_and(|se| se.is_resource_not_found_exception()) =>
            {
                tracing::warn!(alarm = %arn, "alarm not found when reading its tags");
                return Ok(Vec::new());
            }
            Err(e) => return Err(aws_error("ListTagsForResource", e).into()),
        };
        Ok(out
            .tags()
            .iter()
            .filter_map(|t| {
                Some((
                    t.key()?.to_string(),
                    t.value().unwrap_or_default().to_string(),
                ))
            })
            .collect())
    }

    /// `DescribeAlarms` for these names (metric and composite alarms).
    pub async fn describe(&self, names: &[String]) -> Result<Vec<AlarmInfo>, Error> {
        if names.is_empty() {
            return Ok(Vec::new());
        }
        let out = self
            .client
            .describe_alarms()
            .set_alarm_names(Some(names.to_vec()))
            .alarm_types(AlarmType::MetricAlarm)
            .alarm_types(AlarmType::CompositeAlarm)
            .send()
            .await
            .map_err(|e| aws_error("DescribeAlarms", e))?;
        let mut alarms = Vec::new();
        for m in out.metric_alarms() {
            // Dimensions come per metric: pair ClusterName/ServiceName within each metric.
            let mut targets = Vec::new();
            let mut groups: Vec<Vec<&aws_sdk_cloudwatch::types::Dimension>> =
                vec![m.dimensions().iter().collect()];
            for q in m.metrics() {
                if let Some(metric) = q.metric_stat().and_then(|s| s.metric()) {
                    groups.push(metric.dimensions().iter().collect());
                }
            }
            for group in groups {
                let get = |n: &str| {
                    group
                        .iter()
                        .find(|d| d.name() == Some(n))
                        .and_then(|d| d.value())
                };
                if let (Some(cluster), Some(service)) = (get("ClusterName"), get("ServiceName")) {
                    let t = ServiceRef {
                        cluster: cluster.to_string(),
                        service: service.to_string(),
                    };
                    if !targets.contains(&t) {
                        targets.push(t);
                    }
                }
            }
            alarms.push(AlarmInfo {
                name: m.alarm_name().unwrap_or_default().to_string(),
                arn: m.alarm_arn().map(str::to_string),
                dimension_targets: targets,
                alarm_rule: None,
                actions: m.alarm_actions().to_vec(),
                actions_enabled: m.actions_enabled(),
            });
        }
        for c in out.composite_alarms() {
            alarms.push(AlarmInfo {
                name: c.alarm_name().unwrap_or_default().to_string(),
                arn: c.alarm_arn().map(str::to_string),
                dimension_targets: Vec::new(),
                alarm_rule: c.alarm_rule().map(str::to_string),
                actions: c.alarm_actions().to_vec(),
                actions_enabled: c.actions_enabled(),
            });
        }
        Ok(alarms)
    }
}
