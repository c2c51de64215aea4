//! The endpoints: what each request is answered (`CONTRACT.md` §3), on top
//! of the HTTP plumbing ([`super::http`]) and the serving state
//! ([`super::serving`]).

pub mod admin;
pub mod bulk;
pub mod check;
pub mod health;
pub mod history;
pub mod logging;
pub mod updates;
