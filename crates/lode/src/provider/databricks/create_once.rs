//! Creating objects whose create call is not idempotent (pipelines, Genie spaces, schemas,
//! monitors) without ever making two. When the answer to a create is lost, or the server fails
//! without saying what it did, the object may exist: it is looked for (by the marker lode puts
//! on everything it creates) before the create is sent again. This is what keeps a flaky
//! network or a killed apply from leaving duplicate pipelines behind, the failure Databricks
//! bundles are known for when their state is lost.

use super::client::ApiError;
use crate::provider::ProviderError;

/// How many times a create is sent before its failure is reported.
const ATTEMPTS: u32 = 3;

/// Runs `create`; after an uncertain failure, returns what `lookup` finds or tries again.
pub fn create_once<T>(
    what: &str,
    mut lookup: impl FnMut() -> Result<Option<T>, ProviderError>,
    mut create: impl FnMut() -> Result<T, ApiError>,
) -> Result<T, ProviderError> {
    let mut attempt = 1;
    loop {
        match create() {
            Ok(created) => return Ok(created),
            Err(error) if error.outcome_unknown() && attempt < ATTEMPTS => {
                tracing::warn!(
                    what,
                    attempt,
                    error = %error,
                    "the create may or may not have happened; looking before trying again"
                );
                if let Some(found) = lookup()? {
                    return Ok(found);
                }
                attempt += 1;
            }
            Err(error) => return Err(error.into()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lost() -> ApiError {
        ApiError::Transport {
            method: "POST",
            path: "/api/2.0/pipelines".into(),
            message: "connection reset".into(),
        }
    }

    #[test]
    fn a_lost_answer_is_looked_up_instead_of_created_again() {
        let mut creates = 0;
        let server_has = std::cell::Cell::new(false);
        let result = create_once(
            "pipeline p",
            || Ok(server_has.get().then_some("found")),
            || {
                creates += 1;
                server_has.set(true);
                Err(lost())
            },
        );
        assert_eq!(result.unwrap(), "found");
        assert_eq!(creates, 1);
    }

    #[test]
    fn a_create_that_did_not_happen_is_sent_again_and_a_refusal_is_not() {
        let mut creates = 0;
        let result = create_once(
            "space s",
            || Ok(None),
            || {
                creates += 1;
                if creates < 2 {
                    Err(lost())
                } else {
                    Ok("created")
                }
            },
        );
        assert_eq!(result.unwrap(), "created");
        assert_eq!(creates, 2);

        let mut creates = 0;
        let refused = create_once::<&str>(
            "space s",
            || Ok(None),
            || {
                creates += 1;
                Err(ApiError::Http {
                    method: "POST",
                    path: "/x".into(),
                    status: 400,
                    error_code: "INVALID_PARAMETER_VALUE".into(),
                    message: "bad".into(),
                })
            },
        );
        assert!(refused.is_err());
        assert_eq!(creates, 1);
    }

    #[test]
    fn gives_up_after_three_uncertain_attempts() {
        let mut creates = 0;
        let result = create_once::<&str>(
            "p",
            || Ok(None),
            || {
                creates += 1;
                Err(lost())
            },
        );
        assert!(result.is_err());
        assert_eq!(creates, ATTEMPTS);
    }
}
