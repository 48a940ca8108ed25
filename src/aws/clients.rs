//! Organization mode: ECS and CloudWatch clients per (account, region), with the
//! credentials of the member role assumed from the function's own role, kept for the life of
//! the sandbox. Also the place (account, region) an invocation acts in, which every log line,
//! response, metric and notification names.
//!
//! * Credentials: `aws_config::sts::AssumeRoleProvider` for
//!   `arn:PARTITION:iam::ACCOUNT:role/ROLLBACK_MEMBER_ROLE_NAME`. The provider does not cache by
//!   itself; the identity cache of the client does. One provider and ONE identity cache per
//!   account, shared by that account's clients in every region: one `AssumeRole` per account
//!   and hour, however many regions and services. A cache of its own per account matters: the
//!   SDK's default lazy cache shared by all clients of an `SdkConfig` keeps at most 64 partitions
//!   (one per credentials provider) and evicts beyond that
//!   (`aws-smithy-runtime` `client/identity/cache/lazy.rs`, `DEFAULT_MAX_PARTITIONS`), which at
//!   organization scale would throw credentials away and call STS again on every event.
//! * Sessions: role chaining (the Lambda role's session assumes the member role) caps a session
//!   at one hour (IAM User Guide, "Role chaining"); `SESSION` asks for exactly that, and the lazy
//!   cache refreshes before expiry.
//! * STS is called in the function's own region (the regional endpoint
//!   `sts.REGION.amazonaws.com`, which the Rust SDK uses by default: no global endpoint, no
//!   cross-region dependency; tokens of regional endpoints are valid in every region).
//! * Building a client makes no call: an event refused before [`ClientPool::clients`] costs nothing
//!   in any account, and the first AWS call of a new (account, region) is the `AssumeRole`.

use std::collections::HashMap;
use std::sync::{Mutex, PoisonError};
use std::time::Duration;

use aws_config::identity::IdentityCache;
use aws_config::sts::AssumeRoleProvider;
use aws_config::{Region, SdkConfig};
use aws_credential_types::provider::SharedCredentialsProvider;
use aws_sdk_ecs::config::SharedIdentityCache;

use super::cloudwatch::CloudWatch;
use super::ecs::Ecs;

/// Session length asked of STS: the one-hour maximum of a chained role session.
pub const SESSION: Duration = Duration::from_secs(3600);
/// The session name member accounts see in CloudTrail.
pub const SESSION_NAME: &str = "ecs-rollback";

/// Where an invocation acts: the event's account and region (or the function's own).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Place {
    pub account: String,
    pub region: String,
}

tokio::task_local! {
    static PLACE: Place;
}

/// Run `work` with `place` as the current place (read by metrics and notifications).
pub async fn within<F: std::future::Future>(place: Place, work: F) -> F::Output {
    PLACE.scope(place, work).await
}

/// The place of the current invocation, if [`within`] set one.
pub fn current() -> Option<Place> {
    PLACE.try_with(Place::clone).ok()
}

/// `arn:PARTITION:iam::ACCOUNT:role/NAME`.
pub fn role_arn(partition: &str, account: &str, role_name: &str) -> String {
    format!("arn:{partition}:iam::{account}:role/{role_name}")
}

/// The clients of one member account and region.
#[derive(Clone, Debug)]
pub struct Clients {
    pub ecs: Ecs,
    pub cloudwatch: CloudWatch,
}

#[derive(Clone)]
struct Identity {
    provider: SharedCredentialsProvider,
    cache: SharedIdentityCache,
}

/// Member-account clients, built on first use and kept for the sandbox's life.
pub struct ClientPool {
    base: SdkConfig,
    role_name: String,
    sts_region: Option<Region>,
    identities: Mutex<HashMap<String, Identity>>,
    clients: Mutex<HashMap<Place, Clients>>,
}

impl std::fmt::Debug for ClientPool {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClientPool")
            .field("role_name", &self.role_name)
            .field("accounts", &self.accounts())
            .field("clients", &self.len())
            .finish()
    }
}

impl ClientPool {
    /// `base` is the function's own SDK configuration (its region is where STS is called).
    pub fn new(base: SdkConfig, role_name: impl Into<String>) -> ClientPool {
        ClientPool {
            sts_region: base.region().cloned(),
            base,
            role_name: role_name.into(),
            identities: Mutex::default(),
            clients: Mutex::default(),
        }
    }

    /// Accounts with credentials in the pool.
    pub fn accounts(&self) -> usize {
        self.identities.lock().map(|m| m.len()).unwrap_or(0)
    }

    /// (account, region) pairs with clients in the pool.
    pub fn len(&self) -> usize {
        self.clients.lock().map(|m| m.len()).unwrap_or(0)
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The role this pool assumes in `account`.
    pub fn role_arn(&self, partition: &str, account: &str) -> String {
        role_arn(partition, account, &self.role_name)
    }

    async fn identity(&self, partition: &str, account: &str) -> Identity {
        if let Some(found) = self
            .identities
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .get(account)
        {
            return found.clone();
        }
        let mut builder = AssumeRoleProvider::builder(self.role_arn(partition, account))
            .session_name(SESSION_NAME)
            .session_length(SESSION)
            .configure(&self.base);
        if let Some(region) = &self.sts_region {
            builder = builder.region(region.clone());
        }
        let built = Identity {
            provider: SharedCredentialsProvider::new(builder.build().await),
            cache: IdentityCache::lazy().build(),
        };
        // Another task may have built one meanwhile: keep the first, so one cache per account.
        // A poisoned lock only means another task panicked while inserting: the map of
        // ready-built clients is still sound, so it is used as it is.
        self.identities
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .entry(account.to_string())
            .or_insert(built)
            .clone()
    }

    /// The clients for `place` (built without any call on first use).
    pub async fn clients(&self, partition: &str, place: &Place) -> Clients {
        if let Some(found) = self
            .clients
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .get(place)
        {
            return found.clone();
        }
        let identity = self.identity(partition, &place.account).await;
        let region = Region::new(place.region.clone());
        let ecs = aws_sdk_ecs::config::Builder::from(&self.base)
            .region(region.clone())
            .credentials_provider(identity.provider.clone())
            .identity_cache(identity.cache.clone())
            .build();
        let cloudwatch = aws_sdk_cloudwatch::config::Builder::from(&self.base)
            .region(region)
            .credentials_provider(identity.provider)
            .identity_cache(identity.cache)
            .build();
        let built = Clients {
            ecs: Ecs::new(aws_sdk_ecs::Client::from_conf(ecs)),
            cloudwatch: CloudWatch::new(aws_sdk_cloudwatch::Client::from_conf(cloudwatch)),
        };
        self.clients
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .entry(place.clone())
            .or_insert(built)
            .clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_sdk_ecs::config::Credentials;

    async fn base() -> SdkConfig {
        aws_config::defaults(aws_config::BehaviorVersion::latest())
            .region(Region::new("eu-west-1"))
            .credentials_provider(Credentials::new("a", "b", None, None, "test"))
            .load()
            .await
    }

    fn place(account: &str, region: &str) -> Place {
        Place {
            account: account.into(),
            region: region.into(),
        }
    }

    #[tokio::test]
    async fn role_arns_name_the_member_account_and_partition() {
        assert_eq!(
            role_arn("aws", "222222222222", "ecs-rollback-member"),
            "arn:aws:iam::222222222222:role/ecs-rollback-member"
        );
        let pool = ClientPool::new(base().await, "m");
        assert_eq!(
            pool.role_arn("aws-cn", "333333333333"),
            "arn:aws-cn:iam::333333333333:role/m"
        );
    }

    #[tokio::test]
    async fn clients_are_kept_per_place_with_one_identity_cache_per_account() {
        let pool = ClientPool::new(base().await, "ecs-rollback-member");
        assert!(pool.is_empty());
        let b1 = pool
            .clients("aws", &place("222222222222", "eu-west-1"))
            .await;
        let b2 = pool
            .clients("aws", &place("222222222222", "us-east-1"))
            .await;
        let c1 = pool
            .clients("aws", &place("333333333333", "eu-west-1"))
            .await;
        let again = pool
            .clients("aws", &place("222222222222", "eu-west-1"))
            .await;
        assert_eq!((pool.len(), pool.accounts()), (3, 2));
        let conf = |c: &Clients| c.ecs.client.config().clone();
        assert_eq!(
            conf(&b1).region().map(|r| r.as_ref()),
            Some("eu-west-1"),
            "the event's region"
        );
        assert_eq!(conf(&b2).region().map(|r| r.as_ref()), Some("us-east-1"));
        assert_eq!(
            again.ecs.client.config().region().map(|r| r.as_ref()),
            Some("eu-west-1")
        );
        assert_eq!(
            c1.cloudwatch.client.config().region().map(|r| r.as_ref()),
            Some("eu-west-1")
        );
        // Each client has an identity cache of its account's (not the base's shared one).
        for c in [&b1, &b2, &c1] {
            assert!(c.ecs.client.config().identity_cache().is_some());
        }
    }

    #[tokio::test]
    async fn the_place_is_task_local() {
        assert_eq!(current(), None);
        let p = place("222222222222", "eu-west-1");
        let seen = within(p.clone(), async { current() }).await;
        assert_eq!(seen, Some(p));
        assert_eq!(current(), None);
    }
}
