//! The one configuration file (TOML), assembled from the sections of the rooms that run
//! them (each section's type lives with its room in `app/` or `http/`, or in the crate
//! it configures). Every setting has a default, so no file is needed; unknown keys are
//! refused so a typo never silently does nothing. Command-line flags and `PERIMETER_*`
//! environment variables override the file.
//!
//! Must not: hold a section's type or its defaults (its room does).

use std::path::{Path, PathBuf};

use anyhow::Context;
use serde::{Deserialize, Serialize};

use crate::app::ca::CaSettings;
use crate::app::calendar::CalendarConfig;
use crate::app::catalog::CatalogConfig;
use crate::app::feeds::ThreatsConfig;
use crate::app::log::LogConfig;
use crate::app::problem::ConfigProblems;
use crate::app::reconcile::NoticesConfig;
use crate::app::requests::{Desk, DeskConfig};
use crate::app::store::StoreConfig;
use crate::app::web::PoliciesConfig;
use crate::http::api::ApiConfig;
use crate::http::console::ConsoleConfig;

/// The whole configuration.
#[derive(Clone, Debug, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    /// Where the SQLite catalog, keys and spools live. Relative paths are relative to
    /// the working directory.
    pub data_dir: PathBuf,
    pub store: StoreConfig,
    pub api: ApiConfig,
    /// The console's sessions and login limits.
    pub console: ConsoleConfig,
    pub catalog: CatalogConfig,
    pub notices: NoticesConfig,
    pub calendar: CalendarConfig,
    pub ca: CaSettings,
    pub log: LogConfig,
    /// Which gateways `perimeter up` runs.
    pub services: ServicesConfig,
    /// The web gateway (IQBSH proxy).
    pub proxy: iqbsh::ProxyConfig,
    /// Resource categories and organisations' access policies for the web gateway.
    pub policies: PoliciesConfig,
    /// The request desk: the trust anchors of signed documents.
    pub desk: DeskConfig,
    /// Threat feeds: hosts, URLs and addresses denied to every organisation (rule 7).
    pub threats: ThreatsConfig,
    /// The mail gateway (EPBSH relay). A relative `spool_dir` is under `data_dir`.
    pub relay: epbsh::relay::RelayConfig,
    /// The packet gate on the client-facing interfaces; off unless interfaces are named.
    pub gate: gate::GateConfig,
    /// Defacement protection of registered sites (rule 18): cycle, bounds, where the
    /// reference copies live (`deface` under `data_dir` unless placed elsewhere).
    pub deface: deface::DefaceConfig,
    /// The web application firewall's proxy (rule 17); runs when `services.waf`. A
    /// relative `audit_log` is under `data_dir`; without one, `waf-audit.jsonl` there.
    pub waf: waf::WafConfig,
    /// Where the WAF's rule engine (libmodsecurity 3) and the OWASP CRS are.
    pub waf_engine: waf::engine::EnginePaths,
}

/// Which gateways run beside the catalog and the API.
#[derive(Clone, Debug, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct ServicesConfig {
    /// The web proxy (`[proxy]`).
    pub web: bool,
    /// The mail relay (`[relay]`).
    pub mail: bool,
    /// Defacement protection (`[deface]`): needs no privilege, idle while no site is
    /// protected.
    pub deface: bool,
    /// The web application firewall (`[waf]`); off by default: it listens on ports 443
    /// and 80, which need root or `CAP_NET_BIND_SERVICE`.
    pub waf: bool,
}

impl Default for ServicesConfig {
    fn default() -> ServicesConfig {
        ServicesConfig { web: true, mail: true, deface: true, waf: false }
    }
}

impl Default for Config {
    fn default() -> Config {
        Config {
            data_dir: PathBuf::from("perimeter-data"),
            store: StoreConfig::default(),
            api: ApiConfig::default(),
            console: ConsoleConfig::default(),
            catalog: CatalogConfig::default(),
            notices: NoticesConfig::default(),
            calendar: CalendarConfig::default(),
            ca: CaSettings::default(),
            log: LogConfig::default(),
            services: ServicesConfig::default(),
            proxy: iqbsh::ProxyConfig::default(),
            policies: PoliciesConfig::default(),
            desk: DeskConfig::default(),
            relay: epbsh::relay::RelayConfig::default(),
            gate: gate::GateConfig::default(),
            threats: ThreatsConfig::default(),
            deface: deface::DefaceConfig::default(),
            waf: waf::WafConfig::default(),
            waf_engine: waf::engine::EnginePaths::default(),
        }
    }
}

impl Config {
    /// Reads a configuration file; the error names the file, line and key.
    pub fn from_file(path: &Path) -> anyhow::Result<Config> {
        let text =
            std::fs::read_to_string(path).with_context(|| format!("cannot read config file {}", path.display()))?;
        Config::parse(&text).map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))
    }

    /// Parses configuration text.
    pub fn parse(text: &str) -> Result<Config, toml::de::Error> {
        toml::from_str(text)
    }

    /// The addresses this node's listeners are configured on (not the wildcard): the
    /// gateway's own addresses, never a user's source.
    pub fn own_addresses(&self) -> Vec<std::net::IpAddr> {
        let mut own = vec![self.proxy.explicit.listen.ip(), self.relay.listen.ip(), self.api.listen.ip()];
        own.extend(self.proxy.transparent.as_ref().map(|t| t.listen.ip()));
        own.retain(|ip| !ip.is_unspecified());
        own
    }

    /// Checks every section `up` would refuse at start (the gateways' only when they
    /// run) and returns every problem with its `section.key`: run before any listener
    /// opens, by `perimeter config check`, and before a reload is applied.
    pub fn validate(&self) -> Result<(), ConfigProblems> {
        let mut problems = ConfigProblems::default();
        self.store.validate(&mut problems);
        self.api.validate(&mut problems);
        self.notices.validate(&mut problems);
        self.calendar.validate(&mut problems);
        self.desk.validate(&mut problems);
        if self.services.web {
            if let Err(e) = self.proxy.check() {
                e.problems.iter().for_each(|p| problems.add(format!("proxy.{}", p.location), &p.message));
            }
            self.policies.validate(&mut problems);
        }
        if self.services.mail
            && let Err(found) = self.relay.validate()
        {
            found.iter().for_each(|p| problems.add(format!("relay.{}", p.field), &p.problem));
        }
        if self.services.deface {
            crate::app::deface::validate(&self.deface, &mut problems);
        }
        if self.services.waf {
            crate::app::waf::validate(&self.waf, &mut problems);
        }
        problems.into_result()
    }

    /// Opens the store in force (creating the data directory for SQLite).
    pub async fn open_store(&self) -> anyhow::Result<store::Store> {
        crate::app::store::open(&self.store_url(), &self.data_dir, self.catalog.max_unknown_per_operator).await
    }

    /// The request desk as configured, on `store`.
    pub fn desk(&self, store: store::Store) -> anyhow::Result<Desk> {
        let mail = (&self.notices, &self.calendar);
        Desk::open(&self.desk, mail, &self.data_dir, self.policies.remind_days, store)
    }

    /// The parts of the configuration the console reads.
    pub fn console_settings(&self) -> crate::http::console::Settings {
        crate::http::console::Settings {
            data_dir: self.data_dir.clone(),
            console: self.console.clone(),
            calendar: self.calendar.clone(),
            policies: self.policies.clone(),
            ca: self.ca.clone(),
            notices: self.notices.clone(),
        }
    }

    /// The store URL in force: the configured one, or the SQLite file in the data dir.
    pub fn store_url(&self) -> String {
        if self.store.url.is_empty() {
            format!("sqlite://{}", self.data_dir.join("catalog.db").display())
        } else {
            self.store.url.clone()
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    const EXAMPLE: &str = include_str!("../perimeter.example.toml");

    #[test]
    fn no_file_means_defaults() {
        assert_eq!(Config::parse("").unwrap(), Config::default());
        assert!(Config::default().store_url().ends_with("perimeter-data/catalog.db"));
    }

    #[test]
    fn the_example_config_parses_and_differs_from_defaults_only_where_it_says() {
        let config = Config::parse(EXAMPLE).expect("example config parses");
        assert_eq!(config.data_dir, PathBuf::from("/var/lib/perimeter"));
        assert_eq!(config.api.listen, "127.0.0.1:8750".parse().unwrap());
        assert_eq!(config.relay.watch, epbsh::watch::WatchConfig::default(), "the example shows the defaults");
        assert_eq!(config.gate, gate::GateConfig::default(), "the example shows the gate's defaults");
        assert_eq!(config.catalog, CatalogConfig::default(), "the example shows the catalog's defaults");
        assert_eq!(config.proxy.icap, iqbsh::IcapConfig::default(), "the example shows the defaults");
        assert_eq!(config.threats, ThreatsConfig::default(), "the example shows the defaults");
        assert_eq!(config.deface, deface::DefaceConfig::default(), "the example shows the defaults");
        assert!(!config.services.waf, "the WAF is off unless asked");
        assert_eq!(config.waf, waf::WafConfig::default(), "the example shows the WAF's defaults");
        assert_eq!(config.waf_engine, waf::engine::EnginePaths::default(), "the example shows the defaults");
    }

    #[test]
    fn unknown_keys_are_refused_with_their_location() {
        for junk in [
            "colour = 1",
            "[api]\nlisten = \"127.0.0.1:1\"\nlisen = 2",
            "[stor]\nurl = \"\"",
            "[proxy.icap]\nscan_limt = \"1MiB\"",
            "[threats]\nchek = \"1s\"",
        ] {
            let err = Config::parse(junk).unwrap_err().to_string();
            assert!(err.contains("unknown field") || err.contains("unknown"), "{junk}: {err}");
            assert!(err.contains("line"), "{err}");
        }
        let with_junk = format!("{EXAMPLE}\n[extra]\nkey = 1\n");
        assert!(Config::parse(&with_junk).is_err());
    }

    #[test]
    fn a_partly_given_table_keeps_the_defaults_of_what_it_omits() {
        let config = Config::parse("[relay]\nhostname = \"relay.test\"\n").unwrap();
        assert_eq!(config.relay.spool_dir, PathBuf::from("spool"), "the spool stays under data_dir");
        assert_eq!(Config { relay: Config::default().relay, ..config }, Config::default());
    }

    #[test]
    fn the_gate_section_is_checked() {
        let config = Config::parse(
            "[gate]\ninterfaces = [{ name = \"eth1\", link = \"kt-astana-1\" }]\nsample_interval = \"5m\"",
        )
        .expect("gate parses");
        assert!(config.gate.enabled());
        assert_eq!(config.gate.sample_interval, Duration::from_secs(300));
        for junk in ["[gate]\nbackend = \"ebpf\"", "[gate]\nsample_interval = 60", "[gate]\ninterface = []"] {
            let err = Config::parse(junk).unwrap_err().to_string();
            assert!(err.contains("line"), "{junk}: {err}");
        }
    }

    #[test]
    fn validate_names_every_problem_with_its_section_and_key() {
        assert_eq!(Config::default().validate(), Ok(()));
        assert_eq!(Config::parse(EXAMPLE).unwrap().validate(), Ok(()), "the example is valid");
        let config = Config::parse(
            "[notices]\nsend_at = \"9 o'clock\"\nfrom = \"nobody\"\n\
             [store]\nurl = \"mysql://x\"\n\
             [relay]\nhostname = \"not a domain\"\n\
             [proxy.explicit]\nlink = \" \"\n\
             [api]\ntls_cert = \"cert.pem\"\n",
        )
        .expect("parses");
        let problems = config.validate().expect_err("refused");
        let at: Vec<&str> = problems.0.iter().map(|p| p.at.as_str()).collect();
        for key in
            ["store.url", "api.tls_cert", "notices.from", "notices.send_at", "proxy.explicit.link", "relay.hostname"]
        {
            assert!(at.contains(&key), "{key} in {at:?}");
        }
        let text = problems.to_string();
        assert!(text.starts_with(&format!("the configuration has {} problem(s):", problems.0.len())), "{text}");
        let off = Config { services: ServicesConfig { web: false, mail: false, deface: false, waf: false }, ..config };
        let at: Vec<String> = off.validate().expect_err("still refused").0.into_iter().map(|p| p.at).collect();
        assert!(!at.iter().any(|a| a.starts_with("relay.") || a.starts_with("proxy.")), "{at:?}");
    }

    #[test]
    fn the_waf_is_off_by_default_and_its_section_checked_when_on() {
        assert!(!Config::default().services.waf, "ports 443 and 80 need root: off unless asked");
        let on = Config::parse(
            "[services]\nwaf = true\n[waf]\nhttps_listen = \"127.0.0.1:8443\"\n[waf.engine]\nthreads = 0\n",
        )
        .expect("parses");
        let at: Vec<String> = on.validate().expect_err("refused").0.into_iter().map(|p| p.at).collect();
        assert_eq!(at, ["waf.engine.threads"]);
        let engine = Config::parse("[waf_engine]\nlibrary = \"/nowhere/libmodsecurity.so.3\"\n").expect("parses");
        assert_eq!(engine.waf_engine.library, PathBuf::from("/nowhere/libmodsecurity.so.3"));
        assert!(Config::parse("[waf]\nhttps_listn = \"127.0.0.1:1\"\n").is_err(), "unknown keys refused");
    }

    #[test]
    fn wrong_types_name_the_key() {
        let err = Config::parse("[api]\nlisten = \"not an address\"").unwrap_err().to_string();
        assert!(err.contains("listen"), "{err}");
    }
}
