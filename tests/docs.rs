//! The README and `docs/` follow the code: each test reads what the docs say and what the
//! code says, and fails naming both when they part. No engine: these run with plain
//! `cargo test`. The code is found by its content (`enum Code` anywhere under `src/`, a
//! constant by its name), not by its file, so moving code between files changes nothing.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::Command;

use crate::util::{repo_root, rjup_bin};

fn read(relative: &str) -> String {
    let path = repo_root().join(relative);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("reading {}: {e}", path.display()))
}

/// The README and every page of `docs/`, by their path from the repository's root.
fn pages() -> Vec<String> {
    let mut pages = vec!["README.md".to_string()];
    let mut docs: Vec<String> = std::fs::read_dir(repo_root().join("docs"))
        .expect("reading docs/")
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|name| name.ends_with(".md"))
        .map(|name| format!("docs/{name}"))
        .collect();
    docs.sort();
    pages.extend(docs);
    pages
}

/// The lines of `text` outside fenced code blocks, numbered from 1.
fn prose(text: &str) -> Vec<(usize, &str)> {
    let mut fenced = false;
    let mut out = Vec::new();
    for (n, line) in text.lines().enumerate() {
        if line.trim_start().starts_with("```") {
            fenced = !fenced;
        } else if !fenced {
            out.push((n + 1, line));
        }
    }
    out
}

/// Whitespace collapsed to single spaces, so that a phrase matches across line breaks.
fn flat(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// The part of `text` under the heading `heading` (the whole line, e.g. `## Commands`),
/// up to the next heading of the same level or higher.
fn section<'a>(text: &'a str, heading: &str) -> &'a str {
    let level = heading.chars().take_while(|c| *c == '#').count();
    let (mut fenced, mut offset, mut start) = (false, 0, None);
    for line in text.split_inclusive('\n') {
        let trimmed = line.trim_end();
        if trimmed.trim_start().starts_with("```") {
            fenced = !fenced;
        } else if !fenced {
            let hashes = trimmed.chars().take_while(|c| *c == '#').count();
            let is_heading = hashes > 0 && trimmed[hashes..].starts_with(' ');
            match start {
                Some(start) if is_heading && hashes <= level => return &text[start..offset],
                None if trimmed == heading => start = Some(offset + line.len()),
                _ => {}
            }
        }
        offset += line.len();
    }
    &text[start.unwrap_or_else(|| panic!("no heading `{heading}`"))..]
}

/// The rows of the Markdown tables in `text`, each as its cells (`\|` stays in a cell),
/// without header and separator rows; grouped by table, keyed by the header's first cell.
fn tables(text: &str) -> Vec<(String, Vec<Vec<String>>)> {
    let cells = |line: &str| -> Vec<String> {
        let inner = line.trim().trim_start_matches('|').trim_end_matches('|');
        let mut out = vec![String::new()];
        let mut chars = inner.chars().peekable();
        while let Some(c) = chars.next() {
            match c {
                '\\' if chars.peek() == Some(&'|') => {
                    out.last_mut().unwrap().push('|');
                    chars.next();
                }
                '|' => out.push(String::new()),
                c => out.last_mut().unwrap().push(c),
            }
        }
        out.into_iter().map(|c| c.trim().to_string()).collect()
    };
    let mut out: Vec<(String, Vec<Vec<String>>)> = Vec::new();
    let mut previous_was_row = false;
    let lines: Vec<&str> = prose(text).into_iter().map(|(_, l)| l).collect();
    for (i, line) in lines.iter().enumerate() {
        let is_row = line.trim_start().starts_with('|');
        if is_row && !previous_was_row {
            let header = cells(line);
            out.push((header[0].clone(), Vec::new()));
        } else if is_row && !(i > 0 && line.trim().starts_with("|---")) {
            out.last_mut().unwrap().1.push(cells(line));
        }
        previous_was_row = is_row;
    }
    out
}

/// The first cells of the rows of the one table in `text` whose header starts with `first`.
fn first_column(text: &str, first: &str) -> Vec<String> {
    let found: Vec<_> = tables(text)
        .into_iter()
        .filter(|(h, _)| h == first)
        .collect();
    assert_eq!(
        found.len(),
        1,
        "expected one table headed `{first}`, found {}",
        found.len()
    );
    found[0].1.iter().map(|row| row[0].clone()).collect()
}

/// Every `.rs` file under `dir`.
fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

fn source() -> Vec<(PathBuf, String)> {
    let mut files = Vec::new();
    rust_files(&repo_root().join("src"), &mut files);
    files.sort();
    files
        .into_iter()
        .map(|f| {
            let text = std::fs::read_to_string(&f).unwrap();
            (f, text)
        })
        .collect()
}

/// The value of `const NAME: T = EXPR;` under `src/`, in the one file that defines it
/// (and, when `beside` is given, also contains `beside`); EXPR is a product of integers
/// and such constants (`2 * FREE_FAILURES`, `64 * 1024`).
fn constant(name: &str, beside: Option<&str>) -> u64 {
    let needle = format!("const {name}:");
    let found: Vec<(PathBuf, String)> = source()
        .into_iter()
        .filter(|(_, text)| beside.is_none_or(|b| text.contains(b)))
        .filter_map(|(file, text)| {
            let at = text.find(&needle)?;
            let rest = &text[at + needle.len()..];
            let expr = &rest[rest.find('=')? + 1..rest.find(';')?];
            Some((file, expr.trim().to_string()))
        })
        .collect();
    let [(file, expr)] = &found[..] else {
        panic!(
            "expected one `const {name}` under src/{}, found {:?}: if it was renamed or moved, \
             update tests/docs.rs",
            beside.map_or(String::new(), |b| format!(" beside `{b}`")),
            found
                .iter()
                .map(|(f, _)| f.display().to_string())
                .collect::<Vec<_>>()
        );
    };
    expr.split('*')
        .map(|factor| {
            let factor = factor.trim();
            factor.replace('_', "").parse::<u64>().unwrap_or_else(|_| {
                assert!(
                    factor.chars().all(|c| c.is_ascii_uppercase() || c == '_'),
                    "{}: `const {name}` = {expr}: not a product of numbers and constants",
                    file.display()
                );
                constant(factor, None)
            })
        })
        .product()
}

/// A Python assignment `NAME = 20` at the start of a line of scripts/bench.py.
fn bench_constant(name: &str) -> u64 {
    let bench = read("scripts/bench.py");
    bench
        .lines()
        .find_map(|l| l.strip_prefix(&format!("{name} = ")))
        .and_then(|v| v.split('#').next())
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or_else(|| panic!("scripts/bench.py has no `{name} = <number>` line"))
}

fn run_rjup(args: &[&str], dir: &Path) -> String {
    let out = Command::new(rjup_bin())
        .args(args)
        .current_dir(dir)
        .env_remove("DOCKER_HOST")
        .output()
        .expect("running rjup");
    assert!(
        out.status.success(),
        "rjup {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// The subcommands `rjup ARGS --help` lists, without clap's `help`.
fn subcommands(args: &[&str]) -> Vec<String> {
    let mut args = args.to_vec();
    args.push("--help");
    let help = run_rjup(&args, &repo_root());
    let list = help
        .split_once("Commands:\n")
        .unwrap_or_else(|| panic!("`rjup {args:?}` lists no commands:\n{help}"))
        .1;
    list.lines()
        .take_while(|l| !l.trim().is_empty())
        .filter(|l| l.starts_with("  ") && !l.starts_with("    "))
        .filter_map(|l| l.split_whitespace().next())
        .filter(|c| *c != "help")
        .map(str::to_string)
        .collect()
}

#[test]
fn the_readme_asks_for_the_rust_version_cargo_toml_declares() {
    let cargo = read("Cargo.toml");
    let declared = cargo
        .lines()
        .find_map(|l| l.trim().strip_prefix("rust-version"))
        .and_then(|v| v.split('"').nth(1))
        .expect("Cargo.toml declares no rust-version");
    let mut stated = Vec::new();
    for page in pages() {
        let text = read(&page);
        for (at, _) in text.match_indices("Rust ") {
            let version: String = text[at + "Rust ".len()..]
                .trim_start_matches('(')
                .chars()
                .take_while(|c| c.is_ascii_digit() || *c == '.')
                .collect();
            let version = version.trim_end_matches('.');
            if version.contains('.') {
                stated.push((page.clone(), version.to_string()));
            }
        }
    }
    assert!(
        stated.iter().any(|(page, _)| page == "README.md"),
        "the README's install section names no Rust version (Cargo.toml says {declared})"
    );
    let wrong: Vec<_> = stated.iter().filter(|(_, v)| v != declared).collect();
    assert!(
        wrong.is_empty(),
        "Cargo.toml's rust-version is {declared}, but the docs say {wrong:?}"
    );
}

#[test]
fn every_exit_code_is_documented_and_no_other() {
    let (file, text) = source()
        .into_iter()
        .find(|(_, text)| text.contains("pub enum Code {"))
        .expect("no `pub enum Code` under src/");
    let body = text.split("pub enum Code {").nth(1).unwrap();
    let body = &body[..body.find("\n}").unwrap()];
    let mut codes: BTreeSet<u32> = body
        .lines()
        .filter_map(|l| l.split_once('=').map(|(_, v)| v))
        .map(|v| v.trim().trim_end_matches(',').parse().unwrap())
        .collect();
    assert!(
        !codes.is_empty(),
        "no codes in {}'s `enum Code`",
        file.display()
    );
    // Success, the fallback for a failure no variant names, and clap's usage error.
    codes.extend([0, 1, 2]);

    let page = read("docs/exit-codes.md");
    let documented: BTreeSet<u32> = first_column(&page, "code")
        .iter()
        .map(|c| {
            c.parse()
                .unwrap_or_else(|_| panic!("exit code `{c}` in docs/exit-codes.md"))
        })
        .collect();
    assert_eq!(
        documented,
        codes,
        "docs/exit-codes.md's table must list exactly the codes of `enum Code` in {} (and 0, 1, 2)",
        file.display()
    );

    // Every "exit N" the pages mention is one of them.
    let mut unknown = Vec::new();
    for page in pages() {
        let text = flat(&read(&page));
        for word in ["exit ", "exits ", "exit code ", "exit codes "] {
            for (at, _) in text.match_indices(word) {
                let number: String = text[at + word.len()..]
                    .chars()
                    .take_while(char::is_ascii_digit)
                    .collect();
                if let Ok(n) = number.parse::<u32>() {
                    if !codes.contains(&n) {
                        unknown.push(format!("{page}: `{word}{n}`"));
                    }
                }
            }
        }
    }
    assert!(unknown.is_empty(), "no such exit code: {unknown:?}");
}

#[test]
fn every_benchmark_figure_has_a_row_in_the_development_page() {
    let bench = read("scripts/bench.py");
    let figures_block = bench
        .split("\nFIGURES = {\n")
        .nth(1)
        .expect("scripts/bench.py has no `FIGURES = {`");
    let figures_block = &figures_block[..figures_block.find("\n}").unwrap()];
    let figures: BTreeSet<String> = figures_block
        .lines()
        .filter_map(|l| l.trim().strip_prefix('"'))
        .filter_map(|l| l.split_once("\": (").map(|(k, _)| k.to_string()))
        .collect();
    assert!(
        figures.contains("P1"),
        "no figures read from scripts/bench.py"
    );

    let page = read("docs/development.md");
    let benchmarks = section(&page, "## Benchmarks");
    let rows = first_column(benchmarks, "figure");
    let documented: BTreeSet<String> = rows.iter().cloned().collect();
    assert_eq!(
        documented, figures,
        "docs/development.md's benchmark table must have a row for each figure of scripts/bench.py, and no other"
    );

    // The sizes the figures are measured at.
    let table = tables(benchmarks).remove(0).1;
    let row = |key: &str| table.iter().find(|r| r[0] == key).unwrap().join(" | ");
    let labs = bench_constant("LABS");
    assert!(
        row("P7").contains(&format!("{labs} labs")),
        "P7 runs {labs} labs: {}",
        row("P7")
    );
    let accounts = bench_constant("ACCOUNTS");
    assert!(
        row("P12").contains(&format!("{accounts} named accounts")),
        "P12 logs in with {accounts} accounts: {}",
        row("P12")
    );
    let security = flat(&read("docs/sharing-and-security.md"));
    assert!(
        security.contains(&format!("{accounts} accounts log in as fast as one")),
        "docs/sharing-and-security.md must say P12's {accounts} accounts"
    );
}

#[test]
fn every_command_has_a_row_in_the_readme_commands_table() {
    let readme = read("README.md");
    let rows = first_column(section(&readme, "## Commands"), "command");
    let named = |prefix: &str| {
        rows.iter().any(|cell| {
            cell.match_indices(prefix).any(|(at, _)| {
                let next = cell[at + prefix.len()..].chars().next();
                matches!(next, None | Some(' ' | '`'))
            })
        })
    };
    let commands = subcommands(&[]);
    assert!(
        commands.iter().any(|c| c == "up"),
        "no commands read from `rjup --help`"
    );
    let mut missing: Vec<String> = commands
        .iter()
        .filter(|c| !named(&format!("`rjup {c}")))
        .map(|c| format!("rjup {c}"))
        .collect();
    for parent in &commands {
        let help = run_rjup(&[parent.as_str(), "--help"], &repo_root());
        if !help.contains("Commands:") {
            continue;
        }
        for sub in subcommands(&[parent.as_str()]) {
            if !named(&format!("`rjup {parent} {sub}")) && !named(&format!("`{parent} {sub}")) {
                missing.push(format!("rjup {parent} {sub}"));
            }
        }
    }
    assert!(
        missing.is_empty(),
        "the README's commands table lacks {missing:?}"
    );

    // And the table names no command rjup lacks.
    let unknown: Vec<&String> = rows
        .iter()
        .filter(|cell| {
            let verb = cell
                .trim_start_matches("`rjup ")
                .split([' ', '`'])
                .next()
                .unwrap_or("");
            !commands.iter().any(|c| c == verb)
        })
        .collect();
    assert!(
        unknown.is_empty(),
        "the README's commands table has rows for no command: {unknown:?}"
    );
}

/// GitHub's anchor for a heading: lowercase; letters, digits, `-`, `_` and spaces kept,
/// spaces made `-`; a repeated one gets `-1`, `-2`, ...
fn anchors(text: &str) -> BTreeSet<String> {
    let mut seen: BTreeMap<String, usize> = BTreeMap::new();
    let mut out = BTreeSet::new();
    for (_, line) in prose(text) {
        let hashes = line.chars().take_while(|c| *c == '#').count();
        if hashes == 0 || hashes > 6 || !line[hashes..].starts_with(' ') {
            continue;
        }
        let slug: String = line[hashes..]
            .trim()
            .to_lowercase()
            .chars()
            .filter(|c| c.is_alphanumeric() || matches!(c, ' ' | '-' | '_'))
            .map(|c| if c == ' ' { '-' } else { c })
            .collect();
        let n = seen.entry(slug.clone()).or_insert(0);
        out.insert(if *n == 0 {
            slug.clone()
        } else {
            format!("{slug}-{n}")
        });
        *n += 1;
    }
    out
}

/// The targets of the inline links `[text](target)` in a line, code spans left out.
fn link_targets(line: &str) -> Vec<String> {
    let mut plain = String::new();
    let mut in_code = false;
    for c in line.chars() {
        if c == '`' {
            in_code = !in_code;
        } else if !in_code {
            plain.push(c);
        }
    }
    plain
        .match_indices("](")
        .filter_map(|(at, _)| {
            let rest = &plain[at + 2..];
            rest.find(')').map(|end| rest[..end].to_string())
        })
        .collect()
}

#[test]
fn every_relative_link_reaches_a_file_and_heading() {
    let root = repo_root();
    let mut broken = Vec::new();
    let mut links_to: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for page in pages() {
        let text = read(&page);
        let dir = root.join(&page).parent().unwrap().to_path_buf();
        for (n, line) in prose(&text) {
            for target in link_targets(line) {
                if target.contains("://") || target.starts_with("mailto:") {
                    continue;
                }
                let (path, anchor) = target.split_once('#').unwrap_or((&target, ""));
                let file = if path.is_empty() {
                    root.join(&page)
                } else {
                    dir.join(path)
                };
                let Ok(file) = file.canonicalize() else {
                    broken.push(format!("{page}:{n}: {target}: no such file"));
                    continue;
                };
                if let Ok(relative) = file.strip_prefix(root.canonicalize().unwrap()) {
                    links_to
                        .entry(relative.to_string_lossy().into_owned())
                        .or_default()
                        .insert(page.clone());
                }
                if anchor.is_empty() {
                    continue;
                }
                let heading_found = file.extension().is_some_and(|e| e == "md")
                    && anchors(&std::fs::read_to_string(&file).unwrap()).contains(anchor);
                if !heading_found {
                    broken.push(format!("{page}:{n}: {target}: no heading with that anchor"));
                }
            }
        }
    }
    assert!(broken.is_empty(), "broken links:\n{}", broken.join("\n"));

    // Each page is reached from the README and leads back to it.
    for page in pages().into_iter().filter(|p| p.starts_with("docs/")) {
        let from = links_to.get(&page).cloned().unwrap_or_default();
        assert!(
            from.contains("README.md"),
            "README.md does not link to {page}"
        );
        let back = links_to.get("README.md").cloned().unwrap_or_default();
        assert!(
            back.contains(&page),
            "{page} does not link back to README.md"
        );
    }
}

#[test]
fn every_rjup_yaml_key_is_in_the_configuration_reference() {
    let dir = tempfile::tempdir().unwrap();
    run_rjup(&["init", "--name", "docs"], dir.path());
    let template = std::fs::read_to_string(dir.path().join("rjup.yaml")).unwrap();
    // The keys `rjup init` writes, commented out or not, as paths (`build.base`). Prose
    // comments are told apart by their values: a key's example value has no spaces.
    let mut keys = BTreeSet::new();
    let mut parent = String::new();
    for line in template.lines() {
        let (content, indent_offset) = match line.strip_prefix('#') {
            Some(rest) => (rest, 1),
            None => (line, 0),
        };
        let indent = (content.len() - content.trim_start().len()).saturating_sub(indent_offset);
        let Some((key, value)) = content.trim().split_once(':') else {
            continue;
        };
        let is_key = !key.is_empty()
            && key.chars().all(|c| c.is_ascii_lowercase() || c == '_')
            && (value.is_empty() || (value.starts_with(' ') && !value.trim().contains(' ')));
        if !is_key {
            continue;
        }
        if indent == 0 {
            parent = key.to_string();
            keys.insert(key.to_string());
        } else {
            keys.insert(format!("{parent}.{key}"));
        }
    }
    assert!(
        keys.contains("build.base") && keys.contains("port"),
        "no keys read from `rjup init`:\n{template}"
    );

    let page = read("docs/configuration.md");
    let documented: BTreeSet<String> = first_column(section(&page, "## `rjup.yaml`"), "key")
        .iter()
        .map(|c| c.trim_matches('`').to_string())
        .collect();
    let missing: Vec<&String> = keys
        .iter()
        .filter(|k| !keys.iter().any(|other| other.starts_with(&format!("{k}."))))
        .filter(|leaf| {
            !documented.contains(*leaf)
                && !leaf
                    .rsplit_once('.')
                    .is_some_and(|(p, _)| documented.contains(p))
        })
        .collect();
    assert!(
        missing.is_empty(),
        "docs/configuration.md's rjup.yaml table lacks {missing:?}"
    );
    let unknown: Vec<&String> = documented.difference(&keys).collect();
    assert!(
        unknown.is_empty(),
        "docs/configuration.md documents keys rjup init does not write: {unknown:?}"
    );
}

#[test]
fn every_test_group_has_a_row_in_the_development_page() {
    let groups_rs = read("tests/groups.rs");
    let list = groups_rs
        .split("const GROUPS:")
        .nth(1)
        .and_then(|r| r.split_once('['))
        .and_then(|(_, r)| r.split_once('[')) // past the type, `[&str; N]`
        .map(|(_, r)| &r[..r.find(']').unwrap()])
        .expect("tests/groups.rs has no `const GROUPS`");
    let groups: BTreeSet<String> = list
        .split(',')
        .map(|g| g.trim().trim_matches('"').to_string())
        .filter(|g| !g.is_empty())
        .collect();
    let page = read("docs/development.md");
    let documented: BTreeSet<String> = first_column(section(&page, "## Tests"), "group")
        .iter()
        .map(|c| c.trim_matches('`').to_string())
        .collect();
    assert_eq!(
        documented, groups,
        "docs/development.md's groups table must match tests/groups.rs"
    );
    let readme = read("README.md");
    let test = section(&readme, "## Test");
    for group in &groups {
        assert!(
            test.contains(&format!("`{group}`")),
            "the README's Test section does not name the group {group}"
        );
    }
}

#[test]
fn the_figures_the_docs_state_are_the_codes() {
    let thousands = |v: u64| {
        let digits = v.to_string();
        let mut out = String::new();
        for (i, c) in digits.chars().enumerate() {
            if i > 0 && (digits.len() - i).is_multiple_of(3) {
                out.push(' ');
            }
            out.push(c);
        }
        out
    };
    let hours = |v: u64| match v / 3600 {
        1 => "1 hour".to_string(),
        n => format!("{n} hours"),
    };
    type Phrase = Box<dyn Fn(u64) -> String>;
    // (constant, a string its file also holds when the name is not unique, page, phrase)
    let claims: Vec<(&str, Option<&str>, &str, Phrase)> = vec![
        (
            "FREE_FAILURES",
            None,
            "docs/sharing-and-security.md",
            Box::new(|v| format!("after **{v}** failed logins from one client address")),
        ),
        (
            "FIRST_LOCKOUT_SECONDS",
            None,
            "docs/sharing-and-security.md",
            Box::new(|v| format!("for **{v} s**")),
        ),
        (
            "MAX_LOCKOUT_SECONDS",
            None,
            "docs/sharing-and-security.md",
            Box::new(move |v| format!("up to **{}**", hours(v))),
        ),
        (
            "ACCOUNT_FREE_FAILURES",
            None,
            "docs/sharing-and-security.md",
            Box::new(|v| format!("after **{v}** failed logins for one account")),
        ),
        (
            "MAX_THROTTLE_RECORDS",
            None,
            "docs/sharing-and-security.md",
            Box::new(move |v| format!("keep at most {} records each", thousands(v))),
        ),
        (
            "UNAUTHENTICATED_BODY_LIMIT",
            None,
            "docs/sharing-and-security.md",
            Box::new(|v| format!("may send at most **{} KiB**", v / 1024)),
        ),
        (
            "HEADER_TIMEOUT_SECONDS",
            None,
            "docs/sharing-and-security.md",
            Box::new(|v| format!("within **{v} s**")),
        ),
        (
            "VALID_DAYS",
            None,
            "docs/sharing-and-security.md",
            Box::new(|v| format!("for {v} days")),
        ),
        (
            "RENEW_BEFORE_DAYS",
            None,
            "docs/sharing-and-security.md",
            Box::new(|v| format!("when fewer than {v} days remain")),
        ),
        (
            "NAME_LIMIT",
            Some("BadAccountName"),
            "docs/sharing-and-security.md",
            Box::new(|v| format!("Names are 1 to {v} lowercase letters")),
        ),
        (
            "DEFAULT_PIDS",
            None,
            "docs/sharing-and-security.md",
            Box::new(|v| format!("a pids limit ({v}, or `resources.pids`)")),
        ),
        (
            "DEFAULT_PIDS",
            None,
            "docs/configuration.md",
            Box::new(|v| format!("| `resources.pids` | number ≥ 64 | {v} |")),
        ),
        (
            "DEFAULT_CHECK_TIMEOUT",
            None,
            "docs/configuration.md",
            Box::new(|v| format!("| `check.timeout` | seconds | {v} |")),
        ),
    ];
    let mut wrong = Vec::new();
    for (name, beside, page, phrase) in &claims {
        let value = constant(name, *beside);
        let expected = phrase(value);
        if !flat(&read(page)).contains(&expected) {
            wrong.push(format!(
                "{page} should say `{expected}` (the code's {name} is {value})"
            ));
        }
    }
    // `up`'s default wait, as its --help says it.
    let help = run_rjup(&["up", "--help"], &repo_root());
    let timeout = help
        .split("--timeout")
        .nth(1)
        .and_then(|r| r.split("[default: ").nth(1))
        .and_then(|r| r.split(']').next())
        .expect("`rjup up --help` shows no default --timeout");
    let expected = format!("`--timeout SECONDS` (default {timeout})");
    if !flat(&read("README.md")).contains(&expected) {
        wrong.push(format!(
            "README.md should say `{expected}`, as `rjup up --help` does"
        ));
    }
    assert!(
        wrong.is_empty(),
        "the docs state figures the code no longer has:\n{}",
        wrong.join("\n")
    );
}

#[test]
fn the_readme_test_command_is_the_one_ci_runs() {
    const COMMAND: &str = "cargo test --locked -- --include-ignored";
    let readme = read("README.md");
    let test = section(&readme, "## Test");
    let block = test
        .split("```sh\n")
        .nth(1)
        .and_then(|b| b.split("```").next())
        .expect("the README's Test section has no ```sh block");
    assert_eq!(block.trim(), COMMAND, "the README's test command");
    let ci = read(".ci/run");
    let last = ci
        .lines()
        .map(str::trim)
        .rfind(|l| !l.is_empty() && !l.starts_with('#'))
        .unwrap();
    assert_eq!(
        last, COMMAND,
        ".ci/run must end by running the README's test command"
    );
}
