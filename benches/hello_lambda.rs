//! The baseline for cold-start measurements: a bare `lambda_runtime` hello-world built with the
//! same release profile as `ecs-rollback-lambda` (`cargo build --release --features bench-bins
//! --bin hello-lambda`). `benches/perf` compares the two.

use lambda_runtime::{service_fn, Error, LambdaEvent};
use serde_json::{json, Value};

#[tokio::main]
async fn main() -> Result<(), Error> {
    lambda_runtime::run(service_fn(|event: LambdaEvent<Value>| async move {
        Ok::<Value, Error>(json!({"hello": event.payload}))
    }))
    .await
}
