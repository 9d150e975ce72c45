"""AWS Glue 5 job (Spark 3.5, Python 3.11): validate a dataset of JSON lines against a contract from the Glue
Schema Registry, writing the valid lines and the rejected records (with every reason, file and line) as new
folders. docs/spark.md shows how to deploy it; tests/spark/test_spark_glue_example.py runs this very file on a
local Spark session against a mocked registry.

Job arguments (Glue passes them as `--name value`, with its own `--JOB_ID`, `--JOB_RUN_ID`, ... which are
ignored here):
  --registry NAME --schema NAME [--schema-version N]   the contract (default: the latest version)
  --input PATH                                         a file, folder or glob (s3://...)
  --valid-output PATH --rejected-output PATH           new folders; existing ones are refused
  [--fail-on-rejected true|false]                      end the run as FAILED when a record is rejected
  [--region REGION]                                    of the registry (default: the job's region)
The summary (read, valid, rejected, balanced, top reasons) is printed as one JSON line to the driver log.
"""

from __future__ import annotations

import argparse
import json
import sys

import boto3
from pyspark.sql import SparkSession

from ml_infra.contracts.catalog import ContractError
from ml_infra.contracts.spark import SparkValidationError, contract_from_registry, validate_files


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Validate JSON lines against a Glue registry contract.")
    parser.add_argument("--registry", required=True)
    parser.add_argument("--schema", required=True)
    parser.add_argument("--schema-version", type=int)
    parser.add_argument("--input", required=True)
    parser.add_argument("--valid-output", required=True)
    parser.add_argument("--rejected-output", required=True)
    parser.add_argument("--fail-on-rejected", choices=("true", "false"), default="false")
    parser.add_argument("--region")
    args, _glue_arguments = parser.parse_known_args(argv)

    spark = SparkSession.builder.getOrCreate()  # Glue's session; a local one when run by the tests
    try:
        glue = boto3.client("glue", region_name=args.region) if args.region else boto3.client("glue")
        contract = contract_from_registry(args.registry, args.schema, args.schema_version, client=glue)
        run = validate_files(spark, contract, args.input, args.valid_output, args.rejected_output)
    except ContractError as err:
        print(json.dumps({"ok": False, "error": "unusable input", "problems": err.problems}))
        return 2
    except SparkValidationError as err:
        print(json.dumps({"ok": False, "error": str(err)}))
        return 2
    print(json.dumps({"ok": run.summary.rejected == 0, "contract_source": contract.source,
                      **run.summary.to_json(), "valid_output": args.valid_output,
                      "rejected_output": args.rejected_output}))
    return 1 if run.summary.rejected and args.fail_on_rejected == "true" else 0


if __name__ == "__main__":
    sys.exit(main())
