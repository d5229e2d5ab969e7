//! The dedupe table, made as `template.yaml` makes it, for the local stand-ins (the demo,
//! the tests, the benchmarks). No function creates a table: this lives with the test tools,
//! out of the production path.

/// Create the table as `template.yaml` does (partition key `pk`, string; on demand; TTL on
/// `ttl`): for the local stand-ins — the demo, the tests, the benchmarks — never called by a
/// function.
pub async fn create_table(config: &aws_config::SdkConfig, table: &str) -> Result<(), String> {
    use aws_sdk_dynamodb::types::{
        AttributeDefinition, BillingMode, KeySchemaElement, KeyType, ScalarAttributeType,
        TimeToLiveSpecification,
    };
    let client = aws_sdk_dynamodb::Client::new(config);
    let describe = |e: &dyn std::error::Error| {
        format!("creating the table {table}: {}", crate::error_chain(e))
    };
    client
        .create_table()
        .table_name(table)
        .billing_mode(BillingMode::PayPerRequest)
        .attribute_definitions(
            AttributeDefinition::builder()
                .attribute_name("pk")
                .attribute_type(ScalarAttributeType::S)
                .build()
                .map_err(|e| describe(&e))?,
        )
        .key_schema(
            KeySchemaElement::builder()
                .attribute_name("pk")
                .key_type(KeyType::Hash)
                .build()
                .map_err(|e| describe(&e))?,
        )
        .send()
        .await
        .map_err(|e| describe(&e))?;
    client
        .update_time_to_live()
        .table_name(table)
        .time_to_live_specification(
            TimeToLiveSpecification::builder()
                .attribute_name("ttl")
                .enabled(true)
                .build()
                .map_err(|e| describe(&e))?,
        )
        .send()
        .await
        .map_err(|e| describe(&e))?;
    Ok(())
}
