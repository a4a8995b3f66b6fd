#!/usr/bin/env python
"""Django's command-line utility. Defaults to development settings; production sets
DJANGO_SETTINGS_MODULE=shop.settings.production."""

import os
import sys


def main() -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "shop.settings.development")
    from django.core.management import execute_from_command_line

    from shop.cli_errors import run_command_line

    run_command_line(execute_from_command_line, sys.argv)


if __name__ == "__main__":
    main()
