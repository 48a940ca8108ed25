//! Errors for people: one line, a hint, an exit code.

use std::fmt;

use crate::error::{Error, InputError};

/// The process exit code (see `--help`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Code {
    Ok = 0,
    /// AWS or runtime error.
    Aws = 1,
    /// Usage, bad input or configuration.
    Usage = 2,
    /// Nothing to do, or refused.
    Nothing = 3,
    /// Waiting: the deployment failed (for `rollback`, `status` and `dialog`: or was replaced).
    DeploymentFailed = 4,
    /// Waiting: the deployment did not settle in time.
    TimedOut = 5,
    /// `wait`, `deploy --wait`: ECS rolled the deployment back.
    RolledBackByEcs = 6,
    /// `wait`, `deploy --wait`: ecs-rollback (the responder or a person) rolled it back.
    RolledBackByEcsRollback = 7,
    /// `wait`, `deploy --wait`: another deployment superseded it.
    Superseded = 8,
    /// Ctrl-C while waiting (128 + SIGINT, as shells report it).
    Interrupted = 130,
}

impl Code {
    /// The worse of two outcomes (several services in one run).
    pub fn worst(self, other: Code) -> Code {
        let rank = |c: Code| match c {
            Code::Ok => 0,
            Code::Nothing => 1,
            Code::TimedOut => 2,
            Code::Interrupted => 3,
            Code::Superseded => 4,
            Code::RolledBackByEcsRollback => 5,
            Code::RolledBackByEcs => 6,
            Code::DeploymentFailed => 7,
            Code::Usage => 8,
            Code::Aws => 9,
        };
        if rank(other) > rank(self) {
            other
        } else {
            self
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CliError {
    pub message: String,
    pub hint: Option<String>,
    pub code: Code,
}

impl CliError {
    pub fn new(code: Code, message: impl Into<String>) -> Self {
        CliError {
            message: one_line(&message.into()),
            hint: None,
            code,
        }
    }

    pub fn usage(message: impl Into<String>) -> Self {
        Self::new(Code::Usage, message)
    }

    pub fn nothing(message: impl Into<String>) -> Self {
        Self::new(Code::Nothing, message)
    }

    pub fn hint(mut self, hint: impl Into<String>) -> Self {
        self.hint = Some(one_line(&hint.into()));
        self
    }

    /// Hints name the service when it is known (instead of `--cluster C --service S`).
    pub fn for_service(mut self, cluster: &str, service: &str) -> Self {
        if let Some(h) = &self.hint {
            self.hint = Some(h.replace(
                "--cluster C --service S",
                &format!("--cluster {cluster} --service {service}"),
            ));
        }
        self
    }

    /// What goes to stderr: `error: …` and, when there is one, `hint: …`.
    pub fn render(&self) -> String {
        match &self.hint {
            Some(h) => format!("error: {}\nhint: {h}\n", self.message),
            None => format!("error: {}\n", self.message),
        }
    }
}

impl fmt::Display for CliError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

/// Collapse whitespace and cut very long messages (SDK errors can be verbose).
pub fn one_line(text: &str) -> String {
    let joined = text.split_whitespace().collect::<Vec<_>>().join(" ");
    const MAX: usize = 400;
    if joined.chars().count() > MAX {
        let cut: String = joined.chars().take(MAX).collect();
        format!("{cut}…")
    } else {
        joined
    }
}

/// Library errors with a hint fitted to what failed.
impl From<Error> for CliError {
    fn from(e: Error) -> Self {
        let text = e.to_string();
        match &e {
            Error::Input(InputError::UnknownCluster(c)) => CliError::usage(format!("cluster {c:?} does not exist"))
                .hint("check the name, --region and --profile; `aws ecs list-clusters` lists the clusters"),
            Error::Input(InputError::UnknownService { cluster, service }) => CliError::usage(format!(
                "service {service:?} does not exist in cluster {cluster:?}"
            ))
            .hint(format!("`aws ecs list-services --cluster {cluster}` lists its services")),
            Error::Input(InputError::UnknownTaskDefinition(td)) => CliError::usage(format!(
                "task definition {td:?} does not exist"
            ))
            .hint("`ecs-rollback status --cluster C --service S` lists the service's revisions"),
            Error::Input(_) => CliError::usage(text),
            Error::Config(_) => CliError::usage(text)
                .hint("fix or unset that environment variable (the book's configuration reference: docs/src/configuration.md)"),
            Error::Aws(aws) if foreign_answer(aws.operation).is_some() => {
                let (status, kind) = foreign_answer(aws.operation).unwrap_or_default();
                CliError::new(
                    Code::Aws,
                    format!(
                        "{} failed: the endpoint answered HTTP {status}{kind}, which is not an AWS API response",
                        aws.operation
                    ),
                )
                .hint("check --endpoint-url and AWS_ENDPOINT_URL / AWS_ENDPOINT_URL_<SERVICE>: they must point at the AWS API (or an emulator of it); unset them for AWS itself")
            }
            Error::Aws(aws) if aws.message == "timed out" && no_answer(aws.operation).is_some() => {
                let (endpoint, secs) = no_answer(aws.operation).unwrap_or_default();
                CliError::new(
                    Code::Aws,
                    format!("{} failed: no answer from {endpoint} in {secs} s", aws.operation),
                )
                .hint("the endpoint took the connection but did not answer: check the network, --region, and --endpoint-url / AWS_ENDPOINT_URL*; repeating the command is safe (it reads the service again first)")
            }
            Error::Aws(aws) => {
                let m = aws.message.as_str();
                let text = if m.starts_with("could not send the request") {
                    format!("{} failed: could not reach AWS ({})", aws.operation, innermost(&e))
                } else {
                    text
                };
                let mut err = CliError::new(Code::Aws, text);
                err = if m.contains("AccessDenied") || m.contains("not authorized") {
                    err.hint(format!(
                        "the credentials in use may not call {}: check the profile's IAM permissions",
                        aws.operation
                    ))
                } else if m.contains("UnrecognizedClient")
                    || m.contains("InvalidClientTokenId")
                    || m.contains("ExpiredToken")
                    || m.contains("InvalidSignature")
                {
                    err.hint("the credentials were refused or have expired: refresh them (e.g. `aws sso login`) or pick another --profile")
                } else if mentions_credentials(&e) {
                    err.hint("no usable AWS credentials: use --profile, set AWS_PROFILE, run `aws sso login`, or export AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY")
                } else if m.starts_with("could not send the request") || m == "timed out" {
                    err.hint("AWS could not be reached: check the network, --region, and AWS_ENDPOINT_URL* / --endpoint-url")
                } else if aws.transient {
                    err.hint("AWS kept throttling or failing after 4 attempts with backoff; wait a minute and run the command again (rollback re-reads the service first, so repeating it is safe)")
                } else {
                    err
                };
                err
            }
            Error::Internal(_) => CliError::new(Code::Aws, text)
                .hint("this is a bug in ecs-rollback; please report it with the command you ran"),
        }
    }
}

/// The last answer, when it was not an AWS API's (an HTML error page, plain text): status and
/// ` (content type)`.
fn foreign_answer(operation: &str) -> Option<(u16, String)> {
    let answer = super::watch::last_answer()?;
    if answer.operation != operation || answer.status < 300 || !super::watch::is_foreign(&answer) {
        return None;
    }
    let kind = answer
        .content_type
        .as_deref()
        .map(|t| format!(" ({})", t.split(';').next().unwrap_or(t).trim()))
        .unwrap_or_default();
    Some((answer.status, kind))
}

/// The endpoint and the whole seconds waited, when `operation`'s last attempt got no answer.
fn no_answer(operation: &str) -> Option<(String, u64)> {
    let n = super::watch::last_no_answer()?;
    (n.operation == operation).then(|| (n.endpoint, n.waited.as_secs_f64().round() as u64))
}

/// The innermost cause's message (`Connection refused (os error 111)`).
fn innermost(e: &Error) -> String {
    let mut last = e.to_string();
    let mut source: Option<&(dyn std::error::Error + 'static)> = std::error::Error::source(e);
    while let Some(s) = source {
        last = s.to_string();
        source = s.source();
    }
    last
}

/// Whether the error chain says credentials could not be loaded.
fn mentions_credentials(e: &Error) -> bool {
    let mut source: Option<&(dyn std::error::Error + 'static)> = Some(e);
    while let Some(s) = source {
        let t = s.to_string().to_ascii_lowercase();
        if t.contains("credential") {
            return true;
        }
        source = s.source();
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::AwsError;

    #[test]
    fn library_errors_become_one_line_with_a_hint_and_a_code() {
        let cases: Vec<(Error, Code, &str, &str)> = vec![
            (
                Error::Input(InputError::UnknownCluster("prod".into())),
                Code::Usage,
                "cluster \"prod\" does not exist",
                "list-clusters",
            ),
            (
                Error::Input(InputError::UnknownService {
                    cluster: "demo".into(),
                    service: "nope".into(),
                }),
                Code::Usage,
                "service \"nope\" does not exist in cluster \"demo\"",
                "list-services --cluster demo",
            ),
            (
                Error::Input(InputError::UnknownTaskDefinition("hello-world:99".into())),
                Code::Usage,
                "hello-world:99",
                "ecs-rollback status",
            ),
            (
                Error::Aws(AwsError {
                    operation: "DescribeServices",
                    message: "ThrottlingException: Rate exceeded (HTTP 400)".into(),
                    transient: true,
                    source: None,
                }),
                Code::Aws,
                "DescribeServices failed: ThrottlingException",
                "after 4 attempts",
            ),
            (
                Error::Aws(AwsError {
                    operation: "UpdateService",
                    message: "AccessDeniedException: no (HTTP 400)".into(),
                    transient: false,
                    source: None,
                }),
                Code::Aws,
                "UpdateService failed",
                "may not call UpdateService",
            ),
            (
                Error::Config("ROLLBACK_COOLDOWN_MINUTES=\"x\" is not a whole number".into()),
                Code::Usage,
                "ROLLBACK_COOLDOWN_MINUTES",
                "environment variable",
            ),
        ];
        for (e, code, message, hint) in cases {
            let c = CliError::from(e);
            assert_eq!(c.code, code, "{c:?}");
            assert!(c.message.contains(message), "{c:?}");
            assert!(c.hint.as_deref().unwrap_or("").contains(hint), "{c:?}");
            let rendered = c.render();
            assert_eq!(rendered.lines().count(), 2, "{rendered}");
            assert!(rendered.starts_with("error: ") && rendered.contains("\nhint: "));
        }
    }

    #[test]
    fn long_multi_line_messages_are_folded() {
        let m = one_line(&format!("a\n  b\t{}", "x".repeat(1000)));
        assert!(!m.contains('\n') && m.starts_with("a b x") && m.ends_with('…'));
        assert!(m.chars().count() <= 401);
    }

    #[test]
    fn the_worst_code_wins() {
        assert_eq!(Code::Ok.worst(Code::Nothing), Code::Nothing);
        assert_eq!(Code::Aws.worst(Code::Nothing), Code::Aws);
        assert_eq!(
            Code::DeploymentFailed.worst(Code::TimedOut),
            Code::DeploymentFailed
        );
    }
}
