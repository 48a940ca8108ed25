//! `diff FROM TO`, and the "changes" of every rollback and deploy plan: what moving a service
//! from one revision to another changes, field by field. Read from `DescribeTaskDefinition` and,
//! when the service is known, from the service revisions of its deployment history
//! (`ListServiceDeployments` → `DescribeServiceRevisions`, 20 per call).
//!
//! Never shown (never even kept): environment values, secret `valueFrom`s, environment-file
//! contents. Environment variables and secrets are compared by *name* only.

use std::collections::BTreeMap;

use serde::Serialize;
use serde_json::{json, Value};

use super::args::{DiffArgs, Format};
use super::context::{manual_deps, named_service, Ctx};
use super::error::{CliError, Code};
use super::output::{print, print_json, short_image};
use super::revisions::resolve_name;
use crate::aws::aws_error;
use crate::aws::ecs::Ecs;
use crate::decision::same_task_definition;
use crate::error::Error;
use crate::model::*;

/// One revision's comparable facts: field → value (a display string, or a list of names).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Facts {
    pub name: String,
    pub fields: BTreeMap<String, Fact>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Fact {
    Value(String),
    /// Compared as a set: shown as names added and removed.
    Names(Vec<String>),
}

/// One difference.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Change {
    pub field: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub from: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub to: Option<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub added: Vec<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub removed: Vec<String>,
}

/// The difference of two revisions.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Diff {
    pub from: String,
    pub to: String,
    pub changes: Vec<Change>,
    /// Set when the service configuration could not be compared (no service, no history).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub service_config: Option<String>,
}

impl Diff {
    pub fn between(from: &Facts, to: &Facts) -> Diff {
        let mut keys: Vec<&String> = from.fields.keys().chain(to.fields.keys()).collect();
        keys.sort();
        keys.dedup();
        let mut changes = Vec::new();
        for key in keys {
            let (a, b) = (from.fields.get(key), to.fields.get(key));
            if a == b {
                continue;
            }
            let names = |f: Option<&Fact>| match f {
                Some(Fact::Names(n)) => Some(n.clone()),
                _ => None,
            };
            match (names(a), names(b)) {
                (Some(_), _) | (_, Some(_)) => {
                    let (a, b) = (names(a).unwrap_or_default(), names(b).unwrap_or_default());
                    let added: Vec<String> = b.iter().filter(|n| !a.contains(n)).cloned().collect();
                    let removed: Vec<String> =
                        a.iter().filter(|n| !b.contains(n)).cloned().collect();
                    if added.is_empty() && removed.is_empty() {
                        continue;
                    }
                    changes.push(Change {
                        field: key.clone(),
                        from: None,
                        to: None,
                        added,
                        removed,
                    });
                }
                _ => {
                    let value = |f: Option<&Fact>| match f {
                        Some(Fact::Value(v)) => Some(v.clone()),
                        _ => None,
                    };
                    changes.push(Change {
                        field: key.clone(),
                        from: value(a),
                        to: value(b),
                        added: Vec::new(),
                        removed: Vec::new(),
                    });
                }
            }
        }
        Diff {
            from: from.name.clone(),
            to: to.name.clone(),
            changes,
            service_config: None,
        }
    }

    /// Lines `  field  from → to` (or `+ADDED −REMOVED` for names), aligned; `indent` before each.
    pub fn lines(&self, indent: &str) -> String {
        if self.changes.is_empty() {
            return format!("{indent}(no difference in the compared fields)\n");
        }
        let width = self
            .changes
            .iter()
            .map(|c| c.field.chars().count())
            .max()
            .unwrap_or(0);
        let mut out = String::new();
        for c in &self.changes {
            let what = if c.added.is_empty() && c.removed.is_empty() {
                format!(
                    "{} → {}",
                    c.from.as_deref().unwrap_or("(none)"),
                    c.to.as_deref().unwrap_or("(none)")
                )
            } else {
                let mut parts: Vec<String> = c.added.iter().map(|n| format!("+{n}")).collect();
                parts.extend(c.removed.iter().map(|n| format!("−{n}")));
                parts.join(" ")
            };
            out.push_str(&format!(
                "{indent}{:<width$}  {what}\n",
                c.field,
                width = width
            ));
        }
        out
    }

    pub fn json(&self) -> Value {
        json!(self)
    }
}

fn put(fields: &mut BTreeMap<String, Fact>, key: impl Into<String>, value: Option<String>) {
    if let Some(v) = value.filter(|v| !v.is_empty()) {
        fields.insert(key.into(), Fact::Value(v));
    }
}

/// The comparable facts of a task definition. Environment values and secret sources are never read.
pub async fn task_definition_facts(ecs: &Ecs, name: &str) -> Result<Facts, Error> {
    let (td, tags) = ecs.task_definition_with_tags(name).await?;
    let mut f = BTreeMap::new();
    put(&mut f, "schema", tags.get(TAG_SCHEMA).cloned());
    put(&mut f, "cpu", td.cpu().map(str::to_string));
    put(&mut f, "memory", td.memory().map(str::to_string));
    put(&mut f, "task role", td.task_role_arn().map(str::to_string));
    put(
        &mut f,
        "execution role",
        td.execution_role_arn().map(str::to_string),
    );
    put(
        &mut f,
        "network mode",
        td.network_mode().map(|m| m.as_str().to_string()),
    );
    put(
        &mut f,
        "ephemeral storage",
        td.ephemeral_storage()
            .map(|e| format!("{} GiB", e.size_in_gib())),
    );
    put(
        &mut f,
        "platform",
        td.runtime_platform().map(|p| {
            format!(
                "{}/{}",
                p.operating_system_family()
                    .map(|o| o.as_str())
                    .unwrap_or("?"),
                p.cpu_architecture().map(|a| a.as_str()).unwrap_or("?")
            )
        }),
    );
    let names: Vec<&str> = td
        .container_definitions()
        .iter()
        .filter_map(|c| c.name())
        .collect();
    f.insert(
        "containers".into(),
        Fact::Names(names.iter().map(|n| n.to_string()).collect()),
    );
    for c in td.container_definitions() {
        let Some(n) = c.name() else { continue };
        put(&mut f, format!("{n}: image"), c.image().map(str::to_string));
        if c.cpu() != 0 {
            put(&mut f, format!("{n}: cpu"), Some(c.cpu().to_string()));
        }
        put(
            &mut f,
            format!("{n}: memory"),
            c.memory().map(|m| m.to_string()),
        );
        put(
            &mut f,
            format!("{n}: memory reservation"),
            c.memory_reservation().map(|m| m.to_string()),
        );
        let mut env: Vec<String> = c
            .environment()
            .iter()
            .filter_map(|kv| kv.name().map(str::to_string))
            .collect();
        env.sort();
        f.insert(format!("{n}: environment names"), Fact::Names(env));
        let mut secrets: Vec<String> = c.secrets().iter().map(|s| s.name().to_string()).collect();
        secrets.sort();
        f.insert(format!("{n}: secret names"), Fact::Names(secrets));
        let files = c.environment_files().len();
        if files > 0 {
            put(
                &mut f,
                format!("{n}: environment files"),
                Some(files.to_string()),
            );
        }
    }
    Ok(Facts {
        name: td
            .task_definition_arn()
            .map(short_task_definition)
            .unwrap_or_else(|| short_task_definition(name)),
        fields: f,
    })
}

/// The service configuration each of `tds` last ran with, from the service's deployment history:
/// task definition → facts (`service: …` fields). Missing entries: never deployed to this service
/// in the history ECS keeps.
pub async fn service_config_facts(
    ecs: &Ecs,
    service: &ServiceState,
    tds: &[&str],
) -> Result<BTreeMap<String, BTreeMap<String, Fact>>, Error> {
    let briefs = ecs.list_service_deployments(service, 1).await?;
    let mut briefs: Vec<_> = briefs.iter().collect();
    // The API documents no order: newest first by the deployments' own timestamps.
    briefs.sort_by_key(|b| std::cmp::Reverse(b.created_at().map(|t| (t.secs(), t.subsec_nanos()))));
    let revision_arns: Vec<String> = briefs
        .iter()
        .filter_map(|b| b.target_service_revision_arn().map(str::to_string))
        .take(20)
        .collect();
    if revision_arns.is_empty() {
        return Ok(BTreeMap::new());
    }
    let out = ecs
        .client
        .describe_service_revisions()
        .set_service_revision_arns(Some(revision_arns.clone()))
        .send()
        .await
        .map_err(|e| aws_error("DescribeServiceRevisions", e))?;
    let by_arn: BTreeMap<&str, &aws_sdk_ecs::types::ServiceRevision> = out
        .service_revisions()
        .iter()
        .filter_map(|r| Some((r.service_revision_arn()?, r)))
        .collect();
    let mut found = BTreeMap::new();
    for td in tds {
        // The newest service revision of this task definition.
        let Some(rev) = revision_arns
            .iter()
            .filter_map(|a| by_arn.get(a.as_str()))
            .find(|r| {
                r.task_definition()
                    .is_some_and(|t| same_task_definition(t, td))
            })
        else {
            continue;
        };
        found.insert(td.to_string(), revision_facts(rev));
    }
    Ok(found)
}

fn revision_facts(r: &aws_sdk_ecs::types::ServiceRevision) -> BTreeMap<String, Fact> {
    let mut f = BTreeMap::new();
    if let Some(vpc) = r
        .network_configuration()
        .and_then(|n| n.awsvpc_configuration())
    {
        let mut subnets = vpc.subnets().to_vec();
        subnets.sort();
        let mut groups = vpc.security_groups().to_vec();
        groups.sort();
        f.insert("service: subnets".into(), Fact::Names(subnets));
        f.insert("service: security groups".into(), Fact::Names(groups));
        put(
            &mut f,
            "service: public IP",
            vpc.assign_public_ip().map(|a| a.as_str().to_string()),
        );
    }
    let mut lbs: Vec<String> = r
        .load_balancers()
        .iter()
        .map(|lb| {
            format!(
                "{}→{}:{}",
                lb.target_group_arn()
                    .or(lb.load_balancer_name())
                    .map(|t| t.rsplit(':').next().unwrap_or(t))
                    .unwrap_or("?"),
                lb.container_name().unwrap_or("?"),
                lb.container_port()
                    .map(|p| p.to_string())
                    .unwrap_or_default()
            )
        })
        .collect();
    lbs.sort();
    f.insert("service: load balancers".into(), Fact::Names(lbs));
    let mut registries: Vec<String> = r
        .service_registries()
        .iter()
        .filter_map(|s| s.registry_arn().map(str::to_string))
        .collect();
    registries.sort();
    f.insert(
        "service: service registries".into(),
        Fact::Names(registries),
    );
    let capacity = r
        .capacity_provider_strategy()
        .iter()
        .map(|c| {
            format!(
                "{} (weight {}, base {})",
                c.capacity_provider(),
                c.weight(),
                c.base()
            )
        })
        .collect::<Vec<_>>()
        .join(", ");
    put(&mut f, "service: capacity providers", Some(capacity));
    put(
        &mut f,
        "service: launch type",
        r.launch_type().map(|l| l.as_str().to_string()),
    );
    put(
        &mut f,
        "service: platform version",
        r.platform_version().map(str::to_string),
    );
    put(
        &mut f,
        "service: service connect",
        r.service_connect_configuration()
            .map(|s| if s.enabled() { "enabled" } else { "disabled" }.to_string()),
    );
    if !r.volume_configurations().is_empty() {
        put(
            &mut f,
            "service: volume configurations",
            Some(r.volume_configurations().len().to_string()),
        );
    }
    if !r.vpc_lattice_configurations().is_empty() {
        put(
            &mut f,
            "service: VPC Lattice configurations",
            Some(r.vpc_lattice_configurations().len().to_string()),
        );
    }
    f
}

/// The full difference FROM → TO; with a service, its configuration too (best effort: a history
/// read failure is said in `service_config`, never an error).
pub async fn diff(
    ecs: &Ecs,
    service: Option<&ServiceState>,
    from: &str,
    to: &str,
) -> Result<Diff, Error> {
    let mut a = task_definition_facts(ecs, from).await?;
    let mut b = task_definition_facts(ecs, to).await?;
    let mut note = None;
    match service {
        None => note = Some("no service named: its configuration is not compared".to_string()),
        Some(service) => match service_config_facts(ecs, service, &[from, to]).await {
            Ok(found) => {
                let missing: Vec<String> = [from, to]
                    .iter()
                    .filter(|td| !found.contains_key(**td))
                    .map(|td| short_task_definition(td))
                    .collect();
                if let (Some(fa), Some(fb)) = (found.get(from), found.get(to)) {
                    a.fields.extend(fa.clone());
                    b.fields.extend(fb.clone());
                } else {
                    note = Some(format!(
                        "{} never deployed to this service in the history ECS keeps: the service configuration is not compared",
                        missing.join(" and ")
                    ));
                }
            }
            Err(e) => {
                note = Some(format!(
                    "service history unavailable ({e}): the service configuration is not compared"
                ))
            }
        },
    }
    let mut d = Diff::between(&a, &b);
    d.service_config = note;
    Ok(d)
}

/// The deploy plan's difference: the running revision with one container's image replaced.
pub fn image_change(from: &Facts, container: &str, image: &str) -> Diff {
    let mut to = from.clone();
    to.name = "new revision".into();
    to.fields.insert(
        format!("{container}: image"),
        Fact::Value(image.to_string()),
    );
    Diff::between(from, &to)
}

pub async fn run(ctx: &Ctx, args: &DiffArgs) -> Result<Code, CliError> {
    let deps = manual_deps(&ctx.sdk, true, false)?;
    let service = named_service(&deps.ecs, &args.target).await?;
    let current = service.as_ref().map(|s| s.task_definition.as_str());
    let from = resolve_name(&args.from, current)?;
    let to = resolve_name(&args.to, current)?;
    let d = diff(&deps.ecs, service.as_ref(), &from, &to).await?;
    match ctx.format {
        Format::Json => print_json(&d.json()),
        Format::Text => {
            let mut text = format!("{} → {}\n", d.from, d.to);
            text.push_str(&d.lines("  "));
            if let Some(note) = &d.service_config {
                text.push_str(&format!("  ({note})\n"));
            }
            print(&text);
        }
    }
    Ok(Code::Ok)
}

/// `hello-world:c3d4e5f → hello-world:b2c3d4e` for image fields in plans (the full reference is
/// in `diff` and JSON).
pub fn short_images(mut d: Diff) -> Diff {
    for c in &mut d.changes {
        if c.field.ends_with(": image") {
            c.from = c.from.as_deref().map(short_image);
            c.to = c.to.as_deref().map(short_image);
        }
    }
    d
}

#[cfg(test)]
mod tests {
    use super::*;

    fn facts(name: &str, pairs: &[(&str, Fact)]) -> Facts {
        Facts {
            name: name.into(),
            fields: pairs
                .iter()
                .map(|(k, v)| (k.to_string(), v.clone()))
                .collect(),
        }
    }

    #[test]
    fn differences_show_values_and_names_added_and_removed() {
        let v = |s: &str| Fact::Value(s.into());
        let n = |s: &[&str]| Fact::Names(s.iter().map(|x| x.to_string()).collect());
        let a = facts(
            "web:3",
            &[
                ("app: image", v("repo/web:bbb")),
                ("app: environment names", n(&["FLAG_NEW", "GREETING"])),
                ("cpu", v("512")),
                ("task role", v("arn:aws:iam::1:role/web")),
            ],
        );
        let b = facts(
            "web:2",
            &[
                ("app: image", v("repo/web:aaa")),
                ("app: environment names", n(&["GREETING", "LEGACY"])),
                ("cpu", v("512")),
            ],
        );
        let d = Diff::between(&a, &b);
        assert_eq!(
            d.lines("  "),
            "  app: environment names  +LEGACY −FLAG_NEW\n  app: image              repo/web:bbb → repo/web:aaa\n  task role               arn:aws:iam::1:role/web → (none)\n"
        );
        let j = d.json();
        assert_eq!(j["changes"][0]["added"], json!(["LEGACY"]));
        assert_eq!(j["changes"][1]["from"], "repo/web:bbb");
        assert_eq!(Diff::between(&a, &a).changes, vec![]);
    }
}
