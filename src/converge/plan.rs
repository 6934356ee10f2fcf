//! What is there, and the one action that turns it into what is wanted.

use std::fmt;

use crate::runtime::{Observed, Status};

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    Create,
    Recreate(Reason),
    Start,
    Nothing,
}

impl Action {
    /// The past tense `up --json` reports.
    pub fn word(&self) -> &'static str {
        match self {
            Action::Create => "created",
            Action::Recreate(_) => "recreated",
            Action::Start => "started",
            Action::Nothing => "unchanged",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reason {
    Forced,
    ConfigChanged,
    ImageChanged,
    Broken(String),
}

impl fmt::Display for Reason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Reason::Forced => f.write_str("recreation was asked for"),
            Reason::ConfigChanged => f.write_str("its configuration changed"),
            Reason::ImageChanged => f.write_str("its image changed"),
            Reason::Broken(state) => write!(f, "it is {state}"),
        }
    }
}

/// The action that turns `observed` into the lab with `config_hash` and `image_id`.
pub fn plan(observed: Option<&Observed>, config_hash: &str, image_id: &str, force: bool) -> Action {
    let Some(observed) = observed else {
        return Action::Create;
    };
    if force {
        return Action::Recreate(Reason::Forced);
    }
    if observed.image_id.as_deref() != Some(image_id) {
        return Action::Recreate(Reason::ImageChanged);
    }
    if observed.config_hash.as_deref() != Some(config_hash) {
        return Action::Recreate(Reason::ConfigChanged);
    }
    match &observed.status {
        Status::Running => Action::Nothing,
        Status::Stopped => Action::Start,
        Status::Broken(state) => Action::Recreate(Reason::Broken(state.clone())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn observed(state: &str) -> Observed {
        Observed {
            id: "c0ffee".into(),
            status: Status::of_container(state),
            config_hash: Some("hash".into()),
            image_id: Some("sha256:img".into()),
            port: Some(8888),
        }
    }

    fn plan_for(o: Option<&Observed>, force: bool) -> Action {
        plan(o, "hash", "sha256:img", force)
    }

    #[test]
    fn plan_creates_when_nothing_runs() {
        assert_eq!(plan_for(None, false), Action::Create);
    }

    #[test]
    fn plan_does_nothing_for_an_unchanged_running_lab() {
        assert_eq!(plan_for(Some(&observed("running")), false), Action::Nothing);
    }

    #[test]
    fn plan_starts_a_stopped_lab() {
        assert_eq!(plan_for(Some(&observed("exited")), false), Action::Start);
        assert_eq!(plan_for(Some(&observed("created")), false), Action::Start);
    }

    #[test]
    fn plan_recreates_on_changed_config_image_force_or_breakage() {
        let mut o = observed("running");
        o.config_hash = Some("old".into());
        assert_eq!(
            plan_for(Some(&o), false),
            Action::Recreate(Reason::ConfigChanged)
        );
        let mut o = observed("running");
        o.image_id = Some("sha256:old".into());
        assert_eq!(
            plan_for(Some(&o), false),
            Action::Recreate(Reason::ImageChanged)
        );
        assert_eq!(
            plan_for(Some(&observed("running")), true),
            Action::Recreate(Reason::Forced)
        );
        assert_eq!(
            plan_for(Some(&observed("restarting")), false),
            Action::Recreate(Reason::Broken("restarting".into()))
        );
    }
}
