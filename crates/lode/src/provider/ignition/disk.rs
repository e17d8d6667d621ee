//! The gateway data directory as the `files` transport reads and writes it: the wire crate's
//! durable writes and tolerant reads (shared with the gateway emulator, because both must
//! write what a real gateway writes), with their errors as provider errors.

pub use lode_wire::ignition::data_dir::{
    DataDirError, read_json, read_text, remove_dir, resource_manifest, to_json_bytes, write_atomic,
};

use crate::provider::ProviderError;

impl From<DataDirError> for ProviderError {
    fn from(error: DataDirError) -> ProviderError {
        match error {
            DataDirError::Io {
                operation,
                path,
                source,
            } => ProviderError::Io {
                operation,
                path,
                source,
            },
            DataDirError::Unreadable { path, message } => {
                ProviderError::UnreadableLive { path, message }
            }
        }
    }
}
