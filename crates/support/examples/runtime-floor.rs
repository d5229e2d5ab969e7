//! The floor of `cargo xtask bench das`: a function that does nothing but what every
//! invocation costs. It runs under the same local Runtime API as the decoder, through the
//! same `opswatch_support::serve` with the same allocator, takes the same event as JSON text
//! (`Box<RawValue>`, as the decoder does) and answers a precomputed response of the same
//! bytes as the decoder's (the file `FLOOR_RESPONSE`, read at start), without decoding
//! anything. The decoder's time beyond it is its own.

use serde_json::value::RawValue;

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    opswatch_support::init_tracing();
    let path = std::env::var("FLOOR_RESPONSE").map_err(|_| "FLOOR_RESPONSE: not set")?;
    let text = std::fs::read_to_string(&path).map_err(|e| format!("{path}: {e}"))?;
    let response = RawValue::from_string(text).map_err(|e| format!("{path}: {e}"))?;
    let response = &response;
    opswatch_support::serve(|_event: Box<RawValue>| async move {
        Ok::<_, lambda_runtime::Error>(response.clone())
    })
    .await
}
