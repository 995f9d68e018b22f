//! SIGINT and SIGTERM handling. A signal sets a flag; long-running loops check it, flush what
//! they hold, commit and return, so the process exits 0.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

/// Set once SIGINT or SIGTERM arrives.
#[derive(Debug, Clone, Default)]
pub struct Stop(Arc<AtomicBool>);

impl Stop {
    pub fn requested(&self) -> bool {
        self.0.load(Ordering::Relaxed)
    }

    pub fn request(&self) {
        self.0.store(true, Ordering::Relaxed);
    }
}

/// Registers the signal handlers. A second signal of the same kind ends the process at once.
pub fn install() -> anyhow::Result<Stop> {
    let stop = Stop::default();
    for signal in [signal_hook::consts::SIGINT, signal_hook::consts::SIGTERM] {
        signal_hook::flag::register_conditional_shutdown(signal, 130, stop.0.clone())?;
        signal_hook::flag::register(signal, stop.0.clone())?;
    }
    Ok(stop)
}
