//! Values the Databricks APIs accept for enumerated fields. Manifest validation refuses
//! anything else before a request is made, and the workspace emulator answers anything else
//! with the API's 400, so both read these lists and a wrong guess is corrected in one place.

/// `channel` values. The reference (`databricks-api.md` §1) has CURRENT from DABs and PREVIEW
/// "per product docs, not verified here": **unverified**, and compared ignoring case.
pub const PIPELINE_CHANNELS: [&str; 2] = ["CURRENT", "PREVIEW"];

/// `edition` values: CORE/PRO/ADVANCED "per product docs, not verified here" (reference §1):
/// **unverified**, and compared ignoring case.
pub const PIPELINE_EDITIONS: [&str; 3] = ["CORE", "PRO", "ADVANCED"];

/// The granularities a time-series or inference-log profile may use. The reference
/// (`databricks-api.md` §5) lists "5 minutes", "30 minutes", "1 hour", "1 day", "<n> week(s)",
/// "1 month", "1 year"; that `<n>` is 1 to 4 is an **unverified** reading of it.
pub const MONITOR_GRANULARITIES: [&str; 10] = [
    "5 minutes",
    "30 minutes",
    "1 hour",
    "1 day",
    "1 week",
    "2 weeks",
    "3 weeks",
    "4 weeks",
    "1 month",
    "1 year",
];
