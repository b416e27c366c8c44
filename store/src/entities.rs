//! Operators (with their contacts and links) and organisations (with the operators
//! that connect them): create, read, connect. Each change is audited.

use serde_json::json;
use sqlx::Row;

use policies::Bin;
use serde::{Deserialize, Serialize};

use crate::{Result, Store, StoreError, audit, now_ms, write_lock};

/// A telecom operator: connects user organisations and delivers their traffic on links.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Operator {
    pub id: i64,
    /// Short unique handle used in the CLI, API paths and files (e.g. `kaztelecom`).
    pub name: String,
    pub full_name: String,
    /// Where notices go.
    pub contacts: Vec<String>,
    /// Names of the links on which this operator delivers traffic.
    pub links: Vec<String>,
}

/// A user organisation, identified by its BIN.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Organisation {
    pub id: i64,
    pub bin: Bin,
    pub name: String,
    /// Handles of the operators that connect it.
    pub operators: Vec<String>,
}

/// A new operator as the duty team registers it.
#[derive(Clone, Debug, Default, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewOperator {
    pub name: String,
    #[serde(default)]
    pub full_name: String,
    #[serde(default)]
    pub contacts: Vec<String>,
    #[serde(default)]
    pub links: Vec<String>,
}

/// Operator handles and link names: lowercase letters, digits, `-`, `_`, `.`; 1–64.
pub fn valid_handle(text: &str) -> bool {
    (1..=64).contains(&text.len())
        && text.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"-_.".contains(&b))
}

pub(super) fn valid_email(text: &str) -> bool {
    let Some((local, domain)) = text.split_once('@') else { return false };
    !local.is_empty() && domain.contains('.') && !text.contains(char::is_whitespace) && !domain.contains('@')
}

impl NewOperator {
    fn validate(&self) -> Result<()> {
        let bad = |m: String| Err(StoreError::Invalid(m));
        if !valid_handle(&self.name) {
            return bad(format!("operator name '{}': use 1-64 lowercase letters, digits, '-', '_' or '.'", self.name));
        }
        if let Some(c) = self.contacts.iter().find(|c| !valid_email(c)) {
            return bad(format!("contact '{c}' is not an e-mail address"));
        }
        if let Some(l) = self.links.iter().find(|l| !valid_handle(l)) {
            return bad(format!("link name '{l}': use 1-64 lowercase letters, digits, '-', '_' or '.'"));
        }
        Ok(())
    }
}

impl Store {
    /// Registers an operator and its links.
    pub async fn add_operator(&self, actor: &str, new: NewOperator) -> Result<Operator> {
        new.validate()?;
        let mut tx = self.pool.begin().await?;
        write_lock(&mut tx).await?;
        if self.operator_id_in(&mut tx, &new.name).await?.is_some() {
            return Err(StoreError::Conflict(format!("operator '{}' already exists", new.name)));
        }
        let full_name = if new.full_name.is_empty() { new.name.clone() } else { new.full_name.clone() };
        let row = sqlx::query(
            "INSERT INTO operators (name, full_name, contacts, created_at) VALUES ($1, $2, $3, $4) RETURNING id",
        )
        .bind(&new.name)
        .bind(&full_name)
        .bind(json!(new.contacts).to_string())
        .bind(now_ms())
        .fetch_one(&mut *tx)
        .await?;
        let id: i64 = row.try_get("id")?;
        for link in &new.links {
            let taken =
                sqlx::query("SELECT o.name FROM links l JOIN operators o ON o.id = l.operator_id WHERE l.name = $1")
                    .bind(link)
                    .fetch_optional(&mut *tx)
                    .await?;
            if let Some(r) = taken {
                let owner: String = r.try_get("name")?;
                return Err(StoreError::Conflict(format!("link '{link}' already belongs to operator '{owner}'")));
            }
            sqlx::query("INSERT INTO links (name, operator_id) VALUES ($1, $2)")
                .bind(link)
                .bind(id)
                .execute(&mut *tx)
                .await?;
        }
        let op = Operator { id, name: new.name.clone(), full_name, contacts: new.contacts, links: new.links };
        audit(&mut tx, actor, "operator.add", &format!("operator:{}", op.name), None, Some(json!(op))).await?;
        tx.commit().await?;
        Ok(op)
    }

    /// All operators, by name.
    pub async fn operators(&self) -> Result<Vec<Operator>> {
        let rows = sqlx::query("SELECT id, name, full_name, contacts FROM operators ORDER BY name")
            .fetch_all(&self.pool)
            .await?;
        let links = sqlx::query("SELECT name, operator_id FROM links ORDER BY name").fetch_all(&self.pool).await?;
        let mut ops = Vec::with_capacity(rows.len());
        for r in rows {
            let id: i64 = r.try_get("id")?;
            let contacts: String = r.try_get("contacts")?;
            let mut op_links = Vec::new();
            for l in &links {
                if l.try_get::<i64, _>("operator_id")? == id {
                    op_links.push(l.try_get("name")?);
                }
            }
            ops.push(Operator {
                id,
                name: r.try_get("name")?,
                full_name: r.try_get("full_name")?,
                contacts: serde_json::from_str(&contacts).unwrap_or_default(),
                links: op_links,
            });
        }
        Ok(ops)
    }

    /// One operator by handle.
    pub async fn operator(&self, name: &str) -> Result<Operator> {
        self.operators()
            .await?
            .into_iter()
            .find(|o| o.name == name)
            .ok_or_else(|| StoreError::NotFound { what: "operator", name: name.to_string() })
    }

    /// The operator that owns a link.
    pub async fn link_operator(&self, link: &str) -> Result<Option<String>> {
        let row = sqlx::query("SELECT o.name FROM links l JOIN operators o ON o.id = l.operator_id WHERE l.name = $1")
            .bind(link)
            .fetch_optional(&self.pool)
            .await?;
        Ok(row.map(|r| r.try_get("name")).transpose()?)
    }

    pub(super) async fn operator_id_in(&self, tx: &mut sqlx::AnyConnection, name: &str) -> Result<Option<i64>> {
        let row = sqlx::query("SELECT id FROM operators WHERE name = $1").bind(name).fetch_optional(&mut *tx).await?;
        Ok(row.map(|r| r.try_get("id")).transpose()?)
    }

    pub(super) async fn require_operator(&self, tx: &mut sqlx::AnyConnection, name: &str) -> Result<i64> {
        self.operator_id_in(tx, name)
            .await?
            .ok_or_else(|| StoreError::NotFound { what: "operator", name: name.to_string() })
    }

    pub(super) async fn require_organisation(&self, tx: &mut sqlx::AnyConnection, bin: &Bin) -> Result<i64> {
        let row = sqlx::query("SELECT id FROM organisations WHERE bin = $1")
            .bind(bin.as_str())
            .fetch_optional(&mut *tx)
            .await?;
        let row = row.ok_or_else(|| StoreError::NotFound { what: "organisation", name: bin.to_string() })?;
        Ok(row.try_get("id")?)
    }

    /// Registers an organisation connected through the given operators.
    pub async fn add_organisation(
        &self,
        actor: &str,
        bin: &Bin,
        name: &str,
        operators: &[String],
    ) -> Result<Organisation> {
        if name.trim().is_empty() {
            return Err(StoreError::Invalid("organisation name is empty".into()));
        }
        let mut tx = self.pool.begin().await?;
        write_lock(&mut tx).await?;
        let exists = sqlx::query("SELECT name FROM organisations WHERE bin = $1")
            .bind(bin.as_str())
            .fetch_optional(&mut *tx)
            .await?;
        if let Some(r) = exists {
            let name: String = r.try_get("name")?;
            return Err(StoreError::Conflict(format!("BIN {bin} is already registered as '{name}'")));
        }
        let row = sqlx::query("INSERT INTO organisations (bin, name, created_at) VALUES ($1, $2, $3) RETURNING id")
            .bind(bin.as_str())
            .bind(name.trim())
            .bind(now_ms())
            .fetch_one(&mut *tx)
            .await?;
        let id: i64 = row.try_get("id")?;
        for op in operators {
            let op_id = self.require_operator(&mut tx, op).await?;
            sqlx::query("INSERT INTO connections (organisation_id, operator_id) VALUES ($1, $2)")
                .bind(id)
                .bind(op_id)
                .execute(&mut *tx)
                .await?;
        }
        let org = Organisation { id, bin: bin.clone(), name: name.trim().to_string(), operators: operators.to_vec() };
        audit(&mut tx, actor, "organisation.add", &format!("organisation:{bin}"), None, Some(json!(org))).await?;
        tx.commit().await?;
        Ok(org)
    }

    /// Connects an existing organisation through one more operator.
    pub async fn connect(&self, actor: &str, bin: &Bin, operator: &str) -> Result<Organisation> {
        let before = self.organisation(bin).await?;
        if before.operators.iter().any(|o| o == operator) {
            return Ok(before);
        }
        let mut tx = self.pool.begin().await?;
        write_lock(&mut tx).await?;
        let op_id = self.require_operator(&mut tx, operator).await?;
        sqlx::query("INSERT INTO connections (organisation_id, operator_id) VALUES ($1, $2)")
            .bind(before.id)
            .bind(op_id)
            .execute(&mut *tx)
            .await?;
        let mut after = before.clone();
        after.operators.push(operator.to_string());
        after.operators.sort();
        let subject = format!("organisation:{bin}");
        audit(&mut tx, actor, "organisation.connect", &subject, Some(json!(before)), Some(json!(after))).await?;
        tx.commit().await?;
        Ok(after)
    }

    /// Organisations, optionally only those an operator connects.
    pub async fn organisations(&self, operator: Option<&str>) -> Result<Vec<Organisation>> {
        let rows = sqlx::query(
            "SELECT g.id, g.bin, g.name, o.name AS operator FROM organisations g \
             LEFT JOIN connections c ON c.organisation_id = g.id \
             LEFT JOIN operators o ON o.id = c.operator_id ORDER BY g.bin, o.name",
        )
        .fetch_all(&self.pool)
        .await?;
        let mut orgs: Vec<Organisation> = Vec::new();
        for r in rows {
            let id: i64 = r.try_get("id")?;
            let op: Option<String> = r.try_get("operator")?;
            if orgs.last().is_none_or(|o| o.id != id) {
                let bin: String = r.try_get("bin")?;
                let bin = bin.parse().map_err(|e| StoreError::Invalid(format!("stored {e}")))?;
                orgs.push(Organisation { id, bin, name: r.try_get("name")?, operators: Vec::new() });
            }
            if let (Some(op), Some(org)) = (op, orgs.last_mut()) {
                org.operators.push(op);
            }
        }
        if let Some(op) = operator {
            orgs.retain(|o| o.operators.iter().any(|x| x == op));
        }
        Ok(orgs)
    }

    /// One organisation by BIN.
    pub async fn organisation(&self, bin: &Bin) -> Result<Organisation> {
        self.organisations(None)
            .await?
            .into_iter()
            .find(|o| &o.bin == bin)
            .ok_or_else(|| StoreError::NotFound { what: "organisation", name: bin.to_string() })
    }
}
