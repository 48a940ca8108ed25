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
use harness::{wait_for, Stand};
use serde_json::{json, Value};

const REGISTRY: &str = "123456789012.dkr.ecr.eu-west-1.amazonaws.com/hello-world";
const BIN: &str = env!("CARGO_BIN_EXE_ecs-rollback");

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
    let mut cmd = Command::new(BIN);
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
            .contains("would go to hello-world:2: its last successful deployment"),
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
        "  after   tag hello-world:3 ecs-rollback:status=bad;",
        "because manual request: ecs-rollback rollback run by alice.\n",
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
        "--wait",
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
            .starts_with("demo/hello-world: rolled back hello-world:3 → hello-world:2\n"),
        "{r:?}"
    );
    assert!(
        r.stdout
            .contains("because manual request: login page broken."),
        "{r:?}"
    );
    assert!(
        r.stdout
            .contains("demo/hello-world is steady on hello-world:2"),
        "{r:?}"
    );
    assert_eq!(w.service_td("hello-world").await, r2);
    assert_eq!(w.ledger(&r3).await.as_deref(), Some("bad"));
    assert_eq!(
        w.service_tag("hello-world", "ecs-rollback:last-rollback-to")
            .await
            .as_deref(),
        Some(r2.as_str()),
        "the rollback is recorded as the Lambda records it"
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
    ]);
    assert_eq!(r.code, 0, "{r:?}");
    assert!(
        r.stdout
            .contains("rolled back hello-world:3 → hello-world:1"),
        "{r:?}"
    );
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
            "hint: `ecs-rollback status",
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
    let r = w.run(&["rollback", "-c", "demo", "-s", "untagged", "--to", "1"]);
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
        // DESIGN §5's keys, then the account and region the response is about.
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
        ("invalid/unknown-detail-type.json", "detail-type"),
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
    assert_eq!(w.writes(), 0);

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
    assert!(
        r.stdout
            .contains("demo/hello-world is steady on hello-world:4"),
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
            "error: profile \"prod\" is not in ~/.aws/config or ~/.aws/credentials",
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

    let mut cmd = cli(Some(&w.stand), w.home.path(), &["dialog"]);
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
            "rolled back hello-world:3 \u{2192} hello-world:1",
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
