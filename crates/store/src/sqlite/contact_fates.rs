//! What became of people merged away or erased, in services whose records
//! point at people (comms, deals, tasks).
//!
//! Merges and erasures arrive as events on different partitions (a merge is
//! keyed by its survivor), so a consumer can see "B into C" before "A into
//! B", or an erasure of B before "A into B". Each service therefore keeps
//! the fate of every id that is gone: merged into a survivor, or erased.
//! Fates are kept resolved (an id points at a live survivor, never at
//! another merged id), so applying the same merges and erasures in any
//! order ends in the same state, and a write against a gone id is
//! redirected or refused in the same transaction that would store it.

use uuid::Uuid;

use crate::{
    Fate, Linked, OutboxMessage, StoreError,
    sqlite::{Migration, SqliteDb, insert_outbox},
};

/// The table every service that links records to people includes.
pub const CONTACT_FATES_MIGRATION: Migration = Migration {
    version: "0000_contact_fates",
    sql: "CREATE TABLE IF NOT EXISTS contact_fates (
            tenant_id TEXT NOT NULL,
            contact_id TEXT NOT NULL,
            -- The live survivor it was merged into; NULL when erased.
            survivor_id TEXT,
            PRIMARY KEY (tenant_id, contact_id)
          );
          CREATE INDEX IF NOT EXISTS contact_fates_by_survivor
            ON contact_fates (tenant_id, survivor_id);",
};

/// Where the records of `contact` in `tenant` belong now.
pub async fn resolve_contact(
    tx: &libsql::Connection,
    tenant: &str,
    contact: Uuid,
) -> Result<Fate, StoreError> {
    let mut rows = tx
        .query(
            "SELECT survivor_id FROM contact_fates WHERE tenant_id = ?1 AND contact_id = ?2",
            [tenant.to_owned(), contact.to_string()],
        )
        .await?;
    Ok(match rows.next().await? {
        None => Fate::Live(contact),
        Some(row) => match row.get::<Option<String>>(0)? {
            Some(survivor) => Fate::Live(
                Uuid::parse_str(&survivor)
                    .map_err(|_| StoreError::Corrupt("contact_fates.survivor_id".into()))?,
            ),
            None => Fate::Erased,
        },
    })
}

impl SqliteDb {
    /// Stores a new record (`sql` with `params`) and its event atomically,
    /// unless the person it links to (`link`: tenant and contact id) was
    /// merged or erased: then nothing is written and the caller learns where
    /// the record belongs. The check and the write share one transaction,
    /// so no merge or erasure can come between them.
    pub async fn insert_linked(
        &self,
        link: Option<(String, Uuid)>,
        sql: String,
        params: impl libsql::params::IntoParams + Send + 'static,
        events: Vec<OutboxMessage>,
    ) -> Result<Linked, StoreError> {
        self.write(move |tx| async move {
            if let Some((tenant, contact)) = &link {
                let linked = Linked::of(*contact, resolve_contact(&tx, tenant, *contact).await?);
                if linked != Linked::Stored {
                    return Ok(linked);
                }
            }
            tx.execute(&sql, params).await?;
            for event in &events {
                insert_outbox(&tx, event).await?;
            }
            Ok(Linked::Stored)
        })
        .await
    }
}

/// Records that `merged` were merged into `survivor` and returns where
/// their records go: the survivor's own live id (it may itself have been
/// merged on by an event applied earlier), or `None` when it was erased.
/// Ids merged into any of `merged` before follow along.
pub async fn record_relink(
    tx: &libsql::Connection,
    tenant: &str,
    survivor: Uuid,
    merged: &[Uuid],
) -> Result<Option<Uuid>, StoreError> {
    let target = match resolve_contact(tx, tenant, survivor).await? {
        Fate::Live(id) => Some(id),
        Fate::Erased => None,
    };
    let target_text = target.map(|t| t.to_string());
    for id in merged {
        if Some(*id) == target {
            continue;
        }
        let id = id.to_string();
        // An erased id stays erased: it is never brought back by a merge.
        tx.execute(
            "INSERT INTO contact_fates (tenant_id, contact_id, survivor_id) VALUES (?1, ?2, ?3)
             ON CONFLICT (tenant_id, contact_id) DO UPDATE SET survivor_id = excluded.survivor_id
             WHERE contact_fates.survivor_id IS NOT NULL",
            libsql::params![tenant, id.as_str(), target_text.clone()],
        )
        .await?;
        repoint_fates(tx, tenant, &id, target_text.as_deref()).await?;
    }
    Ok(target)
}

/// Records that `contact` was erased; ids merged into it before are erased
/// with it (their records became its records).
pub async fn record_erasure(
    tx: &libsql::Connection,
    tenant: &str,
    contact: Uuid,
) -> Result<(), StoreError> {
    let contact = contact.to_string();
    tx.execute(
        "INSERT INTO contact_fates (tenant_id, contact_id, survivor_id) VALUES (?1, ?2, NULL)
         ON CONFLICT (tenant_id, contact_id) DO UPDATE SET survivor_id = NULL",
        [tenant, contact.as_str()],
    )
    .await?;
    repoint_fates(tx, tenant, &contact, None).await
}

/// Points the fates that named `from` as survivor at `to` (`None`: erased).
async fn repoint_fates(
    tx: &libsql::Connection,
    tenant: &str,
    from: &str,
    to: Option<&str>,
) -> Result<(), StoreError> {
    tx.execute(
        "UPDATE contact_fates SET survivor_id = ?3 WHERE tenant_id = ?1 AND survivor_id = ?2",
        libsql::params![tenant, from, to.map(str::to_owned)],
    )
    .await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const MIGRATIONS: &[Migration] = &[CONTACT_FATES_MIGRATION];

    #[derive(Clone, Copy, Debug)]
    enum Step {
        Merge(&'static str, &'static [&'static str]),
        Erase(&'static str),
    }

    async fn fates_after(steps: Vec<Step>) -> Vec<(String, Fate)> {
        let dir = tempfile::tempdir().unwrap();
        let db = SqliteDb::open(&dir.path().join("f.db"), MIGRATIONS)
            .await
            .unwrap();
        for step in steps {
            db.write(move |tx| async move {
                match step {
                    Step::Merge(s, m) => {
                        let m: Vec<Uuid> = m.iter().map(|s| id(s)).collect();
                        record_relink(&tx, "acme", id(s), &m).await.map(|_| ())
                    }
                    Step::Erase(c) => record_erasure(&tx, "acme", id(c)).await,
                }
            })
            .await
            .unwrap();
        }
        let mut out = Vec::new();
        for name in ["a", "b", "c", "d"] {
            let fate = db
                .read(move |conn| async move { resolve_contact(&conn, "acme", id(name)).await })
                .await
                .unwrap();
            out.push((name.to_owned(), fate));
        }
        out
    }

    /// The person called `name` in a test ("a" to "d").
    fn id(name: &str) -> Uuid {
        Uuid::from_u128(u128::from(name.as_bytes()[0]))
    }

    fn live(name: &str) -> Fate {
        Fate::Live(id(name))
    }

    #[tokio::test]
    async fn merge_chains_end_in_one_state_in_any_order() {
        let chain = [Step::Merge("b", &["a"]), Step::Merge("c", &["b"])];
        let expected = vec![
            ("a".to_owned(), live("c")),
            ("b".to_owned(), live("c")),
            ("c".to_owned(), live("c")),
            ("d".to_owned(), live("d")),
        ];
        assert_eq!(fates_after(chain.to_vec()).await, expected);
        let mut reversed = chain.to_vec();
        reversed.reverse();
        assert_eq!(fates_after(reversed).await, expected);
    }

    #[tokio::test]
    async fn erasing_a_survivor_erases_what_was_merged_into_it_in_any_order() {
        let steps = [Step::Merge("b", &["a"]), Step::Erase("b")];
        let expected = vec![
            ("a".to_owned(), Fate::Erased),
            ("b".to_owned(), Fate::Erased),
            ("c".to_owned(), live("c")),
            ("d".to_owned(), live("d")),
        ];
        assert_eq!(fates_after(steps.to_vec()).await, expected);
        let mut reversed = steps.to_vec();
        reversed.reverse();
        assert_eq!(fates_after(reversed).await, expected);
    }

    #[tokio::test]
    async fn an_erased_id_is_never_revived_by_a_merge() {
        let fates = fates_after(vec![Step::Erase("a"), Step::Merge("c", &["a", "b"])]).await;
        assert_eq!(fates[0], ("a".to_owned(), Fate::Erased));
        assert_eq!(fates[1], ("b".to_owned(), live("c")));
    }
}
