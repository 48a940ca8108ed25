//! CloudWatch adapter: which services an alarm guards (tags, dimensions, composite children).

use crate::deadline::Bounded;
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
    /// `StateValue`: the alarm's state in CloudWatch now.
    pub state: Option<crate::model::AlarmState>,
    /// When it entered that state (`StateTransitionedTimestamp`, else `StateUpdatedTimestamp`).
    pub since: Option<crate::model::Time>,
}

impl CloudWatch {
    pub fn new(client: Client) -> Self {
        CloudWatch { client }
    }

    /// The alarm mute rules that mute `alarm`'s actions now (`ListAlarmMuteRules`, status
    /// ACTIVE): their names. CloudWatch keeps evaluating a muted alarm and still emits its state
    /// changes to EventBridge; only its actions are muted (CloudWatch User Guide, "Alarm mute
    /// rules"), so the responder honours the mute itself.
    pub async fn active_mute_rules(&self, alarm: &str) -> Result<Vec<String>, Error> {
        let out = self
            .client
            .list_alarm_mute_rules()
            .alarm_name(alarm)
            .statuses(aws_sdk_cloudwatch::types::AlarmMuteRuleStatus::Active)
            .send()
            .bounded()
            .await
            .map_err(|e| aws_error("ListAlarmMuteRules", e))?;
        Ok(out
            .alarm_mute_rule_summaries()
            .iter()
            .filter(|r| r.status() == Some(&aws_sdk_cloudwatch::types::AlarmMuteRuleStatus::Active))
            .filter_map(|r| r.alarm_mute_rule_arn())
            .map(|arn| arn.rsplit([':', '/']).next().unwrap_or(arn).to_string())
            .collect())
    }

    /// The alarm's tags; an alarm deleted since its event has none (its dimensions still count).
    pub async fn tags(&self, arn: &str) -> Result<Vec<(String, String)>, Error> {
        let out = match self
            .client
            .list_tags_for_resource()
            .resource_arn(arn)
            .send()
            .bounded()
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
            .bounded()
            .await
            .map_err(|e| aws_error("DescribeAlarms", e))?;
        let mut alarms: Vec<AlarmInfo> =
            out.metric_alarms().iter().map(metric_alarm_info).collect();
        alarms.extend(out.composite_alarms().iter().map(composite_alarm_info));
        Ok(alarms)
    }
}

/// A metric alarm's rule-4 facts. Dimensions come per metric: `ClusterName`/`ServiceName` are
/// paired within the alarm's own dimensions and within each metric-math query's metric.
fn metric_alarm_info(m: &aws_sdk_cloudwatch::types::MetricAlarm) -> AlarmInfo {
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
    AlarmInfo {
        name: m.alarm_name().unwrap_or_default().to_string(),
        arn: m.alarm_arn().map(str::to_string),
        dimension_targets: targets,
        alarm_rule: None,
        actions: m.alarm_actions().to_vec(),
        actions_enabled: m.actions_enabled(),
        state: m.state_value().map(|v| state_of(Some(v))),
        since: time_of(
            m.state_transitioned_timestamp()
                .or(m.state_updated_timestamp()),
        ),
    }
}

/// A composite alarm's rule-4 facts: its rule names the children that are judged.
fn composite_alarm_info(c: &aws_sdk_cloudwatch::types::CompositeAlarm) -> AlarmInfo {
    AlarmInfo {
        name: c.alarm_name().unwrap_or_default().to_string(),
        arn: c.alarm_arn().map(str::to_string),
        dimension_targets: Vec::new(),
        alarm_rule: c.alarm_rule().map(str::to_string),
        actions: c.alarm_actions().to_vec(),
        actions_enabled: c.actions_enabled(),
        state: c.state_value().map(|v| state_of(Some(v))),
        since: time_of(
            c.state_transitioned_timestamp()
                .or(c.state_updated_timestamp()),
        ),
    }
}

/// Pages of `DescribeAlarms` the gate's tag scan reads at most (100 alarms a page).
pub const GATE_SCAN_PAGES: usize = 5;
/// Tag reads the gate's scan makes at most (one `ListTagsForResource` per candidate).
pub const GATE_SCAN_TAG_READS: usize = 20;

/// An alarm as the gate needs it: the rule-4 facts, the dimensions, and its state.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GateAlarmRead {
    pub info: AlarmInfo,
    pub alarm: crate::gate::GateAlarm,
}

fn state_of(v: Option<&aws_sdk_cloudwatch::types::StateValue>) -> crate::model::AlarmState {
    use aws_sdk_cloudwatch::types::StateValue;
    match v {
        Some(StateValue::Alarm) => crate::model::AlarmState::Alarm,
        Some(StateValue::Ok) => crate::model::AlarmState::Ok,
        _ => crate::model::AlarmState::InsufficientData,
    }
}

fn time_of(t: Option<&aws_sdk_cloudwatch::primitives::DateTime>) -> Option<crate::model::Time> {
    t.and_then(|t| chrono::DateTime::from_timestamp(t.secs(), t.subsec_nanos()))
}

impl CloudWatch {
    /// One `DescribeAlarms` page (metric and composite alarms) with states, for the gate:
    /// `names` = those alarms, `None` = every alarm of the account and region.
    async fn gate_page(
        &self,
        names: Option<&[String]>,
        token: Option<String>,
    ) -> Result<(Vec<GateAlarmRead>, Option<String>), Error> {
        let out = self
            .client
            .describe_alarms()
            .set_alarm_names(names.map(<[String]>::to_vec))
            .alarm_types(AlarmType::MetricAlarm)
            .alarm_types(AlarmType::CompositeAlarm)
            .max_records(100)
            .set_next_token(token)
            .send()
            .bounded()
            .await
            .map_err(|e| aws_error("DescribeAlarms", e))?;
        let infos = {
            let mut v = Vec::new();
            for m in out.metric_alarms() {
                // Period × datapoints: a metric-math alarm's period is its queries' (the largest).
                let period = m
                    .period()
                    .or_else(|| {
                        m.metrics()
                            .iter()
                            .filter_map(|q| q.metric_stat().and_then(|s| s.period()).or(q.period()))
                            .max()
                    })
                    .unwrap_or(60);
                let points = m
                    .datapoints_to_alarm()
                    .or(m.evaluation_periods())
                    .unwrap_or(1);
                v.push(GateAlarmRead {
                    info: metric_alarm_info(m),
                    alarm: crate::gate::GateAlarm {
                        name: m.alarm_name().unwrap_or_default().to_string(),
                        state: state_of(m.state_value()),
                        // The last state change (StateUpdatedTimestamp also moves on evaluation-state updates).
                        state_updated: time_of(
                            m.state_transitioned_timestamp()
                                .or(m.state_updated_timestamp()),
                        ),
                        window: chrono::Duration::seconds(
                            i64::from(period.max(1)) * i64::from(points.max(1)),
                        ),
                        reason: m.state_reason().unwrap_or_default().to_string(),
                    },
                });
            }
            for c in out.composite_alarms() {
                v.push(GateAlarmRead {
                    info: composite_alarm_info(c),
                    alarm: crate::gate::GateAlarm {
                        name: c.alarm_name().unwrap_or_default().to_string(),
                        state: state_of(c.state_value()),
                        state_updated: time_of(
                            c.state_transitioned_timestamp()
                                .or(c.state_updated_timestamp()),
                        ),
                        window: chrono::Duration::zero(),
                        reason: c.state_reason().unwrap_or_default().to_string(),
                    },
                });
            }
            v
        };
        Ok((infos, out.next_token().map(str::to_string)))
    }

    /// The named alarms with their states (100 names a call).
    pub async fn gate_alarms(&self, names: &[String]) -> Result<Vec<GateAlarmRead>, Error> {
        let mut all = Vec::new();
        for chunk in names.chunks(100) {
            let (page, _) = self.gate_page(Some(chunk), None).await?;
            all.extend(page);
        }
        Ok(all)
    }

    /// Alarms whose tags may name `target` (the gate's scan, once per hook execution): CloudWatch
    /// cannot filter alarms by tag, so the scan reads at most [`GATE_SCAN_PAGES`] pages and reads
    /// the tags of the alarms that name the service in their name or dimensions only, at most
    /// [`GATE_SCAN_TAG_READS`]. Answers each candidate with whether its tags name the service.
    pub async fn gate_tagged_candidates(
        &self,
        target: &ServiceRef,
    ) -> Result<Vec<(GateAlarmRead, bool)>, Error> {
        let all = super::paginate(GATE_SCAN_PAGES, |token| self.gate_page(None, token)).await?;
        let mut out = Vec::new();
        for read in all {
            let named = read.info.name.contains(&target.service)
                || read.info.dimension_targets.iter().any(|t| t == target);
            if !named {
                continue;
            }
            if out.len() >= GATE_SCAN_TAG_READS {
                tracing::warn!(service = %target.service, "the gate's alarm scan hit its bound; list further alarms in ecs-rollback:gate-alarms");
                break;
            }
            let tagged = match &read.info.arn {
                Some(arn) => {
                    let tags = self.tags(arn).await?;
                    crate::event::targets_from_tags(
                        tags.iter().map(|(k, v)| (k.as_str(), v.as_str())),
                    )
                    .contains(target)
                }
                None => false,
            };
            out.push((read, tagged));
        }
        Ok(out)
    }
}

/// The `LoadBalancer` dimension (`app/<name>/<id>`) of an Application Load Balancer, from the
/// ARN of the load balancer, one of its listeners or listener rules (Elastic Load Balancing
/// ARN formats: `loadbalancer/app/…`, `listener/app/…`, `listener-rule/app/…`).
pub fn load_balancer_dimension(arn: &str) -> Option<String> {
    let resource = arn.splitn(6, ':').nth(5)?;
    let rest = ["loadbalancer/", "listener/", "listener-rule/"]
        .iter()
        .find_map(|p| resource.strip_prefix(p))?;
    let mut parts = rest.split('/');
    let (kind, name, id) = (parts.next()?, parts.next()?, parts.next()?);
    (kind == "app" && !name.is_empty() && !id.is_empty()).then(|| format!("app/{name}/{id}"))
}

/// The `TargetGroup` dimension (`targetgroup/<name>/<id>`) of a target group ARN.
pub fn target_group_dimension(arn: &str) -> Option<String> {
    let resource = arn.splitn(6, ':').nth(5)?;
    let rest = resource.strip_prefix("targetgroup/")?;
    let mut parts = rest.split('/');
    let (name, id) = (parts.next()?, parts.next()?);
    (!name.is_empty() && !id.is_empty()).then(|| format!("targetgroup/{name}/{id}"))
}

impl CloudWatch {
    /// Per-minute `RequestCount`, `HTTPCode_Target_5XX_Count` (Sum) and `TargetResponseTime`
    /// (Average) of target groups behind one Application Load Balancer, from `start` to the
    /// last whole minute before `now` (`GetMetricData`, period 60 s, both dimensions as the load
    /// balancer publishes them: Elastic Load Balancing User Guide, "CloudWatch metrics for your
    /// Application Load Balancer"). A minute without a `RequestCount` datapoint had no request;
    /// a missing 5xx count is 0 (it is published only when not zero). One series per target
    /// group, in the order given.
    pub async fn alb_minutes(
        &self,
        load_balancer: &str,
        target_groups: &[String],
        start: crate::model::Time,
        now: crate::model::Time,
    ) -> Result<Vec<Vec<crate::canary::Minute>>, Error> {
        use aws_sdk_cloudwatch::types::{Dimension, Metric, MetricDataQuery, MetricStat, ScanBy};
        use aws_smithy_types::DateTime;
        const METRICS: [(&str, &str); 3] = [
            ("RequestCount", "Sum"),
            ("HTTPCode_Target_5XX_Count", "Sum"),
            ("TargetResponseTime", "Average"),
        ];
        let end = now.timestamp() - now.timestamp().rem_euclid(60);
        let start = start.timestamp() - start.timestamp().rem_euclid(60);
        let mut queries = Vec::new();
        for (t, tg) in target_groups.iter().enumerate() {
            let dimension = target_group_dimension(tg).ok_or_else(|| {
                Error::Input(crate::error::InputError::Invalid {
                    field: "targetGroupArn".into(),
                    why: format!("{tg:?} is not a target group ARN"),
                })
            })?;
            for (m, (name, stat)) in METRICS.iter().enumerate() {
                let metric = Metric::builder()
                    .namespace("AWS/ApplicationELB")
                    .metric_name(*name)
                    .dimensions(
                        Dimension::builder()
                            .name("TargetGroup")
                            .value(&dimension)
                            .build(),
                    )
                    .dimensions(
                        Dimension::builder()
                            .name("LoadBalancer")
                            .value(load_balancer)
                            .build(),
                    )
                    .build();
                queries.push(
                    MetricDataQuery::builder()
                        .id(format!("q{t}m{m}"))
                        .metric_stat(
                            MetricStat::builder()
                                .metric(metric)
                                .period(60)
                                .stat(*stat)
                                .build(),
                        )
                        .return_data(true)
                        .build(),
                );
            }
        }
        // (target group, metric) → minute → value
        let mut values: std::collections::BTreeMap<
            (usize, usize),
            std::collections::BTreeMap<i64, f64>,
        > = Default::default();
        let mut token: Option<String> = None;
        for _ in 0..10 {
            let out = self
                .client
                .get_metric_data()
                .set_metric_data_queries(Some(queries.clone()))
                .start_time(DateTime::from_secs(start))
                .end_time(DateTime::from_secs(end))
                .scan_by(ScanBy::TimestampAscending)
                .set_next_token(token.clone())
                .send()
                .bounded()
                .await
                .map_err(|e| aws_error("GetMetricData", e))?;
            for r in out.metric_data_results() {
                let Some(id) = r.id() else { continue };
                let Some((t, m)) = id
                    .strip_prefix('q')
                    .and_then(|s| s.split_once('m'))
                    .and_then(|(t, m)| Some((t.parse().ok()?, m.parse().ok()?)))
                else {
                    continue;
                };
                let entry = values.entry((t, m)).or_default();
                for (ts, v) in r.timestamps().iter().zip(r.values()) {
                    entry.insert(ts.secs(), *v);
                }
            }
            token = out.next_token().map(str::to_string);
            if token.is_none() {
                break;
            }
        }
        Ok((0..target_groups.len())
            .map(|t| {
                let get = |m: usize, at: i64| values.get(&(t, m)).and_then(|v| v.get(&at)).copied();
                values
                    .get(&(t, 0))
                    .map(|requests| {
                        requests
                            .iter()
                            .filter_map(|(at, requests)| {
                                Some(crate::canary::Minute {
                                    at: chrono::DateTime::from_timestamp(*at, 0)?,
                                    requests: *requests,
                                    errors: get(1, *at).unwrap_or(0.0),
                                    latency: get(2, *at),
                                })
                            })
                            .collect()
                    })
                    .unwrap_or_default()
            })
            .collect())
    }
}
