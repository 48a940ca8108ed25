//! Notifications end to end: the responder on the stand rolls a service back and publishes ONE
//! SNS message with per-protocol bodies (`MessageStructure=json`); an SQS subscriber reads the
//! plain text back, and the chat body on the wire is checked against the documented Amazon Q
//! Developer custom-notification schema (`tests/chat-notification.schema.json`).
//!
//! The schema check uses the Python `jsonschema` package (the JSON Schema reference
//! implementation), which the test venv already has through moto: no Rust crate (and its ~30
//! transitive crates) is added for one check, and the schema file itself is checked to be a
//! valid draft 2020-12 schema.

#[path = "stand/harness.rs"]
mod harness;

use std::io::Write;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::Duration;

use aws_sdk_ecs::types::Tag;
use ecs_rollback::notify::{render, Method, Notice, RevisionLine};
use harness::{wait_for, Stand, ACCOUNT, REGION};
use serde_json::{json, Value};

const REGISTRY: &str = "123456789012.dkr.ecr.eu-west-1.amazonaws.com/hello-world";
const RUNBOOK: &str = "https://wiki.example.com/runbooks/hello-world";

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn python() -> PathBuf {
    let venv = match std::env::var("ECS_ROLLBACK_VENV") {
        Ok(v) if !v.is_empty() => PathBuf::from(v),
        _ => {
            let out = Command::new(root().join("scripts/venv"))
                .output()
                .expect("scripts/venv runs");
            assert!(out.status.success(), "scripts/venv failed");
            PathBuf::from(String::from_utf8_lossy(&out.stdout).trim())
        }
    };
    venv.join("bin/python")
}

/// Validate each body against the schema file with Python's `jsonschema`; one list of error
/// messages per body (empty = valid).
fn schema_errors(bodies: &[Value]) -> Vec<Vec<String>> {
    const CHECK: &str = r#"
import json, sys
import jsonschema
schema = json.load(open(sys.argv[1], encoding="utf-8"))
jsonschema.Draft202012Validator.check_schema(schema)
v = jsonschema.Draft202012Validator(schema)
bodies = json.load(sys.stdin)
print(json.dumps([[f"{'/'.join(map(str, e.absolute_path))}: {e.message}" for e in v.iter_errors(b)] for b in bodies]))
"#;
    let mut child = Command::new(python())
        .arg("-c")
        .arg(CHECK)
        .arg(root().join("tests/chat-notification.schema.json"))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("python starts");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(serde_json::to_string(bodies).unwrap().as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "schema check failed to run: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

fn notice(action: &str) -> Notice {
    Notice {
        action: action.into(),
        cluster: "demo".into(),
        service: "hello-world".into(),
        service_arn: Some(format!(
            "arn:aws:ecs:{REGION}:{ACCOUNT}:service/demo/hello-world"
        )),
        account: Some(ACCOUNT.into()),
        region: Some(REGION.into()),
        trigger: "alarm hello-world-5xx is ALARM: Threshold Crossed".into(),
        trigger_kind: "alarm".into(),
        from: Some(RevisionLine {
            task_definition: "hello-world:5".into(),
            images: vec!["app=repo:bad".into()],
        }),
        to: Some(RevisionLine {
            task_definition: "hello-world:4".into(),
            images: vec![],
        }),
        reason: "Rolled back from hello-world:5 to hello-world:4.".into(),
        method: Some(Method::StopDeployment),
        strategy: Some("BLUE_GREEN".into()),
        runbook: Some(RUNBOOK.into()),
        stack: Some("shop-prod".into()),
    }
}

#[test]
fn every_kind_of_chat_body_validates_against_the_documented_schema() {
    let mut notices: Vec<Notice> = ["rolled_back", "dry_run", "skipped", "recorded", "error"]
        .iter()
        .map(|a| notice(a))
        .collect();
    let mut bare = notice("error");
    bare.service_arn = None;
    bare.account = None;
    bare.region = None;
    bare.from = None;
    bare.to = None;
    bare.runbook = None;
    bare.stack = None;
    notices.push(bare);
    let mut bodies: Vec<Value> = notices
        .iter()
        .map(|n| serde_json::from_str(&render(n).chat_json).unwrap())
        .collect();
    // The check is not a rubber stamp: bodies the service would drop or misread fail it.
    bodies.push(json!({"version": "2.0", "source": "custom", "content": {"description": "x"}}));
    bodies.push(
        json!({"version": "1.0", "source": "custom", "content": {"title": "no description"}}),
    );
    bodies.push(json!({"version": "1.0", "source": "custom", "content": {"description": "x", "nextStep": ["typo"]}}));
    bodies.push(json!({"version": "1.0", "source": "custom", "content": {"description": "x"}, "metadata": {"threadId": 5}}));
    let errors = schema_errors(&bodies);
    for (n, e) in notices.iter().zip(&errors) {
        assert!(e.is_empty(), "{}: {e:?}", n.action);
    }
    for (i, e) in errors[notices.len()..].iter().enumerate() {
        assert!(!e.is_empty(), "broken body {i} passed the schema");
    }
}

/// Plain text to e-mail/SQS, the chat JSON to https (Amazon Q Developer), in one Publish.
#[tokio::test(flavor = "multi_thread")]
async fn an_sqs_subscriber_reads_the_plain_text_and_the_wire_carries_the_chat_body() {
    let mut stand = Stand::start();
    let sdk = stand.sdk().await;
    let ecs = aws_sdk_ecs::Client::new(&sdk);
    let sqs = aws_sdk_sqs::Client::new(&sdk);
    ecs.create_cluster()
        .cluster_name("demo")
        .send()
        .await
        .unwrap();
    let (topic_arn, queue_url) = harness::notification_inbox(&sdk, "inbox").await;
    stand.start_lambda(&[("ROLLBACK_NOTIFY_TOPIC_ARN", topic_arn.as_str())]);

    let good = harness::ecs::register(&ecs, &format!("{REGISTRY}:a1b2c3d"), |c| c).await;
    let bad = harness::ecs::register(&ecs, &format!("{REGISTRY}:c3d4e5f"), |c| c).await;
    harness::ecs::create_service(&ecs, "hello-world", &good, Some("true"), false).await;
    let service_arn = format!("arn:aws:ecs:{REGION}:{ACCOUNT}:service/demo/hello-world");
    ecs.tag_resource()
        .resource_arn(&service_arn)
        .tags(
            Tag::builder()
                .key("ecs-rollback:runbook")
                .value(RUNBOOK)
                .build(),
        )
        .tags(
            Tag::builder()
                .key("aws:cloudformation:stack-name")
                .value("shop-prod")
                .build(),
        )
        .send()
        .await
        .unwrap();
    let completed = stand.deployment_state("hello-world", "SUCCESSFUL", json!({}));
    stand.invoke(&completed);
    harness::ecs::deploy(&ecs, "hello-world", &bad).await;
    let failed = stand.deployment_state("hello-world", "FAILED", json!({}));
    let r = stand.invoke(&failed);
    assert!(r.function_error.is_none(), "{:?}", r.body);
    assert_eq!(r.body["action"], "rolled_back", "{:?}", r.body);

    // What the SQS subscriber (like an e-mail one) receives: the plain text, not JSON.
    let envelope: Value = wait_for("the notification in SQS", Duration::from_secs(60), || {
        let out = futures_block(
            sqs.receive_message()
                .queue_url(&queue_url)
                .wait_time_seconds(1)
                .send(),
        )
        .unwrap();
        out.messages()
            .first()
            .map(|m| serde_json::from_str(m.body().unwrap()).unwrap())
    });
    let text = envelope["Message"].as_str().unwrap();
    assert!(
        serde_json::from_str::<Value>(text).is_err(),
        "subscribers other than https get text, not JSON: {text}"
    );
    assert!(
        text.starts_with("demo/hello-world rolled back hello-world:2 → hello-world:1\n"),
        "{text}"
    );
    for want in [
        "Action:  rolled_back\n",
        "Account: 123456789012\n",
        "Region:  eu-west-1\n",
        "From:    hello-world:2",
        "To:      hello-world:1 (app=123456789012.dkr.ecr.eu-west-1.amazonaws.com/hello-world:a1b2c3d)\n",
        "ECS starts a rolling deployment of hello-world:1",
        "  - Check: ecs-rollback status -c demo -s hello-world\n",
        "  - Console: https://eu-west-1.console.aws.amazon.com/ecs/v2/clusters/demo/services/hello-world/deployments?region=eu-west-1\n",
        "  - Runbook: https://wiki.example.com/runbooks/hello-world\n",
        "  - CloudFormation: stack shop-prod still names hello-world:2",
        "lifecycle { ignore_changes = [task_definition] }",
    ] {
        assert!(text.contains(want), "the text lacks {want:?}:\n{text}");
    }
    assert_eq!(
        envelope["Subject"],
        "ecs-rollback: demo/hello-world rolled back hello-world:2 -> hello-world:1"
    );

    // On the wire: one Publish, MessageStructure=json, the chat body keyed `https`.
    let publishes = stand.requests(Some("Publish"));
    assert_eq!(publishes.len(), 1, "{publishes:?}");
    let params = &publishes[0]["params"];
    assert_eq!(params["MessageStructure"], "json");
    let bodies: Value = serde_json::from_str(params["Message"].as_str().unwrap()).unwrap();
    assert_eq!(bodies["default"].as_str(), Some(text));
    assert_eq!(bodies["email"].as_str(), Some(text));
    let chat: Value = serde_json::from_str(bodies["https"].as_str().unwrap()).unwrap();
    assert_eq!(
        chat["content"]["title"],
        "✅ demo/hello-world rolled back hello-world:2 → hello-world:1"
    );
    assert_eq!(chat["metadata"]["threadId"], service_arn.as_str());
    let errors = schema_errors(std::slice::from_ref(&chat));
    assert!(errors[0].is_empty(), "{:?}\n{chat:#}", errors[0]);
    // The IaC drift is in the decision log too.
    let log = stand.lambda_log();
    assert!(
        log.contains("IaC drift: CloudFormation stack shop-prod still names hello-world:2"),
        "{log}"
    );
}

/// Run one future to completion from inside `wait_for`'s synchronous probe.
fn futures_block<F: std::future::Future>(f: F) -> F::Output {
    tokio::task::block_in_place(|| tokio::runtime::Handle::current().block_on(f))
}

/// `scripts/redrive`: the dry run lists the dead-letter queue and changes nothing; `--execute`
/// replays each event through the Lambda Invoke API, deletes what succeeded and keeps what
/// fails again.
#[tokio::test(flavor = "multi_thread")]
async fn redrive_replays_the_dead_letter_queue_after_a_dry_run() {
    let mut stand = Stand::start();
    let sdk = stand.sdk().await;
    let ecs = aws_sdk_ecs::Client::new(&sdk);
    let sqs = aws_sdk_sqs::Client::new(&sdk);
    ecs.create_cluster()
        .cluster_name("demo")
        .send()
        .await
        .unwrap();
    stand.start_lambda(&[]);
    let good = harness::ecs::register(&ecs, &format!("{REGISTRY}:a1b2c3d"), |c| c).await;
    let bad = harness::ecs::register(&ecs, &format!("{REGISTRY}:c3d4e5f"), |c| c).await;
    harness::ecs::create_service(&ecs, "hello-world", &good, Some("true"), false).await;
    let completed = stand.deployment_state("hello-world", "SUCCESSFUL", json!({}));
    stand.invoke(&completed);
    harness::ecs::deploy(&ecs, "hello-world", &bad).await;
    let failed = stand.deployment_state("hello-world", "FAILED", json!({}));

    let queue_url = sqs
        .create_queue()
        .queue_name("ecs-rollback-dlq")
        .send()
        .await
        .unwrap()
        .queue_url()
        .unwrap()
        .to_string();
    // (a) Lambda's OnFailure record of the FAILED event, which failed while ECS was throttling.
    let record = json!({
        "version": "1.0",
        "timestamp": "2026-12-01T09:00:00.000Z",
        "requestContext": {"requestId": "r-1", "functionArn": stand.doc["function_arn"],
                           "condition": "RetriesExhausted", "approximateInvokeCount": 3},
        "requestPayload": failed,
        "responseContext": {"statusCode": 200, "executedVersion": "$LATEST", "functionError": "Unhandled"},
        "responsePayload": {"errorType": "AwsError.Retryable", "errorMessage": "DescribeServices failed: ThrottlingException"}
    });
    sqs.send_message()
        .queue_url(&queue_url)
        .message_body(record.to_string())
        .send()
        .await
        .unwrap();
    // (b) an EventBridge dead letter of an event the function rejects (no resources[0]).
    let broken = json!({"version": "0", "id": "e-2", "source": "aws.ecs", "account": ACCOUNT,
                        "region": REGION, "detail-type": "ECS Deployment State Change",
                        "time": "2026-12-01T09:00:00Z", "resources": [], "detail": {}});
    sqs.send_message()
        .queue_url(&queue_url)
        .message_body(broken.to_string())
        .message_attributes(
            "ERROR_CODE",
            aws_sdk_sqs::types::MessageAttributeValue::builder()
                .data_type("String")
                .string_value("SDK_CLIENT_ERROR")
                .build()
                .unwrap(),
        )
        .send()
        .await
        .unwrap();

    let invoke = stand.doc["invoke"].as_str().unwrap();
    let lambda_endpoint = &invoke[..invoke.find("/2015-03-31").unwrap()];
    let function = stand.doc["lambda_env"]["AWS_LAMBDA_FUNCTION_NAME"]
        .as_str()
        .unwrap()
        .to_string();
    let redrive = |extra: &[&str]| {
        let venv = python().parent().unwrap().parent().unwrap().to_path_buf();
        let out = Command::new(root().join("scripts/redrive"))
            .args(["--queue-url", &queue_url, "--function", &function])
            .args(extra)
            .env("ECS_ROLLBACK_VENV", &venv)
            .env(
                "PATH",
                format!("{}:/usr/bin:/bin", venv.join("bin").display()),
            )
            .env("AWS_REGION", REGION)
            .env("AWS_ACCESS_KEY_ID", "testing")
            .env("AWS_SECRET_ACCESS_KEY", "testing")
            .env("AWS_CONFIG_FILE", "/dev/null")
            .env("AWS_SHARED_CREDENTIALS_FILE", "/dev/null")
            .env("AWS_ENDPOINT_URL_SQS", stand.endpoint())
            .env("AWS_ENDPOINT_URL_LAMBDA", lambda_endpoint)
            .output()
            .expect("scripts/redrive runs");
        (
            out.status.code(),
            String::from_utf8_lossy(&out.stdout).to_string()
                + &String::from_utf8_lossy(&out.stderr),
        )
    };
    let depth = || async {
        let attrs = sqs
            .get_queue_attributes()
            .queue_url(&queue_url)
            .attribute_names(aws_sdk_sqs::types::QueueAttributeName::ApproximateNumberOfMessages)
            .send()
            .await
            .unwrap();
        attrs
            .attributes()
            .and_then(|a| {
                a.get(&aws_sdk_sqs::types::QueueAttributeName::ApproximateNumberOfMessages)
            })
            .and_then(|v| v.parse::<u32>().ok())
            .unwrap()
    };
    let invocations = |s: &Stand| {
        s.control("GET", "/lambda/invocations", json!({}))["invocations"]
            .as_array()
            .map(Vec::len)
            .unwrap_or(0)
    };
    let before = invocations(&stand);

    let (code, out) = redrive(&[]);
    assert_eq!(code, Some(0), "{out}");
    assert!(
        out.contains("dry run: nothing is invoked or deleted"),
        "{out}"
    );
    assert!(
        out.contains("ECS Deployment State Change SERVICE_DEPLOYMENT_FAILED arn:aws:ecs:eu-west-1:123456789012:service/demo/hello-world"),
        "{out}"
    );
    assert!(
        out.contains("RetriesExhausted after 3 attempts: AwsError.Retryable"),
        "{out}"
    );
    assert!(
        out.contains("EventBridge could not deliver it: SDK_CLIENT_ERROR"),
        "{out}"
    );
    assert!(
        out.contains("2 message(s); run again with --execute"),
        "{out}"
    );
    assert_eq!(invocations(&stand), before, "a dry run invokes nothing");
    assert_eq!(depth().await, 2, "a dry run deletes nothing");
    assert_eq!(harness::ecs::service_td(&ecs, "hello-world").await, bad);

    let (code, out) = redrive(&["--execute"]);
    assert_eq!(code, Some(1), "one event failed again: {out}");
    assert!(
        out.contains(
            "replayed and deleted: rolled_back: Rolled back from hello-world:2 to hello-world:1"
        ),
        "{out}"
    );
    assert!(
        out.contains("kept: the function failed again (Unhandled)"),
        "{out}"
    );
    assert!(out.contains("1 replayed, 1 kept in the queue"), "{out}");
    assert_eq!(harness::ecs::service_td(&ecs, "hello-world").await, good);
    assert_eq!(depth().await, 1, "the failing event stays for the next run");
}
