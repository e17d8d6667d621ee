//! Bounded concurrency for provider reads. A refresh that reads objects one by one pays the
//! round trip once per object; reading up to `READ_CONCURRENCY` at a time pays it once per
//! batch, while the clients' rate limiters and retry rules still apply to every request.

use std::collections::BTreeMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};

use super::{LiveObject, ProviderError, RefreshRequest};
use crate::manifest::Address;

/// Objects read at once by one provider (Terraform's default parallelism is 10).
pub const READ_CONCURRENCY: usize = 8;

/// `f` over `items` on up to `limit` threads; results in the order of `items`.
pub fn map_bounded<T: Sync, R: Send>(
    items: &[T],
    limit: usize,
    f: impl Fn(&T) -> R + Sync,
) -> Vec<R> {
    if items.len() <= 1 || limit <= 1 {
        return items.iter().map(f).collect();
    }
    let next = AtomicUsize::new(0);
    let results: Vec<Mutex<Option<R>>> = items.iter().map(|_| Mutex::new(None)).collect();
    std::thread::scope(|scope| {
        for _ in 0..limit.min(items.len()) {
            scope.spawn(|| {
                loop {
                    let index = next.fetch_add(1, Ordering::Relaxed);
                    let Some(item) = items.get(index) else { break };
                    let result = f(item);
                    *results[index].lock().unwrap_or_else(|e| e.into_inner()) = Some(result);
                }
            });
        }
    });
    results
        .into_iter()
        .map(|slot| {
            slot.into_inner()
                .unwrap_or_else(|e| e.into_inner())
                .expect("every item was mapped")
        })
        .collect()
}

/// Reads each request with `read` (an absent object is `None`), `READ_CONCURRENCY` at a time;
/// the first failure, in request order, is the result.
pub fn read_each(
    requests: &[&RefreshRequest],
    read: impl Fn(&RefreshRequest) -> Result<Option<LiveObject>, ProviderError> + Sync,
) -> Result<BTreeMap<Address, LiveObject>, ProviderError> {
    let results = map_bounded(requests, READ_CONCURRENCY, |request| read(request));
    let mut live = BTreeMap::new();
    for (request, result) in requests.iter().zip(results) {
        if let Some(object) = result? {
            live.insert(request.address.clone(), object);
        }
    }
    Ok(live)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn keeps_order_and_runs_at_most_limit_at_once() {
        let running = AtomicUsize::new(0);
        let most = AtomicUsize::new(0);
        let items: Vec<u64> = (0..40).collect();
        let out = map_bounded(&items, 8, |n| {
            let now = running.fetch_add(1, Ordering::SeqCst) + 1;
            most.fetch_max(now, Ordering::SeqCst);
            std::thread::sleep(Duration::from_millis(10));
            running.fetch_sub(1, Ordering::SeqCst);
            n * 2
        });
        assert_eq!(out, items.iter().map(|n| n * 2).collect::<Vec<_>>());
        assert!(most.load(Ordering::SeqCst) <= 8);
        assert!(most.load(Ordering::SeqCst) > 1, "nothing ran concurrently");
    }
}
