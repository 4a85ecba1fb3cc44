//! The idempotent producer the outbox relay publishes with.

use std::time::Duration;

use rdkafka::{
    error::KafkaError,
    message::{Header, OwnedHeaders},
    producer::Producer as _,
    producer::{FutureProducer, FutureRecord},
};

use crate::config::KafkaConfig;

/// How long librdkafka keeps retrying one message before giving up; the
/// relay then retries the whole message later, so this bounds one attempt.
const MESSAGE_TIMEOUT: Duration = Duration::from_secs(30);

/// Publishing failed.
#[derive(Debug, thiserror::Error)]
pub enum ProduceError {
    /// The producer could not be created (bad settings).
    #[error("kafka producer: {0}")]
    Create(KafkaError),
    /// The broker did not acknowledge the message.
    #[error("kafka delivery to {topic}: {source}")]
    Delivery {
        /// The topic.
        topic: String,
        /// The cause.
        source: KafkaError,
    },
}

/// A producer with idempotence on (no duplicates or reordering from
/// retries), `acks=all`, and the murmur2 partitioner, so a key lands on the
/// same partition as with the Java client.
#[derive(Clone)]
pub struct EventProducer {
    inner: FutureProducer,
    // Kept to create a fresh producer after a fatal error.
    cfg: KafkaConfig,
    signer: super::EventSigner,
}

impl std::fmt::Debug for EventProducer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EventProducer").finish_non_exhaustive()
    }
}

impl EventProducer {
    /// Creates the producer; every record it publishes is signed by `signer`.
    pub fn new(cfg: &KafkaConfig, signer: super::EventSigner) -> Result<Self, ProduceError> {
        let inner = super::client_config(cfg)
            .set("enable.idempotence", "true")
            .set("acks", "all")
            .set("partitioner", "murmur2_random")
            .set("linger.ms", "5")
            .set(
                "message.timeout.ms",
                MESSAGE_TIMEOUT.as_millis().to_string(),
            )
            .create()
            .map_err(ProduceError::Create)?;
        Ok(EventProducer {
            inner,
            cfg: cfg.clone(),
            signer,
        })
    }

    /// The fatal error this producer raised, if any. After one (an
    /// idempotence sequence the broker cannot accept, a fenced producer id)
    /// librdkafka fails every further message: the producer must be
    /// replaced, see [`EventProducer::renewed`].
    pub fn fatal_error(&self) -> Option<String> {
        self.inner
            .client()
            .fatal_error()
            .map(|(code, reason)| format!("{code:?}: {reason}"))
    }

    /// A new producer with the same settings (a new producer id, so a new
    /// idempotence epoch).
    pub fn renewed(&self) -> Result<Self, ProduceError> {
        EventProducer::new(&self.cfg, self.signer.clone())
    }

    /// Hands one record to the producer at once (so records keep the order
    /// of the calls, across rounds too) and returns the wait for the
    /// broker's acknowledgement: the partition and offset. An empty
    /// `payload` is published as a null value: a tombstone (see
    /// [`crate::events::tombstone`]). `Err` when the producer cannot take
    /// it now (its local queue is full): nothing was handed over.
    pub fn enqueue(
        &self,
        topic: &str,
        key: &str,
        payload: &[u8],
        headers: &[(String, String)],
    ) -> Result<
        impl std::future::Future<Output = Result<(i32, i64), ProduceError>> + Send + 'static,
        ProduceError,
    > {
        let mut owned = OwnedHeaders::new_with_capacity(headers.len() + 1);
        for (k, v) in headers.iter().filter(|(k, _)| k != super::SIGNATURE_HEADER) {
            owned = owned.insert(Header {
                key: k,
                value: Some(v.as_bytes()),
            });
        }
        let signature = self.signer.sign(topic, key, payload);
        owned = owned.insert(Header {
            key: super::SIGNATURE_HEADER,
            value: Some(signature.as_bytes()),
        });
        let mut record = FutureRecord::to(topic).key(key).headers(owned);
        if !payload.is_empty() {
            record = record.payload(payload);
        }
        let failed = |source| ProduceError::Delivery {
            topic: topic.to_owned(),
            source,
        };
        let delivery = self.inner.send_result(record).map_err(|(e, _)| failed(e))?;
        let topic = topic.to_owned();
        Ok(async move {
            let delivered = match delivery.await {
                Ok(result) => result.map_err(|(e, _)| e),
                Err(_cancelled) => Err(KafkaError::Canceled),
            };
            delivered
                .map(|d| (d.partition, d.offset))
                .map_err(|source| ProduceError::Delivery { topic, source })
        })
    }
}
