//! The gRPC server bootstrap: health, reflection, tracing and metrics
//! around a service's routes, graceful shutdown.

use std::{net::SocketAddr, sync::Arc};

use tokio::net::TcpListener;
use tokio_stream::{StreamExt, wrappers::TcpListenerStream};
use tokio_util::sync::CancellationToken;
use tonic::service::Routes;
use tonic_health::ServingStatus;

use crate::{grpc::RpcLayer, identity::PrincipalKey, metrics::Metrics};

/// The server could not start or failed while serving.
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    /// Binding the listen address failed.
    #[error("bind {addr}: {source}")]
    Bind {
        /// The address.
        addr: SocketAddr,
        /// The cause.
        source: std::io::Error,
    },
    /// Reflection could not load the descriptors.
    #[error("reflection: {0}")]
    Reflection(String),
    /// The transport failed.
    #[error("gRPC transport: {0}")]
    Transport(#[from] tonic::transport::Error),
}

/// A bound gRPC server, ready to serve. Binding is separate from serving so
/// callers learn the real port (tests bind port 0) before anything runs.
#[derive(Debug)]
pub struct GrpcServer {
    listener: TcpListener,
    service: &'static str,
}

impl GrpcServer {
    /// Binds `addr` for the server of `service`.
    pub async fn bind(addr: SocketAddr, service: &'static str) -> Result<Self, ServeError> {
        let listener = TcpListener::bind(addr)
            .await
            .map_err(|source| ServeError::Bind { addr, source })?;
        Ok(GrpcServer { listener, service })
    }

    /// The bound address.
    pub fn local_addr(&self) -> SocketAddr {
        self.listener
            .local_addr()
            .expect("bound listener has an address")
    }

    /// Serves `routes` plus gRPC health (`grpc.health.v1`, reporting each
    /// of `health_names` and the empty name as SERVING) and reflection,
    /// until `shutdown` fires; then reports NOT_SERVING and drains in-flight
    /// calls before returning. Calls whose principal is not sealed with
    /// `key` are refused.
    pub async fn serve(
        self,
        routes: Routes,
        health_names: &[&str],
        metrics: Arc<Metrics>,
        key: PrincipalKey,
        shutdown: CancellationToken,
    ) -> Result<(), ServeError> {
        let (reporter, health) = tonic_health::server::health_reporter();
        reporter
            .set_service_status("", ServingStatus::Serving)
            .await;
        for name in health_names {
            reporter
                .set_service_status(*name, ServingStatus::Serving)
                .await;
        }
        let reflection = tonic_reflection::server::Builder::configure()
            .register_encoded_file_descriptor_set(rapport_proto::FILE_DESCRIPTOR_SET)
            .register_encoded_file_descriptor_set(tonic_health::pb::FILE_DESCRIPTOR_SET)
            .build_v1()
            .map_err(|e| ServeError::Reflection(e.to_string()))?;
        let routes = routes.add_service(health).add_service(reflection);

        let names: Vec<String> = health_names.iter().map(|s| s.to_string()).collect();
        let draining = async move {
            shutdown.cancelled().await;
            // Tell load balancers and probes first, then stop accepting.
            reporter
                .set_service_status("", ServingStatus::NotServing)
                .await;
            for name in names {
                reporter
                    .set_service_status(name, ServingStatus::NotServing)
                    .await;
            }
        };
        tracing::info!(service = self.service, addr = %self.local_addr(), "gRPC server listening");
        // tonic applies its TCP_NODELAY default only to listeners it binds
        // itself; without it small responses wait for delayed ACKs (40 ms).
        let incoming = TcpListenerStream::new(self.listener).map(|conn| {
            if let Ok(stream) = &conn {
                let _ = stream.set_nodelay(true);
            }
            conn
        });
        tonic::transport::Server::builder()
            .layer(RpcLayer::new(self.service, metrics, key))
            .add_routes(routes)
            .serve_with_incoming_shutdown(incoming, draining)
            .await?;
        Ok(())
    }
}
