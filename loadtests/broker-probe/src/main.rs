//! `rapport-broker-probe ENGINE RECORDS`: the broker probe of
//! `rapport-loadtests broker`, against nisshi-broker 0.8.1 embedded the way
//! Rapport embeds tansu (own runtime and thread, loopback, temporary data).
//! ENGINE is `sqlite` (libsql 0.10), `turso` or `memory`.

#[path = "../../src/broker_probe.rs"]
mod broker_probe;

use std::net::TcpListener;

use anyhow::Context;
use nisshi_broker::{broker::Broker, coordinator::group::administrator::Controller};
use nisshi_storage::ArcDynStorage;
use url::Url;

fn main() -> anyhow::Result<()> {
    let mut args = std::env::args().skip(1);
    let engine = args.next().unwrap_or_else(|| "sqlite".into());
    let records: usize = args.next().map_or(Ok(100_000), |n| n.parse())?;
    let dir = tempfile::tempdir()?;
    let storage = match engine.as_str() {
        "sqlite" => format!("sqlite://{}/broker.db", dir.path().display()),
        "turso" => format!("turso://{}/broker.db", dir.path().display()),
        "memory" => "memory://probe/".to_owned(),
        other => anyhow::bail!("unknown engine {other}: sqlite, turso or memory"),
    };
    let port = TcpListener::bind("127.0.0.1:0")?.local_addr()?.port();
    let listener = Url::parse(&format!("tcp://127.0.0.1:{port}"))?;
    let storage = Url::parse(&storage)?;
    println!("nisshi-broker 0.8.1 on {storage}");

    std::thread::spawn(move || {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .expect("broker runtime");
        runtime.block_on(async move {
            let mut broker = Broker::<Controller<ArcDynStorage>, ArcDynStorage>::builder()
                .node_id(0)
                .cluster_id("rapport")
                .incarnation_id(uuid::Uuid::now_v7())
                .advertised_listener(listener.clone())
                .storage(storage)
                .listener(listener)
                .silent(true)
                .build()
                .await
                .expect("broker");
            broker
                .serve(tokio::time::Instant::now())
                .await
                .expect("serve");
        });
    });

    let client = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .context("client runtime")?;
    client.block_on(broker_probe::probe(&format!("127.0.0.1:{port}"), records))
}
