//! `rapport migrate`: schema migrations and topics, idempotently.

use rapport_platform::{
    StoreSettings,
    config::{Config, Needs, StoreBackend},
    events::topics,
    identity::PrincipalKey,
    kafka::{ensure_topics, update_topics},
    metrics::Metrics,
};
use tokio_util::sync::CancellationToken;

use crate::{ConfigArgs, serve::context, targets::Module};

/// Arguments of `rapport migrate`.
#[derive(Debug, clap::Args)]
pub(crate) struct MigrateArgs {
    #[command(flatten)]
    config: ConfigArgs,
}

const STORED: [Module; 6] = [
    Module::Gateway,
    Module::Contacts,
    Module::Deals,
    Module::Tasks,
    Module::Comms,
    Module::Analytics,
];

pub(crate) async fn migrate(args: MigrateArgs) -> anyhow::Result<()> {
    let config = Config::load(args.config.config.as_deref())?;
    let kafka = !config.kafka.bootstrap_servers.trim().is_empty();
    let scylla = config.store.backend == StoreBackend::Scylla;
    config.validate(Needs {
        kafka,
        store: scylla,
        ..Needs::default()
    })?;
    if scylla {
        // Every service's keyspace follows the prefix rule here.
        let mut config = config.clone();
        config.store.scylla.keyspace = None;
        for module in STORED {
            let store = StoreSettings::for_service(&config, module.name());
            let ctx = context(
                config.clone(),
                store,
                Metrics::new(),
                CancellationToken::new(),
                rapport_platform::PeerDirectory::new(config.peers.clone()),
                // Migrations call no peer and serve nothing: a throwaway key.
                PrincipalKey::ephemeral(),
            );
            match module {
                Module::Contacts => rapport_contacts::migrate(&ctx).await?,
                Module::Deals => rapport_deals::migrate(&ctx).await?,
                Module::Tasks => rapport_tasks::migrate(&ctx).await?,
                Module::Comms => rapport_comms::migrate(&ctx).await?,
                Module::Gateway => rapport_gateway::migrate(&ctx).await?,
                _ => rapport_analytics::migrate(&ctx).await?,
            }
            println!(
                "migrated keyspace {}_{}",
                config.store.scylla.keyspace_prefix,
                module.name()
            );
        }
    } else {
        println!("store.backend is sqlite: each service migrates its database file when it starts");
    }
    if kafka {
        ensure_topics(&config.kafka, topics::ALL).await?;
        update_topics(&config.kafka, topics::ALL).await?;
        println!(
            "topics ready ({} partitions, retention {} ms): {}",
            config.kafka.topics.partitions,
            config.kafka.topics.retention_ms,
            topics::ALL.join(", ")
        );
    } else {
        println!("kafka.bootstrap_servers is not set: no topics created");
    }
    Ok(())
}
