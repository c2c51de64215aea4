//! What a check reads: one snapshot and the overlay of changes applied
//! over it, merged so that the answer rules need not know which is which.
//!
//! A snapshot row is served unless the overlay holds a newer state for its
//! key (changed or deleted); the overlay's rows are added to every lookup
//! that matches them. Both sides come from one generation, loaded once per
//! request.

use crate::model::ids::face_index_key;
use crate::model::record::{newest_first, RowOrder};
use crate::model::{
    CodeField, DateField, EligibilityRow, LinkageNo, OnlineNumber, Serial, TextField, Validity,
    TEXT_FIELD_COUNT,
};
use crate::snapshot::{InsurerRef, RowRef, Snapshot};
use crate::updates::message::RowKey;
use crate::updates::overlay::{Overlay, OverlayRow};
use smallvec::SmallVec;

/// A qualification row as served: from the snapshot or from the overlay.
///
/// Rows are decoded into the record itself: records live only while a
/// check is answered, a few at a time inline in [`Records`], so keeping
/// the larger variants unboxed saves an allocation per row.
#[derive(Clone, Debug)]
#[allow(clippy::large_enum_variant)]
pub enum Record<'s> {
    /// A row of the snapshot the overlay has not changed.
    Stored(RowRef<'s>),
    /// A row registered or replaced by an update.
    Updated(OverlayRow),
}

/// Records matched by one key; inline for the common case of a few.
pub type Records<'s> = SmallVec<[Record<'s>; 4]>;

impl Record<'_> {
    /// The row itself.
    pub fn row(&self) -> &EligibilityRow {
        match self {
            Record::Stored(row) => row.row(),
            Record::Updated(updated) => &updated.row,
        }
    }

    /// A text field; empty when the cell was.
    pub fn text(&self, field: TextField) -> &str {
        self.row().text(field)
    }

    /// Every text field, in [`TextField`] order.
    pub fn texts(&self) -> [&str; TEXT_FIELD_COUNT] {
        let row = self.row();
        TextField::ALL.map(|field| row.text(field))
    }

    /// A date field; `None` when the cell was empty.
    pub fn date(&self, field: DateField) -> Option<crate::model::Date> {
        self.row().date(field)
    }

    /// A code field; `None` when the cell was empty.
    pub fn code(&self, field: CodeField) -> Option<u8> {
        self.row().code(field)
    }

    /// 資格通番: the row among the rows of its subscription.
    pub fn qualification_seq(&self) -> u32 {
        self.row().qualification_seq
    }

    /// The dates that decide whether the row is in force on a date.
    pub fn validity(&self) -> Validity {
        self.row().validity()
    }

    /// The person (linkage number) the row belongs to.
    pub fn linkage(&self) -> LinkageNo {
        self.row().linkage()
    }

    /// The row's place in its person's order.
    pub fn order(&self) -> RowOrder<'_> {
        self.row().order()
    }

    /// The same stored row, or the same overlay row.
    pub fn is(&self, other: &Record<'_>) -> bool {
        match (self, other) {
            (Record::Stored(a), Record::Stored(b)) => a.loc() == b.loc(),
            (Record::Updated(a), Record::Updated(b)) => a.at == b.at,
            _ => false,
        }
    }
}

/// A snapshot and the overlay over it.
#[derive(Clone, Copy)]
pub struct View<'s> {
    /// The snapshot checks are answered from.
    pub snapshot: &'s Snapshot,
    /// The changes applied over it (empty for a bare snapshot).
    pub overlay: &'s Overlay,
}

impl<'s> View<'s> {
    /// The view of `snapshot` with `overlay` over it; both must be of the same generation.
    pub fn new(snapshot: &'s Snapshot, overlay: &'s Overlay) -> View<'s> {
        View { snapshot, overlay }
    }

    /// A snapshot as built, without changes.
    pub fn bare(snapshot: &'s Snapshot) -> View<'s> {
        View::new(snapshot, Overlay::empty())
    }

    /// True unless the overlay replaced or deleted this stored row.
    pub fn serves(&self, row: &RowRef<'_>) -> bool {
        if self.overlay.has_no_rows() {
            return true;
        }
        let Ok(online) = OnlineNumber::parse(row.text(TextField::OnlineNumber)) else {
            return true;
        };
        !self.overlay.masks(&RowKey {
            online,
            seq: row.qualification_seq(),
        })
    }

    fn merge(
        &self,
        stored: impl IntoIterator<Item = RowRef<'s>>,
        updated: impl IntoIterator<Item = OverlayRow>,
    ) -> Records<'s> {
        let mut records: Records<'s> = stored
            .into_iter()
            .filter(|row| self.serves(row))
            .map(Record::Stored)
            .collect();
        records.extend(updated.into_iter().map(Record::Updated));
        records
    }

    /// Every row whose online-check number is `number`.
    pub fn rows_by_online_number(&self, number: &OnlineNumber) -> Records<'s> {
        self.merge(
            self.snapshot.rows_by_online_number(number),
            self.overlay.rows_by_online_number(number, self.snapshot),
        )
    }

    /// Every row whose card face is (insurer number, symbol, number).
    pub fn rows_by_card_face(
        &self,
        insurer_number: &str,
        symbol: &str,
        number: &str,
    ) -> Records<'s> {
        let face = face_index_key(insurer_number, symbol, number);
        let mut updated = self.overlay.rows_by_face(&face, self.snapshot);
        updated.retain(|OverlayRow { row, .. }| {
            row.text(TextField::InsurerNumber) == insurer_number
                && row.text(TextField::CardSymbol) == symbol
                && row.text(TextField::CardNumber) == number
        });
        self.merge(
            self.snapshot
                .rows_by_card_face(insurer_number, symbol, number),
            updated,
        )
    }

    /// Every row of a person, newest first.
    pub fn person_rows(&self, linkage: LinkageNo) -> Records<'s> {
        let stored = self
            .snapshot
            .person_by_linkage(linkage)
            .into_iter()
            .flat_map(|person| person.rows());
        let updated = self.overlay.rows_of_person(linkage, self.snapshot);
        let merging = !updated.is_empty();
        let mut records = self.merge(stored, updated);
        if merging {
            records.sort_by(|a, b| newest_first(a.order(), b.order()));
        }
        records
    }

    /// The person `serial` links to, if any.
    pub fn serial_link(&self, serial: &Serial) -> Option<LinkageNo> {
        self.overlay.serial_link(serial, self.snapshot)
    }

    /// The insurer master entry for an insurer number.
    pub fn insurer(&self, number: &str) -> Option<InsurerRef<'s>> {
        match self.overlay.insurer(number) {
            Some(insurer) => Some(InsurerRef {
                number: insurer.number.as_str(),
                name: &insurer.name,
                address: &insurer.address,
                phone: &insurer.phone,
                postal_code: &insurer.postal_code,
                abolished: insurer.abolished,
            }),
            None => self.snapshot.insurer(number),
        }
    }
}
