//! Update acceptance without a server: the decisions of
//! `updates::acceptance` against a real snapshot (delete and renew targets,
//! then the group's own changes).

mod common;

use common::{branch, qualification, Dataset};
use serde_json::json;
use shikaku::engine::View;
use shikaku::updates::acceptance::{Decision, JournalState, Pending};
use shikaku::updates::message::{parse, Message};
use shikaku::updates::overlay::Overlay;

fn message(line: serde_json::Value) -> Message {
    parse(line.to_string().as_bytes()).expect("a valid message")
}

fn code(decision: Decision) -> &'static str {
    match decision {
        Decision::Refuse { code, .. } => code,
        other => panic!("expected a refusal, got {other:?}"),
    }
}

#[test]
fn delete_and_renew_need_their_targets() {
    let built = Dataset::new()
        .row(qualification("1", &branch(1), "2020-04-01"))
        .link("0x11", "1")
        .build();
    let snapshot = shikaku::snapshot::Snapshot::open(&built.out).unwrap();
    let mut overlay = Overlay::default();
    let state = JournalState::default();
    let mut pending = Pending::default();

    let delete = |id: &str, branch_no: String| {
        message(
            json!({"op": "delete", "process_id": id, "insurer_code": "10000001", "branch_no": branch_no, "qualification_seq": "1"}),
        )
    };
    let renew = |id: &str, old: &str| {
        message(json!({"op": "renew", "process_id": id, "new_serial": "0x99", "old_serial": old}))
    };
    let view = View::new(&snapshot, &overlay);
    assert_eq!(
        code(state.judge(&pending, &delete("D9", branch(9)), view)),
        "not_found"
    );
    assert_eq!(
        code(state.judge(&pending, &renew("R1", "0x12"), view)),
        "not_found"
    );
    assert_eq!(
        state.judge(&pending, &delete("D1", branch(1)), view),
        Decision::Accept
    );

    // Renewing 0x11 retires it: a second renewal of 0x11 has nothing to renew.
    let first = renew("R2", "0x11");
    assert_eq!(state.judge(&pending, &first, view), Decision::Accept);
    overlay.apply(1, &first.change, &snapshot);
    pending.accepted(&first);
    let view = View::new(&snapshot, &overlay);
    assert_eq!(state.judge(&pending, &first, view), Decision::Duplicate);
    assert_eq!(
        code(state.judge(&pending, &renew("R3", "0x11"), view)),
        "not_found"
    );
}
