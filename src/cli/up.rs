//! `perimeter up`: runs the service. Opens the store, builds the first catalog
//! snapshot, then starts every service in the order written in [`start`] (each a
//! [`Service`], one line each) and prints one line with every address it listens on.
//! On SIGTERM or SIGINT it stops them in the reverse order, each once the ones started
//! after it have ended, and closes the store last; on SIGHUP it reloads.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use clap::Args;
use snapshot::SnapshotHandle;
use store::Store;
use tokio::sync::mpsc;

use crate::app::catalog::{ObservationWriter, Publisher};
use crate::app::feeds::ThreatFeeds;
use crate::app::gate::PacketGate;
use crate::app::mail::MailGateway;
use crate::app::reconcile::ReconcilerService;
use crate::app::requests::DeskJobs;
use crate::app::service::{Service, Services, Stop};
use crate::app::signals::Signals;
use crate::app::systemd::{Notifier, Watchdog};
use crate::app::web::{RulesReloader, WebProxy};
use crate::config::Config;
use crate::http::Server;
use crate::http::api::AppState;

#[derive(Args, Debug)]
pub struct UpArgs {
    /// Address for the API (overrides `api.listen`); port 0 picks a free port.
    #[arg(long, value_name = "ADDR:PORT")]
    pub listen: Option<std::net::SocketAddr>,
    /// Address for the explicit web proxy (overrides `proxy.explicit.listen`).
    #[arg(long, env = "PERIMETER_PROXY_LISTEN", value_name = "ADDR:PORT")]
    pub proxy_listen: Option<std::net::SocketAddr>,
    /// Address for the mail relay (overrides `relay.listen`).
    #[arg(long, env = "PERIMETER_RELAY_LISTEN", value_name = "ADDR:PORT")]
    pub relay_listen: Option<std::net::SocketAddr>,
}

pub async fn run(mut config: Config, args: UpArgs, config_path: Option<PathBuf>) -> anyhow::Result<()> {
    crate::app::log::init(&config.log);
    if let Some(addr) = args.proxy_listen {
        config.proxy.explicit.listen = addr;
    }
    if let Some(addr) = args.relay_listen {
        config.relay.listen = addr;
    }
    // Every problem at once, before anything starts or listens.
    config.validate()?;
    // Told on SIGTERM or SIGINT; `up` then stops its services in order.
    let stopping = Stop::new();
    let (reload, reloads) = mpsc::channel(1);
    let mut services = Services::default();
    services.start(Signals::new(stopping.clone(), reload)?);
    let notifier = Notifier::from_env();
    let ca = crate::app::ca::ensure(&config.data_dir, &config.ca)?;
    tracing::info!(fingerprint = %ca.current().fingerprint(), "root CA ready (export it with `perimeter ca export`)");
    let store = config.open_store().await?;
    let up = Up { config: &config, listen: args.listen, store: &store, ca: &ca, stopping: &stopping };
    let waited = match up.start(&mut services, reloads, config_path).await {
        Ok(line) => {
            println!("{line}");
            notifier.ready(&line);
            services.until(&stopping).await
        }
        Err(e) => Err(e),
    };
    stopping.stop();
    notifier.stopping();
    let stopped = services.stop().await;
    store.close().await;
    tracing::info!("stopped");
    waited.and(stopped)
}

/// What the services are started with.
struct Up<'a> {
    config: &'a Config,
    listen: Option<std::net::SocketAddr>,
    store: &'a Store,
    ca: &'a certs::CaStore,
    stopping: &'a Stop,
}

impl Up<'_> {
    /// Starts the services, in this order; they stop in the reverse one. Returns the
    /// line that says where the service listens.
    async fn start(
        &self,
        services: &mut Services,
        reloads: mpsc::Receiver<()>,
        config_path: Option<PathBuf>,
    ) -> anyhow::Result<String> {
        let (config, store) = (self.config, self.store);
        let snapshot =
            SnapshotHandle::new(catalog::publish::load(store).await.context("cannot build the catalog snapshot")?);
        let (v4, v6) = snapshot.current().prefixes();
        tracing::info!(store = %store::redact(&config.store_url()), v4, v6, "catalog loaded");
        let generations = store.follow(config.catalog.refresh.max(Duration::from_millis(50))).await;
        let (publisher, nudge) = Publisher::new(snapshot.clone(), store.clone(), generations.clone());
        services.start(publisher);
        let reconciler = crate::app::reconcile::reconciler(&config.notices, &config.calendar, store.clone())?;
        services.start(ReconcilerService {
            reconciler,
            every: config.notices.interval,
            lead: store.lead("reconciler"),
        });
        let desk = Arc::new(config.desk(store.clone())?);
        services.start(DeskJobs { desk: desk.clone(), every: config.notices.interval, lead: store.lead("desk") });
        let web = match config.services.web {
            true => Some(self.start_web(services, &snapshot).await?),
            false => None,
        };
        let mail = match config.services.mail {
            true => {
                let sections = (&config.relay, config.data_dir.as_path(), &config.notices);
                let mail = crate::app::mail::start(sections, config.catalog.refresh, store, generations).await?;
                let gateway = mail.gateway().clone();
                services.start(mail);
                Some(gateway)
            }
            false => None,
        };
        let gate = match config.gate.enabled() {
            true => Some(self.start_gate(services, &snapshot, web.as_ref()).await?),
            false => None,
        };
        let server = Server::bind(&config.api, self.listen.unwrap_or(config.api.listen)).await?;
        let bound = server.local_addr()?;
        let scheme = if server.tls() { "https" } else { "http" };
        let mut line = up_line(bound, scheme, web.as_ref().map(|w| &*w.proxy), mail.as_deref());
        if gate.is_some() {
            let names: Vec<&str> = config.gate.interfaces.iter().map(|i| i.name.as_str()).collect();
            line.push_str(&format!(" packet gate on {}", names.join(",")));
        }
        tracing::info!(%bound, tls = server.tls(), "API and console listening");
        let proxy = web.as_ref().map(|w| Arc::clone(&w.proxy));
        let state = AppState {
            store: store.clone(),
            snapshot,
            nudge,
            proxy: proxy.clone(),
            mail,
            stop: self.stopping.clone(),
            gate,
            desk,
        };
        let running = config.clone();
        let rules = web.map(|w| w.rules);
        services.start(Reloader { reloads, path: config_path, store: store.clone(), running, rules, proxy });
        services.start(server.serving(state, config.console_settings()));
        services.start(Watchdog(Notifier::from_env()));
        Ok(line)
    }

    /// The web gateway: its rules (and their reloader), the threat feeds, the writer of
    /// the unknown sources it reports, then the proxy.
    async fn start_web(&self, services: &mut Services, snapshot: &SnapshotHandle) -> anyhow::Result<Web> {
        let (config, store) = (self.config, self.store);
        let rules =
            crate::app::web::load(&config.policies, store).await.context("cannot load categories and policies")?;
        let rules = iqbsh::RulesHandle::new(Arc::new(rules));
        services.start(RulesReloader { config: config.policies.clone(), store: store.clone(), handle: rules.clone() });
        let threats = iqbsh::ThreatsHandle::default();
        services.start(ThreatFeeds::load(&config.threats, &config.data_dir, threats.clone()).await);
        let (observations, writer) = ObservationWriter::new(store.clone(), config.own_addresses());
        services.start(writer);
        let reads = (rules.clone(), threats);
        let mut proxy_config = config.proxy.clone();
        // Bodies held for their scan live under the data directory unless placed elsewhere.
        proxy_config.icap.hold.dir = config.data_dir.join(&proxy_config.icap.hold.dir);
        let proxy = WebProxy::start(proxy_config, (snapshot.clone(), observations), self.ca, reads).await?;
        let web = Web { proxy: proxy.proxy.clone(), rules };
        services.start(proxy);
        Ok(web)
    }

    /// The packet gate: the writer of the unknown sources it samples, then the gate
    /// (redirecting to the proxy's transparent listeners as bound).
    async fn start_gate(
        &self,
        services: &mut Services,
        snapshot: &SnapshotHandle,
        web: Option<&Web>,
    ) -> anyhow::Result<crate::app::gate::GateView> {
        let config = self.config;
        let bound = web.and_then(|w| {
            let https = w.proxy.transparent_addr()?.port();
            Some(gate::Redirect { https, http: w.proxy.transparent_http_addr().map(|a| a.port()) })
        });
        let redirect = bound.or_else(|| crate::app::gate::redirect_ports(&config.proxy, config.services.web));
        let (sink, writer) = ObservationWriter::new(self.store.clone(), config.own_addresses());
        services.start(writer);
        let gate = PacketGate::start((&config.gate, &config.data_dir), sink, snapshot, redirect).await?;
        let view = gate.view();
        services.start(gate);
        Ok(view)
    }
}

/// The one line on stdout with every address the service listens on, so a supervisor
/// (or a test) can read them at once.
fn up_line(
    api: std::net::SocketAddr,
    scheme: &str,
    proxy: Option<&iqbsh::ProxyHandle>,
    mail: Option<&MailGateway>,
) -> String {
    let mut up = format!("perimeter is up: API on {scheme}://{api}/api/v1 console on {scheme}://{api}/");
    if let Some(p) = proxy {
        up.push_str(&format!(" web proxy on {}", p.explicit_addr()));
        if let Some(t) = p.transparent_addr() {
            up.push_str(&format!(" transparent TLS on {t}"));
        }
    }
    if let Some(m) = mail {
        up.push_str(&format!(" mail relay on {}", m.relay.local_addr()));
    }
    up
}

/// The running web gateway: the proxy and the rules it reads.
struct Web {
    proxy: Arc<iqbsh::ProxyHandle>,
    rules: iqbsh::RulesHandle,
}

/// SIGHUP: reads the configuration file again; a bad one is logged and nothing changes.
/// The categories and policies are reloaded and the access logs reopened at once; other
/// changed sections are named: they take effect at the next start.
struct Reloader {
    reloads: mpsc::Receiver<()>,
    path: Option<PathBuf>,
    store: Store,
    running: Config,
    rules: Option<iqbsh::RulesHandle>,
    proxy: Option<Arc<iqbsh::ProxyHandle>>,
}

impl Service for Reloader {
    const NAME: &'static str = "configuration reloader";

    async fn run(self, stop: Stop) -> anyhow::Result<()> {
        let Reloader { mut reloads, path, store, mut running, rules, proxy } = self;
        loop {
            tokio::select! {
                got = reloads.recv() => if got.is_none() { return Ok(()) },
                () = stop.stopped() => return Ok(()),
            }
            let fresh = match &path {
                Some(path) => {
                    match Config::from_file(path).and_then(|c| c.validate().map(|()| c).map_err(Into::into)) {
                        Ok(c) => c,
                        Err(e) => {
                            tracing::error!(error = %format!("{e:#}"), "reload refused: the configuration stays as it was");
                            continue;
                        }
                    }
                }
                None => running.clone(),
            };
            if let Some(rules) = &rules {
                match crate::app::web::load(&fresh.policies, &store).await {
                    Ok(loaded) => rules.replace(Arc::new(loaded)),
                    Err(e) => {
                        tracing::error!(error = %format!("{e:#}"), "reload: categories and policies refused; the previous ones stay")
                    }
                }
            }
            if let Some(proxy) = &proxy {
                proxy.reopen_access_log().await;
            }
            for section in changed_sections(&running, &fresh) {
                tracing::warn!(section, "reload: this section changed; it takes effect at the next start");
            }
            running.policies = fresh.policies;
            tracing::info!("configuration reloaded");
        }
    }
}

/// The top-level sections that differ, other than those applied at once.
fn changed_sections(old: &Config, new: &Config) -> Vec<&'static str> {
    let as_toml = |c: &Config| toml::Value::try_from(c).ok();
    let (Some(toml::Value::Table(old)), Some(toml::Value::Table(new))) = (as_toml(old), as_toml(new)) else {
        return Vec::new();
    };
    const SECTIONS: [&str; 12] = [
        "data_dir", "store", "api", "catalog", "notices", "calendar", "ca", "log", "services", "proxy", "relay", "gate",
    ];
    SECTIONS.into_iter().filter(|s| old.get(*s) != new.get(*s)).collect()
}
