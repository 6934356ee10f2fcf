//! `-v`: what rjup asks the engine and the lab, each with how long it took, on stderr;
//! `-vv` adds the decisions rjup makes and the sizes of what it sends. Without `-v`
//! no subscriber is installed, so every event is a disabled callsite that costs a
//! branch. `RJUP_LOG` (`rjup=trace`, `rjup::engine=debug`, ...) sets the levels itself.

use tracing::level_filters::LevelFilter;
use tracing_subscriber::filter::Targets;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;

/// Installs the subscriber `verbose` (the count of `-v`) or `RJUP_LOG` asks for.
pub fn init(verbose: u8) {
    let from_env = std::env::var("RJUP_LOG")
        .ok()
        .filter(|v| !v.trim().is_empty())
        .and_then(|v| v.parse::<Targets>().ok());
    let targets = match (from_env, verbose) {
        (Some(targets), _) => targets,
        (None, 0) => return,
        (None, 1) => Targets::new().with_target("rjup", LevelFilter::DEBUG),
        (None, _) => Targets::new().with_target("rjup", LevelFilter::TRACE),
    };
    let layer = tracing_subscriber::fmt::layer()
        .with_writer(std::io::stderr)
        .with_timer(tracing_subscriber::fmt::time::uptime())
        .with_target(false);
    // A second install (never, in rjup) would keep the first.
    let _ = tracing_subscriber::registry()
        .with(layer)
        .with(targets)
        .try_init();
}
