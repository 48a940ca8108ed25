//! The test stand from Rust: starts `tests/stand/stand.py` (moto + ECS extension, CloudWatch CBOR
//! proxy, Lambda runtime API) and the `ecs-rollback-lambda` binary under its runtime API, and
//! stops both by PID when dropped. Loopback only, free ports, no fixed sleeps.

#![allow(dead_code)]

use std::io::{BufRead, BufReader, Read};
use std::path::PathBuf;
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::{json, Value};

pub const REGION: &str = "eu-west-1";
pub const ACCOUNT: &str = "123456789012";

pub fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// The venv with moto & co: `ECS_ROLLBACK_VENV` (set by scripts/test), else made by scripts/venv.
pub fn venv() -> PathBuf {
    if let Ok(v) = std::env::var("ECS_ROLLBACK_VENV") {
        return PathBuf::from(v);
    }
    let out = Command::new(root().join("scripts/venv"))
        .output()
        .expect("scripts/venv runs");
    assert!(
        out.status.success(),
        "scripts/venv failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    PathBuf::from(String::from_utf8_lossy(&out.stdout).trim())
}

/// The Lambda binary: the release build named by `ECS_ROLLBACK_LAMBDA_BIN` (scripts/test builds
/// it once), else the binary cargo built for these tests, else `target/debug`.
fn lambda_bin() -> PathBuf {
    match std::env::var("ECS_ROLLBACK_LAMBDA_BIN") {
        Ok(p) if !p.is_empty() => PathBuf::from(p),
        _ => option_env!("CARGO_BIN_EXE_ecs-rollback-lambda")
            .map(PathBuf::from)
            .unwrap_or_else(|| root().join("target/debug/ecs-rollback-lambda")),
    }
}

/// Wait for a condition with a generous bound; panics with `what` when it never holds.
pub fn wait_for<T>(what: &str, bound: Duration, mut probe: impl FnMut() -> Option<T>) -> T {
    let start = Instant::now();
    let mut pause = Duration::from_millis(10);
    loop {
        if let Some(v) = probe() {
            return v;
        }
        assert!(
            start.elapsed() < bound,
            "timed out after {bound:?} waiting for {what}"
        );
        std::thread::sleep(pause);
        pause = (pause * 2).min(Duration::from_millis(200));
    }
}

static SEQ: AtomicUsize = AtomicUsize::new(0);

pub struct Stand {
    stand: Child,
    stdin: Option<ChildStdin>,
    lambda: Mutex<Option<Child>>,
    lambda_log: Arc<Mutex<String>>,
    pub doc: Value,
    dir: PathBuf,
    agent: ureq::Agent,
}

/// An Invoke result: the payload, and `X-Amz-Function-Error` when the function failed.
#[derive(Debug)]
pub struct Invoked {
    pub body: Value,
    pub function_error: Option<String>,
}

impl Stand {
    pub fn start() -> Stand {
        Stand::start_with(&[])
    }

    /// A stand with extra `stand.py` arguments (`--function-timeout 30`, …).
    pub fn start_with(args: &[&str]) -> Stand {
        let dir = std::env::temp_dir().join(format!(
            "ecs-rollback-stand-{}-{}",
            std::process::id(),
            SEQ.fetch_add(1, Ordering::SeqCst)
        ));
        std::fs::create_dir_all(&dir).unwrap();
        let ready = dir.join("ready.json");
        let mut stand = Command::new(venv().join("bin/python"))
            .arg(root().join("tests/stand/stand.py"))
            .arg("--ready-file")
            .arg(&ready)
            .arg("--region")
            .arg(REGION)
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::from(
                std::fs::File::create(dir.join("stand.log")).unwrap(),
            ))
            .spawn()
            .expect("the stand starts");
        let stdin = stand.stdin.take();
        let doc: Value = wait_for("the stand's ready file", Duration::from_secs(120), || {
            if let Ok(Some(status)) = stand.try_wait() {
                let log = std::fs::read_to_string(dir.join("stand.log")).unwrap_or_default();
                panic!("the stand exited early ({status}):\n{log}");
            }
            let text = std::fs::read_to_string(&ready).ok()?;
            serde_json::from_str(&text).ok()
        });
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .timeout_global(Some(Duration::from_secs(180)))
            .build()
            .into();
        Stand {
            stand,
            stdin,
            lambda: Mutex::new(None),
            lambda_log: Arc::default(),
            doc,
            dir,
            agent,
        }
    }

    pub fn endpoint(&self) -> &str {
        self.doc["endpoint"].as_str().unwrap()
    }

    /// SDK configuration for the test's own set-up calls (ECS/SNS/SQS at moto, CloudWatch at the proxy).
    pub async fn sdk(&self) -> aws_config::SdkConfig {
        aws_config::defaults(aws_config::BehaviorVersion::latest())
            .region(aws_config::Region::new(REGION))
            .credentials_provider(aws_sdk_ecs::config::Credentials::new(
                "testing", "testing", None, None, "stand",
            ))
            .endpoint_url(self.endpoint())
            .load()
            .await
    }

    pub fn cloudwatch(&self, sdk: &aws_config::SdkConfig) -> aws_sdk_cloudwatch::Client {
        let conf = aws_sdk_cloudwatch::config::Builder::from(sdk)
            .endpoint_url(self.doc["cloudwatch"].as_str().unwrap())
            .build();
        aws_sdk_cloudwatch::Client::from_conf(conf)
    }

    /// Start the Lambda binary under the stand's runtime API with these extra settings.
    pub fn start_lambda(&mut self, env: &[(&str, &str)]) {
        assert!(
            self.lambda.lock().unwrap().is_none(),
            "one Lambda per stand"
        );
        let mut cmd = Command::new(lambda_bin());
        cmd.env_clear();
        if let Ok(path) = std::env::var("PATH") {
            cmd.env("PATH", path);
        }
        for (k, v) in self.doc["lambda_env"].as_object().unwrap() {
            cmd.env(k, v.as_str().unwrap());
        }
        cmd.env("RUST_LOG", "info");
        for (k, v) in env {
            cmd.env(k, v);
        }
        let mut child = cmd
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("the Lambda binary starts");
        for stream in [
            Box::new(child.stdout.take().unwrap()) as Box<dyn Read + Send>,
            Box::new(child.stderr.take().unwrap()),
        ] {
            let log = self.lambda_log.clone();
            std::thread::spawn(move || {
                for line in BufReader::new(stream).lines().map_while(Result::ok) {
                    let mut l = log.lock().unwrap();
                    l.push_str(&line);
                    l.push('\n');
                }
            });
        }
        *self.lambda.lock().unwrap() = Some(child);
    }

    /// Everything the Lambda process printed so far (JSON logs and EMF lines).
    pub fn lambda_log(&self) -> String {
        self.lambda_log.lock().unwrap().clone()
    }

    /// Deliver an event through the Invoke API, as EventBridge (or a person) would.
    pub fn invoke(&self, payload: &Value) -> Invoked {
        self.invoke_raw(payload.to_string().as_bytes())
    }

    pub fn invoke_raw(&self, body: &[u8]) -> Invoked {
        if let Some(Ok(Some(status))) = self.lambda.lock().unwrap().as_mut().map(|c| c.try_wait()) {
            panic!("the Lambda exited ({status}):\n{}", self.lambda_log());
        }
        let mut resp = self
            .agent
            .post(self.doc["invoke"].as_str().unwrap())
            .header("content-type", "application/json")
            .send(body)
            .expect("Invoke answers");
        assert_eq!(resp.status().as_u16(), 200, "Invoke status");
        let function_error = resp
            .headers()
            .get("x-amz-function-error")
            .map(|v| v.to_str().unwrap_or("").to_string());
        let text = resp.body_mut().read_to_string().unwrap();
        let body = serde_json::from_str(&text).unwrap_or(Value::String(text));
        Invoked {
            body,
            function_error,
        }
    }

    pub fn control(&self, method: &str, path: &str, body: Value) -> Value {
        let url = format!("{}{}", self.doc["control"].as_str().unwrap(), path);
        let mut resp = match method {
            "GET" => self.agent.get(&url).call(),
            "DELETE" => self.agent.delete(&url).call(),
            _ => self
                .agent
                .post(&url)
                .header("content-type", "application/json")
                .send(body.to_string().as_bytes()),
        }
        .expect("control API answers");
        let status = resp.status().as_u16();
        let text = resp.body_mut().read_to_string().unwrap();
        assert!(status < 300, "control {method} {path}: {status} {text}");
        serde_json::from_str(&text).unwrap()
    }

    /// Move the service's newest deployment; returns the EventBridge event ECS would emit.
    pub fn deployment_state(&self, service: &str, state: &str, extra: Value) -> Value {
        let mut body = json!({"cluster": "demo", "service": service, "state": state});
        if let (Some(b), Some(e)) = (body.as_object_mut(), extra.as_object()) {
            b.extend(e.clone());
        }
        self.control("POST", "/ecs/deployment-state", body)["event"].clone()
    }

    /// The calls the stand served, optionally of one operation.
    pub fn requests(&self, operation: Option<&str>) -> Vec<Value> {
        let path = match operation {
            Some(op) => format!("/requests?operation={op}"),
            None => "/requests".to_string(),
        };
        self.control("GET", &path, Value::Null)["requests"]
            .as_array()
            .cloned()
            .unwrap_or_default()
    }

    pub fn count(&self, operation: &str) -> usize {
        self.requests(Some(operation)).len()
    }

    pub fn clear_requests(&self) {
        self.control("DELETE", "/requests", Value::Null);
    }

    /// Walk the service's newest BLUE_GREEN/LINEAR/CANARY deployment through its lifecycle
    /// stages, invoking its hooks: up to and including `until` (a lifecycle stage), or to the end.
    pub fn advance(&self, service: &str, until: Option<&str>) -> Value {
        let mut body = json!({"cluster": "demo", "service": service});
        if let Some(stage) = until {
            body["until"] = json!(stage);
        }
        self.control("POST", "/ecs/advance", body)
    }

    /// A task of the service's PRIMARY deployment (or `extra.deploymentId`) stops with
    /// `stop_code`; returns the "ECS Task State Change" event ECS sends.
    pub fn task_stopped(&self, service: &str, stop_code: &str, extra: Value) -> Value {
        let mut body = json!({"cluster": "demo", "service": service, "stopCode": stop_code});
        if let (Some(b), Some(e)) = (body.as_object_mut(), extra.as_object()) {
            b.extend(e.clone());
        }
        self.control("POST", "/ecs/task-stopped", body)["event"].clone()
    }

    /// Every lifecycle-hook invocation the stand made, with the function's answer.
    pub fn hook_invocations(&self) -> Vec<Value> {
        self.control("GET", "/ecs/hooks", Value::Null)["invocations"]
            .as_array()
            .cloned()
            .unwrap_or_default()
    }

    /// Add `ms` milliseconds to every AWS request (of one operation, if given).
    pub fn add_latency(&self, ms: u64, operation: Option<&str>) {
        self.control(
            "POST",
            "/latency",
            json!({"ms": ms, "operation": operation}),
        );
    }

    /// Add `ms` milliseconds to every request of `service` (`ecs`, `cloudwatch`, …), of one
    /// operation if given.
    pub fn add_latency_to(&self, service: &str, ms: u64, operation: Option<&str>) {
        self.control(
            "POST",
            "/latency",
            json!({"ms": ms, "service": service, "operation": operation}),
        );
    }

    /// Pairs of writes to one service whose request intervals overlapped.
    pub fn write_overlaps(&self) -> Vec<Value> {
        self.control("GET", "/requests/overlaps", Value::Null)["overlaps"]
            .as_array()
            .cloned()
            .unwrap_or_default()
    }
}

fn stop(child: &mut Child) {
    let _ = child.kill();
    let _ = child.wait();
}

impl Drop for Stand {
    fn drop(&mut self) {
        if let Some(mut l) = self.lambda.lock().unwrap().take() {
            stop(&mut l);
        }
        // Closing stdin stops the stand cleanly; kill by PID if it does not go in time.
        self.stdin.take();
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            match self.stand.try_wait() {
                Ok(Some(_)) => break,
                _ if Instant::now() > deadline => {
                    stop(&mut self.stand);
                    break;
                }
                _ => std::thread::sleep(Duration::from_millis(20)),
            }
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// The notification topic `ecs-rollback`, subscribed by the SQS queue `queue` (so a test reads
/// what people would be sent). Returns (topic ARN, queue URL).
pub async fn notification_inbox(sdk: &aws_config::SdkConfig, queue: &str) -> (String, String) {
    let sns = aws_sdk_sns::Client::new(sdk);
    let sqs = aws_sdk_sqs::Client::new(sdk);
    let topic_arn = sns
        .create_topic()
        .name("ecs-rollback")
        .send()
        .await
        .unwrap()
        .topic_arn()
        .unwrap()
        .to_string();
    let queue_url = sqs
        .create_queue()
        .queue_name(queue)
        .send()
        .await
        .unwrap()
        .queue_url()
        .unwrap()
        .to_string();
    sns.subscribe()
        .topic_arn(&topic_arn)
        .protocol("sqs")
        .endpoint(format!("arn:aws:sqs:{REGION}:{ACCOUNT}:{queue}"))
        .send()
        .await
        .unwrap();
    (topic_arn, queue_url)
}

/// ECS set-up and read-back helpers shared by the stand's tests (cluster `demo`).
pub mod ecs {
    use aws_sdk_ecs::types::builders::ContainerDefinitionBuilder;
    use aws_sdk_ecs::types::{
        ContainerDefinition, DeploymentCircuitBreaker, DeploymentConfiguration, Tag,
        TaskDefinitionField,
    };
    use aws_sdk_ecs::Client;

    use super::{ACCOUNT, REGION};

    /// Register a `hello-world` revision with one container `app` running `image`; `configure`
    /// may add to the container (environment, secrets, a command…).
    pub async fn register(
        ecs: &Client,
        image: &str,
        configure: impl FnOnce(ContainerDefinitionBuilder) -> ContainerDefinitionBuilder,
    ) -> String {
        let container = ContainerDefinition::builder()
            .name("app")
            .image(image)
            .essential(true)
            .memory(256);
        ecs.register_task_definition()
            .family("hello-world")
            .container_definitions(configure(container).build())
            .send()
            .await
            .unwrap()
            .task_definition()
            .unwrap()
            .task_definition_arn()
            .unwrap()
            .to_string()
    }

    /// A one-task service with the circuit breaker on; `enabled` is its opt-in tag value.
    pub async fn create_service(
        ecs: &Client,
        name: &str,
        td: &str,
        enabled: Option<&str>,
        breaker_rollback: bool,
    ) {
        let mut req = ecs
            .create_service()
            .cluster("demo")
            .service_name(name)
            .task_definition(td)
            .desired_count(1)
            .deployment_configuration(
                DeploymentConfiguration::builder()
                    .deployment_circuit_breaker(
                        DeploymentCircuitBreaker::builder()
                            .enable(true)
                            .rollback(breaker_rollback)
                            .build(),
                    )
                    .build(),
            );
        if let Some(v) = enabled {
            req = req.tags(Tag::builder().key("ecs-rollback:enabled").value(v).build());
        }
        req.send().await.unwrap();
    }

    pub async fn deploy(ecs: &Client, service: &str, td: &str) {
        ecs.update_service()
            .cluster("demo")
            .service(service)
            .task_definition(td)
            .send()
            .await
            .unwrap();
    }

    /// The task definition the service runs.
    pub async fn service_td(ecs: &Client, service: &str) -> String {
        let out = ecs
            .describe_services()
            .cluster("demo")
            .services(service)
            .send()
            .await
            .unwrap();
        out.services()[0].task_definition().unwrap().to_string()
    }

    pub async fn td_tags(ecs: &Client, td: &str) -> Vec<(String, String)> {
        let out = ecs
            .describe_task_definition()
            .task_definition(td)
            .include(TaskDefinitionField::Tags)
            .send()
            .await
            .unwrap();
        out.tags()
            .iter()
            .map(|t| (t.key().unwrap().to_string(), t.value().unwrap().to_string()))
            .collect()
    }

    /// The revision's `ecs-rollback:status` tag.
    pub async fn ledger(ecs: &Client, td: &str) -> Option<String> {
        td_tags(ecs, td)
            .await
            .into_iter()
            .find(|(k, _)| k == "ecs-rollback:status")
            .map(|(_, v)| v)
    }

    pub async fn service_tag(ecs: &Client, service: &str, key: &str) -> Option<String> {
        let arn = format!("arn:aws:ecs:{REGION}:{ACCOUNT}:service/demo/{service}");
        let out = ecs
            .list_tags_for_resource()
            .resource_arn(arn)
            .send()
            .await
            .unwrap();
        out.tags()
            .iter()
            .find(|t| t.key() == Some(key))
            .and_then(|t| t.value().map(str::to_string))
    }
}

/// The world of the stand scenario suites: a stand with cluster `demo`, an SNS topic read
/// through an SQS queue, and the Lambda running with the topic and `env`.
pub struct World {
    pub stand: Stand,
    pub ecs: aws_sdk_ecs::Client,
    pub cloudwatch: aws_sdk_cloudwatch::Client,
    pub sqs: aws_sdk_sqs::Client,
    pub queue_url: String,
}

impl World {
    /// Start the stand with `stand_args`, let `configure` set it up (control ops) before the
    /// Lambda starts, then start the Lambda.
    pub async fn start(
        stand_args: &[&str],
        env: &[(&str, &str)],
        configure: impl FnOnce(&Stand),
    ) -> World {
        let mut stand = Stand::start_with(stand_args);
        let sdk = stand.sdk().await;
        let ecs = aws_sdk_ecs::Client::new(&sdk);
        let sqs = aws_sdk_sqs::Client::new(&sdk);
        let cloudwatch = stand.cloudwatch(&sdk);
        ecs.create_cluster()
            .cluster_name("demo")
            .send()
            .await
            .unwrap();
        let (topic_arn, queue_url) = notification_inbox(&sdk, "notifications").await;
        configure(&stand);
        let mut all: Vec<(&str, &str)> = vec![("ROLLBACK_NOTIFY_TOPIC_ARN", topic_arn.as_str())];
        all.extend_from_slice(env);
        stand.start_lambda(&all);
        World {
            stand,
            ecs,
            cloudwatch,
            sqs,
            queue_url,
        }
    }

    /// The notifications (each SNS `Message`): with `at_least` 0, every one waiting in the queue
    /// now; else as soon as there are `at_least` (waiting at most 30 s for them).
    pub async fn notifications(&self, at_least: usize) -> Vec<String> {
        let mut got: Vec<String> = Vec::new();
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let out = self
                .sqs
                .receive_message()
                .queue_url(&self.queue_url)
                .max_number_of_messages(10)
                .wait_time_seconds(if got.len() < at_least { 1 } else { 0 })
                .send()
                .await
                .unwrap();
            for m in out.messages() {
                let envelope: Value = serde_json::from_str(m.body().unwrap()).unwrap();
                got.push(envelope["Message"].as_str().unwrap_or_default().to_string());
            }
            let done = match at_least {
                0 => out.messages().is_empty(),
                n => got.len() >= n,
            };
            if done || Instant::now() >= deadline {
                return got;
            }
        }
    }
}
