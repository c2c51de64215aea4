//! The compact stored form of rows and persons (snapshot format 3).
//!
//! A national snapshot must stay resident on one machine: about 150 million
//! rows in well under 20 GB, indexes included. Fixed fields are packed to
//! their real width, text goes through a per-shard dictionary where it
//! repeats and is written out where it does not, and a person is one block
//! of bytes: their linkage number, serials and rows together, so that any
//! lookup reads one place. The same codec without a dictionary writes the
//! build's temporary files.
//!
//! - [`varint`]: the integers;
//! - [`pieces`]: how text fields are cut for the dictionary;
//! - [`dictionary`]: counting pieces and giving ids;
//! - [`row`]: one row, written;
//! - [`reader`]: one row, read as far as needed, or written again with a dictionary;
//! - [`block`]: one person.

pub mod block;
pub mod dictionary;
pub mod pieces;
pub mod reader;
pub mod row;
pub mod varint;
