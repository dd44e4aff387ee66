//! The text rewards' former home, kept as a path: `reward::math` still imports the
//! batch helpers from here. The rewards themselves live in [`super::squad`] and
//! [`super::regex`], the helpers in [`crate::batch`].

pub use crate::batch::{check_same_len, map_rows};
