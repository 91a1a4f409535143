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
