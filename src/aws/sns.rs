//! SNS adapter: one notification per decision worth telling people about.

use crate::deadline::Bounded;
use aws_sdk_sns::Client;

use super::aws_error;
use super::clients::Place;
use crate::error::Error;
use crate::notify::Rendered;

#[derive(Clone, Debug)]
pub struct Sns {
    pub client: Client,
    pub topic_arn: String,
}

impl Sns {
    /// SNS subjects are at most 100 ASCII characters without line breaks. The account and
    /// region of the current invocation (when the handler set one) are named in both.
    pub async fn publish(&self, subject: &str, message: &str) -> Result<(), Error> {
        let (subject, message) = match super::clients::current() {
            Some(place) => placed(subject, message, &place),
            None => (subject.to_string(), message.to_string()),
        };
        let subject: String = subject
            .chars()
            .map(|c| {
                if c.is_ascii() && !c.is_ascii_control() {
                    c
                } else {
                    ' '
                }
            })
            .take(100)
            .collect();
        self.client
            .publish()
            .topic_arn(&self.topic_arn)
            .subject(subject)
            .message(message)
            .send()
            .bounded()
            .await
            .map_err(|e| aws_error("Publish", e))?;
        Ok(())
    }

    /// One notification for every kind of subscriber: `MessageStructure=json` with the chat
    /// body for `https` (Amazon Q Developer in chat applications), plain text for `default`
    /// and `email`, the title for `sms` (see `crate::notify`).
    pub async fn publish_notification(&self, rendered: &Rendered) -> Result<(), Error> {
        self.client
            .publish()
            .topic_arn(&self.topic_arn)
            .subject(&rendered.subject)
            .message_structure("json")
            .message(rendered.sns_message())
            .send()
            .bounded()
            .await
            .map_err(|e| aws_error("Publish", e))?;
        Ok(())
    }
}

/// Subject and message naming the account and region: ` (ACCOUNT REGION)` after the subject;
/// `Account:`/`Region:` lines after the first line of a text message, or `account`/`region`
/// members in a JSON message (appended to `content.description` for a chat-rendered one).
pub fn placed(subject: &str, message: &str, place: &Place) -> (String, String) {
    let subject = format!("{subject} ({} {})", place.account, place.region);
    if let Ok(serde_json::Value::Object(mut doc)) = serde_json::from_str(message) {
        let line = format!("Account {}, region {}.", place.account, place.region);
        match doc
            .get_mut("content")
            .and_then(|c| c.get_mut("description"))
        {
            Some(serde_json::Value::String(d)) => *d = format!("{d}\n{line}"),
            _ => {
                doc.insert("account".into(), place.account.clone().into());
                doc.insert("region".into(), place.region.clone().into());
            }
        }
        return (subject, serde_json::Value::Object(doc).to_string());
    }
    let lines = format!("Account: {}\nRegion:  {}\n", place.account, place.region);
    let message = match message.split_once('\n') {
        Some((first, rest)) => format!("{first}\n{lines}{rest}"),
        None => format!("{message}\n{lines}"),
    };
    (subject, message)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn place() -> Place {
        Place {
            account: "222222222222".into(),
            region: "eu-west-1".into(),
        }
    }

    #[test]
    fn text_notifications_name_account_and_region() {
        let (s, m) = placed(
            "ecs-rollback rolled_back: demo/web",
            "Action:  rolled_back\nCluster: demo\n",
            &place(),
        );
        assert_eq!(
            s,
            "ecs-rollback rolled_back: demo/web (222222222222 eu-west-1)"
        );
        assert_eq!(
            m,
            "Action:  rolled_back\nAccount: 222222222222\nRegion:  eu-west-1\nCluster: demo\n"
        );
    }

    #[test]
    fn json_notifications_name_account_and_region() {
        let (_, m) = placed(
            "s",
            r#"{"version":"1.0","content":{"title":"t","description":"d"}}"#,
            &place(),
        );
        let v: serde_json::Value = serde_json::from_str(&m).unwrap();
        assert_eq!(
            v["content"]["description"],
            "d\nAccount 222222222222, region eu-west-1."
        );
        let (_, m) = placed("s", r#"{"a":1}"#, &place());
        let v: serde_json::Value = serde_json::from_str(&m).unwrap();
        assert_eq!(
            (v["account"].as_str(), v["region"].as_str()),
            (Some("222222222222"), Some("eu-west-1"))
        );
    }
}
