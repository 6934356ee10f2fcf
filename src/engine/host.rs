//! Where a lab is published: on this machine when the engine is on a local socket, else
//! on the engine's own machine. The URLs rjup prints, its own probes, the free-port check
//! and the self-signed certificate's names all follow from this one value, so they can
//! never disagree about which machine the lab is on.

use std::future::Future;
use std::net::IpAddr;

use crate::engine::endpoint::Endpoint;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LabHost {
    /// The engine runs here: the lab is reached at this machine's interfaces.
    Local,
    /// The engine runs on another machine, which users reach as `name`, and rjup at
    /// `addr` (`None` when `name` does not resolve here).
    Remote { name: String, addr: Option<IpAddr> },
}

impl LabHost {
    pub fn is_remote(&self) -> bool {
        matches!(self, LabHost::Remote { .. })
    }
}

/// Where the engine of `endpoint` publishes labs. The endpoint's own host first, as ssh
/// would reach it; when that does not resolve here (a name only a proxy or a jump host
/// knows), the name the engine gives itself, which `engine_name` asks for only then.
pub async fn locate(
    endpoint: &Endpoint,
    engine_name: impl Future<Output = Option<String>>,
) -> LabHost {
    let Some((scheme, host)) = named_host(&endpoint.host) else {
        return LabHost::Local;
    };
    let host = if scheme == "ssh" {
        ssh_hostname(&host).await.unwrap_or(host)
    } else {
        host
    };
    if let Some(addr) = resolve(&host).await {
        return LabHost::Remote {
            name: host,
            addr: Some(addr),
        };
    }
    let name = engine_name.await.filter(|n| !n.is_empty()).unwrap_or(host);
    let addr = resolve(&name).await;
    LabHost::Remote { name, addr }
}

/// The scheme and host of a `tcp://HOST:PORT` or `ssh://[USER@]HOST[:PORT]` endpoint;
/// `None` for a local socket.
fn named_host(endpoint: &str) -> Option<(&str, String)> {
    let (scheme, rest) = endpoint.split_once("://")?;
    if !matches!(scheme, "tcp" | "http" | "https" | "ssh") {
        return None;
    }
    let authority = rest.split('/').next()?;
    let hostport = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
    let host = match hostport.strip_prefix('[') {
        Some(v6) => v6.split(']').next()?,
        None => hostport.split(':').next()?,
    };
    (!host.is_empty()).then(|| (scheme, host.to_string()))
}

/// What ssh calls the machine, since `~/.ssh/config` may give it an alias: `ssh -G`
/// only reads the configuration and connects nowhere.
async fn ssh_hostname(host: &str) -> Option<String> {
    let out = tokio::process::Command::new("ssh")
        .args(["-G", "--", host])
        .stdin(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .output()
        .await
        .ok()?;
    if !out.status.success() {
        return None;
    }
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .find_map(|line| {
            let name = line.strip_prefix("hostname ")?.trim();
            (!name.is_empty()).then(|| name.to_string())
        })
}

/// The address `name` resolves to here, IPv4 first, as browsers on most networks try.
async fn resolve(name: &str) -> Option<IpAddr> {
    if let Ok(ip) = name.parse::<IpAddr>() {
        return Some(ip);
    }
    let addrs: Vec<IpAddr> = tokio::net::lookup_host((name, 0))
        .await
        .ok()?
        .map(|a| a.ip())
        .collect();
    addrs
        .iter()
        .find(|a| a.is_ipv4())
        .or(addrs.first())
        .copied()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::endpoint::{Endpoint, Source};

    fn endpoint(host: &str) -> Endpoint {
        Endpoint {
            name: host.into(),
            source: Source::HostVar,
            host: host.into(),
            tls: None,
        }
    }

    #[test]
    fn the_host_is_the_one_the_endpoint_names() {
        assert_eq!(named_host("unix:///var/run/docker.sock"), None);
        assert_eq!(
            named_host("tcp://10.0.0.5:2376"),
            Some(("tcp", "10.0.0.5".into()))
        );
        assert_eq!(
            named_host("ssh://ada@gpu-box:2222"),
            Some(("ssh", "gpu-box".into()))
        );
        assert_eq!(named_host("ssh://gpu-box"), Some(("ssh", "gpu-box".into())));
        assert_eq!(named_host("tcp://[::1]:2375"), Some(("tcp", "::1".into())));
    }

    #[tokio::test]
    async fn a_local_socket_is_this_machine_and_an_address_is_itself() {
        let never = async { panic!("the engine was asked without need") };
        assert_eq!(
            locate(&endpoint("unix:///var/run/docker.sock"), never).await,
            LabHost::Local
        );
        let host = locate(&endpoint("tcp://127.0.0.1:2375"), async { None }).await;
        assert_eq!(
            host,
            LabHost::Remote {
                name: "127.0.0.1".into(),
                addr: Some("127.0.0.1".parse().unwrap())
            }
        );
    }

    #[tokio::test]
    async fn a_name_that_resolves_here_is_kept_and_the_engine_not_asked() {
        // localhost comes from /etc/hosts: no query leaves this machine.
        let never = async { panic!("the engine was asked without need") };
        let host = locate(&endpoint("tcp://localhost:2375"), never).await;
        let LabHost::Remote { name, addr } = host else {
            panic!("{host:?}")
        };
        assert_eq!(name, "localhost");
        assert!(addr.is_some_and(|a| a.is_loopback()), "{addr:?}");
    }
}
