//! The network a lab is published on: the addresses it is reached at, and whether a
//! port is free, on this machine or, for a remote engine, on the engine's host.

use std::io::ErrorKind;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, TcpListener};
use std::time::Duration;

use crate::engine::host::LabHost;

/// Interfaces other machines cannot reach the lab through: container bridges and tunnels
/// to containers.
const INTERNAL_PREFIXES: &[&str] = &["docker", "br-", "veth", "virbr", "cni", "flannel", "podman"];

/// Every URL the lab can be opened at, the preferred one first.
pub fn urls(scheme: &str, host: &LabHost, bind: IpAddr, port: u16) -> Vec<String> {
    let mut hosts: Vec<String> = Vec::new();
    match host {
        _ if !bind.is_unspecified() => hosts.push(url_host(&bind)),
        LabHost::Local => {
            hosts.extend(reachable_addresses().iter().map(url_host));
            hosts.extend(hostname());
        }
        LabHost::Remote { name, addr } => {
            hosts.push(match name.parse::<IpAddr>() {
                Ok(ip) => url_host(&ip),
                Err(_) => name.clone(),
            });
            hosts.extend(
                addr.filter(|a| a.to_string() != *name)
                    .map(|a| url_host(&a)),
            );
        }
    }
    if hosts.is_empty() {
        hosts.push(url_host(&loopback_for(bind)));
    }
    hosts
        .into_iter()
        .map(|h| format!("{scheme}://{h}:{port}/lab"))
        .collect()
}

/// The addresses a lab published on `bind` is reached at: for a certificate's names.
pub fn published_addresses(host: &LabHost, bind: IpAddr) -> Vec<IpAddr> {
    match host {
        _ if !bind.is_unspecified() => vec![bind],
        LabHost::Local => reachable_addresses(),
        LabHost::Remote { addr, .. } => addr.iter().copied().collect(),
    }
}

/// The name of the machine a lab runs on, when it has one that is not an address: for a
/// certificate's names.
pub fn host_name(host: &LabHost) -> Option<String> {
    match host {
        LabHost::Local => hostname(),
        LabHost::Remote { name, .. } => name.parse::<IpAddr>().is_err().then(|| name.clone()),
    }
}

fn url_host(addr: &IpAddr) -> String {
    match addr {
        IpAddr::V4(a) => a.to_string(),
        IpAddr::V6(a) => format!("[{a}]"),
    }
}

/// Non-loopback IPv4 addresses of interfaces that are up, the default route's first.
pub fn reachable_addresses() -> Vec<IpAddr> {
    let Ok(interfaces) = if_addrs::get_if_addrs() else {
        return Vec::new();
    };
    let default_if = default_route_interface();
    let mut found: Vec<(bool, IpAddr)> = interfaces
        .into_iter()
        .filter(|i| !i.is_loopback() && i.ip().is_ipv4())
        .filter(|i| !INTERNAL_PREFIXES.iter().any(|p| i.name.starts_with(p)))
        .map(|i| (default_if.as_deref() != Some(i.name.as_str()), i.ip()))
        .collect();
    found.sort();
    found.dedup();
    found.into_iter().map(|(_, ip)| ip).collect()
}

fn default_route_interface() -> Option<String> {
    let table = std::fs::read_to_string("/proc/net/route").ok()?;
    table.lines().skip(1).find_map(|line| {
        let mut fields = line.split_whitespace();
        let name = fields.next()?;
        (fields.next()? == "00000000").then(|| name.to_string())
    })
}

pub fn hostname() -> Option<String> {
    let name = gethostname::gethostname().to_string_lossy().into_owned();
    (!name.is_empty() && name != "localhost").then_some(name)
}

/// Where rjup itself connects to reach a lab published on `bind`: loopback for a lab on
/// this machine's every address, the engine's host for one on a remote engine's; `None`
/// when the engine's host has no address here.
pub fn probe_address(host: &LabHost, bind: IpAddr, port: u16) -> Option<SocketAddr> {
    let ip = match host {
        _ if !bind.is_unspecified() => bind,
        LabHost::Local => loopback_for(bind),
        LabHost::Remote { addr, .. } => (*addr)?,
    };
    Some(SocketAddr::new(ip, port))
}

fn loopback_for(bind: IpAddr) -> IpAddr {
    match bind {
        IpAddr::V4(_) => IpAddr::V4(Ipv4Addr::LOCALHOST),
        IpAddr::V6(_) => IpAddr::V6(Ipv6Addr::LOCALHOST),
    }
}

/// Who, other than a container, uses a port of the lab's host.
#[derive(Debug, PartialEq, Eq)]
pub enum PortUse {
    Free,
    /// Held, by what the words say.
    Taken(String),
    /// `bind` is not an address of this machine, whose engine publishes there.
    NotLocal,
}

/// How long a remote engine's host may take to answer on a port before it counts as free:
/// a firewall that drops the probe says nothing, and the engine then has the last word.
const REMOTE_PORT_PROBE: Duration = Duration::from_millis(500);

/// Whether `bind:port` is free on the lab's host. Here, by trying to listen there; on a
/// remote engine's host, where rjup cannot listen, by whether anything answers there.
pub async fn port_use(host: &LabHost, bind: IpAddr, port: u16) -> PortUse {
    if !host.is_remote() {
        return match can_listen(bind, port) {
            Ok(()) => PortUse::Free,
            Err(e) if e.kind() == ErrorKind::AddrInUse => {
                PortUse::Taken("another program on this host".into())
            }
            Err(e) if e.kind() == ErrorKind::AddrNotAvailable => PortUse::NotLocal,
            // Privileged ports: the engine, not rjup, will listen there.
            Err(_) => PortUse::Free,
        };
    }
    let Some(addr) = probe_address(host, bind, port) else {
        return PortUse::Free;
    };
    let connect = tokio::net::TcpStream::connect(addr);
    match tokio::time::timeout(REMOTE_PORT_PROBE, connect).await {
        Ok(Ok(_)) => PortUse::Taken(format!(
            "another program on the engine's host (something answers at {addr})"
        )),
        _ => PortUse::Free,
    }
}

/// Whether nothing on this host listens on `bind:port`, by trying to listen there.
fn can_listen(bind: IpAddr, port: u16) -> std::io::Result<()> {
    TcpListener::bind(SocketAddr::new(bind, port)).map(drop)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_specific_bind_address_gives_exactly_one_url() {
        assert_eq!(
            urls("http", &LabHost::Local, "127.0.0.1".parse().unwrap(), 9000),
            ["http://127.0.0.1:9000/lab"]
        );
        assert_eq!(
            urls("https", &LabHost::Local, "::1".parse().unwrap(), 9000),
            ["https://[::1]:9000/lab"]
        );
    }

    #[test]
    fn all_interfaces_gives_host_addresses_but_no_loopback() {
        let urls = urls(
            "http",
            &LabHost::Local,
            IpAddr::V4(Ipv4Addr::UNSPECIFIED),
            8888,
        );
        assert!(!urls.is_empty());
        assert!(urls.iter().all(|u| u.ends_with(":8888/lab")));
        assert!(urls.iter().all(|u| !u.contains("0.0.0.0")));
    }

    #[test]
    fn the_probe_of_an_all_interfaces_lab_goes_to_loopback() {
        assert_eq!(
            probe_address(&LabHost::Local, "0.0.0.0".parse().unwrap(), 1),
            Some("127.0.0.1:1".parse().unwrap())
        );
        assert_eq!(
            probe_address(&LabHost::Local, "10.0.0.2".parse().unwrap(), 1),
            Some("10.0.0.2:1".parse().unwrap())
        );
    }

    #[test]
    fn a_held_port_cannot_be_listened_on() {
        let held = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = held.local_addr().unwrap().port();
        assert!(can_listen("127.0.0.1".parse().unwrap(), port).is_err());
        drop(held);
        assert!(can_listen("127.0.0.1".parse().unwrap(), port).is_ok());
    }

    fn remote(name: &str) -> LabHost {
        LabHost::Remote {
            name: name.into(),
            addr: Some("10.9.8.7".parse().unwrap()),
        }
    }

    #[test]
    fn a_remote_engine_s_lab_is_at_the_engine_s_host() {
        let all = IpAddr::V4(Ipv4Addr::UNSPECIFIED);
        assert_eq!(
            urls("http", &remote("10.9.8.7"), all, 8888),
            ["http://10.9.8.7:8888/lab"]
        );
        assert_eq!(
            urls("https", &remote("gpu-box"), all, 8888),
            ["https://gpu-box:8888/lab", "https://10.9.8.7:8888/lab"]
        );
        let given = "10.1.1.1".parse().unwrap();
        assert_eq!(
            urls("http", &remote("gpu-box"), given, 9000),
            ["http://10.1.1.1:9000/lab"]
        );
        assert_eq!(
            probe_address(&remote("gpu-box"), all, 9000),
            Some("10.9.8.7:9000".parse().unwrap())
        );
        let unknown = LabHost::Remote {
            name: "far".into(),
            addr: None,
        };
        assert_eq!(probe_address(&unknown, all, 1), None);
        assert_eq!(
            published_addresses(&remote("gpu-box"), all),
            [IpAddr::from([10, 9, 8, 7])]
        );
        assert_eq!(host_name(&remote("gpu-box")).as_deref(), Some("gpu-box"));
        assert_eq!(host_name(&remote("10.9.8.7")), None);
    }

    #[tokio::test]
    async fn a_remote_port_is_taken_when_something_answers_there() {
        let held = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = held.local_addr().unwrap().port();
        let host = LabHost::Remote {
            name: "127.0.0.1".into(),
            addr: Some("127.0.0.1".parse().unwrap()),
        };
        let all = IpAddr::V4(Ipv4Addr::UNSPECIFIED);
        assert!(
            matches!(port_use(&host, all, port).await, PortUse::Taken(w) if w.contains("engine's host"))
        );
        drop(held);
        assert_eq!(port_use(&host, all, port).await, PortUse::Free);
        // No address of this machine, but a remote engine's: not refused here.
        let elsewhere = "203.0.113.9".parse().unwrap();
        assert_eq!(
            port_use(&LabHost::Local, elsewhere, port).await,
            PortUse::NotLocal
        );
    }
}
