//! Which task stops are the new revision's fault (early detection, within the alarm window).
//!
//! Pure. Sources: the ECS Developer Guide "Amazon ECS stopped tasks error messages"
//! (`stopped-task-error-codes.html`: the `stopCode` values and what each covers),
//! "CannotPullContainer task errors" (`task_cannot_pull_image.html`), "ResourceInitializationError"
//! (`resource-initialization-error.html`), and "Health checks for tasks" / load-balancer health
//! checks (`load-balancer-healthcheck.html`: the scheduler stops a task that fails ELB or
//! container health checks with `stopCode: ServiceSchedulerInitiated` and a reason saying so).

/// Why a stopped task counts against the revision, or why it does not.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// The revision can cause this: its containers exit, cannot start, name a missing image, or
    /// fail their health checks.
    Fault(&'static str),
    /// Not the revision's doing (capacity, throttling, registry or network trouble, a person, a
    /// scale-in or replacement): never counts.
    NotFault(String),
}

/// Stop codes that can be the revision's fault (subject to the reason checks below).
pub const FAULT_STOP_CODES: &[&str] = &[
    "EssentialContainerExited",
    "TaskFailedToStart",
    "ServiceSchedulerInitiated",
];

/// `stoppedReason` prefixes of the scheduler's health-check kills (ECS writes these verbatim).
const HEALTH_CHECK_KILLS: &[&str] = &[
    "task failed elb health checks",
    "task failed container health checks",
];

/// Markers of trouble outside the revision in a start failure: registry throttling and outages,
/// network timeouts, ECS or container-runtime faults. Compared lower-cased.
const INFRASTRUCTURE_MARKERS: &[&str] = &[
    "toomanyrequests",
    "too many requests",
    "rate exceeded",
    "throttl",
    "i/o timeout",
    "context deadline exceeded",
    "timeout",
    "timed out",
    "connection reset",
    "connection refused",
    "no such host",
    "service unavailable",
    "503",
    "502",
    "500 internal",
    "internalerror",
    "containerruntimeerror",
    "containerruntimetimeouterror",
    "resourceinitializationerror",
];

/// Markers of an image reference the revision got wrong (a `CannotPullContainerError` that is the
/// revision's fault): the tag or repository does not exist, or the reference is malformed.
const MISSING_IMAGE_MARKERS: &[&str] = &[
    "not found",
    "manifest unknown",
    "does not exist",
    "invalid reference format",
    "repository does not exist",
];

/// Classify one stopped task from what ECS wrote: `stopCode`, `stoppedReason`, and the
/// containers' `reason`s.
pub fn classify(stop_code: &str, stopped_reason: &str, container_reasons: &[&str]) -> Verdict {
    let reason = stopped_reason.to_ascii_lowercase();
    let containers: Vec<String> = container_reasons
        .iter()
        .map(|r| r.to_ascii_lowercase())
        .collect();
    let all = std::iter::once(reason.as_str())
        .chain(containers.iter().map(String::as_str))
        .collect::<Vec<_>>()
        .join(" | ");
    match stop_code {
        "EssentialContainerExited" => Verdict::Fault("an essential container exited"),
        "ServiceSchedulerInitiated" => {
            if HEALTH_CHECK_KILLS.iter().any(|k| reason.starts_with(k)) {
                Verdict::Fault("the task failed its health checks")
            } else {
                Verdict::NotFault(format!(
                    "the scheduler stopped it ({}): a scale-in, replacement or maintenance stop",
                    short(stopped_reason)
                ))
            }
        }
        "TaskFailedToStart" => {
            if all.contains("cannotpullcontainererror") {
                if MISSING_IMAGE_MARKERS.iter().any(|m| all.contains(m))
                    && !INFRASTRUCTURE_MARKERS.iter().any(|m| all.contains(m))
                {
                    return Verdict::Fault("the image it names cannot be found");
                }
                return Verdict::NotFault(format!(
                    "the image could not be pulled for a reason outside the revision ({})",
                    short(stopped_reason)
                ));
            }
            if let Some(marker) = INFRASTRUCTURE_MARKERS.iter().find(|m| all.contains(**m)) {
                return Verdict::NotFault(format!(
                    "it failed to start for a reason outside the revision ({marker}: {})",
                    short(stopped_reason)
                ));
            }
            Verdict::Fault("its containers failed to start")
        }
        "" => Verdict::NotFault("no stop code".into()),
        other => Verdict::NotFault(format!("stop code {other}")),
    }
}

fn short(s: &str) -> String {
    let s = s.trim();
    if s.chars().count() <= 120 {
        return s.to_string();
    }
    let cut: String = s.chars().take(117).collect();
    format!("{cut}...")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stops_are_classified_from_what_ecs_writes() {
        let fault = |v: &Verdict| matches!(v, Verdict::Fault(_));
        let cases: &[(&str, &str, &[&str], bool)] = &[
            ("EssentialContainerExited", "Essential container in task exited", &[], true),
            ("ServiceSchedulerInitiated", "Task failed ELB health checks in (target-group arn:aws:elasticloadbalancing:eu-west-1:123456789012:targetgroup/web/abc)", &[], true),
            ("ServiceSchedulerInitiated", "Task failed container health checks", &[], true),
            ("ServiceSchedulerInitiated", "Scaling activity initiated by (deployment ecs-svc/123)", &[], false),
            ("ServiceSchedulerInitiated", "ECS is performing maintenance on the underlying infrastructure hosting the task", &[], false),
            ("TaskFailedToStart", "CannotPullContainerError: pull image manifest has been retried 5 time(s): failed to resolve ref docker.io/library/app:v9: docker.io/library/app:v9: not found", &[], true),
            ("TaskFailedToStart", "CannotPullContainerError: toomanyrequests: You have reached your pull rate limit", &[], false),
            ("TaskFailedToStart", "CannotPullContainerError: ref pull has been retried 1 time(s): failed to copy: httpReadSeeker: failed open: unexpected status code 503 Service Unavailable", &[], false),
            ("TaskFailedToStart", "ResourceInitializationError: unable to pull secrets or registry auth: execution resource retrieval failed: unable to retrieve secret from asm: service call has been retried 5 time(s): failed to fetch secret", &[], false),
            ("TaskFailedToStart", "ResourceInitializationError: failed to configure ENI", &[], false),
            ("TaskFailedToStart", "CannotStartContainerError: Error response from daemon: failed to create shim task: exec: \"/app/serve\": no such file or directory", &[], true),
            ("TaskFailedToStart", "Task failed to start", &["CannotStartContainerError: exec format error"], true),
            ("TaskFailedToStart", "Task failed to start", &["ContainerRuntimeTimeoutError: Could not transition to running"], false),
            ("UserInitiated", "Task stopped by user", &[], false),
            ("SpotInterruption", "Your Spot Task was interrupted.", &[], false),
            ("TerminationNotice", "", &[], false),
            ("", "", &[], false),
        ];
        for (code, reason, containers, want) in cases {
            let got = classify(code, reason, containers);
            assert_eq!(fault(&got), *want, "{code} / {reason}: {got:?}");
        }
    }
}
