"""Data contracts: contract files, compatibility checks and record validation (no Pulumi import)."""
