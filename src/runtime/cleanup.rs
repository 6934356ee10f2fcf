//! What an interrupted command must undo, as a value the command owns.
//!
//! Work that leaves something half-made (a container not yet serving, a stopped lab
//! waiting for its replacement, a state directory made by a first `up`) registers how
//! to undo it, and withdraws that once the work is whole. On Ctrl-C the command drops
//! its work and runs what is left, newest first, so nothing half-made survives.

use std::sync::{Arc, Mutex};

use crate::engine::Engine;
use crate::state::ProjectState;

#[derive(Clone)]
enum Undo {
    RemoveContainer(Engine, String),
    StartContainer(Engine, String),
    RemoveService(Engine, String),
    ForgetState(ProjectState),
}

#[derive(Clone, Default)]
pub struct Cleanup {
    pending: Arc<Mutex<Vec<(u64, Undo)>>>,
    next: Arc<Mutex<u64>>,
}

/// A registered undo; [`Cleanup::done`] withdraws it.
#[must_use = "withdraw it with Cleanup::done once the work is whole"]
pub struct Registered(u64);

impl Cleanup {
    fn push(&self, undo: Undo) -> Registered {
        let mut next = self.next.lock().unwrap_or_else(|e| e.into_inner());
        *next += 1;
        self.pending
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push((*next, undo));
        Registered(*next)
    }

    /// On interrupt, remove this container: it was made by this run and does not serve.
    pub fn remove_container(&self, engine: &Engine, id: &str) -> Registered {
        self.push(Undo::RemoveContainer(engine.clone(), id.to_string()))
    }

    /// On interrupt, start this container again: this run stopped a lab that served.
    pub fn restart_container(&self, engine: &Engine, id: &str) -> Registered {
        self.push(Undo::StartContainer(engine.clone(), id.to_string()))
    }

    /// On interrupt, remove this Swarm service: this run made it and it does not serve.
    pub fn remove_service(&self, engine: &Engine, id: &str) -> Registered {
        self.push(Undo::RemoveService(engine.clone(), id.to_string()))
    }

    /// On interrupt, forget this project's state: this run made it.
    pub fn forget_state(&self, state: &ProjectState) -> Registered {
        self.push(Undo::ForgetState(state.clone()))
    }

    pub fn done(&self, registered: Registered) {
        self.pending
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .retain(|(id, _)| *id != registered.0);
    }

    pub fn done_if(&self, registered: Option<Registered>) {
        if let Some(registered) = registered {
            self.done(registered);
        }
    }

    /// Undoes everything still registered, newest first; best effort, since the user
    /// is already leaving and the next `up` converges from whatever is left.
    pub async fn run(&self) {
        let pending = std::mem::take(&mut *self.pending.lock().unwrap_or_else(|e| e.into_inner()));
        for (_, undo) in pending.into_iter().rev() {
            match undo {
                Undo::RemoveContainer(engine, id) => {
                    let _ = engine.remove(&id).await;
                }
                Undo::StartContainer(engine, id) => {
                    let _ = engine.start(&id).await;
                }
                Undo::RemoveService(engine, id) => {
                    let _ = engine.remove_service(&id).await;
                }
                Undo::ForgetState(state) => {
                    let _ = state.forget();
                }
            }
        }
    }

    /// Runs `work`; if it fails and the project had no state before, removes the state
    /// it made (password hash, cookie secret, certificate), so a failed first `up`
    /// leaves nothing behind, interrupted or not.
    pub async fn state_only_on_success<T>(
        &self,
        state: &ProjectState,
        work: impl std::future::Future<Output = anyhow::Result<T>>,
    ) -> anyhow::Result<T> {
        if state.exists() {
            return work.await;
        }
        let registered = self.forget_state(state);
        let result = work.await;
        self.done(registered);
        if result.is_err() {
            let _ = state.forget_but_build_log();
        }
        result
    }
}
