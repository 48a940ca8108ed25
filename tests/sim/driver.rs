//! The incident driver: people deploy, the clock moves, the world emits events, EventBridge and
//! Lambda deliver them (on time, twice, late, much later, or never), the production handler
//! answers each one through the mocked SDK clients, and the invariants are checked after every
//! step.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::sync::{Arc, Mutex};

use chrono::Duration;
use ecs_rollback::config::Config;
use ecs_rollback::handler::{handle, Invocation};
use serde_json::Value;

use super::mocks::{self, Clients, Shared};
use super::world::*;

/// How one service is set up.
#[derive(Clone, Debug)]
pub struct SvcSetup {
    pub desired: i32,
    pub strategy: Strategy,
    pub bake_minutes: i64,
    pub breaker: Option<(bool, bool)>,
    pub deployment_alarms: Option<(bool, bool)>,
    pub alarm_tagged: bool,
    pub breaker_count: Option<i32>,
    /// Its task definition names a mutable tag (`repo/app:latest`).
    pub mutable_tag: bool,
    /// IaC style: registering a revision deregisters the previous one.
    pub deregister_previous: bool,
}

impl Default for SvcSetup {
    fn default() -> Self {
        SvcSetup {
            desired: 4,
            strategy: Strategy::Rolling,
            bake_minutes: 10,
            breaker: Some((true, false)),
            deployment_alarms: None,
            alarm_tagged: true,
            breaker_count: None,
            mutable_tag: false,
            deregister_previous: false,
        }
    }
}

/// What a person's deployment changes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Change {
    /// A new task definition with a new image tag.
    Image,
    /// The mutable tag re-pushed; the same task definition redeployed (`forceNewDeployment`).
    RePush,
    /// Only the service's network configuration.
    Config,
    /// A new image whose migration moved the database one schema version forward: the new
    /// revision declares the new version (`ecs-rollback:schema`), which no older revision runs on.
    Migration,
}

/// The read operations throttling can hit.
pub const READ_OPS: [&str; 7] = [
    "DescribeServices",
    "ListServiceDeployments",
    "DescribeServiceDeployments",
    "DescribeServiceRevisions",
    "DescribeTaskDefinition",
    "DescribeAlarms",
    "ListTagsForResource",
];

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Op {
    Deploy {
        svc: usize,
        change: Change,
        kind: Kind,
    },
    Advance(i64),
    /// A downstream outage: the alarm rings for `on` minutes, is OK for `off`, `cycles` times.
    Flap {
        svc: usize,
        on: i64,
        off: i64,
        cycles: u32,
    },
    /// A person ships a fix: a new healthy revision.
    Fix {
        svc: usize,
    },
    /// A person rolls back with the CLI to the last proven revision.
    CliRollback {
        svc: usize,
    },
    /// The next invocation is killed after its k-th write.
    Kill(u32),
    /// The next `n` calls of a read operation are throttled once each.
    Throttle {
        op: usize,
        n: u32,
    },
}

/// How EventBridge and Lambda deliver one emitted event.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Delivery {
    OnTime,
    Duplicate,
    /// A Lambda retry of an async invocation: 1 or 2 minutes late.
    Late(i64),
    /// Throttled: hours late (up to 6 h, the async event age limit).
    Hours(i64),
    /// Redriven from the dead-letter queue much later.
    Redrive(i64),
    Lost,
}

#[derive(Clone, Debug)]
pub struct Scenario {
    pub services: Vec<SvcSetup>,
    pub ops: Vec<Op>,
    pub deliveries: Vec<Delivery>,
}

impl fmt::Display for Scenario {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, s) in self.services.iter().enumerate() {
            writeln!(f, "service {}: {s:?}", SERVICES[i])?;
        }
        for op in &self.ops {
            writeln!(f, "  {op:?}")?;
        }
        writeln!(f, "deliveries: {:?}", self.deliveries)
    }
}

pub const SERVICES: [&str; 2] = ["web", "api"];

/// One event waiting for delivery.
#[derive(Clone, Debug)]
struct Pending {
    due: Time,
    event: Emitted,
    attempt: u32,
}

/// One handler invocation and what came of it.
#[derive(Clone, Debug)]
pub struct Call {
    pub id: usize,
    pub at: Time,
    pub event: Emitted,
    pub attempt: u32,
    pub killed: bool,
    pub result: Result<Vec<Value>, String>,
    pub writes: std::ops::Range<usize>,
}

impl Call {
    pub fn response_for(&self, svc: &str) -> Option<&Value> {
        self.result
            .as_ref()
            .ok()?
            .iter()
            .find(|v| v["service"].as_str() == Some(svc))
    }
    pub fn line(&self) -> String {
        let what = match &self.result {
            _ if self.killed => "killed".to_string(),
            Ok(v) => v
                .iter()
                .map(|r| {
                    format!(
                        "{} {}: {}",
                        r["action"].as_str().unwrap_or("?"),
                        r["service"].as_str().unwrap_or("?"),
                        r["reason"].as_str().unwrap_or("")
                    )
                })
                .collect::<Vec<_>>()
                .join(" | "),
            Err(e) => format!("error: {e}"),
        };
        format!(
            "{} #{} {:?} ({} at {}, attempt {}) -> {what}",
            self.at.format("%d %H:%M"),
            self.id,
            self.event.about,
            self.event.service,
            self.event.at.format("%H:%M"),
            self.attempt
        )
    }
}

/// The incident a service is in: started by a person's deployment of a new revision.
#[derive(Clone, Debug)]
pub struct Incident {
    pub start: Time,
    pub dep: String,
    pub content: Content,
    pub kind: Kind,
    pub auto_rollbacks: u32,
    /// A person acted (fix or CLI rollback), or ECS rolled back: no liveness owed.
    pub settled_by_other: bool,
    /// Contents that had completed a deployment of the service before the incident started.
    pub proven_before: BTreeSet<Content>,
    /// The schema in force (`ecs-rollback:schema`): the one the incident's revision declares, or,
    /// after a person's CLI rollback, the one the revision they restored declares.
    pub schema: Option<String>,
    /// No proven revision of the service runs on its schema (a deployment migrated the database
    /// forward): no down migration is modelled, so no automatic rollback is owed.
    pub migrated: bool,
}

#[derive(Clone, Debug)]
pub struct Violation {
    pub invariant: u8,
    pub what: String,
}

pub struct Sim {
    pub world: Shared,
    pub clients: Clients,
    rt: tokio::runtime::Runtime,
    pending: Vec<Pending>,
    deliveries: Vec<Delivery>,
    next_delivery: usize,
    kill_next: Option<u32>,
    pub calls: Vec<Call>,
    pub incidents: BTreeMap<String, Incident>,
    pub violations: Vec<Violation>,
    pub setups: Vec<SvcSetup>,
    checked_writes: usize,
    /// Deliver every new event on time (the final settle).
    settling: bool,
    /// `false`: no responder is deployed (ECS alone); events go nowhere.
    pub responder: bool,
}

pub fn config() -> Config {
    Config::from_lookup(|k| (k == "ROLLBACK_NOTIFY_TOPIC_ARN").then(|| TOPIC.to_string()))
        .expect("config")
}

impl Sim {
    pub fn new(services: &[SvcSetup], deliveries: Vec<Delivery>) -> Sim {
        ecs_rollback::metrics::set_enabled(false);
        let mut w = World::new();
        w.schema = 1;
        // Two proven revisions: app:1 (v1) two days ago, then app:2 (v2) yesterday; and app:3
        // naming the mutable tag `latest`, which points at v2's image.
        let d1 = w.new_digest(Kind::Healthy);
        let d2 = w.new_digest(Kind::Healthy);
        w.registry.insert("repo/app:v1".into(), d1);
        w.registry.insert("repo/app:v2".into(), d2.clone());
        w.registry.insert("repo/app:latest".into(), d2);
        w.register("repo/app:v1", BTreeMap::new());
        w.register("repo/app:v2", BTreeMap::new());
        w.register("repo/app:latest", BTreeMap::new());
        let c0 = w.new_config(Kind::Healthy);
        for (i, setup) in services.iter().enumerate() {
            let name = SERVICES[i].to_string();
            let mut tags = BTreeMap::new();
            tags.insert("ecs-rollback:enabled".to_string(), "true".to_string());
            w.svcs.push(Svc {
                name: name.clone(),
                desired: setup.desired,
                strategy: setup.strategy,
                bake_minutes: setup.bake_minutes,
                breaker: setup.breaker,
                deployment_alarms: setup.deployment_alarms,
                breaker_count: setup.breaker_count,
                tags,
                td: String::new(),
                config: c0,
                deps: Vec::new(),
                next_rev: 1,
                schema: 1,
            });
            w.alarms.push(Alarm {
                name: format!("{name}-5xx"),
                service: name.clone(),
                tagged: setup.alarm_tagged,
                state: AlarmState::Ok,
                transitioned: t0() - Duration::days(3),
                clean_since: None,
                breach_since: None,
                flaps: Vec::new(),
            });
            let last = if setup.mutable_tag { 3 } else { 2 };
            for (rev, days) in [(1, 2), (last, 1)] {
                w.now = t0() - Duration::days(days);
                w.start_deployment(&name, &td_arn(rev), None, true);
                // The service starts from completed deployments: past the bake time too.
                for _ in 0..(30 + setup.bake_minutes) {
                    w.tick();
                }
            }
        }
        w.now = t0();
        w.take_outbox();
        let world: Shared = Arc::new(Mutex::new(w));
        let clients = mocks::clients(&world, config());
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .start_paused(true)
            .build()
            .expect("runtime");
        Sim {
            world,
            clients,
            rt,
            pending: Vec::new(),
            deliveries,
            next_delivery: 0,
            kill_next: None,
            calls: Vec::new(),
            incidents: BTreeMap::new(),
            violations: Vec::new(),
            setups: services.to_vec(),
            checked_writes: 0,
            settling: false,
            responder: true,
        }
    }

    pub fn now(&self) -> Time {
        self.world.lock().unwrap().now
    }

    fn w(&self) -> std::sync::MutexGuard<'_, World> {
        self.world.lock().unwrap()
    }

    pub fn run(scenario: &Scenario) -> Sim {
        let mut sim = Sim::new(&scenario.services, scenario.deliveries.clone());
        for op in &scenario.ops {
            sim.apply(op);
        }
        sim.settle();
        sim
    }

    pub fn apply(&mut self, op: &Op) {
        let n = self.setups.len();
        if matches!(
            op,
            Op::Deploy { .. } | Op::Fix { .. } | Op::CliRollback { .. }
        ) {
            // A person's action takes its time: never the same second as the one before.
            self.w().now += Duration::seconds(20);
        }
        match *op {
            Op::Deploy { svc, change, kind } => self.deploy(SERVICES[svc % n], change, kind),
            Op::Fix { svc } => self.deploy(SERVICES[svc % n], Change::Image, Kind::Healthy),
            Op::CliRollback { svc } => self.cli_rollback(SERVICES[svc % n]),
            Op::Advance(m) => self.advance(m),
            Op::Flap {
                svc,
                on,
                off,
                cycles,
            } => {
                let mut w = self.w();
                let mut start = w.now + Duration::minutes(1);
                let name = SERVICES[svc % n];
                let a = w.alarms.iter_mut().find(|a| a.service == name).unwrap();
                for _ in 0..cycles {
                    a.flaps.push((start, start + Duration::minutes(on)));
                    start += Duration::minutes(on + off);
                }
            }
            Op::Kill(k) => self.kill_next = Some(k),
            Op::Throttle { op, n } => {
                *self
                    .w()
                    .throttles
                    .entry(READ_OPS[op % READ_OPS.len()])
                    .or_default() += n;
            }
        }
    }

    /// A person (CI/CD) deploys: a new image, a re-pushed mutable tag, or a configuration change.
    pub fn deploy(&mut self, svc: &str, change: Change, kind: Kind) {
        let mut w = self.w();
        let current = w.svc(svc).td.clone();
        let current_image = w.td(&current).map(|t| t.image.clone()).unwrap_or_default();
        let deregister =
            self.setups[SERVICES.iter().position(|s| *s == svc).unwrap()].deregister_previous;
        let change = match change {
            Change::RePush if !current_image.ends_with(":latest") => Change::Image,
            c => c,
        };
        match change {
            Change::Image | Change::Migration => {
                // Each service has its own database: its revisions declare its schema.
                if change == Change::Migration {
                    w.svc_mut(svc).schema += 1;
                }
                let schema = w.svc(svc).schema.to_string();
                let d = w.new_digest(kind);
                let tag = format!("repo/app:v{}", w.next_digest);
                w.registry.insert(tag.clone(), d);
                let tags = BTreeMap::from([("ecs-rollback:schema".to_string(), schema)]);
                let td = w.register(&tag, tags);
                if deregister {
                    if let Some(t) = w.td_mut(&current) {
                        t.active = false;
                    }
                }
                w.start_deployment(svc, &td, None, false);
            }
            Change::RePush => {
                let d = w.new_digest(kind);
                w.registry.insert("repo/app:latest".into(), d);
                w.start_deployment(svc, &current, None, true);
            }
            Change::Config => {
                let c = w.new_config(kind);
                w.start_deployment(svc, &current, Some(c), false);
            }
        }
        let p = w.svc(svc).primary().cloned().expect("primary");
        let new = !w.proven.contains(&(svc.to_string(), p.content.clone()));
        let kind = w.kind(&p.content);
        let now = w.now;
        let schema_of = |td: &str| {
            w.td(td)
                .and_then(|t| t.tags.get("ecs-rollback:schema").cloned())
        };
        let schema = schema_of(&p.td);
        // No revision that completed a deployment of the service runs on the new revision's
        // schema: with no down migration modelled, no automatic rollback is owed.
        let migrated = !w.revs.iter().any(|r| {
            w.proven.contains(&(
                svc.to_string(),
                Content {
                    digest: r.digest.clone(),
                    config: r.config,
                },
            )) && schema_of(&r.td) == schema
        });
        let proven_before: BTreeSet<Content> = w
            .proven
            .iter()
            .filter(|(s, _)| s == svc)
            .map(|(_, c)| c.clone())
            .collect();
        drop(w);
        if let Some(i) = self.incidents.get_mut(svc) {
            i.settled_by_other = true;
        }
        if new {
            self.incidents.insert(
                svc.to_string(),
                Incident {
                    start: now,
                    dep: p.id,
                    content: p.content,
                    kind,
                    auto_rollbacks: 0,
                    settled_by_other: false,
                    proven_before,
                    schema,
                    migrated,
                },
            );
        }
    }

    /// `ecs-rollback rollback` by a person: the loop-guard tags with kind=manual, then
    /// UpdateService to the last proven revision (the newest successful service deployment).
    pub fn cli_rollback(&mut self, svc: &str) {
        let mut w = self.w();
        let current = w.svc(svc).primary().map(|p| p.content.clone());
        let target = w
            .sds
            .iter()
            .rev()
            .filter(|d| d.service == svc && d.status == SdStatus::Successful)
            .filter_map(|d| w.revs.iter().find(|r| r.arn == d.target_rev))
            .find(|r| {
                Some(Content {
                    digest: r.digest.clone(),
                    config: r.config,
                }) != current
            })
            .cloned();
        let Some(target) = target else { return };
        if !w.td(&target.td).is_some_and(|t| t.active) {
            return;
        }
        let from = w.svc(svc).td.clone();
        let at = w.now.to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
        let s = w.svc_mut(svc);
        for (k, v) in [
            ("ecs-rollback:last-rollback-at", at),
            ("ecs-rollback:last-rollback-to", target.td.clone()),
            ("ecs-rollback:last-rollback-from", from),
            ("ecs-rollback:last-rollback-kind", "manual".into()),
            ("ecs-rollback:last-rollback-by", PERSON.into()),
        ] {
            s.tags.insert(k.into(), v);
        }
        let started = w.start_deployment(svc, &target.td, Some(target.config), false);
        let restored_schema = w
            .td(&target.td)
            .and_then(|t| t.tags.get("ecs-rollback:schema").cloned());
        drop(w);
        if let Some(i) = self.incidents.get_mut(svc) {
            i.settled_by_other = true;
            // The person decided the schema (a migration down, or `--force`): a later failure of
            // the revision they restored is answered against the schema it declares.
            if started.is_some() {
                i.schema = restored_schema;
            }
        }
    }

    fn delivery(&mut self) -> Delivery {
        if self.settling {
            return Delivery::OnTime;
        }
        let d = self
            .deliveries
            .get(self.next_delivery)
            .copied()
            .unwrap_or(Delivery::OnTime);
        self.next_delivery += 1;
        d
    }

    fn queue(&mut self, events: Vec<Emitted>) {
        if !self.responder {
            return;
        }
        for e in events {
            let due = |m: i64| e.at + Duration::minutes(m);
            let mut at = Vec::new();
            match self.delivery() {
                Delivery::OnTime => at.push(due(0)),
                Delivery::Duplicate => at.extend([due(0), due(0)]),
                Delivery::Late(m) => at.push(due(m)),
                Delivery::Hours(h) | Delivery::Redrive(h) => at.push(due(h * 60)),
                Delivery::Lost => {}
            }
            for due in at {
                self.pending.push(Pending {
                    due,
                    event: e.clone(),
                    attempt: 1,
                });
            }
        }
    }

    /// Advance the clock minute by minute, delivering what is due.
    pub fn advance(&mut self, minutes: i64) {
        for _ in 0..minutes {
            let world = self.world.clone();
            let events = {
                let mut w = world.lock().unwrap();
                w.tick();
                let e = w.take_outbox();
                self.note_ecs_rollbacks(&w);
                e
            };
            self.queue(events);
            self.deliver_due();
        }
    }

    fn note_ecs_rollbacks(&mut self, w: &World) {
        for (svc, i) in self.incidents.iter_mut() {
            let restored = w
                .sds
                .iter()
                .any(|d| d.service == *svc && d.dep_id == i.dep && d.rollback_to.is_some());
            let ours = w.writes.iter().any(|r| {
                r.op == "StopServiceDeployment" && r.changed.as_ref().is_some_and(|c| c.0 == i.dep)
            });
            if restored && !ours {
                i.settled_by_other = true;
            }
        }
    }

    fn deliver_due(&mut self) {
        loop {
            let now = self.now();
            let Some(i) = self
                .pending
                .iter()
                .enumerate()
                .filter(|(_, p)| p.due <= now)
                .min_by_key(|(_, p)| (p.due, p.event.id))
                .map(|(i, _)| i)
            else {
                return;
            };
            let p = self.pending.remove(i);
            self.invoke(p);
            let events = self.w().take_outbox();
            self.queue(events);
        }
    }

    fn invoke(&mut self, p: Pending) {
        let world = self.world.clone();
        let (now, start) = {
            let mut w = world.lock().unwrap();
            w.invocation += 1;
            w.inv_writes = 0;
            w.killed = false;
            w.kill_after = self.kill_next.take();
            (w.now, w.writes.len())
        };
        let inv = Invocation {
            function_arn: Some(LAMBDA_ARN.to_string()),
            deadline: None,
        };
        let result = self.rt.block_on(handle(
            &self.clients.deps,
            p.event.payload.clone(),
            &inv,
            now,
        ));
        let (killed, id, end) = {
            let mut w = self.w();
            let k = w.killed;
            w.killed = false;
            w.kill_after = None;
            (k, w.invocation, w.writes.len())
        };
        let result = result
            .map(|v| match v {
                Value::Array(a) => a,
                v => vec![v],
            })
            .map_err(|e| e.to_string());
        // Lambda retries a failed asynchronous invocation twice, 1 and 2 minutes later.
        if (killed || result.is_err()) && p.attempt < 3 {
            self.pending.push(Pending {
                due: now + Duration::minutes(p.attempt as i64),
                event: p.event.clone(),
                attempt: p.attempt + 1,
            });
        }
        let call = Call {
            id,
            at: now,
            event: p.event,
            attempt: p.attempt,
            killed,
            result,
            writes: start..end,
        };
        self.calls.push(call);
        self.check_call();
    }

    /// Final settle: every pending event delivered, new ones on time, the clock past cooldowns.
    pub fn settle(&mut self) {
        self.settling = true;
        let now = self.now_unlocked();
        for p in &mut self.pending {
            p.due = p.due.min(now);
        }
        self.advance(45);
        self.check_settled();
    }

    fn now_unlocked(&self) -> Time {
        self.world.lock().unwrap().now
    }

    fn violate(&mut self, invariant: u8, what: String) {
        self.violations.push(Violation { invariant, what });
    }

    /// Invariants 1–5 and 7 for the invocation just made.
    fn check_call(&mut self) {
        let call = self.calls.last().cloned().expect("call");
        let w = self.world.lock().unwrap().clone();
        let writes: Vec<WriteRec> = w.writes[self.checked_writes..].to_vec();
        self.checked_writes = w.writes.len();
        for rec in &writes {
            let svc = rec.resource.clone();
            match rec.op {
                "UpdateService" | "StopServiceDeployment" => {
                    // 1. At most one automatic rollback per incident.
                    match self.incidents.get_mut(&svc) {
                        Some(i) => {
                            i.auto_rollbacks += 1;
                            if i.auto_rollbacks > 1 {
                                let what = format!(
                                    "{svc}: automatic rollback #{} in the incident started {} ({}): {} {}",
                                    i.auto_rollbacks,
                                    i.start.format("%H:%M"),
                                    short(&i.dep),
                                    rec.op,
                                    rec.detail
                                );
                                self.violate(1, what);
                            }
                        }
                        None => self.violate(
                            1,
                            format!(
                                "{svc}: automatic rollback with no incident: {} {}",
                                rec.op, rec.detail
                            ),
                        ),
                    }
                    // 2. Never onto a revision marked bad for the service, nor a known-bad one.
                    if let Some((td, tags)) = &rec.target {
                        let bad =
                            tags.get("ecs-rollback:status").map(String::as_str) == Some("bad");
                        let bad_for = tags
                            .get("ecs-rollback:bad-for")
                            .cloned()
                            .unwrap_or_default();
                        let here = format!("{CLUSTER}/{svc}");
                        if bad
                            && (bad_for.is_empty() || bad_for.split_whitespace().any(|s| s == here))
                        {
                            self.violate(
                                2,
                                format!(
                                    "{svc}: rolled back onto {} marked bad ({bad_for})",
                                    short(td)
                                ),
                            );
                        }
                    }
                    if let Some(c) = &rec.content {
                        if w.kind(c).is_bad() && w.evidently_bad.contains(c) {
                            self.violate(
                                2,
                                format!("{svc}: rolled back onto a revision that failed before ({:?}): {}", w.kind(c), rec.detail),
                            );
                        }
                    }
                    // 7. Never onto a revision that does not declare the schema in force (the
                    // incident's revision's declaration, or that of a person's CLI rollback).
                    if let (Some((td, tags)), Some(i)) = (&rec.target, self.incidents.get(&svc)) {
                        let declared = tags.get("ecs-rollback:schema");
                        if i.schema.is_some() && declared != i.schema.as_ref() {
                            let what = format!(
                                "{svc}: rolled back onto {} declaring schema {declared:?} while {:?} is in force",
                                short(td),
                                i.schema
                            );
                            self.violate(7, what);
                        }
                    }
                    // 3. Never a write caused by an event older than the deployment it changes.
                    if let Some((dep, created)) = &rec.changed {
                        if call.event.at < *created - Duration::minutes(1) {
                            self.violate(
                                3,
                                format!(
                                    "{svc}: {} changed deployment {} created {} because of an event of {} ({:?})",
                                    rec.op,
                                    short(dep),
                                    created.format("%H:%M"),
                                    call.event.at.format("%H:%M"),
                                    call.event.about
                                ),
                            );
                        }
                    }
                }
                "TagResource" if rec.detail.contains("ecs-rollback:status=bad") => {
                    // 4. Never a proven revision marked bad: a task definition that ran a
                    // content which had completed a deployment of the service before the
                    // incident began (a copy is its source: contents are digest and
                    // configuration). A new revision whose guarding alarm rang is marked bad by
                    // contract, even when the alarm's cause was downstream: that is a false
                    // rollback, counted by the time-to-safety measurement, not a violation.
                    let td = rec.resource.clone();
                    let ran: Vec<&Rev> = w.revs.iter().filter(|r| r.td == td).collect();
                    let mut found = Vec::new();
                    for (svc, inc) in &self.incidents {
                        let here = format!("bad-for={CLUSTER}/{svc}");
                        if !rec.detail.contains(&here) {
                            continue;
                        }
                        let proven = ran.iter().find(|r| {
                            inc.proven_before.contains(&Content {
                                digest: r.digest.clone(),
                                config: r.config,
                            })
                        });
                        if let Some(r) = proven {
                            found.push(format!(
                                "{} marked bad for {svc} although it ran {} which completed a deployment before the incident",
                                short(&td),
                                r.digest
                            ));
                        }
                    }
                    for what in found {
                        self.violate(4, what);
                    }
                }
                _ => {}
            }
        }
        self.check_liveness(&call, &w);
    }

    /// Invariant 5: a genuinely failed new revision is rolled back by the first event delivered
    /// after its failure is visible, unless ECS rolls it back itself or a person acted.
    fn check_liveness(&mut self, call: &Call, w: &World) {
        if call.killed || call.result.is_err() || call.attempt > 1 {
            return;
        }
        let svc = call.event.service.clone();
        let Some(inc) = self.incidents.get(&svc).cloned() else {
            return;
        };
        if inc.settled_by_other || inc.auto_rollbacks > 0 || !inc.kind.is_bad() || inc.migrated {
            return;
        }
        // Delivered on time (a late event may legitimately find the window closed).
        if call.at - call.event.at > Duration::minutes(2) {
            return;
        }
        let s = w.svc(&svc);
        let Some(p) = s.primary() else { return };
        if p.id != inc.dep || s.deps.iter().any(|d| d.restoring_for.is_some()) {
            return;
        }
        let setup = &self.setups[SERVICES.iter().position(|n| *n == svc).unwrap()];
        let visible = if inc.kind.tasks_fail() {
            let ecs_acts =
                setup.strategy == Strategy::Rolling && setup.breaker == Some((true, true));
            if ecs_acts {
                return;
            }
            let failed = p.rollout == Rollout::Failed || p.stops as i32 >= s.breaker_threshold();
            let signal = match &call.event.about {
                About::DeploymentFailed { dep } | About::TaskStopped { dep } => *dep == inc.dep,
                _ => false,
            };
            failed && signal
        } else {
            let guards = setup.alarm_tagged || setup.deployment_alarms.is_some_and(|a| a.0);
            let ecs_acts =
                setup.deployment_alarms == Some((true, true)) && p.rollout == Rollout::InProgress;
            let alarm = w.alarms.iter().find(|a| a.service == svc).unwrap();
            let ringing = alarm.state == AlarmState::Alarm && alarm.transitioned >= inc.start;
            let signal = matches!(
                call.event.about,
                About::Alarm {
                    state: AlarmState::Alarm
                }
            ) || matches!(&call.event.about, About::DeploymentFailed { dep } if *dep == inc.dep);
            let in_window =
                call.at - inc.start <= Duration::minutes(60) || p.rollout == Rollout::InProgress;
            guards && !ecs_acts && ringing && signal && in_window
        };
        if !visible {
            return;
        }
        let action = call
            .response_for(&svc)
            .and_then(|r| r["action"].as_str())
            .unwrap_or("none");
        if action != "rolled_back" {
            let reason = call
                .response_for(&svc)
                .and_then(|r| r["reason"].as_str())
                .unwrap_or("")
                .to_string();
            let what = format!(
                "{svc}: {:?} revision {} failing since the incident of {}, event {:?} of {} answered {action}: {reason}",
                inc.kind,
                short(&p.td),
                inc.start.format("%H:%M"),
                call.event.about,
                call.event.at.format("%H:%M")
            );
            self.violate(5, what);
        }
    }

    /// Invariant 6: nothing left half-done: the service runs a healthy revision, or a response said why.
    fn check_settled(&mut self) {
        let w = self.world.lock().unwrap().clone();
        for s in &w.svcs {
            // A loop guard whose rollback never happened, with the failing revision still running.
            if let Some(to) = s.tags.get("ecs-rollback:last-rollback-to") {
                let on_target = s.deps.iter().any(|d| d.td == *to)
                    || w.sds.iter().any(|d| {
                        d.service == s.name
                            && w.revs.iter().any(|r| r.arn == d.target_rev && r.td == *to)
                    });
                // The revision it would have rolled back still runs (a person's later deployment
                // is another incident: the guard without evidence is then only stale intent).
                let from = s.tags.get("ecs-rollback:last-rollback-from");
                let failing_runs = s.primary().is_some_and(|p| {
                    w.kind(&p.content).is_bad() && from.is_none_or(|f| *f == p.td)
                });
                if !on_target && failing_runs {
                    self.violate(
                        6,
                        format!(
                            "{}: loop guard names {} but no deployment of it ever started",
                            s.name,
                            short(to)
                        ),
                    );
                }
            }
            let Some(p) = s.primary() else { continue };
            if !w.kind(&p.content).is_bad() {
                continue;
            }
            let Some(inc) = self.incidents.get(&s.name) else {
                continue;
            };
            if inc.settled_by_other || p.id != inc.dep {
                continue;
            }
            // Some event about it was delivered: the last response must say why it stays.
            let last = self
                .calls
                .iter()
                .rev()
                .filter(|c| c.at >= inc.start && !c.killed)
                .find_map(|c| c.response_for(&s.name).cloned());
            if let Some(r) = last {
                let action = r["action"].as_str().unwrap_or("");
                if action == "rolled_back" || r["reason"].as_str().unwrap_or("").is_empty() {
                    self.violate(
                        6,
                        format!(
                            "{}: still runs the failing {} after settling; last response {action}: {}",
                            s.name,
                            short(&p.td),
                            r["reason"].as_str().unwrap_or("")
                        ),
                    );
                }
            }
        }
    }

    pub fn transcript(&self) -> String {
        let mut out = String::new();
        for c in &self.calls {
            out.push_str(&c.line());
            out.push('\n');
            let w = self.world.lock().unwrap();
            for r in &w.writes[c.writes.clone()] {
                out.push_str(&format!(
                    "      write {} {} {}\n",
                    r.op,
                    short(&r.resource),
                    r.detail
                ));
            }
        }
        out
    }
}
