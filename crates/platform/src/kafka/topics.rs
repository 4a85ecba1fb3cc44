//! Topic administration, used by `rapport migrate` and by `rapport run`.

use std::time::Duration;

use rdkafka::{
    admin::{
        AdminClient, AdminOptions, AlterConfig, NewPartitions, NewTopic, ResourceSpecifier,
        TopicReplication,
    },
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
    #[error("topic administration: {0}")]
    Request(KafkaError),
    /// Reading the cluster metadata failed.
    #[error("kafka metadata: {0}")]
    Metadata(KafkaError),
    /// One topic failed.
    #[error("topic {topic}: {code}")]
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

/// Brings existing topics to the configured settings (`rapport migrate`):
/// adds partitions when fewer than configured (partitions are never removed:
/// that would reorder keys) and sets retention and cleanup policy. Like
/// [`ensure_topics`], safe to run again and again.
pub async fn update_topics(cfg: &KafkaConfig, topics: &[&str]) -> Result<(), TopicError> {
    let admin: AdminClient<DefaultClientContext> = super::client_config(cfg)
        .create()
        .map_err(TopicError::Client)?;
    let options = AdminOptions::new().operation_timeout(Some(Duration::from_secs(30)));
    let metadata = admin
        .inner()
        .fetch_metadata(None, Duration::from_secs(10))
        .map_err(TopicError::Metadata)?;
    let wanted = cfg.topics.partitions.max(1) as usize;
    let grow: Vec<NewPartitions<'_>> = metadata
        .topics()
        .iter()
        .filter(|t| topics.contains(&t.name()) && t.partitions().len() < wanted)
        .map(|t| {
            let name = topics.iter().find(|n| **n == t.name()).expect("filtered");
            NewPartitions::new(name, wanted)
        })
        .collect();
    if !grow.is_empty() {
        let grown = admin.create_partitions(grow.iter(), &options).await;
        if unsupported(&grown) {
            tracing::warn!("the broker cannot add partitions; partition counts left as they are");
        } else {
            check(grown)?;
        }
    }
    let retention = cfg.topics.retention_ms.to_string();
    let configs: Vec<AlterConfig<'_>> = topics
        .iter()
        .map(|t| {
            AlterConfig::new(ResourceSpecifier::Topic(t))
                .set("retention.ms", &retention)
                .set("cleanup.policy", "delete")
        })
        .collect();
    let altered = admin.alter_configs(configs.iter(), &options).await;
    if unsupported(&altered) {
        tracing::warn!("the broker cannot alter topic configs; retention left as it is");
        return Ok(());
    }
    for result in altered.map_err(TopicError::Request)? {
        if let Err((resource, code)) = result {
            return Err(TopicError::Topic {
                topic: format!("{resource:?}"),
                code,
            });
        }
    }
    Ok(())
}

/// The embedded broker (tansu 0.6) implements neither CreatePartitions nor
/// AlterConfigs; a real Kafka cluster does.
fn unsupported<T>(result: &Result<T, KafkaError>) -> bool {
    matches!(
        result,
        Err(KafkaError::AdminOp(RDKafkaErrorCode::UnsupportedFeature))
    )
}

fn check(results: Result<Vec<rdkafka::admin::TopicResult>, KafkaError>) -> Result<(), TopicError> {
    for result in results.map_err(TopicError::Request)? {
        if let Err((topic, code)) = result {
            return Err(TopicError::Topic { topic, code });
        }
    }
    Ok(())
}
