//! Thin adapters between the AWS SDK and the domain: SDK responses → snapshot types,
//! decisions → SDK calls. No rules live here.

pub mod canary;
pub mod clients;
pub mod cloudwatch;
pub mod ecs;
pub mod https;
pub mod lease;
pub mod sns;

use aws_sdk_ecs::config::http::HttpResponse;
use aws_sdk_ecs::error::{ProvideErrorMetadata, SdkError};

use crate::error::AwsError;
use crate::model::Time;

/// Error codes that mean "try again later".
const TRANSIENT_CODES: &[&str] = &[
    "ThrottlingException",
    "Throttling",
    "ThrottledException",
    "RequestLimitExceeded",
    "TooManyRequestsException",
    "ServerException",
    "ServiceUnavailable",
    "ServiceUnavailableException",
    "InternalFailure",
    "InternalServerError",
    "RequestTimeout",
];

/// Convert an SDK error (after the SDK's own retries) into an [`AwsError`].
pub fn aws_error<E>(operation: &'static str, err: SdkError<E, HttpResponse>) -> AwsError
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
{
    let (message, transient) = match &err {
        SdkError::ServiceError(ctx) => {
            let status = ctx.raw().status().as_u16();
            let code = ctx.err().code().unwrap_or("Unknown");
            let msg = ctx.err().message().unwrap_or("no message");
            (
                format!("{code}: {msg} (HTTP {status})"),
                status >= 500 || status == 429 || TRANSIENT_CODES.contains(&code),
            )
        }
        SdkError::TimeoutError(_) if crate::deadline::is_deadline(&err) => {
            (crate::deadline::DeadlineExceeded.to_string(), true)
        }
        SdkError::TimeoutError(_) => ("timed out".to_string(), true),
        SdkError::DispatchFailure(f) => (format!("could not send the request: {f:?}"), true),
        SdkError::ResponseError(_) => ("the response could not be read".to_string(), true),
        SdkError::ConstructionFailure(_) => ("the request could not be built".to_string(), false),
        _ => (err.to_string(), false),
    };
    AwsError {
        operation,
        message,
        transient,
        source: Some(Box::new(err)),
    }
}

/// Read at most `pages` pages of a paginated list call. `page(token)` sends one request and
/// answers its items and the next token; no (or an empty) token ends the list.
pub async fn paginate<T, F, Fut>(pages: usize, mut page: F) -> Result<Vec<T>, crate::error::Error>
where
    F: FnMut(Option<String>) -> Fut,
    Fut: std::future::Future<Output = Result<(Vec<T>, Option<String>), crate::error::Error>>,
{
    let mut items = Vec::new();
    let mut token: Option<String> = None;
    for _ in 0..pages {
        let (batch, next) = page(token.take()).await?;
        items.extend(batch);
        match next {
            Some(t) if !t.is_empty() => token = Some(t),
            _ => break,
        }
    }
    Ok(items)
}

/// SDK timestamp → domain time.
pub fn to_time(t: &aws_sdk_ecs::primitives::DateTime) -> Option<Time> {
    chrono::DateTime::from_timestamp(t.secs(), t.subsec_nanos())
}
