//! Tenants never see each other's data.

use std::time::Duration;

use serde_json::json;

use crate::harness::{Monolith, eventually};

#[tokio::test]
async fn another_tenant_gets_404_and_zero_counts() {
    let dir = tempfile::tempdir().unwrap();
    let app = Monolith::start(dir.path(), &[]);
    let acme = app.token("acme", "alice");
    let globex = app.token("globex", "mallory");
    let id = app.create_contact(&acme, "Ada").await;
    let (s, _) = app
        .post(
            &format!("/v1/contacts/{id}/interactions"),
            &acme,
            json!({"channel": "note", "direction": "internal", "occurred_at": "2026-11-01T08:00:00Z"}),
        )
        .await;
    assert_eq!(s, 201);

    let (status, ct, body) = app
        .call("GET", &format!("/v1/contacts/{id}"), Some(&globex), None)
        .await;
    assert_eq!(status, 404, "{body}");
    assert_eq!(ct, "application/problem+json");
    assert_eq!(body["reason"], "CONTACT_NOT_FOUND");

    let (status, _) = app
        .get(&format!("/v1/contacts/{id}/timeline"), &globex)
        .await;
    assert_eq!(status, 404);
    let (status, _) = app
        .post(
            &format!("/v1/contacts/{id}/interactions"),
            &globex,
            json!({"channel": "call", "direction": "inbound", "occurred_at": "2026-11-01T08:00:00Z"}),
        )
        .await;
    assert_eq!(status, 404);

    eventually("acme's counts", Duration::from_secs(30), || async {
        (app.summary(&acme).await == (1, 1)).then_some(())
    })
    .await;
    assert_eq!(app.summary(&globex).await, (0, 0));
}

/// A client inside the network that writes a tenant, user or role into
/// gRPC metadata itself gets nothing: every service checks the gateway's
/// seal before any handler runs.
#[tokio::test]
async fn a_service_refuses_a_principal_the_gateway_did_not_seal() {
    use rapport_proto::contacts::v1::{
        GetContactRequest, contacts_service_client::ContactsServiceClient,
    };
    let dir = tempfile::tempdir().unwrap();
    let app = Monolith::start(dir.path(), &[]);
    let id = app.create_contact(&app.token("acme", "alice"), "Ada").await;
    let mut contacts = ContactsServiceClient::connect(app.grpc["contacts"].clone())
        .await
        .unwrap();
    let get = || GetContactRequest { id: id.clone() };

    let sealed = app.sealed_request("acme", "alice", &["rep"], get());
    let found = contacts.get_contact(sealed).await.unwrap().into_inner();
    assert_eq!(found.id, id);

    // Unsealed headers, as any pod in the cluster could send them.
    let mut forged = tonic::Request::new(get());
    for (k, v) in [
        ("x-rapport-tenant", "acme"),
        ("x-rapport-principal", "mallory"),
        ("x-rapport-roles", "admin"),
    ] {
        forged.metadata_mut().insert(k, v.parse().unwrap());
    }
    let status = contacts.get_contact(forged).await.unwrap_err();
    assert_eq!(status.code(), tonic::Code::Unauthenticated, "{status:?}");
    assert!(status.message().contains("not sealed"), "{status:?}");

    // A sealed call of another tenant, re-addressed to acme.
    let mut readdressed = app.sealed_request("globex", "mallory", &["admin"], get());
    readdressed
        .metadata_mut()
        .insert("x-rapport-tenant", "acme".parse().unwrap());
    let status = contacts.get_contact(readdressed).await.unwrap_err();
    assert_eq!(status.code(), tonic::Code::Unauthenticated, "{status:?}");
    assert!(status.message().contains("seal is invalid"), "{status:?}");

    // Health checks claim no principal and need no seal.
    let channel = tonic::transport::Endpoint::from_shared(app.grpc["contacts"].clone())
        .unwrap()
        .connect()
        .await
        .unwrap();
    let mut health = tonic_health::pb::health_client::HealthClient::new(channel);
    health
        .check(tonic_health::pb::HealthCheckRequest::default())
        .await
        .unwrap();
}
