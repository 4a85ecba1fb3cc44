//! The ScyllaDB backend plumbing: sessions and CQL migrations.
//!
//! There is no ScyllaDB on development machines, so this layer is kept thin
//! and mechanical; the services' contract suites exercise it when
//! `RAPPORT_TEST_SCYLLA=host:9042` is set (docs/scylla.md).

use std::sync::Arc;

pub use scylla::statement::Consistency;
use scylla::{
    client::{
        execution_profile::ExecutionProfile, session::Session, session_builder::SessionBuilder,
    },
    policies::load_balancing::DefaultPolicy,
};

use crate::StoreError;

/// Prepares `cql` marked idempotent, so the driver may retry or speculate
/// it: for reads, and for writes that set absolute values.
pub async fn prepare_idempotent(
    session: &Session,
    cql: &str,
) -> Result<scylla::statement::prepared::PreparedStatement, StoreError> {
    let mut statement = session.prepare(cql).await?;
    statement.set_is_idempotent(true);
    Ok(statement)
}

/// Connection settings of one service's keyspace.
#[derive(Clone, Debug)]
pub struct ScyllaSettings {
    /// Contact points, `host:port`.
    pub nodes: Vec<String>,
    /// Keyspace of the service (created by the migrations if missing).
    pub keyspace: String,
    /// Replication factor used when the migrations create the keyspace.
    pub replication_factor: u32,
    /// Data centre to prefer and to replicate in; `None` means any.
    pub local_dc: Option<String>,
    /// Consistency of every statement (LOCAL_QUORUM in production).
    pub consistency: Consistency,
    /// Credentials, if the cluster requires them.
    pub credentials: Option<(String, String)>,
}

/// A CQL migration read from `services/<name>/migrations/scylla/*.cql`.
#[derive(Clone, Copy, Debug)]
pub struct CqlMigration {
    /// Unique, ordered name such as `0001_contacts`.
    pub version: &'static str,
    /// Statements separated by `;`. `{ks}` is replaced by the keyspace.
    pub cql: &'static str,
}

/// Connects to the cluster, applies pending migrations to the keyspace and
/// returns a session that uses it.
pub async fn connect(
    settings: &ScyllaSettings,
    migrations: &[CqlMigration],
) -> Result<Arc<Session>, StoreError> {
    let mut policy = DefaultPolicy::builder().token_aware(true);
    if let Some(dc) = &settings.local_dc {
        policy = policy
            .prefer_datacenter(dc.clone())
            .permit_dc_failover(false);
    }
    let profile = ExecutionProfile::builder()
        .consistency(settings.consistency)
        .load_balancing_policy(policy.build())
        .build();
    let mut builder = SessionBuilder::new()
        .known_nodes(&settings.nodes)
        .default_execution_profile_handle(profile.into_handle());
    if let Some((user, password)) = &settings.credentials {
        builder = builder.user(user, password);
    }
    let session = builder
        .build()
        .await
        .map_err(|e| StoreError::Unavailable(format!("scylla connect: {e}")))?;
    migrate(&session, settings, migrations).await?;
    session
        .use_keyspace(&settings.keyspace, true)
        .await
        .map_err(|e| StoreError::Unavailable(format!("scylla use keyspace: {e}")))?;
    Ok(Arc::new(session))
}

/// Creates the keyspace and applies every migration not yet recorded in
/// `<keyspace>.schema_migrations`. Statements are idempotent (`IF NOT
/// EXISTS`), so a migration interrupted half-way is safe to rerun.
pub async fn migrate(
    session: &Session,
    settings: &ScyllaSettings,
    migrations: &[CqlMigration],
) -> Result<(), StoreError> {
    let ks = &settings.keyspace;
    if !ks.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
        return Err(StoreError::Migration {
            version: "keyspace".into(),
            reason: format!("invalid keyspace name {ks:?}"),
        });
    }
    let replication = match &settings.local_dc {
        Some(dc) => format!(
            "{{'class': 'NetworkTopologyStrategy', '{dc}': {}}}",
            settings.replication_factor
        ),
        None => format!(
            "{{'class': 'NetworkTopologyStrategy', 'replication_factor': {}}}",
            settings.replication_factor
        ),
    };
    run(
        session,
        "keyspace",
        &format!("CREATE KEYSPACE IF NOT EXISTS {ks} WITH replication = {replication}"),
    )
    .await?;
    run(
        session,
        "schema_migrations",
        &format!("CREATE TABLE IF NOT EXISTS {ks}.schema_migrations (version text PRIMARY KEY, applied_at timestamp)"),
    )
    .await?;
    for m in migrations {
        let applied = session
            .query_unpaged(
                format!("SELECT version FROM {ks}.schema_migrations WHERE version = ?"),
                (m.version,),
            )
            .await?
            .into_rows_result()?
            .rows_num()
            > 0;
        if applied {
            continue;
        }
        for statement in split_statements(m.cql) {
            let statement = statement.replace("{ks}", ks);
            // CQL has no `ADD IF NOT EXISTS` on every server: a column an
            // interrupted run already added is skipped, not re-added.
            if let Some((table, column)) = added_column(&statement, ks)
                && column_exists(session, ks, &table, &column).await?
            {
                continue;
            }
            run(session, m.version, &statement).await?;
        }
        session
            .query_unpaged(
                format!("INSERT INTO {ks}.schema_migrations (version, applied_at) VALUES (?, toTimestamp(now()))"),
                (m.version,),
            )
            .await?;
    }
    session
        .await_schema_agreement()
        .await
        .map_err(|e| StoreError::Unavailable(format!("schema agreement: {e}")))?;
    Ok(())
}

async fn run(session: &Session, version: &str, cql: &str) -> Result<(), StoreError> {
    session
        .query_unpaged(cql, ())
        .await
        .map(|_| ())
        .map_err(|e| StoreError::Migration {
            version: version.to_owned(),
            reason: format!("{e} in `{cql}`"),
        })
}

/// The (table, column) of `ALTER TABLE <ks>.<table> ADD <column> <type>`,
/// the one form of `ALTER` migrations use (one column per statement).
fn added_column(statement: &str, ks: &str) -> Option<(String, String)> {
    let words: Vec<&str> = statement.split_whitespace().collect();
    match words.as_slice() {
        [alter, table_kw, table, add, column, _ty, ..]
            if alter.eq_ignore_ascii_case("alter")
                && table_kw.eq_ignore_ascii_case("table")
                && add.eq_ignore_ascii_case("add") =>
        {
            let table = table.strip_prefix(ks)?.strip_prefix('.')?;
            Some((table.to_ascii_lowercase(), column.to_ascii_lowercase()))
        }
        _ => None,
    }
}

async fn column_exists(
    session: &Session,
    ks: &str,
    table: &str,
    column: &str,
) -> Result<bool, StoreError> {
    Ok(session
        .query_unpaged(
            "SELECT column_name FROM system_schema.columns WHERE keyspace_name = ? AND table_name = ? AND column_name = ?",
            (ks, table, column),
        )
        .await?
        .into_rows_result()?
        .rows_num()
        > 0)
}

/// Splits a migration file into statements, dropping `--` comments.
pub fn split_statements(cql: &str) -> Vec<String> {
    let without_comments: String = cql
        .lines()
        .map(|l| l.split("--").next().unwrap_or(""))
        .collect::<Vec<_>>()
        .join("\n");
    without_comments
        .split(';')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
        .collect()
}

/// Parses a consistency name such as `local_quorum`.
pub fn parse_consistency(name: &str) -> Option<Consistency> {
    Some(match name.to_ascii_lowercase().as_str() {
        "one" => Consistency::One,
        "two" => Consistency::Two,
        "three" => Consistency::Three,
        "quorum" => Consistency::Quorum,
        "all" => Consistency::All,
        "local_quorum" => Consistency::LocalQuorum,
        "each_quorum" => Consistency::EachQuorum,
        "local_one" => Consistency::LocalOne,
        _ => return None,
    })
}

/// Reads a ScyllaDB test node address from `RAPPORT_TEST_SCYLLA`, printing a
/// notice when it is unset so a skipped contract suite is visible.
pub fn test_node(suite: &str) -> Option<String> {
    match std::env::var("RAPPORT_TEST_SCYLLA") {
        Ok(node) if !node.is_empty() => Some(node),
        _ => {
            eprintln!(
                "notice: {suite}: ScyllaDB contract tests skipped (set RAPPORT_TEST_SCYLLA=host:9042 to run them)"
            );
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_statements_and_drops_comments() {
        let cql = "-- contacts\nCREATE TABLE a (x int PRIMARY KEY); -- trailing\n\nCREATE TABLE b (y int PRIMARY KEY);\n";
        assert_eq!(
            split_statements(cql),
            vec![
                "CREATE TABLE a (x int PRIMARY KEY)",
                "CREATE TABLE b (y int PRIMARY KEY)"
            ]
        );
    }

    #[test]
    fn recognises_added_columns() {
        assert_eq!(
            added_column("ALTER TABLE crm.deals ADD owner text", "crm"),
            Some(("deals".into(), "owner".into()))
        );
        assert_eq!(
            added_column("alter table crm.deals add shared_with list<text>", "crm"),
            Some(("deals".into(), "shared_with".into()))
        );
        assert_eq!(
            added_column("ALTER TABLE other.deals ADD owner text", "crm"),
            None
        );
        assert_eq!(
            added_column("CREATE TABLE crm.a (x int PRIMARY KEY)", "crm"),
            None
        );
    }

    #[test]
    fn parses_consistency_names() {
        assert_eq!(
            parse_consistency("LOCAL_QUORUM"),
            Some(Consistency::LocalQuorum)
        );
        assert_eq!(parse_consistency("most"), None);
    }
}
