//! The local demo: the article's hello-world service on the test stand, a broken deploy, and the
//! responder rolling it back — no AWS account needed. Run with `./scripts/demo`.

#[path = "harness.rs"]
mod harness;

use aws_sdk_ecs::types::{
    ContainerDefinition, DeploymentCircuitBreaker, DeploymentConfiguration, Tag,
    TaskDefinitionField,
};
use harness::Stand;
use serde_json::{json, Value};

const REPO: &str = "123456789012.dkr.ecr.eu-west-1.amazonaws.com/hello-world";

fn say(text: &str) {
    println!("\n▶ {text}");
}

fn short(arn: &str) -> &str {
    arn.rsplit('/').next().unwrap_or(arn)
}

/// Image tags: the short SHAs of this repository's last commits, as the article's deploy script does.
fn git_shas() -> Vec<String> {
    let out = std::process::Command::new("git")
        .args(["log", "--format=%h", "-n", "3"])
        .output();
    let mut shas: Vec<String> = match out {
        Ok(o) if o.status.success() => String::from_utf8_lossy(&o.stdout)
            .lines()
            .map(str::to_string)
            .collect(),
        _ => Vec::new(),
    };
    for fallback in ["c3d4e5f", "b2c3d4e", "a1b2c3d"] {
        if shas.len() < 3 {
            shas.push(fallback.to_string());
        }
    }
    shas.reverse(); // oldest first
    shas
}

fn show(response: &harness::Invoked) {
    let body = &response.body;
    println!(
        "  responder: action={} from={} to={}\n  reason: {}",
        body["action"].as_str().unwrap_or("?"),
        body["from"].as_str().map(short).unwrap_or("-"),
        body["to"].as_str().map(short).unwrap_or("-"),
        body["reason"].as_str().unwrap_or("?")
    );
}

#[tokio::main]
async fn main() {
    say("Starting the local AWS stand on 127.0.0.1 (moto + ECS service deployments, CloudWatch CBOR proxy, Lambda runtime API)");
    let mut stand = Stand::start();
    let sdk = stand.sdk().await;
    let ecs = aws_sdk_ecs::Client::new(&sdk);
    let sqs = aws_sdk_sqs::Client::new(&sdk);
    let (topic, queue) = harness::notification_inbox(&sdk, "inbox").await;
    stand.start_lambda(&[("ROLLBACK_NOTIFY_TOPIC_ARN", topic.as_str())]);
    println!("  the ecs-rollback-lambda binary is polling the runtime API, as in AWS Lambda");

    let shas = git_shas();
    say(&format!(
        "Registering hello-world revisions tagged by git SHA: {}",
        shas.join(", ")
    ));
    let mut revisions = Vec::new();
    for (i, sha) in shas.iter().enumerate() {
        let command = if i == 2 {
            "echo crash; exit 1"
        } else {
            "echo hello; sleep 3600"
        };
        let td = ecs
            .register_task_definition()
            .family("hello-world")
            .container_definitions(
                ContainerDefinition::builder()
                    .name("app")
                    .image(format!("{REPO}:{sha}"))
                    .command("sh")
                    .command("-c")
                    .command(command)
                    .memory(256)
                    .build(),
            )
            .send()
            .await
            .unwrap();
        let arn = td
            .task_definition()
            .unwrap()
            .task_definition_arn()
            .unwrap()
            .to_string();
        println!(
            "  {} → {REPO}:{sha}{}",
            short(&arn),
            if i == 2 { "  (this one crashes)" } else { "" }
        );
        revisions.push(arn);
    }

    say("Creating cluster demo and service hello-world (circuit breaker on, rollback=false; tagged ecs-rollback:enabled=true)");
    ecs.create_cluster()
        .cluster_name("demo")
        .send()
        .await
        .unwrap();
    ecs.create_service()
        .cluster("demo")
        .service_name("hello-world")
        .task_definition(&revisions[0])
        .desired_count(1)
        .deployment_configuration(
            DeploymentConfiguration::builder()
                .deployment_circuit_breaker(
                    DeploymentCircuitBreaker::builder()
                        .enable(true)
                        .rollback(false)
                        .build(),
                )
                .build(),
        )
        .tags(
            Tag::builder()
                .key("ecs-rollback:enabled")
                .value("true")
                .build(),
        )
        .send()
        .await
        .unwrap();

    for (i, td) in revisions.iter().enumerate().take(2) {
        if i > 0 {
            ecs.update_service()
                .cluster("demo")
                .service("hello-world")
                .task_definition(td)
                .send()
                .await
                .unwrap();
        }
        let event = stand.deployment_state("hello-world", "SUCCESSFUL", json!({}));
        say(&format!(
            "Deployment of {} completed; EventBridge delivers SERVICE_DEPLOYMENT_COMPLETED",
            short(td)
        ));
        show(&stand.invoke(&event));
    }

    say(&format!(
        "Deploying the broken revision {}",
        short(&revisions[2])
    ));
    ecs.update_service()
        .cluster("demo")
        .service("hello-world")
        .task_definition(&revisions[2])
        .send()
        .await
        .unwrap();
    let event = stand.deployment_state("hello-world", "FAILED", json!({}));
    println!("  tasks fail to start; the circuit breaker marks the deployment FAILED:");
    println!("  {}", event["detail"]);

    say("EventBridge delivers SERVICE_DEPLOYMENT_FAILED to the responder");
    let response = stand.invoke(&event);
    show(&response);

    say("What the responder logged (one JSON line per decision)");
    for line in stand
        .lambda_log()
        .lines()
        .filter(|l| l.contains(r#""message":"decision""#))
    {
        println!("  {line}");
    }

    say("The notification, read back from the SNS topic through an SQS subscription");
    let mut note = None;
    for _ in 0..10 {
        let out = sqs
            .receive_message()
            .queue_url(&queue)
            .wait_time_seconds(1)
            .send()
            .await
            .unwrap();
        if let Some(m) = out.messages().first() {
            let envelope: Value = serde_json::from_str(m.body().unwrap()).unwrap();
            note = Some(format!(
                "Subject: {}\n{}",
                envelope["Subject"].as_str().unwrap_or(""),
                envelope["Message"].as_str().unwrap_or("")
            ));
            break;
        }
    }
    for line in note.unwrap_or_else(|| "(none received)".into()).lines() {
        println!("  {line}");
    }

    say("Final state in the (emulated) account");
    let svc = ecs
        .describe_services()
        .cluster("demo")
        .services("hello-world")
        .send()
        .await
        .unwrap();
    println!(
        "  service hello-world runs {}",
        short(svc.services()[0].task_definition().unwrap())
    );
    for td in &revisions {
        let out = ecs
            .describe_task_definition()
            .task_definition(td)
            .include(TaskDefinitionField::Tags)
            .send()
            .await
            .unwrap();
        let ledger = out
            .tags()
            .iter()
            .find(|t| t.key() == Some("ecs-rollback:status"))
            .and_then(|t| t.value())
            .unwrap_or("-");
        println!("  {:<16} ecs-rollback:status={ledger}", short(td));
    }
    let ok = svc.services()[0].task_definition() == Some(revisions[1].as_str());
    say(if ok {
        "Rolled back to the last stable revision. Tearing the stand down."
    } else {
        "The service was NOT rolled back (see above)."
    });
    drop(stand);
    if !ok {
        std::process::exit(1);
    }
}
