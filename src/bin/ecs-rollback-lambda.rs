//! The Lambda: wiring only. cargo-lambda packages it as `bootstrap`.

use ecs_rollback::config::Config;
use ecs_rollback::handler::{self, Deps, Invocation};
use ecs_rollback::runtime;
use lambda_runtime::{service_fn, LambdaEvent};
use serde_json::Value;
use tokio::sync::OnceCell;

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), lambda_runtime::Error> {
    runtime::init_logging();
    // Invalid settings fail the init phase, before any event is accepted.
    let config = Config::from_lookup(|k| std::env::var(k).ok())?;
    // The SDK configuration and clients are built on the first event, once per sandbox: measured
    // by benches/perf, building them during init tripled the time to the first poll of the
    // runtime API while the first response took as long either way (see docs/src/performance.md).
    let deps: OnceCell<Deps> = OnceCell::new();
    let (deps, config) = (&deps, &config);
    lambda_runtime::run(service_fn(move |event: LambdaEvent<Value>| async move {
        let deps = deps
            .get_or_init(|| async { runtime::deps(&runtime::sdk_config().await, config.clone()) })
            .await;
        let invocation = Invocation {
            function_arn: Some(event.context.invoked_function_arn.clone()),
            deadline: Invocation::deadline_from_epoch_ms(event.context.deadline),
        };
        handler::handle(deps, event.payload, &invocation, chrono::Utc::now()).await
    }))
    .await
}
