//! Kafka: client settings, the idempotent producer, consumers that commit
//! only after applying, and topic administration.

mod consumer;
mod producer;
mod signature;
mod topics;

pub use consumer::{ConsumedEvent, EventHandler, HandleError, run_consumer};
pub use producer::{EventProducer, ProduceError};
pub use signature::{EventSigner, SIGNATURE_HEADER};
pub use topics::{TopicError, ensure_topics, update_topics};

use rdkafka::ClientConfig;

use crate::config::KafkaConfig;

/// The librdkafka settings every client shares: brokers and security.
pub fn client_config(cfg: &KafkaConfig) -> ClientConfig {
    let mut c = ClientConfig::new();
    c.set("bootstrap.servers", &cfg.bootstrap_servers)
        .set("security.protocol", &cfg.security_protocol)
        // Our own logs carry what matters; librdkafka's go to `tracing`.
        .set("log_level", "4");
    if let Some(m) = &cfg.sasl_mechanism {
        c.set("sasl.mechanism", m);
    }
    if let Some(u) = &cfg.sasl_username {
        c.set("sasl.username", u);
    }
    if let Some(p) = &cfg.sasl_password {
        c.set("sasl.password", p.expose());
    }
    if let Some(ca) = &cfg.ssl_ca_location {
        c.set("ssl.ca.location", ca.display().to_string());
    }
    c
}
