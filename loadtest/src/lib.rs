//! `shikaku-load`: the load-test harness of shikaku.
//!
//! Layout: `profile` (request rate over time, as data) → `schedule`d
//! deadlines → `runner` (a dispatcher thread that releases each request at
//! its deadline, a pool of keep-alive connections or one connection per
//! request) → `recorder` (HdrHistograms per interval and in total) →
//! `summary` (the JSON result) → `thresholds` (CI verdicts, baselines) and
//! `html` (the self-contained report). `corpus` holds the requests and the
//! verdicts expected for them; `scenario` reads a scenario file; `calibrate`
//! measures the harness itself against its `null_server`.

pub mod html;
pub mod profile;
pub mod summary;
pub mod thresholds;
