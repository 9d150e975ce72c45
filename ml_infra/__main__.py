"""`python -m ml_infra ...` runs the `ml-infra` command line."""

from ml_infra.cli import main

if __name__ == "__main__":
    main()
