//! Request rate over time, as data: the `[profile]` table of a scenario.
//!
//! The harness is open loop: when a request is sent depends only on the
//! plan, never on when earlier answers came back. A profile is compiled to a
//! piecewise-linear rate curve in wall time; its integral N(t) is the number
//! of requests planned before t, and request k is due at N⁻¹(k) (uniform
//! arrivals) or at N⁻¹ of the k-th event of a unit-rate Poisson process
//! (poisson arrivals). Deadlines are absolute offsets from the run start,
//! computed in closed form from that integral rather than from timer
//! wake-ups (whose lateness would pile up), so they are exact and
//! deterministic, and latency measured from them includes any time a
//! request waited because the harness or the server fell behind.

use crate::summary::ProfileInfo;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::Deserialize;
use std::iter::FusedIterator;
use std::time::Duration;

/// The `[profile]` table as written. Durations are humantime strings
/// ("30s", "5m", "1h 30m"); keys are snake_case like the rest of a scenario
/// file (`warmup_rate`), shape names kebab-case (`clinic-morning`). Which
/// shape fields apply depends on `shape`; [`Profile::from_spec`] rejects the
/// others.
#[derive(Clone, Debug, Default, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct ProfileSpec {
    pub shape: Shape,
    /// Warm-up played before the shape (default "0s").
    pub warmup: Option<String>,
    /// Rate during the warm-up (default: the shape's rate at its start).
    pub warmup_rate: Option<f64>,
    #[serde(default)]
    pub arrivals: Arrivals,
    /// Seed of the poisson arrivals (default 1); unused by uniform ones.
    pub seed: Option<u64>,
    /// Shape seconds played per wall second (default 1).
    pub time_scale: Option<f64>,
    /// Wall time to play the shape in (instead of `time_scale`).
    pub duration: Option<String>,
    /// `constant`: the rate; `clinic-morning`: the mean rate over the hour.
    pub rate: Option<f64>,
    /// The shape's own length (`constant`, `ramp`, `spike`, `clinic-morning`).
    pub length: Option<String>,
    /// `ramp`: start rate.
    pub from: Option<f64>,
    /// `ramp`: end rate.
    pub to: Option<f64>,
    /// `steps`: constant rates one after the other.
    pub steps: Option<Vec<StepSpec>>,
    /// `spike`: rate outside the spike.
    pub base: Option<f64>,
    /// `spike`: rate at the top of the spike.
    pub peak: Option<f64>,
    /// `spike`: when the spike starts rising.
    pub at: Option<String>,
    /// `spike`: how long it stays at `peak`.
    pub hold: Option<String>,
    /// `spike`: rise time, and fall time (default "0s").
    pub ramp: Option<String>,
    /// `clinic-morning`: a Monday, every rate times `monday_factor`.
    pub monday: Option<bool>,
    /// `clinic-morning`: Monday multiplier (default 1.2).
    pub monday_factor: Option<f64>,
    /// `points`: `[seconds, rate]` knots, linear between them.
    pub points: Option<Vec<[f64; 2]>>,
}

/// One entry of `steps = [{ rate = 500, length = "5m" }, …]`.
#[derive(Clone, Debug, Default, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct StepSpec {
    pub rate: f64,
    pub length: String,
}

/// The rate curve's shape, the `shape` key.
#[derive(Clone, Copy, Debug, Default, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "kebab-case")]
pub enum Shape {
    #[default]
    Constant,
    Ramp,
    Steps,
    Spike,
    ClinicMorning,
    Points,
}

impl Shape {
    pub fn name(self) -> &'static str {
        match self {
            Shape::Constant => "constant",
            Shape::Ramp => "ramp",
            Shape::Steps => "steps",
            Shape::Spike => "spike",
            Shape::ClinicMorning => "clinic-morning",
            Shape::Points => "points",
        }
    }

    /// The shape fields this shape takes.
    fn fields(self) -> &'static [&'static str] {
        match self {
            Shape::Constant => &["rate", "length"],
            Shape::Ramp => &["from", "to", "length"],
            Shape::Steps => &["steps"],
            Shape::Spike => &["base", "peak", "at", "hold", "ramp", "length"],
            Shape::ClinicMorning => &["rate", "monday", "monday_factor", "length"],
            Shape::Points => &["points"],
        }
    }
}

/// How deadlines are spread under the rate curve.
#[derive(Clone, Copy, Debug, Default, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "kebab-case")]
pub enum Arrivals {
    /// Evenly: request k at N⁻¹(k).
    #[default]
    Uniform,
    /// Non-homogeneous Poisson process (exponential gaps in planned count).
    Poisson,
}

impl Arrivals {
    pub fn name(self) -> &'static str {
        match self {
            Arrivals::Uniform => "uniform",
            Arrivals::Poisson => "poisson",
        }
    }
}

/// A compiled profile: the planned rate over wall time since the run start.
#[derive(Clone, Debug, PartialEq)]
pub struct Profile {
    curve: Curve,
    warmup: Duration,
    duration: Duration,
    arrivals: Arrivals,
    seed: u64,
    time_scale: f64,
    description: String,
}

impl Profile {
    pub fn from_spec(spec: &ProfileSpec) -> Result<Profile, String> {
        check_shape_fields(spec)?;
        let shape = compile_shape(spec)?;
        let shape_length = shape.length();
        if knots_count(&shape.knots) <= 0.0 {
            return Err(format!(
                "profile: every rate of shape `{}` is 0, so nothing would be sent",
                spec.shape.name()
            ));
        }
        let warmup = parse_duration("profile.warmup", spec.warmup.as_deref().unwrap_or("0s"))?;
        let warmup_rate = match spec.warmup_rate {
            Some(rate) => check_rate("profile.warmup_rate", rate)?,
            None => shape.start_rate(),
        };
        let clock = wall_clock(spec, shape_length)?;
        let knots = wall_knots(&shape.knots, warmup.as_secs_f64(), warmup_rate, clock);
        let curve = Curve::from_knots(&knots);
        let description = describe(&shape.description, shape_length, clock, warmup, warmup_rate);
        Ok(Profile {
            duration: secs_to_duration(curve.end),
            curve,
            warmup,
            arrivals: spec.arrivals,
            seed: spec.seed.unwrap_or(1),
            time_scale: clock.time_scale(),
            description,
        })
    }

    /// Total wall duration, warm-up included.
    pub fn duration(&self) -> Duration {
        self.duration
    }

    pub fn warmup(&self) -> Duration {
        self.warmup
    }

    /// Planned rate (requests/s) at wall time `t` since the run start (warm-up
    /// first, then the shape played at time_scale). At a jump, the rate after
    /// it; from `duration()` on, 0.
    pub fn rate_at(&self, t: Duration) -> f64 {
        self.curve.rate_at(t.as_secs_f64())
    }

    /// Planned number of requests with deadlines in [from, to) — the integral
    /// of the rate.
    pub fn expected_between(&self, from: Duration, to: Duration) -> f64 {
        let count =
            self.curve.count_before(to.as_secs_f64()) - self.curve.count_before(from.as_secs_f64());
        count.max(0.0)
    }

    pub fn peak_rate(&self) -> f64 {
        self.curve.peak_rate()
    }

    pub fn info(&self) -> ProfileInfo {
        ProfileInfo {
            description: self.description.clone(),
            arrivals: self.arrivals.name().to_string(),
            time_scale: self.time_scale,
            duration_seconds: self.curve.end,
            warmup_seconds: self.warmup.as_secs_f64(),
            peak_rate: self.peak_rate(),
        }
    }

    /// The deadlines, as offsets from the run start, in non-decreasing order
    /// (strictly increasing while gaps exceed a nanosecond), all < duration().
    pub fn schedule(&self) -> Schedule {
        let draw = match self.arrivals {
            Arrivals::Uniform => Draw::Uniform { next: 0 },
            Arrivals::Poisson => Draw::Poisson {
                rng: Box::new(ChaCha8Rng::seed_from_u64(self.seed)),
                count: 0.0,
            },
        };
        Schedule {
            curve: self.curve.clone(),
            end: self.duration,
            segment: 0,
            draw,
            finished: false,
        }
    }

    /// Multiplies every rate (for a CLI `--rate-factor`); errors if factor ≤ 0
    /// or not finite.
    pub fn scaled(&self, factor: f64) -> Result<Profile, String> {
        if !(factor.is_finite() && factor > 0.0) {
            return Err(format!("rate factor: must be a number > 0, got {factor}"));
        }
        Ok(Profile {
            curve: self.curve.scaled(factor),
            description: format!("{}, rates x{factor}", self.description),
            ..self.clone()
        })
    }
}

/// The deadlines of a profile, computed one at a time segment by segment.
#[derive(Clone, Debug)]
pub struct Schedule {
    curve: Curve,
    end: Duration,
    /// The segment the previous deadline fell in; later ones are not before it.
    segment: usize,
    draw: Draw,
    finished: bool,
}

/// Where the next deadline falls in planned count N.
#[derive(Clone, Debug)]
enum Draw {
    Uniform { next: u64 },
    Poisson { rng: Box<ChaCha8Rng>, count: f64 },
}

impl Draw {
    fn next_count(&mut self) -> f64 {
        match self {
            Draw::Uniform { next } => {
                let count = *next as f64;
                *next += 1;
                count
            }
            Draw::Poisson { rng, count } => {
                let uniform: f64 = rng.gen();
                // -ln(1 - u) with u in [0, 1): an Exp(1) draw, finite.
                *count -= (-uniform).ln_1p();
                *count
            }
        }
    }
}

impl Iterator for Schedule {
    type Item = Duration;

    fn next(&mut self) -> Option<Duration> {
        if self.finished {
            return None;
        }
        let count = self.draw.next_count();
        let deadline = self
            .curve
            .time_of(count, &mut self.segment)
            .map(secs_to_duration)
            .filter(|deadline| *deadline < self.end);
        self.finished = deadline.is_none();
        deadline
    }
}

impl FusedIterator for Schedule {}

/// The rate curve in wall seconds: linear segments, contiguous from 0 to
/// `end`; a jump is where one segment's end rate differs from the next one's
/// start rate.
#[derive(Clone, Debug, PartialEq)]
struct Curve {
    segments: Vec<Segment>,
    end: f64,
}

#[derive(Clone, Copy, Debug, PartialEq)]
struct Segment {
    start: f64,
    length: f64,
    start_rate: f64,
    end_rate: f64,
    /// Requests planned before `start`.
    count_before: f64,
}

impl Segment {
    fn slope(&self) -> f64 {
        (self.end_rate - self.start_rate) / self.length
    }

    fn rate_within(&self, offset: f64) -> f64 {
        (self.start_rate + self.slope() * offset).max(0.0)
    }

    /// Requests planned in [start, start + offset).
    fn count_within(&self, offset: f64) -> f64 {
        offset * (self.start_rate + 0.5 * self.slope() * offset)
    }

    fn count(&self) -> f64 {
        self.count_within(self.length)
    }

    /// The offset at which `count_within` reaches `count`: the positive root
    /// of slope/2·x² + start_rate·x − count, in the form that neither
    /// cancels nor divides by a zero slope.
    fn offset_of(&self, count: f64) -> f64 {
        if count <= 0.0 {
            return 0.0;
        }
        let discriminant = self.start_rate * self.start_rate + 2.0 * self.slope() * count;
        let offset = 2.0 * count / (self.start_rate + discriminant.max(0.0).sqrt());
        offset.min(self.length)
    }
}

impl Curve {
    /// From (seconds, rate) knots with non-decreasing times.
    fn from_knots(knots: &[(f64, f64)]) -> Curve {
        let mut segments = Vec::with_capacity(knots.len());
        let mut count_before = 0.0;
        for pair in knots.windows(2) {
            let ((start, start_rate), (end, end_rate)) = (pair[0], pair[1]);
            if end > start {
                let segment = Segment {
                    start,
                    length: end - start,
                    start_rate,
                    end_rate,
                    count_before,
                };
                count_before += segment.count();
                segments.push(segment);
            }
        }
        let end = knots.last().map_or(0.0, |knot| knot.0);
        Curve { segments, end }
    }

    fn segment_at(&self, t: f64) -> Option<&Segment> {
        if !(t >= 0.0 && t < self.end) {
            return None;
        }
        let after = self.segments.partition_point(|segment| segment.start <= t);
        after
            .checked_sub(1)
            .and_then(|index| self.segments.get(index))
    }

    fn rate_at(&self, t: f64) -> f64 {
        self.segment_at(t)
            .map_or(0.0, |segment| segment.rate_within(t - segment.start))
    }

    /// N(t): requests planned in [0, t).
    fn count_before(&self, t: f64) -> f64 {
        if t >= self.end {
            return self.total();
        }
        self.segment_at(t).map_or(0.0, |segment| {
            segment.count_before + segment.count_within(t - segment.start)
        })
    }

    fn total(&self) -> f64 {
        self.segments
            .last()
            .map_or(0.0, |segment| segment.count_before + segment.count())
    }

    fn peak_rate(&self) -> f64 {
        self.segments
            .iter()
            .map(|segment| segment.start_rate.max(segment.end_rate))
            .fold(0.0, f64::max)
    }

    /// N⁻¹(count), taken as the last time N is still ≤ `count` (the start of
    /// the stretch in which N passes it), searching forward from segment
    /// `*from` (left at the segment found). Segments that plan nothing are
    /// skipped, so no deadline falls inside a zero-rate stretch, and a count
    /// N reaches only at the end gets `None`.
    fn time_of(&self, count: f64, from: &mut usize) -> Option<f64> {
        while let Some(segment) = self.segments.get(*from) {
            if segment.count_before + segment.count() > count {
                return Some(segment.start + segment.offset_of(count - segment.count_before));
            }
            *from += 1;
        }
        None
    }

    fn scaled(&self, factor: f64) -> Curve {
        let segments = self
            .segments
            .iter()
            .map(|segment| Segment {
                start_rate: segment.start_rate * factor,
                end_rate: segment.end_rate * factor,
                count_before: segment.count_before * factor,
                ..*segment
            })
            .collect();
        Curve {
            segments,
            end: self.end,
        }
    }
}

/// Maps shape time to wall time: wall = shape × wall_seconds / shape_seconds.
#[derive(Clone, Copy, Debug)]
struct WallClock {
    shape_seconds: f64,
    wall_seconds: f64,
}

impl WallClock {
    fn wall(self, shape_time: f64) -> f64 {
        shape_time * self.wall_seconds / self.shape_seconds
    }

    fn time_scale(self) -> f64 {
        self.shape_seconds / self.wall_seconds
    }

    fn is_real_time(self) -> bool {
        self.shape_seconds == self.wall_seconds
    }
}

fn wall_clock(spec: &ProfileSpec, shape_length: f64) -> Result<WallClock, String> {
    match (spec.time_scale, spec.duration.as_deref()) {
        (Some(_), Some(_)) => {
            Err("profile: give either time_scale or duration, not both".to_string())
        }
        (Some(scale), None) if scale.is_finite() && scale > 0.0 => Ok(WallClock {
            shape_seconds: scale,
            wall_seconds: 1.0,
        }),
        (Some(scale), None) => Err(format!(
            "profile.time_scale: must be a number > 0, got {scale}"
        )),
        (None, Some(duration)) => Ok(WallClock {
            shape_seconds: shape_length,
            wall_seconds: parse_length("profile.duration", duration)?,
        }),
        (None, None) => Ok(WallClock {
            shape_seconds: 1.0,
            wall_seconds: 1.0,
        }),
    }
}

/// The warm-up, then the shape's knots moved to wall time after it.
fn wall_knots(
    shape_knots: &[(f64, f64)],
    warmup: f64,
    warmup_rate: f64,
    clock: WallClock,
) -> Vec<(f64, f64)> {
    let mut knots = Vec::with_capacity(shape_knots.len() + 2);
    if warmup > 0.0 {
        knots.extend([(0.0, warmup_rate), (warmup, warmup_rate)]);
    }
    knots.extend(
        shape_knots
            .iter()
            .map(|&(t, rate)| (warmup + clock.wall(t), rate)),
    );
    knots
}

fn describe(
    shape: &str,
    shape_length: f64,
    clock: WallClock,
    warmup: Duration,
    warmup_rate: f64,
) -> String {
    let length = format_secs(shape_length);
    let mut description = if clock.is_real_time() {
        format!("{shape} over {length}")
    } else {
        let wall = format_secs(clock.wall(shape_length));
        format!("{shape}, {length} shape in {wall}")
    };
    if !warmup.is_zero() {
        let warmup = humantime::format_duration(warmup);
        let rate = format_rate(warmup_rate);
        description.push_str(&format!(", after {warmup} warm-up at {rate}/s"));
    }
    description
}

/// A shape in its own time: (seconds, rate) knots from 0, linear between
/// them, two knots at one time for a jump.
struct ShapeCurve {
    knots: Vec<(f64, f64)>,
    description: String,
}

impl ShapeCurve {
    fn length(&self) -> f64 {
        self.knots.last().map_or(0.0, |knot| knot.0)
    }

    fn start_rate(&self) -> f64 {
        self.knots.first().map_or(0.0, |knot| knot.1)
    }
}

fn check_shape_fields(spec: &ProfileSpec) -> Result<(), String> {
    let given = [
        ("rate", spec.rate.is_some()),
        ("length", spec.length.is_some()),
        ("from", spec.from.is_some()),
        ("to", spec.to.is_some()),
        ("steps", spec.steps.is_some()),
        ("base", spec.base.is_some()),
        ("peak", spec.peak.is_some()),
        ("at", spec.at.is_some()),
        ("hold", spec.hold.is_some()),
        ("ramp", spec.ramp.is_some()),
        ("monday", spec.monday.is_some()),
        ("monday_factor", spec.monday_factor.is_some()),
        ("points", spec.points.is_some()),
    ];
    let fields = spec.shape.fields();
    match given
        .iter()
        .find(|(field, is_given)| *is_given && !fields.contains(field))
    {
        Some((field, _)) => Err(format!(
            "profile.{field}: not a field of shape `{}` (its fields: {})",
            spec.shape.name(),
            fields.join(", ")
        )),
        None => Ok(()),
    }
}

fn compile_shape(spec: &ProfileSpec) -> Result<ShapeCurve, String> {
    match spec.shape {
        Shape::Constant => constant(spec),
        Shape::Ramp => ramp(spec),
        Shape::Steps => steps(spec),
        Shape::Spike => spike(spec),
        Shape::ClinicMorning => clinic_morning(spec),
        Shape::Points => points(spec),
    }
}

fn constant(spec: &ProfileSpec) -> Result<ShapeCurve, String> {
    let rate = required_rate(spec, "rate", spec.rate)?;
    let length = required_length(spec, spec.length.as_deref())?;
    Ok(ShapeCurve {
        knots: vec![(0.0, rate), (length, rate)],
        description: format!("constant {}/s", format_rate(rate)),
    })
}

fn ramp(spec: &ProfileSpec) -> Result<ShapeCurve, String> {
    let from = required_rate(spec, "from", spec.from)?;
    let to = required_rate(spec, "to", spec.to)?;
    let length = required_length(spec, spec.length.as_deref())?;
    Ok(ShapeCurve {
        knots: vec![(0.0, from), (length, to)],
        description: format!("ramp {}/s to {}/s", format_rate(from), format_rate(to)),
    })
}

fn steps(spec: &ProfileSpec) -> Result<ShapeCurve, String> {
    let steps = required(spec, "steps", spec.steps.as_deref())?;
    if steps.is_empty() {
        return Err("profile.steps: needs at least one step".to_string());
    }
    let mut knots = Vec::with_capacity(2 * steps.len());
    let mut parts = Vec::with_capacity(steps.len());
    let mut start = 0.0;
    for (index, step) in steps.iter().enumerate() {
        let rate = check_rate(&format!("profile.steps[{index}].rate"), step.rate)?;
        let length = parse_length(&format!("profile.steps[{index}].length"), &step.length)?;
        knots.extend([(start, rate), (start + length, rate)]);
        parts.push(format!(
            "{}/s for {}",
            format_rate(rate),
            format_secs(length)
        ));
        start += length;
    }
    Ok(ShapeCurve {
        knots,
        description: format!("steps {}", parts.join(", ")),
    })
}

fn spike(spec: &ProfileSpec) -> Result<ShapeCurve, String> {
    let base = required_rate(spec, "base", spec.base)?;
    let peak = required_rate(spec, "peak", spec.peak)?;
    let at = parse_duration("profile.at", required(spec, "at", spec.at.as_deref())?)?;
    let at = at.as_secs_f64();
    let hold = parse_length(
        "profile.hold",
        required(spec, "hold", spec.hold.as_deref())?,
    )?;
    let ramp = parse_duration("profile.ramp", spec.ramp.as_deref().unwrap_or("0s"))?;
    let ramp = ramp.as_secs_f64();
    let length = required_length(spec, spec.length.as_deref())?;
    let spike_end = at + 2.0 * ramp + hold;
    if length < spike_end {
        return Err(format!(
            "profile.length: {} ends before the spike does (at + 2 × ramp + hold = {})",
            format_secs(length),
            format_secs(spike_end)
        ));
    }
    let knots = vec![
        (0.0, base),
        (at, base),
        (at + ramp, peak),
        (at + ramp + hold, peak),
        (spike_end, base),
        (length, base),
    ];
    let mut description = format!(
        "spike {}/s to {}/s at {} for {}",
        format_rate(base),
        format_rate(peak),
        format_secs(at),
        format_secs(hold)
    );
    if ramp > 0.0 {
        description.push_str(&format!(" (ramp {})", format_secs(ramp)));
    }
    Ok(ShapeCurve { knots, description })
}

/// The 08:00–09:00 clinic opening hour, as (minute, fraction of the peak
/// rate), linear in between. SPEC: about 1,000 checks/s in the first hour
/// after opening (54% of a day's ~6 million checks), worst on Mondays and
/// after holidays. Clinics open between 08:30 and 09:00 and staff log in
/// and check the first patients as doors open, so arrivals climb through
/// the first half hour, plateau around the last openings, and ease off as
/// the waiting rooms empty.
const CLINIC_MORNING: [(f64, f64); 12] = [
    (0.0, 0.15),
    (5.0, 0.35),
    (10.0, 0.6),
    (15.0, 0.8),
    (20.0, 0.95),
    (25.0, 1.0),
    (35.0, 1.0),
    (40.0, 0.95),
    (45.0, 0.9),
    (50.0, 0.85),
    (55.0, 0.8),
    (60.0, 0.75),
];

fn clinic_morning(spec: &ProfileSpec) -> Result<ShapeCurve, String> {
    let rate = check_rate("profile.rate", spec.rate.unwrap_or(1000.0))?;
    let monday = spec.monday.unwrap_or(false);
    let monday_factor = spec.monday_factor.unwrap_or(1.2);
    if !(monday_factor.is_finite() && monday_factor > 0.0) {
        return Err(format!(
            "profile.monday_factor: must be a number > 0, got {monday_factor}"
        ));
    }
    let length = parse_length("profile.length", spec.length.as_deref().unwrap_or("60m"))?;
    let mean = if monday { rate * monday_factor } else { rate };
    let mean_fraction = knots_count(&CLINIC_MORNING) / 60.0;
    let peak = mean / mean_fraction;
    let knots = CLINIC_MORNING
        .iter()
        .map(|&(minute, fraction)| (minute / 60.0 * length, fraction * peak))
        .collect();
    let mut description = format!("clinic-morning {}/s mean", format_rate(rate));
    if monday {
        description.push_str(&format!(" (x{monday_factor} Monday)"));
    }
    Ok(ShapeCurve { knots, description })
}

fn points(spec: &ProfileSpec) -> Result<ShapeCurve, String> {
    let points = required(spec, "points", spec.points.as_deref())?;
    let mut knots: Vec<(f64, f64)> = Vec::with_capacity(points.len());
    for (index, &[time, rate]) in points.iter().enumerate() {
        let field = format!("profile.points[{index}]");
        check_point_time(&field, time, knots.last().map(|knot| knot.0))?;
        knots.push((time, check_rate(&format!("{field} rate"), rate)?));
    }
    if knots.last().map_or(0.0, |knot| knot.0) <= 0.0 {
        return Err("profile.points: needs a point after time 0".to_string());
    }
    let description = format!("points ({})", knots.len());
    Ok(ShapeCurve { knots, description })
}

/// The first point is at 0, later ones not before the previous one (equal
/// times make a jump).
fn check_point_time(field: &str, time: f64, previous: Option<f64>) -> Result<(), String> {
    match previous {
        _ if !time.is_finite() => Err(format!("{field}: time must be a number, got {time}")),
        None if time != 0.0 => Err(format!(
            "{field}: the first point must be at time 0, got {time}"
        )),
        Some(previous) if time < previous => Err(format!(
            "{field}: time {time} is before the previous point's {previous}"
        )),
        _ => Ok(()),
    }
}

/// Requests planned by linear knots: the sum of the trapezoids.
fn knots_count(knots: &[(f64, f64)]) -> f64 {
    knots
        .windows(2)
        .map(|pair| (pair[1].0 - pair[0].0) * (pair[0].1 + pair[1].1) / 2.0)
        .sum()
}

fn required<T>(spec: &ProfileSpec, field: &str, value: Option<T>) -> Result<T, String> {
    value.ok_or_else(|| format!("profile.{field}: required by shape `{}`", spec.shape.name()))
}

fn required_rate(spec: &ProfileSpec, field: &str, value: Option<f64>) -> Result<f64, String> {
    check_rate(&format!("profile.{field}"), required(spec, field, value)?)
}

fn required_length(spec: &ProfileSpec, value: Option<&str>) -> Result<f64, String> {
    parse_length("profile.length", required(spec, "length", value)?)
}

fn check_rate(field: &str, rate: f64) -> Result<f64, String> {
    if rate.is_finite() && rate >= 0.0 {
        Ok(rate)
    } else {
        Err(format!("{field}: must be a number ≥ 0, got {rate}"))
    }
}

fn parse_duration(field: &str, text: &str) -> Result<Duration, String> {
    humantime::parse_duration(text).map_err(|error| {
        format!("{field}: {text:?} is not a duration like \"30s\" or \"5m\" ({error})")
    })
}

/// A duration that must be positive, in seconds.
fn parse_length(field: &str, text: &str) -> Result<f64, String> {
    let length = parse_duration(field, text)?;
    if length.is_zero() {
        return Err(format!("{field}: must be longer than 0s, got {text:?}"));
    }
    Ok(length.as_secs_f64())
}

/// Rounds to the nearest nanosecond; negative or NaN gives 0, huge saturates.
fn secs_to_duration(secs: f64) -> Duration {
    Duration::from_nanos((secs * 1e9).round() as u64)
}

fn format_secs(secs: f64) -> String {
    humantime::format_duration(secs_to_duration(secs)).to_string()
}

fn format_rate(rate: f64) -> String {
    format!("{}", (rate * 10.0).round() / 10.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(text: &str) -> ProfileSpec {
        match toml::from_str(text) {
            Ok(spec) => spec,
            Err(error) => panic!("{text}: {error}"),
        }
    }

    fn profile(text: &str) -> Profile {
        match Profile::from_spec(&spec(text)) {
            Ok(profile) => profile,
            Err(error) => panic!("{text}: {error}"),
        }
    }

    fn error(text: &str) -> String {
        match Profile::from_spec(&spec(text)) {
            Ok(profile) => panic!("{text}: accepted as {profile:?}"),
            Err(error) => error,
        }
    }

    fn secs(secs: f64) -> Duration {
        Duration::from_secs_f64(secs)
    }

    fn deadlines(profile: &Profile) -> Vec<Duration> {
        profile.schedule().collect()
    }

    fn count_between(deadlines: &[Duration], from: f64, to: f64) -> usize {
        let (from, to) = (secs(from), secs(to));
        deadlines.iter().filter(|d| **d >= from && **d < to).count()
    }

    fn assert_close(actual: f64, expected: f64, tolerance: f64) {
        assert!(
            (actual - expected).abs() <= tolerance,
            "{actual} is not within {tolerance} of {expected}"
        );
    }

    #[test]
    fn constant_rate_puts_deadline_k_at_k_over_rate() {
        let profile = profile("shape = 'constant'\nrate = 1000\nlength = '1s'");
        let deadlines = deadlines(&profile);
        assert_eq!(deadlines.len(), 1000);
        for (k, deadline) in deadlines.iter().enumerate() {
            let expected = Duration::from_millis(k as u64);
            let error = deadline.abs_diff(expected);
            assert!(
                error <= Duration::from_nanos(1),
                "deadline {k}: {deadline:?}"
            );
        }
        assert_eq!(profile.duration(), secs(1.0));
        assert_eq!(profile.rate_at(secs(0.5)), 1000.0);
        assert_eq!(profile.rate_at(secs(1.0)), 0.0);
        assert_eq!(profile.peak_rate(), 1000.0);
    }

    #[test]
    fn ramp_plans_the_area_and_spaces_deadlines_by_the_rate() {
        let profile = profile("shape = 'ramp'\nfrom = 0\nto = 1000\nlength = '10s'");
        let deadlines = deadlines(&profile);
        assert!(
            (4999..=5001).contains(&deadlines.len()),
            "{}",
            deadlines.len()
        );
        assert!(deadlines.windows(2).all(|pair| pair[0] < pair[1]));
        assert!(deadlines.iter().all(|d| *d < profile.duration()));
        for k in [100, 1000, 2500, 4900] {
            let gap = (deadlines[k + 1] - deadlines[k]).as_secs_f64();
            let rate = profile.rate_at(deadlines[k] + (deadlines[k + 1] - deadlines[k]) / 2);
            assert_close(gap * rate, 1.0, 1e-3);
        }
        assert_close(profile.rate_at(secs(2.5)), 250.0, 1e-9);
        assert_close(
            profile.expected_between(secs(0.0), secs(10.0)),
            5000.0,
            1e-9,
        );
        assert_close(
            profile.expected_between(secs(5.0), secs(10.0)),
            3750.0,
            1e-9,
        );
    }

    #[test]
    fn ramp_down_to_zero_ends_cleanly() {
        let profile = profile("shape = 'ramp'\nfrom = 1000\nto = 0\nlength = '10s'");
        let deadlines = deadlines(&profile);
        assert!(
            (4999..=5001).contains(&deadlines.len()),
            "{}",
            deadlines.len()
        );
        assert!(deadlines.windows(2).all(|pair| pair[0] < pair[1]));
        assert_eq!(deadlines[0], Duration::ZERO);
    }

    #[test]
    fn steps_plan_rate_times_length_per_step() {
        let profile = profile(
            "shape = 'steps'\n\
             steps = [{ rate = 500, length = '2s' }, { rate = 2000, length = '1s' }, \
                      { rate = 0, length = '1s' }, { rate = 100, length = '3s' }]",
        );
        let deadlines = deadlines(&profile);
        assert_eq!(profile.duration(), secs(7.0));
        for (from, to, expected) in [
            (0.0, 2.0, 1000),
            (2.0, 3.0, 2000),
            (3.0, 4.0, 0),
            (4.0, 7.0, 300),
        ] {
            let count = count_between(&deadlines, from, to);
            assert!(count.abs_diff(expected) <= 1, "[{from}, {to}): {count}");
        }
        for (t, rate) in [
            (0.0, 500.0),
            (1.999, 500.0),
            (2.0, 2000.0),
            (3.5, 0.0),
            (6.9, 100.0),
        ] {
            assert_eq!(profile.rate_at(secs(t)), rate, "at {t}");
        }
    }

    #[test]
    fn spike_rises_holds_and_falls() {
        let profile = profile(
            "shape = 'spike'\nbase = 100\npeak = 1000\nat = '10s'\nhold = '5s'\nramp = '2s'\nlength = '30s'",
        );
        for (t, rate) in [
            (0.0, 100.0),
            (10.0, 100.0),
            (11.0, 550.0),
            (12.0, 1000.0),
            (16.9, 1000.0),
            (18.0, 550.0),
            (19.0, 100.0),
            (29.0, 100.0),
        ] {
            assert_close(profile.rate_at(secs(t)), rate, 1e-9);
        }
        let deadlines = deadlines(&profile);
        // 100/s for 21 s outside, the ramps average 550/s for 4 s, 1000/s for 5 s.
        assert!(
            deadlines.len().abs_diff(2100 + 2200 + 5000) <= 1,
            "{}",
            deadlines.len()
        );
        assert!(count_between(&deadlines, 12.0, 17.0).abs_diff(5000) <= 1);
        assert!(count_between(&deadlines, 0.0, 10.0).abs_diff(1000) <= 1);
        assert_eq!(profile.peak_rate(), 1000.0);
    }

    #[test]
    fn spike_without_ramp_jumps() {
        let profile = profile(
            "shape = 'spike'\nbase = 10\npeak = 500\nat = '1s'\nhold = '2s'\nlength = '4s'",
        );
        assert_eq!(profile.rate_at(secs(0.999)), 10.0);
        assert_eq!(profile.rate_at(secs(1.0)), 500.0);
        assert_eq!(profile.rate_at(secs(3.0)), 10.0);
        let deadlines = deadlines(&profile);
        assert!(count_between(&deadlines, 1.0, 3.0).abs_diff(1000) <= 1);
    }

    #[test]
    fn clinic_morning_means_rate_and_peaks_mid_hour() {
        let profile = profile("shape = 'clinic-morning'");
        let hour = secs(3600.0);
        assert_eq!(profile.duration(), hour);
        let mean = profile.expected_between(Duration::ZERO, hour) / 3600.0;
        assert_close(mean, 1000.0, 1.0);
        let peak = profile.peak_rate();
        for minute in [25.0, 30.0, 34.9] {
            assert_eq!(
                profile.rate_at(secs(minute * 60.0)),
                peak,
                "minute {minute}"
            );
        }
        for minute in [0.0, 10.0, 20.0, 35.5, 50.0, 59.9] {
            assert!(
                profile.rate_at(secs(minute * 60.0)) < peak,
                "minute {minute}"
            );
        }
        assert_close(profile.rate_at(Duration::ZERO), 0.15 * peak, 1e-9);
    }

    #[test]
    fn clinic_morning_monday_multiplies_every_rate() {
        let plain = profile("shape = 'clinic-morning'\nrate = 800");
        let monday = profile("shape = 'clinic-morning'\nrate = 800\nmonday = true");
        let mean = monday.expected_between(Duration::ZERO, secs(3600.0)) / 3600.0;
        assert_close(mean, 960.0, 0.96);
        for minute in [0.0, 7.0, 30.0, 52.0] {
            let t = secs(minute * 60.0);
            assert_close(monday.rate_at(t), 1.2 * plain.rate_at(t), 1e-9);
        }
        let custom = profile("shape = 'clinic-morning'\nmonday = true\nmonday_factor = 1.5");
        assert_close(
            custom.expected_between(Duration::ZERO, secs(3600.0)),
            5.4e6,
            5.4e3,
        );
        assert!(custom.info().description.contains("x1.5 Monday"));
    }

    #[test]
    fn clinic_morning_compressed_keeps_rates_and_divides_counts() {
        let hour = profile("shape = 'clinic-morning'");
        let short = profile("shape = 'clinic-morning'\nduration = '6m'");
        assert_eq!(short.duration(), secs(360.0));
        assert_eq!(short.info().time_scale, 10.0);
        assert_eq!(short.peak_rate(), hour.peak_rate());
        for minute in [1.0, 10.0, 30.0, 47.0] {
            let rate = short.rate_at(secs(minute * 6.0));
            assert_close(rate, hour.rate_at(secs(minute * 60.0)), 1e-9);
        }
        let planned = hour.expected_between(Duration::ZERO, secs(3600.0)) / 10.0;
        assert_close(
            short.expected_between(Duration::ZERO, secs(360.0)),
            planned,
            1e-6,
        );
        let count = short.schedule().count() as f64;
        assert_close(count, planned, 1.0);
        assert_eq!(
            short.info().description,
            "clinic-morning 1000/s mean, 1h shape in 6m"
        );
    }

    #[test]
    fn time_scale_plays_the_shape_faster() {
        let profile = profile("shape = 'constant'\nrate = 100\nlength = '10s'\ntime_scale = 2");
        assert_eq!(profile.duration(), secs(5.0));
        assert_eq!(profile.rate_at(secs(4.0)), 100.0);
        assert_eq!(profile.schedule().count(), 500);
    }

    #[test]
    fn time_scale_and_duration_together_are_an_error() {
        let message =
            error("shape = 'constant'\nrate = 1\nlength = '1m'\ntime_scale = 2\nduration = '30s'");
        assert!(
            message.contains("time_scale") && message.contains("duration"),
            "{message}"
        );
    }

    #[test]
    fn bad_fields_are_named() {
        let cases = [
            (
                "shape = 'steps'\nsteps = [{rate = 1, length = '1s'}, {rate = 2, length = '1s'}, {rate = -5, length = '1s'}]",
                "profile.steps[2].rate: must be a number ≥ 0, got -5",
            ),
            ("shape = 'steps'\nsteps = [{rate = 1, length = '0s'}]", "profile.steps[0].length"),
            ("shape = 'constant'\nlength = '1s'", "profile.rate: required by shape `constant`"),
            ("shape = 'constant'\nrate = 5\nlength = 'soon'", "profile.length"),
            ("shape = 'constant'\nrate = 5\nlength = '0s'", "profile.length: must be longer than 0s"),
            ("shape = 'constant'\nrate = 0\nlength = '1s'", "every rate of shape `constant` is 0"),
            ("shape = 'constant'\nrate = 5\nlength = '1s'\npeak = 9", "profile.peak: not a field of shape `constant`"),
            ("shape = 'ramp'\nfrom = 1\nto = inf\nlength = '1s'", "profile.to: must be a number ≥ 0, got inf"),
            ("shape = 'constant'\nrate = 5\nlength = '1s'\ntime_scale = 0", "profile.time_scale"),
            ("shape = 'constant'\nrate = 5\nlength = '1s'\nwarmup = '5s'\nwarmup_rate = -1", "profile.warmup_rate"),
            ("shape = 'spike'\nbase = 1\npeak = 2\nat = '50s'\nhold = '20s'\nlength = '1m'", "profile.length: 1m ends before the spike"),
            ("shape = 'spike'\nbase = 1\npeak = 2\nat = '5s'\nlength = '1m'", "profile.hold: required by shape `spike`"),
            ("shape = 'clinic-morning'\nmonday_factor = 0", "profile.monday_factor"),
            ("shape = 'points'\npoints = [[1, 5], [2, 5]]", "profile.points[0]: the first point must be at time 0, got 1"),
            ("shape = 'points'\npoints = [[0, 5], [3, 5], [2, 5]]", "profile.points[2]: time 2 is before the previous point's 3"),
            ("shape = 'points'\npoints = [[0, 5], [3, -1]]", "profile.points[1] rate"),
            ("shape = 'points'\npoints = [[0, 5]]", "profile.points: needs a point after time 0"),
        ];
        for (text, expected) in cases {
            let message = error(text);
            assert!(message.contains(expected), "{text}\n→ {message}");
        }
    }

    #[test]
    fn unknown_keys_and_shapes_are_rejected_by_parsing() {
        assert!(toml::from_str::<ProfileSpec>("shape = 'constant'\nrat = 5").is_err());
        assert!(toml::from_str::<ProfileSpec>("shape = 'sawtooth'").is_err());
        assert!(toml::from_str::<ProfileSpec>("rate = 5").is_err());
        assert!(toml::from_str::<ProfileSpec>("shape = 'constant'\nwarmup-rate = 5").is_err());
        assert!(toml::from_str::<ProfileSpec>("shape = 'constant'\narrivals = 'bursty'").is_err());
    }

    fn poisson(seed: u64) -> Profile {
        profile(&format!(
            "shape = 'constant'\nrate = 1000\nlength = '100s'\narrivals = 'poisson'\nseed = {seed}"
        ))
    }

    #[test]
    fn poisson_count_and_gaps_match_the_rate() {
        let profile = poisson(7);
        let deadlines = deadlines(&profile);
        let expected = 100_000.0;
        let count = deadlines.len() as f64;
        assert!((count - expected).abs() <= 3.0 * expected.sqrt(), "{count}");
        assert!(deadlines.windows(2).all(|pair| pair[0] <= pair[1]));
        assert!(deadlines.iter().all(|d| *d < profile.duration()));
        let span = (deadlines[deadlines.len() - 1] - deadlines[0]).as_secs_f64();
        let mean_gap = span / (count - 1.0);
        assert_close(mean_gap, 0.001, 0.00002);
        // Exponential gaps: their standard deviation equals their mean.
        let gaps = deadlines
            .windows(2)
            .map(|pair| (pair[1] - pair[0]).as_secs_f64());
        let variance = gaps.map(|gap| (gap - mean_gap).powi(2)).sum::<f64>() / (count - 2.0);
        assert_close(variance.sqrt() / mean_gap, 1.0, 0.02);
        assert_eq!(profile.info().arrivals, "poisson");
    }

    #[test]
    fn poisson_is_deterministic_per_seed() {
        let first: Vec<Duration> = poisson(7).schedule().take(1000).collect();
        let again: Vec<Duration> = poisson(7).schedule().take(1000).collect();
        let other: Vec<Duration> = poisson(8).schedule().take(1000).collect();
        assert_eq!(first, again);
        assert_ne!(first, other);
        let default_seed =
            profile("shape = 'constant'\nrate = 1000\nlength = '100s'\narrivals = 'poisson'");
        let seed_one: Vec<Duration> = poisson(1).schedule().take(100).collect();
        assert_eq!(
            default_seed.schedule().take(100).collect::<Vec<_>>(),
            seed_one
        );
    }

    #[test]
    fn poisson_follows_a_varying_rate() {
        let profile =
            profile("shape = 'ramp'\nfrom = 0\nto = 2000\nlength = '100s'\narrivals = 'poisson'");
        let deadlines = deadlines(&profile);
        for (from, to) in [(0.0, 50.0), (50.0, 100.0)] {
            let expected = profile.expected_between(secs(from), secs(to));
            let count = count_between(&deadlines, from, to) as f64;
            assert!(
                (count - expected).abs() <= 3.0 * expected.sqrt(),
                "[{from}, {to}): {count} vs {expected}"
            );
        }
    }

    #[test]
    fn warmup_is_prepended_at_the_start_rate() {
        let profile =
            profile("shape = 'ramp'\nfrom = 200\nto = 400\nlength = '10s'\nwarmup = '5s'");
        assert_eq!(profile.warmup(), secs(5.0));
        assert_eq!(profile.duration(), secs(15.0));
        assert_eq!(profile.rate_at(secs(0.0)), 200.0);
        assert_eq!(profile.rate_at(secs(4.9)), 200.0);
        assert_close(profile.rate_at(secs(10.0)), 300.0, 1e-9);
        assert_close(
            profile.expected_between(Duration::ZERO, secs(5.0)),
            1000.0,
            1e-9,
        );
        let deadlines = deadlines(&profile);
        assert_eq!(count_between(&deadlines, 0.0, 5.0), 1000);
        let info = profile.info();
        assert_eq!(info.warmup_seconds, 5.0);
        assert_eq!(info.duration_seconds, 15.0);
        assert!(
            info.description.ends_with("after 5s warm-up at 200/s"),
            "{}",
            info.description
        );
    }

    #[test]
    fn warmup_rate_can_be_given() {
        let profile = profile(
            "shape = 'constant'\nrate = 1000\nlength = '10s'\nwarmup = '30s'\nwarmup_rate = 50",
        );
        assert_eq!(profile.rate_at(secs(29.0)), 50.0);
        assert_eq!(profile.rate_at(secs(30.0)), 1000.0);
        assert_close(
            profile.expected_between(Duration::ZERO, secs(30.0)),
            1500.0,
            1e-9,
        );
    }

    #[test]
    fn zero_rate_stretch_gets_no_deadlines() {
        let profile = profile("shape = 'points'\npoints = [[0, 0], [2, 0], [4, 100], [6, 0], [8, 0], [8, 50], [10, 50]]");
        let deadlines = deadlines(&profile);
        assert_eq!(count_between(&deadlines, 0.0, 2.0), 0);
        assert_eq!(count_between(&deadlines, 6.0, 8.0), 0);
        assert!(
            deadlines.iter().all(|d| *d >= secs(2.0)),
            "{:?}",
            deadlines[0]
        );
        assert!(count_between(&deadlines, 2.0, 6.0).abs_diff(200) <= 1);
        assert!(count_between(&deadlines, 8.0, 10.0).abs_diff(100) <= 1);
        assert_eq!(profile.rate_at(secs(7.0)), 0.0);
        assert_eq!(profile.rate_at(secs(8.0)), 50.0);
        assert_eq!(profile.rate_at(secs(3.0)), 50.0);
    }

    #[test]
    fn scaled_multiplies_every_rate() {
        let profile =
            profile("shape = 'ramp'\nfrom = 100\nto = 300\nlength = '10s'\nwarmup = '2s'");
        let double = profile
            .scaled(2.0)
            .unwrap_or_else(|error| panic!("{error}"));
        assert_eq!(double.duration(), profile.duration());
        assert_eq!(double.peak_rate(), 600.0);
        assert_eq!(double.rate_at(secs(1.0)), 200.0);
        assert_close(
            double.expected_between(secs(0.0), secs(12.0)),
            2.0 * 2200.0,
            1e-9,
        );
        assert!(double.schedule().count().abs_diff(4400) <= 1);
        for factor in [0.0, -1.0, f64::NAN, f64::INFINITY] {
            assert!(profile.scaled(factor).is_err(), "{factor}");
        }
    }

    #[test]
    fn expected_between_is_zero_for_empty_or_reversed_ranges() {
        let profile = profile("shape = 'constant'\nrate = 10\nlength = '10s'");
        assert_eq!(profile.expected_between(secs(5.0), secs(5.0)), 0.0);
        assert_eq!(profile.expected_between(secs(6.0), secs(5.0)), 0.0);
        assert_close(profile.expected_between(secs(9.0), secs(20.0)), 10.0, 1e-9);
    }

    #[derive(Deserialize)]
    struct Scenario {
        profile: ProfileSpec,
    }

    #[test]
    fn toml_examples_of_every_shape_parse_and_compile() {
        let examples = [
            "[profile]\nshape = \"constant\"\nrate = 500\nlength = \"5m\"\nwarmup = \"30s\"",
            "[profile]\nshape = \"ramp\"\nfrom = 0\nto = 2000.5\nlength = \"10m\"\narrivals = \"poisson\"\nseed = 42",
            "[profile]\nshape = \"steps\"\nsteps = [\n  { rate = 500, length = \"5m\" },\n  { rate = 1000, length = \"5m\" },\n]",
            "[profile]\nshape = \"spike\"\nbase = 200\npeak = 3000\nat = \"5m\"\nhold = \"1m\"\nramp = \"10s\"\nlength = \"15m\"",
            "[profile]\nshape = \"clinic-morning\"\nrate = 1000\nmonday = true\nmonday_factor = 1.3\nduration = \"10m\"\nwarmup = \"1m\"\nwarmup_rate = 100",
            "[profile]\nshape = \"clinic-morning\"\nlength = \"30m\"\ntime_scale = 6.0\nwarmup = \"10s\"",
            "[profile]\nshape = \"points\"\npoints = [[0, 0], [60, 1000], [120, 1000], [120, 200], [180.5, 0]]",
        ];
        for text in examples {
            let scenario: Scenario =
                toml::from_str(text).unwrap_or_else(|error| panic!("{text}: {error}"));
            let profile = Profile::from_spec(&scenario.profile)
                .unwrap_or_else(|error| panic!("{text}: {error}"));
            assert!(
                profile.peak_rate() > 0.0 && !profile.duration().is_zero(),
                "{text}"
            );
        }
        let scenario: Scenario =
            toml::from_str(examples[4]).unwrap_or_else(|error| panic!("{error}"));
        let info = Profile::from_spec(&scenario.profile).map(|profile| profile.info());
        let info = info.unwrap_or_else(|error| panic!("{error}"));
        assert_eq!(
            info.description,
            "clinic-morning 1000/s mean (x1.3 Monday), 1h shape in 10m, after 1m warm-up at 100/s"
        );
        assert_eq!(info.duration_seconds, 660.0);
        assert_eq!(info.time_scale, 6.0);
    }
}
