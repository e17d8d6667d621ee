//! `http` checks: one GET of a URL, redirects not followed (a redirect to a login page is not
//! the page answering), within the check's timeout. Header values may hold secrets; they are
//! sent, never reported.

use reqwest::blocking::Client;
use reqwest::redirect::Policy;
use serde_json::Value;

use super::{Measured, timeout_of};
use crate::manifest::kinds::CheckSpec;

pub(super) fn measure(spec: &CheckSpec) -> Measured {
    let url = spec.url.clone().unwrap_or_default();
    if !(url.starts_with("http://") || url.starts_with("https://")) {
        return Measured::error(format!("`{url}` is not an http(s) URL"));
    }
    let client = match Client::builder()
        .timeout(timeout_of(spec))
        .redirect(Policy::none())
        .user_agent(format!("lode/{} verify", env!("CARGO_PKG_VERSION")))
        .build()
    {
        Ok(client) => client,
        Err(error) => return Measured::error(format!("HTTP client: {error}")),
    };
    let mut request = client.get(&url);
    for (name, value) in &spec.headers {
        request = request.header(name, value);
    }
    let wanted = spec.expect_status.unwrap_or(200);
    match request.send() {
        Ok(response) => {
            let status = response.status().as_u16();
            let detail = match response.headers().get(reqwest::header::LOCATION) {
                Some(location) if response.status().is_redirection() => Some(format!(
                    "redirects to {}",
                    location.to_str().unwrap_or("(unreadable location)")
                )),
                _ => None,
            };
            Measured::judged(status == wanted, Value::from(status), detail)
        }
        Err(error) => {
            // Without the URL: it is in the check already and may carry a token.
            Measured::fail(Value::Null, format!("no answer: {}", error.without_url()))
        }
    }
}
