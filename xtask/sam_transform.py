"""Print template.yaml as CloudFormation after the SAM transform, as `sam deploy` would
submit it (functions' CodeUri stand in for packaged zips). Runs offline: the managed
policies the transform may name are given here instead of asked of IAM."""
import json
import sys

from samtranslator.translator.transform import transform
from samtranslator.yaml_helper import yaml_parse


class ManagedPolicies:
    def load(self):
        return {
            "AWSLambdaBasicExecutionRole": "arn:aws:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole",
        }


template = yaml_parse(open(sys.argv[1]).read())
for resource in template.get("Resources", {}).values():
    if resource.get("Type") == "AWS::Serverless::Function":
        resource["Properties"]["CodeUri"] = "s3://packaged/function.zip"
print(json.dumps(transform(template, {}, ManagedPolicies()), indent=1))
