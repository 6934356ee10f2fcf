//! The command line, and nothing else: every flag rjup accepts is declared here.

use std::net::IpAddr;
use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

const EXAMPLES: &str = "\
Examples:
  rjup up                         build the image, start the lab, print its URLs
  rjup up --port 9000             publish on port 9000 instead
  rjup status --json              machine-readable state of this project's lab
  rjup build --no-cache           rebuild the image from scratch, without starting it
  rjup lock                       pin the environment in rjup.lock; `--check` in CI
  rjup logs -f                    follow the lab's log
  rjup password                   set a new password and restart the lab
  rjup user add ada --read-only   let a colleague log in by name, to look only
  rjup down                       stop and remove the lab; files and image stay
  rjup check --up --down --json   CI smoke test: start, log in, run code and notebooks, remove
  rjup ls                         every rjup lab on this engine
  rjup init                       write a commented rjup.yaml here
  rjup completions bash           print a shell completion script
  rjup -v up                      also show each engine call and how long it took";

#[derive(Debug, Parser)]
#[command(
    name = "rjup",
    version,
    about = "One command from a project directory to a password-protected JupyterLab on this host's IP",
    after_help = EXAMPLES,
    propagate_version = true
)]
pub struct Cli {
    /// Use the project at this directory instead of searching upward from the current one
    #[arg(short = 'C', long = "project", global = true, value_name = "DIR")]
    pub project: Option<PathBuf>,

    /// The Docker context to use (overrides DOCKER_HOST, DOCKER_CONTEXT and `docker context use`)
    #[arg(short = 'c', long, global = true, value_name = "NAME")]
    pub context: Option<String>,

    /// Also print what rjup asks the engine and the lab, and how long each took (-vv: more)
    #[arg(short, long, global = true, action = clap::ArgAction::Count, conflicts_with = "quiet")]
    pub verbose: u8,

    /// Print only results, warnings and errors: no progress, no notes
    #[arg(short, long, global = true)]
    pub quiet: bool,

    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Build or pull the image, start the lab detached and wait until it answers
    #[command(after_help = "Examples:
  rjup up
  RJUP_PASSWORD=secret rjup up --port 9000 --bind 10.0.0.5
  echo secret | rjup up --password-stdin
  rjup up --rebuild                rebuild the image even if it is up to date")]
    Up(UpArgs),

    /// Build the lab's image without running it
    #[command(after_help = "Examples:
  rjup build
  rjup build --no-cache --pull")]
    Build(BuildArgs),

    /// Pin the environment: the base image's digest and every Python package's version
    #[command(after_help = "Examples:
  rjup lock
  rjup lock --check               in CI: fail when rjup.lock is stale")]
    Lock(LockArgs),

    /// Stop and remove the lab; the project's files, the image and the password stay
    #[command(after_help = "Examples:
  rjup down
  rjup down --forget              also forget the password and certificate
  rjup down --json")]
    Down(DownArgs),

    /// Test the lab from outside: log in, run code in a kernel, run notebooks
    #[command(after_help = "Examples:
  RJUP_PASSWORD=secret rjup check
  rjup check analysis.ipynb --junit report.xml
  echo \"$PW\" | rjup check --password-stdin --up --down --json")]
    Check(CheckArgs),

    /// List every rjup lab on this engine, across all projects
    #[command(after_help = "Examples:
  rjup ls
  rjup ls --json")]
    Ls(LsArgs),

    /// Show the lab's state, URLs, image and uptime
    #[command(after_help = "Examples:
  rjup status
  rjup status --json | jq -r .urls[0]")]
    Status(StatusArgs),

    /// Print the lab's log
    #[command(after_help = "Examples:
  rjup logs
  rjup logs -f --tail 20")]
    Logs(LogsArgs),

    /// Set a new password; a running lab restarts with it, without a rebuild
    #[command(after_help = "Examples:
  rjup password
  echo new-secret | rjup password --password-stdin")]
    Password(PasswordArgs),

    /// Named accounts: colleagues log in with their own name and password
    #[command(subcommand)]
    User(UserCommand),

    /// Write a commented rjup.yaml that documents every key
    #[command(after_help = "Examples:
  rjup init
  rjup init --name my-analysis")]
    Init(InitArgs),

    /// Print a shell completion script
    #[command(after_help = "Examples:
  rjup completions bash > ~/.local/share/bash-completion/completions/rjup
  rjup completions zsh > ~/.zfunc/_rjup")]
    Completions(CompletionsArgs),

    /// What the `rjup-acme` container runs: renews the certificates of `tls: acme`
    /// labs. Not for people; rjup starts it.
    #[command(name = "acme-renewer", hide = true)]
    AcmeRenewer,
}

#[derive(Debug, Args)]
pub struct UpArgs {
    /// Host port to publish the lab on (overrides `port` in rjup.yaml)
    #[arg(long, value_parser = clap::value_parser!(u16).range(1..))]
    pub port: Option<u16>,

    /// Host IP address to publish on (overrides `bind` in rjup.yaml)
    #[arg(long, value_name = "ADDR")]
    pub bind: Option<IpAddr>,

    #[command(flatten)]
    pub password: PasswordSource,

    /// Recreate the container even if nothing changed
    #[arg(long)]
    pub force_recreate: bool,

    /// Rebuild the image even if its tag exists (implies --force-recreate)
    #[arg(long)]
    pub rebuild: bool,

    /// Seconds to wait for the lab to answer HTTP
    #[arg(long, default_value_t = 120, value_name = "SECONDS")]
    pub timeout: u64,

    /// Print one JSON object on stdout instead of text; never prompt
    #[arg(long)]
    pub json: bool,

    #[command(flatten)]
    pub lock: LockFlags,
}

#[derive(Debug, Args)]
pub struct BuildArgs {
    /// Build every step anew, ignoring the layer cache
    #[arg(long)]
    pub no_cache: bool,

    /// Pull a newer version of the base image if there is one
    #[arg(long)]
    pub pull: bool,

    #[command(flatten)]
    pub lock: LockFlags,
}

/// What to do with an `rjup.lock` that no longer matches the environment files, as uv's
/// and cargo's flags of the same names do; by default it is resolved again.
#[derive(Debug, Default, Clone, Copy, Args)]
pub struct LockFlags {
    /// Refuse a stale rjup.lock (exit 13) instead of updating it, as CI should
    #[arg(long, conflicts_with = "frozen")]
    pub locked: bool,

    /// Use rjup.lock as it is, without checking it against the environment files
    #[arg(long)]
    pub frozen: bool,
}

#[derive(Debug, Args)]
pub struct LockArgs {
    /// Only check that rjup.lock matches the environment files; exit 13 if not
    #[arg(long)]
    pub check: bool,
}

#[derive(Debug, Args)]
pub struct DownArgs {
    /// Also forget the stored password hash, named accounts, cookie secret, port and TLS certificate
    #[arg(long)]
    pub forget: bool,

    /// Print one JSON object on stdout instead of text
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct LsArgs {
    /// Print one JSON object on stdout instead of a table
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct CheckArgs {
    /// Notebooks to run inside the lab, from the current directory; each must be in the project (default: check.notebooks)
    #[arg(value_name = "NOTEBOOK")]
    pub notebooks: Vec<String>,

    /// Start or update the lab first, as `rjup up` does
    #[arg(long)]
    pub up: bool,

    /// Remove the lab afterwards, as `rjup down` does, whatever the outcome
    #[arg(long)]
    pub down: bool,

    /// Print a machine-readable report on stdout; never prompt
    #[arg(long)]
    pub json: bool,

    /// Also write the report as JUnit XML to FILE
    #[arg(long, value_name = "FILE")]
    pub junit: Option<PathBuf>,

    /// The lab's address, if not the one this host publishes it on (http://HOST:PORT)
    #[arg(long, value_name = "URL")]
    pub url: Option<String>,

    /// Host port for --up (overrides `port` in rjup.yaml)
    #[arg(long, value_parser = clap::value_parser!(u16).range(1..))]
    pub port: Option<u16>,

    /// Host IP address for --up (overrides `bind` in rjup.yaml)
    #[arg(long, value_name = "ADDR")]
    pub bind: Option<IpAddr>,

    #[command(flatten)]
    pub password: PasswordSource,

    /// Seconds --up waits for the lab to answer HTTP
    #[arg(long, default_value_t = 120, value_name = "SECONDS")]
    pub timeout: u64,

    /// Seconds each notebook may take (overrides check.timeout)
    #[arg(long, value_name = "SECONDS", value_parser = clap::value_parser!(u64).range(1..))]
    pub notebook_timeout: Option<u64>,

    /// For --up: what to do with a stale rjup.lock, as `rjup up` does
    #[command(flatten)]
    pub lock: LockFlags,
}

#[derive(Debug, Args)]
pub struct PasswordSource {
    /// Read the password from standard input, as `docker login` does
    #[arg(long)]
    pub password_stdin: bool,
}

#[derive(Debug, Args)]
pub struct StatusArgs {
    /// Print one JSON object instead of text
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct LogsArgs {
    /// Keep printing new lines as the lab writes them
    #[arg(short, long)]
    pub follow: bool,

    /// Number of lines to show from the end of the log
    #[arg(long, value_name = "N")]
    pub tail: Option<u64>,
}

#[derive(Debug, Args)]
pub struct PasswordArgs {
    #[command(flatten)]
    pub password: PasswordSource,

    /// Seconds to wait for the restarted lab to answer HTTP
    #[arg(long, default_value_t = 120, value_name = "SECONDS")]
    pub timeout: u64,
}

#[derive(Debug, Subcommand)]
pub enum UserCommand {
    /// Add an account; a running lab lets it log in at once, without a restart
    #[command(after_help = "Examples:
  rjup user add ada
  rjup user add grace --read-only
  echo \"$PW\" | rjup user add ada --password-stdin")]
    Add(UserAddArgs),

    /// List the lab's accounts and their roles (never their hashes)
    #[command(after_help = "Examples:
  rjup user ls
  rjup user ls --json")]
    Ls(UserLsArgs),

    /// Remove an account; its open sessions end at their next request
    #[command(after_help = "Examples:
  rjup user rm ada")]
    Rm(UserNameArgs),

    /// Set an account's new password; its open sessions end
    #[command(after_help = "Examples:
  rjup user passwd ada
  echo \"$PW\" | rjup user passwd ada --password-stdin")]
    Passwd(UserPasswdArgs),
}

#[derive(Debug, Args)]
pub struct UserAddArgs {
    /// The name to log in with: lowercase letters, digits, `.`, `_` or `-`
    pub name: String,

    /// May browse and read files and outputs, but not write files or run code
    #[arg(long)]
    pub read_only: bool,

    #[command(flatten)]
    pub password: PasswordSource,
}

#[derive(Debug, Args)]
pub struct UserLsArgs {
    /// Print one JSON object on stdout instead of a table
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct UserNameArgs {
    /// The account's name
    pub name: String,
}

#[derive(Debug, Args)]
pub struct UserPasswdArgs {
    /// The account's name
    pub name: String,

    #[command(flatten)]
    pub password: PasswordSource,
}

#[derive(Debug, Args)]
pub struct InitArgs {
    /// The lab's name to write into rjup.yaml (default: from the directory name)
    #[arg(long)]
    pub name: Option<String>,
}

#[derive(Debug, Args)]
pub struct CompletionsArgs {
    /// The shell to generate completions for
    pub shell: clap_complete::Shell,
}
