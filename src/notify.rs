//! What a notification says, for the two kinds of readers an SNS topic has: chat channels
//! (Amazon Q Developer in chat applications) and people reading e-mail. Pure: a [`Notice`] in,
//! a [`Rendered`] notification out; no I/O, no SDK types.
//!
//! * Chat: Amazon Q Developer renders only its *custom notification* format and drops every
//!   other body it receives for a chat channel ("Custom notifications using Amazon Q Developer in
//!   chat applications", Event schema and Parameter details:
//!   <https://docs.aws.amazon.com/chatbot/latest/adminguide/custom-notifs.html>):
//!   `{"version":"1.0","source":"custom","content":{"textType":"client-markdown","title",
//!   "description","nextSteps","keywords"},"metadata":{"threadId","summary","eventType",
//!   "relatedResources","additionalContext"}}`. `tests/chat-notification.schema.json` is that
//!   schema as JSON Schema; `tests/notify_stand.rs` validates rendered bodies against it.
//! * E-mail: plain text, readable without a JSON viewer.
//!
//! Both travel in ONE `Publish` with `MessageStructure=json` ([`Rendered::sns_message`]): SNS
//! delivers the value keyed by a subscription's protocol, else the `default` value (SNS API
//! reference, `Publish`: "contain at least a top-level JSON key of "default" with a value that is
//! a string. You can define other top-level keys that define the message you want to send to a
//! specific transport protocol (e.g., "http")"; the protocols are those of `Subscribe`: http,
//! https, email, email-json, sms, sqs, application, lambda, firehose). Amazon Q Developer
//! subscribes to a topic with protocol `https` (endpoint `https://global.sns-api.chatbot.amazonaws.com`),
//! so the chat body is keyed `https`; `default` (and `email`) carry the text, which is what
//! e-mail, SQS, Lambda and every other subscriber receives. A webhook subscribed over https gets
//! the chat JSON too, which is structured and easy to parse. `sms` gets the one-line title.

use serde_json::{json, Value};

/// CloudFormation tags every resource of a stack with its stack name (CloudFormation User Guide,
/// "Resource tags": `aws:cloudformation:stack-name`).
pub const TAG_CFN_STACK: &str = "aws:cloudformation:stack-name";
/// Service tag: a runbook URL for this service, shown in every notification about it.
pub const TAG_RUNBOOK: &str = "ecs-rollback:runbook";

/// One side of a rollback: a task definition (`family:revision`) and its images (`container=image`).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RevisionLine {
    pub task_definition: String,
    pub images: Vec<String>,
}

impl RevisionLine {
    fn describe(&self) -> String {
        if self.images.is_empty() {
            self.task_definition.clone()
        } else {
            format!("{} ({})", self.task_definition, self.images.join(", "))
        }
    }
}

/// How the rollback is (or would be) carried out, which decides what ECS does next.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Method {
    /// `UpdateService` with the target revision: a new deployment of it.
    UpdateService,
    /// `StopServiceDeployment(ROLLBACK)`: ECS returns to the deployment's source revision.
    StopDeployment,
}

/// Everything a notification tells, already reduced to what may be shown to people (names,
/// images, reasons: never container definitions, environment values or secrets).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Notice {
    /// The response action (`rolled_back`, `dry_run`, `skipped`, `recorded`) or `error`.
    pub action: String,
    pub cluster: String,
    pub service: String,
    /// The service ARN when known: the chat thread and a related resource.
    pub service_arn: Option<String>,
    pub account: Option<String>,
    pub region: Option<String>,
    /// The trigger in one sentence (alarm name and state reason, or deployment id and ECS's reason).
    pub trigger: String,
    /// `Cause::kind()`: `deployment_failed`, `alarm`, …
    pub trigger_kind: String,
    pub from: Option<RevisionLine>,
    pub to: Option<RevisionLine>,
    /// The response's one-sentence reason (for `error`: the error).
    pub reason: String,
    pub method: Option<Method>,
    /// `deploymentConfiguration.strategy` (`ROLLING`, `BLUE_GREEN`, `LINEAR`, `CANARY`), when known.
    pub strategy: Option<String>,
    /// From the service tag [`TAG_RUNBOOK`].
    pub runbook: Option<String>,
    /// From the service tag [`TAG_CFN_STACK`].
    pub stack: Option<String>,
}

/// A notification ready to publish.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Rendered {
    /// SNS `Subject` (e-mail subject line): ASCII, at most 100 characters.
    pub subject: String,
    /// The Amazon Q Developer custom-notification body.
    pub chat_json: String,
    /// The plain-text body.
    pub text: String,
    /// The one-line title without markdown, for SMS.
    pub short: String,
}

impl Rendered {
    /// The `Message` of a `Publish` with `MessageStructure=json`: one body per protocol.
    pub fn sns_message(&self) -> String {
        json!({
            "default": self.text,
            "email": self.text,
            "https": self.chat_json,
            "sms": self.short,
        })
        .to_string()
    }
}

/// `family:revision` of the from/to lines, or `-`.
fn td(line: &Option<RevisionLine>) -> &str {
    line.as_ref()
        .map(|l| l.task_definition.as_str())
        .unwrap_or("-")
}

impl Notice {
    fn name(&self) -> String {
        format!("{}/{}", self.cluster, self.service)
    }

    fn rolls_back(&self) -> bool {
        matches!(self.action.as_str(), "rolled_back" | "dry_run")
    }

    /// The headline without emoji: `demo/hello-world rolled back hello-world:5 → hello-world:4`.
    fn headline(&self) -> String {
        let name = self.name();
        match self.action.as_str() {
            "rolled_back" => format!("{name} rolled back {} → {}", td(&self.from), td(&self.to)),
            "dry_run" => format!(
                "{name} would roll back {} → {} (dry run)",
                td(&self.from),
                td(&self.to)
            ),
            "recorded" => format!("{name} recorded {} as stable", td(&self.to)),
            "migrating" => format!(
                "{name} migrating the database down before rolling back {} → {}",
                td(&self.from),
                td(&self.to)
            ),
            "error" => format!("{name}: the responder failed"),
            _ => format!("{name} not rolled back"),
        }
    }

    fn emoji(&self) -> &'static str {
        match self.action.as_str() {
            "rolled_back" => "✅",
            "dry_run" => "🧪",
            "recorded" => "📒",
            "migrating" => "🗄️",
            "error" => "❌",
            _ => "⚠️",
        }
    }

    /// What ECS does next, in one sentence.
    fn next(&self) -> String {
        let to = td(&self.to);
        match self.action.as_str() {
            "dry_run" => "Nothing was changed (dry run).".into(),
            "migrating" => format!(
                "When the migration task exits 0, the rollback to {to} follows and you get a second notification; if it fails or runs past its time, nothing is rolled back and you are told."
            ),
            "rolled_back" => match self.method {
                Some(Method::StopDeployment) => match self.strategy.as_deref() {
                    Some("BLUE_GREEN") | Some("LINEAR") | Some("CANARY") => format!(
                        "ECS stops the {} deployment in progress and shifts production traffic back to {to}, which is still running.",
                        self.strategy.as_deref().unwrap_or_default()
                    ),
                    _ => format!(
                        "ECS stops the deployment in progress and returns the service to {to}, the revision it came from."
                    ),
                },
                _ => match self.strategy.as_deref() {
                    Some("BLUE_GREEN") => format!(
                        "ECS runs a full blue/green deployment of {to}: a green environment, the traffic shift and its bake time."
                    ),
                    Some(s @ ("LINEAR" | "CANARY")) => format!(
                        "ECS runs a {} deployment of {to}: traffic shifts in steps, then its bake time.",
                        s.to_lowercase()
                    ),
                    _ => format!(
                        "ECS starts a rolling deployment of {to}: new tasks start and pass their health checks, then the old ones drain."
                    ),
                },
            },
            "error" => "Lambda retries the event twice, then keeps it in the dead-letter queue (replay it with scripts/redrive after a fix).".into(),
            _ => "No change was made.".into(),
        }
    }

    /// Console deep link to the service's deployments tab.
    pub fn console_url(&self) -> Option<String> {
        let region = self.region.as_deref()?;
        let host = if region.starts_with("cn-") {
            format!("https://{region}.console.amazonaws.cn")
        } else if region.starts_with("us-gov-") {
            "https://console.amazonaws-us-gov.com".to_string()
        } else {
            format!("https://{region}.console.aws.amazon.com")
        };
        Some(format!(
            "{host}/ecs/v2/clusters/{}/services/{}/deployments?region={region}",
            url_path(&self.cluster),
            url_path(&self.service)
        ))
    }

    /// Infrastructure-as-code advice, `(tool, advice)`: the next stack update or
    /// `terraform apply` would deploy the failing revision again.
    fn iac(&self) -> Vec<(String, String)> {
        if !self.rolls_back() {
            return Vec::new();
        }
        let (from, to) = (td(&self.from), td(&self.to));
        let mut lines = Vec::new();
        if let Some(stack) = &self.stack {
            lines.push((
                "CloudFormation".to_string(),
                format!(
                    "stack {stack} still names {from}: its next update deploys {from} again. Fix forward, or point the stack's task definition at the image of {to}, before updating the stack."
                ),
            ));
        }
        lines.push((
            "Terraform".to_string(),
            format!(
                "the next terraform apply puts {from} back: add lifecycle {{ ignore_changes = [task_definition] }} to the aws_ecs_service, or pin the image of {to} in the configuration."
            ),
        ));
        lines.push((
            "CDK/Copilot".to_string(),
            format!(
                "the next cdk deploy / copilot svc deploy redeploys the app's own revision: fix forward, or pin the image of {to}."
            ),
        ));
        lines
    }

    fn next_steps(&self) -> Vec<(String, String)> {
        let mut steps = vec![(
            "Check".to_string(),
            format!(
                "ecs-rollback status -c {} -s {}",
                shell_word(&self.cluster),
                shell_word(&self.service)
            ),
        )];
        if let Some(url) = self.console_url() {
            steps.push(("Console".into(), url));
        }
        if let Some(url) = &self.runbook {
            steps.push(("Runbook".into(), url.clone()));
        }
        steps.extend(self.iac());
        steps
    }
}

/// Quote a word for a POSIX shell only when needed (cluster and service names are `[A-Za-z0-9_-]`,
/// but an ARN or an odd name must still paste safely).
fn shell_word(s: &str) -> String {
    if !s.is_empty()
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_./:@".contains(c))
    {
        s.to_string()
    } else {
        format!("'{}'", s.replace('\'', r"'\''"))
    }
}

/// Percent-encode a URL path segment (names are plain; anything else is encoded).
fn url_path(s: &str) -> String {
    let mut out = String::new();
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// The SNS subject: printable ASCII, no line breaks, at most 100 characters (SNS API reference,
/// `Publish` `Subject`).
fn subject(s: &str) -> String {
    let ascii: String = s
        .replace('→', "->")
        .chars()
        .map(|c| {
            if c.is_ascii() && !c.is_ascii_control() {
                c
            } else {
                ' '
            }
        })
        .collect();
    let trimmed = ascii.split_whitespace().collect::<Vec<_>>().join(" ");
    trimmed.chars().take(100).collect()
}

/// Render a notice for chat (Amazon Q Developer custom notification) and e-mail (plain text).
pub fn render(n: &Notice) -> Rendered {
    let headline = n.headline();
    let next = n.next();
    let steps = n.next_steps();

    // ---- plain text ----
    let mut text = format!("{headline}\n\n");
    // Values line up one column after "Account:"; a longer label ("Strategy:") keeps one space.
    let mut field = |label: &str, value: &str| {
        let label = format!("{label}:");
        let width = 9.max(label.len() + 1);
        text.push_str(&format!("{label:<width$}{value}\n"));
    };
    field("Action", &n.action);
    if let Some(a) = &n.account {
        field("Account", a);
    }
    if let Some(r) = &n.region {
        field("Region", r);
    }
    field("Cluster", &n.cluster);
    field("Service", &n.service);
    field("Trigger", &n.trigger);
    if let Some(f) = &n.from {
        field("From", &f.describe());
    }
    if let Some(t) = &n.to {
        field("To", &t.describe());
    }
    if let Some(s) = &n.strategy {
        field("Strategy", s);
    }
    field(
        if n.action == "error" {
            "Error"
        } else {
            "Reason"
        },
        &n.reason,
    );
    field("Next", &next);
    text.push_str("\nNext steps\n");
    for (label, step) in &steps {
        text.push_str(&format!("  - {label}: {step}\n"));
    }

    // ---- chat (client-markdown) ----
    let mut description = String::new();
    let mut line = |label: &str, value: String| {
        description.push_str(&format!("*{label}:* {value}\n"));
    };
    match (&n.account, &n.region) {
        (Some(a), Some(r)) => line("Account", format!("`{a}` · *Region:* `{r}`")),
        (Some(a), None) => line("Account", format!("`{a}`")),
        (None, Some(r)) => line("Region", format!("`{r}`")),
        (None, None) => {}
    }
    line("Trigger", n.trigger.clone());
    let side = |l: &RevisionLine| {
        if l.images.is_empty() {
            format!("`{}`", l.task_definition)
        } else {
            format!("`{}` ({})", l.task_definition, l.images.join(", "))
        }
    };
    if let Some(f) = &n.from {
        line("From", side(f));
    }
    if let Some(t) = &n.to {
        line("To", side(t));
    }
    if let Some(s) = &n.strategy {
        line("Strategy", format!("`{s}`"));
    }
    line(
        if n.action == "error" { "Error" } else { "Why" },
        n.reason.clone(),
    );
    line("Next", next);
    let next_steps: Vec<String> = steps
        .iter()
        .map(|(label, step)| match label.as_str() {
            "Check" => format!("Check: `{step}`"),
            _ => format!("{label}: {step}"),
        })
        .collect();
    let mut related: Vec<String> = Vec::new();
    if let Some(arn) = &n.service_arn {
        related.push(arn.clone());
    }
    let mut context = serde_json::Map::new();
    context.insert("action".into(), json!(n.action));
    context.insert("cluster".into(), json!(n.cluster));
    context.insert("service".into(), json!(n.service));
    if let Some(f) = &n.from {
        context.insert("from".into(), json!(f.task_definition));
    }
    if let Some(t) = &n.to {
        context.insert("to".into(), json!(t.task_definition));
    }
    let chat: Value = json!({
        "version": "1.0",
        "source": "custom",
        "content": {
            "textType": "client-markdown",
            "title": format!("{} {headline}", n.emoji()),
            "description": description.trim_end(),
            "nextSteps": next_steps,
            "keywords": ["ecs-rollback", n.action, n.trigger_kind, n.cluster, n.service],
        },
        "metadata": {
            "threadId": n.service_arn.clone().unwrap_or_else(|| n.name()),
            "summary": headline,
            "eventType": format!("ecs-rollback-{}", n.action.replace('_', "-")),
            "relatedResources": related,
            "additionalContext": context,
        }
    });

    Rendered {
        subject: subject(&format!("ecs-rollback: {headline}")),
        chat_json: chat.to_string(),
        text,
        short: subject(&headline),
    }
}

/// `(account, region)` of an ARN (`arn:PARTITION:SERVICE:REGION:ACCOUNT:…`).
pub fn arn_account_region(arn: &str) -> (Option<String>, Option<String>) {
    let parts: Vec<&str> = arn.splitn(6, ':').collect();
    if parts.len() == 6 && parts[0] == "arn" {
        let some = |s: &str| Some(s.to_string()).filter(|s| !s.is_empty());
        (some(parts[4]), some(parts[3]))
    } else {
        (None, None)
    }
}

/// The last path segment of an ECS ARN (`…:service/demo/hello-world` → `hello-world`), or the name.
pub fn resource_name(arn_or_name: &str) -> &str {
    if arn_or_name.starts_with("arn:") {
        arn_or_name.rsplit('/').next().unwrap_or(arn_or_name)
    } else {
        arn_or_name
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn notice() -> Notice {
        Notice {
            action: "rolled_back".into(),
            cluster: "demo".into(),
            service: "hello-world".into(),
            service_arn: Some(
                "arn:aws:ecs:eu-west-1:123456789012:service/demo/hello-world".into(),
            ),
            account: Some("123456789012".into()),
            region: Some("eu-west-1".into()),
            trigger: "deployment ecs-svc/123 failed (ECS deployment circuit breaker: tasks failed to start.)".into(),
            trigger_kind: "deployment_failed".into(),
            from: Some(RevisionLine {
                task_definition: "hello-world:5".into(),
                images: vec!["app=repo/hello:bad1234".into()],
            }),
            to: Some(RevisionLine {
                task_definition: "hello-world:4".into(),
                images: vec!["app=repo/hello:good123".into()],
            }),
            reason: "Rolled back from hello-world:5 to hello-world:4 (its last successful deployment) because …".into(),
            method: Some(Method::UpdateService),
            strategy: None,
            runbook: None,
            stack: None,
        }
    }

    fn chat(n: &Notice) -> Value {
        serde_json::from_str(&render(n).chat_json).unwrap()
    }

    #[test]
    fn title_names_the_service_and_both_revisions() {
        let c = chat(&notice());
        assert_eq!(
            c["content"]["title"],
            "✅ demo/hello-world rolled back hello-world:5 → hello-world:4"
        );
        assert_eq!(c["version"], "1.0");
        assert_eq!(c["source"], "custom");
        assert_eq!(c["content"]["textType"], "client-markdown");
        assert_eq!(
            c["metadata"]["threadId"],
            "arn:aws:ecs:eu-west-1:123456789012:service/demo/hello-world"
        );
    }

    #[test]
    fn description_has_account_region_trigger_images_and_next() {
        let c = chat(&notice());
        let d = c["content"]["description"].as_str().unwrap();
        for want in [
            "`123456789012`",
            "`eu-west-1`",
            "ecs-svc/123",
            "circuit breaker",
            "`hello-world:5` (app=repo/hello:bad1234)",
            "`hello-world:4` (app=repo/hello:good123)",
            "ECS starts a rolling deployment of hello-world:4",
        ] {
            assert!(d.contains(want), "description lacks {want:?}:\n{d}");
        }
    }

    #[test]
    fn next_steps_give_the_command_the_console_and_iac_advice() {
        let c = chat(&notice());
        let steps: Vec<&str> = c["content"]["nextSteps"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| s.as_str().unwrap())
            .collect();
        assert_eq!(
            steps[0],
            "Check: `ecs-rollback status -c demo -s hello-world`"
        );
        assert_eq!(
            steps[1],
            "Console: https://eu-west-1.console.aws.amazon.com/ecs/v2/clusters/demo/services/hello-world/deployments?region=eu-west-1"
        );
        assert!(steps
            .iter()
            .any(|s| s.contains("lifecycle { ignore_changes = [task_definition] }")));
        assert!(steps.iter().any(|s| s.starts_with("CDK/Copilot: ")));
        assert!(
            !steps.iter().any(|s| s.starts_with("CloudFormation")),
            "no stack tag, no stack line: {steps:?}"
        );
        assert!(!steps.iter().any(|s| s.starts_with("Runbook")));
    }

    #[test]
    fn stack_tag_and_runbook_appear_in_chat_and_text() {
        let mut n = notice();
        n.stack = Some("shop-prod".into());
        n.runbook = Some("https://wiki.example.com/runbooks/hello-world".into());
        let r = render(&n);
        for body in [&r.text, &r.chat_json] {
            assert!(
                body.contains("CloudFormation: stack shop-prod still names hello-world:5"),
                "{body}"
            );
            assert!(
                body.contains("Runbook: https://wiki.example.com/runbooks/hello-world"),
                "{body}"
            );
        }
    }

    #[test]
    fn plain_text_reads_without_json() {
        let r = render(&notice());
        assert!(r
            .text
            .starts_with("demo/hello-world rolled back hello-world:5 → hello-world:4\n\n"));
        for want in [
            "Action:  rolled_back\n",
            "Account: 123456789012\n",
            "Region:  eu-west-1\n",
            "Trigger: deployment ecs-svc/123 failed",
            "From:    hello-world:5 (app=repo/hello:bad1234)\n",
            "To:      hello-world:4 (app=repo/hello:good123)\n",
            "  - Check: ecs-rollback status -c demo -s hello-world\n",
        ] {
            assert!(r.text.contains(want), "text lacks {want:?}:\n{}", r.text);
        }
        assert!(
            !r.text.contains('{') || r.text.contains("lifecycle {"),
            "{}",
            r.text
        );
    }

    #[test]
    fn subject_is_ascii_and_short() {
        let mut n = notice();
        n.service = "a-very-long-service-name-that-goes-on-and-on-and-on-and-on".into();
        let r = render(&n);
        assert!(r.subject.is_ascii(), "{}", r.subject);
        assert!(r.subject.len() <= 100, "{}", r.subject.len());
        assert!(r.subject.starts_with("ecs-rollback: demo/a-very-long"));
        assert_eq!(
            render(&notice()).subject,
            "ecs-rollback: demo/hello-world rolled back hello-world:5 -> hello-world:4"
        );
    }

    #[test]
    fn sns_message_has_one_body_per_protocol() {
        let r = render(&notice());
        let m: Value = serde_json::from_str(&r.sns_message()).unwrap();
        assert_eq!(m["default"], r.text.as_str());
        assert_eq!(m["email"], r.text.as_str());
        assert_eq!(m["https"], r.chat_json.as_str());
        assert_eq!(
            m["sms"],
            "demo/hello-world rolled back hello-world:5 -> hello-world:4"
        );
    }

    #[test]
    fn what_ecs_does_next_follows_method_and_strategy() {
        let cases: &[(Option<Method>, Option<&str>, &str, &str)] = &[
            (
                Some(Method::UpdateService),
                None,
                "rolled_back",
                "rolling deployment of hello-world:4",
            ),
            (
                Some(Method::UpdateService),
                Some("BLUE_GREEN"),
                "rolled_back",
                "full blue/green deployment of hello-world:4",
            ),
            (
                Some(Method::UpdateService),
                Some("CANARY"),
                "rolled_back",
                "canary deployment of hello-world:4",
            ),
            (
                Some(Method::StopDeployment),
                None,
                "rolled_back",
                "stops the deployment in progress and returns the service to hello-world:4",
            ),
            (
                Some(Method::StopDeployment),
                Some("LINEAR"),
                "rolled_back",
                "shifts production traffic back to hello-world:4",
            ),
            (
                Some(Method::UpdateService),
                None,
                "dry_run",
                "Nothing was changed (dry run).",
            ),
            (None, None, "skipped", "No change was made."),
        ];
        for (method, strategy, action, want) in cases {
            let mut n = notice();
            n.method = *method;
            n.strategy = strategy.map(str::to_string);
            n.action = action.to_string();
            let r = render(&n);
            assert!(
                r.text.contains(want),
                "{method:?} {strategy:?} {action}: {}",
                r.text
            );
        }
    }

    #[test]
    fn skips_and_errors_get_their_own_titles_and_no_iac_advice() {
        let mut n = notice();
        n.action = "skipped".into();
        n.to = None;
        let c = chat(&n);
        assert_eq!(c["content"]["title"], "⚠️ demo/hello-world not rolled back");
        assert!(!c.to_string().contains("terraform"));
        n.action = "error".into();
        n.reason = "DescribeServices failed: ThrottlingException".into();
        let r = render(&n);
        assert!(
            r.text
                .contains("Error:   DescribeServices failed: ThrottlingException"),
            "{}",
            r.text
        );
        assert!(r.text.contains("dead-letter queue"));
        assert_eq!(
            chat(&n)["content"]["title"],
            "❌ demo/hello-world: the responder failed"
        );
        assert_eq!(chat(&n)["metadata"]["eventType"], "ecs-rollback-error");
    }

    #[test]
    fn odd_names_are_quoted_for_the_shell_and_encoded_in_urls() {
        let mut n = notice();
        n.service = "it's here".into();
        let r = render(&n);
        assert!(
            r.text
                .contains(r"ecs-rollback status -c demo -s 'it'\''s here'"),
            "{}",
            r.text
        );
        assert!(
            r.text.contains("/services/it%27s%20here/deployments"),
            "{}",
            r.text
        );
        n.region = Some("cn-north-1".into());
        assert!(n
            .console_url()
            .unwrap()
            .starts_with("https://cn-north-1.console.amazonaws.cn/"));
        n.region = None;
        assert_eq!(n.console_url(), None);
    }

    #[test]
    fn arns_split_into_account_region_and_name() {
        let arn = "arn:aws:ecs:eu-west-1:123456789012:service/demo/hello-world";
        assert_eq!(
            arn_account_region(arn),
            (Some("123456789012".into()), Some("eu-west-1".into()))
        );
        assert_eq!(arn_account_region("hello-world"), (None, None));
        assert_eq!(resource_name(arn), "hello-world");
        assert_eq!(resource_name("demo"), "demo");
    }

    // Every plain-text field had its label padded to 9 columns, and "Strategy:" is 9 long: the
    // e-mail said `Strategy:ROLLING`.
    #[test]
    fn every_plain_text_label_is_followed_by_a_space() {
        for strategy in ["ROLLING", "BLUE_GREEN", "LINEAR", "CANARY"] {
            let mut n = notice();
            n.strategy = Some(strategy.into());
            for action in ["rolled_back", "error"] {
                n.action = action.into();
                let r = render(&n);
                assert!(
                    r.text.contains(&format!("\nStrategy: {strategy}\n")),
                    "{}",
                    r.text
                );
                let fields = r.text.split("\n\n").nth(1).unwrap();
                for line in fields.lines() {
                    let (label, value) = line.split_once(':').unwrap();
                    assert!(
                        label.chars().all(|c| c.is_ascii_alphabetic()) && value.starts_with(' '),
                        "{line:?} in\n{}",
                        r.text
                    );
                }
            }
        }
    }
}
