//! Tar archives rjup sends to the engine: build contexts and the files injected into a
//! container. Built in memory with fixed timestamps, so equal inputs give equal bytes.

pub struct Archive {
    builder: tar::Builder<Vec<u8>>,
}

/// Who owns an entry, and its permission bits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Owner {
    pub uid: u32,
    pub gid: u32,
}

pub const ROOT: Owner = Owner { uid: 0, gid: 0 };

impl Archive {
    pub fn new() -> Self {
        Archive {
            builder: tar::Builder::new(Vec::new()),
        }
    }

    pub fn dir(&mut self, path: &str, mode: u32, owner: Owner) -> &mut Self {
        self.append(path, tar::EntryType::Directory, &[], mode, owner)
    }

    pub fn file(&mut self, path: &str, contents: &[u8], mode: u32, owner: Owner) -> &mut Self {
        self.append(path, tar::EntryType::Regular, contents, mode, owner)
    }

    fn append(
        &mut self,
        path: &str,
        kind: tar::EntryType,
        data: &[u8],
        mode: u32,
        owner: Owner,
    ) -> &mut Self {
        let mut header = tar::Header::new_gnu();
        header.set_entry_type(kind);
        header.set_size(data.len() as u64);
        header.set_mode(mode);
        header.set_uid(owner.uid.into());
        header.set_gid(owner.gid.into());
        header.set_mtime(0);
        self.builder
            .append_data(&mut header, path, data)
            .expect("writing a tar entry into memory cannot fail");
        self
    }

    pub fn finish(self) -> Vec<u8> {
        self.builder
            .into_inner()
            .expect("finishing a tar archive in memory cannot fail")
    }

    /// The entries of `archives`, in order, as one archive: one copy into a container
    /// instead of several (each costs the engine a mount of the container's files). Tar
    /// archives do not simply concatenate: each ends in a marker that ends reading.
    pub fn join(archives: &[&[u8]]) -> anyhow::Result<Vec<u8>> {
        let mut joined = tar::Builder::new(Vec::new());
        for archive in archives {
            for entry in tar::Archive::new(*archive).entries()? {
                let mut entry = entry?;
                let mut header = entry.header().clone();
                let path = entry.path()?.into_owned();
                joined.append_data(&mut header, path, &mut entry)?;
            }
        }
        Ok(joined.into_inner()?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_keep_owner_and_mode() {
        let mut a = Archive::new();
        a.dir(
            "etc/rjup/",
            0o700,
            Owner {
                uid: 1500,
                gid: 1500,
            },
        )
        .file(
            "etc/rjup/x",
            b"hi",
            0o600,
            Owner {
                uid: 1500,
                gid: 1500,
            },
        );
        let bytes = a.finish();
        let mut read = tar::Archive::new(bytes.as_slice());
        let entries: Vec<_> = read
            .entries()
            .unwrap()
            .map(|e| {
                let e = e.unwrap();
                let h = e.header();
                (
                    e.path().unwrap().display().to_string(),
                    h.mode().unwrap(),
                    h.uid().unwrap(),
                )
            })
            .collect();
        assert_eq!(
            entries,
            [
                ("etc/rjup/".to_string(), 0o700, 1500),
                ("etc/rjup/x".to_string(), 0o600, 1500)
            ]
        );
    }

    #[test]
    fn joined_archives_hold_every_entry_in_order() {
        let mut a = Archive::new();
        a.dir("etc/rjup/", 0o550, ROOT)
            .file("etc/rjup/x", b"one", 0o440, ROOT);
        let mut b = Archive::new();
        b.file("etc/rjup/y", b"two", 0o400, Owner { uid: 7, gid: 8 });
        let joined = Archive::join(&[&a.finish(), &b.finish()]).unwrap();
        let mut read = tar::Archive::new(joined.as_slice());
        let entries: Vec<_> = read
            .entries()
            .unwrap()
            .map(|e| {
                let mut e = e.unwrap();
                let mut body = String::new();
                std::io::Read::read_to_string(&mut e, &mut body).unwrap();
                let h = e.header();
                (
                    e.path().unwrap().display().to_string(),
                    h.mode().unwrap(),
                    h.uid().unwrap(),
                    body,
                )
            })
            .collect();
        assert_eq!(
            entries,
            [
                ("etc/rjup/".to_string(), 0o550, 0, String::new()),
                ("etc/rjup/x".to_string(), 0o440, 0, "one".to_string()),
                ("etc/rjup/y".to_string(), 0o400, 7, "two".to_string()),
            ]
        );
    }

    #[test]
    fn equal_inputs_give_equal_bytes() {
        let make = || {
            let mut a = Archive::new();
            a.file("Dockerfile", b"FROM x", 0o644, ROOT);
            a.finish()
        };
        assert_eq!(make(), make());
    }
}
