//! One trace follows a business action across the gateway, the contacts
//! service, the Kafka publish and the analytics consumer.

use std::{
    collections::HashMap,
    sync::{Arc, Mutex},
    time::Duration,
};

use crate::harness::{Monolith, eventually};
use opentelemetry_proto::tonic::collector::trace::v1::{
    ExportTraceServiceRequest, ExportTraceServiceResponse,
    trace_service_server::{TraceService, TraceServiceServer},
};

/// Span names seen, by trace id (hex).
type Spans = Arc<Mutex<HashMap<String, Vec<String>>>>;

/// An in-process OTLP/gRPC receiver: the real protocol, no collector.
#[derive(Clone, Default)]
struct Receiver(Spans);

#[tonic::async_trait]
impl TraceService for Receiver {
    async fn export(
        &self,
        req: tonic::Request<ExportTraceServiceRequest>,
    ) -> Result<tonic::Response<ExportTraceServiceResponse>, tonic::Status> {
        let mut spans = self.0.lock().unwrap();
        for rs in req.into_inner().resource_spans {
            for ss in rs.scope_spans {
                for span in ss.spans {
                    let trace: String = span.trace_id.iter().map(|b| format!("{b:02x}")).collect();
                    spans.entry(trace).or_default().push(span.name);
                }
            }
        }
        Ok(tonic::Response::new(ExportTraceServiceResponse::default()))
    }
}

#[tokio::test]
async fn gateway_service_publish_and_consume_share_one_trace() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let receiver = Receiver::default();
    let spans = receiver.0.clone();
    tokio::spawn(
        tonic::transport::Server::builder()
            .add_service(TraceServiceServer::new(receiver))
            .serve_with_incoming(tokio_stream::wrappers::TcpListenerStream::new(listener)),
    );

    let dir = tempfile::tempdir().unwrap();
    let endpoint = format!("http://{addr}");
    let app = Monolith::start(
        dir.path(),
        &[("RAPPORT_TELEMETRY__OTLP_ENDPOINT", &endpoint)],
    );
    let token = app.token("acme", "alice");
    app.create_contact(&token, "Traced").await;

    let wanted = [
        "POST /v1/contacts",
        "rapport.contacts.v1.ContactsService/CreateContact",
        "rapport.contacts.v1 publish",
        "rapport.contacts.v1 process",
    ];
    let names = eventually(
        "one trace with every hop",
        Duration::from_secs(60),
        || async {
            let spans = spans.lock().unwrap();
            spans
                .values()
                .find(|names| wanted.iter().all(|w| names.iter().any(|n| n == w)))
                .cloned()
        },
    )
    .await;
    assert!(names.len() >= wanted.len(), "{names:?}");
}

#[tokio::test]
async fn json_logs_carry_the_trace_id_and_tenant_of_the_request() {
    let dir = tempfile::tempdir().unwrap();
    let app = Monolith::start(dir.path(), &[("RAPPORT_TELEMETRY__LOG_FORMAT", "json")]);
    let token = app.token("acme", "alice");
    app.create_contact(&token, "Logged").await;
    let log = dir.path().join("rapport.log");
    let line = eventually("the access log line", Duration::from_secs(30), || async {
        std::fs::read_to_string(&log)
            .ok()?
            .lines()
            .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
            .find(|v| v["fields"]["message"] == "POST /v1/contacts")
    })
    .await;
    let span = &line["span"];
    assert_eq!(span["tenant"], "acme", "{line}");
    let trace_id = span["trace_id"].as_str().unwrap_or_default();
    assert!(
        trace_id.len() == 32 && trace_id.chars().all(|c| c.is_ascii_hexdigit()),
        "{line}"
    );
    assert_eq!(line["fields"]["status"], 201);
}
