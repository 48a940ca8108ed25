//! Configuration from the environment (DESIGN §5). Pure: `Config::from_lookup(|k| std::env::var(k).ok())`.

use chrono::Duration;

use crate::decision::Policy;
use crate::error::Error;

pub const ENV_DRY_RUN: &str = "ROLLBACK_DRY_RUN";
pub const ENV_ALARM_WINDOW: &str = "ROLLBACK_ALARM_WINDOW_MINUTES";
pub const ENV_COOLDOWN: &str = "ROLLBACK_COOLDOWN_MINUTES";
pub const ENV_REQUIRE_OPT_IN: &str = "ROLLBACK_REQUIRE_OPT_IN";
pub const ENV_NOTIFY_TOPIC: &str = "ROLLBACK_NOTIFY_TOPIC_ARN";
pub const ENV_ALLOWED_ACCOUNTS: &str = "ROLLBACK_ALLOWED_ACCOUNTS";
pub const ENV_EARLY_FAILED_TASKS: &str = "ROLLBACK_EARLY_FAILED_TASKS";

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Config {
    pub policy: Policy,
    /// SNS topic for notifications; `None` = no SNS.
    pub notify_topic_arn: Option<String>,
    /// Accounts whose events are acted on besides the function's own.
    pub allowed_accounts: Vec<String>,
    /// Who acts, recorded on the service after a rollback (`ecs-rollback:last-rollback-by`): the
    /// CLI sets its caller identity; `None` = the responder itself (`ecs-rollback`).
    pub run_by: Option<String>,
}

fn parse_bool(name: &str, value: &str) -> Result<bool, Error> {
    match value.trim().to_ascii_lowercase().as_str() {
        "true" | "1" | "yes" => Ok(true),
        "false" | "0" | "no" => Ok(false),
        _ => Err(Error::Config(format!(
            "{name}={value:?} is not true or false"
        ))),
    }
}

fn parse_minutes(name: &str, value: &str) -> Result<i64, Error> {
    let minutes: i64 = value
        .trim()
        .parse()
        .map_err(|_| Error::Config(format!("{name}={value:?} is not a whole number of minutes")))?;
    if !(0..=10_080).contains(&minutes) {
        return Err(Error::Config(format!(
            "{name}={minutes} is outside 0..=10080 (one week)"
        )));
    }
    Ok(minutes)
}

impl Config {
    /// Reads every setting through `lookup`; unset or empty means the default.
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Config, Error> {
        let get = |name: &str| lookup(name).filter(|v| !v.trim().is_empty());
        let mut config = Config::default();
        if let Some(v) = get(ENV_DRY_RUN) {
            config.policy.dry_run = parse_bool(ENV_DRY_RUN, &v)?;
        }
        if let Some(v) = get(ENV_REQUIRE_OPT_IN) {
            config.policy.require_opt_in = parse_bool(ENV_REQUIRE_OPT_IN, &v)?;
        }
        if let Some(v) = get(ENV_ALARM_WINDOW) {
            let minutes = parse_minutes(ENV_ALARM_WINDOW, &v)?;
            config.policy.alarm_window = (minutes > 0).then(|| Duration::minutes(minutes));
        }
        if let Some(v) = get(ENV_COOLDOWN) {
            config.policy.cooldown = Duration::minutes(parse_minutes(ENV_COOLDOWN, &v)?);
        }
        if let Some(v) = get(ENV_EARLY_FAILED_TASKS) {
            let n: u32 = v.trim().parse().map_err(|_| {
                Error::Config(format!(
                    "{ENV_EARLY_FAILED_TASKS}={v:?} is not a whole number of tasks"
                ))
            })?;
            if n > 200 {
                return Err(Error::Config(format!(
                    "{ENV_EARLY_FAILED_TASKS}={n} is above 200, the circuit breaker's own maximum"
                )));
            }
            config.policy.early_failed_tasks = n;
        }
        if let Some(v) = get(ENV_NOTIFY_TOPIC) {
            let v = v.trim().to_string();
            if !v.starts_with("arn:") || !v.contains(":sns:") {
                return Err(Error::Config(format!(
                    "{ENV_NOTIFY_TOPIC}={v:?} is not an SNS topic ARN"
                )));
            }
            config.notify_topic_arn = Some(v);
        }
        if let Some(v) = get(ENV_ALLOWED_ACCOUNTS) {
            for account in v.split(',').map(str::trim).filter(|a| !a.is_empty()) {
                if account.len() != 12 || !account.bytes().all(|b| b.is_ascii_digit()) {
                    return Err(Error::Config(format!(
                        "{ENV_ALLOWED_ACCOUNTS}: {account:?} is not a 12-digit account id"
                    )));
                }
                config.allowed_accounts.push(account.to_string());
            }
        }
        Ok(config)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn from(pairs: &[(&str, &str)]) -> Result<Config, Error> {
        let pairs: Vec<(String, String)> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        Config::from_lookup(|k| pairs.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone()))
    }

    #[test]
    fn defaults_match_the_contract() {
        let c = from(&[]).unwrap();
        assert!(!c.policy.dry_run);
        assert!(c.policy.require_opt_in);
        assert_eq!(c.policy.alarm_window, Some(Duration::minutes(60)));
        assert_eq!(c.policy.cooldown, Duration::minutes(30));
        assert_eq!(c.notify_topic_arn, None);
        assert_eq!(c.policy.early_failed_tasks, 2);
    }

    #[test]
    fn settings_are_read_and_validated() {
        let c = from(&[
            (ENV_DRY_RUN, "true"),
            (ENV_ALARM_WINDOW, "0"),
            (ENV_COOLDOWN, "5"),
            (ENV_REQUIRE_OPT_IN, "false"),
            (
                ENV_NOTIFY_TOPIC,
                "arn:aws:sns:eu-west-1:123456789012:rollbacks",
            ),
            (ENV_ALLOWED_ACCOUNTS, "111111111111, 222222222222"),
            (ENV_EARLY_FAILED_TASKS, "0"),
        ])
        .unwrap();
        assert!(c.policy.dry_run && !c.policy.require_opt_in);
        assert_eq!(c.policy.alarm_window, None);
        assert_eq!(c.policy.cooldown, Duration::minutes(5));
        assert_eq!(c.allowed_accounts.len(), 2);
        assert_eq!(c.policy.early_failed_tasks, 0);
        let bad: &[(&str, &str)] = &[
            (ENV_DRY_RUN, "maybe"),
            (ENV_COOLDOWN, "-1"),
            (ENV_ALARM_WINDOW, "sixty"),
            (ENV_NOTIFY_TOPIC, "my-topic"),
            (ENV_ALLOWED_ACCOUNTS, "12"),
            (ENV_EARLY_FAILED_TASKS, "-1"),
            (ENV_EARLY_FAILED_TASKS, "500"),
        ];
        for (k, v) in bad {
            let err = from(&[(k, v)]).unwrap_err().to_string();
            assert!(err.contains(k), "{k}={v}: {err}");
        }
    }
}
