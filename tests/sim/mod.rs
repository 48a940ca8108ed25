//! An incident simulator for the responder: a modelled ECS + CloudWatch account answering the
//! production handler through aws-smithy-mocks, a driver that plays incidents through it, and
//! the invariants every incident must keep.
#![allow(dead_code)]

pub mod driver;
pub mod events;
pub mod gen;
pub mod mocks;
pub mod world;

pub use driver::*;
