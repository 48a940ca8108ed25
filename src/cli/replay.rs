//! `replay`: an event file through `handler::handle`, exactly as the Lambda would handle it —
//! dry run (and no notification) unless `--execute`.

use std::io::Read;

use serde_json::Value;

use super::args::{Format, ReplayArgs};
use super::context::{responder_deps, Ctx};
use super::error::{CliError, Code};
use super::output::{print, print_json};
use super::rollback::response_text;
use crate::event::MAX_PAYLOAD_BYTES;
use crate::handler::{self, Invocation, Response};

fn read_event(args: &ReplayArgs) -> Result<(String, Vec<u8>), CliError> {
    let name = args.file.display().to_string();
    let limit = MAX_PAYLOAD_BYTES as u64 + 1;
    let mut bytes = Vec::new();
    let read = if name == "-" {
        std::io::stdin().take(limit).read_to_end(&mut bytes)
    } else {
        std::fs::File::open(&args.file).and_then(|f| f.take(limit).read_to_end(&mut bytes))
    };
    read.map_err(|e| {
        CliError::usage(format!("cannot read the event file {name}: {e}"))
            .hint("give a JSON event file, e.g. events/ecs-deployment-failed.json, or - for stdin")
    })?;
    if bytes.len() > MAX_PAYLOAD_BYTES {
        return Err(CliError::usage(format!(
            "{name} is larger than the 256 KiB an event can be"
        )));
    }
    Ok((name, bytes))
}

pub async fn run(ctx: &Ctx, args: &ReplayArgs) -> Result<Code, CliError> {
    let (name, bytes) = read_event(args)?;
    let payload: Value = serde_json::from_slice(&bytes).map_err(|e| {
        CliError::usage(format!("{name} is not valid JSON: {e}"))
            .hint("an EventBridge event or a direct invocation, as in events/*.json")
    })?;
    // Bad input fails here, before any AWS call, with the Lambda's own message.
    crate::event::parse(payload.clone())
        .map_err(|e| CliError::from(crate::error::Error::from(e)))?;
    let deps = responder_deps(&ctx.sdk, args.execute)?;
    let value = handler::handle(&deps, payload, &Invocation::default(), chrono::Utc::now()).await?;
    let responses: Vec<Response> = match &value {
        Value::Array(items) => items
            .iter()
            .filter_map(|v| serde_json::from_value(v.clone()).ok())
            .collect(),
        single => serde_json::from_value(single.clone()).into_iter().collect(),
    };
    match ctx.format {
        Format::Json => print_json(&value),
        Format::Text => {
            let mode = if !args.execute {
                "dry run: nothing is changed, nothing is notified"
            } else if deps.config.policy.dry_run {
                "executed, but ROLLBACK_DRY_RUN is true: nothing is changed"
            } else {
                "executed as the Lambda would"
            };
            let mut text = format!("Replayed {name} ({mode})\n");
            for r in &responses {
                text.push_str(&response_text(r, false));
            }
            print(&text);
        }
    }
    let all_skipped = responses.iter().all(|r| r.action == "skipped");
    Ok(if all_skipped { Code::Nothing } else { Code::Ok })
}
