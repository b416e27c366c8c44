//! The catalog as `perimeter up` and the other layers use it: the `[catalog]` section,
//! the snapshot publisher and the observation writers as services, an operator's list
//! in the export shape, the answer to a lookup, a block's target.
//!
//! Must not: judge a list or decide a block (the `catalog` crate does).

use std::net::IpAddr;
use std::time::Duration;

use catalog::format::ExportRow;
use policies::duration;
use serde::{Deserialize, Serialize};
use snapshot::{Class, ObservationSink, SnapshotHandle};
use store::{Generations, Store};
use tokio::sync::mpsc;

use super::service::{Service, Stop};

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

impl Default for CatalogConfig {
    fn default() -> CatalogConfig {
        CatalogConfig { refresh: Duration::from_millis(250), max_unknown_per_operator: 100_000 }
    }
}

/// Keeps the data plane's snapshot in step with the store (`catalog::publish`).
pub struct Publisher {
    handle: SnapshotHandle,
    store: Store,
    generations: Generations,
    nudged: mpsc::Receiver<()>,
}

impl Publisher {
    /// The publisher of `handle`, and the sender that asks it to rebuild at once (after
    /// a change made in this process).
    pub fn new(handle: SnapshotHandle, store: Store, generations: Generations) -> (Publisher, mpsc::Sender<()>) {
        let (nudge, nudged) = mpsc::channel(1);
        (Publisher { handle, store, generations, nudged }, nudge)
    }
}

impl Service for Publisher {
    const NAME: &'static str = "snapshot publisher";

    async fn run(self, stop: Stop) -> anyhow::Result<()> {
        catalog::publish::run(self.handle, self.store, self.generations, self.nudged, stop.token()).await;
        Ok(())
    }
}

/// Writes the sightings a gateway reports into its sink to the store
/// (`catalog::ingest`); when stopped, writes what it received before it returns.
pub struct ObservationWriter(catalog::ingest::Writer);

impl ObservationWriter {
    /// A sink for a gateway (100,000 sightings buffered, written every second) and its
    /// writer; sightings of the gateway's `own` addresses are never written.
    pub fn new(store: Store, own: Vec<IpAddr>) -> (ObservationSink, ObservationWriter) {
        let (sink, writer) = catalog::ingest::sink(store, 100_000, Duration::from_secs(1), own);
        (sink, ObservationWriter(writer))
    }
}

impl Service for ObservationWriter {
    const NAME: &'static str = "observation writer";

    async fn run(self, stop: Stop) -> anyhow::Result<()> {
        self.0.run(stop.token()).await;
        Ok(())
    }
}

/// An operator's current list in the export shape.
pub async fn export_rows(store: &Store, operator: &str) -> anyhow::Result<Vec<ExportRow>> {
    let list = store.list(operator).await?;
    Ok(list
        .into_iter()
        .map(|a| ExportRow { prefix: a.prefix.to_string(), bin: a.bin.to_string(), comment: a.comment })
        .collect())
}

/// The answer to a lookup, as printed and as served by the API.
#[derive(Serialize)]
pub struct Lookup<'s> {
    pub ip: IpAddr,
    #[serde(flatten)]
    pub class: Class<'s>,
}

impl<'s> Lookup<'s> {
    pub fn new(ip: IpAddr, class: Class<'s>) -> Lookup<'s> {
        Lookup { ip, class }
    }

    pub fn text(&self) -> String {
        match &self.class {
            Class::Known { organisation, operator, prefix } => {
                format!(
                    "{}: known, {prefix} of {} '{}' via operator {operator}",
                    self.ip, organisation.bin, organisation.name
                )
            }
            Class::Unknown => format!("{}: unknown (in no operator's list)", self.ip),
            Class::Blocked { reason, since, prefix } => {
                format!("{}: blocked ({prefix}) since {}: {reason}", self.ip, super::output::when(*since))
            }
        }
    }
}

/// An address or a prefix.
pub fn target(text: &str) -> anyhow::Result<snapshot::Net> {
    if let Ok(ip) = text.parse::<std::net::IpAddr>() {
        return Ok(snapshot::Net::host(ip));
    }
    Ok(text.parse()?)
}
