//! SNS adapter: one notification per decision worth telling people about.

use aws_sdk_sns::Client;

use super::aws_error;
use crate::error::Error;
use crate::notify::Rendered;

#[derive(Clone, Debug)]
pub struct Sns {
    pub client: Client,
    pub topic_arn: String,
}

impl Sns {
    /// SNS subjects are at most 100 ASCII characters without line breaks.
    pub async fn publish(&self, subject: &str, message: &str) -> Result<(), Error> {
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
            .await
            .map_err(|e| aws_error("Publish", e))?;
        Ok(())
    }
}
