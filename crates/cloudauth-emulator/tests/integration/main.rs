//! Integration tests: the emulator over HTTP, driven with hand-signed requests.

mod admin;
mod common;
mod faults;
mod gateway;
mod service;
mod video;
