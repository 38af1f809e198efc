"""Fetch raw reviews into data/raw/ (download, verify checksum, extract).

Examples (from the repository root)::

    python src/get_data.py                                   # public aclImdb tarball
    python src/get_data.py --source sample --dest data/raw/sample
    python src/get_data.py --source gs://my-bucket/aclImdb_v1.tar.gz --checksum md5:...
    python src/get_data.py --source ~/Downloads/aclImdb_v1.tar.gz   # offline copy
"""

import argparse
import http.client
import logging
import sys

from {{ cookiecutter.src_package_name }}.data_prep.fetch import FetchError, fetch_dataset
from {{ cookiecutter.src_package_name }}.general_utils import setup_logging

LOGGER = logging.getLogger(__name__)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """Command-line options."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--source", default="imdb",
                        help="imdb, sample, a URL, gs://... or a local .tar.gz or folder")
    parser.add_argument("--dest", default="data/raw/aclImdb", help="folder to create")
    parser.add_argument("--checksum", default=None,
                        help="sha256:<hex> or md5:<hex> the archive must match")
    parser.add_argument("--force", action="store_true",
                        help="replace an existing --dest that get_data fetched (never other data)")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    """Fetch the dataset; exit status 1 with a clear message when it cannot."""
    setup_logging()
    args = parse_args(argv)
    try:
        dest = fetch_dataset(args.source, args.dest, args.checksum, args.force)
    except FetchError as error:
        LOGGER.error("%s", error)
        return 1
    except (OSError, http.client.HTTPException) as error:  # e.g. disk full, connection cut
        LOGGER.error("Could not fetch %s: %s: %s", args.source, type(error).__name__, error)
        return 1
    LOGGER.info("Next: python src/process_data.py 'data_prep.raw_dirs_paths=[%s]'", dest)
    return 0


if __name__ == "__main__":
    sys.exit(main())
