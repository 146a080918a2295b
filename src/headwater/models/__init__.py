"""The models stage: a dbt project inside the package, run on a schedule beside the warehouse owner."""
