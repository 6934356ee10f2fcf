//! The shape of the code, checked. Layers depend downward only, `commands` → `converge`
//! → `runtime` → `lab` → `engine`, and the other modules are leaves any layer may use
//! but that use no layer; no module imports one that imports it back; the engine knows
//! nothing above it; and no verb or the flow itself tells a Swarm lab from a container
//! (docs/development.md).

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// Top to bottom: each may use the ones after it, never one before.
const LAYERS: [&str; 5] = ["commands", "converge", "runtime", "lab", "engine"];

/// What the engine may use besides itself: it knows nothing of what asks it.
const ENGINE_MAY_USE: [&str; 3] = ["error", "image_ref", "tls"];

fn src() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("src")
}

/// Every module under `src/`, named by its path (`commands/up`, `converge`), with the
/// modules its code names through `crate::` or `super::`: the whole file, but for its
/// comments, its strings, and what is compiled only for its tests.
fn module_graph(src: &Path) -> BTreeMap<String, BTreeSet<String>> {
    let mut files = Vec::new();
    collect(src, &mut files);
    let module_of = |file: &Path| -> String {
        let rel = file.strip_prefix(src).unwrap().with_extension("");
        let name = rel.to_string_lossy().into_owned();
        name.strip_suffix("/mod").unwrap_or(&name).to_string()
    };
    let modules: BTreeSet<String> = files.iter().map(|f| module_of(f)).collect();
    let mut graph = BTreeMap::new();
    for file in &files {
        let module = module_of(file);
        let code = without_tests(&code_only(&std::fs::read_to_string(file).unwrap()));
        let parent = match module.rsplit_once('/') {
            Some((parent, _)) => parent.to_string(),
            None => String::new(),
        };
        let mut uses = BTreeSet::new();
        for (prefix, base) in [("crate::", String::new()), ("super::", parent.clone())] {
            for path in paths_after(&code, prefix) {
                let parts: Vec<&str> = path.split("::").filter(|p| !p.is_empty()).collect();
                // The longest module path the reference names: `runtime::container`
                // before `runtime`.
                let target = (1..=parts.len()).rev().find_map(|n| {
                    let joined = parts[..n].join("/");
                    let candidate = if base.is_empty() {
                        joined
                    } else {
                        format!("{base}/{joined}")
                    };
                    modules.contains(&candidate).then_some(candidate)
                });
                if let Some(target) = target {
                    if target != module && !module.starts_with(&format!("{target}/")) {
                        uses.insert(target);
                    }
                }
            }
        }
        graph.insert(module, uses);
    }
    graph
}

fn collect(dir: &Path, files: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            collect(&path, files);
        } else if path.extension().is_some_and(|e| e == "rs") {
            files.push(path);
        }
    }
}

/// `text` with its comments removed and its string and character literals emptied, so
/// that a path in a message or a doc link is not taken for a use.
fn code_only(text: &str) -> String {
    let chars: Vec<char> = text.chars().collect();
    let mut out = String::with_capacity(text.len());
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        let next = chars.get(i + 1).copied();
        if c == '/' && next == Some('/') {
            while i < chars.len() && chars[i] != '\n' {
                i += 1;
            }
        } else if c == '/' && next == Some('*') {
            let mut depth = 0;
            while i < chars.len() {
                if chars[i] == '/' && chars.get(i + 1) == Some(&'*') {
                    depth += 1;
                    i += 2;
                } else if chars[i] == '*' && chars.get(i + 1) == Some(&'/') {
                    depth -= 1;
                    i += 2;
                    if depth == 0 {
                        break;
                    }
                } else {
                    i += 1;
                }
            }
        } else if c == 'r' && matches!(next, Some('"' | '#')) && !ident_before(&chars, i) {
            // A raw string: r"..." or r#"..."#, ended by the quote and as many #.
            let mut j = i + 1;
            let mut hashes = 0;
            while chars.get(j) == Some(&'#') {
                hashes += 1;
                j += 1;
            }
            if chars.get(j) != Some(&'"') {
                out.push(c);
                i += 1;
                continue;
            }
            j += 1;
            loop {
                if j >= chars.len() {
                    break;
                }
                if chars[j] == '"' && (1..=hashes).all(|k| chars.get(j + k) == Some(&'#')) {
                    j += 1 + hashes;
                    break;
                }
                j += 1;
            }
            out.push_str("\"\"");
            i = j;
        } else if c == '"' {
            i += 1;
            while i < chars.len() && chars[i] != '"' {
                i += if chars[i] == '\\' { 2 } else { 1 };
            }
            i += 1;
            out.push_str("\"\"");
        } else if c == '\'' {
            // A character literal ('x', '\n', '{'), not a lifetime ('a).
            let close = match next {
                Some('\\') => (i + 2..chars.len().min(i + 12)).find(|&j| chars[j] == '\''),
                Some(_) if chars.get(i + 2) == Some(&'\'') => Some(i + 2),
                _ => None,
            };
            match close {
                Some(end) => {
                    out.push_str("' '");
                    i = end + 1;
                }
                None => {
                    out.push(c);
                    i += 1;
                }
            }
        } else {
            out.push(c);
            i += 1;
        }
    }
    out
}

fn ident_before(chars: &[char], i: usize) -> bool {
    i > 0 && (chars[i - 1].is_alphanumeric() || chars[i - 1] == '_')
}

/// `code` without the items under `#[cfg(test)]`: unit tests may reach anywhere.
fn without_tests(code: &str) -> String {
    let mut out = String::new();
    let mut rest = code;
    while let Some(at) = rest.find("#[cfg(test)]") {
        out.push_str(&rest[..at]);
        let item = &rest[at..];
        // The item ends at its first `;` outside braces, or at the brace that closes
        // its first block.
        let mut depth = 0usize;
        let mut end = item.len();
        for (k, ch) in item.char_indices() {
            match ch {
                '{' => depth += 1,
                '}' => {
                    depth -= 1;
                    if depth == 0 {
                        end = k + 1;
                        break;
                    }
                }
                ';' if depth == 0 => {
                    end = k + 1;
                    break;
                }
                _ => {}
            }
        }
        rest = &item[end..];
    }
    out.push_str(rest);
    out
}

/// Every path that follows `prefix`, with braces expanded: `crate::lab::{net, label}`
/// names `lab::net` and `lab::label`.
fn paths_after(code: &str, prefix: &str) -> Vec<String> {
    let mut paths = Vec::new();
    for (i, _) in code.match_indices(prefix) {
        if ident_before(
            &code.chars().collect::<Vec<_>>()[..],
            code[..i].chars().count(),
        ) {
            continue;
        }
        let rest = &code[i + prefix.len()..];
        let head: String = rest
            .chars()
            .take_while(|c| c.is_alphanumeric() || *c == '_' || *c == ':')
            .collect();
        let after = &rest[head.len()..];
        if head.ends_with("::") && after.starts_with('{') {
            let group = &after[1..after.find('}').unwrap_or(after.len())];
            for member in group.split(',') {
                let member = member.split_whitespace().next().unwrap_or("");
                let member = if member == "self" { "" } else { member };
                paths.push(format!("{head}{member}"));
            }
        } else {
            paths.push(head);
        }
    }
    paths
}

/// A cycle through `start`, if there is one.
fn cycle_from(
    graph: &BTreeMap<String, BTreeSet<String>>,
    start: &str,
    path: &mut Vec<String>,
) -> Option<Vec<String>> {
    for next in graph.get(path.last().unwrap()).into_iter().flatten() {
        if next == start {
            let mut cycle = path.clone();
            cycle.push(start.to_string());
            return Some(cycle);
        }
        if !path.contains(next) && next.as_str() > start {
            path.push(next.clone());
            if let Some(cycle) = cycle_from(graph, start, path) {
                return Some(cycle);
            }
            path.pop();
        }
    }
    None
}

/// The top-level module a module belongs to: `runtime/swarm/port` is in `runtime`.
fn top(module: &str) -> &str {
    module.split('/').next().unwrap()
}

fn layer(module: &str) -> Option<usize> {
    LAYERS.iter().position(|l| *l == top(module))
}

#[test]
fn no_module_imports_a_module_that_imports_it_back() {
    let graph = module_graph(&src());
    assert!(graph.contains_key("runtime/container"), "{graph:?}");
    let cycles: Vec<String> = graph
        .keys()
        .filter_map(|start| cycle_from(&graph, start, &mut vec![start.clone()]))
        .map(|cycle| cycle.join(" -> "))
        .collect();
    assert!(cycles.is_empty(), "import cycles:\n{}", cycles.join("\n"));
}

#[test]
fn layers_depend_downward_and_leaves_on_no_layer() {
    let graph = module_graph(&src());
    let mut wrong = Vec::new();
    for (module, uses) in &graph {
        if matches!(module.as_str(), "lib" | "main") {
            continue;
        }
        for used in uses {
            let why = match (layer(module), layer(used)) {
                (Some(from), Some(to)) if to < from => "a layer uses the one above it",
                (None, Some(_)) => "a leaf uses a layer",
                _ => continue,
            };
            wrong.push(format!("{module} -> {used}: {why}"));
        }
    }
    assert!(
        wrong.is_empty(),
        "imports against the direction {}:\n{}",
        LAYERS.join(" -> "),
        wrong.join("\n")
    );
    // The graph sees what a real import looks like, or the check above proves nothing.
    assert!(graph["commands/up"].contains("converge"), "{graph:?}");
    assert!(graph["converge"].contains("runtime"), "{graph:?}");
    assert!(
        graph["runtime/container"].contains("lab/container"),
        "{graph:?}"
    );
    assert!(graph["lab/image"].contains("engine"), "{graph:?}");
}

#[test]
fn the_engine_knows_nothing_above_it() {
    let graph = module_graph(&src());
    let reaching: Vec<String> = graph
        .iter()
        .filter(|(module, _)| top(module) == "engine")
        .flat_map(|(module, uses)| {
            uses.iter()
                .filter(|u| top(u) != "engine" && !ENGINE_MAY_USE.contains(&top(u)))
                .map(move |u| format!("{module} -> {u}"))
        })
        .collect();
    assert!(reaching.is_empty(), "{}", reaching.join("\n"));
}

#[test]
fn neither_the_verbs_nor_the_flow_tell_a_swarm_lab_from_a_container() {
    let mut files = Vec::new();
    for dir in ["commands", "converge"] {
        collect(&src().join(dir), &mut files);
    }
    assert!(files.len() > 10, "{files:?}");
    let branching: Vec<String> = files
        .iter()
        .filter(|file| {
            let code = without_tests(&code_only(&std::fs::read_to_string(file).unwrap()));
            code.contains(".swarm") || code.contains("runtime::swarm")
        })
        .map(|file| file.display().to_string())
        .collect();
    assert!(
        branching.is_empty(),
        "ask the runtime (runtime::for_spec) instead: {branching:?}"
    );
}

#[test]
fn the_reader_skips_comments_strings_and_tests() {
    let code = code_only(
        "use crate::a; // crate::b\n/* crate::c */ let s = \"crate::d\"; let r = r#\"crate::e\"#;\nlet c = '{'; fn f<'x>() {}\n#[cfg(test)]\nmod tests { use crate::f; }\nuse crate::g::{h, i::j};",
    );
    let code = without_tests(&code);
    assert_eq!(
        paths_after(&code, "crate::"),
        ["a", "g::h", "g::i::j"],
        "{code}"
    );
}
