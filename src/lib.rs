//! ecs-rollback: rolls an Amazon ECS service back to its last stable task-definition revision
//! when a deployment fails or a CloudWatch alarm fires.
//!
//! Layers: [`event`] parses payloads into domain types, [`decision`] is the pure
//! core (with [`incident`], its rules across a whole incident), [`aws`] holds the thin SDK
//! adapters, [`handler`] orchestrates one invocation.

pub mod aws;
pub mod canary;
pub mod cli;
pub mod config;
pub mod deadline;
pub mod decision;
pub mod error;
pub mod event;
pub mod faults;
pub mod gate;
pub mod handler;
pub mod incident;
pub mod metrics;
pub mod model;
pub mod notify;
pub mod runtime;
