//! The two strategies. Each takes what `begin` worked out and returns an `Outcome` for
//! `conclude`; neither calls back into `decide`.

pub(super) mod bluegreen;
pub(super) mod canary;
mod steps;
