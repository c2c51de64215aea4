//! Whether one update message is accepted, decided without I/O: given what
//! the journal already holds (every 処理ID, each sender's last `seq`), what
//! the group being committed has accepted so far, and the view the message
//! would change.
//!
//! Order of the checks (`CONTRACT.md` §4): a repeated 処理ID is a duplicate
//! (answered `ok`, nothing changes); a sender's messages apply in `seq`
//! order, one after the other; a delete needs its row and a renewal its old
//! serial's link. The server's update writer asks this module and then
//! writes; a test asks it directly.

use super::journal::process_id_hash;
use super::message::{Change, Message};
use super::view::View;
use std::collections::{HashMap, HashSet};
use std::sync::Arc;

/// What a message gets.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Decision {
    /// Append it and apply it.
    Accept,
    /// Its 処理ID was accepted before; nothing changes.
    Duplicate,
    /// Refused with a result code (`sequence_gap`, `out_of_order`,
    /// `not_found`) and a message saying what to do.
    Refuse {
        /// The result code of `CONTRACT.md` §4.
        code: &'static str,
        /// Why, for the sender.
        message: String,
    },
}

/// What the journal on disk has accepted.
#[derive(Debug, Default)]
pub struct JournalState {
    /// Process ids read back from a checkpoint at start, sorted: kept as
    /// they came (a restart after a peak day would otherwise spend a
    /// second or more inserting millions of them into a set).
    known: Arc<[u128]>,
    /// Process ids of the records after those.
    seen: HashSet<u128>,
    senders: HashMap<String, u64>,
}

/// What a group not yet committed has accepted.
#[derive(Debug, Default)]
pub struct Pending {
    seen: HashSet<u128>,
    senders: HashMap<String, u64>,
}

impl JournalState {
    /// The state of a journal holding the process ids hashed in `known`
    /// (sorted here if they are not) and in `seen`.
    pub fn new(mut known: Vec<u128>, seen: HashSet<u128>) -> JournalState {
        if !known.is_sorted() {
            known.sort_unstable();
        }
        JournalState {
            known: known.into(),
            seen,
            senders: HashMap::new(),
        }
    }

    /// True when a record with this hashed process id was accepted.
    fn holds(&self, id: u128) -> bool {
        self.seen.contains(&id) || self.known.binary_search(&id).is_ok()
    }

    /// Raises `sender`'s last applied `seq` to at least `seq` (a snapshot's
    /// journal mark, or a replay, says it was applied).
    pub fn applied_through(&mut self, sender: String, seq: u64) {
        let last = self.senders.entry(sender).or_default();
        *last = (*last).max(seq);
    }

    /// The hashed process id of every record accepted (for a checkpoint),
    /// in no particular order.
    pub fn seen_ids(&self) -> Vec<u128> {
        let mut ids = Vec::with_capacity(self.known.len() + self.seen.len());
        ids.extend_from_slice(&self.known);
        ids.extend(self.seen.iter().copied());
        ids
    }

    /// Each sender's last `seq` accepted.
    pub fn senders(&self) -> std::collections::BTreeMap<String, u64> {
        self.senders
            .iter()
            .map(|(s, seq)| (s.clone(), *seq))
            .collect()
    }

    /// Takes in a group once its records are durable.
    pub fn commit(&mut self, pending: Pending) {
        self.seen.extend(pending.seen);
        self.senders.extend(pending.senders);
    }

    /// The duplicate and sequence checks for `message`, after `pending`.
    pub fn order(&self, pending: &Pending, message: &Message) -> Result<(), Decision> {
        let id = process_id_hash(&message.process_id);
        if self.holds(id) || pending.seen.contains(&id) {
            return Err(Decision::Duplicate);
        }
        let (Some(sender), Some(seq)) = (&message.sender, message.seq) else {
            return Ok(());
        };
        let last = pending
            .senders
            .get(sender)
            .or_else(|| self.senders.get(sender))
            .copied();
        sequence(sender, seq, last)
    }

    /// Every check for `message`, whose change would apply to `view`.
    pub fn judge(&self, pending: &Pending, message: &Message, view: View<'_>) -> Decision {
        match self
            .order(pending, message)
            .and_then(|()| target(&message.change, view))
        {
            Ok(()) => Decision::Accept,
            Err(decision) => decision,
        }
    }
}

impl Pending {
    /// Notes an accepted message, so that later ones in the group see it.
    pub fn accepted(&mut self, message: &Message) {
        self.seen.insert(process_id_hash(&message.process_id));
        if let (Some(sender), Some(seq)) = (&message.sender, message.seq) {
            self.senders.insert(sender.clone(), seq);
        }
    }
}

/// A sender's messages apply in `seq` order, one after the other.
fn sequence(sender: &str, seq: u64, last: Option<u64>) -> Result<(), Decision> {
    match last {
        None => Ok(()),
        Some(last) if seq == last + 1 => Ok(()),
        Some(last) if seq > last + 1 => Err(Decision::Refuse {
            code: "sequence_gap",
            message: format!(
                "sender {sender}: seq {seq} follows {last}; {} to {} have not arrived: send them first (this message changed nothing)",
                last + 1,
                seq - 1
            ),
        }),
        Some(last) => Err(Decision::Refuse {
            code: "out_of_order",
            message: format!(
                "sender {sender}: seq {seq} is not after {last}, already applied (this message changed nothing)"
            ),
        }),
    }
}

/// A delete needs its row, a renewal its old serial's link.
pub fn target(change: &Change, view: View<'_>) -> Result<(), Decision> {
    let missing = |message: String| {
        Err(Decision::Refuse {
            code: "not_found",
            message,
        })
    };
    match change {
        Change::Delete(key) => {
            let exists = view
                .rows_by_online_number(&key.online)
                .iter()
                .any(|row| row.qualification_seq() == key.seq);
            if exists {
                Ok(())
            } else {
                missing(format!(
                    "no row with online number {} and qualification_seq {} to delete",
                    key.online, key.seq
                ))
            }
        }
        Change::Renew { old_serial, .. } => match view.serial_link(old_serial) {
            Some(_) => Ok(()),
            None => missing(format!(
                "old_serial: {old_serial} is not linked (or already retired); nothing to renew"
            )),
        },
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::updates::message::parse;

    fn message(process_id: &str, sender: Option<&str>, seq: Option<u64>) -> Message {
        let mut line = serde_json::json!({
            "op": "link",
            "process_id": process_id,
            "serial": "0x77",
            "linkage_no": "1",
        });
        if let Some(sender) = sender {
            line["sender"] = sender.into();
        }
        if let Some(seq) = seq {
            line["seq"] = seq.into();
        }
        parse(line.to_string().as_bytes()).expect("a valid link message")
    }

    #[test]
    fn a_repeated_process_id_is_a_duplicate_in_the_group_and_after_it() {
        let mut state = JournalState::default();
        let mut pending = Pending::default();
        let first = message("P-1", None, None);
        assert_eq!(state.order(&pending, &first), Ok(()));
        pending.accepted(&first);
        assert_eq!(state.order(&pending, &first), Err(Decision::Duplicate));
        state.commit(pending);
        let pending = Pending::default();
        assert_eq!(state.order(&pending, &first), Err(Decision::Duplicate));
        assert_eq!(state.order(&pending, &message("P-2", None, None)), Ok(()));
    }

    #[test]
    fn a_senders_messages_apply_one_after_the_other() {
        let mut state = JournalState::default();
        state.applied_through("kenpo".into(), 4);
        let mut pending = Pending::default();
        assert_eq!(
            state.order(&pending, &message("A", Some("kenpo"), Some(5))),
            Ok(())
        );
        pending.accepted(&message("A", Some("kenpo"), Some(5)));
        let code = |decision: Result<(), Decision>| match decision {
            Err(Decision::Refuse { code, .. }) => code,
            other => panic!("expected a refusal, got {other:?}"),
        };
        assert_eq!(
            code(state.order(&pending, &message("B", Some("kenpo"), Some(7)))),
            "sequence_gap"
        );
        assert_eq!(
            code(state.order(&pending, &message("C", Some("kenpo"), Some(5)))),
            "out_of_order"
        );
        assert_eq!(
            state.order(&pending, &message("D", Some("kenpo"), Some(6))),
            Ok(())
        );
        // Another sender counts on its own; a message without seq is not ordered.
        assert_eq!(
            state.order(&pending, &message("E", Some("kokuho"), Some(90))),
            Ok(())
        );
        assert_eq!(
            state.order(&pending, &message("F", Some("kenpo"), None)),
            Ok(())
        );
        // A replay raises a sender's mark, never lowers it.
        state.applied_through("kenpo".into(), 2);
        state.commit(pending);
        assert_eq!(
            state.order(&Pending::default(), &message("G", Some("kenpo"), Some(6))),
            Ok(())
        );
    }
}
