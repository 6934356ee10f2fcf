//! How a lab runs: as one container on one engine ([`container`]) or as a one-replica
//! Swarm service ([`swarm`]). Each is a [`Runtime`]: the steps [`crate::converge`] takes
//! and the questions the verbs ask, answered the runtime's way.

pub mod cleanup;
pub mod container;
pub mod ready;
pub mod swarm;
pub mod view;

use ready::Readiness;

/// A lab as the engine reports it, whatever runs it.
#[derive(Debug, Clone, PartialEq)]
pub struct Observed {
    /// The engine's id for it.
    pub id: String,
    pub status: Status,
    pub config_hash: Option<String>,
    pub image_id: Option<String>,
    /// The host port it was published on.
    pub port: Option<u16>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Status {
    Running,
    /// Made but not started, or stopped: starting it is enough.
    Stopped,
    /// Restarting in a loop, paused or dead: it will not serve as it is.
    Broken(String),
}

impl Status {
    /// From Docker's container state: created, running, restarting, paused, exited, dead.
    pub fn of_container(state: &str) -> Status {
        match state {
            "running" => Status::Running,
            "created" | "exited" => Status::Stopped,
            other => Status::Broken(other.to_string()),
        }
    }
}

/// One way of running a lab: each method is one step of convergence.
#[allow(async_fn_in_trait)]
pub trait Runtime {
    /// What the runtime creates a lab from.
    type Desired;

    /// The name the user's lab goes by, for what rjup says.
    fn name(&self) -> &str;

    /// The config hash and image id of the desired lab, to compare with [`Observed`].
    fn wanted(desired: &Self::Desired) -> (&str, &str);

    /// The project's lab as it is now, if there is one.
    async fn observe(&self) -> anyhow::Result<Option<Observed>>;

    /// Makes and starts a lab where there was none; one that never answers is removed.
    async fn create(&self, desired: &Self::Desired, ready: &Readiness) -> anyhow::Result<()>;

    /// Starts the stopped lab `current`, unchanged.
    async fn start(
        &self,
        current: &Observed,
        desired: &Self::Desired,
        ready: &Readiness,
    ) -> anyhow::Result<()>;

    /// Replaces `current` with a lab made from `desired`, keeping `current` until the
    /// replacement answers, and restoring it if the replacement never does.
    async fn replace(
        &self,
        current: &Observed,
        desired: &Self::Desired,
        ready: &Readiness,
    ) -> anyhow::Result<()>;

    /// Waits until the running lab `current` answers: where it answers is the
    /// runtime's to say (a Swarm lab, on its node).
    async fn answers(&self, current: &Observed, ready: &Readiness) -> anyhow::Result<()>
    where
        Self: Sized,
    {
        ready.wait(self, &current.id).await
    }

    /// Why the lab `id` stopped serving (it exited, or restarts in a loop), if it did.
    async fn stopped(&self, id: &str) -> anyhow::Result<Option<String>>;

    /// The last `lines` lines of the lab's log, to show when it fails.
    async fn log_tail(&self, id: &str, lines: u64) -> String;
}
