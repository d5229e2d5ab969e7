//! Where a scheduled poll keeps the end of the last window it delivered: an SSM String
//! parameter holding unix seconds, or `none` (what the template creates: no run has finished
//! yet). It is read at the start of a run and written only after a window was delivered.

use crate::error_chain;

#[derive(Debug, thiserror::Error)]
#[error("checkpoint {parameter}: {why}")]
pub struct CheckpointError {
    pub parameter: String,
    pub why: String,
}

pub struct Checkpoint {
    pub ssm: aws_sdk_ssm::Client,
    pub parameter: String,
}

impl Checkpoint {
    pub fn new(config: &aws_config::SdkConfig, parameter: String) -> Self {
        Self {
            ssm: aws_sdk_ssm::Client::new(config),
            parameter,
        }
    }

    fn fail(&self, why: String) -> CheckpointError {
        CheckpointError {
            parameter: self.parameter.clone(),
            why,
        }
    }

    /// The end of the last delivered window; `None` when no run has finished yet (the
    /// parameter holds `none`, or does not exist).
    pub async fn read(&self) -> Result<Option<i64>, CheckpointError> {
        match self.ssm.get_parameter().name(&self.parameter).send().await {
            Ok(out) => {
                let value = out.parameter().and_then(|p| p.value()).unwrap_or_default();
                if value.trim() == "none" {
                    return Ok(None);
                }
                value
                    .trim()
                    .parse::<i64>()
                    .map(Some)
                    .map_err(|_| self.fail(format!("holds {value:?}, not unix seconds")))
            }
            Err(e)
                if e.as_service_error()
                    .is_some_and(|s| s.is_parameter_not_found()) =>
            {
                tracing::info!(parameter = %self.parameter, "no checkpoint yet: starting one interval back");
                Ok(None)
            }
            Err(e) => Err(self.fail(format!("SSM GetParameter: {}", error_chain(&e)))),
        }
    }

    pub async fn write(&self, at: i64) -> Result<(), CheckpointError> {
        self.ssm
            .put_parameter()
            .name(&self.parameter)
            .value(at.to_string())
            .r#type(aws_sdk_ssm::types::ParameterType::String)
            .overwrite(true)
            .send()
            .await
            .map_err(|e| self.fail(format!("SSM PutParameter: {}", error_chain(&e))))?;
        Ok(())
    }
}
