//! Pure survey logic: no HTTP, no SQL, no clocks.

pub mod account;
pub mod answers;
pub mod claimed_keys;
pub mod code;
pub mod comments;
pub mod contact;
pub mod delivery;
pub mod disclosure;
pub mod distribution;
pub mod form;
pub mod indices;
pub mod legacy_text;
pub mod locality;
pub mod microdata;
pub mod progress;
pub mod respondent_list;
pub mod response_rates;
pub mod rounding;
pub mod sampling;
pub mod tally;
pub mod text;
pub mod wave;
