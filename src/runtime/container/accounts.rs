//! The accounts file in a running lab container: copied in, owned by the user the lab
//! runs as, which reads it anew at its next request, so accounts change without a
//! restart. What was last copied where is kept, so an unchanged file is not copied again.

use bollard::models::ContainerInspectResponse;
use sha2::{Digest, Sha256};

use crate::archive::{Owner, ROOT};
use crate::engine::Engine;
use crate::jupyter::server_config;
use crate::lab::container::Desired;
use crate::state::ProjectState;

/// Copies the accounts file into the running lab `container`, owned by the user it runs
/// as; the lab reads it anew at its next request. False when it is not running: its
/// next start copies the file in.
pub async fn push(
    engine: &Engine,
    container: &ContainerInspectResponse,
    lab_file: &[u8],
    state: &ProjectState,
) -> anyhow::Result<bool> {
    let running = container.state.as_ref().and_then(|s| s.running) == Some(true);
    let (Some(id), true) = (container.id.as_deref(), running) else {
        return Ok(false);
    };
    let owner = owner_of(container.config.as_ref().and_then(|c| c.user.as_deref()));
    let archive = server_config::accounts_file(lab_file, owner);
    engine.upload(id, archive.clone()).await?;
    state.set_accounts_copied(&copied(id, &archive))?;
    Ok(true)
}

/// What [`ProjectState::set_accounts_copied`] keeps for `archive` copied into `id`.
fn copied(id: &str, archive: &[u8]) -> String {
    let mut hasher = Sha256::new();
    hasher.update(id.as_bytes());
    hasher.update(archive);
    hex::encode(hasher.finalize())
}

/// Copies the accounts file into the running lab `id` unless it is what was last
/// copied there.
pub async fn sync_if_changed(
    engine: &Engine,
    id: &str,
    desired: &Desired,
    state: &ProjectState,
) -> anyhow::Result<()> {
    let marker = copied(id, &desired.accounts);
    if state.accounts_copied()?.as_deref() == Some(marker.as_str()) {
        return Ok(());
    }
    engine.upload(id, desired.accounts.clone()).await?;
    state.set_accounts_copied(&marker)
}

/// Who owns the file in the lab: the `uid:gid` the container runs as, else root.
fn owner_of(user: Option<&str>) -> Owner {
    user.and_then(|user| user.split_once(':'))
        .and_then(|(uid, gid)| Some((uid.parse().ok()?, gid.parse().ok()?)))
        .map_or(ROOT, |(uid, gid)| Owner { uid, gid })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_file_belongs_to_the_user_the_lab_runs_as_else_root() {
        assert_eq!(
            owner_of(Some("1500:1501")),
            Owner {
                uid: 1500,
                gid: 1501
            }
        );
        assert_eq!(owner_of(Some("lab")), ROOT);
        assert_eq!(owner_of(Some("1500:x")), ROOT);
        assert_eq!(owner_of(None), ROOT);
    }

    #[test]
    fn a_copy_is_known_by_its_container_and_contents() {
        assert_eq!(copied("c1", b"a"), copied("c1", b"a"));
        assert_ne!(
            copied("c1", b"a"),
            copied("c2", b"a"),
            "a new container needs it anew"
        );
        assert_ne!(copied("c1", b"a"), copied("c1", b"b"));
    }
}
