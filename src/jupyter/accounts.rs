//! Named accounts beside the owner's: who may log in to the lab, and with what role.
//!
//! The owner's account is the one every lab has had: its hash is the lab's password
//! (`rjup password`). The others are kept in rjup's state and reach the lab as one file,
//! [`Accounts::lab_file`], which the lab re-reads when it changes, so adding or removing
//! one never restarts the lab.

use serde::{Deserialize, Serialize};

use crate::error::Error;

/// The owner's name on the named login page; no other account may take it.
pub const OWNER: &str = "owner";

/// The longest name: it shows in the lab beside a collaborator's cursor.
const NAME_LIMIT: usize = 32;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Role {
    /// The lab's owner: the one account `rjup up` makes.
    Owner,
    /// Does everything the owner can in the lab: files, kernels, terminals.
    Collaborator,
    /// Browses and reads files and outputs; writes, kernels and terminals are refused.
    ReadOnly,
}

impl Role {
    pub fn word(self) -> &'static str {
        match self {
            Role::Owner => "owner",
            Role::Collaborator => "collaborator",
            Role::ReadOnly => "read-only",
        }
    }
}

/// What cutting an account off (removing it, or changing its password) must end.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cutoff {
    /// Its sessions: the lab refuses its cookies at their next request, and runs on.
    /// An account that could run no code could take nothing else.
    Sessions,
    /// Everything it could have taken. Code in the lab runs as the lab's user, which
    /// reads the cookie secret (with the hashes beside it, a login cookie for any
    /// account, the owner's included), a self-signed certificate's key, and may leave
    /// a backdoor in the container: so new secrets, and a fresh container.
    Everything,
}

impl Role {
    /// What cutting off an account of this role must end ([`Cutoff`]).
    pub fn cutoff(self) -> Cutoff {
        match self {
            Role::Owner | Role::Collaborator => Cutoff::Everything,
            Role::ReadOnly => Cutoff::Sessions,
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Account {
    pub name: String,
    pub role: Role,
    /// argon2, in Jupyter's format, as `rjup password` makes it.
    pub hash: String,
}

/// What `rjup user ls` and `rjup status` show of an account: never its hash.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct Listed {
    pub name: String,
    pub role: &'static str,
}

/// The accounts other than the owner's, sorted by name.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Accounts {
    accounts: Vec<Account>,
}

impl Accounts {
    pub fn parse(text: &str) -> anyhow::Result<Accounts> {
        Ok(serde_json::from_str(text)?)
    }

    pub fn to_json(&self) -> String {
        serde_json::to_string_pretty(self).expect("accounts always serialise") + "\n"
    }

    pub fn is_empty(&self) -> bool {
        self.accounts.is_empty()
    }

    /// Refuses what `add` would refuse, before anyone is asked for a password.
    pub fn check_new(&self, name: &str, role: Role) -> anyhow::Result<()> {
        if name == OWNER && role == Role::ReadOnly {
            return Err(Error::OwnerReadOnly { owner: OWNER }.into());
        }
        check_name(name)?;
        if name == OWNER {
            // Telling the owner to `rjup user passwd owner`, which refuses, would go round in a circle.
            return Err(Error::OwnerAccount {
                owner: OWNER,
                verb: "added again",
            }
            .into());
        }
        if self.accounts.iter().any(|a| a.name == name) {
            return Err(Error::AccountExists {
                name: name.to_string(),
            }
            .into());
        }
        Ok(())
    }

    pub fn add(&mut self, name: &str, role: Role, hash: String) -> anyhow::Result<()> {
        self.check_new(name, role)?;
        self.accounts.push(Account {
            name: name.to_string(),
            role,
            hash,
        });
        self.accounts.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(())
    }

    /// The account `name`, which must be one `rjup user` made: the owner's is the lab's
    /// password, which `rjup password` changes.
    pub fn find(&mut self, name: &str, verb: &'static str) -> anyhow::Result<&mut Account> {
        if name == OWNER {
            return Err(Error::OwnerAccount { owner: OWNER, verb }.into());
        }
        let known: Vec<String> = self.names();
        match self.accounts.iter_mut().find(|a| a.name == name) {
            Some(account) => Ok(account),
            None => Err(Error::NoAccount {
                name: name.to_string(),
                known,
            }
            .into()),
        }
    }

    pub fn remove(&mut self, name: &str) -> anyhow::Result<Account> {
        self.find(name, "removed")?;
        let at = self
            .accounts
            .iter()
            .position(|a| a.name == name)
            .expect("found above");
        Ok(self.accounts.remove(at))
    }

    /// Every account's name, the owner's first.
    fn names(&self) -> Vec<String> {
        std::iter::once(OWNER.to_string())
            .chain(self.accounts.iter().map(|a| a.name.clone()))
            .collect()
    }

    /// Every account by name and role, the owner's first.
    pub fn listing(&self) -> Vec<Listed> {
        std::iter::once(Listed {
            name: OWNER.to_string(),
            role: Role::Owner.word(),
        })
        .chain(self.accounts.iter().map(|a| Listed {
            name: a.name.clone(),
            role: a.role.word(),
        }))
        .collect()
    }

    /// The file the lab reads: each account's hash, role and how the lab shows it. The
    /// owner's hash is not in it: the lab has it from its config, as it always had.
    pub fn lab_file(&self) -> Vec<u8> {
        let accounts: serde_json::Map<String, serde_json::Value> = self
            .accounts
            .iter()
            .map(|a| {
                let entry = serde_json::json!({
                    "hash": a.hash,
                    "role": a.role.word(),
                    "display_name": a.name,
                    "initials": initials(&a.name),
                });
                (a.name.clone(), entry)
            })
            .collect();
        let file = serde_json::json!({ "accounts": accounts });
        (file.to_string() + "\n").into_bytes()
    }
}

/// A name is a login and a label in the lab: lowercase ASCII letters and digits, with
/// `.`, `_` or `-` between them, so it is typed the same way on every keyboard.
fn check_name(name: &str) -> anyhow::Result<()> {
    let bytes = name.as_bytes();
    let allowed = |b: &u8| b.is_ascii_lowercase() || b.is_ascii_digit() || b"._-".contains(b);
    let valid = !name.is_empty()
        && name.len() <= NAME_LIMIT
        && bytes[0].is_ascii_lowercase()
        && bytes.iter().all(allowed)
        && bytes[bytes.len() - 1].is_ascii_alphanumeric();
    if valid {
        return Ok(());
    }
    Err(Error::BadAccountName {
        name: name.to_string(),
        limit: NAME_LIMIT,
    }
    .into())
}

/// What the lab shows on a collaborator's avatar: the first letter of each of the
/// name's first two parts, `ada.lovelace` → `AL`.
fn initials(name: &str) -> String {
    name.split(['.', '_', '-'])
        .filter_map(|part| part.chars().next())
        .take(2)
        .collect::<String>()
        .to_uppercase()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::{exit_code, Code};

    const HASH: &str = "argon2:$argon2id$v=19$m=10240,t=10,p=8$c2FsdA$aGFzaA";

    fn code(e: anyhow::Error) -> (u8, String) {
        (exit_code(&e), e.to_string())
    }

    #[test]
    fn names_are_lowercase_words_with_separators_between() {
        for good in ["ada", "ada.lovelace", "a1", "grace_h", "x-y-z"] {
            check_name(good).unwrap_or_else(|e| panic!("{good}: {e}"));
        }
        for bad in [
            "",
            "Ada",
            "1ada",
            "ada.",
            "-ada",
            "a b",
            "ädä",
            "a/b",
            &"a".repeat(33),
        ] {
            let (exit, text) = code(check_name(bad).unwrap_err());
            assert_eq!(exit, Code::Config as u8, "{bad:?}");
            assert!(text.contains("lowercase letters"), "{text}");
        }
    }

    #[test]
    fn the_owner_cannot_be_added_again_read_only_removed_or_renamed() {
        let mut accounts = Accounts::default();
        let (_, text) = code(accounts.check_new(OWNER, Role::Collaborator).unwrap_err());
        assert!(text.contains("cannot be added again"), "{text}");
        let (_, text) = code(accounts.check_new(OWNER, Role::ReadOnly).unwrap_err());
        assert!(text.contains("cannot be read-only"), "{text}");
        let (_, text) = code(accounts.remove(OWNER).unwrap_err());
        assert!(text.contains("cannot be removed"), "{text}");
    }

    #[test]
    fn duplicates_are_refused_and_unknown_names_get_the_closest_known_one() {
        let mut accounts = Accounts::default();
        accounts.add("grace", Role::ReadOnly, HASH.into()).unwrap();
        accounts
            .add("ada", Role::Collaborator, HASH.into())
            .unwrap();
        let (exit, text) = code(
            accounts
                .add("ada", Role::ReadOnly, HASH.into())
                .unwrap_err(),
        );
        assert_eq!(exit, Code::Config as u8);
        assert!(text.contains("\"ada\" is already an account"), "{text}");
        let (exit, text) = code(accounts.remove("grce").unwrap_err());
        assert_eq!(exit, Code::Config as u8);
        assert!(text.contains("did you mean \"grace\"?"), "{text}");
        assert_eq!(
            accounts.listing(),
            [
                Listed {
                    name: "owner".into(),
                    role: "owner"
                },
                Listed {
                    name: "ada".into(),
                    role: "collaborator"
                },
                Listed {
                    name: "grace".into(),
                    role: "read-only"
                },
            ]
        );
        accounts.remove("ada").unwrap();
        let again = Accounts::parse(&accounts.to_json()).unwrap();
        assert_eq!(again.listing().len(), 2);
    }

    #[test]
    fn cutting_off_an_account_that_could_run_code_ends_everything_it_could_take() {
        assert_eq!(Role::Owner.cutoff(), Cutoff::Everything);
        assert_eq!(Role::Collaborator.cutoff(), Cutoff::Everything);
        assert_eq!(Role::ReadOnly.cutoff(), Cutoff::Sessions);
    }

    #[test]
    fn the_lab_file_has_hashes_roles_and_initials_but_not_the_owner() {
        let mut accounts = Accounts::default();
        accounts
            .add("ada.lovelace", Role::ReadOnly, HASH.into())
            .unwrap();
        let file: serde_json::Value = serde_json::from_slice(&accounts.lab_file()).unwrap();
        let ada = &file["accounts"]["ada.lovelace"];
        assert_eq!(ada["hash"], HASH);
        assert_eq!(ada["role"], "read-only");
        assert_eq!(ada["initials"], "AL");
        assert!(file["accounts"].get(OWNER).is_none());
    }
}
