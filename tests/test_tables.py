"""Tests for stratify.io.tables: typed Parquet tables with kind, version and provenance."""

from __future__ import annotations

import json

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from stratify import __version__
from stratify.errors import TableKindError
from stratify.io.tables import SCHEMA_VERSION, read_provenance, read_table, table_kind, write_table


def _df():
    return pd.DataFrame({"patient_id": ["P1", "P2"], "x": [1.5, float("nan")], "n": [1, 2]})


def test_round_trip_keeps_data_kind_and_provenance(tmp_path):
    p = write_table(
        _df(), tmp_path / "sub" / "t.parquet", kind="clinical.patients", provenance={"seed": 7, "params": {"k": 2}}
    )
    assert p == tmp_path / "sub" / "t.parquet"  # parent folders are created
    back = read_table(p, kind="clinical.patients")
    pd.testing.assert_frame_equal(back, _df(), check_dtype=False)
    assert back["x"].isna().tolist() == [False, True]
    assert table_kind(p) == "clinical.patients"
    assert read_provenance(p) == {"stratify_version": __version__, "seed": 7, "params": {"k": 2}}


def test_index_is_not_written_and_patient_id_is_text(tmp_path):
    df = pd.DataFrame({"patient_id": [101, 102], "v": [1.0, 2.0]}, index=[5, 9])
    p = write_table(df, tmp_path / "t.parquet", kind="features")
    back = read_table(p, kind="features")
    assert list(back.columns) == ["patient_id", "v"]
    assert back["patient_id"].tolist() == ["101", "102"]
    assert back.index.tolist() == [0, 1]
    assert pq.read_schema(p).field("patient_id").type in (pa.string(), pa.large_string())


def test_input_frame_is_not_modified(tmp_path):
    df = pd.DataFrame({"patient_id": [1, 2]}, index=[3, 4])
    write_table(df, tmp_path / "t.parquet", kind="features")
    assert df["patient_id"].tolist() == [1, 2] and df.index.tolist() == [3, 4]


def test_wrong_kind(tmp_path):
    p = write_table(_df(), tmp_path / "t.parquet", kind="input.symptoms")
    with pytest.raises(TableKindError) as e:
        read_table(p, kind="input.patients")
    assert str(e.value) == f"{p}: expected a 'input.patients' table, found 'input.symptoms'"


def test_parquet_without_stratify_metadata(tmp_path):
    p = tmp_path / "plain.parquet"
    _df().to_parquet(p)
    assert table_kind(p) is None
    assert read_provenance(p) == {}
    with pytest.raises(TableKindError) as e:
        read_table(p, kind="features")
    assert str(e.value) == f"{p}: expected a 'features' table, found 'a Parquet file without a stratify kind'"


def test_missing_file(tmp_path):
    p = tmp_path / "absent.parquet"
    with pytest.raises(TableKindError) as e:
        read_table(p, kind="features")
    assert str(e.value) == f"{p}: expected a 'features' table, but the file does not exist"


def test_other_schema_version(tmp_path):
    p = tmp_path / "old.parquet"
    table = pa.Table.from_pandas(_df(), preserve_index=False)
    meta = {
        b"stratify.kind": b"features",
        b"stratify.schema_version": str(SCHEMA_VERSION + 1).encode(),
        b"stratify.provenance": json.dumps({"seed": 1}).encode(),
    }
    pq.write_table(table.replace_schema_metadata(meta), p)
    with pytest.raises(TableKindError) as e:
        read_table(p, kind="features")
    assert str(e.value) == (
        f"{p}: 'features' table has schema version {SCHEMA_VERSION + 1}, this stratify reads "
        f"version {SCHEMA_VERSION}; re-run the stage that wrote it"
    )


def test_provenance_values_that_are_not_json(tmp_path):
    p = write_table(_df(), tmp_path / "t.parquet", kind="features", provenance={"path": tmp_path})
    assert read_provenance(p)["path"] == str(tmp_path)  # stored as text, not lost


def test_not_a_parquet_file(tmp_path):
    p = tmp_path / "t.parquet"
    p.write_text("patient_id,x\nP1,1\n")
    with pytest.raises(TableKindError, match=r"expected a 'features' table"):
        read_table(p, kind="features")
