//! What the user sees: where rjup's words go, and progress while it works.

pub mod logging;
pub mod printer;
pub mod progress;
