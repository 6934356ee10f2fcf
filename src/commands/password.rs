use std::path::Path;
use std::time::Duration;

use crate::cli::PasswordArgs;
use crate::converge::{self, Options};
use crate::engine::endpoint::Endpoint;
use crate::error::{exit_code, Code};
use crate::password;
use crate::runtime;
use crate::runtime::cleanup::Cleanup;
use crate::settings::{self, Overrides, Spec};
use crate::state::ProjectState;
use crate::ui::printer::Printer;

pub async fn run(
    project: Option<&Path>,
    endpoint: &Endpoint,
    args: PasswordArgs,
    printer: Printer,
    cleanup: &Cleanup,
) -> anyhow::Result<()> {
    let engine = super::connect(endpoint).await?;
    // Found as `down` finds it: a project file rjup cannot use (a broken rjup.yaml or
    // environment file, which anyone who writes in the lab can make) must not keep
    // the owner from changing the password.
    let found = super::find_lab(project, &engine, "password", printer).await?;
    let state = ProjectState::for_project(&found.dir, &found.name)?;
    let lab = runtime::for_spec(&engine, &found, printer);
    let exists = lab.exists().await?;
    let secret = match password::given(args.password.password_stdin)? {
        Some(secret) => secret,
        None => password::prompt_new("a new password is needed", printer)?,
    };
    let hashed = password::hash(&secret)?;
    drop(secret);
    // The owner can run code: whoever had the old password may have read the cookie
    // secret (and with the hashes beside it, forged any account's cookie) and a
    // self-signed key. A new password is what one sets after a leak, so these go too;
    // the lab restarts for the new hash anyway, in a new container.
    let new_certificate = state.rotate_lab_secrets()?;
    if !exists {
        state.set_password_hash(&hashed)?;
        printer.say(format!(
            "Password saved; lab \"{}\" will use it, and a new cookie secret, from the next `rjup up`",
            found.name
        ));
        return Ok(());
    }
    // The restart makes the lab from the project's files. When it cannot, the lab must
    // not run on with the old password: it is taken down, as `rjup user rm` does.
    let spec = match remade(&found)? {
        Ok(spec) => spec,
        Err(why) => {
            lab.remove().await?;
            state.set_password_hash(&hashed)?;
            printer.say(format!(
                "Password saved; lab \"{}\" could not be restarted with it ({why}), so it was taken down rather than left running with the old one; fix that and run `rjup up`, which starts it with the new password",
                found.name
            ));
            return Ok(());
        }
    };
    // The new hash changes the lab's config hash, so converging replaces the container
    // from the same image: a restart, not a rebuild.
    let options = Options {
        force_recreate: false,
        rebuild: false,
        timeout: Duration::from_secs(args.timeout),
    };
    // Stored only once the lab runs with it: a replacement that fails leaves the old lab
    // checking the old password, and the stored hash must stay the one it checks.
    let outcome = converge::converge(
        &engine,
        &spec,
        &state,
        password::Hashing::ready(hashed.clone()),
        &options,
        printer,
        cleanup,
    )
    .await?;
    state.set_password_hash(&hashed)?;
    printer.say(format!(
        "Password changed; the lab restarted with it in a new container, with a new cookie secret (everyone logs in again){}",
        if new_certificate {
            " and a new self-signed TLS certificate and key"
        } else {
            ""
        }
    ));
    super::up::print_urls(&engine.lab_host().await, &spec, &outcome, printer)
}

/// The lab as the project's files make it now; or why it cannot be made from them (an
/// rjup.yaml or environment file rjup refuses, or an rjup.yaml that names another lab).
fn remade(found: &Spec) -> anyhow::Result<Result<Spec, String>> {
    match settings::resolve(Some(&found.dir), Overrides::default()) {
        Ok(spec) if spec.name == found.name => Ok(Ok(spec)),
        Ok(spec) => Ok(Err(format!(
            "rjup.yaml now names the lab \"{}\"",
            spec.name
        ))),
        Err(e) if exit_code(&e) == Code::Config as u8 => Ok(Err(format!("{e:#}"))),
        Err(e) => Err(e),
    }
}
