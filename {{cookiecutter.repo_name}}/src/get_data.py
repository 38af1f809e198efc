"""Fetch raw data into data/raw/ (download, verify checksum, extract, or copy).

Examples (from the repository root)::

    python src/get_data.py                                   # public aclImdb tarball
    python src/get_data.py --source sample --dest data/raw/sample
    python src/get_data.py --source gs://my-bucket/aclImdb_v1.tar.gz --checksum md5:...
    python src/get_data.py --source ~/Downloads/aclImdb_v1.tar.gz   # offline copy
    python src/get_data.py --source gs://my-bucket/news.csv --dest data/raw/news
"""

import argparse
import http.client
import logging
import sys

from {{ cookiecutter.src_package_name }}.configuration import exit_on_user_error
from {{ cookiecutter.src_package_name }}.data_prep.fetch import FetchError, fetch_dataset

LOGGER = logging.getLogger(__name__)


def main(argv: list[str] | None = None) -> int:
    """Fetch the dataset; exit status 2 with a one-line message when it cannot."""
    logging.basicConfig(level=logging.INFO, format="[%(asctime)s][%(name)s][%(levelname)s] - "
                        "%(message)s")
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--source", default="imdb", help="imdb, sample, sample-news, a URL, "
                        "gs://..., a local .tar.gz, folder or file")
    parser.add_argument("--dest", default="data/raw/aclImdb", help="folder to create")
    parser.add_argument("--checksum", default=None,
                        help="sha256:<hex> or md5:<hex> the archive must match")
    parser.add_argument("--force", action="store_true",
                        help="replace an existing --dest that get_data fetched (never other data)")
    args = parser.parse_args(argv)
    with exit_on_user_error("Fetching the data"):
        try:
            dest = fetch_dataset(args.source, args.dest, args.checksum, args.force)
        except (OSError, http.client.HTTPException) as error:  # e.g. disk full, connection cut
            raise FetchError(f"{type(error).__name__}: {error}") from error
    LOGGER.info("Next: python src/process_data.py 'data_prep.raw_dirs_paths=[%s]'", dest)
    return 0


if __name__ == "__main__":
    sys.exit(main())
