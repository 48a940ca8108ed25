//! Proptest strategies for incidents: services, what people and the world do, and how each
//! emitted event is delivered. Every choice shrinks towards the plain case (one service, on-time
//! delivery, fewer steps).

use proptest::prelude::*;

use super::driver::*;
use super::world::{Kind, Strategy as Deploy};

fn kind() -> impl Strategy<Value = Kind> {
    prop_oneof![
        2 => Just(Kind::Healthy),
        1 => Just(Kind::CrashAtStart),
        1 => Just(Kind::StartThenCrash),
        1 => Just(Kind::HealthCheckFail),
        2 => Just(Kind::AlarmOnly),
    ]
}

fn setup() -> impl Strategy<Value = SvcSetup> {
    (
        prop_oneof![
            3 => Just(4),
            1 => Just(1),
            1 => Just(2),
            1 => Just(10),
            1 => Just(100),
        ],
        prop_oneof![3 => Just(Deploy::Rolling), 1 => Just(Deploy::BlueGreen)],
        prop_oneof![
            2 => Just(Some((true, false))),
            1 => Just(None),
            1 => Just(Some((true, true))),
        ],
        prop_oneof![
            3 => Just(None),
            1 => Just(Some((true, false))),
            1 => Just(Some((true, true))),
        ],
        prop_oneof![3 => Just(true), 1 => Just(false)],
        any::<bool>(),
        prop_oneof![3 => Just(false), 1 => Just(true)],
        prop_oneof![Just(10i64), Just(5), Just(30)],
    )
        .prop_map(
            |(desired, strategy, breaker, alarms, tagged, mutable, dereg, bake)| SvcSetup {
                desired,
                strategy,
                bake_minutes: bake,
                breaker,
                deployment_alarms: alarms,
                alarm_tagged: tagged,
                breaker_count: None,
                mutable_tag: mutable,
                deregister_previous: dereg,
            },
        )
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        4 => (0..2usize, prop_oneof![4 => Just(Change::Image), 1 => Just(Change::RePush), 1 => Just(Change::Config), 1 => Just(Change::Migration)], kind())
            .prop_map(|(svc, change, kind)| Op::Deploy { svc, change, kind }),
        5 => (1..40i64).prop_map(Op::Advance),
        1 => (0..2usize, 3..20i64, 1..20i64, 1..4u32)
            .prop_map(|(svc, on, off, cycles)| Op::Flap { svc, on, off, cycles }),
        1 => (0..2usize).prop_map(|svc| Op::Fix { svc }),
        1 => (0..2usize).prop_map(|svc| Op::CliRollback { svc }),
        1 => (1..5u32).prop_map(Op::Kill),
        1 => (0..READ_OPS.len(), 1..3u32).prop_map(|(op, n)| Op::Throttle { op, n }),
    ]
}

fn delivery() -> impl Strategy<Value = Delivery> {
    prop_oneof![
        12 => Just(Delivery::OnTime),
        2 => Just(Delivery::Duplicate),
        2 => (1..3i64).prop_map(Delivery::Late),
        1 => (1..7i64).prop_map(Delivery::Hours),
        1 => (7..49i64).prop_map(Delivery::Redrive),
        1 => Just(Delivery::Lost),
    ]
}

pub fn scenario() -> impl Strategy<Value = Scenario> {
    (
        prop::collection::vec(setup(), 1..=2),
        // An incident starts with a deployment.
        (0..2usize, kind()),
        prop::collection::vec(op(), 1..10),
        prop::collection::vec(delivery(), 0..24),
    )
        .prop_map(|(services, (svc, kind), mut ops, deliveries)| {
            ops.insert(
                0,
                Op::Deploy {
                    svc,
                    change: Change::Image,
                    kind,
                },
            );
            Scenario {
                services,
                ops,
                deliveries,
            }
        })
}
