//! `mark REVISION stable|bad|clear`: the ledger by hand — `ecs-rollback:status` on the
//! task definition, and `ecs-rollback:bad-for` = `<cluster>/<service>` (space-separated) for a ban
//! that holds for one service only. TagResource / UntagResource on the task-definition ARN.

use std::collections::BTreeMap;

use aws_sdk_ecs::types::Tag;
use serde_json::json;

use super::args::{Format, MarkArgs, MarkAs};
use super::context::{manual_deps, named_service, Ctx};
use super::error::{CliError, Code};
use super::output::{print, print_json};
use super::revisions::resolve_name;
use crate::aws::aws_error;
use crate::aws::ecs::Ecs;
use crate::error::{Error, InputError};
use crate::model::*;

/// `ecs-rollback:bad-for`: the services a `bad` was proven on.
pub use crate::model::TAG_BAD_FOR;

/// The tag changes for a mark: keys to set and keys to remove.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Plan {
    pub set: Vec<(String, String)>,
    pub remove: Vec<String>,
}

/// What `mark` changes, given the revision's current tags and the service (`cluster/service`).
/// `clear` with a service touches that service's ban only: a mark that holds for every service
/// (`bad` without `bad-for`, `stable`) is refused (exit 3) rather than lifted everywhere.
pub fn plan(
    tags: &BTreeMap<String, String>,
    mark: MarkAs,
    service: Option<&str>,
) -> Result<Plan, CliError> {
    let mut bad_for: Vec<String> = tags
        .get(TAG_BAD_FOR)
        .map(|v| v.split_whitespace().map(str::to_string).collect())
        .unwrap_or_default();
    let status = tags.get(TAG_STATUS).map(|s| s.trim().to_ascii_lowercase());
    let mut set = Vec::new();
    let mut remove = Vec::new();
    match (mark, service) {
        (MarkAs::Stable, _) => {
            set.push((TAG_STATUS.to_string(), "stable".to_string()));
            if tags.contains_key(TAG_BAD_FOR) {
                remove.push(TAG_BAD_FOR.to_string());
            }
        }
        (MarkAs::Bad, Some(svc)) => {
            set.push((TAG_STATUS.to_string(), "bad".to_string()));
            // Already banned everywhere (bad without bad-for): keep it so.
            let everywhere = status.as_deref() == Some("bad") && bad_for.is_empty();
            if !everywhere {
                if !bad_for.iter().any(|s| s == svc) {
                    bad_for.push(svc.to_string());
                }
                set.push((TAG_BAD_FOR.to_string(), bad_for.join(" ")));
            }
        }
        (MarkAs::Bad, None) => {
            set.push((TAG_STATUS.to_string(), "bad".to_string()));
            if tags.contains_key(TAG_BAD_FOR) {
                remove.push(TAG_BAD_FOR.to_string());
            }
        }
        (MarkAs::Clear, Some(svc)) if !bad_for.is_empty() => {
            if bad_for.iter().any(|s| s == svc) {
                bad_for.retain(|s| s != svc);
                if bad_for.is_empty() {
                    remove.push(TAG_STATUS.to_string());
                    remove.push(TAG_BAD_FOR.to_string());
                } else {
                    set.push((TAG_BAD_FOR.to_string(), bad_for.join(" ")));
                }
            }
        }
        (MarkAs::Clear, Some(svc)) => {
            let everywhere = match status.as_deref() {
                Some("bad") => Some("banned as a rollback target for every service"),
                Some("stable") => Some("marked stable for every service"),
                _ => None,
            };
            if let Some(what) = everywhere {
                return Err(CliError::nothing(format!(
                    "the revision is {what} (no {TAG_BAD_FOR}): clearing it for {svc} alone would clear it everywhere; nothing was changed"
                ))
                .hint("`ecs-rollback mark REVISION clear` without a service clears it for every service; then `mark REVISION bad -c C -s S` bans it again where it should stay banned"));
            }
        }
        (MarkAs::Clear, _) => {
            for key in [TAG_STATUS, TAG_BAD_FOR] {
                if tags.contains_key(key) {
                    remove.push(key.to_string());
                }
            }
        }
    }
    Ok(Plan { set, remove })
}

/// The revision's ARN and tags.
async fn read(ecs: &Ecs, name: &str) -> Result<(String, BTreeMap<String, String>), Error> {
    let (td, tags) = ecs.task_definition_with_tags(name).await?;
    let arn = td
        .task_definition_arn()
        .ok_or_else(|| Error::Input(InputError::UnknownTaskDefinition(name.to_string())))?
        .to_string();
    Ok((arn, tags))
}

pub async fn run(ctx: &Ctx, args: &MarkArgs) -> Result<Code, CliError> {
    let deps = manual_deps(&ctx.sdk, false, false)?;
    let service = named_service(&deps.ecs, &args.target).await?;
    let current = service.as_ref().map(|s| s.task_definition.as_str());
    let name = resolve_name(&args.revision, current)?;
    let (arn, tags) = read(&deps.ecs, &name).await?;
    let key = service
        .as_ref()
        .map(|s| format!("{}/{}", s.cluster_name(), s.service_name));
    let short = short_task_definition(&arn);
    let change = plan(&tags, args.mark, key.as_deref()).map_err(|e| CliError {
        message: format!("{short}: {}", e.message),
        hint: e.hint.map(|h| h.replace("REVISION", &short)),
        code: e.code,
    })?;
    if !change.set.is_empty() {
        let set: Vec<Tag> = change
            .set
            .iter()
            .map(|(k, v)| Tag::builder().key(k).value(v).build())
            .collect();
        deps.ecs
            .client
            .tag_resource()
            .resource_arn(&arn)
            .set_tags(Some(set))
            .send()
            .await
            .map_err(|e| CliError::from(Error::from(aws_error("TagResource", e))))?;
    }
    if !change.remove.is_empty() {
        deps.ecs
            .client
            .untag_resource()
            .resource_arn(&arn)
            .set_tag_keys(Some(change.remove.clone()))
            .send()
            .await
            .map_err(|e| CliError::from(Error::from(aws_error("UntagResource", e))))?;
    }
    let mut after = tags.clone();
    for k in &change.remove {
        after.remove(k);
    }
    for (k, v) in &change.set {
        after.insert(k.clone(), v.clone());
    }
    let meaning = match (
        after.get(TAG_STATUS).map(String::as_str),
        after.get(TAG_BAD_FOR),
    ) {
        (Some("bad"), Some(services)) => format!("banned as a rollback target for {services}"),
        (Some("bad"), None) => "banned as a rollback target for every service".to_string(),
        (Some("stable"), _) => "stable: a rollback target".to_string(),
        _ => "no mark: chosen by history and family order".to_string(),
    };
    match ctx.format {
        Format::Json => print_json(&json!({
            "task_definition": arn,
            "set": change.set.iter().map(|(k, v)| json!({"key": k, "value": v})).collect::<Vec<_>>(),
            "removed": change.remove,
            "ledger": after.get(TAG_STATUS),
            "bad_for": after.get(TAG_BAD_FOR),
        })),
        Format::Text => {
            let mut text = format!("{short}: {meaning}\n");
            for (k, v) in &change.set {
                text.push_str(&format!("  tagged    {k}={v}\n"));
            }
            for k in &change.remove {
                text.push_str(&format!("  untagged  {k}\n"));
            }
            if change.set.is_empty() && change.remove.is_empty() {
                match (&key, args.mark) {
                    (Some(svc), MarkAs::Clear) => text.push_str(&format!(
                        "  (nothing to change: {svc} is not in {TAG_BAD_FOR})\n"
                    )),
                    _ => text.push_str("  (nothing to change)\n"),
                }
            }
            print(&text);
        }
    }
    Ok(Code::Ok)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tags(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn marks_set_and_remove_the_ledger_tags() {
        let none = tags(&[]);
        let p = plan(&none, MarkAs::Bad, Some("demo/web")).unwrap();
        assert_eq!(
            p.set,
            vec![
                (TAG_STATUS.into(), "bad".into()),
                (TAG_BAD_FOR.into(), "demo/web".into())
            ]
        );
        let two = tags(&[(TAG_STATUS, "bad"), (TAG_BAD_FOR, "demo/web")]);
        let p = plan(&two, MarkAs::Bad, Some("demo/api")).unwrap();
        assert_eq!(p.set[1].1, "demo/web demo/api");
        let p = plan(&two, MarkAs::Clear, Some("demo/web")).unwrap();
        assert_eq!(
            p.remove,
            vec![TAG_STATUS.to_string(), TAG_BAD_FOR.to_string()]
        );
        let both = tags(&[(TAG_STATUS, "bad"), (TAG_BAD_FOR, "demo/web demo/api")]);
        let p = plan(&both, MarkAs::Clear, Some("demo/web")).unwrap();
        assert_eq!(p.set, vec![(TAG_BAD_FOR.into(), "demo/api".into())]);
        assert!(p.remove.is_empty());
        let p = plan(&both, MarkAs::Stable, None).unwrap();
        assert_eq!(p.set, vec![(TAG_STATUS.into(), "stable".into())]);
        assert_eq!(p.remove, vec![TAG_BAD_FOR.to_string()]);
        // Banned everywhere stays so when a service is added.
        let everywhere = tags(&[(TAG_STATUS, "bad")]);
        let p = plan(&everywhere, MarkAs::Bad, Some("demo/web")).unwrap();
        assert_eq!(p.set, vec![(TAG_STATUS.into(), "bad".into())]);
        assert!(plan(&none, MarkAs::Clear, None).unwrap().remove.is_empty());
    }

    #[test]
    fn clear_for_a_service_lifts_only_that_service_s_ban() {
        let both = tags(&[(TAG_STATUS, "bad"), (TAG_BAD_FOR, "demo/web demo/api")]);
        // Another service's ban stays whole.
        let p = plan(&both, MarkAs::Clear, Some("demo/other")).unwrap();
        assert!(p.set.is_empty() && p.remove.is_empty(), "{p:?}");
        // A ban for every service is not lifted for one service: refused, nothing changed.
        let everywhere = tags(&[(TAG_STATUS, "bad")]);
        let e = plan(&everywhere, MarkAs::Clear, Some("demo/web")).unwrap_err();
        assert_eq!(e.code, Code::Nothing);
        assert!(e.message.contains("every service"), "{e:?}");
        let stable = tags(&[(TAG_STATUS, "stable")]);
        assert!(plan(&stable, MarkAs::Clear, Some("demo/web")).is_err());
        // Without a service, clear lifts it everywhere.
        let p = plan(&everywhere, MarkAs::Clear, None).unwrap();
        assert_eq!(p.remove, vec![TAG_STATUS.to_string()]);
    }
}
