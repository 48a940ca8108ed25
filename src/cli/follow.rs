//! `--wait`: follow a service's deployment of a task definition until it is steady or failed,
//! with a bounded poll of `DescribeServices` (never used by the Lambda). A spinner on a terminal,
//! else one line on stderr per change.

use std::io::IsTerminal;
use std::time::{Duration, Instant};

use aws_sdk_ecs::types::DeploymentRolloutState;
use indicatif::{ProgressBar, ProgressStyle};
use serde::Serialize;

use super::args::WaitArgs;
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
                "{cluster}/{service} was still deploying {td} after {} s (--wait-timeout); it goes on in ECS.\n",
                self.seconds
            ),
        }
    }
}

/// Poll until the deployment of `target` settles or `args.wait_timeout` passes.
pub async fn follow(
    ecs: &Ecs,
    cluster: &str,
    service: &str,
    target: &str,
    args: &WaitArgs,
) -> Result<Followed, CliError> {
    let started = Instant::now();
    let spinner = std::io::stderr().is_terminal().then(|| {
        let bar = ProgressBar::new_spinner();
        bar.set_style(
            ProgressStyle::with_template("{spinner} {msg}")
                .unwrap_or_else(|_| ProgressStyle::default_spinner()),
        );
        bar.enable_steady_tick(Duration::from_millis(120));
        bar
    });
    let mut last = String::new();
    let done = |settled: Settled| Followed {
        settled,
        task_definition: target.to_string(),
        seconds: started.elapsed().as_secs(),
    };
    let result = loop {
        let out = ecs
            .client
            .describe_services()
            .cluster(cluster)
            .services(service)
            .send()
            .await
            .map_err(|e| CliError::from(Error::from(aws_error("DescribeServices", e))))?;
        let Some(svc) = out.services().first() else {
            break Err(CliError::from(Error::Input(InputError::UnknownService {
                cluster: cluster.to_string(),
                service: service.to_string(),
            })));
        };
        let deployments = svc.deployments();
        let primary = deployments.iter().find(|d| d.status() == Some("PRIMARY"));
        let mine = deployments
            .iter()
            .filter(|d| {
                d.task_definition()
                    .is_some_and(|td| same_task_definition(td, target))
            })
            .max_by_key(|d| d.status() == Some("PRIMARY"));
        let Some(d) = mine else {
            let by = primary
                .and_then(|p| p.task_definition())
                .unwrap_or("another task definition");
            break Ok(done(Settled::Replaced { by: by.to_string() }));
        };
        if d.status() != Some("PRIMARY") {
            if let Some(by) = primary.and_then(|p| p.task_definition()) {
                break Ok(done(Settled::Replaced { by: by.to_string() }));
            }
        }
        match d.rollout_state() {
            Some(DeploymentRolloutState::Completed) => break Ok(done(Settled::Steady)),
            Some(DeploymentRolloutState::Failed) => {
                let reason = d
                    .rollout_state_reason()
                    .unwrap_or("ECS reports the rollout FAILED")
                    .to_string();
                break Ok(done(Settled::Failed { reason }));
            }
            None if deployments.len() == 1 && d.running_count() == d.desired_count() => {
                break Ok(done(Settled::Steady))
            }
            _ => {}
        }
        let elapsed = started.elapsed();
        let state = format!(
            "{}: {} {}, running {}/{}, pending {}, failed tasks {}",
            short_task_definition(target),
            d.status().unwrap_or("?"),
            d.rollout_state().map(|s| s.as_str()).unwrap_or("?"),
            d.running_count(),
            d.desired_count(),
            d.pending_count(),
            d.failed_tasks(),
        );
        match &spinner {
            Some(bar) => bar.set_message(format!("{state} ({} s)", elapsed.as_secs())),
            None if state != last => note(&format!("  waiting: {state}")),
            None => {}
        }
        last = state;
        if elapsed >= args.wait_timeout {
            break Ok(done(Settled::TimedOut));
        }
        let pause = args.poll_interval.min(args.wait_timeout - elapsed);
        tokio::time::sleep(pause).await;
    };
    if let Some(bar) = spinner {
        bar.finish_and_clear();
    }
    result
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
