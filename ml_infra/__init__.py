"""ml-infra: the Pulumi program for an ML platform (SSM parameters, AppSync, SageMaker, config stores, Glue
contracts) and the run-time libraries that applications use beside it.

Importing this package imports no Pulumi SDK: the infrastructure modules import Pulumi themselves, so the
application-side code installs and runs with boto3 alone.
"""

__version__ = "0.1.0"
