//! `KubeLeases` against a scripted API server (`tower-test` mock pairs), no
//! cluster. Time is paused: `advance` moves the monotonic clock the claims
//! use, while other replicas' renewals are stamped on the real wall clock.

use std::{sync::Arc, time::Duration};

use http::{Method, Request, Response};
use k8s_openapi::jiff::{SignedDuration, Timestamp};
use kube::{Client, client::Body};
use rapport_kube_lease::KubeLeases;
use rapport_platform::lease::{Lease, Leases};
use serde_json::{Value, json};
use tokio::time::{Instant, advance};
use tower_test::mock::{self, Handle, SendResponse};

const NAMESPACE: &str = "rapport";
const NAME: &str = "rapport-contacts-outbox-relay";
const ME: &str = "contacts-0";
const OTHER: &str = "contacts-1";
/// A third of it (5 s) is the renewal interval and the longest exchange.
const DURATION: Duration = Duration::from_secs(15);
const LEASES: &str = "/apis/coordination.k8s.io/v1/namespaces/rapport/leases";
const LEASE: &str =
    "/apis/coordination.k8s.io/v1/namespaces/rapport/leases/rapport-contacts-outbox-relay";

type Responder = SendResponse<Response<Body>>;

/// The API server's side of the mock pair.
struct ApiServer(Handle<Request<Body>, Response<Body>>);

impl ApiServer {
    /// Takes the next request, which must be `method` on `path`; gives its
    /// JSON body (`Null` when empty) and the means to answer it.
    async fn expect(&mut self, method: Method, path: &str) -> (Value, Responder) {
        let (request, respond) =
            tokio::time::timeout(Duration::from_secs(600), self.0.next_request())
                .await
                .unwrap_or_else(|_| panic!("expected {method} {path}, got no request"))
                .expect("the client is gone");
        assert_eq!((request.method(), request.uri().path()), (&method, path));
        let bytes = request.into_body().collect_bytes().await.unwrap();
        let body = if bytes.is_empty() {
            Value::Null
        } else {
            serde_json::from_slice(&bytes).unwrap()
        };
        (body, respond)
    }

    /// Answers `method` on `path` with `response`; gives the request's body.
    async fn answer(&mut self, method: Method, path: &str, response: Response<Body>) -> Value {
        let (body, respond) = self.expect(method, path).await;
        respond.send_response(response);
        body
    }

    /// Fails if a request is waiting.
    fn assert_silent(&mut self) {
        if let std::task::Poll::Ready(Some((request, _))) = self.0.poll_request() {
            panic!("unexpected {} {}", request.method(), request.uri().path());
        }
    }
}

fn setup() -> (KubeLeases, ApiServer) {
    let (service, handle) = mock::pair::<Request<Body>, Response<Body>>();
    let client = Client::new(service, NAMESPACE);
    let leases = KubeLeases::new(client, NAMESPACE.into(), ME.into(), DURATION);
    (leases, ApiServer(handle))
}

fn json_response(status: u16, body: &Value) -> Response<Body> {
    Response::builder()
        .status(status)
        .header("content-type", "application/json")
        .body(Body::from(serde_json::to_vec(body).unwrap()))
        .unwrap()
}

fn failure(code: u16, reason: &str) -> Response<Body> {
    let status = json!({
        "kind": "Status", "apiVersion": "v1", "metadata": {},
        "status": "Failure", "message": reason, "reason": reason, "code": code,
    });
    json_response(code, &status)
}

/// The server stores a written object under a new resourceVersion.
fn stored(mut written: Value, resource_version: &str) -> Response<Body> {
    written["metadata"]["resourceVersion"] = json!(resource_version);
    json_response(200, &written)
}

/// Whole seconds, so times read back compare equal.
fn ago(secs: i64) -> Timestamp {
    Timestamp::from_second(Timestamp::now().as_second() - secs).unwrap()
}

/// A Lease as the server would return it.
fn lease_object(
    holder: Option<&str>,
    renewed: Timestamp,
    resource_version: &str,
    transitions: i32,
) -> Value {
    json!({
        "apiVersion": "coordination.k8s.io/v1", "kind": "Lease",
        "metadata": { "name": NAME, "namespace": NAMESPACE, "resourceVersion": resource_version },
        "spec": {
            "holderIdentity": holder,
            "leaseDurationSeconds": 15,
            "acquireTime": Timestamp::from_second(renewed.as_second() - 100).unwrap().to_string(),
            "renewTime": renewed.to_string(),
            "leaseTransitions": transitions,
        },
    })
}

fn time(body: &Value, field: &str) -> Timestamp {
    body["spec"][field].as_str().unwrap().parse().unwrap()
}

/// Acquires the lease by creating it (resourceVersion "1") at the current
/// instant; gives the object created.
async fn acquire(lease: &Arc<dyn Lease>, server: &mut ApiServer) -> Value {
    let (held, created) = tokio::join!(lease.held(), async {
        server
            .answer(Method::GET, LEASE, failure(404, "NotFound"))
            .await;
        let (body, respond) = server.expect(Method::POST, LEASES).await;
        respond.send_response(stored(body.clone(), "1"));
        body
    });
    assert!(held);
    created
}

#[tokio::test(start_paused = true)]
async fn creates_the_lease_when_it_does_not_exist() {
    let (leases, mut server) = setup();
    let lease = leases.lease(NAME);
    let (held, created) = tokio::join!(lease.held(), async {
        server
            .answer(Method::GET, LEASE, failure(404, "NotFound"))
            .await;
        let (body, respond) = server.expect(Method::POST, LEASES).await;
        respond.send_response(stored(body.clone(), "1"));
        body
    });
    assert!(held);
    assert_eq!(created["metadata"]["name"], NAME);
    assert_eq!(created["spec"]["holderIdentity"], ME);
    assert_eq!(created["spec"]["leaseDurationSeconds"], 15);
    assert!(
        Timestamp::now()
            .duration_since(time(&created, "renewTime"))
            .abs()
            < SignedDuration::from_secs(5)
    );
}

#[tokio::test(start_paused = true)]
async fn leaves_a_live_lease_to_its_holder() {
    let (leases, mut server) = setup();
    let lease = leases.lease(NAME);
    let (held, _) = tokio::join!(lease.held(), async {
        server
            .answer(
                Method::GET,
                LEASE,
                json_response(200, &lease_object(Some(OTHER), ago(1), "7", 2)),
            )
            .await;
    });
    assert!(!held);
    server.assert_silent();
}

#[tokio::test(start_paused = true)]
async fn takes_over_an_expired_lease_with_a_replace() {
    let (leases, mut server) = setup();
    let lease = leases.lease(NAME);
    let (held, replaced) = tokio::join!(lease.held(), async {
        server
            .answer(
                Method::GET,
                LEASE,
                json_response(200, &lease_object(Some(OTHER), ago(60), "7", 2)),
            )
            .await;
        let (body, respond) = server.expect(Method::PUT, LEASE).await;
        respond.send_response(stored(body.clone(), "8"));
        body
    });
    assert!(held);
    // The replace is conditional on the version read.
    assert_eq!(replaced["metadata"]["resourceVersion"], "7");
    assert_eq!(replaced["spec"]["holderIdentity"], ME);
    assert_eq!(replaced["spec"]["leaseTransitions"], 3);
    assert_eq!(
        replaced["spec"]["acquireTime"],
        replaced["spec"]["renewTime"]
    );
}

#[tokio::test(start_paused = true)]
async fn takes_a_lease_nobody_holds() {
    let (leases, mut server) = setup();
    let lease = leases.lease(NAME);
    let (held, replaced) = tokio::join!(lease.held(), async {
        server
            .answer(
                Method::GET,
                LEASE,
                json_response(200, &lease_object(None, ago(1), "7", 2)),
            )
            .await;
        let (body, respond) = server.expect(Method::PUT, LEASE).await;
        respond.send_response(stored(body.clone(), "8"));
        body
    });
    assert!(held);
    assert_eq!(replaced["spec"]["holderIdentity"], ME);
}

#[tokio::test(start_paused = true)]
async fn a_conflict_on_take_over_means_another_replica_won() {
    let (leases, mut server) = setup();
    let lease = leases.lease(NAME);
    let (held, _) = tokio::join!(lease.held(), async {
        server
            .answer(
                Method::GET,
                LEASE,
                json_response(200, &lease_object(Some(OTHER), ago(60), "7", 2)),
            )
            .await;
        server
            .answer(Method::PUT, LEASE, failure(409, "Conflict"))
            .await;
    });
    assert!(!held);

    // The next try reads the winner's object afresh.
    advance(Duration::from_secs(2)).await;
    let (held, _) = tokio::join!(lease.held(), async {
        server
            .answer(
                Method::GET,
                LEASE,
                json_response(200, &lease_object(Some("contacts-2"), ago(0), "9", 3)),
            )
            .await;
    });
    assert!(!held);
    server.assert_silent();
}

#[tokio::test(start_paused = true)]
async fn losing_the_race_to_create_is_not_held() {
    let (leases, mut server) = setup();
    let lease = leases.lease(NAME);
    let (held, _) = tokio::join!(lease.held(), async {
        server
            .answer(Method::GET, LEASE, failure(404, "NotFound"))
            .await;
        server
            .answer(Method::POST, LEASES, failure(409, "AlreadyExists"))
            .await;
    });
    assert!(!held);
}

#[tokio::test(start_paused = true)]
async fn answers_from_memory_then_renews_with_a_conditional_replace() {
    let (leases, mut server) = setup();
    let lease = leases.lease(NAME);
    let created = acquire(&lease, &mut server).await;
    let created_at = Instant::now();

    // Asking before every round costs no request.
    advance(Duration::from_secs(4)).await;
    assert!(lease.held().await);
    server.assert_silent();

    // A third of the duration in, it renews without reading first.
    advance(Duration::from_secs(1)).await;
    let (held, renewed) = tokio::join!(lease.held(), async {
        let (body, respond) = server.expect(Method::PUT, LEASE).await;
        respond.send_response(stored(body.clone(), "2"));
        body
    });
    assert!(held);
    assert_eq!(renewed["metadata"]["resourceVersion"], "1");
    assert_eq!(renewed["spec"]["holderIdentity"], ME);
    assert!(time(&renewed, "renewTime") >= time(&created, "renewTime"));

    // Past the first claim's end, the renewal still holds it even though
    // this renewal fails.
    advance(DURATION - Duration::from_secs(4)).await;
    assert!(created_at.elapsed() > DURATION);
    let (held, _) = tokio::join!(lease.held(), async {
        server
            .answer(Method::PUT, LEASE, failure(500, "InternalError"))
            .await;
    });
    assert!(held);
}

#[tokio::test(start_paused = true)]
async fn an_unreachable_api_server_lets_the_claim_lapse_on_time() {
    let (leases, mut server) = setup();
    let lease = leases.lease(NAME);
    acquire(&lease, &mut server).await;
    let acquired = Instant::now();

    advance(Duration::from_secs(5)).await;
    let (held, _) = tokio::join!(lease.held(), async {
        let (_, respond) = server.expect(Method::PUT, LEASE).await;
        respond.send_error("connection refused");
    });
    assert!(held, "still within the lease");

    // After an error it re-reads the object rather than trust its version.
    advance(Duration::from_secs(9)).await;
    let (held, _) = tokio::join!(lease.held(), async {
        let (_, respond) = server.expect(Method::GET, LEASE).await;
        respond.send_error("connection refused");
    });
    assert!(held, "still within the lease");

    advance(DURATION - acquired.elapsed()).await;
    let (held, _) = tokio::join!(lease.held(), async {
        let (_, respond) = server.expect(Method::GET, LEASE).await;
        respond.send_error("connection refused");
    });
    assert!(!held, "the lease could have expired");
}

#[tokio::test(start_paused = true)]
async fn a_hung_api_server_cannot_stretch_the_claim() {
    let (leases, mut server) = setup();
    let lease = leases.lease(NAME);
    acquire(&lease, &mut server).await;
    let acquired = Instant::now();

    // The renewal is never answered: the wait is bounded, the claim stands.
    advance(Duration::from_secs(5)).await;
    let (held, _unanswered) = tokio::join!(lease.held(), server.expect(Method::PUT, LEASE));
    assert!(held);

    // Nor is the next try: it gives up when the claim has lapsed.
    advance(Duration::from_secs(1)).await;
    let (held, _unanswered) = tokio::join!(lease.held(), server.expect(Method::GET, LEASE));
    assert!(!held);
    assert!(acquired.elapsed() >= DURATION);
    assert!(acquired.elapsed() <= DURATION + Duration::from_secs(1));
}

#[tokio::test(start_paused = true)]
async fn a_conflict_on_renewal_gives_the_claim_up() {
    let (leases, mut server) = setup();
    let lease = leases.lease(NAME);
    acquire(&lease, &mut server).await;

    advance(Duration::from_secs(5)).await;
    let (held, _) = tokio::join!(lease.held(), async {
        server
            .answer(Method::PUT, LEASE, failure(409, "Conflict"))
            .await;
    });
    assert!(!held);

    advance(Duration::from_secs(1)).await;
    let (held, _) = tokio::join!(lease.held(), async {
        server
            .answer(
                Method::GET,
                LEASE,
                json_response(200, &lease_object(Some(OTHER), ago(0), "5", 1)),
            )
            .await;
    });
    assert!(!held);
}

#[tokio::test(start_paused = true)]
async fn a_restarted_replica_keeps_the_lease_its_name_holds() {
    let (leases, mut server) = setup();
    let lease = leases.lease(NAME);
    let before = lease_object(Some(ME), ago(3), "4", 1);
    let (held, renewed) = tokio::join!(lease.held(), async {
        server
            .answer(Method::GET, LEASE, json_response(200, &before))
            .await;
        let (body, respond) = server.expect(Method::PUT, LEASE).await;
        respond.send_response(stored(body.clone(), "5"));
        body
    });
    assert!(held);
    // A renewal, not a transition.
    assert_eq!(renewed["metadata"]["resourceVersion"], "4");
    assert_eq!(renewed["spec"]["leaseTransitions"], 1);
    assert_eq!(time(&renewed, "acquireTime"), time(&before, "acquireTime"));
    assert!(time(&renewed, "renewTime") > time(&before, "renewTime"));
}

#[tokio::test(start_paused = true)]
async fn handles_for_one_name_share_one_claim() {
    let (leases, mut server) = setup();
    let first = leases.lease(NAME);
    acquire(&first, &mut server).await;
    assert!(leases.lease(NAME).held().await);
    server.assert_silent();
}
