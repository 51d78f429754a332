"""Run the command line: ``python -m arforecast``."""

from arforecast.cli import main

if __name__ == "__main__":
    main()
