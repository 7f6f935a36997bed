"""Results: the versioned result-record schema, its one writer and its readers."""
from .io import atomic_write, atomic_write_bytes, atomic_write_text
from .schema import (COMPLETED, FAILED, FIELDS, RECORD_FILE, RUNNING, SCHEMA_VERSION, RecordError, flatten, get,
                     iter_records, load_record, new_record, read_record, record_path, validate, write_record)

__all__ = [
    "atomic_write", "atomic_write_bytes", "atomic_write_text", "COMPLETED", "FAILED", "FIELDS", "RECORD_FILE",
    "RUNNING", "SCHEMA_VERSION", "RecordError", "flatten", "get", "iter_records", "load_record", "new_record",
    "read_record", "record_path", "validate", "write_record",
]
