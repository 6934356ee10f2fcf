//! Whom a lab admits, and whether rjup can promise it. The lab judges each request by
//! the address it comes from (`allow:`, and its login throttle), so a list holds only
//! where that address is the client's own. An engine that forwards a published port
//! through a proxy in user space hands the lab the proxy's address instead, the
//! engine's gateway, for every client it forwards: the lab cannot tell them apart, and
//! it admits the gateway only for rjup's own requests, which carry a key
//! ([`crate::lab_client::PROBE_HEADER`]). Where a list cannot hold, rjup says so rather
//! than pretend: `up` refuses or warns, and `status` says what is admitted instead.

use std::net::IpAddr;

use crate::engine::Engine;

/// How the engine delivers clients to a lab's published port, as far as it decides
/// the address the lab sees them come from.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Delivery {
    /// Rootless Docker or rootless Podman: every client through a user-space proxy.
    pub rootless: bool,
    /// Podman, rootful.
    pub podman: bool,
    /// A Swarm service, published in host mode by each node's Docker.
    pub swarm: bool,
    /// Docker's bridge network, where labs run, gives containers IPv6
    /// (`EnableIPv6`): IPv6 clients are then forwarded as themselves.
    pub bridge_ipv6: bool,
}

impl Delivery {
    /// A Swarm service's: each node publishes its port in host mode.
    pub const SWARM: Delivery = Delivery {
        rootless: false,
        podman: false,
        swarm: true,
        bridge_ipv6: false,
    };

    /// Why IPv6 clients of a lab published on an IPv6 address do not reach it from
    /// their own addresses; `None` when they do.
    fn ipv6_proxied(self) -> Option<&'static str> {
        if self.rootless {
            Some("this rootless engine forwards every client through a proxy in user space")
        } else if self.swarm {
            Some("each Swarm node publishes the lab's port in host mode, and its Docker forwards IPv6 clients through its userland proxy (docker-proxy)")
        } else if self.podman {
            // Seen with Podman 4.3 and netavark: conmon holds [::]:PORT, and with no
            // IPv6 on the network nothing forwards it; rjup does not ask Podman's networks.
            Some("Podman delivers IPv6 clients to a lab as themselves only on a network with IPv6 (on its default IPv4 network their connections are never answered), and rjup cannot tell which")
        } else if !self.bridge_ipv6 {
            Some("the engine's bridge network has no IPv6 (EnableIPv6 is false), so Docker forwards IPv6 clients through its userland proxy (docker-proxy)")
        } else {
            None
        }
    }

    /// How to let IPv6 clients arrive as themselves, where rjup knows one.
    fn ipv6_fix(self) -> &'static str {
        if self.rootless || self.swarm || self.podman {
            ""
        } else {
            ", or enable IPv6 on Docker's bridge network (\"ipv6\": true, \"ip6tables\": true and a \"fixed-cidr-v6\" in /etc/docker/daemon.json) so that IPv6 clients reach the lab as themselves"
        }
    }
}

/// How `engine` delivers clients to a lab container published on `bind`. The bridge
/// is asked about only for an IPv6 `bind`, the one case where it matters.
pub async fn delivery(engine: &Engine, bind: IpAddr) -> anyhow::Result<Delivery> {
    let flavour = engine.flavour().await?;
    let bridge_ipv6 = if bind.is_ipv6() && !flavour.podman && !flavour.rootless {
        engine.bridge_has_ipv6().await?
    } else {
        false
    };
    Ok(Delivery {
        rootless: flavour.rootless,
        podman: flavour.podman,
        swarm: false,
        bridge_ipv6,
    })
}

/// What `up` must say about publishing a lab on `bind`, with a list of admitted
/// clients or not (`listed`): `Err` with the one line that refuses a combination the
/// lab cannot enforce, else the warnings to print.
pub fn judge(bind: IpAddr, listed: bool, delivery: Delivery) -> Result<Vec<String>, String> {
    let mut warnings = Vec::new();
    if let (true, Some(why)) = (bind.is_ipv6(), delivery.ipv6_proxied()) {
        if listed {
            return Err(format!(
                "`allow:` cannot hold with `bind: {bind}`: {why}, so the lab sees every IPv6 client come from the engine's gateway instead of its own address and cannot tell listed clients from others; publish on IPv4 (`bind: 0.0.0.0` or an IPv4 address of this host) and list IPv4 clients{}",
                delivery.ipv6_fix()
            ));
        }
        if delivery.podman && !delivery.rootless {
            warnings.push(format!(
                "the lab is published on {bind}, and {why}; publish on IPv4 to be sure IPv6 clients are not left waiting"
            ));
        } else if !delivery.rootless {
            warnings.push(format!(
                "the lab is published on {bind}, and {why}: every IPv6 client reaches the lab from the engine's gateway, so the lab cannot tell them apart (or from other containers and this host's own browsers) and they share one login-throttling record, where five wrong passwords from any of them make all of them wait; publish on IPv4{}",
                delivery.ipv6_fix()
            ));
        }
    }
    if delivery.rootless && listed {
        warnings.push(ROOTLESS.to_string());
    }
    Ok(warnings)
}

/// Why a list (`listed`) of a lab published on `bind` does not hold, if it does not:
/// what `status` says instead of the list.
pub fn unenforceable(bind: IpAddr, listed: bool, delivery: Delivery) -> Option<String> {
    if !listed {
        return None;
    }
    if delivery.rootless {
        return Some(ROOTLESS.to_string());
    }
    let why = delivery.ipv6_proxied().filter(|_| bind.is_ipv6())?;
    Some(format!(
        "published on {bind}, and {why}, so the lab sees every IPv6 client come from the gateway and refuses it, listed or not; run `rjup up` for what to do"
    ))
}

/// A rootless engine's port forwarding hides every client's address, whatever `bind`.
/// rjup still starts the lab there (a config shared between engines stays one file).
const ROOTLESS: &str = "`allow:` cannot be enforced on this rootless engine: its port forwarding hides client addresses, so every client reaches the lab from the engine's gateway, which the list does not admit: the lab refuses every client, listed or not, and admits only rjup's own requests; drop `allow:` and keep the lab's port closed to others in the host's firewall, or run the lab on a rootful engine";

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    const DOCKER: Delivery = Delivery {
        rootless: false,
        podman: false,
        swarm: false,
        bridge_ipv6: false,
    };

    #[test]
    fn a_list_with_an_ipv6_bind_through_a_userland_proxy_is_refused() {
        for delivery in [
            DOCKER,
            Delivery {
                podman: true,
                ..DOCKER
            },
            Delivery {
                swarm: true,
                ..DOCKER
            },
            Delivery {
                rootless: true,
                ..DOCKER
            },
        ] {
            for bind in ["::", "fd31:231::1"] {
                let why = judge(ip(bind), true, delivery).unwrap_err();
                assert!(why.starts_with("`allow:` cannot hold"), "{why}");
                assert!(why.contains("bind: 0.0.0.0"), "the fix: {why}");
                assert!(unenforceable(ip(bind), true, delivery).is_some());
            }
        }
        let why = judge(ip("::"), true, DOCKER).unwrap_err();
        assert!(
            why.contains("EnableIPv6") && why.contains("ip6tables"),
            "{why}"
        );
    }

    #[test]
    fn a_list_holds_on_ipv4_and_on_a_bridge_with_ipv6() {
        for bind in ["0.0.0.0", "10.231.0.1", "127.0.0.1"] {
            assert_eq!(judge(ip(bind), true, DOCKER), Ok(vec![]));
            assert_eq!(unenforceable(ip(bind), true, DOCKER), None);
        }
        let ipv6 = Delivery {
            bridge_ipv6: true,
            ..DOCKER
        };
        assert_eq!(judge(ip("::"), true, ipv6), Ok(vec![]));
        assert_eq!(judge(ip("::"), false, ipv6), Ok(vec![]));
        assert_eq!(unenforceable(ip("::"), true, ipv6), None);
    }

    #[test]
    fn an_ipv6_bind_through_a_proxy_without_a_list_is_one_warning() {
        let podman = Delivery {
            podman: true,
            ..DOCKER
        };
        let warnings = judge(ip("::"), false, podman).unwrap();
        assert_eq!(warnings.len(), 1);
        assert!(warnings[0].contains("never answered"), "{warnings:?}");
        let warnings = judge(ip("::"), false, DOCKER).unwrap();
        assert_eq!(warnings.len(), 1);
        assert!(
            warnings[0].contains("one login-throttling record"),
            "{warnings:?}"
        );
        assert_eq!(
            unenforceable(ip("::"), false, DOCKER),
            None,
            "nothing listed"
        );
        assert_eq!(judge(ip("0.0.0.0"), false, DOCKER), Ok(vec![]));
    }

    #[test]
    fn an_allowlist_on_a_rootless_engine_is_said_to_be_unenforceable() {
        let rootless = Delivery {
            rootless: true,
            ..DOCKER
        };
        let warnings = judge(ip("0.0.0.0"), true, rootless).unwrap();
        assert_eq!(warnings.len(), 1);
        assert!(warnings[0].contains("cannot be enforced") && warnings[0].contains("rootless"));
        assert!(unenforceable(ip("0.0.0.0"), true, rootless).is_some());
        assert_eq!(judge(ip("0.0.0.0"), false, rootless), Ok(vec![]));
        assert_eq!(judge(ip("::"), false, rootless), Ok(vec![]));
        assert_eq!(judge(ip("0.0.0.0"), true, DOCKER), Ok(vec![]));
    }
}
