//! `deploy`: a deploy script's job. Copy the service's current task definition with a new image
//! (every field kept, through the same `Ecs::register_copy` the responder uses for pinned copies),
//! register it, update the service, optionally follow the deployment.

use std::io::IsTerminal;

use serde_json::json;

use aws_sdk_ecr::types::ImageIdentifier;

use super::args::{DeployArgs, Format};
use super::context::{ecr_client, manual_deps, Ctx};
use super::diff::{image_change, task_definition_facts};
use super::error::{CliError, Code};
use super::git::Git;
use super::output::{note, print, print_json, short_image};
use super::verdict::Outcome;
use super::wait;
use crate::aws::aws_error;
use crate::aws::ecs::ImageOverride;
use crate::model::*;

/// Which container's image changes.
pub fn pick_container(
    revision: &str,
    containers: &[ContainerImage],
    named: Option<&str>,
    image: Option<&str>,
) -> Result<String, CliError> {
    let names = || {
        containers
            .iter()
            .map(|c| c.container.as_str())
            .collect::<Vec<_>>()
            .join(", ")
    };
    if let Some(name) = named {
        return containers
            .iter()
            .find(|c| c.container == name)
            .map(|c| c.container.clone())
            .ok_or_else(|| {
                CliError::usage(format!("{revision} has no container named {name:?}"))
                    .hint(format!("its containers: {}", names()))
            });
    }
    if let [only] = containers {
        return Ok(only.container.clone());
    }
    if let Some(image) = image {
        let repo = image_repository(image);
        let same: Vec<&ContainerImage> = containers
            .iter()
            .filter(|c| image_repository(&c.image) == repo)
            .collect();
        if let [only] = same.as_slice() {
            return Ok(only.container.clone());
        }
    }
    Err(CliError::usage(format!(
        "{revision} has {} containers; which one gets the new image?",
        containers.len()
    ))
    .hint(format!("name it with --container (one of: {})", names())))
}

/// Docker's rule for tags: `[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}`.
fn valid_tag(tag: &str) -> bool {
    let mut bytes = tag.bytes();
    matches!(bytes.next(), Some(b) if b.is_ascii_alphanumeric() || b == b'_')
        && tag.len() <= 128
        && bytes.all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'-'))
}

/// The image to deploy: `--image` (its tag, or `--tag`, or the git short SHA), else the current
/// image's repository with `--tag` or the git short SHA.
pub fn new_image(
    image: Option<&str>,
    tag: Option<&str>,
    current: &str,
    head: impl FnOnce() -> Option<String>,
) -> Result<String, CliError> {
    if let Some(image) = image {
        if image.trim().is_empty() || image.contains(char::is_whitespace) {
            return Err(CliError::usage(format!(
                "{image:?} is not an image reference"
            )));
        }
        if image.contains('@') || image_tag(image).is_some() {
            if tag.is_some() {
                return Err(CliError::usage(format!(
                    "--tag conflicts with the tag or digest already in --image {image}"
                ))
                .hint("give one of them"));
            }
            return Ok(image.to_string());
        }
    }
    let repo = image.unwrap_or_else(|| image_repository(current));
    let tag = match tag {
        Some(t) => t.to_string(),
        None => head().ok_or_else(|| {
            CliError::usage("no image tag: --tag is not given and this is not a git repository with a commit")
                .hint("pass --tag TAG, an --image with a tag, or run it in the repository (or with --git-repo DIR)")
        })?,
    };
    if !valid_tag(&tag) {
        return Err(CliError::usage(format!("{tag:?} is not a valid image tag")));
    }
    Ok(format!("{repo}:{tag}"))
}

/// `(account, region, repository)` of an ECR image reference
/// (`<account>.dkr.ecr.<region>.amazonaws.com/<repository>[:tag|@digest]`).
pub fn ecr_repository(image: &str) -> Option<(String, String, String)> {
    let (host, rest) = image.split_once('/')?;
    let mut parts = host.split('.');
    let account = parts.next()?;
    if account.len() != 12 || !account.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    if parts.next()? != "dkr" || parts.next()? != "ecr" {
        return None;
    }
    let region = parts.next()?;
    if parts.next() != Some("amazonaws") {
        return None;
    }
    let repository = image_repository(image)
        .split_once('/')
        .map(|(_, r)| r.to_string())
        .unwrap_or_else(|| rest.to_string());
    Some((account.to_string(), region.to_string(), repository))
}

/// ecr:DescribeImages for the image's tag (or digest): a missing image is a usage error (exit 2)
/// before anything is registered. Other registries are not checked (said on stderr).
async fn check_image(ctx: &Ctx, image: &str) -> Result<(), CliError> {
    let Some((account, region, repository)) = ecr_repository(image) else {
        note(&format!(
            "note: {} is not an Amazon ECR image: its tag is not checked",
            short_image(image)
        ));
        return Ok(());
    };
    let id = match image.split_once('@') {
        Some((_, digest)) => ImageIdentifier::builder().image_digest(digest).build(),
        None => ImageIdentifier::builder()
            .image_tag(image_tag(image).unwrap_or("latest"))
            .build(),
    };
    let client = ecr_client(&ctx.sdk, &region);
    let asked = client
        .describe_images()
        .registry_id(&account)
        .repository_name(&repository)
        .image_ids(id)
        .send()
        .await;
    let missing = |what: &str| {
        CliError::usage(format!(
            "{} is not in Amazon ECR: {what} (registry {account}, {region})",
            short_image(image)
        ))
        .hint("push the image first, check --image/--tag, or pass --skip-image-check if the registry is reached another way")
    };
    match asked {
        Ok(out) if !out.image_details().is_empty() => Ok(()),
        Ok(_) => Err(missing("no such image tag")),
        Err(e) => {
            let se = e.as_service_error();
            if se.is_some_and(|se| se.is_image_not_found_exception()) {
                Err(missing("no such image tag"))
            } else if se.is_some_and(|se| se.is_repository_not_found_exception()) {
                Err(missing(&format!("no repository {repository:?}")))
            } else {
                let e = aws_error("DescribeImages", e);
                note(&format!(
                    "warning: could not check the image in ECR ({e}); deploying anyway (--skip-image-check silences this)"
                ));
                Ok(())
            }
        }
    }
}

fn interactive() -> bool {
    std::io::stdin().is_terminal() && std::io::stderr().is_terminal()
}

pub async fn run(ctx: &Ctx, args: &DeployArgs) -> Result<Code, CliError> {
    let (cluster, service) = (&args.target.cluster, &args.target.service);
    run_inner(ctx, args)
        .await
        .map_err(|e| e.for_service(cluster, service))
}

async fn run_inner(ctx: &Ctx, args: &DeployArgs) -> Result<Code, CliError> {
    let deps = manual_deps(&ctx.sdk, false, false)?;
    let target = ServiceRef {
        cluster: args.target.cluster.clone(),
        service: args.target.service.clone(),
    };
    let service = deps.ecs.describe_service(&target).await?;
    // Never over a rollback still rolling out, unless asked to (one answer with `rollback`).
    if !args.interrupt_rollback {
        let (origin, ecs_rolling_back) = crate::cli::rollback::running_state(&deps, &service).await;
        let origin = origin.unwrap_or(crate::incident::Origin::New);
        crate::cli::guard::deploy_over_rollback(
            &crate::cli::guard::Guarded::of(&service),
            &origin,
            ecs_rolling_back,
            false,
        )?;
    }
    let current = deps.ecs.describe_revision(&service.task_definition).await?;
    let current_name = short_task_definition(&current.arn);
    let container = pick_container(
        &current_name,
        &current.images,
        args.container.as_deref(),
        args.image.as_deref(),
    )?;
    let current_image = current
        .images
        .iter()
        .find(|c| c.container == container)
        .map(|c| c.image.clone())
        .unwrap_or_default();
    let image = new_image(
        args.image.as_deref(),
        args.tag.as_deref(),
        &current_image,
        || ctx.git.head_short_sha(),
    )?;
    let name = format!("{}/{}", service.cluster_name(), service.service_name);
    if image == current_image && !args.force {
        let refusal = CliError::nothing(format!(
            "{current_name} already runs {image} in container {container}"
        ))
        .hint("build and push a new image (a new commit), or pass --force to deploy the same image as a new revision");
        if args.dry_run || !interactive() {
            return Err(refusal);
        }
        let go = dialoguer::Confirm::new()
            .with_prompt(format!(
                "{current_name} already runs {image}. Register and deploy it as a new revision anyway?"
            ))
            .default(false)
            .interact_opt()
            .map_err(|e| CliError::usage(format!("the prompt failed: {e}")))?;
        if go != Some(true) {
            return Err(refusal);
        }
    }
    let commit = commit_line(&ctx.git, &image);
    // The tag names HEAD: changes not committed are not in the image it names.
    let tag_from_head = args.tag.is_none()
        && args
            .image
            .as_deref()
            .is_none_or(|i| image_tag(i).is_none() && !i.contains('@'));
    if tag_from_head && ctx.git.dirty() == Some(true) {
        note(&format!(
            "warning: the git repository has uncommitted changes; {} names the last commit, not your working tree",
            short_image(&image)
        ));
    }
    if !args.skip_image_check {
        check_image(ctx, &image).await?;
    }
    let (changes, drops) = match task_definition_facts(&deps.ecs, &current.arn).await {
        Ok(facts) => (
            image_change(&facts, &container, &image).lines("    "),
            newest_drops(&deps.ecs, &current, &facts, &container, &image).await,
        ),
        Err(e) => (
            format!("    (the difference could not be read: {e})\n"),
            String::new(),
        ),
    };
    let changes = format!("{changes}{drops}");

    if args.dry_run {
        match ctx.format {
            Format::Json => print_json(&json!({
                "action": "dry_run",
                "cluster": service.cluster_name(),
                "service": service.service_name,
                "from": current.arn,
                "container": container,
                "image_from": current_image,
                "image": image,
                "commit": commit,
            })),
            Format::Text => print(&format!(
                "{name}: would deploy {image}\n  from    {current_name}  {}\n  copy    a new revision of {} copying {current_name}, container {container} with the new image (every other field and tag kept, ledger tags dropped)\n  how     RegisterTaskDefinition, then UpdateService\n{}  changes:\n{changes}Dry run: nothing was changed.\n",
                short_image(&current_image),
                current.family,
                commit
                    .as_ref()
                    .map(|c| format!("  commit  {c}\n"))
                    .unwrap_or_default(),
            )),
        }
        return Ok(Code::Ok);
    }

    let schema = declared_schema(args)?;
    let registered = deps
        .ecs
        .register_copy(
            &current.arn,
            &[ImageOverride {
                container: container.clone(),
                image: image.clone(),
            }],
            &[TAG_STATUS, TAG_PINNED_FROM, TAG_SCHEMA],
            &schema
                .as_deref()
                .map(|v| vec![(TAG_SCHEMA, v)])
                .unwrap_or_default(),
        )
        .await?;
    let started = deps.ecs.update_service(&service, &registered).await?;
    if ctx.format == Format::Text {
        print(&format!(
            "{name}: deploying {} (copy of {current_name}, {container}: {} → {})\n{}",
            short_task_definition(&registered),
            short_image(&current_image),
            short_image(&image),
            commit
                .as_ref()
                .map(|c| format!("  commit  {c}\n"))
                .unwrap_or_default(),
        ));
    }
    if ctx.format == Format::Text {
        print(&format!("  changes:\n{changes}"));
        if let (false, Some(arn)) = (args.wait.waits(), &started.service_deployment_arn) {
            print(&format!("  follow  ecs-rollback wait {arn}\n"));
        }
    }
    let mut code = Code::Ok;
    let mut followed = None;
    let mut rollback_command = None;
    let mut deployment = started.service_deployment_arn.clone();
    if args.wait.waits() {
        // Exactly the deployment this UpdateService started, never whatever is PRIMARY later.
        let followed_target = wait::started(&deps.ecs, &service, &started).await?;
        deployment = Some(followed_target.arn.clone());
        let report = wait::follow(
            &deps.ecs,
            &followed_target,
            args.wait.timing.wait_timeout,
            args.wait.timing.poll_interval,
            true,
        )
        .await?;
        let mut next = report.next();
        if matches!(report.outcome, Outcome::Failed | Outcome::TimedOut) {
            // The revision it replaced is a target only if it is proven: it completed a
            // deployment of this service (or ECS restored it). Otherwise the core picks the last
            // proven revision, as the responder would.
            let proven = match deps.ecs.history(&service).await {
                Ok(entries) => crate::decision::completed_a_deployment(&entries, &current.arn),
                Err(_) => false,
            };
            let base = format!(
                "ecs-rollback rollback -c {} -s {}",
                service.cluster_name(),
                service.service_name
            );
            let (cmd, advice) = if proven {
                let cmd = format!("{base} --to {current_name}");
                let advice = format!("roll back to the revision it replaced: `{cmd}`");
                (cmd, advice)
            } else {
                let advice = format!(
                    "{current_name}, the revision it replaced, never completed a deployment of this service; roll back to the last proven revision: `{base}`"
                );
                (base, advice)
            };
            next = if report.outcome == Outcome::TimedOut {
                format!("{next}; to {advice}", next = report.next())
            } else {
                advice
            };
            rollback_command = Some(cmd);
        }
        if ctx.format == Format::Text {
            print(&report.summary(&next));
        }
        wait::tell_github(&report, &next);
        code = report.outcome.code();
        followed = Some(report.json(&next));
    }
    if ctx.format == Format::Json {
        print_json(&json!({
            "action": "deployed",
            "cluster": service.cluster_name(),
            "service": service.service_name,
            "from": current.arn,
            "to": registered,
            "container": container,
            "image_from": current_image,
            "image": image,
            "commit": commit,
            "deployment": deployment,
            "wait": followed,
            "rollback_command": rollback_command,
        }));
    }
    Ok(code)
}

/// What the copy loses relative to the family's newest revision, when the service runs an older
/// one (after a rollback): a deploy copies the running revision, so an environment variable, a
/// secret or a memory setting only the newer revision had is dropped — said, by name, in the plan.
/// Empty when nothing is dropped or it cannot be read.
async fn newest_drops(
    ecs: &crate::aws::ecs::Ecs,
    current: &Revision,
    current_facts: &super::diff::Facts,
    container: &str,
    image: &str,
) -> String {
    let Ok(family) = ecs.family(&current.family).await else {
        return String::new();
    };
    let Some((number, newest)) = family
        .iter()
        .filter_map(|arn| split_task_definition(arn).map(|(_, n)| (n, arn)))
        .max_by_key(|(n, _)| *n)
    else {
        return String::new();
    };
    if number <= current.revision {
        return String::new();
    }
    let Ok(newest_facts) = task_definition_facts(ecs, newest).await else {
        return String::new();
    };
    let mut copy = current_facts.clone();
    copy.fields.insert(
        format!("{container}: image"),
        super::diff::Fact::Value(image.to_string()),
    );
    let mut d = super::diff::Diff::between(&newest_facts, &copy);
    d.changes
        .retain(|c| c.field != format!("{container}: image"));
    if d.changes.is_empty() {
        return String::new();
    }
    format!(
        "  drops, relative to the newest revision {} (the copy starts from {}):\n{}",
        short_task_definition(newest),
        short_task_definition(&current.arn),
        d.lines("    ")
    )
}

/// `4f2a9c1 Fix the login page` when the image tag is a commit of the repository.
fn commit_line(git: &Git, image: &str) -> Option<String> {
    let c = git.commit(image_tag(image)?)?;
    Some(format!("{} {}", c.sha, c.subject))
}

/// The schema the new revision declares (`--schema`, or the last line `--schema-command`
/// prints), checked as the responder reads it; `None`: it declares none.
pub fn declared_schema(args: &DeployArgs) -> Result<Option<String>, CliError> {
    let text = match (&args.schema, &args.schema_command) {
        (Some(v), _) => v.clone(),
        (None, Some(command)) => {
            let out = std::process::Command::new("sh")
                .arg("-c")
                .arg(command)
                .stderr(std::process::Stdio::inherit())
                .output()
                .map_err(|e| CliError::usage(format!("--schema-command could not run: {e}")))?;
            if !out.status.success() {
                return Err(CliError::usage(format!(
                    "--schema-command failed ({}): nothing was deployed",
                    out.status
                )));
            }
            String::from_utf8_lossy(&out.stdout)
                .lines()
                .rev()
                .map(str::trim)
                .find(|l| !l.is_empty())
                .unwrap_or_default()
                .to_string()
        }
        (None, None) => return Ok(None),
    };
    let range = crate::model::SchemaRange::parse(&text)
        .map_err(|why| CliError::usage(format!("--schema: {why}")))?;
    Ok(Some(range.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn containers(names: &[(&str, &str)]) -> Vec<ContainerImage> {
        names
            .iter()
            .map(|(c, i)| ContainerImage {
                container: c.to_string(),
                image: i.to_string(),
            })
            .collect()
    }

    #[test]
    fn the_new_image_defaults_to_the_git_short_sha() {
        let cur = "123456789012.dkr.ecr.eu-west-1.amazonaws.com/hello-world:a1b2c3d";
        let head = || Some("4f2a9c1".to_string());
        let cases: &[(Option<&str>, Option<&str>, &str)] = &[
            (
                None,
                None,
                "123456789012.dkr.ecr.eu-west-1.amazonaws.com/hello-world:4f2a9c1",
            ),
            (
                None,
                Some("v1.2.3"),
                "123456789012.dkr.ecr.eu-west-1.amazonaws.com/hello-world:v1.2.3",
            ),
            (Some("repo/app"), None, "repo/app:4f2a9c1"),
            (
                Some("localhost:5000/app"),
                None,
                "localhost:5000/app:4f2a9c1",
            ),
            (Some("repo/app:main"), None, "repo/app:main"),
            (Some("repo/app@sha256:abc"), None, "repo/app@sha256:abc"),
            (Some("repo/app"), Some("rc1"), "repo/app:rc1"),
        ];
        for (image, tag, want) in cases {
            assert_eq!(
                new_image(*image, *tag, cur, head).unwrap(),
                *want,
                "{image:?} {tag:?}"
            );
        }
        let errors: &[(Option<&str>, Option<&str>, &str)] = &[
            (Some("repo/app:main"), Some("x"), "--tag conflicts"),
            (None, Some("-bad"), "not a valid image tag"),
            (Some("two words"), None, "not an image reference"),
        ];
        for (image, tag, want) in errors {
            let e = new_image(*image, *tag, cur, head).unwrap_err();
            assert!(e.message.contains(want), "{e:?}");
            assert_eq!(e.code, Code::Usage);
        }
        let e = new_image(None, None, cur, || None).unwrap_err();
        assert!(e.message.contains("no image tag"), "{e:?}");
    }

    #[test]
    fn ecr_images_are_told_from_other_registries() {
        assert_eq!(
            ecr_repository("123456789012.dkr.ecr.eu-west-1.amazonaws.com/team/app:4f2a9c1"),
            Some(("123456789012".into(), "eu-west-1".into(), "team/app".into()))
        );
        assert_eq!(
            ecr_repository("123456789012.dkr.ecr.cn-north-1.amazonaws.com.cn/app@sha256:ab"),
            Some(("123456789012".into(), "cn-north-1".into(), "app".into()))
        );
        for other in [
            "nginx:1.27",
            "public.ecr.aws/nginx/nginx:1",
            "localhost:5000/app:1",
            "ghcr.io/o/app:1",
        ] {
            assert_eq!(ecr_repository(other), None, "{other}");
        }
    }

    #[test]
    fn the_container_is_named_single_or_told_by_the_image() {
        let one = containers(&[("app", "repo/app:1")]);
        assert_eq!(pick_container("web:3", &one, None, None).unwrap(), "app");
        let two = containers(&[("app", "repo/app:1"), ("envoy", "envoy:v1.30.1")]);
        assert_eq!(
            pick_container("web:3", &two, None, Some("repo/app:2")).unwrap(),
            "app"
        );
        assert_eq!(
            pick_container("web:3", &two, Some("envoy"), None).unwrap(),
            "envoy"
        );
        let e = pick_container("web:3", &two, None, None).unwrap_err();
        assert!(e.message.contains("2 containers"), "{e:?}");
        assert!(e.hint.unwrap().contains("app, envoy"));
        let e = pick_container("web:3", &two, Some("db"), None).unwrap_err();
        assert!(e.message.contains("no container named \"db\""), "{e:?}");
    }
}
