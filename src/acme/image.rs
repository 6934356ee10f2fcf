//! The renewer's image: this very executable and the shared libraries it runs with, on
//! an empty (`FROM scratch`) image, built on the engine, so that nothing is pulled and
//! no registry is needed, and the renewer is exactly the rjup that asked for it.
//!
//! The libraries are the ones the dynamic loader loaded for this process, at the paths
//! it found them at (`dl_iterate_phdr`; `/proc/self/maps` would give the files' real
//! paths, which for a versioned `libc-2.31.so` are not the names the loader looks up),
//! and the loader itself at the path the executable names. A static executable needs
//! none of them. Either way the image runs on any Linux kernel of this architecture.

use std::ffi::CStr;
use std::io::Read;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use anyhow::Context;

use crate::archive::{Archive, ROOT};

/// Where the executable goes in the image.
const EXECUTABLE: &str = "rjup";

/// The files of the image, and its tag, which names their contents.
pub struct RenewerImage {
    /// Where each file comes from on this machine, and the absolute path it takes in the
    /// image.
    files: Vec<(PathBuf, String)>,
    /// `rjup/acme:<version>-<digest>`.
    pub tag: String,
}

/// The image for this process: its executable and loaded libraries, hashed.
pub fn this_process() -> anyhow::Result<RenewerImage> {
    let mut files = vec![(PathBuf::from("/proc/self/exe"), format!("/{EXECUTABLE}"))];
    for library in loaded_libraries() {
        let path = library.display().to_string();
        files.push((library, path));
    }
    let mut context = ring::digest::Context::new(&ring::digest::SHA256);
    let mut buffer = vec![0u8; 1 << 20];
    for (from, to) in &files {
        context.update(to.as_bytes());
        context.update(b"\0");
        let mut file =
            std::fs::File::open(from).with_context(|| format!("reading {}", from.display()))?;
        loop {
            let n = file
                .read(&mut buffer)
                .with_context(|| format!("reading {}", from.display()))?;
            if n == 0 {
                break;
            }
            context.update(&buffer[..n]);
        }
    }
    let digest = hex::encode(context.finish().as_ref());
    Ok(RenewerImage {
        files,
        tag: format!("rjup/acme:{}-{}", env!("CARGO_PKG_VERSION"), &digest[..16]),
    })
}

impl RenewerImage {
    /// The build context: a Dockerfile and the files, under `rootfs/`.
    pub fn context(&self) -> anyhow::Result<Vec<u8>> {
        let mut directories: Vec<String> = Vec::new();
        for (_, to) in &self.files {
            let mut parent = Path::new(to).parent();
            while let Some(dir) = parent.filter(|d| *d != Path::new("/")) {
                directories.push(dir.display().to_string());
                parent = dir.parent();
            }
        }
        directories.sort();
        directories.dedup();
        let library_path: Vec<&str> = self
            .files
            .iter()
            .skip(1)
            .filter_map(|(_, to)| Path::new(to).parent()?.to_str())
            .collect::<std::collections::BTreeSet<_>>()
            .into_iter()
            .collect();
        let mut dockerfile = String::from("FROM scratch\nCOPY rootfs/ /\n");
        if !library_path.is_empty() {
            // No ld.so.cache in the image: the loader finds the libraries here.
            dockerfile.push_str(&format!("ENV LD_LIBRARY_PATH={}\n", library_path.join(":")));
        }
        dockerfile.push_str(&format!(
            "LABEL io.rjup.acme-renewer=\"{}\"\nENTRYPOINT [\"/{EXECUTABLE}\", \"{}\"]\n",
            env!("CARGO_PKG_VERSION"),
            super::VERB
        ));
        let mut archive = Archive::new();
        archive.file("Dockerfile", dockerfile.as_bytes(), 0o644, ROOT);
        for dir in directories {
            archive.dir(&format!("rootfs{dir}/"), 0o755, ROOT);
        }
        for (from, to) in &self.files {
            let contents =
                std::fs::read(from).with_context(|| format!("reading {}", from.display()))?;
            archive.file(&format!("rootfs{to}"), &contents, 0o755, ROOT);
        }
        Ok(archive.finish())
    }
}

/// The shared objects the loader loaded for this process, the loader among them, at the
/// paths it loaded them from; none for a static executable.
fn loaded_libraries() -> Vec<PathBuf> {
    unsafe extern "C" fn each(
        info: *mut libc::dl_phdr_info,
        _size: libc::size_t,
        data: *mut libc::c_void,
    ) -> libc::c_int {
        // SAFETY: the loader passes a valid `dl_phdr_info`, and `data` is the Vec below.
        let (info, found) = unsafe { (&*info, &mut *(data as *mut Vec<PathBuf>)) };
        if !info.dlpi_name.is_null() {
            // SAFETY: a non-null dlpi_name is a NUL-terminated string the loader owns.
            let name = unsafe { CStr::from_ptr(info.dlpi_name) };
            let name = Path::new(std::ffi::OsStr::from_bytes(name.to_bytes()));
            // The executable has an empty name, the vDSO a bare one.
            if name.is_absolute() {
                found.push(name.to_path_buf());
            }
        }
        0
    }
    let mut found: Vec<PathBuf> = Vec::new();
    // SAFETY: `each` only reads what the loader gives it and writes into `found`, which
    // outlives the call.
    unsafe {
        libc::dl_iterate_phdr(
            Some(each),
            &mut found as *mut Vec<PathBuf> as *mut libc::c_void,
        );
    }
    found.sort();
    found.dedup();
    found
}

/// This process's operating system and architecture, as the engine names its own
/// (`docker version`: `linux`, `amd64`).
pub fn platform() -> (&'static str, &'static str) {
    let arch = match std::env::consts::ARCH {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        "x86" => "386",
        "powerpc64" if cfg!(target_endian = "little") => "ppc64le",
        other => other,
    };
    (std::env::consts::OS, arch)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_image_holds_this_executable_and_the_libraries_it_runs_with() {
        let image = this_process().unwrap();
        assert!(image.tag.starts_with("rjup/acme:"), "{}", image.tag);
        assert_eq!(
            this_process().unwrap().tag,
            image.tag,
            "the same files, the same tag"
        );
        let context = image.context().unwrap();
        let mut archive = tar::Archive::new(context.as_slice());
        let mut names = Vec::new();
        let mut dockerfile = String::new();
        for entry in archive.entries().unwrap() {
            let mut entry = entry.unwrap();
            let name = entry.path().unwrap().display().to_string();
            if name == "Dockerfile" {
                entry.read_to_string(&mut dockerfile).unwrap();
            }
            names.push(name);
        }
        assert!(names.contains(&"rootfs/rjup".to_string()), "{names:?}");
        assert!(dockerfile.starts_with("FROM scratch\n"), "{dockerfile}");
        assert!(dockerfile.contains("ENTRYPOINT [\"/rjup\", \"acme-renewer\"]"));
        // A dynamically linked test binary brings its libc and the loader along.
        if !loaded_libraries().is_empty() {
            assert!(names.iter().any(|n| n.contains("libc.so")), "{names:?}");
            assert!(dockerfile.contains("ENV LD_LIBRARY_PATH=/"), "{dockerfile}");
        }
    }

    #[test]
    fn the_platform_is_named_as_the_engine_names_it() {
        if cfg!(all(target_os = "linux", target_arch = "x86_64")) {
            assert_eq!(platform(), ("linux", "amd64"));
        }
    }
}
