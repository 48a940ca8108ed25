//! The invocation's deadline: every AWS call of an invocation is bounded by the time it has left
//! (less [`MARGIN`]), so that the function answers — with a decision, a retryable error, or a
//! lifecycle hook's `IN_PROGRESS` — before Lambda stops it at its timeout. A timeout is a
//! function error, and ECS counts a lifecycle hook's function error as FAILED: a healthy
//! deployment rolled back because CloudWatch was slow.
//!
//! The deadline is task-local (set by the handler from the runtime's `Lambda-Runtime-Deadline-Ms`
//! for the whole invocation); without one (the CLI, tests) calls are bounded only by the SDK's own
//! timeouts.

use std::future::Future;
use std::time::{Duration, Instant};

use aws_smithy_runtime_api::client::result::SdkError;

/// Time kept back from every call for what follows it: the answer, the lease's release, the log.
pub const MARGIN: Duration = Duration::from_secs(3);
/// How long a lease outlives the deadline of the invocation that holds it.
pub const LEASE_MARGIN: Duration = Duration::from_secs(10);

tokio::task_local! {
    static DEADLINE: Instant;
}

/// Run `work` with `deadline` (if any) as the invocation's deadline.
pub async fn within<F: Future>(deadline: Option<Instant>, work: F) -> F::Output {
    match deadline {
        Some(at) => DEADLINE.scope(at, work).await,
        None => work.await,
    }
}

/// The invocation's deadline, if one is set.
pub fn deadline() -> Option<Instant> {
    DEADLINE.try_with(|d| *d).ok()
}

/// The time a call may still take: the time left less [`MARGIN`] (zero once it is used up);
/// `None` = no deadline.
pub fn left() -> Option<Duration> {
    deadline().map(|at| {
        at.saturating_duration_since(Instant::now())
            .saturating_sub(MARGIN)
    })
}

/// Whether the invocation's time for calls is used up.
pub fn spent() -> bool {
    left().is_some_and(|l| l.is_zero())
}

/// The error of a call cut off by the deadline (the source of an SDK timeout error).
#[derive(Debug, thiserror::Error)]
#[error("no answer before the invocation's deadline (the function stops calling AWS {} s before its timeout)", MARGIN.as_secs())]
pub struct DeadlineExceeded;

/// Whether an error chain holds a [`DeadlineExceeded`].
pub fn is_deadline(err: &(dyn std::error::Error + 'static)) -> bool {
    let mut cur: Option<&(dyn std::error::Error + 'static)> = Some(err);
    while let Some(e) = cur {
        if e.is::<DeadlineExceeded>() {
            return true;
        }
        cur = e.source();
    }
    false
}

/// The retryable error of an invocation whose time ran out before it could decide: nothing was
/// written, and Lambda's retries (or the dead-letter queue) deliver the event again.
pub fn out_of_time(stage: &str) -> crate::error::Error {
    crate::error::Error::Aws(crate::error::AwsError {
        operation: "deadline",
        message: format!(
            "the invocation's time ran out {stage}; nothing was written, and the event is left to Lambda's retries"
        ),
        transient: true,
        source: Some(Box::new(DeadlineExceeded)),
    })
}

/// Bound an SDK call (`….send()`) by the invocation's deadline: past it, the call is dropped and
/// answers an SDK timeout error whose source is [`DeadlineExceeded`].
pub trait Bounded<T, E, R>: Future<Output = Result<T, SdkError<E, R>>> + Sized {
    fn bounded(self) -> impl Future<Output = Result<T, SdkError<E, R>>> {
        async move {
            match left() {
                None => self.await,
                Some(left) if left.is_zero() => Err(SdkError::timeout_error(DeadlineExceeded)),
                Some(left) => match tokio::time::timeout(left, self).await {
                    Ok(out) => out,
                    Err(_) => Err(SdkError::timeout_error(DeadlineExceeded)),
                },
            }
        }
    }
}

impl<T, E, R, F> Bounded<T, E, R> for F where F: Future<Output = Result<T, SdkError<E, R>>> {}

#[cfg(test)]
mod tests {
    use super::*;

    async fn slow(ms: u64) -> Result<u8, SdkError<std::io::Error, ()>> {
        tokio::time::sleep(Duration::from_millis(ms)).await;
        Ok(7)
    }

    #[tokio::test(start_paused = true)]
    async fn a_call_is_cut_off_at_the_deadline_less_the_margin() {
        let at = Instant::now() + MARGIN + Duration::from_secs(5);
        let out = within(Some(at), slow(60_000).bounded()).await;
        let err = out.unwrap_err();
        assert!(matches!(err, SdkError::TimeoutError(_)), "{err:?}");
        assert!(is_deadline(&err), "the source says why: {err:?}");
        // A call that fits answers as usual.
        let at = Instant::now() + MARGIN + Duration::from_secs(5);
        assert_eq!(within(Some(at), slow(1_000).bounded()).await.unwrap(), 7);
    }

    #[tokio::test]
    async fn without_a_deadline_calls_are_not_bounded_and_a_spent_one_sends_nothing() {
        assert_eq!(left(), None);
        assert_eq!(slow(1).bounded().await.unwrap(), 7);
        let spent_already = Instant::now() + MARGIN / 2;
        within(Some(spent_already), async {
            assert!(spent());
            let err = slow(1).bounded().await.unwrap_err();
            assert!(is_deadline(&err));
        })
        .await;
    }
}
