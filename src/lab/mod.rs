//! What a lab is, whatever runs it: the container or Swarm service rjup wants, the
//! labels it finds labs by, who it admits, its certificate, its image and where it is
//! published. Nothing here decides how a lab is run: that is [`crate::runtime`].

pub mod acme;
pub mod admission;
pub mod certificate;
pub mod collaboration;
pub mod container;
pub mod image;
pub mod net;
pub mod service;

use std::collections::HashMap;

use crate::settings::Spec;
use crate::tls::Tls;

pub mod label {
    pub const PROJECT: &str = "io.rjup.project";
    pub const NAME: &str = "io.rjup.name";
    pub const CONFIG_HASH: &str = "io.rjup.config-hash";
    pub const IMAGE: &str = "io.rjup.image";
    pub const VERSION: &str = "io.rjup.version";
    pub const PORT: &str = "io.rjup.port";
    pub const BIND: &str = "io.rjup.bind";
    pub const SCHEME: &str = "io.rjup.scheme";
    /// `allow:`, comma-separated; absent when every address is admitted.
    pub const ALLOW: &str = "io.rjup.allow";
    /// `collaboration:`: `true` or absent.
    pub const COLLABORATION: &str = "io.rjup.collaboration";
}

/// The home rjup makes for the lab user in pulled images, which have none for its uid.
pub const PULLED_HOME: &str = "/home/lab";

/// What a lab is made from, whatever runs it.
pub struct Inputs<'a> {
    pub spec: &'a Spec,
    pub image_reference: &'a str,
    pub image_id: &'a str,
    pub pulled: bool,
    pub host_port: u16,
    pub hashed_password: &'a str,
    pub cookie_secret: &'a str,
    pub tls: Option<&'a Tls>,
    /// `tls: acme`: the certificate the engine's renewer keeps in a volume.
    pub acme: Option<&'a acme::AcmeLab>,
    /// The named accounts' file ([`crate::jupyter::accounts::Accounts::lab_file`]).
    pub accounts: &'a [u8],
    /// The engine is rootless ([`crate::engine::Flavour`]).
    pub rootless: bool,
    /// The engine is Podman ([`crate::engine::Flavour`]).
    pub podman: bool,
}

impl Inputs<'_> {
    /// How the lab serves HTTPS.
    pub fn https(&self) -> crate::jupyter::server_config::Https<'_> {
        use crate::jupyter::server_config::Https;
        match (self.acme, self.tls) {
            (Some(acme), _) => Https::Mounted {
                certfile: &acme.paths.0,
                keyfile: &acme.paths.1,
                status_file: &acme.paths.2,
            },
            (None, Some(tls)) => Https::Given(tls),
            (None, None) => Https::Off,
        }
    }
}

/// What rjup finds its labs by, and reads their settings back from.
pub fn labels(inputs: &Inputs<'_>, config_hash: &str) -> HashMap<String, String> {
    let mut labels = HashMap::from([
        (
            label::PROJECT.to_string(),
            inputs.spec.dir.display().to_string(),
        ),
        (label::NAME.to_string(), inputs.spec.name.clone()),
        (label::CONFIG_HASH.to_string(), config_hash.to_string()),
        (label::IMAGE.to_string(), inputs.image_id.to_string()),
        (
            label::VERSION.to_string(),
            env!("CARGO_PKG_VERSION").to_string(),
        ),
        (label::PORT.to_string(), inputs.host_port.to_string()),
        (label::BIND.to_string(), inputs.spec.bind.to_string()),
        (label::SCHEME.to_string(), inputs.spec.scheme().to_string()),
    ]);
    let spec = inputs.spec;
    if !spec.allow.is_empty() {
        let allow: Vec<String> = spec.allow.iter().map(ToString::to_string).collect();
        labels.insert(label::ALLOW.to_string(), allow.join(","));
    }
    if spec.collaboration {
        labels.insert(label::COLLABORATION.to_string(), "true".to_string());
    }
    labels
}
