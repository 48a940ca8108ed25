//! What the SDK does on the wire, for people: an SDK interceptor on the CLI's clients that
//! remembers the HTTP status of the last answer (a non-AWS endpoint answering an HTML 404 is then
//! said as such, not as "the response could not be read") and, on a terminal, says each failed
//! attempt as it happens instead of a long silence while the SDK retries.
//!
//! Interceptors: `aws_smithy_runtime_api::client::interceptors::Intercept` (re-exported as
//! `aws_sdk_ecs::config::Intercept`); the orchestrator stores `Metadata` (operation name) and
//! `RequestAttempts` in the config bag.

use std::io::IsTerminal;
use std::sync::Mutex;

use aws_sdk_ecs::config::interceptors::FinalizerInterceptorContextRef;
use aws_sdk_ecs::config::{ConfigBag, Intercept, RuntimeComponents};
use aws_smithy_runtime_api::box_error::BoxError;
use aws_smithy_runtime_api::client::orchestrator::Metadata;
use aws_smithy_runtime_api::client::retries::RequestAttempts;

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

impl Intercept for Watch {
    fn name(&self) -> &'static str {
        "ecs-rollback-cli-watch"
    }

    fn read_after_attempt(
        &self,
        ctx: &FinalizerInterceptorContextRef<'_>,
        _rc: &RuntimeComponents,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        let operation = cfg
            .load::<Metadata>()
            .map(|m| m.name().to_string())
            .unwrap_or_else(|| "AWS call".into());
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
        if !self.loud {
            return Ok(());
        }
        let attempt = cfg
            .load::<RequestAttempts>()
            .map(|a| a.attempts())
            .unwrap_or(1);
        let why = match ctx.response() {
            Some(r) => format!("HTTP {}", r.status().as_u16()),
            None => one_line_error(error),
        };
        let next = if attempt < MAX_ATTEMPTS {
            "; the SDK retries if it can"
        } else {
            ""
        };
        eprintln!("  {operation}: attempt {attempt} of {MAX_ATTEMPTS} failed ({why}){next}");
        Ok(())
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
