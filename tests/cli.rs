//! The `ecs-rollback` CLI end to end: the real binary against the test stand (moto with modelled
//! ECS service deployments), through the real SDK wire formats. Each test asserts on the output,
//! the exit code and the emulator's final state. The dialog is driven through a pseudo-terminal.
//! No fixed sleeps: every wait is a bounded poll.

#[path = "stand/harness.rs"]
mod harness;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use aws_sdk_ecs::types::{
    ContainerDefinition, EphemeralStorage, HealthCheck, KeyValuePair, LogConfiguration, LogDriver,
    MountPoint, NetworkMode, PortMapping, RuntimePlatform, Secret, Tag, TaskDefinition,
    TaskDefinitionField, Volume,
};
use harness::{wait_for, Stand, ACCOUNT, REGION};
use serde_json::{json, Value};

const REGISTRY: &str = "123456789012.dkr.ecr.eu-west-1.amazonaws.com/hello-world";
/// The binary under test; `ECS_ROLLBACK_CLI_BIN` names another build (e.g. an older commit's, to
/// see a test fail before its fix).
fn bin() -> String {
    std::env::var("ECS_ROLLBACK_CLI_BIN")
        .unwrap_or_else(|_| env!("CARGO_BIN_EXE_ecs-rollback").to_string())
}

static SEQ: AtomicUsize = AtomicUsize::new(0);

/// A scratch directory, removed when dropped.
struct Scratch(PathBuf);

impl Scratch {
    fn new(name: &str) -> Scratch {
        let dir = std::env::temp_dir().join(format!(
            "ecs-rollback-cli-{name}-{}-{}",
            std::process::id(),
            SEQ.fetch_add(1, Ordering::SeqCst)
        ));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        Scratch(dir)
    }

    fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A git repository with one commit per message; returns the short SHAs, oldest first.
fn git_repo(dir: &Path, messages: &[&str]) -> Vec<String> {
    let git = |args: &[&str]| {
        let out = Command::new("git")
            .arg("-C")
            .arg(dir)
            .args(args)
            .env("GIT_CONFIG_NOSYSTEM", "1")
            .env("HOME", dir)
            .output()
            .expect("git runs");
        assert!(out.status.success(), "git {args:?}: {out:?}");
        String::from_utf8_lossy(&out.stdout).trim().to_string()
    };
    git(&["init", "-q"]);
    git(&["config", "user.email", "dev@example.com"]);
    git(&["config", "user.name", "Dev"]);
    let mut shas = Vec::new();
    for (i, m) in messages.iter().enumerate() {
        std::fs::write(dir.join("greeting.txt"), format!("{i} {m}\n")).unwrap();
        git(&["add", "greeting.txt"]);
        git(&["commit", "-q", "-m", m]);
        shas.push(git(&["rev-parse", "--short", "HEAD"]));
    }
    shas
}

struct Run {
    code: i32,
    stdout: String,
    stderr: String,
}

impl Run {
    fn json(&self) -> Value {
        serde_json::from_str(&self.stdout).unwrap_or_else(|e| {
            panic!(
                "stdout is not JSON ({e}):\n{}\n{}",
                self.stdout, self.stderr
            )
        })
    }
}

impl std::fmt::Debug for Run {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "exit {}\n--- stdout\n{}--- stderr\n{}",
            self.code, self.stdout, self.stderr
        )
    }
}

fn finished(out: Output) -> Run {
    Run {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

/// The CLI with a clean environment: the stand's endpoints and test credentials, no IMDS,
/// a HOME without AWS config files.
fn cli(stand: Option<&Stand>, home: &Path, args: &[&str]) -> Command {
    let mut cmd = Command::new(bin());
    cmd.env_clear();
    if let Ok(path) = std::env::var("PATH") {
        cmd.env("PATH", path);
    }
    cmd.env("HOME", home)
        .env("USER", "alice")
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .current_dir(home);
    if let Some(stand) = stand {
        for (k, v) in stand.doc["lambda_env"].as_object().unwrap() {
            if k.starts_with("AWS_") && !k.starts_with("AWS_LAMBDA_") {
                cmd.env(k, v.as_str().unwrap());
            }
        }
        // The caller identity (STS) and the image check (ECR) go to moto too.
        cmd.env("AWS_ENDPOINT_URL_STS", stand.endpoint())
            .env("AWS_ENDPOINT_URL_ECR", stand.endpoint());
    }
    cmd.args(args);
    cmd
}

struct World {
    stand: Stand,
    ecs: aws_sdk_ecs::Client,
    home: Scratch,
}

async fn world() -> World {
    let stand = Stand::start();
    let sdk = stand.sdk().await;
    let ecs = aws_sdk_ecs::Client::new(&sdk);
    ecs.create_cluster()
        .cluster_name("demo")
        .send()
        .await
        .unwrap();
    World {
        stand,
        ecs,
        home: Scratch::new("home"),
    }
}

impl World {
    fn run(&self, args: &[&str]) -> Run {
        self.run_in(self.home.path(), args)
    }

    fn run_in(&self, dir: &Path, args: &[&str]) -> Run {
        let out = cli(Some(&self.stand), self.home.path(), args)
            .current_dir(dir)
            .stdin(Stdio::null())
            .output()
            .expect("the CLI runs");
        finished(out)
    }

    /// The CLI with extra environment variables.
    fn run_env(&self, args: &[&str], env: &[(&str, &str)]) -> Run {
        let out = cli(Some(&self.stand), self.home.path(), args)
            .envs(env.iter().copied())
            .stdin(Stdio::null())
            .output()
            .expect("the CLI runs");
        finished(out)
    }

    fn spawn(&self, args: &[&str]) -> Child {
        cli(Some(&self.stand), self.home.path(), args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("the CLI starts")
    }

    async fn register(&self, image: &str) -> String {
        harness::ecs::register(&self.ecs, image, |c| c).await
    }

    async fn create_service(&self, name: &str, td: &str, enabled: Option<&str>) {
        harness::ecs::create_service(&self.ecs, name, td, enabled, false).await
    }

    async fn deploy(&self, service: &str, td: &str) {
        harness::ecs::deploy(&self.ecs, service, td).await
    }

    /// Write an event the stand returned to a file for `replay`.
    fn event_file(&self, name: &str, event: &Value) -> PathBuf {
        let path = self.home.path().join(name);
        std::fs::write(&path, serde_json::to_vec_pretty(event).unwrap()).unwrap();
        path
    }

    /// Revisions 1 and 2 deployed successfully — their COMPLETED events replayed with
    /// `--execute`, so the ledger marks them stable as the Lambda would — then revision 3 deployed
    /// and still in progress. Images are tagged with `tags`.
    async fn good_then_bad(&self, service: &str, tags: &[String; 3]) -> [String; 3] {
        let r1 = self.register(&format!("{REGISTRY}:{}", tags[0])).await;
        let r2 = self.register(&format!("{REGISTRY}:{}", tags[1])).await;
        let r3 = self.register(&format!("{REGISTRY}:{}", tags[2])).await;
        self.create_service(service, &r1, Some("true")).await;
        for next in [Some(&r2), None] {
            let completed = self
                .stand
                .deployment_state(service, "SUCCESSFUL", json!({}));
            let file = self.event_file(&format!("{service}-completed.json"), &completed);
            let r = self.run(&["replay", file.to_str().unwrap(), "--execute"]);
            assert_eq!(r.code, 0, "{r:?}");
            assert!(r.stdout.contains(": recorded "), "{r:?}");
            match next {
                Some(td) => self.deploy(service, td).await,
                None => self.deploy(service, &r3).await,
            }
        }
        // ECS starts a deployment within seconds (PENDING, then IN_PROGRESS).
        self.stand
            .deployment_state(service, "IN_PROGRESS", json!({}));
        [r1, r2, r3]
    }

    async fn service_td(&self, service: &str) -> String {
        harness::ecs::service_td(&self.ecs, service).await
    }

    async fn describe(&self, td: &str) -> (TaskDefinition, Vec<(String, String)>) {
        let out = self
            .ecs
            .describe_task_definition()
            .task_definition(td)
            .include(TaskDefinitionField::Tags)
            .send()
            .await
            .unwrap();
        let tags = out
            .tags()
            .iter()
            .map(|t| (t.key().unwrap().to_string(), t.value().unwrap().to_string()))
            .collect();
        (out.task_definition().unwrap().clone(), tags)
    }

    async fn ledger(&self, td: &str) -> Option<String> {
        self.describe(td)
            .await
            .1
            .into_iter()
            .find(|(k, _)| k == "ecs-rollback:status")
            .map(|(_, v)| v)
    }

    async fn service_tag(&self, service: &str, key: &str) -> Option<String> {
        harness::ecs::service_tag(&self.ecs, service, key).await
    }

    /// Push an image tag of REGISTRY's repository to the stand's ECR (moto).
    async fn push_image(&self, tag: &str) {
        let ecr = aws_sdk_ecr::Client::new(&self.stand.sdk().await);
        let _ = ecr
            .create_repository()
            .repository_name("hello-world")
            .send()
            .await;
        let manifest = json!({
            "schemaVersion": 2,
            "mediaType": "application/vnd.docker.distribution.manifest.v2+json",
            "config": {"digest": format!("sha256:{}", "a".repeat(64)), "size": 1,
                       "mediaType": "application/vnd.docker.container.image.v1+json"},
            "layers": [],
        });
        ecr.put_image()
            .repository_name("hello-world")
            .image_manifest(manifest.to_string())
            .image_tag(tag)
            .send()
            .await
            .unwrap();
    }

    /// Tag a resource (service or task definition) as a person or the stand would.
    async fn tag(&self, arn: &str, key: &str, value: &str) {
        self.ecs
            .tag_resource()
            .resource_arn(arn)
            .tags(Tag::builder().key(key).value(value).build())
            .send()
            .await
            .unwrap();
    }

    async fn service_arn(&self, service: &str) -> String {
        self.ecs
            .describe_services()
            .cluster("demo")
            .services(service)
            .send()
            .await
            .unwrap()
            .services()[0]
            .service_arn()
            .unwrap()
            .to_string()
    }

    fn writes(&self) -> usize {
        [
            "UpdateService",
            "StopServiceDeployment",
            "TagResource",
            "RegisterTaskDefinition",
        ]
        .iter()
        .map(|op| self.stand.count(op))
        .sum()
    }
}

fn short(arn: &str) -> &str {
    arn.rsplit('/').next().unwrap()
}

fn tags(a: &str, b: &str, c: &str) -> [String; 3] {
    [a.to_string(), b.to_string(), c.to_string()]
}

/// Wait (bounded) for a spawned CLI to exit.
fn wait_exit(mut child: Child, bound: Duration) -> Run {
    wait_for("the CLI to exit", bound, || {
        child.try_wait().ok().flatten().map(|_| ())
    });
    finished(child.wait_with_output().unwrap())
}

#[tokio::test(flavor = "multi_thread")]
async fn status_shows_revisions_images_digests_ledger_running_outcomes_and_commits() {
    let w = world().await;
    let repo = Scratch::new("repo");
    let shas = git_repo(
        repo.path(),
        &["Say hello", "Greet in French too", "Rewrite the greeting"],
    );
    let [r1, r2, r3] = w
        .good_then_bad("hello-world", &tags(&shas[0], &shas[1], &shas[2]))
        .await;
    w.stand.clear_requests();

    let r = w.run(&[
        "status",
        "-c",
        "demo",
        "-s",
        "hello-world",
        "--git-repo",
        repo.path().to_str().unwrap(),
    ]);
    assert_eq!(r.code, 0, "{r:?}");
    let lines: Vec<&str> = r.stdout.lines().collect();
    let row = |rev: &str| {
        *lines
            .iter()
            .find(|l| l.starts_with(&format!("{rev} ")))
            .unwrap_or_else(|| panic!("no row for {rev}: {r:?}"))
    };
    let third = row("hello-world:3");
    for want in [
        &shas[2] as &str,
        "sha256:",
        "PRIMARY",
        "IN_PROGRESS",
        "Rewrite the greeting",
    ] {
        assert!(third.contains(want), "{want}: {third}");
    }
    let second = row("hello-world:2");
    for want in [
        &shas[1] as &str,
        "stable",
        "ACTIVE",
        "SUCCESSFUL",
        "Greet in French too",
    ] {
        assert!(second.contains(want), "{want}: {second}");
    }
    assert!(row("hello-world:1").contains("Say hello"), "{r:?}");
    assert!(
        r.stdout
            .contains("would go to hello-world:2: the revision the deployment in flight replaces"),
        "{r:?}"
    );
    // Newest first.
    let pos = |s: &str| r.stdout.find(s).unwrap();
    assert!(
        pos("hello-world:3 ") < pos("hello-world:2 ")
            && pos("hello-world:2 ") < pos("hello-world:1 ")
    );

    let r = w.run(&[
        "history",
        "-c",
        "demo",
        "-s",
        "hello-world",
        "-o",
        "json",
        "--git-repo",
        repo.path().to_str().unwrap(),
    ]);
    assert_eq!(r.code, 0, "{r:?}");
    let v = r.json();
    let revs = v["revisions"].as_array().unwrap();
    assert_eq!(revs.len(), 3);
    assert_eq!(revs[0]["task_definition"], json!(r3));
    assert_eq!(revs[0]["running"], "PRIMARY");
    assert_eq!(revs[0]["outcome"], "IN_PROGRESS");
    assert!(revs[0]["images"][0]["digest"]
        .as_str()
        .unwrap()
        .starts_with("sha256:"));
    assert_eq!(
        revs[0]["images"][0]["commit"]["subject"],
        "Rewrite the greeting"
    );
    assert_eq!(revs[1]["task_definition"], json!(r2));
    assert_eq!(revs[1]["ledger"], "stable");
    assert_eq!(revs[1]["outcome"], "SUCCESSFUL");
    assert_eq!(revs[2]["task_definition"], json!(r1));
    assert_eq!(v["rollback"]["action"], "dry_run");
    assert_eq!(v["rollback"]["to"], json!(r2));
    assert_eq!(v["tags"]["ecs-rollback:enabled"], "true");
    assert_eq!(w.writes(), 0, "status only reads");

    // `-n` limits; the running revision is always shown.
    let r = w.run(&[
        "status",
        "-c",
        "demo",
        "-s",
        "hello-world",
        "-n",
        "1",
        "-o",
        "json",
    ]);
    let revs = r.json()["revisions"].as_array().unwrap().clone();
    assert_eq!(revs.len(), 2, "{r:?}");
}

#[tokio::test(flavor = "multi_thread")]
async fn rollback_dry_run_prints_the_plan_in_text_and_json_and_changes_nothing() {
    let w = world().await;
    let [_, r2, r3] = w
        .good_then_bad("hello-world", &tags("a1b2c3d", "b2c3d4e", "c3d4e5f"))
        .await;
    w.stand.deployment_state("hello-world", "FAILED", json!({}));
    w.stand.clear_requests();

    let r = w.run(&["rollback", "-c", "demo", "-s", "hello-world", "--dry-run"]);
    assert_eq!(r.code, 0, "{r:?}");
    assert!(
        r.stdout
            .starts_with("demo/hello-world: would roll back hello-world:3 → hello-world:2\n"),
        "{r:?}"
    );
    for want in [
        "  from    hello-world:3  hello-world:c3d4e5f\n",
        "  to      hello-world:2  hello-world:b2c3d4e\n",
        "  chosen  its last successful deployment (ECS service-deployment history)\n",
        "  how     UpdateService(taskDefinition=hello-world:2)\n",
        "  after   tag hello-world:3 ecs-rollback:status=bad for this service;",
        // Who: the STS caller identity (moto's is a user named moto).
        "because manual request: ecs-rollback rollback run by arn:aws:sts::123456789012:user/moto. Next: ECS replaces the tasks with hello-world:2 in a rolling deployment.\n",
        "Dry run: nothing was changed.\n",
    ] {
        assert!(r.stdout.contains(want), "{want:?}: {r:?}");
    }

    let r = w.run(&[
        "rollback",
        "-c",
        "demo",
        "-s",
        "hello-world",
        "--dry-run",
        "--output",
        "json",
        "--reason",
        "login page broken",
    ]);
    assert_eq!(r.code, 0, "{r:?}");
    let v = r.json();
    assert_eq!(v["action"], "dry_run");
    assert_eq!(v["from"], json!(r3));
    assert_eq!(v["to"], json!(r2));
    assert_eq!(v["plan"]["source"], "history");
    assert_eq!(v["plan"]["method"]["kind"], "update_service");
    assert_eq!(v["plan"]["dry_run"], true);
    assert!(v["reason"].as_str().unwrap().contains("login page broken"));
    assert_eq!(
        v["images"]["to"][0]["image"],
        json!(format!("{REGISTRY}:b2c3d4e"))
    );

    assert_eq!(w.writes(), 0, "a dry run changes nothing");
    assert_eq!(w.service_td("hello-world").await, r3);
}

#[tokio::test(flavor = "multi_thread")]
async fn rollback_with_wait_follows_the_deployment_until_steady_or_failed() {
    let w = world().await;
    let [_, r2, r3] = w
        .good_then_bad("hello-world", &tags("a1b2c3d", "b2c3d4e", "c3d4e5f"))
        .await;
    w.stand.deployment_state("hello-world", "FAILED", json!({}));

    // Steady: the rollback's deployment completes while the CLI waits.
    let before = w.stand.count("UpdateService");
    let child = w.spawn(&[
        "rollback",
        "-c",
        "demo",
        "-s",
        "hello-world",
        "--reason",
        "login page broken",
        "--poll-interval",
        "200ms",
        "--wait-timeout",
        "2m",
    ]);
    wait_for(
        "the rollback's UpdateService",
        Duration::from_secs(60),
        || (w.stand.count("UpdateService") > before).then_some(()),
    );
    w.stand
        .deployment_state("hello-world", "SUCCESSFUL", json!({}));
    let r = wait_exit(child, Duration::from_secs(60));
    assert_eq!(r.code, 0, "{r:?}");
    assert!(
        r.stdout
            .starts_with("demo/hello-world: rollback started hello-world:3 → hello-world:2\n"),
        "{r:?}"
    );
    assert!(
        r.stdout
            .contains("because manual request: login page broken."),
        "{r:?}"
    );
    // The changes it reverts, shown as it starts: the image (tags differ by revision).
    assert!(
        r.stdout
            .contains("  changes (what the rollback reverts):\n")
            && r.stdout
                .contains("app: image  hello-world:c3d4e5f → hello-world:b2c3d4e\n"),
        "{r:?}"
    );
    assert!(
        r.stdout
            .contains("demo/hello-world is steady on hello-world:2 ("),
        "{r:?}"
    );
    assert!(r.stdout.contains("): rolled back.\n"), "{r:?}");
    assert_eq!(w.service_td("hello-world").await, r2);
    assert_eq!(w.ledger(&r3).await.as_deref(), Some("bad"));
    assert_eq!(
        w.service_tag("hello-world", "ecs-rollback:last-rollback-to")
            .await
            .as_deref(),
        Some(r2.as_str()),
        "the rollback is recorded as the Lambda records it"
    );
    assert_eq!(
        w.service_tag("hello-world", "ecs-rollback:last-rollback-kind")
            .await
            .as_deref(),
        Some("manual")
    );
    assert_eq!(
        w.service_tag("hello-world", "ecs-rollback:last-rollback-by")
            .await
            .as_deref(),
        Some("arn:aws:sts::123456789012:user/moto"),
        "who: the STS caller identity, not $USER"
    );

    // Failed: the rollback's own deployment fails → exit 4 (JSON says why).
    let r4 = w.register(&format!("{REGISTRY}:d4e5f6a")).await;
    w.deploy("hello-world", &r4).await;
    w.stand.deployment_state("hello-world", "FAILED", json!({}));
    let before = w.stand.count("UpdateService");
    let child = w.spawn(&[
        "rollback",
        "-c",
        "demo",
        "-s",
        "hello-world",
        "--to",
        "1",
        "--wait",
        "--poll-interval",
        "200ms",
        "-o",
        "json",
    ]);
    wait_for(
        "the rollback's UpdateService",
        Duration::from_secs(60),
        || (w.stand.count("UpdateService") > before).then_some(()),
    );
    w.stand.deployment_state("hello-world", "FAILED", json!({}));
    let r = wait_exit(child, Duration::from_secs(60));
    assert_eq!(r.code, 4, "{r:?}");
    let v = r.json();
    assert_eq!(v["action"], "rolled_back");
    assert_eq!(v["wait"]["outcome"], "failed");
    assert!(
        v["wait"]["reason"]
            .as_str()
            .unwrap()
            .contains("circuit breaker"),
        "{r:?}"
    );

    // The rollback's own deployment failed: the next plain rollback says so and what to do.
    let r = w.run(&["rollback", "-c", "demo", "-s", "hello-world", "--no-wait"]);
    assert_eq!(r.code, 3, "{r:?}");
    assert!(
        r.stderr
            .contains("the rollback to hello-world:1 did not hold: its deployment FAILED")
            && r.stderr.contains("--to REVISION"),
        "{r:?}"
    );
    // Waiting in text, a failed rollback deployment ends with the next step.
    let before = w.stand.count("UpdateService");
    let child = w.spawn(&[
        "rollback",
        "-c",
        "demo",
        "-s",
        "hello-world",
        "--to",
        "2",
        "--wait",
        "--poll-interval",
        "200ms",
    ]);
    wait_for(
        "the rollback's UpdateService",
        Duration::from_secs(60),
        || (w.stand.count("UpdateService") > before).then_some(()),
    );
    w.stand.deployment_state("hello-world", "FAILED", json!({}));
    let r = wait_exit(child, Duration::from_secs(60));
    assert_eq!(r.code, 4, "{r:?}");
    assert!(
        r.stdout
            .contains("its own deployment failed: hello-world:2 did not run either")
            && r.stdout
                .contains("Next: `ecs-rollback status -c demo -s hello-world`"),
        "{r:?}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn losing_aws_while_waiting_says_the_rollback_was_issued() {
    let w = world().await;
    let [_, r2, _] = w
        .good_then_bad("hello-world", &tags("a1b2c3d", "b2c3d4e", "c3d4e5f"))
        .await;
    w.stand.deployment_state("hello-world", "FAILED", json!({}));
    let before = w.stand.count("UpdateService");
    let child = w.spawn(&[
        "rollback",
        "-c",
        "demo",
        "-s",
        "hello-world",
        "--poll-interval",
        "200ms",
    ]);
    wait_for(
        "the rollback's UpdateService",
        Duration::from_secs(60),
        || (w.stand.count("UpdateService") > before).then_some(()),
    );
    // AWS stops answering while the CLI follows the rollback.
    w.stand.control(
        "POST",
        "/faults",
        json!({"service": "ecs", "operation": "DescribeServices", "status": 500,
               "code": "ServerException", "count": -1}),
    );
    let r = wait_exit(child, Duration::from_secs(120));
    w.stand.control("DELETE", "/faults", Value::Null);
    assert_ne!(r.code, 0, "{r:?}");
    assert!(
        r.stderr.contains(
            "the rollback to hello-world:2 was issued (ECS accepted it), but following it failed"
        ) && r
            .stderr
            .contains("`ecs-rollback status -c demo -s hello-world --wait` follows it again"),
        "{r:?}"
    );
    assert_eq!(w.service_td("hello-world").await, r2);
}

#[tokio::test(flavor = "multi_thread")]
async fn rollback_to_an_explicit_revision_and_the_refusals() {
    let w = world().await;
    let [r1, r2, _] = w
        .good_then_bad("hello-world", &tags("a1b2c3d", "b2c3d4e", "c3d4e5f"))
        .await;
    w.stand.deployment_state("hello-world", "FAILED", json!({}));

    let r = w.run(&[
        "rollback",
        "-c",
        "demo",
        "-s",
        "hello-world",
        "--to",
        "hello-world:1",
        "--no-wait",
    ]);
    assert_eq!(r.code, 0, "{r:?}");
    assert!(
        r.stdout
            .contains("rollback started hello-world:3 → hello-world:1"),
        "{r:?}"
    );
    assert!(r.stderr.contains("Not waiting (--no-wait)"), "{r:?}");
    assert!(r.stdout.contains("(the revision requested)"), "{r:?}");
    assert_eq!(w.service_td("hello-world").await, r1);

    // Already there: nothing to do, exit 3.
    let r = w.run(&["rollback", "-c", "demo", "-s", "hello-world", "--to", "1"]);
    assert_eq!(r.code, 3, "{r:?}");
    assert_eq!(
        r.stdout,
        "demo/hello-world: nothing to do. The service already runs hello-world:1.\n"
    );

    // A revision marked bad is refused, exit 3, nothing written.
    w.ecs
        .tag_resource()
        .resource_arn(&r2)
        .tags(
            Tag::builder()
                .key("ecs-rollback:status")
                .value("bad")
                .build(),
        )
        .send()
        .await
        .unwrap();
    w.stand.clear_requests();
    let r = w.run(&["rollback", "-c", "demo", "-s", "hello-world", "--to", &r2]);
    assert_eq!(r.code, 3, "{r:?}");
    assert!(
        r.stdout.contains(
            "Refusing to roll back to hello-world:2: it is marked ecs-rollback:status=bad."
        ),
        "{r:?}"
    );
    assert_eq!(w.writes(), 0);

    // Unknown names: exit 2, one line plus a hint, no write.
    let cases: &[(&[&str], &str, &str)] = &[
        (
            &["rollback", "-c", "demo", "-s", "hello-world", "--to", "99"],
            "error: task definition \"hello-world:99\" does not exist",
            // The names are known: the hint says them.
            "hint: `ecs-rollback status --cluster demo --service hello-world`",
        ),
        (
            &["rollback", "-c", "demo", "-s", "nope"],
            "error: service \"nope\" does not exist in cluster \"demo\"",
            "hint: `aws ecs list-services --cluster demo`",
        ),
        (
            &["status", "-c", "prod", "-s", "hello-world"],
            "error: cluster \"prod\" does not exist",
            "hint: check the name, --region and --profile",
        ),
        (
            &["deploy", "-c", "demo", "-s", "nope", "--tag", "abc1234"],
            "error: service \"nope\" does not exist",
            "hint:",
        ),
    ];
    for (args, error, hint) in cases {
        let r = w.run(args);
        assert_eq!(r.code, 2, "{args:?} {r:?}");
        assert!(r.stdout.is_empty(), "{r:?}");
        let lines: Vec<&str> = r.stderr.lines().collect();
        assert_eq!(lines.len(), 2, "one line plus a hint: {r:?}");
        assert!(lines[0].starts_with(error), "{r:?}");
        assert!(lines[1].starts_with(hint), "{r:?}");
    }
    assert_eq!(w.writes(), 0);

    // No opt-in tag needed by the CLI; an explicit opt-out still refuses.
    let plain = w.register(&format!("{REGISTRY}:e5f6a7b")).await;
    w.create_service("untagged", &r1, None).await;
    w.stand
        .deployment_state("untagged", "SUCCESSFUL", json!({}));
    w.deploy("untagged", &plain).await;
    let r = w.run(&[
        "rollback",
        "-c",
        "demo",
        "-s",
        "untagged",
        "--to",
        "1",
        "--no-wait",
    ]);
    assert_eq!(r.code, 0, "{r:?}");
    assert_eq!(w.service_td("untagged").await, r1);
    w.create_service("hands-off", &plain, Some("false")).await;
    let r = w.run(&["rollback", "-c", "demo", "-s", "hands-off", "--to", "1"]);
    assert_eq!(r.code, 3, "{r:?}");
    assert!(r.stdout.contains("opted out"), "{r:?}");
    assert_eq!(w.service_td("hands-off").await, plain);
}

#[tokio::test(flavor = "multi_thread")]
async fn replay_is_a_dry_run_by_default_and_execute_acts_like_the_lambda() {
    let w = world().await;
    let [_, r2, r3] = w
        .good_then_bad("hello-world", &tags("a1b2c3d", "b2c3d4e", "c3d4e5f"))
        .await;
    let failed = w.stand.deployment_state("hello-world", "FAILED", json!({}));
    let file = w.event_file("failed.json", &failed);
    let file = file.to_str().unwrap();
    w.stand.clear_requests();

    let r = w.run(&["replay", file]);
    assert_eq!(r.code, 0, "{r:?}");
    assert!(
        r.stdout
            .contains("(dry run: nothing is changed, nothing is notified)"),
        "{r:?}"
    );
    assert!(
        r.stdout
            .contains("demo/hello-world: would roll back hello-world:3 → hello-world:2"),
        "{r:?}"
    );
    assert!(
        r.stdout
            .contains("Dry run: would roll back from hello-world:3 to hello-world:2 (its last successful deployment) because deployment ecs-svc/"),
        "{r:?}"
    );
    let r = w.run(&["replay", file, "-o", "json"]);
    let v = r.json();
    assert_eq!(v["action"], "dry_run", "the Lambda's response, as is");
    assert_eq!(v["to"], json!(r2));
    assert_eq!(
        v.as_object().unwrap().keys().collect::<Vec<_>>(),
        // The documented response keys, then the account and region the response is about.
        ["action", "cluster", "service", "from", "to", "reason", "account", "region"]
    );
    assert_eq!(
        (v["account"].as_str(), v["region"].as_str()),
        (Some("123456789012"), Some("eu-west-1"))
    );
    assert_eq!(w.writes(), 0, "replay is dry by default");
    assert_eq!(w.service_td("hello-world").await, r3);

    let r = w.run(&["replay", file, "--execute"]);
    assert_eq!(r.code, 0, "{r:?}");
    assert!(
        r.stdout
            .contains("rolled back hello-world:3 → hello-world:2"),
        "{r:?}"
    );
    assert_eq!(w.service_td("hello-world").await, r2);
    assert_eq!(w.ledger(&r3).await.as_deref(), Some("bad"));

    // The same event again: a duplicate, exit 3.
    let r = w.run(&["replay", file, "--execute"]);
    assert_eq!(r.code, 3, "{r:?}");
    assert!(r.stdout.contains("Duplicate event"), "{r:?}");

    // The repository's own fixtures: an alarm in OK needs no AWS call; bad input is exit 2.
    let fixture = |name: &str| format!("{}/events/{name}", env!("CARGO_MANIFEST_DIR"));
    w.stand.clear_requests();
    let r = w.run(&["replay", &fixture("cloudwatch-alarm-ok.json")]);
    assert_eq!(r.code, 3, "{r:?}");
    assert!(r.stdout.contains("not ALARM"), "{r:?}");
    assert!(
        w.stand.requests(None).is_empty(),
        "no AWS call for an OK alarm"
    );
    for (name, says) in [
        (
            "invalid/lifecycle-hook-missing-target-revision.json",
            "lifecycle-hook",
        ),
        ("invalid/malformed.json", "not valid JSON"),
        ("no-such-event.json", "cannot read the event file"),
    ] {
        let r = w.run(&["replay", &fixture(name)]);
        assert_eq!(r.code, 2, "{name}: {r:?}");
        assert!(
            r.stderr.starts_with("error: ") && r.stderr.contains(says),
            "{name}: {r:?}"
        );
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn deploy_copies_every_field_and_tags_the_image_with_the_git_short_sha() {
    let w = world().await;
    let repo = Scratch::new("repo");
    let shas = git_repo(repo.path(), &["First", "Second: faster greeting"]);
    let app = ContainerDefinition::builder()
        .name("app")
        .image(format!("{REGISTRY}:{}", shas[0]))
        .essential(true)
        .cpu(256)
        .memory(512)
        .memory_reservation(256)
        .port_mappings(
            PortMapping::builder()
                .container_port(8080)
                .host_port(8080)
                .build(),
        )
        .environment(
            KeyValuePair::builder()
                .name("GREETING")
                .value("hello")
                .build(),
        )
        .secrets(
            Secret::builder()
                .name("DB_PASSWORD")
                .value_from("arn:aws:ssm:eu-west-1:123456789012:parameter/db")
                .build()
                .unwrap(),
        )
        .command("serve")
        .command("--port=8080")
        .working_directory("/srv")
        .mount_points(
            MountPoint::builder()
                .source_volume("scratch")
                .container_path("/scratch")
                .build(),
        )
        .log_configuration(
            LogConfiguration::builder()
                .log_driver(LogDriver::Awslogs)
                .options("awslogs-group", "/ecs/hello-world")
                .options("awslogs-region", "eu-west-1")
                .build()
                .unwrap(),
        )
        .health_check(
            HealthCheck::builder()
                .command("CMD-SHELL")
                .command("curl -f http://localhost:8080/ || exit 1")
                .interval(10)
                .retries(3)
                .build()
                .unwrap(),
        )
        .docker_labels("team", "greetings")
        .build();
    let sidecar = ContainerDefinition::builder()
        .name("envoy")
        .image("public.ecr.aws/appmesh/aws-appmesh-envoy:v1.29.5.0-prod")
        .essential(false)
        .memory(128)
        .build();
    let source = w
        .ecs
        .register_task_definition()
        .family("hello-world")
        .task_role_arn("arn:aws:iam::123456789012:role/hello-task")
        .execution_role_arn("arn:aws:iam::123456789012:role/ecsTaskExecutionRole")
        .network_mode(NetworkMode::Awsvpc)
        .requires_compatibilities(aws_sdk_ecs::types::Compatibility::Fargate)
        .cpu("512")
        .memory("1024")
        .volumes(Volume::builder().name("scratch").build())
        .ephemeral_storage(EphemeralStorage::builder().size_in_gib(30).build())
        .runtime_platform(
            RuntimePlatform::builder()
                .cpu_architecture(aws_sdk_ecs::types::CpuArchitecture::Arm64)
                .operating_system_family(aws_sdk_ecs::types::OsFamily::Linux)
                .build(),
        )
        .container_definitions(app)
        .container_definitions(sidecar)
        .tags(Tag::builder().key("team").value("greetings").build())
        .tags(
            Tag::builder()
                .key("ecs-rollback:status")
                .value("stable")
                .build(),
        )
        .send()
        .await
        .unwrap()
        .task_definition()
        .unwrap()
        .task_definition_arn()
        .unwrap()
        .to_string();
    w.create_service("hello-world", &source, Some("true")).await;
    w.stand
        .deployment_state("hello-world", "SUCCESSFUL", json!({}));
    for tag in [shas[1].as_str(), "v2.0.0"] {
        w.push_image(tag).await;
    }

    // Two containers: which one must be said.
    let r = w.run_in(repo.path(), &["deploy", "-c", "demo", "-s", "hello-world"]);
    assert_eq!(r.code, 2, "{r:?}");
    assert!(
        r.stderr
            .contains("hint: name it with --container (one of: app, envoy)"),
        "{r:?}"
    );

    // Dry run: the plan, no write.
    w.stand.clear_requests();
    let r = w.run_in(
        repo.path(),
        &[
            "deploy",
            "-c",
            "demo",
            "-s",
            "hello-world",
            "--container",
            "app",
            "--dry-run",
        ],
    );
    assert_eq!(r.code, 0, "{r:?}");
    let want = format!("demo/hello-world: would deploy {REGISTRY}:{}\n", shas[1]);
    assert!(r.stdout.starts_with(&want), "{r:?}");
    assert!(
        r.stdout
            .contains(&format!("  commit  {} Second: faster greeting\n", shas[1])),
        "{r:?}"
    );
    // The difference first: only the image changes (never an environment value).
    assert!(
        r.stdout.contains(&format!(
            "  changes:\n    app: image  {REGISTRY}:{} → {REGISTRY}:{}\n",
            shas[0], shas[1]
        )),
        "{r:?}"
    );
    assert!(
        !r.stdout.contains("hello\n") && !r.stdout.contains("parameter/db"),
        "{r:?}"
    );
    assert_eq!(w.writes(), 0);

    // The tag must exist in ECR (DescribeImages): a tag never pushed is exit 2, nothing written.
    w.stand.clear_requests();
    let r = w.run_in(
        repo.path(),
        &[
            "deploy",
            "-c",
            "demo",
            "-s",
            "hello-world",
            "--container",
            "app",
            "--tag",
            "never-pushed",
        ],
    );
    assert_eq!(r.code, 2, "{r:?}");
    assert!(
        r.stderr
            .starts_with("error: hello-world:never-pushed is not in Amazon ECR: no such image tag"),
        "{r:?}"
    );
    assert!(r.stderr.contains("--skip-image-check"), "{r:?}");
    assert_eq!(w.writes(), 0);
    assert_eq!(w.stand.count("DescribeImages"), 1, "{r:?}");
    // --skip-image-check does not ask; another registry is never asked.
    w.stand.clear_requests();
    let r = w.run_in(
        repo.path(),
        &[
            "deploy",
            "-c",
            "demo",
            "-s",
            "hello-world",
            "--container",
            "app",
            "--tag",
            "never-pushed",
            "--skip-image-check",
            "--dry-run",
        ],
    );
    assert_eq!(r.code, 0, "{r:?}");
    let r = w.run_in(
        repo.path(),
        &[
            "deploy",
            "-c",
            "demo",
            "-s",
            "hello-world",
            "--container",
            "app",
            "--image",
            "ghcr.io/team/hello:1.2.3",
            "--dry-run",
        ],
    );
    assert_eq!(r.code, 0, "{r:?}");
    assert!(
        r.stderr
            .contains("is not an Amazon ECR image: its tag is not checked"),
        "{r:?}"
    );
    assert_eq!(w.stand.count("DescribeImages"), 0);

    // Uncommitted changes: a warning (the tag names HEAD, not the working tree).
    std::fs::write(repo.path().join("greeting.txt"), "not committed\n").unwrap();
    let r = w.run_in(
        repo.path(),
        &[
            "deploy",
            "-c",
            "demo",
            "-s",
            "hello-world",
            "--container",
            "app",
            "--dry-run",
        ],
    );
    assert_eq!(r.code, 0, "{r:?}");
    assert!(
        r.stderr
            .contains("warning: the git repository has uncommitted changes"),
        "{r:?}"
    );
    let out = Command::new("git")
        .arg("-C")
        .arg(repo.path())
        .args(["checkout", "--", "greeting.txt"])
        .output()
        .unwrap();
    assert!(out.status.success());

    // The deploy: HEAD's short SHA, every other field kept.
    let r = w.run_in(
        repo.path(),
        &[
            "deploy",
            "-c",
            "demo",
            "-s",
            "hello-world",
            "--container",
            "app",
            "-o",
            "json",
        ],
    );
    assert_eq!(r.code, 0, "{r:?}");
    assert!(
        !r.stdout.contains("parameter/db") && !r.stdout.contains("GREETING"),
        "only images are shown, never the rest of a container definition: {r:?}"
    );
    let v = r.json();
    let copy = v["to"].as_str().unwrap().to_string();
    assert_eq!(v["image"], json!(format!("{REGISTRY}:{}", shas[1])));
    assert_eq!(
        v["commit"],
        json!(format!("{} Second: faster greeting", shas[1]))
    );
    assert_eq!(short(&copy), "hello-world:2");
    assert_eq!(
        w.service_td("hello-world").await,
        copy,
        "the service was updated"
    );
    let (mut got, copy_tags) = w.describe(&copy).await;
    let (want, _) = w.describe(&source).await;
    assert_eq!(
        got.container_definitions()[0].image(),
        Some(format!("{REGISTRY}:{}", shas[1]).as_str())
    );
    // Every field equal but the image and the identity of the new revision.
    got.container_definitions.as_mut().unwrap()[0].image =
        want.container_definitions()[0].image().map(str::to_string);
    got.task_definition_arn = want.task_definition_arn.clone();
    got.revision = want.revision;
    got.registered_at = want.registered_at;
    got.registered_by = want.registered_by.clone();
    assert_eq!(got, want, "the copy dropped or changed a field");
    assert_eq!(
        copy_tags,
        vec![("team".to_string(), "greetings".to_string())],
        "tags kept, the ledger's dropped (a new revision is not stable yet)"
    );

    // The same image again: refused (exit 3) without --force, deployed with it.
    w.stand.clear_requests();
    let r = w.run_in(
        repo.path(),
        &[
            "deploy",
            "-c",
            "demo",
            "-s",
            "hello-world",
            "--container",
            "app",
        ],
    );
    assert_eq!(r.code, 3, "{r:?}");
    assert!(
        r.stderr.contains("already runs") && r.stderr.contains("--force"),
        "{r:?}"
    );
    assert_eq!(w.writes(), 0);
    let r = w.run_in(
        repo.path(),
        &[
            "deploy",
            "-c",
            "demo",
            "-s",
            "hello-world",
            "--container",
            "app",
            "--force",
        ],
    );
    assert_eq!(r.code, 0, "{r:?}");
    assert!(
        r.stdout
            .starts_with("demo/hello-world: deploying hello-world:3 "),
        "{r:?}"
    );

    // --wait follows it to steady.
    let child = w.spawn(&[
        "deploy",
        "-c",
        "demo",
        "-s",
        "hello-world",
        "--container",
        "app",
        "--image",
        &format!("{REGISTRY}:v2.0.0"),
        "--wait",
        "--poll-interval",
        "200ms",
    ]);
    wait_for(
        "the deploy's UpdateService",
        Duration::from_secs(60),
        || (w.stand.count("UpdateService") >= 2).then_some(()),
    );
    w.stand
        .deployment_state("hello-world", "SUCCESSFUL", json!({}));
    let r = wait_exit(child, Duration::from_secs(60));
    assert_eq!(r.code, 0, "{r:?}");
    let last = r.stdout.lines().last().unwrap();
    assert!(
        last.starts_with("demo/hello-world: deployment ecs-svc/")
            && last.contains(" (hello-world:3 → hello-world:4) completed after ")
            && last.ends_with(": hello-world:4 still runs. Next: nothing to do."),
        "{r:?}"
    );
    assert!(!r.stdout.contains("roll back"), "{r:?}");

    // A failed --wait says the exact command that rolls back to the revision it replaced.
    let before = w.stand.count("UpdateService");
    let child = w.spawn(&[
        "deploy",
        "-c",
        "demo",
        "-s",
        "hello-world",
        "--container",
        "app",
        "--image",
        &format!("{REGISTRY}:{}", shas[1]),
        "--wait",
        "--poll-interval",
        "200ms",
    ]);
    wait_for(
        "the deploy's UpdateService",
        Duration::from_secs(60),
        || (w.stand.count("UpdateService") > before).then_some(()),
    );
    w.stand.deployment_state("hello-world", "FAILED", json!({}));
    let r = wait_exit(child, Duration::from_secs(60));
    assert_eq!(r.code, 4, "{r:?}");
    assert!(
        r.stdout.lines().last().unwrap().ends_with(
            "Next: roll back to the revision it replaced: `ecs-rollback rollback -c demo -s hello-world --to hello-world:4`."
        ),
        "{r:?}"
    );

    // Deployed over the failed hello-world:5 and failed too: the revision it replaced is no
    // target; the advice is the last proven revision, chosen as the responder would.
    let before = w.stand.count("UpdateService");
    let child = w.spawn(&[
        "deploy",
        "-c",
        "demo",
        "-s",
        "hello-world",
        "--container",
        "app",
        "--image",
        &format!("{REGISTRY}:{}", shas[1]),
        "--force",
        "--wait",
        "--poll-interval",
        "200ms",
    ]);
    wait_for(
        "the deploy's UpdateService",
        Duration::from_secs(60),
        || (w.stand.count("UpdateService") > before).then_some(()),
    );
    w.stand.deployment_state("hello-world", "FAILED", json!({}));
    let r = wait_exit(child, Duration::from_secs(60));
    assert_eq!(r.code, 4, "{r:?}");
    assert!(!r.stdout.contains("--to hello-world:5"), "{r:?}");
    assert!(
        r.stdout.lines().last().unwrap().ends_with(
            "Next: hello-world:5, the revision it replaced, never completed a deployment of this service; roll back to the last proven revision: `ecs-rollback rollback -c demo -s hello-world`."
        ),
        "{r:?}"
    );
    // Asking for it explicitly is allowed, with a warning.
    let r = w.run(&[
        "rollback",
        "-c",
        "demo",
        "-s",
        "hello-world",
        "--to",
        "hello-world:5",
        "--dry-run",
    ]);
    assert!(
        r.stdout
            .contains("hello-world:5 never completed a deployment of this service"),
        "{r:?}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn throttling_exhausted_is_one_line_with_a_hint_and_exit_1() {
    let w = world().await;
    let td = w.register(&format!("{REGISTRY}:a1b2c3d")).await;
    w.create_service("hello-world", &td, Some("true")).await;
    w.stand.clear_requests();
    w.stand.control(
        "POST",
        "/faults",
        json!({"service": "ecs", "operation": "DescribeServices", "status": 400,
               "code": "ThrottlingException", "message": "Rate exceeded", "count": -1}),
    );
    let r = w.run(&["rollback", "-c", "demo", "-s", "hello-world"]);
    assert_eq!(r.code, 1, "{r:?}");
    let lines: Vec<&str> = r.stderr.lines().collect();
    assert_eq!(
        lines[0], "error: DescribeServices failed: ThrottlingException: Rate exceeded (HTTP 400)",
        "{r:?}"
    );
    assert!(lines[1].starts_with("hint: AWS kept throttling"), "{r:?}");
    assert_eq!(lines.len(), 2, "{r:?}");
    assert_eq!(w.stand.count("DescribeServices"), 4, "the SDK's 4 attempts");
    assert_eq!(w.writes(), 0);
}

#[test]
fn configuration_and_usage_errors_need_no_aws_and_never_hang() {
    let home = Scratch::new("home");
    let run = |args: &[&str], env: &[(&str, &str)]| {
        let mut cmd = cli(None, home.path(), args);
        for (k, v) in env {
            cmd.env(k, v);
        }
        finished(cmd.stdin(Stdio::null()).output().unwrap())
    };
    let creds = [
        ("AWS_ACCESS_KEY_ID", "testing"),
        ("AWS_SECRET_ACCESS_KEY", "testing"),
    ];
    let with_region = [
        ("AWS_ACCESS_KEY_ID", "testing"),
        ("AWS_SECRET_ACCESS_KEY", "testing"),
        ("AWS_REGION", "eu-west-1"),
    ];
    // (arguments, environment, error line, hint line); every one is exit 2.
    type Case<'a> = (Vec<&'a str>, Vec<(&'a str, &'a str)>, &'a str, &'a str);
    let cases: Vec<Case> = vec![
        (
            vec!["status", "-c", "demo", "-s", "web"],
            vec![("AWS_REGION", "eu-west-1")],
            "error: no AWS credentials: none found",
            "hint: use --profile or AWS_PROFILE",
        ),
        (
            vec!["status", "-c", "demo", "-s", "web"],
            creds.to_vec(),
            "error: no AWS region is configured",
            "hint: pass --region, set AWS_REGION",
        ),
        (
            vec!["--profile", "prod", "status", "-c", "demo", "-s", "web"],
            with_region.to_vec(),
            "error: profile \"prod\" (--profile) is not in ~/.aws/config and ~/.aws/credentials",
            "hint: no profiles are configured",
        ),
        (
            vec!["dialog"],
            with_region.to_vec(),
            "error: dialog needs an interactive terminal",
            "hint: in scripts use `ecs-rollback rollback",
        ),
        (
            vec!["rollback", "-c", "demo", "-s", "web"],
            [
                ("AWS_ACCESS_KEY_ID", "testing"),
                ("AWS_SECRET_ACCESS_KEY", "testing"),
                ("AWS_REGION", "eu-west-1"),
                ("ROLLBACK_COOLDOWN_MINUTES", "soon"),
            ]
            .to_vec(),
            "error: configuration: ROLLBACK_COOLDOWN_MINUTES",
            "hint: fix or unset that environment variable",
        ),
    ];
    for (args, env, error, hint) in cases {
        let r = run(&args, &env);
        assert_eq!(r.code, 2, "{args:?} {r:?}");
        let lines: Vec<&str> = r.stderr.lines().collect();
        assert_eq!(lines.len(), 2, "{args:?}: {r:?}");
        assert!(lines[0].starts_with(error), "{args:?}: {r:?}");
        assert!(lines[1].starts_with(hint), "{args:?}: {r:?}");
    }
    // clap: usage errors are exit 2, help is exit 0 and documents the exit codes.
    let r = run(&["rollback", "--cluster", "demo"], &[]);
    assert_eq!(r.code, 2, "{r:?}");
    assert!(r.stderr.contains("--service"), "{r:?}");
    let r = run(&["--help"], &[]);
    assert_eq!(r.code, 0, "{r:?}");
    for want in [
        "status",
        "rollback",
        "dialog",
        "deploy",
        "replay",
        "Exit codes:",
        "--profile",
    ] {
        assert!(r.stdout.contains(want), "{want}: {r:?}");
    }
    // The commands an operator reaches for first show examples before the exit codes.
    for command in ["status", "rollback", "deploy", "wait"] {
        let r = run(&[command, "--help"], &[]);
        assert_eq!(r.code, 0, "{r:?}");
        let examples = r.stdout.find("Examples:\n  ecs-rollback ");
        let codes = r.stdout.find("Exit codes:");
        assert!(
            matches!((examples, codes), (Some(e), Some(c)) if e < c),
            "{command}: {r:?}"
        );
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn dialog_in_a_pseudo_terminal_rolls_back_the_chosen_revision() {
    use expectrl::{Eof, Expect};

    let w = world().await;
    w.ecs
        .create_cluster()
        .cluster_name("staging")
        .send()
        .await
        .unwrap();
    let repo = Scratch::new("repo");
    let shas = git_repo(
        repo.path(),
        &["Say hello", "Greet in French too", "Rewrite the greeting"],
    );
    let [r1, _, r3] = w
        .good_then_bad("hello-world", &tags(&shas[0], &shas[1], &shas[2]))
        .await;
    let other = w.register(&format!("{REGISTRY}:{}", shas[0])).await;
    w.create_service("worker", &other, None).await;
    w.stand.deployment_state("hello-world", "FAILED", json!({}));

    let mut cmd = cli(Some(&w.stand), w.home.path(), &["dialog", "--no-wait"]);
    cmd.arg("--git-repo").arg(repo.path());
    cmd.env("TERM", "xterm");
    let transcript = tokio::task::spawn_blocking(move || {
        let mut p = expectrl::Session::spawn(cmd).expect("the CLI starts in a pty");
        p.get_process_mut().set_window_size(200, 40).unwrap();
        p.set_expect_timeout(Some(Duration::from_secs(60)));
        let mut seen = String::new();
        // Wait until `text` is on the screen, then type `keys`.
        let mut step = |p: &mut expectrl::session::OsSession, text: &str, keys: &str| {
            let found = p
                .expect(text)
                .unwrap_or_else(|e| panic!("waiting for {text:?}: {e}\n{seen}"));
            seen.push_str(&String::from_utf8_lossy(found.before()));
            seen.push_str(&String::from_utf8_lossy(found.as_bytes()));
            if !keys.is_empty() {
                p.send(keys).unwrap();
            }
        };
        // Cluster: demo is the first of demo, staging.
        step(&mut p, "staging", "\r");
        // Services: hello-world is the first of hello-world, worker; space selects it.
        step(&mut p, "worker", " ");
        step(&mut p, "\u{2714}", "\r");
        // Revisions, newest first, the last stable one (hello-world:2) preselected: go one down
        // to hello-world:1 and take it.
        step(&mut p, "leave this service alone", "\x1b[B\r");
        // The plan, then confirm.
        step(&mut p, "service(s) as shown?", "y");
        step(
            &mut p,
            "rollback started hello-world:3 \u{2192} hello-world:1",
            "",
        );
        let rest = p.expect(Eof).unwrap();
        seen.push_str(&String::from_utf8_lossy(rest.before()));
        let status = p.get_process().wait().unwrap();
        (seen, format!("{status:?}"))
    })
    .await
    .unwrap();
    let (seen, status) = transcript;
    assert!(status.ends_with(", 0)"), "exit status {status}\n{seen}");
    for want in [
        "Cluster",
        "Services to roll back",
        "Revision for hello-world (running hello-world:3)",
        "Rewrite the greeting",
        "Greet in French too",
        "Say hello",
        "last stable]",
        "demo/hello-world: would roll back hello-world:3 → hello-world:1",
        "the revision you asked for",
    ] {
        assert!(seen.contains(want), "{want:?} not shown:\n{seen}");
    }
    assert_eq!(w.service_td("hello-world").await, r1);
    assert_eq!(w.ledger(&r3).await.as_deref(), Some("bad"));
    assert_eq!(w.service_td("worker").await, other, "only what was chosen");
}

/// Register a revision of another family (`checkout`).
async fn register_family(w: &World, family: &str, image: &str) -> String {
    w.ecs
        .register_task_definition()
        .family(family)
        .container_definitions(
            ContainerDefinition::builder()
                .name("app")
                .image(image)
                .essential(true)
                .memory(256)
                .build(),
        )
        .send()
        .await
        .unwrap()
        .task_definition()
        .unwrap()
        .task_definition_arn()
        .unwrap()
        .to_string()
}

// A reported bug: `--to` another family moved the service onto another image and task role.
#[tokio::test(flavor = "multi_thread")]
async fn rollback_to_another_family_is_refused_unless_allowed() {
    let w = world().await;
    let [_, _, r3] = w
        .good_then_bad("hello-world", &tags("a1b2c3d", "b2c3d4e", "c3d4e5f"))
        .await;
    w.stand.deployment_state("hello-world", "FAILED", json!({}));
    let checkout = register_family(&w, "checkout", &format!("{REGISTRY}-checkout:9f8e7d6")).await;
    w.stand.clear_requests();
    for to in ["checkout:1", checkout.as_str()] {
        let r = w.run(&[
            "rollback",
            "-c",
            "demo",
            "-s",
            "hello-world",
            "--to",
            to,
            "--no-wait",
        ]);
        assert_eq!(r.code, 2, "{r:?}");
        assert_eq!(r.stderr.lines().count(), 1, "one line: {r:?}");
        assert!(
            r.stderr.starts_with("error: refusing --to checkout:1: it is of family \"checkout\", but demo/hello-world runs family \"hello-world\""),
            "{r:?}"
        );
        assert!(r.stderr.contains("--allow-other-family"), "{r:?}");
    }
    assert_eq!(w.writes(), 0);
    assert_eq!(w.service_td("hello-world").await, r3);
    assert_eq!(
        w.ledger(&r3).await,
        None,
        "the healthy current revision is not tagged bad"
    );

    // Allowed on purpose.
    let r = w.run(&[
        "rollback",
        "-c",
        "demo",
        "-s",
        "hello-world",
        "--to",
        "checkout:1",
        "--allow-other-family",
        "--no-wait",
    ]);
    assert_eq!(r.code, 0, "{r:?}");
    assert_eq!(w.service_td("hello-world").await, checkout);
}

// A reported bug: two operators pressing `rollback` seconds apart walked the service back twice.
#[tokio::test(flavor = "multi_thread")]
async fn a_rollback_minutes_ago_or_in_flight_is_not_repeated() {
    let w = world().await;
    let [_, r2, r3] = w
        .good_then_bad("hello-world", &tags("a1b2c3d", "b2c3d4e", "c3d4e5f"))
        .await;
    w.stand.deployment_state("hello-world", "FAILED", json!({}));

    let r = w.run(&["rollback", "-c", "demo", "-s", "hello-world", "--no-wait"]);
    assert_eq!(r.code, 0, "{r:?}");
    assert_eq!(w.service_td("hello-world").await, r2);

    // The second operator, seconds later, while the first rollback still deploys.
    w.stand.clear_requests();
    let r = w.run(&["rollback", "-c", "demo", "-s", "hello-world", "--no-wait"]);
    assert_eq!(r.code, 3, "{r:?}");
    let lines: Vec<&str> = r.stderr.lines().collect();
    assert_eq!(lines.len(), 2, "{r:?}");
    assert!(
        lines[0].starts_with(
            "error: demo/hello-world runs hello-world:2 (its deployment is still in progress), a proven revision (a manual rollback to hello-world:2 at 20"
        ),
        "{r:?}"
    );
    for want in [
        "this incident was already answered by a rollback.",
        " UTC (",
        " s ago) by arn:aws:sts::123456789012:user/moto, manual: hello-world:3 → hello-world:2",
        "(its deployment is still in progress)",
        "Not rolling back further without an explicit choice.",
    ] {
        assert!(lines[0].contains(want), "{want}: {r:?}");
    }
    assert!(
        lines[1].contains("`ecs-rollback rollback -c demo -s hello-world --force`"),
        "{r:?}"
    );
    assert_eq!(w.writes(), 0, "nothing written");
    assert_eq!(w.service_td("hello-world").await, r2);
    assert_eq!(
        w.ledger(&r2).await.as_deref(),
        Some("stable"),
        "the good revision is not tagged bad"
    );
    assert_eq!(w.ledger(&r3).await.as_deref(), Some("bad"));
    // A dry run says the same, exit 3.
    let r = w.run(&["rollback", "-c", "demo", "-s", "hello-world", "--dry-run"]);
    assert_eq!(r.code, 3, "{r:?}");
    // A deploy while the rollback still rolls out would stop it: refused, unless asked to.
    let deploy = [
        "deploy",
        "-c",
        "demo",
        "-s",
        "hello-world",
        "--container",
        "app",
        "--tag",
        "a1b2c3d",
        "--skip-image-check",
    ];
    let r = w.run(&deploy);
    assert_eq!(r.code, 3, "{r:?}");
    assert!(
        r.stderr
            .contains("a rollback to hello-world:2 is still rolling out")
            && r.stderr.contains("--interrupt-rollback"),
        "{r:?}"
    );
    assert_eq!(w.writes(), 0, "nothing written");
    // A newer revision had a setting the running one lacks: the copy drops it, and says so.
    harness::ecs::register(&w.ecs, &format!("{REGISTRY}:e5f6a7b"), |c| {
        c.environment(
            aws_sdk_ecs::types::KeyValuePair::builder()
                .name("FEATURE_FLAG")
                .value("on")
                .build(),
        )
    })
    .await;
    let r = w.run(&[&deploy[..], &["--interrupt-rollback", "--dry-run"]].concat());
    assert_eq!(r.code, 0, "{r:?}");
    assert!(
        r.stdout.contains(
            "drops, relative to the newest revision hello-world:4 (the copy starts from hello-world:2):"
        ) && r.stdout.contains("FEATURE_FLAG")
            && !r.stdout.contains("\"on\""),
        "{r:?}"
    );

    // Long ago by the tags, but the deployment still in flight: still refused.
    let svc = w.service_arn("hello-world").await;
    w.tag(
        &svc,
        "ecs-rollback:last-rollback-at",
        "2026-01-01T00:00:00Z",
    )
    .await;
    let r = w.run(&["rollback", "-c", "demo", "-s", "hello-world", "--no-wait"]);
    assert_eq!(r.code, 3, "{r:?}");
    assert!(r.stderr.contains("still in progress"), "{r:?}");
    // Settled and long ago: the service still runs the restored proven revision, so a further
    // step back (into revisions that may no longer match the database) needs an explicit
    // choice, however much time has passed; `--force` makes it (the plan says where to).
    w.stand
        .deployment_state("hello-world", "SUCCESSFUL", json!({}));
    let r = w.run(&["rollback", "-c", "demo", "-s", "hello-world", "--dry-run"]);
    assert_eq!(r.code, 3, "{r:?}");
    assert!(r.stderr.contains("a proven revision"), "{r:?}");
    let r = w.run(&[
        "rollback",
        "-c",
        "demo",
        "-s",
        "hello-world",
        "--dry-run",
        "--force",
    ]);
    assert_ne!(r.code, 3, "{r:?}");
    assert!(!r.stderr.contains("Not rolling back further"), "{r:?}");

    // --to or --force go ahead even right after one.
    w.tag(
        &svc,
        "ecs-rollback:last-rollback-at",
        &chrono::Utc::now().to_rfc3339(),
    )
    .await;
    let r = w.run(&[
        "rollback",
        "-c",
        "demo",
        "-s",
        "hello-world",
        "--dry-run",
        "--force",
    ]);
    assert!(!r.stderr.contains("Not rolling back further"), "{r:?}");
    let r = w.run(&[
        "rollback",
        "-c",
        "demo",
        "-s",
        "hello-world",
        "--dry-run",
        "--to",
        "1",
    ]);
    assert_eq!(r.code, 0, "{r:?}");
}

// A reported bug: "run by" was `$USER`; it is the STS caller identity, else the OS user.
#[tokio::test(flavor = "multi_thread")]
async fn who_runs_it_is_the_sts_caller_else_the_os_user() {
    let w = world().await;
    w.good_then_bad("hello-world", &tags("a1b2c3d", "b2c3d4e", "c3d4e5f"))
        .await;
    w.stand.deployment_state("hello-world", "FAILED", json!({}));
    let r = w.run(&["rollback", "-c", "demo", "-s", "hello-world", "--dry-run"]);
    assert!(
        r.stdout
            .contains("run by arn:aws:sts::123456789012:user/moto."),
        "{r:?}"
    );
    assert_eq!(w.stand.count("GetCallerIdentity"), 1, "one STS call");
    // STS refuses (or is unreachable): the OS user.
    w.stand.control(
        "POST",
        "/faults",
        json!({"service": "sts", "operation": "GetCallerIdentity", "status": 403,
               "code": "AccessDenied", "message": "no", "count": -1}),
    );
    let r = w.run(&["rollback", "-c", "demo", "-s", "hello-world", "--dry-run"]);
    assert_eq!(r.code, 0, "{r:?}");
    assert!(r.stdout.contains("run by alice."), "{r:?}");
}

// A reported bug: `status -o json` left rollback.images.from empty.
#[tokio::test(flavor = "multi_thread")]
async fn status_json_names_the_images_of_both_sides_and_status_shows_counts_strategy_and_events() {
    let w = world().await;
    let [_, _, r3] = w
        .good_then_bad("hello-world", &tags("a1b2c3d", "b2c3d4e", "c3d4e5f"))
        .await;
    for message in [
        "(service hello-world) has started 1 tasks: (task 1f2e3d).",
        "(service hello-world) was unable to place a task because no container instance met all of its requirements.",
    ] {
        w.stand.control(
            "POST",
            "/ecs/service-event",
            json!({"cluster": "demo", "service": "hello-world", "message": message}),
        );
    }
    w.stand.control(
        "POST",
        "/ecs/lifecycle-stage",
        json!({"cluster": "demo", "service": "hello-world", "stage": "SCALE_UP"}),
    );
    w.stand.clear_requests();
    let r = w.run(&["status", "-c", "demo", "-s", "hello-world", "-o", "json"]);
    assert_eq!(r.code, 0, "{r:?}");
    let v = r.json();
    assert_eq!(v["rollback"]["from"], json!(r3));
    assert_eq!(
        v["rollback"]["images"]["from"][0]["image"],
        json!(format!("{REGISTRY}:c3d4e5f")),
        "{v:#}"
    );
    assert_eq!(
        v["rollback"]["images"]["to"][0]["image"],
        json!(format!("{REGISTRY}:b2c3d4e"))
    );
    assert_eq!(v["strategy"], "ROLLING");
    let d = &v["deployments"][0];
    assert_eq!(d["status"], "PRIMARY");
    assert_eq!(
        (d["desired_count"].as_i64(), d["pending_count"].as_i64()),
        (Some(1), Some(1))
    );
    assert_eq!(v["events"].as_array().unwrap().len(), 2);
    assert!(v["events"][0]["message"]
        .as_str()
        .unwrap()
        .contains("unable to place a task"));
    assert_eq!(
        v["service_deployments_in_flight"][0]["lifecycle_stage"],
        "SCALE_UP"
    );
    // What a run costs (README): requests the stand saw.
    let calls = w.stand.requests(None).len();
    assert!(calls <= 10 + 9, "status -n 10 made {calls} calls");

    let r = w.run(&["status", "-c", "demo", "-s", "hello-world", "--events", "1"]);
    assert_eq!(r.code, 0, "{r:?}");
    for want in [
        "Strategy      ROLLING; circuit breaker on, rollback left to ecs-rollback\n",
        "Deployments   PRIMARY hello-world:3 IN_PROGRESS: desired 1, pending 1, running 0, failed 0, since ",
        "ACTIVE hello-world:2 COMPLETED: desired 1, pending 0, running 1, failed 0",
        ": IN_PROGRESS, lifecycle stage SCALE_UP, circuit breaker 0 of 3 failed task(s)\n",
        "was unable to place a task",
    ] {
        assert!(r.stdout.contains(want), "{want:?}: {r:?}");
    }
    assert!(
        !r.stdout.contains("has started 1 tasks"),
        "--events 1: {r:?}"
    );

    // Defaults from the environment: no -c / -s.
    let out = cli(Some(&w.stand), w.home.path(), &["status", "-o", "json"])
        .env("ECS_ROLLBACK_CLUSTER", "demo")
        .env("ECS_ROLLBACK_SERVICE", "hello-world")
        .stdin(Stdio::null())
        .output()
        .unwrap();
    let r = finished(out);
    assert_eq!(r.code, 0, "{r:?}");
    assert_eq!(r.json()["service"], "hello-world");

    // --wait prints new service events as they arrive, then the outcome.
    let child = w.spawn(&[
        "status",
        "-c",
        "demo",
        "-s",
        "hello-world",
        "--wait",
        "--poll-interval",
        "200ms",
    ]);
    let seen = w.stand.count("DescribeServices");
    wait_for("status to poll", Duration::from_secs(60), || {
        (w.stand.count("DescribeServices") >= seen + 3).then_some(())
    });
    w.stand.control(
        "POST",
        "/ecs/service-event",
        json!({"cluster": "demo", "service": "hello-world",
               "message": "(service hello-world) failed to launch a task with (error CannotPullContainerError)."}),
    );
    let seen = w.stand.count("DescribeServices");
    wait_for("status to see the event", Duration::from_secs(60), || {
        (w.stand.count("DescribeServices") >= seen + 2).then_some(())
    });
    w.stand
        .deployment_state("hello-world", "SUCCESSFUL", json!({}));
    let r = wait_exit(child, Duration::from_secs(60));
    assert_eq!(r.code, 0, "{r:?}");
    assert!(
        r.stderr.contains("  event ") && r.stderr.contains("CannotPullContainerError"),
        "{r:?}"
    );
    assert!(
        !r.stderr.contains("unable to place a task"),
        "only new events: {r:?}"
    );
    assert!(
        r.stdout
            .contains("demo/hello-world is steady on hello-world:3"),
        "{r:?}"
    );

    // A failed deployment (ECS history does not resolve a STOPPED one's revision): the plan still
    // names the images it rolls back from.
    let r4 = w.register(&format!("{REGISTRY}:d4e5f6a")).await;
    w.deploy("hello-world", &r4).await;
    w.stand.deployment_state("hello-world", "FAILED", json!({}));
    let r = w.run(&["status", "-c", "demo", "-s", "hello-world", "-o", "json"]);
    assert_eq!(r.code, 0, "{r:?}");
    let v = r.json();
    assert_eq!(v["rollback"]["from"], json!(r4));
    assert_eq!(
        v["rollback"]["images"]["from"][0]["image"],
        json!(format!("{REGISTRY}:d4e5f6a")),
        "{v:#}"
    );
}

// `diff FROM TO`: images, environment variable and secret names (never values), CPU/memory,
// roles, and the service configuration of the service revisions.
#[tokio::test(flavor = "multi_thread")]
async fn diff_shows_what_changes_by_name_never_by_value() {
    let w = world().await;
    let r1 = harness::ecs::register(&w.ecs, &format!("{REGISTRY}:a1b2c3d"), |c| {
        c.environment(
            KeyValuePair::builder()
                .name("GREETING")
                .value("hello-secret-value")
                .build(),
        )
        .environment(
            KeyValuePair::builder()
                .name("LEGACY_MODE")
                .value("on")
                .build(),
        )
    })
    .await;
    let r2 = w
        .ecs
        .register_task_definition()
        .family("hello-world")
        .task_role_arn("arn:aws:iam::123456789012:role/hello-task")
        .cpu("512")
        .container_definitions(
            ContainerDefinition::builder()
                .name("app")
                .image(format!("{REGISTRY}:b2c3d4e"))
                .essential(true)
                .memory(512)
                .environment(
                    KeyValuePair::builder()
                        .name("GREETING")
                        .value("bonjour-value")
                        .build(),
                )
                .environment(KeyValuePair::builder().name("FEATURE_X").value("1").build())
                .secrets(
                    Secret::builder()
                        .name("DB_PASSWORD")
                        .value_from("arn:aws:ssm:eu-west-1:123456789012:parameter/db")
                        .build()
                        .unwrap(),
                )
                .build(),
        )
        .send()
        .await
        .unwrap()
        .task_definition()
        .unwrap()
        .task_definition_arn()
        .unwrap()
        .to_string();
    w.create_service("hello-world", &r1, Some("true")).await;
    w.stand
        .deployment_state("hello-world", "SUCCESSFUL", json!({}));
    w.deploy("hello-world", &r2).await;
    w.stand.clear_requests();

    let r = w.run(&["diff", "2", "1", "-c", "demo", "-s", "hello-world"]);
    assert_eq!(r.code, 0, "{r:?}");
    for want in [
        "hello-world:2 → hello-world:1\n",
        "app: environment names  +LEGACY_MODE −FEATURE_X\n",
        &format!("app: image              {REGISTRY}:b2c3d4e → {REGISTRY}:a1b2c3d\n"),
        "app: memory             512 → 256\n",
        "app: secret names       −DB_PASSWORD\n",
        "cpu                     512 → (none)\n",
        "task role               arn:aws:iam::123456789012:role/hello-task → (none)\n",
    ] {
        assert!(r.stdout.contains(want), "{want:?}: {r:?}");
    }
    for never in ["hello-secret-value", "bonjour-value", "parameter/db", "=1"] {
        assert!(!r.stdout.contains(never), "{never}: {r:?}");
    }
    assert_eq!(w.writes(), 0);
    let r = w.run(&["diff", "hello-world:2", &r1, "-o", "json"]);
    assert_eq!(r.code, 0, "{r:?}");
    let v = r.json();
    assert_eq!(v["from"], "hello-world:2");
    assert!(
        v["service_config"]
            .as_str()
            .unwrap()
            .contains("no service named"),
        "{v:#}"
    );
    // A bare number needs the service's family.
    let r = w.run(&["diff", "2", "1"]);
    assert_eq!(r.code, 2, "{r:?}");
    assert!(r.stderr.contains("needs a family"), "{r:?}");
}

// `mark REVISION stable|bad|clear`: the ledger by hand, per service with `bad-for`.
#[tokio::test(flavor = "multi_thread")]
async fn mark_blesses_bans_and_unbans_a_revision() {
    let w = world().await;
    let [r1, r2, _] = w
        .good_then_bad("hello-world", &tags("a1b2c3d", "b2c3d4e", "c3d4e5f"))
        .await;
    let tag = |tags: &[(String, String)], key: &str| {
        tags.iter().find(|(k, _)| k == key).map(|(_, v)| v.clone())
    };

    let r = w.run(&["mark", "2", "bad", "-c", "demo", "-s", "hello-world"]);
    assert_eq!(r.code, 0, "{r:?}");
    assert!(
        r.stdout
            .starts_with("hello-world:2: banned as a rollback target for demo/hello-world\n"),
        "{r:?}"
    );
    let t = w.describe(&r2).await.1;
    assert_eq!(tag(&t, "ecs-rollback:status").as_deref(), Some("bad"));
    assert_eq!(
        tag(&t, "ecs-rollback:bad-for").as_deref(),
        Some("demo/hello-world")
    );
    // The dry run no longer goes there.
    w.stand.deployment_state("hello-world", "FAILED", json!({}));
    let r = w.run(&["rollback", "-c", "demo", "-s", "hello-world", "--dry-run"]);
    assert!(!r.stdout.contains("→ hello-world:2\n"), "{r:?}");

    let r = w.run(&[
        "mark",
        "hello-world:2",
        "clear",
        "-c",
        "demo",
        "-s",
        "hello-world",
    ]);
    assert_eq!(r.code, 0, "{r:?}");
    let t = w.describe(&r2).await.1;
    assert_eq!(tag(&t, "ecs-rollback:status"), None);
    assert_eq!(tag(&t, "ecs-rollback:bad-for"), None);

    let r = w.run(&["mark", &r1, "bad", "-o", "json"]);
    assert_eq!(r.code, 0, "{r:?}");
    assert_eq!(r.json()["ledger"], "bad");
    assert_eq!(
        r.json()["bad_for"],
        Value::Null,
        "no service: banned everywhere"
    );
    let r = w.run(&["mark", "hello-world:1", "stable"]);
    assert_eq!(r.code, 0, "{r:?}");
    assert!(r.stdout.contains("stable: a rollback target"), "{r:?}");
    assert_eq!(w.ledger(&r1).await.as_deref(), Some("stable"));
    let r = w.run(&["mark", "hello-world:9", "stable"]);
    assert_eq!(r.code, 2, "{r:?}");
}

// A non-AWS endpoint read as "the response could not be read" with a hint about 4 attempts after
// one. (A silent endpoint: `a_silent_endpoint_fails_after_one_attempt_naming_it`.)
#[test]
fn a_non_aws_endpoint_is_named() {
    use std::io::{Read, Write};
    use std::net::TcpListener;

    let html = TcpListener::bind("127.0.0.1:0").unwrap();
    let html_url = format!("http://{}", html.local_addr().unwrap());
    std::thread::spawn(move || {
        for stream in html.incoming().flatten() {
            let mut stream = stream;
            let mut buf = [0u8; 8192];
            let _ = stream.read(&mut buf);
            let body = "<html><body><h1>404 Not Found</h1></body></html>";
            let _ = write!(
                stream,
                "HTTP/1.1 404 Not Found\r\nContent-Type: text/html\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                body.len()
            );
        }
    });
    let home = Scratch::new("home");
    let env = [
        ("AWS_ACCESS_KEY_ID", "testing"),
        ("AWS_SECRET_ACCESS_KEY", "testing"),
        ("AWS_REGION", "eu-west-1"),
    ];
    let mut cmd = cli(
        None,
        home.path(),
        &[
            "status",
            "-c",
            "demo",
            "-s",
            "web",
            "--endpoint-url",
            &html_url,
        ],
    );
    for (k, v) in env {
        cmd.env(k, v);
    }
    let r = finished(cmd.stdin(Stdio::null()).output().unwrap());
    assert_eq!(r.code, 1, "{r:?}");
    let lines: Vec<&str> = r.stderr.lines().collect();
    assert_eq!(
        lines[0],
        "error: DescribeServices failed: the endpoint answered HTTP 404 (text/html), which is not an AWS API response",
        "{r:?}"
    );
    assert!(lines[1].starts_with("hint: check --endpoint-url"), "{r:?}");
    assert!(!r.stderr.contains("4 attempts"), "{r:?}");
}

/// Drive a pseudo-terminal session: wait for `text`, then type `keys`; keeps a transcript.
struct Pty {
    p: expectrl::session::OsSession,
    seen: String,
}

impl Pty {
    fn spawn(cmd: Command) -> Pty {
        Pty::spawn_sized(cmd, 200)
    }

    /// A pseudo-terminal `columns` wide.
    fn spawn_sized(cmd: Command, columns: u16) -> Pty {
        let mut p = expectrl::Session::spawn(cmd).expect("the CLI starts in a pty");
        p.get_process_mut().set_window_size(columns, 40).unwrap();
        p.set_expect_timeout(Some(Duration::from_secs(60)));
        Pty {
            p,
            seen: String::new(),
        }
    }

    fn step(&mut self, text: &str, keys: &str) {
        use expectrl::Expect;
        let found = self
            .p
            .expect(text)
            .unwrap_or_else(|e| panic!("waiting for {text:?}: {e}\n{}", self.seen));
        self.seen.push_str(&String::from_utf8_lossy(found.before()));
        self.seen
            .push_str(&String::from_utf8_lossy(found.as_bytes()));
        if !keys.is_empty() {
            self.p.send(keys).unwrap();
        }
    }

    /// The rest of the output and the exit status.
    fn finish(mut self) -> (String, String) {
        use expectrl::{Eof, Expect};
        let rest = self
            .p
            .expect(Eof)
            .unwrap_or_else(|e| panic!("waiting for the end: {e}\n{}", self.seen));
        self.seen.push_str(&String::from_utf8_lossy(rest.before()));
        self.seen
            .push_str(&String::from_utf8_lossy(rest.as_bytes()));
        let status = self.p.get_process().wait().unwrap();
        (self.seen, format!("{status:?}"))
    }
}

const DOWN: &str = "\x1b[B";

/// Two services of one family, each failed: hello-world:1 (marked bad by hand), :2, :3, :4;
/// `api` failed deploying :3 over :2, `www` failed deploying :4 over :3. Rolling `api` back
/// first tags :3 bad — the very revision `www` goes back to. Returns [:1, :2, :3, :4].
async fn two_services_of_one_family(w: &World) -> [String; 4] {
    let r0 = w.register(&format!("{REGISTRY}:0a0a0a0")).await;
    let r1 = w.register(&format!("{REGISTRY}:a1b2c3d")).await;
    let r2 = w.register(&format!("{REGISTRY}:b2c3d4e")).await;
    let r3 = w.register(&format!("{REGISTRY}:c3d4e5f")).await;
    w.tag(&r0, "ecs-rollback:status", "bad").await;
    for (service, good, bad) in [("api", &r1, &r2), ("www", &r2, &r3)] {
        w.create_service(service, good, Some("true")).await;
        w.stand.deployment_state(service, "SUCCESSFUL", json!({}));
        w.deploy(service, bad).await;
        w.stand.deployment_state(service, "FAILED", json!({}));
    }
    w.stand.clear_requests();
    [r0, r1, r2, r3]
}

// A reported bug: `dialog --dry-run -o json` printed nothing on stdout.
#[tokio::test(flavor = "multi_thread")]
async fn dialog_dry_run_prints_the_plans_as_json() {
    let w = world().await;
    let [_, r1, _, _] = two_services_of_one_family(&w).await;
    // The plans on stdout (redirected to a file), the dialog itself on the terminal.
    let out = w.home.path().join("plans.json");
    let mut cmd = cli(Some(&w.stand), w.home.path(), &[]);
    cmd.env("TERM", "xterm");
    let mut sh = Command::new("sh");
    sh.arg("-c")
        .arg("exec \"$0\" dialog -c demo --dry-run -o json > \"$1\"")
        .arg(bin())
        .arg(&out);
    // The same clean environment as `cli`.
    sh.env_clear();
    for (k, v) in cmd.get_envs() {
        if let Some(v) = v {
            sh.env(k, v);
        }
    }
    sh.current_dir(w.home.path());
    tokio::task::block_in_place(|| {
        let mut p = Pty::spawn(sh);
        p.step("www", " ");
        p.step("\u{2714}", "\r");
        p.step("leave this service alone", "\r");
        let (seen, status) = p.finish();
        assert!(status.ends_with(", 0)"), "exit status {status}\n{seen}");
    });
    let plans: Value = serde_json::from_str(&std::fs::read_to_string(&out).unwrap())
        .expect("the plans, as JSON, on stdout");
    assert_eq!(plans.as_array().unwrap().len(), 1, "{plans:#}");
    assert_eq!(plans[0]["action"], "dry_run");
    assert_eq!(plans[0]["service"], "api");
    assert_eq!(plans[0]["to"], json!(r1));
    assert_eq!(plans[0]["diff"]["changes"][0]["field"], "app: image");
    assert_eq!(w.writes(), 0);
}

// A reported bug: the multi-service dialog acted on a plan its own first rollback invalidated
// (`api`'s rollback tagged bad the revision `www` was to go back to; `www` was refused and left on
// its FAILED revision). Every service is decided before any acts, and all act at once.
#[tokio::test(flavor = "multi_thread")]
async fn dialog_rolls_back_services_of_one_family_whatever_the_order() {
    let w = world().await;
    let [_, r1, r2, _] = two_services_of_one_family(&w).await;
    let mut cmd = cli(
        Some(&w.stand),
        w.home.path(),
        &["dialog", "-c", "demo", "--poll-interval", "200ms", "--wait"],
    );
    cmd.env("TERM", "xterm");
    let (seen, status) = tokio::task::block_in_place(|| {
        let mut p = Pty::spawn(cmd);
        p.step("www", " ");
        p.step("\u{2714}", &format!("{DOWN} "));
        p.step("www", "\r");
        // Each service's preselected last stable revision.
        p.step("Revision for api", "");
        p.step("leave this service alone", "\r");
        p.step("Revision for www", "");
        p.step("leave this service alone", "\r");
        p.step("service(s) as shown?", "y");
        // Both act at once; each waits until steady.
        wait_for("both rollbacks", Duration::from_secs(60), || {
            (w.stand.count("UpdateService") >= 2).then_some(())
        });
        for service in ["api", "www"] {
            w.stand.deployment_state(service, "SUCCESSFUL", json!({}));
        }
        p.finish()
    });
    assert!(status.ends_with(", 0)"), "exit status {status}\n{seen}");
    for want in [
        "issuing the rollback of demo/api from hello-world:3 to hello-world:2…",
        "demo/api: rollback started hello-world:3 → hello-world:2",
        "demo/www: rollback started hello-world:4 → hello-world:3",
        "demo/api is steady on hello-world:2",
        "demo/www is steady on hello-world:3",
    ] {
        assert!(seen.contains(want), "{want:?} not shown:\n{seen}");
    }
    assert_eq!(w.service_td("api").await, r1);
    assert_eq!(
        w.service_td("www").await,
        r2,
        "not refused by api's rollback"
    );
}

// A reported bug: the kept "last stable" row read as "the revision you asked for"; Enter with
// nothing selected quit; bad rows could be taken; the service list showed no state.
#[tokio::test(flavor = "multi_thread")]
async fn dialog_shows_service_states_asks_again_and_refuses_bad_rows() {
    let w = world().await;
    two_services_of_one_family(&w).await;
    let mut cmd = cli(
        Some(&w.stand),
        w.home.path(),
        &["dialog", "-c", "demo", "--dry-run"],
    );
    cmd.env("TERM", "xterm");
    let (seen, status) = tokio::task::block_in_place(|| {
        let mut p = Pty::spawn(cmd);
        // Services with their state; Enter with none selected asks again.
        p.step("www", "\r");
        p.step("no service selected", "");
        p.step("www", &format!("{DOWN} "));
        p.step("\u{2714}", "\r");
        // www: try the bad hello-world:1 (two down from the preselected :3): refused, asked again.
        p.step("Revision for www", "");
        p.step("leave this service alone", &format!("{DOWN}{DOWN}\r"));
        p.step("cannot be a rollback target", "");
        p.step("leave this service alone", "\r");
        p.finish()
    });
    assert!(status.ends_with(", 0)"), "exit status {status}\n{seen}");
    for want in [
        "api  FAILED      hello-world:3",
        "www  FAILED      hello-world:4",
        "hello-world:1 is marked ecs-rollback:status=bad and cannot be a rollback target",
        "demo/www: would roll back hello-world:4 → hello-world:3",
        "chosen  its last successful deployment",
        "changes (what the rollback reverts):",
        "Dry run: nothing was changed.",
    ] {
        assert!(seen.contains(want), "{want:?} not shown:\n{seen}");
    }
    assert!(!seen.contains("the revision you asked for"), "{seen}");
    // The transcript, for `--nocapture`.
    println!("{seen}");
    assert_eq!(w.writes(), 0);
}

// A reported bug: Ctrl-C during a wait said nothing about the deployment going on in ECS.
#[tokio::test(flavor = "multi_thread")]
async fn ctrl_c_while_waiting_says_the_deployment_goes_on() {
    let w = world().await;
    w.good_then_bad("hello-world", &tags("a1b2c3d", "b2c3d4e", "c3d4e5f"))
        .await;
    w.stand.deployment_state("hello-world", "FAILED", json!({}));
    w.stand.clear_requests();
    let child = w.spawn(&[
        "rollback",
        "-c",
        "demo",
        "-s",
        "hello-world",
        "--to",
        "1",
        "--wait",
        "--poll-interval",
        "200ms",
    ]);
    let pid = child.id();
    let updated = wait_for(
        "the rollback's UpdateService",
        Duration::from_secs(60),
        || {
            w.stand
                .requests(Some("UpdateService"))
                .first()
                .map(|r| r["seq"].as_u64().unwrap())
        },
    );
    // The wait has begun once it polls after the write.
    wait_for("the wait to poll", Duration::from_secs(60), || {
        w.stand
            .requests(Some("DescribeServices"))
            .iter()
            .any(|r| r["seq"].as_u64().unwrap() > updated)
            .then_some(())
    });
    let kill = Command::new("kill")
        .args(["-INT", &pid.to_string()])
        .status()
        .unwrap();
    assert!(kill.success());
    let r = wait_exit(child, Duration::from_secs(60));
    assert_eq!(r.code, 130, "{r:?}");
    assert!(
        r.stdout.contains("only the waiting stopped; the deployment of hello-world:1 to demo/hello-world goes on in ECS"),
        "{r:?}"
    );
    // What is in AWS: the rollback was issued; the writes were over before the Ctrl-C.
    assert!(
        r.stdout
            .contains("The rollback to hello-world:1 was issued (ECS accepted it). Interrupted"),
        "{r:?}"
    );
    assert!(!r.stderr.contains("finishing its writes"), "{r:?}");
}

// A reported bug: `RollbackRequested` was printed instead of ECS's `ROLLBACK_REQUESTED`.
#[tokio::test(flavor = "multi_thread")]
async fn service_deployment_statuses_read_as_ecs_names_them() {
    let w = world().await;
    w.good_then_bad("hello-world", &tags("a1b2c3d", "b2c3d4e", "c3d4e5f"))
        .await;
    // A StopServiceDeployment(ROLLBACK) of the deployment in progress.
    let sd = w
        .ecs
        .list_service_deployments()
        .cluster("demo")
        .service("hello-world")
        .send()
        .await
        .unwrap()
        .service_deployments()
        .iter()
        .find(|d| d.status().map(|s| s.as_str()) == Some("IN_PROGRESS"))
        .and_then(|d| d.service_deployment_arn().map(str::to_string))
        .unwrap();
    w.ecs
        .stop_service_deployment()
        .service_deployment_arn(&sd)
        .stop_type(aws_sdk_ecs::types::StopServiceDeploymentStopType::Rollback)
        .send()
        .await
        .unwrap();
    let r = w.run(&["rollback", "-c", "demo", "-s", "hello-world", "--dry-run"]);
    assert_eq!(r.code, 3, "{r:?}");
    assert!(r.stdout.contains("ROLLBACK_REQUESTED"), "{r:?}");
    assert!(!r.stdout.contains("RollbackRequested"), "{r:?}");
}

// ---------------------------------------------------------------------------------------------
// `wait` and `deploy --wait`: one named deployment followed to its end, an exit code per ending.

/// The service's newest service deployment: (ARN, ECS deployment id `ecs-svc/N`).
fn newest_deployment(w: &World, service: &str) -> (String, String) {
    let state = w.stand.control(
        "POST",
        "/ecs/state",
        json!({"cluster": "demo", "service": service}),
    );
    let sd = state["serviceDeployments"]
        .as_array()
        .and_then(|a| a.last())
        .cloned()
        .expect("a service deployment");
    let arn = sd["serviceDeploymentArn"].as_str().unwrap().to_string();
    let revision = sd["targetServiceRevision"]["arn"].as_str().unwrap();
    (
        arn,
        format!("ecs-svc/{}", revision.rsplit('/').next().unwrap()),
    )
}

/// The newest request sequence number the stand logged.
fn last_seq(w: &World) -> u64 {
    w.stand
        .requests(None)
        .iter()
        .filter_map(|r| r["seq"].as_u64())
        .max()
        .unwrap_or(0)
}

/// Wait (bounded) until the CLI polls the service deployment after request `seq`.
fn polled_after(w: &World, seq: u64) -> u64 {
    wait_for(
        "a DescribeServiceDeployments poll",
        Duration::from_secs(60),
        || {
            w.stand
                .requests(Some("DescribeServiceDeployments"))
                .iter()
                .filter_map(|r| r["seq"].as_u64())
                .find(|s| *s > seq)
        },
    )
}

/// Wait (bounded) until the CLI reads the service (DescribeServices) after request `seq`: every
/// follower polls it, the old `--wait` too.
fn described_after(w: &World, seq: u64) {
    wait_for("a DescribeServices poll", Duration::from_secs(60), || {
        w.stand
            .requests(Some("DescribeServices"))
            .iter()
            .filter_map(|r| r["seq"].as_u64())
            .find(|s| *s > seq)
    });
}

impl World {
    /// A service `name`: its first revision's deployment completed, then a second revision
    /// deployed and in progress. The circuit breaker is on (rolling back when
    /// `breaker_rollback`); with `alarms`, deployment alarms that roll back too. Opted in.
    /// Returns both revisions and the second deployment's (ARN, `ecs-svc/N`).
    async fn deploying(
        &self,
        name: &str,
        breaker_rollback: bool,
        alarms: &[&str],
    ) -> ([String; 2], (String, String)) {
        let r1 = self.register(&format!("{REGISTRY}:{name}-1")).await;
        let r2 = self.register(&format!("{REGISTRY}:{name}-2")).await;
        harness::ecs::create_service(&self.ecs, name, &r1, Some("true"), breaker_rollback).await;
        if !alarms.is_empty() {
            use aws_sdk_ecs::types::{
                DeploymentAlarms, DeploymentCircuitBreaker, DeploymentConfiguration,
            };
            self.ecs
                .update_service()
                .cluster("demo")
                .service(name)
                .deployment_configuration(
                    DeploymentConfiguration::builder()
                        .deployment_circuit_breaker(
                            DeploymentCircuitBreaker::builder()
                                .enable(true)
                                .rollback(breaker_rollback)
                                .build(),
                        )
                        .alarms(
                            DeploymentAlarms::builder()
                                .set_alarm_names(Some(
                                    alarms.iter().map(|a| a.to_string()).collect(),
                                ))
                                .enable(true)
                                .rollback(true)
                                .build()
                                .unwrap(),
                        )
                        .build(),
                )
                .send()
                .await
                .unwrap();
        }
        self.stand.deployment_state(name, "SUCCESSFUL", json!({}));
        self.deploy(name, &r2).await;
        // ECS starts a deployment within seconds (PENDING, then IN_PROGRESS).
        self.stand.deployment_state(name, "IN_PROGRESS", json!({}));
        ([r1, r2], newest_deployment(self, name))
    }
}

/// The last line of stdout, and that it is the only one.
fn one_line(r: &Run) -> &str {
    let lines: Vec<&str> = r.stdout.lines().collect();
    assert_eq!(lines.len(), 1, "exactly one line on stdout: {r:?}");
    lines[0]
}

#[tokio::test(flavor = "multi_thread")]
async fn wait_exits_0_only_when_the_deployment_completed_and_still_runs() {
    let w = world().await;
    let ([r1, r2], (arn, id)) = w.deploying("web", false, &[]).await;
    let (from, to) = (short(&r1), short(&r2));

    // Followed by its ECS deployment id through a bake time; it completes while followed.
    let before = last_seq(&w);
    let child = w.spawn(&[
        "wait",
        &id,
        "-c",
        "demo",
        "-s",
        "web",
        "--poll-interval",
        "200ms",
    ]);
    let first = polled_after(&w, before);
    w.stand.control(
        "POST",
        "/ecs/lifecycle-stage",
        json!({"cluster": "demo", "service": "web", "stage": "BAKE_TIME"}),
    );
    polled_after(&w, last_seq(&w).max(first));
    w.stand.deployment_state("web", "SUCCESSFUL", json!({}));
    let r = wait_exit(child, Duration::from_secs(60));
    assert_eq!(r.code, 0, "{r:?}");
    let line = one_line(&r);
    assert!(
        line.starts_with(&format!(
            "demo/web: deployment {id} ({from} → {to}) completed after "
        )) && line.ends_with(&format!(": {to} still runs. Next: nothing to do.")),
        "{r:?}"
    );
    assert!(
        r.stderr.contains(&format!(
            "waiting: demo/web deployment {id}: IN_PROGRESS (BAKE_TIME)"
        )),
        "progress names the lifecycle stage: {r:?}"
    );

    // Completed, but another deployment replaced it since: not 0 (superseded, naming it).
    let r3 = w.register(&format!("{REGISTRY}:web-3")).await;
    w.deploy("web", &r3).await;
    w.stand.deployment_state("web", "IN_PROGRESS", json!({}));
    let (newer, newer_id) = newest_deployment(&w, "web");
    let r = w.run(&["wait", &arn, "--poll-interval", "200ms"]);
    assert_eq!(r.code, 8, "{r:?}");
    let line = one_line(&r);
    assert!(
        line.contains(&format!(
            "was superseded by deployment {newer_id} ({}) after ",
            short(&r3)
        )) && line.contains("it completed, but the service no longer runs it")
            && line.contains(&format!(
                "Next: follow the newer deployment: `ecs-rollback wait {newer}`"
            )),
        "{r:?}"
    );

    // Still in progress at --timeout: 5, and it says how to follow it again.
    let r = w.run(&[
        "wait",
        &newer,
        "--timeout",
        "1s",
        "--poll-interval",
        "200ms",
    ]);
    assert_eq!(r.code, 5, "{r:?}");
    let line = one_line(&r);
    assert!(
        line.contains(" (--timeout): IN_PROGRESS")
            && line.contains(&format!("`ecs-rollback wait {newer}` follows it again")),
        "{r:?}"
    );

    // Bad input: exit 2 with one message naming what is wrong, before or after asking ECS.
    let missing = format!("{}nope", &arn[..arn.rfind('/').unwrap() + 1]);
    let cases: Vec<(Vec<&str>, &str)> = vec![
        (vec!["wait", "PRIMARY"], "DEPLOYMENT \"PRIMARY\" is neither"),
        (vec!["wait", &id], "--cluster and --service are needed"),
        (
            vec!["wait", "ecs-svc/123", "-c", "demo", "-s", "web"],
            "no service deployment of demo/web is ECS deployment ecs-svc/123",
        ),
        (
            vec!["wait", &arn, "-c", "demo", "-s", "api"],
            "--service \"api\" is not the service of DEPLOYMENT, \"web\"",
        ),
        (
            vec!["wait", missing.as_str()],
            "ECS knows no service deployment",
        ),
    ];
    for (args, says) in cases {
        let r = w.run(&args);
        assert_eq!(r.code, 2, "{args:?}: {r:?}");
        assert!(r.stderr.contains(says), "{args:?}: {r:?}");
        assert!(r.stdout.is_empty(), "{r:?}");
    }

    // AWS failing while following: exit 1, and how to follow it again.
    w.stand.control(
        "POST",
        "/faults",
        json!({"service": "ecs", "operation": "DescribeServiceDeployments", "status": 500,
               "code": "ServerException", "count": -1}),
    );
    let r = w.run(&["wait", &newer, "--poll-interval", "200ms"]);
    w.stand.control("DELETE", "/faults", Value::Null);
    assert_eq!(r.code, 1, "{r:?}");
    assert!(
        r.stderr.contains("DescribeServiceDeployments failed")
            && r.stderr
                .contains(&format!("`ecs-rollback wait {newer}` follows it again")),
        "{r:?}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn wait_tells_ecs_rollbacks_from_ecs_rollback_s_and_failures() {
    let w = world().await;

    // Failed, ECS does not roll back (circuit breaker without rollback): 4, with the next step.
    let ([_, r2], (arn, id)) = w.deploying("failing", false, &[]).await;
    w.stand.deployment_state("failing", "FAILED", json!({}));
    let r = w.run(&["wait", &arn]);
    assert_eq!(r.code, 4, "{r:?}");
    let line = one_line(&r);
    assert!(
        line.contains(&format!("demo/failing: deployment {id} ("))
            && line.contains(&format!("{}) FAILED after ", short(&r2)))
            && line.contains(": ECS deployment circuit breaker: tasks failed to start. Next: roll back to the last proven revision with `ecs-rollback rollback -c demo -s failing`"),
        "{r:?}"
    );

    // ECS's circuit breaker rolls it back: 6, rolling back to the revision before, then back.
    let ([r1, _], (arn, _)) = w.deploying("breaker", true, &[]).await;
    w.stand.deployment_state("breaker", "FAILED", json!({}));
    let r = w.run(&["wait", &arn]);
    assert_eq!(r.code, 6, "{r:?}");
    let line = one_line(&r);
    assert!(
        line.contains(
            "was rolled back by ECS (deployment circuit breaker: 3 failed task(s), threshold 3) after "
        )
            && line.contains(&format!(
                " s, rolling back to {}: ECS deployment circuit breaker",
                short(&r1)
            )),
        "{r:?}"
    );
    w.stand.deployment_state("breaker", "SUCCESSFUL", json!({}));
    let r = w.run(&["wait", &arn]);
    assert_eq!(r.code, 6, "{r:?}");
    assert!(
        one_line(&r).contains(&format!(", back to {}: ", short(&r1))),
        "{r:?}"
    );

    // Deployment alarms roll it back: 6, naming the alarms that fired (JSON: one object).
    let ([r1, r2], (arn, id)) = w
        .deploying("alarmed", false, &["latency-high", "errors-5xx"])
        .await;
    w.stand.deployment_state(
        "alarmed",
        "FAILED",
        json!({"cause": "alarms", "alarmNames": ["latency-high"]}),
    );
    let r = w.run(&["wait", &arn, "-o", "json"]);
    assert_eq!(r.code, 6, "{r:?}");
    let v = r.json();
    assert_eq!(v["outcome"], "rolled_back_by_ecs", "{r:?}");
    assert_eq!(v["exit_code"], 6);
    assert_eq!(v["cause"], "alarms");
    assert_eq!(v["alarms"], json!(["latency-high"]));
    assert_eq!(v["deployment"], arn.as_str());
    assert_eq!(v["deployment_id"], id.as_str());
    assert_eq!(v["task_definition"], r2.as_str());
    assert_eq!(v["from_task_definition"], r1.as_str());
    assert_eq!(v["rolled_back_to"], r1.as_str());
    assert!(v["seconds"].is_u64() && v["reason"].as_str().unwrap().contains("latency-high"));
    assert!(
        v["summary"]
            .as_str()
            .unwrap()
            .contains("rolled back by ECS (deployment alarms: latency-high)"),
        "{r:?}"
    );

    // The responder rolled it back (a FAILED event, as the Lambda answers it). ECS alone would
    // say "failed"; the service's tags say who did it: 7, automatic.
    let (_, (arn, _)) = w.deploying("responded", false, &[]).await;
    let failed = w.stand.deployment_state("responded", "FAILED", json!({}));
    let file = w.event_file("responded-failed.json", &failed);
    let r = w.run(&["replay", file.to_str().unwrap(), "--execute"]);
    assert_eq!(r.code, 0, "{r:?}");
    let r = w.run(&["wait", &arn]);
    assert_eq!(r.code, 7, "{r:?}");
    // (To a digest-pinned copy of the first revision: the responder's own choice.)
    let line = one_line(&r);
    assert!(
        line.contains("was rolled back by ecs-rollback after ")
            && line.contains(": automatically, by the responder (ecs-rollback Lambda), at 20"),
        "{r:?}"
    );

    // A person rolled it back while it deployed (StopServiceDeployment: ROLLBACK_* in ECS, like
    // ECS's own rollback): 7, manual, by whom — followed while it happens.
    let ([r1, _], (arn, _)) = w.deploying("by-hand", false, &[]).await;
    let before = last_seq(&w);
    let child = w.spawn(&["wait", &arn, "--poll-interval", "200ms", "-o", "json"]);
    polled_after(&w, before);
    let r = w.run(&["rollback", "-c", "demo", "-s", "by-hand", "--no-wait"]);
    assert_eq!(r.code, 0, "{r:?}");
    let r = wait_exit(child, Duration::from_secs(60));
    assert_eq!(r.code, 7, "{r:?}");
    let v = r.json();
    assert_eq!(v["outcome"], "rolled_back_by_ecs_rollback");
    assert_eq!(v["rolled_back_by"]["kind"], "manual");
    assert_eq!(
        v["rolled_back_by"]["by"],
        "arn:aws:sts::123456789012:user/moto"
    );
    assert_eq!(v["rolled_back_to"], r1.as_str());
    assert!(
        v["summary"]
            .as_str()
            .unwrap()
            .contains("by hand, by arn:aws:sts::123456789012:user/moto"),
        "{r:?}"
    );

    // A newer deployment started while it deployed: 8, naming the newer one.
    let ([_, _], (arn, _)) = w.deploying("replaced", false, &[]).await;
    let r3 = w.register(&format!("{REGISTRY}:replaced-3")).await;
    w.deploy("replaced", &r3).await;
    let (newer, newer_id) = newest_deployment(&w, "replaced");
    let r = w.run(&["wait", &arn]);
    assert_eq!(r.code, 8, "{r:?}");
    let line = one_line(&r);
    assert!(
        line.contains(&format!(
            "was superseded by deployment {newer_id} ({}) after ",
            short(&r3)
        )) && line.ends_with(&format!(
            " s: Service deployment stopped because a newer service deployment started. Next: follow the newer deployment: `ecs-rollback wait {newer}`."
        )),
        "{r:?}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn wait_under_github_actions_annotates_and_writes_the_step_summary() {
    let w = world().await;
    let ([_, r2], (arn, _)) = w.deploying("web", false, &["latency-high"]).await;
    w.stand.deployment_state(
        "web",
        "FAILED",
        json!({"cause": "alarms", "alarmNames": ["latency-high"]}),
    );
    let summary = w.home.path().join("step-summary.md");
    let env = [
        ("GITHUB_ACTIONS", "true"),
        ("GITHUB_STEP_SUMMARY", summary.to_str().unwrap()),
    ];
    let r = w.run_env(&["wait", &arn], &env);
    assert_eq!(r.code, 6, "{r:?}");
    one_line(&r);
    assert!(
        r.stderr
            .contains("::error title=ECS deployment demo/web%3A rolled back by ecs::demo/web: deployment ecs-svc/"),
        "{r:?}"
    );
    let md = std::fs::read_to_string(&summary).unwrap();
    assert!(
        md.starts_with("### ❌ ECS deployment demo/web: rolled back by ecs\n"),
        "{md}"
    );
    for want in [
        format!("| deployment | `{arn}` |"),
        "| outcome | `rolled_back_by_ecs` (exit 6) |".to_string(),
        "| alarms | latency-high |".to_string(),
        format!("→ {} |", short(&r2)),
    ] {
        assert!(md.contains(&want), "{want}: {md}");
    }

    // A deployment that holds: a notice, and the summary appended to.
    let ([_, _], (arn, _)) = w.deploying("api", false, &[]).await;
    w.stand.deployment_state("api", "SUCCESSFUL", json!({}));
    let r = w.run_env(&["wait", &arn, "-o", "json"], &env);
    assert_eq!(r.code, 0, "{r:?}");
    assert_eq!(r.json()["outcome"], "completed");
    assert!(
        r.stderr
            .contains("::notice title=ECS deployment demo/api%3A completed::"),
        "{r:?}"
    );
    let md = std::fs::read_to_string(&summary).unwrap();
    assert!(
        md.contains("### ✅ ECS deployment demo/api: completed\n"),
        "{md}"
    );
    assert!(
        md.contains("### ❌ ECS deployment demo/web"),
        "appended: {md}"
    );

    // Bad input under GitHub Actions: an error annotation too.
    let r = w.run_env(&["wait", "ecs-svc/1"], &env);
    assert_eq!(r.code, 2, "{r:?}");
    assert!(
        r.stderr
            .contains("::error title=ecs-rollback wait::DEPLOYMENT ecs-svc/1"),
        "{r:?}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn wait_interrupted_says_the_deployment_goes_on_and_how_to_follow_it_again() {
    let w = world().await;
    let (_, (arn, id)) = w.deploying("web", false, &[]).await;
    let before = last_seq(&w);
    let child = w.spawn(&["wait", &arn, "--poll-interval", "200ms"]);
    let pid = child.id();
    // A poll of the second round: the first round's answers are read (polls never overlap), so
    // the interrupted wait can name the state it last saw.
    let first = polled_after(&w, before);
    polled_after(&w, first);
    let kill = Command::new("kill")
        .args(["-INT", &pid.to_string()])
        .status()
        .unwrap();
    assert!(kill.success());
    let r = wait_exit(child, Duration::from_secs(60));
    assert_eq!(r.code, 130, "{r:?}");
    let line = one_line(&r);
    assert!(
        line.starts_with(&format!("demo/web: deployment {id} ("))
            && line.contains("interrupted after ")
            && line
                .contains("only the waiting stopped, the deployment goes on in ECS (IN_PROGRESS")
            && line.ends_with(&format!(
                "Next: `ecs-rollback wait {arn}` follows it again."
            )),
        "{r:?}"
    );
}

/// `deploy --wait` follows the deployment its UpdateService started. Before, it followed the task
/// definition and called every other ending "failed or replaced" (exit 4): an ECS rollback read
/// as "replaced by a deployment of hello-world:1".
#[tokio::test(flavor = "multi_thread")]
async fn deploy_wait_follows_the_deployment_it_started_to_its_own_ending() {
    let w = world().await;
    let r1 = w.register(&format!("{REGISTRY}:v1.0.0")).await;
    harness::ecs::create_service(&w.ecs, "web", &r1, Some("true"), true).await;
    w.stand.deployment_state("web", "SUCCESSFUL", json!({}));
    let deploy = |tag: &str| {
        let image = format!("{REGISTRY}:{tag}");
        w.spawn(&[
            "deploy",
            "-c",
            "demo",
            "-s",
            "web",
            "--image",
            &image,
            "--skip-image-check",
            "--wait",
            "--poll-interval",
            "200ms",
        ])
    };

    // ECS's circuit breaker rolls it back: 6, "rolled back by ECS", not "replaced".
    let before = w.stand.count("UpdateService");
    let child = deploy("v2.0.0");
    wait_for(
        "the deploy's UpdateService",
        Duration::from_secs(60),
        || (w.stand.count("UpdateService") > before).then_some(()),
    );
    let (_, id) = newest_deployment(&w, "web");
    described_after(&w, last_seq(&w));
    w.stand.deployment_state("web", "FAILED", json!({}));
    let r = wait_exit(child, Duration::from_secs(60));
    assert_eq!(r.code, 6, "{r:?}");
    let last = r.stdout.lines().last().unwrap();
    assert!(
        last.starts_with(&format!("demo/web: deployment {id} (hello-world:1 → hello-world:2) was rolled back by ECS (deployment circuit breaker: 3 failed task(s), threshold 3) after "))
            && last.contains(", rolling back to hello-world:1: "),
        "{r:?}"
    );
    w.stand.deployment_state("web", "SUCCESSFUL", json!({}));

    // Someone else deploys while it is followed: 8, naming the deployment that replaced it.
    let before = w.stand.count("UpdateService");
    let child = deploy("v3.0.0");
    wait_for(
        "the deploy's UpdateService",
        Duration::from_secs(60),
        || (w.stand.count("UpdateService") > before).then_some(()),
    );
    described_after(&w, last_seq(&w));
    // ECS starts it within seconds (PENDING, then IN_PROGRESS); then someone else deploys.
    w.stand.deployment_state("web", "IN_PROGRESS", json!({}));
    w.deploy("web", &r1).await;
    let (newer, newer_id) = newest_deployment(&w, "web");
    let r = wait_exit(child, Duration::from_secs(60));
    assert_eq!(r.code, 8, "{r:?}");
    let last = r.stdout.lines().last().unwrap();
    assert!(
        last.contains(&format!(
            "was superseded by deployment {newer_id} (hello-world:1)"
        )) && last.contains(&format!("`ecs-rollback wait {newer}`")),
        "{r:?}"
    );
}

/// The GitHub Action's script (`action.yml` runs `scripts/action-wait`), against the stand:
/// with a binary already built, and installed from a release (a `file://` one here) whose
/// SHA-256 is checked.
#[tokio::test(flavor = "multi_thread")]
async fn the_action_script_installs_the_cli_and_waits() {
    let w = world().await;
    let (_, (arn, _)) = w.deploying("web", false, &[]).await;
    w.stand.deployment_state("web", "SUCCESSFUL", json!({}));
    let (_, (_, rolled_back_id)) = w.deploying("api", true, &[]).await;
    w.stand.deployment_state("api", "FAILED", json!({}));
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let scratch = Scratch::new("action");
    let outputs = scratch.path().join("github-output");
    let action = |env: &[(&str, &str)]| -> (Run, String) {
        let _ = std::fs::remove_file(&outputs);
        // The CLI's clean environment (the stand's endpoints, test credentials), for the script.
        let base = cli(Some(&w.stand), w.home.path(), &[]);
        let clean: Vec<(std::ffi::OsString, std::ffi::OsString)> = base
            .get_envs()
            .filter_map(|(k, v)| Some((k.to_owned(), v?.to_owned())))
            .collect();
        let out = Command::new("bash")
            .arg(root.join("scripts/action-wait"))
            .env_clear()
            .envs(clean)
            .env("GITHUB_OUTPUT", &outputs)
            .env("RUNNER_TEMP", scratch.path().join("runner"))
            .envs(env.iter().copied())
            .current_dir(w.home.path())
            .stdin(Stdio::null())
            .output()
            .expect("bash runs");
        (
            finished(out),
            std::fs::read_to_string(&outputs).unwrap_or_default(),
        )
    };
    // A binary already built: no download.
    let (r, out) = action(&[("ECS_ROLLBACK_BIN", &bin()), ("INPUT_DEPLOYMENT", &arn)]);
    assert_eq!(r.code, 0, "{r:?}");
    assert_eq!(
        out,
        format!("outcome=completed\nexit-code=0\ndeployment={arn}\n"),
        "{r:?}"
    );
    assert!(
        r.stdout.starts_with("demo/web: deployment ecs-svc/")
            && r.stdout.contains("completed after"),
        "the summary line: {r:?}"
    );

    // Installed from a release for this machine's architecture, checksum verified; an ECS
    // deployment id with cluster and service.
    let arch = match std::env::consts::ARCH {
        "x86_64" => "x86_64",
        "aarch64" => "aarch64",
        other => panic!("no release name for {other}"),
    };
    let release = scratch.path().join("releases");
    let tag_dir = release.join("v0.0.0-test");
    let staging = scratch.path().join("staging/ecs-rollback-0.0.0-test");
    std::fs::create_dir_all(&tag_dir).unwrap();
    std::fs::create_dir_all(&staging).unwrap();
    // The release's binary: a small stand-in that runs the CLI under test (the debug build is
    // hundreds of megabytes; download, checksum and unpacking are what this part checks).
    let stand_in = staging.join("ecs-rollback");
    std::fs::write(&stand_in, format!("#!/bin/sh\nexec '{}' \"$@\"\n", bin())).unwrap();
    let asset = format!("ecs-rollback-0.0.0-test-{arch}-unknown-linux-gnu.tar.gz");
    let tar = Command::new("tar")
        .arg("-czf")
        .arg(tag_dir.join(&asset))
        .arg("-C")
        .arg(staging.parent().unwrap())
        .arg("ecs-rollback-0.0.0-test")
        .status()
        .unwrap();
    assert!(tar.success());
    let sum = Command::new("sha256sum")
        .arg(tag_dir.join(&asset))
        .output()
        .unwrap();
    let digest = String::from_utf8_lossy(&sum.stdout)
        .split_whitespace()
        .next()
        .unwrap()
        .to_string();
    std::fs::write(
        tag_dir.join(format!("{asset}.sha256")),
        format!("{digest}  {asset}\n"),
    )
    .unwrap();
    let url = format!("file://{}", release.display());
    let from_release = [
        ("ECS_ROLLBACK_RELEASE_URL", url.as_str()),
        ("INPUT_VERSION", "v0.0.0-test"),
        ("INPUT_DEPLOYMENT", rolled_back_id.as_str()),
        ("INPUT_CLUSTER", "demo"),
        ("INPUT_SERVICE", "api"),
        ("INPUT_TIMEOUT", "2m"),
    ];
    let (r, out) = action(&from_release);
    assert_eq!(r.code, 6, "{r:?}");
    assert!(
        out.starts_with("outcome=rolled_back_by_ecs\nexit-code=6\ndeployment=arn:aws:ecs:"),
        "{out}: {r:?}"
    );
    assert!(r.stderr.contains("SHA-256 verified"), "{r:?}");

    // A checksum that does not match: nothing installed, exit 1.
    std::fs::write(
        tag_dir.join(format!("{asset}.sha256")),
        format!("{}  {asset}\n", "0".repeat(64)),
    )
    .unwrap();
    let (r, out) = action(&from_release);
    assert_eq!(r.code, 1, "{r:?}");
    assert!(r.stderr.contains("checksum mismatch"), "{r:?}");
    assert!(out.contains("outcome=error\nexit-code=1\n"), "{out}");

    // No deployment: a clear error, exit 2.
    let (r, _) = action(&[("ECS_ROLLBACK_BIN", &bin())]);
    assert_eq!(r.code, 2, "{r:?}");
    assert!(r.stderr.contains("input 'deployment' is required"), "{r:?}");
}

// ---------------------------------------------------------------------------------------------
// What an operator sees when things go wrong: interrupts, silent endpoints, refused errors,
// unknown profiles, narrow terminals, and the ledger as it applies to one service.

/// A spawned CLI whose stdout and stderr are collected as they come.
struct Streaming {
    child: Child,
    out: std::sync::Arc<std::sync::Mutex<String>>,
    err: std::sync::Arc<std::sync::Mutex<String>>,
    readers: Vec<std::thread::JoinHandle<()>>,
}

impl Streaming {
    fn spawn(mut cmd: Command) -> Streaming {
        use std::io::Read;
        let mut child = cmd
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("the CLI starts");
        let out = std::sync::Arc::new(std::sync::Mutex::new(String::new()));
        let err = std::sync::Arc::new(std::sync::Mutex::new(String::new()));
        let mut readers = Vec::new();
        let pipes: [(Box<dyn Read + Send>, _); 2] = [
            (Box::new(child.stdout.take().unwrap()), out.clone()),
            (Box::new(child.stderr.take().unwrap()), err.clone()),
        ];
        for (mut pipe, sink) in pipes {
            readers.push(std::thread::spawn(move || {
                let mut buf = [0u8; 4096];
                while let Ok(n) = pipe.read(&mut buf) {
                    if n == 0 {
                        break;
                    }
                    sink.lock()
                        .unwrap()
                        .push_str(&String::from_utf8_lossy(&buf[..n]));
                }
            }));
        }
        Streaming {
            child,
            out,
            err,
            readers,
        }
    }

    fn stderr(&self) -> String {
        self.err.lock().unwrap().clone()
    }

    fn interrupt(&self) {
        let kill = Command::new("kill")
            .args(["-INT", &self.child.id().to_string()])
            .status()
            .unwrap();
        assert!(kill.success());
    }

    fn wait(mut self, bound: Duration) -> Run {
        let child = &mut self.child;
        let status = wait_for("the CLI to exit", bound, || child.try_wait().ok().flatten());
        for r in self.readers {
            let _ = r.join();
        }
        let stdout = self.out.lock().unwrap().clone();
        let stderr = self.err.lock().unwrap().clone();
        Run {
            code: status.code().unwrap_or(-1),
            stdout,
            stderr,
        }
    }
}

// Ctrl-C while the rollback was being issued killed the process silently: the rollback had been
// applied and nothing said so. The writes are announced, a Ctrl-C lets them finish, and the exit
// says what is in AWS and what to run next.
#[tokio::test(flavor = "multi_thread")]
async fn rollback_announces_its_writes_and_a_ctrl_c_during_them_says_what_was_done() {
    let w = world().await;
    let [_, r2, _] = w
        .good_then_bad("hello-world", &tags("a1b2c3d", "b2c3d4e", "c3d4e5f"))
        .await;
    w.stand.deployment_state("hello-world", "FAILED", json!({}));
    // ECS takes its time with the write: the Ctrl-C lands while it is in flight.
    w.stand.control(
        "POST",
        "/faults",
        json!({"service": "ecs", "operation": "UpdateService", "delay": 3}),
    );
    let run = Streaming::spawn(cli(
        Some(&w.stand),
        w.home.path(),
        &[
            "rollback",
            "-c",
            "demo",
            "-s",
            "hello-world",
            "--poll-interval",
            "200ms",
        ],
    ));
    wait_for(
        "the rollback to be announced",
        Duration::from_secs(60),
        || {
            run.stderr()
                .contains(
                    "issuing the rollback of demo/hello-world from hello-world:3 to hello-world:2…",
                )
                .then_some(())
        },
    );
    run.interrupt();
    let r = run.wait(Duration::from_secs(60));
    w.stand.control("DELETE", "/faults", Value::Null);
    assert_eq!(r.code, 130, "{r:?}");
    // Said the same whether the Ctrl-C landed during the writes or, on a slow machine, just after.
    assert!(
        r.stdout.contains("ollback to hello-world:2 was issued")
            && r.stdout.contains("goes on in ECS")
            && r.stdout
                .contains("`ecs-rollback status -c demo -s hello-world --wait`"),
        "{r:?}"
    );
    assert_eq!(
        w.service_td("hello-world").await,
        r2,
        "the rollback was applied"
    );
}

// "attempt 1 of 4 failed (HTTP 400)" was printed before every not-found error, which is never
// retried. Only retried attempts are said; a 4xx is said once, by the final error.
#[tokio::test(flavor = "multi_thread")]
async fn only_retried_attempts_are_said_on_a_terminal() {
    let w = world().await;
    let mut cmd = cli(
        Some(&w.stand),
        w.home.path(),
        &["mark", "hello-world:99", "stable"],
    );
    cmd.env("TERM", "xterm");
    let (seen, status) = tokio::task::block_in_place(|| Pty::spawn(cmd).finish());
    assert!(status.ends_with(", 2)"), "exit status {status}\n{seen}");
    assert!(seen.contains("error: task definition"), "{seen}");
    assert!(!seen.contains("attempt"), "{seen}");

    // A 503 is retried, and each retry is said as it happens.
    w.stand.control(
        "POST",
        "/faults",
        json!({"service": "ecs", "operation": "DescribeTaskDefinition", "status": 503,
               "code": "ServerException", "count": 1}),
    );
    let mut cmd = cli(
        Some(&w.stand),
        w.home.path(),
        &["mark", "hello-world:99", "stable"],
    );
    cmd.env("TERM", "xterm");
    let (seen, status) = tokio::task::block_in_place(|| Pty::spawn(cmd).finish());
    w.stand.control("DELETE", "/faults", Value::Null);
    assert!(status.ends_with(", 2)"), "exit status {status}\n{seen}");
    assert!(
        seen.contains("DescribeTaskDefinition: attempt 1 of 4 failed (HTTP 503); retrying"),
        "{seen}"
    );
    assert!(!seen.contains("attempt 2 of 4"), "{seen}");
}

// An endpoint that took the connection and never answered was 40 s of retries, then "timed out".
#[test]
fn a_silent_endpoint_fails_after_one_attempt_naming_it() {
    use std::net::TcpListener;
    let hole = TcpListener::bind("127.0.0.1:0").unwrap();
    let hole_url = format!("http://{}", hole.local_addr().unwrap());
    std::thread::spawn(move || {
        let mut held = Vec::new();
        for stream in hole.incoming().flatten() {
            held.push(stream);
        }
    });
    let home = Scratch::new("home");
    let mut cmd = cli(
        None,
        home.path(),
        &[
            "status",
            "-c",
            "demo",
            "-s",
            "web",
            "--endpoint-url",
            &hole_url,
        ],
    );
    cmd.env("AWS_ACCESS_KEY_ID", "testing")
        .env("AWS_SECRET_ACCESS_KEY", "testing")
        .env("AWS_REGION", "eu-west-1")
        .stdin(Stdio::null());
    let started = std::time::Instant::now();
    let r = Streaming::spawn(cmd).wait(Duration::from_secs(120));
    let took = started.elapsed();
    assert_eq!(r.code, 1, "{r:?}");
    assert!(
        r.stderr.starts_with(&format!(
            "error: DescribeServices failed: no answer from {hole_url} in 20 s\nhint: "
        )),
        "{r:?}"
    );
    // One attempt timeout (20 s), not four; generous for a busy machine.
    assert!(took < Duration::from_secs(38), "took {took:?}");
}

// `AWS_PROFILE` naming a profile that does not exist was ignored: the default chain was used.
#[test]
fn an_unknown_profile_is_refused_naming_it_and_the_files_read() {
    let home = Scratch::new("home");
    for (env, flag) in [(Some("nope"), None), (None, Some("nope"))] {
        let mut args = vec!["status", "-c", "demo", "-s", "web"];
        if let Some(f) = flag {
            args.extend(["--profile", f]);
        }
        let mut cmd = cli(None, home.path(), &args);
        cmd.env("AWS_ACCESS_KEY_ID", "testing")
            .env("AWS_SECRET_ACCESS_KEY", "testing")
            .env("AWS_REGION", "eu-west-1")
            .env("AWS_ENDPOINT_URL", "http://127.0.0.1:9");
        if let Some(p) = env {
            cmd.env("AWS_PROFILE", p);
        }
        let r = finished(cmd.stdin(Stdio::null()).output().unwrap());
        assert_eq!(r.code, 2, "{r:?}");
        let from = if env.is_some() {
            "AWS_PROFILE"
        } else {
            "--profile"
        };
        assert!(
            r.stderr.starts_with(&format!(
                "error: profile \"nope\" ({from}) is not in ~/.aws/config and ~/.aws/credentials"
            )),
            "{r:?}"
        );
    }
}

// Help: every command shows examples; `deploy --no-wait` was a usage error while `rollback`
// takes it.
#[test]
fn every_command_has_examples_and_deploy_takes_no_wait() {
    let home = Scratch::new("home");
    for command in [
        "status", "rollback", "dialog", "diff", "mark", "deploy", "wait", "replay",
    ] {
        let r = finished(
            cli(None, home.path(), &[command, "--help"])
                .output()
                .unwrap(),
        );
        assert_eq!(r.code, 0, "{r:?}");
        assert!(
            r.stdout
                .contains(&format!("Examples:\n  ecs-rollback {command}")),
            "{command}: {r:?}"
        );
        assert!(!r.stdout.contains("article"), "{command}: {r:?}");
    }
    let r = finished(
        cli(None, home.path(), &["deploy", "--help"])
            .output()
            .unwrap(),
    );
    assert!(r.stdout.contains("--no-wait"), "{r:?}");
    let r = finished(
        cli(
            None,
            home.path(),
            &["deploy", "-c", "d", "-s", "s", "--no-wait", "--wait"],
        )
        .output()
        .unwrap(),
    );
    assert_eq!(r.code, 2, "{r:?}");
    assert!(r.stderr.contains("cannot be used with"), "{r:?}");
}

// The LEDGER column said "bad" for a revision banned for another service only; a failed rollout
// read STOPPED without ECS's reason; `mark … clear -s X` lifted a ban held for every service.
#[tokio::test(flavor = "multi_thread")]
async fn status_reads_the_ledger_for_its_service_and_says_why_a_deployment_failed() {
    let w = world().await;
    let [r0, _, _, _] = two_services_of_one_family(&w).await;
    let r = w.run(&["mark", "2", "bad", "-c", "demo", "-s", "www"]);
    assert_eq!(r.code, 0, "{r:?}");
    let row = |r: &Run, rev: &str| {
        r.stdout
            .lines()
            .find(|l| l.starts_with(&format!("{rev} ")))
            .unwrap_or_else(|| panic!("no row {rev}: {r:?}"))
            .to_string()
    };
    let api = w.run(&["status", "-c", "demo", "-s", "api"]);
    assert_eq!(api.code, 0, "{api:?}");
    assert!(
        row(&api, "hello-world:2").contains(" bad elsewhere "),
        "{api:?}"
    );
    assert!(row(&api, "hello-world:1").contains(" bad "), "{api:?}");
    // api's rollout of :3 failed: ECS's word and reason, not the service deployment's STOPPED.
    let failed = row(&api, "hello-world:3");
    assert!(
        failed.contains(" FAILED") && !failed.contains("STOP"),
        "{api:?}"
    );
    assert!(
        api.stdout.contains(
            "hello-world:3  FAILED: ECS deployment circuit breaker: tasks failed to start."
        ),
        "{api:?}"
    );
    let www = w.run(&["status", "-c", "demo", "-s", "www", "-o", "json"]);
    let revs = www.json()["revisions"].as_array().unwrap().clone();
    let ledger = |name: &str| {
        revs.iter()
            .find(|r| r["name"] == name)
            .map(|r| r["ledger"].clone())
            .unwrap()
    };
    assert_eq!(ledger("hello-world:2"), "bad", "{www:?}");

    // clear for one service leaves a ban held for every service alone, and says so.
    let r = w.run(&["mark", "1", "clear", "-c", "demo", "-s", "api"]);
    assert_eq!(r.code, 3, "{r:?}");
    assert!(r.stderr.contains("every service"), "{r:?}");
    assert_eq!(w.ledger(&r0).await.as_deref(), Some("bad"));
    // … and another service's ban whole, saying what remains.
    let r = w.run(&["mark", "2", "clear", "-c", "demo", "-s", "api"]);
    assert_eq!(r.code, 0, "{r:?}");
    assert!(
        r.stdout
            .starts_with("hello-world:2: banned as a rollback target for demo/www\n"),
        "{r:?}"
    );
}

// At 60 columns every status row wrapped to three lines, and the dialog cut off its markers.
#[tokio::test(flavor = "multi_thread")]
async fn status_and_dialog_fit_a_narrow_terminal() {
    let w = world().await;
    two_services_of_one_family(&w).await;
    let wide = w.run(&["status", "-c", "demo", "-s", "api"]);
    assert!(
        wide.stdout.lines().any(|l| l.chars().count() > 60),
        "piped without COLUMNS: the full table\n{wide:?}"
    );
    let r = w.run_env(&["status", "-c", "demo", "-s", "api"], &[("COLUMNS", "60")]);
    assert_eq!(r.code, 0, "{r:?}");
    for line in r.stdout.lines() {
        assert!(line.chars().count() <= 60, "{line:?}\n{r:?}");
    }
    for want in [
        "REVISION", "LEDGER", "RUNNING", "OUTCOME", "PRIMARY", "FAILED",
    ] {
        assert!(r.stdout.contains(want), "{want}: {r:?}");
    }

    let mut cmd = cli(
        Some(&w.stand),
        w.home.path(),
        &["dialog", "-c", "demo", "--dry-run"],
    );
    cmd.env("TERM", "xterm");
    let (seen, status) = tokio::task::block_in_place(|| {
        let mut p = Pty::spawn_sized(cmd, 60);
        p.step("www", " ");
        p.step("\u{2714}", "\r");
        p.step("leave this service alone", "\r");
        p.finish()
    });
    assert!(status.ends_with(", 0)"), "exit status {status}\n{seen}");
    assert!(seen.contains("[still running, last stable]"), "{seen}");
}

// Ctrl-C at a dialog prompt left the cursor hidden and said nothing.
#[tokio::test(flavor = "multi_thread")]
async fn ctrl_c_at_a_dialog_prompt_shows_the_cursor_and_says_nothing_changed() {
    let w = world().await;
    two_services_of_one_family(&w).await;
    let mut cmd = cli(Some(&w.stand), w.home.path(), &["dialog", "-c", "demo"]);
    cmd.env("TERM", "xterm");
    let (seen, status) = tokio::task::block_in_place(|| {
        let mut p = Pty::spawn(cmd);
        p.step("www", "\x03");
        p.finish()
    });
    assert!(status.ends_with(", 130)"), "exit status {status}\n{seen:?}");
    let message = "interrupted: nothing was changed";
    let tail = seen.trim_end();
    assert!(tail.ends_with(message), "{seen:?}");
    let before = tail[..tail.len() - message.len()].trim_end();
    assert!(before.ends_with("\x1b[?25h"), "{seen:?}");
    assert_eq!(w.writes(), 0);
}

// A newcomer spent a quarter of an hour writing a world to try the CLI on: `scripts/stand --seed`
// starts the stand in the background, seeds one, and prints what to paste and how to stop it.
#[test]
fn the_seeded_stand_is_ready_for_status_and_stops_by_its_pid() {
    let out = Command::new(harness::root().join("scripts/stand"))
        .arg("--seed")
        .env("ECS_ROLLBACK_VENV", harness::venv())
        .stdin(Stdio::null())
        .output()
        .expect("scripts/stand runs");
    let printed = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(out.status.success(), "{out:?}");
    let pid: u32 = printed
        .lines()
        .find_map(|l| l.strip_prefix("# stop it: kill "))
        .and_then(|p| p.trim().parse().ok())
        .unwrap_or_else(|| panic!("no PID to stop it by:\n{printed}"));
    // Stopped by its PID however the test ends.
    struct Stop(u32);
    impl Drop for Stop {
        fn drop(&mut self) {
            let _ = Command::new("kill").arg(self.0.to_string()).status();
        }
    }
    let stop = Stop(pid);
    let home = Scratch::new("home");
    let mut cmd = cli(None, home.path(), &["status"]);
    for line in printed.lines() {
        if let Some(exports) = line.strip_prefix("export ") {
            for pair in exports.split_whitespace() {
                let (k, v) = pair.split_once('=').unwrap();
                cmd.env(k, v);
            }
        }
        if let Some(dir) = line.strip_prefix("cd ") {
            let dir = dir.split_whitespace().next().unwrap();
            cmd.current_dir(dir);
        }
    }
    let r = finished(cmd.stdin(Stdio::null()).output().unwrap());
    assert_eq!(r.code, 0, "{r:?}\n{printed}");
    for want in [
        "Service       demo/web (ACTIVE)",
        "would go to hello-world:2",
        "hello-world:3  FAILED: ECS deployment circuit breaker",
        "bad elsewhere",
        "Render the greeting from a template",
    ] {
        assert!(r.stdout.contains(want), "{want}: {r:?}");
    }
    drop(stop);
    // Gone, or a zombie nobody reaped yet (its parent exited when the seeding was done).
    wait_for("the stand to stop", Duration::from_secs(60), || {
        let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
        let state = stat.rsplit_once(") ").map(|(_, rest)| rest.chars().next());
        matches!(state, None | Some(Some('Z')) | Some(Some('X'))).then_some(())
    });
}

#[tokio::test(flavor = "multi_thread")]
async fn rollback_and_status_respect_the_schema_each_revision_declares() {
    let w = world().await;
    let [r1, r2, r3] = w
        .good_then_bad("hello-world", &tags("a1b2c3d", "b2c3d4e", "c3d4e5f"))
        .await;
    for (td, schema) in [(&r1, "4"), (&r2, "5"), (&r3, "6")] {
        w.ecs
            .tag_resource()
            .resource_arn(td)
            .tags(
                Tag::builder()
                    .key("ecs-rollback:schema")
                    .value(schema)
                    .build(),
            )
            .send()
            .await
            .unwrap();
    }
    w.stand.deployment_state("hello-world", "FAILED", json!({}));
    w.stand.clear_requests();

    // status shows each revision's declaration.
    let r = w.run(&["status", "-c", "demo", "-s", "hello-world"]);
    assert!(r.stdout.contains("SCHEMA"), "{r:?}");
    // diff shows it among what changes.
    let r = w.run(&["diff", "hello-world:2", "hello-world:3"]);
    assert_eq!(r.code, 0, "{r:?}");
    let line = r
        .stdout
        .lines()
        .find(|l| l.contains("schema"))
        .unwrap_or_else(|| panic!("no schema line: {r:?}"));
    assert!(line.contains('5') && line.contains('6'), "{line}");

    // The last stable revision runs against schema 5; the schema in force is 6: nothing to do.
    let r = w.run(&["rollback", "-c", "demo", "-s", "hello-world", "--dry-run"]);
    assert_eq!(r.code, 3, "{r:?}");
    assert!(
        r.stdout
            .contains("the database schema in force is 6 (declared by hello-world:3)"),
        "{r:?}"
    );
    // --to is refused, naming both versions and --force.
    let r = w.run(&["rollback", "-c", "demo", "-s", "hello-world", "--to", "2"]);
    assert_eq!(r.code, 3, "{r:?}");
    assert!(
        r.stdout
            .contains("runs against schema 5, and the database schema in force is 6")
            && r.stdout.contains("--force rolls back anyway"),
        "{r:?}"
    );
    assert_eq!(w.writes(), 0, "{:?}", w.stand.requests(Some("TagResource")));

    // With a down migration named, the dry run says it would run first.
    let service_arn = format!("arn:aws:ecs:{REGION}:{ACCOUNT}:service/demo/hello-world");
    w.ecs
        .tag_resource()
        .resource_arn(&service_arn)
        .tags(
            Tag::builder()
                .key("ecs-rollback:migration")
                .value("hello-migrate")
                .build(),
        )
        .send()
        .await
        .unwrap();
    w.stand.clear_requests();
    let r = w.run(&["rollback", "-c", "demo", "-s", "hello-world", "--dry-run"]);
    assert_eq!(r.code, 0, "{r:?}");
    assert!(
        r.stdout
            .contains("run the down migration hello-migrate (database schema 6 to 5)"),
        "{r:?}"
    );
    assert_eq!(w.writes(), 0);

    // For real: the migration task starts; the rollback is the responder's when it exits 0.
    w.ecs
        .register_task_definition()
        .family("hello-migrate")
        .container_definitions(
            aws_sdk_ecs::types::ContainerDefinition::builder()
                .name("migrate")
                .image(format!("{REGISTRY}-migrate:c3d4e5f"))
                .essential(true)
                .memory(256)
                .build(),
        )
        .send()
        .await
        .unwrap();
    let r = w.run(&["rollback", "-c", "demo", "-s", "hello-world"]);
    assert_eq!(r.code, 0, "{r:?}");
    assert!(
        r.stdout
            .contains("down migration started, then the rollback hello-world:3 → hello-world:2")
            && r.stdout.contains("--to hello-world:2 --force"),
        "{r:?}"
    );
    assert_eq!(w.stand.count("RunTask"), 1);
    assert_eq!(w.service_td("hello-world").await, r3);
    let r = w.run(&["status", "-c", "demo", "-s", "hello-world"]);
    assert!(
        r.stdout.contains("Down migration")
            && r.stdout
                .contains("before the rollback hello-world:3 → hello-world:2): running"),
        "{r:?}"
    );

    // --force rolls back anyway (the person decides, the migration still running), and says so.
    let r = w.run(&[
        "rollback",
        "-c",
        "demo",
        "-s",
        "hello-world",
        "--to",
        "2",
        "--force",
        "--no-wait",
    ]);
    assert_eq!(r.code, 0, "{r:?}");
    assert!(r.stdout.contains("rolled back by --force"), "{r:?}");
    assert_eq!(w.service_td("hello-world").await, r2);
}

// With neither credentials nor a region only the credentials were reported, and that error named
// "the container and instance metadata" to people on laptops.
#[test]
fn missing_credentials_and_region_are_said_together_without_instance_metadata() {
    let home = Scratch::new("home");
    let run = |env: &[(&str, &str)]| {
        let mut cmd = cli(None, home.path(), &["status", "-c", "demo", "-s", "web"]);
        for (k, v) in env {
            cmd.env(k, v);
        }
        finished(cmd.stdin(Stdio::null()).output().unwrap())
    };
    let both = run(&[]);
    assert_eq!(both.code, 2, "{both:?}");
    let lines: Vec<&str> = both.stderr.lines().collect();
    assert_eq!(lines.len(), 2, "{both:?}");
    assert!(
        lines[0].starts_with("error: no AWS credentials and no AWS region are configured"),
        "{both:?}"
    );
    assert!(
        lines[1].starts_with("hint: pass --region or set AWS_REGION, and use --profile"),
        "{both:?}"
    );
    let credentials = run(&[("AWS_REGION", "eu-west-1")]);
    assert_eq!(credentials.code, 2, "{credentials:?}");
    assert!(
        credentials.stderr.starts_with(
            "error: no AWS credentials: none found in the environment (AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY) or in ~/.aws/config and ~/.aws/credentials\n"
        ),
        "{credentials:?}"
    );
    for r in [&both, &credentials] {
        assert!(!r.stderr.contains("metadata"), "{r:?}");
    }
}
