//! rjup.yaml as written: every field optional, each value with where it was written,
//! so that [`super::validate`] can say where a bad one is.

use std::collections::BTreeMap;

use serde::Deserialize;
use serde_saphyr::Spanned;

/// The file as written. Every field is optional: an absent file means all defaults.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConfigFile {
    pub name: Option<Spanned<String>>,
    pub port: Option<Spanned<u16>>,
    pub bind: Option<Spanned<String>>,
    pub image: Option<Spanned<String>>,
    pub build: Option<Spanned<BuildSection>>,
    pub env: Option<BTreeMap<String, Spanned<String>>>,
    pub check: Option<CheckSection>,
    pub tls: Option<Spanned<TlsValue>>,
    pub acme: Option<Spanned<AcmeSection>>,
    pub resources: Option<ResourcesSection>,
    pub gpus: Option<Spanned<String>>,
    pub swarm: Option<Spanned<SwarmSection>>,
    pub allow: Option<Spanned<Vec<Spanned<String>>>>,
    pub collaboration: Option<Spanned<bool>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SwarmSection {
    pub registry: Option<Spanned<String>>,
    pub constraints: Option<Vec<Spanned<String>>>,
}

#[derive(Debug)]
pub enum TlsValue {
    Mode(String),
    Files(TlsFiles),
}

/// By hand rather than `untagged`, which buffers the value and so loses where
/// `tls.cert` and `tls.key` are written: messages about those files name their lines.
impl<'de> Deserialize<'de> for TlsValue {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Visitor;
        impl<'de> serde::de::Visitor<'de> for Visitor {
            type Value = TlsValue;

            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("`self-signed`, `acme`, or a mapping with `cert` and `key`")
            }

            fn visit_str<E: serde::de::Error>(self, mode: &str) -> Result<TlsValue, E> {
                Ok(TlsValue::Mode(mode.to_string()))
            }

            fn visit_bool<E: serde::de::Error>(self, on: bool) -> Result<TlsValue, E> {
                Ok(TlsValue::Mode(on.to_string()))
            }

            fn visit_map<A: serde::de::MapAccess<'de>>(self, map: A) -> Result<TlsValue, A::Error> {
                TlsFiles::deserialize(serde::de::value::MapAccessDeserializer::new(map))
                    .map(TlsValue::Files)
            }
        }
        deserializer.deserialize_any(Visitor)
    }
}

/// `acme:`, for `tls: acme`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AcmeSection {
    pub email: Option<Spanned<String>>,
    pub names: Option<Vec<Spanned<String>>>,
    pub directory: Option<Spanned<String>>,
    pub ca_certificates: Option<Spanned<String>>,
    pub challenge: Option<Spanned<String>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TlsFiles {
    pub cert: Spanned<String>,
    pub key: Spanned<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ResourcesSection {
    pub memory: Option<Spanned<String>>,
    pub cpus: Option<Spanned<f64>>,
    pub pids: Option<Spanned<u32>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CheckSection {
    pub notebooks: Option<Vec<Spanned<String>>>,
    pub timeout: Option<Spanned<u64>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BuildSection {
    pub base: Option<Spanned<String>>,
    pub packages: Option<Vec<Spanned<String>>>,
    pub requirements: Option<Spanned<String>>,
    pub apt: Option<Vec<Spanned<String>>>,
    pub post_build: Option<Spanned<String>>,
    pub ca_certificates: Option<Vec<Spanned<String>>>,
}
