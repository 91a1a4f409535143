//! Integration tests: the real server over real SQLite and PostgreSQL databases.

mod helpers;

mod access;
mod accounts;
mod aggregation;
mod anonymity;
mod browser;
mod citizen;
mod control_characters;
mod delivery;
mod disclosure;
mod email;
mod exports;
mod gateway;
mod hostile_files;
mod hostile_lists;
mod instances;
mod list_pages;
mod lists;
mod official;
mod operator;
mod pinning;
mod process;
mod report;
mod report_docx;
mod report_items;
mod report_rates;
mod responses;
mod results;
mod scope;
mod setup;
mod sms;
mod smtp;
mod tallies;
mod upload_crash;
mod wave_pages;
