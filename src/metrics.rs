//! CloudWatch metrics in Embedded Metric Format: one JSON line on stdout per decision, which
//! CloudWatch Logs turns into metrics with no API call (namespace `EcsRollback`).

use serde_json::{json, Value};

use crate::aws::clients::Place;

pub const NAMESPACE: &str = "EcsRollback";

/// The EMF document for one decision. `skip` is the skip reason code, `latency_ms` the time
/// from the first AWS read to the decision.
pub fn document(
    action: &str,
    skip: Option<&str>,
    latency_ms: Option<f64>,
    timestamp_ms: i64,
) -> Value {
    let count = |wanted: &str| if action == wanted { 1 } else { 0 };
    let mut metrics = vec![
        json!({"Name": "Rollbacks", "Unit": "Count"}),
        json!({"Name": "DryRuns", "Unit": "Count"}),
        json!({"Name": "Recorded", "Unit": "Count"}),
        json!({"Name": "Skips", "Unit": "Count"}),
    ];
    let mut doc = json!({
        "_aws": {
            "Timestamp": timestamp_ms,
            "CloudWatchMetrics": [{
                "Namespace": NAMESPACE,
                "Dimensions": [["Action"], ["Action", "Reason"]],
                "Metrics": []
            }]
        },
        "Action": action,
        "Reason": skip.unwrap_or("none"),
        "Rollbacks": count("rolled_back"),
        "DryRuns": count("dry_run"),
        "Recorded": count("recorded"),
        "Skips": count("skipped"),
    });
    if let Some(ms) = latency_ms {
        metrics.push(json!({"Name": "DecisionLatency", "Unit": "Milliseconds"}));
        doc["DecisionLatency"] = json!((ms * 1000.0).round() / 1000.0);
    }
    doc["_aws"]["CloudWatchMetrics"][0]["Metrics"] = Value::Array(metrics);
    doc
}

static ENABLED: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(true);

/// Turn the EMF lines on or off for this process (on by default). The CLI turns them off: its
/// stdout is for people and for `--output json`, and no CloudWatch Logs reads it.
pub fn set_enabled(on: bool) {
    ENABLED.store(on, std::sync::atomic::Ordering::Relaxed);
}

/// Name the account and region the decision was about: properties `Account` and `Region`, and
/// one more dimension set `[Account, Region]` (so a dashboard can chart rollbacks per member
/// account and region; CloudWatch bills a custom metric per dimension combination that
/// receives data in a month: 5 metrics per (account, region) that had a decision).
pub fn with_place(mut doc: Value, place: &Place) -> Value {
    doc["Account"] = json!(place.account);
    doc["Region"] = json!(place.region);
    if let Some(dims) = doc["_aws"]["CloudWatchMetrics"][0]["Dimensions"].as_array_mut() {
        dims.push(json!(["Account", "Region"]));
    }
    doc
}

/// Print the EMF line for one decision (with the current place, when the handler set one).
pub fn emit(action: &str, skip: Option<&str>, latency_ms: Option<f64>) {
    if !ENABLED.load(std::sync::atomic::Ordering::Relaxed) {
        return;
    }
    let mut doc = document(
        action,
        skip,
        latency_ms,
        chrono::Utc::now().timestamp_millis(),
    );
    if let Some(place) = crate::aws::clients::current() {
        doc = with_place(doc, &place);
    }
    println!("{doc}");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn emf_document_declares_every_metric_it_carries() {
        let doc = document("skipped", Some("cooldown"), Some(12.5), 1_700_000_000_000);
        let declared = doc["_aws"]["CloudWatchMetrics"][0]["Metrics"]
            .as_array()
            .unwrap();
        for m in declared {
            let name = m["Name"].as_str().unwrap();
            assert!(doc.get(name).is_some(), "{name} declared but missing");
        }
        assert_eq!(doc["Skips"], 1);
        assert_eq!(doc["Rollbacks"], 0);
        assert_eq!(doc["Reason"], "cooldown");
        assert_eq!(doc["DecisionLatency"], 12.5);
        for dims in doc["_aws"]["CloudWatchMetrics"][0]["Dimensions"]
            .as_array()
            .unwrap()
        {
            for d in dims.as_array().unwrap() {
                assert!(doc.get(d.as_str().unwrap()).is_some());
            }
        }
        let doc = document("rolled_back", None, None, 0);
        assert_eq!(doc["Rollbacks"], 1);
        assert!(doc.get("DecisionLatency").is_none());
    }

    #[test]
    fn the_place_is_a_property_and_a_dimension_set() {
        let place = Place {
            account: "222222222222".into(),
            region: "eu-west-1".into(),
        };
        let doc = with_place(document("rolled_back", None, None, 0), &place);
        assert_eq!(doc["Account"], "222222222222");
        assert_eq!(doc["Region"], "eu-west-1");
        let dims = doc["_aws"]["CloudWatchMetrics"][0]["Dimensions"]
            .as_array()
            .unwrap();
        assert!(dims.contains(&json!(["Account", "Region"])));
        for set in dims {
            for d in set.as_array().unwrap() {
                assert!(
                    doc.get(d.as_str().unwrap()).is_some(),
                    "{d} declared but missing"
                );
            }
        }
    }
}
