"""Streaming profile: exact where promised, bounded memory, and the CSV scanner's row index."""

from __future__ import annotations

import csv
import io
import tracemalloc
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from dockyard.core import profiling
from dockyard.core.profiling import (
    BottomKSample,
    CategoryStats,
    CsvScanner,
    DistinctCounter,
    Histogram,
    TableSource,
    profile_table,
    sniff_csv,
)


def write_csv(path: Path, frame: pd.DataFrame) -> Path:
    frame.to_csv(path, index=False)
    return path


def profile_csv(path: Path, chunk_rows: int = 1000) -> dict[str, Any]:
    header = sniff_csv(path, ",")
    table = profile_table([TableSource(path, str(path), "csv", header.columns, chunk_rows)], seed=1)
    return {c["name"]: c for c in table.to_json_dict()["columns"]} | {"_rows": table.rows}


def scan(data: bytes, tmp_path: Path, block: int = 7, every: int = 2) -> CsvScanner:
    path = tmp_path / "s.csv"
    path.write_bytes(data)
    scanner = CsvScanner(path, ",", every=every)
    for start in range(0, len(data), block):
        scanner.feed(data[start : start + block], start)
    scanner.finish()
    return scanner


def test_numeric_stats_are_exact_in_chunks(tmp_path: Path) -> None:
    rng = np.random.default_rng(3)
    x = rng.normal(5, 2, 20_000)
    n = rng.integers(-50, 50, 20_000)
    path = write_csv(tmp_path / "n.csv", pd.DataFrame({"x": x, "n": n}))
    prof = profile_csv(path, chunk_rows=777)
    col = prof["x"]
    xs = pd.read_csv(path)["x"].to_numpy()
    assert prof["_rows"] == 20_000
    assert col["dtype"] == "float64" and col["kind"] == "numeric"
    assert col["min"] == pytest.approx(xs.min()) and col["max"] == pytest.approx(xs.max())
    assert col["mean"] == pytest.approx(xs.mean(), rel=1e-12)
    assert col["std"] == pytest.approx(xs.std(ddof=1), rel=1e-9)
    assert col["quantiles_exact"] is True
    expected = np.quantile(xs, np.linspace(0, 1, 101))
    assert np.allclose(col["quantiles"], expected)
    assert col["distinct_exact"] is False or col["distinct"] == len(set(xs.tolist()))
    assert sum(col["histogram"]["counts"]) == 20_000
    ints = prof["n"]
    assert ints["dtype"] == "int64" and ints["distinct"] == 100 and ints["distinct_exact"]
    assert ints["min"] == -50 and ints["max"] == 49
    # integer bins sit on half-integers, so every bin holds whole values
    assert all(float(e) % 1 == 0.5 for e in ints["histogram"]["edges"])


def test_missing_values_and_an_all_missing_first_chunk(tmp_path: Path) -> None:
    values = [""] * 1500 + [str(i) for i in range(500)]
    path = tmp_path / "m.csv"
    path.write_text("v,w\n" + "".join(f"{v},a\n" for v in values))
    col = profile_csv(path, chunk_rows=1000)["v"]
    assert col["missing"] == 1500 and col["missing_share"] == pytest.approx(0.75)
    assert col["count"] == 500 and col["kind"] == "numeric"
    assert col["min"] == 0 and col["max"] == 499


def test_a_column_that_turns_to_text_later_is_read_again_as_text(tmp_path: Path) -> None:
    values = [str(i) for i in range(3000)] + ["n/a-ish", "x"]
    path = tmp_path / "r.csv"
    path.write_text("code,k\n" + "".join(f"{v},1\n" for v in values))
    col = profile_csv(path, chunk_rows=1000)["code"]
    assert col["dtype"] == "string" and col["kind"] == "text"
    assert col["count"] == 3002 and col["distinct"] == 3002


def test_text_columns_have_exact_top_values(tmp_path: Path) -> None:
    labels = ["red"] * 500 + ["green"] * 300 + ["blue"] * 200
    path = tmp_path / "t.csv"
    path.write_text("colour\n" + "".join(f"{v}\n" for v in labels))
    col = profile_csv(path, chunk_rows=128)["colour"]
    assert col["top"] == [["red", 500], ["green", 300], ["blue", 200]]
    assert col["top_exact"] and col["distinct"] == 3 and col["other"] == 0


def test_booleans_are_categories(tmp_path: Path) -> None:
    path = tmp_path / "b.csv"
    path.write_text("flag\n" + "True\nFalse\nTrue\n" * 10)
    col = profile_csv(path)["flag"]
    assert col["dtype"] == "bool" and col["kind"] == "boolean"
    assert col["top"] == [["True", 20], ["False", 10]]


def test_distinct_counter_is_exact_up_to_its_cap_then_estimates() -> None:
    counter = DistinctCounter(cap=1024)
    values = np.arange(1000, dtype=np.float64)
    for chunk in np.array_split(np.concatenate([values, values]), 7):
        counter.add(profiling.hash_numbers(chunk))
    assert counter.result() == (1000, True)
    big = DistinctCounter(cap=4096)
    for chunk in np.array_split(np.arange(200_000, dtype=np.float64), 13):
        big.add(profiling.hash_numbers(chunk))
    estimate, exact = big.result()
    assert not exact and abs(estimate - 200_000) / 200_000 < 0.05


def test_three_and_three_point_zero_are_one_value() -> None:
    a = profiling.hash_numbers(np.array([3.0, -0.0, 2.5]))
    b = profiling.hash_numbers(np.array([3, 0, 2.5], dtype=np.float64))
    assert (a == b).all()


def test_bottom_k_sample_is_uniform_and_bounded() -> None:
    sample = BottomKSample(np.random.default_rng(0), k=5000)
    for start in range(0, 1_000_000, 50_000):
        sample.add(np.arange(start, start + 50_000, dtype=np.float64))
        assert sample.held <= 2 * 5000 + 50_000
    values = sample.sample()
    assert len(values) == 5000 and not sample.exact
    # a uniform sample of 0..1e6: its quartiles are near 250k, 500k, 750k
    q = np.quantile(values, [0.25, 0.5, 0.75])
    assert np.allclose(q, [250_000, 500_000, 750_000], rtol=0.05)


def test_histogram_doubles_its_range_and_keeps_exact_counts() -> None:
    hist = Histogram(bins=8)
    chunks = [np.array([0.0, 1.0, 2.0]), np.array([10.0, 11.0]), np.array([-30.0, 40.0])]
    for c in chunks:
        hist.add(c, float(c.min()), float(c.max()), integral=False)
    out = hist.result()
    edges, counts = np.array(out["edges"]), np.array(out["counts"])
    everything = np.concatenate(chunks)
    assert counts.sum() == len(everything)
    assert edges[0] <= everything.min() and edges[-1] > everything.max()
    assert (np.histogram(everything, bins=edges)[0] == counts).all()


def test_category_stats_prune_but_keep_the_heavy_hitters(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(profiling, "TOP_TRACK", 50)
    stats = CategoryStats()
    for i in range(10):
        chunk = [f"id{i}_{j}" for j in range(60)] * 2 + ["common"] * 30
        stats.add(pd.Series(chunk))
    result = stats.result(10 * 150)
    assert result["top"][0] == ["common", 300]
    assert result["top_exact"] is False and "top_skipped" not in result
    assert result["distinct"] == 601 and result["distinct_exact"]


def test_a_column_of_unique_values_keeps_only_its_distinct_count(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(profiling, "TOP_TRACK", 50)
    stats = CategoryStats()
    for i in range(20):
        stats.add(pd.Series([f"user-{i}-{j}" for j in range(2000)]))
    result = stats.result(40_000)
    assert result["top"] == [] and result["top_skipped"] is True
    assert not result["distinct_exact"]
    assert abs(result["distinct"] - 40_000) / 40_000 < 0.05


def test_string_hashes_depend_on_the_text_only() -> None:
    a = profiling.hash_strings(pd.Series(["", "a", "ab", "ba", "é", "x" * 3_000_000]))
    b = profiling.hash_strings(["", "a", "ab", "ba", "é", "x" * 3_000_000])
    c = profiling.hash_strings(pd.Series(["zz", "ab", "a"]))
    assert (a == b).all() and len(set(a.tolist())) == 6
    assert c[1] == a[2] and c[2] == a[1]


def test_profile_memory_does_not_grow_with_rows(tmp_path: Path) -> None:
    rng = np.random.default_rng(1)
    peaks = []
    for n in (200_000, 800_000):
        frame = pd.DataFrame({"a": rng.normal(size=n), "b": rng.integers(0, 1000, n)})
        path = write_csv(tmp_path / f"big{n}.csv", frame)
        tracemalloc.start()
        profile_csv(path, chunk_rows=20_000)
        peaks.append(tracemalloc.get_traced_memory()[1])
        tracemalloc.stop()
    # one chunk plus samples of at most 2 x 100k values per column, whatever the rows:
    # four times the rows may not cost more than a fraction more memory
    assert peaks[1] < 1.3 * peaks[0], peaks
    assert peaks[1] < 20_000_000, peaks


# ---------------------------------------------------------------------------- the scanner


def starts_by_csv(data: bytes) -> list[int]:
    """Byte offsets of each data row's start, by the standard csv module (the oracle)."""
    text = data.decode()
    starts, pos = [], 0
    lines = text.splitlines(keepends=True)
    record_start, buffer = 0, ""
    for line in lines:
        buffer += line
        try:
            rows = list(csv.reader(io.StringIO(buffer)))
            complete = len(rows) == 1 and buffer.count('"') % 2 == 0
        except csv.Error:
            complete = False
        if complete or not buffer.strip():
            if buffer.strip("\r\n"):
                starts.append(record_start)
            pos += len(buffer.encode())
            record_start = pos
            buffer = ""
    return starts[1:]


@pytest.mark.parametrize("block", [1, 3, 7, 64, 4096])
def test_scanner_finds_rows_across_quotes_blank_lines_and_crlf(tmp_path: Path, block: int) -> None:
    data = b'a,b,c\r\n1,"x, y",3\r\n\r\n2,"multi\nline ""quoted""",4\r\n\n3,z,5\r\n4,"",6\n5,w,7'
    scanner = scan(data, tmp_path, block=block, every=1)
    assert scanner.data_rows == 5
    assert scanner.row_index().tolist() == starts_by_csv(data)
    assert not scanner.short_rows_possible(3)


def test_scanner_keeps_every_nth_row(tmp_path: Path) -> None:
    data = b"h\n" + b"".join(f"{i}\n".encode() for i in range(10))
    scanner = scan(data, tmp_path, block=5, every=4)
    assert scanner.data_rows == 10
    assert [data[o : o + 2] for o in scanner.row_index().tolist()] == [b"0\n", b"4\n", b"8\n"]


def test_scanner_notices_a_short_row(tmp_path: Path) -> None:
    scanner = scan(b"a,b,c\n1,2,3\n4,5\n6,7,8\n", tmp_path)
    assert scanner.short_rows_possible(3)
    found = profiling.find_ragged_row(tmp_path / "s.csv", ",", 3)
    assert found == (3, 2)


def test_scanner_refuses_bytes_that_are_not_utf8(tmp_path: Path) -> None:
    with pytest.raises(profiling.TableError, match=r"not UTF-8 .*byte 0xe9 on line 3"):
        scan("a,b\n1,2\nx,caf\u00e9\n".encode("latin-1"), tmp_path, block=3)


def test_scanner_accepts_multibyte_characters_split_across_blocks(tmp_path: Path) -> None:
    data = "a,b\n1,é日本\n2,ü\n".encode()
    for block in (1, 2, 3, 5):
        assert scan(data, tmp_path, block=block).data_rows == 2


def test_sniff_reads_the_header_and_refuses_duplicates(tmp_path: Path) -> None:
    path = tmp_path / "h.csv"
    path.write_bytes("\ufeffid,name,,score\n1,a,x,2\n".encode())
    assert sniff_csv(path, ",").columns == ["id", "name", "unnamed_3", "score"]
    path.write_text("id,name,id\n1,2,3\n")
    with pytest.raises(profiling.TableError, match="'id' appears twice"):
        sniff_csv(path, ",")


def test_a_few_strings_hash_as_the_vectorised_path_does() -> None:
    rng = np.random.default_rng(5)
    alphabet = list('abcXYZ09 ,"é€😀')
    words = ["", "a", "True", "False", "x" * 300, "é" * 100]
    words += ["".join(rng.choice(alphabet, int(rng.integers(1, 40)))) for _ in range(60)]
    few = profiling._hash_few_strings(words)
    assert few is not None
    assert few.tolist() == profiling.hash_strings(pd.Series(words, dtype=str)).tolist()
    assert profiling.hash_strings(words[:10]).tolist() == few[:10].tolist()


def test_small_chunks_profile_exactly_as_pandas_chunks_do(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # a file of a few rows (or the last chunk of a long one) takes the small-chunk path
    rng = np.random.default_rng(9)
    n = 50
    frame = pd.DataFrame(
        {
            "word": rng.choice(["red", "white", "rosé", "a, b"], n),
            "maybe": np.where(rng.random(n) < 0.3, None, rng.choice(["x", "y"], n)),  # type: ignore[call-overload]
            "flag": rng.random(n) < 0.5,
            "id": [f"id-{i}" for i in range(n)],
            "x": rng.normal(size=n),
        }
    )
    path = write_csv(tmp_path / "few.csv", frame)
    small = profile_csv(path, chunk_rows=20)
    monkeypatch.setattr(profiling, "SMALL_CHUNK", 0)
    assert profile_csv(path, chunk_rows=20) == small
    assert small["word"]["top_exact"] and small["maybe"]["missing"] > 0


def test_the_work_is_linear_in_the_columns(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # one row, many columns: the sample used to compact (all columns) once per column
    calls = {"compact": 0}
    compact = profiling.RowSample._compact

    def counted(self: profiling.RowSample) -> None:
        calls["compact"] += 1
        compact(self)

    monkeypatch.setattr(profiling.RowSample, "_compact", counted)
    width = 3000
    path = tmp_path / "wide.csv"
    path.write_text(
        ",".join(f"c{i}" for i in range(width))
        + "\n"
        + ",".join(str(i) if i % 3 else f"v{i % 7}" for i in range(width))
        + "\n"
    )
    prof = profile_csv(path)
    assert calls["compact"] == 1
    assert prof["c4"]["quantiles"] == [4] * 101 and prof["c4"]["histogram"]["counts"] == [1]
    assert prof["c3"]["top"] == [["v3", 1]] and prof["c3"]["distinct"] == 1


def test_a_table_wider_than_the_limit_is_refused_from_its_header(tmp_path: Path) -> None:
    too_wide = profiling.MAX_COLUMNS + 1
    path = tmp_path / "w.csv"
    path.write_text(
        ",".join(f"c{i}" for i in range(too_wide)) + "\n" + "1," * (too_wide - 1) + "1\n"
    )
    with pytest.raises(profiling.TableError, match=f"has {too_wide:,} columns; Dockyard regi"):
        sniff_csv(path, ",")
    # a header longer than the part read to sniff it: its fields so far tell
    long = tmp_path / "long.csv"
    long.write_text(",".join(f"column_with_a_long_name_{i}" for i in range(60_000)) + "\n1\n")
    with pytest.raises(profiling.TableError, match=r"has more than [0-9,]+ columns"):
        sniff_csv(long, ",")


def test_dates_constants_categories_years_and_ids(tmp_path: Path) -> None:
    """Issue 10: ISO dates as text are dates with a range; a one-value column is
    constant; few short values are a category, many long ones text; integer years and
    ids are told apart from other numbers (they print without thousands separators)."""
    n = 400
    frame = pd.DataFrame(
        {
            "row": range(1, n + 1),
            "Date Egg": [
                f"2007-11-{1 + i % 28:02d}" if i % 50 else "2009-01-02 10:30" for i in range(n)
            ],
            "Year": [2007 + i % 3 for i in range(n)],
            "species": ["Adelie", "Gentoo", "Chinstrap", "Adelie"] * (n // 4),
            "note": [f"a comment that is different on row {i}" for i in range(n)],
            "study": ["PAL0708"] * n,
            "count": [i % 7 for i in range(n)],
            # month 13 on one row past the probe of its chunk
            "bad date": ["2007-13-01" if i == 300 else "2007-11-01" for i in range(n)],
            "user_id": list(range(n, 0, -1)),
        }
    )
    columns = profile_csv(write_csv(tmp_path / "p.csv", frame), 200)
    dates = columns["Date Egg"]
    assert (dates["semantic"], dates["min"], dates["max"]) == (
        "date",
        "2007-11-01",
        "2009-01-02 10:30",
    )
    assert columns["bad date"]["semantic"] == "category"  # month 13: not a date
    assert columns["Year"]["semantic"] == "year"
    assert columns["row"]["semantic"] == "id"  # unique and increasing
    assert columns["user_id"]["semantic"] == "id"  # by its name
    assert "semantic" not in columns["count"]
    assert columns["species"]["semantic"] == "category"
    assert columns["note"]["semantic"] == "text"
    assert columns["study"]["constant"] is True and columns["study"]["semantic"] == "category"
    assert not any(columns[name].get("constant") for name in ("species", "Year", "count"))
    assert columns["Date Egg"]["kind"] == "text"  # drift and diff keep comparing its counts
    # a wide file's few-row chunks take a path of their own: the same answers
    small = profile_csv(tmp_path / "p.csv", 8)
    for name in ("Date Egg", "bad date", "Year", "row", "species", "note", "study"):
        keys = ("semantic", "min", "max", "constant")
        assert [small[name].get(k) for k in keys] == [columns[name].get(k) for k in keys]
