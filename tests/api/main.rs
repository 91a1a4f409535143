//! Integration tests: the real server over real SQLite and PostgreSQL databases.

mod helpers;

mod access;
mod anonymity;
mod browser;
mod citizen;
mod delivery;
mod email;
mod gateway;
mod hostile_files;
mod hostile_lists;
mod list_pages;
mod lists;
mod official;
mod process;
mod responses;
mod results;
mod setup;
mod sms;
mod smtp;
mod wave_pages;
