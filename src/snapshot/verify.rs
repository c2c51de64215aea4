//! `shikaku snapshot verify`: everything that can be checked without the
//! sources. Checksums first (a damaged byte is named by its file), then the
//! structure the lookups rely on (ranges, back-pointers, index targets,
//! every person and serial reachable through its index), then the counts the
//! manifest promises.

use super::format::{probe, ArchivedKeyShard, ArchivedPersonShard, Loc, NO_PERSON};
use super::manifest::{keys_file, person_file};
use super::open::Snapshot;
use crate::crl::revocations::REVOCATIONS_FILE;
use crate::model::TEXT_FIELD_COUNT;
use crate::storage::{FileError as SnapshotError, Verification};
use std::path::Path;
use std::time::Instant;

/// What `verify` checked.
#[derive(Clone, Debug, serde::Serialize)]
pub struct VerifyReport {
    /// Snapshot id from the manifest.
    pub id: String,
    /// Data files checked against their checksums.
    pub files: usize,
    /// Total size of those files, headers included.
    pub bytes: u64,
    /// Persons found by walking the person shards.
    pub persons: u64,
    /// Qualification rows found by walking the person shards.
    pub rows: u64,
    /// Linked certificate serials found by walking the key shards.
    pub serials: u64,
    /// Wall-clock seconds the verification took.
    pub seconds: f64,
}

/// Verifies the snapshot at `dir` (checksums, structure, counts) and closes it.
pub fn verify(dir: &Path) -> Result<VerifyReport, SnapshotError> {
    verify_open(dir).map(|(_, report)| report)
}

/// Verifies `dir` and keeps it open: what the server activates is exactly
/// what was verified.
pub fn verify_open(dir: &Path) -> Result<(Snapshot, VerifyReport), SnapshotError> {
    let started = Instant::now();
    let snapshot = Snapshot::open_with(dir, Verification::Checksums)?;
    let manifest = snapshot.manifest();
    let (mut persons, mut rows, mut online, mut faces, mut serials) =
        (0u64, 0u64, 0u64, 0u64, 0u64);
    for shard in 0..snapshot.shard_count() {
        let name = person_file(shard);
        let person_shard = snapshot
            .person_shard(shard)
            .ok_or_else(|| SnapshotError::new(&name, "missing"))?;
        check_person_shard(person_shard, shard).map_err(|p| SnapshotError::new(&name, p))?;
        persons += person_shard.persons.len() as u64;
        rows += person_shard.rows.len() as u64;
    }
    for shard in 0..snapshot.shard_count() {
        let name = keys_file(shard);
        let key_shard = snapshot
            .key_shard(shard)
            .ok_or_else(|| SnapshotError::new(&name, "missing"))?;
        let (o, f) = check_key_shard(&snapshot, key_shard, shard)
            .map_err(|p| SnapshotError::new(&name, p))?;
        online += o;
        faces += f;
        serials += key_shard.serials.len() as u64;
    }
    let counts = &manifest.counts;
    let expect = |what: &str, found: u64, promised: u64| {
        if found == promised {
            Ok(())
        } else {
            Err(SnapshotError::new(
                super::manifest::MANIFEST_FILE,
                format!("{what}: the snapshot holds {found}, the manifest says {promised}"),
            ))
        }
    };
    expect("persons", persons, counts.persons)?;
    expect("rows", rows, counts.rows)?;
    expect("online-number index entries", online, counts.online_numbers)?;
    expect("card-face index entries", faces, counts.card_faces)?;
    expect("serials", serials, counts.serials)?;
    let revocations = snapshot.revocations();
    expect(
        "revoked serials",
        revocations.revoked_count(),
        counts.revoked,
    )
    .and_then(|()| {
        expect(
            "suspended serials",
            revocations.suspended_count(),
            counts.suspended,
        )
    })
    .map_err(|e| SnapshotError::new(REVOCATIONS_FILE, e.problem))?;
    expect(
        "insurers",
        snapshot.insurer_master().numbers.len() as u64,
        counts.insurers,
    )?;
    let report = VerifyReport {
        id: manifest.id.clone(),
        files: manifest.files.len(),
        bytes: manifest.files.iter().map(|f| f.bytes).sum(),
        persons,
        rows,
        serials,
        seconds: started.elapsed().as_secs_f64(),
    };
    Ok((snapshot, report))
}

fn check_person_shard(shard: &ArchivedPersonShard, index: u32) -> Result<(), String> {
    if shard.shard.to_native() != index {
        return Err(format!(
            "holds shard {} in the place of shard {index}",
            shard.shard
        ));
    }
    let mut next_row = 0u32;
    let mut previous_linkage = None;
    for (person_index, person) in shard.persons.iter().enumerate() {
        let first = person.first_row.to_native();
        let count = person.row_count.to_native();
        if first != next_row || count == 0 {
            return Err(format!(
                "person {person_index}: rows {first}+{count} do not follow on from row {next_row}"
            ));
        }
        next_row = first
            .checked_add(count)
            .filter(|&end| end as usize <= shard.rows.len())
            .ok_or_else(|| {
                format!("person {person_index}: rows {first}+{count} run past the row table")
            })?;
        let linkage = (person.linkage_hi.to_native(), person.linkage_lo.to_native());
        if previous_linkage.is_some_and(|previous| previous >= linkage) {
            return Err(format!(
                "person {person_index}: persons are not sorted by linkage number"
            ));
        }
        previous_linkage = Some(linkage);
        let reachable = probe(
            &shard.linkage_index,
            crate::snapshot::format::key_hash(
                &((u128::from(linkage.0) << 64) | u128::from(linkage.1)).to_le_bytes(),
            ),
        )
        .any(|target| target == person_index as u64);
        if !reachable {
            return Err(format!(
                "person {person_index}: not reachable through the linkage index"
            ));
        }
        for row in &shard.rows[first as usize..next_row as usize] {
            if row.person.to_native() as usize != person_index {
                return Err(format!(
                    "person {person_index}: a row points to person {}",
                    row.person
                ));
            }
        }
    }
    if next_row as usize != shard.rows.len() {
        return Err(format!("rows {next_row}.. belong to no person"));
    }
    check_text_ranges(shard)?;
    check_index_shape(&shard.linkage_index, "linkage index", |target| {
        target < shard.persons.len() as u64
    })
}

fn check_text_ranges(shard: &ArchivedPersonShard) -> Result<(), String> {
    for (row_index, row) in shard.rows.iter().enumerate() {
        let start = row.text_start.to_native();
        let ends = &row.text_ends;
        let sorted = (1..TEXT_FIELD_COUNT).all(|i| ends[i - 1].to_native() <= ends[i].to_native());
        let end = start + u64::from(ends[TEXT_FIELD_COUNT - 1].to_native());
        if !sorted || end > shard.text.len() as u64 {
            return Err(format!(
                "row {row_index}: its text lies outside the text arena"
            ));
        }
        if std::str::from_utf8(&shard.text[start as usize..end as usize]).is_err() {
            return Err(format!("row {row_index}: its text is not UTF-8"));
        }
    }
    Ok(())
}

fn check_index_shape(
    slots: &[super::format::ArchivedSlot],
    what: &str,
    valid_target: impl Fn(u64) -> bool,
) -> Result<(), String> {
    if !slots.len().is_power_of_two() {
        return Err(format!(
            "{what}: {} slots is not a power of two",
            slots.len()
        ));
    }
    if slots.iter().all(|slot| slot.hash != 0) {
        return Err(format!("{what}: no empty slot"));
    }
    match slots
        .iter()
        .position(|slot| slot.hash != 0 && !valid_target(slot.target.to_native()))
    {
        Some(position) => Err(format!("{what}: slot {position} points outside the data")),
        None => Ok(()),
    }
}

/// Checks a key shard; returns its (online, card-face) entry counts.
fn check_key_shard(
    snapshot: &Snapshot,
    shard: &ArchivedKeyShard,
    index: u32,
) -> Result<(u64, u64), String> {
    if shard.shard.to_native() != index {
        return Err(format!(
            "holds shard {} in the place of shard {index}",
            shard.shard
        ));
    }
    let row_exists = |target: u64| {
        let loc = Loc::unpack(target);
        snapshot
            .person_shard(loc.shard)
            .is_some_and(|s| (loc.index as usize) < s.rows.len())
    };
    check_index_shape(&shard.online_index, "online-number index", row_exists)?;
    check_index_shape(&shard.face_index, "card-face index", row_exists)?;
    check_index_shape(&shard.serial_index, "serial index", |t| {
        t < shard.serials.len() as u64
    })?;
    for (serial_index, entry) in shard.serials.iter().enumerate() {
        let person = entry.person.to_native();
        let valid = person == NO_PERSON || {
            let loc = Loc::unpack(person);
            snapshot
                .person_shard(loc.shard)
                .is_some_and(|s| (loc.index as usize) < s.persons.len())
        };
        if !valid || entry.serial_len.to_native() > 20 {
            return Err(format!(
                "serial entry {serial_index}: points outside the data"
            ));
        }
        let len = entry.serial_len.to_native() as usize;
        let hash = crate::snapshot::format::key_hash(&entry.serial[..len]);
        if !probe(&shard.serial_index, hash).any(|t| t == serial_index as u64) {
            return Err(format!(
                "serial entry {serial_index}: not reachable through the serial index"
            ));
        }
    }
    let used =
        |slots: &[super::format::ArchivedSlot]| slots.iter().filter(|s| s.hash != 0).count() as u64;
    Ok((used(&shard.online_index), used(&shard.face_index)))
}
