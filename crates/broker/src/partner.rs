//! The partner listener: a Kafka-protocol port partners read from and
//! cannot write to (ADR 0118).
//!
//! tansu has no authorisation, so whoever reaches the broker's own port can
//! produce a `ContactErased` for any tenant or commit offsets for Rapport's
//! consumer groups. The partner listener stands in front of it: it reads each
//! request's header and forwards what a consumer needs, answers every write
//! with the authorisation error a Kafka cluster with read-only ACLs gives,
//! and closes the connection on anything else. The broker's own port stays
//! on loopback for Rapport's services.
//!
//! Responses that name the broker (Metadata, FindCoordinator,
//! DescribeCluster) are rewritten to name the partner listener, so a client
//! never learns, and never reconnects to, the broker's own address.

use std::{net::SocketAddr, sync::Arc};

use bytes::Bytes;
use tansu_sans_io::{
    Body, ErrorCode, Frame, Header,
    api_versions_response::ApiVersionsResponse,
    describe_cluster_response::DescribeClusterResponse,
    find_coordinator_response::FindCoordinatorResponse,
    heartbeat_response::HeartbeatResponse,
    init_producer_id_response::InitProducerIdResponse,
    join_group_response::JoinGroupResponse,
    leave_group_response::LeaveGroupResponse,
    metadata_response::MetadataResponse,
    offset_commit_response::{
        OffsetCommitResponse, OffsetCommitResponsePartition, OffsetCommitResponseTopic,
    },
    produce_response::{PartitionProduceResponse, ProduceResponse, TopicProduceResponse},
    sync_group_response::SyncGroupResponse,
};
use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::{
        TcpListener, TcpStream,
        tcp::{OwnedReadHalf, OwnedWriteHalf},
    },
    sync::{Semaphore, mpsc},
    task::JoinHandle,
};
use tokio_util::sync::CancellationToken;

use crate::BrokerError;

/// Consumer groups whose names start with this belong to Rapport's own
/// services: a partner may read their offsets but never join or commit.
pub const RESERVED_GROUP_PREFIX: &str = "rapport-";

/// The largest request a partner may send; a consumer's are a few KiB.
const MAX_REQUEST_BYTES: usize = 1 << 20;
/// Partner connections served at once; more are closed on accept.
const MAX_CONNECTIONS: usize = 256;
/// Requests forwarded and not yet answered, per connection.
const IN_FLIGHT: usize = 64;
/// A connection without a request for this long is closed (Kafka brokers
/// close idle connections after 10 minutes too; clients reconnect).
const IDLE: std::time::Duration = std::time::Duration::from_secs(600);
/// Partitions a refused Produce may name; a larger one closes the
/// connection, so no refusal grows far beyond the request.
const MAX_REFUSED_PARTITIONS: usize = 10_000;

/// Kafka API keys (`ApiKey` in the protocol's message definitions).
mod api {
    pub(super) const PRODUCE: i16 = 0;
    pub(super) const FETCH: i16 = 1;
    pub(super) const LIST_OFFSETS: i16 = 2;
    pub(super) const METADATA: i16 = 3;
    pub(super) const OFFSET_COMMIT: i16 = 8;
    pub(super) const OFFSET_FETCH: i16 = 9;
    pub(super) const FIND_COORDINATOR: i16 = 10;
    pub(super) const JOIN_GROUP: i16 = 11;
    pub(super) const HEARTBEAT: i16 = 12;
    pub(super) const LEAVE_GROUP: i16 = 13;
    pub(super) const SYNC_GROUP: i16 = 14;
    pub(super) const DESCRIBE_GROUPS: i16 = 15;
    pub(super) const LIST_GROUPS: i16 = 16;
    pub(super) const API_VERSIONS: i16 = 18;
    pub(super) const INIT_PRODUCER_ID: i16 = 22;
    pub(super) const OFFSET_FOR_LEADER_EPOCH: i16 = 23;
    pub(super) const DESCRIBE_CONFIGS: i16 = 32;
    pub(super) const DESCRIBE_CLUSTER: i16 = 60;
    pub(super) const DESCRIBE_TOPIC_PARTITIONS: i16 = 75;
}

/// What the listener does with one request.
#[derive(Debug, PartialEq)]
enum Verdict {
    /// Send it (possibly rewritten) to the broker; relay the answer.
    Forward(Bytes),
    /// Answer it here with this response frame.
    Refuse(Bytes),
    /// A refused write whose client waits for no answer (`acks=0`).
    RefuseUnanswered,
    /// Not a consumer's request: close the connection.
    Close(String),
}

/// How the listener treats each API.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Route {
    /// Read-only: forwarded as it is.
    Forward,
    /// Forwarded without the power to create topics.
    Metadata,
    /// Refused with TOPIC_AUTHORIZATION_FAILED.
    Produce,
    /// Refused with CLUSTER_AUTHORIZATION_FAILED.
    InitProducerId,
    /// Forwarded for the partner's groups, refused for Rapport's.
    Group,
    /// Not a consumer's API: the connection is closed.
    Closed,
}

fn route(api_key: i16) -> Route {
    match api_key {
        api::FETCH
        | api::LIST_OFFSETS
        | api::OFFSET_FETCH
        | api::FIND_COORDINATOR
        | api::DESCRIBE_GROUPS
        | api::LIST_GROUPS
        | api::API_VERSIONS
        | api::OFFSET_FOR_LEADER_EPOCH
        | api::DESCRIBE_CONFIGS
        | api::DESCRIBE_CLUSTER
        | api::DESCRIBE_TOPIC_PARTITIONS => Route::Forward,
        api::METADATA => Route::Metadata,
        api::PRODUCE => Route::Produce,
        api::INIT_PRODUCER_ID => Route::InitProducerId,
        api::OFFSET_COMMIT
        | api::JOIN_GROUP
        | api::HEARTBEAT
        | api::LEAVE_GROUP
        | api::SYNC_GROUP => Route::Group,
        _ => Route::Closed,
    }
}

/// Decides what happens to one request frame (size prefix included).
fn judge(frame: Bytes) -> Verdict {
    let Some((api_key, api_version, correlation_id)) = peek_header(&frame) else {
        return Verdict::Close("a frame shorter than a request header".into());
    };
    match route(api_key) {
        Route::Forward => Verdict::Forward(frame),
        Route::Metadata => without_topic_creation(&frame),
        Route::Produce => refuse_produce(&frame, api_version, correlation_id),
        Route::InitProducerId => reply(
            InitProducerIdResponse::default()
                .throttle_time_ms(0)
                .error_code(ErrorCode::ClusterAuthorizationFailed.into())
                .producer_id(-1)
                .producer_epoch(-1)
                .into(),
            api_key,
            api_version,
            correlation_id,
        ),
        Route::Group => judge_group_request(frame, api_key, api_version, correlation_id),
        Route::Closed => Verdict::Close(format!("API key {api_key} is not open to partners")),
    }
}

/// Reads the API key, version and correlation id after the size prefix.
fn peek_header(frame: &[u8]) -> Option<(i16, i16, i32)> {
    let b = frame.get(4..12)?;
    Some((
        i16::from_be_bytes([b[0], b[1]]),
        i16::from_be_bytes([b[2], b[3]]),
        i32::from_be_bytes([b[4], b[5], b[6], b[7]]),
    ))
}

/// A Metadata request may ask the broker to create the topics it names.
fn without_topic_creation(frame: &[u8]) -> Verdict {
    let Ok(mut decoded) = Frame::request_from_bytes(frame) else {
        return Verdict::Close("an undecodable Metadata request".into());
    };
    if let Body::MetadataRequest(request) = &mut decoded.body
        && request.allow_auto_topic_creation.is_some()
    {
        request.allow_auto_topic_creation = Some(false);
    }
    match Frame::request(decoded.header, decoded.body) {
        Ok(encoded) => Verdict::Forward(encoded),
        Err(e) => Verdict::Close(format!("a Metadata request that does not re-encode: {e}")),
    }
}

/// Every partition of a Produce request gets TOPIC_AUTHORIZATION_FAILED.
fn refuse_produce(frame: &[u8], api_version: i16, correlation_id: i32) -> Verdict {
    let Ok(Frame {
        body: Body::ProduceRequest(request),
        ..
    }) = Frame::request_from_bytes(frame)
    else {
        return Verdict::Close("an undecodable Produce request".into());
    };
    if request.acks == 0 {
        return Verdict::RefuseUnanswered;
    }
    let partitions: usize = request
        .topic_data
        .iter()
        .flatten()
        .map(|t| t.partition_data.as_ref().map_or(0, Vec::len))
        .sum();
    if partitions > MAX_REFUSED_PARTITIONS {
        return Verdict::Close(format!("a Produce request naming {partitions} partitions"));
    }
    let refused: i16 = ErrorCode::TopicAuthorizationFailed.into();
    let responses = request
        .topic_data
        .unwrap_or_default()
        .into_iter()
        .map(|topic| {
            let partitions = topic
                .partition_data
                .unwrap_or_default()
                .into_iter()
                .map(|p| {
                    PartitionProduceResponse::default()
                        .index(p.index)
                        .error_code(refused)
                        .base_offset(-1)
                        .log_append_time_ms(Some(-1))
                        .log_start_offset(Some(-1))
                        .record_errors(Some(vec![]))
                        .error_message(None)
                })
                .collect();
            TopicProduceResponse::default()
                .name(topic.name)
                .partition_responses(Some(partitions))
        })
        .collect();
    reply(
        ProduceResponse::default()
            .responses(Some(responses))
            .throttle_time_ms(Some(0))
            .into(),
        api::PRODUCE,
        api_version,
        correlation_id,
    )
}

/// Group requests pass for the partner's own groups; Rapport's are refused
/// with GROUP_AUTHORIZATION_FAILED.
fn judge_group_request(
    frame: Bytes,
    api_key: i16,
    api_version: i16,
    correlation_id: i32,
) -> Verdict {
    let Ok(decoded) = Frame::request_from_bytes(&frame[..]) else {
        return Verdict::Close(format!("an undecodable group request (API key {api_key})"));
    };
    let refused: i16 = ErrorCode::GroupAuthorizationFailed.into();
    let (group_id, response): (String, Body) = match decoded.body {
        Body::OffsetCommitRequest(r) => {
            let topics = r
                .topics
                .unwrap_or_default()
                .into_iter()
                .map(|t| {
                    let partitions = t
                        .partitions
                        .unwrap_or_default()
                        .into_iter()
                        .map(|p| {
                            OffsetCommitResponsePartition::default()
                                .partition_index(p.partition_index)
                                .error_code(refused)
                        })
                        .collect();
                    OffsetCommitResponseTopic::default()
                        .name(t.name)
                        .partitions(Some(partitions))
                })
                .collect();
            let body = OffsetCommitResponse::default()
                .throttle_time_ms(Some(0))
                .topics(Some(topics));
            (r.group_id, body.into())
        }
        Body::JoinGroupRequest(r) => {
            let body = JoinGroupResponse::default()
                .throttle_time_ms(Some(0))
                .error_code(refused)
                .generation_id(-1)
                .protocol_name(None)
                .leader(String::new())
                .skip_assignment(Some(false))
                .member_id(String::new())
                .members(Some(vec![]));
            (r.group_id, body.into())
        }
        Body::HeartbeatRequest(r) => {
            let body = HeartbeatResponse::default()
                .throttle_time_ms(Some(0))
                .error_code(refused);
            (r.group_id, body.into())
        }
        Body::LeaveGroupRequest(r) => {
            let body = LeaveGroupResponse::default()
                .throttle_time_ms(Some(0))
                .error_code(refused)
                .members(Some(vec![]));
            (r.group_id, body.into())
        }
        Body::SyncGroupRequest(r) => {
            let body = SyncGroupResponse::default()
                .throttle_time_ms(Some(0))
                .error_code(refused)
                .assignment(Bytes::new());
            (r.group_id, body.into())
        }
        _ => return Verdict::Close(format!("API key {api_key} decoded as another request")),
    };
    if is_reserved_group(&group_id) {
        reply(response, api_key, api_version, correlation_id)
    } else {
        Verdict::Forward(frame)
    }
}

/// Whether `group` is one of Rapport's own consumer groups.
pub fn is_reserved_group(group: &str) -> bool {
    group
        .get(..RESERVED_GROUP_PREFIX.len())
        .is_some_and(|head| head.eq_ignore_ascii_case(RESERVED_GROUP_PREFIX))
}

fn reply(body: Body, api_key: i16, api_version: i16, correlation_id: i32) -> Verdict {
    match Frame::response(
        Header::Response { correlation_id },
        body,
        api_key,
        api_version,
    ) {
        Ok(encoded) => Verdict::Refuse(encoded),
        Err(e) => Verdict::Close(format!(
            "refusal of API key {api_key} v{api_version} does not encode: {e}"
        )),
    }
}

/// Points every broker address in a response at the partner listener.
fn rewrite_response(
    frame: Vec<u8>,
    api_key: i16,
    api_version: i16,
    advertised: &Advertised,
) -> Result<Bytes, String> {
    if !rewritten(api_key) {
        return Ok(Bytes::from(frame));
    }
    let decoded = Frame::response_from_bytes(&frame[..], api_key, api_version);
    let mut decoded = match decoded {
        Ok(d) => d,
        // An ApiVersions answer to a version the broker does not speak is
        // a v0 error response; the client retries with a version it does.
        Err(_) if api_key == api::API_VERSIONS => return Ok(Bytes::from(frame)),
        Err(e) => {
            return Err(format!(
                "broker response to API key {api_key} v{api_version}: {e}"
            ));
        }
    };
    let (host, port) = (advertised.host.clone(), advertised.port);
    match &mut decoded.body {
        Body::MetadataResponse(MetadataResponse { brokers, .. }) => {
            for b in brokers.iter_mut().flatten() {
                (b.host, b.port) = (host.clone(), port);
            }
        }
        Body::FindCoordinatorResponse(FindCoordinatorResponse {
            host: top_host,
            port: top_port,
            coordinators,
            ..
        }) => {
            if top_host.is_some() {
                (*top_host, *top_port) = (Some(host.clone()), Some(port));
            }
            for c in coordinators.iter_mut().flatten() {
                (c.host, c.port) = (host.clone(), port);
            }
        }
        // Clients only send what the listener lets through (librdkafka
        // otherwise asks for telemetry subscriptions, for one).
        Body::ApiVersionsResponse(ApiVersionsResponse { api_keys, .. }) => {
            if let Some(keys) = api_keys {
                keys.retain(|k| route(k.api_key) != Route::Closed);
            }
        }
        Body::DescribeClusterResponse(DescribeClusterResponse { brokers, .. }) => {
            for b in brokers.iter_mut().flatten() {
                (b.host, b.port) = (host.clone(), port);
            }
        }
        _ => {
            return Err(format!(
                "broker answered API key {api_key} with another body"
            ));
        }
    }
    Frame::response(decoded.header, decoded.body, api_key, api_version)
        .map_err(|e| format!("rewritten response to API key {api_key}: {e}"))
}

/// The address partners are told to connect to.
#[derive(Clone, Debug)]
struct Advertised {
    host: String,
    port: i32,
}

/// A running partner listener.
#[derive(Debug)]
pub struct PartnerListener {
    addr: SocketAddr,
    stop: CancellationToken,
    task: JoinHandle<()>,
}

impl PartnerListener {
    /// Listens on `addr` (port 0 picks one) in front of the broker at
    /// `broker`. Partners are told to connect to `advertised` (`host:port`),
    /// or to the address listened on when `None`.
    pub async fn start(
        addr: SocketAddr,
        advertised: Option<&str>,
        broker: SocketAddr,
    ) -> Result<Self, BrokerError> {
        let listener = TcpListener::bind(addr).await.map_err(BrokerError::Port)?;
        let addr = listener.local_addr().map_err(BrokerError::Port)?;
        let advertised = match advertised {
            None => Advertised {
                host: addr.ip().to_string(),
                port: i32::from(addr.port()),
            },
            Some(a) => {
                let (host, port) = a
                    .rsplit_once(':')
                    .and_then(|(h, p)| Some((h, p.parse::<u16>().ok()?)))
                    .ok_or_else(|| {
                        BrokerError::Tansu(format!("partner address {a:?} is not host:port"))
                    })?;
                Advertised {
                    host: host.to_owned(),
                    port: i32::from(port),
                }
            }
        };
        let stop = CancellationToken::new();
        let task = tokio::spawn(accept_loop(listener, broker, advertised, stop.clone()));
        tracing::info!(%addr, "partner Kafka listener (read-only) listening");
        Ok(PartnerListener { addr, stop, task })
    }

    /// The address the listener is bound to.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Stops accepting and closes every partner connection.
    pub async fn stop(self) {
        self.stop.cancel();
        let _ = self.task.await;
    }
}

async fn accept_loop(
    listener: TcpListener,
    broker: SocketAddr,
    advertised: Advertised,
    stop: CancellationToken,
) {
    let slots = Arc::new(Semaphore::new(MAX_CONNECTIONS));
    loop {
        let accepted = tokio::select! {
            _ = stop.cancelled() => return,
            accepted = listener.accept() => accepted,
        };
        let (client, peer) = match accepted {
            Ok(c) => c,
            Err(e) => {
                tracing::warn!(error = %e, "partner listener accept failed");
                continue;
            }
        };
        let Ok(slot) = slots.clone().try_acquire_owned() else {
            tracing::warn!(%peer, "partner connection refused: {MAX_CONNECTIONS} already open");
            continue;
        };
        let (advertised, stop) = (advertised.clone(), stop.clone());
        tokio::spawn(async move {
            let _slot = slot;
            tokio::select! {
                _ = stop.cancelled() => {}
                served = serve_connection(client, broker, &advertised) => {
                    if let Err(reason) = served {
                        tracing::warn!(%peer, %reason, "partner connection closed");
                    }
                }
            }
        });
    }
}

/// What the response side writes next, in request order.
enum Pending {
    /// The broker's answer to a forwarded request.
    FromBroker { api_key: i16, api_version: i16 },
    /// A refusal made here.
    Local(Bytes),
}

/// Serves one partner connection: requests are judged in order, and answers
/// (the broker's or local refusals) go back in the same order, as Kafka
/// clients expect.
async fn serve_connection(
    client: TcpStream,
    broker: SocketAddr,
    advertised: &Advertised,
) -> Result<(), String> {
    let upstream = TcpStream::connect(broker)
        .await
        .map_err(|e| format!("broker {broker}: {e}"))?;
    let (mut client_rx, client_tx) = client.into_split();
    let (upstream_rx, mut upstream_tx) = upstream.into_split();
    let (pending_tx, pending_rx) = mpsc::channel::<Pending>(IN_FLIGHT);
    let responses = answer_in_order(pending_rx, upstream_rx, client_tx, advertised.clone());
    let requests = async move {
        loop {
            let next =
                tokio::time::timeout(IDLE, read_frame(&mut client_rx, Some(MAX_REQUEST_BYTES)));
            let Some(frame) = next.await.map_err(|_| format!("idle for {IDLE:?}"))?? else {
                return Ok::<(), String>(());
            };
            let (api_key, api_version, _) = peek_header(&frame).unwrap_or_default();
            match judge(Bytes::from(frame)) {
                Verdict::Forward(frame) => {
                    upstream_tx
                        .write_all(&frame)
                        .await
                        .map_err(|e| format!("to broker: {e}"))?;
                    pending_tx
                        .send(Pending::FromBroker {
                            api_key,
                            api_version,
                        })
                        .await
                        .map_err(|_| "response side ended".to_owned())?;
                }
                Verdict::Refuse(reply) => {
                    tracing::info!(api_key, "partner write refused");
                    pending_tx
                        .send(Pending::Local(reply))
                        .await
                        .map_err(|_| "response side ended".to_owned())?;
                }
                Verdict::RefuseUnanswered => tracing::info!(api_key, "partner write refused"),
                Verdict::Close(reason) => return Err(reason),
            }
        }
    };
    // A partner that closes its side gets what is pending, then the end;
    // any failure on either side drops both sockets at once (a side left
    // blocked on a peer that stopped reading would hold the slot forever).
    tokio::pin!(requests, responses);
    tokio::select! {
        r = &mut requests => match r {
            Ok(()) => responses.await,
            Err(e) => Err(e),
        },
        r = &mut responses => r,
    }
}

async fn answer_in_order(
    mut pending: mpsc::Receiver<Pending>,
    mut upstream: OwnedReadHalf,
    mut client: OwnedWriteHalf,
    advertised: Advertised,
) -> Result<(), String> {
    while let Some(next) = pending.recv().await {
        match next {
            Pending::Local(reply) => write_to(&mut client, &reply).await?,
            Pending::FromBroker {
                api_key,
                api_version,
            } if rewritten(api_key) => {
                let Some(frame) = read_frame(&mut upstream, None).await? else {
                    return Err("the broker closed the connection".into());
                };
                let rewritten = rewrite_response(frame, api_key, api_version, &advertised)?;
                write_to(&mut client, &rewritten).await?;
            }
            Pending::FromBroker { .. } => {
                // Fetch responses can be megabytes: streamed, never held.
                let mut size = [0u8; 4];
                upstream
                    .read_exact(&mut size)
                    .await
                    .map_err(|e| format!("from broker: {e}"))?;
                let len = u64::try_from(i32::from_be_bytes(size))
                    .map_err(|_| "the broker sent a negative frame size")?;
                write_to(&mut client, &size).await?;
                let copied = tokio::io::copy(&mut (&mut upstream).take(len), &mut client)
                    .await
                    .map_err(|e| format!("broker to partner: {e}"))?;
                if copied != len {
                    return Err("the broker closed the connection mid-response".into());
                }
            }
        }
    }
    client
        .shutdown()
        .await
        .map_err(|e| format!("to partner: {e}"))
}

async fn write_to(client: &mut OwnedWriteHalf, bytes: &[u8]) -> Result<(), String> {
    client
        .write_all(bytes)
        .await
        .map_err(|e| format!("to partner: {e}"))
}

/// Responses the listener rewrites: those that carry broker addresses
/// (which must name the listener) and the list of supported APIs.
fn rewritten(api_key: i16) -> bool {
    matches!(
        api_key,
        api::METADATA | api::FIND_COORDINATOR | api::DESCRIBE_CLUSTER | api::API_VERSIONS
    )
}

/// Reads one size-prefixed frame (prefix included); `None` at a clean end.
async fn read_frame(
    from: &mut OwnedReadHalf,
    limit: Option<usize>,
) -> Result<Option<Vec<u8>>, String> {
    let mut size = [0u8; 4];
    match from.read_exact(&mut size).await {
        Ok(_) => {}
        Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => return Ok(None),
        Err(e) => return Err(format!("read: {e}")),
    }
    let len = usize::try_from(i32::from_be_bytes(size)).map_err(|_| "a negative frame size")?;
    if limit.is_some_and(|max| len > max) {
        return Err(format!(
            "a {len}-byte request (at most {MAX_REQUEST_BYTES})"
        ));
    }
    let mut frame = vec![0u8; 4 + len];
    frame[..4].copy_from_slice(&size);
    from.read_exact(&mut frame[4..])
        .await
        .map_err(|e| format!("read: {e}"))?;
    Ok(Some(frame))
}

#[cfg(test)]
mod tests {
    use super::*;
    use tansu_sans_io::{
        create_topics_request::CreateTopicsRequest,
        init_producer_id_request::InitProducerIdRequest,
        metadata_request::MetadataRequest,
        metadata_response::MetadataResponseBroker,
        offset_commit_request::{
            OffsetCommitRequest, OffsetCommitRequestPartition, OffsetCommitRequestTopic,
        },
        produce_request::{PartitionProduceData, ProduceRequest, TopicProduceData},
    };

    fn request(api_key: i16, api_version: i16, body: Body) -> Bytes {
        Frame::request(
            Header::Request {
                api_key,
                api_version,
                correlation_id: 7,
                client_id: Some("partner".into()),
            },
            body,
        )
        .unwrap()
    }

    fn refused(verdict: Verdict, api_key: i16, api_version: i16) -> Body {
        let Verdict::Refuse(reply) = verdict else {
            panic!("expected a refusal, got {verdict:?}");
        };
        let frame = Frame::response_from_bytes(&reply[..], api_key, api_version).unwrap();
        assert_eq!(
            frame.correlation_id().unwrap(),
            7,
            "answers the request it refuses"
        );
        frame.body
    }

    fn produce(acks: i16) -> Body {
        ProduceRequest::default()
            .transactional_id(None)
            .acks(acks)
            .timeout_ms(1000)
            .topic_data(Some(vec![
                TopicProduceData::default()
                    .name("rapport.contacts.v1".into())
                    .partition_data(Some(vec![
                        PartitionProduceData::default().index(0).records(None),
                        PartitionProduceData::default().index(2).records(None),
                    ])),
            ]))
            .into()
    }

    #[test]
    fn every_partition_of_a_produce_is_refused() {
        for version in [3, 7, 9] {
            let body = refused(
                judge(request(api::PRODUCE, version, produce(-1))),
                0,
                version,
            );
            let Body::ProduceResponse(r) = body else {
                panic!("not a produce response: {body:?}");
            };
            let topics = r.responses.unwrap();
            assert_eq!(topics.len(), 1);
            let partitions = topics[0].partition_responses.clone().unwrap();
            let refused: Vec<(i32, i16)> =
                partitions.iter().map(|p| (p.index, p.error_code)).collect();
            assert_eq!(refused, vec![(0, 29), (2, 29)], "v{version}");
        }
    }

    #[test]
    fn a_produce_naming_too_many_partitions_closes_the_connection() {
        let many = ProduceRequest::default()
            .transactional_id(None)
            .acks(-1)
            .timeout_ms(1000)
            .topic_data(Some(vec![
                TopicProduceData::default()
                    .name("rapport.contacts.v1".into())
                    .partition_data(Some(
                        (0..=MAX_REFUSED_PARTITIONS as i32)
                            .map(|i| PartitionProduceData::default().index(i).records(None))
                            .collect(),
                    )),
            ]))
            .into();
        assert!(matches!(
            judge(request(api::PRODUCE, 7, many)),
            Verdict::Close(_)
        ));
    }

    #[test]
    fn a_produce_without_acks_is_dropped_unanswered() {
        assert_eq!(
            judge(request(api::PRODUCE, 7, produce(0))),
            Verdict::RefuseUnanswered
        );
    }

    #[test]
    fn producer_ids_are_refused() {
        let body = InitProducerIdRequest::default()
            .transactional_id(None)
            .transaction_timeout_ms(60_000)
            .producer_id(Some(-1))
            .producer_epoch(Some(-1))
            .into();
        let reply = refused(judge(request(api::INIT_PRODUCER_ID, 4, body)), 22, 4);
        let Body::InitProducerIdResponse(r) = reply else {
            panic!("not an InitProducerId response: {reply:?}");
        };
        assert_eq!(r.error_code, 31);
    }

    fn commit(group: &str) -> Body {
        OffsetCommitRequest::default()
            .group_id(group.into())
            .generation_id_or_member_epoch(Some(-1))
            .member_id(Some(String::new()))
            .group_instance_id(None)
            .retention_time_ms(None)
            .topics(Some(vec![
                OffsetCommitRequestTopic::default()
                    .name("rapport.contacts.v1".into())
                    .partitions(Some(vec![
                        OffsetCommitRequestPartition::default()
                            .partition_index(0)
                            .committed_offset(10)
                            .committed_leader_epoch(Some(-1))
                            .commit_timestamp(None)
                            .committed_metadata(None),
                    ])),
            ]))
            .into()
    }

    #[test]
    fn commits_for_rapports_groups_are_refused_and_the_partners_pass() {
        let own = request(api::OFFSET_COMMIT, 8, commit("partner-crm-sync"));
        assert_eq!(judge(own.clone()), Verdict::Forward(own));
        for group in ["rapport-analytics", "Rapport-Deals-Contacts"] {
            let reply = refused(judge(request(api::OFFSET_COMMIT, 8, commit(group))), 8, 8);
            let Body::OffsetCommitResponse(r) = reply else {
                panic!("not an OffsetCommit response: {reply:?}");
            };
            let codes: Vec<i16> = r
                .topics
                .unwrap()
                .iter()
                .flat_map(|t| t.partitions.clone().unwrap())
                .map(|p| p.error_code)
                .collect();
            assert_eq!(codes, vec![30], "{group}");
        }
    }

    #[test]
    fn administration_closes_the_connection() {
        let body = CreateTopicsRequest::default()
            .topics(Some(vec![]))
            .timeout_ms(1000)
            .validate_only(Some(false))
            .into();
        assert!(matches!(
            judge(request(19, 4, body)),
            Verdict::Close(reason) if reason.contains("19")
        ));
        assert!(matches!(
            judge(Bytes::from_static(&[0, 0, 0, 2, 0, 1])),
            Verdict::Close(_)
        ));
    }

    #[test]
    fn metadata_requests_cannot_create_topics() {
        let body = MetadataRequest::default()
            .topics(Some(vec![]))
            .allow_auto_topic_creation(Some(true))
            .include_cluster_authorized_operations(Some(false))
            .include_topic_authorized_operations(Some(false))
            .into();
        let Verdict::Forward(sent) = judge(request(api::METADATA, 9, body)) else {
            panic!("metadata requests are forwarded");
        };
        let Body::MetadataRequest(r) = Frame::request_from_bytes(&sent[..]).unwrap().body else {
            panic!("still a metadata request");
        };
        assert_eq!(r.allow_auto_topic_creation, Some(false));
    }

    #[test]
    fn metadata_names_the_partner_listener() {
        let response = Frame::response(
            Header::Response { correlation_id: 7 },
            MetadataResponse::default()
                .throttle_time_ms(Some(0))
                .brokers(Some(vec![
                    MetadataResponseBroker::default()
                        .node_id(0)
                        .host("127.0.0.1".into())
                        .port(9092)
                        .rack(None),
                ]))
                .cluster_id(Some("rapport".into()))
                .controller_id(Some(0))
                .topics(Some(vec![]))
                .cluster_authorized_operations(Some(i32::MIN))
                .into(),
            api::METADATA,
            9,
        )
        .unwrap();
        let advertised = Advertised {
            host: "crm.example.com".into(),
            port: 19092,
        };
        let rewritten = rewrite_response(response.to_vec(), api::METADATA, 9, &advertised).unwrap();
        let Body::MetadataResponse(r) =
            Frame::response_from_bytes(&rewritten[..], api::METADATA, 9)
                .unwrap()
                .body
        else {
            panic!("still a metadata response");
        };
        let brokers = r.brokers.unwrap();
        assert_eq!(
            (brokers[0].host.as_str(), brokers[0].port),
            ("crm.example.com", 19092)
        );
    }

    #[test]
    fn reserved_groups_are_recognised_by_prefix() {
        assert!(is_reserved_group("rapport-analytics"));
        assert!(is_reserved_group("RAPPORT-x"));
        assert!(!is_reserved_group("rapport"));
        assert!(!is_reserved_group("partner-rapport-sync"));
        assert!(!is_reserved_group("ra"));
    }
}
