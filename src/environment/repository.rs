//! The project's files that postBuild sees at build time. On Binder, postBuild runs in a
//! copy of the repository; here the lab mounts the project itself, so the build gets
//! only a copy for postBuild, kept small so that a project with gigabytes of data still
//! sends a small build context, and notebooks left out so that editing one never
//! rebuilds: the Binder folder whole, and every other file git tracks (every file, when
//! the project is not a git repository) of at most [`MAX_FILE`] bytes that is not a
//! notebook, up to [`MAX_TOTAL`] bytes in all.

use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::Command;

use crate::project_file::{self, Refused};

/// A bigger file is data, which postBuild rarely needs and the build must not carry.
pub const MAX_FILE: u64 = 2 << 20;
/// The whole copy, the Binder folder apart; past it, the biggest files are left out.
pub const MAX_TOTAL: u64 = 32 << 20;

/// One file of the copy: its path in the project, its bytes, whether it is executable.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RepoFile {
    pub path: String,
    pub contents: Vec<u8>,
    pub executable: bool,
}

/// The copy, and the files [`MAX_TOTAL`] left out (which postBuild cannot use).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Snapshot {
    pub files: Vec<RepoFile>,
    pub left_out: Vec<String>,
}

/// The copy of `project` (canonical) for postBuild; `binder` is the Binder folder
/// (`binder` or `.binder`), if there is one.
pub fn snapshot(project: &Path, binder: Option<&str>) -> Snapshot {
    let listed = git_files(project).unwrap_or_else(|| walk(project));
    let in_binder = |path: &str| binder.is_some_and(|b| path.starts_with(&format!("{b}/")));
    let mut always = Vec::new();
    let mut others = Vec::new();
    for path in listed {
        let binder_file = in_binder(&path);
        if !binder_file && path.ends_with(".ipynb") {
            continue;
        }
        let full = project.join(&path);
        let Ok(meta) = std::fs::metadata(&full) else {
            continue; // deleted since git listed it
        };
        if !meta.is_file() || (!binder_file && meta.len() > MAX_FILE) {
            continue;
        }
        // Inside the project only: a link out is someone else's file.
        let contents = match project_file::read_within(project, &full) {
            Ok(bytes) => bytes,
            Err(Refused::Io(_) | Refused::Outside(_)) => continue,
        };
        let file = RepoFile {
            path,
            contents,
            executable: meta.permissions().mode() & 0o111 != 0,
        };
        if binder_file {
            always.push(file);
        } else {
            others.push(file);
        }
    }
    // The smallest first, so that what MAX_TOTAL leaves out is the biggest.
    others.sort_by_key(|f| f.contents.len());
    let mut total = 0u64;
    let mut left_out = Vec::new();
    for file in others {
        total += file.contents.len() as u64;
        if total > MAX_TOTAL {
            left_out.push(file.path);
        } else {
            always.push(file);
        }
    }
    always.sort_by(|a, b| a.path.cmp(&b.path));
    left_out.sort();
    Snapshot {
        files: always,
        left_out,
    }
}

/// The files git tracks under `project`, if it is in a git work tree git will read.
fn git_files(project: &Path) -> Option<Vec<String>> {
    let out = Command::new("git")
        .arg("-C")
        .arg(project)
        .args(["ls-files", "-z", "--cached"])
        .stdin(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .output()
        .ok()?;
    if !out.status.success() {
        return None;
    }
    let mut files: Vec<String> = out
        .stdout
        .split(|b| *b == 0)
        .filter(|p| !p.is_empty())
        .map(|p| String::from_utf8_lossy(p).into_owned())
        .collect();
    // The Binder folder whole, tracked or not.
    for binder in ["binder", ".binder"] {
        let dir = project.join(binder);
        if dir.is_dir() && !dir.is_symlink() {
            let prefix = format!("{binder}/");
            for path in walk(&dir) {
                files.push(format!("{prefix}{path}"));
            }
        }
    }
    files.sort();
    files.dedup();
    Some(files)
}

/// Every file under `root`, relative to it, but in hidden directories (`.git`,
/// `.ipynb_checkpoints`, virtual environments) other than `.binder`, and never
/// following a link to a directory.
fn walk(root: &Path) -> Vec<String> {
    let mut found = Vec::new();
    let mut dirs = vec![(root.to_path_buf(), String::new())];
    while let Some((dir, prefix)) = dirs.pop() {
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        for entry in entries.flatten() {
            let name = entry.file_name().to_string_lossy().into_owned();
            let Ok(kind) = entry.file_type() else {
                continue;
            };
            let path = format!("{prefix}{name}");
            if kind.is_dir() {
                if !name.starts_with('.') || path == ".binder" {
                    dirs.push((entry.path(), format!("{path}/")));
                }
            } else {
                found.push(path);
            }
        }
    }
    found.sort();
    found
}

#[cfg(test)]
mod tests {
    use super::*;

    fn project(files: &[(&str, usize)]) -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        for (path, size) in files {
            let p = dir.path().join(path);
            std::fs::create_dir_all(p.parent().unwrap()).unwrap();
            std::fs::write(p, vec![b'x'; *size]).unwrap();
        }
        dir
    }

    fn paths(s: &Snapshot) -> Vec<&str> {
        s.files.iter().map(|f| f.path.as_str()).collect()
    }

    #[test]
    fn small_files_and_the_binder_folder_go_in_notebooks_data_and_hidden_dirs_do_not() {
        let dir = project(&[
            ("binder/postBuild", 10),
            ("binder/big.bin", 3 << 20),
            ("binder/setup.ipynb", 10),
            ("src/ext.py", 100),
            ("analysis.ipynb", 10),
            ("data/huge.csv", (2 << 20) + 1),
            (".git/config", 10),
            (".ipynb_checkpoints/a.ipynb", 10),
            (".bokeh", 10),
        ]);
        let root = dir.path().canonicalize().unwrap();
        std::os::unix::fs::symlink("/etc/passwd", root.join("passwd")).unwrap();
        let s = snapshot(&root, Some("binder"));
        assert_eq!(
            paths(&s),
            [
                ".bokeh",
                "binder/big.bin",
                "binder/postBuild",
                "binder/setup.ipynb",
                "src/ext.py"
            ]
        );
        assert!(s.left_out.is_empty());
    }

    #[test]
    fn past_the_total_the_biggest_files_are_left_out_and_named() {
        let each = (MAX_FILE - 1) as usize;
        let many: Vec<(String, usize)> = (0..20)
            .map(|n| (format!("d/{n:02}.csv"), each - n))
            .collect();
        let files: Vec<(&str, usize)> = many.iter().map(|(p, s)| (p.as_str(), *s)).collect();
        let dir = project(&files);
        let s = snapshot(&dir.path().canonicalize().unwrap(), None);
        let kept: u64 = s.files.iter().map(|f| f.contents.len() as u64).sum();
        assert!(kept <= MAX_TOTAL && !s.left_out.is_empty());
        assert!(
            s.left_out.contains(&"d/00.csv".to_string()),
            "{:?}",
            s.left_out
        );
    }

    #[test]
    fn in_a_git_repository_only_tracked_files_and_the_binder_folder() {
        let dir = project(&[
            ("tracked.py", 5),
            ("untracked.txt", 5),
            (".binder/postBuild", 5),
        ]);
        let root = dir.path().canonicalize().unwrap();
        let git = |args: &[&str]| {
            Command::new("git")
                .arg("-C")
                .arg(&root)
                .args(args)
                .output()
                .map(|o| o.status.success())
                .unwrap_or(false)
        };
        assert!(git(&["init", "-q"]), "this test needs git on PATH");
        assert!(git(&["add", "tracked.py"]));
        let s = snapshot(&root, Some(".binder"));
        assert_eq!(paths(&s), [".binder/postBuild", "tracked.py"]);
    }
}
