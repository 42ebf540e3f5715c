//! Text an agent wrote, made safe to print: the rules live in [`agentrail_index::text`].

pub use agentrail_index::text::*;
