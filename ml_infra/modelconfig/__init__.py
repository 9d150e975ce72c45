"""Run-time model configuration: typed loading, releases, activation and rollback on SSM Parameter Store."""
