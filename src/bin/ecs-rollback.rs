//! The `ecs-rollback` CLI: wiring only (src/cli). clap handles `--help`, `--version` and usage
//! errors (exit 2); everything else returns the documented exit code.

use clap::Parser;

fn main() -> std::process::ExitCode {
    ecs_rollback::cli::main(ecs_rollback::cli::Cli::parse())
}
