//! The shell around [`stratum1_web::events::EventDetector`]: once a second it looks at the
//! status, logs what changed at its level (so `journalctl -p warning` shows the warnings) and
//! keeps the last hundred events for `/api/status`, the page and `stratum1ctl events`.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use stratum1_web::events::EventDetector;
use stratum1_web::snapshot::{EventLevel, EventView};

use crate::status::StatusSources;

const LOOK_EVERY: Duration = Duration::from_secs(1);

pub struct EventWatcher {
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl EventWatcher {
    pub fn start(status: Arc<StatusSources>) -> std::io::Result<EventWatcher> {
        let stop = Arc::new(AtomicBool::new(false));
        let stopping = stop.clone();
        let thread = std::thread::Builder::new().name("events".into()).spawn(move || {
            let mut detector = EventDetector::default();
            while !stopping.load(Ordering::Relaxed) {
                for event in detector.observe(&status.snapshot()) {
                    log(&event);
                    status.events.lock().unwrap_or_else(|p| p.into_inner()).push(event);
                }
                refclock::link::sleep_unless_stopped(LOOK_EVERY, &stopping);
            }
        })?;
        Ok(EventWatcher { stop, thread: Some(thread) })
    }

    pub fn shutdown(mut self) {
        self.stop_and_join();
    }

    fn stop_and_join(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(thread) = self.thread.take() {
            if thread.join().is_err() {
                tracing::error!("the events thread panicked");
            }
        }
    }
}

impl Drop for EventWatcher {
    fn drop(&mut self) {
        self.stop_and_join();
    }
}

fn log(event: &EventView) {
    match event.level {
        EventLevel::Info => tracing::info!("event: {}", event.message),
        EventLevel::Warning => tracing::warn!("event: {}", event.message),
        EventLevel::Error => tracing::error!("event: {}", event.message),
    }
}
