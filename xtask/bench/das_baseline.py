#!/usr/bin/env python3
"""Baseline for `cargo xtask bench das`: the usual Python Firehose transformation for
Database Activity Streams, run as a Lambda function.

The logic is the well-known one, made fair: KMS Decrypt of each distinct data key once (with
the aws:rds:dbc-id / aws:rds:db-id encryption context), the AWS Encryption SDK with a raw
AES-256-GCM keyring (provider "BC", key "DataKey") over the plaintext key, gunzip,
heartbeats dropped, one JSON line per event, every recordId returned.

It runs as a Lambda function runs: it asks the Lambda Runtime API ($AWS_LAMBDA_RUNTIME_API)
for the next event, transforms it, posts the response, and loops, keeping its decrypted data
keys between invocations as a warm Python environment would. So the bench times it exactly as
it times the decoder: from the event handed over to the response received. After each
response it logs one JSON line with its own transform time (the old inner-loop window), in
the shape of the functions' logs.
"""
import base64
import gzip
import json
import os
import sys
import time
import urllib.request

import aws_encryption_sdk
import boto3
from aws_encryption_sdk.identifiers import CommitmentPolicy, EncryptionKeyType, WrappingAlgorithm
from aws_encryption_sdk.internal.crypto.wrapping_keys import WrappingKey
from aws_encryption_sdk.key_providers.raw import RawMasterKeyProvider

ESDK = aws_encryption_sdk.EncryptionSDKClient(
    commitment_policy=CommitmentPolicy.FORBID_ENCRYPT_ALLOW_DECRYPT)


class DasKeyProvider(RawMasterKeyProvider):
    """The raw keyring RDS encrypts activity events with: provider "BC", key "DataKey"."""
    provider_id = "BC"

    def __new__(cls, *args, **kwargs):
        return super(RawMasterKeyProvider, cls).__new__(cls)

    def __init__(self, plaintext_key):
        RawMasterKeyProvider.__init__(self)
        self.key = WrappingKey(wrapping_algorithm=WrappingAlgorithm.AES_256_GCM_IV12_TAG16_NO_PADDING,
                               wrapping_key=plaintext_key,
                               wrapping_key_type=EncryptionKeyType.SYMMETRIC)
        self.add_master_key("DataKey")

    def _get_raw_key(self, key_id):
        return self.key


# Data key blob → key provider, for as long as the environment lives.
PROVIDERS = {}


def encryption_context(resource_id):
    name = "aws:rds:db-id" if resource_id.startswith("db-") else "aws:rds:dbc-id"
    return {name: resource_id}


def transform(event, kms, resource_id):
    calls = 0
    out = []
    for rec in event["records"]:
        try:
            outer = json.loads(base64.b64decode(rec["data"], validate=True))
            blob = outer["key"]
            provider = PROVIDERS.get(blob)
            if provider is None:
                plain = kms.decrypt(CiphertextBlob=base64.b64decode(blob),
                                    EncryptionContext=encryption_context(resource_id))["Plaintext"]
                calls += 1
                provider = PROVIDERS[blob] = DasKeyProvider(plain)
            message = base64.b64decode(outer["databaseActivityEvents"])
            payload, _ = ESDK.decrypt(source=message, key_provider=provider)
            events = [e for e in json.loads(gzip.decompress(payload))["databaseActivityEventList"]
                      if e.get("type") != "heartbeat"]
            if not events:
                out.append({"recordId": rec["recordId"], "result": "Dropped", "data": rec["data"]})
                continue
            lines = "".join(json.dumps(e, ensure_ascii=False) + "\n" for e in events)
            out.append({"recordId": rec["recordId"], "result": "Ok",
                        "data": base64.b64encode(lines.encode()).decode()})
        except Exception as err:  # noqa: BLE001 (every record must come back)
            print(f"record {rec.get('recordId')}: {type(err).__name__}: {err}", file=sys.stderr)
            out.append({"recordId": rec.get("recordId"), "result": "ProcessingFailed",
                        "data": rec.get("data")})
    return {"records": out}, calls


def main():
    runtime = f"http://{os.environ['AWS_LAMBDA_RUNTIME_API']}/2018-06-01/runtime/invocation"
    kms = boto3.client("kms")
    while True:
        with urllib.request.urlopen(f"{runtime}/next") as r:
            request_id = r.headers["Lambda-Runtime-Aws-Request-Id"]
            event = json.loads(r.read())
        started = time.perf_counter()
        arn = event.get("sourceKinesisStreamArn") or ""
        resource_id = os.environ.get("DAS_RESOURCE_ID") or arn.rsplit("/aws-rds-das-", 1)[-1]
        response, calls = transform(event, kms, resource_id)
        transform_s = time.perf_counter() - started
        body = json.dumps(response).encode()
        post = urllib.request.Request(f"{runtime}/{request_id}/response", data=body, method="POST")
        urllib.request.urlopen(post).read()
        # The shape of the functions' JSON logs, so the bench reads both alike.
        print(json.dumps({"fields": {"message": "baseline summary",
                                     "records": len(event["records"]), "kms_calls": calls,
                                     "transform_us": transform_s * 1e6}}),
              file=sys.stderr, flush=True)


if __name__ == "__main__":
    main()
