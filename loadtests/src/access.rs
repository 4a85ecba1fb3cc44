//! `access`: what record-level access costs. A tenant of 10,000 users in
//! 100 teams under 10 departments holds 1,000,000 contacts, 100 per user
//! (imported with owner and team columns). Get-by-id and a list page are
//! then measured over the contacts service's gRPC port for an admin (who
//! sees everything: no record filter, the baseline), a rep (own records
//! only) and a department head (the 10 teams below them), in the same run.

use std::{
    io::{BufWriter, Write},
    path::{Path, PathBuf},
    sync::Arc,
    time::{Duration, Instant},
};

use anyhow::bail;
use hdrhistogram::Histogram;
use rapport_platform::identity::{Principal, Role, TeamId, TenantId, UserId};
use rapport_proto::common::v1::PageRequest;
use rapport_proto::contacts::v1::{
    GetContactRequest, SearchContactsRequest, contacts_service_client::ContactsServiceClient,
};

use crate::{
    contacts::{GIVEN, family},
    phase,
};

/// Users of the tenant.
const USERS: u64 = 10_000;
/// Teams (100 users each), 10 per department.
const TEAMS: u64 = 100;
/// Page size of the list phases.
const PAGE: i32 = 50;
/// Reps whose records the get phases use.
const SAMPLED_REPS: u64 = 200;

fn user(u: u64) -> String {
    format!("rep{u:05}")
}

/// The team of user `u`: `sales/d<department>/t<team>`.
fn team(u: u64) -> String {
    let t = u % TEAMS;
    format!("sales/d{}/t{}", t / 10, t % 10)
}

/// A well-mixed 64-bit hash (splitmix64's finaliser): names drawn with it
/// are independent of owners and teams, as in a real customer base (names
/// drawn from the row number would line up with the teams, which are too).
fn mix(i: u64) -> u64 {
    let mut z = i.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// The family name of row `i`: one of 8,000, independent of its owner.
fn family_of(i: u64) -> String {
    family(mix(i) % 8000)
}

fn write_csv(path: &Path, rows: u64) -> anyhow::Result<()> {
    let mut w = BufWriter::with_capacity(1 << 20, std::fs::File::create(path)?);
    writeln!(w, "given_name,family_name,email,owner,team")?;
    for i in 0..rows {
        let u = i % USERS;
        writeln!(
            w,
            "{},{},access{i}@example{}.com,{},{}",
            GIVEN[(i % GIVEN.len() as u64) as usize],
            family_of(i),
            i % 100,
            user(u),
            team(u),
        )?;
    }
    w.flush()?;
    Ok(())
}

fn principal(user: &str, role: Role, teams: &[String]) -> anyhow::Result<Principal> {
    Ok(Principal {
        tenant: TenantId::parse("loadtest")?,
        user: UserId::parse(user)?,
        roles: vec![role],
        teams: teams
            .iter()
            .map(|t| TeamId::parse(t))
            .collect::<Result<_, _>>()?,
        scopes: None,
        grants: Vec::new(),
    })
}

type Client = ContactsServiceClient<
    tonic::service::interceptor::InterceptedService<
        tonic::transport::Channel,
        rapport_platform::grpc::PeerInterceptor,
    >,
>;

/// p50 and p99 in milliseconds.
fn p50_p99(h: &Histogram<u64>) -> (f64, f64) {
    (
        h.value_at_quantile(0.50) as f64 / 1000.0,
        h.value_at_quantile(0.99) as f64 / 1000.0,
    )
}

fn added(name: &str, base: &Histogram<u64>, with: &Histogram<u64>) {
    let ((b50, b99), (w50, w99)) = (p50_p99(base), p50_p99(with));
    println!(
        "added by authorization, {name:<22} p50 {:+.3} ms ({:.2}x)  p99 {:+.3} ms ({:.2}x)",
        w50 - b50,
        w50 / b50,
        w99 - b99,
        w99 / b99
    );
}

pub(crate) async fn access(
    rows: u64,
    seconds: u64,
    concurrency: usize,
    rapport: Option<PathBuf>,
) -> anyhow::Result<()> {
    let binary = crate::rapport_binary(rapport)?;
    let app = Arc::new(crate::start(&binary)?);
    let grpc = app.grpc_of("contacts")?;
    let dir = tempfile::tempdir()?;
    let file = dir.path().join("access.csv");
    write_csv(&file, rows)?;
    let t = Instant::now();
    app.import_contacts(&binary, &file)?;
    println!(
        "imported {rows} contacts of {USERS} users in {TEAMS} teams in {:.1} s",
        t.elapsed().as_secs_f64()
    );

    let channel = tonic::transport::Endpoint::from_shared(grpc)?
        .connect()
        .await?;
    let client: Client =
        ContactsServiceClient::new(tonic::service::interceptor::InterceptedService::new(
            channel,
            rapport_platform::grpc::PeerInterceptor::new(app.principal_key.clone()),
        ));
    let admin = principal("bench", Role::Admin, &[])?;
    // Department 3's head sees its 10 teams: 100,000 contacts.
    let head = principal("head3", Role::Manager, &["sales/d3".to_owned()])?;
    let rep = |u: u64| principal(&user(u), Role::Rep, &[team(u)]);

    // The records of some reps, as each rep lists them (also a check: a rep
    // sees exactly their own).
    let mut owned: Vec<(u64, String)> = Vec::new();
    for k in 0..SAMPLED_REPS {
        let u = (k * 7919) % USERS;
        let page = client
            .clone()
            .search_contacts(rep(u)?.request(SearchContactsRequest {
                page: Some(PageRequest {
                    page_size: 100,
                    page_token: String::new(),
                }),
                ..Default::default()
            }))
            .await?
            .into_inner();
        let expected = (rows / USERS) as usize + usize::from(u < rows % USERS);
        if page.contacts.len() != expected.min(100)
            || page.contacts.iter().any(|c| c.owner != user(u))
        {
            bail!(
                "{} sees {} contacts, not their own {expected}",
                user(u),
                page.contacts.len()
            );
        }
        owned.extend(page.contacts.into_iter().map(|c| (u, c.id)));
    }
    let owned = Arc::new(owned);

    let get = |who: &'static str| {
        let (client, owned, admin) = (client.clone(), owned.clone(), admin.clone());
        move |i: u64| {
            let (mut c, owned, admin) = (client.clone(), owned.clone(), admin.clone());
            async move {
                let (u, id) = &owned[(i as usize * 31) % owned.len()];
                let (p, visible) = match who {
                    "admin" => (admin, true),
                    "rep" => (rep(*u)?, true),
                    // Another rep's record: answered 404.
                    _ => (rep((u + 1) % USERS)?, false),
                };
                let answer = c
                    .get_contact(p.request(GetContactRequest { id: id.clone() }))
                    .await;
                match (answer, visible) {
                    (Ok(_), true) => Ok(()),
                    (Err(s), false) if s.code() == tonic::Code::NotFound => Ok(()),
                    (other, _) => bail!("get {id} as {who}: {:?}", other.map(|_| ())),
                }
            }
        }
    };
    let list = |p: Principal, query: &'static str| {
        let client = client.clone();
        move |_i: u64| {
            let (mut c, p) = (client.clone(), p.clone());
            async move {
                let page = c
                    .search_contacts(p.request(SearchContactsRequest {
                        query: query.to_owned(),
                        page: Some(PageRequest {
                            page_size: PAGE,
                            page_token: String::new(),
                        }),
                        ..Default::default()
                    }))
                    .await?
                    .into_inner();
                if page.contacts.is_empty() {
                    bail!("an empty page");
                }
                Ok(())
            }
        }
    };
    let d = Duration::from_secs(seconds);
    let (_, get_admin) = phase("get-admin", d, concurrency, get("admin")).await?;
    let (_, get_rep) = phase("get-rep", d, concurrency, get("rep")).await?;
    let (_, get_hidden) = phase("get-rep-hidden", d, concurrency, get("other")).await?;
    let (_, list_admin) = phase("list-admin", d, concurrency, list(admin.clone(), "")).await?;
    let sample_rep = rep(owned[0].0)?;
    let (_, list_rep) = phase("list-rep", d, concurrency, list(sample_rep.clone(), "")).await?;
    let (_, list_head) = phase("list-head", d, concurrency, list(head.clone(), "")).await?;
    // A name prefix among department 3's records: row 30 is user 30's,
    // of team sales/d3/t0.
    let prefix: &'static str = Box::leak(
        family_of(30)
            .chars()
            .take(2)
            .collect::<String>()
            .into_boxed_str(),
    );
    let (_, search_admin) =
        phase("search-admin", d, concurrency, list(admin.clone(), prefix)).await?;
    let (_, search_head) = phase("search-head", d, concurrency, list(head, prefix)).await?;
    // The rep's own first record (row u) starts with this.
    let rep_prefix: &'static str = Box::leak(
        family_of(owned[0].0)
            .chars()
            .take(2)
            .collect::<String>()
            .into_boxed_str(),
    );
    let (_, search_admin_rep_prefix) = phase(
        "search-admin-2",
        d,
        concurrency,
        list(admin.clone(), rep_prefix),
    )
    .await?;
    let (_, search_rep) = phase(
        "search-rep",
        d,
        concurrency,
        list(sample_rep.clone(), rep_prefix),
    )
    .await?;
    added("get by id (rep)", &get_admin, &get_rep);
    added("get by id (hidden, 404)", &get_admin, &get_hidden);
    added("list page of 50 (rep)", &list_admin, &list_rep);
    added("list page (department)", &list_admin, &list_head);
    added("name search (department)", &search_admin, &search_head);
    added("name search (rep)", &search_admin_rep_prefix, &search_rep);
    Ok(())
}
