//! What the relay's integration tests share.

use std::{path::Path, sync::Arc};

use rapport_store::{
    OutboxMessage, StoreError,
    sqlite::{Migration, OUTBOX_MIGRATION, SqliteDb, insert_outbox},
};

const MIGRATIONS: &[Migration] = &[OUTBOX_MIGRATION];

/// A service database in `dir` whose outbox holds `messages`, oldest first.
pub(crate) async fn outbox_with(dir: &Path, messages: Vec<OutboxMessage>) -> Arc<SqliteDb> {
    let db = Arc::new(
        SqliteDb::open(&dir.join("svc.db"), MIGRATIONS)
            .await
            .unwrap(),
    );
    db.write(|conn| async move {
        for m in &messages {
            insert_outbox(&conn, m).await?;
        }
        Ok::<_, StoreError>(())
    })
    .await
    .unwrap();
    db
}
