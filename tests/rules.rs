//! One test per answer rule of SPEC.md §3 and per verdict, on small
//! hand-written data built into a real snapshot.

mod common;

use common::{branch, date, online, qualification, Dataset, HEALTH_SOCIETY};
use shikaku::engine::json::{write_answer, Envelope};
use shikaku::engine::{check, Answer, Query, View};
use shikaku::model::{CardFaceKey, InsurerNumber, OnlineNumber, Serial, TextField, Verdict};
use shikaku::snapshot::Snapshot;

fn by_online(number: &str) -> Query {
    Query::OnlineNumber {
        number: OnlineNumber::parse(number).unwrap(),
        birth_date: None,
    }
}

fn by_online_born(number: &str, birth: &str) -> Query {
    Query::OnlineNumber {
        number: OnlineNumber::parse(number).unwrap(),
        birth_date: Some(date(birth)),
    }
}

fn by_serial(serial: &str) -> Query {
    Query::Card {
        serial: Serial::parse(serial).unwrap(),
    }
}

fn by_face(insurer: &str, symbol: &str, number: &str, branch: &str, birth: Option<&str>) -> Query {
    Query::CardFace {
        key: CardFaceKey::parse(insurer, symbol, number, branch).unwrap(),
        birth_date: birth.map(date),
    }
}

fn ask<'s>(snapshot: &'s Snapshot, query: &Query, on: &str) -> Answer<'s> {
    check(snapshot, query, date(on))
}

/// (online number, acquired) of each answered record, in answer order.
fn records(answer: &Answer<'_>) -> Vec<(String, String)> {
    answer
        .records
        .iter()
        .map(|r| {
            let acquired = r
                .date(shikaku::model::DateField::Acquired)
                .unwrap()
                .to_string();
            (r.text(TextField::OnlineNumber).to_string(), acquired)
        })
        .collect()
}

#[test]
fn valid_when_acquired_on_or_before_and_not_yet_lost() {
    let built = Dataset::new()
        .row(qualification("1", &branch(1), "2020-04-01").set("lost", "2026-12-01"))
        .build();
    let s = &built.snapshot;
    assert_eq!(
        ask(s, &by_online(&online(1)), "2020-03-31").verdict,
        Verdict::Invalid,
        "before acquisition"
    );
    assert_eq!(
        ask(s, &by_online(&online(1)), "2020-04-01").verdict,
        Verdict::Valid,
        "acquired is inclusive"
    );
    assert_eq!(
        ask(s, &by_online(&online(1)), "2026-11-30").verdict,
        Verdict::Valid
    );
    let lost_day = ask(s, &by_online(&online(1)), "2026-12-01");
    assert_eq!(
        lost_day.verdict,
        Verdict::Invalid,
        "lost is the first day not in force"
    );
    assert_eq!(records(&lost_day), vec![(online(1), "2020-04-01".into())]);
}

#[test]
fn same_day_acquire_and_lose_is_never_in_force() {
    let built = Dataset::new()
        .row(qualification("1", &branch(1), "2026-11-21").set("lost", "2026-11-21"))
        .build();
    for day in ["2026-11-20", "2026-11-21", "2026-11-22"] {
        let answer = ask(&built.snapshot, &by_online(&online(1)), day);
        assert_eq!(answer.verdict, Verdict::Invalid, "{day}");
        assert_eq!(answer.records.len(), 1, "the row is still shown");
    }
}

#[test]
fn valid_returns_every_in_force_record_newest_first() {
    // During an insurer change both subscriptions can be in force; the card
    // path answers all of them, newest acquisition first.
    let built = Dataset::new()
        .row(qualification("7", &branch(1), "2010-04-01"))
        .row(qualification("7", &branch(2), "2026-10-01").set("insurer_code", "10000002"))
        .row(qualification("7", &branch(3), "2000-04-01").set("lost", "2010-04-01"))
        .link("1001", "7")
        .build();
    let answer = ask(&built.snapshot, &by_serial("1001"), "2026-11-21");
    assert_eq!(answer.verdict, Verdict::Valid);
    assert_eq!(
        records(&answer),
        vec![
            (format!("10000002{}", branch(2)), "2026-10-01".into()),
            (online(1), "2010-04-01".into())
        ]
    );
}

#[test]
fn several_in_force_rows_of_one_subscription_are_all_returned() {
    let built = Dataset::new()
        .row(qualification("1", &branch(1), "2015-04-01"))
        .row(qualification("1", &branch(1), "2020-04-01").set("qualification_seq", "2"))
        .build();
    let answer = ask(&built.snapshot, &by_online(&online(1)), "2026-11-21");
    assert_eq!(answer.verdict, Verdict::Valid);
    assert_eq!(
        records(&answer),
        vec![
            (online(1), "2020-04-01".into()),
            (online(1), "2015-04-01".into())
        ]
    );
}

#[test]
fn invalid_answers_the_most_recent_record_as_before_loss() {
    let built = Dataset::new()
        .row(qualification("1", &branch(1), "2001-04-01").set("lost", "2005-04-01"))
        .row(
            qualification("1", &branch(1), "2010-04-01")
                .set("qualification_seq", "2")
                .set("lost", "2026-04-01")
                .set("loss_reason", "99"),
        )
        .build();
    let answer = ask(&built.snapshot, &by_online(&online(1)), "2026-11-21");
    assert_eq!(answer.verdict, Verdict::Invalid);
    assert_eq!(records(&answer), vec![(online(1), "2010-04-01".into())]);
    assert_eq!(answer.records[0].text(TextField::LossReason), "99");
    assert_eq!(
        answer.records[0].date(shikaku::model::DateField::Lost),
        Some(date("2026-04-01"))
    );
}

#[test]
fn invalid_newer_exists_when_the_person_moved_to_another_insurer() {
    let new_insurer = InsurerNumber::with_check_digit(113_001).to_string();
    let new_online = format!("20000001{}", branch(9));
    let built = Dataset::new()
        .insurer(&new_insurer, "全国健康保険協会 東京支部")
        .row(
            qualification("5", &branch(1), "2015-04-01")
                .set("lost", "2026-10-01")
                .set("loss_reason", "03"),
        )
        .row(
            qualification("5", &branch(9), "2026-10-01")
                .set("insurer_code", "20000001")
                .set("insurer_number", &new_insurer)
                .set("card_symbol", "7")
                .set("card_number", "88"),
        )
        .link("55", "5")
        .build();
    let s = &built.snapshot;
    let old_card = ask(s, &by_online(&online(1)), "2026-11-21");
    assert_eq!(old_card.verdict, Verdict::InvalidNewerExists);
    assert_eq!(
        records(&old_card),
        vec![(online(1), "2015-04-01".into())],
        "the new insurer is not revealed"
    );
    let old_face = ask(
        s,
        &by_face(HEALTH_SOCIETY, "12", "345", "00", None),
        "2026-11-21",
    );
    assert_eq!(old_face.verdict, Verdict::InvalidNewerExists);
    let new_card = ask(s, &by_online(&new_online), "2026-11-21");
    assert_eq!(new_card.verdict, Verdict::Valid);
    assert_eq!(
        records(&new_card),
        vec![(new_online.clone(), "2026-10-01".into())]
    );
    // Before the change, the old card was valid and the new one not yet.
    assert_eq!(
        ask(s, &by_online(&online(1)), "2026-09-30").verdict,
        Verdict::Valid
    );
    assert_eq!(
        ask(s, &by_online(&new_online), "2026-09-30").verdict,
        Verdict::Invalid
    );
    // The card path follows the person to the new insurer.
    let card = ask(s, &by_serial("55"), "2026-11-21");
    assert_eq!(card.verdict, Verdict::Valid);
    assert_eq!(records(&card), vec![(new_online, "2026-10-01".into())]);
}

#[test]
fn not_found_for_unknown_keys() {
    let built = Dataset::new()
        .row(qualification("1", &branch(1), "2020-04-01"))
        .build();
    let s = &built.snapshot;
    assert_eq!(
        ask(s, &by_online(&online(2)), "2026-11-21").verdict,
        Verdict::NotFound
    );
    assert_eq!(
        ask(s, &by_online("131001000012345"), "2026-11-21").verdict,
        Verdict::NotFound
    );
    assert_eq!(
        ask(
            s,
            &by_face(HEALTH_SOCIETY, "12", "999", "", None),
            "2026-11-21"
        )
        .verdict,
        Verdict::NotFound
    );
    assert_eq!(
        ask(
            s,
            &by_face(HEALTH_SOCIETY, "13", "345", "", None),
            "2026-11-21"
        )
        .verdict,
        Verdict::NotFound
    );
    assert!(ask(s, &by_online(&online(2)), "2026-11-21")
        .records
        .is_empty());
}

#[test]
fn birth_date_mismatch_answers_not_found() {
    let built = Dataset::new()
        .row(qualification("1", &branch(1), "2020-04-01"))
        .build();
    let s = &built.snapshot;
    assert_eq!(
        ask(s, &by_online_born(&online(1), "1980-04-01"), "2026-11-21").verdict,
        Verdict::Valid
    );
    let wrong = ask(s, &by_online_born(&online(1), "1980-04-02"), "2026-11-21");
    assert_eq!(wrong.verdict, Verdict::NotFound);
    assert!(wrong.records.is_empty());
    let face = by_face(HEALTH_SOCIETY, "12", "345", "00", Some("1999-01-01"));
    assert_eq!(ask(s, &face, "2026-11-21").verdict, Verdict::NotFound);
}

#[test]
fn card_face_without_branch_matching_a_household_answers_multiple() {
    let built = Dataset::new()
        .row(qualification("1", &branch(1), "2020-04-01"))
        .row(
            qualification("2", &branch(2), "2020-04-01")
                .set("card_branch", "01")
                .set("name", "山田 花子")
                .set("sex", "2")
                .set("relationship", "2")
                .set("birth_date", "1982-06-15"),
        )
        .build();
    let s = &built.snapshot;
    let household = ask(
        s,
        &by_face(HEALTH_SOCIETY, "12", "345", "", None),
        "2026-11-21",
    );
    assert_eq!(household.verdict, Verdict::Multiple);
    assert!(household.records.is_empty(), "multiple reveals nobody");
    let with_branch = ask(
        s,
        &by_face(HEALTH_SOCIETY, "12", "345", "01", None),
        "2026-11-21",
    );
    assert_eq!(with_branch.verdict, Verdict::Valid);
    assert_eq!(with_branch.records[0].text(TextField::Name), "山田 花子");
    let with_birth = ask(
        s,
        &by_face(HEALTH_SOCIETY, "12", "345", "", Some("1980-04-01")),
        "2026-11-21",
    );
    assert_eq!(with_birth.verdict, Verdict::Valid);
    assert_eq!(with_birth.records[0].text(TextField::Name), "山田 太郎");
}

#[test]
fn card_face_is_normalised_and_may_lack_a_symbol() {
    let built = Dataset::new()
        .row(
            qualification("1", &branch(1), "2020-04-01")
                .set("card_symbol", "")
                .set("card_number", "ABC12"),
        )
        .row(
            qualification("2", &branch(2), "2020-04-01")
                .set("card_symbol", "東京")
                .set("card_number", "7"),
        )
        .build();
    let s = &built.snapshot;
    let full_width = by_face("０６１３９０１８", "", "ＡＢＣ１２", "０", None);
    assert_eq!(ask(s, &full_width, "2026-11-21").verdict, Verdict::Valid);
    assert_eq!(
        ask(
            s,
            &by_face(HEALTH_SOCIETY, " 東京 ", "７", "00", None),
            "2026-11-21"
        )
        .verdict,
        Verdict::Valid
    );
}

#[test]
fn card_face_katakana_matches_in_half_and_full_width() {
    let built = Dataset::new()
        .row(
            // Stored in half-width katakana with voiced and semi-voiced marks.
            qualification("1", &branch(1), "2020-04-01")
                .set("card_symbol", "ｶﾞｸﾊﾟ")
                .set("card_number", "ﾄﾞ7"),
        )
        .row(
            // Stored in full-width katakana, with an ideographic space.
            qualification("2", &branch(2), "2020-04-01")
                .set("card_symbol", "ゴ\u{3000}ポ")
                .set("card_number", "８"),
        )
        .build();
    let s = &built.snapshot;
    let valid = |symbol: &str, number: &str| {
        let answer = ask(
            s,
            &by_face(HEALTH_SOCIETY, symbol, number, "", None),
            "2026-11-21",
        );
        (answer.verdict, answer.records.len())
    };
    for (symbol, number) in [
        ("ガクパ", "ド7"),
        ("ｶﾞｸﾊﾟ", "ﾄﾞ7"),
        ("\u{3000}ガｸﾊﾟ ", "ド７"),
        ("カ\u{3099}クハ\u{309A}", "ト\u{3099}7"),
        ("ｺﾞ ﾎﾟ", "8"),
        ("ゴ ポ", "８"),
        ("　ｺﾞ　ﾎﾟ　", "８"),
    ] {
        assert_eq!(
            valid(symbol, number),
            (Verdict::Valid, 1),
            "{symbol:?} {number:?}"
        );
    }
    assert_eq!(valid("ｶｸﾊ", "ﾄ7").0, Verdict::NotFound, "the marks count");
    let answer = ask(
        s,
        &by_face(HEALTH_SOCIETY, "ｶﾞｸﾊﾟ", "ﾄﾞ7", "", None),
        "2026-11-21",
    );
    let json = answer_json(&answer, s, "2026-11-21", None, "r");
    assert_eq!(json["records"][0]["card_symbol"], "ガクパ");
    assert_eq!(json["records"][0]["card_number"], "ド7");
}

#[test]
fn card_check_verdicts_not_linked_revoked_suspended() {
    let built = Dataset::new()
        .row(qualification("1", &branch(1), "2020-04-01"))
        .link("100", "1")
        .link("101", "1")
        .link("102", "1")
        .link("103", "999")
        .revoke("101", "keyCompromise")
        .revoke("102", "certificateHold")
        .revoke("200", "cessationOfOperation")
        .build();
    let s = &built.snapshot;
    assert_eq!(
        ask(s, &by_serial("100"), "2026-11-21").verdict,
        Verdict::Valid
    );
    assert_eq!(
        ask(s, &by_serial("101"), "2026-11-21").verdict,
        Verdict::CertRevoked
    );
    assert_eq!(
        ask(s, &by_serial("102"), "2026-11-21").verdict,
        Verdict::CertSuspended
    );
    assert_eq!(
        ask(s, &by_serial("200"), "2026-11-21").verdict,
        Verdict::CertRevoked,
        "revoked before linkage is looked at"
    );
    assert_eq!(
        ask(s, &by_serial("300"), "2026-11-21").verdict,
        Verdict::NotLinked
    );
    assert_eq!(
        ask(s, &by_serial("103"), "2026-11-21").verdict,
        Verdict::NotFound,
        "linked to nobody with rows"
    );
    for verdict_query in ["101", "102", "300"] {
        assert!(ask(s, &by_serial(verdict_query), "2026-11-21")
            .records
            .is_empty());
    }
}

#[test]
fn card_check_of_a_person_with_no_rows_in_force_is_invalid() {
    let built = Dataset::new()
        .row(
            qualification("1", &branch(1), "2020-04-01")
                .set("lost", "2025-01-01")
                .set("loss_reason", "01"),
        )
        .link("100", "1")
        .build();
    let answer = ask(&built.snapshot, &by_serial("100"), "2026-11-21");
    assert_eq!(answer.verdict, Verdict::Invalid);
    assert_eq!(answer.records.len(), 1);
}

#[test]
fn renewal_moves_the_person_to_the_new_serial() {
    let built = Dataset::new()
        .row(qualification("1", &branch(1), "2020-04-01"))
        .row(qualification("2", &branch(2), "2020-04-01"))
        .link("700", "2")
        .renew("0x320", "700")
        .link("100", "1")
        .renew("0x1f4", "100")
        .renew("600", "500")
        .build();
    let s = &built.snapshot;
    assert_eq!(
        ask(s, &by_serial("800"), "2026-11-21").verdict,
        Verdict::Valid,
        "0x320 = 800 is the new serial"
    );
    assert_eq!(
        ask(s, &by_serial("700"), "2026-11-21").verdict,
        Verdict::NotLinked,
        "the old serial no longer resolves"
    );
    assert_eq!(
        ask(s, &by_serial("600"), "2026-11-21").verdict,
        Verdict::Valid,
        "renewal chains are followed"
    );
    assert_eq!(
        ask(s, &by_serial("500"), "2026-11-21").verdict,
        Verdict::NotLinked
    );
    assert_eq!(
        ask(s, &by_serial("100"), "2026-11-21").verdict,
        Verdict::NotLinked
    );
    assert_eq!(built.report.counts.renewals, 3);
}

#[test]
fn serials_are_compared_as_numbers_and_may_be_wider_than_64_bits() {
    let wide = "0x0102030405060708090a0b0c0d0e0f1011121314";
    let wide_revoked = "0xff02030405060708090a0b0c0d0e0f1011121314";
    let built = Dataset::new()
        .row(qualification("1", &branch(1), "2020-04-01"))
        .link("0x00FF", "1")
        .link(wide, "1")
        .revoke(wide_revoked, "keyCompromise")
        .build();
    let s = &built.snapshot;
    assert_eq!(
        ask(s, &by_serial("255"), "2026-11-21").verdict,
        Verdict::Valid
    );
    assert_eq!(
        ask(s, &by_serial(wide), "2026-11-21").verdict,
        Verdict::Valid
    );
    assert_eq!(
        ask(s, &by_serial(wide_revoked), "2026-11-21").verdict,
        Verdict::CertRevoked
    );
    assert_eq!(
        ask(
            s,
            &by_serial("0x0102030405060708090a0b0c0d0e0f1011121315"),
            "2026-11-21"
        )
        .verdict,
        Verdict::NotLinked
    );
}

#[test]
fn benefit_period_and_card_validity_refine_the_qualification() {
    let built = Dataset::new()
        .row(qualification("1", &branch(1), "2020-04-01").set("benefit_end", "2026-10-31"))
        .row(
            qualification("2", &branch(2), "2020-04-01")
                .set("card_type", "03")
                .set("card_valid_from", "2026-05-01")
                .set("card_valid_to", "2026-10-31"),
        )
        .build();
    let s = &built.snapshot;
    assert_eq!(
        ask(s, &by_online(&online(1)), "2026-10-31").verdict,
        Verdict::Valid,
        "benefit end is inclusive"
    );
    assert_eq!(
        ask(s, &by_online(&online(1)), "2026-11-01").verdict,
        Verdict::Invalid
    );
    assert_eq!(
        ask(s, &by_online(&online(2)), "2026-04-30").verdict,
        Verdict::Invalid,
        "short-term card not yet valid"
    );
    assert_eq!(
        ask(s, &by_online(&online(2)), "2026-10-31").verdict,
        Verdict::Valid
    );
    assert_eq!(
        ask(s, &by_online(&online(2)), "2026-11-01").verdict,
        Verdict::Invalid,
        "short-term card expired"
    );
}

#[test]
fn municipal_nhi_rows_use_the_15_digit_municipal_id() {
    let municipal = InsurerNumber::with_check_digit(13_801);
    let six_digits = &municipal.as_str()[2..];
    let built = Dataset::new()
        .insurer(six_digits, "千代田区国民健康保険")
        .row(
            qualification("1", "", "2020-04-01")
                .set("insurer_code", "")
                .set("municipal_id", "131000000000042")
                .set("insurer_number", six_digits),
        )
        .build();
    let answer = ask(&built.snapshot, &by_online("131000000000042"), "2026-11-21");
    assert_eq!(answer.verdict, Verdict::Valid);
    let json = answer_json(&answer, &built.snapshot, "2026-11-21", None, "r");
    let record = &json["records"][0];
    assert_eq!(
        record["insurer_number"], six_digits,
        "6-digit numbers are answered as printed on the card"
    );
    assert_eq!(record["scheme"], "municipal_nhi");
    assert_eq!(record["insurer_name"], "千代田区国民健康保険");
    assert_eq!(record["online_number"], "131000000000042");
    for insurer in [
        six_digits,
        municipal.as_str(),
        &full_width_digits(six_digits),
    ] {
        let face = by_face(insurer, "12", "345", "00", None);
        let answer = ask(&built.snapshot, &face, "2026-11-21");
        assert_eq!(answer.verdict, Verdict::Valid, "{insurer}");
        let json = answer_json(&answer, &built.snapshot, "2026-11-21", None, "r");
        assert_eq!(json["records"][0]["insurer_number"], six_digits);
        assert_eq!(json["records"][0]["insurer_name"], "千代田区国民健康保険");
    }
}

#[test]
fn municipal_nhi_rows_written_with_eight_digits_are_answered_with_six() {
    let municipal = InsurerNumber::with_check_digit(13_801);
    let six_digits = &municipal.as_str()[2..];
    let built = Dataset::new()
        .insurer(municipal.as_str(), "千代田区国民健康保険")
        .row(qualification("1", &branch(1), "2020-04-01").set("insurer_number", municipal.as_str()))
        .build();
    for insurer in [six_digits, municipal.as_str()] {
        let answer = ask(
            &built.snapshot,
            &by_face(insurer, "12", "345", "", None),
            "2026-11-21",
        );
        assert_eq!(answer.verdict, Verdict::Valid, "{insurer}");
        let json = answer_json(&answer, &built.snapshot, "2026-11-21", None, "r");
        let record = &json["records"][0];
        assert_eq!(record["insurer_number"], six_digits);
        assert_eq!(record["scheme"], "municipal_nhi");
        assert_eq!(record["insurer_name"], "千代田区国民健康保険");
    }
}

fn full_width_digits(text: &str) -> String {
    text.chars()
        .map(|c| char::from_u32(c as u32 + 0xFEE0).unwrap_or(c))
        .collect()
}

#[test]
fn answer_json_carries_the_envelope_and_record_fields() {
    let built = Dataset::new()
        .row(
            qualification("1", &branch(1), "2020-04-01")
                .set("copay_ratio", "30")
                .set("card_type", "01"),
        )
        .link("0x1a2b3c", "1")
        .build();
    let answer = ask(&built.snapshot, &by_serial("0x1a2b3c"), "2026-11-21");
    let json = answer_json(
        &answer,
        &built.snapshot,
        "2026-11-21",
        Some("P-0001"),
        "R-1",
    );
    assert_eq!(json["status"], "ok");
    assert_eq!(json["verdict"], "valid");
    assert_eq!(json["date"], "2026-11-21");
    assert_eq!(json["snapshot"], "test.1");
    assert_eq!(json["client_ref"], "P-0001");
    assert_eq!(json["reception"], "R-1");
    let record = &json["records"][0];
    assert_eq!(record["online_number"], online(1));
    assert_eq!(record["insurer_number"], HEALTH_SOCIETY);
    assert_eq!(record["scheme"], "health_society");
    assert_eq!(record["insurer_name"], "テスト健康保険組合");
    assert_eq!(record["insurer_phone"], "03-0000-0000");
    assert_eq!(record["name"], "山田 太郎");
    assert_eq!(record["birth_date"], "1980-04-01");
    assert_eq!(record["acquired"], "2020-04-01");
    assert_eq!(record["lost"], serde_json::Value::Null);
    assert_eq!(record["copay_ratio"], 30);
    assert_eq!(record["card_type"], "01");
    assert_eq!(record["qualification_seq"], 1);
    assert!(
        record.get("linkage_no").is_none(),
        "the person key is not given out"
    );
}

#[test]
fn answer_json_writes_japanese_as_utf8() {
    let mut data = Dataset::new();
    data.insurers[0].1 = "テスト健保\\組合".into();
    let built = data
        .row(
            qualification("1", &branch(1), "2020-04-01")
                .set("name", "髙橋 \"花子\"")
                .set("card_symbol", "東京"),
        )
        .build();
    let answer = ask(&built.snapshot, &by_online(&online(1)), "2026-11-21");
    let mut body = Vec::new();
    let envelope = Envelope {
        date: shikaku::model::Date::from_ymd(2026, 11, 21).unwrap(),
        snapshot_id: built.snapshot.id(),
        crl_id: built.snapshot.crl().id(),
        update_lsn: 0,
        client_ref: Some("受付\t1"),
        reception: "R-1",
    };
    write_answer(&mut body, &answer, View::bare(&built.snapshot), &envelope);
    let text = std::str::from_utf8(&body).expect("UTF-8");
    for raw in [
        "\"name\":\"髙橋 \\\"花子\\\"\"",
        "\"card_symbol\":\"東京\"",
        "\"insurer_name\":\"テスト健保\\\\組合\"",
        "\"scheme_name\":\"健保組合\"",
        "\"client_ref\":\"受付\\t1\"",
    ] {
        assert!(text.contains(raw), "{raw} not in {text}");
    }
    assert!(!text.contains("\\u"), "no \\u escapes: {text}");
    let json: serde_json::Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(json["records"][0]["name"], "髙橋 \"花子\"");
    assert_eq!(json["records"][0]["insurer_name"], "テスト健保\\組合");
    assert_eq!(json["client_ref"], "受付\t1");
}

#[test]
fn every_verdict_has_a_wire_name() {
    for verdict in Verdict::ALL {
        assert_eq!(Verdict::parse(verdict.as_str()), Some(verdict));
    }
}

#[test]
fn an_online_number_shared_by_two_persons_answers_multiple() {
    for shards in [1, 2, 3] {
        let built = Dataset::new()
            .row(qualification("1", &branch(1), "2020-04-01"))
            .row(qualification("2", &branch(1), "2021-04-01").set("card_number", "999"))
            .try_build(shards)
            .unwrap();
        let answer = ask(&built.snapshot, &by_online(&online(1)), "2026-11-21");
        assert_eq!(answer.verdict, Verdict::Multiple);
        assert!(answer.records.is_empty());
        assert_eq!(
            built.report.key_check.shared_online_numbers, 1,
            "{shards} shards: counted once"
        );
        assert!(built
            .report
            .warnings
            .iter()
            .any(|w| w.contains("more than one person")));
        let born = ask(
            &built.snapshot,
            &by_online_born(&online(1), "1980-04-01"),
            "2026-11-21",
        );
        assert_eq!(
            born.verdict,
            Verdict::Multiple,
            "same birth date: still two persons"
        );
    }
}

/// The answer as the API encodes it, parsed back for assertions.
fn answer_json(
    answer: &Answer<'_>,
    snapshot: &Snapshot,
    on: &str,
    client_ref: Option<&str>,
    reception: &str,
) -> serde_json::Value {
    let mut out = Vec::new();
    let envelope = Envelope {
        date: date(on),
        snapshot_id: snapshot.id(),
        crl_id: snapshot.crl().id(),
        update_lsn: 0,
        client_ref,
        reception,
    };
    write_answer(&mut out, answer, View::bare(snapshot), &envelope);
    serde_json::from_slice(&out).expect("the encoder writes valid JSON")
}
