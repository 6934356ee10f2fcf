use std::path::Path;
use std::time::Duration;

use crate::cli::PasswordArgs;
use crate::engine::Engine;
use crate::password;
use crate::progress::say;
use crate::settings::{self, Overrides};
use crate::state::ProjectState;

pub async fn run(project: Option<&Path>, args: PasswordArgs) -> anyhow::Result<()> {
    let spec = settings::resolve(project, Overrides::default())?;
    let state = ProjectState::for_project(&spec.dir, &spec.name)?;
    let engine = Engine::connect().await?;
    let existing = engine.inspect(&spec.container_name()).await?;
    if let Some(container) = &existing {
        super::up::check_owner(container, &spec)?;
    }
    let secret = match password::given(args.password.password_stdin)? {
        Some(secret) => secret,
        None => password::prompt_new("a new password is needed")?,
    };
    state.set_password_hash(&password::hash(&secret)?)?;
    drop(secret);
    if existing.is_none() {
        say(format!(
            "Password saved; lab \"{}\" will use it from the next `rjup up`",
            spec.name
        ));
        return Ok(());
    }
    // The new hash changes the lab's config hash, so converging recreates the container
    // from the same image: a restart, not a rebuild.
    let hashed = state.password_hash()?.unwrap_or_default();
    let options = super::up::Options {
        force_recreate: false,
        rebuild: false,
        timeout: Duration::from_secs(args.timeout),
    };
    let outcome = super::up::converge(&engine, &spec, &state, &hashed, &options).await?;
    say("Password changed; the lab restarted with it");
    super::up::print_urls(&spec, &outcome);
    Ok(())
}
