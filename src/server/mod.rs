//! The HTTP front end (`CONTRACT.md` §3), on hyper and tokio without a web
//! framework.
pub mod clock;
pub mod config;
pub mod institutions;
pub mod metrics;
pub mod request;
pub mod response;
