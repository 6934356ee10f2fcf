//! The lab's password: where it comes from, and the argon2 hash Jupyter Server checks.
//!
//! The plaintext lives only in a [`Secret`] in this process; what leaves it is the hash.

use std::io::Read;

use anyhow::Context;
use argon2::password_hash::phc::PasswordHash;
use argon2::password_hash::{PasswordHasher, PasswordVerifier};
use argon2::{Algorithm, Argon2, Params, Version};
use zeroize::Zeroize;

use crate::error::Error;
use crate::state::ProjectState;
use crate::ui::printer::Printer;

pub const ENV_VAR: &str = "RJUP_PASSWORD";

/// Jupyter Server's `passwd()` prefix; its `passwd_check` dispatches on it.
const PREFIX: &str = "argon2:";

/// A plaintext password, wiped from memory when dropped and never printed.
pub struct Secret(String);

impl Secret {
    pub fn new(text: String) -> anyhow::Result<Self> {
        let secret = Secret(text);
        if secret.0.is_empty() {
            return Err(Error::EmptyPassword.into());
        }
        Ok(secret)
    }

    fn bytes(&self) -> &[u8] {
        self.0.as_bytes()
    }

    /// The plaintext, for the one place it must go: a login form sent to the lab.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl Drop for Secret {
    fn drop(&mut self) {
        self.0.zeroize();
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Secret(***)")
    }
}

fn hasher() -> Argon2<'static> {
    // The parameters of jupyter_server.auth.security.passwd(), so the hash looks like one
    // Jupyter wrote and Jupyter's own `passwd_check` accepts it.
    let params = Params::new(10240, 10, 8, Some(32)).expect("argon2 parameters are valid");
    Argon2::new(Algorithm::Argon2id, Version::V0x13, params)
}

/// `argon2:$argon2id$v=19$m=10240,t=10,p=8$<salt>$<hash>`, with a random 16-byte salt.
pub fn hash(password: &Secret) -> anyhow::Result<String> {
    let salt = crate::state::random_bytes::<16>()?;
    let phc = hasher()
        .hash_password_with_salt(password.bytes(), &salt)
        .map_err(|e| anyhow::anyhow!("hashing the password: {e}"))?;
    Ok(format!("{PREFIX}{phc}"))
}

/// Whether `password` is the one behind a hash written by [`hash`] or by Jupyter.
pub fn verify(password: &Secret, hashed: &str) -> bool {
    let Some(phc) = hashed.strip_prefix(PREFIX) else {
        return false;
    };
    PasswordHash::new(phc)
        .map(|parsed| hasher().verify_password(password.bytes(), &parsed).is_ok())
        .unwrap_or(false)
}

/// A password given without asking: `--password-stdin` first, then `RJUP_PASSWORD`.
pub fn given(from_stdin: bool) -> anyhow::Result<Option<Secret>> {
    if from_stdin {
        return read_stdin().map(Some);
    }
    match std::env::var(ENV_VAR) {
        Ok(value) => Secret::new(value)
            .map(Some)
            .map_err(|_| Error::EmptyPasswordVar { var: ENV_VAR }.into()),
        Err(_) => Ok(None),
    }
}

/// The first line of standard input, as `docker login --password-stdin` reads it.
fn read_stdin() -> anyhow::Result<Secret> {
    let mut text = String::new();
    std::io::stdin()
        .read_to_string(&mut text)
        .context("reading the password from standard input")?;
    let line = text.trim_end_matches(['\n', '\r']).to_string();
    text.zeroize();
    Secret::new(line)
}

fn ensure_can_prompt(why: &str, var: Option<&'static str>, printer: Printer) -> anyhow::Result<()> {
    if printer.may_prompt() {
        return Ok(());
    }
    Err(Error::CannotPrompt {
        why: why.to_string(),
        var,
    }
    .into())
}

/// Asks once, hidden: for logging in to a lab that already has a password.
pub fn prompt_existing(why: &str, printer: Printer) -> anyhow::Result<Secret> {
    ensure_can_prompt(why, Some(ENV_VAR), printer)?;
    Secret::new(
        rpassword::prompt_password("Password of the lab: ").context("reading the password")?,
    )
}

/// Asks twice on the terminal, hidden; fails when there is no terminal to ask on.
pub fn prompt_new(why: &str, printer: Printer) -> anyhow::Result<Secret> {
    ensure_can_prompt(why, Some(ENV_VAR), printer)?;
    ask_twice("the lab")
}

fn ask_twice(whose: &str) -> anyhow::Result<Secret> {
    let first = Secret::new(
        rpassword::prompt_password(format!("Choose a password for {whose}: "))
            .context("reading the password")?,
    )?;
    let second = Secret(rpassword::prompt_password("Repeat it: ").context("reading the password")?);
    if first.0 != second.0 {
        return Err(Error::PasswordsDiffer.into());
    }
    Ok(first)
}

/// A named account's new password: from standard input, else asked twice. Never from
/// `RJUP_PASSWORD`, which is the owner's: a guest must not get it by accident.
pub fn for_account(name: &str, from_stdin: bool, printer: Printer) -> anyhow::Result<Secret> {
    if from_stdin {
        return read_stdin();
    }
    ensure_can_prompt(
        &format!("account \"{name}\" needs a password"),
        None,
        printer,
    )?;
    ask_twice(&format!("\"{name}\""))
}

/// The hash to run with: a given password wins, else the stored hash, else a prompt.
/// argon2 runs on a thread of its own: it costs ~40 ms, which `up` spends asking the
/// engine meanwhile. A prompt comes first.
pub fn for_lab(
    state: &ProjectState,
    given: Option<Secret>,
    printer: Printer,
) -> anyhow::Result<Hashing> {
    let stored = state.password_hash()?;
    let (secret, stored) = match (given, stored) {
        (Some(secret), stored) => (secret, stored),
        (None, Some(hash)) => return Ok(Hashing::ready(hash)),
        (None, None) => (prompt_new("this lab has no password yet", printer)?, None),
    };
    let kept = stored.clone();
    let task = tokio::task::spawn_blocking(move || match kept {
        Some(hash) if verify(&secret, &hash) => Ok((hash, false)),
        _ => Ok((hash(&secret)?, true)),
    });
    Ok(Hashing(Pending::Computing {
        task,
        state: state.clone(),
        stored,
    }))
}

/// A lab's password hash, known or being computed. A new hash is stored in the
/// project's state when it is taken, so an `up` that fails before leaves none.
pub struct Hashing(Pending);

enum Pending {
    Ready(String),
    Computing {
        /// The hash, and whether it is new.
        task: tokio::task::JoinHandle<anyhow::Result<(String, bool)>>,
        state: ProjectState,
        /// The stored hash the given password is checked against, if there is one.
        stored: Option<String>,
    },
}

impl Hashing {
    pub fn ready(hash: String) -> Hashing {
        Hashing(Pending::Ready(hash))
    }

    /// The hash to make the lab with before argon2 is done, and the check that says
    /// whether it was the right one. While a given password is checked against the
    /// stored hash, that hash: the password is almost always the same, and the lab can
    /// be made meanwhile (argon2 takes ~40 ms). No guess for a new password (`Err`).
    pub fn guess(self) -> Result<(String, Check), Hashing> {
        match &self.0 {
            Pending::Ready(hash) => Ok((hash.clone(), Check::none())),
            Pending::Computing {
                stored: Some(stored),
                ..
            } => {
                let guessed = stored.clone();
                Ok((
                    guessed.clone(),
                    Check(std::sync::Mutex::new(Some((self, guessed)))),
                ))
            }
            Pending::Computing { stored: None, .. } => Err(self),
        }
    }

    /// The hash, once argon2 is done with it.
    pub async fn hash(self) -> anyhow::Result<String> {
        match self.0 {
            Pending::Ready(hash) => Ok(hash),
            Pending::Computing { task, state, .. } => {
                let (hash, new) = task.await.context("hashing the password")??;
                if new {
                    state.set_password_hash(&hash)?;
                }
                Ok(hash)
            }
        }
    }
}

/// Whether the hash a lab was made with ahead of argon2 ([`Hashing::guess`]) is the
/// password's: passed before the lab starts, so that a lab made with the old hash never
/// serves, not even for a moment.
pub struct Check(std::sync::Mutex<Option<(Hashing, String)>>);

impl Check {
    /// Nothing to check: the hash was known.
    pub fn none() -> Check {
        Check(std::sync::Mutex::new(None))
    }

    /// Waits for argon2; a password that is not the stored one is [`PasswordChanged`],
    /// with its new hash, and whatever was made with the guess must go.
    pub async fn pass(&self) -> anyhow::Result<()> {
        let pending = self
            .0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .take();
        let Some((hashing, guessed)) = pending else {
            return Ok(());
        };
        let hash = hashing.hash().await?;
        if hash == guessed {
            Ok(())
        } else {
            Err(PasswordChanged { hash }.into())
        }
    }
}

/// The given password is not the stored one: the lab is to be made with `hash`.
#[derive(Debug)]
pub struct PasswordChanged {
    pub hash: String,
}

impl std::fmt::Display for PasswordChanged {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("the password is not the stored one; the lab is made again with it")
    }
}

impl std::error::Error for PasswordChanged {}

#[cfg(test)]
mod tests {
    use super::*;

    fn secret(s: &str) -> Secret {
        Secret::new(s.to_string()).unwrap()
    }

    fn state_with(password: &str) -> (tempfile::TempDir, ProjectState, String) {
        let tmp = tempfile::tempdir().unwrap();
        let state = ProjectState::in_dir(tmp.path().join("state"));
        let stored = hash(&secret(password)).unwrap();
        state.set_password_hash(&stored).unwrap();
        (tmp, state, stored)
    }

    fn printer() -> Printer {
        Printer::new(false, crate::ui::printer::Level::Quiet)
    }

    #[tokio::test]
    async fn the_stored_hash_is_guessed_and_passes_when_the_password_is_the_same() {
        let (_tmp, state, stored) = state_with("correct horse");
        let hashing = for_lab(&state, Some(secret("correct horse")), printer()).unwrap();
        let (guess, check) = hashing.guess().ok().unwrap();
        assert_eq!(guess, stored);
        check.pass().await.unwrap();
        assert_eq!(state.password_hash().unwrap(), Some(stored));
    }

    #[tokio::test]
    async fn a_new_password_fails_the_check_with_its_own_hash_and_is_stored() {
        let (_tmp, state, stored) = state_with("correct horse");
        let hashing = for_lab(&state, Some(secret("battery staple")), printer()).unwrap();
        let (guess, check) = hashing.guess().ok().unwrap();
        assert_eq!(guess, stored, "the guess is the stored hash");
        let changed = check
            .pass()
            .await
            .unwrap_err()
            .downcast::<PasswordChanged>()
            .unwrap();
        assert!(verify(&secret("battery staple"), &changed.hash));
        assert_eq!(state.password_hash().unwrap(), Some(changed.hash));
    }

    #[tokio::test]
    async fn a_first_password_has_no_guess() {
        let tmp = tempfile::tempdir().unwrap();
        let state = ProjectState::in_dir(tmp.path().join("state"));
        let hashing = for_lab(&state, Some(secret("correct horse")), printer()).unwrap();
        let hash = hashing.guess().err().unwrap().hash().await.unwrap();
        assert!(verify(&secret("correct horse"), &hash));
    }

    #[test]
    fn hash_has_exactly_jupyter_servers_format() {
        let h = hash(&secret("hunter2")).unwrap();
        let rest = h
            .strip_prefix("argon2:$argon2id$v=19$m=10240,t=10,p=8$")
            .unwrap_or_else(|| panic!("unexpected format: {h}"));
        let (salt, digest) = rest.split_once('$').unwrap();
        // 16 bytes of salt and 32 of hash, in unpadded base64.
        assert_eq!(salt.len(), 22);
        assert_eq!(digest.len(), 43);
    }

    #[test]
    fn verify_accepts_the_password_and_rejects_others() {
        let h = hash(&secret("correct horse")).unwrap();
        assert!(verify(&secret("correct horse"), &h));
        assert!(!verify(&secret("correct hors"), &h));
        assert!(!verify(&secret("correct horse"), "sha1:abc:def"));
    }

    #[test]
    fn verify_accepts_a_hash_written_by_jupyter_server() {
        // jupyter_server.auth.passwd("rjup") from jupyter_server 2.x.
        let jupyter = "argon2:$argon2id$v=19$m=10240,t=10,p=8$Jw2bt/AchaDCcMpMpLMpSg$UW2rSE+OPr2+26QCqpZX0crEiiO2CuPdFu0lLdw0XH0";
        assert!(verify(&secret("rjup"), jupyter));
    }

    #[test]
    fn salts_differ_between_hashes() {
        assert_ne!(hash(&secret("a")).unwrap(), hash(&secret("a")).unwrap());
    }

    #[test]
    fn empty_password_is_refused() {
        let err = Secret::new(String::new()).unwrap_err();
        assert_eq!(
            crate::error::exit_code(&err),
            crate::error::Code::Password as u8
        );
    }

    #[test]
    fn secrets_do_not_show_in_debug_output() {
        assert_eq!(format!("{:?}", secret("hunter2")), "Secret(***)");
    }
}
