//! The one configuration file (TOML). Every setting has a default, so no file is
//! needed; unknown keys are refused so a typo never silently does nothing. Command-line
//! flags and `PERIMETER_*` environment variables override the file.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use std::time::Duration;

use anyhow::Context;
use policies::duration;
use serde::{Deserialize, Serialize};

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
    pub console: crate::console::ConsoleConfig,
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
    pub policies: crate::web::PoliciesConfig,
    /// The request desk: the trust anchors of signed documents.
    pub desk: crate::requests::DeskConfig,
    /// Threat feeds: hosts, URLs and addresses denied to every organisation (rule 7).
    pub threats: crate::feeds::ThreatsConfig,
    /// The mail gateway (EPBSH relay). A relative `spool_dir` is under `data_dir`.
    pub relay: epbsh::relay::RelayConfig,
    /// The packet gate on the client-facing interfaces; off unless interfaces are named.
    pub gate: gate::GateConfig,
}

/// Which gateways run beside the catalog and the API.
#[derive(Clone, Debug, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct ServicesConfig {
    /// The web proxy (`[proxy]`).
    pub web: bool,
    /// The mail relay (`[relay]`).
    pub mail: bool,
}

impl Default for ServicesConfig {
    fn default() -> ServicesConfig {
        ServicesConfig { web: true, mail: true }
    }
}

/// The gateway root CA (kept in `DATA_DIR/ca`, key file mode 0600).
#[derive(Clone, Debug, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct CaSettings {
    pub organisation: String,
    /// Up to 44 characters; a date and key id are appended.
    pub common_name: String,
    /// `ecdsa-p256` or `rsa-3072`.
    pub key: CaKey,
    /// How long a new root is valid, e.g. `"3653d"`.
    #[serde(with = "duration::one")]
    pub validity: Duration,
    /// How long a replaced root stays trusted after a rotation.
    #[serde(with = "duration::one")]
    pub overlap: Duration,
}

#[derive(Clone, Copy, Debug, Deserialize, Serialize, PartialEq, Eq)]
#[serde(rename_all = "kebab-case")]
pub enum CaKey {
    EcdsaP256,
    Rsa3072,
}

impl Default for CaSettings {
    fn default() -> CaSettings {
        CaSettings {
            organisation: "Perimeter".into(),
            common_name: "Perimeter Gateway Root CA".into(),
            key: CaKey::EcdsaP256,
            validity: Duration::from_secs(3653 * 86_400),
            overlap: Duration::from_secs(30 * 86_400),
        }
    }
}

impl CaSettings {
    /// The certs crate's view of these settings.
    pub fn to_certs(&self) -> certs::CaConfig {
        certs::CaConfig {
            organisation: self.organisation.clone(),
            common_name: self.common_name.clone(),
            key_algorithm: match self.key {
                CaKey::EcdsaP256 => certs::KeyAlgorithm::EcdsaP256,
                CaKey::Rsa3072 => certs::KeyAlgorithm::Rsa3072,
            },
            validity: time::Duration::try_from(self.validity).unwrap_or(time::Duration::MAX),
            overlap: time::Duration::try_from(self.overlap).unwrap_or(time::Duration::MAX),
        }
    }
}

/// Notices to operators about unknown addresses (rule 1).
#[derive(Clone, Debug, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct NoticesConfig {
    /// The SMTP relay notices go through: `smtp://HOST:PORT` (add `?tls=required` for
    /// STARTTLS), or `smtps://HOST:PORT`.
    pub smtp_url: String,
    /// The From: of notices.
    pub from: String,
    /// Local time (UTC+5) at which each day's notices go out, `HH:MM`.
    pub send_at: String,
    /// First retry delay after a failed send; doubles up to an hour.
    #[serde(with = "duration::one")]
    pub retry_base: Duration,
    /// How often the reconciler runs (notices, deadlines).
    #[serde(with = "duration::one")]
    pub interval: Duration,
    /// How long one SMTP exchange may take before it is given up (and retried).
    #[serde(with = "duration::one")]
    pub send_timeout: Duration,
}

/// The working-day calendar.
#[derive(Clone, Debug, Deserialize, Serialize, PartialEq, Default)]
#[serde(deny_unknown_fields, default)]
pub struct CalendarConfig {
    /// A calendar file to use instead of the built-in Kazakhstan calendar.
    pub file: Option<PathBuf>,
}

impl Default for NoticesConfig {
    fn default() -> NoticesConfig {
        NoticesConfig {
            smtp_url: "smtp://127.0.0.1:25".into(),
            from: "perimeter <perimeter@localhost>".into(),
            send_at: "09:00".into(),
            retry_base: Duration::from_secs(60),
            interval: Duration::from_secs(60),
            send_timeout: Duration::from_secs(30),
        }
    }
}

/// The catalog database.
#[derive(Clone, Debug, Deserialize, Serialize, PartialEq, Default)]
#[serde(deny_unknown_fields, default)]
pub struct StoreConfig {
    /// `postgres://USER[:PASSWORD]@HOST:PORT/DB`, or `sqlite://PATH`. Empty: the SQLite
    /// file `catalog.db` in the data directory.
    pub url: String,
}

/// The control-plane HTTP API.
#[derive(Clone, Debug, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct ApiConfig {
    /// Address and port the API listens on; port 0 picks a free one.
    pub listen: SocketAddr,
    /// Largest accepted request body (an imported list), in MiB.
    pub max_body_mib: usize,
    /// Serve the API and the console over TLS with this PEM certificate chain ...
    pub tls_cert: Option<PathBuf>,
    /// ... and this PEM private key (both or neither).
    pub tls_key: Option<PathBuf>,
}

/// Catalog behaviour.
#[derive(Clone, Debug, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct CatalogConfig {
    /// How often a running gateway checks the store for changes made elsewhere (for
    /// example by the CLI or another instance). One cheap query; short, so a block made
    /// from the CLI reaches the packet gate within a second.
    #[serde(with = "duration::one")]
    pub refresh: Duration,
    /// The most unknown addresses kept on record per operator; sightings of new ones
    /// past it are counted, not kept (a link whose users spoof sources).
    pub max_unknown_per_operator: u32,
}

/// Logging.
#[derive(Clone, Debug, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct LogConfig {
    /// `text` or `json`.
    pub format: LogFormat,
    /// A tracing filter such as `info` or `perimeter=debug,info`; `RUST_LOG` overrides.
    pub level: String,
}

#[derive(Clone, Copy, Debug, Deserialize, Serialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    Text,
    Json,
}

impl Default for Config {
    fn default() -> Config {
        Config {
            data_dir: PathBuf::from("perimeter-data"),
            store: StoreConfig::default(),
            api: ApiConfig::default(),
            console: crate::console::ConsoleConfig::default(),
            catalog: CatalogConfig::default(),
            notices: NoticesConfig::default(),
            calendar: CalendarConfig::default(),
            ca: CaSettings::default(),
            log: LogConfig::default(),
            services: ServicesConfig::default(),
            proxy: iqbsh::ProxyConfig::default(),
            policies: crate::web::PoliciesConfig::default(),
            desk: crate::requests::DeskConfig::default(),
            relay: epbsh::relay::RelayConfig::default(),
            gate: gate::GateConfig::default(),
            threats: crate::feeds::ThreatsConfig::default(),
        }
    }
}

impl Default for ApiConfig {
    fn default() -> ApiConfig {
        ApiConfig { listen: SocketAddr::from(([127, 0, 0, 1], 8750)), max_body_mib: 256, tls_cert: None, tls_key: None }
    }
}

impl Default for CatalogConfig {
    fn default() -> CatalogConfig {
        CatalogConfig { refresh: Duration::from_millis(250), max_unknown_per_operator: 100_000 }
    }
}

impl Default for LogConfig {
    fn default() -> LogConfig {
        LogConfig { format: LogFormat::Text, level: "info".into() }
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
        assert_eq!(config.threats, crate::feeds::ThreatsConfig::default(), "the example shows the defaults");
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
    fn wrong_types_name_the_key() {
        let err = Config::parse("[api]\nlisten = \"not an address\"").unwrap_err().to_string();
        assert!(err.contains("listen"), "{err}");
    }
}
