//! Synthetic update messages drawn from a snapshot (`shikaku updates gen`):
//! a realistic day's mix of changes to existing rows, losses, new rows,
//! deletions, new links and renewals, for tests and ingest measurements.
//!
//! Every message is valid when applied in order over the snapshot it was
//! drawn from (each row and serial is touched at most once), and each
//! sender's messages carry consecutive `seq` numbers, going on from the
//! snapshot's journal mark (so a file drawn from a folded snapshot follows
//! the messages folded into it).

use crate::model::{CodeField, Date, DateField, Serial, TextField};
use crate::snapshot::{RowRef, Snapshot};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde_json::{json, Map, Value};
use std::collections::{HashMap, HashSet};

/// The sender of linkage messages (new links and renewals).
pub const LINKAGE_SENDER: &str = "jlis";

/// What to draw.
pub struct GenerateOptions {
    /// Messages to draw.
    pub count: u64,
    /// Seed of the random generator: the same snapshot and options draw the same messages.
    pub seed: u64,
    /// The day the changes take effect (losses, new rows).
    pub today: Date,
}

/// Draws `options.count` messages from `snapshot`, passing each NDJSON line
/// (without newline) to `line`. Fewer are drawn if the snapshot runs out of
/// untouched rows.
pub fn generate(
    snapshot: &Snapshot,
    options: &GenerateOptions,
    mut line: impl FnMut(&str) -> anyhow::Result<()>,
) -> anyhow::Result<u64> {
    let mut state = State {
        rng: ChaCha8Rng::seed_from_u64(options.seed),
        touched: HashSet::new(),
        seqs: snapshot
            .manifest()
            .journal
            .as_ref()
            .map(|mark| mark.senders.clone().into_iter().collect())
            .unwrap_or_default(),
        serials: snapshot.serial_links().map(|(serial, _)| serial).collect(),
        next_serial: 0xF000_0000_0000_0000u64 ^ options.seed.rotate_left(17),
        today: options.today,
        seed: options.seed,
    };
    state.serials.sort_unstable();
    if snapshot.person_count() == 0 {
        anyhow::bail!("the snapshot has no rows to draw updates from");
    }
    let mut made = 0;
    let mut misses = 0;
    while made < options.count && misses < 1000 {
        let Some(row) = state.pick_row(snapshot) else {
            misses += 1;
            continue;
        };
        misses = 0;
        let message = state.message(&row, made);
        line(&serde_json::to_string(&message)?)?;
        made += 1;
    }
    Ok(made)
}

struct State {
    rng: ChaCha8Rng,
    /// Rows already changed (person number, place among the person's rows).
    touched: HashSet<(u32, u32)>,
    seqs: HashMap<String, u64>,
    /// Linked serials not yet renewed (sorted, drawn at random).
    serials: Vec<Serial>,
    next_serial: u64,
    today: Date,
    seed: u64,
}

impl State {
    fn pick_row<'s>(&mut self, snapshot: &'s Snapshot) -> Option<RowRef<'s>> {
        let person = snapshot.person(self.rng.gen_range(0..snapshot.person_count()))?;
        let ordinal = self.rng.gen_range(0..person.row_count());
        if !self.touched.insert((person.number(), ordinal)) {
            return None;
        }
        person.rows().nth(ordinal as usize)
    }

    fn message(&mut self, row: &RowRef<'_>, number: u64) -> Value {
        let roll = self.rng.gen_range(0..100);
        let insurer = row.text(TextField::InsurerCode);
        let sender = if insurer.is_empty() {
            row.text(TextField::InsurerNumber).to_string()
        } else {
            insurer.to_string()
        };
        let mut message = match roll {
            0..=54 => self.changed(row),
            55..=69 => self.lost(row),
            70..=84 => self.added(row),
            85..=89 => delete(row),
            _ => return self.linkage(row, number),
        };
        self.envelope(&mut message, number, &sender);
        Value::Object(message)
    }

    fn envelope(&mut self, message: &mut Map<String, Value>, number: u64, sender: &str) {
        let seq = self.seqs.entry(sender.to_string()).or_default();
        *seq += 1;
        message.insert(
            "process_id".into(),
            json!(format!("gen-{}-{number}", self.seed)),
        );
        message.insert("sender".into(), json!(sender));
        message.insert("seq".into(), json!(*seq));
    }

    /// The same row with a new co-payment ratio and card period.
    fn changed(&mut self, row: &RowRef<'_>) -> Map<String, Value> {
        let mut fields = upsert(row);
        let ratio = [10, 20, 30][self.rng.gen_range(0..3)];
        fields.insert("copay_ratio".into(), json!(ratio.to_string()));
        fields.insert(
            "card_valid_to".into(),
            json!(self.today.add_days(self.rng.gen_range(30..800)).to_string()),
        );
        fields
    }

    /// The row lost from today (or a recent day).
    fn lost(&mut self, row: &RowRef<'_>) -> Map<String, Value> {
        let mut fields = upsert(row);
        let acquired = row.date(DateField::Acquired).unwrap_or(self.today);
        let lost = self
            .today
            .add_days(-self.rng.gen_range(0..30))
            .max(acquired);
        fields.insert("lost".into(), json!(lost.to_string()));
        fields.insert("loss_reason".into(), json!("03"));
        fields
    }

    /// A new row under the same subscription (the next 資格通番), from today.
    fn added(&mut self, row: &RowRef<'_>) -> Map<String, Value> {
        let mut fields = upsert(row);
        fields.insert(
            "qualification_seq".into(),
            json!((row.qualification_seq() + 1000 + self.rng.gen_range(0..1000)).to_string()),
        );
        fields.insert("acquired".into(), json!(self.today.to_string()));
        for field in ["lost", "loss_reason", "card_valid_from", "card_valid_to"] {
            fields.insert(field.into(), Value::Null);
        }
        fields
    }

    /// A new certificate for the row's person, or a renewal of a linked one.
    fn linkage(&mut self, row: &RowRef<'_>, number: u64) -> Value {
        self.next_serial += 1;
        let new_serial = Serial::from_u64(self.next_serial);
        let renew = self.rng.gen_bool(0.3) && !self.serials.is_empty();
        let mut message = if renew {
            let index = self.rng.gen_range(0..self.serials.len());
            let old = self.serials.swap_remove(index);
            let mut m = Map::new();
            m.insert("op".into(), json!("renew"));
            m.insert("new_serial".into(), json!(new_serial.to_string()));
            m.insert("old_serial".into(), json!(old.to_string()));
            m
        } else {
            let mut m = Map::new();
            m.insert("op".into(), json!("link"));
            m.insert("serial".into(), json!(new_serial.to_string()));
            m.insert(
                "linkage_no".into(),
                json!(row.person().linkage().to_string()),
            );
            m
        };
        self.envelope(&mut message, number, LINKAGE_SENDER);
        Value::Object(message)
    }
}

/// An upsert carrying every column of the row as it is.
fn upsert(row: &RowRef<'_>) -> Map<String, Value> {
    let mut fields = Map::new();
    fields.insert("op".into(), json!("upsert"));
    fields.insert(
        "linkage_no".into(),
        json!(row.person().linkage().to_string()),
    );
    for (field, text) in TextField::ALL.iter().zip(row.texts()) {
        if *field != TextField::OnlineNumber && !text.is_empty() {
            fields.insert(field.name().into(), json!(text));
        }
    }
    for field in DateField::ALL {
        if let Some(date) = row.date(field) {
            fields.insert(field.name().into(), json!(date.to_string()));
        }
    }
    for field in CodeField::ALL {
        if let Some(code) = row.code(field) {
            fields.insert(field.name().into(), json!(code.to_string()));
        }
    }
    fields.insert(
        "qualification_seq".into(),
        json!(row.qualification_seq().to_string()),
    );
    fields
}

fn delete(row: &RowRef<'_>) -> Map<String, Value> {
    let mut fields = Map::new();
    fields.insert("op".into(), json!("delete"));
    for field in [
        TextField::InsurerCode,
        TextField::BranchNo,
        TextField::MunicipalId,
    ] {
        let text = row.text(field);
        if !text.is_empty() {
            fields.insert(field.name().into(), json!(text));
        }
    }
    fields.insert(
        "qualification_seq".into(),
        json!(row.qualification_seq().to_string()),
    );
    fields
}
