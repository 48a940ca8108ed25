//! The command line, as clap sees it. Parsing only: no I/O here.

use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, Parser, Subcommand, ValueEnum};

use crate::model::split_task_definition;

macro_rules! exit_codes {
    () => {
        "Exit codes:
  0  done (with --dry-run: the plan was printed)
  1  AWS or runtime error (throttling or 5xx after the SDK's 4 attempts, access denied, network)
  2  usage, bad input or configuration (unknown cluster, service or revision, a --to of another
     family, an image tag missing in ECR, unreadable event file, no region or credentials,
     dialog without a terminal)
  3  nothing to do, or refused (the decision skipped: already on the target, target marked bad,
     no stable revision, service opted out; a restored revision or a rollback still in
     progress; a rollback that did not hold; deploy of an unchanged image or over a rollback
     still rolling out; dialog cancelled)
  4  waiting: the deployment failed and ECS did not roll it back (circuit breaker or alarms
     without rollback, a stop, a rollback that failed too); rollback, status and dialog: also
     when another deployment replaced it
  5  waiting: the deployment did not settle within --wait-timeout (wait: --timeout)
  6  wait, deploy --wait: ECS rolled the deployment back (circuit breaker, deployment alarms,
     a lifecycle hook, a StopServiceDeployment nobody recorded)
  7  wait, deploy --wait: ecs-rollback rolled it back (the responder automatically, or a
     person with `ecs-rollback rollback`)
  8  wait, deploy --wait: another deployment superseded it
  130  interrupted (Ctrl-C): at a prompt or before any change, nothing was changed; during a
       rollback's writes or while waiting, the command says what was issued and the deployment
       goes on in ECS"
    };
}

const STATUS_HELP: &str = concat!(
    "Examples:
  ecs-rollback status -c prod -s api                 # deployments, events, revisions, the rollback target
  ecs-rollback status -c prod -s api --wait          # follow the rollout in progress
  ecs-rollback status -c prod -s api -o json | jq .deployments

",
    exit_codes!()
);

const ROLLBACK_HELP: &str = concat!(
    "Examples:
  ecs-rollback rollback -c prod -s api --dry-run     # the plan and the difference, nothing changed
  ecs-rollback rollback -c prod -s api --reason \"5xx after 4f2a9c1\"
  ecs-rollback rollback -c prod -s api --to 41       # an explicit revision of the service's family
  ecs-rollback rollback -c prod -s api --no-wait     # return once ECS accepted it

",
    exit_codes!()
);

const DEPLOY_HELP: &str = concat!(
    "Examples:
  ecs-rollback deploy -c prod -s api --dry-run       # the image of HEAD's short SHA, the plan only
  ecs-rollback deploy -c prod -s api --wait          # deploy and follow it (0 only if it holds)
  ecs-rollback deploy -c prod -s api --container web --tag v2.3.1
  ecs-rollback deploy -c prod -s api --no-wait       # the default: print the `wait` command

",
    exit_codes!()
);

const WAIT_HELP: &str = concat!(
    "Examples:
  ecs-rollback wait arn:aws:ecs:eu-west-1:123456789012:service-deployment/prod/api/4aVn3o2bEtCgbe
  ecs-rollback wait ecs-svc/6432199815271852342 -c prod -s api --timeout 45m
  ecs-rollback wait \"$ARN\" -o json | jq -r .outcome       # completed, failed, rolled_back_by_ecs, …
  ID=$(aws ecs update-service --cluster prod --service api --task-definition api:42 \\
         --query 'service.deployments[?status==`PRIMARY`].id' --output text)
  ecs-rollback wait \"$ID\" -c prod -s api

",
    exit_codes!()
);

const DIALOG_HELP: &str = concat!(
    "Examples:
  ecs-rollback dialog                                # pick the cluster, services and revisions
  ecs-rollback dialog -c prod --dry-run              # the plans only, nothing changed
  ecs-rollback dialog -c prod -n 20 --no-wait        # 20 revisions per service; return once issued

Keys: arrows move, space selects, enter confirms, esc cancels. Ctrl-C at a prompt changes nothing
(exit 130).

",
    exit_codes!()
);

const DIFF_HELP: &str = concat!(
    "Examples:
  ecs-rollback diff 41 42 -c prod -s api             # revision numbers of the service's family
  ecs-rollback diff api:41 api:42                    # no service: the task definitions only
  ecs-rollback diff api:41 api:42 -o json | jq .changes

",
    exit_codes!()
);

const MARK_HELP: &str = concat!(
    "Examples:
  ecs-rollback mark 42 bad -c prod -s api            # banned as a rollback target for prod/api only
  ecs-rollback mark api:42 bad                       # banned for every service
  ecs-rollback mark 42 clear -c prod -s api          # lift prod/api's ban (others' bans stay)
  ecs-rollback mark api:41 stable                    # a proven revision, a rollback target

",
    exit_codes!()
);

const REPLAY_HELP: &str = concat!(
    "Examples:
  ecs-rollback replay events/ecs-deployment-failed.json            # what the responder would do
  ecs-rollback replay events/ecs-deployment-failed.json --execute  # do it, as the Lambda would
  aws events test-event-pattern … | ecs-rollback replay -          # an event on stdin

",
    exit_codes!()
);

/// The heading under which `--help` lists the options every command takes.
pub const GLOBAL: &str = "Global options";

/// Exit codes, shown by `--help` and documented in the book (docs/src/cli.md).
pub const EXIT_CODES: &str = exit_codes!();

const AFTER_HELP: &str = concat!(
    "AWS: the standard SDK environment applies (AWS_PROFILE, AWS_REGION, AWS_ENDPOINT_URL,
AWS_ENDPOINT_URL_ECS, AWS_ENDPOINT_URL_CLOUDWATCH, credentials chain, SSO); --profile, --region
and --endpoint-url override it. ECS_ROLLBACK_CLUSTER and ECS_ROLLBACK_SERVICE default --cluster
and --service (set them per repository). ROLLBACK_NOTIFY_TOPIC_ARN, when set, notifies rollbacks
as the Lambda does; replay also reads the Lambda's other ROLLBACK_* settings. Who runs a
rollback is recorded as the STS caller identity (GetCallerIdentity), else the OS user.

",
    exit_codes!()
);

#[derive(Parser, Debug, Clone, PartialEq)]
#[command(
    name = "ecs-rollback",
    version,
    about = "Roll an Amazon ECS service back to its last stable task-definition revision, by hand",
    long_about = "Roll an Amazon ECS service back to its last stable task-definition revision, by hand.\n\n\
The manual path of ecs-rollback, with the same decision core and AWS adapters as the Lambda: \
`rollback` chooses \"last stable\" exactly as the responder does.",
    after_help = AFTER_HELP,
)]
pub struct Cli {
    #[command(flatten)]
    pub aws: AwsArgs,

    /// Output format of the result (progress and errors go to stderr).
    #[arg(long, short = 'o', global = true, value_enum, default_value_t = Format::Text, help_heading = GLOBAL)]
    pub output: Format,

    /// Git repository whose commits name image tags (default: the current directory).
    #[arg(long, global = true, value_name = "DIR", help_heading = GLOBAL)]
    pub git_repo: Option<PathBuf>,

    /// Also log the handler's decision line and info messages to stderr (RUST_LOG overrides).
    #[arg(long, short = 'v', global = true, help_heading = GLOBAL)]
    pub verbose: bool,

    #[command(subcommand)]
    pub command: Command,
}

/// The standard AWS options.
#[derive(Args, Debug, Clone, PartialEq, Default)]
pub struct AwsArgs {
    /// Named profile from ~/.aws/config (else AWS_PROFILE, else the default chain).
    #[arg(long, global = true, value_name = "NAME", help_heading = GLOBAL)]
    pub profile: Option<String>,

    /// AWS Region (else AWS_REGION, else the profile's region).
    #[arg(long, global = true, value_name = "REGION", help_heading = GLOBAL)]
    pub region: Option<String>,

    /// Send every AWS call to this endpoint (else AWS_ENDPOINT_URL / AWS_ENDPOINT_URL_<SERVICE>).
    #[arg(long, global = true, value_name = "URL", help_heading = GLOBAL)]
    pub endpoint_url: Option<String>,
}

#[derive(ValueEnum, Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Format {
    /// For people.
    #[default]
    Text,
    /// One JSON document on stdout.
    Json,
}

#[derive(Subcommand, Debug, Clone, PartialEq)]
pub enum Command {
    /// A service now: its deployments (desired / pending / running / failed tasks, strategy,
    /// lifecycle stage), the last service events, and its revisions newest first (image tags,
    /// digests, ledger, deployment outcomes, git commits), with the revision `rollback` would
    /// choose. `--wait` follows the rollout and prints service events as they arrive.
    #[command(visible_alias = "history", after_help = STATUS_HELP)]
    Status(StatusArgs),

    /// Roll a service back to its last stable revision (the responder's rules) or to --to,
    /// showing the difference first, and wait until it is steady (--no-wait returns at once).
    #[command(long_about = ROLLBACK_LONG, after_help = ROLLBACK_HELP)]
    Rollback(RollbackArgs),

    /// Interactive: pick a cluster, services (with their state), a revision per service (with
    /// its git commit), confirm, roll back (services concurrently, each waited on). Needs a terminal.
    #[command(after_help = DIALOG_HELP)]
    Dialog(DialogArgs),

    /// Deploy an image: copy the service's task definition with the new image (tag defaults to
    /// the current git short SHA), show the difference, check the tag in ECR, register, update.
    #[command(long_about = DEPLOY_LONG, after_help = DEPLOY_HELP)]
    Deploy(DeployArgs),

    /// The difference between two revisions: images, environment variable and secret names
    /// (never values), CPU/memory, roles, and the service configuration they ran with.
    #[command(long_about = DIFF_LONG, after_help = DIFF_HELP)]
    Diff(DiffArgs),

    /// Bless, ban or unban a revision in the ledger (ecs-rollback:status, ecs-rollback:bad-for).
    #[command(long_about = MARK_LONG, after_help = MARK_HELP)]
    Mark(MarkArgs),

    /// Follow one deployment (a service-deployment ARN or `ecs-svc/N`) through rollout, bake time
    /// and lifecycle hooks; exit 0 only if it completed and its revision still runs.
    #[command(long_about = WAIT_LONG, after_help = WAIT_HELP)]
    Wait(WaitCmdArgs),

    /// Run the responder's decision for an event file (events/*.json) and print what it would do.
    #[command(long_about = REPLAY_LONG, after_help = REPLAY_HELP)]
    Replay(ReplayArgs),

    /// Answer a pause lifecycle hook that holds the service's deployment: continue it, or roll
    /// it back with --rollback (ContinueServiceDeployment).
    #[command(name = "continue", after_help = CONTINUE_HELP)]
    Continue(ContinueArgs),
}

const CONTINUE_HELP: &str = "\
Examples:
  ecs-rollback continue -c prod -s web               # the paused deployment goes on
  ecs-rollback continue -c prod -s web --rollback    # ECS rolls it back
Exit codes: 0 answered, 3 no deployment of the service is paused, 1 AWS error.";

#[derive(Args, Debug, Clone, PartialEq)]
pub struct ContinueArgs {
    #[command(flatten)]
    pub target: ServiceArgs,

    /// Roll the paused deployment back instead of continuing it.
    #[arg(long)]
    pub rollback: bool,
}

const ROLLBACK_LONG: &str = "\
Roll a service back to its last stable revision or to --to REVISION.

The target is chosen by the same decision core as the Lambda: the newest successful ECS service \
deployment, else the newest older revision tagged ecs-rollback:status=stable, else the newest \
older revision; revisions tagged ecs-rollback:status=bad, INACTIVE or DELETE_IN_PROGRESS are \
never chosen (an explicit --to such revision is refused). A tag-based target whose deployment \
recorded image digests is deployed as a digest-pinned copy; a deployment still in flight is \
stopped with StopServiceDeployment(ROLLBACK). The plan shows what changes (images, environment \
variable and secret names, CPU/memory, roles, service configuration) before anything happens.

Safe to repeat: when the service runs a proven revision that a rollback restored (by anyone: a \
person, the responder, ECS itself; the ecs-rollback:last-rollback-* tags say who and when) or a \
recorded rollback's deployment is still in progress, the command refuses (exit 3) unless --to or \
--force is given, however long ago that rollback was. A --to of \
another task-definition family is refused (exit 2) unless --allow-other-family.

Unlike the Lambda, the CLI does not require the opt-in tag ecs-rollback:enabled=true; a service \
tagged ecs-rollback:enabled=false is still refused. The responder's cooldown does not apply. \
After the rollback the failed revision is tagged ecs-rollback:status=bad and the service records \
the rollback (ecs-rollback:last-rollback-at/-to/-from/-kind=manual/-by=<your STS caller ARN>).

Waits until the service is steady (or the deployment failed) by default; --no-wait returns once \
the rollback is issued.";

const DEPLOY_LONG: &str = "\
Deploy an image: a new revision of the service's task definition with it, then UpdateService.

Copies the service's current task definition (every field, and its tags except the ledger's), \
replaces the image of one container, registers the copy as a new revision and updates the \
service. --image without a tag, or no --image at all (the container's current repository), is \
tagged with the current git short SHA. An unchanged image is refused (exit 3) unless --force; \
on a terminal you are asked instead.

Before anything is registered: the difference to the running revision is shown, an ECR image's \
tag is looked up (ecr:DescribeImages; a missing tag is exit 2; --skip-image-check for registries \
other than ECR, which are never checked), and uncommitted changes in the git repository are \
warned about (the tag names HEAD, not your working tree). When --wait sees the deployment fail, \
the exact rollback command is printed.";

const WAIT_LONG: &str = "\
Follow one deployment until it ends, and say how: the pipeline's answer to \"did it hold?\".

DEPLOYMENT is a service-deployment ARN \
(arn:aws:ecs:REGION:ACCOUNT:service-deployment/CLUSTER/SERVICE/ID) or an ECS deployment id \
(ecs-svc/N, with --cluster and --service). Exactly that deployment is followed, never whatever \
is PRIMARY when the wait starts: through its rollout, bake time and lifecycle hooks \
(DescribeServiceDeployments: status, lifecycleStage, rollback, alarms, deploymentCircuitBreaker; \
DescribeServices as a cross-check).

Exit 0 only when it completed AND its revision still runs afterwards (the service's PRIMARY \
deployment is this one). Otherwise the exit code says what happened: failed (4), not settled \
within --timeout (5), rolled back by ECS (6: circuit breaker, deployment alarms — naming the \
alarms that fired —, a lifecycle hook), rolled back by ecs-rollback (7: the service's \
ecs-rollback:last-rollback-* tags name this deployment's revision; automatic = the responder, \
manual = a person, who), superseded by another deployment (8, naming it), AWS error (1). \
ecs-rollback's own StopServiceDeployment(ROLLBACK) looks like ECS's rollback in ECS: the tags \
are checked first.

stdout gets exactly one line at the end (outcome, revisions, reason, next step), or with -o json \
one object (outcome, exit_code, deployment, task_definition, reason, alarms, seconds, …); \
progress goes to stderr (a spinner on a terminal). Under GitHub Actions (GITHUB_ACTIONS=true) an \
::error:: or ::notice:: annotation goes to stderr and a Markdown summary is appended to \
$GITHUB_STEP_SUMMARY. Ctrl-C stops only the waiting (exit 130): the deployment goes on in ECS.";

const DIFF_LONG: &str = "\
The field-by-field difference of two revisions, FROM → TO: container images, environment \
variable names and secret names (values are never read out or shown), CPU and memory, task and \
execution roles, network mode, and — when the service is known (--cluster/--service or \
ECS_ROLLBACK_CLUSTER/ECS_ROLLBACK_SERVICE) — the service configuration each revision last ran \
with according to its service revisions (network configuration, load balancers, service \
registries, capacity providers / launch type, platform version). A rollback from FROM to TO \
reverts all of it.

FROM and TO are `family:revision`, task-definition ARNs, or revision numbers of the service's \
family. Exit 0 whether or not they differ.";

const MARK_LONG: &str = "\
Set the ledger by hand, as the responder does:

  stable  tag ecs-rollback:status=stable (and drop ecs-rollback:bad-for)
  bad     tag ecs-rollback:status=bad; with a service (--cluster/--service or the
          ECS_ROLLBACK_* defaults) also add <cluster>/<service> to ecs-rollback:bad-for, which
          bans it for that service only; without one it is banned for every service
  clear   with a service: remove it from ecs-rollback:bad-for (the ban goes when none is left);
          without one: remove ecs-rollback:status and ecs-rollback:bad-for";

const REPLAY_LONG: &str = "\
Run the responder's decision for an event file (an EventBridge event or a direct invocation, as \
in events/*.json) against the configured account or endpoint, and print the Lambda's response.

Dry run by default: nothing is changed and nothing is notified. --execute acts as the Lambda \
would (and notifies when ROLLBACK_NOTIFY_TOPIC_ARN is set). The policy is the Lambda's, read \
from the same environment variables (ROLLBACK_REQUIRE_OPT_IN, ROLLBACK_COOLDOWN_MINUTES, \
ROLLBACK_ALARM_WINDOW_MINUTES, ROLLBACK_DRY_RUN); the account/region filter of the Lambda does \
not apply.";

/// Which service. Defaults from the environment so that a team can set them per repository.
#[derive(Args, Debug, Clone, PartialEq)]
pub struct ServiceArgs {
    /// Cluster name or ARN.
    #[arg(long, short = 'c', env = "ECS_ROLLBACK_CLUSTER")]
    pub cluster: String,

    /// Service name or ARN.
    #[arg(long, short = 's', env = "ECS_ROLLBACK_SERVICE")]
    pub service: String,
}

/// A service that may be named (diff, mark).
#[derive(Args, Debug, Clone, PartialEq, Default)]
pub struct MaybeServiceArgs {
    /// Cluster name or ARN.
    #[arg(long, short = 'c', env = "ECS_ROLLBACK_CLUSTER", requires = "service")]
    pub cluster: Option<String>,

    /// Service name or ARN.
    #[arg(long, short = 's', env = "ECS_ROLLBACK_SERVICE", requires = "cluster")]
    pub service: Option<String>,
}

#[derive(Args, Debug, Clone, PartialEq)]
pub struct StatusArgs {
    #[command(flatten)]
    pub target: ServiceArgs,

    /// How many revisions to show.
    #[arg(long, short = 'n', default_value_t = 10, value_parser = clap::value_parser!(u16).range(1..=100))]
    pub limit: u16,

    /// How many of the service's newest events to show (0: none).
    #[arg(long, short = 'e', value_name = "N", default_value_t = 5, value_parser = clap::value_parser!(u16).range(0..=100))]
    pub events: u16,

    /// Then follow the primary deployment until it is steady or failed, printing new service
    /// events as they arrive.
    #[arg(long)]
    pub wait: bool,

    #[command(flatten)]
    pub timing: Timing,
}

/// How a wait polls.
#[derive(Args, Debug, Clone, PartialEq)]
pub struct Timing {
    /// Give up waiting after this long (e.g. 90s, 15m, 1h).
    #[arg(long, value_name = "DURATION", default_value = "30m", value_parser = parse_duration)]
    pub wait_timeout: Duration,

    /// Time between two DescribeServices calls while waiting.
    #[arg(long, value_name = "DURATION", default_value = "6s", value_parser = parse_poll_interval)]
    pub poll_interval: Duration,
}

/// Following a deployment until it settles, on request (deploy): `--wait` follows it, `--no-wait`
/// (the default, accepted for symmetry with rollback and dialog) prints the command that does.
#[derive(Args, Debug, Clone, PartialEq)]
pub struct WaitArgs {
    /// Follow the deployment until it ends, as `wait` does.
    #[arg(long, conflicts_with = "no_wait")]
    pub wait: bool,

    /// Return once ECS accepted the deployment, printing the `ecs-rollback wait` command that
    /// follows it (the default).
    #[arg(long)]
    pub no_wait: bool,

    #[command(flatten)]
    pub timing: Timing,
}

impl WaitArgs {
    pub fn waits(&self) -> bool {
        self.wait
    }
}

/// Following a deployment until it settles, by default (rollback, dialog).
#[derive(Args, Debug, Clone, PartialEq)]
pub struct WaitByDefault {
    /// Return once the rollback is issued instead of waiting until the service is steady.
    #[arg(long)]
    pub no_wait: bool,

    /// Wait until steady or failed (the default; kept for scripts written for --wait).
    #[arg(long, hide = true, conflicts_with = "no_wait")]
    pub wait: bool,

    #[command(flatten)]
    pub timing: Timing,
}

impl WaitByDefault {
    pub fn waits(&self) -> bool {
        !self.no_wait
    }
}

#[derive(Args, Debug, Clone, PartialEq)]
pub struct RollbackArgs {
    #[command(flatten)]
    pub target: ServiceArgs,

    /// Roll back to this revision (`family:revision`, a task-definition ARN, or a revision number
    /// of the service's family) instead of the last stable one.
    #[arg(long, value_name = "REVISION", value_parser = parse_revision)]
    pub to: Option<RevisionArg>,

    /// Allow a --to of another task-definition family (another image, another task role).
    #[arg(long)]
    pub allow_other_family: bool,

    /// Roll back even though the service was rolled back minutes ago or that rollback is still
    /// in progress (the current revision is then tagged bad too).
    #[arg(long)]
    pub force: bool,

    /// Print the plan and change nothing.
    #[arg(long)]
    pub dry_run: bool,

    /// Why (recorded in the decision's reason and the notification).
    #[arg(long)]
    pub reason: Option<String>,

    #[command(flatten)]
    pub wait: WaitByDefault,
}

#[derive(Args, Debug, Clone, PartialEq)]
pub struct DialogArgs {
    /// Start with this cluster instead of asking.
    #[arg(long, short = 'c', env = "ECS_ROLLBACK_CLUSTER")]
    pub cluster: Option<String>,

    /// How many revisions to offer per service.
    #[arg(long, short = 'n', default_value_t = 10, value_parser = clap::value_parser!(u16).range(1..=100))]
    pub limit: u16,

    /// Show the plans and change nothing.
    #[arg(long)]
    pub dry_run: bool,

    /// Why (recorded in the decision's reason and the notification).
    #[arg(long)]
    pub reason: Option<String>,

    #[command(flatten)]
    pub wait: WaitByDefault,
}

#[derive(Args, Debug, Clone, PartialEq)]
pub struct DeployArgs {
    #[command(flatten)]
    pub target: ServiceArgs,

    /// The image (`repo[:tag]`, `repo@sha256:…`). Without a tag the git short SHA is used;
    /// without --image, the container's current repository.
    #[arg(long)]
    pub image: Option<String>,

    /// The image tag (default: the current git short SHA when the image has none).
    #[arg(long)]
    pub tag: Option<String>,

    /// The container whose image changes (needed when the task definition has several).
    #[arg(long)]
    pub container: Option<String>,

    /// Deploy even when the image is unchanged.
    #[arg(long)]
    pub force: bool,

    /// The database schema the new revision runs against (tag ecs-rollback:schema): a version
    /// (`6`, `1.2.3`, an Alembic revision) or a range `MIN..MAX`. Without --schema or
    /// --schema-command the new revision declares none.
    #[arg(long, value_name = "VERSION", conflicts_with = "schema_command")]
    pub schema: Option<String>,

    /// A command printing the schema version (its last line), run with `sh -c` after your
    /// migrations, e.g. `migrate -path db -database "$DATABASE_URL" version`.
    #[arg(long, value_name = "COMMAND")]
    pub schema_command: Option<String>,

    /// Deploy even while a rollback (ours, a person's or ECS's) is still rolling out: the new
    /// deployment stops it.
    #[arg(long)]
    pub interrupt_rollback: bool,

    /// Do not look the image tag up in ECR (ecr:DescribeImages). Images of other registries are
    /// never looked up.
    #[arg(long)]
    pub skip_image_check: bool,

    /// Print what would be registered and deployed, and change nothing.
    #[arg(long)]
    pub dry_run: bool,

    #[command(flatten)]
    pub wait: WaitArgs,
}

#[derive(Args, Debug, Clone, PartialEq)]
pub struct WaitCmdArgs {
    /// The deployment to follow: a service-deployment ARN, or an ECS deployment id (`ecs-svc/N`)
    /// of the service named by --cluster and --service.
    #[arg(value_name = "DEPLOYMENT")]
    pub deployment: String,

    #[command(flatten)]
    pub target: MaybeServiceArgs,

    /// Give up waiting after this long (e.g. 90s, 15m, 1h): exit 5, the deployment goes on.
    #[arg(long, visible_alias = "wait-timeout", value_name = "DURATION", default_value = "30m", value_parser = parse_duration)]
    pub timeout: Duration,

    /// Time between two polls (DescribeServices + DescribeServiceDeployments).
    #[arg(long, value_name = "DURATION", default_value = "6s", value_parser = parse_poll_interval)]
    pub poll_interval: Duration,
}

#[derive(Args, Debug, Clone, PartialEq)]
pub struct DiffArgs {
    /// The revision rolled back from (or deployed over).
    #[arg(value_name = "FROM", value_parser = parse_revision)]
    pub from: RevisionArg,

    /// The revision rolled back (or deployed) to.
    #[arg(value_name = "TO", value_parser = parse_revision)]
    pub to: RevisionArg,

    #[command(flatten)]
    pub target: MaybeServiceArgs,
}

#[derive(ValueEnum, Debug, Clone, Copy, PartialEq, Eq)]
pub enum MarkAs {
    /// ecs-rollback:status=stable.
    Stable,
    /// ecs-rollback:status=bad (for the service, when one is named).
    Bad,
    /// Remove the mark (for the service, when one is named).
    Clear,
}

#[derive(Args, Debug, Clone, PartialEq)]
pub struct MarkArgs {
    /// The revision (`family:revision`, a task-definition ARN, or a revision number of the
    /// service's family).
    #[arg(value_name = "REVISION", value_parser = parse_revision)]
    pub revision: RevisionArg,

    /// stable, bad or clear.
    #[arg(value_name = "MARK", value_enum)]
    pub mark: MarkAs,

    #[command(flatten)]
    pub target: MaybeServiceArgs,
}

#[derive(Args, Debug, Clone, PartialEq)]
pub struct ReplayArgs {
    /// The event file (JSON), e.g. events/ecs-deployment-failed.json; `-` reads stdin.
    #[arg(value_name = "EVENT_FILE")]
    pub file: PathBuf,

    /// Act as the Lambda would (roll back, tag, notify) instead of a dry run.
    #[arg(long)]
    pub execute: bool,
}

/// A revision named on the command line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RevisionArg {
    /// `family:revision` or a task-definition ARN.
    Name(String),
    /// A revision number of the service's current family.
    Number(i32),
}

impl RevisionArg {
    /// The name the decision core gets: a bare number takes the family of `current`.
    pub fn resolve(&self, current: &str) -> Option<String> {
        match self {
            RevisionArg::Name(n) => Some(n.clone()),
            RevisionArg::Number(n) => {
                split_task_definition(current).map(|(family, _)| format!("{family}:{n}"))
            }
        }
    }
}

pub fn parse_revision(s: &str) -> Result<RevisionArg, String> {
    let s = s.trim();
    if let Ok(n) = s.parse::<i32>() {
        return if n >= 1 {
            Ok(RevisionArg::Number(n))
        } else {
            Err(format!("{s:?} is not a revision number (1 or more)"))
        };
    }
    match split_task_definition(s) {
        Some(_) => Ok(RevisionArg::Name(s.to_string())),
        None => Err(format!(
            "{s:?} is not `family:revision`, a task-definition ARN or a revision number"
        )),
    }
}

/// `90`, `90s`, `15m`, `1h`, `500ms`.
pub fn parse_duration(s: &str) -> Result<Duration, String> {
    let s = s.trim();
    let split = s
        .find(|c: char| !c.is_ascii_digit() && c != '.')
        .unwrap_or(s.len());
    let (number, unit) = s.split_at(split);
    let value: f64 = number
        .parse()
        .map_err(|_| format!("{s:?} is not a duration (e.g. 90s, 15m, 1h)"))?;
    let seconds = match unit {
        "" | "s" => value,
        "ms" => value / 1000.0,
        "m" | "min" => value * 60.0,
        "h" => value * 3600.0,
        _ => return Err(format!("{s:?}: unknown unit {unit:?} (use ms, s, m or h)")),
    };
    if !seconds.is_finite() || seconds <= 0.0 || seconds > 86_400.0 {
        return Err(format!("{s:?} is not between 1ms and 24h"));
    }
    Ok(Duration::from_secs_f64(seconds))
}

fn parse_poll_interval(s: &str) -> Result<Duration, String> {
    let d = parse_duration(s)?;
    if d < Duration::from_millis(100) {
        return Err(format!("{s:?} is shorter than 100ms"));
    }
    Ok(d)
}
