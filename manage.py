#!/usr/bin/env python
"""Django's command-line utility for c360."""

import os
import sys


def main() -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "c360.settings.base")
    from django.core.exceptions import ImproperlyConfigured
    from django.core.management import execute_from_command_line

    try:
        execute_from_command_line(sys.argv)
    except ImproperlyConfigured as exc:
        # A configuration problem is the operator's to fix: say what is wrong, without a traceback.
        sys.stderr.write(f"c360 cannot start: {exc}\n")
        raise SystemExit(2) from None


if __name__ == "__main__":
    main()
