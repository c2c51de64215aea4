//! How a text field is cut into the pieces the dictionary counts.
//!
//! A dictionary only pays where values repeat, and whole values often do
//! not while their parts do: a full name is rare, its family name common;
//! an address is unique, its town shared by thousands. So names are cut
//! after the space between family and given name, and an address before its
//! first digit (the town, then the lot) and again after the next space (the
//! building). Every other field is one piece. The pieces of a value are
//! consecutive slices of it, so joining them gives the value back exactly,
//! whatever the text: the cut only decides what can be shared.

use crate::model::TextField;
use smallvec::SmallVec;

/// The pieces of one value; at most three.
pub type Pieces<'a> = SmallVec<[&'a str; 3]>;

/// Cuts `value` of `field` into pieces (none for an empty value).
pub fn pieces(field: TextField, value: &str) -> Pieces<'_> {
    let mut out = Pieces::new();
    if value.is_empty() {
        return out;
    }
    match field {
        TextField::Name
        | TextField::NameKana
        | TextField::InsuredName
        | TextField::HouseholdHeadName => cut_after_space(value, &mut out),
        TextField::Address => match value.find(|c: char| c.is_ascii_digit() || is_wide_digit(c)) {
            Some(at) if at > 0 => {
                out.push(&value[..at]);
                cut_after_space(&value[at..], &mut out);
            }
            _ => cut_after_space(value, &mut out),
        },
        _ => out.push(value),
    }
    out
}

/// Pushes `value` cut after its first space (ASCII or ideographic), the
/// space staying with the first piece.
fn cut_after_space<'a>(value: &'a str, out: &mut Pieces<'a>) {
    match value.find([' ', '\u{3000}']) {
        Some(at) => {
            let end = at + value[at..].chars().next().map_or(1, char::len_utf8);
            out.push(&value[..end]);
            if end < value.len() {
                out.push(&value[end..]);
            }
        }
        None => out.push(value),
    }
}

fn is_wide_digit(c: char) -> bool {
    ('０'..='９').contains(&c)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cut(field: TextField, value: &str) -> Vec<&str> {
        pieces(field, value).into_vec()
    }

    #[test]
    fn names_are_cut_after_the_space() {
        assert_eq!(cut(TextField::Name, "山田 太郎"), ["山田 ", "太郎"]);
        assert_eq!(
            cut(TextField::NameKana, "ヤマダ　タロウ"),
            ["ヤマダ　", "タロウ"]
        );
        assert_eq!(cut(TextField::Name, "山田"), ["山田"]);
        assert_eq!(cut(TextField::Name, "山田 "), ["山田 "]);
        assert!(cut(TextField::Name, "").is_empty());
    }

    #[test]
    fn addresses_are_cut_at_the_lot_and_the_building() {
        assert_eq!(
            cut(TextField::Address, "東京都新宿区西新宿1-2-3 サンハイツ101"),
            ["東京都新宿区西新宿", "1-2-3 ", "サンハイツ101"]
        );
        assert_eq!(
            cut(TextField::Address, "北海道札幌市中央区大通西１０丁目"),
            ["北海道札幌市中央区大通西", "１０丁目"]
        );
        assert_eq!(cut(TextField::Address, "123番地"), ["123番地"]);
        assert_eq!(cut(TextField::Address, "大字山田"), ["大字山田"]);
    }

    #[test]
    fn pieces_always_join_to_the_value() {
        for field in TextField::ALL {
            for value in ["", "a", " ", "　", "1 2 3", "東京都 1 ", "ｶﾞ 9９", "x　y z"] {
                assert_eq!(pieces(field, value).concat(), value, "{field:?} {value:?}");
            }
        }
    }
}
