//! The endpoints: what each request is answered (`CONTRACT.md` §3), on top
//! of the HTTP plumbing ([`super::http`]) and the serving state
//! ([`super::serving`]).

pub(super) mod admin;
pub(super) mod admin_updates;
pub(super) mod bulk;
pub(super) mod check;
pub(super) mod health;
pub(super) mod history;
pub(super) mod logging;
