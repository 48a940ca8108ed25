//! The `ecs-rollback` command line: the manual path — a service's history, a
//! rollback, an interactive dialog, a deploy helper — and a replay of the responder's decision
//! for an event file.
//!
//! Same brain as the Lambda: every rollback is decided by [`crate::handler::decide_loaded`], i.e.
//! by [`crate::decision::decide`], with a [`crate::model::Cause::Manual`] trigger, and carried out
//! by [`crate::handler::act`]; replay goes through [`crate::handler::handle`]. The CLI adds its own
//! refusals (`guard`: another family, a repeated rollback), reading for display (`diff`,
//! `status`), prompts, rendering, the ledger by hand (`mark`) and waiting (`follow`; `wait`
//! follows one named deployment to its end, `verdict` says what its state means).

mod args;
mod context;
mod deploy;
mod dialog;
mod diff;
mod error;
mod follow;
mod git;
mod guard;
mod interrupt;
mod mark;
mod output;
mod pause;
mod plan;
mod replay;
mod revisions;
mod rollback;
mod status;
mod verdict;
mod wait;
mod watch;

use std::process::ExitCode;

pub use args::*;
pub use error::{CliError, Code};

pub use context::Ctx;

/// Run a parsed command line; returns the process exit code (errors already printed).
pub fn main(cli: Cli) -> ExitCode {
    init_logging(cli.verbose);
    crate::metrics::set_enabled(false);
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => return fail(&CliError::new(Code::Aws, format!("cannot start: {e}"))),
    };
    match runtime.block_on(run(cli)) {
        Ok(code) => ExitCode::from(code as u8),
        Err(e) => fail(&e),
    }
}

fn fail(e: &CliError) -> ExitCode {
    output::note(e.render().trim_end());
    ExitCode::from(e.code as u8)
}

/// Connect, then run the command.
pub async fn run(cli: Cli) -> Result<Code, CliError> {
    if let Command::Dialog(_) = &cli.command {
        dialog::check_terminal()?;
    }
    let sdk = context::sdk_config(&cli.aws).await?;
    let ctx = Ctx {
        sdk,
        format: cli.output,
        git: git::Git::new(cli.git_repo.clone()),
    };
    match &cli.command {
        Command::Status(a) => status::run(&ctx, a).await,
        Command::Rollback(a) => rollback::run(&ctx, a).await,
        Command::Dialog(a) => dialog::run(&ctx, a).await,
        Command::Deploy(a) => deploy::run(&ctx, a).await,
        Command::Diff(a) => diff::run(&ctx, a).await,
        Command::Mark(a) => mark::run(&ctx, a).await,
        Command::Wait(a) => wait::run(&ctx, a).await,
        Command::Replay(a) => replay::run(&ctx, a).await,
        Command::Continue(a) => pause::run(&ctx, a).await,
    }
}

/// Logs go to stderr, plain text, `warn` by default (`info` with `-v`; `RUST_LOG` overrides).
/// The handler's one-line decision log is left out unless `-v`: the CLI prints the decision itself.
fn init_logging(verbose: bool) {
    use tracing_subscriber::layer::SubscriberExt;
    use tracing_subscriber::util::SubscriberInitExt;
    use tracing_subscriber::Layer;

    // The SDK's own warnings (IMDS probes, missing config files) are noise for a CLI.
    let default = if verbose {
        "warn,ecs_rollback=info"
    } else {
        "off,ecs_rollback=warn"
    };
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default));
    let decision_lines = tracing_subscriber::filter::filter_fn(move |meta| {
        verbose || !(meta.is_event() && meta.fields().field("trigger").is_some())
    });
    let layer = tracing_subscriber::fmt::layer()
        .with_writer(std::io::stderr)
        .without_time()
        .with_target(false)
        .compact()
        .with_filter(filter)
        .with_filter(decision_lines);
    let _ = tracing_subscriber::registry().with(layer).try_init();
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::{CommandFactory, Parser};
    use std::time::Duration;

    fn parse(args: &[&str]) -> Result<Cli, clap::Error> {
        Cli::try_parse_from(std::iter::once("ecs-rollback").chain(args.iter().copied()))
    }

    #[test]
    fn deploy_declares_the_schema_given_or_printed_and_refuses_an_unreadable_one() {
        let declared = |args: &[&str]| {
            let mut all = vec!["deploy", "-c", "demo", "-s", "web"];
            all.extend_from_slice(args);
            match parse(&all).unwrap().command {
                Command::Deploy(d) => crate::cli::deploy::declared_schema(&d),
                other => panic!("{other:?}"),
            }
        };
        assert_eq!(declared(&[]).unwrap(), None);
        assert_eq!(declared(&["--schema", "6"]).unwrap().as_deref(), Some("6"));
        assert_eq!(
            declared(&["--schema", "5..6"]).unwrap().as_deref(),
            Some("5..6")
        );
        let e = declared(&["--schema", "7..5"]).unwrap_err();
        assert!(
            e.message.contains("--schema") && e.message.contains("above its last"),
            "{}",
            e.message
        );
        let printed = declared(&["--schema-command", "echo migrating; echo ' 42 '; echo"]).unwrap();
        assert_eq!(printed.as_deref(), Some("42"));
        let failed = declared(&["--schema-command", "exit 3"]).unwrap_err();
        assert!(
            failed.message.contains("nothing was deployed"),
            "{}",
            failed.message
        );
        assert!(parse(&[
            "deploy",
            "-c",
            "d",
            "-s",
            "w",
            "--schema",
            "1",
            "--schema-command",
            "x"
        ])
        .is_err());
    }

    #[test]
    fn the_command_line_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn rollback_parses_with_global_aws_options_anywhere() {
        let cli = parse(&[
            "rollback",
            "-c",
            "demo",
            "-s",
            "hello-world",
            "--to",
            "hello-world:2",
            "--dry-run",
            "--profile",
            "prod",
            "--region",
            "eu-west-1",
            "-o",
            "json",
        ])
        .unwrap();
        assert_eq!(cli.aws.profile.as_deref(), Some("prod"));
        assert_eq!(cli.aws.region.as_deref(), Some("eu-west-1"));
        assert_eq!(cli.output, Format::Json);
        let Command::Rollback(r) = cli.command else {
            panic!("rollback")
        };
        assert_eq!(r.target.cluster, "demo");
        assert_eq!(r.target.service, "hello-world");
        assert_eq!(r.to, Some(RevisionArg::Name("hello-world:2".into())));
        assert!(r.dry_run && r.wait.waits(), "rollback waits by default");
        assert_eq!(r.wait.timing.wait_timeout, Duration::from_secs(1800));
        assert_eq!(r.wait.timing.poll_interval, Duration::from_secs(6));
    }

    #[test]
    fn revisions_durations_and_aliases_parse() {
        let cli = parse(&[
            "--region",
            "us-east-1",
            "rollback",
            "-c",
            "d",
            "-s",
            "s",
            "--to",
            "7",
            "--wait",
            "--wait-timeout",
            "15m",
            "--poll-interval",
            "500ms",
        ])
        .unwrap();
        let Command::Rollback(r) = cli.command else {
            panic!("rollback")
        };
        assert_eq!(r.to, Some(RevisionArg::Number(7)));
        assert_eq!(
            r.to.unwrap()
                .resolve("arn:aws:ecs:us-east-1:123456789012:task-definition/web:9"),
            Some("web:7".into())
        );
        assert!(r.wait.waits());
        assert_eq!(r.wait.timing.wait_timeout, Duration::from_secs(900));
        assert_eq!(r.wait.timing.poll_interval, Duration::from_millis(500));
        let cli = parse(&[
            "rollback",
            "-c",
            "d",
            "-s",
            "s",
            "--no-wait",
            "--force",
            "--allow-other-family",
        ])
        .unwrap();
        let Command::Rollback(r) = cli.command else {
            panic!("rollback")
        };
        assert!(!r.wait.waits() && r.force && r.allow_other_family);
        assert!(parse(&["rollback", "-c", "d", "-s", "s", "--no-wait", "--wait"]).is_err());
        let cli = parse(&["diff", "3", "hello-world:2", "-c", "d", "-s", "s"]).unwrap();
        assert!(matches!(
            cli.command,
            Command::Diff(DiffArgs {
                from: RevisionArg::Number(3),
                ..
            })
        ));
        let cli = parse(&["mark", "hello-world:2", "bad"]).unwrap();
        assert!(matches!(
            cli.command,
            Command::Mark(MarkArgs {
                mark: MarkAs::Bad,
                ..
            })
        ));
        let cli = parse(&["status", "-c", "d", "-s", "s", "--events", "0", "--wait"]).unwrap();
        assert!(matches!(
            cli.command,
            Command::Status(StatusArgs {
                events: 0,
                wait: true,
                ..
            })
        ));
        let cli = parse(&["history", "-c", "d", "-s", "s", "-n", "3"]).unwrap();
        assert!(matches!(
            cli.command,
            Command::Status(StatusArgs { limit: 3, .. })
        ));
        let cli = parse(&["replay", "events/ecs-deployment-failed.json", "--execute"]).unwrap();
        assert!(matches!(
            cli.command,
            Command::Replay(ReplayArgs { execute: true, .. })
        ));
        let cli = parse(&[
            "deploy", "-c", "d", "-s", "s", "--image", "repo/app", "--force",
        ])
        .unwrap();
        assert!(matches!(
            cli.command,
            Command::Deploy(DeployArgs { force: true, .. })
        ));
    }

    #[test]
    fn bad_command_lines_are_usage_errors() {
        let cases: &[(&[&str], &str)] = &[
            (&["rollback", "-s", "x"], "--cluster"),
            (
                &["rollback", "-c", "d", "-s", "s", "--to", "latest"],
                "not `family:revision`",
            ),
            (
                &["rollback", "-c", "d", "-s", "s", "--to", "0"],
                "not a revision number",
            ),
            (
                &["rollback", "-c", "d", "-s", "s", "--wait-timeout", "soon"],
                "not a duration",
            ),
            (
                &["rollback", "-c", "d", "-s", "s", "--poll-interval", "10ms"],
                "shorter than 100ms",
            ),
            (&["status", "-c", "d", "-s", "s", "-n", "0"], "1..=100"),
            (&["status", "-c", "d", "-s", "s", "-o", "yaml"], "yaml"),
            (&["mark", "hello-world:2", "good"], "good"),
            (&["diff", "hello-world:2"], "TO"),
            (&["frobnicate"], "frobnicate"),
        ];
        for (args, says) in cases {
            let e = parse(args).unwrap_err();
            assert_eq!(e.exit_code(), 2, "{args:?}");
            assert!(e.to_string().contains(says), "{args:?}: {e}");
        }
    }

    #[test]
    fn help_documents_exit_codes_and_the_opt_in_rule() {
        let help = Cli::command().render_long_help().to_string();
        for code in [
            "0  done",
            "1  AWS",
            "2  usage",
            "3  nothing to do",
            "4  waiting: the deployment failed",
            "5  waiting",
            "6  wait, deploy --wait: ECS rolled",
            "7  wait, deploy --wait: ecs-rollback rolled",
            "8  wait, deploy --wait: another deployment superseded",
        ] {
            assert!(help.contains(code), "{code}: {help}");
        }
        assert!(EXIT_CODES.contains("3  nothing to do"));
        let mut cmd = Cli::command();
        cmd.build();
        let rollback = cmd.find_subcommand_mut("rollback").unwrap();
        let help = rollback.render_long_help().to_string();
        assert!(help.contains("does not require the opt-in tag"), "{help}");
        assert!(help.contains("Exit codes:"), "{help}");
        assert!(
            help.contains("--no-wait") && help.contains("--allow-other-family"),
            "{help}"
        );
        // Global options are listed apart from the command's own.
        let global = help
            .find("Global options:")
            .expect("a Global options heading");
        assert!(help.find("--profile").unwrap() > global, "{help}");
        assert!(help.find("--to <REVISION>").unwrap() < global, "{help}");
        assert!(help.contains("ECS_ROLLBACK_CLUSTER"), "{help}");
        // wait: examples first, then the exit codes; what each ending means.
        let wait = cmd.find_subcommand_mut("wait").unwrap();
        let help = wait.render_long_help().to_string();
        let examples = help.find("Examples:\n  ecs-rollback wait arn:aws:ecs:");
        let codes = help.find("Exit codes:");
        assert!(
            matches!((examples, codes), (Some(e), Some(c)) if e < c),
            "{help}"
        );
        let flat = help.split_whitespace().collect::<Vec<_>>().join(" ");
        for want in [
            "never whatever is PRIMARY",
            "rolled back by ecs-rollback (7",
            "superseded by another deployment (8",
            "GITHUB_STEP_SUMMARY",
            "--timeout <DURATION>",
        ] {
            assert!(flat.contains(want), "{want}: {help}");
        }
    }

    #[test]
    fn every_subcommand_has_examples_and_cites_only_the_project() {
        let mut cmd = Cli::command();
        cmd.build();
        let names: Vec<String> = cmd
            .get_subcommands()
            .map(|c| c.get_name().to_string())
            .filter(|n| n != "help")
            .collect();
        assert!(names.len() >= 8, "{names:?}");
        for name in names {
            let sub = cmd.find_subcommand_mut(&name).unwrap();
            let help = sub.render_long_help().to_string();
            assert!(
                help.contains(&format!("Examples:\n  ecs-rollback {name}")),
                "{name}: {help}"
            );
            assert!(!help.to_lowercase().contains("article"), "{name}: {help}");
        }
    }

    #[test]
    fn deploy_takes_no_wait_as_rollback_does() {
        let deploy = |extra: &[&str]| {
            let mut args = vec!["deploy", "-c", "d", "-s", "s"];
            args.extend_from_slice(extra);
            parse(&args).map(|cli| match cli.command {
                Command::Deploy(d) => d.wait.waits(),
                _ => panic!("deploy"),
            })
        };
        assert!(!deploy(&[]).unwrap(), "deploy does not wait by default");
        assert!(!deploy(&["--no-wait"]).unwrap());
        assert!(deploy(&["--wait"]).unwrap());
        assert!(deploy(&["--wait", "--no-wait"]).is_err());
    }

    #[test]
    fn wait_takes_one_deployment_and_a_timeout() {
        let cli = parse(&[
            "wait",
            "ecs-svc/42",
            "-c",
            "demo",
            "-s",
            "web",
            "--timeout",
            "45m",
            "--poll-interval",
            "2s",
        ])
        .unwrap();
        let Command::Wait(w) = cli.command else {
            panic!("wait")
        };
        assert_eq!(w.deployment, "ecs-svc/42");
        assert_eq!(w.target.cluster.as_deref(), Some("demo"));
        assert_eq!(w.timeout, Duration::from_secs(2700));
        assert_eq!(w.poll_interval, Duration::from_secs(2));
        let cli = parse(&["wait", "arn:x", "--wait-timeout", "90s"]).unwrap();
        let Command::Wait(w) = cli.command else {
            panic!("wait")
        };
        assert_eq!(
            w.timeout,
            Duration::from_secs(90),
            "the alias of deploy's flag"
        );
        assert!(parse(&["wait"]).is_err(), "DEPLOYMENT is required");
    }
}
