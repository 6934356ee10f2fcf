//! The project lock: one rjup command at a time converges a project's lab. A file in
//! the project's state directory, locked while held; not to be confused with
//! `rjup.lock`, the project's pinned environment ([`crate::environment::lockfile`]).

use std::fs;
use std::os::unix::fs::OpenOptionsExt;

use anyhow::Context;

use super::ProjectState;

/// The lock's file in the state directory.
const LOCK: &str = "lock";

/// The project's lock, held until dropped.
pub struct ProjectLock {
    _file: fs::File,
}

impl ProjectState {
    /// Holds the project's lock until dropped, so two rjup commands never converge the
    /// same lab at once; waits for a holder to finish, saying so.
    pub async fn lock_project(
        &self,
        printer: crate::ui::printer::Printer,
    ) -> anyhow::Result<ProjectLock> {
        self.ensure_dir()?;
        let path = self.dir.join(LOCK);
        let file = fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .mode(0o600)
            .open(&path)
            .with_context(|| format!("opening {}", path.display()))?;
        // The lock goes when the file is closed, so a crashed holder never leaves it behind.
        match file.try_lock() {
            Ok(()) => return Ok(ProjectLock { _file: file }),
            Err(fs::TryLockError::WouldBlock) => {}
            Err(fs::TryLockError::Error(e)) => {
                return Err(e).with_context(|| format!("locking {}", path.display()))
            }
        }
        printer.say("Waiting for another rjup command in this project to finish");
        let file = tokio::task::spawn_blocking(move || file.lock().map(|()| file))
            .await
            .context("waiting for the project's lock")?
            .with_context(|| format!("locking {}", path.display()))?;
        Ok(ProjectLock { _file: file })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn the_project_lock_is_exclusive_and_released_on_drop() {
        let tmp = tempfile::tempdir().unwrap();
        let state = ProjectState::in_dir(tmp.path().join("rjup/projects/demo-0123"));
        let held = state
            .lock_project(crate::ui::printer::Printer::plain())
            .await
            .unwrap();
        let other = fs::OpenOptions::new()
            .write(true)
            .open(state.dir().join(LOCK))
            .unwrap();
        assert!(
            matches!(other.try_lock(), Err(fs::TryLockError::WouldBlock)),
            "a second holder must wait"
        );
        drop(held);
        other.try_lock().unwrap();
    }
}
