//! What the user sees while rjup works: bars on a terminal, plain lines otherwise.
//! Everything here goes to stderr, so stdout stays for results.

use std::collections::HashMap;
use std::path::Path;
use std::time::Duration;

use bollard::moby::buildkit::v1::StatusResponse;
use bollard::models::{BuildInfo, BuildInfoAux, CreateImageInfo};
use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};

use crate::ui::printer::Printer;

/// Per-layer progress of an image pull.
pub struct Pull {
    printer: Printer,
    multi: Option<MultiProgress>,
    bars: HashMap<String, ProgressBar>,
    last: HashMap<String, String>,
}

impl Pull {
    pub fn new(reference: &str, printer: Printer) -> Self {
        printer.say(format!("Pulling {reference}"));
        Pull {
            printer,
            multi: printer
                .draws()
                .then(|| MultiProgress::with_draw_target(ProgressDrawTarget::stderr())),
            bars: HashMap::new(),
            last: HashMap::new(),
        }
    }

    pub fn update(&mut self, info: &CreateImageInfo) {
        let (Some(id), Some(status)) = (info.id.as_deref(), info.status.as_deref()) else {
            return;
        };
        // Pulls report the tag itself with an id too ("latest: Pulling from ..."); only layers get a line.
        if status.starts_with("Pulling from") {
            return;
        }
        let (current, total) = info
            .progress_detail
            .as_ref()
            .map_or((None, None), |p| (p.current, p.total));
        match &self.multi {
            Some(multi) => {
                let bar = self.bars.entry(id.to_string()).or_insert_with(|| {
                    let bar = multi.add(ProgressBar::new(0));
                    bar.set_style(
                        ProgressStyle::with_template(
                            "  {prefix} {wide_msg} {bytes:>10}/{total_bytes:10} {bar:20}",
                        )
                        .expect("the template is valid"),
                    );
                    bar.set_prefix(id.to_string());
                    bar
                });
                if let Some(total) = total.and_then(|t| u64::try_from(t).ok()) {
                    bar.set_length(total);
                }
                if let Some(current) = current.and_then(|c| u64::try_from(c).ok()) {
                    bar.set_position(current);
                }
                bar.set_message(status.to_string());
                if status == "Pull complete" || status == "Already exists" {
                    bar.finish();
                }
            }
            None => {
                // One line per change of a layer's status, not per chunk downloaded.
                if self.last.get(id).map(String::as_str) != Some(status) {
                    self.last.insert(id.to_string(), status.to_string());
                    self.printer.say(format!("  {id}: {status}"));
                }
            }
        }
    }
}

impl Drop for Pull {
    fn drop(&mut self) {
        if let Some(multi) = &self.multi {
            let _ = multi.clear();
        }
    }
}

/// Step progress of an image build, keeping the current step's output for error reports.
pub struct Build {
    printer: Printer,
    bar: Option<ProgressBar>,
    step: String,
    output: Vec<String>,
    /// BuildKit's steps by vertex digest: it runs stages at once and interleaves their
    /// output, in chunks that split lines anywhere.
    vertexes: HashMap<String, Vertex>,
    /// Digests of the BuildKit steps started and not finished, oldest first.
    running: Vec<String>,
    /// The first BuildKit step that failed on its own: when one parallel stage fails,
    /// BuildKit cancels the others and marks them failed too.
    first_failure: Option<String>,
    /// How many Dockerfile steps BuildKit announced for this build so far.
    steps: u64,
    /// How many steps the Dockerfile has, as BuildKit numbers them, when known: a step
    /// shared with another build can be announced, and start, before the others.
    expected: u64,
}

#[derive(Default)]
struct Vertex {
    /// The Dockerfile step, `RUN ...`, and its place among this build's steps; none
    /// for BuildKit's own work (loading the context, exporting the image). rjup numbers
    /// the steps itself: BuildKit shares a step with a build running at the same time
    /// that has the same one (the `FROM` of every lab on one tools image), and then
    /// names it as that build does, `[1/5] FROM ...` in a build of 7 steps.
    step: Option<(u64, String)>,
    /// BuildKit's own name for work that is no step, when that work failed.
    own_name: String,
    lines: Vec<String>,
    /// The unfinished last line of each stream (stdout, stderr) of the step: the
    /// streams' chunks interleave, and each splits lines anywhere.
    partial: HashMap<i64, String>,
    shown: bool,
    failed: bool,
}

impl Build {
    pub fn new(tag: &str, context_bytes: usize, printer: Printer) -> Self {
        printer.say(format!(
            "Building {tag} (build context: {})",
            human_bytes(context_bytes)
        ));
        let bar = printer.draws().then(|| {
            let bar = ProgressBar::with_draw_target(Some(1), ProgressDrawTarget::stderr());
            bar.set_style(
                ProgressStyle::with_template("  [{pos}/{len}] {wide_msg} {elapsed:>4}")
                    .expect("the template is valid"),
            );
            bar.enable_steady_tick(Duration::from_millis(200));
            bar
        });
        Build {
            printer,
            bar,
            step: String::new(),
            output: Vec::new(),
            vertexes: HashMap::new(),
            running: Vec::new(),
            first_failure: None,
            steps: 0,
            expected: 0,
        }
    }

    /// The number of steps the Dockerfile has, as BuildKit numbers them.
    pub fn expecting(mut self, steps: Option<u64>) -> Self {
        self.expected = steps.unwrap_or(0);
        self
    }

    /// The count of BuildKit steps to show: the Dockerfile's, or as many as announced.
    fn buildkit_total(&self) -> u64 {
        self.steps.max(self.expected)
    }

    pub fn update(&mut self, info: &BuildInfo) {
        if let Some(BuildInfoAux::BuildKit(status)) = &info.aux {
            return self.update_buildkit(status);
        }
        let Some(text) = info.stream.as_deref() else {
            return;
        };
        // Colours are for terminals; output kept for reports and logs is plain text.
        let text = strip_ansi_escapes::strip_str(text);
        for line in text.lines().map(str::trim_end).filter(|l| !l.is_empty()) {
            if let Some((n, total, what)) = parse_step(line) {
                self.step = line.to_string();
                self.output.clear();
                self.show_step(n, total, what);
            } else {
                self.echo_summary(line);
                self.output.push(line.to_string());
                // The whole step goes to the log on failure; this bounds a runaway one.
                if self.output.len() > MAX_STEP_LINES {
                    self.output.drain(..MAX_STEP_LINES / 2);
                }
            }
        }
    }

    fn show_step(&self, n: u64, total: u64, what: &str) {
        match &self.bar {
            Some(bar) => {
                bar.set_length(total);
                bar.set_position(n.saturating_sub(1));
                bar.set_message(one_line(what, 200));
            }
            None => self
                .printer
                .say(format!("  Step {n}/{total} : {}", one_line(what, 100))),
        }
    }

    /// uv's one-line summaries (`Prepared 1 package in 40ms`) say what a step
    /// downloaded and installed, which is worth a line of its own.
    fn echo_summary(&self, line: &str) {
        let words: Vec<&str> = line.split_whitespace().collect();
        let summary = matches!(
            words.as_slice(),
            [verb, count, noun, "in", _] if ["Prepared", "Installed", "Uninstalled"].contains(verb)
                && count.parse::<u64>().is_ok() && noun.starts_with("package")
        );
        if !summary {
            return;
        }
        match &self.bar {
            Some(bar) => bar.println(format!("    {line}")),
            None => self.printer.say(format!("    {line}")),
        }
    }

    fn update_buildkit(&mut self, status: &StatusResponse) {
        for v in &status.vertexes {
            let entry = self.vertexes.entry(v.digest.clone()).or_default();
            if entry.step.is_none() {
                // BuildKit announces a build's steps in the Dockerfile's order.
                if let Some((_, _, what)) = parse_vertex(&v.name) {
                    self.steps += 1;
                    entry.step = Some((self.steps, what));
                }
            }
            entry.failed |= !v.error.is_empty();
            if self.first_failure.is_none() && !v.error.is_empty() && !is_cancellation(&v.error) {
                self.first_failure = Some(v.digest.clone());
            }
            let show = v.started.is_some() && !entry.shown && entry.step.is_some();
            entry.shown |= show;
            // BuildKit's own work can fail too (a base it cannot resolve): name it as is.
            if entry.failed && entry.step.is_none() {
                entry.own_name = v.name.clone();
            }
            if v.completed.is_some() {
                self.running.retain(|d| d != &v.digest);
            } else if v.started.is_some() && !self.running.contains(&v.digest) {
                self.running.push(v.digest.clone());
            }
            if let (true, Some((n, what))) = (show, entry.step.clone()) {
                self.show_step(n, self.buildkit_total(), &what);
            }
        }
        for log in &status.logs {
            let entry = self.vertexes.entry(log.vertex.clone()).or_default();
            let partial = entry.partial.entry(log.stream).or_default();
            partial.push_str(&String::from_utf8_lossy(&log.msg));
            let mut finished = Vec::new();
            while let Some(end) = partial.find('\n') {
                let line: String = partial.drain(..=end).collect();
                finished.push(last_redraw(&line));
            }
            for line in finished {
                self.echo_summary(&line);
                let entry = self.vertexes.get_mut(&log.vertex).expect("added above");
                entry.lines.push(line);
                if entry.lines.len() > MAX_STEP_LINES {
                    entry.lines.drain(..MAX_STEP_LINES / 2);
                }
            }
        }
    }

    /// Under BuildKit, the step that failed (or, if BuildKit has not said, the last one
    /// still running) becomes the current step, with all it printed.
    fn settle_buildkit_step(&mut self) {
        let named = |v: &&Vertex| v.step.is_some() || !v.own_name.is_empty();
        let first_failure = self
            .first_failure
            .as_ref()
            .and_then(|d| self.vertexes.get(d))
            .filter(named);
        let failed =
            first_failure.or_else(|| self.vertexes.values().find(|v| v.failed && named(v)));
        let running = self
            .running
            .iter()
            .rev()
            .filter_map(|d| self.vertexes.get(d))
            .find(|v| v.step.is_some());
        if let Some(v) = failed.or(running) {
            self.step = match &v.step {
                Some((n, what)) => format!("Step {n}/{} : {what}", self.buildkit_total()),
                None => v.own_name.clone(),
            };
            self.output = v.lines.clone();
            let mut streams: Vec<_> = v.partial.iter().collect();
            streams.sort();
            for (_, partial) in streams {
                if !partial.trim().is_empty() {
                    self.output.push(last_redraw(partial));
                }
            }
            self.output.retain(|l| !l.is_empty());
        }
    }

    /// The failing step and the last `tail` lines it printed; when it printed more, all
    /// of it goes to `log`, and the report says where, and quotes the earlier lines that
    /// look like errors: a script that goes on after a command fails (postBuild without
    /// `set -e`) can print pages before it fails, and the cause is then far from the end.
    pub fn failure_report(&mut self, tail: usize, log: Option<&Path>) -> String {
        self.settle_buildkit_step();
        let start = self.output.len().saturating_sub(tail);
        let mut report = self.step.clone();
        let mut line = |text: &str| {
            report.push_str("\n    ");
            report.push_str(text);
        };
        if start > 0 {
            let whole = format!("{}\n{}\n", self.step, self.output.join("\n"));
            let written = log.filter(|path| write_log(path, whole.as_bytes()).is_ok());
            let lines = if start == 1 { "line" } else { "lines" };
            line(&match written {
                Some(path) => format!("… {start} earlier {lines} in {}", path.display()),
                None => format!("… {start} earlier {lines} not shown"),
            });
            let errors = error_lines(&self.output[..start]);
            if !errors.is_empty() {
                line("… among them, these look like errors:");
                for error in &errors {
                    line(error);
                }
                line(&format!(
                    "… and the last {} lines:",
                    self.output.len() - start
                ));
            }
        }
        for text in &self.output[start..] {
            line(text);
        }
        report
    }
}

/// How many earlier lines that look like errors a failure report quotes: the first
/// ones, which are most often the cause, and the last one, nearest the failure.
const MAX_ERROR_LINES: usize = 5;

/// The lines of `output` that look like errors, as many as [`MAX_ERROR_LINES`], and a
/// line saying how many more there are between them.
fn error_lines(output: &[String]) -> Vec<String> {
    let errors: Vec<&String> = output.iter().filter(|l| looks_like_error(l)).collect();
    if errors.len() <= MAX_ERROR_LINES {
        return errors.into_iter().cloned().collect();
    }
    let first = MAX_ERROR_LINES - 1;
    let more = errors.len() - MAX_ERROR_LINES;
    let mut shown: Vec<String> = errors[..first].iter().map(|l| l.to_string()).collect();
    shown.push(format!(
        "… {more} more such {}",
        if more == 1 { "line" } else { "lines" }
    ));
    shown.push(errors[errors.len() - 1].clone());
    shown
}

/// Whether a line of build output reads like an error: by its words (a package's
/// name is one word), so that `checking for strerror... yes` and a package named
/// `pytest-error` do not.
fn looks_like_error(line: &str) -> bool {
    let lower = line.trim_start().to_lowercase();
    if lower.starts_with("warning") || lower.starts_with("w: ") {
        return false;
    }
    const WORDS: &[&str] = &[
        "error",
        "err",
        "fatal",
        "failed",
        "failure",
        "traceback",
        "denied",
    ];
    const PHRASES: &[&str] = &[
        "cannot ",
        "can't ",
        "could not ",
        "couldn't ",
        "unable to ",
        "no such file",
        "not found",
        "no module named",
    ];
    // apt's errors, and Python's exceptions (`ModuleNotFoundError: ...`).
    lower.starts_with("e: ")
        || PHRASES.iter().any(|p| lower.contains(p))
        || line
            .split(|c: char| !c.is_alphanumeric() && !"-_.".contains(c))
            .map(|word| word.trim_matches(['-', '_', '.']))
            .any(|word| {
                WORDS.contains(&word.to_lowercase().as_str())
                    || ["Error", "Exception"]
                        .iter()
                        .any(|end| word.len() > end.len() && word.ends_with(end))
            })
}

const MAX_STEP_LINES: usize = 100_000;

/// BuildKit's mark on a step it stopped because another failed.
fn is_cancellation(error: &str) -> bool {
    let error = error.trim_end();
    error == "canceled" || error.ends_with("context canceled")
}

fn write_log(path: &Path, contents: &[u8]) -> anyhow::Result<()> {
    use std::os::unix::fs::DirBuilderExt;
    if let Some(dir) = path.parent() {
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(dir)?;
    }
    crate::state::write_atomically(path, contents, 0o600)
}

impl Drop for Build {
    fn drop(&mut self) {
        if let Some(bar) = &self.bar {
            bar.finish_and_clear();
        }
    }
}

pub fn human_bytes(n: usize) -> String {
    match n {
        n if n < 1024 => format!("{n} B"),
        n if n < 1024 * 1024 => format!("{:.1} KiB", n as f64 / 1024.0),
        n => format!("{:.1} MiB", n as f64 / (1024.0 * 1024.0)),
    }
}

/// A Dockerfile instruction as one line of at most `max` characters.
fn one_line(text: &str, max: usize) -> String {
    let flat = text.split_whitespace().collect::<Vec<_>>().join(" ");
    match flat.char_indices().nth(max) {
        Some((cut, _)) => format!("{}…", &flat[..cut]),
        None => flat,
    }
}

/// A line as a terminal would end up showing it: progress bars redraw with `\r`, and
/// only what follows the last one stays.
fn last_redraw(line: &str) -> String {
    let line = line.trim_end_matches(['\n', '\r']);
    let shown = line.rsplit('\r').next().unwrap_or(line);
    strip_ansi_escapes::strip_str(shown).trim_end().to_string()
}

/// BuildKit's name for a Dockerfile step, `[lab 2/3] RUN ...` or `[2/3] RUN ...`, →
/// (2, 3, "RUN ..."), without the cache mounts and their setup, which are rjup's own.
fn parse_vertex(name: &str) -> Option<(u64, u64, String)> {
    let (label, what) = name.strip_prefix('[')?.split_once("] ")?;
    let (n, total) = label.split_whitespace().last()?.split_once('/')?;
    let flat = one_line(what, usize::MAX);
    let words: Vec<&str> = flat
        .split(' ')
        .filter(|w| !w.starts_with("--mount="))
        .collect();
    let mut text = words.join(" ");
    for setup in CACHE_SETUP {
        text = text.replace(setup, "");
    }
    Some((n.parse().ok()?, total.parse().ok()?, text))
}

/// What rjup's cache mounts add to a step's command, left out when naming it.
const CACHE_SETUP: &[&str] = &[
    "\\ ",
    "export UV_CACHE_DIR=/var/cache/rjup/uv PIP_CACHE_DIR=/var/cache/rjup/pip && ",
    "export UV_CACHE_DIR=/var/cache/rjup/uv && ",
    "rm -f /etc/apt/apt.conf.d/docker-clean && ",
];

/// `Step 3/9 : RUN ...` (Docker's classic builder) or `STEP 3/9: RUN ...` (buildah,
/// behind Podman's API, which prefixes `[1/2] ` in multi-stage builds) → (3, 9, "RUN ...").
fn parse_step(line: &str) -> Option<(u64, u64, &str)> {
    let (counts, what) = match line.strip_prefix("Step ") {
        Some(rest) => rest.split_once(" : ")?,
        None => {
            let line = match line.strip_prefix('[') {
                Some(staged) => staged.split_once("] ")?.1,
                None => line,
            };
            line.strip_prefix("STEP ")?.split_once(": ")?
        }
    };
    let (n, total) = counts.split_once('/')?;
    Some((n.parse().ok()?, total.parse().ok()?, what))
}

/// A spinner while waiting, or one line when there is no terminal.
pub struct Wait {
    bar: Option<ProgressBar>,
}

impl Wait {
    pub fn new(message: &str, printer: Printer) -> Self {
        if !printer.draws() {
            printer.say(message);
            return Wait { bar: None };
        }
        let bar = ProgressBar::with_draw_target(None, ProgressDrawTarget::stderr());
        bar.set_style(
            ProgressStyle::with_template("{spinner} {msg} {elapsed}")
                .expect("the template is valid"),
        );
        bar.set_message(message.to_string());
        bar.enable_steady_tick(Duration::from_millis(100));
        Wait { bar: Some(bar) }
    }
}

impl Drop for Wait {
    fn drop(&mut self) {
        if let Some(bar) = &self.bar {
            bar.finish_and_clear();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_instructions_are_shown_on_one_short_line() {
        assert_eq!(one_line("ENV A=1 \\\n     B=2", 100), "ENV A=1 \\ B=2");
        assert_eq!(one_line("RUN abcdef", 5), "RUN a…");
    }

    #[test]
    fn build_steps_are_recognised() {
        assert_eq!(
            parse_step("Step 3/9 : RUN uv pip install"),
            Some((3, 9, "RUN uv pip install"))
        );
        assert_eq!(parse_step(" ---> Running in 1234"), None);
    }

    #[test]
    fn terminal_escapes_are_stripped() {
        let strip_ansi = strip_ansi_escapes::strip_str::<&str>;
        assert_eq!(
            strip_ansi("\u{1b}[0;31mValueError\u{1b}[0m: boom"),
            "ValueError: boom"
        );
        assert_eq!(strip_ansi("\u{1b}[?25lhi\u{1b}[2K"), "hi");
        assert_eq!(
            strip_ansi("\u{1b}]8;;http://x\u{7}link\u{1b}]8;;\u{1b}\\"),
            "link"
        );
    }

    #[test]
    fn build_output_is_kept_without_colours() {
        let mut b = Build::new("rjup/test:0", 0, Printer::plain());
        b.update(&BuildInfo {
            stream: Some("Step 1/1 : RUN x\n\u{1b}[31merror\u{1b}[0m: no\n".into()),
            ..Default::default()
        });
        assert_eq!(b.failure_report(5, None), "Step 1/1 : RUN x\n    error: no");
    }

    #[test]
    fn a_long_failing_step_goes_whole_to_the_log_and_the_report_says_so() {
        let mut b = Build::new("rjup/test:0", 0, Printer::plain());
        let lines: String = (1..=40).map(|n| format!("line {n}\n")).collect();
        b.update(&BuildInfo {
            stream: Some(format!("Step 9/9 : RUN ./postBuild\n{lines}")),
            ..Default::default()
        });
        let dir = tempfile::tempdir().unwrap();
        let log = dir.path().join("state/build.log");
        let report = b.failure_report(15, Some(&log));
        let shown: Vec<&str> = report.lines().collect();
        assert_eq!(shown[0], "Step 9/9 : RUN ./postBuild");
        assert_eq!(
            shown[1],
            format!("    … 25 earlier lines in {}", log.display())
        );
        assert_eq!(shown[2], "    line 26");
        assert_eq!(shown.len(), 17);
        let whole = std::fs::read_to_string(&log).unwrap();
        assert!(
            whole.starts_with("Step 9/9 : RUN ./postBuild\nline 1\n")
                && whole.ends_with("line 40\n")
        );
        assert!(b
            .failure_report(15, None)
            .contains("… 25 earlier lines not shown"));
        assert!(!b.failure_report(40, Some(&log)).contains('…'));
    }

    #[test]
    fn buildkit_steps_are_named_as_the_classic_builder_names_them() {
        assert_eq!(
            parse_vertex("[stage-3 6/7] RUN --mount=type=cache,id=rjup-python,target=/var/cache/rjup     export UV_CACHE_DIR=/var/cache/rjup/uv PIP_CACHE_DIR=/var/cache/rjup/pip && uv pip install -r /opt/rjup/requirements.txt"),
            Some((6, 7, "RUN uv pip install -r /opt/rjup/requirements.txt".to_string()))
        );
        assert_eq!(
            parse_vertex("[2/3] COPY a b"),
            Some((2, 3, "COPY a b".to_string()))
        );
        assert_eq!(parse_vertex("[internal] load metadata for x"), None);
        assert_eq!(parse_vertex("exporting to image"), None);
    }

    #[test]
    fn buildkit_output_split_anywhere_is_kept_by_step_in_whole_lines() {
        use bollard::moby::buildkit::v1::{Vertex as V, VertexLog};
        let mut b = Build::new("t", 1, Printer::plain());
        let started = Some(Default::default());
        let vertex = |digest: &str, name: &str, error: &str| V {
            digest: digest.into(),
            name: name.into(),
            started,
            error: error.into(),
            ..Default::default()
        };
        let log = |digest: &str, text: &str| VertexLog {
            vertex: digest.into(),
            msg: text.as_bytes().to_vec(),
            ..Default::default()
        };
        let status = |vertexes: Vec<V>, logs: Vec<VertexLog>| BuildInfo {
            aux: Some(BuildInfoAux::BuildKit(StatusResponse {
                vertexes,
                logs,
                ..Default::default()
            })),
            ..Default::default()
        };
        b.update(&status(
            vec![
                vertex("a", "[system 1/1] RUN apt-get update", ""),
                vertex(
                    "b",
                    "[stage-3 9/9] RUN cd /home/lab && /opt/rjup/postBuild",
                    "",
                ),
            ],
            vec![],
        ));
        b.update(&status(
            vec![],
            vec![
                log("b", "wget: no"),
                log("a", "Get:1 http"),
                log("b", "t found\n\u{1b}[31mboom\u{1b}[0m\n"),
                log("a", "://deb\n"),
            ],
        ));
        b.update(&status(
            vec![vertex(
                "b",
                "[stage-3 9/9] RUN cd /home/lab && /opt/rjup/postBuild",
                "exit code: 127",
            )],
            vec![],
        ));
        // Numbered among the two steps BuildKit announced, not by their stages.
        assert_eq!(
            b.failure_report(5, None),
            "Step 2/2 : RUN cd /home/lab && /opt/rjup/postBuild\n    wget: not found\n    boom"
        );
    }

    fn buildkit_status(
        vertexes: Vec<bollard::moby::buildkit::v1::Vertex>,
        logs: Vec<bollard::moby::buildkit::v1::VertexLog>,
    ) -> BuildInfo {
        BuildInfo {
            aux: Some(BuildInfoAux::BuildKit(StatusResponse {
                vertexes,
                logs,
                ..Default::default()
            })),
            ..Default::default()
        }
    }

    fn buildkit_vertex(
        digest: &str,
        name: &str,
        error: &str,
    ) -> bollard::moby::buildkit::v1::Vertex {
        bollard::moby::buildkit::v1::Vertex {
            digest: digest.into(),
            name: name.into(),
            started: Some(Default::default()),
            error: error.into(),
            ..Default::default()
        }
    }

    fn buildkit_log(
        digest: &str,
        stream: i64,
        text: &str,
    ) -> bollard::moby::buildkit::v1::VertexLog {
        bollard::moby::buildkit::v1::VertexLog {
            vertex: digest.into(),
            stream,
            msg: text.as_bytes().to_vec(),
            ..Default::default()
        }
    }

    #[test]
    fn regression_a_from_shared_with_another_build_and_shown_first_is_step_1_of_all() {
        // Seen in CI: "Step 1/1 : FROM ..." then "Step 2/8 : RUN ...".
        let mut b = Build::new("t", 1, Printer::plain()).expecting(Some(3));
        let from = buildkit_vertex("a", "[1/5] FROM docker.io/rjup/tools:0", "");
        b.update(&buildkit_status(vec![from], vec![]));
        assert_eq!(b.buildkit_total(), 3);
        b.update(&buildkit_status(
            vec![
                buildkit_vertex("b", "[2/3] RUN true", ""),
                buildkit_vertex("c", "[3/3] WORKDIR /home/lab", ""),
            ],
            vec![],
        ));
        assert_eq!(b.buildkit_total(), 3);
    }

    #[test]
    fn the_step_that_failed_is_reported_not_the_stage_buildkit_cancelled_for_it() {
        const APT: &str = "[system 1/1] RUN apt-get update -qq && apt-get install -y git";
        const UV: &str = "[lab 2/2] RUN uv pip install -r /opt/rjup/lab-requirements.txt";
        let mut b = Build::new("t", 1, Printer::plain());
        b.update(&buildkit_status(
            vec![
                buildkit_vertex("apt", APT, ""),
                buildkit_vertex("uv", UV, ""),
            ],
            vec![
                buildkit_log("apt", 1, "Get:1 http://deb\n"),
                buildkit_log("uv", 2, "No solution found\n"),
            ],
        ));
        // The cancelled stage may even be reported first, in the same status.
        b.update(&buildkit_status(
            vec![
                buildkit_vertex("apt", APT, "context canceled"),
                buildkit_vertex(
                    "uv",
                    UV,
                    "process did not complete successfully: exit code: 1",
                ),
            ],
            vec![],
        ));
        assert_eq!(
            b.failure_report(5, None),
            "Step 2/2 : RUN uv pip install -r /opt/rjup/lab-requirements.txt\n    No solution found"
        );
        assert!(is_cancellation("context canceled") && is_cancellation("canceled"));
        assert!(!is_cancellation("exit code: 1"));
    }

    #[test]
    fn a_steps_stdout_and_stderr_are_split_into_lines_apart() {
        let mut b = Build::new("t", 1, Printer::plain());
        let step = "[1/1] RUN ./postBuild";
        b.update(&buildkit_status(
            vec![buildkit_vertex("p", step, "")],
            vec![
                buildkit_log("p", 1, "Downloading ab"),
                buildkit_log("p", 2, "warning: slow\n"),
                buildkit_log("p", 1, "c.whl\nDone"),
                buildkit_log("p", 2, "error: no spa"),
            ],
        ));
        b.update(&buildkit_status(
            vec![buildkit_vertex("p", step, "exit code: 1")],
            vec![],
        ));
        assert_eq!(
            b.failure_report(5, None),
            "Step 1/1 : RUN ./postBuild\n    warning: slow\n    Downloading abc.whl\n    Done\n    error: no spa"
        );
    }

    #[test]
    fn buildah_steps_are_recognised() {
        assert_eq!(
            parse_step("STEP 3/9: RUN uv pip install"),
            Some((3, 9, "RUN uv pip install"))
        );
        assert_eq!(
            parse_step("[2/2] STEP 1/4: FROM python:3.13-slim"),
            Some((1, 4, "FROM python:3.13-slim"))
        );
        assert_eq!(parse_step("COMMIT rjup/demo:0123"), None);
        assert_eq!(parse_step("[notice] STEP up"), None);
    }

    #[test]
    fn failure_report_names_the_step_and_its_last_output() {
        let mut b = Build::new("rjup/test:0", 0, Printer::plain());
        let stream = |s: &str| BuildInfo {
            stream: Some(s.to_string()),
            ..Default::default()
        };
        b.update(&stream("Step 1/2 : FROM x\n"));
        b.update(&stream(" ---> abc\n"));
        b.update(&stream("Step 2/2 : RUN false\n"));
        b.update(&stream("oops\nno such package\n"));
        assert_eq!(
            b.failure_report(1, None),
            "Step 2/2 : RUN false\n    … 1 earlier line not shown\n    no such package"
        );
    }

    #[test]
    fn a_step_buildkit_shares_with_another_build_is_numbered_among_this_builds_steps() {
        // The `FROM` is shared with a build of 5 steps running at the same time, and
        // BuildKit names it as that build does.
        let mut b = Build::new("t", 1, Printer::plain());
        let mut steps = vec![buildkit_vertex(
            "from",
            "[1/5] FROM docker.io/rjup/tools:abc",
            "",
        )];
        for (n, what) in [
            (2, "COPY a /opt/rjup/"),
            (3, "RUN uv venv /opt/lab"),
            (4, "RUN useradd lab"),
            (5, "COPY project/requirements.txt /opt/rjup/"),
            (6, "RUN uv pip install -r r.txt"),
            (7, "WORKDIR /home/lab"),
        ] {
            steps.push(buildkit_vertex(
                &format!("s{n}"),
                &format!("[stage-0 {n}/7] {what}"),
                "",
            ));
        }
        for step in &mut steps {
            step.started = None;
        }
        b.update(&buildkit_status(steps, vec![]));
        b.update(&buildkit_status(
            vec![buildkit_vertex(
                "from",
                "[1/5] FROM docker.io/rjup/tools:abc",
                "pull access denied",
            )],
            vec![],
        ));
        assert_eq!(
            b.failure_report(5, None),
            "Step 1/7 : FROM docker.io/rjup/tools:abc"
        );

        let mut b = Build::new("t", 1, Printer::plain());
        b.update(&buildkit_status(
            vec![
                buildkit_vertex("from", "[1/5] FROM docker.io/rjup/tools:abc", ""),
                buildkit_vertex("copy", "[stage-0 2/3] COPY a /opt/rjup/", ""),
                buildkit_vertex("run", "[stage-0 3/3] RUN false", ""),
            ],
            vec![],
        ));
        b.update(&buildkit_status(
            vec![buildkit_vertex(
                "run",
                "[stage-0 3/3] RUN false",
                "exit code: 1",
            )],
            vec![],
        ));
        assert_eq!(b.failure_report(5, None), "Step 3/3 : RUN false");
    }

    #[test]
    fn a_long_failure_quotes_the_earlier_lines_that_look_like_errors() {
        let mut b = Build::new("t", 0, Printer::plain());
        let noise: String = (1..=40)
            .map(|n| format!("Collecting package-{n}\n"))
            .collect();
        b.update(&BuildInfo {
            stream: Some(format!(
                "Step 8/9 : RUN ./postBuild\nstarting\nmv: cannot stat 'data/raw.csv': No such file or directory\n{noise}"
            )),
            ..Default::default()
        });
        let dir = tempfile::tempdir().unwrap();
        let log = dir.path().join("build.log");
        let report = b.failure_report(15, Some(&log));
        let shown: Vec<&str> = report.lines().collect();
        assert_eq!(
            shown[..6],
            [
                "Step 8/9 : RUN ./postBuild",
                &format!("    … 27 earlier lines in {}", log.display()),
                "    … among them, these look like errors:",
                "    mv: cannot stat 'data/raw.csv': No such file or directory",
                "    … and the last 15 lines:",
                "    Collecting package-26",
            ]
        );
        assert_eq!(shown.len(), 20, "{report}");

        // Many: the first ones and the last one.
        let mut b = Build::new("t", 0, Printer::plain());
        let errors: String = (1..=9).map(|n| format!("ERROR: no {n}\nok\n")).collect();
        b.update(&BuildInfo {
            stream: Some(format!("Step 1/1 : RUN x\n{errors}{noise}")),
            ..Default::default()
        });
        let report = b.failure_report(15, None);
        let quoted: Vec<&str> = report
            .lines()
            .skip_while(|l| !l.contains("look like errors"))
            .skip(1)
            .take_while(|l| !l.contains("the last 15"))
            .collect();
        assert_eq!(
            quoted,
            [
                "    ERROR: no 1",
                "    ERROR: no 2",
                "    ERROR: no 3",
                "    ERROR: no 4",
                "    … 4 more such lines",
                "    ERROR: no 9"
            ]
        );
    }

    #[test]
    fn error_like_lines_are_told_by_their_words() {
        for error in [
            "mv: cannot stat 'a': No such file or directory",
            "E: Unable to locate package nosuch",
            "ERROR: Could not find a version that satisfies the requirement nosuch",
            "ModuleNotFoundError: No module named 'tabulate'",
            "Traceback (most recent call last):",
            "npm ERR! code E404",
            "bash: line 3: wget: command not found",
            "PermissionError: [Errno 13] Permission denied: '/opt/lab'",
            "fatal: not a git repository",
            "  × Failed to build `pkg==1.0`",
        ] {
            assert!(looks_like_error(error), "{error}");
        }
        for fine in [
            "Collecting package-1",
            "checking for strerror_r... yes",
            "Collecting pytest-error-for-skips",
            "Successfully installed errorhandler-1.0",
            "warning: could not find the cache; building from scratch",
            "Installed 90 packages in 5.56s",
        ] {
            assert!(!looks_like_error(fine), "{fine}");
        }
    }
}
