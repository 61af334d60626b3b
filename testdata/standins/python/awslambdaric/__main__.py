"""python -m awslambdaric HANDLER: run the Runtime API loop (see bootstrap)."""

import os
import sys

from . import bootstrap


def main(args):
    if len(args) < 2:
        sys.stderr.write("usage: python -m awslambdaric HANDLER\n")
        sys.exit(2)
    handler = args[1]
    api = os.environ.get("AWS_LAMBDA_RUNTIME_API")
    if not api:
        sys.stderr.write("awslambdaric: AWS_LAMBDA_RUNTIME_API is not set\n")
        sys.exit(2)
    app_root = os.environ.get("LAMBDA_TASK_ROOT") or os.getcwd()
    bootstrap.run(app_root, handler, api)


if __name__ == "__main__":
    main(sys.argv)
