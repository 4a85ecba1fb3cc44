//! Topic administration, used by `rapport migrate` and by `rapport run`.

use std::time::Duration;

use rdkafka::{
    admin::{AdminClient, AdminOptions, NewTopic, TopicReplication},
    client::DefaultClientContext,
    error::KafkaError,
    types::RDKafkaErrorCode,
};

use crate::config::KafkaConfig;

/// A topic could not be created.
#[derive(Debug, thiserror::Error)]
pub enum TopicError {
    /// The admin client could not be created.
    #[error("kafka admin client: {0}")]
    Client(KafkaError),
    /// The request failed as a whole.
    #[error("create topics: {0}")]
    Request(KafkaError),
    /// One topic failed.
    #[error("create topic {topic}: {code}")]
    Topic {
        /// The topic.
        topic: String,
        /// The broker's error code.
        code: RDKafkaErrorCode,
    },
}

/// Creates each topic that does not exist yet with the configured
/// partitions, replication and retention. Existing topics are left as they
/// are (idempotent: safe to run on every start and every upgrade).
pub async fn ensure_topics(cfg: &KafkaConfig, topics: &[&str]) -> Result<(), TopicError> {
    let admin: AdminClient<DefaultClientContext> = super::client_config(cfg)
        .create()
        .map_err(TopicError::Client)?;
    let retention = cfg.topics.retention_ms.to_string();
    let new: Vec<NewTopic<'_>> = topics
        .iter()
        .map(|t| {
            NewTopic::new(
                t,
                cfg.topics.partitions,
                TopicReplication::Fixed(cfg.topics.replication_factor),
            )
            .set("retention.ms", &retention)
            // Events are a history partners replay, not a changelog: delete
            // by age, never compact away older versions of a key.
            .set("cleanup.policy", "delete")
        })
        .collect();
    let options = AdminOptions::new().operation_timeout(Some(Duration::from_secs(30)));
    let results = admin
        .create_topics(new.iter(), &options)
        .await
        .map_err(TopicError::Request)?;
    for result in results {
        match result {
            Ok(_) => {}
            Err((_, RDKafkaErrorCode::TopicAlreadyExists)) => {}
            Err((topic, code)) => return Err(TopicError::Topic { topic, code }),
        }
    }
    Ok(())
}
