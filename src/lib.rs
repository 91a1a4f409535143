//! phieu: survey collection for SIPAS and PAR INDEX.

pub mod config;
pub mod domain;
pub mod jobs;
pub mod mail;
pub mod metrics;
pub mod outbox;
pub mod scratch;
pub mod service;
pub mod sms;
pub mod startup;
pub mod storage;
pub mod telemetry;
pub mod web;

/// The cores this process may use (1 when the system cannot say): what every piece of work
/// split over threads sizes itself by.
pub fn cores() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}
