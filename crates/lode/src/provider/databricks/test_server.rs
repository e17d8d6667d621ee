//! A scripted HTTP server for tests of the Databricks client and of what is built on it (the
//! workspace state store): each request is recorded and answered by a closure, so a test can
//! answer exactly as a real workspace would, awkward status codes included.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderName, HeaderValue, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use serde_json::Value;

/// A request as the test server saw it.
#[derive(Debug, Clone)]
pub(crate) struct Seen {
    pub(crate) method: String,
    pub(crate) path: String,
    pub(crate) query: String,
    pub(crate) headers: HashMap<String, String>,
    pub(crate) body: String,
}

impl Seen {
    pub(crate) fn header(&self, name: &str) -> &str {
        self.headers.get(name).map(String::as_str).unwrap_or("")
    }

    pub(crate) fn json(&self) -> Value {
        serde_json::from_str(&self.body).unwrap()
    }
}

#[derive(Clone)]
pub(crate) enum Reply {
    Http {
        status: u16,
        headers: Vec<(&'static str, String)>,
        body: String,
    },
    /// Close the connection without answering.
    Drop,
}

impl Reply {
    pub(crate) fn json(status: u16, body: Value) -> Reply {
        Reply::Http {
            status,
            headers: vec![("content-type", "application/json".into())],
            body: body.to_string(),
        }
    }

    pub(crate) fn text(status: u16, body: &str) -> Reply {
        Reply::Http {
            status,
            headers: Vec::new(),
            body: body.to_string(),
        }
    }

    pub(crate) fn header(mut self, name: &'static str, value: &str) -> Reply {
        if let Reply::Http { headers, .. } = &mut self {
            headers.push((name, value.to_string()));
        }
        self
    }
}

type Script = dyn Fn(&Seen) -> Reply + Send + Sync;

struct ServerState {
    script: Box<Script>,
    seen: Mutex<Vec<Seen>>,
}

/// A scripted axum server on 127.0.0.1 in its own runtime's threads; the blocking client
/// under test runs on the test thread.
pub(crate) struct TestServer {
    runtime: Option<tokio::runtime::Runtime>,
    pub(crate) base: String,
    state: Arc<ServerState>,
}

impl TestServer {
    pub(crate) fn start(script: impl Fn(&Seen) -> Reply + Send + Sync + 'static) -> TestServer {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        let listener = runtime
            .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
            .unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let state = Arc::new(ServerState {
            script: Box::new(script),
            seen: Mutex::new(Vec::new()),
        });
        let app = Router::new().fallback(handle).with_state(state.clone());
        runtime.spawn(async move { axum::serve(listener, app).await });
        TestServer {
            runtime: Some(runtime),
            base,
            state,
        }
    }

    pub(crate) fn seen(&self) -> Vec<Seen> {
        self.state.seen.lock().unwrap().clone()
    }

    pub(crate) fn count(&self) -> usize {
        self.state.seen.lock().unwrap().len()
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        if let Some(runtime) = self.runtime.take() {
            runtime.shutdown_background();
        }
    }
}

async fn handle(
    State(state): State<Arc<ServerState>>,
    method: axum::http::Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let seen = Seen {
        method: method.to_string(),
        path: uri.path().to_string(),
        query: uri.query().unwrap_or("").to_string(),
        headers: headers
            .iter()
            .map(|(k, v)| (k.as_str().to_string(), v.to_str().unwrap_or("").to_string()))
            .collect(),
        body: String::from_utf8_lossy(&body).to_string(),
    };
    state.seen.lock().unwrap().push(seen.clone());
    match (state.script)(&seen) {
        // Panicking ends the connection task, so the socket closes with no response:
        // what a crashed proxy or a reset looks like to the client.
        Reply::Drop => panic!("test server drops this connection on purpose"),
        Reply::Http {
            status,
            headers,
            body,
        } => {
            let mut response = (StatusCode::from_u16(status).unwrap(), body).into_response();
            for (name, value) in headers {
                response.headers_mut().insert(
                    HeaderName::from_static(name),
                    HeaderValue::from_str(&value).unwrap(),
                );
            }
            response
        }
    }
}
