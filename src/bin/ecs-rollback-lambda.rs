//! The Lambda: wiring only. cargo-lambda packages it as `bootstrap`.

use ecs_rollback::config::Config;
use ecs_rollback::handler::{self, Invocation};
use ecs_rollback::runtime;
use lambda_runtime::{service_fn, LambdaEvent};
use serde_json::Value;

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    runtime::init_logging();
    let config = Config::from_lookup(|k| std::env::var(k).ok())?;
    let sdk = runtime::sdk_config().await;
    let deps = runtime::deps(&sdk, config);
    let deps = &deps;
    lambda_runtime::run(service_fn(move |event: LambdaEvent<Value>| async move {
        let invocation = Invocation {
            function_arn: Some(event.context.invoked_function_arn.clone()),
        };
        handler::handle(deps, event.payload, &invocation, chrono::Utc::now()).await
    }))
    .await
}
