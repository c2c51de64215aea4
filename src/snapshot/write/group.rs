//! Phase 3: per person partition (rows and links grouped by linkage
//! number), gather each person's rows and serials into one block and send
//! it to the partition of the shard it is placed in: the shard of the card
//! face of the person's newest row, so that a household (one card face,
//! several persons) ends up together. Serials linked to a linkage number
//! without rows go straight to their key partition.

use super::temp::{
    encode_person_record, encode_unmatched, take_links, take_rows, LinedRow, PartitionFiles,
};
use crate::model::record::newest_first;
use crate::model::{EligibilityRow, LinkageNo, Serial, TextField};
use crate::snapshot::codec::block::{encode_block, MAX_ROWS_PER_PERSON};
use crate::snapshot::codec::dictionary::NoDictionary;
use crate::snapshot::format::KeyHash;
use crate::snapshot::verify::ContentDigest;
use crate::source::BadRow;
use std::path::Path;

/// What grouping one person partition produced besides its records.
#[derive(Default)]
pub(super) struct Grouped {
    pub bad_rows: Vec<BadRow>,
    /// Rows dropped as duplicates, to take out of the digest of accepted input.
    pub dropped: ContentDigest,
    /// Serials linked to a linkage number without rows.
    pub unmatched: u64,
}

/// The shard a person is placed in: by the card face of their newest row.
pub(super) fn placement_key(newest: &EligibilityRow) -> crate::model::ids::FaceIndexKey {
    crate::model::ids::face_index_key(
        newest.text(TextField::InsurerNumber),
        newest.text(TextField::CardSymbol),
        newest.text(TextField::CardNumber),
    )
}

/// Groups one person partition into person records.
pub(super) fn group_persons(
    rows_partition: &Path,
    links_partition: &Path,
    placed: &PartitionFiles,
    keys: &PartitionFiles,
    shards: u32,
) -> anyhow::Result<Grouped> {
    let mut rows = take_rows(rows_partition)?;
    let mut links = take_links(links_partition)?;
    links.sort_unstable_by_key(|link| (link.linkage, link.serial));
    let mut grouped = Grouped::default();
    drop_duplicates(&mut rows, &mut grouped);
    let mut placed_buffers = vec![Vec::new(); shards as usize];
    let mut key_buffers = vec![Vec::new(); shards as usize];
    let mut block = Vec::with_capacity(512);
    let mut links = links.as_slice();
    for person_rows in rows.chunk_by_mut(|a, b| a.1.linkage_no == b.1.linkage_no) {
        let linkage = LinkageNo(person_rows[0].1.linkage_no);
        while let Some((link, rest)) = links.split_first().filter(|(l, _)| l.linkage < linkage) {
            unmatched(&link.serial, link.linkage, &mut key_buffers, shards);
            grouped.unmatched += 1;
            links = rest;
        }
        let split = links.partition_point(|link| link.linkage == linkage);
        let serials: Vec<Serial> = links[..split].iter().map(|link| link.serial).collect();
        links = &links[split..];
        if person_rows.len() > MAX_ROWS_PER_PERSON {
            anyhow::bail!(
                "linkage_no {linkage}: {} rows, more than the {MAX_ROWS_PER_PERSON} one person may have",
                person_rows.len()
            );
        }
        person_rows.sort_by(|a, b| newest_first(a.1.order(), b.1.order()));
        let refs: Vec<&EligibilityRow> = person_rows.iter().map(|(_, row)| row).collect();
        block.clear();
        encode_block(linkage, &serials, &refs, &NoDictionary, &mut block);
        let shard = KeyHash::of(&placement_key(refs[0])).shard(shards);
        encode_person_record(&block, &mut placed_buffers[shard as usize]);
    }
    for link in links {
        unmatched(&link.serial, link.linkage, &mut key_buffers, shards);
        grouped.unmatched += 1;
    }
    placed.append_all(&placed_buffers)?;
    keys.append_all(&key_buffers)?;
    Ok(grouped)
}

fn unmatched(serial: &Serial, linkage: LinkageNo, buffers: &mut [Vec<u8>], shards: u32) {
    let hash = KeyHash::of(serial.as_bytes());
    encode_unmatched(
        hash.low as u32,
        hash.fingerprint,
        serial,
        linkage,
        &mut buffers[hash.shard(shards) as usize],
    );
}

/// Sorts by person and row identity and drops a row whose (online number,
/// qualification_seq) repeats one of the same person on an earlier line.
fn drop_duplicates(rows: &mut Vec<LinedRow>, grouped: &mut Grouped) {
    rows.sort_by(|(line_a, a), (line_b, b)| {
        (
            a.linkage_no,
            a.text(TextField::OnlineNumber),
            a.qualification_seq,
            line_a,
        )
            .cmp(&(
                b.linkage_no,
                b.text(TextField::OnlineNumber),
                b.qualification_seq,
                line_b,
            ))
    });
    rows.dedup_by(|later, earlier| {
        let same = later.1.linkage_no == earlier.1.linkage_no
            && later.1.qualification_seq == earlier.1.qualification_seq
            && later.1.text(TextField::OnlineNumber) == earlier.1.text(TextField::OnlineNumber);
        if same {
            grouped.dropped.add_row(&later.1);
            grouped.bad_rows.push(BadRow {
                file: super::Sources::ELIGIBILITY.into(),
                line: later.0,
                reason: format!(
                    "online number {} with qualification_seq {} is already given at line {}",
                    later.1.text(TextField::OnlineNumber),
                    later.1.qualification_seq,
                    earlier.0
                ),
            });
        }
        same
    });
}
