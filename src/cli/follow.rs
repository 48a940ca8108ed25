//! `--wait`: follow a service's deployment of a task definition until it is steady or failed,
//! with a bounded poll of `DescribeServices` (never used by the Lambda). A spinner on a terminal,
//! else one line on stderr per change.

use std::collections::HashSet;
use std::io::IsTerminal;
use std::time::{Duration, Instant};

use aws_sdk_ecs::types::DeploymentRolloutState;
use indicatif::{ProgressBar, ProgressStyle};
use serde::Serialize;

use super::args::Timing;
use super::error::{CliError, Code};
use super::output::note;
use crate::aws::aws_error;
use crate::aws::ecs::Ecs;
use crate::decision::same_task_definition;
use crate::error::{Error, InputError};
use crate::model::short_task_definition;

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "outcome", rename_all = "snake_case")]
pub enum Settled {
    /// The deployment completed: the service is steady on the target.
    Steady,
    /// The deployment failed (ECS's rollout state reason).
    Failed { reason: String },
    /// Another deployment replaced it.
    Replaced { by: String },
    /// Still in progress when the wait timed out.
    TimedOut,
    /// Ctrl-C: the CLI stopped waiting; the deployment goes on in ECS.
    Interrupted,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Followed {
    #[serde(flatten)]
    pub settled: Settled,
    pub task_definition: String,
    pub seconds: u64,
}

impl Followed {
    pub fn code(&self) -> Code {
        match self.settled {
            Settled::Steady => Code::Ok,
            Settled::Failed { .. } | Settled::Replaced { .. } => Code::DeploymentFailed,
            Settled::TimedOut => Code::TimedOut,
            Settled::Interrupted => Code::Interrupted,
        }
    }

    /// One line for people.
    pub fn text(&self, cluster: &str, service: &str) -> String {
        let td = short_task_definition(&self.task_definition);
        match &self.settled {
            Settled::Steady => format!(
                "{cluster}/{service} is steady on {td} ({} s).\n",
                self.seconds
            ),
            Settled::Failed { reason } => format!(
                "The deployment of {td} to {cluster}/{service} failed after {} s: {reason}\n",
                self.seconds
            ),
            Settled::Replaced { by } => format!(
                "The deployment of {td} to {cluster}/{service} was replaced by a deployment of {} after {} s.\n",
                short_task_definition(by),
                self.seconds
            ),
            Settled::TimedOut => format!(
                "{cluster}/{service} was still deploying {td} after {} s (--wait-timeout); it goes on in ECS: `ecs-rollback status -c {cluster} -s {service} --wait` follows it.\n",
                self.seconds
            ),
            Settled::Interrupted => format!(
                "Interrupted after {} s: only the waiting stopped; the deployment of {td} to {cluster}/{service} goes on in ECS. `ecs-rollback status -c {cluster} -s {service} --wait` follows it again.\n",
                self.seconds
            ),
        }
    }
}

/// Clears the spinner however the wait ends (settled, error, Ctrl-C).
pub(super) struct Spinner(Option<ProgressBar>);

impl Spinner {
    /// A spinner when `wanted` and stderr is a terminal; else progress goes as lines.
    pub(super) fn new(wanted: bool) -> Spinner {
        Spinner((wanted && std::io::stderr().is_terminal()).then(|| {
            let bar = ProgressBar::new_spinner();
            // `wide_msg` cuts the message to the terminal's width: a wrapped spinner line is
            // not cleared whole at the end and stays behind.
            bar.set_style(
                ProgressStyle::with_template("{spinner} {wide_msg}")
                    .unwrap_or_else(|_| ProgressStyle::default_spinner()),
            );
            bar.enable_steady_tick(Duration::from_millis(120));
            bar
        }))
    }

    /// The spinner's message; false when there is no spinner (say it as a line instead).
    pub(super) fn status(&self, text: String) -> bool {
        match &self.0 {
            Some(bar) => {
                bar.set_message(text);
                true
            }
            None => false,
        }
    }

    /// A line above the spinner (or on stderr when there is none).
    pub(super) fn line(&self, text: &str) {
        match &self.0 {
            Some(bar) => bar.suspend(|| note(text)),
            None => note(text),
        }
    }
}

impl Drop for Spinner {
    fn drop(&mut self) {
        if let Some(bar) = self.0.take() {
            bar.finish_and_clear();
        }
    }
}

/// The service events (`DescribeServices` → `events`, newest first) that were not there before,
/// oldest first, as lines; the first call only remembers what is there when the wait begins.
pub(super) fn fresh_events(
    seen: &mut Option<HashSet<String>>,
    events: &[aws_sdk_ecs::types::ServiceEvent],
) -> Vec<String> {
    let ids = || events.iter().filter_map(|e| e.id().map(str::to_string));
    let Some(seen) = seen else {
        *seen = Some(ids().collect());
        return Vec::new();
    };
    let mut fresh: Vec<&aws_sdk_ecs::types::ServiceEvent> = events
        .iter()
        .filter(|e| e.id().is_some_and(|id| !seen.contains(id)))
        .collect();
    fresh.reverse();
    fresh
        .into_iter()
        .map(|e| {
            if let Some(id) = e.id() {
                seen.insert(id.to_string());
            }
            event_line(e)
        })
        .collect()
}

/// `  2026-12-01 09:10:00  (service hello-world) has reached a steady state.`
fn event_line(e: &aws_sdk_ecs::types::ServiceEvent) -> String {
    let at = e
        .created_at()
        .and_then(crate::aws::to_time)
        .map(|t| super::output::time(&t))
        .unwrap_or_default();
    format!("  event {at}  {}", e.message().unwrap_or(""))
}

/// Poll until the deployment of `target` (or, with `None`, of whatever the primary deployment
/// deploys when the wait starts) settles, `timing.wait_timeout` passes, or Ctrl-C. New service
/// events are printed as they arrive.
pub async fn follow(
    ecs: &Ecs,
    cluster: &str,
    service: &str,
    target: Option<&str>,
    timing: &Timing,
) -> Result<Followed, CliError> {
    follow_with(ecs, cluster, service, target, timing, true).await
}

/// [`follow`]; `spinner` false: progress as lines only (several services followed at once).
pub async fn follow_with(
    ecs: &Ecs,
    cluster: &str,
    service: &str,
    target: Option<&str>,
    timing: &Timing,
    spinner: bool,
) -> Result<Followed, CliError> {
    let spinner = Spinner::new(spinner);
    let watched = async {
        tokio::select! {
            r = poll(ecs, cluster, service, target, timing, &spinner) => r,
            _ = super::interrupt::interrupted() => Ok(None),
        }
    };
    let started = Instant::now();
    let result = watched.await;
    drop(spinner);
    match result {
        Ok(Some(f)) => Ok(f),
        Ok(None) => Ok(Followed {
            settled: Settled::Interrupted,
            task_definition: target.unwrap_or("the primary deployment").to_string(),
            seconds: started.elapsed().as_secs(),
        }),
        Err(e) => Err(e.for_service(cluster, service)),
    }
}

async fn poll(
    ecs: &Ecs,
    cluster: &str,
    service: &str,
    target: Option<&str>,
    timing: &Timing,
    spinner: &Spinner,
) -> Result<Option<Followed>, CliError> {
    let started = Instant::now();
    let mut target: Option<String> = target.map(str::to_string);
    let mut seen: Option<HashSet<String>> = None;
    let mut last = String::new();
    loop {
        let out = ecs
            .client
            .describe_services()
            .cluster(cluster)
            .services(service)
            .send()
            .await
            .map_err(|e| CliError::from(Error::from(aws_error("DescribeServices", e))))?;
        let Some(svc) = out.services().first() else {
            return Err(CliError::from(Error::Input(InputError::UnknownService {
                cluster: cluster.to_string(),
                service: service.to_string(),
            })));
        };
        // Service events, oldest first, that were not there when the wait began.
        for line in fresh_events(&mut seen, svc.events()) {
            spinner.line(&line);
        }
        let deployments = svc.deployments();
        let primary = deployments.iter().find(|d| d.status() == Some("PRIMARY"));
        let target_td = match &target {
            Some(t) => t.clone(),
            None => {
                let t = primary
                    .and_then(|p| p.task_definition())
                    .or(svc.task_definition())
                    .unwrap_or_default()
                    .to_string();
                target = Some(t.clone());
                t
            }
        };
        let done = |settled: Settled| {
            Ok(Some(Followed {
                settled,
                task_definition: target_td.clone(),
                seconds: started.elapsed().as_secs(),
            }))
        };
        let mine = deployments
            .iter()
            .filter(|d| {
                d.task_definition()
                    .is_some_and(|td| same_task_definition(td, &target_td))
            })
            .max_by_key(|d| d.status() == Some("PRIMARY"));
        let Some(d) = mine else {
            let by = primary
                .and_then(|p| p.task_definition())
                .unwrap_or("another task definition");
            return done(Settled::Replaced { by: by.to_string() });
        };
        if d.status() != Some("PRIMARY") {
            if let Some(by) = primary.and_then(|p| p.task_definition()) {
                return done(Settled::Replaced { by: by.to_string() });
            }
        }
        match d.rollout_state() {
            Some(DeploymentRolloutState::Completed) => return done(Settled::Steady),
            Some(DeploymentRolloutState::Failed) => {
                let reason = d
                    .rollout_state_reason()
                    .unwrap_or("ECS reports the rollout FAILED")
                    .to_string();
                return done(Settled::Failed { reason });
            }
            None if deployments.len() == 1 && d.running_count() == d.desired_count() => {
                return done(Settled::Steady)
            }
            _ => {}
        }
        let elapsed = started.elapsed();
        let state = format!(
            "{}: {} {}, desired {}, running {}, pending {}, failed tasks {}",
            short_task_definition(&target_td),
            d.status().unwrap_or("?"),
            d.rollout_state().map(|s| s.as_str()).unwrap_or("?"),
            d.desired_count(),
            d.running_count(),
            d.pending_count(),
            d.failed_tasks(),
        );
        match &spinner.0 {
            Some(bar) => bar.set_message(format!("{state} ({} s)", elapsed.as_secs())),
            None if state != last => note(&format!("  waiting: {cluster}/{service} {state}")),
            None => {}
        }
        last = state;
        if elapsed >= timing.wait_timeout {
            return done(Settled::TimedOut);
        }
        let pause = timing.poll_interval.min(timing.wait_timeout - elapsed);
        tokio::time::sleep(pause).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn outcomes_map_to_exit_codes_and_sentences() {
        let td = "arn:aws:ecs:eu-west-1:123456789012:task-definition/hello-world:2";
        let f = |settled| Followed {
            settled,
            task_definition: td.into(),
            seconds: 42,
        };
        let steady = f(Settled::Steady);
        assert_eq!(steady.code(), Code::Ok);
        assert_eq!(
            steady.text("demo", "hello-world"),
            "demo/hello-world is steady on hello-world:2 (42 s).\n"
        );
        assert_eq!(
            f(Settled::Failed {
                reason: "tasks failed to start".into()
            })
            .code(),
            Code::DeploymentFailed
        );
        assert_eq!(f(Settled::TimedOut).code(), Code::TimedOut);
        let json = serde_json::to_value(f(Settled::Replaced {
            by: "hello-world:4".into(),
        }))
        .unwrap();
        assert_eq!(json["outcome"], "replaced");
        assert_eq!(json["by"], "hello-world:4");
        assert_eq!(json["seconds"], 42);
    }
}
