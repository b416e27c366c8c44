//! Applications brought in whole from the policy file: every organisation's yearly
//! lists and risky services, recorded in the state the file gives them (applied on the
//! day granted, or filed) in one transaction, each with an `import` step on its
//! timeline, audited; refused whole when an organisation is not registered or already
//! has applications of those kinds at the desk (an import never duplicates one).
//!
//! Must not: build the applications (the desk's rules do, from the file).

use desk::{Applicant, Application};
use policies::Bin;
use serde_json::json;
use sqlx::Row;

use super::{Step, add_step, fetch, insert, subject};
use crate::{Result, Store, StoreError, audit, now_ms, write_lock};

impl Store {
    /// Records `applications` as they are, all or none; returns their numbers.
    pub async fn import_applications(&self, actor: &str, applications: &[Application]) -> Result<Vec<i64>> {
        let mut tx = self.pool.begin().await?;
        write_lock(&mut tx).await?;
        let mut problems = Vec::new();
        for a in applications {
            let Applicant::Organisation(bin) = &a.applicant else { continue };
            if self.require_organisation(&mut tx, bin).await.is_err() {
                problems.push(format!("organisation {bin} is not registered (perimeter org add)"));
                continue;
            }
            let there = sqlx::query("SELECT id FROM applications WHERE applicant = $1 AND kind = $2 LIMIT 1")
                .bind(a.applicant.to_string())
                .bind(a.kind().as_str())
                .fetch_optional(&mut *tx)
                .await?;
            if let Some(row) = there {
                let id: i64 = row.try_get("id")?;
                problems.push(format!(
                    "{} already has a {} application at the desk (request {id})",
                    a.applicant,
                    a.kind()
                ));
            }
        }
        problems.dedup();
        if !problems.is_empty() {
            return Err(StoreError::Conflict(format!("nothing imported:\n{}", problems.join("\n"))));
        }
        let mut ids = Vec::with_capacity(applications.len());
        let now = now_ms();
        for a in applications {
            let id = insert(&mut tx, a, &Default::default(), now).await?;
            let note = Some("imported from the policy file".to_string());
            add_step(&mut tx, Step { id, day: a.since, actor, verb: "import", from: None, to: a.state, note }).await?;
            let record = fetch(&mut tx, id).await?;
            audit(&mut tx, actor, "request.import", &subject(id), None, Some(json!(record))).await?;
            ids.push(id);
        }
        tx.commit().await?;
        Ok(ids)
    }

    /// The prefixes the catalog holds for organisation `bin` now (at most `limit`).
    pub async fn organisation_networks(&self, bin: &Bin, limit: i64) -> Result<Vec<String>> {
        let rows = sqlx::query(
            "SELECT a.prefix FROM assignments a JOIN organisations g ON g.id = a.organisation_id \
             WHERE g.bin = $1 AND a.valid_to IS NULL ORDER BY a.prefix LIMIT $2",
        )
        .bind(bin.as_str())
        .bind(limit)
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(|r| Ok(r.try_get("prefix")?)).collect()
    }
}
