/// mimalloc keeps and reuses the pages of a batch's multi-megabyte buffers; with the system
/// allocator every invocation faults them in afresh (measured: `examples/hotpath.rs`).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    opswatch_activity_stream_decoder::run().await
}
