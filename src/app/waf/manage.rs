//! What the duty team does to protected sites, the same from the CLI, the API and the
//! console: add a site, change its settings by name, set its certificate, exclude a rule,
//! add a virtual patch, propose and confirm an exclusion, explain a test request. Every
//! change is checked whole before it is stored (names, origins, certificate against key,
//! settings, and the rules compiled by the engine when it is here: a patch that does not
//! load is refused with the engine's message and the site keeps what it had); the key is
//! sealed before it reaches the store.
//!
//! Must not: store anything unchecked; show or log a key.

use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;

use policies::Bin;
use serde_json::Value;
use store::{NewWafSite, Sealer, Store, StoreError, WafProposal, WafSiteChange, WafSiteRecord};
use waf::engine::{Engine, SiteRules, TestRequest, Verdict};
use waf::{OriginTls, Site};

use super::settings::{SiteSettings, site_of};

/// Why a change was not made.
#[derive(Debug, thiserror::Error)]
pub enum WafError {
    #[error("refused: {}", .0.join("; "))]
    Invalid(Vec<String>),
    #[error("refused: the rule engine says: {0}")]
    Rules(String),
    #[error("{0}")]
    Unavailable(String),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// A site as the duty team adds it.
#[derive(Clone, Debug, Default)]
pub struct SiteInput {
    pub domain: String,
    pub aliases: Vec<String>,
    pub origins: Vec<SocketAddr>,
    pub origin_tls: Option<OriginTls>,
    /// The certificate chain and its private key (PEM), both or neither.
    pub certificate: Option<(String, String)>,
    pub settings: SiteSettings,
    pub owner: Option<Bin>,
    pub application: Option<i64>,
    pub contacts: Vec<String>,
}

/// The sites' management on a store, with the engine when it is here.
pub struct Manager<'a> {
    pub store: &'a Store,
    /// The desk's key file (the sites' keys are sealed with it).
    pub key_file: &'a Path,
    /// The rule engine, or why it is not here.
    pub engine: Result<Arc<Engine>, String>,
}

impl Manager<'_> {
    /// Adds a site, checked whole; its key sealed.
    pub async fn add(&self, actor: &str, input: SiteInput) -> Result<WafSiteRecord, WafError> {
        let (cert, key) = input.certificate.clone().unzip();
        let site = Site {
            domain: input.domain.clone(),
            aliases: input.aliases.clone(),
            origins: input.origins.clone(),
            origin_tls: input.origin_tls.clone(),
            certificate_pem: cert.clone().unwrap_or_default(),
            key_pem: key.clone().unwrap_or_default(),
            rules: input.settings.rules.clone(),
            rate_limit: input.settings.rate_limit,
            allow: input.settings.allow.clone(),
            deny: input.settings.deny.clone(),
        };
        self.check(&site, input.certificate.is_some()).await?;
        let sealed_key = match key {
            Some(k) => Some(self.sealer()?.seal(&k)?),
            None => None,
        };
        let new = NewWafSite {
            domain: site.domain,
            aliases: site.aliases,
            origins: site.origins,
            origin_tls: site.origin_tls.map(|t| serde_json::to_value(t).unwrap_or_default()),
            certificate: cert,
            sealed_key,
            settings: input.settings.to_json(),
            owner_bin: input.owner,
            application_id: input.application,
            contacts: input.contacts,
        };
        Ok(self.store.add_waf_site(actor, new).await?)
    }

    /// Sets each `key` to its value (every problem named at once), then stores the site.
    pub async fn set(&self, actor: &str, domain: &str, pairs: &[(String, Value)]) -> Result<WafSiteRecord, WafError> {
        let record = self.store.waf_site(domain).await?;
        let mut settings = SiteSettings::from_json(&record.settings).map_err(|e| WafError::Invalid(vec![e]))?;
        let mut change = WafSiteChange::default();
        let mut problems = Vec::new();
        for (key, value) in pairs {
            let done = match key.as_str() {
                "origins" => addresses(value).map(|o| change.origins = Some(o)),
                "aliases" => {
                    change.aliases = Some(words(value));
                    Ok(())
                }
                "contacts" => {
                    change.contacts = Some(words(value));
                    Ok(())
                }
                _ => settings.set(key, value),
            };
            problems.extend(done.err());
        }
        if !problems.is_empty() {
            return Err(WafError::Invalid(problems));
        }
        change.settings = Some(settings.to_json());
        self.store_change(actor, "waf.site.set", &record, change, false).await
    }

    /// Replaces the site's certificate and key (checked to be a pair naming the site).
    pub async fn set_certificate(
        &self,
        actor: &str,
        domain: &str,
        (cert, key): (String, String),
    ) -> Result<WafSiteRecord, WafError> {
        let record = self.store.waf_site(domain).await?;
        let sealed = self.sealer()?.seal(&key)?;
        let mut site = site_of(&record, key).map_err(|e| WafError::Invalid(vec![e]))?;
        site.certificate_pem = cert.clone();
        self.check(&site, true).await?;
        let change = WafSiteChange { certificate: Some((cert, sealed)), ..Default::default() };
        Ok(self.store.change_waf_site(actor, "waf.site.certificate", (domain, record.version), change).await?)
    }

    /// Switches rule `rule` off for the site (on `target` only, when given).
    pub async fn exclude(
        &self,
        actor: &str,
        domain: &str,
        rule: u32,
        target: Option<&str>,
    ) -> Result<WafSiteRecord, WafError> {
        let record = self.store.waf_site(domain).await?;
        let mut settings = SiteSettings::from_json(&record.settings).map_err(|e| WafError::Invalid(vec![e]))?;
        settings.exclude(rule, target);
        let change = WafSiteChange { settings: Some(settings.to_json()), ..Default::default() };
        self.store_change(actor, "waf.exclude", &record, change, false).await
    }

    /// Adds a virtual patch; the engine must be here and load it.
    pub async fn patch(&self, actor: &str, domain: &str, text: &str) -> Result<WafSiteRecord, WafError> {
        if text.trim().is_empty() {
            return Err(WafError::Invalid(vec!["the patch is empty".into()]));
        }
        let record = self.store.waf_site(domain).await?;
        let mut settings = SiteSettings::from_json(&record.settings).map_err(|e| WafError::Invalid(vec![e]))?;
        settings.rules.patches.push(text.to_string());
        let change = WafSiteChange { settings: Some(settings.to_json()), ..Default::default() };
        self.store_change(actor, "waf.patch", &record, change, true).await
    }

    /// Records a proposed exclusion (its target checked).
    pub async fn propose(
        &self,
        actor: &str,
        domain: &str,
        (rule, target): (u32, Option<&str>),
        transaction: Option<&str>,
        note: &str,
    ) -> Result<WafProposal, WafError> {
        let exclusion = waf::engine::Exclusion { rule, target: target.map(String::from) };
        let trial = waf::engine::RuleSettings { exclusions: vec![exclusion], ..Default::default() };
        let problems: Vec<String> = trial.check().into_iter().map(|p| p.problem).collect();
        if !problems.is_empty() {
            return Err(WafError::Invalid(problems));
        }
        Ok(self.store.propose_waf_exclusion(actor, domain, (rule, target), transaction, note).await?)
    }

    /// Confirms proposal `id`: its exclusion joins the site's settings.
    pub async fn confirm(&self, actor: &str, id: i64) -> Result<WafSiteRecord, WafError> {
        let proposal = self.store.waf_proposal(id).await?;
        let record = self.store.waf_site(&proposal.site).await?;
        let mut settings = SiteSettings::from_json(&record.settings).map_err(|e| WafError::Invalid(vec![e]))?;
        settings.exclude(proposal.rule, proposal.target.as_deref());
        self.compile(&record.domain, &settings, false).await?;
        Ok(self.store.confirm_waf_proposal(actor, id, record.version, settings.to_json()).await?)
    }

    /// Runs `request` through the site's stored rules without sending it anywhere.
    pub async fn test(&self, domain: &str, request: TestRequest) -> Result<Verdict, WafError> {
        let record = self.store.waf_site(domain).await?;
        let settings = SiteSettings::from_json(&record.settings).map_err(|e| WafError::Invalid(vec![e]))?;
        let engine = self.engine.clone().map_err(WafError::Unavailable)?;
        let domain = record.domain.clone();
        let verdict = tokio::task::spawn_blocking(move || {
            SiteRules::compile(&engine, &domain, &settings.rules).map(|rules| waf::engine::explain(&rules, &request))
        })
        .await
        .map_err(|e| WafError::Unavailable(format!("the engine failed: {e}")))?;
        verdict.map_err(|e| WafError::Rules(e.to_string()))
    }

    /// Checks the settings (and compiles them), then stores the change on the version read.
    async fn store_change(
        &self,
        actor: &str,
        action: &str,
        record: &WafSiteRecord,
        change: WafSiteChange,
        need_engine: bool,
    ) -> Result<WafSiteRecord, WafError> {
        let settings = change.settings.as_ref().unwrap_or(&record.settings);
        let settings = SiteSettings::from_json(settings).map_err(|e| WafError::Invalid(vec![e]))?;
        let problems = settings.problems();
        if !problems.is_empty() {
            return Err(WafError::Invalid(problems));
        }
        if let Some(origins) = &change.origins
            && let Some(bad) = origins.iter().find(|o| o.port() == 0 || o.ip().is_unspecified())
        {
            return Err(WafError::Invalid(vec![format!("origins: {bad} is not an address to connect to")]));
        }
        self.compile(&record.domain, &settings, need_engine).await?;
        Ok(self.store.change_waf_site(actor, action, (&record.domain, record.version), change).await?)
    }

    /// Compiles the settings with the engine (refusing what does not load); without the
    /// engine, refuses only when `need_engine`.
    async fn compile(&self, domain: &str, settings: &SiteSettings, need_engine: bool) -> Result<(), WafError> {
        let engine = match (&self.engine, need_engine) {
            (Ok(engine), _) => Arc::clone(engine),
            (Err(why), true) => return Err(WafError::Unavailable(why.clone())),
            (Err(why), false) => {
                tracing::warn!(site = domain, why = %why, "settings stored without the engine's check");
                return Ok(());
            }
        };
        let (domain, rules) = (domain.to_string(), settings.rules.clone());
        let compiled = tokio::task::spawn_blocking(move || SiteRules::compile(&engine, &domain, &rules).map(drop))
            .await
            .map_err(|e| WafError::Unavailable(format!("the engine failed: {e}")))?;
        compiled.map_err(|e| WafError::Rules(e.to_string()))
    }

    /// Every problem of a site as the WAF would see it, its rules compiled when the
    /// engine is here.
    async fn check(&self, site: &Site, with_certificate: bool) -> Result<(), WafError> {
        let mut problems: Vec<String> = site.check().iter().map(|p| format!("{}: {}", p.field, p.message)).collect();
        if with_certificate {
            problems.extend(site.check_certificate().iter().map(|p| format!("{}: {}", p.field, p.message)));
        }
        let settings = SiteSettings {
            rules: site.rules.clone(),
            rate_limit: site.rate_limit,
            allow: site.allow.clone(),
            deny: site.deny.clone(),
        };
        problems.extend(settings.problems());
        if !problems.is_empty() {
            return Err(WafError::Invalid(problems));
        }
        self.compile(&site.domain, &settings, false).await
    }

    fn sealer(&self) -> Result<Sealer, WafError> {
        if let Some(dir) = self.key_file.parent() {
            crate::app::store::private_dir(dir).map_err(|e| WafError::Unavailable(format!("{e:#}")))?;
        }
        Ok(Sealer::open_or_create(self.key_file)?)
    }
}

fn words(value: &Value) -> Vec<String> {
    match value {
        Value::Array(items) => items.iter().filter_map(Value::as_str).map(str::to_string).collect(),
        Value::String(s) => s.split([',', ' ']).filter(|w| !w.is_empty()).map(str::to_string).collect(),
        _ => Vec::new(),
    }
}

fn addresses(value: &Value) -> Result<Vec<SocketAddr>, String> {
    words(value)
        .iter()
        .map(|w| w.parse().map_err(|_| format!("origins: '{w}' is not ADDR:PORT such as 192.0.2.10:443")))
        .collect()
}
