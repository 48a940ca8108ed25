//! What the SDK does on the wire, for people: an SDK interceptor on the CLI's clients that
//! remembers the HTTP status of the last answer (a non-AWS endpoint answering an HTML 404 is then
//! said as such, not as "the response could not be read"), remembers an attempt that got no
//! answer in time (said as "no answer from <endpoint> in N s"), and, on a terminal, says a failed
//! attempt when the SDK retries it — never before an error that is not retried (a 4xx other than
//! throttling), which is said once, by the command.
//!
//! A retry classifier keeps the CLI from retrying an attempt that timed out: an endpoint that
//! does not answer within the attempt timeout fails at once instead of four times over.
//!
//! Interceptors: `aws_smithy_runtime_api::client::interceptors::Intercept` (re-exported as
//! `aws_sdk_ecs::config::Intercept`); the orchestrator stores `Metadata` (operation name) and
//! `RequestAttempts` in the config bag before each attempt.

use std::io::IsTerminal;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use aws_sdk_ecs::config::interceptors::{
    BeforeTransmitInterceptorContextRef, FinalizerInterceptorContextRef,
};
use aws_sdk_ecs::config::{ConfigBag, Intercept, RuntimeComponents};
use aws_smithy_runtime_api::box_error::BoxError;
use aws_smithy_runtime_api::client::interceptors::context::InterceptorContext;
use aws_smithy_runtime_api::client::orchestrator::Metadata;
use aws_smithy_runtime_api::client::retries::classifiers::{ClassifyRetry, RetryAction};
use aws_smithy_runtime_api::client::retries::RequestAttempts;
use aws_smithy_types::config_bag::{Storable, StoreReplace};

/// The last answer the CLI received: operation, HTTP status, content type.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Answer {
    pub operation: String,
    pub status: u16,
    pub content_type: Option<String>,
}

static LAST: Mutex<Option<Answer>> = Mutex::new(None);

/// The last HTTP answer received (any client of the CLI).
pub fn last_answer() -> Option<Answer> {
    LAST.lock().ok().and_then(|l| l.clone())
}

/// An attempt that got no answer in time: the operation, the endpoint, how long it waited.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NoAnswer {
    pub operation: String,
    pub endpoint: String,
    pub waited: Duration,
}

static NO_ANSWER: Mutex<Option<NoAnswer>> = Mutex::new(None);

/// The last attempt that timed out (any client of the CLI).
pub fn last_no_answer() -> Option<NoAnswer> {
    NO_ANSWER.lock().ok().and_then(|l| l.clone())
}

/// Whether an answer looks like something other than an AWS API (HTML, plain text, no type).
pub fn is_foreign(answer: &Answer) -> bool {
    let t = answer
        .content_type
        .as_deref()
        .unwrap_or("")
        .to_ascii_lowercase();
    !(t.contains("json") || t.contains("xml") || t.contains("cbor"))
}

/// The SDK's attempts per operation (`runtime::sdk_loader`).
pub const MAX_ATTEMPTS: u32 = 4;

#[derive(Debug, Default)]
pub struct Watch {
    /// Say failed attempts on stderr (a terminal).
    loud: bool,
}

impl Watch {
    pub fn new() -> Watch {
        Watch {
            loud: std::io::stderr().is_terminal(),
        }
    }
}

/// The attempt in flight: where it went and when it started.
#[derive(Clone, Debug)]
struct Attempt {
    endpoint: String,
    started: Instant,
}

impl Storable for Attempt {
    type Storer = StoreReplace<Self>;
}

/// A failed attempt not yet said: said when the SDK retries it.
#[derive(Clone, Debug)]
struct Unsaid {
    attempt: u32,
    why: String,
}

impl Storable for Unsaid {
    type Storer = StoreReplace<Self>;
}

/// `scheme://host[:port]` of a request URI.
fn endpoint_of(uri: &str) -> String {
    match uri.split_once("://") {
        Some((scheme, rest)) => {
            let host = rest.split(['/', '?']).next().unwrap_or(rest);
            format!("{scheme}://{host}")
        }
        None => uri.to_string(),
    }
}

fn operation_of(cfg: &ConfigBag) -> String {
    cfg.load::<Metadata>()
        .map(|m| m.name().to_string())
        .unwrap_or_else(|| "AWS call".into())
}

impl Intercept for Watch {
    fn name(&self) -> &'static str {
        "ecs-rollback-cli-watch"
    }

    fn read_before_attempt(
        &self,
        _ctx: &BeforeTransmitInterceptorContextRef<'_>,
        _rc: &RuntimeComponents,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        // A new attempt: the previous one failed and the SDK retries it — say it now.
        if let Some(unsaid) = cfg.load::<Unsaid>().cloned() {
            if self.loud {
                eprintln!(
                    "  {}: attempt {} of {MAX_ATTEMPTS} failed ({}); retrying",
                    operation_of(cfg),
                    unsaid.attempt,
                    unsaid.why
                );
            }
            cfg.interceptor_state().unset::<Unsaid>();
        }
        Ok(())
    }

    fn read_before_transmit(
        &self,
        ctx: &BeforeTransmitInterceptorContextRef<'_>,
        _rc: &RuntimeComponents,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        // The endpoint is resolved by now (not yet at `read_before_attempt`).
        cfg.interceptor_state().store_put(Attempt {
            endpoint: endpoint_of(ctx.request().uri()),
            started: Instant::now(),
        });
        Ok(())
    }

    fn read_after_attempt(
        &self,
        ctx: &FinalizerInterceptorContextRef<'_>,
        _rc: &RuntimeComponents,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        let operation = operation_of(cfg);
        if let Some(response) = ctx.response() {
            let answer = Answer {
                operation: operation.clone(),
                status: response.status().as_u16(),
                content_type: response.headers().get("content-type").map(str::to_string),
            };
            if let Ok(mut last) = LAST.lock() {
                *last = Some(answer);
            }
        }
        let Some(Err(error)) = ctx.output_or_error() else {
            return Ok(());
        };
        let timed_out =
            error.is_timeout_error() || error.as_connector_error().is_some_and(|c| c.is_timeout());
        if timed_out {
            if let Some(attempt) = cfg.load::<Attempt>() {
                if let Ok(mut last) = NO_ANSWER.lock() {
                    *last = Some(NoAnswer {
                        operation: operation.clone(),
                        endpoint: attempt.endpoint.clone(),
                        waited: attempt.started.elapsed(),
                    });
                }
            }
        }
        let attempt = cfg
            .load::<RequestAttempts>()
            .map(|a| a.attempts())
            .unwrap_or(1);
        let why = match ctx.response() {
            Some(r) => format!("HTTP {}", r.status().as_u16()),
            None => one_line_error(error),
        };
        cfg.interceptor_state().store_put(Unsaid { attempt, why });
        Ok(())
    }
}

/// Never retry an attempt that timed out (no answer, or no connection, in time): the command
/// fails after one attempt timeout and says so.
#[derive(Debug, Default)]
pub struct NoRetryOnTimeout;

impl ClassifyRetry for NoRetryOnTimeout {
    fn classify_retry(&self, ctx: &InterceptorContext) -> RetryAction {
        match ctx.output_or_error() {
            Some(Err(e))
                if e.is_timeout_error()
                    || e.as_connector_error().is_some_and(|c| c.is_timeout()) =>
            {
                RetryAction::RetryForbidden
            }
            _ => RetryAction::NoActionIndicated,
        }
    }

    fn name(&self) -> &'static str {
        "ecs-rollback-cli-no-retry-on-timeout"
    }
}

fn one_line_error(e: &dyn std::error::Error) -> String {
    let mut parts = vec![e.to_string()];
    let mut source = e.source();
    while let Some(s) = source {
        let t = s.to_string();
        if !parts.iter().any(|p| p.contains(&t)) {
            parts.push(t);
        }
        source = s.source();
    }
    super::error::one_line(&parts.join(": "))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn endpoints_are_scheme_and_host() {
        assert_eq!(
            endpoint_of("http://127.0.0.1:4566/?Action=x"),
            "http://127.0.0.1:4566"
        );
        assert_eq!(
            endpoint_of("https://ecs.eu-west-1.amazonaws.com/"),
            "https://ecs.eu-west-1.amazonaws.com"
        );
    }

    #[test]
    fn html_and_plain_answers_are_foreign() {
        let a = |t: Option<&str>| Answer {
            operation: "DescribeServices".into(),
            status: 404,
            content_type: t.map(str::to_string),
        };
        assert!(is_foreign(&a(Some("text/html; charset=utf-8"))));
        assert!(is_foreign(&a(None)));
        assert!(!is_foreign(&a(Some("application/x-amz-json-1.1"))));
        assert!(!is_foreign(&a(Some("text/xml"))));
    }
}
