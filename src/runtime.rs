//! Process set-up shared by the binaries: logging and AWS clients, built once per sandbox.

use std::sync::Arc;
use std::time::Duration;

use aws_config::retry::RetryConfig;
use aws_config::timeout::TimeoutConfig;
use aws_config::BehaviorVersion;

use crate::aws::clients::ClientPool;
use crate::aws::cloudwatch::CloudWatch;
use crate::aws::ecs::Ecs;
use crate::aws::lease::Lease;
use crate::aws::sns::Sns;
use crate::config::Config;
use crate::handler::Deps;

/// JSON logs on stdout, one object per line, level from `RUST_LOG` (default `info`).
/// Lambda's JSON log format and CloudWatch Logs Insights read these fields directly.
pub fn init_logging() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    tracing_subscriber::fmt()
        .json()
        .flatten_event(true)
        // The handler's `event` span names the account and region: on every line as `span`.
        .with_current_span(true)
        .with_span_list(false)
        .with_target(false)
        .with_env_filter(filter)
        .with_writer(std::io::stdout)
        .init();
}

/// The SDK's bound on one attempt of a call.
pub const SDK_ATTEMPT_TIMEOUT: Duration = Duration::from_secs(10);
/// The SDK's bound on a call with its retries: below the shortest function timeout of the
/// template (the gate's 30 s) less the deadline margin, so that even without a deadline no call
/// outlives an invocation (`scripts/check-template` checks both).
pub const SDK_OPERATION_TIMEOUT: Duration = Duration::from_secs(25);

/// The Lambda's SDK configuration: the standard environment (`AWS_REGION`, credentials,
/// `AWS_ENDPOINT_URL`, `AWS_ENDPOINT_URL_<SERVICE>`), standard retries with backoff, timeouts
/// that fit inside the function's timeout, and the HTTP client of [`crate::aws::https`].
pub async fn sdk_config() -> aws_config::SdkConfig {
    let mut loader = sdk_loader();
    // Lambda puts the execution role's credentials and the region in the environment: read them
    // there directly instead of building the whole default chains (profile files, SSO, web
    // identity, ECS and IMDS providers), which cost most of the first event's set-up.
    let env = |k: &str| std::env::var(k).ok().filter(|v| !v.is_empty());
    if env("AWS_ACCESS_KEY_ID").is_some() && env("AWS_SECRET_ACCESS_KEY").is_some() {
        loader = loader.credentials_provider(
            aws_config::environment::EnvironmentVariableCredentialsProvider::new(),
        );
    }
    if let Some(region) = env("AWS_REGION").or_else(|| env("AWS_DEFAULT_REGION")) {
        loader = loader.region(aws_config::Region::new(region));
    }
    loader.http_client(crate::aws::https::client()).load().await
}

/// The loader behind [`sdk_config`], shared with the CLI (which adds profile, region, endpoint).
pub fn sdk_loader() -> aws_config::ConfigLoader {
    aws_config::defaults(BehaviorVersion::latest())
        .retry_config(RetryConfig::standard().with_max_attempts(4))
        .timeout_config(
            TimeoutConfig::builder()
                .connect_timeout(Duration::from_secs(3))
                .operation_attempt_timeout(SDK_ATTEMPT_TIMEOUT)
                .operation_timeout(SDK_OPERATION_TIMEOUT)
                .build(),
        )
}

/// Clients for the handler, from an SDK configuration and the policy.
pub fn deps(sdk: &aws_config::SdkConfig, config: Config) -> Deps {
    let sns = config.notify_topic_arn.clone().map(|topic_arn| Sns {
        client: aws_sdk_sns::Client::new(sdk),
        topic_arn,
    });
    let pool = config
        .organization
        .as_ref()
        .map(|org| Arc::new(ClientPool::new(sdk.clone(), &org.member_role_name)));
    let lease = config.lease.as_ref().map(|l| {
        Lease::new(
            aws_sdk_dynamodb::Client::new(sdk),
            &l.table,
            Duration::from_secs(l.seconds),
        )
    });
    Deps {
        ecs: Ecs::new(aws_sdk_ecs::Client::new(sdk)),
        cloudwatch: CloudWatch::new(aws_sdk_cloudwatch::Client::new(sdk)),
        sns,
        config,
        pool,
        lease,
    }
}
