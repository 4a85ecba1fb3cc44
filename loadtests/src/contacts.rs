//! `contacts`: CSV import of a large generated file, then gRPC phone
//! lookups and name-prefix searches against the tenant it filled.

use std::{
    io::{BufWriter, Write},
    path::{Path, PathBuf},
    sync::{
        Arc,
        atomic::{AtomicBool, AtomicU64, Ordering},
    },
    time::{Duration, Instant},
};

use anyhow::bail;
use rapport_platform::identity::{Principal, Role, TenantId, UserId};
use rapport_proto::common::v1::PageRequest;
use rapport_proto::contacts::v1::{
    LookupContactsRequest, SearchContactsRequest, contacts_service_client::ContactsServiceClient,
    lookup_contacts_request::Key,
};

use crate::phase;

/// Syllables for generated family names (about 8,000 distinct names).
const SYLLABLES: &[&str] = &[
    "ka", "lo", "mi", "ser", "von", "da", "rin", "tal", "bu", "che", "nor", "vik", "sa", "lem",
    "ho", "gra", "ti", "zel", "mar", "quin",
];
/// Given names in several scripts, with accents.
pub(crate) const GIVEN: &[&str] = &[
    "Ana",
    "José",
    "Zoë",
    "Łukasz",
    "Søren",
    "Ingrid",
    "Chloé",
    "Mohammed",
    "রবীন্দ্রনাথ",
    "সুমিতা",
    "प्रियंका",
    "अर्जुन",
    "Ольга",
    "Иван",
    "Marta",
    "Björn",
];

pub(crate) fn family(i: u64) -> String {
    let n = SYLLABLES.len() as u64;
    let (a, b, c) = (i % n, (i / n) % n, (i / (n * n)) % n);
    let mut s = format!(
        "{}{}{}",
        SYLLABLES[a as usize], SYLLABLES[b as usize], SYLLABLES[c as usize]
    );
    if let Some(first) = s.get_mut(0..1) {
        first.make_ascii_uppercase();
    }
    s
}

/// A US number in the 201 area, unique per row.
fn phone(i: u64) -> String {
    format!("+1 201 {} {:04}", 200 + (i / 10_000) % 800, i % 10_000)
}

fn write_csv(path: &Path, rows: u64) -> anyhow::Result<u64> {
    let mut w = BufWriter::with_capacity(1 << 20, std::fs::File::create(path)?);
    writeln!(w, "given_name,family_name,email,phone,tags,company_name")?;
    for i in 0..rows {
        writeln!(
            w,
            "{},{},person{i}@example{}.com,{},\"bulk, import\",Company {}",
            GIVEN[(i % GIVEN.len() as u64) as usize],
            family(i / 7),
            i % 100,
            phone(i),
            i % 5000,
        )?;
    }
    w.flush()?;
    Ok(std::fs::metadata(path)?.len())
}

/// Resident memory of a process in MiB (Linux).
pub(crate) fn rss_mib(pid: u32) -> Option<f64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let kib: f64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))?
        .trim()
        .trim_end_matches("kB")
        .trim()
        .parse()
        .ok()?;
    Some(kib / 1024.0)
}

pub(crate) async fn contacts(
    rows: u64,
    seconds: u64,
    concurrency: usize,
    rapport: Option<PathBuf>,
) -> anyhow::Result<()> {
    let binary = crate::rapport_binary(rapport)?;
    let app = Arc::new(crate::start(&binary)?);
    let grpc = app.grpc_of("contacts")?;
    let dir = tempfile::tempdir()?;
    let file = dir.path().join("contacts.csv");
    let t = Instant::now();
    let bytes = write_csv(&file, rows)?;
    println!(
        "generated {rows} rows ({:.1} MiB) in {:.1} s",
        bytes as f64 / (1 << 20) as f64,
        t.elapsed().as_secs_f64()
    );

    // Sample the monolith's memory while the import runs.
    let pid = app.child.id();
    let done = Arc::new(AtomicBool::new(false));
    let peak = Arc::new(AtomicU64::new(0));
    let samples = {
        let (done, peak) = (done.clone(), peak.clone());
        std::thread::spawn(move || {
            let mut samples = Vec::new();
            while !done.load(Ordering::Relaxed) {
                if let Some(m) = rss_mib(pid) {
                    peak.fetch_max(m as u64, Ordering::Relaxed);
                    samples.push(m);
                }
                std::thread::sleep(Duration::from_millis(500));
            }
            samples
        })
    };
    let before = rss_mib(pid).unwrap_or_default();
    let t = Instant::now();
    let imported = app.import_contacts(&binary, &file);
    let elapsed = t.elapsed().as_secs_f64();
    done.store(true, Ordering::Relaxed);
    let samples = samples.join().unwrap_or_default();
    let summary = imported?;
    let quarter = |q: usize| {
        samples
            .get(samples.len() * q / 4)
            .copied()
            .unwrap_or_default()
    };
    println!("{}", summary.trim());
    println!(
        "import: {rows} rows in {elapsed:.1} s ({:.0} rows/s); monolith RSS MiB: before {before:.0}, at 25% {:.0}, 50% {:.0}, 75% {:.0}, peak {}",
        rows as f64 / elapsed,
        quarter(1),
        quarter(2),
        quarter(3),
        peak.load(Ordering::Relaxed),
    );

    let principal = Principal {
        tenant: TenantId::parse("loadtest")?,
        user: UserId::parse("bench")?,
        roles: vec![Role::Admin],
        teams: Vec::new(),
        scopes: None,
        grants: Vec::new(),
    };
    let channel = tonic::transport::Endpoint::from_shared(grpc)?
        .connect()
        .await?;
    let client = ContactsServiceClient::new(tonic::service::interceptor::InterceptedService::new(
        channel,
        rapport_platform::grpc::PeerInterceptor::new(app.principal_key.clone()),
    ));
    let (c, p) = (client.clone(), principal.clone());
    phase(
        "phone-lookup",
        Duration::from_secs(seconds),
        concurrency,
        move |i| {
            let (mut c, p) = (c.clone(), p.clone());
            async move {
                let n = (i * 7919) % rows;
                let found = c
                    .lookup_contacts(p.request(LookupContactsRequest {
                        key: Some(Key::Phone(phone(n))),
                    }))
                    .await?
                    .into_inner();
                if found.contacts.len() != 1 {
                    bail!("phone {} found {} contacts", phone(n), found.contacts.len());
                }
                Ok(())
            }
        },
    )
    .await?;
    let (c, p) = (client.clone(), principal.clone());
    phase(
        "name-search",
        Duration::from_secs(seconds),
        concurrency,
        move |i| {
            let (mut c, p) = (c.clone(), p.clone());
            async move {
                // A three-letter prefix of a generated family name.
                let name = family((i * 104_729) % (rows / 7).max(1));
                let query: String = name.chars().take(3).collect();
                let page = c
                    .search_contacts(p.request(SearchContactsRequest {
                        query,
                        page: Some(PageRequest {
                            page_size: 20,
                            page_token: String::new(),
                        }),
                        ..Default::default()
                    }))
                    .await?
                    .into_inner();
                if page.contacts.is_empty() {
                    bail!("no contact for {name}");
                }
                Ok(())
            }
        },
    )
    .await?;
    Ok(())
}
