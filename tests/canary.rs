//! The canary analysis's method on synthetic traffic: how often it fails identical revisions (the
//! false-positive rate), how soon it fails a worse one (detection), and that low traffic is
//! inconclusive rather than failed.
//!
//! Each draw is one deployment stage: a random service (traffic, share of the new revision, 5xx
//! ratio, latency and its spread), per-minute traffic that varies over time for both revisions
//! alike, per-minute 5xx ratios that vary over time (for both alike) and per revision (their own
//! noise), and per-minute average response times. The old revision also has the 15 minutes
//! before the stage. The gate looks again every minute of the stage, so every minute's verdict
//! counts: a draw fails if any look says `Worse`.
//!
//! `CANARY_DRAWS=n` changes the number of identical-revision draws (default 10,000);
//! `cargo test --test canary figures -- --ignored --nocapture` prints the detection table the
//! book quotes.

use chrono::{Duration, TimeZone, Utc};
use ecs_rollback::canary::{analyse, Minute, Outcome, Params};
use rand::rngs::StdRng;
use rand::{RngExt, SeedableRng};
use rand_distr::{Binomial, Distribution, Gamma, Poisson};

/// Minutes of one stage, and of the old revision's history before it.
const STAGE_MINUTES: usize = 10;
const LOOKBACK_MINUTES: usize = 15;

#[derive(Clone, Copy, Debug)]
struct Service {
    /// Requests per minute to both revisions together.
    rpm: f64,
    /// The new revision's share of the traffic.
    share: f64,
    /// The old revision's 5xx ratio.
    ratio: f64,
    /// The old revision's mean response time (seconds) and per-request coefficient of variation.
    latency: f64,
    latency_cv: f64,
}

#[derive(Clone, Copy, Debug)]
struct Change {
    ratio_factor: f64,
    latency_factor: f64,
}

const SAME: Change = Change {
    ratio_factor: 1.0,
    latency_factor: 1.0,
};

fn at(i: i64) -> chrono::DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 12, 1, 12, 0, 0).unwrap() + Duration::minutes(i)
}

fn log_uniform(rng: &mut StdRng, lo: f64, hi: f64) -> f64 {
    (rng.random_range(lo.ln()..hi.ln())).exp()
}

/// One minute of one revision's target group.
fn minute(
    rng: &mut StdRng,
    t: i64,
    requests_mean: f64,
    ratio: f64,
    latency: f64,
    cv: f64,
) -> Minute {
    let requests = if requests_mean > 0.0 {
        Poisson::new(requests_mean).unwrap().sample(rng)
    } else {
        0.0
    };
    // The revision's own minute-to-minute noise on its 5xx ratio (coefficient of variation 0.15).
    let own = Gamma::new(44.0, 1.0 / 44.0).unwrap().sample(rng);
    let p = (ratio * own).clamp(0.0, 1.0);
    let errors = if requests > 0.0 {
        Binomial::new(requests as u64, p).unwrap().sample(rng) as f64
    } else {
        0.0
    };
    // The mean of `requests` response times with coefficient of variation `cv`: a gamma with the
    // same mean and variance (it keeps the skew of heavy-tailed response times).
    let latency = (requests > 0.0).then(|| {
        let shape = requests / (cv * cv);
        Gamma::new(shape, latency / shape).unwrap().sample(rng)
    });
    Minute {
        at: at(t),
        requests,
        errors,
        latency,
    }
}

/// One stage: the old revision's history, then both revisions minute by minute. Answers the
/// minute of the first `Worse` look (1-based), if any, and the last look's outcome.
fn stage(
    rng: &mut StdRng,
    s: Service,
    change: Change,
    params: &Params,
) -> (Option<usize>, Outcome) {
    let mut green = Vec::new();
    let mut blue = Vec::new();
    let traffic = Gamma::new(20.0, 1.0 / 20.0).unwrap();
    let shared = Gamma::new(25.0, 1.0 / 25.0).unwrap();
    for t in 0..LOOKBACK_MINUTES as i64 {
        let m = traffic.sample(rng);
        let r = s.ratio * shared.sample(rng);
        blue.push(minute(rng, t, s.rpm * m, r, s.latency, s.latency_cv));
    }
    let mut first = None;
    let mut last = Outcome::NoTraffic;
    for k in 0..STAGE_MINUTES {
        let t = (LOOKBACK_MINUTES + k) as i64;
        let m = traffic.sample(rng);
        let r = s.ratio * shared.sample(rng);
        blue.push(minute(
            rng,
            t,
            s.rpm * (1.0 - s.share) * m,
            r,
            s.latency,
            s.latency_cv,
        ));
        green.push(minute(
            rng,
            t,
            s.rpm * s.share * m,
            r * change.ratio_factor,
            s.latency * change.latency_factor,
            s.latency_cv,
        ));
        let a = analyse(&green, &blue, params);
        last = a.outcome;
        if a.outcome == Outcome::Worse && first.is_none() {
            first = Some(k + 1);
        }
    }
    (first, last)
}

/// A random service at any traffic from 20 to 50,000 requests a minute.
fn any_service(rng: &mut StdRng) -> Service {
    Service {
        rpm: log_uniform(rng, 20.0, 50_000.0),
        share: [0.05, 0.1, 0.25, 0.5, 1.0][rng.random_range(0..5)],
        ratio: if rng.random_bool(0.1) {
            0.0
        } else {
            log_uniform(rng, 0.0001, 0.05)
        },
        latency: log_uniform(rng, 0.01, 2.0),
        latency_cv: rng.random_range(0.3..2.5),
    }
}

fn draws() -> usize {
    std::env::var("CANARY_DRAWS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(10_000)
}

#[test]
fn identical_revisions_never_fail() {
    let params = Params::default();
    let mut rng = StdRng::seed_from_u64(0x6361_6e61_7279);
    let n = draws();
    let mut failed = Vec::new();
    let mut concluded = 0;
    for i in 0..n {
        let s = any_service(&mut rng);
        // Share 1.0 is the old revision's history against the new one after the whole shift.
        let (first, last) = stage(&mut rng, s, SAME, &params);
        if let Some(minute) = first {
            failed.push(format!("draw {i}: {s:?} failed at minute {minute}"));
        }
        if last == Outcome::NotWorse {
            concluded += 1;
        }
    }
    println!(
        "identical revisions: {} of {n} draws failed ({} looks each); {concluded} concluded 'not worse' by the stage's end",
        failed.len(),
        STAGE_MINUTES
    );
    assert!(failed.is_empty(), "false positives:\n{}", failed.join("\n"));
}

/// Realistic traffic: the new revision serves 3,000 requests a minute beside the old one (a 10 %
/// canary of 30,000, or half of 6,000) with a 5xx ratio of 0.5 % to 5 %.
#[test]
fn a_doubled_error_rate_at_realistic_traffic_fails_within_the_stage() {
    let params = Params::default();
    let mut rng = StdRng::seed_from_u64(0x0002_0002);
    let n = 1_000;
    let mut missed = Vec::new();
    let mut minutes = Vec::new();
    for i in 0..n {
        let share = [0.1, 0.5][i % 2];
        let s = Service {
            rpm: 3_000.0 / share,
            share,
            ratio: log_uniform(&mut rng, 0.005, 0.05),
            latency: log_uniform(&mut rng, 0.01, 2.0),
            latency_cv: rng.random_range(0.3..2.5),
        };
        let change = Change {
            ratio_factor: 2.0,
            latency_factor: 1.0,
        };
        match stage(&mut rng, s, change, &params).0 {
            Some(m) => minutes.push(m),
            None => missed.push(format!("{s:?}")),
        }
    }
    minutes.sort();
    println!(
        "2x 5xx ratio at 3,000 requests a minute: {} of {n} failed within {STAGE_MINUTES} minutes, median at minute {}",
        minutes.len(),
        minutes.get(minutes.len() / 2).copied().unwrap_or(0)
    );
    assert!(
        missed.len() * 10 <= n,
        "{} of {n} missed (more than 10 %): {:?}",
        missed.len(),
        &missed[..missed.len().min(5)]
    );
}

/// Low traffic: the new revision serves a few requests a minute, every one of them failing.
#[test]
fn low_traffic_is_inconclusive_not_failed() {
    let params = Params::default();
    let mut rng = StdRng::seed_from_u64(0x10);
    for _ in 0..1_000 {
        let s = Service {
            rpm: log_uniform(&mut rng, 1.0, 40.0),
            share: 1.0,
            ratio: 0.01,
            latency: 0.1,
            latency_cv: 1.0,
        };
        let change = Change {
            ratio_factor: 100.0,
            latency_factor: 5.0,
        };
        let (first, last) = stage(&mut rng, s, change, &params);
        assert_eq!(first, None, "{s:?} failed on low traffic");
        assert!(
            matches!(last, Outcome::Inconclusive | Outcome::NoTraffic),
            "{s:?}: {last:?}"
        );
    }
}

/// The detection table: share of draws failed within the stage, and the median minute, by the
/// new revision's traffic and the change.
#[test]
#[ignore]
fn figures() {
    let params = Params::default();
    let mut rng = StdRng::seed_from_u64(7);
    let n = 400;
    println!("| new revision's requests/min | change | failed within {STAGE_MINUTES} min | median minute |");
    println!("|---|---|---|---|");
    for rpm in [100.0, 300.0, 1_000.0, 3_000.0, 10_000.0] {
        for (name, change) in [
            (
                "5xx ×1.5",
                Change {
                    ratio_factor: 1.5,
                    latency_factor: 1.0,
                },
            ),
            (
                "5xx ×2",
                Change {
                    ratio_factor: 2.0,
                    latency_factor: 1.0,
                },
            ),
            (
                "5xx ×5",
                Change {
                    ratio_factor: 5.0,
                    latency_factor: 1.0,
                },
            ),
            (
                "latency ×1.5",
                Change {
                    ratio_factor: 1.0,
                    latency_factor: 1.5,
                },
            ),
        ] {
            let mut minutes = Vec::new();
            for _ in 0..n {
                let s = Service {
                    rpm: rpm / 0.1,
                    share: 0.1,
                    ratio: 0.01,
                    latency: 0.2,
                    latency_cv: 1.0,
                };
                if let Some(m) = stage(&mut rng, s, change, &params).0 {
                    minutes.push(m);
                }
            }
            minutes.sort();
            println!(
                "| {rpm:.0} | {name} | {:.0} % | {} |",
                minutes.len() as f64 * 100.0 / n as f64,
                minutes
                    .get(minutes.len() / 2)
                    .map(|m| m.to_string())
                    .unwrap_or_else(|| "-".into())
            );
        }
    }
}
