//! A lease per service in DynamoDB: read → decide → write of one service never overlaps, while
//! different services proceed in parallel (docs/src/organization.md, "Concurrency").
//!
//! One item per service, key `pk` = `ACCOUNT:REGION:CLUSTER/SERVICE`:
//! * acquire: `PutItem` with `ConditionExpression`
//!   `attribute_not_exists(pk) OR lease_until < :now OR lease_owner = :owner` — DynamoDB
//!   evaluates the condition and writes atomically (Developer Guide, "Condition expressions":
//!   a conditional write succeeds only if the condition holds; otherwise
//!   `ConditionalCheckFailedException`). The owner clause makes a retried `PutItem` whose first
//!   response was lost succeed instead of waiting for its own lease.
//! * busy: poll with capped exponential backoff and jitter for at most `wait`; then a retryable
//!   error, so that Lambda retries the event later (its async retries, then the DLQ).
//! * release: `DeleteItem` with `lease_owner = :owner`, so a holder never deletes a lease that
//!   expired and passed to someone else.
//! * expiry: `lease_until` = now + the lease duration (90 s by default), longer than the
//!   function's timeout (60 s), and never earlier than the holder's deadline plus a margin:
//!   Lambda stops an invocation at its timeout, so a holder that timed out is gone before its
//!   lease can pass on. `expires` (epoch seconds) lets DynamoDB's TTL
//!   delete leftovers; TTL deletion is lazy, so correctness never depends on it.

use crate::deadline::Bounded;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use aws_sdk_dynamodb::types::AttributeValue;
use aws_sdk_dynamodb::Client;

use super::aws_error;
use crate::error::{AwsError, Error};
use crate::model::ServiceRef;

/// How long an event waits for a busy service before it is handed back to Lambda's retries.
pub const DEFAULT_WAIT: Duration = Duration::from_secs(20);
const FIRST_PAUSE: Duration = Duration::from_millis(25);
const MAX_PAUSE: Duration = Duration::from_millis(400);

#[derive(Clone, Debug)]
pub struct Lease {
    pub client: Client,
    pub table: String,
    pub duration: Duration,
    pub wait: Duration,
    /// `ACCOUNT:REGION:` of the place the leases are for.
    scope: String,
}

/// A lease this invocation holds.
#[derive(Debug)]
pub struct Held {
    pub key: String,
    pub owner: String,
    pub acquired: Instant,
}

fn now_ms() -> u128 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis())
        .unwrap_or(0)
}

/// The last path segment of a cluster or service name or ARN (`arn:…:service/demo/web` → `web`).
fn last_segment(s: &str) -> &str {
    s.rsplit('/').next().unwrap_or(s)
}

/// A unique owner token per acquisition: process, time, counter.
fn owner_token() -> String {
    static SEQ: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let n = SEQ.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    format!("{}-{}-{n}", std::process::id(), now_ms())
}

impl Lease {
    pub fn new(client: Client, table: impl Into<String>, duration: Duration) -> Lease {
        Lease {
            client,
            table: table.into(),
            duration,
            wait: DEFAULT_WAIT,
            scope: String::new(),
        }
    }

    /// The same table for the services of `account` in `region`.
    pub fn scoped(&self, account: &str, region: &str) -> Lease {
        Lease {
            scope: format!("{account}:{region}:"),
            ..self.clone()
        }
    }

    /// The lease key of a service: `ACCOUNT:REGION:CLUSTER/SERVICE` (names, not ARNs, so an
    /// event naming the service by ARN and one naming it by name share one lease).
    pub fn key(&self, target: &ServiceRef) -> String {
        format!(
            "{}{}/{}",
            self.scope,
            last_segment(&target.cluster),
            last_segment(&target.service)
        )
    }

    /// One conditional `PutItem`: `Ok(true)` = acquired, `Ok(false)` = held by someone else.
    async fn try_acquire(&self, key: &str, owner: &str) -> Result<bool, Error> {
        let now = now_ms();
        // A lease outlives the invocation that holds it: at least until its deadline (plus a
        // margin), whatever the configured duration, so that a holder Lambda stops at its
        // timeout is gone before the lease can pass on.
        let to_deadline = crate::deadline::deadline()
            .map(|at| at.saturating_duration_since(Instant::now()) + crate::deadline::LEASE_MARGIN)
            .unwrap_or_default();
        let until = now + self.duration.max(to_deadline).as_millis();
        let out = self
            .client
            .put_item()
            .table_name(&self.table)
            .item("pk", AttributeValue::S(key.to_string()))
            .item("lease_owner", AttributeValue::S(owner.to_string()))
            .item("lease_until", AttributeValue::N(until.to_string()))
            .item("expires", AttributeValue::N((until / 1000 + 1).to_string()))
            .condition_expression(
                "attribute_not_exists(pk) OR lease_until < :now OR lease_owner = :owner",
            )
            .expression_attribute_values(":now", AttributeValue::N(now.to_string()))
            .expression_attribute_values(":owner", AttributeValue::S(owner.to_string()))
            .send()
            .bounded()
            .await;
        match out {
            Ok(_) => Ok(true),
            Err(e)
                if e.as_service_error()
                    .is_some_and(|se| se.is_conditional_check_failed_exception()) =>
            {
                Ok(false)
            }
            Err(e) => Err(aws_error("PutItem", e).into()),
        }
    }

    /// Take the lease of `target`, waiting at most `self.wait` while another invocation has it.
    pub async fn acquire(&self, target: &ServiceRef) -> Result<Held, Error> {
        let key = self.key(target);
        let owner = owner_token();
        let started = Instant::now();
        let mut pause = FIRST_PAUSE;
        let mut attempts = 0u32;
        loop {
            attempts += 1;
            if self.try_acquire(&key, &owner).await? {
                if attempts > 1 {
                    tracing::info!(lease = %key, attempts, waited_ms = started.elapsed().as_millis() as u64, "lease acquired after waiting");
                }
                return Ok(Held {
                    key,
                    owner,
                    acquired: Instant::now(),
                });
            }
            // Waiting never outlasts the invocation's own time for calls.
            let wait = crate::deadline::left().map_or(self.wait, |left| left.min(self.wait));
            if started.elapsed() + pause > wait {
                return Err(Error::Aws(AwsError {
                    operation: "PutItem",
                    message: format!(
                        "the lease of {key} stayed with another invocation for {} s; the event is left to Lambda's retries",
                        wait.as_secs()
                    ),
                    transient: true,
                    source: None,
                }));
            }
            // Jitter from the clock: waiting invocations do not poll in lock-step.
            let jitter = Duration::from_millis((now_ms() % 17) as u64);
            tokio::time::sleep(pause + jitter).await;
            pause = (pause * 2).min(MAX_PAUSE);
        }
    }

    /// Give the lease back. Best effort: a lease that cannot be deleted expires by itself.
    pub async fn release(&self, held: Held) {
        if held.acquired.elapsed() > self.duration {
            tracing::error!(lease = %held.key, held_ms = held.acquired.elapsed().as_millis() as u64, "the work outlasted its lease; another invocation may have taken it meanwhile");
        }
        let out = self
            .client
            .delete_item()
            .table_name(&self.table)
            .key("pk", AttributeValue::S(held.key.clone()))
            .condition_expression("lease_owner = :owner")
            .expression_attribute_values(":owner", AttributeValue::S(held.owner.clone()))
            .send()
            .bounded()
            .await;
        match out {
            Ok(_) => {}
            Err(e)
                if e.as_service_error()
                    .is_some_and(|se| se.is_conditional_check_failed_exception()) =>
            {
                tracing::warn!(lease = %held.key, "the lease had already passed to another invocation");
            }
            Err(e) => {
                let e = aws_error("DeleteItem", e);
                tracing::warn!(lease = %held.key, error = %e, "lease not released; it expires by itself");
            }
        }
    }

    /// Run `work` holding the lease of `target`; the lease is released whatever `work` answers.
    pub async fn hold<T, F>(&self, target: &ServiceRef, work: F) -> Result<T, Error>
    where
        F: std::future::Future<Output = Result<T, Error>>,
    {
        let held = self.acquire(target).await?;
        let out = work.await;
        self.release(held).await;
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_sdk_dynamodb::operation::delete_item::{DeleteItemError, DeleteItemOutput};
    use aws_sdk_dynamodb::operation::put_item::{PutItemError, PutItemOutput};
    use aws_sdk_dynamodb::types::error::ConditionalCheckFailedException;
    use aws_smithy_mocks::{mock, mock_client, RuleMode};
    use std::sync::{Arc, Mutex};

    fn target() -> ServiceRef {
        ServiceRef {
            cluster: "arn:aws:ecs:eu-west-1:222222222222:cluster/demo".into(),
            service: "web".into(),
        }
    }

    fn busy() -> PutItemError {
        PutItemError::ConditionalCheckFailedException(
            ConditionalCheckFailedException::builder()
                .message("The conditional request failed")
                .build(),
        )
    }

    #[test]
    fn keys_name_account_region_cluster_and_service() {
        let none: [&aws_smithy_mocks::Rule; 0] = [];
        let client = mock_client!(aws_sdk_dynamodb, none);
        let lease = Lease::new(client.clone(), "t", Duration::from_secs(90))
            .scoped("222222222222", "eu-west-1");
        assert_eq!(lease.key(&target()), "222222222222:eu-west-1:demo/web");
        let by_arn = ServiceRef {
            cluster: "demo".into(),
            service: "arn:aws:ecs:eu-west-1:222222222222:service/demo/web".into(),
        };
        assert_eq!(lease.key(&by_arn), lease.key(&target()));
        let other =
            Lease::new(client, "t", Duration::from_secs(90)).scoped("333333333333", "eu-west-1");
        assert_ne!(other.key(&target()), lease.key(&target()));
    }

    #[tokio::test]
    async fn acquire_is_one_conditional_put_and_release_deletes_only_our_own() {
        let puts: Arc<Mutex<Vec<String>>> = Arc::default();
        let seen = puts.clone();
        let put = mock!(Client::put_item)
            .match_requests(move |r| {
                let item = r.item().unwrap();
                let until: u128 = item["lease_until"].as_n().unwrap().parse().unwrap();
                let now: u128 = r.expression_attribute_values().unwrap()[":now"]
                    .as_n()
                    .unwrap()
                    .parse()
                    .unwrap();
                seen.lock().unwrap().push(format!(
                    "{} {} {}",
                    r.table_name().unwrap(),
                    item["pk"].as_s().unwrap(),
                    r.condition_expression().unwrap()
                ));
                // The lease lasts the configured 90 s from now; the owner clause is ours.
                until - now == 90_000
                    && item["lease_owner"].as_s().ok()
                        == r.expression_attribute_values().unwrap()[":owner"]
                            .as_s()
                            .ok()
            })
            .then_output(|| PutItemOutput::builder().build());
        let owners: Arc<Mutex<Vec<String>>> = Arc::default();
        let released = owners.clone();
        let delete = mock!(Client::delete_item)
            .match_requests(move |r| {
                released.lock().unwrap().push(format!(
                    "{} {}",
                    r.key().unwrap()["pk"].as_s().unwrap(),
                    r.expression_attribute_values().unwrap()[":owner"]
                        .as_s()
                        .unwrap()
                ));
                r.condition_expression() == Some("lease_owner = :owner")
            })
            .then_output(|| DeleteItemOutput::builder().build());
        let client = mock_client!(aws_sdk_dynamodb, RuleMode::MatchAny, [&put, &delete]);
        let lease = Lease::new(client, "leases", Duration::from_secs(90))
            .scoped("222222222222", "eu-west-1");
        let answer = lease
            .hold(&target(), async { Ok::<_, Error>("done") })
            .await
            .unwrap();
        assert_eq!(answer, "done");
        assert_eq!(put.num_calls(), 1);
        assert_eq!(delete.num_calls(), 1);
        assert_eq!(
            puts.lock().unwrap()[0],
            "leases 222222222222:eu-west-1:demo/web attribute_not_exists(pk) OR lease_until < :now OR lease_owner = :owner"
        );
        assert!(owners.lock().unwrap()[0].starts_with("222222222222:eu-west-1:demo/web "));
    }

    #[tokio::test]
    async fn a_busy_service_is_waited_for_then_taken() {
        let put = mock!(Client::put_item)
            .sequence()
            .error(busy)
            .times(2)
            .output(|| PutItemOutput::builder().build())
            .build();
        let delete = mock!(Client::delete_item).then_output(|| DeleteItemOutput::builder().build());
        let client = mock_client!(aws_sdk_dynamodb, RuleMode::MatchAny, [&put, &delete]);
        let lease = Lease::new(client, "leases", Duration::from_secs(90));
        let order: Arc<Mutex<Vec<&str>>> = Arc::default();
        let o = order.clone();
        lease
            .hold(&target(), async move {
                o.lock().unwrap().push("work");
                Ok::<_, Error>(())
            })
            .await
            .unwrap();
        assert_eq!(put.num_calls(), 3, "two busy answers, then acquired");
        assert_eq!(delete.num_calls(), 1);
        assert_eq!(*order.lock().unwrap(), vec!["work"]);
    }

    #[tokio::test]
    async fn a_service_busy_beyond_the_wait_is_a_retryable_error_and_no_work() {
        let put = mock!(Client::put_item).then_error(busy);
        let delete = mock!(Client::delete_item).then_output(|| DeleteItemOutput::builder().build());
        let client = mock_client!(aws_sdk_dynamodb, RuleMode::MatchAny, [&put, &delete]);
        let mut lease = Lease::new(client, "leases", Duration::from_secs(90));
        lease.wait = Duration::from_millis(300);
        let ran = Arc::new(Mutex::new(false));
        let r = ran.clone();
        let err = lease
            .hold(&target(), async move {
                *r.lock().unwrap() = true;
                Ok::<_, Error>(())
            })
            .await
            .unwrap_err();
        assert!(err.is_retryable(), "{err}");
        assert!(err.to_string().contains("demo/web"), "{err}");
        assert!(!*ran.lock().unwrap(), "no work without the lease");
        assert!(put.num_calls() >= 2);
        assert_eq!(delete.num_calls(), 0, "nothing to release");
    }

    #[tokio::test]
    async fn the_lease_is_released_when_the_work_fails() {
        let put = mock!(Client::put_item).then_output(|| PutItemOutput::builder().build());
        let delete = mock!(Client::delete_item).then_output(|| DeleteItemOutput::builder().build());
        let client = mock_client!(aws_sdk_dynamodb, RuleMode::MatchAny, [&put, &delete]);
        let lease = Lease::new(client, "leases", Duration::from_secs(90));
        let err = lease
            .hold(&target(), async {
                Err::<(), _>(Error::Internal("boom".into()))
            })
            .await
            .unwrap_err();
        assert!(matches!(err, Error::Internal(_)));
        assert_eq!(delete.num_calls(), 1);
    }

    #[tokio::test]
    async fn a_lease_that_passed_on_is_not_deleted_and_not_an_error() {
        let put = mock!(Client::put_item).then_output(|| PutItemOutput::builder().build());
        let delete = mock!(Client::delete_item).then_error(|| {
            DeleteItemError::ConditionalCheckFailedException(
                ConditionalCheckFailedException::builder().build(),
            )
        });
        let client = mock_client!(aws_sdk_dynamodb, RuleMode::MatchAny, [&put, &delete]);
        let lease = Lease::new(client, "leases", Duration::from_secs(90));
        lease
            .hold(&target(), async { Ok::<_, Error>(()) })
            .await
            .unwrap();
        assert_eq!(delete.num_calls(), 1);
    }

    #[tokio::test]
    async fn a_failing_table_fails_the_event_retryably_without_work() {
        let put = mock!(Client::put_item).then_http_response(|| {
            aws_smithy_runtime_api::http::Response::new(
                aws_smithy_runtime_api::http::StatusCode::try_from(500).unwrap(),
                aws_smithy_types::body::SdkBody::from(r#"{"__type":"InternalServerError"}"#),
            )
        });
        let client = mock_client!(aws_sdk_dynamodb, RuleMode::MatchAny, [&put]);
        let lease = Lease::new(client, "leases", Duration::from_secs(90));
        let err = lease
            .hold(&target(), async { Ok::<_, Error>(()) })
            .await
            .unwrap_err();
        assert!(err.is_retryable(), "{err}");
    }
}
