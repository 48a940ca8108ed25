//! Canary analysis: is the new revision's traffic worse than the old revision's?
//!
//! Pure: the per-minute series of the two revisions' target groups in, a verdict with its
//! evidence out. During a `BLUE_GREEN`, `LINEAR` or `CANARY` deployment each revision sits behind
//! its own target group, and CloudWatch publishes `RequestCount`, `HTTPCode_Target_5XX_Count` and
//! `TargetResponseTime` per target group and minute (Elastic Load Balancing User Guide for
//! Application Load Balancers, "CloudWatch metrics for your Application Load Balancer"). The
//! method, its parameters and its measured error rates are described in `docs/src/canary.md`:
//!
//! - **5xx ratio**: a one-sided two-proportion test of the new revision's ratio against the
//!   *margin* — the old revision's ratio raised by the minimum effect — after leaving out the new
//!   revision's worst minute. A worse result must hold at the end of `held_minutes` consecutive
//!   minutes.
//! - **Latency**: a one-sided Mann–Whitney U test of the new revision's per-minute average
//!   response times against the old revision's, each raised by the minimum effect.
//! - Below the minimum sample the answer is `Inconclusive`, never a guess; with no traffic at all
//!   on the new revision it is `NoTraffic` (nothing to compare, e.g. no test traffic).

use serde::Serialize;

use crate::model::Time;

/// One minute of one revision's target group (CloudWatch `AWS/ApplicationELB`, period 60 s).
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub struct Minute {
    pub at: Time,
    /// `RequestCount` (Sum).
    pub requests: f64,
    /// `HTTPCode_Target_5XX_Count` (Sum); 0 when CloudWatch has no datapoint for a minute with
    /// requests (the load balancer publishes a count only when it is not zero).
    pub errors: f64,
    /// `TargetResponseTime` (Average), in seconds.
    pub latency: Option<f64>,
}

impl Minute {
    pub fn ratio(&self) -> Option<f64> {
        (self.requests > 0.0).then(|| (self.errors / self.requests).clamp(0.0, 1.0))
    }
}

/// The method's parameters. The defaults are the documented ones.
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub struct Params {
    /// Requests each revision must have served before the 5xx ratios are compared.
    pub min_requests: f64,
    /// Minutes with traffic the new revision must have before the 5xx ratios are compared.
    pub min_minutes: usize,
    /// 5xx the new revision must have returned (its worst minute left out) to be worse.
    pub min_errors: f64,
    /// The significance level of both tests (one-sided).
    pub alpha: f64,
    /// The 5xx result must hold at the end of this many consecutive minutes.
    pub held_minutes: usize,
    /// Minimum effect on the 5xx ratio: worse means above `factor × old + floor`.
    pub error_factor: f64,
    pub error_floor: f64,
    /// Minimum effect on the latency: worse means above `factor × old + floor` (seconds).
    pub latency_factor: f64,
    pub latency_floor: f64,
    /// Minutes (with at least `latency_minute_requests` requests) each revision needs before
    /// the latencies are compared.
    pub latency_min_minutes: usize,
    pub latency_minute_requests: f64,
}

impl Default for Params {
    fn default() -> Self {
        Params {
            min_requests: 1000.0,
            min_minutes: 3,
            min_errors: 5.0,
            alpha: 0.005,
            held_minutes: 2,
            error_factor: 1.2,
            error_floor: 0.0005,
            latency_factor: 1.25,
            latency_floor: 0.010,
            latency_min_minutes: 5,
            latency_minute_requests: 50.0,
        }
    }
}

/// One check's outcome.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    /// The new revision is worse by more than the minimum effect, significantly.
    Worse,
    /// Enough evidence, and the new revision is not worse.
    NotWorse,
    /// Some traffic, but less than the minimum sample.
    Inconclusive,
    /// The new revision has served nothing to compare.
    NoTraffic,
}

/// One metric compared.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Check {
    pub metric: &'static str,
    pub outcome: Outcome,
    /// The new revision's value (5xx ratio, or median per-minute latency in seconds).
    pub green: Option<f64>,
    /// The old revision's value.
    pub blue: Option<f64>,
    /// The value the new one must exceed to be worse (the old one raised by the minimum effect).
    pub margin: Option<f64>,
    /// The one-sided p-value of the test (the latest, for the 5xx ratio).
    pub p_value: Option<f64>,
    /// The test and its sample, for people.
    pub note: String,
}

/// The verdict of one analysis.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Analysis {
    pub outcome: Outcome,
    pub errors: Check,
    pub latency: Check,
    pub params: Params,
}

/// Compare the new revision (`green`) with the old one (`blue`): per-minute series, any order.
pub fn analyse(green: &[Minute], blue: &[Minute], params: &Params) -> Analysis {
    let mut green = green.to_vec();
    green.sort_by_key(|m| m.at);
    let errors = check_errors(&green, blue, params);
    let latency = check_latency(&green, blue, params);
    let outcome = combine(errors.outcome, latency.outcome);
    Analysis {
        outcome,
        errors,
        latency,
        params: *params,
    }
}

/// Worse if either is worse; no traffic if the 5xx check saw none; then inconclusive if either
/// still lacks evidence (a latency check with no latency data at all does not hold it up).
fn combine(errors: Outcome, latency: Outcome) -> Outcome {
    use Outcome::*;
    match (errors, latency) {
        (Worse, _) | (_, Worse) => Worse,
        (NoTraffic, _) => NoTraffic,
        (Inconclusive, _) | (_, Inconclusive) => Inconclusive,
        _ => NotWorse,
    }
}

fn total(ms: &[Minute]) -> (f64, f64) {
    ms.iter().fold((0.0, 0.0), |(r, e), m| {
        (r + m.requests, e + m.errors.min(m.requests))
    })
}

/// The margin of the 5xx ratio: the old revision's ratio raised by the minimum effect.
pub fn error_margin(blue_ratio: f64, params: &Params) -> f64 {
    (params.error_factor * blue_ratio + params.error_floor).min(1.0)
}

fn check_errors(green: &[Minute], blue: &[Minute], params: &Params) -> Check {
    let (gr, ge) = total(green);
    let (br, be) = total(blue);
    let mut check = Check {
        metric: "5xx ratio",
        outcome: Outcome::NoTraffic,
        green: (gr > 0.0).then(|| ge / gr),
        blue: (br > 0.0).then(|| be / br),
        margin: None,
        p_value: None,
        note: String::new(),
    };
    if gr <= 0.0 {
        check.note = "the new revision served no request".into();
        return check;
    }
    let green_minutes = green.iter().filter(|m| m.requests > 0.0).count();
    if gr < params.min_requests || br < params.min_requests || green_minutes < params.min_minutes {
        check.outcome = Outcome::Inconclusive;
        check.note = format!(
            "low traffic: {gr:.0} request(s) in {green_minutes} minute(s) on the new revision, {br:.0} on the old; at least {:.0} each and {} minute(s) are needed",
            params.min_requests, params.min_minutes
        );
        return check;
    }
    let base = total(&baseline(green, blue, params));
    let base = Counts {
        requests: base.0,
        errors: base.1,
        dispersion: 1.0,
    };
    let margin = error_margin(base.errors / base.requests, params);
    check.margin = Some(margin);
    check.blue = Some(base.errors / base.requests);
    // The test at the end of each of the last `held_minutes` minutes (the latest first).
    let ps: Vec<Option<f64>> = (0..params.held_minutes.max(1))
        .map(|k| {
            let window = without_worst_minute(&green[..green.len().saturating_sub(k)]);
            let g = counts(&window);
            let enough = g.requests >= params.min_requests
                && window.iter().filter(|m| m.requests > 0.0).count() + 1 >= params.min_minutes
                && g.errors >= params.min_errors;
            if !enough {
                return None;
            }
            let pairs = paired(&window, blue);
            if total(&pairs.iter().map(|(_, b)| *b).collect::<Vec<_>>()).0 >= params.min_requests {
                Some(paired_excess_p(&pairs, params))
            } else {
                let b = counts(blue);
                (b.requests >= params.min_requests).then(|| excess_p(&g, &b, params))
            }
        })
        .collect();
    let latest = ps.first().copied().flatten().unwrap_or(1.0);
    check.p_value = Some(latest);
    let significant = |p: &Option<f64>| p.is_some_and(|p| p < params.alpha);
    let held_count = ps.iter().take_while(|p| significant(p)).count();
    let test = format!(
        "two-proportion test against the margin {} (the old revision's {} of {:.0} request(s) ×{} + {:.2} points), the new revision's worst minute left out: p {} {} {}",
        pct(margin),
        pct(base.errors / base.requests),
        base.requests,
        params.error_factor,
        params.error_floor * 100.0,
        p_text(latest),
        if latest < params.alpha { "<" } else { "≥" },
        params.alpha
    );
    if held_count == ps.len() && ge / gr > margin {
        check.outcome = Outcome::Worse;
        check.note = format!("{test}, held for {held_count} consecutive minute(s)");
    } else {
        check.outcome = Outcome::NotWorse;
        check.note = if held_count > 0 {
            format!(
                "{test}, held for {held_count} of {} consecutive minute(s) so far",
                ps.len()
            )
        } else {
            test
        };
    }
    check
}

/// The window without the minute with the most 5xx: a single burst is not a worse revision.
fn without_worst_minute(window: &[Minute]) -> Vec<Minute> {
    let worst = window
        .iter()
        .enumerate()
        .max_by(|a, b| a.1.errors.total_cmp(&b.1.errors))
        .map(|(i, _)| i);
    window
        .iter()
        .enumerate()
        .filter(|(i, _)| Some(*i) != worst)
        .map(|(_, m)| *m)
        .collect()
}

/// The old revision's minutes to compare with: the same minutes as the new revision's when the
/// old one served enough in them (both saw the same time: the same load, the same dependencies),
/// else all of its minutes (after a whole traffic shift, the minutes before it).
fn baseline(green: &[Minute], blue: &[Minute], params: &Params) -> Vec<Minute> {
    let same: Vec<Minute> = blue
        .iter()
        .filter(|b| green.iter().any(|g| g.at == b.at && g.requests > 0.0))
        .copied()
        .collect();
    if total(&same).0 >= params.min_requests {
        same
    } else {
        blue.to_vec()
    }
}

/// A sample's totals and the dispersion of its per-minute 5xx ratios.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Counts {
    pub requests: f64,
    pub errors: f64,
    /// Pearson's χ² of the per-minute ratios over its degrees of freedom, at least 1: how much
    /// more the ratio varies from minute to minute than a binomial count would (quasi-binomial).
    pub dispersion: f64,
}

pub fn counts(minutes: &[Minute]) -> Counts {
    let (requests, errors) = total(minutes);
    let p = (errors + 1.0) / (requests + 2.0);
    let used: Vec<&Minute> = minutes.iter().filter(|m| m.requests > 0.0).collect();
    let chi2: f64 = used
        .iter()
        .map(|m| {
            let e = m.errors.min(m.requests);
            let expected = m.requests * p;
            (e - expected).powi(2) / (expected * (1.0 - p))
        })
        .sum();
    let df = used.len().saturating_sub(1);
    let dispersion = if df > 0 {
        (chi2 / df as f64).max(1.0)
    } else {
        1.0
    };
    Counts {
        requests,
        errors,
        dispersion,
    }
}

/// The new revision's minutes with traffic, each with the old revision's same minute.
fn paired(green: &[Minute], blue: &[Minute]) -> Vec<(Minute, Minute)> {
    green
        .iter()
        .filter(|g| g.requests > 0.0)
        .filter_map(|g| {
            let b = blue.iter().find(|b| b.at == g.at && b.requests > 0.0)?;
            Some((*g, *b))
        })
        .collect()
}

/// One-sided p-value of "the new revision's ratio exceeds the margin", minute by minute: both
/// revisions served the same minutes, so what the minute did to both (load, a dependency's
/// blip) cancels. The excess is the new revision's 5xx above its requests × the margin of the
/// old revision's ratio in the same minute, summed; its variance is the larger of the binomial
/// one and the per-minute excesses' own, with a continuity correction.
pub fn paired_excess_p(pairs: &[(Minute, Minute)], params: &Params) -> f64 {
    let f = params.error_factor;
    let mut excess = Vec::with_capacity(pairs.len());
    let mut binomial = 0.0;
    for (g, b) in pairs {
        let pb = (b.errors.min(b.requests) + 0.5) / (b.requests + 1.0);
        let m = error_margin(pb, params);
        excess.push(g.errors.min(g.requests) - g.requests * m);
        binomial += g.requests * m * (1.0 - m)
            + g.requests * g.requests * f * f * pb * (1.0 - pb) / (b.requests + 1.0);
    }
    let k = excess.len();
    if k == 0 {
        return 1.0;
    }
    let sum: f64 = excess.iter().sum();
    let mean = sum / k as f64;
    let empirical = if k > 1 {
        k as f64 / (k - 1) as f64 * excess.iter().map(|d| (d - mean).powi(2)).sum::<f64>()
    } else {
        0.0
    };
    let var = binomial.max(empirical);
    if var <= 0.0 {
        return 1.0;
    }
    normal_upper((sum - 0.5) / var.sqrt())
}

/// One-sided p-value of "the new revision's ratio exceeds the margin": a two-proportion z test
/// of the new revision's ratio against `factor × old + floor`. Each ratio's variance is the
/// binomial one times its per-minute dispersion (never less than binomial), with the
/// Agresti–Caffo adjustment (one 5xx and one success added to each sample, which keeps small
/// counts and a ratio of 0 honest) and a continuity correction.
pub fn excess_p(green: &Counts, blue: &Counts, params: &Params) -> f64 {
    let (r, br) = (green.requests, blue.requests);
    if r <= 0.0 || br <= 0.0 {
        return 1.0;
    }
    let pg = ((green.errors + 1.0) / (r + 2.0)).clamp(0.0, 1.0);
    let pb = ((blue.errors + 1.0) / (br + 2.0)).clamp(0.0, 1.0);
    let margin = error_margin(pb, params);
    let f = params.error_factor;
    let var = green.dispersion * pg * (1.0 - pg) / (r + 2.0)
        + f * f * blue.dispersion * pb * (1.0 - pb) / (br + 2.0);
    if var <= 0.0 {
        return 1.0;
    }
    let z = (pg - 0.5 / (r + 2.0) - margin) / var.sqrt();
    normal_upper(z)
}

/// P(Z > z) for a standard normal Z.
pub fn normal_upper(z: f64) -> f64 {
    0.5 * libm::erfc(z / std::f64::consts::SQRT_2)
}

fn check_latency(green: &[Minute], blue: &[Minute], params: &Params) -> Check {
    let values = |ms: &[Minute]| -> Vec<f64> {
        ms.iter()
            .filter(|m| m.requests >= params.latency_minute_requests)
            .filter_map(|m| m.latency.filter(|l| l.is_finite() && *l >= 0.0))
            .collect()
    };
    let g = values(green);
    let b = values(blue);
    let mut check = Check {
        metric: "latency",
        outcome: Outcome::NoTraffic,
        green: median(&g),
        blue: median(&b),
        margin: None,
        p_value: None,
        note: String::new(),
    };
    if g.is_empty() {
        check.note = format!(
            "no minute of the new revision with {:.0} request(s) or more has a response time",
            params.latency_minute_requests
        );
        return check;
    }
    if g.len() < params.latency_min_minutes || b.len() < params.latency_min_minutes {
        check.outcome = Outcome::Inconclusive;
        check.note = format!(
            "{} minute(s) with a response time on the new revision, {} on the old; {} each are needed",
            g.len(),
            b.len(),
            params.latency_min_minutes
        );
        return check;
    }
    let raised: Vec<f64> = b
        .iter()
        .map(|v| params.latency_factor * v + params.latency_floor)
        .collect();
    let p = mann_whitney_greater(&g, &raised);
    let margin = median(&raised);
    check.margin = margin;
    check.p_value = Some(p);
    let worse = p < params.alpha && check.green > margin;
    check.outcome = if worse {
        Outcome::Worse
    } else {
        Outcome::NotWorse
    };
    check.note = format!(
        "Mann–Whitney U of {} minute(s) against {} of the old revision raised ×{} + {:.0} ms: p {} {} {}",
        g.len(),
        b.len(),
        params.latency_factor,
        params.latency_floor * 1000.0,
        p_text(p),
        if p < params.alpha { "<" } else { "≥" },
        params.alpha
    );
    check
}

pub fn median(values: &[f64]) -> Option<f64> {
    if values.is_empty() {
        return None;
    }
    let mut v = values.to_vec();
    v.sort_by(f64::total_cmp);
    let n = v.len();
    Some(if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    })
}

/// The one-sided p-value of the Mann–Whitney U test that `x` tends to be greater than `y`:
/// exact when both samples have at most [`EXACT_MAX`] values and nothing ties, else the normal
/// approximation with the tie and continuity corrections.
pub fn mann_whitney_greater(x: &[f64], y: &[f64]) -> f64 {
    let (n, m) = (x.len(), y.len());
    if n == 0 || m == 0 {
        return 1.0;
    }
    // U of x: pairs where x wins, ties counting a half.
    let mut u = 0.0_f64;
    let mut ties = false;
    for a in x {
        for b in y {
            if a > b {
                u += 1.0;
            } else if a == b {
                u += 0.5;
                ties = true;
            }
        }
    }
    let mut all: Vec<f64> = x.iter().chain(y).copied().collect();
    all.sort_by(f64::total_cmp);
    ties |= all.windows(2).any(|w| w[0] == w[1]);
    if !ties && n <= EXACT_MAX && m <= EXACT_MAX {
        return exact_u_upper(n, m, u.round() as usize);
    }
    let nf = n as f64;
    let mf = m as f64;
    let big_n = nf + mf;
    let mut tie_term = 0.0;
    let mut i = 0;
    while i < all.len() {
        let mut j = i;
        while j + 1 < all.len() && all[j + 1] == all[i] {
            j += 1;
        }
        let t = (j - i + 1) as f64;
        tie_term += t * t * t - t;
        i = j + 1;
    }
    let var = nf * mf / 12.0 * ((big_n + 1.0) - tie_term / (big_n * (big_n - 1.0)));
    if var <= 0.0 {
        return 1.0;
    }
    let z = (u - nf * mf / 2.0 - 0.5) / var.sqrt();
    normal_upper(z)
}

/// Largest sample for the exact distribution of U.
pub const EXACT_MAX: usize = 12;

/// P(U ≥ u) under the null for samples of `n` and `m` without ties: the number of arrangements
/// with each U, by the recurrence N(n, m) = N(n − 1, m) shifted by m + N(n, m − 1).
fn exact_u_upper(n: usize, m: usize, u: usize) -> f64 {
    // counts[j][k]: arrangements of (i, j) values with U = k, for the current i.
    let max = n * m;
    let mut prev: Vec<Vec<f64>> = (0..=m).map(|_| vec![1.0]).collect();
    for i in 1..=n {
        let mut cur: Vec<Vec<f64>> = Vec::with_capacity(m + 1);
        cur.push(vec![1.0]);
        for j in 1..=m {
            let mut c = vec![0.0; i * j + 1];
            // x's largest value above all j of y: U grows by j.
            for (k, v) in prev[j].iter().enumerate() {
                c[k + j] += v;
            }
            // y's largest value above everything: U unchanged.
            for (k, v) in cur[j - 1].iter().enumerate() {
                c[k] += v;
            }
            cur.push(c);
        }
        prev = cur;
    }
    let counts = &prev[m];
    let all: f64 = counts.iter().sum();
    let upper: f64 = counts.iter().skip(u.min(max + 1)).sum();
    (upper / all).clamp(0.0, 1.0)
}

fn pct(v: f64) -> String {
    format!("{:.2}%", v * 100.0)
}

fn p_text(p: f64) -> String {
    if p < 1e-12 {
        "< 1e-12".to_string()
    } else if p < 0.0001 {
        format!("= {p:.1e}")
    } else {
        format!("= {p:.4}")
    }
}

impl Analysis {
    /// What made it worse, in a few words: `5xx 5.00% vs 1.00% (margin 1.25%, p < 1e-12)`.
    pub fn short(&self) -> String {
        [&self.errors, &self.latency]
            .iter()
            .filter(|c| c.outcome == Outcome::Worse)
            .map(|c| {
                let (g, b, m) = (
                    c.green.unwrap_or(0.0),
                    c.blue.unwrap_or(0.0),
                    c.margin.unwrap_or(0.0),
                );
                let p = p_text(c.p_value.unwrap_or(1.0));
                if c.metric == "latency" {
                    format!(
                        "latency {:.0} ms on the new revision vs {:.0} ms on the old (margin {:.0} ms, p {p})",
                        g * 1000.0,
                        b * 1000.0,
                        m * 1000.0
                    )
                } else {
                    format!(
                        "5xx {} on the new revision vs {} on the old (margin {}, p {p})",
                        pct(g),
                        pct(b),
                        pct(m)
                    )
                }
            })
            .collect::<Vec<_>>()
            .join("; ")
    }

    /// One sentence for people: the verdict and the numbers behind it.
    pub fn sentence(&self) -> String {
        let e = &self.errors;
        let l = &self.latency;
        let errors = match (e.green, e.blue) {
            (Some(g), Some(b)) => format!(
                "5xx {} on the new revision vs {} on the old",
                pct(g),
                pct(b)
            ),
            (Some(g), None) => {
                format!("5xx {} on the new revision, the old served nothing", pct(g))
            }
            _ => "no request on the new revision".to_string(),
        };
        let latency = match (l.green, l.blue) {
            (Some(g), Some(b)) => format!(
                ", latency {:.0} ms vs {:.0} ms (per-minute medians)",
                g * 1000.0,
                b * 1000.0
            ),
            _ => String::new(),
        };
        let why = match self.outcome {
            Outcome::Worse => [e, l]
                .iter()
                .filter(|c| c.outcome == Outcome::Worse)
                .map(|c| format!("{} worse: {}", c.metric, c.note))
                .collect::<Vec<_>>()
                .join("; "),
            Outcome::Inconclusive => [e, l]
                .iter()
                .filter(|c| c.outcome == Outcome::Inconclusive)
                .map(|c| format!("{} inconclusive: {}", c.metric, c.note))
                .collect::<Vec<_>>()
                .join("; "),
            Outcome::NoTraffic => e.note.clone(),
            Outcome::NotWorse => format!("not worse ({}; {})", e.note, l.note),
        };
        format!("{errors}{latency}: {why}")
    }
}

const BARS: [char; 8] = ['▁', '▂', '▃', '▄', '▅', '▆', '▇', '█'];

/// A plot of both revisions per minute, for the notification and the CLI: one line of bars per
/// revision and metric, on one scale per metric, a blank where a revision had no data.
pub fn plot(green: &[Minute], blue: &[Minute]) -> String {
    let mut minutes: Vec<Time> = green.iter().chain(blue).map(|m| m.at).collect();
    minutes.sort();
    minutes.dedup();
    // The most recent hour at most: a notification line stays readable.
    if minutes.len() > 60 {
        minutes.drain(..minutes.len() - 60);
    }
    let at = |ms: &[Minute], t: Time| ms.iter().find(|m| m.at == t).copied();
    // Bars from `lo` (lowest) to `hi` (full).
    let row = |ms: &[Minute], f: &dyn Fn(&Minute) -> Option<f64>, lo: f64, hi: f64| -> String {
        minutes
            .iter()
            .map(|t| match at(ms, *t).as_ref().and_then(f) {
                Some(v) if hi > lo => {
                    BARS[(((v - lo) / (hi - lo)) * 7.0).round().clamp(0.0, 7.0) as usize]
                }
                Some(_) => BARS[0],
                None => ' ',
            })
            .collect()
    };
    let range = |f: &dyn Fn(&Minute) -> Option<f64>| -> (f64, f64) {
        green
            .iter()
            .chain(blue)
            .filter_map(f)
            .fold((f64::INFINITY, 0.0_f64), |(lo, hi), v| {
                (lo.min(v), hi.max(v))
            })
    };
    let ratio = |m: &Minute| m.ratio();
    let latency = |m: &Minute| m.latency.filter(|_| m.requests > 0.0);
    let (_, max_ratio) = range(&ratio);
    let (min_latency, max_latency) = range(&latency);
    let mut out = format!(
        "5xx ratio per minute (bars from 0 to {}), {} minute(s):\n  new {}\n  old {}\n",
        pct(max_ratio),
        minutes.len(),
        row(green, &ratio, 0.0, max_ratio),
        row(blue, &ratio, 0.0, max_ratio)
    );
    if max_latency > 0.0 {
        out.push_str(&format!(
            "response time per minute (bars from {:.0} ms to {:.0} ms):\n  new {}\n  old {}\n",
            min_latency * 1000.0,
            max_latency * 1000.0,
            row(green, &latency, min_latency, max_latency),
            row(blue, &latency, min_latency, max_latency)
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn t(i: i64) -> Time {
        chrono::Utc.with_ymd_and_hms(2026, 12, 1, 12, 0, 0).unwrap() + chrono::Duration::minutes(i)
    }

    fn series(per_minute: &[(f64, f64, f64)]) -> Vec<Minute> {
        per_minute
            .iter()
            .enumerate()
            .map(|(i, &(requests, errors, latency))| Minute {
                at: t(i as i64),
                requests,
                errors,
                latency: Some(latency),
            })
            .collect()
    }

    fn flat(minutes: usize, requests: f64, errors: f64, latency: f64) -> Vec<Minute> {
        series(&vec![(requests, errors, latency); minutes])
    }

    #[test]
    fn exact_u_matches_known_values() {
        // n = m = 3: 20 arrangements, U = 9 in exactly one of them.
        assert!((exact_u_upper(3, 3, 9) - 1.0 / 20.0).abs() < 1e-12);
        assert!((exact_u_upper(3, 3, 0) - 1.0).abs() < 1e-12);
        // n = m = 5, complete separation: 1 / C(10, 5).
        assert!((exact_u_upper(5, 5, 25) - 1.0 / 252.0).abs() < 1e-12);
        // Symmetry: P(U ≥ nm/2) ≥ 1/2.
        assert!(exact_u_upper(4, 6, 12) >= 0.5);
    }

    #[test]
    fn mann_whitney_exact_and_approximate_agree_roughly() {
        let x: Vec<f64> = (0..10).map(|i| 10.0 + i as f64).collect();
        let y: Vec<f64> = (0..10).map(|i| 5.5 + i as f64).collect();
        let exact = mann_whitney_greater(&x, &y);
        let mut y_tied = y.clone();
        y_tied[0] = y_tied[1]; // one tie forces the approximation
        let approx = mann_whitney_greater(&x, &y_tied);
        assert!(exact < 0.05 && approx < 0.05, "{exact} {approx}");
        assert!((exact - approx).abs() < 0.02, "{exact} {approx}");
        assert_eq!(mann_whitney_greater(&[1.0; 5], &[1.0; 5]), 1.0);
    }

    #[test]
    fn the_excess_test_is_one_sided_against_the_margin() {
        let p = Params::default();
        let c = |errors: f64, requests: f64| Counts {
            requests,
            errors,
            dispersion: 1.0,
        };
        // 2 % on 5,000 requests against 1 % on 50,000 (margin 1.25 %): significant; against
        // 1 % on only 5,000 the old revision's own uncertainty weighs ten times more.
        let well_known = excess_p(&c(100.0, 5000.0), &c(500.0, 50_000.0), &p);
        assert!(well_known < p.alpha / 10.0, "{well_known}");
        assert!(excess_p(&c(100.0, 5000.0), &c(50.0, 5000.0), &p) > well_known * 10.0);
        // At the margin itself: about one half.
        let at = excess_p(&c(62.0, 5000.0), &c(50.0, 5000.0), &p);
        assert!((at - 0.5).abs() < 0.05, "{at}");
        // Better than the old revision: near 1.
        assert!(excess_p(&c(10.0, 5000.0), &c(50.0, 5000.0), &p) > 0.99);
        // An old revision without any 5xx still has an uncertainty: 6 against 0 in 1,000
        // requests each is not enough (Fisher's exact test says p = 0.016).
        assert!(excess_p(&c(6.0, 1000.0), &c(0.0, 1000.0), &p) > 0.016);
        assert_eq!(excess_p(&c(1.0, 0.0), &c(0.0, 10.0), &p), 1.0);
        // Minute-to-minute variation beyond the binomial widens the test.
        let steady = counts(&flat(4, 1000.0, 20.0, 0.1));
        let bursty = counts(&series(&[
            (1000.0, 5.0, 0.1),
            (1000.0, 35.0, 0.1),
            (1000.0, 5.0, 0.1),
            (1000.0, 35.0, 0.1),
        ]));
        assert_eq!(steady.dispersion, 1.0);
        assert!(bursty.dispersion > 10.0, "{bursty:?}");
        let old = c(500.0, 50_000.0);
        assert!(excess_p(&bursty, &old, &p) > excess_p(&steady, &old, &p) * 100.0);
        assert!((normal_upper(0.0) - 0.5).abs() < 1e-12);
        assert!((normal_upper(3.090_2) - 0.001).abs() < 1e-5);
    }

    /// The method's table: synthetic series, one verdict each.
    #[test]
    fn canary_table() {
        let p = Params::default();
        struct Case {
            name: &'static str,
            green: Vec<Minute>,
            blue: Vec<Minute>,
            errors: Outcome,
            latency: Outcome,
            outcome: Outcome,
        }
        use Outcome::*;
        let blue = || flat(10, 9000.0, 90.0, 0.120);
        let cases = vec![
            Case {
                name: "identical revisions at realistic traffic",
                green: flat(10, 1000.0, 10.0, 0.120),
                blue: blue(),
                errors: NotWorse,
                latency: NotWorse,
                outcome: NotWorse,
            },
            Case {
                name: "a 2x error rate at realistic traffic fails",
                green: flat(10, 1000.0, 20.0, 0.120),
                blue: blue(),
                errors: Worse,
                latency: NotWorse,
                outcome: Worse,
            },
            Case {
                name:
                    "0.01 points more is significant at huge traffic but below the minimum effect",
                green: flat(10, 1_000_000.0, 1_100.0, 0.120),
                blue: flat(10, 1_000_000.0, 1_000.0, 0.120),
                errors: NotWorse,
                latency: NotWorse,
                outcome: NotWorse,
            },
            Case {
                name: "low traffic is inconclusive, even with every request failing",
                green: flat(10, 2.0, 2.0, 0.120),
                blue: blue(),
                errors: Inconclusive,
                latency: NoTraffic,
                outcome: Inconclusive,
            },
            Case {
                name: "no traffic on the new revision",
                green: flat(10, 0.0, 0.0, 0.0),
                blue: blue(),
                errors: NoTraffic,
                latency: NoTraffic,
                outcome: NoTraffic,
            },
            Case {
                name: "a single burst minute is left out",
                green: series(&[
                    (1000.0, 10.0, 0.12),
                    (1000.0, 600.0, 0.12),
                    (1000.0, 10.0, 0.12),
                    (1000.0, 5.0, 0.12),
                    (1000.0, 10.0, 0.12),
                    (1000.0, 20.0, 0.12),
                ]),
                blue: blue(),
                errors: NotWorse,
                latency: NotWorse,
                outcome: NotWorse,
            },
            Case {
                name: "errors that appear only in the last two minutes have not held yet",
                green: series(&[
                    (1000.0, 10.0, 0.12),
                    (1000.0, 10.0, 0.12),
                    (1000.0, 10.0, 0.12),
                    (1000.0, 10.0, 0.12),
                    (1000.0, 300.0, 0.12),
                    (1000.0, 300.0, 0.12),
                ]),
                blue: blue(),
                errors: NotWorse,
                latency: NotWorse,
                outcome: NotWorse,
            },
            Case {
                name: "latency twice the old revision's fails",
                green: flat(8, 1000.0, 10.0, 0.250),
                blue: series(&[
                    (9000.0, 90.0, 0.118),
                    (9000.0, 90.0, 0.121),
                    (9000.0, 90.0, 0.119),
                    (9000.0, 90.0, 0.122),
                    (9000.0, 90.0, 0.120),
                    (9000.0, 90.0, 0.117),
                    (9000.0, 90.0, 0.123),
                    (9000.0, 90.0, 0.124),
                ]),
                errors: NotWorse,
                latency: Worse,
                outcome: Worse,
            },
            Case {
                name: "latency 10 % higher is below the minimum effect",
                green: flat(8, 1000.0, 10.0, 0.132),
                blue: blue(),
                errors: NotWorse,
                latency: NotWorse,
                outcome: NotWorse,
            },
            Case {
                name: "the old revision served nothing: inconclusive",
                green: flat(10, 1000.0, 10.0, 0.120),
                blue: vec![],
                errors: Inconclusive,
                latency: Inconclusive,
                outcome: Inconclusive,
            },
            Case {
                name: "5xx on a revision whose predecessor never failed: above the floor",
                green: flat(10, 1000.0, 20.0, 0.120),
                blue: flat(10, 9000.0, 0.0, 0.120),
                errors: Worse,
                latency: NotWorse,
                outcome: Worse,
            },
            Case {
                name: "a few 5xx where the old revision had none: below the minimum count",
                green: flat(10, 1000.0, 0.4, 0.120),
                blue: flat(10, 9000.0, 0.0, 0.120),
                errors: NotWorse,
                latency: NotWorse,
                outcome: NotWorse,
            },
        ];
        for c in cases {
            let a = analyse(&c.green, &c.blue, &p);
            assert_eq!(
                (a.errors.outcome, a.latency.outcome, a.outcome),
                (c.errors, c.latency, c.outcome),
                "{}: {}",
                c.name,
                a.sentence()
            );
        }
    }

    #[test]
    fn the_plot_shows_both_revisions_on_one_scale() {
        let green = series(&[(100.0, 1.0, 0.1), (100.0, 4.0, 0.2)]);
        let blue = series(&[(900.0, 9.0, 0.1), (900.0, 9.0, 0.1)]);
        let plot = plot(&green, &blue);
        assert!(plot.contains("  new ▃█\n"), "{plot}");
        assert!(plot.contains("  old ▃▃\n"), "{plot}");
        assert!(plot.contains("bars from 0 to 4.00%"), "{plot}");
        assert!(plot.contains("bars from 100 ms to 200 ms"), "{plot}");
        assert!(plot.contains("  new ▁█\n  old ▁▁\n"), "{plot}");
    }
}
