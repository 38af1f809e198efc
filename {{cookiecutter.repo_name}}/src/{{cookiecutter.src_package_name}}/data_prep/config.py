"""The typed ``data_prep`` section (defaults and comments: ``conf/base/pipelines.yaml``)."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import Field, field_validator

from ..configuration import FrozenConfig


class DataPrepConfig(FrozenConfig):  # pylint: disable=too-many-instance-attributes
    """Where the raw data is, how to read it, and where the processed dataset goes.

    ``source_format`` picks the reader: ``tree`` (folders ``{train,test}/<label>/*.txt``,
    one text per file, the label is the folder's name) or a table format (``csv``,
    ``parquet``, ``jsonl``: a text column and a label column, optionally a split column).
    """

    source_format: Literal["tree", "csv", "parquet", "jsonl"]
    raw_dirs_paths: list[str] = Field(min_length=1)
    text_column: str
    label_column: str
    split_column: str | None
    test_fraction: Annotated[float, Field(ge=0.0, lt=1.0)]
    split_seed: int
    label_names: dict[str, str]
    processed_data_path: str = Field(min_length=1)
    max_reject_fraction: Annotated[float, Field(ge=0.0, le=1.0)]
    max_file_bytes: Annotated[int, Field(ge=1)]
    refuse_outside_links: bool
    n_jobs: Annotated[int, Field(ge=1)] | None
    parallel_min_files: Annotated[int, Field(ge=1)]

    @field_validator("raw_dirs_paths", mode="before")
    @classmethod
    def _one_path_without_brackets(cls, value: Any) -> Any:
        return [value] if isinstance(value, str) else value

    @field_validator("label_names", mode="before")
    @classmethod
    def _names_as_text(cls, value: Any) -> Any:
        """Raw labels are compared as text (a table's 0 and 1 are ``"0"`` and ``"1"``)."""
        return {str(k): str(v) for k, v in value.items()} if isinstance(value, dict) else value
