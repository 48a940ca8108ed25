//! AWS set-up for the CLI: the SDK environment plus `--profile`, `--region`, `--endpoint-url`,
//! the same retries as the Lambda with a person's timeouts, and an early, clear error when there
//! is no region, no credentials, or a profile that does not exist.

use std::time::Duration;

use aws_config::{Region, SdkConfig};
use aws_credential_types::provider::error::CredentialsError;
use aws_sdk_ecs::config::ProvideCredentials;

use super::args::{AwsArgs, Format, MaybeServiceArgs};
use super::error::{CliError, Code};
use super::git::Git;
use super::watch::{NoRetryOnTimeout, Watch};
use crate::aws::ecs::Ecs;
use crate::config::Config;
use crate::error::Error;
use crate::handler::Deps;
use crate::model::{ServiceRef, ServiceState};
use crate::runtime;

/// What every command gets.
pub struct Ctx {
    pub sdk: SdkConfig,
    pub format: Format,
    pub git: Git,
}

/// How long the CLI waits to connect to an endpoint.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// How long one attempt of an AWS call may take; an attempt that times out is not retried
/// (`watch::NoRetryOnTimeout`): an endpoint that does not answer fails the command after this.
pub const ATTEMPT_TIMEOUT: Duration = Duration::from_secs(20);
/// How long an AWS call may take with its retries (throttling, 5xx).
pub const OPERATION_TIMEOUT: Duration = Duration::from_secs(60);

/// The SDK configuration, checked: a region is set, a named profile exists and credentials
/// resolve.
pub async fn sdk_config(aws: &AwsArgs) -> Result<SdkConfig, CliError> {
    // The Lambda's retries; a person's timeouts: short enough that a silent endpoint is said.
    let mut loader = runtime::sdk_loader().timeout_config(
        aws_config::timeout::TimeoutConfig::builder()
            .connect_timeout(CONNECT_TIMEOUT)
            .operation_attempt_timeout(ATTEMPT_TIMEOUT)
            .operation_timeout(OPERATION_TIMEOUT)
            .build(),
    );
    if let Some(profile) = &aws.profile {
        loader = loader.profile_name(profile);
    }
    if let Some(region) = &aws.region {
        loader = loader.region(Region::new(region.clone()));
    }
    if let Some(url) = &aws.endpoint_url {
        loader = loader.endpoint_url(url);
    }
    // The SDK falls back to other credentials quietly when the profile does not exist.
    let from_env = std::env::var("AWS_PROFILE")
        .ok()
        .map(|p| p.trim().to_string())
        .filter(|p| !p.is_empty());
    match (&aws.profile, from_env) {
        (Some(profile), _) => check_profile(profile, "--profile").await?,
        (None, Some(profile)) => check_profile(&profile, "AWS_PROFILE").await?,
        (None, None) => {}
    }
    let sdk = loader.load().await;

    let Some(provider) = sdk.credentials_provider() else {
        return Err(no_credentials("no credentials provider is configured"));
    };
    match tokio::time::timeout(Duration::from_secs(30), provider.provide_credentials()).await {
        Ok(Ok(_)) => {}
        Ok(Err(CredentialsError::CredentialsNotLoaded(_))) => {
            return Err(no_credentials(
                "none found (tried the environment, the profile, web identity, the container and instance metadata)",
            ))
        }
        Ok(Err(e)) => return Err(no_credentials(&error_chain(&e))),
        Err(_) => return Err(no_credentials("resolving credentials took more than 30 s")),
    }
    if sdk.region().is_none() {
        return Err(CliError::usage("no AWS region is configured")
            .hint("pass --region, set AWS_REGION, or set `region` in the profile"));
    }
    Ok(sdk)
}

/// The AWS config and credentials files the SDK reads (`AWS_CONFIG_FILE`,
/// `AWS_SHARED_CREDENTIALS_FILE`, else `~/.aws/config` and `~/.aws/credentials`).
fn profile_files() -> String {
    let file = |var: &str, default: &str| {
        std::env::var(var)
            .ok()
            .filter(|v| !v.trim().is_empty())
            .unwrap_or_else(|| default.to_string())
    };
    format!(
        "{} and {}",
        file("AWS_CONFIG_FILE", "~/.aws/config"),
        file("AWS_SHARED_CREDENTIALS_FILE", "~/.aws/credentials")
    )
}

/// A named profile must exist (the SDK would otherwise fall back to other credentials quietly);
/// `from` says where the name came from (`--profile`, `AWS_PROFILE`).
async fn check_profile(name: &str, from: &str) -> Result<(), CliError> {
    use aws_runtime::env_config::file::EnvConfigFiles as ProfileFiles;
    use aws_types::os_shim_internal::{Env, Fs};
    let set = aws_config::profile::load(&Fs::real(), &Env::real(), &ProfileFiles::default(), None)
        .await
        .map_err(|e| {
            CliError::usage(format!("cannot read the AWS config files: {e}"))
                .hint("fix ~/.aws/config and ~/.aws/credentials (or AWS_CONFIG_FILE / AWS_SHARED_CREDENTIALS_FILE)")
        })?;
    if set.get_profile(name).is_some() {
        return Ok(());
    }
    let mut known: Vec<&str> = set.profiles().collect();
    known.sort();
    let hint = if known.is_empty() {
        "no profiles are configured: `aws configure --profile NAME` or `aws configure sso` creates one".to_string()
    } else {
        format!("profiles found: {}", known.join(", "))
    };
    let unset = if from == "AWS_PROFILE" {
        "; unset AWS_PROFILE to use the default credentials chain"
    } else {
        ""
    };
    Err(CliError::usage(format!(
        "profile {name:?} ({from}) is not in {} (the files read)",
        profile_files()
    ))
    .hint(format!("{hint}{unset}")))
}

fn no_credentials(why: &str) -> CliError {
    CliError::new(Code::Usage, format!("no AWS credentials: {why}")).hint(
        "use --profile or AWS_PROFILE, run `aws sso login`, or export AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY",
    )
}

/// `Display` of an error and its sources, joined with `: ` (deduplicated).
fn error_chain(e: &(dyn std::error::Error + 'static)) -> String {
    let mut parts: Vec<String> = Vec::new();
    let mut source: Option<&(dyn std::error::Error + 'static)> = Some(e);
    while let Some(s) = source {
        let text = s.to_string();
        if !parts.iter().any(|p| p.contains(&text)) {
            parts.push(text);
        }
        source = s.source();
    }
    parts.join(": ")
}

/// The Lambda's settings from the environment (`ROLLBACK_*`), validated.
pub fn env_config() -> Result<Config, CliError> {
    Config::from_lookup(|k| std::env::var(k).ok()).map_err(CliError::from)
}

/// The handler's dependencies for a manual command: the opt-in tag is not required (an explicit
/// opt-out still refuses), dry run only when asked. With `notify` false nothing is published.
pub fn manual_deps(sdk: &SdkConfig, dry_run: bool, notify: bool) -> Result<Deps, CliError> {
    let mut config = env_config()?;
    config.policy.require_opt_in = false;
    config.policy.dry_run = dry_run;
    if !notify {
        config.notify_topic_arn = None;
    }
    Ok(watched(runtime::deps(sdk, config), sdk))
}

/// The handler's dependencies exactly as the Lambda builds them (replay), dry run unless `execute`.
pub fn responder_deps(sdk: &SdkConfig, execute: bool) -> Result<Deps, CliError> {
    let mut config = env_config()?;
    if !execute {
        config.policy.dry_run = true;
        config.notify_topic_arn = None;
    }
    Ok(watched(runtime::deps(sdk, config), sdk))
}

/// The same dependencies with the ECS client watched ([`Watch`]): HTTP statuses remembered for
/// error messages, failed attempts said on a terminal.
fn watched(mut deps: Deps, sdk: &SdkConfig) -> Deps {
    deps.ecs = Ecs::new(ecs_client(sdk));
    deps
}

/// An ECS client with the [`Watch`] interceptor.
pub fn ecs_client(sdk: &SdkConfig) -> aws_sdk_ecs::Client {
    let conf = aws_sdk_ecs::config::Builder::from(sdk)
        .interceptor(Watch::new())
        .retry_classifier(NoRetryOnTimeout)
        .build();
    aws_sdk_ecs::Client::from_conf(conf)
}

/// An ECR client for `region` (an image's registry region), watched.
pub fn ecr_client(sdk: &SdkConfig, region: &str) -> aws_sdk_ecr::Client {
    let conf = aws_sdk_ecr::config::Builder::from(sdk)
        .region(Region::new(region.to_string()))
        .interceptor(Watch::new())
        .retry_classifier(NoRetryOnTimeout)
        .build();
    aws_sdk_ecr::Client::from_conf(conf)
}

/// Who runs the command, for the audit trail: the STS caller identity (an ARN such as
/// `arn:aws:sts::123456789012:assumed-role/Ops/alice`), else the OS user (`$USER`), else
/// "an unknown user". One call; GetCallerIdentity needs no permission, and an explicit deny does
/// not stop it (STS API reference, GetCallerIdentity).
pub async fn caller(sdk: &SdkConfig) -> String {
    let conf = aws_sdk_sts::config::Builder::from(sdk).build();
    let client = aws_sdk_sts::Client::from_conf(conf);
    let asked =
        tokio::time::timeout(Duration::from_secs(15), client.get_caller_identity().send()).await;
    match asked {
        Ok(Ok(out)) => {
            if let Some(arn) = out.arn().filter(|a| !a.is_empty()) {
                return arn.to_string();
            }
            tracing::info!("GetCallerIdentity answered no ARN; the OS user is recorded");
        }
        Ok(Err(e)) => {
            tracing::info!(error = %e, "GetCallerIdentity failed; the OS user is recorded")
        }
        Err(_) => tracing::info!("GetCallerIdentity took more than 15 s; the OS user is recorded"),
    }
    os_user()
}

/// `$USER` (or `%USERNAME%`), else "an unknown user".
pub fn os_user() -> String {
    std::env::var("USER")
        .or_else(|_| std::env::var("USERNAME"))
        .ok()
        .filter(|u| !u.trim().is_empty())
        .unwrap_or_else(|| "an unknown user".into())
}

/// The region in use, for messages.
pub fn region(sdk: &SdkConfig) -> String {
    sdk.region()
        .map(|r| r.to_string())
        .unwrap_or_else(|| "?".into())
}

/// The service that `-c`/`-s` name, read; `None` when the command was given none (diff, mark).
pub async fn named_service(
    ecs: &Ecs,
    target: &MaybeServiceArgs,
) -> Result<Option<ServiceState>, Error> {
    match (&target.cluster, &target.service) {
        (Some(cluster), Some(service)) => Ok(Some(
            ecs.describe_service(&ServiceRef {
                cluster: cluster.clone(),
                service: service.clone(),
            })
            .await?,
        )),
        _ => Ok(None),
    }
}
