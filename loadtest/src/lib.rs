//! `shikaku-load`: the load-test harness of shikaku.
//!
//! Layout: `scenario` (a whole test as a TOML file) → `profile` (the
//! planned request rate over time, as data, compiled to absolute send
//! deadlines) → `runner` (a dispatcher thread that releases each request at
//! its deadline, and connection tasks: a keep-alive pool or one connection
//! per request, over `client`) → `recorder` (HdrHistograms per interval and
//! in total, constant memory) → `report` (`summary` JSON, percentile files,
//! `html` report, terminal summary) judged by `thresholds` (CI verdicts and
//! baselines). `corpus` holds the checks and the verdicts expected for
//! them, `mix` turns it into the requests of a run, `answers` reads the
//! server's answers back. `calibrate` measures the harness itself against
//! its `null_server`.

pub mod answers;
pub mod calibrate;
pub mod client;
pub mod corpus;
pub mod html;
pub mod mix;
pub mod null_server;
pub mod profile;
pub mod recorder;
pub mod report;
pub mod runner;
pub mod scenario;
pub mod summary;
pub mod thresholds;
pub mod tls;
