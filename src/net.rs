//! This host's side of the network: the addresses a lab is reached on, and whether a
//! port is free.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, TcpListener};

/// Interfaces other machines cannot reach the lab through: container bridges and tunnels
/// to containers.
const INTERNAL_PREFIXES: &[&str] = &["docker", "br-", "veth", "virbr", "cni", "flannel", "podman"];

/// Every URL the lab can be opened at, the preferred one first.
pub fn urls(scheme: &str, bind: IpAddr, port: u16) -> Vec<String> {
    let mut hosts: Vec<String> = Vec::new();
    if bind.is_unspecified() {
        hosts.extend(reachable_addresses().iter().map(url_host));
        if let Some(name) = hostname() {
            hosts.push(name);
        }
        if hosts.is_empty() {
            hosts.push(url_host(&loopback_for(bind)));
        }
    } else {
        hosts.push(url_host(&bind));
    }
    hosts
        .into_iter()
        .map(|h| format!("{scheme}://{h}:{port}/lab"))
        .collect()
}

/// The addresses a lab published on `bind` is reached at: for a certificate's names.
pub fn published_addresses(bind: IpAddr) -> Vec<IpAddr> {
    if bind.is_unspecified() {
        reachable_addresses()
    } else {
        vec![bind]
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

/// Where rjup itself connects to reach a lab published on `bind`.
pub fn probe_address(bind: IpAddr, port: u16) -> SocketAddr {
    let ip = if bind.is_unspecified() {
        loopback_for(bind)
    } else {
        bind
    };
    SocketAddr::new(ip, port)
}

fn loopback_for(bind: IpAddr) -> IpAddr {
    match bind {
        IpAddr::V4(_) => IpAddr::V4(Ipv4Addr::LOCALHOST),
        IpAddr::V6(_) => IpAddr::V6(Ipv6Addr::LOCALHOST),
    }
}

/// Whether nothing on this host listens on `bind:port`, by trying to listen there.
pub fn can_listen(bind: IpAddr, port: u16) -> std::io::Result<()> {
    TcpListener::bind(SocketAddr::new(bind, port)).map(drop)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_specific_bind_address_gives_exactly_one_url() {
        assert_eq!(
            urls("http", "127.0.0.1".parse().unwrap(), 9000),
            ["http://127.0.0.1:9000/lab"]
        );
        assert_eq!(
            urls("https", "::1".parse().unwrap(), 9000),
            ["https://[::1]:9000/lab"]
        );
    }

    #[test]
    fn all_interfaces_gives_host_addresses_but_no_loopback() {
        let urls = urls("http", IpAddr::V4(Ipv4Addr::UNSPECIFIED), 8888);
        assert!(!urls.is_empty());
        assert!(urls.iter().all(|u| u.ends_with(":8888/lab")));
        assert!(urls.iter().all(|u| !u.contains("0.0.0.0")));
    }

    #[test]
    fn the_probe_of_an_all_interfaces_lab_goes_to_loopback() {
        assert_eq!(
            probe_address("0.0.0.0".parse().unwrap(), 1).to_string(),
            "127.0.0.1:1"
        );
        assert_eq!(
            probe_address("10.0.0.2".parse().unwrap(), 1).to_string(),
            "10.0.0.2:1"
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
}
