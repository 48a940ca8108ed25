//! Hostile and broken input: event parsing never panics, whatever the JSON; huge and deeply
//! nested payloads are rejected cleanly; ARNs of other partitions, accounts and regions and tag
//! values at their limits are handled.

use ecs_rollback::event::{self, Event};
use proptest::prelude::*;
use serde_json::{json, Value};

fn fixture(name: &str) -> Value {
    let path = format!("{}/events/{name}", env!("CARGO_MANIFEST_DIR"));
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

const FIXTURES: &[&str] = &[
    "ecs-deployment-failed.json",
    "ecs-deployment-completed.json",
    "cloudwatch-alarm-metric.json",
    "cloudwatch-alarm-metric-math.json",
    "cloudwatch-alarm-composite.json",
    "direct-invoke-to-revision.json",
    "ecs-task-stopped-essential-exited.json",
    "ecs-service-action-task-start-impaired.json",
];

/// Any JSON value, a few levels deep, with keys that real events use so that the parser's
/// paths are exercised, not only its first check.
fn any_json() -> impl Strategy<Value = Value> {
    let keys = prop::sample::select(vec![
        "detail-type",
        "source",
        "resources",
        "detail",
        "account",
        "region",
        "cluster",
        "service",
        "eventName",
        "deploymentId",
        "alarmName",
        "state",
        "value",
        "configuration",
        "metrics",
        "metricStat",
        "metric",
        "dimensions",
        "alarmRule",
        "reasonData",
        "group",
        "stopCode",
        "lastStatus",
        "clusterArn",
        "startedBy",
        "toTaskDefinition",
        "dryRun",
        "x",
    ]);
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(|n| json!(n)),
        any::<f64>().prop_map(|f| json!(f)),
        ".{0,40}".prop_map(Value::String),
        prop::sample::select(vec![
            "ECS Deployment State Change",
            "CloudWatch Alarm State Change",
            "ECS Task State Change",
            "ECS Service Action",
            "aws.ecs",
            "aws.cloudwatch",
            "SERVICE_DEPLOYMENT_FAILED",
            "ALARM",
            "STOPPED",
            "EssentialContainerExited",
            "service:x",
            "ecs-svc/1",
            "arn:aws:ecs:eu-west-1:123456789012:service/demo/x",
            "arn:aws-cn:ecs:cn-north-1:123456789012:service/a/b",
            "arn:aws:ecs:eu-west-1:123456789012:cluster/demo",
            "hello-world:3",
            "ALARM(\"x\")",
        ])
        .prop_map(|s| Value::String(s.to_string())),
    ];
    leaf.prop_recursive(5, 64, 8, move |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
            prop::collection::vec((keys.clone(), inner), 0..8).prop_map(|kv| Value::Object(
                kv.into_iter().map(|(k, v)| (k.to_string(), v)).collect()
            )),
        ]
    })
}

/// A real fixture with one value somewhere replaced.
fn mutated_fixture() -> impl Strategy<Value = Value> {
    (prop::sample::select(FIXTURES), any::<u64>(), any_json()).prop_map(
        |(name, pick, replacement)| {
            let mut v = fixture(name);
            let mut paths = Vec::new();
            collect_paths(&v, &mut Vec::new(), &mut paths);
            let path = &paths[(pick as usize) % paths.len()];
            *pointer_mut(&mut v, path) = replacement;
            v
        },
    )
}

fn collect_paths(v: &Value, at: &mut Vec<String>, out: &mut Vec<Vec<String>>) {
    out.push(at.clone());
    match v {
        Value::Object(m) => {
            for (k, child) in m {
                at.push(k.clone());
                collect_paths(child, at, out);
                at.pop();
            }
        }
        Value::Array(a) => {
            for (i, child) in a.iter().enumerate() {
                at.push(i.to_string());
                collect_paths(child, at, out);
                at.pop();
            }
        }
        _ => {}
    }
}

fn pointer_mut<'a>(v: &'a mut Value, path: &[String]) -> &'a mut Value {
    path.iter().fold(v, |v, key| match v {
        Value::Object(m) => m.get_mut(key).unwrap(),
        Value::Array(a) => &mut a[key.parse::<usize>().unwrap()],
        _ => unreachable!(),
    })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 2000, ..ProptestConfig::default() })]

    #[test]
    fn parsing_any_json_never_panics(v in any_json()) {
        if let Err(e) = event::parse(v) {
            let msg = e.to_string();
            prop_assert!(!msg.is_empty() && !msg.contains('\n'), "one line: {msg}");
        }
    }

    #[test]
    fn parsing_mutated_real_events_never_panics(v in mutated_fixture()) {
        let _ = event::parse(v);
    }

    #[test]
    fn parsing_any_bytes_never_panics(bytes in prop::collection::vec(any::<u8>(), 0..512)) {
        let _ = event::parse_bytes(&bytes);
    }
}

#[test]
fn huge_payloads_are_rejected_cleanly() {
    let mut e = fixture("ecs-deployment-failed.json");
    e["detail"]["reason"] = json!("x".repeat(300 * 1024));
    let err = event::parse_bytes(e.to_string().as_bytes()).unwrap_err();
    assert!(err.to_string().contains("256 KiB"), "{err}");
}

#[test]
fn deeply_nested_payloads_are_rejected_cleanly() {
    for depth in [200, 100_000] {
        let text = format!("{}1{}", "[".repeat(depth), "]".repeat(depth));
        let err = event::parse_bytes(text.as_bytes()).unwrap_err();
        assert!(
            err.to_string().contains("JSON") || err.to_string().contains("256 KiB"),
            "{err}"
        );
    }
    // Nested inside a real event's detail: parsed (the recursion limit is serde_json's 128) or a clean error.
    let mut e = fixture("cloudwatch-alarm-metric.json");
    let mut nested = json!(1);
    for _ in 0..120 {
        nested = json!({ "x": nested });
    }
    e["detail"]["configuration"]["metrics"][0]["metricStat"] = nested;
    let _ = event::parse(e);
}

#[test]
fn arns_of_other_partitions_accounts_and_regions_parse_with_their_origin() {
    let cases = [
        (
            "arn:aws-cn:ecs:cn-north-1:123456789012:service/demo/hello-world",
            "cn-north-1",
        ),
        (
            "arn:aws-us-gov:ecs:us-gov-west-1:123456789012:service/demo/hello-world",
            "us-gov-west-1",
        ),
        (
            "arn:aws:ecs:ap-southeast-2:999999999999:service/demo/hello-world",
            "ap-southeast-2",
        ),
    ];
    for (arn, region) in cases {
        let mut e = fixture("ecs-deployment-failed.json");
        e["resources"][0] = json!(arn);
        e.as_object_mut().unwrap().remove("region");
        e.as_object_mut().unwrap().remove("account");
        match event::parse(e).unwrap() {
            Event::Service { origin, .. } => {
                assert_eq!(origin.region.as_deref(), Some(region), "{arn}")
            }
            other => panic!("{other:?}"),
        }
    }
}

#[test]
fn tag_values_at_their_limits() {
    // ECS tag values are at most 256 characters: a service name list that long still parses.
    let services: Vec<String> = (0..25).map(|i| format!("svc-{i:05}")).collect();
    let value = services.join(" ");
    assert!(value.len() <= 256);
    let tags = [
        ("ecs-rollback:cluster", "demo"),
        ("ecs-rollback:service", value.as_str()),
    ];
    let targets = event::targets_from_tags(tags.iter().map(|(k, v)| (*k, *v)));
    assert_eq!(targets.len(), 25);
    // Empty and whitespace-only values name nothing.
    let empty = [
        ("ecs-rollback:cluster", "demo"),
        ("ecs-rollback:service", "   "),
    ];
    assert!(event::targets_from_tags(empty.iter().map(|(k, v)| (*k, *v))).is_empty());
    let no_cluster = [("ecs-rollback:cluster", ""), ("ecs-rollback:service", "a")];
    assert!(event::targets_from_tags(no_cluster.iter().map(|(k, v)| (*k, *v))).is_empty());
}
