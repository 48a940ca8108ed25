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

    // Both are checked before either is reported: a person missing both fixes both at once.
    let credentials = match sdk.credentials_provider() {
        None => Err("no credentials provider is configured".to_string()),
        Some(provider) => {
            match tokio::time::timeout(Duration::from_secs(30), provider.provide_credentials())
                .await
            {
                Ok(Ok(_)) => Ok(()),
                Ok(Err(CredentialsError::CredentialsNotLoaded(_))) => Err(format!(
                    "none found {}",
                    credential_sources(|k| std::env::var(k).ok())
                )),
                Ok(Err(e)) => Err(error_chain(&e)),
                Err(_) => Err("resolving credentials took more than 30 s".to_string()),
            }
        }
    };
    match (credentials, sdk.region().is_some()) {
        (Ok(()), true) => Ok(sdk),
        (Ok(()), false) => Err(no_region()),
        (Err(why), true) => Err(no_credentials(&why)),
        (Err(why), false) => Err(CliError::usage(format!(
            "no AWS credentials and no AWS region are configured; credentials: {why}"
        ))
        .hint(
            "pass --region or set AWS_REGION, and use --profile or AWS_PROFILE, run `aws sso login`, or export AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY (`aws configure` writes a region and keys to ~/.aws)",
        )),
    }
}

/// Where the SDK looked for credentials, as a person would check them: the environment and the
/// AWS files; the container and web-identity sources only when their variables say they are in
/// use. The instance metadata service is not named: on a laptop it is no place to look.
fn credential_sources(env: impl Fn(&str) -> Option<String>) -> String {
    let set = |k: &str| env(k).is_some_and(|v| !v.trim().is_empty());
    let mut places = vec![
        "in the environment (AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY)".to_string(),
        format!("in {}", profile_files_with(&env)),
    ];
    if set("AWS_WEB_IDENTITY_TOKEN_FILE") {
        places.push("from the web identity token (AWS_WEB_IDENTITY_TOKEN_FILE)".to_string());
    }
    if set("AWS_CONTAINER_CREDENTIALS_RELATIVE_URI") || set("AWS_CONTAINER_CREDENTIALS_FULL_URI") {
        places.push("from the container credentials endpoint".to_string());
    }
    let last = places.pop().unwrap_or_default();
    if places.is_empty() {
        last
    } else {
        format!("{} or {last}", places.join(", "))
    }
}

fn no_region() -> CliError {
    CliError::usage("no AWS region is configured")
        .hint("pass --region, set AWS_REGION, or set `region` in the profile")
}

/// The AWS config and credentials files the SDK reads (`AWS_CONFIG_FILE`,
/// `AWS_SHARED_CREDENTIALS_FILE`, else `~/.aws/config` and `~/.aws/credentials`).
fn profile_files() -> String {
    profile_files_with(&|k: &str| std::env::var(k).ok())
}

fn profile_files_with(env: &dyn Fn(&str) -> Option<String>) -> String {
    let file = |var: &str, default: &str| {
        env(var)
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

#[cfg(test)]
mod tests {
    use super::*;

    fn env(vars: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let vars: std::collections::HashMap<String, String> = vars
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        move |k| vars.get(k).cloned()
    }

    // On a laptop the message named "the container and instance metadata": no place a person
    // looks for credentials there.
    #[test]
    fn credential_sources_name_what_a_person_can_check() {
        let laptop = credential_sources(env(&[]));
        assert_eq!(
            laptop,
            "in the environment (AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY) or in ~/.aws/config and ~/.aws/credentials"
        );
        assert!(!laptop.contains("metadata") && !laptop.contains("container"));
        let files = credential_sources(env(&[("AWS_SHARED_CREDENTIALS_FILE", "/tmp/creds")]));
        assert!(
            files.ends_with("in ~/.aws/config and /tmp/creds"),
            "{files}"
        );
        let task = credential_sources(env(&[
            (
                "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI",
                "/v2/credentials/x",
            ),
            ("AWS_WEB_IDENTITY_TOKEN_FILE", "/var/run/token"),
        ]));
        assert!(
            task.contains(", from the web identity token (AWS_WEB_IDENTITY_TOKEN_FILE) or from the container credentials endpoint"),
            "{task}"
        );
        assert!(!task.contains("metadata"), "{task}");
    }
}
