//! Configuration from the environment (docs/src/configuration.md). Pure: `Config::from_lookup(|k| std::env::var(k).ok())`.

use chrono::Duration;

use crate::decision::Policy;
use crate::error::Error;

pub const ENV_DRY_RUN: &str = "ROLLBACK_DRY_RUN";
pub const ENV_ALARM_WINDOW: &str = "ROLLBACK_ALARM_WINDOW_MINUTES";
pub const ENV_COOLDOWN: &str = "ROLLBACK_COOLDOWN_MINUTES";
/// How long a down migration may run before it is stopped and the rollback not attempted.
pub const ENV_MIGRATION_TIMEOUT: &str = "ROLLBACK_MIGRATION_TIMEOUT_MINUTES";
pub const ENV_REQUIRE_OPT_IN: &str = "ROLLBACK_REQUIRE_OPT_IN";
pub const ENV_NOTIFY_TOPIC: &str = "ROLLBACK_NOTIFY_TOPIC_ARN";
pub const ENV_ALLOWED_ACCOUNTS: &str = "ROLLBACK_ALLOWED_ACCOUNTS";
pub const ENV_EARLY_FAILED_TASKS: &str = "ROLLBACK_EARLY_FAILED_TASKS";
pub const ENV_MEMBER_ROLE: &str = "ROLLBACK_MEMBER_ROLE_NAME";
pub const ENV_ALLOWED_REGIONS: &str = "ROLLBACK_ALLOWED_REGIONS";
pub const ENV_LEASE_TABLE: &str = "ROLLBACK_LEASE_TABLE";
pub const ENV_LEASE_SECONDS: &str = "ROLLBACK_LEASE_SECONDS";
/// `responder` (default) or `gate`: the deployment gate answers lifecycle hooks only.
pub const ENV_MODE: &str = "ROLLBACK_MODE";

/// How long a per-service lease lasts unless released: longer than the function's timeout
/// (60 s in template.yaml), so a holder that timed out is dead before its lease can pass on.
pub const DEFAULT_LEASE_SECONDS: u64 = 90;

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Config {
    pub policy: Policy,
    /// SNS topic for notifications; `None` = no SNS.
    pub notify_topic_arn: Option<String>,
    /// Organization mode: act in member accounts through their role. `None` = single account.
    pub organization: Option<Organization>,
    /// Per-service lease (DynamoDB) around read-decide-write. `None` = the template's
    /// concurrency of 1 serializes instead.
    pub lease: Option<LeaseConfig>,
    /// `ROLLBACK_MODE=gate`: the function is the deployment gate. It answers lifecycle-hook
    /// invocations only (anything else is refused) and writes nothing.
    pub gate_only: bool,
}

/// Organization mode: events of member accounts are acted on in that account and
/// region, with credentials of the member role assumed from the function's own role.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Organization {
    /// Name of the role the member StackSet creates in every member account.
    pub member_role_name: String,
    /// Accounts whose events are acted on.
    pub accounts: Accounts,
    /// Regions whose events are acted on; empty = the function's own region only.
    pub regions: Vec<String>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Accounts {
    /// `*`: every account whose events reach the function. The central event bus admits only
    /// the organization (`aws:PrincipalOrgID`), and the member role exists only there.
    Any,
    /// Exactly these 12-digit account ids (besides the function's own).
    Only(Vec<String>),
}

impl Accounts {
    pub fn admits(&self, account: &str) -> bool {
        match self {
            Accounts::Any => true,
            Accounts::Only(list) => list.iter().any(|a| a == account),
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LeaseConfig {
    /// DynamoDB table name (or ARN) with the string partition key `pk`.
    pub table: String,
    pub seconds: u64,
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
        if let Some(v) = get(ENV_MODE) {
            config.gate_only = match v.trim() {
                "responder" => false,
                "gate" => true,
                other => {
                    return Err(Error::Config(format!(
                        "{ENV_MODE}={other:?} is neither \"responder\" nor \"gate\""
                    )))
                }
            };
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
        if let Some(v) = get(ENV_MIGRATION_TIMEOUT) {
            config.policy.migration_timeout =
                Duration::minutes(parse_minutes(ENV_MIGRATION_TIMEOUT, &v)?);
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
        config.organization = organization(&get)?;
        if let Some(table) = get(ENV_LEASE_TABLE) {
            let table = table.trim().to_string();
            let name = table
                .rsplit_once(":table/")
                .map_or(table.as_str(), |(_, n)| n);
            let valid = (3..=255).contains(&name.len())
                && name
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"_.-".contains(&b));
            if !valid {
                return Err(Error::Config(format!(
                    "{ENV_LEASE_TABLE}={table:?} is not a DynamoDB table name or ARN"
                )));
            }
            let seconds = match get(ENV_LEASE_SECONDS) {
                None => DEFAULT_LEASE_SECONDS,
                Some(v) => match v.trim().parse::<u64>() {
                    Ok(n) if (10..=3600).contains(&n) => n,
                    _ => {
                        return Err(Error::Config(format!(
                        "{ENV_LEASE_SECONDS}={v:?} is not a whole number of seconds in 10..=3600"
                    )))
                    }
                },
            };
            config.lease = Some(LeaseConfig { table, seconds });
        } else if let Some(v) = get(ENV_LEASE_SECONDS) {
            return Err(Error::Config(format!(
                "{ENV_LEASE_SECONDS}={v:?} is set but {ENV_LEASE_TABLE} is not"
            )));
        }
        Ok(config)
    }
}

fn is_region(r: &str) -> bool {
    let parts: Vec<&str> = r.split('-').collect();
    parts.len() >= 3
        && parts.iter().all(|p| !p.is_empty())
        && parts[..parts.len() - 1]
            .iter()
            .all(|p| p.bytes().all(|b| b.is_ascii_lowercase()))
        && parts[parts.len() - 1].bytes().all(|b| b.is_ascii_digit())
}

/// The organization settings: `ROLLBACK_MEMBER_ROLE_NAME` turns the mode on and then needs
/// `ROLLBACK_ALLOWED_ACCOUNTS` (a list or `*`); `ROLLBACK_ALLOWED_REGIONS` is optional.
fn organization(get: &impl Fn(&str) -> Option<String>) -> Result<Option<Organization>, Error> {
    let role = get(ENV_MEMBER_ROLE).map(|v| v.trim().to_string());
    let accounts = get(ENV_ALLOWED_ACCOUNTS);
    let regions = get(ENV_ALLOWED_REGIONS);
    let Some(role) = role else {
        if let Some(name) = [
            (ENV_ALLOWED_ACCOUNTS, &accounts),
            (ENV_ALLOWED_REGIONS, &regions),
        ]
        .iter()
        .find_map(|(n, v)| v.as_ref().map(|_| *n))
        {
            return Err(Error::Config(format!(
                "{name} is set but {ENV_MEMBER_ROLE} is not: events of other accounts are acted on in their own account through that role (organization mode), never with this function's own credentials"
            )));
        }
        return Ok(None);
    };
    // IAM role names: 1-64 of [A-Za-z0-9+=,.@_-] (IAM API reference, CreateRole RoleName).
    let valid_role = (1..=64).contains(&role.len())
        && role
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"+=,.@_-".contains(&b));
    if !valid_role {
        return Err(Error::Config(format!(
            "{ENV_MEMBER_ROLE}={role:?} is not an IAM role name (1-64 of A-Z a-z 0-9 + = , . @ _ -)"
        )));
    }
    let Some(accounts) = accounts else {
        return Err(Error::Config(format!(
            "{ENV_MEMBER_ROLE} is set but {ENV_ALLOWED_ACCOUNTS} is not: list the member accounts, or \"*\" for every account whose events reach the function"
        )));
    };
    let accounts = if accounts.trim() == "*" {
        Accounts::Any
    } else {
        let mut list = Vec::new();
        for account in accounts.split(',').map(str::trim).filter(|a| !a.is_empty()) {
            if account.len() != 12 || !account.bytes().all(|b| b.is_ascii_digit()) {
                return Err(Error::Config(format!(
                    "{ENV_ALLOWED_ACCOUNTS}: {account:?} is not a 12-digit account id (or use \"*\")"
                )));
            }
            list.push(account.to_string());
        }
        Accounts::Only(list)
    };
    let mut list = Vec::new();
    for region in regions
        .iter()
        .flat_map(|v| v.split(','))
        .map(str::trim)
        .filter(|r| !r.is_empty())
    {
        if !is_region(region) {
            return Err(Error::Config(format!(
                "{ENV_ALLOWED_REGIONS}: {region:?} is not a region name such as eu-west-1"
            )));
        }
        list.push(region.to_string());
    }
    Ok(Some(Organization {
        member_role_name: role,
        accounts,
        regions: list,
    }))
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
            (ENV_EARLY_FAILED_TASKS, "0"),
        ])
        .unwrap();
        assert!(c.policy.dry_run && !c.policy.require_opt_in);
        assert_eq!(c.policy.alarm_window, None);
        assert_eq!(c.policy.cooldown, Duration::minutes(5));
        assert_eq!(c.policy.early_failed_tasks, 0);
        let bad: &[(&str, &str)] = &[
            (ENV_DRY_RUN, "maybe"),
            (ENV_COOLDOWN, "-1"),
            (ENV_ALARM_WINDOW, "sixty"),
            (ENV_NOTIFY_TOPIC, "my-topic"),
            (ENV_ALLOWED_ACCOUNTS, "111111111111"),
            (ENV_ALLOWED_REGIONS, "eu-west-1"),
            (ENV_MEMBER_ROLE, "ecs-rollback-member"),
            (ENV_LEASE_TABLE, "x"),
            (ENV_LEASE_SECONDS, "60"),
            (ENV_EARLY_FAILED_TASKS, "-1"),
            (ENV_EARLY_FAILED_TASKS, "500"),
        ];
        for (k, v) in bad {
            let err = from(&[(k, v)]).unwrap_err().to_string();
            assert!(err.contains(k), "{k}={v}: {err}");
        }
    }

    #[test]
    fn single_account_is_the_default() {
        let c = from(&[]).unwrap();
        assert_eq!(c.organization, None);
        assert_eq!(c.lease, None);
    }

    #[test]
    fn organization_mode_needs_the_role_and_the_accounts() {
        let c = from(&[
            (ENV_MEMBER_ROLE, "ecs-rollback-member"),
            (ENV_ALLOWED_ACCOUNTS, "111111111111, 222222222222"),
            (ENV_ALLOWED_REGIONS, "eu-west-1,us-east-1"),
        ])
        .unwrap();
        let org = c.organization.unwrap();
        assert_eq!(org.member_role_name, "ecs-rollback-member");
        assert!(org.accounts.admits("222222222222"));
        assert!(!org.accounts.admits("333333333333"));
        assert_eq!(org.regions, vec!["eu-west-1", "us-east-1"]);

        let any = from(&[(ENV_MEMBER_ROLE, "r"), (ENV_ALLOWED_ACCOUNTS, "*")]).unwrap();
        let org = any.organization.unwrap();
        assert_eq!(org.accounts, Accounts::Any);
        assert!(org.regions.is_empty());

        // The old meaning (act on another account's event with our own credentials) is gone:
        // an allow-list without the member role is refused at start-up, naming both settings.
        let err = from(&[(ENV_ALLOWED_ACCOUNTS, "111111111111")])
            .unwrap_err()
            .to_string();
        assert!(
            err.contains(ENV_ALLOWED_ACCOUNTS) && err.contains(ENV_MEMBER_ROLE),
            "{err}"
        );
        let err = from(&[(ENV_MEMBER_ROLE, "r")]).unwrap_err().to_string();
        assert!(err.contains(ENV_ALLOWED_ACCOUNTS), "{err}");
        for (k, v) in [
            (ENV_ALLOWED_ACCOUNTS, "12"),
            (ENV_ALLOWED_REGIONS, "Europe"),
            (ENV_MEMBER_ROLE, "no spaces"),
        ] {
            let mut pairs = vec![(ENV_MEMBER_ROLE, "r"), (ENV_ALLOWED_ACCOUNTS, "*")];
            pairs.retain(|(n, _)| *n != k);
            pairs.push((k, v));
            let err = from(&pairs).unwrap_err().to_string();
            assert!(err.contains(k), "{k}={v}: {err}");
        }
    }

    #[test]
    fn lease_settings() {
        let c = from(&[(ENV_LEASE_TABLE, "ecs-rollback-leases")]).unwrap();
        assert_eq!(
            c.lease,
            Some(LeaseConfig {
                table: "ecs-rollback-leases".into(),
                seconds: DEFAULT_LEASE_SECONDS
            })
        );
        let c = from(&[
            (
                ENV_LEASE_TABLE,
                "arn:aws:dynamodb:eu-west-1:123456789012:table/leases",
            ),
            (ENV_LEASE_SECONDS, "120"),
        ])
        .unwrap();
        assert_eq!(c.lease.unwrap().seconds, 120);
        for v in ["5", "x", "99999"] {
            let err = from(&[(ENV_LEASE_TABLE, "leases"), (ENV_LEASE_SECONDS, v)])
                .unwrap_err()
                .to_string();
            assert!(err.contains(ENV_LEASE_SECONDS), "{v}: {err}");
        }
        let err = from(&[(ENV_LEASE_TABLE, "a b")]).unwrap_err().to_string();
        assert!(err.contains(ENV_LEASE_TABLE), "{err}");
    }
}
