//! Typed errors. Bad input is never retried usefully and never acts; AWS failures may be retried.

use thiserror::Error;

/// The invocation payload or what it names is wrong. Non-retryable: the same input fails the same way.
#[derive(Debug, Error)]
pub enum InputError {
    #[error("event is not valid JSON: {0}")]
    Json(#[source] serde_json::Error),
    #[error("event is {0} bytes, more than the 256 KiB accepted")]
    TooLarge(usize),
    /// Each names the field: ``field `detail.deploymentId`: invalid type: integer …``.
    #[error("EventBridge envelope is invalid: {}", at_field("", .0))]
    Envelope(#[source] serde_path_to_error::Error<serde_json::Error>),
    #[error("event detail is invalid: {}", at_field("detail", .0))]
    Detail(#[source] serde_path_to_error::Error<serde_json::Error>),
    #[error("direct invocation is invalid: {}", at_field("", .0))]
    Direct(#[source] serde_path_to_error::Error<serde_json::Error>),
    /// A malformed ECS lifecycle-hook invocation. A function error, which ECS counts as a FAILED
    /// hook (and rolls back): a payload the gate cannot read never lets a revision through.
    #[error("lifecycle-hook invocation is invalid (ECS counts this error as a FAILED hook): {0}")]
    Hook(Box<InputError>),
    #[error("field `{0}` is missing or empty")]
    Missing(String),
    #[error("field `{field}`: {why}")]
    Invalid { field: String, why: String },
    #[error("cluster {0:?} does not exist")]
    UnknownCluster(String),
    #[error("service {service:?} does not exist in cluster {cluster:?}")]
    UnknownService { cluster: String, service: String },
    #[error("task definition {0:?} does not exist")]
    UnknownTaskDefinition(String),
}

/// ``field `PREFIX.PATH`: why`` for a deserialization error (the path is empty for a missing
/// field, which serde names in its own message).
fn at_field(prefix: &str, err: &serde_path_to_error::Error<serde_json::Error>) -> String {
    let path = err.path().to_string();
    let field = match (prefix, path.as_str()) {
        (p, ".") => p.to_string(),
        ("", path) => path.to_string(),
        (p, path) => format!("{p}.{path}"),
    };
    if field.is_empty() {
        err.inner().to_string()
    } else {
        format!("field `{field}`: {}", err.inner())
    }
}

impl InputError {
    /// The same error for a detail that sits under `prefix` instead of `detail` (an alarm
    /// action's `alarmData`).
    pub fn under(self, prefix: &str) -> InputError {
        let rename = |f: String| match f.strip_prefix("detail.") {
            Some(rest) => format!("{prefix}.{rest}"),
            None => f,
        };
        match self {
            InputError::Missing(f) => InputError::Missing(rename(f)),
            InputError::Invalid { field, why } => InputError::Invalid {
                field: rename(field),
                why,
            },
            other => other,
        }
    }
}

/// A call to AWS failed after the SDK's retries.
#[derive(Debug, Error)]
#[error("{operation} failed: {message}")]
pub struct AwsError {
    pub operation: &'static str,
    pub message: String,
    /// Throttling or a server-side fault: the same event may succeed later.
    pub transient: bool,
    #[source]
    pub source: Option<Box<dyn std::error::Error + Send + Sync>>,
}

/// Everything the handler can fail with.
#[derive(Debug, Error)]
pub enum Error {
    #[error("invalid input: {0}")]
    Input(#[from] InputError),
    #[error(transparent)]
    Aws(#[from] AwsError),
    #[error("configuration: {0}")]
    Config(String),
    #[error("internal error: {0}")]
    Internal(String),
}

impl Error {
    /// The Lambda `errorType`: tells operators (and the DLQ reader) whether a retry can help.
    pub fn error_type(&self) -> &'static str {
        match self {
            Error::Input(_) => "InvalidInput.NonRetryable",
            Error::Config(_) => "Configuration.NonRetryable",
            Error::Aws(e) if e.transient => "AwsError.Retryable",
            Error::Aws(_) => "AwsError",
            Error::Internal(_) => "InternalError",
        }
    }

    pub fn is_retryable(&self) -> bool {
        matches!(self, Error::Aws(e) if e.transient)
    }
}

impl From<Error> for lambda_runtime::Diagnostic {
    fn from(e: Error) -> Self {
        lambda_runtime::Diagnostic {
            error_type: e.error_type().to_string(),
            error_message: e.to_string(),
        }
    }
}
