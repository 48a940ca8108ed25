//! Organization mode end to end on the stand (README "Organization"): one stand, three
//! accounts. moto is multi-account through `sts:AssumeRole`: credentials of
//! `arn:aws:iam::B:role/…` act in account B, so a rollback that lands in B proves that B's
//! credentials were used. The function's own account is the stand's default (A); B and C are
//! members; 444444444444 is outside the allow-list. moto evaluates no IAM policy: the trust and
//! tag conditions of the member role are checked statically (last test, scripts/check-org-template).

#[path = "stand/harness.rs"]
mod harness;

use std::process::Command;

use aws_config::sts::AssumeRoleProvider;
use aws_credential_types::provider::SharedCredentialsProvider;
use aws_sdk_dynamodb::types::{
    AttributeDefinition, KeySchemaElement, KeyType, ScalarAttributeType,
};
use harness::{Stand, ACCOUNT, REGION};
use serde_json::{json, Value};

const B: &str = "222222222222";
const C: &str = "333333333333";
const OUTSIDER: &str = "444444444444";
const ROLE: &str = "ecs-rollback-member";
const TABLE: &str = "ecs-rollback-leases";

/// The SDK configuration of `account` on the stand: the member role assumed through moto's STS.
async fn member_sdk(stand: &Stand, account: &str) -> aws_config::SdkConfig {
    let base = stand.sdk().await;
    let provider = AssumeRoleProvider::builder(format!("arn:aws:iam::{account}:role/{ROLE}"))
        .session_name("org-scenario-setup")
        .configure(&base)
        .build()
        .await;
    base.into_builder()
        .credentials_provider(SharedCredentialsProvider::new(provider))
        .build()
}

struct Org {
    stand: Stand,
    a: aws_sdk_ecs::Client,
    b: aws_sdk_ecs::Client,
    c: aws_sdk_ecs::Client,
}

/// A stand with cluster `demo` in A, B and C, the lease table in A, and the Lambda in
/// organization mode for B and C.
async fn org() -> Org {
    let mut stand = Stand::start();
    let sdk = stand.sdk().await;
    let a = aws_sdk_ecs::Client::new(&sdk);
    let b = aws_sdk_ecs::Client::new(&member_sdk(&stand, B).await);
    let c = aws_sdk_ecs::Client::new(&member_sdk(&stand, C).await);
    for ecs in [&a, &b, &c] {
        ecs.create_cluster()
            .cluster_name("demo")
            .send()
            .await
            .unwrap();
    }
    aws_sdk_dynamodb::Client::new(&sdk)
        .create_table()
        .table_name(TABLE)
        .attribute_definitions(
            AttributeDefinition::builder()
                .attribute_name("pk")
                .attribute_type(ScalarAttributeType::S)
                .build()
                .unwrap(),
        )
        .key_schema(
            KeySchemaElement::builder()
                .attribute_name("pk")
                .key_type(KeyType::Hash)
                .build()
                .unwrap(),
        )
        .billing_mode(aws_sdk_dynamodb::types::BillingMode::PayPerRequest)
        .send()
        .await
        .unwrap();
    let endpoint = stand.endpoint().to_string();
    stand.start_lambda(&[
        ("ROLLBACK_MEMBER_ROLE_NAME", ROLE),
        ("ROLLBACK_ALLOWED_ACCOUNTS", &format!("{B},{C}")),
        ("ROLLBACK_LEASE_TABLE", TABLE),
        ("AWS_ENDPOINT_URL_STS", &endpoint),
        ("AWS_ENDPOINT_URL_DYNAMODB", &endpoint),
    ]);
    Org { stand, a, b, c }
}

impl Org {
    /// In `account`: revisions good and bad of `hello-world`, the good one deployed and
    /// SUCCESSFUL, then the bad one deployed. Returns [good, bad].
    async fn good_then_bad(
        &self,
        ecs: &aws_sdk_ecs::Client,
        account: &str,
        opted_in: bool,
    ) -> [String; 2] {
        let registry = format!("{account}.dkr.ecr.{REGION}.amazonaws.com/hello-world");
        let good = harness::ecs::register(ecs, &format!("{registry}:a1b2c3d"), |c| c).await;
        let bad = harness::ecs::register(ecs, &format!("{registry}:c3d4e5f"), |c| c).await;
        harness::ecs::create_service(ecs, "hello-world", &good, opted_in.then_some("true"), false)
            .await;
        self.move_deployment(account, "SUCCESSFUL");
        harness::ecs::deploy(ecs, "hello-world", &bad).await;
        [good, bad]
    }

    /// Move the newest deployment of `hello-world` in `account`; the EventBridge event ECS emits.
    fn move_deployment(&self, account: &str, state: &str) -> Value {
        self.stand.deployment_state(
            "hello-world",
            state,
            json!({"account": account, "region": REGION}),
        )
    }
}

fn service_arn(account: &str) -> String {
    format!("arn:aws:ecs:{REGION}:{account}:service/demo/hello-world")
}

async fn service_tag(ecs: &aws_sdk_ecs::Client, account: &str, key: &str) -> Option<String> {
    let out = ecs
        .list_tags_for_resource()
        .resource_arn(service_arn(account))
        .send()
        .await
        .unwrap();
    out.tags()
        .iter()
        .find(|t| t.key() == Some(key))
        .and_then(|t| t.value().map(str::to_string))
}

const WRITES: &[&str] = &[
    "UpdateService",
    "StopServiceDeployment",
    "TagResource",
    "RegisterTaskDefinition",
];

/// The text of a request's parameters (ARNs in it name the account acted in).
fn params(r: &Value) -> String {
    r["params"].to_string()
}

#[tokio::test(flavor = "multi_thread")]
async fn failed_deployment_in_member_b_rolls_back_b_with_b_credentials_and_leaves_a_alone() {
    let w = org().await;
    let [a_good, a_bad] = w.good_then_bad(&w.a, ACCOUNT, true).await;
    let [b_good, b_bad] = w.good_then_bad(&w.b, B, true).await;
    assert!(
        b_good.contains(B) && a_good.contains(ACCOUNT),
        "{b_good} {a_good}"
    );
    w.stand.clear_requests();

    let failed = w.move_deployment(B, "FAILED");
    assert_eq!(failed["account"], B);
    let out = w.stand.invoke(&failed);
    assert_eq!(
        out.function_error,
        None,
        "{:?}\n{}",
        out.body,
        w.stand.lambda_log()
    );
    let r = &out.body;
    assert_eq!(r["action"], "rolled_back", "{r}");
    assert_eq!(
        (r["account"].as_str(), r["region"].as_str()),
        (Some(B), Some(REGION)),
        "{r}"
    );
    assert_eq!(r["to"].as_str(), Some(b_good.as_str()), "{r}");

    // B is back on its good revision and remembers the rollback; A's same-named service is untouched.
    assert_eq!(harness::ecs::service_td(&w.b, "hello-world").await, b_good);
    assert_eq!(
        harness::ecs::ledger(&w.b, &b_bad).await.as_deref(),
        Some("bad")
    );
    assert!(service_tag(&w.b, B, "ecs-rollback:last-rollback-at")
        .await
        .is_some());
    assert_eq!(harness::ecs::service_td(&w.a, "hello-world").await, a_bad);
    assert_eq!(harness::ecs::ledger(&w.a, &a_bad).await, None);
    assert_eq!(
        service_tag(&w.a, ACCOUNT, "ecs-rollback:last-rollback-at").await,
        None
    );

    // B's credentials: the member role of B was assumed (through STS, once), and every write
    // names B's resources, none of A's.
    let assumed = w.stand.requests(Some("AssumeRole"));
    assert_eq!(assumed.len(), 1, "{assumed:?}");
    assert_eq!(
        assumed[0]["params"]["RoleArn"].as_str(),
        Some(format!("arn:aws:iam::{B}:role/{ROLE}").as_str())
    );
    let writes: Vec<Value> = w
        .stand
        .requests(None)
        .into_iter()
        .filter(|r| WRITES.contains(&r["operation"].as_str().unwrap_or("")))
        .collect();
    assert!(
        writes.iter().any(|r| r["operation"] == "UpdateService"),
        "{writes:?}"
    );
    for r in &writes {
        assert!(params(r).contains(B) && !params(r).contains(ACCOUNT), "{r}");
    }

    // Read-decide-write under the lease of B's service: the decision that writes is made again
    // from reads taken inside the lease (PutItem, DescribeServices … UpdateService, DeleteItem),
    // and nothing is written outside it.
    let log = w.stand.requests(None);
    let ops: Vec<&str> = log
        .iter()
        .map(|r| r["operation"].as_str().unwrap_or(""))
        .collect();
    let key = format!("{B}:{REGION}:demo/hello-world");
    let put = ops
        .iter()
        .position(|o| *o == "PutItem")
        .expect("the lease was taken");
    let del = ops
        .iter()
        .rposition(|o| *o == "DeleteItem")
        .expect("the lease was given back");
    let update = ops.iter().position(|o| *o == "UpdateService").unwrap();
    let reread = put
        + ops[put..]
            .iter()
            .position(|o| *o == "DescribeServices")
            .expect("the service read again inside the lease");
    assert!(put < reread && reread < update && update < del, "{ops:?}");
    for (i, op) in ops.iter().enumerate() {
        if [
            "UpdateService",
            "StopServiceDeployment",
            "TagResource",
            "UntagResource",
            "RegisterTaskDefinition",
        ]
        .contains(op)
        {
            assert!(put < i && i < del, "{op} outside the lease: {ops:?}");
        }
    }
    assert_eq!(
        log[put]["params"]["Item"]["pk"]["S"].as_str(),
        Some(key.as_str())
    );
    assert_eq!(
        log[del]["params"]["Key"]["pk"]["S"].as_str(),
        Some(key.as_str())
    );

    // Every log line of the decision names account and region; so does the metric line.
    let lambda_log = w.stand.lambda_log();
    let decision = lambda_log
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .find(|l| l["message"] == "decision" && l["action"] == "rolled_back")
        .expect("a decision line");
    assert_eq!(decision["span"]["account"], B, "{decision}");
    assert_eq!(decision["span"]["region"], REGION, "{decision}");
    let emf = lambda_log
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .find(|l| l["Rollbacks"] == 1)
        .expect("an EMF line");
    assert_eq!(
        (emf["Account"].as_str(), emf["Region"].as_str()),
        (Some(B), Some(REGION))
    );

    // The same event again: a duplicate, and the credentials are reused (no second AssumeRole).
    let again = w.stand.invoke(&failed);
    assert_eq!(again.body["action"], "skipped", "{}", again.body);
    assert_eq!(w.stand.count("AssumeRole"), 1);
}

#[tokio::test(flavor = "multi_thread")]
async fn an_event_from_outside_the_allow_list_is_refused_without_any_call() {
    let w = org().await;
    w.good_then_bad(&w.b, B, true).await;
    let failed = w.move_deployment(B, "FAILED");
    let text = failed.to_string().replace(B, OUTSIDER);
    let outsider: Value = serde_json::from_str(&text).unwrap();
    w.stand.clear_requests();

    let out = w.stand.invoke(&outsider);
    assert_eq!(out.function_error, None, "{:?}", out.body);
    assert_eq!(out.body["action"], "skipped", "{}", out.body);
    let reason = out.body["reason"].as_str().unwrap();
    assert!(
        reason.contains(OUTSIDER) && reason.contains("ROLLBACK_ALLOWED_ACCOUNTS"),
        "{reason}"
    );
    assert_eq!(out.body["account"], OUTSIDER);

    // A member account in a region the function does not act in: refused the same way.
    let elsewhere: Value =
        serde_json::from_str(&failed.to_string().replace(REGION, "us-west-2")).unwrap();
    let out = w.stand.invoke(&elsewhere);
    assert_eq!(out.body["action"], "skipped", "{}", out.body);
    assert!(
        out.body["reason"].as_str().unwrap().contains("us-west-2"),
        "{}",
        out.body
    );

    let calls = w.stand.requests(None);
    assert!(calls.is_empty(), "no call in any account: {calls:?}");
    // And B's service is still on the bad revision, untouched.
    let events = w.stand.requests(Some("UpdateService"));
    assert!(events.is_empty());
}

#[tokio::test(flavor = "multi_thread")]
async fn an_alarm_action_naming_a_member_account_is_refused_before_any_assume_role() {
    // Anyone with lambda:InvokeFunction can send an alarm-action payload; CloudWatch itself only
    // ever invokes a function of the alarm's own account. B is allow-listed, so only the path
    // the payload claims to have taken refuses it.
    let w = org().await;
    w.good_then_bad(&w.b, B, true).await;
    let text = std::fs::read_to_string(format!(
        "{}/events/cloudwatch-alarm-action-lambda.json",
        env!("CARGO_MANIFEST_DIR")
    ))
    .unwrap()
    .replace("123456789012", B)
    .replace("eu-west-1", REGION);
    let forged: Value = serde_json::from_str(&text).unwrap();
    w.stand.clear_requests();

    let out = w.stand.invoke(&forged);
    assert_eq!(out.function_error, None, "{:?}", out.body);
    assert_eq!(out.body["action"], "skipped", "{}", out.body);
    let reason = out.body["reason"].as_str().unwrap();
    assert!(
        reason.contains("alarm action comes only from this function's own account")
            && reason.contains(B),
        "{reason}"
    );
    assert_eq!(w.stand.count("AssumeRole"), 0);
    let calls = w.stand.requests(None);
    assert!(calls.is_empty(), "no call in any account: {calls:?}");

    // An EventBridge event whose service ARN names another account than its envelope: a
    // non-retryable input error naming the field, and again no call anywhere.
    let failed = w.move_deployment(B, "FAILED");
    w.stand.clear_requests();
    let mut mixed = failed.clone();
    mixed["resources"][0] = Value::String(service_arn(C));
    let out = w.stand.invoke(&mixed);
    assert!(out.function_error.is_some(), "{}", out.body);
    assert!(
        out.body.to_string().contains("resources[0]"),
        "names the field: {}",
        out.body
    );
    let calls = w.stand.requests(None);
    assert!(calls.is_empty(), "no call in any account: {calls:?}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_member_service_without_the_opt_in_tag_is_never_written() {
    let w = org().await;
    let [_, c_bad] = w.good_then_bad(&w.c, C, false).await;
    w.stand.clear_requests();

    let out = w.stand.invoke(&w.move_deployment(C, "FAILED"));
    assert_eq!(out.function_error, None, "{:?}", out.body);
    assert_eq!(out.body["action"], "skipped", "{}", out.body);
    assert_eq!(out.body["account"], C);
    assert!(
        out.body["reason"]
            .as_str()
            .unwrap()
            .contains("ecs-rollback:enabled"),
        "{}",
        out.body
    );
    assert_eq!(harness::ecs::service_td(&w.c, "hello-world").await, c_bad);
    for op in WRITES {
        assert_eq!(w.stand.count(op), 0, "{op} must not be called");
    }
    // It was looked at in C, with C's credentials.
    let reads = w.stand.requests(Some("DescribeServices"));
    assert!(!reads.is_empty());
    let assumed = w.stand.requests(Some("AssumeRole"));
    assert_eq!(
        assumed[0]["params"]["RoleArn"].as_str(),
        Some(format!("arn:aws:iam::{C}:role/{ROLE}").as_str())
    );
}

/// The member template, the member role's trust and tag conditions and the central bus policy,
/// statically (moto evaluates no IAM): scripts/check-template runs scripts/check-org-template.
#[test]
fn organization_templates_pass_the_static_checks() {
    let root = env!("CARGO_MANIFEST_DIR");
    let out = Command::new(format!("{root}/scripts/check-template"))
        .output()
        .expect("scripts/check-template runs");
    let text = format!(
        "{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "{text}");
    assert!(text.contains("check-org-template: OK"), "{text}");
}
