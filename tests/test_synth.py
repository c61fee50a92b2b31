"""The synthetic generator and the embedded dataset it made."""

from __future__ import annotations

import pandas as pd

from foikit.cli import main
from foikit.datasets.synth import generate, write
from foikit.request.dictionary import embedded_dictionary
from foikit.source.data import embedded_data_path

from .conftest import read_back


def test_embedded_dataset_is_reproducible_from_its_seed(tmp_path):
    out = write(generate(), tmp_path / "again.csv")
    assert out.read_bytes() == embedded_data_path().read_bytes()


def test_same_seed_same_rows_other_seed_other_rows():
    pd.testing.assert_frame_equal(generate(rows=500, seed=7), generate(rows=500, seed=7))
    assert not generate(rows=500, seed=7).equals(generate(rows=500, seed=8))


def test_volumes_like_the_real_ones():
    df = generate()
    year = df["date_recorded"].str[:4].astype(int)
    per_year = df.groupby([df["allegation_category"], year]).size()
    da = per_year["Domestic abuse"]
    ie = per_year["Indecent exposure"]
    assert da.min() >= 80 and da.max() <= 260 and da.loc[2023] > 2 * da.loc[2017]
    assert ie.between(5, 20).all()
    recent = df[(year == 2023) & (df["allegation_category"] == "Domestic abuse")]
    top = recent["outcome"].value_counts()
    assert set(top.index[:2]) == {"No case to answer", "Ongoing"}


def test_rows_columns_and_values_fit_the_dictionary():
    df = generate(rows=2000, seed=3)
    dictionary = embedded_dictionary()
    assert len(df) == 2000
    assert list(df.columns) == list(dictionary.columns)
    assert not df.duplicated(list(dictionary.key)).any()
    for column, spec in dictionary.columns.items():
        if spec.categories:
            assert set(df[column]) - {""} <= set(spec.categories), column
    ongoing = df["outcome"] == "Ongoing"
    assert (df.loc[ongoing, "date_finalised"] == "").all()
    closed = df.loc[~ongoing]
    assert (closed["date_finalised"] >= closed["date_recorded"]).all()
    assert df["officer_id"].duplicated().any()  # some officers face more than one allegation


def test_cli_writes_csv_and_parquet_with_the_same_rows(tmp_path):
    assert main(["synth", "--rows", "300", "--seed", "5", "--out", str(tmp_path / "s.csv")]) == 0
    assert main(["synth", "--rows", "300", "--seed", "5", "--out", str(tmp_path / "s.parquet")]) == 0
    csv, parquet = read_back(tmp_path / "s.csv"), read_back(tmp_path / "s.parquet")
    assert len(csv) == 300
    pd.testing.assert_frame_equal(csv, parquet)


def test_cli_refuses_an_unknown_suffix(tmp_path, capsys):
    assert main(["synth", "--rows", "10", "--out", str(tmp_path / "s.txt")]) == 1
    err = capsys.readouterr().err
    assert "s.txt" in err and "unsupported suffix" in err
    assert not list(tmp_path.iterdir())
