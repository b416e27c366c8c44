//! The registry of connected mail systems as the relay reads it: an immutable
//! [`Registry`] (who may send from which address, which domains are ours and where their
//! mail goes, each system's status), published through a [`RegistryHandle`] and swapped
//! whole when the duty team changes something. Persistence lives in the `store` crate.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

use arc_swap::ArcSwap;
use serde::{Deserialize, Serialize};

use crate::envelope::SystemId;

/// A system's status: the workspace's one type for it.
pub use policies::MailStatus as Status;

/// One connected government mail system.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MailSystem {
    pub id: SystemId,
    /// Short unique name, e.g. `minfin-mail`.
    pub name: String,
    /// BIN of the owner organisation.
    pub owner_bin: String,
    /// Mail domains it receives for, lower-case (`minfin.gov.kz`).
    pub domains: Vec<String>,
    /// Addresses its mail servers send from; outbound mail is accepted only from these.
    pub servers: Vec<IpAddr>,
    /// Where inbound mail for its domains is delivered; `None` means the first of
    /// `servers` on port 25.
    pub deliver_to: Option<SocketAddr>,
    /// Technical contacts, notified on suspension.
    pub contacts: Vec<String>,
    pub status: Status,
}

impl MailSystem {
    /// The address inbound mail for this system is delivered to.
    pub fn inbound_target(&self) -> Option<SocketAddr> {
        self.deliver_to.or_else(|| self.servers.first().map(|ip| SocketAddr::new(*ip, 25)))
    }
}

/// Two systems claim the same thing.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RegistryError {
    #[error("domain {domain} is claimed by both {first} and {second}")]
    DomainTwice { domain: String, first: String, second: String },
    #[error("server address {ip} is claimed by both {first} and {second}")]
    ServerTwice { ip: IpAddr, first: String, second: String },
}

/// An immutable view of all connected systems with indexes by sending address and by
/// domain. Disconnected systems are kept (for history) but not indexed.
#[derive(Debug, Default)]
pub struct Registry {
    systems: Vec<MailSystem>,
    by_ip: HashMap<IpAddr, usize>,
    by_domain: HashMap<String, usize>,
    by_id: HashMap<SystemId, usize>,
}

impl Registry {
    /// Builds the view; a domain or address claimed by two live systems is an error.
    pub fn new(systems: Vec<MailSystem>) -> Result<Registry, RegistryError> {
        let mut r = Registry { systems, ..Default::default() };
        for (i, s) in r.systems.iter().enumerate() {
            r.by_id.insert(s.id, i);
            if s.status == Status::Disconnected {
                continue;
            }
            for d in &s.domains {
                if let Some(&j) = r.by_domain.get(d) {
                    let (first, second) = (r.systems[j].name.clone(), s.name.clone());
                    return Err(RegistryError::DomainTwice { domain: d.clone(), first, second });
                }
                r.by_domain.insert(d.clone(), i);
            }
            for ip in &s.servers {
                if let Some(&j) = r.by_ip.get(ip) {
                    let (first, second) = (r.systems[j].name.clone(), s.name.clone());
                    return Err(RegistryError::ServerTwice { ip: *ip, first, second });
                }
                r.by_ip.insert(*ip, i);
            }
        }
        Ok(r)
    }

    /// The live (active or suspended) system whose mail server sends from `ip`.
    pub fn by_server(&self, ip: IpAddr) -> Option<&MailSystem> {
        self.by_ip.get(&ip).map(|&i| &self.systems[i])
    }

    /// The live system that receives mail for `domain` (exact, case-insensitive).
    pub fn by_domain(&self, domain: &str) -> Option<&MailSystem> {
        self.by_domain.get(&domain.to_ascii_lowercase()).map(|&i| &self.systems[i])
    }

    pub fn get(&self, id: SystemId) -> Option<&MailSystem> {
        self.by_id.get(&id).map(|&i| &self.systems[i])
    }

    pub fn systems(&self) -> &[MailSystem] {
        &self.systems
    }
}

/// The current registry, swapped whole; readers never lock.
pub type RegistryHandle = Arc<ArcSwap<Registry>>;

/// A handle holding `registry`.
pub fn handle(registry: Registry) -> RegistryHandle {
    Arc::new(ArcSwap::from_pointee(registry))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sys(id: u32, name: &str, domain: &str, ip: &str, status: Status) -> MailSystem {
        MailSystem {
            id: SystemId(id),
            name: name.into(),
            owner_bin: "000000000000".into(),
            domains: vec![domain.into()],
            servers: vec![ip.parse().unwrap()],
            deliver_to: None,
            contacts: vec![],
            status,
        }
    }

    #[test]
    fn indexes_live_systems_and_refuses_double_claims() {
        let r = Registry::new(vec![
            sys(1, "a", "a.gov.kz", "192.0.2.1", Status::Active),
            sys(2, "b", "b.gov.kz", "192.0.2.2", Status::Suspended),
            sys(3, "c", "a.gov.kz", "192.0.2.1", Status::Disconnected),
        ])
        .unwrap();
        assert_eq!(r.by_domain("A.GOV.KZ").unwrap().name, "a");
        assert_eq!(r.by_server("192.0.2.2".parse().unwrap()).unwrap().name, "b");
        assert_eq!(r.get(SystemId(3)).unwrap().status, Status::Disconnected);
        assert_eq!(r.by_server("192.0.2.1".parse().unwrap()).unwrap().inbound_target().unwrap().port(), 25);
        let err = Registry::new(vec![
            sys(1, "a", "a.gov.kz", "192.0.2.1", Status::Active),
            sys(2, "b", "a.gov.kz", "192.0.2.2", Status::Active),
        ])
        .unwrap_err();
        assert!(err.to_string().contains("a.gov.kz"));
    }
}
